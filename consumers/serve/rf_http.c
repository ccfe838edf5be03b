/* rf_http.c: the HTTP JSON API (`refold serve`): libmicrohttpd daemon,
 * our own parsing of the raw request URI (path segments and query string,
 * percent-decoded with strict limits), bearer token, CORS, and the table of
 * routes (a new endpoint is a row: docs/http-api.md, "Adding an endpoint"). */
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include <microhttpd.h>

#include "rf_http.h"
#include "rf_http_int.h"
#include "rf_hex.h"
#include "rf_limits.h"
#include "rf_pages.h"
#include "rf_query.h"

struct rf_http {
    struct MHD_Daemon *d;
    rf_query_t *q; /* NULL until the projection exists; published atomically */
    char data_dir[4096];
    char token[256];
    char cors[256]; /* Access-Control-Allow-Origin; "" none */
    uint16_t port;
    uint64_t requests; /* atomic */
    rf_pages_t *pages; /* the caller's; NULL: none */
    pthread_t refresher;
    bool refresher_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
};

#define SEGS_MAX 8 /* the longest route has 6 segments */
/* How long a browser may reuse a preflight's answer: short, so a changed
 * --cors-origin takes effect within minutes. */
#define CORS_MAX_AGE_S "600"
#define PARAMS_MAX     6 /* the leaderboard's period, by, limit (or top), cursor, asset */

/* A request's decoded path segments and query parameters. */
typedef struct route {
    const char *seg[SEGS_MAX];
    int nseg;
    const char *key[PARAMS_MAX], *val[PARAMS_MAX];
    int nparams;
    /* the buffers last: a request clears everything before segbuf */
    char segbuf[RF_HTTP_URL_MAX + 1];
    /* each parameter decodes to key NUL value NUL: up to 2 bytes more than
     * its raw "k" (no '='), less one '&' between two (tests/fuzz/regress) */
    char parambuf[RF_HTTP_URL_MAX + 2 * PARAMS_MAX + 1];
} route_t;

/* Per request: the raw URI as the client sent it (MHD's url is decoded, which
 * would turn %2F into a path separator). */
typedef struct req {
    bool seen;  /* the handler ran once (it answers on the second call) */
    size_t len; /* full length of the raw URI */
    char uri[]; /* first RF_HTTP_URL_MAX bytes */
} req_t;

/* ---- responses ------------------------------------------------------------ */

enum MHD_Result rf_http_send(rf_http_req_t *rq, unsigned status, json_t *body)
{
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!s) return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(s);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json; charset=utf-8");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (rq->h->cors[0]) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", rq->h->cors);
        MHD_add_response_header(r, "Vary", "Origin");
    }
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"refold\"");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, "Allow", rq->h->cors[0] ? "GET, HEAD, OPTIONS" : "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(rq->c, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result rf_http_fail(rf_http_req_t *rq, unsigned status, const char *code,
                             const char *param, const char *fmt, ...)
{
    char msg[RF_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *e = json_pack("{s:s, s:s, s:s?}", "code", code, "message", msg, "param", param);
    if (e && !param) json_object_set_new(e, "param", json_null());
    return rf_http_send(rq, status, e ? json_pack("{s:o}", "error", e) : NULL);
}

/* A query's answer, or its error: bad input names param, not found names
 * nf_param (the path parameter that named nothing). */
enum MHD_Result rf_http_result(rf_http_req_t *rq, json_t *j, rf_err_t err, const rf_errbuf_t *eb,
                               const char *param, const char *nf_param)
{
    if (j) return rf_http_send(rq, MHD_HTTP_OK, j);
    const char *msg = eb->msg[0] ? eb->msg : rf_err_str(err);
    switch (err) {
    case RF_ERR_BAD_INPUT:
    case RF_ERR_OVERSIZE:
        return rf_http_fail(rq, MHD_HTTP_BAD_REQUEST, "invalid_parameter", param, "%s", msg);
    case RF_ERR_NOT_FOUND:
        return rf_http_fail(rq, MHD_HTTP_NOT_FOUND, "not_found", nf_param, "%s", msg);
    default:
        rf_log(RF_LOG_ERROR, "serve: %s", eb->msg);
        return rf_http_fail(rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", NULL, "internal error");
    }
}

/* ---- parsing ---------------------------------------------------------------- */

/* Decodes s[0..n) into out (NUL-terminated); '+' is a space when plus.
 * Refuses bad escapes and control bytes (ids never hold them). */
static bool pct_decode(const char *s, size_t n, bool plus, char *out, size_t *outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '%') {
            if (i + 2 >= n) return false; /* a truncated escape */
            int h = rf_hex_digit(s[i + 1]), l = rf_hex_digit(s[i + 2]);
            if (h < 0 || l < 0) return false;
            ch = (unsigned char)(h * 16 + l);
            i += 2;
        } else if (ch == '+' && plus) {
            ch = ' ';
        }
        if (ch < 0x20 || ch == 0x7f) return false;
        out[o++] = (char)ch;
    }
    out[o] = '\0';
    *outlen = o;
    return true;
}

/* Splits "/a/b?x=1&y=2" into decoded segments and parameters. Returns NULL
 * or the reason the request is bad. */
static const char *parse_uri(const char *uri, route_t *r)
{
    const char *qm = strchr(uri, '?'), *path_end = qm ? qm : uri + strlen(uri);
    size_t used = 0, n;
    if (*uri != '/') return "the path must start with /";
    for (const char *p = uri + 1; p <= path_end;) {
        const char *slash = memchr(p, '/', (size_t)(path_end - p));
        const char *e = slash ? slash : path_end;
        if (r->nseg >= SEGS_MAX) return "too many path segments";
        if (!pct_decode(p, (size_t)(e - p), false, r->segbuf + used, &n))
            return "bad percent-encoding or control character in the path";
        r->seg[r->nseg++] = r->segbuf + used;
        used += n + 1;
        p = e + 1;
    }
    used = 0;
    for (const char *p = qm ? qm + 1 : NULL; p && *p;) {
        const char *amp = strchr(p, '&'), *e = amp ? amp : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(e - p));
        if (e > p) {
            if (r->nparams >= PARAMS_MAX) return "too many query parameters";
            const char *ke = eq ? eq : e;
            size_t kn, vn;
            char *k = r->parambuf + used;
            if (!pct_decode(p, (size_t)(ke - p), true, k, &kn)) return "bad query string";
            char *v = k + kn + 1;
            if (!pct_decode(eq ? eq + 1 : e, eq ? (size_t)(e - eq - 1) : 0, true, v, &vn))
                return "bad query string";
            used += kn + vn + 2;
            for (int i = 0; i < r->nparams; i++)
                if (!strcmp(r->key[i], k)) return "a query parameter is repeated";
            r->key[r->nparams] = k;
            r->val[r->nparams++] = v;
        }
        p = amp ? amp + 1 : e;
    }
    return NULL;
}

const char *rf_http_param(const rf_http_req_t *rq, const char *key)
{
    const route_t *r = rq->r;
    for (int i = 0; i < r->nparams; i++)
        if (!strcmp(r->key[i], key)) return r->val[i];
    return NULL;
}

const char *rf_http_seg(const rf_http_req_t *rq, int i)
{
    return i >= 0 && i < rq->r->nseg ? rq->r->seg[i] : NULL;
}

/* The first parameter not in the comma-separated list allowed, or NULL. */
static const char *unknown_param(const route_t *r, const char *allowed)
{
    for (int i = 0; i < r->nparams; i++) {
        const char *a = strstr(allowed, r->key[i]);
        size_t kl = strlen(r->key[i]);
        if (!kl || !a || (a != allowed && a[-1] != ',') || (a[kl] != ',' && a[kl] != '\0'))
            return r->key[i];
    }
    return NULL;
}

static bool valid_id(const char *s)
{
    return *s && strlen(s) <= RF_ID_MAX;
}

static bool token_ok(const char *got, const char *want)
{
    size_t gl = got ? strlen(got) : 0, wl = strlen(want);
    unsigned char d = gl != wl;
    for (size_t i = 0; i < wl; i++) /* time depends on the secret's length only */
        d |= (unsigned char)(want[i] ^ (i < gl ? got[i] : 0));
    return d == 0;
}

/* The credentials of "Authorization: Bearer <token>": the scheme is
 * case-insensitive and followed by one or more spaces (RFC 7235); NULL when
 * absent or another scheme. */
static const char *bearer_token(const char *auth)
{
    if (!auth || strncasecmp(auth, "Bearer", 6) != 0 || auth[6] != ' ') return NULL;
    auth += 6;
    while (*auth == ' ')
        auth++;
    return auth;
}

/* ---- routes ------------------------------------------------------------------ */

/* Reads period, by, asset (and the page size when limit != NULL: `limit`,
 * or its older name `top`); on a bad value returns the parameter's name and
 * sets *why. */
static const char *board_params(const rf_http_req_t *rq, rf_board_sel_t *sel, int *limit,
                                const char **why)
{
    const char *by = rf_http_param(rq, "by"), *t = rf_http_param(rq, "top");
    const char *l = rf_http_param(rq, "limit");
    sel->period = rf_http_param(rq, "period");
    sel->asset = rf_http_param(rq, "asset");
    sel->by = RF_BOARD_REFERRALS;
    if (by && !strcmp(by, "value"))
        sel->by = RF_BOARD_VALUE;
    else if (by && strcmp(by, "referrals") != 0)
        return *why = "by must be referrals or value", "by";
    if (sel->asset && (!*sel->asset || strlen(sel->asset) > RF_ASSET_MAX))
        return *why = "bad asset", "asset";
    if (!limit) return NULL;
    if (t && l) return *why = "give limit or top (its older name), not both", "top";
    const char *name = l ? "limit" : "top", *v = l ? l : t;
    int64_t n = 10;
    if (v && rf_parse_i64(v, 1, RF_LEADERBOARD_TOP_MAX, &n, NULL, NULL) != RF_OK)
        return *why = "must be 1..1000", name;
    *limit = (int)n;
    return NULL;
}

/* Cursors are opaque to clients: hex of the next entry's 0-based position
 * and a hash of the board's selection, so a cursor of another board (or a
 * forged one) is refused instead of paging something else. */
static uint32_t board_hash(const rf_board_sel_t *sel)
{
    const char *parts[3] = {sel->program, sel->period ? sel->period : "all",
                            sel->asset ? sel->asset : ""};
    uint32_t h = 2166136261u ^ (uint32_t)sel->by;
    for (int i = 0; i < 3; i++)
        for (const char *p = parts[i];; p++) {
            h = (h ^ (uint8_t)*p) * 16777619u;
            if (!*p) break;
        }
    return h;
}

static void cursor_make(const rf_board_sel_t *sel, uint32_t pos, char out[17])
{
    uint8_t b[8];
    rf_be32_put(b, pos);
    rf_be32_put(b + 4, board_hash(sel));
    rf_hex(b, 8, out);
}

static bool cursor_read(const rf_board_sel_t *sel, const char *c, uint32_t *pos)
{
    uint8_t b[8];
    if (strlen(c) != 16 || rf_unhex(c, b, 8) != RF_OK || rf_be32_get(b + 4) != board_hash(sel))
        return false;
    *pos = rf_be32_get(b);
    return *pos < RF_LEADERBOARD_TOP_MAX;
}

/* The program of /v1/programs/{program}/...: valid and known, or answered. */
static bool program_ok(rf_http_req_t *rq, enum MHD_Result *ret)
{
    const char *program = rf_http_seg(rq, 2);
    rf_errbuf_t eb = {{0}};
    if (!valid_id(program)) {
        *ret = rf_http_fail(rq, MHD_HTTP_BAD_REQUEST, "invalid_parameter", "program",
                            "bad program id (1..%d bytes)", RF_ID_MAX);
        return false;
    }
    rf_err_t err = rf_query_program(rq->q, program, &eb);
    if (err != RF_OK) {
        *ret = rf_http_result(rq, NULL, err, &eb, "program", "program");
        return false;
    }
    return true;
}

static bool user_ok(rf_http_req_t *rq, int seg, enum MHD_Result *ret)
{
    if (valid_id(rf_http_seg(rq, seg))) return true;
    *ret = rf_http_fail(rq, MHD_HTTP_BAD_REQUEST, "invalid_parameter", "user",
                        "bad user id (1..%d bytes)", RF_ID_MAX);
    return false;
}

static enum MHD_Result get_health(rf_http_req_t *rq)
{
    if (!rq->q)
        return rf_http_send(
            rq, MHD_HTTP_SERVICE_UNAVAILABLE,
            json_pack("{s:s, s:n, s:[]}", "status", "starting", "lag", "partitions"));
    json_t *j = rf_query_health_json(rq->q);
    return j ? rf_http_send(rq, MHD_HTTP_OK, j)
             : rf_http_fail(rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", NULL, "internal error");
}

extern const char rf__openapi_json[]; /* docs/openapi.json, embedded (embed_openapi.cmake) */

static enum MHD_Result get_openapi(rf_http_req_t *rq)
{
    json_error_t je;
    json_t *doc = json_loads(rf__openapi_json, 0, &je);
    RF_ASSERT(doc != NULL); /* checked at build time by tests/it_http.c */
    return rf_http_send(rq, MHD_HTTP_OK, doc);
}

static enum MHD_Result get_user_balance(rf_http_req_t *rq)
{
    enum MHD_Result ret;
    rf_errbuf_t eb = {{0}};
    rf_err_t err = RF_OK;
    if (!user_ok(rq, 2, &ret)) return ret;
    json_t *j = rf_query_balance_json(rq->q, rf_http_seg(rq, 2), NULL, &err, &eb);
    return rf_http_result(rq, j, err, &eb, NULL, "user");
}

static enum MHD_Result get_stats(rf_http_req_t *rq)
{
    enum MHD_Result ret;
    rf_errbuf_t eb = {{0}};
    rf_err_t err = RF_OK;
    if (!program_ok(rq, &ret)) return ret;
    json_t *j =
        rf_query_stats_json(rq->q, rf_http_seg(rq, 2), rf_http_param(rq, "period"), &err, &eb);
    return rf_http_result(rq, j, err, &eb, "period", "program");
}

/* The canonical period or an answered 400 naming `period`. */
static bool period_ok(rf_http_req_t *rq, const rf_board_sel_t *sel, enum MHD_Result *ret)
{
    char canon[32];
    rf_errbuf_t eb = {{0}};
    rf_err_t err = rf_query_period(rq->q, sel->program, sel->period, canon, &eb);
    if (err == RF_OK) return true;
    *ret = rf_http_result(rq, NULL, err, &eb, "period", "program");
    return false;
}

/* Keeps entries [pos, pos + limit) of a top (pos + limit) answer and adds
 * next_cursor: the position after them while the board has more (and they
 * are within the RF_LEADERBOARD_TOP_MAX a board can be paged through). */
static json_t *board_page(json_t *j, const rf_board_sel_t *sel, uint32_t pos, int limit)
{
    json_t *all = json_object_get(j, "entries"), *page = json_array();
    size_t n = json_array_size(all);
    for (size_t i = pos; i < n; i++)
        json_array_append(page, json_array_get(all, i));
    json_object_set_new(j, "entries", page);
    json_int_t users = json_integer_value(json_object_get(j, "users"));
    uint32_t next = pos + (uint32_t)limit;
    if ((json_int_t)next < users && next < RF_LEADERBOARD_TOP_MAX) {
        char c[17];
        cursor_make(sel, next, c);
        json_object_set_new(j, "next_cursor", json_string(c));
    } else {
        json_object_set_new(j, "next_cursor", json_null());
    }
    return j;
}

static enum MHD_Result get_leaderboard(rf_http_req_t *rq)
{
    enum MHD_Result ret;
    rf_errbuf_t eb = {{0}};
    rf_err_t err = RF_OK;
    if (!program_ok(rq, &ret)) return ret;
    rf_board_sel_t sel = {.program = rf_http_seg(rq, 2)};
    int limit = 0;
    const char *why = NULL, *bad = board_params(rq, &sel, &limit, &why), *c;
    if (bad) return rf_http_fail(rq, MHD_HTTP_BAD_REQUEST, "invalid_parameter", bad, "%s", why);
    if (!period_ok(rq, &sel, &ret)) return ret;
    uint32_t pos = 0;
    if ((c = rf_http_param(rq, "cursor")) && !cursor_read(&sel, c, &pos))
        return rf_http_fail(rq, MHD_HTTP_BAD_REQUEST, "invalid_parameter", "cursor",
                            "bad cursor (pass next_cursor of the same board unchanged)");
    int k = (int)pos + limit;
    if (k > RF_LEADERBOARD_TOP_MAX) k = RF_LEADERBOARD_TOP_MAX;
    json_t *j = rf_query_top_json(rq->q, &sel, k, &err, &eb);
    if (j) j = board_page(j, &sel, pos, limit);
    return rf_http_result(rq, j, err, &eb, "asset", "program");
}

static enum MHD_Result get_rank(rf_http_req_t *rq)
{
    enum MHD_Result ret;
    rf_errbuf_t eb = {{0}};
    rf_err_t err = RF_OK;
    if (!program_ok(rq, &ret) || !user_ok(rq, 4, &ret)) return ret;
    rf_board_sel_t sel = {.program = rf_http_seg(rq, 2)};
    const char *why = NULL, *bad = board_params(rq, &sel, NULL, &why);
    if (bad) return rf_http_fail(rq, MHD_HTTP_BAD_REQUEST, "invalid_parameter", bad, "%s", why);
    if (!period_ok(rq, &sel, &ret)) return ret;
    json_t *j = rf_query_rank_json(rq->q, &sel, rf_http_seg(rq, 4), &err, &eb);
    return rf_http_result(rq, j, err, &eb, "asset", "user");
}

static enum MHD_Result get_code(rf_http_req_t *rq)
{
    enum MHD_Result ret;
    rf_errbuf_t eb = {{0}};
    rf_err_t err = RF_OK;
    if (!program_ok(rq, &ret) || !user_ok(rq, 4, &ret)) return ret;
    json_t *j = rf_query_code_json(rq->q, rf_http_seg(rq, 2), rf_http_seg(rq, 4), &err, &eb);
    return rf_http_result(rq, j, err, &eb, NULL, "user");
}

static enum MHD_Result get_program_balance(rf_http_req_t *rq)
{
    enum MHD_Result ret;
    rf_errbuf_t eb = {{0}};
    rf_err_t err = RF_OK;
    if (!program_ok(rq, &ret) || !user_ok(rq, 4, &ret)) return ret;
    json_t *j = rf_query_balance_json(rq->q, rf_http_seg(rq, 4), rf_http_seg(rq, 2), &err, &eb);
    return rf_http_result(rq, j, err, &eb, NULL, "user");
}

/* The routes: a path pattern ("{name}" matches one non-empty segment), the
 * query parameters it takes (comma-separated), flags and the handler. To add
 * an endpoint, add a row here (or, for a family of routes in its own file,
 * one row per route pointing at that file's handlers, declared in
 * rf_http_int.h), and its path to docs/openapi.json: tests/it_http.c checks
 * that every documented path answers as described. */
static const rf_http_route_t routes[] = {
    {"/v1/health", "", RF_HTTP_OPEN | RF_HTTP_NO_QUERY, get_health},
    {"/v1/openapi.json", "", RF_HTTP_OPEN | RF_HTTP_NO_QUERY, get_openapi},
    {"/v1/users/{user}/balance", "", 0, get_user_balance},
    {"/v1/programs/{program}/stats", "period", 0, get_stats},
    {"/v1/programs/{program}/leaderboard", "period,by,top,limit,cursor,asset", 0, get_leaderboard},
    {"/v1/programs/{program}/users/{user}/rank", "period,by,asset", 0, get_rank},
    {"/v1/programs/{program}/users/{user}/code", "", 0, get_code},
    {"/v1/programs/{program}/users/{user}/balance", "", 0, get_program_balance},
};

/* Whether the decoded segments match pattern (segment by segment; a {x}
 * matches an empty one too, so the handler answers 400 for it). */
static bool route_match(const char *pattern, const route_t *r)
{
    int i = 0;
    for (const char *p = pattern + 1; *p; i++) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (i >= r->nseg) return false;
        if (p[0] != '{' && (strlen(r->seg[i]) != n || memcmp(p, r->seg[i], n))) return false;
        p += n + (e ? 1 : 0);
    }
    return i == r->nseg;
}

static const rf_http_route_t *route_find(const route_t *r)
{
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (route_match(routes[i].path, r)) return &routes[i];
    return NULL;
}

/* ---- libmicrohttpd callbacks ------------------------------------------------- */

static void *uri_logger(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    (void)c;
    size_t n = strlen(uri), keep = n > RF_HTTP_URL_MAX ? RF_HTTP_URL_MAX : n;
    req_t *r = malloc(sizeof *r + keep + 1);
    if (!r) return NULL;
    r->seen = false;
    r->len = n;
    memcpy(r->uri, uri, keep);
    r->uri[keep] = '\0';
    return r;
}

static void completed(void *cls, struct MHD_Connection *c, void **req_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    free(*req_cls);
    *req_cls = NULL;
}

/* OPTIONS with --cors-origin: the preflight's answer (no body). */
static enum MHD_Result send_preflight(rf_http_req_t *rq)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Access-Control-Allow-Origin", rq->h->cors);
    MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, HEAD, OPTIONS");
    MHD_add_response_header(r, "Access-Control-Allow-Headers", "Authorization");
    MHD_add_response_header(r, "Access-Control-Max-Age", CORS_MAX_AGE_S);
    MHD_add_response_header(r, "Vary", "Origin");
    enum MHD_Result ret = MHD_queue_response(rq->c, MHD_HTTP_NO_CONTENT, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result dispatch(rf_http_req_t *rq, const char *method, const req_t *raw)
{
    bool options = rq->h->cors[0] && !strcmp(method, "OPTIONS");
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 && !options)
        return rf_http_fail(rq, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed", NULL,
                            "only GET is supported");
    if (raw->len > RF_HTTP_URL_MAX)
        return rf_http_fail(rq, MHD_HTTP_URI_TOO_LONG, "uri_too_long", NULL, "URI too long");
    const char *bad = parse_uri(raw->uri, rq->r);
    if (bad) return rf_http_fail(rq, MHD_HTTP_BAD_REQUEST, "bad_request", NULL, "%s", bad);
    if (options) return send_preflight(rq); /* before the token: browsers send none */
    const rf_http_route_t *rt = route_find(rq->r);
    if (rq->h->token[0] && !(rt && (rt->flags & RF_HTTP_OPEN))) { /* unknown paths too */
        const char *auth =
            MHD_lookup_connection_value(rq->c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        if (!token_ok(bearer_token(auth), rq->h->token))
            return rf_http_fail(rq, MHD_HTTP_UNAUTHORIZED, "unauthorized", NULL,
                                "missing or wrong bearer token");
    }
    if (!rt) return rf_http_fail(rq, MHD_HTTP_NOT_FOUND, "not_found", NULL, "no such endpoint");
    const char *unknown = unknown_param(rq->r, rt->params);
    if (unknown)
        return rf_http_fail(rq, MHD_HTTP_BAD_REQUEST, "unknown_parameter", unknown,
                            "unknown query parameter '%.64s'", unknown);
    if (!rq->q && !(rt->flags & RF_HTTP_NO_QUERY))
        return rf_http_fail(rq, MHD_HTTP_SERVICE_UNAVAILABLE, "not_ready", NULL,
                            "projection not ready");
    return rt->fn(rq);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **req_cls)
{
    rf_http_t *h = cls;
    req_t *raw = *req_cls;
    (void)url;
    (void)version;
    (void)upload;
    static _Thread_local route_t r; /* ~4 KiB: off the small MHD thread stacks */
    rf_http_req_t rq = {c, h, &r, __atomic_load_n(&h->q, __ATOMIC_ACQUIRE)};
    if (!raw) {
        __atomic_add_fetch(&h->requests, 1, __ATOMIC_RELAXED);
        return rf_http_fail(&rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", NULL, "out of memory");
    }
    /* Answer once the request is read: a response queued on the first call,
     * before libmicrohttpd knows whether a body follows, closes the
     * connection (no keep-alive). A body we do not read is dropped. */
    if (!raw->seen) {
        raw->seen = true;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    __atomic_add_fetch(&h->requests, 1, __ATOMIC_RELAXED);
    enum MHD_Result pr; /* the pages and their endpoints (rf_pages.h) go first */
    if (raw->len <= RF_HTTP_URL_MAX && rf_pages_route(h->pages, c, method, raw->uri, rq.q, &pr))
        return pr;
    memset(&r, 0, offsetof(route_t, segbuf));
    return dispatch(&rq, method, raw);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    (void)cls;
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    if (n && buf[n - 1] == '\n') buf[n - 1] = '\0';
    rf_log(RF_LOG_WARN, "serve: %s", buf);
}

/* ---- lifecycle ---------------------------------------------------------------- */

/* Opens the projection when it appears, then keeps it caught up: it sleeps
 * until a worker commits (rf_query_wait), so answers trail a commit by about
 * RF_QUERY_REFRESH_MIN_MS and an idle server does not wake for nothing. */
static void *refresher_main(void *arg)
{
    rf_http_t *h = arg;
    pthread_mutex_lock(&h->mu);
    while (!h->stopping) {
        pthread_mutex_unlock(&h->mu);
        rf_errbuf_t eb = {{0}};
        rf_query_t *q = __atomic_load_n(&h->q, __ATOMIC_ACQUIRE);
        if (q) {
            if (rf_query_wait(q, RF_QUERY_REFRESH_MS) && rf_query_refresh(q, &eb) != RF_OK)
                rf_log(RF_LOG_WARN, "serve: %s", eb.msg);
            pthread_mutex_lock(&h->mu);
            continue;
        }
        q = rf_query_open(h->data_dir, RF_QUERY_FOLLOW, &eb);
        if (q) __atomic_store_n(&h->q, q, __ATOMIC_RELEASE);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)RF_QUERY_REFRESH_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_mutex_lock(&h->mu);
        if (!h->stopping && !q) pthread_cond_timedwait(&h->cv, &h->mu, &ts);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

bool rf_http_ready(const rf_http_t *h)
{
    return __atomic_load_n(&h->q, __ATOMIC_ACQUIRE) != NULL;
}

static rf_err_t resolve_listen(const char *listen, struct sockaddr_storage *ss, rf_errbuf_t *eb)
{
    char host[256], *colon;
    if (rf_strlcpy(host, listen, sizeof host) != RF_OK || !(colon = strrchr(host, ':')))
        return rf_errf(eb, RF_ERR_CONFIG, "bad listen address '%s' (want host:port)", listen);
    *colon = '\0';
    const char *port = colon + 1, *name = host;
    if (host[0] == '[' && colon[-1] == ']') { /* [::1]:8080 */
        colon[-1] = '\0';
        name = host + 1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
                    *res = NULL;
    char *end = NULL;
    long pv = strtol(port, &end, 10);
    if (!*port || *end || pv < 0 || pv > 65535 || getaddrinfo(name, port, &hints, &res) != 0 ||
        !res)
        return rf_errf(eb, RF_ERR_CONFIG, "cannot resolve listen address '%s'", listen);
    memset(ss, 0, sizeof *ss);
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return RF_OK;
}

rf_http_t *rf_http_start(const rf_http_opts_t *opts, rf_errbuf_t *eb)
{
    struct sockaddr_storage ss;
    const char *listen = opts->listen ? opts->listen : "127.0.0.1:8080";
    if (!opts->data_dir) {
        rf_errf(eb, RF_ERR_CONFIG, "--data is required");
        return NULL;
    }
    struct stat st;
    if (stat(opts->data_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        rf_errf(eb, RF_ERR_CONFIG, "no data directory '%s' (run refold project --data DIR first)",
                opts->data_dir);
        return NULL;
    }
    if (resolve_listen(listen, &ss, eb) != RF_OK) return NULL;
    rf_http_t *h = calloc(1, sizeof *h);
    if (!h) {
        rf_errf(eb, RF_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (rf_strlcpy(h->data_dir, opts->data_dir, sizeof h->data_dir) != RF_OK ||
        rf_strlcpy(h->token, opts->token ? opts->token : "", sizeof h->token) != RF_OK ||
        rf_strlcpy(h->cors, opts->cors_origin ? opts->cors_origin : "", sizeof h->cors) != RF_OK) {
        free(h);
        rf_errf(eb, RF_ERR_CONFIG, "data directory, token or CORS origin too long");
        return NULL;
    }
    h->pages = opts->pages;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    rf_errbuf_t qeb = {{0}};
    h->q = rf_query_open(h->data_dir, RF_QUERY_FOLLOW, &qeb); /* NULL: not there yet */
    unsigned threads = opts->threads > 0 ? (unsigned)opts->threads : RF_HTTP_THREADS;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, handler, h, MHD_OPTION_EXTERNAL_LOGGER,
                            mhd_logger, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)RF_HTTP_CONN_MAX, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)RF_HTTP_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                            (size_t)RF_HTTP_CONN_MEMORY, MHD_OPTION_URI_LOG_CALLBACK, uri_logger, h,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, h, MHD_OPTION_END);
    if (!h->d) {
        rf_errf(eb, RF_ERR_CONFIG, "cannot listen on %s (address in use?)", listen);
        rf_http_stop(h);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : 0;
    if (pthread_create(&h->refresher, NULL, refresher_main, h) == 0) h->refresher_started = true;
    return h;
}

uint16_t rf_http_port(const rf_http_t *h)
{
    return h->port;
}

uint64_t rf_http_requests(const rf_http_t *h)
{
    return __atomic_load_n(&h->requests, __ATOMIC_RELAXED);
}

void rf_http_stop(rf_http_t *h)
{
    if (!h) return;
    if (h->d) MHD_stop_daemon(h->d);
    pthread_mutex_lock(&h->mu);
    h->stopping = true;
    pthread_cond_broadcast(&h->cv);
    rf_query_wake(__atomic_load_n(&h->q, __ATOMIC_ACQUIRE));
    pthread_mutex_unlock(&h->mu);
    if (h->refresher_started) pthread_join(h->refresher, NULL);
    rf_query_close(h->q);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    free(h);
}
