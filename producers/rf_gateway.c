/* rf_gateway.c: `refold gateway`'s HTTP side (libmicrohttpd): tracking
 * links (resolve, cookie, click onto the ring, 302) and the intake
 * (POST /v1/events: bearer token, body, validate all, publish, 202). */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>
#include <openssl/rand.h>

#include "rf_gateway_int.h"
#include "rf_hex.h"
#include "rf_limits.h"

#define VISITOR_COOKIE "rf_vid"
#define STR2(x)        #x
#define STR(x)         STR2(x)

/* Per request (req_cls): the raw URI, the POST body, the batch in flight. */
typedef struct req {
    uint64_t t0_ns;
    char method[8]; /* for the access log */
    unsigned status;
    bool is_post, oversize, submitted;
    size_t body_len, body_cap;
    char *body;
    rf__gw_batch_t *batch;
    size_t uri_len;
    char uri[]; /* first RF_HTTP_URL_MAX bytes */
} req_t;

/* ---- responses ------------------------------------------------------------- */

static enum MHD_Result respond(struct MHD_Connection *c, req_t *rq, unsigned status,
                               const char *type, char *body, const char *const *headers)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    for (const char *const *h = headers; h && h[0]; h += 2)
        MHD_add_response_header(r, h[0], h[1]);
    if (rq) rq->status = status;
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, req_t *rq, unsigned status, json_t *j,
                                 const char *const *headers)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s) return MHD_NO;
    return respond(c, rq, status, "application/json; charset=utf-8", s, headers);
}

/* {"error": {"code", "message", "field"}} (field null when none). */
static enum MHD_Result send_error(struct MHD_Connection *c, req_t *rq, unsigned status,
                                  const char *code, const char *msg, const char *field)
{
    static const char *const auth[] = {"WWW-Authenticate", "Bearer realm=\"refold\"", NULL};
    static const char *const retry[] = {"Retry-After", STR(RF_GATEWAY_RETRY_AFTER_S), NULL};
    json_t *j = json_pack("{s:{s:s, s:s, s:o}}", "error", "code", code, "message", msg, "field",
                          field && *field ? json_string(field) : json_null());
    return send_json(c, rq, status, j,
                     status == MHD_HTTP_UNAUTHORIZED          ? auth
                     : status == MHD_HTTP_SERVICE_UNAVAILABLE ? retry
                                                              : NULL);
}

static enum MHD_Result send_page(struct MHD_Connection *c, req_t *rq, unsigned status,
                                 const char *title, const char *text)
{
    size_t cap = 2 * strlen(title) + strlen(text) + 256;
    char *s = malloc(cap);
    if (!s) return MHD_NO;
    snprintf(s, cap,
             "<!doctype html><html><head><meta charset=\"utf-8\"><title>%s</title>"
             "<meta name=\"viewport\" content=\"width=device-width\"></head>"
             "<body style=\"font-family:sans-serif;max-width:32em;margin:4em auto\">"
             "<h1>%s</h1><p>%s</p></body></html>\n",
             title, title, text);
    return respond(c, rq, status, "text/html; charset=utf-8", s, NULL);
}

/* ---- tracking links ---------------------------------------------------------- */

/* The client's address: the socket's, or behind a trusted proxy the last
 * X-Forwarded-For entry (the one the proxy appended; earlier ones are the
 * client's own claims). */
static void client_ip(rf_gateway_t *g, struct MHD_Connection *c, char out[64])
{
    out[0] = '\0';
    if (g->o.trust_proxy) {
        const char *xff = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-For");
        if (xff) {
            const char *last = strrchr(xff, ',');
            last = last ? last + 1 : xff;
            while (*last == ' ')
                last++;
            size_t n = strcspn(last, " ");
            if (n && n < 64) {
                memcpy(out, last, n);
                out[n] = '\0';
                return;
            }
        }
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr) return;
    const struct sockaddr *sa = ci->client_addr;
    socklen_t sl =
        sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (getnameinfo(sa, sl, out, 64, NULL, 0, NI_NUMERICHOST) != 0) out[0] = '\0';
}

static bool prefetch(struct MHD_Connection *c, const char *method)
{
    if (!strcmp(method, "HEAD")) return true;
    const char *ua = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "User-Agent");
    const char *p = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-Purpose");
    if (!p) p = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Purpose");
    if (!p) p = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Moz");
    if (!p) p = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Purpose");
    return (p && strstr(p, "prefetch")) || (p && strstr(p, "preview")) || rf_gateway_bot_agent(ua);
}

static void new_visitor(char out[RF_UUID_STR_LEN + 1])
{
    uint8_t u[16];
    if (RAND_bytes(u, sizeof u) != 1) RF_ASSERT(!"RAND_bytes failed");
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40); /* version 4 */
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
    rf_uuid_format(u, out);
}

static bool behind_tls(rf_gateway_t *g, struct MHD_Connection *c)
{
    if (g->o.secure_cookies) return true;
    if (!g->o.trust_proxy) return false;
    const char *p = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-Proto");
    return p && !strcmp(p, "https");
}

static enum MHD_Result link_not_found(rf_gateway_t *g, struct MHD_Connection *c, req_t *rq)
{
    RF__GW_ADD(g, not_found, 1);
    return send_page(c, rq, MHD_HTTP_NOT_FOUND, "This referral link is not valid",
                     "The link may be mistyped, or the referral program has ended. "
                     "Check the link with the person who shared it.");
}

/* A person's click: a new visitor gets the cookie (hdr[2..3]); the click
 * goes on the ring (a full ring drops it: counted, logged, still redirected). */
static void record_click(rf_gateway_t *g, struct MHD_Connection *c, const char *program,
                         const char *code, const char *visitor, int64_t days, char *cookie,
                         size_t cap, const char **hdr)
{
    rf__gw_click_t click = {.at_ms = rf_wall_ms()};
    if (visitor) {
        memcpy(click.visitor, visitor, sizeof click.visitor);
    } else {
        new_visitor(click.visitor);
        RF__GW_ADD(g, redirects_fresh, 1);
        int n = snprintf(cookie, cap, "%s=%s; Path=/; HttpOnly; SameSite=Lax%s", VISITOR_COOKIE,
                         click.visitor, behind_tls(g, c) ? "; Secure" : "");
        if (days > 0)
            snprintf(cookie + n, cap - (size_t)n, "; Max-Age=%lld", (long long)days * 86400);
        hdr[2] = "Set-Cookie";
        hdr[3] = cookie;
    }
    char ip[64];
    client_ip(g, c, ip);
    const char *ua = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "User-Agent");
    rf_strlcpy(click.program, program, sizeof click.program);
    rf_strlcpy(click.code, code, sizeof click.code);
    rf_event_id_new(click.event_id);
    rf_pii_hash(g->o.pii_key, ip, click.ip_hash);
    rf_pii_hash(g->o.pii_key, ua ? ua : "", click.agent_hash);
    rf__gw_click_push(g, &click);
}

static enum MHD_Result route_link(rf_gateway_t *g, struct MHD_Connection *c, req_t *rq,
                                  const char *method, const char *program, const char *code)
{
    rf_query_t *q = __atomic_load_n(&g->q, __ATOMIC_ACQUIRE);
    if (!q)
        return send_page(c, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "Starting",
                         "The link service is starting; try again in a moment.");
    rf_query_landing_t land;
    char referrer[RF_ID_BUF], loc[RF_LANDING_URL_MAX + 16 + 3 * RF_ID_MAX];
    rf_errbuf_t eb = {{0}};
    rf_err_t err = rf_query_landing(q, program, &land, &eb);
    if (err == RF_OK) err = rf_query_code_owner(q, program, code, referrer, &eb);
    if (err == RF_ERR_NOT_FOUND || err == RF_ERR_BAD_INPUT) return link_not_found(g, c, rq);
    if (err == RF_OK) err = rf_gateway_landing(land.url, code, loc, sizeof loc);
    if (err != RF_OK) {
        rf_log(RF_LOG_ERROR, "gateway: link %s/%s: %s", program, code, eb.msg);
        return send_page(c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "Something went wrong",
                         "Please try again later.");
    }
    char visitor[RF_UUID_STR_LEN + 1], cookie[160];
    const char *ck = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Cookie");
    bool known = rf_gateway_cookie_visitor(ck, visitor), bot = prefetch(c, method);
    const char *hdr[5] = {"Location", loc, NULL, NULL, NULL};
    RF__GW_ADD(g, redirects, 1);
    if (bot) /* redirected like anyone, but no cookie and no click */
        RF__GW_ADD(g, bots, 1);
    else
        record_click(g, c, program, code, known ? visitor : NULL, land.attribution_days, cookie,
                     sizeof cookie, hdr);
    char *body = strdup("Redirecting to the shop.\n");
    if (!body) return MHD_NO;
    return respond(c, rq, MHD_HTTP_FOUND, "text/plain; charset=utf-8", body, hdr);
}

/* ---- intake ------------------------------------------------------------------ */

typedef struct fill {
    rf__gw_batch_t *b;
    long cap;
} fill_t;

static rf_err_t add_item(const rf_event_t *ev, long line, void *opaque)
{
    fill_t *f = opaque;
    RF_ASSERT(f->b->n < f->cap);
    rf__gw_item_t *it = &f->b->items[f->b->n++];
    it->batch = f->b;
    it->line = line;
    it->partition = -1;
    it->offset = -1;
    memcpy(it->ev, ev, RF__GW_EV_PREFIX);
    return RF_OK;
}

/* Room for the events of a body: one per line, at most the batch bound (a
 * body with more is refused by the parser before it fills the rest). */
static long items_for(const char *body, size_t len, bool ndjson)
{
    long lines = 1;
    for (const char *p = body; ndjson && (p = memchr(p, '\n', len - (size_t)(p - body))); p++)
        if (++lines > RF_GATEWAY_BATCH_EVENTS_MAX) return RF_GATEWAY_BATCH_EVENTS_MAX;
    return lines;
}

/* The request's events, validated in full before any is published (one
 * pass: the batch is only handed to the publisher when every line passed). */
static enum MHD_Result intake_submit(rf_gateway_t *g, struct MHD_Connection *c, req_t *rq)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    const char *idem = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
    bool ndjson = ct && !strncmp(ct, "application/x-ndjson", 20);
    if (!ndjson && !(ct && !strncmp(ct, "application/json", 16))) {
        RF__GW_ADD(g, posts_rejected, 1);
        return send_error(c, rq, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                          "Content-Type must be application/json or application/x-ndjson", NULL);
    }
    if (rq->oversize) {
        RF__GW_ADD(g, posts_rejected, 1);
        return send_error(c, rq, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
                          "request body larger than 1 MiB", NULL);
    }
    static _Thread_local rf_event_t ev; /* 17 KiB: off the MHD thread stacks */
    const char *body = rq->body ? rq->body : "";
    fill_t f = {.cap = items_for(body, rq->body_len, ndjson)};
    f.b = calloc(1, sizeof *f.b + (size_t)f.cap * sizeof f.b->items[0]);
    if (!f.b) return send_error(c, rq, 500, "internal", "out of memory", NULL);
    rf_gateway_error_t e;
    long n = rf_gateway_parse_body(body, rq->body_len, ndjson, idem, &ev, add_item, &f, &e);
    if (n <= 0) {
        free(f.b);
        RF__GW_ADD(g, posts_rejected, 1);
        return send_error(c, rq, e.status, e.code, e.message, e.field);
    }
    rf__gw_batch_t *b = f.b;
    RF_ASSERT(b->n == n);
    b->conn = c;
    rq->batch = b;
    MHD_suspend_connection(c); /* before the publisher can resume it */
    if (rf__gw_batch_submit(g, b) != RF_OK) {
        MHD_resume_connection(c);
        rq->batch = NULL;
        free(b);
        RF__GW_ADD(g, posts_unavailable, 1);
        return send_error(c, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "overloaded",
                          "too many requests waiting for the broker", NULL);
    }
    rq->submitted = true;
    return MHD_YES;
}

/* After the publisher resumed the request: 202 or 503. */
static enum MHD_Result intake_answer(rf_gateway_t *g, struct MHD_Connection *c, req_t *rq)
{
    rf__gw_batch_t *b = rq->batch;
    if (b->failed) {
        RF__GW_ADD(g, posts_unavailable, 1);
        RF__GW_ADD(g, events_failed, (uint64_t)b->failed);
        char msg[sizeof b->errmsg + 128];
        snprintf(msg, sizeof msg,
                 "%ld of %ld events not acknowledged by Kafka (%s); retry "
                 "with the same Idempotency-Key",
                 b->failed, b->n, b->errmsg);
        return send_error(c, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", msg, NULL);
    }
    /* formatted by hand: ~90 bytes per event, 1000 events per ndjson request */
    size_t cap = 64 + (size_t)b->n * (RF_UUID_STR_LEN + 80), at;
    char *out = malloc(cap);
    if (!out) return MHD_NO;
    at = (size_t)snprintf(out, cap, "{\"accepted\":%ld,\"events\":[", b->n);
    for (long i = 0; i < b->n; i++) {
        const rf__gw_item_t *it = &b->items[i];
        const rf_event_t *ev = (const rf_event_t *)(const void *)it->ev;
        at += (size_t)snprintf(out + at, cap - at,
                               "%s{\"line\":%ld,\"event_id\":\"%s\",\"partition\":%d,"
                               "\"offset\":%lld}",
                               i ? "," : "", it->line, ev->event_id, (int)it->partition,
                               (long long)it->offset);
        RF_ASSERT(at < cap);
    }
    snprintf(out + at, cap - at, "]}");
    RF__GW_ADD(g, posts_accepted, 1);
    RF__GW_ADD(g, events_accepted, (uint64_t)b->n);
    return respond(c, rq, MHD_HTTP_ACCEPTED, "application/json; charset=utf-8", out, NULL);
}

static bool authorized(rf_gateway_t *g, struct MHD_Connection *c)
{
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    const char *got = auth && !strncmp(auth, "Bearer ", 7) ? auth + 7 : NULL;
    return rf_gateway_token_ok(got, g->o.tokens, g->o.ntokens);
}

/* First call of a POST (headers only): refuse early what the body cannot fix. */
static enum MHD_Result intake_begin(rf_gateway_t *g, struct MHD_Connection *c, req_t *rq)
{
    if (strcmp(rq->uri, "/v1/events") != 0)
        return send_error(c, rq, MHD_HTTP_NOT_FOUND, "not_found", "no such endpoint", NULL);
    if (!authorized(g, c)) {
        RF__GW_ADD(g, posts_rejected, 1);
        return send_error(c, rq, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                          "missing or wrong bearer token", NULL);
    }
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    int64_t len = 0;
    rf_errbuf_t eb = {{0}};
    if (cl && (rf_parse_i64(cl, 0, INT64_MAX, &len, "Content-Length", &eb) != RF_OK ||
               len > (int64_t)RF_GATEWAY_BODY_MAX)) {
        RF__GW_ADD(g, posts_rejected, 1);
        return send_error(c, rq, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
                          "request body larger than 1 MiB", NULL);
    }
    rq->is_post = true;
    return MHD_YES;
}

static void body_append(req_t *rq, const char *data, size_t n)
{
    if (rq->oversize) return;
    if (rq->body_len + n > RF_GATEWAY_BODY_MAX) {
        rq->oversize = true;
        return;
    }
    if (rq->body_len + n + 1 > rq->body_cap) {
        size_t cap = rq->body_cap ? rq->body_cap : 4096;
        while (cap < rq->body_len + n + 1)
            cap *= 2;
        char *nb = realloc(rq->body, cap);
        if (!nb) {
            rq->oversize = true; /* answered as too large: the honest bound here */
            return;
        }
        rq->body = nb;
        rq->body_cap = cap;
    }
    memcpy(rq->body + rq->body_len, data, n);
    rq->body_len += n;
    rq->body[rq->body_len] = '\0';
}

/* ---- libmicrohttpd callbacks ------------------------------------------------- */

static uint64_t queue_depth(rf_gateway_t *g)
{
    pthread_mutex_lock(&g->mu);
    uint64_t n = g->ring_count;
    pthread_mutex_unlock(&g->mu);
    return n;
}

static enum MHD_Result route_get(rf_gateway_t *g, struct MHD_Connection *c, req_t *rq,
                                 const char *method)
{
    char program[RF_ID_BUF], code[RF_ID_BUF];
    if (rf_gateway_link_parse(rq->uri, program, code))
        return route_link(g, c, rq, method, program, code);
    if (!strncmp(rq->uri, "/r/", 3)) return link_not_found(g, c, rq);
    if (!strcmp(rq->uri, "/v1/health")) {
        rf_query_t *q = __atomic_load_n(&g->q, __ATOMIC_ACQUIRE);
        bool failed = rf_gateway_failed(g), ok = q && !failed;
        return send_json(c, rq, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                         json_pack("{s:s, s:b, s:I}", "status",
                                   failed ? "producer_failed"
                                   : q    ? "ok"
                                          : "starting",
                                   "read_side", q != NULL, "click_queue",
                                   (json_int_t)queue_depth(g)),
                         NULL);
    }
    return send_error(c, rq, MHD_HTTP_NOT_FOUND, "not_found", "no such endpoint", NULL);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **req_cls)
{
    rf_gateway_t *g = cls;
    req_t *rq = *req_cls;
    (void)url;
    (void)version;
    if (!rq) return send_error(c, NULL, 500, "internal", "out of memory", NULL);
    if (!rq->method[0]) rf_strlcpy(rq->method, method, sizeof rq->method);
    if (!strcmp(method, "POST")) {
        if (rq->submitted) return intake_answer(g, c, rq);
        if (rq->status) { /* answered from the headers: drop the body */
            *upload_size = 0;
            return MHD_YES;
        }
        if (!rq->is_post) return intake_begin(g, c, rq);
        if (*upload_size) {
            body_append(rq, upload, *upload_size);
            *upload_size = 0;
            return MHD_YES;
        }
        return intake_submit(g, c, rq);
    }
    if (*upload_size) { /* a body on a GET: ignored */
        *upload_size = 0;
        return MHD_YES;
    }
    if (rq->uri_len > RF_HTTP_URL_MAX)
        return send_error(c, rq, MHD_HTTP_URI_TOO_LONG, "uri_too_long", "URI too long", NULL);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        static const char *const allow[] = {"Allow", "GET, HEAD, POST", NULL};
        json_t *j = json_pack("{s:{s:s, s:s, s:n}}", "error", "code", "method_not_allowed",
                              "message", "GET, HEAD or POST", "field");
        return send_json(c, rq, MHD_HTTP_METHOD_NOT_ALLOWED, j, allow);
    }
    return route_get(g, c, rq, method);
}

static void *uri_logger(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    (void)c;
    size_t n = strlen(uri), keep = n > RF_HTTP_URL_MAX ? RF_HTTP_URL_MAX : n;
    req_t *r = calloc(1, sizeof *r + keep + 1);
    if (!r) return NULL;
    r->t0_ns = rf_now_ns();
    r->uri_len = n;
    memcpy(r->uri, uri, keep);
    r->uri[keep] = '\0';
    return r;
}

static void completed(void *cls, struct MHD_Connection *c, void **req_cls,
                      enum MHD_RequestTerminationCode toe)
{
    rf_gateway_t *g = cls;
    req_t *rq = *req_cls;
    (void)c;
    (void)toe;
    if (!rq) return;
    RF__GW_ADD(g, requests, 1);
    if (g->o.access_log) {
        /* the path only: a query string may carry an app's data */
        size_t pl = strcspn(rq->uri, "?");
        rf_log(RF_LOG_INFO, "gateway: %s %.*s %u %zu %.3f ms", rq->method, (int)pl, rq->uri,
               rq->status, rq->body_len, (double)(rf_now_ns() - rq->t0_ns) / 1e6);
    }
    free(rq->body);
    free(rq->batch);
    free(rq);
    *req_cls = NULL;
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    (void)cls;
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    if (n && buf[n - 1] == '\n') buf[n - 1] = '\0';
    rf_log(RF_LOG_WARN, "gateway: %s", buf);
}

/* ---- lifecycle ----------------------------------------------------------------- */

/* Opens the read side when it appears, then keeps it caught up: it sleeps
 * until the projection commits (rf_query_wait), so a code issued resolves
 * about RF_QUERY_REFRESH_MIN_MS after the projection applied it. */
static void *refresher_main(void *arg)
{
    rf_gateway_t *g = arg;
    pthread_mutex_lock(&g->mu);
    while (!g->ref_stop) {
        pthread_mutex_unlock(&g->mu);
        rf_errbuf_t eb = {{0}};
        rf_query_t *q = __atomic_load_n(&g->q, __ATOMIC_ACQUIRE);
        if (q) {
            if (rf_query_wait(q, RF_QUERY_REFRESH_MS) && rf_query_refresh(q, &eb) != RF_OK)
                rf_log(RF_LOG_WARN, "gateway: %s", eb.msg);
            pthread_mutex_lock(&g->mu);
            continue;
        }
        q = rf_query_open(g->o.data_dir, RF_QUERY_FOLLOW, &eb);
        if (q) __atomic_store_n(&g->q, q, __ATOMIC_RELEASE);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)RF_QUERY_REFRESH_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_mutex_lock(&g->mu);
        if (!g->ref_stop && !q) pthread_cond_timedwait(&g->ref_cv, &g->mu, &ts);
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

/* "host:port" (or "[v6]:port") into a socket address. */
static rf_err_t resolve_listen(const char *listen, struct sockaddr_storage *ss, rf_errbuf_t *eb)
{
    char host[256], *colon;
    if (rf_strlcpy(host, listen, sizeof host) != RF_OK || !(colon = strrchr(host, ':')))
        return rf_errf(eb, RF_ERR_CONFIG, "bad listen address '%s' (want host:port)", listen);
    *colon = '\0';
    const char *port = colon + 1, *name = host;
    if (host[0] == '[' && colon > host && colon[-1] == ']') {
        colon[-1] = '\0';
        name = host + 1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
                    *res = NULL;
    int64_t pv;
    rf_errbuf_t peb;
    if (rf_parse_i64(port, 0, 65535, &pv, "port", &peb) != RF_OK ||
        getaddrinfo(name, port, &hints, &res) != 0 || !res)
        return rf_errf(eb, RF_ERR_CONFIG, "cannot resolve listen address '%s'", listen);
    memset(ss, 0, sizeof *ss);
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return RF_OK;
}

static rf_err_t check_opts(const rf_gateway_opts_t *o, rf_errbuf_t *eb)
{
    if (!o->kafka.brokers) return rf_errf(eb, RF_ERR_CONFIG, "--brokers is required");
    if (!o->data_dir) return rf_errf(eb, RF_ERR_CONFIG, "--data is required");
    if (!o->pii_key || strlen(o->pii_key) < 16)
        return rf_errf(eb, RF_ERR_CONFIG,
                       "a PII key of at least 16 bytes is required ($REFOLD_PII_KEY or "
                       "--pii-key-file)");
    if (o->ntokens < 0 || o->ntokens > RF_GATEWAY_TOKENS_MAX)
        return rf_errf(eb, RF_ERR_CONFIG, "at most %d app tokens", RF_GATEWAY_TOKENS_MAX);
    for (int i = 0; i < o->ntokens; i++)
        if (strlen(o->tokens[i]) < 16 || strlen(o->tokens[i]) > RF_GATEWAY_TOKEN_MAX)
            return rf_errf(eb, RF_ERR_CONFIG, "app token %d must have 16 to %d characters", i + 1,
                           RF_GATEWAY_TOKEN_MAX);
    return RF_OK;
}

rf_gateway_t *rf_gateway_start(const rf_gateway_opts_t *opts, rf_errbuf_t *eb)
{
    struct sockaddr_storage ss;
    if (check_opts(opts, eb) != RF_OK) return NULL;
    rf_gateway_t *g = calloc(1, sizeof *g);
    if (!g || !(g->ring = malloc(RF_GATEWAY_CLICK_QUEUE_MAX * sizeof *g->ring))) {
        if (g) free(g);
        rf_errf(eb, RF_ERR_NOMEM, "out of memory");
        return NULL;
    }
    g->o = *opts;
    rf_strlcpy(g->listen, opts->listen ? opts->listen : "127.0.0.1:8088", sizeof g->listen);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->pub_cv, NULL);
    pthread_cond_init(&g->ref_cv, NULL);
    pthread_cond_init(&g->idle_cv, NULL);
    if (resolve_listen(g->listen, &ss, eb) != RF_OK || rf__gw_pub_start(g, eb) != RF_OK) {
        rf_gateway_stop(g);
        return NULL;
    }
    rf_errbuf_t qeb = {{0}};
    g->q = rf_query_open(g->o.data_dir, RF_QUERY_FOLLOW, &qeb); /* NULL: not there yet */
    unsigned threads = opts->threads > 0 ? (unsigned)opts->threads : RF_HTTP_THREADS;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    g->d = MHD_start_daemon(flags, 0, NULL, NULL, handler, g, MHD_OPTION_EXTERNAL_LOGGER,
                            mhd_logger, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)RF_HTTP_CONN_MAX, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)RF_HTTP_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                            (size_t)RF_HTTP_CONN_MEMORY, MHD_OPTION_URI_LOG_CALLBACK, uri_logger, g,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, g, MHD_OPTION_END);
    if (!g->d) {
        rf_errf(eb, RF_ERR_CONFIG, "cannot listen on %s (address in use?)", g->listen);
        rf_gateway_stop(g);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(g->d, MHD_DAEMON_INFO_BIND_PORT);
    g->port = di ? di->port : 0;
    if (pthread_create(&g->refresher, NULL, refresher_main, g) == 0) g->refresher_started = true;
    return g;
}

bool rf_gateway_failed(rf_gateway_t *g)
{
    return __atomic_load_n(&g->failed, __ATOMIC_ACQUIRE);
}

uint16_t rf_gateway_port(const rf_gateway_t *g)
{
    return g->port;
}

void rf_gateway_stats(rf_gateway_t *g, rf_gateway_stats_t *out)
{
    uint64_t *dst = (uint64_t *)out, *src = (uint64_t *)&g->st;
    for (size_t i = 0; i < sizeof *out / sizeof(uint64_t); i++)
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
    out->queue_depth = queue_depth(g);
}

void rf_gateway_stop(rf_gateway_t *g)
{
    if (!g) return;
    if (g->d) {
        /* no new connections; requests waiting for the broker get their
         * answer (every event has a report within message.timeout.ms) */
        MHD_quiesce_daemon(g->d);
        pthread_mutex_lock(&g->mu);
        for (int i = 0; g->batches_open > 0 && i < 2 * RF_GATEWAY_ACK_TIMEOUT_MS / 100; i++) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 100 * 1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&g->idle_cv, &g->mu, &ts);
        }
        pthread_mutex_unlock(&g->mu);
        MHD_stop_daemon(g->d);
    }
    pthread_mutex_lock(&g->mu);
    g->ref_stop = true;
    pthread_cond_broadcast(&g->ref_cv);
    rf_query_wake(__atomic_load_n(&g->q, __ATOMIC_ACQUIRE));
    pthread_mutex_unlock(&g->mu);
    if (g->refresher_started) pthread_join(g->refresher, NULL);
    rf__gw_pub_stop(g); /* publishes the clicks still queued */
    rf_query_close(g->q);
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->pub_cv);
    pthread_cond_destroy(&g->ref_cv);
    pthread_cond_destroy(&g->idle_cv);
    free(g->ring);
    free(g);
}
