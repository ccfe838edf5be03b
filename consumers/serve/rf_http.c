/* rf_http.c: the HTTP JSON API (`refold serve`): libmicrohttpd daemon,
 * our own parsing of the raw request URI (path segments and query string,
 * percent-decoded with strict limits), bearer token, routing to rf_query. */
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "rf_http.h"
#include "rf_hex.h"
#include "rf_limits.h"
#include "rf_pages.h"
#include "rf_query.h"

#define SEGS_MAX   8 /* the longest route has 6 segments */
#define PARAMS_MAX 4 /* period, by, top, asset */

struct rf_http {
    struct MHD_Daemon *d;
    rf_query_t *q; /* NULL until the projection exists; published atomically */
    char data_dir[4096];
    char token[256];
    uint16_t port;
    uint64_t requests; /* atomic */
    rf_pages_t *pages; /* the caller's; NULL: none */
    pthread_t refresher;
    bool refresher_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
};

/* Per request: the raw URI as the client sent it (MHD's url is decoded, which
 * would turn %2F into a path separator). */
typedef struct req {
    size_t len; /* full length of the raw URI */
    char uri[]; /* first RF_HTTP_URL_MAX bytes */
} req_t;

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

/* ---- responses ------------------------------------------------------------ */

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!s) return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(s);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json; charset=utf-8");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"refold\"");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) MHD_add_response_header(r, "Allow", "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
    return send_json(c, status, json_pack("{s:s}", "error", msg));
}

static unsigned status_of(rf_err_t err)
{
    switch (err) {
    case RF_ERR_BAD_INPUT:
    case RF_ERR_OVERSIZE:
        return MHD_HTTP_BAD_REQUEST;
    case RF_ERR_NOT_FOUND:
        return MHD_HTTP_NOT_FOUND;
    default:
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
}

static enum MHD_Result send_result(struct MHD_Connection *c, json_t *j, rf_err_t err,
                                   const rf_errbuf_t *eb)
{
    if (j) return send_json(c, MHD_HTTP_OK, j);
    unsigned st = status_of(err);
    if (st == MHD_HTTP_INTERNAL_SERVER_ERROR) {
        rf_log(RF_LOG_ERROR, "serve: %s", eb->msg);
        return send_error(c, st, "internal error");
    }
    return send_error(c, st, eb->msg[0] ? eb->msg : rf_err_str(err));
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

static const char *param(const route_t *r, const char *key)
{
    for (int i = 0; i < r->nparams; i++)
        if (!strcmp(r->key[i], key)) return r->val[i];
    return NULL;
}

/* Refuses parameters the endpoint does not take (a typo must not be ignored). */
static const char *check_params(const route_t *r, const char *allowed)
{
    for (int i = 0; i < r->nparams; i++) {
        const char *a = strstr(allowed, r->key[i]);
        size_t kl = strlen(r->key[i]);
        if (!kl || !a || (a != allowed && a[-1] != ',') || (a[kl] != ',' && a[kl] != '\0'))
            return "unknown query parameter";
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

/* ---- routes ------------------------------------------------------------------ */

/* Reads period, by, asset (and top when top != NULL); NULL or what is wrong. */
static const char *board_params(const route_t *r, rf_board_sel_t *sel, int *top)
{
    const char *by = param(r, "by"), *t = param(r, "top");
    sel->period = param(r, "period");
    sel->asset = param(r, "asset");
    sel->by = RF_BOARD_REFERRALS;
    if (by && !strcmp(by, "value"))
        sel->by = RF_BOARD_VALUE;
    else if (by && strcmp(by, "referrals") != 0)
        return "by must be referrals or value";
    if (sel->asset && (!*sel->asset || strlen(sel->asset) > RF_ASSET_MAX)) return "bad asset";
    if (top) {
        char *end = NULL;
        long v = t ? strtol(t, &end, 10) : 10;
        if ((t && (*end || end == t)) || v < 1 || v > RF_LEADERBOARD_TOP_MAX)
            return "top must be 1..1000";
        *top = (int)v;
    }
    return NULL;
}

static enum MHD_Result route_program(struct MHD_Connection *c, rf_query_t *q, const route_t *r)
{
    const char *program = r->seg[2], *bad;
    rf_errbuf_t eb = {{0}};
    rf_err_t err = RF_OK;
    rf_board_sel_t sel = {.program = program};
    int top = 0;
    if (!valid_id(program)) return send_error(c, MHD_HTTP_BAD_REQUEST, "bad program id");
    if (r->nseg == 4 && !strcmp(r->seg[3], "stats")) {
        if ((bad = check_params(r, "period"))) return send_error(c, MHD_HTTP_BAD_REQUEST, bad);
        json_t *j = rf_query_stats_json(q, program, param(r, "period"), &err, &eb);
        return send_result(c, j, err, &eb);
    }
    if (r->nseg == 4 && !strcmp(r->seg[3], "leaderboard")) {
        if ((bad = check_params(r, "period,by,top,asset")) || (bad = board_params(r, &sel, &top)))
            return send_error(c, MHD_HTTP_BAD_REQUEST, bad);
        json_t *j = rf_query_top_json(q, &sel, top, &err, &eb);
        return send_result(c, j, err, &eb);
    }
    if (r->nseg != 6 || strcmp(r->seg[3], "users") != 0)
        return send_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint");
    const char *user = r->seg[4], *what = r->seg[5];
    if (!valid_id(user)) return send_error(c, MHD_HTTP_BAD_REQUEST, "bad user id");
    json_t *j = NULL;
    if (!strcmp(what, "rank")) {
        if ((bad = check_params(r, "period,by,asset")) || (bad = board_params(r, &sel, NULL)))
            return send_error(c, MHD_HTTP_BAD_REQUEST, bad);
        j = rf_query_rank_json(q, &sel, user, &err, &eb);
    } else if (!strcmp(what, "code") || !strcmp(what, "balance")) {
        if (r->nparams) return send_error(c, MHD_HTTP_BAD_REQUEST, "unknown query parameter");
        j = what[0] == 'c' ? rf_query_code_json(q, program, user, &err, &eb)
                           : rf_query_balance_json(q, user, program, &err, &eb);
    } else {
        return send_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint");
    }
    return send_result(c, j, err, &eb);
}

static enum MHD_Result route(struct MHD_Connection *c, rf_http_t *h, const route_t *r)
{
    rf_query_t *q = __atomic_load_n(&h->q, __ATOMIC_ACQUIRE);
    rf_errbuf_t eb = {{0}};
    rf_err_t err = RF_OK;
    if (r->nseg < 2 || strcmp(r->seg[0], "v1") != 0)
        return send_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint");
    if (r->nseg == 2 && !strcmp(r->seg[1], "health")) {
        if (r->nparams) return send_error(c, MHD_HTTP_BAD_REQUEST, "unknown query parameter");
        if (!q)
            return send_json(
                c, MHD_HTTP_SERVICE_UNAVAILABLE,
                json_pack("{s:s, s:n, s:[]}", "status", "starting", "lag", "partitions"));
        json_t *j = rf_query_health_json(q);
        return j ? send_json(c, MHD_HTTP_OK, j) : send_error(c, 500, "internal error");
    }
    if (!q) return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "projection not ready");
    if (r->nseg >= 4 && !strcmp(r->seg[1], "programs")) return route_program(c, q, r);
    if (r->nseg == 4 && !strcmp(r->seg[1], "users") && !strcmp(r->seg[3], "balance")) {
        if (!valid_id(r->seg[2])) return send_error(c, MHD_HTTP_BAD_REQUEST, "bad user id");
        if (r->nparams) return send_error(c, MHD_HTTP_BAD_REQUEST, "unknown query parameter");
        json_t *j = rf_query_balance_json(q, r->seg[2], NULL, &err, &eb);
        return send_result(c, j, err, &eb);
    }
    return send_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint");
}

/* ---- libmicrohttpd callbacks ------------------------------------------------- */

static void *uri_logger(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    (void)c;
    size_t n = strlen(uri), keep = n > RF_HTTP_URL_MAX ? RF_HTTP_URL_MAX : n;
    req_t *r = malloc(sizeof *r + keep + 1);
    if (!r) return NULL;
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

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **req_cls)
{
    rf_http_t *h = cls;
    req_t *rq = *req_cls;
    (void)url;
    (void)version;
    (void)upload;
    __atomic_add_fetch(&h->requests, 1, __ATOMIC_RELAXED);
    if (*upload_size) { /* a body we do not read: answer once, drop it */
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET is supported");
    if (!rq) return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    if (rq->len > RF_HTTP_URL_MAX) return send_error(c, MHD_HTTP_URI_TOO_LONG, "URI too long");
    enum MHD_Result pr; /* the pages and their endpoints (rf_pages.h) go first */
    if (rf_pages_route(h->pages, c, method, rq->uri, __atomic_load_n(&h->q, __ATOMIC_ACQUIRE), &pr))
        return pr;
    static _Thread_local route_t r; /* ~4 KiB: off the small MHD thread stacks */
    memset(&r, 0, offsetof(route_t, segbuf));
    const char *bad = parse_uri(rq->uri, &r);
    if (bad) return send_error(c, MHD_HTTP_BAD_REQUEST, bad);
    bool health = r.nseg == 2 && !strcmp(r.seg[0], "v1") && !strcmp(r.seg[1], "health");
    if (h->token[0] && !health) {
        const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
        const char *got = auth && !strncmp(auth, "Bearer ", 7) ? auth + 7 : NULL;
        if (!token_ok(got, h->token))
            return send_error(c, MHD_HTTP_UNAUTHORIZED, "missing or wrong bearer token");
    }
    return route(c, h, &r);
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

/* Opens the projection when it appears, then keeps it caught up. */
static void *refresher_main(void *arg)
{
    rf_http_t *h = arg;
    pthread_mutex_lock(&h->mu);
    while (!h->stopping) {
        pthread_mutex_unlock(&h->mu);
        rf_errbuf_t eb = {{0}};
        rf_query_t *q = __atomic_load_n(&h->q, __ATOMIC_ACQUIRE);
        if (!q) {
            q = rf_query_open(h->data_dir, RF_QUERY_FOLLOW, &eb);
            if (q) __atomic_store_n(&h->q, q, __ATOMIC_RELEASE);
        } else if (rf_query_refresh(q, &eb) != RF_OK) {
            rf_log(RF_LOG_WARN, "serve: %s", eb.msg);
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)RF_QUERY_REFRESH_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_mutex_lock(&h->mu);
        if (!h->stopping) pthread_cond_timedwait(&h->cv, &h->mu, &ts);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
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
    if (resolve_listen(listen, &ss, eb) != RF_OK) return NULL;
    rf_http_t *h = calloc(1, sizeof *h);
    if (!h) {
        rf_errf(eb, RF_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (rf_strlcpy(h->data_dir, opts->data_dir, sizeof h->data_dir) != RF_OK ||
        rf_strlcpy(h->token, opts->token ? opts->token : "", sizeof h->token) != RF_OK) {
        free(h);
        rf_errf(eb, RF_ERR_CONFIG, "data directory or token too long");
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
    pthread_mutex_unlock(&h->mu);
    if (h->refresher_started) pthread_join(h->refresher, NULL);
    rf_query_close(h->q);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    free(h);
}
