/* rf_pages.c: `refold serve`'s pages: the owner dashboard and the referral
 * page (embedded HTML/CSS/JS, security headers), the referral token check,
 * and the JSON endpoints the pages need beyond the API (rf_query_pages.h).
 * Every number on a page comes from a JSON endpoint fetched by the page. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "rf_hex.h"
#include "rf_limits.h"
#include "rf_pages.h"
#include "rf_pages_int.h"
#include "rf_query_pages.h"
#include "rf_reftoken.h"
#include "rf_time.h"

#define PATH_SEGS_MAX 6   /* /v1/programs/{p}/series is the longest */
#define PARAM_MAX     400 /* a decoded query parameter (a referral token is 320) */
#define CSP_MAX       600

struct rf_pages {
    char data_dir[4096];
    char token[256];
    char ref_secret[RF_REFTOKEN_SECRET_MAX + 1];
    char link_base[512];
    char frame_ancestors[256];
    bool ref_on, link_on;
    /* the fold heads for /v1/ops, read by ops_main (started at the first ask) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t ops_thread;
    bool ops_started, stopping;
    json_t *ops_snap;     /* latest snapshot; NULL until the first */
    int64_t ops_asked_ms; /* last /v1/ops request (wall clock) */
    char ops_err[RF_ERRMSG_MAX];
};

typedef struct path {
    char buf[RF_HTTP_URL_MAX + 1];
    const char *seg[PATH_SEGS_MAX];
    int nseg;
    const char *query; /* raw, after '?'; "" when none */
} path_t;

/* ---- options --------------------------------------------------------------- */

/* Header-safe text: printable ASCII without the separators of the header it
 * goes into, so an option cannot smuggle a second directive. */
static bool header_safe(const char *s, const char *banned)
{
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e || strchr(banned, *s)) return false;
    return true;
}

static rf_err_t copy_opt(char *dst, size_t cap, const char *src, const char *what, rf_errbuf_t *eb)
{
    if (rf_strlcpy(dst, src ? src : "", cap) != RF_OK)
        return rf_errf(eb, RF_ERR_CONFIG, "%s is too long (at most %zu bytes)", what, cap - 1);
    return RF_OK;
}

rf_pages_t *rf_pages_new(const rf_pages_opts_t *o, rf_errbuf_t *eb)
{
    rf_pages_t *p = calloc(1, sizeof *p);
    if (!p) {
        rf_errf(eb, RF_ERR_NOMEM, "out of memory");
        return NULL;
    }
    size_t sl = o->ref_secret ? strlen(o->ref_secret) : 0;
    const char *fa = o->frame_ancestors ? o->frame_ancestors : "'self'";
    rf_err_t err = RF_OK;
    if (copy_opt(p->data_dir, sizeof p->data_dir, o->data_dir, "--data", eb) != RF_OK ||
        copy_opt(p->token, sizeof p->token, o->token, "the token", eb) != RF_OK ||
        copy_opt(p->link_base, sizeof p->link_base, o->link_base, "--link-base", eb) != RF_OK ||
        copy_opt(p->frame_ancestors, sizeof p->frame_ancestors, fa, "--frame-ancestors", eb) !=
            RF_OK)
        err = RF_ERR_CONFIG;
    else if (o->ref_secret && (sl < RF_REFTOKEN_SECRET_MIN || sl > RF_REFTOKEN_SECRET_MAX))
        err = rf_errf(eb, RF_ERR_CONFIG, "--ref-secret must be %d..%d bytes",
                      RF_REFTOKEN_SECRET_MIN, RF_REFTOKEN_SECRET_MAX);
    else if (!header_safe(p->frame_ancestors, ";,\"") || !p->frame_ancestors[0])
        err = rf_errf(eb, RF_ERR_CONFIG,
                      "bad --frame-ancestors '%s' (sources separated by spaces, e.g. "
                      "\"'self' https://app.example\")",
                      p->frame_ancestors);
    else if (p->link_base[0] &&
             (strncmp(p->link_base, "http://", 7) && strncmp(p->link_base, "https://", 8)))
        err = rf_errf(eb, RF_ERR_CONFIG, "--link-base must start with http:// or https://");
    else if (!header_safe(p->link_base, " \"'<>\\`"))
        err = rf_errf(eb, RF_ERR_CONFIG, "--link-base holds a space, quote or control byte");
    if (err != RF_OK) {
        free(p);
        return NULL;
    }
    size_t ll = strlen(p->link_base);
    while (ll && p->link_base[ll - 1] == '/') /* the links add "/r/..." */
        p->link_base[--ll] = '\0';
    if (o->ref_secret) memcpy(p->ref_secret, o->ref_secret, sl + 1);
    p->ref_on = o->ref_secret != NULL;
    p->link_on = ll > 0;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    return p;
}

void rf_pages_destroy(rf_pages_t *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (p->ops_started) pthread_join(p->ops_thread, NULL);
    json_decref(p->ops_snap);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    OPENSSL_cleanse(p->ref_secret, sizeof p->ref_secret);
    free(p);
}

/* ---- the fold heads, read in the background ---------------------------------- */

static void wait_ms(rf_pages_t *p, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&p->cv, &p->mu, &ts);
}

/* Re-reads the heads every RF_OPS_REFRESH_MS while /v1/ops is asked for;
 * sleeps (until the next ask) once it has not been for RF_OPS_IDLE_MS. */
static void *ops_main(void *arg)
{
    rf_pages_t *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stopping) {
        if (rf_wall_ms() - p->ops_asked_ms > RF_OPS_IDLE_MS && p->ops_snap) {
            pthread_cond_wait(&p->cv, &p->mu);
            continue;
        }
        pthread_mutex_unlock(&p->mu);
        rf_errbuf_t eb = {{0}};
        json_t *snap = rf_ops_fold_snapshot(p->data_dir, &eb);
        pthread_mutex_lock(&p->mu);
        if (snap) {
            json_decref(p->ops_snap);
            p->ops_snap = snap;
            p->ops_err[0] = '\0';
        } else {
            rf_strlcpy(p->ops_err, eb.msg, sizeof p->ops_err);
        }
        pthread_cond_broadcast(&p->cv);
        if (!p->stopping) wait_ms(p, RF_OPS_REFRESH_MS);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Marks the heads as wanted, starting or waking the reader (mu held). */
static void ops_want(rf_pages_t *p)
{
    p->ops_asked_ms = rf_wall_ms();
    if (!p->ops_started && pthread_create(&p->ops_thread, NULL, ops_main, p) == 0)
        p->ops_started = true;
    pthread_cond_broadcast(&p->cv); /* wakes an idle reader */
}

/* The latest snapshot (a new reference), waiting for the first one only. */
static json_t *ops_snapshot(rf_pages_t *p, rf_errbuf_t *eb)
{
    json_t *snap = NULL;
    pthread_mutex_lock(&p->mu);
    ops_want(p);
    while (p->ops_started && !p->ops_snap && !p->ops_err[0] && !p->stopping)
        pthread_cond_wait(&p->cv, &p->mu);
    if (p->ops_snap)
        snap = json_incref(p->ops_snap);
    else
        rf_errf(eb, RF_ERR_IO, "%s", p->ops_err[0] ? p->ops_err : "cannot read the fold ledgers");
    pthread_mutex_unlock(&p->mu);
    return snap;
}

/* ---- responses ------------------------------------------------------------- */

static void common_headers(struct MHD_Response *r)
{
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "Cross-Origin-Resource-Policy", "same-origin");
}

static enum MHD_Result send_buf(struct MHD_Connection *c, unsigned status, const char *type,
                                const void *data, size_t len, enum MHD_ResponseMemoryMode mode,
                                const char *csp, bool frameable)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)data, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE) free((void *)data);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    common_headers(r);
    if (csp) MHD_add_response_header(r, "Content-Security-Policy", csp);
    if (!frameable) MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"refold\"");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!s) return MHD_NO;
    return send_buf(c, status, "application/json; charset=utf-8", s, strlen(s),
                    MHD_RESPMEM_MUST_FREE, "default-src 'none'; frame-ancestors 'none'", false);
}

/* The error shape of the API: {"error":{"code","message","param"}}. */
static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *code,
                                  const char *msg, const char *param)
{
    return send_json(
        c, status,
        json_pack("{s:{s:s, s:s, s:s?}}", "error", "code", code, "message", msg, "param", param));
}

static enum MHD_Result send_result(struct MHD_Connection *c, json_t *j, rf_err_t err,
                                   const rf_errbuf_t *eb)
{
    if (j) return send_json(c, MHD_HTTP_OK, j);
    if (err == RF_ERR_BAD_INPUT || err == RF_ERR_OVERSIZE)
        return send_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", eb->msg, NULL);
    if (err == RF_ERR_NOT_FOUND)
        return send_error(c, MHD_HTTP_NOT_FOUND, "not_found", eb->msg, NULL);
    rf_log(RF_LOG_ERROR, "serve: %s", eb->msg);
    return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "internal error", NULL);
}

static const rf_asset_t *asset(const char *name)
{
    for (int i = 0; i < rf__pages_nassets; i++)
        if (!strcmp(rf__pages_assets[i].name, name)) return &rf__pages_assets[i];
    return NULL;
}

/* The pages' policy: our own scripts, styles and fetches only; nothing from
 * another origin, no inline script, no plugins. */
static void page_csp(char out[CSP_MAX], const char *frame_ancestors)
{
    snprintf(out, CSP_MAX,
             "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
             "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors %s",
             frame_ancestors);
}

static enum MHD_Result send_asset(struct MHD_Connection *c, const char *name)
{
    const rf_asset_t *a = asset(name);
    if (!a) return send_error(c, MHD_HTTP_NOT_FOUND, "not_found", "no such page asset", NULL);
    return send_buf(c, MHD_HTTP_OK, a->type, a->data, a->len, MHD_RESPMEM_PERSISTENT,
                    "default-src 'none'; frame-ancestors 'none'", true);
}

/* ref.html with its "{{T}}" (the noscript link to the JSON) replaced by the
 * token, which holds only base64url, digits, hex and dots (checked). */
static enum MHD_Result send_ref_page(rf_pages_t *p, struct MHD_Connection *c, const char *t)
{
    const rf_asset_t *a = asset("ref.html");
    char csp[CSP_MAX];
    page_csp(csp, p->frame_ancestors);
    if (!a) return MHD_NO;
    size_t tl = 0;
    for (; t && t[tl]; tl++)
        if (!((t[tl] >= 'a' && t[tl] <= 'z') || (t[tl] >= 'A' && t[tl] <= 'Z') ||
              (t[tl] >= '0' && t[tl] <= '9') || strchr("-_.", t[tl])))
            return send_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", "malformed referral token",
                              "t");
    size_t holes = 0;
    for (const char *m = (const char *)a->data; (m = strstr(m, "{{T}}")); m += 5)
        holes++;
    char *out = malloc(a->len + holes * tl + 1), *o = out;
    if (!out) return MHD_NO;
    for (const char *s = (const char *)a->data, *e = s + a->len; s < e;) {
        const char *m = strstr(s, "{{T}}"); /* the embedded data ends with a NUL */
        size_t n = m ? (size_t)(m - s) : (size_t)(e - s);
        memcpy(o, s, n);
        o += n;
        if (!m) break;
        memcpy(o, t ? t : "", tl);
        o += tl;
        s = m + 5;
    }
    return send_buf(c, MHD_HTTP_OK, a->type, out, (size_t)(o - out), MHD_RESPMEM_MUST_FREE, csp,
                    true);
}

static enum MHD_Result send_page(rf_pages_t *p, struct MHD_Connection *c, const char *name)
{
    const rf_asset_t *a = asset(name);
    char csp[CSP_MAX];
    (void)p;
    page_csp(csp, "'none'");
    if (!a) return MHD_NO;
    return send_buf(c, MHD_HTTP_OK, a->type, a->data, a->len, MHD_RESPMEM_PERSISTENT, csp, false);
}

/* ---- parsing ----------------------------------------------------------------- */

/* Percent-decodes s[0..n) into out; false on a bad escape or a
 * control byte. */
static bool decode(const char *s, size_t n, char *out, size_t cap)
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
        } else if (ch == '+') {
            ch = ' ';
        }
        if (ch < 0x20 || ch == 0x7f || o + 1 >= cap) return false;
        out[o++] = (char)ch;
    }
    out[o] = '\0';
    return true;
}

static bool parse_path(const char *uri, path_t *pt)
{
    const char *qm = strchr(uri, '?');
    size_t pl = qm ? (size_t)(qm - uri) : strlen(uri), used = 0;
    pt->query = qm ? qm + 1 : "";
    pt->nseg = 0;
    if (*uri != '/') return false;
    for (const char *s = uri + 1, *e = uri + pl; s <= e;) {
        const char *sl = memchr(s, '/', (size_t)(e - s));
        const char *se = sl ? sl : e;
        if (pt->nseg >= PATH_SEGS_MAX) return false;
        if (!decode(s, (size_t)(se - s), pt->buf + used, sizeof pt->buf - used)) return false;
        pt->seg[pt->nseg++] = pt->buf + used;
        used += strlen(pt->buf + used) + 1;
        s = se + 1;
    }
    return true;
}

/* The decoded value of key in the query (out[0] = 0 and true when absent);
 * false when malformed, too long or repeated. */
static bool query_param(const char *query, const char *key, char out[PARAM_MAX], bool *present)
{
    size_t kl = strlen(key);
    *present = false;
    out[0] = '\0';
    for (const char *s = query; s && *s;) {
        const char *amp = strchr(s, '&'), *e = amp ? amp : s + strlen(s);
        if ((size_t)(e - s) > kl && !strncmp(s, key, kl) && s[kl] == '=') {
            if (*present) return false;
            *present = true;
            if (!decode(s + kl + 1, (size_t)(e - s - kl - 1), out, PARAM_MAX)) return false;
        }
        s = amp ? amp + 1 : NULL;
    }
    return true;
}

/* Refuses parameters other than the allowed ones (comma-separated). */
static const char *unknown_param(const char *query, const char *allowed)
{
    static _Thread_local char name[64];
    for (const char *s = query; s && *s;) {
        const char *amp = strchr(s, '&'), *e = amp ? amp : s + strlen(s);
        const char *eq = memchr(s, '=', (size_t)(e - s));
        size_t kl = (size_t)((eq ? eq : e) - s);
        bool found = false;
        for (const char *a = allowed; *a;) {
            const char *c = strchr(a, ','), *ae = c ? c : a + strlen(a);
            if ((size_t)(ae - a) == kl && !strncmp(a, s, kl)) found = true;
            a = c ? c + 1 : ae;
        }
        if (!found && e > s) {
            snprintf(name, sizeof name, "%.*s", (int)(kl < 60 ? kl : 60), s);
            return name;
        }
        s = amp ? amp + 1 : NULL;
    }
    return NULL;
}

/* The serve token from "Authorization: Bearer T" (scheme in any case),
 * compared in time that depends on the secret's length only. */
static bool owner_ok(const rf_pages_t *p, struct MHD_Connection *c)
{
    if (!p->token[0]) return true;
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    const char *got = auth && !strncasecmp(auth, "Bearer ", 7) ? auth + 7 : "";
    size_t gl = strlen(got), wl = strlen(p->token);
    unsigned char d = gl != wl;
    for (size_t i = 0; i < wl; i++)
        d |= (unsigned char)(p->token[i] ^ (i < gl ? got[i] : 0));
    return d == 0;
}

/* ---- routes ------------------------------------------------------------------ */

static enum MHD_Result route_referral(rf_pages_t *p, struct MHD_Connection *c, const path_t *pt,
                                      rf_query_t *q)
{
    char t[PARAM_MAX], program[RF_ID_BUF], user[RF_ID_BUF];
    bool present;
    const char *bad = unknown_param(pt->query, "t");
    int64_t exp = 0;
    rf_errbuf_t eb = {{0}};
    rf_err_t err = RF_OK;
    if (!p->ref_on)
        return send_error(c, MHD_HTTP_NOT_FOUND, "not_found",
                          "the referral page is off (start serve with --ref-secret)", NULL);
    if (bad)
        return send_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", "unknown query parameter", bad);
    if (!query_param(pt->query, "t", t, &present) || !present)
        return send_error(c, MHD_HTTP_UNAUTHORIZED, "unauthorized", "missing referral token", "t");
    if (rf_reftoken_verify(p->ref_secret, t, rf_wall_ms() / 1000, program, user, &exp, &eb) !=
        RF_OK)
        return send_error(c, MHD_HTTP_UNAUTHORIZED, "unauthorized", eb.msg, "t");
    if (!q)
        return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "projection not ready",
                          NULL);
    json_t *j =
        rf_query_referral_json(q, program, user, p->link_on ? p->link_base : NULL, exp, &err, &eb);
    return send_result(c, j, err, &eb);
}

static enum MHD_Result route_series(struct MHD_Connection *c, const path_t *pt, rf_query_t *q)
{
    char unit[PARAM_MAX], nb[PARAM_MAX];
    bool has_unit, has_n;
    const char *bad = unknown_param(pt->query, "unit,n");
    rf_errbuf_t eb = {{0}};
    rf_err_t err = RF_OK;
    if (bad)
        return send_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", "unknown query parameter", bad);
    if (!query_param(pt->query, "unit", unit, &has_unit) ||
        !query_param(pt->query, "n", nb, &has_n))
        return send_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", "bad or repeated parameter",
                          NULL);
    int64_t n = 30;
    if (has_n && rf_parse_i64(nb, 1, RF_SERIES_MAX, &n, "n", &eb) != RF_OK)
        return send_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", eb.msg, "n");
    const char *program = pt->seg[2];
    if (!*program || strlen(program) > RF_ID_MAX)
        return send_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", "bad program id", "program");
    json_t *j = rf_query_series_json(q, program, has_unit ? unit : "day", (int)n, &err, &eb);
    return send_result(c, j, err, &eb);
}

static enum MHD_Result route_reviews(struct MHD_Connection *c, const path_t *pt, rf_query_t *q)
{
    char nb[PARAM_MAX];
    bool has_n;
    const char *bad = unknown_param(pt->query, "limit");
    rf_errbuf_t eb = {{0}};
    rf_err_t err = RF_OK;
    if (bad)
        return send_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", "unknown query parameter", bad);
    if (!query_param(pt->query, "limit", nb, &has_n))
        return send_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", "bad or repeated parameter",
                          NULL);
    int64_t n = RF_REVIEWS_DEFAULT;
    if (has_n && rf_parse_i64(nb, 1, RF_REVIEWS_MAX, &n, "limit", &eb) != RF_OK)
        return send_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", eb.msg, "limit");
    const char *program = pt->seg[2];
    if (!*program || strlen(program) > RF_ID_MAX)
        return send_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", "bad program id", "program");
    json_t *j = rf_query_reviews_json(q, program, (int)n, &err, &eb);
    return send_result(c, j, err, &eb);
}

static enum MHD_Result route_ops(rf_pages_t *p, struct MHD_Connection *c, rf_query_t *q)
{
    rf_errbuf_t eb = {{0}};
    rf_err_t err = RF_ERR_IO;
    json_t *snap = ops_snapshot(p, &eb), *j = snap ? rf_query_ops_json(q, snap, &err, &eb) : NULL;
    json_decref(snap);
    return send_result(c, j, err, &eb);
}

static enum MHD_Result route_explain(rf_pages_t *p, struct MHD_Connection *c, const path_t *pt,
                                     rf_query_t *q)
{
    const char *program = pt->seg[2], *user = pt->seg[4];
    rf_errbuf_t eb = {{0}};
    rf_err_t err = RF_OK;
    if (pt->query[0])
        return send_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", "unknown query parameter", NULL);
    if (!*program || strlen(program) > RF_ID_MAX || !*user || strlen(user) > RF_ID_MAX)
        return send_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", "bad program or user id", NULL);
    json_t *j = rf_query_explain_json(q, p->data_dir, program, user, &err, &eb);
    return send_result(c, j, err, &eb);
}

static bool is(const path_t *pt, int n, const char *a, const char *b)
{
    return pt->nseg == n && !strcmp(pt->seg[0], a) && (!b || !strcmp(pt->seg[1], b));
}

bool rf_pages_route(rf_pages_t *p, struct MHD_Connection *c, const char *method, const char *uri,
                    rf_query_t *q, enum MHD_Result *ret)
{
    static _Thread_local path_t pt; /* ~2 KiB: off the small MHD thread stacks */
    if (!p || (strcmp(method, "GET") && strcmp(method, "HEAD")) || !parse_path(uri, &pt))
        return false;
    rf_errbuf_t eb = {{0}};
    rf_err_t err = RF_OK;
    bool explain = is(&pt, 6, "v1", "programs") && !strcmp(pt.seg[3], "users") &&
                   !strcmp(pt.seg[5], "explain");
    bool owner_api = is(&pt, 2, "v1", "programs") || is(&pt, 2, "v1", "ops") || explain ||
                     (is(&pt, 4, "v1", "programs") &&
                      (!strcmp(pt.seg[3], "series") || !strcmp(pt.seg[3], "reviews")));
    if (is(&pt, 1, "", NULL) || is(&pt, 1, "dashboard", NULL)) {
        pthread_mutex_lock(&p->mu); /* its /v1/ops will follow: start reading */
        ops_want(p);
        pthread_mutex_unlock(&p->mu);
        *ret = send_page(p, c, "dashboard.html");
    } else if (is(&pt, 1, "ref", NULL)) {
        char t[PARAM_MAX];
        bool present;
        *ret = query_param(pt.query, "t", t, &present)
                   ? send_ref_page(p, c, present ? t : NULL)
                   : send_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", "bad query string", "t");
    } else if (is(&pt, 2, "assets", NULL)) {
        *ret = send_asset(c, pt.seg[1]);
    } else if (is(&pt, 2, "v1", "referral")) {
        *ret = route_referral(p, c, &pt, q);
    } else if (owner_api) {
        if (!owner_ok(p, c))
            *ret = send_error(c, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                              "missing or wrong bearer token", NULL);
        else if (!q)
            *ret = send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                              "projection not ready", NULL);
        else if (pt.nseg == 4 && !strcmp(pt.seg[3], "reviews"))
            *ret = route_reviews(c, &pt, q);
        else if (pt.nseg == 4)
            *ret = route_series(c, &pt, q);
        else if (explain)
            *ret = route_explain(p, c, &pt, q);
        else if (pt.query[0])
            *ret =
                send_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", "unknown query parameter", NULL);
        else if (!strcmp(pt.seg[1], "ops"))
            *ret = route_ops(p, c, q);
        else
            *ret = send_result(c, rf_query_programs_json(q, &err, &eb), err, &eb);
    } else {
        return false;
    }
    return true;
}
