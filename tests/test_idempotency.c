/* test_idempotency.c: app-level idempotency keys (docs/events.md): a
 * Redemption is applied at most once per (program, user, request_id): the
 * same request again is a duplicate (a "duplicate" record, the DUPLICATE
 * outcome, no postings), with another amount a conflict (rejected); a
 * Purchase's order_id rewards once; `refold reconcile --payouts` and
 * `refold explain` see one redemption per request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_codec.h"
#include "rf_finance.h"
#include "rf_fold.h" /* record kinds and fact keys */
#include "rf_ledger.h"
#include "rf_testutil.h"

#define PROG "shop"
#define T0   1767225600000LL /* 2026-01-01T00:00:00Z */
#define HOUR 3600000LL
#define DAY  86400000LL
#define RULES                                                                                      \
    "{\"currency\":\"USD\",\"referrer_reward\":{\"type\":\"fixed\",\"amount_minor\":1000},"        \
    "\"friend_reward\":{\"type\":\"fixed\",\"amount_minor\":500},\"hold_days\":1}"

typedef struct fx {
    char dir[512];
    rf_codec_t *codec;
    rf_ledger_t *l;
    uint64_t id;
    int64_t t;
    rf_event_t ev;
    uint8_t buf[RF_EVENT_BYTES_MAX];
    size_t len;
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    rf_errbuf_t eb;
    assert_non_null(f);
    rf_test_tmpdir("idempotency", f->dir, sizeof f->dir);
    f->codec = rf_codec_new(&eb);
    assert_non_null(f->codec);
    f->l = rf_ledger_open(f->dir, 0, RF_LEDGER_CREATE | RF_LEDGER_NOSYNC, &eb);
    if (!f->l) fail_msg("open: %s", eb.msg);
    f->t = T0;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    rf_ledger_close(f->l);
    rf_test_rmtree(f->dir);
    rf_codec_destroy(f->codec);
    free(f);
    return 0;
}

/* A fresh event of type, a minute after the previous one. */
static rf_event_t *ev_new(fx_t *f, rf_event_type_t type)
{
    rf_event_t *ev = &f->ev;
    rf_event_clear(ev);
    ev->type = type;
    snprintf(ev->event_id, sizeof ev->event_id, "00000000-0000-4000-8000-%012llx",
             (unsigned long long)++f->id);
    rf_strlcpy(ev->program_id, PROG, sizeof ev->program_id);
    rf_strlcpy(ev->source, "test", sizeof ev->source);
    f->t += 60000;
    ev->occurred_at_ms = f->t;
    return ev;
}

/* Folds the encoded bytes in f->buf at the next offset (the broker's clock a
 * second after the event) and commits. */
static rf_fold_result_t fold_bytes(fx_t *f)
{
    rf_errbuf_t eb;
    int64_t off = rf_ledger_next_offset(f->l);
    rf_fold_result_t res;
    if (rf_ledger_fold(f->l, off < 0 ? 0 : off, f->t + 1000, f->buf, f->len, &res, &eb))
        fail_msg("fold: %s", eb.msg);
    if (rf_ledger_commit(f->l, &eb)) fail_msg("commit: %s", eb.msg);
    return res;
}

static rf_fold_result_t fold(fx_t *f)
{
    rf_errbuf_t eb;
    if (rf_codec_encode_event(f->codec, &f->ev, RF_SCHEMA_ID_EVENT, f->buf, sizeof f->buf, &f->len,
                              &eb))
        fail_msg("encode: %s", eb.msg);
    return fold_bytes(f);
}

static rf_fold_result_t redeem(fx_t *f, const char *user, int64_t amount, const char *asset,
                               const char *request_id)
{
    rf_event_t *ev = ev_new(f, RF_EV_REDEMPTION);
    rf_strlcpy(ev->user, user, sizeof ev->user);
    rf_strlcpy(ev->asset, asset, sizeof ev->asset);
    rf_strlcpy(ev->request_id, request_id, sizeof ev->request_id);
    ev->amount_minor = amount;
    return fold(f);
}

static void balance(fx_t *f, const char *owner, int64_t available, int64_t redeemed)
{
    int64_t b[RF_BUCKET__COUNT];
    rf_errbuf_t eb;
    assert_int_equal(rf_ledger_balance(f->l, PROG, owner, "USD", b, &eb), RF_OK);
    if (b[RF_BUCKET_AVAILABLE] != available || b[RF_BUCKET_REDEEMED] != redeemed)
        fail_msg("%s: available %lld redeemed %lld, expected %lld %lld", owner,
                 (long long)b[RF_BUCKET_AVAILABLE], (long long)b[RF_BUCKET_REDEEMED],
                 (long long)available, (long long)redeemed);
}

/* The last record of the ledger, copied. */
static int last_cb(const rf_record_t *rec, void *opaque)
{
    *(rf_record_t *)opaque = *rec;
    return 0;
}

static void last_record(fx_t *f, rf_record_t *rec)
{
    rf_ledger_head_t h;
    rf_errbuf_t eb;
    assert_int_equal(rf_ledger_head(f->l, &h, &eb), RF_OK);
    assert_int_equal(rf_ledger_scan(f->l, h.seq, h.seq, last_cb, rec, &eb), RF_OK);
}

/* A program, a referral and its purchase; after the 1-day hold r1 has 1000
 * and f1 500 available. The same order again rewards nothing. */
static void earn(fx_t *f)
{
    rf_event_t *ev = ev_new(f, RF_EV_PROGRAM_CONFIGURED);
    ev->version = 1;
    rf_strlcpy(ev->rules_json, RULES, sizeof ev->rules_json);
    assert_int_equal(fold(f).outcome, RF_OUTCOME_APPLIED);
    ev = ev_new(f, RF_EV_CODE_ISSUED);
    rf_strlcpy(ev->referrer, "r1", sizeof ev->referrer);
    rf_strlcpy(ev->code, "C1", sizeof ev->code);
    assert_int_equal(fold(f).outcome, RF_OUTCOME_APPLIED);
    ev = ev_new(f, RF_EV_SIGNUP);
    rf_strlcpy(ev->user, "f1", sizeof ev->user);
    rf_strlcpy(ev->code, "C1", sizeof ev->code);
    assert_int_equal(fold(f).outcome, RF_OUTCOME_APPLIED);
    for (int i = 0; i < 2; i++) { /* the order, then a repeat under a new event id */
        ev = ev_new(f, RF_EV_PURCHASE);
        rf_strlcpy(ev->user, "f1", sizeof ev->user);
        rf_strlcpy(ev->order_id, "o1", sizeof ev->order_id);
        rf_strlcpy(ev->asset, "USD", sizeof ev->asset);
        ev->amount_minor = 10000;
        assert_int_equal(fold(f).outcome, RF_OUTCOME_APPLIED);
        rf_record_t rec;
        last_record(f, &rec);
        if (i == 0) continue; /* its last record is the friend's reward */
        assert_string_equal(rec.kind, RF_KIND_PURCHASE);
        assert_string_equal(rf_record_get_fact(&rec, "duplicate_order"), "1");
        assert_string_equal(rf_record_get_fact(&rec, "qualified"), "0");
    }
    f->t += 2 * DAY; /* a later share moves time past the hold */
    ev = ev_new(f, RF_EV_SHARE);
    rf_strlcpy(ev->referrer, "r1", sizeof ev->referrer);
    rf_strlcpy(ev->channel, "email", sizeof ev->channel);
    assert_int_equal(fold(f).outcome, RF_OUTCOME_APPLIED);
    balance(f, "r1", 1000, 0); /* one reward, not two */
    balance(f, "f1", 500, 0);
}

static void test_redemption_request_id(void **state)
{
    fx_t *f = *state;
    earn(f);
    rf_ledger_head_t h0, h;
    rf_errbuf_t eb;
    assert_int_equal(rf_ledger_head(f->l, &h0, &eb), RF_OK);
    assert_int_equal(redeem(f, "r1", 300, "USD", "req-1").outcome, RF_OUTCOME_APPLIED);
    rf_record_t first;
    last_record(f, &first);
    assert_string_equal(first.kind, RF_KIND_REDEMPTION);
    balance(f, "r1", 700, 300);
    /* the app retries: a new event id, the same request */
    rf_fold_result_t res = redeem(f, "r1", 300, "USD", "req-1");
    assert_int_equal(res.outcome, RF_OUTCOME_DUPLICATE);
    assert_int_equal(res.nrecords, 1);
    rf_record_t dup;
    last_record(f, &dup);
    assert_string_equal(dup.kind, RF_KIND_DUPLICATE);
    assert_int_equal(dup.npostings, 0);
    assert_string_equal(rf_record_get_fact(&dup, RF_FACT_REQUEST), "req-1");
    assert_string_equal(rf_record_get_fact(&dup, RF_FACT_USER), "r1");
    char seq[24];
    snprintf(seq, sizeof seq, "%llu", (unsigned long long)first.seq);
    assert_string_equal(rf_record_get_fact(&dup, RF_FACT_DUPLICATE_OF), seq);
    balance(f, "r1", 700, 300);
    /* the same request id with another amount, or another asset: a conflict */
    res = redeem(f, "r1", 500, "USD", "req-1");
    assert_int_equal(res.outcome, RF_OUTCOME_REJECTED);
    print_message("conflict: %s\n", res.reason);
    assert_non_null(strstr(res.reason, "request_id conflict"));
    assert_non_null(strstr(res.reason, "300 USD"));
    res = redeem(f, "r1", 300, "EUR", "req-1");
    assert_int_equal(res.outcome, RF_OUTCOME_REJECTED);
    assert_non_null(strstr(res.reason, "request_id conflict"));
    balance(f, "r1", 700, 300);
    /* another request of the same user, and the same request id of another user */
    assert_int_equal(redeem(f, "r1", 300, "USD", "req-2").outcome, RF_OUTCOME_APPLIED);
    balance(f, "r1", 400, 600);
    assert_int_equal(redeem(f, "f1", 300, "USD", "req-1").outcome, RF_OUTCOME_APPLIED);
    balance(f, "f1", 200, 300);
    /* a refused request holds no key: sent again when it can be paid, it applies */
    res = redeem(f, "f1", 1000, "USD", "req-7");
    assert_int_equal(res.outcome, RF_OUTCOME_REJECTED);
    assert_non_null(strstr(res.reason, "insufficient"));
    assert_int_equal(redeem(f, "f1", 200, "USD", "req-7").outcome, RF_OUTCOME_APPLIED);
    balance(f, "f1", 0, 500);
    /* ... and is then a duplicate like any other */
    assert_int_equal(redeem(f, "f1", 200, "USD", "req-7").outcome, RF_OUTCOME_DUPLICATE);
    /* the very same message again (Kafka redelivery): the event-id dedup, no record */
    res = fold_bytes(f);
    assert_int_equal(res.outcome, RF_OUTCOME_DUPLICATE);
    assert_int_equal(res.nrecords, 0);
    balance(f, "r1", 400, 600);
    balance(f, "f1", 0, 500);
    assert_int_equal(rf_ledger_head(f->l, &h, &eb), RF_OK);
    assert_int_equal(h.counts[RF_OUTCOME_DUPLICATE] - h0.counts[RF_OUTCOME_DUPLICATE], 3);
    assert_int_equal(h.counts[RF_OUTCOME_REJECTED] - h0.counts[RF_OUTCOME_REJECTED], 3);
    assert_int_equal(h.counts[RF_OUTCOME_APPLIED] - h0.counts[RF_OUTCOME_APPLIED], 4);
    uint64_t bad = 0;
    if (rf_ledger_verify(f->l, &bad, &eb)) fail_msg("verify: %s", eb.msg);
}

/* Finance sees one redemption per request: the payout file of what the app
 * paid matches, nothing is "missing"; explain shows the duplicate. */
static void test_reconcile_and_explain(void **state)
{
    fx_t *f = *state;
    earn(f);
    assert_int_equal(redeem(f, "r1", 300, "USD", "req-1").outcome, RF_OUTCOME_APPLIED);
    assert_int_equal(redeem(f, "r1", 300, "USD", "req-1").outcome, RF_OUTCOME_DUPLICATE);
    assert_int_equal(redeem(f, "r1", 200, "USD", "req-2").outcome, RF_OUTCOME_APPLIED);
    assert_int_equal(redeem(f, "f1", 100, "USD", "req-1").outcome, RF_OUTCOME_APPLIED);
    rf_ledger_close(f->l);
    f->l = NULL;
    char csv[600];
    snprintf(csv, sizeof csv, "%s/payouts.csv", f->dir);
    /* f1 is listed first: pairs are by (program, user, request_id), not order */
    rf_test_write_file(csv, "user,program,asset,amount_minor,request_id\n"
                            "f1,shop,USD,100,req-1\n"
                            "r1,shop,USD,300,req-1\n"
                            "r1,shop,USD,200,req-2\n");
    rf_reconcile_opts_t o = {f->dir, csv, INT64_MIN, INT64_MAX, NULL};
    rf_reconcile_t *r = calloc(1, sizeof *r);
    rf_errbuf_t eb = {{0}};
    assert_int_equal(rf_finance_reconcile(&o, r, &eb), RF_OK);
    assert_true(r->payouts_checked);
    assert_int_equal(r->ledger_redemptions, 3);
    assert_int_equal(r->matched, 3);
    assert_int_equal(r->missing, 0);
    assert_int_equal(r->unexpected, 0);
    assert_int_equal(r->mismatched, 0);
    assert_true(r->ok);
    rf_reconcile_free(r);
    free(r);
    static char out[65536];
    int rc =
        rf_test_refold(out, sizeof out, 1, "explain --data %s --program shop --user r1", f->dir);
    if (rc != 0) fail_msg("explain: exit %d: %s", rc, out);
    fputs(out, stderr);
    assert_non_null(strstr(out, "duplicate"));
    assert_non_null(strstr(out, "request_id already redeemed"));
    f->l = rf_ledger_open(f->dir, 0, RF_LEDGER_CREATE | RF_LEDGER_NOSYNC, &eb);
    assert_non_null(f->l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_redemption_request_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconcile_and_explain, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
