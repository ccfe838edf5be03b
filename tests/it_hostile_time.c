/* it_hostile_time.c: the trusted clock through Kafka. Messages are produced
 * with chosen timestamps (the embedded broker keeps CreateTime as sent, as a
 * LogAppendTime broker would stamp its own), the fold worker folds them: the
 * share dated 2099 is refused against its message's timestamp, the holds
 * stay, the refund voids; a replay from Kafka and one from the archive give
 * the live head. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_codec.h"
#include "rf_fold.h"
#include "rf_fold_worker.h"
#include "rf_replay.h"
#include "rf_testutil.h"

#define PROG  "p9"
#define T0    1767225600000LL /* 2026-01-01T00:00:00Z */
#define MIN   60000LL
#define HOUR  3600000LL
#define DAY   86400000LL
#define Y2099 4070908800000LL /* 2099-01-01T00:00:00Z */
#define RULES                                                                                      \
    "{\"currency\":\"USD\",\"referrer_reward\":{\"type\":\"fixed\",\"amount_minor\":1000},"        \
    "\"friend_reward\":{\"type\":\"fixed\",\"amount_minor\":500},\"hold_days\":30}"

typedef struct fx {
    rf_broker_t *broker;
    char dir[256];
    rf_codec_t *codec;
    rd_kafka_t *rk;
    uint64_t id;
    rf_event_t ev;
    uint8_t buf[RF_EVENT_BYTES_MAX];
} fx_t;

static rf_event_t *ev_new(fx_t *f, rf_event_type_t type, int64_t t)
{
    rf_event_t *ev = &f->ev;
    rf_event_clear(ev);
    ev->type = type;
    snprintf(ev->event_id, sizeof ev->event_id, "00000000-0000-4000-8000-%012llx",
             (unsigned long long)++f->id);
    rf_strlcpy(ev->program_id, PROG, sizeof ev->program_id);
    rf_strlcpy(ev->source, "test", sizeof ev->source);
    ev->occurred_at_ms = t;
    return ev;
}

/* Produces f->ev with the message timestamp ts_ms. */
static void send_at(fx_t *f, int64_t ts_ms)
{
    rf_errbuf_t eb;
    size_t len = 0;
    if (rf_codec_encode_event(f->codec, &f->ev, RF_SCHEMA_ID_EVENT, f->buf, sizeof f->buf, &len,
                              &eb))
        fail_msg("encode: %s", eb.msg);
    assert_int_equal(rd_kafka_producev(f->rk, RD_KAFKA_V_TOPIC(RF_TOPIC_EVENTS),
                                       RD_KAFKA_V_KEY(PROG, strlen(PROG)),
                                       RD_KAFKA_V_VALUE(f->buf, len), RD_KAFKA_V_TIMESTAMP(ts_ms),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                     0);
}

static void traffic(fx_t *f)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", rf_broker_bootstraps(f->broker), errstr,
                      sizeof errstr);
    f->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    assert_non_null(f->rk);
    rf_event_t *ev = ev_new(f, RF_EV_PROGRAM_CONFIGURED, T0);
    ev->version = 1;
    rf_strlcpy(ev->rules_json, RULES, sizeof ev->rules_json);
    send_at(f, T0 + 1000);
    ev = ev_new(f, RF_EV_CODE_ISSUED, T0 + MIN);
    rf_strlcpy(ev->referrer, "r1", sizeof ev->referrer);
    rf_strlcpy(ev->code, "C1", sizeof ev->code);
    send_at(f, T0 + MIN + 1000);
    ev = ev_new(f, RF_EV_SIGNUP, T0 + HOUR);
    rf_strlcpy(ev->user, "f1", sizeof ev->user);
    rf_strlcpy(ev->code, "C1", sizeof ev->code);
    send_at(f, T0 + HOUR + 1000);
    ev = ev_new(f, RF_EV_PURCHASE, T0 + DAY);
    rf_strlcpy(ev->user, "f1", sizeof ev->user);
    rf_strlcpy(ev->order_id, "o1", sizeof ev->order_id);
    rf_strlcpy(ev->asset, "USD", sizeof ev->asset);
    ev->amount_minor = 10000;
    send_at(f, T0 + DAY + 1000);
    ev = ev_new(f, RF_EV_SHARE, Y2099); /* the attack */
    rf_strlcpy(ev->referrer, "mallory", sizeof ev->referrer);
    rf_strlcpy(ev->channel, "email", sizeof ev->channel);
    send_at(f, T0 + DAY + MIN);
    ev = ev_new(f, RF_EV_CLICK, T0 + DAY + 2 * MIN); /* a minute ahead of its message: fine */
    rf_strlcpy(ev->code, "C1", sizeof ev->code);
    rf_strlcpy(ev->visitor, "v1", sizeof ev->visitor);
    send_at(f, T0 + DAY + MIN + 1000);
    ev = ev_new(f, RF_EV_REFUND, T0 + 3 * DAY);
    rf_strlcpy(ev->order_id, "o1", sizeof ev->order_id);
    rf_strlcpy(ev->asset, "USD", sizeof ev->asset);
    ev->amount_minor = 10000;
    send_at(f, T0 + 3 * DAY + 1000);
    assert_int_equal(rd_kafka_flush(f->rk, 10000), 0);
    rd_kafka_destroy(f->rk);
    f->rk = NULL;
}

static void fold_to_end(fx_t *f, const char *data)
{
    static rf_fold_worker_conf_t c;
    rf_fold_worker_conf_init(&c);
    c.kafka.brokers = rf_broker_bootstraps(f->broker);
    c.data_dir = data;
    c.no_outbox = true;
    c.exit_at_end = true;
    c.ledger_flags = RF_LEDGER_NOSYNC;
    c.npartitions = 1;
    c.partitions[0] = 0;
    rf_errbuf_t eb = {{0}};
    rf_fold_worker_t *w = rf_fold_worker_new(&c, &eb);
    if (!w) fail_msg("fold worker: %s", eb.msg);
    if (rf_fold_worker_run(w, &eb)) fail_msg("fold: %s", eb.msg);
    rf_fold_worker_destroy(w);
}

typedef struct seen {
    int rejected_share, voids, clawbacks, matured;
    char reason[RF_FACT_VAL_MAX + 1];
} seen_t;

static int seen_cb(const rf_record_t *rec, void *opaque)
{
    seen_t *s = opaque;
    const char *type = rf_record_get_fact(rec, RF_FACT_TYPE);
    if (!strcmp(rec->kind, RF_KIND_REJECTED) && type && !strcmp(type, "Share")) {
        s->rejected_share++;
        rf_strlcpy(s->reason, rf_record_get_fact(rec, RF_FACT_REASON), sizeof s->reason);
    }
    s->voids += !strcmp(rec->kind, RF_KIND_VOID);
    s->clawbacks += !strcmp(rec->kind, RF_KIND_CLAWBACK);
    s->matured += !strcmp(rec->kind, RF_KIND_MATURED);
    return 0;
}

static void replay_same(fx_t *f, const char *data, const char *into, rf_replay_source_t src)
{
    rf_replay_opts_t o;
    rf_replay_opts_init(&o);
    o.data_dir = data;
    o.into_dir = into;
    o.source = src;
    o.kafka.brokers = rf_broker_bootstraps(f->broker);
    o.ledger_flags = RF_LEDGER_NOSYNC;
    rf_replay_stats_t *st = calloc(1, sizeof *st);
    assert_non_null(st);
    rf_errbuf_t eb;
    if (rf_replay_run(&o, st, &eb)) fail_msg("replay: %s", eb.msg);
    free(st);
    rf_replay_cmp_t cmp[1];
    assert_int_equal(rf_replay_compare(data, into, cmp, 1, &eb), 1);
    if (cmp[0].verdict != RF_REPLAY_SAME)
        fail_msg("replay %s: %s", src == RF_REPLAY_KAFKA ? "from Kafka" : "from the archive",
                 rf_replay_verdict_name(cmp[0].verdict));
}

static void test_attack_through_kafka(void **state)
{
    (void)state;
    fx_t *f = calloc(1, sizeof *f);
    rf_errbuf_t eb = {{0}};
    assert_non_null(f);
    f->broker = rf_broker_start(1, 1, &eb);
    assert_non_null(f->broker);
    f->codec = rf_codec_new(&eb);
    assert_non_null(f->codec);
    rf_test_tmpdir("it-hostile-time", f->dir, sizeof f->dir);
    char data[300], k1[300], a1[300];
    snprintf(data, sizeof data, "%s/data", f->dir);
    snprintf(k1, sizeof k1, "%s/from-kafka", f->dir);
    snprintf(a1, sizeof a1, "%s/from-archive", f->dir);
    traffic(f);
    fold_to_end(f, data);
    rf_ledger_t *l = rf_ledger_open(data, 0, RF_LEDGER_READONLY, &eb);
    if (!l) fail_msg("open: %s", eb.msg);
    rf_ledger_head_t h;
    assert_int_equal(rf_ledger_head(l, &h, &eb), RF_OK);
    assert_int_equal(h.counts[RF_OUTCOME_APPLIED], 6);
    assert_int_equal(h.counts[RF_OUTCOME_REJECTED], 1);
    assert_int_equal(h.event_time_ms, T0 + 3 * DAY);
    seen_t s;
    memset(&s, 0, sizeof s);
    assert_int_equal(rf_ledger_scan(l, 1, 0, seen_cb, &s, &eb), RF_OK);
    print_message("share dated 2099: %s\n", s.reason);
    assert_int_equal(s.rejected_share, 1);
    assert_non_null(strstr(s.reason, "2026-01-02T00:01:00.000Z")); /* the message's timestamp */
    assert_int_equal(s.voids, 2);
    assert_int_equal(s.clawbacks, 0);
    assert_int_equal(s.matured, 0);
    int64_t b[RF_BUCKET__COUNT];
    const char *users[] = {"r1", "f1"};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(rf_ledger_balance(l, PROG, users[i], "USD", b, &eb), RF_OK);
        for (int k = 0; k < RF_BUCKET_EXPENSE; k++)
            assert_int_equal(b[k], 0);
    }
    uint64_t bad = 0;
    if (rf_ledger_verify(l, &bad, &eb)) fail_msg("verify: %s", eb.msg);
    rf_ledger_close(l);
    replay_same(f, data, k1, RF_REPLAY_KAFKA);
    replay_same(f, data, a1, RF_REPLAY_ARCHIVE);
    rf_broker_stop(f->broker);
    rf_codec_destroy(f->codec);
    rf_test_rmtree(f->dir);
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attack_through_kafka),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
