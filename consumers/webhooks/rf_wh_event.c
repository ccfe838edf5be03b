/* rf_wh_event.c: which ledger records become which webhook event types, and
 * their payloads: compact JSON with a fixed key order (docs/webhooks.md). */
#include <stdio.h>
#include <string.h>

#include "rf_fold.h"
#include "rf_hex.h"
#include "rf_rules.h"
#include "rf_time.h"
#include "rf_webhooks.h"

static const char *fact(const rf_record_t *rec, const char *key)
{
    return rf_record_get_fact(rec, key);
}

static bool fact_is(const rf_record_t *rec, const char *key, const char *value)
{
    const char *v = fact(rec, key);
    return v && strcmp(v, value) == 0;
}

/* Signups, and purchases of guests attributed by their code: who referred
 * whom, or whose referral the rules or fraud checks refused. */
static int referral_type(const rf_record_t *rec, bool purchase)
{
    const char *checks = fact(rec, RF_FACT_CHECKS);
    if (purchase && fact_is(rec, RF_FACT_REFERRED, "1") && checks && strstr(checks, "fail:reject"))
        return RF_WH_REFERRAL_REFUSED; /* the checks at the purchase rejected the referral */
    if (fact(rec, RF_FACT_REFUSED_REFERRER)) return RF_WH_REFERRAL_REFUSED;
    const char *how = fact(rec, RF_FACT_ATTRIBUTION);
    if (!fact_is(rec, RF_FACT_REFERRED, "1") || !how) return -1;
    if (purchase ? strcmp(how, "purchase_code") != 0 : strcmp(how, "existing") == 0) return -1;
    return RF_WH_REFERRAL_ATTRIBUTED;
}

int rf_wh_record_type(const rf_record_t *rec)
{
    const char *k = rec->kind;
    if (!strcmp(k, RF_KIND_REWARD)) return RF_WH_REWARD_CREATED;
    if (!strcmp(k, RF_KIND_MATURED)) return RF_WH_REWARD_AVAILABLE;
    if (!strcmp(k, RF_KIND_VOID)) return RF_WH_REWARD_VOIDED;
    if (!strcmp(k, RF_KIND_CLAWBACK)) return RF_WH_REWARD_CLAWED_BACK;
    if (!strcmp(k, RF_KIND_REDEMPTION)) return RF_WH_REDEMPTION_APPLIED;
    if (!strcmp(k, RF_KIND_PROGRAM)) return RF_WH_PROGRAM_CONFIGURED;
    if (!strcmp(k, RF_KIND_REJECTED))
        return fact_is(rec, RF_FACT_TYPE, "Redemption") ? RF_WH_REDEMPTION_REJECTED : -1;
    if (!strcmp(k, RF_KIND_REVIEW)) {
        if (fact_is(rec, RF_FACT_STATUS, "held")) return RF_WH_REVIEW_REQUIRED;
        if (fact_is(rec, RF_FACT_STATUS, "rejected")) return RF_WH_REFERRAL_REFUSED;
        return -1;
    }
    if (!strcmp(k, RF_KIND_SIGNUP)) return referral_type(rec, false);
    if (!strcmp(k, RF_KIND_PURCHASE)) return referral_type(rec, true);
    return -1;
}

void rf_wh_msg_id(int32_t partition, uint64_t seq, char out[RF_WH_MSGID_BUF])
{
    snprintf(out, RF_WH_MSGID_BUF, "msg_%d_%llu", (int)partition, (unsigned long long)seq);
}

uint64_t rf_wh_order_key(const rf_record_t *rec)
{
    const char *u = fact(rec, RF_FACT_USER);
    char buf[2 * RF_ID_BUF + 1];
    int n = snprintf(buf, sizeof buf, "%s/%s", rec->program_id, u ? u : "");
    return rf_hash64(buf, (size_t)(n > 0 ? n : 0));
}

/* ---- a small JSON writer: fixed key order, bounded buffer ---- */

typedef struct jw {
    char *p;
    size_t cap, n;
    bool over;
} jw_t;

static void jw_raw(jw_t *w, const char *s, size_t n)
{
    if (w->over || w->n + n >= w->cap) {
        w->over = true;
        return;
    }
    memcpy(w->p + w->n, s, n);
    w->n += n;
}

static void jw_cstr(jw_t *w, const char *s)
{
    jw_raw(w, s, strlen(s));
}

static void jw_str(jw_t *w, const char *s)
{
    jw_raw(w, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        char esc[8];
        if (*c == '"' || *c == '\\') {
            esc[0] = '\\', esc[1] = (char)*c;
            jw_raw(w, esc, 2);
        } else if (*c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *c);
            jw_raw(w, esc, 6);
        } else {
            jw_raw(w, (const char *)c, 1);
        }
    }
    jw_raw(w, "\"", 1);
}

static void jw_key(jw_t *w, const char *k)
{
    if (w->n > 0 && w->p[w->n - 1] != '{') jw_raw(w, ",", 1);
    jw_str(w, k);
    jw_raw(w, ":", 1);
}

static void jw_kstr(jw_t *w, const char *k, const char *v)
{
    jw_key(w, k);
    if (v)
        jw_str(w, v);
    else
        jw_cstr(w, "null");
}

static void jw_kint(jw_t *w, const char *k, int64_t v)
{
    char b[32];
    jw_key(w, k);
    jw_raw(w, b, (size_t)snprintf(b, sizeof b, "%lld", (long long)v));
}

/* An integer fact as a JSON number (null when absent or not an integer). */
static void jw_kfint(jw_t *w, const char *k, const rf_record_t *rec, const char *f)
{
    const char *v = fact(rec, f);
    int64_t x;
    if (v && rf_parse_i64(v, INT64_MIN, INT64_MAX, &x, f, NULL) == RF_OK)
        jw_kint(w, k, x);
    else
        jw_kstr(w, k, NULL);
}

/* A Unix-milliseconds fact as RFC 3339 (null when absent or 0). */
static void jw_kftime(jw_t *w, const char *k, const rf_record_t *rec, const char *f)
{
    const char *v = fact(rec, f);
    int64_t x;
    char t[RF_TIME_BUF];
    if (v && rf_parse_i64(v, 1, INT64_MAX, &x, f, NULL) == RF_OK && rf_time_format(x, t) > 0)
        jw_kstr(w, k, t);
    else
        jw_kstr(w, k, NULL);
}

static void jw_kfstr(jw_t *w, const char *k, const rf_record_t *rec, const char *f)
{
    jw_kstr(w, k, fact(rec, f));
}

/* ---- data per type ---- */

static void reward_common(jw_t *w, const rf_record_t *r)
{
    jw_kfstr(w, "reward_id", r, RF_FACT_REWARD_ID);
    jw_kfstr(w, "user", r, RF_FACT_USER);
    jw_kfstr(w, "role", r, RF_FACT_ROLE);
    jw_kfstr(w, "referrer", r, RF_FACT_REFERRER);
    jw_kfstr(w, "friend", r, RF_FACT_FRIEND);
    jw_kfint(w, "amount_minor", r, RF_FACT_AMOUNT_MINOR);
    jw_kfstr(w, "asset", r, RF_FACT_ASSET);
}

static void data_reward(jw_t *w, const rf_record_t *r, rf_wh_type_t t)
{
    reward_common(w, r);
    if (t == RF_WH_REWARD_CREATED) {
        jw_kfstr(w, "order", r, RF_FACT_ORDER);
        jw_kfstr(w, "reward_type", r, RF_FACT_REWARD_TYPE);
        jw_kftime(w, "hold_until", r, RF_FACT_HOLD_UNTIL);
        jw_kfstr(w, "coupon", r, RF_FACT_COUPON);
        jw_kfstr(w, "sku", r, RF_FACT_SKU);
        jw_kfint(w, "tier", r, RF_FACT_TIER);
        jw_kfint(w, "milestone", r, RF_FACT_MILESTONE);
        jw_kfint(w, "successful_referrals", r, RF_FACT_SUCCESSFUL);
        jw_kfstr(w, "cap", r, RF_FACT_CAP);
        jw_key(w, "in_review");
        jw_cstr(w, fact_is(r, RF_FACT_REVIEW, "held") ? "true" : "false");
        jw_kfint(w, "rule_version", r, RF_FACT_RULE_VERSION);
    } else if (t == RF_WH_REWARD_AVAILABLE) {
        jw_kftime(w, "hold_until", r, RF_FACT_HOLD_UNTIL);
    } else { /* voided, clawed back */
        jw_kfstr(w, "order", r, RF_FACT_ORDER);
        jw_kfstr(w, "reason", r, RF_FACT_REASON);
        jw_kfint(w, "reverses_seq", r, RF_FACT_REVERSES);
        if (t == RF_WH_REWARD_CLAWED_BACK) {
            const char *rv = fact(r, "receivable");
            if (rv)
                jw_kfint(w, "receivable_minor", r, "receivable");
            else
                jw_kint(w, "receivable_minor", 0);
        }
    }
}

static const char *stage(const rf_record_t *r)
{
    return !strcmp(r->kind, RF_KIND_REVIEW)     ? "review"
           : !strcmp(r->kind, RF_KIND_PURCHASE) ? "purchase"
                                                : "signup";
}

static void data_referral(jw_t *w, const rf_record_t *r, rf_wh_type_t t)
{
    const char *ref = fact(r, RF_FACT_REFUSED_REFERRER);
    const char *checks = fact(r, RF_FACT_CHECKS);
    if (!checks) checks = fact(r, "signup_checks");
    jw_kfstr(w, "friend", r, RF_FACT_USER);
    jw_kstr(w, "referrer", t == RF_WH_REFERRAL_REFUSED && ref ? ref : fact(r, RF_FACT_REFERRER));
    jw_kstr(w, "stage", stage(r));
    jw_kfstr(w, "code", r, RF_FACT_CODE);
    jw_kfstr(w, "attribution", r, RF_FACT_ATTRIBUTION);
    jw_kstr(w, "checks", checks);
    jw_kfstr(w, "reason", r, RF_FACT_REASON);
}

static void data_redemption(jw_t *w, const rf_record_t *r, rf_wh_type_t t)
{
    jw_kfstr(w, "user", r, RF_FACT_USER);
    jw_kfstr(w, "request_id", r, RF_FACT_REQUEST);
    if (t == RF_WH_REDEMPTION_REJECTED) {
        jw_kfstr(w, "reason", r, RF_FACT_REASON);
        return;
    }
    int64_t amount = 0;
    const char *asset = NULL;
    for (uint32_t i = 0; i < r->npostings; i++)
        if (r->postings[i].bucket == RF_BUCKET_REDEEMED) {
            amount = r->postings[i].amount_minor;
            asset = r->postings[i].asset;
        }
    jw_kint(w, "amount_minor", amount);
    jw_kstr(w, "asset", asset);
}

static void data_of(jw_t *w, const rf_record_t *r, rf_wh_type_t t)
{
    jw_kstr(w, "program", r->program_id);
    switch (t) {
    case RF_WH_REWARD_CREATED:
    case RF_WH_REWARD_AVAILABLE:
    case RF_WH_REWARD_VOIDED:
    case RF_WH_REWARD_CLAWED_BACK:
        data_reward(w, r, t);
        break;
    case RF_WH_REFERRAL_ATTRIBUTED:
    case RF_WH_REFERRAL_REFUSED:
        data_referral(w, r, t);
        break;
    case RF_WH_REDEMPTION_APPLIED:
    case RF_WH_REDEMPTION_REJECTED:
        data_redemption(w, r, t);
        break;
    case RF_WH_REVIEW_REQUIRED:
        jw_kfstr(w, "user", r, RF_FACT_USER);
        jw_kfstr(w, "referrer", r, RF_FACT_REFERRER);
        jw_kfstr(w, "reason", r, RF_FACT_REASON);
        jw_kfstr(w, "checks", r, RF_FACT_CHECKS);
        break;
    case RF_WH_PROGRAM_CONFIGURED:
        jw_kfstr(w, "name", r, "name");
        jw_kfstr(w, "currency", r, RF_FACT_CURRENCY);
        jw_kfint(w, "rule_version", r, RF_FACT_RULE_VERSION);
        break;
    default:
        RF_ASSERT(0 && "unknown webhook type");
    }
}

rf_err_t rf_wh_payload(const rf_record_t *rec, rf_wh_type_t t, char *out, size_t cap, size_t *len,
                       rf_errbuf_t *eb)
{
    RF_ASSERT(t >= 0 && t < RF_WH__TYPES && cap > 0);
    jw_t w = {out, cap, 0, false};
    char ts[RF_TIME_BUF], hash[65];
    rf_time_format(rec->occurred_at_ms, ts);
    rf_hex(rec->hash, 32, hash);
    jw_raw(&w, "{", 1);
    jw_kstr(&w, "type", rf_wh_type_name(t));
    jw_kstr(&w, "timestamp", ts);
    jw_key(&w, "data");
    jw_raw(&w, "{", 1);
    data_of(&w, rec, t);
    jw_raw(&w, "}", 1);
    jw_key(&w, "ledger");
    jw_raw(&w, "{", 1);
    jw_kstr(&w, "program", rec->program_id);
    jw_kint(&w, "partition", rec->partition);
    jw_kint(&w, "seq", (int64_t)rec->seq);
    jw_kstr(&w, "hash", hash);
    jw_kint(&w, "offset", rec->offset);
    jw_kstr(&w, "event_id", rec->event_id);
    jw_kstr(&w, "kind", rec->kind);
    jw_kint(&w, "event_time_ms", rec->occurred_at_ms);
    jw_raw(&w, "}}", 2);
    if (w.over)
        return rf_errf(eb, RF_ERR_OVERSIZE, "payload of seq %llu larger than %zu bytes",
                       (unsigned long long)rec->seq, cap);
    out[w.n] = '\0';
    *len = w.n;
    return RF_OK;
}
