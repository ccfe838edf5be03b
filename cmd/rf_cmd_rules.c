/* rf_cmd_rules.c: `refold code` (a referrer's derived code) and `refold
 * explain` (why a user did or did not get each reward, from the ledger). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "rf_commands.h"
#include "rf_explain.h"
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

typedef struct explain_out {
    int json;
    json_t *records; /* --json */
} explain_out_t;

static void fmt_time(int64_t ms, char out[RF_TIME_BUF])
{
    if (ms < 0)
        snprintf(out, RF_TIME_BUF, "%lld", (long long)ms);
    else
        rf_time_format(ms, out);
}

/* Each record as it is read: a line and its postings, or a JSON object. */
static int print_record(const rf_record_t *rec, const char *text, void *opaque)
{
    explain_out_t *o = opaque;
    char when[RF_TIME_BUF];
    if (o->json) {
        json_array_append_new(o->records, rf_explain_record_json(rec, text));
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

static void summary_text(const rf_explain_t *x, json_t *bal)
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
    static rf_explain_t x; /* a few KiB: off the stack */
    explain_out_t out = {0};
    memset(&x, 0, sizeof x);
    const char *data = NULL;
    const rf_opt_t opts[] = {
        RF_OPT_STR('d', "data", &data, "DIR", "data directory", .flags = RF_OPT_REQUIRED),
        RF_OPT_STR('p', "program", &x.program, "P", "program id", .flags = RF_OPT_REQUIRED),
        RF_OPT_STR('u', "user", &x.user, "U", "user id", .flags = RF_OPT_REQUIRED),
        RF_OPT_FLAG('j', "json", &out.json, "one JSON object: records, summary, balances"),
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
    out.records = json_array();
    json_t *bal = json_array();
    rf_errbuf_t eb = {{0}};
    rc = 0;
    rf_err_t err = rf_explain_scan(data, &x, print_record, &out, bal, &eb);
    if (err != RF_OK) {
        rf_cmd_error("explain", out.json, err, "%s", eb.msg);
        rc = -1;
    }
    if (rc == 0 && out.json) {
        json_t *o = json_pack("{s:s, s:s, s:o, s:o}", "program", x.program, "user", x.user,
                              "records", out.records, "summary", rf_explain_summary_json(&x, bal));
        char *s = json_dumps(o, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
        json_decref(o);
    } else {
        if (rc == 0 && !x.matched)
            printf("no record of program '%s' names '%s'\n", x.program, x.user);
        else if (rc == 0)
            summary_text(&x, bal);
        json_decref(out.records);
        json_decref(bal);
    }
    return rc ? 1 : 0;
}
