/* rf_gateway_parse.c: the gateway's request parsing, pure functions the
 * server and the fuzzer share: POST bodies, tracking-link paths, cookies,
 * bot user agents, landing URLs, derived event ids, app tokens. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "rf_gateway.h"
#include "rf_hex.h"
#include "rf_jsonl.h"
#include "rf_limits.h"

/* The namespace of derived event ids: UUIDv5(this, idem_key "/" line).
 * Never change it: a retry across an upgrade would stop folding as a
 * duplicate. */
static const uint8_t GATEWAY_NS[16] = {0x6f, 0x1e, 0x0b, 0x52, 0x9d, 0x3c, 0x4e, 0x21,
                                       0xa8, 0x47, 0x5b, 0x96, 0x0c, 0xd3, 0x71, 0xe4};

#define VISITOR_COOKIE "rf_vid"

bool rf_gateway_privileged(rf_event_type_t t)
{
    /* The fold moves money, rules, time or keys on these: an app credential
     * must not (docs/security.md); one list, the schema's. */
    return rf_event_privileged(t);
}

void rf_gateway_event_id(const char *idem_key, long line, char out[RF_UUID_STR_LEN + 1])
{
    RF_ASSERT(idem_key != NULL && line >= 1);
    uint8_t buf[sizeof GATEWAY_NS + RF_GATEWAY_IDEM_KEY_MAX + 24], md[EVP_MAX_MD_SIZE];
    size_t kl = strlen(idem_key);
    RF_ASSERT(kl <= RF_GATEWAY_IDEM_KEY_MAX);
    memcpy(buf, GATEWAY_NS, sizeof GATEWAY_NS);
    memcpy(buf + sizeof GATEWAY_NS, idem_key, kl);
    size_t n = sizeof GATEWAY_NS + kl;
    n += (size_t)snprintf((char *)buf + n, sizeof buf - n, "/%ld", line);
    unsigned mdlen = 0;
    int ok = EVP_Digest(buf, n, md, &mdlen, EVP_sha1(), NULL);
    RF_ASSERT(ok == 1 && mdlen >= 16);
    md[6] = (uint8_t)((md[6] & 0x0f) | 0x50); /* version 5 */
    md[8] = (uint8_t)((md[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    rf_uuid_format(md, out);
}

/* ---- POST bodies ------------------------------------------------------------ */

static long fail(rf_gateway_error_t *e, unsigned status, const char *code, long line,
                 const char *field, const char *msg)
{
    e->status = status;
    snprintf(e->code, sizeof e->code, "%s", code);
    snprintf(e->field, sizeof e->field, "%s", field ? field : "");
    e->line = line;
    /* messages are cut to the buffer on purpose: the precision says so */
    if (line > 0)
        snprintf(e->message, sizeof e->message, "line %ld: %.*s", line, (int)sizeof e->message - 32,
                 msg);
    else
        snprintf(e->message, sizeof e->message, "%.*s", (int)sizeof e->message - 1, msg);
    return -1;
}

/* The field a validation message names: "... field 'x' ..." (rf_jsonl's and
 * rf_event_validate's form), or "" when it names none. */
static void field_of(const char *msg, char out[RF_ID_BUF])
{
    const char *f = strstr(msg, "field '");
    out[0] = '\0';
    if (!f) return;
    f += 7;
    size_t n = strcspn(f, "'");
    if (n >= RF_ID_BUF) n = RF_ID_BUF - 1;
    memcpy(out, f, n);
    out[n] = '\0';
}

static long parse_line(const char *s, size_t n, long line, long report_line, const char *idem_key,
                       rf_event_t *ev, rf_gateway_error_t *e)
{
    char id[RF_UUID_STR_LEN + 1] = "";
    if (idem_key && *idem_key) rf_gateway_event_id(idem_key, line, id);
    rf_errbuf_t eb = {{0}};
    if (rf_jsonl_parse_id(s, n, id, ev, &eb) != RF_OK) {
        char field[RF_ID_BUF], msg[RF_ERRMSG_MAX + 64];
        field_of(eb.msg, field);
        snprintf(msg, sizeof msg, "%s%s", eb.msg,
                 !strcmp(field, "event_id") && !id[0] ? " (or send an Idempotency-Key header)"
                                                      : "");
        return fail(e, 400, "invalid_event", report_line, field, msg);
    }
    if (rf_gateway_privileged(ev->type)) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s events are not accepted from apps (operator path only)",
                 rf_event_type_name(ev->type));
        return fail(e, 403, "privileged_event", report_line, "type", msg);
    }
    return 0;
}

long rf_gateway_parse_body(const char *body, size_t len, bool ndjson, const char *idem_key,
                           rf_event_t *ev, rf_gateway_event_cb_t *cb, void *opaque,
                           rf_gateway_error_t *e)
{
    RF_ASSERT(body != NULL || len == 0);
    memset(e, 0, sizeof *e);
    if (len > RF_GATEWAY_BODY_MAX)
        return fail(e, 413, "too_large", 0, NULL, "request body larger than 1 MiB");
    if (idem_key && strlen(idem_key) > RF_GATEWAY_IDEM_KEY_MAX)
        return fail(e, 400, "bad_idempotency_key", 0, NULL,
                    "Idempotency-Key is longer than 128 bytes");
    if (!ndjson) {
        if (len > RF_JSON_LINE_MAX)
            return fail(e, 413, "too_large", 0, NULL, "a single event is larger than the limit");
        if (parse_line(body, len, 1, 0, idem_key, ev, e) < 0) return -1;
        if (cb && cb(ev, 1, opaque) != RF_OK)
            return fail(e, 500, "internal", 0, NULL, "out of memory");
        return 1;
    }
    long nev = 0, lineno = 0;
    for (size_t at = 0; at < len;) {
        const char *s = body + at, *nl = memchr(s, '\n', len - at);
        size_t n = nl ? (size_t)(nl - s) : len - at;
        at += n + (nl != NULL);
        lineno++;
        size_t b = 0;
        while (b < n && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r'))
            b++;
        if (b == n) continue; /* blank line */
        if (nev == RF_GATEWAY_BATCH_EVENTS_MAX)
            return fail(e, 413, "too_many_events", lineno, NULL,
                        "more than 1000 events in one request");
        if (n > RF_JSON_LINE_MAX)
            return fail(e, 413, "too_large", lineno, NULL, "line longer than the limit");
        /* ids derive from the event's number, not the line's: blank lines
         * added by a retry do not change them */
        if (parse_line(s, n, nev + 1, lineno, idem_key, ev, e) < 0) return -1;
        nev++;
        if (cb && cb(ev, lineno, opaque) != RF_OK)
            return fail(e, 500, "internal", lineno, NULL, "out of memory");
    }
    if (nev == 0) return fail(e, 400, "empty", 0, NULL, "no event in the request body");
    return nev;
}

/* ---- tracking links ---------------------------------------------------------- */

/* Percent-decodes one path segment into an id; false when bad. */
static bool decode_id(const char *s, size_t n, char out[RF_ID_BUF])
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '%') {
            if (i + 2 >= n) return false;
            int h = rf_hex_digit(s[i + 1]), l = rf_hex_digit(s[i + 2]);
            if (h < 0 || l < 0) return false;
            ch = (unsigned char)(h * 16 + l);
            i += 2;
        }
        if (ch < 0x20 || ch == 0x7f || ch == '/' || o == RF_ID_MAX) return false;
        out[o++] = (char)ch;
    }
    out[o] = '\0';
    return o > 0;
}

bool rf_gateway_link_parse(const char *path, char program[RF_ID_BUF], char code[RF_ID_BUF])
{
    if (strncmp(path, "/r/", 3) != 0) return false;
    const char *p = path + 3, *end = p + strcspn(p, "?#");
    const char *slash = memchr(p, '/', (size_t)(end - p));
    if (!slash) return false;
    const char *c = slash + 1;
    if (memchr(c, '/', (size_t)(end - c))) return false;
    return decode_id(p, (size_t)(slash - p), program) && decode_id(c, (size_t)(end - c), code);
}

/* Link-preview fetchers and crawlers: they follow a shared link to draw a
 * card or index it, not because a person clicked (docs/intake.md lists them). */
static const char *const BOT_AGENTS[] = {"facebookexternalhit",
                                         "facebot",
                                         "twitterbot",
                                         "slackbot",
                                         "slack-imgproxy",
                                         "linkedinbot",
                                         "whatsapp",
                                         "telegrambot",
                                         "discordbot",
                                         "skypeuripreview",
                                         "pinterest",
                                         "redditbot",
                                         "googlebot",
                                         "bingbot",
                                         "applebot",
                                         "yandexbot",
                                         "duckduckbot",
                                         "baiduspider",
                                         "embedly",
                                         "iframely",
                                         "mastodon",
                                         "snapchat",
                                         "viber",
                                         "google-pagerenderer",
                                         "bot/",
                                         "crawler",
                                         "spider",
                                         "preview",
                                         NULL};

/* The first bytes of a user agent looked at: real ones are ~100-300 bytes
 * and the markers come early. */
#define UA_SCAN_MAX 512

bool rf_gateway_bot_agent(const char *ua)
{
    if (!ua) return false;
    char low[UA_SCAN_MAX + 1];
    size_t n = 0;
    for (; ua[n] && n < UA_SCAN_MAX; n++)
        low[n] = (char)tolower((unsigned char)ua[n]);
    low[n] = '\0';
    for (const char *const *b = BOT_AGENTS; *b; b++)
        if (strstr(low, *b)) return true;
    return false;
}

static bool uuid_lower(const char *s, size_t n)
{
    if (n != RF_UUID_STR_LEN) return false;
    for (size_t i = 0; i < n; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !rf_hex_is_lower(s[i])) return false;
    }
    return true;
}

bool rf_gateway_cookie_visitor(const char *cookie, char out[RF_UUID_STR_LEN + 1])
{
    const size_t nl = sizeof VISITOR_COOKIE - 1;
    for (const char *p = cookie; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        size_t n = strcspn(p, ";");
        if (n > nl && !strncmp(p, VISITOR_COOKIE, nl) && p[nl] == '=') {
            size_t vl = n - nl - 1;
            while (vl && (p[nl + 1 + vl - 1] == ' ' || p[nl + 1 + vl - 1] == '\t'))
                vl--;
            if (uuid_lower(p + nl + 1, vl)) {
                memcpy(out, p + nl + 1, RF_UUID_STR_LEN);
                out[RF_UUID_STR_LEN] = '\0';
                return true;
            }
        }
        p += n;
    }
    return false;
}

rf_err_t rf_gateway_landing(const char *landing, const char *code, char *out, size_t cap)
{
    static const char unreserved[] = "-._~";
    size_t o = (size_t)snprintf(out, cap, "%s%sref=", landing, strchr(landing, '?') ? "&" : "?");
    if (o >= cap) return RF_ERR_OVERSIZE;
    for (const unsigned char *c = (const unsigned char *)code; *c; c++) {
        if (o + 4 > cap) return RF_ERR_OVERSIZE;
        if (isalnum(*c) || strchr(unreserved, *c)) {
            out[o++] = (char)*c;
        } else {
            static const char hex[] = "0123456789ABCDEF";
            out[o++] = '%';
            out[o++] = hex[*c >> 4];
            out[o++] = hex[*c & 15];
        }
    }
    out[o] = '\0';
    return RF_OK;
}

bool rf_gateway_token_ok(const char *got, const char *const *tokens, int n)
{
    if (!got) return false;
    size_t gl = strlen(got);
    int ok = 0;
    for (int i = 0; i < n; i++) { /* no early exit: which token matched stays secret */
        size_t tl = strlen(tokens[i]);
        ok |= tl == gl && tl > 0 && CRYPTO_memcmp(got, tokens[i], tl) == 0;
    }
    return ok != 0;
}
