/* fuzz_http.c: libFuzzer target for the HTTP API's request parsing: the raw
 * request URI (path segments, query string, percent-decoding) and the
 * parameter checks of consumers/rf_http.c. Those functions are static, so
 * the file is included here (as SQLite's tests do). */
#include "../../consumers/serve/rf_http.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

static void fh_check_route(route_t *r)
{
    rf_board_sel_t sel = {.program = "p"};
    rf_http_req_t rq = {.r = r};
    int top = 0;
    const char *why = NULL, *c;
    uint32_t pos = 0;
    /* the parameter checks and the router must cope with whatever parse_uri accepted */
    (void)unknown_param(r, "period,by,top,limit,cursor,asset");
    (void)unknown_param(r, "period");
    (void)route_find(r);
    if (!board_params(&rq, &sel, &top, &why) && (top < 1 || top > RF_LEADERBOARD_TOP_MAX))
        __builtin_trap();
    if ((c = rf_http_param(&rq, "cursor")) && cursor_read(&sel, c, &pos) &&
        pos >= RF_LEADERBOARD_TOP_MAX)
        __builtin_trap();
    for (int i = 0; i < r->nseg; i++) {
        if (!r->seg[i] || rf_http_seg(&rq, i) != r->seg[i]) __builtin_trap();
        (void)valid_id(r->seg[i]);
    }
    for (int i = 0; i < r->nparams; i++)
        if (rf_http_param(&rq, r->key[i]) != r->val[i]) __builtin_trap(); /* keys are unique */
}

/* Bytes after route_t's last buffer: a canary that parse_uri must not touch
 * (struct padding would otherwise hide a small overrun from AddressSanitizer). */
#define FH_CANARY      16
#define FH_ROUTE_BYTES (offsetof(route_t, parambuf) + sizeof(((route_t *)0)->parambuf))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    /* the handler refuses URIs longer than RF_HTTP_URL_MAX before parsing */
    if (n > RF_HTTP_URL_MAX) return 0;
    char *uri = malloc(n + 1);
    size_t bytes = FH_ROUTE_BYTES + FH_CANARY;
    if (bytes < sizeof(route_t)) bytes = sizeof(route_t);
    unsigned char *mem = malloc(bytes);
    if (!uri || !mem) __builtin_trap();
    route_t *r = (route_t *)mem;
    memcpy(uri, data, n);
    uri[n] = '\0';
    memset(mem, 0, offsetof(route_t, segbuf));
    memset(mem + FH_ROUTE_BYTES, 0xa5, bytes - FH_ROUTE_BYTES);
    const char *bad = parse_uri(uri, r);
    for (size_t i = FH_ROUTE_BYTES; i < bytes; i++)
        if (mem[i] != 0xa5) __builtin_trap(); /* parse_uri wrote past parambuf */
    if (!bad)
        fh_check_route(r);
    else if (!*bad)
        __builtin_trap();
    (void)token_ok(bearer_token(uri), "secret-token");
    free(mem);
    free(uri);
    return 0;
}
