/* rf_cmd_rules.c: `refold code` (a referrer's derived code) and `refold
 * explain` (why a user did or did not get each reward, from the ledger). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "rf_commands.h"
#include "rf_ledger.h"
#include "rf_opt.h"
#include "rf_cmd_opt.h"
#include "rf_query.h"
#include "rf_rules.h"
#include "rf_time.h"

/* ---- refold code ---- */

static void print_json(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    printf("%s\n", s ? s : "{}");
    free(s);
    json_decref(o);
}

/* --data: the code the projection holds for the referrer (the live one: a
 * CodeIssued may have carried its own, like ALICE10). */
static int code_live(const char *data, const char *program, const char *referrer, bool json)
{
    rf_errbuf_t eb = {{0}};
    rf_query_t *q = rf_query_open(data, RF_QUERY_SNAPSHOT, &eb);
    if (!q) {
        rf_cmd_error("code", json, RF_ERR_NOT_FOUND, "%s", eb.msg);
        return 1;
    }
    char code[RF_FACT_VAL_MAX + 1];
    rf_err_t err = rf_query_code(q, program, referrer, code, &eb);
    rf_query_close(q);
    if (err != RF_OK) {
        rf_cmd_error("code", json, err, "%s", eb.msg[0] ? eb.msg : rf_err_str(err));
        return 1;
    }
    if (json)
        print_json(json_pack("{s:s, s:s, s:s, s:s}", "program", program, "referrer", referrer,
                             "code", code, "source", "issued"));
    else
        printf("%s\n", code);
    return 0;
}

int rf_cmd_code(int argc, char **argv)
{
    const char *program = NULL, *referrer = NULL, *check = NULL, *data = NULL;
    int json = 0;
    const rf_opt_t opts[] = {
        RF_OPT_STR('p', "program", &program, "P", "program id"),
        RF_OPT_STR('r', "referrer", &referrer, "R", "referrer id"),
        RF_OPT_STR(0, "data", &data, "DIR",
                   "print the code the referrer holds (from the projection\n"
                   "under DIR), not the derived one",
                   .flags = RF_OPT_NODEFAULT),
        RF_OPT_STR('c', "check", &check, "CODE",
                   "validate a derived code (case-insensitive, hyphens ignored)"),
        RF_OPT_FLAG('j', "json", &json, "print a JSON object (\"source\": derived or issued)"),
        RF_OPT_HELP(),
        RF_OPT_END(),
    };
    const rf_opt_cmd_t cmd = {
        "code",
        "refold code --program P --referrer R [--data DIR] [--json]\n"
        "       refold code --check CODE [--json]",
        "Prints the stable referral code the fold derives for (program, referrer)\n"
        "when a CodeIssued event carries no code: 10 Crockford base32 symbols (no\n"
        "I, L, O, U) and a check symbol. A referrer whose CodeIssued carried a code\n"
        "(ALICE10) holds that one instead: --data DIR prints the code the referrer\n"
        "holds. --check tells whether CODE has a valid check symbol (exit 1 if not).\n"
        "docs/programs.md, \"Codes\".",
        opts,
        0,
        {NULL}};
    int n = rf_opt_parse(&cmd, argc, argv);
    if (n < 0) return rf_opt_status(n);
    if (check) {
        int ok = rf_rules_code_valid(check);
        if (json)
            print_json(json_pack("{s:s, s:b}", "code", check, "valid", ok));
        else
            printf("%s\n", ok ? "valid" : "invalid");
        return ok ? 0 : 1;
    }
    if (!program || !referrer || !program[0] || !referrer[0]) {
        rf_cmd_error("code", json, RF_ERR_CONFIG, "--program and --referrer are required");
        return 2;
    }
    if (strlen(program) > RF_ID_MAX || strlen(referrer) > RF_ID_MAX) {
        rf_cmd_error("code", json, RF_ERR_CONFIG, "ids are at most %d bytes", RF_ID_MAX);
        return 2;
    }
    if (data) return code_live(data, program, referrer, json);
    char code[RF_RULES_CODE_BUF];
    rf_rules_derive_code(program, referrer, code);
    if (json) {
        print_json(json_pack("{s:s, s:s, s:s, s:s}", "program", program, "referrer", referrer,
                             "code", code, "source", "derived"));
        return 0;
    }
    printf("%s\n", code);
    fprintf(stderr, "refold code: the derived code; a referrer whose CodeIssued carried a code "
                    "holds that one (refold code --data DIR prints it)\n");
    return 0;
}

/* ---- refold explain ---- */

/* Per-asset totals of the user's own rewards. */
#define EXPLAIN_ASSETS 16
typedef struct totals {
    char asset[RF_ASSET_MAX + 1];
    int64_t posted, matured, reversed;
} totals_t;

typedef struct explain {
    const char *program, *user;
    int json;
    int32_t partition;
    json_t *records; /* --json */
    uint64_t matched;
    const char *referred_by; /* from the user's signup */
    char referred_buf[RF_ID_BUF];
    char attribution[RF_FACT_VAL_MAX + 1];
    uint64_t referrals, referrals_refused, refused_rewards;
    uint32_t nassets;
    totals_t t[EXPLAIN_ASSETS];
} explain_t;

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

static json_t *record_json(const rf_record_t *rec, const char *text)
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

static int explain_cb(const rf_record_t *rec, void *opaque)
{
    explain_t *x = opaque;
    if (strcmp(rec->program_id, x->program) != 0 || !names_user(rec, x->user)) return 0;
    char text[1024], when[RF_TIME_BUF];
    explain_text(rec, x->user, text, sizeof text);
    tally(x, rec);
    x->matched++;
    if (x->json) {
        json_array_append_new(x->records, record_json(rec, text));
        return 0;
    }
    fmt_time(rec->occurred_at_ms, when);
    printf("%s  p%d seq %-8llu %-16s %s\n", when, (int)rec->partition, (unsigned long long)rec->seq,
           rec->kind, text);
    for (uint32_t i = 0; i < rec->npostings; i++) {
        const rf_posting_t *p = &rec->postings[i];
        printf("%60s %+lld %s %s/%s\n", "", (long long)p->amount_minor, p->asset, p->owner,
               rf_bucket_name(p->bucket));
    }
    return 0;
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
static int explain_partition(explain_t *x, const char *data, int32_t part, json_t *bal)
{
    rf_errbuf_t eb = {{0}};
    rf_ledger_t *l = rf_ledger_open(data, part, RF_LEDGER_READONLY, &eb);
    if (!l) {
        rf_cmd_error("explain", x->json, RF_ERR_STORAGE, "cannot open partition %d: %s", (int)part,
                     eb.msg);
        return -1;
    }
    uint64_t before = x->matched;
    rf_err_t err = rf_ledger_scan(l, 1, 0, explain_cb, x, &eb);
    balances_t bs = {x->program, x->user, bal};
    if (!err && x->matched > before) err = rf_ledger_scan_balances(l, balance_cb, &bs, &eb);
    rf_ledger_close(l);
    if (err) {
        rf_cmd_error("explain", x->json, err, "partition %d: %s", (int)part, eb.msg);
        return -1;
    }
    return 0;
}

static json_t *summary_json(const explain_t *x, json_t *bal)
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

static void summary_text(const explain_t *x, json_t *bal)
{
    printf("\nsummary for %s in %s:\n", x->user, x->program);
    if (!x->referred_by)
        printf("  no signup folded for this user\n");
    else if (x->referred_by[0])
        printf("  referred by %s (%s)\n", x->referred_by, x->attribution);
    else
        printf("  not referred%s%s\n", x->attribution[0] ? ": " : "", x->attribution);
    printf("  referrals as referrer: %llu attributed, %llu refused\n",
           (unsigned long long)x->referrals, (unsigned long long)x->referrals_refused);
    printf("  rewards refused (cap/budget/zero): %llu\n", (unsigned long long)x->refused_rewards);
    for (uint32_t i = 0; i < x->nassets; i++)
        if (x->t[i].asset[0])
            printf("  rewards %s: posted %lld, matured %lld, reversed %lld\n", x->t[i].asset,
                   (long long)x->t[i].posted, (long long)x->t[i].matured,
                   (long long)x->t[i].reversed);
    size_t i;
    json_t *b;
    json_array_foreach(bal, i, b)
    {
        printf("  balance %s: pending %lld, available %lld, redeemed %lld, receivable %lld\n",
               json_string_value(json_object_get(b, "asset")),
               (long long)json_integer_value(json_object_get(b, "pending")),
               (long long)json_integer_value(json_object_get(b, "available")),
               (long long)json_integer_value(json_object_get(b, "redeemed")),
               (long long)json_integer_value(json_object_get(b, "receivable")));
    }
}

int rf_cmd_explain(int argc, char **argv)
{
    static explain_t x; /* a few KiB: off the stack */
    memset(&x, 0, sizeof x);
    const char *data = NULL;
    const rf_opt_t opts[] = {
        RF_OPT_STR('d', "data", &data, "DIR", "data directory", .flags = RF_OPT_REQUIRED),
        RF_OPT_STR('p', "program", &x.program, "P", "program id", .flags = RF_OPT_REQUIRED),
        RF_OPT_STR('u', "user", &x.user, "U", "user id", .flags = RF_OPT_REQUIRED),
        RF_OPT_FLAG('j', "json", &x.json, "one JSON object: records, summary, balances"),
        RF_OPT_HELP(),
        RF_OPT_END(),
    };
    const rf_opt_cmd_t cmd = {
        "explain",
        "refold explain --data DIR --program P --user U [--json]",
        "Reads the fold ledgers under DIR/fold (read-only: safe while a worker runs)\n"
        "and prints every record of program P that names user U (as user, referrer\n"
        "or friend) with what it decided: attribution, qualification, the fraud\n"
        "checks run and their results, caps, holds, reviews, voids, clawbacks and\n"
        "redemptions; then a summary of U's rewards and balances.",
        opts,
        0,
        {NULL}};
    int rc = rf_opt_parse(&cmd, argc, argv);
    if (rc < 0) return rf_opt_status(rc);
    int32_t parts[RF_PARTITIONS_MAX];
    int n = rf_ledger_list_partitions(data, parts, RF_PARTITIONS_MAX);
    if (n < 0) {
        rf_cmd_error("explain", x.json, RF_ERR_NOT_FOUND, "cannot list ledgers under '%s/fold'",
                     data);
        return 1;
    }
    x.records = json_array();
    json_t *bal = json_array();
    rc = 0;
    for (int i = 0; i < n && rc == 0; i++)
        rc = explain_partition(&x, data, parts[i], bal);
    if (rc == 0 && x.json) {
        json_t *o = json_pack("{s:s, s:s, s:o, s:o}", "program", x.program, "user", x.user,
                              "records", x.records, "summary", summary_json(&x, bal));
        char *s = json_dumps(o, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
        json_decref(o);
    } else {
        if (rc == 0 && !x.matched)
            printf("no record of program '%s' names '%s'\n", x.program, x.user);
        else if (rc == 0)
            summary_text(&x, bal);
        json_decref(x.records);
        json_decref(bal);
    }
    return rc ? 1 : 0;
}
