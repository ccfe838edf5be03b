/* rf_codec_registry.c: the codec's client of a Confluent-compatible schema
 * registry: GET {url}/schemas/ids/{id} over plain HTTP/1.1 on a socket (the
 * schemas room stays on libc; docs/schema-registry.md says what a registry
 * outage does to the fold). */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "rf_codec_int.h"
#include "rf_limits.h"

typedef struct url {
    char host[256];
    char port[8];
    char path[RF_URL_MAX]; /* prefix without the trailing '/' */
} url_t;

static rf_err_t url_parse(const char *u, url_t *out, rf_errbuf_t *eb)
{
    memset(out, 0, sizeof *out);
    if (strncmp(u, "http://", 7) != 0)
        return rf_errf(eb, RF_ERR_CONFIG, "schema registry URL '%s' is not http://", u);
    const char *h = u + 7, *end = h + strcspn(h, "/");
    const char *hend = end, *colon = NULL;
    if (*h == '[') { /* [v6]:port */
        const char *rb = memchr(h, ']', (size_t)(end - h));
        if (!rb) return rf_errf(eb, RF_ERR_CONFIG, "schema registry URL '%s': bad host", u);
        h++, hend = rb, colon = rb[1] == ':' ? rb + 1 : NULL;
    } else {
        colon = memchr(h, ':', (size_t)(end - h));
        if (colon) hend = colon;
    }
    size_t hl = (size_t)(hend - h), pl = colon ? (size_t)(end - colon - 1) : 2;
    if (hl == 0 || hl >= sizeof out->host || pl == 0 || pl >= sizeof out->port)
        return rf_errf(eb, RF_ERR_CONFIG, "schema registry URL '%s': bad host or port", u);
    memcpy(out->host, h, hl);
    if (colon)
        memcpy(out->port, colon + 1, pl);
    else
        memcpy(out->port, "80", 3);
    size_t n = strlen(end);
    while (n > 0 && end[n - 1] == '/')
        n--;
    if (n >= sizeof out->path)
        return rf_errf(eb, RF_ERR_CONFIG, "schema registry URL '%s' is too long", u);
    memcpy(out->path, end, n);
    return RF_OK;
}

/* Connects with a timeout (SO_SNDTIMEO bounds a blocking connect on Linux). */
static int dial(const url_t *u, char *why, size_t whycap)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    int rc = getaddrinfo(u->host, u->port, &hints, &ai);
    if (rc != 0) {
        snprintf(why, whycap, "cannot resolve '%.64s': %s", u->host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    struct timeval tv = {RF_REGISTRY_TIMEOUT_MS / 1000, (RF_REGISTRY_TIMEOUT_MS % 1000) * 1000};
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) continue;
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            snprintf(why, whycap, "cannot connect to %.64s:%s: %s", u->host, u->port,
                     strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    return fd;
}

/* Sends the request and reads the whole response (Connection: close) into
 * *resp (NUL-terminated). 0 on success, -1 with why on an I/O failure. */
static int roundtrip(const url_t *u, int32_t id, char **resp, size_t *len, char *why, size_t whycap)
{
    int fd = dial(u, why, whycap);
    if (fd < 0) return -1;
    char req[RF_URL_MAX + 512];
    int n = snprintf(req, sizeof req,
                     "GET %s/schemas/ids/%" PRId32 " HTTP/1.1\r\nHost: %s:%s\r\n"
                     "Accept: application/vnd.schemaregistry.v1+json, application/json\r\n"
                     "Connection: close\r\nUser-Agent: refold\r\n\r\n",
                     u->path, id, u->host, u->port);
    RF_ASSERT(n > 0 && (size_t)n < sizeof req);
    for (size_t off = 0; off < (size_t)n;) {
        ssize_t w = send(fd, req + off, (size_t)n - off, MSG_NOSIGNAL);
        if (w <= 0) {
            snprintf(why, whycap, "cannot send to %.64s:%s: %s", u->host, u->port,
                     w < 0 ? strerror(errno) : "closed");
            close(fd);
            return -1;
        }
        off += (size_t)w;
    }
    size_t cap = 16384, got = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) break;
        if (got + 1 == cap) {
            if (cap >= RF_REGISTRY_RESPONSE_MAX) {
                snprintf(why, whycap, "response larger than %d bytes", RF_REGISTRY_RESPONSE_MAX);
                free(buf);
                close(fd);
                return -2; /* not retriable: the server's answer is wrong */
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb, cap *= 2;
        }
        ssize_t r = recv(fd, buf + got, cap - 1 - got, 0);
        if (r == 0) break;
        if (r < 0) {
            snprintf(why, whycap, "cannot read from %.64s:%s: %s", u->host, u->port,
                     strerror(errno));
            free(buf);
            close(fd);
            return -1;
        }
        got += (size_t)r;
    }
    close(fd);
    if (!buf) {
        snprintf(why, whycap, "out of memory");
        return -1;
    }
    buf[got] = '\0';
    *resp = buf;
    *len = got;
    return 0;
}

/* Decodes a chunked body in place; its new length, or -1 when malformed. */
static long dechunk(char *b, size_t n)
{
    size_t in = 0, out = 0;
    for (;;) {
        char *e = NULL;
        unsigned long sz = strtoul(b + in, &e, 16);
        char *crlf = strstr(b + in, "\r\n");
        if (!crlf || e == b + in || (size_t)(crlf + 2 - b) > n) return -1;
        in = (size_t)(crlf + 2 - b);
        if (sz == 0) return (long)out;
        if (sz > n - in) return -1;
        memmove(b + out, b + in, sz);
        out += sz, in += sz + 2;
        if (in > n) return -1;
    }
}

/* The status code and body of a response; -1 when it is not HTTP. */
static int parse_response(char *resp, size_t len, char **body)
{
    int status = 0;
    if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1) return -1;
    char *hdr_end = strstr(resp, "\r\n\r\n");
    if (!hdr_end) return -1;
    *hdr_end = '\0';
    *body = hdr_end + 4;
    size_t blen = len - (size_t)(*body - resp);
    for (char *h = strstr(resp, "\r\n"); h; h = strstr(h + 2, "\r\n"))
        if (strncasecmp(h + 2, "transfer-encoding:", 18) == 0 && strstr(h + 2, "chunked")) {
            long n = dechunk(*body, blen);
            if (n < 0) return -1;
            (*body)[n] = '\0';
            break;
        }
    return status;
}

/* The schema text of a 200 answer: {"schema": "...", "schemaType": ...}. */
static rf_err_t answer_schema(const char *body, int32_t id, const char *url, char **json,
                              rf_errbuf_t *eb)
{
    json_error_t jerr;
    json_t *o = json_loads(body, 0, &jerr);
    const char *s = json_string_value(json_object_get(o, "schema"));
    const char *type = json_string_value(json_object_get(o, "schemaType"));
    rf_err_t err = RF_OK;
    if (!s)
        err = rf_errf(eb, RF_ERR_UNKNOWN_SCHEMA,
                      "schema id %" PRId32 ": registry %s answered without a schema", id, url);
    else if (type && strcmp(type, "AVRO") != 0)
        err = rf_errf(eb, RF_ERR_UNKNOWN_SCHEMA,
                      "schema id %" PRId32 " of registry %s is %s, not Avro", id, url, type);
    else if (!(*json = strdup(s)))
        err = rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    json_decref(o);
    return err;
}

static void backoff(int attempt)
{
    long ms = (long)RF_REGISTRY_BACKOFF_MS << attempt;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

rf_err_t rf__registry_schema(const char *url, int32_t id, char **json, rf_errbuf_t *eb)
{
    RF_ASSERT(url != NULL && json != NULL);
    *json = NULL;
    url_t u;
    rf_err_t err = url_parse(url, &u, eb);
    if (err) return err;
    char why[RF_ERRMSG_MAX] = "";
    for (int attempt = 0; attempt < RF_REGISTRY_ATTEMPTS; attempt++) {
        if (attempt > 0) backoff(attempt - 1);
        char *resp = NULL, *body = NULL;
        size_t len = 0;
        int rc = roundtrip(&u, id, &resp, &len, why, sizeof why);
        if (rc == -2)
            return rf_errf(eb, RF_ERR_UNKNOWN_SCHEMA, "schema id %" PRId32 " of registry %s: %s",
                           id, url, why);
        if (rc < 0) continue;
        int status = parse_response(resp, len, &body);
        if (status == 200) {
            err = answer_schema(body, id, url, json, eb);
            free(resp);
            return err;
        }
        if (status == 404 || (status >= 400 && status < 500)) {
            err = rf_errf(eb, RF_ERR_UNKNOWN_SCHEMA,
                          "schema id %" PRId32 " is not in the registry at %s (HTTP %d)", id, url,
                          status);
            free(resp);
            return err;
        }
        snprintf(why, sizeof why, status < 0 ? "not an HTTP response" : "HTTP %d", status);
        free(resp);
    }
    return rf_errf(eb, RF_ERR_RETRY,
                   "schema registry %s unreachable for schema id %" PRId32 " after %d attempts: "
                   "%s",
                   url, id, RF_REGISTRY_ATTEMPTS, why);
}
