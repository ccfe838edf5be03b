/* test_finance.c: finance reads (ledger/rf_finance.h) and the tools built on
 * them, on small scenarios folded straight into ledgers (no Kafka):
 * reconcile figures, statements and as-of balances against references,
 * export rows, replay from the archive, what-if. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rf_codec.h"
#include "rf_time.h"
#include "rf_finance.h"
#include "rf_ledger.h"
#include "rf_project.h"
#include "rf_replay.h"
#include "rf_testutil.h"

#define DAY_MS 86400000LL
#define T0     1767225600000LL /* 2026-01-01T00:00:00Z */

/* ---- building scenarios ---- */

typedef struct scen {
    char dir[256];
    rf_codec_t *codec;
    rf_event_t *ev;
    uint8_t buf[RF_EVENT_BYTES_MAX];
    size_t len; /* bytes of the last event folded (for duplicates) */
    int nid;
} scen_t;

static void scen_init(scen_t *s, const char *tag)
{
    memset(s, 0, sizeof *s);
    rf_test_tmpdir(tag, s->dir, sizeof s->dir);
    rf_errbuf_t eb;
    s->codec = rf_codec_new(&eb);
    s->ev = calloc(1, sizeof *s->ev);
    assert_non_null(s->codec);
    assert_non_null(s->ev);
}

static void scen_free(scen_t *s)
{
    rf_codec_destroy(s->codec);
    free(s->ev);
    rf_test_rmtree(s->dir);
}

/* Starts an event with a deterministic event id. */
static rf_event_t *ev_new(scen_t *s, rf_event_type_t type, const char *program, int64_t t_ms)
{
    rf_event_t *ev = s->ev;
    rf_event_clear(ev);
    ev->type = type;
    snprintf(ev->event_id, sizeof ev->event_id, "00000000-0000-4000-8000-%012x", ++s->nid);
    rf_strlcpy(ev->program_id, program, sizeof ev->program_id);
    ev->occurred_at_ms = t_ms;
    rf_strlcpy(ev->source, "test", sizeof ev->source);
    return ev;
}

static rf_outcome_t fold_bytes(rf_ledger_t *l, const uint8_t *b, size_t len)
{
    int64_t off = rf_ledger_next_offset(l);
    rf_fold_result_t res;
    rf_errbuf_t eb = {{0}};
    rf_err_t err = rf_ledger_fold(l, off < 0 ? 0 : off, RF_LEDGER_CLOCK_NONE, b, len, &res, &eb);
    if (err) fail_msg("fold: %s", eb.msg);
    err = rf_ledger_commit(l, &eb);
    if (err) fail_msg("commit: %s", eb.msg);
    return res.outcome;
}

static rf_outcome_t fold_ev(scen_t *s, rf_ledger_t *l)
{
    rf_errbuf_t eb = {{0}};
    rf_err_t err = rf_codec_encode_event(s->codec, s->ev, RF_SCHEMA_ID_EVENT, s->buf, sizeof s->buf,
                                         &s->len, &eb);
    if (err) fail_msg("encode: %s", eb.msg);
    return fold_bytes(l, s->buf, s->len);
}

static rf_outcome_t program(scen_t *s, rf_ledger_t *l, const char *p, int32_t version,
                            const char *rules, int64_t t)
{
    rf_event_t *ev = ev_new(s, RF_EV_PROGRAM_CONFIGURED, p, t);
    ev->version = version;
    rf_strlcpy(ev->rules_json, rules, sizeof ev->rules_json);
    return fold_ev(s, l);
}

static rf_outcome_t adjust(scen_t *s, rf_ledger_t *l, const char *p, const char *user,
                           int64_t amount, const char *asset, int64_t t)
{
    rf_event_t *ev = ev_new(s, RF_EV_ADJUSTMENT, p, t);
    rf_strlcpy(ev->user, user, sizeof ev->user);
    ev->amount_minor = amount;
    rf_strlcpy(ev->asset, asset, sizeof ev->asset);
    rf_strlcpy(ev->reason, "goodwill", sizeof ev->reason);
    rf_strlcpy(ev->actor, "finance-1", sizeof ev->actor);
    return fold_ev(s, l);
}

static rf_outcome_t redeem(scen_t *s, rf_ledger_t *l, const char *p, const char *user,
                           int64_t amount, const char *asset, const char *req, int64_t t)
{
    rf_event_t *ev = ev_new(s, RF_EV_REDEMPTION, p, t);
    rf_strlcpy(ev->user, user, sizeof ev->user);
    ev->amount_minor = amount;
    rf_strlcpy(ev->asset, asset, sizeof ev->asset);
    rf_strlcpy(ev->request_id, req, sizeof ev->request_id);
    return fold_ev(s, l);
}

static rf_ledger_t *open_part(scen_t *s, int32_t p)
{
    rf_errbuf_t eb = {{0}};
    rf_ledger_t *l = rf_ledger_open(s->dir, p, RF_LEDGER_CREATE | RF_LEDGER_NOSYNC, &eb);
    if (!l) fail_msg("open: %s", eb.msg);
    return l;
}

/* The finance scenario (figures worked out in the comments):
 * p0 / program p1 (USD): u1 +1000, u2 +500, u1 redeems 300 (r1), u2 asks 600
 * (rejected, r4), a duplicate, a dead letter, u2 redeems 100 (r3), u1 -200 at
 * day 10, then a late +50 for u1 dated day 2.5.
 * p1 / program p2: u3 +200 POINTS, u3 redeems 50 (r2), u1 +70 POINTS. */
static void finance_scenario_late(scen_t *s, int64_t late);
static void finance_scenario(scen_t *s)
{
    finance_scenario_late(s, 50);
}

/* The scenario with `late` for the late adjustment of u1 (50 in the figures). */
static void finance_scenario_late(scen_t *s, int64_t late)
{
    rf_ledger_t *l = open_part(s, 0);
    assert_int_equal(program(s, l, "p1", 1, "{\"currency\":\"USD\"}", T0), RF_OUTCOME_APPLIED);
    assert_int_equal(adjust(s, l, "p1", "u1", 1000, "USD", T0 + DAY_MS), RF_OUTCOME_APPLIED);
    uint8_t dup[RF_EVENT_BYTES_MAX];
    size_t duplen = s->len;
    memcpy(dup, s->buf, duplen);
    assert_int_equal(adjust(s, l, "p1", "u2", 500, "USD", T0 + 2 * DAY_MS), RF_OUTCOME_APPLIED);
    assert_int_equal(redeem(s, l, "p1", "u1", 300, "USD", "r1", T0 + 3 * DAY_MS),
                     RF_OUTCOME_APPLIED);
    assert_int_equal(redeem(s, l, "p1", "u2", 600, "USD", "r4", T0 + 4 * DAY_MS),
                     RF_OUTCOME_REJECTED);
    assert_int_equal(fold_bytes(l, dup, duplen), RF_OUTCOME_DUPLICATE);
    assert_int_equal(fold_bytes(l, (const uint8_t *)"garbage", 7), RF_OUTCOME_DEAD_LETTER);
    assert_int_equal(redeem(s, l, "p1", "u2", 100, "USD", "r3", T0 + 5 * DAY_MS),
                     RF_OUTCOME_APPLIED);
    assert_int_equal(adjust(s, l, "p1", "u1", -200, "USD", T0 + 10 * DAY_MS), RF_OUTCOME_APPLIED);
    assert_int_equal(adjust(s, l, "p1", "u1", late, "USD", T0 + 2 * DAY_MS + DAY_MS / 2),
                     RF_OUTCOME_APPLIED);
    rf_ledger_close(l);
    l = open_part(s, 1);
    assert_int_equal(program(s, l, "p2", 1, "{\"currency\":\"USD\"}", T0), RF_OUTCOME_APPLIED);
    assert_int_equal(adjust(s, l, "p2", "u3", 200, "POINTS", T0 + DAY_MS), RF_OUTCOME_APPLIED);
    assert_int_equal(redeem(s, l, "p2", "u3", 50, "POINTS", "r2", T0 + 2 * DAY_MS),
                     RF_OUTCOME_APPLIED);
    assert_int_equal(adjust(s, l, "p2", "u1", 70, "POINTS", T0 + 3 * DAY_MS), RF_OUTCOME_APPLIED);
    rf_ledger_close(l);
}

/* ---- time ---- */

static void test_time(void **state)
{
    (void)state;
    int64_t ms;
    rf_errbuf_t eb;
    assert_int_equal(rf_finance_time_parse("2026-01-01", &ms, &eb), RF_OK);
    assert_int_equal(ms, T0);
    assert_int_equal(rf_finance_time_parse("2026-01-01T00:00:01.5Z", &ms, &eb), RF_OK);
    assert_int_equal(ms, T0 + 1500);
    assert_int_equal(rf_finance_time_parse("2026-01-01T02:00:00+02:00", &ms, &eb), RF_OK);
    assert_int_equal(ms, T0);
    assert_int_equal(rf_finance_time_parse("1767225600000", &ms, &eb), RF_OK);
    assert_int_equal(ms, T0);
    assert_int_equal(rf_finance_time_parse("2024-02-29T23:59:59Z", &ms, &eb), RF_OK);
    assert_int_equal(rf_finance_time_parse("2026-02-29", &ms, &eb), RF_ERR_BAD_INPUT);
    assert_int_equal(rf_finance_time_parse("2026-01-01T00:00:00", &ms, &eb), RF_ERR_BAD_INPUT);
    assert_int_equal(rf_finance_time_parse("yesterday", &ms, &eb), RF_ERR_BAD_INPUT);
    char out[RF_TIME_BUF];
    rf_time_format(T0 + 2 * DAY_MS + 3723004, out);
    assert_string_equal(out, "2026-01-03T01:02:03.004Z");
    rf_time_format(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
}

/* ---- reconcile ---- */

static const rf_tb_row_t *tb_find(const rf_reconcile_t *r, const char *program, const char *asset)
{
    for (int i = 0; i < r->ntb; i++)
        if (!strcmp(r->tb[i].program, program) && !strcmp(r->tb[i].asset, asset)) return &r->tb[i];
    fail_msg("no trial balance row %s/%s", program, asset);
    return NULL;
}

static void check_tb(const rf_reconcile_t *r)
{
    assert_int_equal(r->ntb, 2);
    const rf_tb_row_t *t = tb_find(r, "p1", "USD");
    assert_int_equal(t->b[RF_BUCKET_AVAILABLE], 950); /* u1 550 + u2 400 */
    assert_int_equal(t->b[RF_BUCKET_REDEEMED], 400);
    assert_int_equal(t->b[RF_BUCKET_ADJUSTMENT], -1350);
    assert_int_equal(t->b[RF_BUCKET_PENDING], 0);
    assert_int_equal(t->total, 0);
    assert_int_equal(t->accounts, 3);
    t = tb_find(r, "p2", "POINTS");
    assert_int_equal(t->b[RF_BUCKET_AVAILABLE], 220);
    assert_int_equal(t->b[RF_BUCKET_REDEEMED], 50);
    assert_int_equal(t->b[RF_BUCKET_ADJUSTMENT], -270);
    assert_int_equal(t->total, 0);
}

static void check_offsets(const rf_reconcile_t *r)
{
    assert_int_equal(r->nparts, 2);
    const rf_offsets_row_t *o = &r->parts[0];
    assert_int_equal(o->partition, 0);
    assert_int_equal(o->first_offset, 0);
    assert_int_equal(o->next_offset, 10);
    assert_int_equal(o->consumed, 10);
    assert_int_equal(o->counts[RF_OUTCOME_APPLIED], 7);
    assert_int_equal(o->counts[RF_OUTCOME_REJECTED], 1);
    assert_int_equal(o->counts[RF_OUTCOME_DUPLICATE], 1);
    assert_int_equal(o->counts[RF_OUTCOME_DEAD_LETTER], 1);
    assert_int_equal(o->archived, 10);
    assert_int_equal(o->first_gap, -1);
    assert_true(o->ok);
    assert_int_equal(r->parts[1].consumed, 4);
    assert_true(r->parts[1].ok);
}

static void test_reconcile(void **state)
{
    (void)state;
    scen_t *s = malloc(sizeof *s);
    scen_init(s, "reconcile");
    finance_scenario(s);
    char csv[512];
    snprintf(csv, sizeof csv, "%s/payouts.csv", s->dir);
    rf_test_write_file(csv, "request_id,user,program,asset,amount_minor,paid_by\n"
                            "r1,u1,p1,USD,300,bank\n"
                            "r2,u3,p2,POINTS,40,\"bank, manual\"\n"
                            "r9,u9,p1,USD,100,bank\n"
                            "r4,u2,p1,USD,600,bank\n");
    rf_reconcile_opts_t o = {s->dir, csv, INT64_MIN, INT64_MAX, NULL};
    rf_reconcile_t *r = calloc(1, sizeof *r);
    rf_errbuf_t eb = {{0}};
    assert_int_equal(rf_finance_reconcile(&o, r, &eb), RF_OK);
    check_tb(r);
    check_offsets(r);
    assert_true(r->payouts_checked);
    assert_int_equal(r->ledger_redemptions, 3);
    assert_int_equal(r->file_payouts, 4);
    assert_int_equal(r->matched, 1);
    assert_int_equal(r->mismatched, 1); /* r2: 40 paid, 50 redeemed */
    assert_int_equal(r->unexpected, 2); /* r9 unknown, r4 was rejected */
    assert_int_equal(r->missing, 1);    /* r3 redeemed, not paid */
    assert_false(r->ok);
    rf_reconcile_free(r);
    /* without the payout file everything adds up */
    o.payouts_csv = NULL;
    assert_int_equal(rf_finance_reconcile(&o, r, &eb), RF_OK);
    assert_true(r->ok);
    rf_reconcile_free(r);
    /* the command: exit 0 / 1, and the JSON says the same */
    char out[16384];
    assert_int_equal(rf_test_refold(out, sizeof out, 1, "reconcile --data %s", s->dir), 0);
    assert_non_null(strstr(out, "projection store not found"));
    assert_non_null(strstr(out, "OK: everything adds up"));
    assert_int_equal(
        rf_test_refold(out, sizeof out, 0, "reconcile --data %s --payouts %s --json", s->dir, csv),
        1);
    json_error_t jerr;
    json_t *j = json_loads(out, 0, &jerr);
    assert_non_null(j);
    assert_false(json_is_true(json_object_get(j, "ok")));
    json_t *p = json_object_get(j, "payouts");
    assert_int_equal(json_integer_value(json_object_get(p, "missing")), 1);
    assert_int_equal(json_integer_value(json_object_get(p, "unexpected")), 2);
    json_decref(j);
    free(r);
    scen_free(s);
    free(s);
}

/* ---- fold against projection ---- */

typedef struct proj_st {
    rf_projection_t *p;
    uint64_t upto; /* apply records with seq <= upto */
} proj_st_t;

static int proj_apply(const rf_record_t *rec, void *opaque)
{
    proj_st_t *st = opaque;
    if (rec->seq > st->upto) return 1;
    rf_errbuf_t eb = {{0}};
    if (rf_projection_apply(st->p, rec, NULL, &eb)) fail_msg("apply: %s", eb.msg);
    return 0;
}

/* Builds the projection store of data from the ledger records of src, the
 * last `short_by` records of partition 0 left out (a projection that is
 * behind). */
static void project_from(const char *src, const char *data, uint64_t short_by)
{
    rf_errbuf_t eb = {{0}};
    for (int32_t part = 0; part < 2; part++) {
        rf_ledger_t *l = rf_ledger_open(src, part, RF_LEDGER_READONLY, &eb);
        assert_non_null(l);
        rf_ledger_head_t h;
        rf_ledger_head(l, &h, &eb);
        proj_st_t st = {
            rf_projection_open(data, part, RF_PROJECTION_CREATE | RF_PROJECTION_NOSYNC, &eb),
            part == 0 ? h.seq - short_by : h.seq};
        if (!st.p) fail_msg("projection: %s", eb.msg);
        assert_int_equal(rf_ledger_scan(l, 1, 0, proj_apply, &st, &eb), RF_OK);
        assert_int_equal(rf_projection_commit(st.p, -1, -1, &eb), RF_OK);
        rf_projection_close(st.p);
        rf_ledger_close(l);
    }
}

static void test_reconcile_projection(void **state)
{
    (void)state;
    scen_t *s = malloc(sizeof *s);
    scen_init(s, "reconcile-proj");
    finance_scenario(s);
    project_from(s->dir, s->dir, 0);
    char out[16384];
    assert_int_equal(rf_test_refold(out, sizeof out, 1, "reconcile --data %s", s->dir), 0);
    if (!strstr(out, "0 (account, bucket) differences")) fail_msg("%s", out);
    assert_non_null(strstr(out, "OK: everything adds up"));
    scen_free(s);
    /* the same ledger with a projection one record behind (the late +50 of
     * u1 in flight): compared as of the projection's seq, nothing differs */
    scen_init(s, "reconcile-behind");
    finance_scenario(s);
    project_from(s->dir, s->dir, 1);
    assert_int_equal(rf_test_refold(out, sizeof out, 0, "reconcile --data %s --json", s->dir), 0);
    json_error_t jerr;
    json_t *j = json_loads(out, 0, &jerr);
    if (!j) fail_msg("not JSON: %s", out);
    json_t *pj = json_object_get(j, "projection");
    assert_true(json_is_true(json_object_get(pj, "checked")));
    assert_int_equal(json_integer_value(json_object_get(pj, "differences")), 0);
    json_t *behind = json_array_get(json_object_get(pj, "projection_behind"), 0);
    assert_int_equal(json_integer_value(json_object_get(behind, "partition")), 0);
    assert_int_equal(json_integer_value(json_object_get(behind, "fold_head_seq")) -
                         json_integer_value(json_object_get(behind, "projection_applied_seq")),
                     1);
    json_decref(j);
    scen_free(s);
    /* drift at rest: the projection of a ledger whose late adjustment was 60
     * (same seqs): u1 available and #adjustment adjustment differ by 10 */
    scen_t *other = malloc(sizeof *other);
    scen_init(other, "reconcile-other");
    finance_scenario_late(other, 60);
    scen_init(s, "reconcile-drift");
    finance_scenario(s);
    project_from(other->dir, s->dir, 0);
    scen_free(other);
    free(other);
    assert_int_equal(rf_test_refold(out, sizeof out, 0, "reconcile --data %s --json", s->dir), 1);
    if (!(j = json_loads(out, 0, &jerr))) fail_msg("not JSON: %s", out);
    pj = json_object_get(j, "projection");
    assert_int_equal(json_integer_value(json_object_get(pj, "differences")), 2);
    assert_int_equal(json_array_size(json_object_get(pj, "projection_behind")), 0);
    json_t *rows = json_object_get(pj, "rows");
    for (size_t i = 0; i < json_array_size(rows); i++) {
        json_t *r = json_array_get(rows, i);
        assert_int_equal(json_integer_value(json_object_get(r, "projection")) -
                             json_integer_value(json_object_get(r, "fold")),
                         strcmp(json_string_value(json_object_get(r, "owner")), "u1") ? -10 : 10);
    }
    json_decref(j);
    /* --no-projection skips the check: the rest adds up */
    assert_int_equal(
        rf_test_refold(out, sizeof out, 1, "reconcile --data %s --no-projection", s->dir), 0);
    scen_free(s);
    free(s);
}

/* ---- statements and as-of balances ---- */

/* Reference: sums the user's postings with t in [from, to) straight from the
 * records, independently of rf_finance. */
typedef struct ref_st {
    const char *user, *program;
    int64_t from, to;
    int64_t b[RF_BUCKET__COUNT];
    const char *asset;
    int nmv;
} ref_st_t;

static int ref_record(const rf_record_t *rec, void *opaque)
{
    ref_st_t *st = opaque;
    if (st->program && strcmp(rec->program_id, st->program)) return 0;
    if (rec->occurred_at_ms < st->from || rec->occurred_at_ms >= st->to) return 0;
    for (uint32_t i = 0; i < rec->npostings; i++)
        if (!strcmp(rec->postings[i].owner, st->user) &&
            !strcmp(rec->postings[i].asset, st->asset)) {
            st->b[rec->postings[i].bucket] += rec->postings[i].amount_minor;
            st->nmv++;
        }
    return 0;
}

static void reference(const char *dir, ref_st_t *st)
{
    rf_errbuf_t eb;
    for (int32_t p = 0; p < 2; p++) {
        rf_ledger_t *l = rf_ledger_open(dir, p, RF_LEDGER_READONLY, &eb);
        assert_non_null(l);
        assert_int_equal(rf_ledger_scan(l, 1, 0, ref_record, st, &eb), RF_OK);
        rf_ledger_close(l);
    }
}

static void check_asof(const char *dir, int64_t t, int64_t available, int64_t redeemed)
{
    rf_acct_t *a = NULL;
    int n = 0;
    rf_errbuf_t eb;
    assert_int_equal(rf_finance_balance_at(dir, "u1", "p1", t, &a, &n, &eb), RF_OK);
    ref_st_t ref = {"u1", "p1", INT64_MIN, t + 1, {0}, "USD", 0};
    reference(dir, &ref);
    assert_int_equal(n, 1);
    assert_string_equal(a[0].asset, "USD");
    for (int k = 0; k < RF_BUCKET__COUNT; k++)
        assert_int_equal(a[0].b[k], ref.b[k]);
    assert_int_equal(a[0].b[RF_BUCKET_AVAILABLE], available);
    assert_int_equal(a[0].b[RF_BUCKET_REDEEMED], redeemed);
    free(a);
}

static void test_statement_asof(void **state)
{
    (void)state;
    scen_t *s = malloc(sizeof *s);
    scen_init(s, "statement");
    finance_scenario(s);
    rf_statement_t st;
    rf_errbuf_t eb = {{0}};
    int64_t from = T0 + 2 * DAY_MS, to = T0 + 10 * DAY_MS;
    assert_int_equal(rf_finance_statement(s->dir, "u1", "p1", from, to, &st, &eb), RF_OK);
    assert_int_equal(st.naccounts, 1);
    assert_int_equal(st.opening[0].b[RF_BUCKET_AVAILABLE], 1000);
    assert_int_equal(st.closing[0].b[RF_BUCKET_AVAILABLE], 750);
    assert_int_equal(st.closing[0].b[RF_BUCKET_REDEEMED], 300);
    /* movements in event-time order: the late +50 (day 2.5), then r1 (day 3) */
    assert_int_equal(st.nmovements, 3);
    assert_int_equal(st.movements[0].amount_minor, 50);
    assert_string_equal(st.movements[0].kind, "adjustment");
    assert_string_equal(st.movements[0].reason, "goodwill");
    assert_int_equal(st.movements[1].amount_minor, -300);
    assert_int_equal(st.movements[2].amount_minor, 300);
    assert_string_equal(st.movements[2].kind, "redemption");
    ref_st_t ref = {"u1", "p1", from, to, {0}, "USD", 0};
    reference(s->dir, &ref);
    assert_int_equal(ref.nmv, (int)st.nmovements);
    for (int k = 0; k < RF_BUCKET__COUNT; k++)
        assert_int_equal(st.closing[0].b[k] - st.opening[0].b[k], ref.b[k]);
    rf_statement_free(&st);
    /* every program: u1 also holds POINTS in p2 */
    assert_int_equal(rf_finance_statement(s->dir, "u1", NULL, from, to, &st, &eb), RF_OK);
    assert_int_equal(st.naccounts, 2);
    assert_int_equal(st.nmovements, 4);
    rf_statement_free(&st);
    check_asof(s->dir, T0 + 2 * DAY_MS, 1000, 0);
    check_asof(s->dir, T0 + 2 * DAY_MS + DAY_MS / 2, 1050, 0); /* inclusive, late event counts */
    check_asof(s->dir, T0 + 10 * DAY_MS, 550, 300);
    check_asof(s->dir, T0 - 1, 0, 0);
    /* the commands */
    char out[16384];
    assert_int_equal(rf_test_refold(out, sizeof out, 1,
                                    "balance-at --data %s --user u1 --as-of 2026-01-03T12:00:00Z "
                                    "--program p1 --json",
                                    s->dir),
                     0);
    assert_non_null(strstr(out, "\"available\":1050"));
    assert_int_equal(rf_test_refold(out, sizeof out, 1,
                                    "statement --data %s --user u1 --from 2026-01-03 --to "
                                    "2026-01-11",
                                    s->dir),
                     0);
    assert_non_null(strstr(out, "movements (4)"));
    assert_int_equal(rf_test_refold(out, sizeof out, 1,
                                    "statement --data %s --user u1 --from x "
                                    "--to 2026-01-11",
                                    s->dir),
                     2);
    scen_free(s);
    free(s);
}

/* ---- export ---- */

typedef struct rows_st {
    uint64_t rows;
} rows_st_t;

static int count_rows(const rf_record_t *rec, void *opaque)
{
    ((rows_st_t *)opaque)->rows += rec->npostings ? rec->npostings : 1;
    return 0;
}

static void test_export(void **state)
{
    (void)state;
    scen_t *s = malloc(sizeof *s);
    scen_init(s, "export");
    finance_scenario(s);
    rows_st_t want = {0};
    rf_errbuf_t eb;
    for (int32_t p = 0; p < 2; p++) {
        rf_ledger_t *l = rf_ledger_open(s->dir, p, RF_LEDGER_READONLY, &eb);
        assert_int_equal(rf_ledger_scan(l, 1, 0, count_rows, &want, &eb), RF_OK);
        rf_ledger_close(l);
    }
    char path[512], line[8192];
    snprintf(path, sizeof path, "%s/out.csv", s->dir);
    assert_int_equal(rf_test_refold(NULL, 0, 0,
                                    "export --data %s --format csv --out %s 2>/dev/null", s->dir,
                                    path),
                     0);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "partition,seq,hash,prev_hash,offset,event_id,program_id,"
                              "occurred_at,kind,owner,bucket,asset,amount_minor,facts\n");
    uint64_t rows = 0;
    int saw_r1 = 0;
    while (fgets(line, sizeof line, f)) {
        rows++;
        if (strstr(line, ",redemption,u1,redeemed,USD,300,") &&
            strstr(line, "\"\"request_id\"\":\"\"r1\"\"") &&
            strstr(line, ",2026-01-04T00:00:00.000Z,"))
            saw_r1 = 1;
    }
    fclose(f);
    assert_int_equal(rows, want.rows);
    assert_true(saw_r1);
    /* JSON lines, one period: records of day 3 .. day 5 (exclusive) */
    FILE *mem = tmpfile();
    uint64_t n = 0;
    assert_int_equal(
        rf_finance_export(s->dir, T0 + 3 * DAY_MS, T0 + 5 * DAY_MS, RF_EXPORT_JSONL, mem, &n, &eb),
        RF_OK);
    rewind(mem);
    uint64_t parsed = 0, empty = 0;
    while (fgets(line, sizeof line, mem)) {
        json_error_t jerr;
        json_t *j = json_loads(line, 0, &jerr);
        assert_non_null(j);
        const char *when = json_string_value(json_object_get(j, "occurred_at"));
        assert_true(strcmp(when, "2026-01-04") > 0 && strcmp(when, "2026-01-06") < 0);
        assert_true(json_is_object(json_object_get(j, "facts")));
        empty += json_is_null(json_object_get(j, "owner"));
        parsed++;
        json_decref(j);
    }
    fclose(mem);
    /* r1 (2 postings, day 3), rejected r4 (no posting, day 4), u3's r2 is day 2,
     * u1's +70 POINTS (2 postings, day 3) */
    assert_int_equal(parsed, n);
    assert_int_equal(n, 5);
    assert_int_equal(empty, 1);
    scen_free(s);
    free(s);
}

/* ---- replay from the archive, what-if ---- */

static void test_replay_archive(void **state)
{
    (void)state;
    scen_t *s = malloc(sizeof *s);
    scen_init(s, "replay");
    finance_scenario(s);
    char into[512], into2[512];
    snprintf(into, sizeof into, "%s/replayed", s->dir);
    snprintf(into2, sizeof into2, "%s/partial", s->dir);
    rf_replay_opts_t o;
    rf_replay_opts_init(&o);
    o.data_dir = s->dir;
    o.into_dir = into;
    o.ledger_flags = RF_LEDGER_NOSYNC;
    rf_replay_stats_t *st = malloc(sizeof *st);
    rf_errbuf_t eb = {{0}};
    assert_int_equal(rf_replay_run(&o, st, &eb), RF_OK);
    assert_int_equal(st->events, 14);
    assert_int_equal(st->parts[0].outcomes[RF_OUTCOME_DEAD_LETTER], 1);
    assert_int_equal(st->parts[0].outcomes[RF_OUTCOME_DUPLICATE], 1);
    rf_replay_cmp_t cmp[4];
    assert_int_equal(rf_replay_compare(s->dir, into, cmp, 4, &eb), 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(cmp[i].verdict, RF_REPLAY_SAME);
        assert_true(cmp[i].live_seq > 0);
    }
    /* replaying again into the same directory is refused */
    assert_int_equal(rf_replay_run(&o, st, &eb), RF_ERR_CONFIG);
    /* a partial replay (from offset 3) lacks ProgramConfigured: everything
     * dead-letters as "unknown program", so it holds no record: a prefix */
    o.into_dir = into2;
    o.from_offset = 3;
    assert_int_equal(rf_replay_run(&o, st, &eb), RF_OK);
    assert_int_equal(st->parts[0].start_offset, 3);
    assert_int_equal(st->parts[0].outcomes[RF_OUTCOME_APPLIED], 0);
    assert_int_equal(rf_replay_compare(s->dir, into2, cmp, 4, &eb), 2);
    assert_int_equal(cmp[0].verdict, RF_REPLAY_PREFIX);
    assert_int_equal(cmp[0].new_seq, 0);
    /* the command: same heads, exit 0 */
    char out[8192];
    assert_int_equal(rf_test_refold(out, sizeof out, 1,
                                    "replay --from-archive --data %s --into "
                                    "%s/cmd --nosync",
                                    s->dir, s->dir),
                     0);
    assert_non_null(strstr(out, "SAME: every head matches"));
    assert_int_equal(rf_test_refold(out, sizeof out, 1,
                                    "replay --from-archive --data %s --into "
                                    "%s/cmd --nosync",
                                    s->dir, s->dir),
                     1);
    assert_non_null(strstr(out, "needs a fresh directory"));
    free(st);
    scen_free(s);
    free(s);
}

/* What-if: a referrer reward of 1000 replaced by 2500 gives +1500 per reward. */
/* The same few events (ids restart) into the ledger at dir/p-0000, folded
 * with `flags`; returns the open ledger after the last commit. */
static rf_ledger_t *bulk_events(scen_t *s, const char *dir, int flags)
{
    rf_errbuf_t eb = {{0}};
    rf_ledger_t *l = rf_ledger_open(dir, 0, RF_LEDGER_CREATE | flags, &eb);
    if (!l) fail_msg("open: %s", eb.msg);
    s->nid = 0;
    assert_int_equal(program(s, l, "p1", 1, "{\"currency\":\"USD\"}", T0), RF_OUTCOME_APPLIED);
    for (int i = 1; i <= 20; i++)
        assert_int_equal(adjust(s, l, "p1", i % 2 ? "u1" : "u2", 10 * i, "USD", T0 + i),
                         RF_OUTCOME_APPLIED);
    assert_int_equal(redeem(s, l, "p1", "u1", 30, "USD", "r1", T0 + 99), RF_OUTCOME_APPLIED);
    return l;
}

/* Bytes of the WAL files (*.log) of a partition's RocksDB. */
static long wal_bytes(const char *dir)
{
    char cmd[700], out[64] = "";
    snprintf(cmd, sizeof cmd, "cat %s/fold/p-0000/*.log 2>/dev/null | wc -c", dir);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    if (!fgets(out, sizeof out, f)) out[0] = 0;
    pclose(f);
    return atol(out);
}

/* RF_LEDGER_BULK: an unfinished load is refused by every later open; a
 * finished one is flushed (no WAL left to recover) and equals a normal fold;
 * a ledger that holds data cannot be bulk-loaded. */
static void test_bulk_load(void **state)
{
    (void)state;
    scen_t *s = malloc(sizeof *s);
    scen_init(s, "bulk");
    char crashed[512], bulk[512], normal[512];
    snprintf(crashed, sizeof crashed, "%s/crashed", s->dir);
    snprintf(bulk, sizeof bulk, "%s/bulk", s->dir);
    snprintf(normal, sizeof normal, "%s/normal", s->dir);
    rf_errbuf_t eb = {{0}};
    rf_ledger_close(bulk_events(s, crashed, RF_LEDGER_BULK)); /* never finished */
    assert_null(rf_ledger_open(crashed, 0, 0, &eb));
    assert_non_null(strstr(eb.msg, "unfinished bulk load"));
    memset(&eb, 0, sizeof eb);
    assert_null(rf_ledger_open(crashed, 0, RF_LEDGER_READONLY, &eb));
    assert_non_null(strstr(eb.msg, "unfinished bulk load"));

    rf_ledger_t *l = bulk_events(s, bulk, RF_LEDGER_BULK);
    assert_int_equal(rf_ledger_bulk_finish(l, &eb), RF_OK);
    assert_int_equal(rf_ledger_bulk_finish(l, &eb), RF_OK); /* a no-op now */
    rf_ledger_close(l);
    rf_ledger_close(bulk_events(s, normal, 0));
    assert_true(wal_bytes(bulk) < 512);    /* the unmark only: the data is in tables */
    assert_true(wal_bytes(normal) > 2048); /* every commit went through the WAL */
    rf_ledger_head_t hb, hn;
    rf_ledger_t *a = rf_ledger_open(bulk, 0, RF_LEDGER_READONLY, &eb);
    rf_ledger_t *b = rf_ledger_open(normal, 0, RF_LEDGER_READONLY, &eb);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(rf_ledger_head(a, &hb, &eb), RF_OK);
    assert_int_equal(rf_ledger_head(b, &hn, &eb), RF_OK);
    assert_int_equal(hb.seq, 22);
    assert_int_equal(hb.seq, hn.seq);
    assert_int_equal(hb.next_offset, hn.next_offset);
    assert_memory_equal(hb.hash, hn.hash, 32);
    rf_ledger_close(a);
    rf_ledger_close(b);

    assert_null(rf_ledger_open(normal, 0, RF_LEDGER_CREATE | RF_LEDGER_BULK, &eb));
    assert_non_null(strstr(eb.msg, "needs a fresh directory"));
    scen_free(s);
    free(s);
}

static const char rules_v1[] =
    "{\"currency\":\"USD\",\"referrer_reward\":{\"type\":\"fixed\",\"amount_minor\":1000}}";
static const char rules_alt[] =
    "{\"currency\":\"USD\",\"referrer_reward\":{\"type\":\"fixed\",\"amount_minor\":2500}}";

static void referral(scen_t *s, rf_ledger_t *l, const char *referrer, const char *friend_,
                     const char *order, int64_t t)
{
    char code[64];
    snprintf(code, sizeof code, "CODE-%s", referrer);
    rf_event_t *ev = ev_new(s, RF_EV_CODE_ISSUED, "pw", t);
    rf_strlcpy(ev->referrer, referrer, sizeof ev->referrer);
    rf_strlcpy(ev->code, code, sizeof ev->code);
    fold_ev(s, l);
    ev = ev_new(s, RF_EV_SIGNUP, "pw", t + 60000);
    rf_strlcpy(ev->user, friend_, sizeof ev->user);
    rf_strlcpy(ev->code, code, sizeof ev->code);
    fold_ev(s, l);
    ev = ev_new(s, RF_EV_PURCHASE, "pw", t + 120000);
    rf_strlcpy(ev->user, friend_, sizeof ev->user);
    rf_strlcpy(ev->order_id, order, sizeof ev->order_id);
    rf_strlcpy(ev->asset, "USD", sizeof ev->asset);
    rf_strlcpy(ev->code, code, sizeof ev->code);
    ev->amount_minor = 5000;
    fold_ev(s, l);
}

static void record_at(const char *dir, uint64_t seq, rf_record_t *rec)
{
    char path[600];
    snprintf(path, sizeof path, "%s/fold/p-0000", dir);
    rf_errbuf_t eb;
    rf_ledger_t *l = rf_ledger_open_path(path, 0, RF_LEDGER_READONLY, &eb);
    assert_non_null(l);
    assert_int_equal(rf_ledger_get_record(l, seq, rec, &eb), RF_OK);
    rf_ledger_close(l);
}

static void check_first_diff(const char *a, const char *b, uint64_t first)
{
    rf_record_t *ra = malloc(sizeof *ra), *rb = malloc(sizeof *rb);
    for (uint64_t seq = 1; seq <= first; seq++) {
        record_at(a, seq, ra);
        record_at(b, seq, rb);
        if (seq < first)
            assert_memory_equal(ra->hash, rb->hash, 32);
        else
            assert_memory_not_equal(ra->hash, rb->hash, 32);
    }
    free(ra);
    free(rb);
}

static void test_whatif(void **state)
{
    (void)state;
    scen_t *s = malloc(sizeof *s);
    scen_init(s, "whatif");
    rf_ledger_t *l = open_part(s, 0);
    assert_int_equal(program(s, l, "pw", 1, rules_v1, T0), RF_OUTCOME_APPLIED);
    referral(s, l, "alice", "bob", "o1", T0 + DAY_MS);
    referral(s, l, "carol", "dave", "o2", T0 + 2 * DAY_MS);
    rf_ledger_close(l);
    char rules[512], into[512];
    snprintf(rules, sizeof rules, "%s/alt.json", s->dir);
    snprintf(into, sizeof into, "%s/scratch", s->dir);
    rf_test_write_file(rules, rules_alt);
    char out[16384];
    assert_int_equal(rf_test_refold(out, sizeof out, 0,
                                    "whatif --data %s --program pw --rules %s "
                                    "--into %s --nosync --json",
                                    s->dir, rules, into),
                     0);
    json_error_t jerr;
    json_t *j = json_loads(out, 0, &jerr);
    if (!j) fail_msg("whatif output is not JSON: %s", out);
    assert_int_equal(json_integer_value(json_object_get(j, "rewritten")), 1);
    json_t *progs = json_object_get(j, "programs");
    assert_int_equal(json_array_size(progs), 1);
    json_t *pr = json_array_get(progs, 0);
    assert_int_equal(json_integer_value(json_object_get(pr, "live")), 2000);
    assert_int_equal(json_integer_value(json_object_get(pr, "whatif")), 5000);
    assert_int_equal(json_integer_value(json_object_get(pr, "difference")), 3000);
    json_t *users = json_object_get(j, "users");
    assert_int_equal(json_array_size(users), 2);
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(
            json_integer_value(json_object_get(json_array_get(users, i), "difference")), 1500);
    json_decref(j);
    /* the scratch ledger differs from the live one: the binary search finds
     * the first record whose hash differs, and every record before it agrees */
    rf_replay_cmp_t cmp[2];
    rf_errbuf_t eb = {{0}};
    assert_int_equal(rf_replay_compare(s->dir, into, cmp, 2, &eb), 1);
    assert_int_equal(cmp[0].verdict, RF_REPLAY_DIFFER);
    assert_true(cmp[0].first_diff_seq >= 1);
    check_first_diff(s->dir, into, cmp[0].first_diff_seq);
    /* invalid override rules are refused with the fold's reason */
    rf_test_write_file(rules, "{\"currency\":\"USD\",\"no_such_field\":1}");
    assert_int_equal(rf_test_refold(out, sizeof out, 1,
                                    "whatif --data %s --program pw --rules %s "
                                    "--into %s/scratch2 --nosync",
                                    s->dir, rules, s->dir),
                     1);
    assert_non_null(strstr(out, "override rules"));
    scen_free(s);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_reconcile),
        cmocka_unit_test(test_reconcile_projection),
        cmocka_unit_test(test_statement_asof),
        cmocka_unit_test(test_export),
        cmocka_unit_test(test_replay_archive),
        cmocka_unit_test(test_bulk_load),
        cmocka_unit_test(test_whatif),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
