/* rf_explain.c: why a user did or did not get each reward, read from the
 * fold ledgers (`refold explain`, the dashboard's user lookup): one sentence
 * per record that names the user, a tally, the user's balances. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_explain.h"
#include "rf_fold.h"
#include "rf_rules.h"
#include "rf_time.h"

typedef rf_explain_t explain_t;
typedef rf_explain_totals_t totals_t;
#define EXPLAIN_ASSETS RF_EXPLAIN_ASSETS

static const char *fact(const rf_record_t *rec, const char *key)
{
    const char *v = rf_record_get_fact(rec, key);
    return v ? v : "";
}

/* An integer fact (amounts, times the fold wrote), 0 when absent. */
static int64_t fact_i64(const rf_record_t *rec, const char *key)
{
    int64_t v = 0;
    return rf_parse_i64(fact(rec, key), INT64_MIN, INT64_MAX, &v, key, NULL) == RF_OK ? v : 0;
}

static int fact_is(const rf_record_t *rec, const char *key, const char *value)
{
    const char *v = rf_record_get_fact(rec, key);
    return v && strcmp(v, value) == 0;
}

static void fmt_time(int64_t ms, char out[RF_TIME_BUF])
{
    if (ms < 0)
        snprintf(out, RF_TIME_BUF, "%lld", (long long)ms);
    else
        rf_time_format(ms, out);
}

static int names_user(const rf_record_t *rec, const char *user)
{
    static const char *const keys[] = {RF_FACT_USER, RF_FACT_REFERRER, RF_FACT_FRIEND,
                                       RF_FACT_REFUSED_REFERRER};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (fact_is(rec, keys[i], user)) return 1;
    for (uint32_t i = 0; i < rec->npostings; i++)
        if (!strcmp(rec->postings[i].owner, user)) return 1;
    return 0;
}

static totals_t *totals_for(explain_t *x, const char *asset)
{
    for (uint32_t i = 0; i < x->nassets; i++)
        if (!strcmp(x->t[i].asset, asset)) return &x->t[i];
    if (x->nassets == EXPLAIN_ASSETS) return NULL;
    totals_t *t = &x->t[x->nassets++];
    memset(t, 0, sizeof *t);
    rf_strlcpy(t->asset, asset, sizeof t->asset);
    return t;
}

static void explain_signup(const rf_record_t *rec, const char *user, char *o, size_t cap)
{
    const char *checks = fact(rec, RF_FACT_CHECKS), *reason = fact(rec, RF_FACT_REASON);
    int mine = fact_is(rec, RF_FACT_USER, user), referred = fact_is(rec, RF_FACT_REFERRED, "1");
    const char *who = mine ? "signed up" : fact(rec, RF_FACT_USER);
    if (referred)
        snprintf(o, cap, "%s%s: referred by %s (attribution %s%s%s)%s%s", mine ? "" : "friend ",
                 who, fact(rec, RF_FACT_REFERRER), fact(rec, RF_FACT_ATTRIBUTION),
                 *fact(rec, RF_FACT_CODE) ? ", code " : "", fact(rec, RF_FACT_CODE),
                 *checks ? "; checks " : "", checks);
    else if (*fact(rec, RF_FACT_REFUSED_REFERRER))
        snprintf(o, cap, "%s%s: NOT referred: attribution to %s refused: %s%s%s",
                 mine ? "" : "friend ", who, fact(rec, RF_FACT_REFUSED_REFERRER), reason,
                 *checks ? "; checks " : "", checks);
    else
        snprintf(o, cap, "%s: not referred%s%s", who, *reason ? ": " : "", reason);
}

static void explain_reward(const rf_record_t *rec, char *o, size_t cap)
{
    char until[RF_TIME_BUF];
    fmt_time(fact_i64(rec, RF_FACT_HOLD_UNTIL), until);
    const char *review = fact_is(rec, RF_FACT_REVIEW, "held") ? " (held: referral in review)" : "";
    const char *capf = fact(rec, RF_FACT_CAP);
    int n = snprintf(o, cap, "%s reward %s %s %s to %s for %s's order %s, rule v%s",
                     fact(rec, RF_FACT_ROLE), fact(rec, RF_FACT_REWARD_TYPE),
                     fact(rec, RF_FACT_AMOUNT_MINOR), fact(rec, RF_FACT_ASSET),
                     fact(rec, RF_FACT_USER), fact(rec, RF_FACT_FRIEND), fact(rec, RF_FACT_ORDER),
                     fact(rec, RF_FACT_RULE_VERSION));
    if (n < 0 || (size_t)n >= cap) return;
    size_t m = (size_t)n;
    if (*fact(rec, RF_FACT_TIER))
        m += (size_t)snprintf(o + m, cap - m, ", tier %s", fact(rec, RF_FACT_TIER));
    if (m < cap && *fact(rec, RF_FACT_MILESTONE))
        m += (size_t)snprintf(o + m, cap - m, ", milestone %s", fact(rec, RF_FACT_MILESTONE));
    if (m < cap && *fact(rec, RF_FACT_COUPON))
        m += (size_t)snprintf(o + m, cap - m, ", coupon %s", fact(rec, RF_FACT_COUPON));
    if (m < cap && *fact(rec, RF_FACT_SKU))
        m += (size_t)snprintf(o + m, cap - m, ", sku %s", fact(rec, RF_FACT_SKU));
    if (m < cap && *capf) m += (size_t)snprintf(o + m, cap - m, ", reduced by cap %s", capf);
    if (m < cap) snprintf(o + m, cap - m, "; pending until %s%s", until, review);
}

/* One sentence on what a record decided. */
static void explain_text(const rf_record_t *rec, const char *user, char *o, size_t cap)
{
    const char *k = rec->kind, *reason = fact(rec, RF_FACT_REASON);
    if (!strcmp(k, RF_KIND_SIGNUP))
        explain_signup(rec, user, o, cap);
    else if (!strcmp(k, RF_KIND_REWARD))
        explain_reward(rec, o, cap);
    else if (!strcmp(k, RF_KIND_CODE))
        snprintf(o, cap, "code %s issued to %s%s", fact(rec, RF_FACT_CODE),
                 fact(rec, RF_FACT_REFERRER),
                 fact_is(rec, RF_FACT_DERIVED, "1") ? " (derived)" : "");
    else if (!strcmp(k, RF_KIND_PURCHASE))
        snprintf(o, cap, "purchase by %s, order %s, %s %s: %s%s%s%s%s%s", fact(rec, RF_FACT_USER),
                 fact(rec, RF_FACT_ORDER), fact(rec, RF_FACT_AMOUNT), fact(rec, RF_FACT_CURRENCY),
                 fact_is(rec, RF_FACT_QUALIFIED, "1") ? "qualified the referral"
                                                      : "does not qualify",
                 *reason ? " (" : "", reason, *reason ? ")" : "",
                 *fact(rec, RF_FACT_CHECKS) ? "; checks " : "", fact(rec, RF_FACT_CHECKS));
    else if (!strcmp(k, RF_KIND_REWARD_REFUSED))
        snprintf(o, cap, "%s reward of %s %s for %s's order %s REFUSED: %s%s",
                 fact(rec, RF_FACT_ROLE), fact(rec, RF_FACT_AMOUNT_MINOR), fact(rec, RF_FACT_ASSET),
                 fact(rec, RF_FACT_FRIEND), fact(rec, RF_FACT_ORDER),
                 !strcmp(reason, "cap") ? "cap " : reason,
                 !strcmp(reason, "cap") ? fact(rec, RF_FACT_CAP) : "");
    else if (!strcmp(k, RF_KIND_MATURED))
        snprintf(o, cap, "%s reward matured: %s %s available to %s", fact(rec, RF_FACT_ROLE),
                 fact(rec, RF_FACT_AMOUNT_MINOR), fact(rec, RF_FACT_ASSET),
                 fact(rec, RF_FACT_USER));
    else if (!strcmp(k, RF_KIND_VOID) || !strcmp(k, RF_KIND_CLAWBACK))
        snprintf(o, cap, "%s reward %s (%s): %s %s of reward record %s%s%s",
                 fact(rec, RF_FACT_ROLE), strcmp(k, RF_KIND_VOID) ? "clawed back" : "voided",
                 reason, fact(rec, RF_FACT_AMOUNT_MINOR), fact(rec, RF_FACT_ASSET),
                 fact(rec, RF_FACT_REVERSES), *fact(rec, "receivable") ? ", now owed: " : "",
                 fact(rec, "receivable"));
    else if (!strcmp(k, RF_KIND_REVIEW))
        snprintf(o, cap, "referral of %s %s%s%s%s%s", fact(rec, RF_FACT_FRIEND),
                 fact_is(rec, RF_FACT_STATUS, "held") ? "held for review"
                                                      : fact(rec, RF_FACT_STATUS),
                 *reason ? ": " : "", reason, *fact(rec, RF_FACT_ACTOR) ? " by " : "",
                 fact(rec, RF_FACT_ACTOR));
    else if (!strcmp(k, RF_KIND_REFUND))
        snprintf(o, cap, "order %s of %s refunded %s (total %s of %s)%s", fact(rec, RF_FACT_ORDER),
                 fact(rec, RF_FACT_USER), fact(rec, RF_FACT_AMOUNT_MINOR),
                 fact(rec, RF_FACT_REFUNDED), fact(rec, RF_FACT_AMOUNT),
                 fact_is(rec, RF_FACT_QUALIFIED, "0") ? "; the referral no longer counts" : "");
    else if (!strcmp(k, RF_KIND_CLICK))
        snprintf(o, cap, "click on code %s of %s", fact(rec, RF_FACT_CODE),
                 fact(rec, RF_FACT_REFERRER));
    else if (!strcmp(k, RF_KIND_REJECTED))
        snprintf(o, cap, "%s event rejected: %s", fact(rec, RF_FACT_TYPE), reason);
    else
        snprintf(o, cap, "%s%s%s", k, *reason ? ": " : "", reason);
}

static void tally(explain_t *x, const rf_record_t *rec)
{
    const char *k = rec->kind;
    if (!strcmp(k, RF_KIND_SIGNUP) && fact_is(rec, RF_FACT_USER, x->user)) {
        int referred = fact_is(rec, RF_FACT_REFERRED, "1");
        rf_strlcpy(x->referred_buf, referred ? fact(rec, RF_FACT_REFERRER) : "",
                   sizeof x->referred_buf);
        x->referred_by = x->referred_buf;
        snprintf(x->attribution, sizeof x->attribution, "%s",
                 referred ? fact(rec, RF_FACT_ATTRIBUTION) : fact(rec, RF_FACT_REASON));
    } else if (!strcmp(k, RF_KIND_SIGNUP) || !strcmp(k, RF_KIND_PURCHASE)) {
        /* a referral is counted where it was attributed: a signup, or a guest purchase */
        const char *how = fact(rec, RF_FACT_ATTRIBUTION);
        if (fact_is(rec, RF_FACT_REFERRER, x->user) && fact_is(rec, RF_FACT_REFERRED, "1") &&
            *how && strcmp(how, "existing") != 0)
            x->referrals++;
        if (fact_is(rec, RF_FACT_REFUSED_REFERRER, x->user)) x->referrals_refused++;
    }
    if (!fact_is(rec, RF_FACT_USER, x->user)) return;
    totals_t *t = totals_for(x, fact(rec, RF_FACT_ASSET));
    int64_t a = fact_i64(rec, RF_FACT_AMOUNT_MINOR);
    if (!strcmp(k, RF_KIND_REWARD_REFUSED)) x->refused_rewards++;
    if (!t) return;
    if (!strcmp(k, RF_KIND_REWARD))
        t->posted += a;
    else if (!strcmp(k, RF_KIND_MATURED))
        t->matured += a;
    else if (!strcmp(k, RF_KIND_VOID) || !strcmp(k, RF_KIND_CLAWBACK))
        t->reversed += a;
}

json_t *rf_explain_record_json(const rf_record_t *rec, const char *text)
{
    char when[RF_TIME_BUF];
    fmt_time(rec->occurred_at_ms, when);
    json_t *facts = json_object(), *posts = json_array();
    for (uint32_t i = 0; i < rec->nfacts; i++)
        json_object_set_new(facts, rec->facts[i].key, json_string(rec->facts[i].value));
    for (uint32_t i = 0; i < rec->npostings; i++) {
        const rf_posting_t *p = &rec->postings[i];
        json_array_append_new(posts, json_pack("{s:s, s:s, s:s, s:I}", "owner", p->owner, "bucket",
                                               rf_bucket_name(p->bucket), "asset", p->asset,
                                               "amount_minor", (json_int_t)p->amount_minor));
    }
    return json_pack("{s:i, s:I, s:s, s:s, s:s, s:o, s:o}", "partition", (int)rec->partition, "seq",
                     (json_int_t)rec->seq, "time", when, "kind", rec->kind, "explanation", text,
                     "facts", facts, "postings", posts);
}

typedef struct scan {
    explain_t *x;
    rf_explain_record_cb_t *cb;
    void *opaque;
} scan_t;

static int explain_cb(const rf_record_t *rec, void *opaque)
{
    scan_t *s = opaque;
    explain_t *x = s->x;
    if (strcmp(rec->program_id, x->program) != 0 || !names_user(rec, x->user)) return 0;
    char text[RF_EXPLAIN_TEXT_MAX];
    explain_text(rec, x->user, text, sizeof text);
    tally(x, rec);
    x->matched++;
    return s->cb ? s->cb(rec, text, s->opaque) : 0;
}

typedef struct balances {
    const char *program, *user;
    json_t *arr;
} balances_t;

static int balance_cb(const char *program, const char *owner, const char *asset,
                      const int64_t b[RF_BUCKET__COUNT], void *opaque)
{
    balances_t *bs = opaque;
    if (strcmp(program, bs->program) != 0 || strcmp(owner, bs->user) != 0) return 0;
    json_array_append_new(bs->arr, json_pack("{s:s, s:I, s:I, s:I, s:I}", "asset", asset, "pending",
                                             (json_int_t)b[RF_BUCKET_PENDING], "available",
                                             (json_int_t)b[RF_BUCKET_AVAILABLE], "redeemed",
                                             (json_int_t)b[RF_BUCKET_REDEEMED], "receivable",
                                             (json_int_t)b[RF_BUCKET_RECEIVABLE]));
    return 0;
}

/* Scans one partition's ledger; balances of the user go into bal. */
static rf_err_t explain_partition(scan_t *s, const char *data, int32_t part, json_t *bal,
                                  rf_errbuf_t *eb)
{
    rf_errbuf_t leb = {{0}};
    rf_ledger_t *l = rf_ledger_open(data, part, RF_LEDGER_READONLY, &leb);
    if (!l) return rf_errf(eb, RF_ERR_IO, "cannot open partition %d: %s", (int)part, leb.msg);
    uint64_t before = s->x->matched;
    rf_err_t err = rf_ledger_scan(l, 1, 0, explain_cb, s, &leb);
    balances_t bs = {s->x->program, s->x->user, bal};
    if (!err && s->x->matched > before) err = rf_ledger_scan_balances(l, balance_cb, &bs, &leb);
    rf_ledger_close(l);
    if (err) return rf_errf(eb, err, "partition %d: %s", (int)part, leb.msg);
    return RF_OK;
}

rf_err_t rf_explain_scan(const char *data_dir, rf_explain_t *x, rf_explain_record_cb_t *cb,
                         void *opaque, json_t *balances, rf_errbuf_t *eb)
{
    int32_t parts[RF_PARTITIONS_MAX];
    int n = rf_ledger_list_partitions(data_dir, parts, RF_PARTITIONS_MAX);
    if (n < 0) return rf_errf(eb, RF_ERR_IO, "cannot list ledgers under '%s/fold'", data_dir);
    scan_t s = {x, cb, opaque};
    for (int i = 0; i < n; i++) {
        rf_err_t err = explain_partition(&s, data_dir, parts[i], balances, eb);
        if (err != RF_OK) return err;
    }
    return RF_OK;
}

json_t *rf_explain_summary_json(const rf_explain_t *x, json_t *bal)
{
    json_t *rewards = json_array();
    for (uint32_t i = 0; i < x->nassets; i++)
        if (x->t[i].asset[0])
            json_array_append_new(rewards, json_pack("{s:s, s:I, s:I, s:I}", "asset", x->t[i].asset,
                                                     "posted", (json_int_t)x->t[i].posted,
                                                     "matured", (json_int_t)x->t[i].matured,
                                                     "reversed", (json_int_t)x->t[i].reversed));
    return json_pack("{s:s?, s:s, s:I, s:I, s:I, s:o, s:o}", "referred_by",
                     x->referred_by && x->referred_by[0] ? x->referred_by : NULL, "attribution",
                     x->referred_by ? x->attribution : "no signup folded", "referrals",
                     (json_int_t)x->referrals, "referrals_refused",
                     (json_int_t)x->referrals_refused, "rewards_refused",
                     (json_int_t)x->refused_rewards, "rewards", rewards, "balances", bal);
}
