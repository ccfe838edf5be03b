/* rf_registry.c: the Confluent Schema Registry compatible subset
 * (rf_registry.h): routing, Confluent's JSON bodies and error codes. */
#include "rf_registry.h"

#include <inttypes.h>
#include <jansson.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "rf_codec.h"
#include "rf_limits.h"

#define CONTENT_TYPE "application/vnd.schemaregistry.v1+json"
#define SCHEMAS_MAX  RF_CODEC_SCHEMAS_MAX

/* Confluent's error codes (io.confluent.kafka.schemaregistry.rest.exceptions) */
enum {
    E_SUBJECT_NOT_FOUND = 40401,
    E_VERSION_NOT_FOUND = 40402,
    E_SCHEMA_NOT_FOUND = 40403,
    E_INVALID_SCHEMA = 42201,
    E_INVALID_VERSION = 42202,
    E_READ_ONLY = 42205,
};

struct rf_registry {
    struct MHD_Daemon *d;
    rf_codec_t *codec; /* read-only after start: the list and lookup need no lock */
    rf_codec_schema_info_t s[SCHEMAS_MAX];
    int n;
    uint16_t port;
};

/* Per request: the body of a POST (at most RF_HTTP_BODY_MAX bytes). */
typedef struct body {
    size_t len;
    bool over;
    char *buf;
} body_t;

/* ---- responses ---- */

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s) return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(s);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", CONTENT_TYPE);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Confluent's error body: {"error_code": 40401, "message": "..."}; the HTTP
 * status is the code's first three digits. */
static enum MHD_Result send_err(struct MHD_Connection *c, int code, const char *fmt, ...)
{
    char msg[RF_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    unsigned status = code >= 1000 ? (unsigned)code / 100 : (unsigned)code;
    return send_json(c, status, json_pack("{s:i, s:s}", "error_code", code, "message", msg));
}

/* ---- lookups ---- */

static const rf_codec_schema_info_t *by_id(const rf_registry_t *g, int64_t id)
{
    for (int i = 0; i < g->n; i++)
        if (g->s[i].id == id) return &g->s[i];
    return NULL;
}

static bool subject_known(const rf_registry_t *g, const char *subject)
{
    for (int i = 0; i < g->n; i++)
        if (!strcmp(g->s[i].subject, subject)) return true;
    return false;
}

/* Version v of subject; v = -1 is the latest. */
static const rf_codec_schema_info_t *by_version(const rf_registry_t *g, const char *subject,
                                                int64_t v)
{
    const rf_codec_schema_info_t *best = NULL;
    for (int i = 0; i < g->n; i++) {
        const rf_codec_schema_info_t *s = &g->s[i];
        if (strcmp(s->subject, subject) != 0) continue;
        if (v == s->version) return s;
        if (v == -1 && (!best || s->version > best->version)) best = s;
    }
    return best;
}

static json_t *version_json(const rf_codec_schema_info_t *s)
{
    return json_pack("{s:s, s:i, s:i, s:s}", "subject", s->subject, "version", s->version, "id",
                     (json_int_t)s->id, "schema", s->json);
}

/* "latest", -1 or a positive integer; false when none of those. */
static bool parse_version(const char *t, int64_t *v)
{
    if (!strcmp(t, "latest")) {
        *v = -1;
        return true;
    }
    rf_errbuf_t eb;
    return rf_parse_i64(t, -1, INT32_MAX, v, "version", &eb) == RF_OK && *v != 0;
}

/* ---- routes ---- */

static enum MHD_Result get_schema_id(struct MHD_Connection *c, rf_registry_t *g, const char *id,
                                     const char *rest)
{
    int64_t v;
    rf_errbuf_t eb;
    const rf_codec_schema_info_t *s =
        rf_parse_i64(id, 0, INT32_MAX, &v, "id", &eb) == RF_OK ? by_id(g, v) : NULL;
    if (!s) return send_err(c, E_SCHEMA_NOT_FOUND, "Schema %s not found", id);
    if (!rest) return send_json(c, MHD_HTTP_OK, json_pack("{s:s}", "schema", s->json));
    if (!strcmp(rest, "versions"))
        return send_json(c, MHD_HTTP_OK,
                         json_pack("[{s:s, s:i}]", "subject", s->subject, "version", s->version));
    return send_err(c, 404, "HTTP 404 Not Found");
}

static enum MHD_Result get_subject(struct MHD_Connection *c, rf_registry_t *g, const char *subj,
                                   const char *ver, const char *rest)
{
    if (!subject_known(g, subj))
        return send_err(c, E_SUBJECT_NOT_FOUND, "Subject '%s' not found.", subj);
    if (!ver) { /* GET /subjects/{s}/versions */
        json_t *a = json_array();
        for (int i = 0; i < g->n; i++)
            if (!strcmp(g->s[i].subject, subj))
                json_array_append_new(a, json_integer(g->s[i].version));
        return send_json(c, MHD_HTTP_OK, a);
    }
    int64_t v;
    if (!parse_version(ver, &v))
        return send_err(c, E_INVALID_VERSION,
                        "The specified version '%s' is not a valid version id. Allowed values "
                        "are between [1, 2^31-1] and the string \"latest\"",
                        ver);
    const rf_codec_schema_info_t *s = by_version(g, subj, v);
    if (!s) return send_err(c, E_VERSION_NOT_FOUND, "Version %s not found.", ver);
    if (!rest) return send_json(c, MHD_HTTP_OK, version_json(s));
    if (!strcmp(rest, "schema")) {
        json_error_t jerr;
        return send_json(c, MHD_HTTP_OK, json_loads(s->json, 0, &jerr));
    }
    return send_err(c, 404, "HTTP 404 Not Found");
}

/* POST /subjects/{s} (lookup) and POST /subjects/{s}/versions (register). */
static enum MHD_Result post_subject(struct MHD_Connection *c, rf_registry_t *g, const char *subj,
                                    bool reg, const body_t *b)
{
    if (b->over)
        return send_err(c, E_INVALID_SCHEMA, "request body larger than %d bytes", RF_HTTP_BODY_MAX);
    json_error_t jerr;
    json_t *o = b->len ? json_loadb(b->buf, b->len, 0, &jerr) : NULL;
    const char *text = json_string_value(json_object_get(o, "schema"));
    const char *type = json_string_value(json_object_get(o, "schemaType"));
    enum MHD_Result ret;
    rf_codec_schema_info_t s;
    rf_errbuf_t eb = {{0}};
    rf_err_t err = RF_ERR_BAD_INPUT;
    if (!text)
        ret = send_err(c, E_INVALID_SCHEMA, "Invalid schema: the body needs a \"schema\" string");
    else if (type && strcmp(type, "AVRO") != 0)
        ret = send_err(c, E_INVALID_SCHEMA, "Invalid schema: refold's schemas are AVRO, not %s",
                       type);
    else if (!subject_known(g, subj) && !reg)
        ret = send_err(c, E_SUBJECT_NOT_FOUND, "Subject '%s' not found.", subj);
    else if ((err = rf_codec_lookup(g->codec, subj, text, &s, &eb)) == RF_OK)
        ret = send_json(c, MHD_HTTP_OK,
                        reg ? json_pack("{s:i}", "id", (json_int_t)s.id) : version_json(&s));
    else if (err == RF_ERR_BAD_INPUT)
        ret = send_err(c, E_INVALID_SCHEMA, "Invalid schema: %s", eb.msg);
    else if (reg)
        ret = send_err(c, E_READ_ONLY,
                       "Subject '%s' is in read-only mode: refold's registry serves refold's own "
                       "schemas (schemas/manifest.txt) and registers no others",
                       subj);
    else
        ret = send_err(c, E_SCHEMA_NOT_FOUND, "Schema not found");
    json_decref(o);
    return ret;
}

/* Splits the path into at most 5 segments; false when there are more. */
static bool split(char *path, char **seg, int *n)
{
    *n = 0;
    for (char *p = path + 1; *p;) {
        if (*n == 5) return false;
        seg[(*n)++] = p;
        char *sl = strchr(p, '/');
        if (!sl) break;
        *sl = '\0';
        p = sl + 1;
    }
    return true;
}

static enum MHD_Result route(struct MHD_Connection *c, rf_registry_t *g, const char *url,
                             const char *method, const body_t *b)
{
    char path[RF_HTTP_URL_MAX + 1], *seg[5];
    int n;
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
    if (strlen(url) > RF_HTTP_URL_MAX || url[0] != '/')
        return send_err(c, 404, "HTTP 404 Not Found");
    strcpy(path, url);
    if (!split(path, seg, &n) || n == 0) return send_err(c, 404, "HTTP 404 Not Found");
    if (get && n >= 3 && n <= 4 && !strcmp(seg[0], "schemas") && !strcmp(seg[1], "ids"))
        return get_schema_id(c, g, seg[2], n == 4 ? seg[3] : NULL);
    if (get && n == 1 && !strcmp(seg[0], "subjects")) {
        json_t *a = json_array();
        for (int i = 0; i < g->n; i++)
            if (by_version(g, g->s[i].subject, -1) == &g->s[i])
                json_array_append_new(a, json_string(g->s[i].subject));
        return send_json(c, MHD_HTTP_OK, a);
    }
    if (get && n >= 3 && !strcmp(seg[0], "subjects") && !strcmp(seg[2], "versions"))
        return get_subject(c, g, seg[1], n >= 4 ? seg[3] : NULL, n == 5 ? seg[4] : NULL);
    if (post && n == 2 && !strcmp(seg[0], "subjects")) return post_subject(c, g, seg[1], false, b);
    if (post && n == 3 && !strcmp(seg[0], "subjects") && !strcmp(seg[2], "versions"))
        return post_subject(c, g, seg[1], true, b);
    /* refold evolves its schemas backward-compatibly (docs/events.md); kafkajs'
     * register() reads a subject's level and sets it (PUT) when there is none */
    if (get && (n == 1 || (n == 2 && subject_known(g, seg[1]))) && !strcmp(seg[0], "config"))
        return send_json(c, MHD_HTTP_OK, json_pack("{s:s}", "compatibilityLevel", "BACKWARD"));
    if (get && n == 1 && !strcmp(seg[0], "mode"))
        return send_json(c, MHD_HTTP_OK, json_pack("{s:s}", "mode", "READONLY"));
    if (!strcmp(method, "PUT") || !strcmp(method, "DELETE"))
        return send_err(c, E_READ_ONLY, "refold's schema registry is read-only");
    if (!get && !post) return send_err(c, 405, "HTTP 405 Method Not Allowed");
    return send_err(c, 404, "HTTP 404 Not Found");
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **req_cls)
{
    rf_registry_t *g = cls;
    (void)version;
    body_t *b = *req_cls;
    if (!b) { /* headers: the first call of a request */
        b = calloc(1, sizeof *b);
        if (!b) return MHD_NO;
        *req_cls = b;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t take = *upload_size;
        char *nb = b->len + take > RF_HTTP_BODY_MAX ? NULL : realloc(b->buf, b->len + take);
        if (!nb)
            b->over = true; /* refused once the body is complete */
        else
            memcpy(nb + b->len, upload, take), b->buf = nb, b->len += take;
        *upload_size = 0;
        return MHD_YES;
    }
    return route(c, g, url, method, b);
}

static void completed(void *cls, struct MHD_Connection *c, void **req_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    body_t *b = *req_cls;
    if (b) free(b->buf);
    free(b);
    *req_cls = NULL;
}

static rf_err_t resolve(const char *listen, struct sockaddr_storage *ss, rf_errbuf_t *eb)
{
    char host[256], *colon;
    if (rf_strlcpy(host, listen, sizeof host) != RF_OK || !(colon = strrchr(host, ':')))
        return rf_errf(eb, RF_ERR_CONFIG, "bad registry address '%s' (want host:port)", listen);
    *colon = '\0';
    const char *name = host;
    if (host[0] == '[' && colon[-1] == ']') colon[-1] = '\0', name = host + 1;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
                    *res = NULL;
    if (getaddrinfo(name, colon + 1, &hints, &res) != 0 || !res)
        return rf_errf(eb, RF_ERR_CONFIG, "cannot resolve registry address '%s'", listen);
    memset(ss, 0, sizeof *ss);
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return RF_OK;
}

rf_registry_t *rf_registry_start(const char *listen, rf_errbuf_t *eb)
{
    struct sockaddr_storage ss;
    if (resolve(listen, &ss, eb) != RF_OK) return NULL;
    rf_registry_t *g = calloc(1, sizeof *g);
    if (!g) {
        rf_errf(eb, RF_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (!(g->codec = rf_codec_new(eb))) {
        free(g);
        return NULL;
    }
    g->n = rf_codec_schemas(g->codec, g->s, SCHEMAS_MAX);
    RF_ASSERT(g->n > 0 && g->n <= SCHEMAS_MAX);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    g->d = MHD_start_daemon(
        flags, 0, NULL, NULL, handler, g, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)RF_HTTP_CONN_MAX, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)RF_HTTP_TIMEOUT_S, MHD_OPTION_NOTIFY_COMPLETED, completed, g, MHD_OPTION_END);
    if (!g->d) {
        rf_errf(eb, RF_ERR_CONFIG, "cannot listen on %s (address in use?)", listen);
        rf_registry_stop(g);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(g->d, MHD_DAEMON_INFO_BIND_PORT);
    g->port = di ? di->port : 0;
    return g;
}

uint16_t rf_registry_port(const rf_registry_t *g)
{
    return g->port;
}

void rf_registry_stop(rf_registry_t *g)
{
    if (!g) return;
    if (g->d) MHD_stop_daemon(g->d);
    rf_codec_destroy(g->codec);
    free(g);
}
