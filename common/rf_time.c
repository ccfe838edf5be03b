/* rf_time.c: time and calendar arithmetic (rf_time.h). */
#include "rf_time.h"

#include <stdbool.h>
#include <stdio.h>

#define MS_PER_DAY 86400000LL

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil), and back: exact integer arithmetic, no locale or TZ. */
int64_t rf_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void rf_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

rf_utc_t rf_time_utc(int64_t ms)
{
    rf_utc_t u;
    u.days = ms / MS_PER_DAY;
    int64_t rem = ms % MS_PER_DAY;
    if (rem < 0) rem += MS_PER_DAY, u.days--;
    rf_civil_from_days(u.days, &u.year, &u.month, &u.day);
    u.hour = (int)(rem / 3600000);
    u.minute = (int)(rem / 60000 % 60);
    u.second = (int)(rem / 1000 % 60);
    u.milli = (int)(rem % 1000);
    RF_ASSERT(u.month >= 1 && u.month <= 12 && u.day >= 1 && u.day <= 31);
    return u;
}

void rf_time_iso_week(int64_t days, int64_t *iso_year, int *week)
{
    int64_t wd = ((days + 3) % 7 + 7) % 7; /* Monday = 0; day 0 was a Thursday */
    int64_t thursday = days - wd + 3;      /* the ISO year is the Thursday's year */
    int m, d;
    rf_civil_from_days(thursday, iso_year, &m, &d);
    int64_t jan1 = rf_days_from_civil(*iso_year, 1, 1);
    *week = (int)((thursday - jan1) / 7 + 1);
    RF_ASSERT(*week >= 1 && *week <= 53);
}

/* Writes v as exactly n decimal digits (zero-padded). */
static char *put_digits(char *p, int64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v /= 10)
        p[i] = (char)('0' + v % 10);
    return p + n;
}

int rf_time_format(int64_t ms, char out[RF_TIME_BUF])
{
    rf_utc_t u = rf_time_utc(ms);
    if (u.year < 0 || u.year > 9999) /* rare: not worth a fast path */
        return snprintf(out, RF_TIME_BUF, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ",
                        (long long)u.year, u.month, u.day, u.hour, u.minute, u.second, u.milli);
    char *p = put_digits(out, u.year, 4);
    *p++ = '-';
    p = put_digits(p, u.month, 2);
    *p++ = '-';
    p = put_digits(p, u.day, 2);
    *p++ = 'T';
    p = put_digits(p, u.hour, 2);
    *p++ = ':';
    p = put_digits(p, u.minute, 2);
    *p++ = ':';
    p = put_digits(p, u.second, 2);
    *p++ = '.';
    p = put_digits(p, u.milli, 3);
    *p++ = 'Z';
    *p = '\0';
    RF_ASSERT(p - out == 24);
    return 24;
}

/* Reads exactly n digits at *s; -1 when they are not all digits. */
static int digits(const char **s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*s)++) {
        if (**s < '0' || **s > '9') return -1;
        v = v * 10 + (**s - '0');
    }
    return v;
}

static int days_in_month(int64_t y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dm[m - 1];
}

/* Fraction (any number of digits, kept to ms) and zone: Z or +hh:mm. */
static bool parse_tail(const char *s, int *frac_ms, int *offset_min)
{
    *frac_ms = 0;
    if (*s == '.') {
        s++;
        int n = 0;
        for (; *s >= '0' && *s <= '9' && n < 9; s++, n++)
            if (n < 3) *frac_ms = *frac_ms * 10 + (*s - '0');
        if (n == 0) return false;
        for (; n < 3; n++)
            *frac_ms *= 10;
    }
    if ((*s == 'Z' || *s == 'z') && s[1] == '\0') {
        *offset_min = 0;
        return true;
    }
    if (*s != '+' && *s != '-') return false;
    int sign = *s++ == '-' ? -1 : 1, oh = digits(&s, 2);
    if (oh < 0 || *s++ != ':') return false;
    int om = digits(&s, 2);
    if (om < 0 || oh > 23 || om > 59 || *s != '\0') return false;
    *offset_min = sign * (oh * 60 + om);
    return true;
}

rf_err_t rf_time_parse(const char *s, int64_t *ms, rf_errbuf_t *eb)
{
    RF_ASSERT(s && ms);
    const char *p = s;
    int y = digits(&p, 4), mo = -1, d = -1, h = -1, mi = -1, sec = -1, frac, off;
    if (y >= 0 && *p++ == '-' && (mo = digits(&p, 2)) >= 0 && *p++ == '-' &&
        (d = digits(&p, 2)) >= 0 && (*p == 'T' || *p == 't' || *p == ' ') && p++ &&
        (h = digits(&p, 2)) >= 0 && *p++ == ':' && (mi = digits(&p, 2)) >= 0 && *p++ == ':' &&
        (sec = digits(&p, 2)) >= 0 && parse_tail(p, &frac, &off) && y >= 1970 && mo >= 1 &&
        mo <= 12 && d >= 1 && d <= days_in_month(y, mo) && h <= 23 && mi <= 59 && sec <= 59) {
        int64_t t = rf_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off * 60;
        *ms = t * 1000 + frac;
        if (*ms >= 0 && *ms <= RF_TIME_MS_MAX) return RF_OK;
    }
    return rf_errf(eb, RF_ERR_BAD_INPUT,
                   "'%.40s' is not an RFC 3339 time such as 2026-01-01T00:00:00Z", s);
}
