/* rf_cmd_finance.c: the finance commands over the fold ledger: `refold
 * statement`, `refold balance-at` (point-in-time balances) and `refold
 * export` (docs/finance.md). `refold reconcile` lives in consumers/ because it
 * also reads the projection store. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rf_cmd_opt.h"
#include "rf_time.h"
#include "rf_commands.h"
#include "rf_finance.h"

static const char *const user_buckets[4] = {"pending", "available", "redeemed", "receivable"};

static int fail(const char *cmd, bool json, const rf_errbuf_t *eb, rf_err_t err)
{
    rf_cmd_error(cmd, json, err, "%s", eb->msg[0] ? eb->msg : rf_err_str(err));
    return 1;
}

static json_t *acct_json(const rf_acct_t *a)
{
    json_t *o = json_pack("{s:s,s:s}", "program", a->program, "asset", a->asset);
    int64_t total = 0;
    for (int k = 0; k < 4; k++) {
        json_object_set_new(o, user_buckets[k], json_integer(a->b[k]));
        total += a->b[k];
    }
    json_object_set_new(o, "total", json_integer(total));
    return o;
}

static json_t *accts_json(const rf_acct_t *a, int n)
{
    json_t *arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, acct_json(&a[i]));
    return arr;
}

static void accts_print(const char *title, const rf_acct_t *a, int n)
{
    printf("%s\n", title);
    if (n == 0)
        printf("  (no account)\n");
    else
        printf("  %-20s %-12s %14s %14s %14s %14s\n", "program", "asset", "pending", "available",
               "redeemed", "receivable");
    for (int i = 0; i < n; i++)
        printf("  %-20s %-12s %14lld %14lld %14lld %14lld\n", a[i].program, a[i].asset,
               (long long)a[i].b[0], (long long)a[i].b[1], (long long)a[i].b[2],
               (long long)a[i].b[3]);
}

static void json_print(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s) puts(s);
    free(s);
    json_decref(o);
}

/* ---- statement ---- */

static json_t *movement_json(const rf_movement_t *m)
{
    char when[RF_TIME_BUF];
    rf_time_format(m->occurred_at_ms, when);
    return json_pack("{s:s,s:s,s:i,s:I,s:s,s:s,s:s,s:I,s:s,s:s}", "occurred_at", when, "program",
                     m->program, "partition", (int)m->partition, "seq", (json_int_t)m->seq, "kind",
                     m->kind, "bucket", rf_bucket_name((rf_bucket_t)m->bucket), "asset", m->asset,
                     "amount_minor", (json_int_t)m->amount_minor, "event_id", m->event_id, "reason",
                     m->reason);
}

static void statement_print(const rf_statement_t *s, const char *user, const char *program,
                            int64_t from, int64_t to, int json)
{
    char f[RF_TIME_BUF], t[RF_TIME_BUF];
    rf_time_format(from, f);
    rf_time_format(to, t);
    if (json) {
        json_t *mv = json_array();
        for (size_t i = 0; i < s->nmovements; i++)
            json_array_append_new(mv, movement_json(&s->movements[i]));
        json_print(json_pack("{s:s,s:s?,s:s,s:s,s:o,s:o,s:o}", "user", user, "program", program,
                             "from", f, "to", t, "opening", accts_json(s->opening, s->naccounts),
                             "movements", mv, "closing", accts_json(s->closing, s->naccounts)));
        return;
    }
    printf("statement of user %s, %s%s, event time %s .. %s (to exclusive)\n\n", user,
           program ? "program " : "every program", program ? program : "", f, t);
    accts_print("opening balance", s->opening, s->naccounts);
    printf("\nmovements (%zu)\n", s->nmovements);
    for (size_t i = 0; i < s->nmovements; i++) {
        const rf_movement_t *m = &s->movements[i];
        char when[RF_TIME_BUF];
        rf_time_format(m->occurred_at_ms, when);
        printf("  %s %-16s p%d#%-8llu %-16s %-10s %-6s %12lld  event %s  %s\n", when, m->program,
               (int)m->partition, (unsigned long long)m->seq, m->kind,
               rf_bucket_name((rf_bucket_t)m->bucket), m->asset, (long long)m->amount_minor,
               m->event_id, m->reason);
    }
    printf("\n");
    accts_print("closing balance", s->closing, s->naccounts);
}

int rf_cmd_statement(int argc, char **argv)
{
    const char *data = NULL, *user = NULL, *program = NULL;
    int64_t from_ms = 0, to_ms = 0;
    int json = 0;
    const rf_opt_t opts[] = {
        RF_OPT_STR('d', "data", &data, "DIR", "data directory", .flags = RF_OPT_REQUIRED),
        RF_OPT_STR('u', "user", &user, "U", "the user", .flags = RF_OPT_REQUIRED),
        RF_OPT_STR('p', "program", &program, "P", "only this program (default: every program)"),
        RF_CMD_OPT_TIME('f', "from", &from_ms, "start of the period (inclusive)",
                        .flags = RF_OPT_REQUIRED),
        RF_CMD_OPT_TIME('t', "to", &to_ms, "end of the period (exclusive)",
                        .flags = RF_OPT_REQUIRED),
        RF_OPT_FLAG('j', "json", &json, "print one JSON object"),
        RF_OPT_HELP(),
        RF_OPT_END(),
    };
    const rf_opt_cmd_t cmd = {
        "statement",
        "refold statement --data DIR --user U [--program P] --from TIME --to TIME [--json]",
        "Opening balance, every movement (posting to the user's accounts) with its\n"
        "record, reason and source event, and closing balance, over the event-time\n"
        "period FROM <= occurred_at < TO. TIME: 2026-01-31, 2026-01-31T12:00:00Z or\n"
        "Unix milliseconds. See docs/finance.md.",
        opts,
        0,
        {NULL}};
    int n = rf_opt_parse(&cmd, argc, argv);
    if (n < 0) return rf_opt_status(n);
    rf_statement_t s;
    rf_errbuf_t eb = {{0}};
    rf_err_t err = rf_finance_statement(data, user, program, from_ms, to_ms, &s, &eb);
    if (err) return fail("statement", json, &eb, err);
    statement_print(&s, user, program, from_ms, to_ms, json);
    rf_statement_free(&s);
    return 0;
}

/* ---- balance-at ---- */

int rf_cmd_balance_at(int argc, char **argv)
{
    const char *data = NULL, *user = NULL, *program = NULL;
    int64_t ms = 0;
    int json = 0;
    const rf_opt_t opts[] = {
        RF_OPT_STR('d', "data", &data, "DIR", "data directory", .flags = RF_OPT_REQUIRED),
        RF_OPT_STR('u', "user", &user, "U", "the user", .flags = RF_OPT_REQUIRED),
        RF_OPT_STR('p', "program", &program, "P", "only this program (default: every program)"),
        RF_CMD_OPT_TIME('a', "as-of", &ms, "the event time", .flags = RF_OPT_REQUIRED),
        RF_OPT_FLAG('j', "json", &json, "print one JSON object"),
        RF_OPT_HELP(),
        RF_OPT_END(),
    };
    const rf_opt_cmd_t cmd = {
        "balance-at",
        "refold balance-at --data DIR --user U --as-of TIME [--program P] [--json]",
        "A user's balances as of an event time, from the fold ledger: the sum of the\n"
        "postings of every record whose event time is <= TIME. (`refold balance` is the\n"
        "projection's current balance.) TIME: 2026-01-31T00:00:00Z, 2026-01-31 or Unix\n"
        "milliseconds. See docs/finance.md, \"Event time\".",
        opts,
        0,
        {NULL}};
    int rc = rf_opt_parse(&cmd, argc, argv);
    if (rc < 0) return rf_opt_status(rc);
    rf_acct_t *a = NULL;
    int n = 0;
    rf_errbuf_t eb = {{0}};
    rf_err_t err = rf_finance_balance_at(data, user, program, ms, &a, &n, &eb);
    if (err) return fail("balance-at", json, &eb, err);
    char when[RF_TIME_BUF];
    rf_time_format(ms, when);
    if (json) {
        json_print(json_pack("{s:s,s:s?,s:s,s:o}", "user", user, "program", program, "as_of", when,
                             "balances", accts_json(a, n)));
    } else {
        char title[256];
        snprintf(title, sizeof title, "balances of user %s as of %s (event time)", user, when);
        accts_print(title, a, n);
    }
    free(a);
    return 0;
}

/* ---- export ---- */

static int export_run(const char *data, int64_t from, int64_t to, rf_export_format_t fmt,
                      const char *out)
{
    char tmp[4200];
    FILE *f = stdout;
    if (out) {
        snprintf(tmp, sizeof tmp, "%s.tmp", out);
        if (!(f = fopen(tmp, "w"))) {
            fprintf(stderr, "refold export: cannot create '%s': %s\n", tmp, strerror(errno));
            return 1;
        }
    }
    uint64_t rows = 0;
    rf_errbuf_t eb = {{0}};
    rf_err_t err = rf_finance_export(data, from, to, fmt, f, &rows, &eb);
    if (out) {
        if (fclose(f) != 0 && !err) err = rf_errf(&eb, RF_ERR_IO, "cannot write '%s'", tmp);
        if (!err && rename(tmp, out) != 0)
            err = rf_errf(&eb, RF_ERR_IO, "cannot rename '%s': %s", tmp, strerror(errno));
        if (err) remove(tmp);
    }
    if (err) return fail("export", false, &eb, err);
    if (out) fprintf(stderr, "refold export: %llu rows to '%s'\n", (unsigned long long)rows, out);
    return 0;
}

int rf_cmd_export(int argc, char **argv)
{
    static const char *const formats[] = {"csv", "jsonl", NULL}; /* rf_export_format_t order */
    const char *data = NULL, *out = NULL;
    int64_t from_ms = INT64_MIN, to_ms = INT64_MAX;
    int format = RF_EXPORT_CSV;
    const rf_opt_t opts[] = {
        RF_OPT_STR('d', "data", &data, "DIR", "data directory", .flags = RF_OPT_REQUIRED),
        RF_CMD_OPT_TIME('f', "from", &from_ms, "first event time (inclusive)", .def = "the first"),
        RF_CMD_OPT_TIME('t', "to", &to_ms, "end event time (exclusive)", .def = "after the last"),
        RF_OPT_ENUM('F', "format", &format, formats, NULL, "output format",
                    .flags = RF_OPT_REQUIRED),
        RF_OPT_STR('o', "out", &out, "FILE", "write FILE.tmp, then rename it to FILE"),
        RF_OPT_HELP(),
        RF_OPT_END(),
    };
    const rf_opt_cmd_t cmd = {
        "export",
        "refold export --data DIR [--from TIME] [--to TIME] --format csv|jsonl [--out FILE]",
        "Streams the ledger records with FROM <= event time < TO, one row per posting\n"
        "(a record without postings: one row with empty posting columns). Columns, stable\n"
        "across versions: partition, seq, hash, prev_hash, offset, event_id, program_id,\n"
        "occurred_at, kind, owner, bucket, asset, amount_minor, facts (a JSON object).\n"
        "--out writes FILE.tmp and renames it on success. See docs/finance.md.",
        opts,
        0,
        {NULL}};
    int n = rf_opt_parse(&cmd, argc, argv);
    if (n < 0) return rf_opt_status(n);
    return export_run(data, from_ms, to_ms, (rf_export_format_t)format, out);
}
