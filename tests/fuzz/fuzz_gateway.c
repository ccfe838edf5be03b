/* fuzz_gateway.c: libFuzzer target for `refold gateway`'s request parsing
 * (producers/rf_gateway_parse.c): POST bodies (single JSON and ndjson, with
 * and without an Idempotency-Key), tracking-link paths and the landing URL
 * built from them, Cookie headers, user agents and bearer tokens. The first
 * input byte picks the parser; the rest is its input. */
#include <stdlib.h>
#include <string.h>

#include "rf_gateway.h"
#include "rf_limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

static rf_err_t fg_count(const rf_event_t *ev, long line, void *opaque)
{
    long *seen = opaque;
    if (line < 1 || rf_gateway_privileged(ev->type) || !ev->event_id[0]) __builtin_trap();
    ++*seen;
    return RF_OK;
}

static void fg_body(const char *s, size_t n, bool ndjson, const char *idem)
{
    static rf_event_t ev;
    rf_gateway_error_t e;
    long seen = 0;
    long got = rf_gateway_parse_body(s, n, ndjson, idem, &ev, fg_count, &seen, &e);
    if (got > 0 && (got != seen || got > RF_GATEWAY_BATCH_EVENTS_MAX)) __builtin_trap();
    if (got < 0 && e.status != 400 && e.status != 403 && e.status != 413) __builtin_trap();
    if (got < 0 && (!e.code[0] || !e.message[0] || strlen(e.field) > RF_ID_MAX)) __builtin_trap();
    if (got == 0) __builtin_trap(); /* an empty body is an error, never 0 events */
}

static void fg_link(const char *s)
{
    char program[RF_ID_BUF], code[RF_ID_BUF], loc[RF_LANDING_URL_MAX + 16 + 3 * RF_ID_MAX];
    if (!rf_gateway_link_parse(s, program, code)) return;
    size_t pl = strlen(program), cl = strlen(code);
    if (!pl || !cl || pl > RF_ID_MAX || cl > RF_ID_MAX || strchr(program, '/') || strchr(code, '/'))
        __builtin_trap();
    static const char landing[] = "https://shop.example.com/w?a=b";
    if (rf_gateway_landing(landing, code, loc, sizeof loc) != RF_OK)
        __builtin_trap(); /* the location buffer holds any code, fully escaped */
    if (strncmp(loc + sizeof landing - 1, "&ref=", 5) != 0) __builtin_trap();
    if (strpbrk(loc + sizeof landing + 4, "#&?/ \r\n")) __builtin_trap(); /* no break-out */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (n < 1) return 0;
    uint8_t mode = data[0] % 6;
    char *s = malloc(n); /* the rest, NUL-terminated (headers and paths are strings) */
    if (!s) __builtin_trap();
    memcpy(s, data + 1, n - 1);
    s[n - 1] = '\0';
    char vis[RF_UUID_STR_LEN + 1];
    const char *tokens[] = {"app-token-0123456789", "other-app-token-999999"};
    switch (mode) {
    case 0:
        fg_body(s, n - 1, true, "idem-key-1");
        break;
    case 1:
        fg_body(s, n - 1, false, NULL);
        break;
    case 2:
        fg_link(s);
        break;
    case 3:
        if (rf_gateway_cookie_visitor(s, vis) && strlen(vis) != RF_UUID_STR_LEN) __builtin_trap();
        break;
    case 4:
        (void)rf_gateway_bot_agent(s);
        break;
    default:
        if (rf_gateway_token_ok(s, tokens, 2) && strcmp(s, tokens[0]) && strcmp(s, tokens[1]))
            __builtin_trap();
        break;
    }
    free(s);
    return 0;
}
