/* rf_jsonl.h: refold events as JSON lines (one JSON object per line), the
 * input of `refold emit` and the output of `refold loadgen`.
 *
 * Field names are the Avro field names (docs/producing.md lists every type):
 *   {"type":"purchase","event_id":"...","program_id":"p1",
 *    "occurred_at":"2026-01-01T00:00:00Z","order_id":"o1","user":"u1",
 *    "amount_minor":4599,"currency":"USD"}
 * "type" takes the snake_case or the Avro name ("purchase", "Purchase").
 * "event_id" is optional (a new UUIDv7 when absent); "occurred_at" is
 * optional (now), an integer of Unix milliseconds or an RFC 3339 string.
 * ProgramConfigured takes "rules" (a JSON object, stored compactly) or
 * "rules_json" (the same as a string). Unknown fields are an error, so a
 * typo is caught; every error message names the field.
 *
 * Thread safety: the functions keep no state; rf_jsonl_write uses a
 * thread-local buffer. */
#ifndef RF_JSONL_H
#define RF_JSONL_H

#include <stdio.h>

#include "rf_event.h"
#include "rf_time.h"
#include "rf_limits.h"

/* Parses one JSON object (len bytes; trailing blanks and newline allowed)
 * into ev and validates the whole event (rf_event_validate). Returns RF_OK
 * or RF_ERR_BAD_INPUT with "<type>: field '<name>' ..." in eb. */
rf_err_t rf_jsonl_parse(const char *line, size_t len, rf_event_t *ev, rf_errbuf_t *eb);
/* rf_jsonl_parse, but an absent "event_id" becomes id_if_absent (UUID text:
 * `refold gateway` derives it from the request's Idempotency-Key), or is
 * required ("field 'event_id' is required") when id_if_absent is "". */
rf_err_t rf_jsonl_parse_id(const char *line, size_t len, const char *id_if_absent, rf_event_t *ev,
                           rf_errbuf_t *eb);

/* Formats ev as one canonical line (fixed field order, optional empty
 * fields left out, occurred_at as RFC 3339 UTC with milliseconds, rules as
 * an object when rules_json is compact JSON, newline included) into buf.
 * *len gets its length (without a NUL; one is written when it fits).
 * RF_ERR_OVERSIZE when cap is too small (RF_JSONL_OUT_MAX always fits). */
#define RF_JSONL_OUT_MAX (6 * RF_RULES_MAX + 8192)
rf_err_t rf_jsonl_format(const rf_event_t *ev, char *buf, size_t cap, size_t *len, rf_errbuf_t *eb);

/* rf_jsonl_format to f. RF_ERR_IO when the write fails. Output is byte-stable:
 * the same event always gives the same line. */
rf_err_t rf_jsonl_write(FILE *f, const rf_event_t *ev, rf_errbuf_t *eb);

/* Reads events line by line, counting lines; blank lines are skipped.
 * Caller-owned (about 36 KiB: put it on the heap or in static storage). */
typedef struct rf_jsonl_reader {
    FILE *f;
    long lineno; /* number of the line last read, from 1 */
    char line[RF_JSON_LINE_MAX + 2];
} rf_jsonl_reader_t;
void rf_jsonl_reader_init(rf_jsonl_reader_t *r, FILE *f);

/* Reads the next event. RF_OK; RF_ERR_NOT_FOUND at the end of the input;
 * RF_ERR_BAD_INPUT with "line N: ..." for a bad line (the next call goes on
 * with the line after it, so a caller may skip it); RF_ERR_IO on a read
 * error. */
rf_err_t rf_jsonl_read(rf_jsonl_reader_t *r, rf_event_t *ev, rf_errbuf_t *eb);

/* The snake_case name of an event type ("purchase", "code_issued"). */
const char *rf_jsonl_type_name(rf_event_type_t t);

#endif
