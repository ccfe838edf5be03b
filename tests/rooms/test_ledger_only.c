/* test_ledger_only.c: the ledger folds, commits, verifies and replays with
 * no Kafka at all. This executable links refold_ledger and cmocka only: no
 * librdkafka and no Kafka edge on its link line (tests/rooms/CMakeLists.txt),
 * so a Kafka symbol creeping into the ledger fails the build. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "rf_codec.h"
#include "rf_ledger.h"

#define PROGRAM "solo"
#define RULES                                                                                      \
    "{\"name\":\"solo\",\"currency\":\"USD\",\"referrer_reward\":{\"type\":\"fixed\","             \
    "\"amount_minor\":1000},\"friend_reward\":{\"type\":\"fixed\",\"amount_minor\":500}}"
#define T0        1767225600000LL /* 2026-01-01 */
#define NMESSAGES 6

typedef struct msg {
    uint8_t bytes[RF_EVENT_BYTES_MAX];
    size_t len;
} msg_t;

static rf_event_t *ev_new(rf_event_t *ev, rf_event_type_t type, int n)
{
    rf_event_clear(ev);
    ev->type = type;
    snprintf(ev->event_id, sizeof ev->event_id, "00000000-0000-4000-8000-%012d", n);
    rf_strlcpy(ev->program_id, PROGRAM, sizeof ev->program_id);
    rf_strlcpy(ev->source, "test", sizeof ev->source);
    ev->occurred_at_ms = T0 + n * 1000LL;
    return ev;
}

/* A program, a code, an attributed signup, a qualifying purchase, a
 * duplicate of the purchase and one undecodable message. */
static int build(msg_t *m)
{
    rf_errbuf_t eb;
    rf_codec_t *c = rf_codec_new(&eb);
    rf_event_t *ev = malloc(sizeof *ev);
    assert_non_null(c);
    assert_non_null(ev);
    int n = 0;
    ev_new(ev, RF_EV_PROGRAM_CONFIGURED, n)->version = 1;
    rf_strlcpy(ev->rules_json, RULES, sizeof ev->rules_json);
    assert_int_equal(rf_codec_encode_event(c, ev, RF_SCHEMA_ID_EVENT, m[n].bytes, sizeof m[n].bytes,
                                           &m[n].len, &eb),
                     RF_OK);
    n++;
    ev_new(ev, RF_EV_CODE_ISSUED, n);
    rf_strlcpy(ev->referrer, "ann", sizeof ev->referrer);
    rf_strlcpy(ev->code, "ANN1", sizeof ev->code);
    assert_int_equal(rf_codec_encode_event(c, ev, RF_SCHEMA_ID_EVENT, m[n].bytes, sizeof m[n].bytes,
                                           &m[n].len, &eb),
                     RF_OK);
    n++;
    ev_new(ev, RF_EV_SIGNUP, n);
    rf_strlcpy(ev->user, "bob", sizeof ev->user);
    rf_strlcpy(ev->code, "ANN1", sizeof ev->code);
    assert_int_equal(rf_codec_encode_event(c, ev, RF_SCHEMA_ID_EVENT, m[n].bytes, sizeof m[n].bytes,
                                           &m[n].len, &eb),
                     RF_OK);
    n++;
    ev_new(ev, RF_EV_PURCHASE, n);
    rf_strlcpy(ev->user, "bob", sizeof ev->user);
    rf_strlcpy(ev->order_id, "o-1", sizeof ev->order_id);
    rf_strlcpy(ev->asset, "USD", sizeof ev->asset);
    ev->amount_minor = 5000;
    assert_int_equal(rf_codec_encode_event(c, ev, RF_SCHEMA_ID_EVENT, m[n].bytes, sizeof m[n].bytes,
                                           &m[n].len, &eb),
                     RF_OK);
    n++;
    m[n] = m[n - 1]; /* the same event id again: a duplicate */
    n++;
    memcpy(m[n].bytes, "not avro", 8); /* no magic byte: a dead letter */
    m[n].len = 8;
    n++;
    assert_int_equal(n, NMESSAGES);
    free(ev);
    rf_codec_destroy(c);
    return n;
}

static void tmpdir(char *out, size_t cap)
{
    const char *t = getenv("TMPDIR");
    snprintf(out, cap, "%s/refold-ledger-only-XXXXXX", t && *t ? t : "/tmp");
    assert_non_null(mkdtemp(out));
}

/* Folds every message into a fresh ledger under dir; returns its head. */
static void fold_all(const char *dir, const msg_t *m, int n, rf_ledger_head_t *head,
                     uint64_t counts[RF_OUTCOME__COUNT])
{
    rf_errbuf_t eb = {{0}};
    rf_ledger_t *l = rf_ledger_open(dir, 0, RF_LEDGER_CREATE, &eb);
    assert_non_null(l);
    for (int i = 0; i < n; i++) {
        rf_fold_result_t res;
        assert_int_equal(
            rf_ledger_fold(l, i, RF_LEDGER_CLOCK_NONE, m[i].bytes, m[i].len, &res, &eb), RF_OK);
        counts[res.outcome]++;
    }
    assert_int_equal(rf_ledger_commit(l, &eb), RF_OK);
    uint64_t bad = 0;
    assert_int_equal(rf_ledger_verify(l, &bad, &eb), RF_OK);
    assert_int_equal(rf_ledger_head(l, head, &eb), RF_OK);
    int64_t b[RF_BUCKET__COUNT] = {0};
    assert_int_equal(rf_ledger_balance(l, PROGRAM, "ann", "USD", b, &eb), RF_OK);
    assert_int_equal(b[RF_BUCKET_PENDING] + b[RF_BUCKET_AVAILABLE], 1000);
    rf_ledger_close(l);
}

static void test_fold_without_kafka(void **state)
{
    (void)state;
    msg_t *m = calloc(NMESSAGES, sizeof *m);
    assert_non_null(m);
    int n = build(m);
    char a[512], b[512];
    tmpdir(a, sizeof a);
    tmpdir(b, sizeof b);
    rf_ledger_head_t ha, hb;
    uint64_t ca[RF_OUTCOME__COUNT] = {0}, cb[RF_OUTCOME__COUNT] = {0};
    fold_all(a, m, n, &ha, ca);
    fold_all(b, m, n, &hb, cb);
    assert_int_equal(ca[RF_OUTCOME_DUPLICATE], 1);
    assert_int_equal(ca[RF_OUTCOME_DEAD_LETTER], 1);
    assert_int_equal(ha.next_offset, n);
    assert_true(ha.seq > 0);
    /* deterministic: the same messages give the same chain */
    assert_int_equal(ha.seq, hb.seq);
    assert_memory_equal(ha.hash, hb.hash, sizeof ha.hash);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", a, b);
    assert_int_equal(system(cmd), 0);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_fold_without_kafka)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
