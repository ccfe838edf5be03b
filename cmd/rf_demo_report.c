/* rf_demo_report.c: the end of `refold demo`: checks that everything adds up
 * (offsets accounted, trial balance zero, verify, projection = fold) and
 * prints what came out for the example programs, as text and as JSON. The
 * report is built as one JSON document first, and the text is printed from
 * it, so both always say the same. */
#include <inttypes.h>
#include <limits.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_commands.h"
#include "rf_hex.h"
#include "rf_demo_int.h"
#include "rf_finance.h"
#include "rf_query.h"

/* The commands of this build, to list only those a user can run. */
static const char *const commands[] = {
#define RF_CMD(name, fn, summary) name,
#include "rf_commands.def"
#undef RF_CMD
    NULL};

static bool have_command(const char *name)
{
    for (int i = 0; commands[i]; i++)
        if (!strcmp(commands[i], name)) return true;
    return false;
}

/* A failed check: the first one is the reason the demo exits non-zero. */
typedef struct checks {
    json_t *arr;
    rf_err_t err;
    char first[RF_ERRMSG_MAX];
} checks_t;

static void check(checks_t *c, bool ok, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void check(checks_t *c, bool ok, const char *name, const char *fmt, ...)
{
    char msg[RF_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_array_append_new(c->arr,
                          json_pack("{s:s, s:b, s:s}", "check", name, "ok", ok, "detail", msg));
    if (!ok && c->err == RF_OK) {
        c->err = RF_ERR_CORRUPT;
        snprintf(c->first, sizeof c->first, "%.40s: %.200s", name, msg);
    }
}

/* ---- fold side: reconcile (trial balance, offsets, drift) and verify ---- */

/* The report's one read-only handle on the projection: opening replays each
 * partition's log, so it is opened once (rf_projection_balances_fn has no
 * opaque pointer, hence a file-scope variable; one report at a time). */
static rf_query_t *report_q;

static rf_err_t projection_balances(const char *data_dir, rf_balance_cb_t *cb, void *opaque,
                                    uint64_t applied_seq[RF_PARTITIONS_MAX], rf_errbuf_t *eb)
{
    (void)data_dir;
    RF_ASSERT(report_q != NULL);
    rf_query_applied_seqs(report_q, applied_seq);
    return rf_query_scan_balances(report_q, cb, opaque, eb);
}

/* Trial balance summed per asset over every program. */
static json_t *tb_json(const rf_reconcile_t *rc, checks_t *c)
{
    json_t *rows = json_array();
    bool zero = true;
    for (int i = 0; i < rc->ntb; i++) {
        const rf_tb_row_t *t = &rc->tb[i];
        zero = zero && t->total == 0;
        json_t *row = NULL;
        for (size_t k = 0; k < json_array_size(rows) && !row; k++) {
            json_t *x = json_array_get(rows, k);
            if (!strcmp(json_string_value(json_object_get(x, "asset")), t->asset)) row = x;
        }
        if (!row) {
            row = json_pack("{s:s, s:I, s:I}", "asset", t->asset, "total", (json_int_t)0,
                            "accounts", (json_int_t)0);
            for (int b = 0; b < RF_BUCKET__COUNT; b++)
                json_object_set_new(row, rf_bucket_name((rf_bucket_t)b), json_integer(0));
            json_array_append_new(rows, row);
        }
        for (int b = 0; b < RF_BUCKET__COUNT; b++) {
            const char *bn = rf_bucket_name((rf_bucket_t)b);
            json_int_t v = json_integer_value(json_object_get(row, bn));
            json_object_set_new(row, bn, json_integer(v + t->b[b]));
        }
        json_object_set_new(
            row, "total",
            json_integer(json_integer_value(json_object_get(row, "total")) + t->total));
        json_object_set_new(row, "accounts",
                            json_integer(json_integer_value(json_object_get(row, "accounts")) +
                                         (json_int_t)t->accounts));
    }
    check(c, zero, "trial balance", "%s",
          zero ? "every program and asset sums to zero" : "a program's asset does not sum to zero");
    return rows;
}

/* Offsets accounted: the reconcile rows against what the demo published. */
static json_t *offsets_json(const rf_demo_run_t *r, const rf_reconcile_t *rc, checks_t *c)
{
    uint64_t sum[RF_OUTCOME__COUNT] = {0}, consumed = 0, accounted = 0;
    int bad = -1, mismatch = -1;
    int64_t next_of[RF_PARTITIONS_MAX];
    for (int p = 0; p < RF_PARTITIONS_MAX; p++)
        next_of[p] = 0;
    for (int i = 0; i < rc->nparts; i++) {
        const rf_offsets_row_t *o = &rc->parts[i];
        for (int k = 0; k < RF_OUTCOME__COUNT; k++)
            sum[k] += o->counts[k];
        consumed += o->consumed;
        accounted += o->accounted;
        if (!o->ok && bad < 0) bad = o->partition;
        if (o->partition >= 0 && o->partition < RF_PARTITIONS_MAX)
            next_of[o->partition] = o->next_offset < 0 ? 0 : o->next_offset;
    }
    for (int p = 0; p < r->o->partitions; p++)
        if (next_of[p] != r->end_offset[p] && mismatch < 0) mismatch = p;
    json_t *o = json_pack("{s:I, s:I, s:I}", "published", (json_int_t)r->delivered, "consumed",
                          (json_int_t)consumed, "accounted", (json_int_t)accounted);
    for (int k = 0; k < RF_OUTCOME__COUNT; k++)
        json_object_set_new(o, rf_outcome_name((rf_outcome_t)k), json_integer((json_int_t)sum[k]));
    json_object_set_new(o, "partitions", json_integer(rc->nparts));
    if (bad < 0)
        check(c, true, "offsets accounted",
              "applied + rejected + duplicate + dead-lettered = consumed, archive complete, in "
              "every partition");
    else
        check(c, false, "offsets accounted",
              "partition %d does not account for every offset (see refold reconcile)", bad);
    if (mismatch < 0 && consumed == r->delivered)
        check(c, true, "everything folded", "every partition's next offset is its high watermark");
    else if (mismatch >= 0)
        check(c, false, "everything folded", "partition %d stopped short of its high watermark",
              mismatch);
    else
        check(c, false, "everything folded", "consumed %" PRIu64 " of %" PRIu64 " published",
              consumed, r->delivered);
    return o;
}

/* Verifies every partition ledger; builds the heads and the combined head:
 * SHA-256 over the partitions' head hashes in partition order (32 zero
 * bytes for a partition without records). */
static json_t *verify_json(const rf_demo_run_t *r, checks_t *c)
{
    json_t *parts = json_array();
    uint8_t heads[RF_PARTITIONS_MAX * 32];
    int faults = 0;
    char fault[RF_ERRMSG_MAX + 64] = ""; /* room for the prefix: nothing cut */
    RF_ASSERT(r->o->partitions >= 1 && r->o->partitions <= RF_PARTITIONS_MAX);
    for (int p = 0; p < r->o->partitions; p++) {
        rf_errbuf_t eb = {{0}};
        rf_ledger_head_t h = {.partition = p, .next_offset = -1};
        uint64_t bad_seq = 0;
        rf_ledger_t *l = rf_ledger_open(r->o->data_dir, p, RF_LEDGER_READONLY, &eb);
        rf_err_t err = l ? rf_ledger_verify(l, &bad_seq, &eb) : RF_ERR_NOT_FOUND;
        if (err == RF_OK) err = rf_ledger_head(l, &h, &eb);
        rf_ledger_close(l);
        if (!l && r->end_offset[p] == 0) err = RF_OK; /* nothing ever went there */
        if (err != RF_OK && !faults++)
            snprintf(fault, sizeof fault, "partition %d: %s (seq %" PRIu64 ")", p, eb.msg, bad_seq);
        memcpy(heads + 32 * p, h.hash, 32);
        char hex[65];
        rf_hex(h.hash, sizeof h.hash, hex);
        json_array_append_new(parts, json_pack("{s:i, s:I, s:s, s:I, s:b}", "partition", p, "seq",
                                               (json_int_t)h.seq, "hash", hex, "next_offset",
                                               (json_int_t)h.next_offset, "ok", err == RF_OK));
    }
    uint8_t head[32];
    SHA256(heads, 32 * (size_t)r->o->partitions, head);
    char hex[65];
    rf_hex(head, sizeof head, hex);
    if (faults)
        check(c, false, "verify", "%s", fault);
    else
        check(c, true, "verify",
              "hash chains, postings and balances of every partition are intact");
    return json_pack("{s:b, s:s, s:o}", "ok", faults == 0, "head", hex, "partitions", parts);
}

static rf_err_t fold_side(const rf_demo_run_t *r, json_t *rep, checks_t *c, rf_errbuf_t *eb)
{
    rf_reconcile_opts_t ro = {r->o->data_dir, NULL, INT64_MIN, INT64_MAX, projection_balances};
    static rf_reconcile_t rc;
    memset(&rc, 0, sizeof rc);
    rf_err_t err = rf_finance_reconcile(&ro, &rc, eb);
    if (err != RF_OK) return err;
    json_object_set_new(rep, "trial_balance", tb_json(&rc, c));
    json_object_set_new(rep, "offsets", offsets_json(r, &rc, c));
    bool same = rc.projection_checked && rc.drift_count == 0;
    json_object_set_new(rep, "projection",
                        json_pack("{s:b, s:I, s:I}", "checked", rc.projection_checked,
                                  "accounts_compared", (json_int_t)rc.drift_accounts_compared,
                                  "differences", (json_int_t)rc.drift_count));
    if (!rc.projection_checked)
        check(c, false, "projection = fold", "not checked: %s", rc.projection_note);
    else if (same)
        check(c, true, "projection = fold", "the balances of all %" PRIu64 " accounts are equal",
              rc.drift_accounts_compared);
    else
        check(c, false, "projection = fold", "%" PRIu64 " (account, bucket) balances differ",
              rc.drift_count);
    check(c, rc.ok, "reconcile", "%s",
          rc.ok ? "refold reconcile finds nothing to report"
                : "refold reconcile reports a discrepancy");
    rf_reconcile_free(&rc);
    json_t *v = verify_json(r, c);
    json_int_t records = 0;
    size_t i;
    json_t *part;
    json_array_foreach(json_object_get(v, "partitions"), i, part) records +=
        json_integer_value(json_object_get(part, "seq"));
    json_object_set_new(rep, "records", json_integer(records));
    json_object_set_new(rep, "verify", v);
    return RF_OK;
}

/* ---- projection side: the example programs ------------------------------ */

static json_t *board_json(rf_query_t *q, const rf_demo_program_t *p, checks_t *c)
{
    rf_board_sel_t sel = {.program = p->id, .period = NULL, .by = RF_BOARD_REFERRALS};
    rf_board_entry_t top[10];
    rf_board_info_t info;
    rf_errbuf_t eb = {{0}};
    int n = rf_query_top(q, &sel, 10, top, &info, &eb);
    if (n < 0) {
        check(c, false, "leaderboard", "program '%s': %s", p->id, eb.msg);
        return json_null();
    }
    json_t *arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(arr,
                              json_pack("{s:I, s:s, s:I}", "rank", (json_int_t)top[i].rank, "user",
                                        top[i].user, "score", (json_int_t)top[i].score));
    return json_pack("{s:I, s:o}", "users", (json_int_t)info.users, "top", arr);
}

static json_t *programs_json(const rf_demo_run_t *r, rf_query_t *q, checks_t *c)
{
    json_t *arr = json_array();
    for (int i = 0; i < r->progs->n; i++) {
        const rf_demo_program_t *p = &r->progs->p[i];
        rf_err_t err = RF_OK;
        rf_errbuf_t seb = {{0}};
        json_t *stats = rf_query_stats_json(q, p->id, "all", &err, &seb);
        if (!stats) {
            check(c, false, "funnel stats", "program '%s': %s", p->id, seb.msg);
            stats = json_null();
        }
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:o, s:o}", "id",
                                             p->id, "name", p->name, "file", p->file, "version",
                                             (int)p->version, "currency", p->currency, "traffic_of",
                                             p->lg_id, "leaderboard", board_json(q, p, c), "stats",
                                             stats));
    }
    return arr;
}

/* ---- text ------------------------------------------------------------------ */

static json_int_t jint(json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static const char *num(json_int_t v, char out[32])
{
    /* 2^63 has 19 digits and 6 commas: 27 bytes with the sign and NUL */
    char digits[32];
    rf__demo_num(v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, digits);
    RF_ASSERT(strlen(digits) < 31);
    out[0] = '-';
    memcpy(out + (v < 0), digits, strlen(digits) + 1);
    return out;
}

/* Each use gets its own buffer (a compound literal), so one printf may
 * format many numbers. */
#define N(v)          num((v), (char[32]){0})
#define AMT(asset, v) amount((asset), (v), (char[48]){0})

/* Minor units as "1,234.56" (points and counts as integers). */
static const char *amount(const char *asset, json_int_t minor, char out[48])
{
    if (!strcmp(asset, "POINTS")) return num(minor, out);
    json_int_t a = minor < 0 ? -minor : minor;
    snprintf(out, 48, "%s%s.%02d", minor < 0 ? "-" : "", N(a / 100), (int)(a % 100));
    return out;
}

static void print_board(json_t *board)
{
    json_t *top = json_object_get(board, "top");
    printf("  top 10 by successful referrals (all time; %s referrers on the board):\n",
           N(jint(board, "users")));
    if (json_array_size(top) == 0) printf("    (empty)\n");
    size_t i;
    json_t *e;
    json_array_foreach(top, i, e)
    {
        printf("    %2d  %-24s %s\n", (int)jint(e, "rank"),
               json_string_value(json_object_get(e, "user")), N(jint(e, "score")));
    }
}

static void print_funnel(json_t *st)
{
    json_t *f = json_object_get(st, "funnel"), *ch = json_object_get(st, "channels");
    printf("  funnel: shares %s, clicks %s, signups %s (attributed %s)\n", N(jint(f, "shares")),
           N(jint(f, "clicks")), N(jint(f, "signups")), N(jint(f, "attributed_signups")));
    printf("          purchases %s (referred %s), customers %s (referred %s)\n",
           N(jint(f, "purchases")), N(jint(f, "referred_purchases")), N(jint(f, "customers")),
           N(jint(f, "referred_customers")));
    printf("          rewards %s (referrer %s, friend %s, milestone %s), voided %s, clawed back "
           "%s\n",
           N(jint(f, "rewards")), N(jint(f, "successful_referrals")), N(jint(f, "friend_rewards")),
           N(jint(f, "milestone_rewards")), N(jint(f, "voids")), N(jint(f, "clawbacks")));
    printf("  shares by channel:");
    const char *name;
    json_t *v;
    json_object_foreach(ch, name, v) printf(" %s %s", name, N(jint(v, "shares")));
    printf("\n");
}

static const char *rate(json_t *rates, const char *key, char out[48])
{
    const char *s = json_string_value(json_object_get(rates, key));
    if (!s) return "n/a";
    /* "0.4521" -> "45.21%": integer arithmetic on the decimal string */
    json_int_t ten_k = 0;
    for (const char *p = s; *p; p++)
        if (*p >= '0' && *p <= '9') ten_k = ten_k * 10 + (*p - '0');
    snprintf(out, 48, "%d.%02d%%", (int)(ten_k / 100), (int)(ten_k % 100));
    return out;
}

/* CAC = reward cost / referred customers; ROI = referred revenue / reward
 * cost (both per asset, integer arithmetic). */
static void print_kpis(json_t *st)
{
    json_t *f = json_object_get(st, "funnel"), *rates = json_object_get(st, "rates");
    char a[48], b[48];
    printf("  conversion rate %s (referred customers / attributed signups), referral rate %s "
           "(customers who referred / customers)\n",
           rate(rates, "conversion_rate", a), rate(rates, "referral_rate", b));
    json_t *cost = json_object_get(f, "reward_cost"),
           *rrev = json_object_get(f, "referred_revenue");
    json_int_t rc = jint(f, "referred_customers");
    const char *asset;
    json_t *v;
    json_object_foreach(cost, asset, v)
    {
        json_int_t c = json_integer_value(v);
        char cac[48] = "n/a", roi[48] = "n/a";
        if (rc > 0) amount(asset, c / rc, cac);
        json_int_t rev = jint(rrev, asset);
        if (c > 0 && rev > 0) rf_query_ratio(rev, c, 2, roi);
        printf("  %s: reward cost %s, CAC %s per referred customer, ROI %s (referred revenue / "
               "reward cost)\n",
               asset, AMT(asset, c), cac, roi);
    }
}

static void print_fraud(json_t *st)
{
    json_t *fr = json_object_get(st, "fraud");
    const char *kinds[2] = {"rejections", "reviews"};
    printf("  fraud checks:");
    for (int k = 0; k < 2; k++) {
        json_t *m = json_object_get(fr, kinds[k]);
        printf(" %s", kinds[k]);
        if (json_object_size(m) == 0) printf(" none");
        const char *name;
        json_t *v;
        int i = 0;
        json_object_foreach(m, name, v)
            printf("%s %s %s", i++ ? "," : "", name, N(json_integer_value(v)));
        printf(k == 0 ? ";" : "\n");
    }
}

static void print_programs(json_t *rep)
{
    printf("\nexample programs\n");
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(rep, "programs"), i, p)
    {
        printf("\n%s: \"%s\" (%s, rules v%d, %s; traffic of loadgen's %s)\n",
               json_string_value(json_object_get(p, "id")),
               json_string_value(json_object_get(p, "name")),
               json_string_value(json_object_get(p, "currency")), (int)jint(p, "version"),
               json_string_value(json_object_get(p, "file")),
               json_string_value(json_object_get(p, "traffic_of")));
        json_t *st = json_object_get(p, "stats");
        if (json_is_object(json_object_get(p, "leaderboard")))
            print_board(json_object_get(p, "leaderboard"));
        if (!json_is_object(st)) continue;
        print_funnel(st);
        print_kpis(st);
        print_fraud(st);
    }
}

/* The relay's deliveries per endpoint (--webhooks only). */
static void print_webhooks(json_t *rep)
{
    json_t *w = json_object_get(rep, "webhooks");
    if (!w) return;
    printf("\nwebhooks (%s s after the projection caught up): %s ledger records read, %s "
           "messages queued\n",
           json_string_value(json_object_get(w, "drain_s")), N(jint(w, "records")),
           N(jint(w, "messages")));
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(w, "endpoints"), i, t)
    {
        printf("  %s %s: delivered %s, failed attempts %s, pending %s, parked %s%s\n",
               json_string_value(json_object_get(t, "endpoint")),
               json_string_value(json_object_get(t, "url")), N(jint(t, "delivered")),
               N(jint(t, "failed_attempts")), N(jint(t, "pending")), N(jint(t, "parked")),
               json_is_true(json_object_get(t, "disabled")) ? ", DISABLED" : "");
    }
    if (!json_is_true(json_object_get(w, "answered")))
        printf("  the receiver never answered 2xx: delivery not checked (is it running? see "
               "docs/demo.md)\n");
}

static void print_reconciliation(json_t *rep)
{
    printf(
        "\nreconciliation\n\ntrial balance (all programs, per asset; every row sums to zero):\n");
    printf("  %-12s %14s %14s %14s %14s %16s %14s %6s\n", "asset", "pending", "available",
           "redeemed", "receivable", "expense", "adjustment", "total");
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(rep, "trial_balance"), i, t)
    {
        const char *as = json_string_value(json_object_get(t, "asset"));
        printf("  %-12s %14s %14s %14s %14s %16s %14s %6s\n", as, AMT(as, jint(t, "pending")),
               AMT(as, jint(t, "available")), AMT(as, jint(t, "redeemed")),
               AMT(as, jint(t, "receivable")), AMT(as, jint(t, "expense")),
               AMT(as, jint(t, "adjustment")), N(jint(t, "total")));
    }
    json_t *o = json_object_get(rep, "offsets");
    printf("offsets: published %s, consumed %s = applied %s + rejected %s + duplicate %s + "
           "dead-lettered %s\n",
           N(jint(o, "published")), N(jint(o, "consumed")), N(jint(o, "applied")),
           N(jint(o, "rejected")), N(jint(o, "duplicate")), N(jint(o, "dead_letter")));
    json_t *pj = json_object_get(rep, "projection");
    printf("projection: %s accounts compared with the fold, %s differences\n",
           N(jint(pj, "accounts_compared")), N(jint(pj, "differences")));
    json_t *v = json_object_get(rep, "verify");
    printf("verify: %s\n", json_is_true(json_object_get(v, "ok")) ? "OK" : "FAILED");
    printf("  %-9s %12s  %s\n", "partition", "seq", "head hash");
    json_array_foreach(json_object_get(v, "partitions"), i, t)
    {
        printf("  %-9d %12s  %s%s\n", (int)jint(t, "partition"), N(jint(t, "seq")),
               json_string_value(json_object_get(t, "hash")),
               json_is_true(json_object_get(t, "ok")) ? "" : "  FAULT");
    }
    printf("head: %s\n", json_string_value(json_object_get(v, "head")));
    print_webhooks(rep);
    printf("\nchecks:\n");
    json_array_foreach(json_object_get(rep, "checks"), i, t)
    {
        printf("  %-4s %-18s %s\n", json_is_true(json_object_get(t, "ok")) ? "ok" : "FAIL",
               json_string_value(json_object_get(t, "check")),
               json_string_value(json_object_get(t, "detail")));
    }
}

/* path quoted for a POSIX shell when it needs it. */
static const char *shq(const char *s, char *out, size_t cap)
{
    if (strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+,:@") ==
        strlen(s)) {
        snprintf(out, cap, "%s", s);
        return out;
    }
    size_t o = 0;
    out[o++] = '\'';
    for (const char *p = s; *p && o + 6 < cap; p++) {
        if (*p == '\'') {
            memcpy(out + o, "'\\''", 4);
            o += 4;
        } else {
            out[o++] = *p;
        }
    }
    out[o++] = '\'';
    out[o] = '\0';
    return out;
}

static void print_next(const rf_demo_run_t *r, json_t *rep)
{
    char dq[2 * RF_DEMO_PATH_MAX + 8];
    shq(json_string_value(json_object_get(rep, "data_dir")), dq, sizeof dq);
    const char *prog = r->progs->n ? r->progs->p[0].id : "PROGRAM";
    const char *user = "USER";
    json_t *top = json_object_get(
        json_object_get(json_array_get(json_object_get(rep, "programs"), 0), "leaderboard"), "top");
    if (json_array_size(top) > 0)
        user = json_string_value(json_object_get(json_array_get(top, 0), "user"));
    printf("\ndata: %s\nquery it further:\n", json_string_value(json_object_get(rep, "data_dir")));
    printf("  refold leaderboard --data %s --program %s [--period month] [--by value]\n", dq, prog);
    printf("  refold stats --data %s --program %s\n", dq, prog);
    printf("  refold balance --data %s --user %s\n", dq, user);
    printf("  refold rank --data %s --program %s --user %s\n", dq, prog, user);
    if (have_command("explain"))
        printf("  refold explain --data %s --program %s --user %s\n", dq, prog, user);
    if (have_command("statement"))
        printf("  refold statement --data %s --user %s --program %s --from 2026-01-01 --to "
               "2027-01-01\n",
               dq, user, prog);
    if (have_command("serve")) printf("  refold serve --data %s\n", dq);
    printf("  refold verify --data %s\n", dq);
    printf("  refold reconcile --data %s\n", dq);
}

/* Seconds since the run started (0 for a moment that never came). */
static double since(const rf_demo_run_t *r, uint64_t ns)
{
    return ns > r->start_ns ? (double)(ns - r->start_ns) / 1e9 : 0;
}

static double secs_of(uint64_t ns)
{
    return (double)ns / 1e9;
}

static json_t *span_json(const rf_demo_run_t *r, uint64_t from, uint64_t to)
{
    return json_pack("{s:f, s:f, s:f}", "start_s", since(r, from), "end_s", since(r, to), "s",
                     since(r, to) - since(r, from));
}

/* The timing block of the JSON report: each stage's span, the time all
 * three overlapped, the producer's waits on the throttle, the CPU time. */
static void time_json(const rf_demo_run_t *r, json_t *t)
{
    const rf_demo_timing_t *tm = &r->tm;
    double ov0 = since(r, tm->publish_first_ns), ov1 = since(r, r->publish_done_ns);
    if (since(r, tm->fold_first_ns) > ov0) ov0 = since(r, tm->fold_first_ns);
    if (since(r, tm->proj_first_ns) > ov0) ov0 = since(r, tm->proj_first_ns);
    if (since(r, tm->fold_last_ns) < ov1) ov1 = since(r, tm->fold_last_ns);
    if (since(r, tm->proj_last_ns) < ov1) ov1 = since(r, tm->proj_last_ns);
    uint64_t held = 0;
    for (int i = 0; i < RF_DEMO_HOLD__COUNT; i++)
        held += tm->held_ns[i];
    uint64_t known = tm->cpu_main_ns + tm->cpu_fold_ns + tm->cpu_proj_ns;
    json_object_set_new(t, "publish", span_json(r, tm->publish_first_ns, r->publish_done_ns));
    json_object_set_new(t, "fold", span_json(r, tm->fold_first_ns, tm->fold_last_ns));
    json_object_set_new(t, "project", span_json(r, tm->proj_first_ns, tm->proj_last_ns));
    json_object_set_new(t, "overlap_s", json_real(ov1 > ov0 ? ov1 - ov0 : 0));
    json_object_set_new(t, "throttle",
                        json_pack("{s:f, s:I, s:f, s:f, s:f}", "waited_s", secs_of(held), "waits",
                                  (json_int_t)tm->holds, "events_s",
                                  secs_of(tm->held_ns[RF_DEMO_HOLD_EVENTS]), "event_bytes_s",
                                  secs_of(tm->held_ns[RF_DEMO_HOLD_EVENT_BYTES]), "ledger_s",
                                  secs_of(tm->held_ns[RF_DEMO_HOLD_LEDGER])));
    json_object_set_new(
        t, "cpu",
        json_pack("{s:f, s:f, s:f, s:f, s:f, s:f}", "pipeline_s", secs_of(tm->cpu_process_ns),
                  "main_s", secs_of(tm->cpu_main_ns), "fold_s", secs_of(tm->cpu_fold_ns),
                  "project_s", secs_of(tm->cpu_proj_ns), "other_s",
                  tm->cpu_process_ns > known ? secs_of(tm->cpu_process_ns - known) : 0.0,
                  "checks_s", secs_of(tm->cpu_checks_ns)));
}

static double jreal(json_t *o, const char *path1, const char *path2)
{
    json_t *v = json_object_get(o, path1);
    if (path2) v = json_object_get(v, path2);
    return json_number_value(v);
}

static void print_time(const rf_demo_run_t *r, json_t *t)
{
    double total = since(r, r->end_ns);
    printf("time (seconds since the start; the stages overlap):\n");
    static const char *const stages[] = {"publish", "fold", "project"};
    for (int i = 0; i < 3; i++)
        printf("  %-9s %7.2f .. %7.2f  %7.2f s\n", stages[i], jreal(t, stages[i], "start_s"),
               jreal(t, stages[i], "end_s"), jreal(t, stages[i], "s"));
    printf("  all three ran together for %.2f s of %.2f; after the last event was published: "
           "%.2f s to the end\n",
           jreal(t, "overlap_s", NULL), total, total - jreal(t, "publish", "end_s"));
    printf("  producer waited on the throttle %.2f s (%" PRIu64 " times: events %.2f s, event "
           "bytes %.2f s, ledger %.2f s)\n",
           jreal(t, "throttle", "waited_s"), r->tm.holds, jreal(t, "throttle", "events_s"),
           jreal(t, "throttle", "event_bytes_s"), jreal(t, "throttle", "ledger_s"));
    printf("  checks    %7.2f s after the pipeline\n", secs_of(r->tm.checks_ns));
    double cpu = jreal(t, "cpu", "pipeline_s");
    printf("  cpu: pipeline %.2f s (%.0f%% of one core; %.1f us per event): main thread (loadgen, "
           "producer) %.2f, fold thread %.2f, projection thread %.2f, other threads (fold pool, "
           "librdkafka, broker, rocksdb) %.2f; checks %.2f\n",
           cpu, total > 0 ? 100.0 * cpu / total : 0,
           r->delivered ? cpu * 1e6 / (double)r->delivered : 0, jreal(t, "cpu", "main_s"),
           jreal(t, "cpu", "fold_s"), jreal(t, "cpu", "project_s"), jreal(t, "cpu", "other_s"),
           jreal(t, "cpu", "checks_s"));
}

static void print_summary(const rf_demo_run_t *r, json_t *rep)
{
    char a[32], b[32], c[32];
    json_t *t = json_object_get(rep, "timing");
    printf("\ndone: %s events published, folded and projected in %s s (%s events/s end to "
           "end); %s ledger records; checked in %s s\n",
           num(jint(rep, "published"), a), json_string_value(json_object_get(t, "total_s")),
           num(jint(t, "events_per_s"), b), num(jint(rep, "records"), c),
           json_string_value(json_object_get(t, "checks_s")));
    print_time(r, t);
}

/* ---- the report ---------------------------------------------------------- */

static void header_json(const rf_demo_run_t *r, json_t *rep)
{
    char abs[PATH_MAX];
    const char *dir = realpath(r->o->data_dir, abs) ? abs : r->o->data_dir;
    uint64_t ns = r->end_ns - r->start_ns, pub_ns = r->publish_done_ns - r->start_ns;
    char total[32], pub[32];
    snprintf(total, sizeof total, "%.2f", (double)ns / 1e9);
    snprintf(pub, sizeof pub, "%.2f", (double)pub_ns / 1e9);
    json_int_t eps = ns ? (json_int_t)((double)r->delivered * 1e9 / (double)ns) : 0;
    json_object_set_new(rep, "data_dir", json_string(dir));
    json_object_set_new(rep, "events", json_integer((json_int_t)r->o->events));
    json_object_set_new(rep, "seed", json_integer((json_int_t)r->o->seed));
    json_object_set_new(rep, "partitions", json_integer(r->o->partitions));
    json_object_set_new(rep, "programs_dir", json_string(r->progs->dir));
    json_object_set_new(rep, "published", json_integer((json_int_t)r->delivered));
    json_object_set_new(
        rep, "timing",
        json_pack("{s:s, s:s, s:I}", "total_s", total, "publish_s", pub, "events_per_s", eps));
}

/* The relay's counters (its stats after the wait) and, when the receiver
 * answered at all, the check that every subscribed record was delivered:
 * nothing pending or parked, delivered = queued. Messages are counted since
 * the relay started, which is the demo's start: the data directory was new. */
static void webhooks_json(const rf_demo_run_t *r, json_t *rep, checks_t *c)
{
    const rf_wh_stats_t *st = &r->ws;
    char drain[32];
    snprintf(drain, sizeof drain, "%.2f", (double)(r->wh_done_ns - r->end_ns) / 1e9);
    json_t *eps = json_array();
    uint64_t delivered = 0, pending = 0, parked = 0;
    for (int e = 0; e < st->nendpoints; e++) {
        const rf_wh_endpoint_stats_t *es = &st->endpoints[e];
        json_array_append_new(eps, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:b}", "endpoint",
                                             es->id, "url", r->wh_cfg->endpoints[e].url,
                                             "delivered", (json_int_t)es->delivered,
                                             "failed_attempts", (json_int_t)es->failed, "pending",
                                             (json_int_t)es->pending, "parked",
                                             (json_int_t)es->parked, "disabled", es->disabled));
        delivered += es->delivered;
        pending += es->pending;
        parked += es->parked;
    }
    bool answered = delivered > 0;
    json_object_set_new(rep, "webhooks",
                        json_pack("{s:I, s:I, s:s, s:b, s:b, s:o}", "records",
                                  (json_int_t)st->records, "messages", (json_int_t)st->messages,
                                  "drain_s", drain, "drained", r->wh_drained, "answered", answered,
                                  "endpoints", eps));
    if (!answered) return;
    if (pending == 0 && parked == 0 && delivered == st->messages)
        check(c, true, "webhooks", "every subscribed record delivered (%s messages)",
              N((json_int_t)delivered));
    else
        check(c, false, "webhooks", "delivered %s of %s messages (%s pending, %s parked)",
              N((json_int_t)delivered), N((json_int_t)st->messages), N((json_int_t)pending),
              N((json_int_t)parked));
}

/* Everything the report needs from the stores, into rep and c. */
static rf_err_t gather(rf_demo_run_t *r, json_t *rep, checks_t *c, rf_errbuf_t *eb)
{
    uint64_t t0 = rf_now_ns(), cpu0 = rf__demo_cpu_ns();
    rf_errbuf_t qeb = {{0}};
    report_q = rf_query_open(r->o->data_dir, RF_QUERY_SNAPSHOT, &qeb);
    if (!report_q) return rf_errf(eb, RF_ERR_NOT_FOUND, "projection store: %s", qeb.msg);
    rf_err_t err = fold_side(r, rep, c, eb);
    if (err == RF_OK) json_object_set_new(rep, "programs", programs_json(r, report_q, c));
    rf_query_close(report_q);
    report_q = NULL;
    r->tm.checks_ns = rf_now_ns() - t0;
    r->tm.cpu_checks_ns = rf__demo_cpu_ns() - cpu0;
    char secs[32];
    snprintf(secs, sizeof secs, "%.2f", (double)r->tm.checks_ns / 1e9);
    json_object_set_new(json_object_get(rep, "timing"), "checks_s", json_string(secs));
    time_json(r, json_object_get(rep, "timing"));
    return err;
}

rf_err_t rf__demo_report(rf_demo_run_t *r, rf_errbuf_t *eb)
{
    checks_t c = {.arr = json_array()};
    json_t *rep = json_object();
    header_json(r, rep);
    rf_err_t err = gather(r, rep, &c, eb);
    if (err == RF_OK && r->wh_cfg) webhooks_json(r, rep, &c);
    if (err != RF_OK) {
        json_decref(c.arr);
        json_decref(rep);
        return err;
    }
    json_object_set_new(rep, "checks", c.arr);
    json_object_set_new(rep, "ok", json_boolean(c.err == RF_OK));
    print_summary(r, rep);
    print_programs(rep);
    print_reconciliation(rep);
    print_next(r, rep);
    fflush(stdout);
    if (r->o->json_report &&
        json_dump_file(rep, r->o->json_report, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
        err = rf_errf(eb, RF_ERR_IO, "cannot write '%s'", r->o->json_report);
    json_decref(rep);
    if (err == RF_OK && c.err != RF_OK) err = rf_errf(eb, c.err, "%s", c.first);
    return err;
}
