/* rf_cmd_reconcile.c: `refold reconcile`, the report finance files: trial
 * balance, offsets accounted, fold against projection balances, payouts
 * against redemptions (ledger/rf_finance.h). It lives in consumers/ because
 * the drift check reads the projection store (rf_query.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rf_cmd_opt.h"
#include "rf_hex.h"
#include "rf_commands.h"
#include "rf_finance.h"
#include "rf_query.h"

/* rf_projection_balances_fn over the projection store: RF_ERR_NOT_FOUND
 * when there is none. */
static rf_err_t projection_balances(const char *data_dir, rf_balance_cb_t *cb, void *opaque,
                                    uint64_t applied_seq[RF_PARTITIONS_MAX], rf_errbuf_t *eb)
{
    rf_errbuf_t qeb = {{0}};
    rf_query_t *q = rf_query_open(data_dir, RF_QUERY_SNAPSHOT, &qeb);
    if (!q)
        return rf_errf(eb, RF_ERR_NOT_FOUND, "projection store not found under '%s/project' (%s)",
                       data_dir, qeb.msg);
    rf_query_applied_seqs(q, applied_seq);
    rf_err_t err = rf_query_scan_balances(q, cb, opaque, eb);
    rf_query_close(q);
    return err;
}

/* The partitions whose projection had not caught up with the fold: the
 * drift was compared as of the projection's applied seq there. */
static void projection_lag(const rf_reconcile_t *r, json_t *arr, int json)
{
    for (int i = 0; i < r->nparts; i++) {
        const rf_offsets_row_t *o = &r->parts[i];
        if (o->projection_seq == o->head_seq) continue;
        if (json)
            json_array_append_new(arr, json_pack("{s:i,s:I,s:I}", "partition", (int)o->partition,
                                                 "fold_head_seq", (json_int_t)o->head_seq,
                                                 "projection_applied_seq",
                                                 (json_int_t)o->projection_seq));
        else
            printf("  partition %d: compared as of seq %llu, the projection's applied seq (fold "
                   "head %llu: the records after it are not projected yet)\n",
                   (int)o->partition, (unsigned long long)o->projection_seq,
                   (unsigned long long)o->head_seq);
    }
    if (r->projection_ahead && !json)
        printf("  a projection is past its fold ledger's head (a replaced or restored ledger?): "
               "compared at the fold head\n");
}

/* ---- text report ---- */

static void print_tb(const rf_reconcile_t *r)
{
    printf("trial balance per program and asset (sum of each bucket over all accounts; "
           "double entry: total 0)\n");
    printf("  %-16s %-10s %12s %12s %12s %12s %12s %12s %8s %8s\n", "program", "asset", "pending",
           "available", "redeemed", "receivable", "expense", "adjustment", "total", "accounts");
    for (int i = 0; i < r->ntb; i++) {
        const rf_tb_row_t *t = &r->tb[i];
        printf("  %-16s %-10s", t->program, t->asset);
        for (int k = 0; k < RF_BUCKET__COUNT; k++)
            printf(" %12lld", (long long)t->b[k]);
        printf(" %8lld %8llu%s\n", (long long)t->total, (unsigned long long)t->accounts,
               t->total ? "  UNBALANCED" : "");
    }
    if (r->ntb == 0) printf("  (no balances)\n");
}

static void print_offsets(const rf_reconcile_t *r)
{
    printf("\noffsets accounted per partition (applied + rejected + duplicate + dead-lettered = "
           "consumed = next - first; archive without gaps)\n");
    printf("  %4s %10s %10s %10s %10s %9s %9s %11s %10s %10s\n", "part", "first", "next",
           "consumed", "applied", "rejected", "duplicate", "dead_letter", "archived", "head_seq");
    for (int i = 0; i < r->nparts; i++) {
        const rf_offsets_row_t *o = &r->parts[i];
        printf("  %4d %10lld %10lld %10llu %10llu %9llu %9llu %11llu %10llu %10llu  %s",
               (int)o->partition, (long long)o->first_offset, (long long)o->next_offset,
               (unsigned long long)o->consumed, (unsigned long long)o->counts[0],
               (unsigned long long)o->counts[1], (unsigned long long)o->counts[2],
               (unsigned long long)o->counts[3], (unsigned long long)o->archived,
               (unsigned long long)o->head_seq, o->ok ? "ok" : "DOES NOT ADD UP");
        if (o->first_gap >= 0) printf(" (first missing offset %lld)", (long long)o->first_gap);
        printf("\n");
    }
}

static void print_payout(const char *tag, const rf_payout_t *p)
{
    if (p->line)
        printf(" %s[line %ld: %s %s %lld %s]", tag, p->line, p->user, p->asset,
               (long long)p->amount_minor, p->request_id);
    else
        printf(" %s[p%d#%llu: %s %s %lld %s]", tag, (int)p->partition, (unsigned long long)p->seq,
               p->user, p->asset, (long long)p->amount_minor, p->request_id);
}

static void print_payouts(const rf_reconcile_t *r, const char *path)
{
    printf("\npayouts '%s' against redemptions\n", path);
    printf("  ledger redemptions %llu, payout lines %llu: matched %llu, missing %llu, unexpected "
           "%llu, amount/user/asset mismatches %llu\n",
           (unsigned long long)r->ledger_redemptions, (unsigned long long)r->file_payouts,
           (unsigned long long)r->matched, (unsigned long long)r->missing,
           (unsigned long long)r->unexpected, (unsigned long long)r->mismatched);
    for (int i = 0; i < r->nissues; i++) {
        const rf_payout_issue_t *is = &r->issues[i];
        printf("  %-10s program %s request '%s':", rf_payout_issue_name(is->kind),
               is->kind == RF_PAYOUT_UNEXPECTED ? is->file.program : is->ledger.program,
               is->kind == RF_PAYOUT_UNEXPECTED ? is->file.request_id : is->ledger.request_id);
        if (is->kind != RF_PAYOUT_UNEXPECTED) print_payout("ledger", &is->ledger);
        if (is->kind != RF_PAYOUT_MISSING) print_payout("file", &is->file);
        printf("\n");
    }
}

static void print_report(const rf_reconcile_t *r, const char *data, const char *payouts)
{
    printf("reconcile of '%s'\n\n", data);
    print_tb(r);
    print_offsets(r);
    printf("\nfold balances against projection balances\n");
    if (!r->projection_checked) {
        printf("  %s\n", r->projection_note);
    } else {
        printf("  %llu accounts compared, %llu (account, bucket) differences\n",
               (unsigned long long)r->drift_accounts_compared, (unsigned long long)r->drift_count);
        for (int i = 0; i < r->ndrift; i++)
            printf("  drift %s/%s %s %s: fold %lld, projection %lld\n", r->drift[i].program,
                   r->drift[i].owner, r->drift[i].asset, rf_bucket_name(r->drift[i].bucket),
                   (long long)r->drift[i].fold_minor, (long long)r->drift[i].projection_minor);
        projection_lag(r, NULL, 0);
    }
    if (r->payouts_checked) print_payouts(r, payouts);
    printf("\n%s\n", r->ok ? "OK: everything adds up" : "NOT OK: see the lines marked above");
}

/* ---- JSON report ---- */

static json_t *payout_json(const rf_payout_t *p)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:s}", "user", p->user, "program", p->program, "asset",
                          p->asset, "amount_minor", (json_int_t)p->amount_minor, "request_id",
                          p->request_id);
    if (p->line)
        json_object_set_new(o, "line", json_integer(p->line));
    else
        json_object_set_new(
            o, "ledger",
            json_pack("{s:i,s:I}", "partition", (int)p->partition, "seq", (json_int_t)p->seq));
    return o;
}

static json_t *json_tb(const rf_reconcile_t *r)
{
    json_t *tb = json_array();
    for (int i = 0; i < r->ntb; i++) {
        const rf_tb_row_t *t = &r->tb[i];
        json_t *o = json_pack("{s:s,s:s}", "program", t->program, "asset", t->asset);
        for (int k = 0; k < RF_BUCKET__COUNT; k++)
            json_object_set_new(o, rf_bucket_name(k), json_integer(t->b[k]));
        json_object_set_new(o, "total", json_integer(t->total));
        json_object_set_new(o, "accounts", json_integer((json_int_t)t->accounts));
        json_array_append_new(tb, o);
    }
    return tb;
}

static json_t *json_offsets(const rf_reconcile_t *r)
{
    json_t *arr = json_array();
    for (int i = 0; i < r->nparts; i++) {
        const rf_offsets_row_t *o = &r->parts[i];
        char hash[65];
        rf_hex(o->head_hash, 32, hash);
        json_array_append_new(
            arr,
            json_pack("{s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:b}", "partition",
                      (int)o->partition, "first_offset", (json_int_t)o->first_offset, "next_offset",
                      (json_int_t)o->next_offset, "consumed", (json_int_t)o->consumed, "applied",
                      (json_int_t)o->counts[0], "rejected", (json_int_t)o->counts[1], "duplicate",
                      (json_int_t)o->counts[2], "dead_letter", (json_int_t)o->counts[3], "archived",
                      (json_int_t)o->archived, "head_seq", (json_int_t)o->head_seq, "head_hash",
                      hash, "ok", o->ok));
        if (o->first_gap >= 0)
            json_object_set_new(json_array_get(arr, (size_t)i), "first_missing_offset",
                                json_integer(o->first_gap));
    }
    return arr;
}

static json_t *json_drift(const rf_reconcile_t *r)
{
    json_t *o = json_pack("{s:b}", "checked", r->projection_checked);
    if (!r->projection_checked) {
        json_object_set_new(o, "note", json_string(r->projection_note));
        return o;
    }
    json_t *rows = json_array(), *lag = json_array();
    for (int i = 0; i < r->ndrift; i++)
        json_array_append_new(rows,
                              json_pack("{s:s,s:s,s:s,s:s,s:I,s:I}", "program", r->drift[i].program,
                                        "owner", r->drift[i].owner, "asset", r->drift[i].asset,
                                        "bucket", rf_bucket_name(r->drift[i].bucket), "fold",
                                        (json_int_t)r->drift[i].fold_minor, "projection",
                                        (json_int_t)r->drift[i].projection_minor));
    projection_lag(r, lag, 1);
    json_object_set_new(o, "projection_ahead", json_boolean(r->projection_ahead));
    json_object_set_new(o, "accounts_compared",
                        json_integer((json_int_t)r->drift_accounts_compared));
    json_object_set_new(o, "differences", json_integer((json_int_t)r->drift_count));
    json_object_set_new(o, "rows", rows);
    json_object_set_new(o, "projection_behind", lag);
    return o;
}

static json_t *json_payouts(const rf_reconcile_t *r)
{
    json_t *issues = json_array();
    for (int i = 0; i < r->nissues; i++) {
        const rf_payout_issue_t *is = &r->issues[i];
        json_t *o = json_pack("{s:s}", "kind", rf_payout_issue_name(is->kind));
        if (is->kind != RF_PAYOUT_UNEXPECTED)
            json_object_set_new(o, "ledger", payout_json(&is->ledger));
        if (is->kind != RF_PAYOUT_MISSING) json_object_set_new(o, "file", payout_json(&is->file));
        json_array_append_new(issues, o);
    }
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:o}", "ledger_redemptions",
                     (json_int_t)r->ledger_redemptions, "file_payouts", (json_int_t)r->file_payouts,
                     "matched", (json_int_t)r->matched, "missing", (json_int_t)r->missing,
                     "unexpected", (json_int_t)r->unexpected, "mismatched",
                     (json_int_t)r->mismatched, "issues", issues);
}

static void print_json(const rf_reconcile_t *r, const char *data)
{
    json_t *o = json_pack("{s:s,s:b,s:o,s:o,s:o}", "data", data, "ok", r->ok, "trial_balance",
                          json_tb(r), "offsets", json_offsets(r), "projection", json_drift(r));
    if (r->payouts_checked) json_object_set_new(o, "payouts", json_payouts(r));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s) puts(s);
    free(s);
    json_decref(o);
}

int rf_cmd_reconcile(int argc, char **argv)
{
    rf_reconcile_opts_t o = {NULL, NULL, INT64_MIN, INT64_MAX, projection_balances};
    int json = 0, no_projection = 0;
    rf_errbuf_t eb = {{0}};
    const rf_opt_t opts[] = {
        RF_OPT_STR('d', "data", &o.data_dir, "DIR", "data directory", .flags = RF_OPT_REQUIRED),
        RF_OPT_STR('P', "payouts", &o.payouts_csv, "FILE.csv",
                   "external payouts to match against the ledger's redemptions"),
        RF_CMD_OPT_TIME('f', "from", &o.from_ms, "payouts: first event time (inclusive)",
                        .def = "the first"),
        RF_CMD_OPT_TIME('t', "to", &o.to_ms, "payouts: end event time (exclusive)",
                        .def = "after the last"),
        RF_OPT_FLAG('n', "no-projection", &no_projection,
                    "skip the fold against projection balances (drift) check"),
        RF_OPT_FLAG('j', "json", &json, "print one JSON object"),
        RF_OPT_HELP(),
        RF_OPT_END(),
    };
    const rf_opt_cmd_t cmd = {
        "reconcile",
        "refold reconcile --data DIR [--payouts FILE.csv [--from TIME] [--to TIME]]\n"
        "                        [--no-projection] [--json]",
        "The report finance files: trial balance per program and asset (total 0), offsets\n"
        "accounted per partition, fold balances against projection balances (drift), and\n"
        "optionally an external payout CSV (header: user,program,asset,amount_minor,\n"
        "request_id) against the ledger's redemptions with FROM <= event time < TO:\n"
        "matched, missing, unexpected, mismatches. Exit status 1 when anything does not\n"
        "add up. See docs/finance.md.",
        opts,
        0,
        {NULL}};
    int n = rf_opt_parse(&cmd, argc, argv);
    if (n < 0) return rf_opt_status(n);
    if (no_projection) o.projection = NULL;
    rf_reconcile_t *r = calloc(1, sizeof *r);
    if (!r) return 1;
    rf_err_t err = rf_finance_reconcile(&o, r, &eb);
    if (err) {
        rf_cmd_error("reconcile", json, err, "%s", eb.msg[0] ? eb.msg : rf_err_str(err));
        free(r);
        return 1;
    }
    if (json)
        print_json(r, o.data_dir);
    else
        print_report(r, o.data_dir, o.payouts_csv);
    int rc = r->ok ? 0 : 1;
    rf_reconcile_free(r);
    free(r);
    return rc;
}
