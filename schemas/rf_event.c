/* rf_event.c: names, clearing and validation of decoded events, and the small
 * helpers that build ledger records (facts, postings, the balance check). */
#include "rf_event.h"
#include "rf_hex.h"

#include "rf_codec_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char *const type_names[RF_EV__COUNT] = {
    "ProgramConfigured",
    "CodeIssued",
    "Share",
    "Click",
    "Signup",
    "Purchase",
    "Refund",
    "Redemption",
    "ReviewDecision",
    "Adjustment",
    "Clock",
    "KeyRegistered",
    "KeyRevoked",
};
static const char *const type_snake[RF_EV__COUNT] = {
    "program_configured",
    "code_issued",
    "share",
    "click",
    "signup",
    "purchase",
    "refund",
    "redemption",
    "review_decision",
    "adjustment",
    "clock",
    "key_registered",
    "key_revoked",
};

const char *rf_event_type_name(rf_event_type_t t)
{
    if ((unsigned)t >= RF_EV__COUNT) return "unknown";
    return type_names[t];
}

int rf_event_type_parse(const char *name)
{
    if (!name) return -1;
    for (int i = 0; i < RF_EV__COUNT; i++)
        if (strcmp(name, type_names[i]) == 0 || strcmp(name, type_snake[i]) == 0) return i;
    return -1;
}

void rf_event_clear(rf_event_t *ev)
{
    RF_ASSERT(ev != NULL);
    /* Only the heads of the strings: rules_json alone is 16 KiB, and a memset
     * per message would dominate decoding. */
    ev->type = RF_EV_CLOCK;
    ev->schema_id = 0;
    ev->event_id[0] = ev->program_id[0] = ev->source[0] = '\0';
    ev->auth_key_id[0] = ev->auth_sig[0] = '\0';
    ev->key_id[0] = ev->public_key[0] = ev->scopes[0] = '\0';
    ev->occurred_at_ms = 0;
    ev->user[0] = ev->referrer[0] = ev->code[0] = ev->visitor[0] = ev->channel[0] = '\0';
    ev->order_id[0] = ev->request_id[0] = ev->asset[0] = '\0';
    ev->amount_minor = 0;
    ev->ip_hash[0] = ev->agent_hash[0] = ev->email_hash[0] = '\0';
    ev->device_hash[0] = ev->payment_hash[0] = '\0';
    ev->approve = false;
    ev->reviewer[0] = ev->actor[0] = ev->reason[0] = '\0';
    ev->version = 0;
    ev->rules_json[0] = '\0';
}

/* ---- validation ---- */

/* Validation context: the type's snake name prefixes every message. Strings
 * the decoder wrote are known to be terminated and UTF-8 (rd_string checks
 * them as it copies), so the decode path skips rescanning them. */
typedef struct vctx {
    const char *tname;
    rf_errbuf_t *eb;
    bool strings_checked;
} vctx_t;

/* Length of one strict UTF-8 sequence at s (no overlongs, no surrogates,
 * nothing above U+10FFFF), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    if (len == 0 || c > 0xf4 || len > n) return 0;
    for (size_t k = 1; k < len; k++)
        if ((s[k] & 0xc0) != 0x80) return 0;
    if (c == 0xe0 && s[1] < 0xa0) return 0; /* overlong */
    if (c == 0xed && s[1] > 0x9f) return 0; /* surrogate */
    if (c == 0xf0 && s[1] < 0x90) return 0; /* overlong */
    if (c == 0xf4 && s[1] > 0x8f) return 0; /* > U+10FFFF */
    return len;
}

/* Decoded strings end up in JSON (projections, HTTP API), where invalid UTF-8
 * would be refused or mangled. */
bool rf__utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* ASCII (almost every id and hash) 8 bytes per step */
        uint64_t w;
        if (n - i >= 8 && (memcpy(&w, s + i, 8), (w & 0x8080808080808080ull) == 0)) {
            i += 8;
            continue;
        }
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t len = utf8_seq(s + i, n - i);
        if (len == 0) return false;
        i += len;
    }
    return true;
}

/* One pass over s: its length when NUL-terminated inside cap, else -1;
 * *utf8 is cleared on an invalid sequence. */
static long scan_str(const char *str, size_t cap, bool *utf8)
{
    const unsigned char *s = (const unsigned char *)str;
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    size_t i = 0;
    while (i < cap) {
        /* Eight ASCII bytes without a NUL at a time: ids and hashes are ASCII. */
        uint64_t w;
        if (cap - i >= 8 && (memcpy(&w, s + i, 8), !(((w - ones) & ~w & highs) | (w & highs)))) {
            i += 8;
            continue;
        }
        if (s[i] == 0) return (long)i;
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t len = utf8_seq(s + i, cap - i);
        if (len == 0) {
            *utf8 = false;
            len = 1;
        }
        i += len;
    }
    return -1;
}

/* Every string must be NUL-terminated inside its buffer (the struct may come
 * from a producer that filled it by hand) and valid UTF-8. */
static inline rf_err_t check_str(const vctx_t *v, const char *field, const char *s, size_t cap,
                                 bool required)
{
    if (s[0] == '\0' || v->strings_checked) {
        if (required && s[0] == '\0')
            return rf_errf(v->eb, RF_ERR_BAD_INPUT, "%s: field '%s' is missing", v->tname, field);
        return RF_OK;
    }
    bool utf8 = true;
    long n = scan_str(s, cap, &utf8);
    if (n < 0)
        return rf_errf(v->eb, RF_ERR_BAD_INPUT, "%s: field '%s' is too long (max %zu bytes)",
                       v->tname, field, cap - 1);
    if (required && n == 0)
        return rf_errf(v->eb, RF_ERR_BAD_INPUT, "%s: field '%s' is missing", v->tname, field);
    if (!utf8)
        return rf_errf(v->eb, RF_ERR_BAD_INPUT, "%s: field '%s' is not valid UTF-8", v->tname,
                       field);
    return RF_OK;
}

static rf_err_t check_hash(const vctx_t *v, const char *field, const char *s)
{
    rf_err_t err = check_str(v, field, s, RF_HASH_BUF, false);
    if (err || s[0] == '\0') return err;
    unsigned ok = strlen(s) == RF_HASH_HEX_LEN;
    if (ok) /* no early exit: a fixed 64-byte loop the compiler unrolls */
        for (size_t i = 0; i < RF_HASH_HEX_LEN; i++)
            ok &= rf_hex_is_lower(s[i]);
    if (!ok)
        return rf_errf(v->eb, RF_ERR_BAD_INPUT,
                       "%s: field '%s' is not 64 lowercase hex digits (HMAC-SHA256)", v->tname,
                       field);
    return RF_OK;
}

static rf_err_t check_asset(const vctx_t *v, const char *field, const char *s)
{
    rf_err_t err = check_str(v, field, s, RF_ASSET_MAX + 1, true);
    if (err) return err;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || *p == '_'))
            return rf_errf(v->eb, RF_ERR_BAD_INPUT,
                           "%s: field '%s' is not an asset code of [A-Z_] ('%s')", v->tname, field,
                           s);
    return RF_OK;
}

/* Exactly digits lowercase hex digits (key ids, keys, signatures), or empty
 * when not required. */
static rf_err_t check_hex(const vctx_t *v, const char *field, const char *s, size_t cap,
                          size_t digits, bool required)
{
    rf_err_t err = check_str(v, field, s, cap, required);
    if (err || s[0] == '\0') return err;
    unsigned ok = strnlen(s, cap) == digits;
    for (size_t i = 0; ok && i < digits; i++)
        ok &= rf_hex_is_lower(s[i]);
    if (!ok)
        return rf_errf(v->eb, RF_ERR_BAD_INPUT, "%s: field '%s' is not %zu lowercase hex digits",
                       v->tname, field, digits);
    return RF_OK;
}

static bool uuid_text(const char *s)
{
    unsigned ok = 1;
    for (int i = 0; i < RF_UUID_STR_LEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        ok &= dash ? s[i] == '-' : rf_hex_is_digit(s[i]);
    }
    return ok && s[RF_UUID_STR_LEN] == '\0';
}

/* Amount rule per type: min_sign 0 allows zero, 1 requires > 0, 2 requires != 0. */
static rf_err_t check_amount(const vctx_t *v, int64_t a, int rule)
{
    if (rule == 0 && a < 0)
        return rf_errf(v->eb, RF_ERR_BAD_INPUT,
                       "%s: field 'amount_minor' is negative (%" PRId64 ")", v->tname, a);
    if (rule == 1 && a <= 0)
        return rf_errf(v->eb, RF_ERR_BAD_INPUT,
                       "%s: field 'amount_minor' must be positive (%" PRId64 ")", v->tname, a);
    if (rule == 2 && a == 0)
        return rf_errf(v->eb, RF_ERR_BAD_INPUT, "%s: field 'amount_minor' must not be zero",
                       v->tname);
    if (a > RF_AMOUNT_MAX || a < -RF_AMOUNT_MAX)
        return rf_errf(v->eb, RF_ERR_BAD_INPUT,
                       "%s: field 'amount_minor' is out of range (%" PRId64 ", max |%lld|)",
                       v->tname, a, RF_AMOUNT_MAX);
    return RF_OK;
}

static rf_err_t validate_envelope(const vctx_t *v, const rf_event_t *ev)
{
    rf_err_t err = check_str(v, "event_id", ev->event_id, sizeof ev->event_id, true);
    if (err) return err;
    if (!uuid_text(ev->event_id))
        return rf_errf(v->eb, RF_ERR_BAD_INPUT, "%s: field 'event_id' is not a UUID ('%s')",
                       v->tname, ev->event_id);
    if ((err = check_str(v, "program_id", ev->program_id, sizeof ev->program_id, true))) return err;
    if (ev->occurred_at_ms <= 0)
        return rf_errf(v->eb, RF_ERR_BAD_INPUT,
                       "%s: field 'occurred_at' must be positive ms since the epoch (%" PRId64 ")",
                       v->tname, ev->occurred_at_ms);
    if ((err = check_str(v, "source", ev->source, sizeof ev->source, false))) return err;
    if ((err = check_hex(v, "auth_key_id", ev->auth_key_id, sizeof ev->auth_key_id,
                         RF_SIGN_KEY_ID_LEN, false)))
        return err;
    if ((err = check_hex(v, "auth_signature", ev->auth_sig, sizeof ev->auth_sig,
                         2 * RF_SIGN_SIG_LEN, false)))
        return err;
    if (!ev->auth_key_id[0] != !ev->auth_sig[0])
        return rf_errf(v->eb, RF_ERR_BAD_INPUT,
                       "%s: fields 'auth_key_id' and 'auth_signature' go together", v->tname);
    return RF_OK;
}

/* The fields every type may carry but none requires; checked for every type
 * so that nothing malformed is stored, whatever the type. */
static rf_err_t validate_optional(const vctx_t *v, const rf_event_t *ev)
{
    rf_err_t err;
#define OPT(f)                                                                                     \
    if ((err = check_str(v, #f, ev->f, sizeof ev->f, false))) return err
    OPT(user);
    OPT(referrer);
    OPT(code);
    OPT(visitor);
    OPT(channel);
    OPT(order_id);
    OPT(request_id);
    OPT(reviewer);
    OPT(actor);
    OPT(reason);
    OPT(rules_json);
    OPT(scopes);
#undef OPT
    if ((err = check_hash(v, "ip_hash", ev->ip_hash))) return err;
    if ((err = check_hash(v, "agent_hash", ev->agent_hash))) return err;
    if ((err = check_hash(v, "email_hash", ev->email_hash))) return err;
    if ((err = check_hash(v, "device_hash", ev->device_hash))) return err;
    return check_hash(v, "payment_hash", ev->payment_hash);
}

#define REQ(f)                                                                                     \
    do {                                                                                           \
        if ((err = check_str(v, #f, ev->f, sizeof ev->f, true))) return err;                       \
    } while (0)

static rf_err_t validate_body(const vctx_t *v, const rf_event_t *ev)
{
    rf_err_t err = RF_OK;
    switch (ev->type) {
    case RF_EV_PROGRAM_CONFIGURED:
        if (ev->version < 1)
            return rf_errf(v->eb, RF_ERR_BAD_INPUT,
                           "%s: field 'version' must be >= 1 (%" PRId32 ")", v->tname, ev->version);
        REQ(rules_json);
        return RF_OK;
    case RF_EV_CODE_ISSUED:
        REQ(referrer);
        /* code may be empty: the fold then derives the referrer's stable code
         * (the same as `refold code`), docs/programs.md */
        return RF_OK;
    case RF_EV_SHARE:
        REQ(referrer);
        REQ(channel);
        return RF_OK;
    case RF_EV_CLICK:
        REQ(code);
        REQ(visitor);
        return RF_OK;
    case RF_EV_SIGNUP:
        REQ(user);
        return RF_OK;
    case RF_EV_PURCHASE:
        REQ(order_id);
        REQ(user);
        if ((err = check_amount(v, ev->amount_minor, 0))) return err;
        return check_asset(v, "currency", ev->asset);
    case RF_EV_REFUND:
        REQ(order_id);
        if ((err = check_amount(v, ev->amount_minor, 1))) return err;
        return check_asset(v, "currency", ev->asset);
    case RF_EV_REDEMPTION:
        REQ(user);
        REQ(request_id);
        if ((err = check_amount(v, ev->amount_minor, 1))) return err;
        return check_asset(v, "asset", ev->asset);
    case RF_EV_REVIEW_DECISION:
        REQ(user);
        REQ(reviewer);
        return RF_OK;
    case RF_EV_ADJUSTMENT:
        REQ(user);
        REQ(reason);
        REQ(actor);
        if ((err = check_amount(v, ev->amount_minor, 2))) return err;
        return check_asset(v, "asset", ev->asset);
    case RF_EV_CLOCK:
        return RF_OK;
    case RF_EV_KEY_REGISTERED:
        REQ(scopes);
        if ((err = check_hex(v, "public_key", ev->public_key, sizeof ev->public_key,
                             2 * RF_SIGN_PUB_LEN, true)))
            return err;
        return check_hex(v, "key_id", ev->key_id, sizeof ev->key_id, RF_SIGN_KEY_ID_LEN, true);
    case RF_EV_KEY_REVOKED:
        return check_hex(v, "key_id", ev->key_id, sizeof ev->key_id, RF_SIGN_KEY_ID_LEN, true);
    case RF_EV__COUNT:
        break;
    }
    return rf_errf(v->eb, RF_ERR_BAD_INPUT, "event: unknown type %d", (int)ev->type);
}
#undef REQ

static rf_err_t validate(const rf_event_t *ev, rf_errbuf_t *eb, bool strings_checked)
{
    RF_ASSERT(ev != NULL);
    if ((unsigned)ev->type >= RF_EV__COUNT)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "event: unknown type %d", (int)ev->type);
    vctx_t v = {type_snake[ev->type], eb, strings_checked};
    rf_err_t err = validate_envelope(&v, ev);
    if (!err) err = validate_optional(&v, ev);
    if (!err) err = validate_body(&v, ev);
    /* key fields belong to key events only: elsewhere they must be empty */
    if (!err && ev->type != RF_EV_KEY_REGISTERED && (ev->public_key[0] || ev->scopes[0]))
        err = rf_errf(eb, RF_ERR_BAD_INPUT,
                      "%s: fields 'public_key' and 'scopes' are for key events", v.tname);
    if (!err && ev->type != RF_EV_KEY_REGISTERED && ev->type != RF_EV_KEY_REVOKED && ev->key_id[0])
        err = rf_errf(eb, RF_ERR_BAD_INPUT, "%s: field 'key_id' is for key events", v.tname);
    /* The asset buffer is shared by the types that have one; others must
     * leave it empty or well formed. */
    if (!err && ev->asset[0] != '\0') err = check_asset(&v, "asset", ev->asset);
    return err;
}

rf_err_t rf_event_validate(const rf_event_t *ev, rf_errbuf_t *eb)
{
    return validate(ev, eb, false);
}

rf_err_t rf__event_validate_decoded(const rf_event_t *ev, rf_errbuf_t *eb)
{
    return validate(ev, eb, true);
}

/* ---- ledger records ---- */

static const char *const bucket_names[RF_BUCKET__COUNT] = {
    "pending", "available", "redeemed", "receivable", "expense", "adjustment",
};

const char *rf_bucket_name(rf_bucket_t b)
{
    if ((unsigned)b >= RF_BUCKET__COUNT) return "unknown";
    return bucket_names[b];
}

int rf_bucket_parse(const char *name)
{
    if (!name) return -1;
    for (int i = 0; i < RF_BUCKET__COUNT; i++)
        if (strcmp(name, bucket_names[i]) == 0) return i;
    return -1;
}

void rf_record_clear(rf_record_t *rec)
{
    RF_ASSERT(rec != NULL);
    /* Fixed-size and small enough (about 6 KiB) to clear whole: records are
     * hashed, so no stale byte may survive in a reused struct. */
    memset(rec, 0, sizeof *rec);
}

void rf_record_fact(rf_record_t *rec, const char *key, const char *value)
{
    RF_ASSERT(rec != NULL && key != NULL && value != NULL);
    RF_ASSERT(rec->nfacts < RF_FACTS_MAX);
    rf_fact_t *f = &rec->facts[rec->nfacts++];
    /* Keys are the code's constants: one that does not fit is a bug. */
    RF_ASSERT(rf_strlcpy(f->key, key, sizeof f->key) == RF_OK);
    /* Documented truncation, at a character boundary: half a UTF-8 sequence
     * would make the record unencodable (the codec refuses invalid UTF-8). */
    size_t n = strnlen(value, RF_FACT_VAL_MAX + 1);
    if (n > RF_FACT_VAL_MAX) {
        n = RF_FACT_VAL_MAX;
        while (n > 0 && ((unsigned char)value[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(f->value, value, n);
    f->value[n] = '\0';
}

void rf_record_factf(rf_record_t *rec, const char *key, const char *fmt, ...)
{
    char buf[4 * (RF_FACT_VAL_MAX + 1)]; /* rf_record_fact truncates, at a boundary */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    rf_record_fact(rec, key, buf);
}

const char *rf_record_get_fact(const rf_record_t *rec, const char *key)
{
    RF_ASSERT(rec != NULL && key != NULL);
    RF_ASSERT(rec->nfacts <= RF_FACTS_MAX);
    for (uint32_t i = 0; i < rec->nfacts; i++)
        if (strcmp(rec->facts[i].key, key) == 0) return rec->facts[i].value;
    return NULL;
}

void rf_record_post(rf_record_t *rec, const char *owner, rf_bucket_t bucket, const char *asset,
                    int64_t amount_minor)
{
    RF_ASSERT(rec != NULL && owner != NULL && asset != NULL);
    RF_ASSERT(rec->npostings < RF_POSTINGS_MAX && (unsigned)bucket < RF_BUCKET__COUNT);
    rf_posting_t *p = &rec->postings[rec->npostings++];
    /* Owners and assets come from validated events: a misfit is a bug. */
    RF_ASSERT(rf_strlcpy(p->owner, owner, sizeof p->owner) == RF_OK);
    RF_ASSERT(rf_strlcpy(p->asset, asset, sizeof p->asset) == RF_OK);
    p->bucket = (uint8_t)bucket;
    p->amount_minor = amount_minor;
}

bool rf_record_balanced(const rf_record_t *rec)
{
    RF_ASSERT(rec != NULL);
    if (rec->npostings > RF_POSTINGS_MAX) return false;
    /* Sum per asset: for each first occurrence of an asset, add up every
     * posting in it (at most 16 x 16 comparisons). */
    for (uint32_t i = 0; i < rec->npostings; i++) {
        const char *asset = rec->postings[i].asset;
        bool seen = false;
        for (uint32_t j = 0; j < i && !seen; j++)
            seen = strcmp(rec->postings[j].asset, asset) == 0;
        if (seen) continue;
        int64_t sum = 0;
        for (uint32_t j = i; j < rec->npostings; j++) {
            if (strcmp(rec->postings[j].asset, asset) != 0) continue;
            if (__builtin_add_overflow(sum, rec->postings[j].amount_minor, &sum)) return false;
        }
        if (sum != 0) return false;
    }
    return true;
}

/* ---- structural checks of records (codec) ---- */

static rf_err_t check_posting(const vctx_t *v, const rf_posting_t *p)
{
    rf_err_t err = check_str(v, "owner", p->owner, sizeof p->owner, true);
    if (!err) err = check_asset(v, "asset", p->asset);
    if (err) return err;
    if (p->bucket >= RF_BUCKET__COUNT)
        return rf_errf(v->eb, RF_ERR_BAD_INPUT, "%s: bucket %u is unknown", v->tname, p->bucket);
    if (p->amount_minor > RF_AMOUNT_MAX || p->amount_minor < -RF_AMOUNT_MAX)
        return rf_errf(v->eb, RF_ERR_BAD_INPUT, "%s: amount %" PRId64 " is out of range", v->tname,
                       p->amount_minor);
    return RF_OK;
}

rf_err_t rf__record_validate(const rf_record_t *rec, rf_errbuf_t *eb)
{
    RF_ASSERT(rec != NULL);
    vctx_t v = {"record", eb, false};
    if (rec->seq < 1 || rec->seq > INT64_MAX)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "record: field 'seq' out of range (%" PRIu64 ")",
                       rec->seq);
    rf_err_t err = check_str(&v, "event_id", rec->event_id, sizeof rec->event_id, false);
    if (!err) err = check_str(&v, "program_id", rec->program_id, sizeof rec->program_id, true);
    if (!err) err = check_str(&v, "kind", rec->kind, sizeof rec->kind, true);
    if (err) return err;
    if (rec->npostings > RF_POSTINGS_MAX || rec->nfacts > RF_FACTS_MAX)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "record: %u postings / %u facts exceed %d / %d",
                       rec->npostings, rec->nfacts, RF_POSTINGS_MAX, RF_FACTS_MAX);
    v.tname = "posting";
    for (uint32_t i = 0; i < rec->npostings; i++)
        if ((err = check_posting(&v, &rec->postings[i]))) return err;
    v.tname = "fact";
    for (uint32_t i = 0; i < rec->nfacts; i++) {
        const rf_fact_t *f = &rec->facts[i];
        if ((err = check_str(&v, "key", f->key, sizeof f->key, true))) return err;
        if ((err = check_str(&v, "value", f->value, sizeof f->value, false))) return err;
    }
    return RF_OK;
}
