/* rf_jsonl.c: JSON lines <-> rf_event_t (see rf_jsonl.h); jansson parses,
 * a small hand-written printer writes, so output is byte-stable and fast. */
#include "rf_jsonl.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rf_event.h"

/* Latest time the text form can show (9999-12-31T23:59:59.999Z). */

typedef enum fkind { F_STR, F_LONG, F_INT, F_BOOL, F_RULES } fkind_t;

typedef struct field {
    const char *name; /* the Avro field name */
    fkind_t kind;
    size_t off;  /* into rf_event_t */
    size_t size; /* F_STR: buffer size */
    bool required;
} field_t;

#define MEMBER_SIZE(m) sizeof(((rf_event_t *)0)->m)
#define STR(n, m, req)                                                                             \
    {                                                                                              \
        n, F_STR, offsetof(rf_event_t, m), MEMBER_SIZE(m), req                                     \
    }
#define LONG(n, m)                                                                                 \
    {                                                                                              \
        n, F_LONG, offsetof(rf_event_t, m), 0, true                                                \
    }
#define END                                                                                        \
    {                                                                                              \
        NULL, F_STR, 0, 0, false                                                                   \
    }

static const field_t f_program_configured[] = {
    {"version", F_INT, offsetof(rf_event_t, version), 0, true},
    {"rules_json", F_RULES, offsetof(rf_event_t, rules_json), MEMBER_SIZE(rules_json), true},
    END};
static const field_t f_code_issued[] = {STR("referrer", referrer, true), STR("code", code, true),
                                        END};
static const field_t f_share[] = {STR("referrer", referrer, true), STR("channel", channel, true),
                                  END};
static const field_t f_click[] = {STR("code", code, true), STR("visitor", visitor, true),
                                  STR("ip_hash", ip_hash, false),
                                  STR("agent_hash", agent_hash, false), END};
static const field_t f_signup[] = {STR("user", user, true),
                                   STR("code", code, false),
                                   STR("visitor", visitor, false),
                                   STR("email_hash", email_hash, false),
                                   STR("device_hash", device_hash, false),
                                   STR("ip_hash", ip_hash, false),
                                   END};
static const field_t f_purchase[] = {STR("order_id", order_id, true),
                                     STR("user", user, true),
                                     LONG("amount_minor", amount_minor),
                                     STR("currency", asset, true),
                                     STR("code", code, false),
                                     STR("payment_hash", payment_hash, false),
                                     END};
static const field_t f_refund[] = {STR("order_id", order_id, true),
                                   LONG("amount_minor", amount_minor), STR("currency", asset, true),
                                   END};
static const field_t f_redemption[] = {STR("user", user, true), LONG("amount_minor", amount_minor),
                                       STR("asset", asset, true),
                                       STR("request_id", request_id, true), END};
static const field_t f_review_decision[] = {
    STR("user", user, true),
    {"approve", F_BOOL, offsetof(rf_event_t, approve), 0, true},
    STR("reviewer", reviewer, true),
    STR("reason", reason, false),
    END};
static const field_t f_adjustment[] = {
    STR("user", user, true),     LONG("amount_minor", amount_minor), STR("asset", asset, true),
    STR("reason", reason, true), STR("actor", actor, true),          END};
static const field_t f_clock[] = {END};
static const field_t f_key_registered[] = {
    STR("key_id", key_id, true), STR("public_key", public_key, true), STR("scopes", scopes, true),
    STR("actor", actor, false), END};
static const field_t f_key_revoked[] = {STR("key_id", key_id, true), STR("reason", reason, false),
                                        END};

static const struct {
    const char *snake;
    const field_t *fields;
} types[RF_EV__COUNT] = {
    [RF_EV_PROGRAM_CONFIGURED] = {"program_configured", f_program_configured},
    [RF_EV_CODE_ISSUED] = {"code_issued", f_code_issued},
    [RF_EV_SHARE] = {"share", f_share},
    [RF_EV_CLICK] = {"click", f_click},
    [RF_EV_SIGNUP] = {"signup", f_signup},
    [RF_EV_PURCHASE] = {"purchase", f_purchase},
    [RF_EV_REFUND] = {"refund", f_refund},
    [RF_EV_REDEMPTION] = {"redemption", f_redemption},
    [RF_EV_REVIEW_DECISION] = {"review_decision", f_review_decision},
    [RF_EV_ADJUSTMENT] = {"adjustment", f_adjustment},
    [RF_EV_CLOCK] = {"clock", f_clock},
    [RF_EV_KEY_REGISTERED] = {"key_registered", f_key_registered},
    [RF_EV_KEY_REVOKED] = {"key_revoked", f_key_revoked},
};

const char *rf_jsonl_type_name(rf_event_type_t t)
{
    RF_ASSERT(t >= 0 && t < RF_EV__COUNT);
    return types[t].snake;
}

/* ---- parsing ---- */

static const field_t *find_field(const field_t *fields, const char *name)
{
    for (const field_t *f = fields; f->name; f++)
        if (!strcmp(f->name, name)) return f;
    return NULL;
}

static rf_err_t set_string(char *dst, size_t cap, json_t *v, const char *tname, const char *name,
                           rf_errbuf_t *eb)
{
    if (!json_is_string(v))
        return rf_errf(eb, RF_ERR_BAD_INPUT, "%s: field '%s' must be a string", tname, name);
    size_t n = json_string_length(v);
    if (n >= cap)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "%s: field '%s' is longer than %zu bytes", tname, name,
                       cap - 1);
    if (memchr(json_string_value(v), '\0', n))
        return rf_errf(eb, RF_ERR_BAD_INPUT, "%s: field '%s' contains a NUL character", tname,
                       name);
    memcpy(dst, json_string_value(v), n + 1);
    return RF_OK;
}

/* "auth": {"key_id": "...", "signature": "..."}, both strings, nothing else
 * (the JSON form of the Avro fields auth_key_id and auth_signature). */
static rf_err_t set_auth(rf_event_t *ev, json_t *v, const char *tname, rf_errbuf_t *eb)
{
    if (!json_is_object(v) || json_object_size(v) != 2)
        return rf_errf(eb, RF_ERR_BAD_INPUT,
                       "%s: field 'auth' must be an object with key_id and signature", tname);
    json_t *id = json_object_get(v, "key_id"), *sig = json_object_get(v, "signature");
    if (!id || !sig)
        return rf_errf(eb, RF_ERR_BAD_INPUT,
                       "%s: field 'auth' must be an object with key_id and signature", tname);
    rf_err_t err =
        set_string(ev->auth_key_id, sizeof ev->auth_key_id, id, tname, "auth.key_id", eb);
    return err ? err
               : set_string(ev->auth_sig, sizeof ev->auth_sig, sig, tname, "auth.signature", eb);
}

/* "rules" (an object, stored compactly) or "rules_json" (a string that must
 * hold a JSON object). */
static rf_err_t set_rules(rf_event_t *ev, const char *key, json_t *v, const char *tname,
                          rf_errbuf_t *eb)
{
    if (!strcmp(key, "rules")) {
        if (!json_is_object(v))
            return rf_errf(eb, RF_ERR_BAD_INPUT, "%s: field 'rules' must be an object", tname);
        size_t n = json_dumpb(v, ev->rules_json, sizeof ev->rules_json - 1, JSON_COMPACT);
        if (n == 0 || n >= sizeof ev->rules_json)
            return rf_errf(eb, RF_ERR_BAD_INPUT, "%s: field 'rules' is longer than %d bytes", tname,
                           RF_RULES_MAX);
        ev->rules_json[n] = '\0';
        return RF_OK;
    }
    rf_err_t err = set_string(ev->rules_json, sizeof ev->rules_json, v, tname, key, eb);
    if (err != RF_OK) return err;
    json_error_t jerr;
    json_t *obj = json_loads(ev->rules_json, JSON_REJECT_DUPLICATES, &jerr);
    bool ok = json_is_object(obj);
    json_decref(obj);
    if (!ok)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "%s: field 'rules_json' is not a JSON object%s%s",
                       tname, obj ? "" : ": ", obj ? "" : jerr.text);
    return RF_OK;
}

static rf_err_t set_field(rf_event_t *ev, const field_t *f, const char *key, json_t *v,
                          const char *tname, rf_errbuf_t *eb)
{
    char *base = (char *)ev;
    switch (f->kind) {
    case F_STR:
        return set_string(base + f->off, f->size, v, tname, f->name, eb);
    case F_RULES:
        return set_rules(ev, key, v, tname, eb);
    case F_BOOL:
        if (!json_is_boolean(v))
            return rf_errf(eb, RF_ERR_BAD_INPUT, "%s: field '%s' must be true or false", tname,
                           f->name);
        *(bool *)(base + f->off) = json_is_true(v);
        return RF_OK;
    case F_LONG:
    case F_INT:
        if (!json_is_integer(v))
            return rf_errf(eb, RF_ERR_BAD_INPUT, "%s: field '%s' must be an integer", tname,
                           f->name);
        if (f->kind == F_LONG) {
            *(int64_t *)(base + f->off) = (int64_t)json_integer_value(v);
            return RF_OK;
        }
        if (json_integer_value(v) < INT32_MIN || json_integer_value(v) > INT32_MAX)
            return rf_errf(eb, RF_ERR_BAD_INPUT, "%s: field '%s' is out of range", tname, f->name);
        *(int32_t *)(base + f->off) = (int32_t)json_integer_value(v);
        return RF_OK;
    }
    return rf_errf(eb, RF_ERR_INTERNAL, "unknown field kind");
}

static rf_err_t set_occurred_at(rf_event_t *ev, json_t *v, const char *tname, rf_errbuf_t *eb)
{
    if (json_is_integer(v)) {
        json_int_t ms = json_integer_value(v);
        if (ms < 0 || ms > RF_TIME_MS_MAX)
            return rf_errf(eb, RF_ERR_BAD_INPUT,
                           "%s: field 'occurred_at' must be Unix milliseconds in 0..%lld", tname,
                           (long long)RF_TIME_MS_MAX);
        ev->occurred_at_ms = ms;
        return RF_OK;
    }
    if (!json_is_string(v))
        return rf_errf(eb, RF_ERR_BAD_INPUT,
                       "%s: field 'occurred_at' must be Unix milliseconds or an RFC 3339 string",
                       tname);
    rf_errbuf_t teb;
    if (rf_time_parse(json_string_value(v), &ev->occurred_at_ms, &teb) != RF_OK)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "%s: field 'occurred_at': %s", tname, teb.msg);
    return RF_OK;
}

/* One key of the object: an envelope field or a field of this type. Marks
 * which required fields were seen in *seen (bit i = i-th field of the type). */
static rf_err_t set_key(rf_event_t *ev, const char *key, json_t *v, unsigned *seen, bool *have_time,
                        rf_errbuf_t *eb)
{
    const char *tname = types[ev->type].snake;
    if (!strcmp(key, "type")) return RF_OK;
    if (!strcmp(key, "event_id"))
        return set_string(ev->event_id, sizeof ev->event_id, v, tname, key, eb);
    if (!strcmp(key, "program_id")) {
        *seen |= 1u << 31;
        return set_string(ev->program_id, sizeof ev->program_id, v, tname, key, eb);
    }
    if (!strcmp(key, "source")) return set_string(ev->source, sizeof ev->source, v, tname, key, eb);
    if (!strcmp(key, "auth")) return set_auth(ev, v, tname, eb);
    if (!strcmp(key, "occurred_at")) {
        *have_time = true;
        return set_occurred_at(ev, v, tname, eb);
    }
    const field_t *fields = types[ev->type].fields;
    const field_t *f = find_field(fields, key);
    if (!f && ev->type == RF_EV_PROGRAM_CONFIGURED && !strcmp(key, "rules"))
        f = find_field(fields, "rules_json");
    if (!f) return rf_errf(eb, RF_ERR_BAD_INPUT, "%s: unknown field '%s'", tname, key);
    unsigned bit = 1u << (unsigned)(f - fields);
    if (*seen & bit)
        return rf_errf(eb, RF_ERR_BAD_INPUT,
                       "%s: fields 'rules' and 'rules_json' exclude each other", tname);
    *seen |= bit;
    return set_field(ev, f, key, v, tname, eb);
}

static rf_err_t check_required(const rf_event_t *ev, unsigned seen, rf_errbuf_t *eb)
{
    const char *tname = types[ev->type].snake;
    if (!(seen & (1u << 31)))
        return rf_errf(eb, RF_ERR_BAD_INPUT, "%s: field 'program_id' is required", tname);
    const field_t *fields = types[ev->type].fields;
    for (const field_t *f = fields; f->name; f++)
        if (f->required && !(seen & (1u << (unsigned)(f - fields))))
            return rf_errf(eb, RF_ERR_BAD_INPUT, "%s: field '%s' is required", tname,
                           f->kind == F_RULES ? "rules" : f->name);
    return RF_OK;
}

static rf_err_t parse_type(json_t *root, rf_event_t *ev, rf_errbuf_t *eb)
{
    json_t *t = json_object_get(root, "type");
    if (!t) return rf_errf(eb, RF_ERR_BAD_INPUT, "field 'type' is required");
    if (!json_is_string(t)) return rf_errf(eb, RF_ERR_BAD_INPUT, "field 'type' must be a string");
    int type = rf_event_type_parse(json_string_value(t));
    if (type < 0 || type >= RF_EV__COUNT)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "field 'type': unknown event type '%.64s'",
                       json_string_value(t));
    ev->type = (rf_event_type_t)type;
    return RF_OK;
}

static rf_err_t parse_object(json_t *root, const char *id_if_absent, rf_event_t *ev,
                             rf_errbuf_t *eb)
{
    if (!json_is_object(root)) return rf_errf(eb, RF_ERR_BAD_INPUT, "a line must be a JSON object");
    rf_err_t err = parse_type(root, ev, eb);
    if (err != RF_OK) return err;
    unsigned seen = 0;
    bool have_time = false;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if ((err = set_key(ev, key, v, &seen, &have_time, eb)) != RF_OK) return err;
    }
    if ((err = check_required(ev, seen, eb)) != RF_OK) return err;
    if (!ev->event_id[0] && id_if_absent && !id_if_absent[0])
        return rf_errf(eb, RF_ERR_BAD_INPUT, "%s: field 'event_id' is required",
                       rf_jsonl_type_name(ev->type));
    if (!ev->event_id[0] && id_if_absent)
        rf_strlcpy(ev->event_id, id_if_absent, sizeof ev->event_id);
    if (!ev->event_id[0]) rf_event_id_new(ev->event_id);
    if (!have_time) ev->occurred_at_ms = rf_wall_ms();
    /* Its messages already start with the type's snake name. */
    return rf_event_validate(ev, eb);
}

rf_err_t rf_jsonl_parse(const char *line, size_t len, rf_event_t *ev, rf_errbuf_t *eb)
{
    return rf_jsonl_parse_id(line, len, NULL, ev, eb);
}

rf_err_t rf_jsonl_parse_id(const char *line, size_t len, const char *id_if_absent, rf_event_t *ev,
                           rf_errbuf_t *eb)
{
    RF_ASSERT(line && ev);
    rf_event_clear(ev);
    json_error_t jerr;
    json_t *root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "invalid JSON at column %d: %s", jerr.column,
                       jerr.text);
    rf_err_t err = parse_object(root, id_if_absent, ev, eb);
    json_decref(root);
    RF_ASSERT(err != RF_OK || ev->type < RF_EV__COUNT);
    return err;
}

/* ---- reading lines ---- */

void rf_jsonl_reader_init(rf_jsonl_reader_t *r, FILE *f)
{
    RF_ASSERT(r && f);
    r->f = f;
    r->lineno = 0;
    r->line[0] = '\0';
}

static bool blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n') return false;
    return true;
}

/* Drops the rest of an overlong line; bounded by the input itself. */
static void skip_rest(rf_jsonl_reader_t *r)
{
    int c;
    while ((c = getc(r->f)) != EOF && c != '\n') {
    }
}

rf_err_t rf_jsonl_read(rf_jsonl_reader_t *r, rf_event_t *ev, rf_errbuf_t *eb)
{
    RF_ASSERT(r && r->f && ev);
    for (;;) {
        if (!fgets(r->line, sizeof r->line, r->f)) {
            if (ferror(r->f)) return rf_errf(eb, RF_ERR_IO, "read error after line %ld", r->lineno);
            return RF_ERR_NOT_FOUND;
        }
        r->lineno++;
        size_t n = strlen(r->line);
        if (n == sizeof r->line - 1 && r->line[n - 1] != '\n') {
            skip_rest(r);
            return rf_errf(eb, RF_ERR_BAD_INPUT, "line %ld: longer than %d bytes", r->lineno,
                           RF_JSON_LINE_MAX);
        }
        if (blank(r->line)) continue;
        rf_errbuf_t peb;
        rf_err_t err = rf_jsonl_parse(r->line, n, ev, &peb);
        if (err != RF_OK) return rf_errf(eb, err, "line %ld: %s", r->lineno, peb.msg);
        return RF_OK;
    }
}

/* ---- writing ---- */

typedef struct out {
    char *buf;
    size_t cap, len;
    bool overflow;
} out_t;

static void put(out_t *o, const char *s, size_t n)
{
    if (o->overflow || n > o->cap - o->len) {
        o->overflow = true;
        return;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

static void put_cstr(out_t *o, const char *s)
{
    put(o, s, strlen(s));
}

/* A JSON string: quotes, backslashes and control characters escaped; other
 * bytes (UTF-8) as they are. */
static void put_quoted(out_t *o, const char *s)
{
    put(o, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        put(o, run, (size_t)(s - run));
        char esc[8];
        if (c == '"' || c == '\\')
            snprintf(esc, sizeof esc, "\\%c", c);
        else if (c == '\n')
            snprintf(esc, sizeof esc, "\\n");
        else if (c == '\t')
            snprintf(esc, sizeof esc, "\\t");
        else if (c == '\r')
            snprintf(esc, sizeof esc, "\\r");
        else
            snprintf(esc, sizeof esc, "\\u%04x", c);
        put_cstr(o, esc);
        run = s + 1;
    }
    put(o, run, (size_t)(s - run));
    put(o, "\"", 1);
}

static void put_key(out_t *o, const char *name)
{
    put(o, ",\"", 2);
    put_cstr(o, name);
    put(o, "\":", 2);
}

static void put_int(out_t *o, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%" PRId64, v);
    put(o, num, (size_t)n);
}

/* rules_json as an object when it is already jansson's compact form (so it
 * reads back to the same bytes), else as an escaped string. */
static void put_rules(out_t *o, const char *rules_json)
{
    json_t *obj = json_loads(rules_json, JSON_REJECT_DUPLICATES, NULL);
    char *compact = json_is_object(obj) ? json_dumps(obj, JSON_COMPACT) : NULL;
    bool canonical = compact && !strcmp(compact, rules_json);
    free(compact);
    json_decref(obj);
    put_key(o, canonical ? "rules" : "rules_json");
    if (canonical)
        put_cstr(o, rules_json);
    else
        put_quoted(o, rules_json);
}

static void put_body(out_t *o, const rf_event_t *ev)
{
    const char *base = (const char *)ev;
    for (const field_t *f = types[ev->type].fields; f->name; f++) {
        switch (f->kind) {
        case F_STR:
            if (!f->required && !base[f->off]) break;
            put_key(o, f->name);
            put_quoted(o, base + f->off);
            break;
        case F_LONG:
            put_key(o, f->name);
            put_int(o, *(const int64_t *)(base + f->off));
            break;
        case F_INT:
            put_key(o, f->name);
            put_int(o, *(const int32_t *)(base + f->off));
            break;
        case F_BOOL:
            put_key(o, f->name);
            put_cstr(o, *(const bool *)(base + f->off) ? "true" : "false");
            break;
        case F_RULES:
            put_rules(o, ev->rules_json);
            break;
        }
    }
}

rf_err_t rf_jsonl_format(const rf_event_t *ev, char *buf, size_t cap, size_t *len, rf_errbuf_t *eb)
{
    RF_ASSERT(ev && buf && len);
    RF_ASSERT(ev->type >= 0 && ev->type < RF_EV__COUNT);
    out_t o = {buf, cap, 0, false};
    put_cstr(&o, "{\"type\":\"");
    put_cstr(&o, types[ev->type].snake);
    put(&o, "\"", 1);
    put_key(&o, "event_id");
    put_quoted(&o, ev->event_id);
    put_key(&o, "program_id");
    put_quoted(&o, ev->program_id);
    put_key(&o, "occurred_at");
    if (ev->occurred_at_ms >= 0 && ev->occurred_at_ms <= RF_TIME_MS_MAX) {
        char ts[RF_TIME_BUF];
        rf_time_format(ev->occurred_at_ms, ts);
        put_quoted(&o, ts);
    } else {
        put_int(&o, ev->occurred_at_ms);
    }
    if (ev->source[0]) {
        put_key(&o, "source");
        put_quoted(&o, ev->source);
    }
    if (ev->auth_key_id[0] || ev->auth_sig[0]) {
        put_key(&o, "auth");
        put_cstr(&o, "{\"key_id\":");
        put_quoted(&o, ev->auth_key_id);
        put_cstr(&o, ",\"signature\":");
        put_quoted(&o, ev->auth_sig);
        put(&o, "}", 1);
    }
    put_body(&o, ev);
    put(&o, "}\n", 2);
    if (o.overflow) return rf_errf(eb, RF_ERR_OVERSIZE, "event does not fit %zu bytes", cap);
    if (o.len < cap) buf[o.len] = '\0';
    *len = o.len;
    return RF_OK;
}

rf_err_t rf_jsonl_write(FILE *f, const rf_event_t *ev, rf_errbuf_t *eb)
{
    static _Thread_local char buf[RF_JSONL_OUT_MAX];
    size_t len = 0;
    rf_err_t err = rf_jsonl_format(ev, buf, sizeof buf, &len, eb);
    if (err != RF_OK) return err;
    if (fwrite(buf, 1, len, f) != len) return rf_errf(eb, RF_ERR_IO, "write failed");
    return RF_OK;
}
