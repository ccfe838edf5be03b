/* fuzz_jsonl.c: libFuzzer target for the JSON-lines parser of `refold emit`:
 * one line through rf_jsonl_parse (with a format/parse round trip when it
 * parses), then the whole input as a file through rf_jsonl_reader. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_jsonl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

static rf_event_t fj_ev, fj_ev2;
static char fj_line1[RF_JSONL_OUT_MAX], fj_line2[RF_JSONL_OUT_MAX];

static void fj_check_line(const uint8_t *data, size_t n)
{
    rf_errbuf_t eb = {{0}};
    size_t l1 = 0, l2 = 0;
    rf_err_t e = rf_jsonl_parse((const char *)data, n, &fj_ev, &eb);
    if (e != RF_OK) {
        if (e != RF_ERR_BAD_INPUT || !eb.msg[0]) __builtin_trap();
        return;
    }
    /* a parsed event is valid: it formats, parses back, and formats the same */
    if (rf_jsonl_format(&fj_ev, fj_line1, sizeof fj_line1, &l1, &eb)) __builtin_trap();
    if (rf_jsonl_parse(fj_line1, l1, &fj_ev2, &eb)) __builtin_trap();
    if (rf_jsonl_format(&fj_ev2, fj_line2, sizeof fj_line2, &l2, &eb)) __builtin_trap();
    if (l1 != l2 || memcmp(fj_line1, fj_line2, l1)) __builtin_trap();
}

static void fj_check_reader(const uint8_t *data, size_t n)
{
    static rf_jsonl_reader_t r;
    if (n == 0) return;
    FILE *f = fmemopen((void *)data, n, "r");
    if (!f) return;
    rf_jsonl_reader_init(&r, f);
    rf_errbuf_t eb = {{0}};
    /* every line is consumed once; the loop ends at the end of the input */
    for (long i = 0; i <= (long)n + 1; i++) {
        rf_err_t e = rf_jsonl_read(&r, &fj_ev, &eb);
        if (e == RF_ERR_NOT_FOUND) break;
        if (e != RF_OK && e != RF_ERR_BAD_INPUT) __builtin_trap();
        if (i == (long)n + 1) __builtin_trap(); /* more events than lines */
    }
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (n > RF_JSON_LINE_MAX) return 0;
    fj_check_line(data, n);
    fj_check_reader(data, n);
    return 0;
}
