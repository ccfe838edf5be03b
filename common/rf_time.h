/* rf_time.h: refold's one time and calendar module. Event time is Unix
 * milliseconds (int64, UTC); this turns it into calendar fields, RFC 3339
 * text and periods (month, year, ISO week), with exact integer arithmetic:
 * no locale, no TZ, no libc time functions, so every host and every replay
 * computes the same fields. Pure functions, thread safe. */
#ifndef RF_TIME_H
#define RF_TIME_H

#include <stdint.h>

#include "rf_common.h"

/* The last millisecond of 9999-12-31: event times are 1970..9999 (four-digit
 * years keep RFC 3339 text fixed-width and sortable). */
#define RF_TIME_MS_MAX 253402300799999LL
/* rf_time_format's output for any int64: "2026-01-31T12:00:00.000Z" is 24
 * characters; a year beyond 9999 (or before 0) takes more. */
#define RF_TIME_BUF 40

/* Days since 1970-01-01 of a proleptic Gregorian date (m 1..12, d 1..31),
 * and back (H. Hinnant's days_from_civil / civil_from_days). */
int64_t rf_days_from_civil(int64_t y, int m, int d);
void rf_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

/* A time's UTC calendar fields. Floor division: -1 ms is 1969-12-31T23:59:59.999. */
typedef struct rf_utc {
    int64_t days; /* since 1970-01-01 */
    int64_t year;
    int month; /* 1..12 */
    int day;   /* 1..31 */
    int hour, minute, second, milli;
} rf_utc_t;
rf_utc_t rf_time_utc(int64_t ms);

/* The ISO 8601 week (1..53) of a day, and the ISO year it belongs to (the
 * year of that week's Thursday). */
void rf_time_iso_week(int64_t days, int64_t *iso_year, int *week);

/* RFC 3339 with milliseconds in UTC: "2026-01-31T12:00:00.000Z" (any int64:
 * years outside 0..9999 print as many digits as they need). Returns the
 * length written. */
int rf_time_format(int64_t ms, char out[RF_TIME_BUF]);
/* RFC 3339 ("2026-01-01T00:00:00Z"; fraction and +hh:mm offset optional,
 * 'T', 't' or ' ' between date and time) to Unix milliseconds in
 * [0, RF_TIME_MS_MAX]; RF_ERR_BAD_INPUT naming the text otherwise. */
rf_err_t rf_time_parse(const char *s, int64_t *ms, rf_errbuf_t *eb);

#endif
