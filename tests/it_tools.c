/* it_tools.c: operator tools on the embedded broker: replay from refold.events
 * and from the archive reproduce the live heads; dead letters are listed,
 * shown and redriven (as they were, and fixed from JSON lines) and fold
 * exactly once however often they are redriven. */
#include <pthread.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "rf_fold_worker.h"
#include "rf_checkpoint.h"
#include "rf_producer.h"
#include "rf_replay.h"
#include "rf_testutil.h"

#define NPART 4

static const char rules[] =
    "{\"currency\":\"USD\",\"referrer_reward\":{\"type\":\"fixed\",\"amount_minor\":1000}}";

/* ---- helpers ---- */

static void fold_to_end(const char *brokers, const char *data)
{
    static rf_fold_worker_conf_t c;
    rf_fold_worker_conf_init(&c);
    c.kafka.brokers = brokers;
    c.data_dir = data;
    c.no_outbox = true;
    c.exit_at_end = true;
    c.ledger_flags = RF_LEDGER_NOSYNC;
    c.npartitions = NPART;
    for (int i = 0; i < NPART; i++)
        c.partitions[i] = i;
    rf_errbuf_t eb = {{0}};
    rf_fold_worker_t *w = rf_fold_worker_new(&c, &eb);
    if (!w) fail_msg("fold worker: %s", eb.msg);
    if (rf_fold_worker_run(w, &eb)) fail_msg("fold: %s", eb.msg);
    rf_fold_worker_destroy(w);
}

/* Sums the outcome counts of every partition ledger of data. */
static void counts(const char *data, uint64_t out[RF_OUTCOME__COUNT])
{
    memset(out, 0, sizeof(uint64_t) * RF_OUTCOME__COUNT);
    rf_errbuf_t eb;
    for (int p = 0; p < NPART; p++) {
        rf_ledger_t *l = rf_ledger_open(data, p, RF_LEDGER_READONLY, &eb);
        if (!l) continue; /* a partition that never saw an event */
        rf_ledger_head_t h;
        rf_ledger_head(l, &h, &eb);
        for (int k = 0; k < RF_OUTCOME__COUNT; k++)
            out[k] += h.counts[k];
        rf_ledger_close(l);
    }
}

static void emit(rf_producer_t *p, rf_event_t *ev)
{
    rf_errbuf_t eb = {{0}};
    if (rf_producer_emit(p, ev, NULL, &eb)) fail_msg("emit: %s", eb.msg);
}

static void produce_raw(const char *brokers, const char *key, const void *val, size_t len)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    assert_non_null(rk);
    assert_int_equal(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(RF_TOPIC_EVENTS),
                                       RD_KAFKA_V_KEY(key, strlen(key)),
                                       RD_KAFKA_V_VALUE((void *)val, len),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                     0);
    assert_int_equal(rd_kafka_flush(rk, 10000), 0);
    rd_kafka_destroy(rk);
}

/* A small day of traffic: p1 configured, a referral, adjustments, a
 * redemption; a purchase of a program not configured yet (dead letter:
 * unknown_program) and garbage bytes (dead letter: bad_magic). */
static void traffic(const char *brokers, char late_event_id[RF_UUID_STR_LEN + 1])
{
    rf_producer_conf_t pc;
    rf_producer_conf_init(&pc);
    pc.kafka.brokers = brokers;
    rf_errbuf_t eb = {{0}};
    rf_producer_t *p = rf_producer_new(&pc, &eb);
    assert_non_null(p);
    rf_event_t *ev = malloc(sizeof *ev);
    const char *progs[2] = {"p1", "p2"};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(rf_event_program_configured(ev, progs[k], 1, rules, &eb), RF_OK);
        emit(p, ev);
        assert_int_equal(rf_event_code_issued(ev, progs[k], "alice", "ALICE1", &eb), RF_OK);
        emit(p, ev);
        assert_int_equal(rf_event_signup(ev, progs[k], "bob", "ALICE1", "", &eb), RF_OK);
        emit(p, ev);
        assert_int_equal(rf_event_purchase(ev, progs[k], "o1", "bob", 5000, "USD", "ALICE1", &eb),
                         RF_OK);
        emit(p, ev);
        for (int i = 0; i < 20; i++) {
            char user[16];
            snprintf(user, sizeof user, "u%d", i);
            assert_int_equal(
                rf_event_adjustment(ev, progs[k], user, 100 + i, "USD", "welcome", "ops", &eb),
                RF_OK);
            emit(p, ev);
        }
        assert_int_equal(rf_event_redemption(ev, progs[k], "u3", 50, "USD", "req-1", &eb), RF_OK);
        emit(p, ev);
    }
    assert_int_equal(rf_event_purchase(ev, "p-late", "o9", "carol", 2500, "USD", "", &eb), RF_OK);
    memcpy(late_event_id, ev->event_id, RF_UUID_STR_LEN + 1);
    emit(p, ev);
    assert_int_equal(rf_producer_flush(p, 10000, &eb), RF_OK);
    rf_producer_destroy(p);
    produce_raw(brokers, "p1", "\x07garbage", 8);
    free(ev);
}

static void configure_late(const char *brokers)
{
    rf_producer_conf_t pc;
    rf_producer_conf_init(&pc);
    pc.kafka.brokers = brokers;
    rf_errbuf_t eb = {{0}};
    rf_producer_t *p = rf_producer_new(&pc, &eb);
    rf_event_t *ev = malloc(sizeof *ev);
    assert_int_equal(rf_event_program_configured(ev, "p-late", 1, rules, &eb), RF_OK);
    emit(p, ev);
    assert_int_equal(rf_producer_flush(p, 10000, &eb), RF_OK);
    rf_producer_destroy(p);
    free(ev);
}

/* The DLQ positions of the two dead letters, from `dlq list --json`. */
static void dlq_positions(const char *brokers, char late[32], char garbage[32])
{
    static char out[65536];
    assert_int_equal(rf_test_refold(out, sizeof out, 0, "dlq list --brokers %s --json", brokers),
                     0);
    json_error_t jerr;
    json_t *arr = json_array(); /* JSON lines: one object per dead letter */
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *o = json_loads(line, 0, &jerr);
        if (!o) fail_msg("dlq list: %s", line);
        json_array_append_new(arr, o);
    }
    assert_int_equal(json_array_size(arr), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *o = json_array_get(arr, i);
        /* numbers are JSON integers, the source position too */
        assert_true(json_is_integer(json_object_get(o, "source_partition")));
        assert_true(json_is_integer(json_object_get(o, "source_offset")));
        const char *err = json_string_value(json_object_get(o, "error"));
        char *dst = !strcmp(err, "unknown_program") ? late
                    : !strcmp(err, "bad_magic")     ? garbage
                                                    : NULL;
        if (!dst) fail_msg("unexpected dead letter error '%s'", err);
        snprintf(dst, 32, "%d:%lld", (int)json_integer_value(json_object_get(o, "partition")),
                 (long long)json_integer_value(json_object_get(o, "offset")));
    }
    json_decref(arr);
}

static void redrive(const char *brokers, const char *pos, const char *fix)
{
    char part[16];
    snprintf(part, sizeof part, "%s", pos);
    char *colon = strchr(part, ':');
    assert_non_null(colon);
    *colon = 0;
    char out[4096];
    int rc = rf_test_refold(out, sizeof out, 1,
                            "dlq redrive --brokers %s --partition %s --offset %s%s%s", brokers,
                            part, colon + 1, fix ? " --fix-from " : "", fix ? fix : "");
    if (rc != 0) fail_msg("redrive %s: %s", pos, out);
    assert_non_null(strstr(out, "1 redriven, 1 delivered"));
}

/* ---- tests ---- */

static void test_dlq_redrive_exactly_once(void **state)
{
    (void)state;
    rf_errbuf_t eb = {{0}};
    rf_broker_t *b = rf_broker_start(NPART, 1, &eb);
    assert_non_null(b);
    const char *brokers = rf_broker_bootstraps(b);
    char dir[256], data[300], late_id[RF_UUID_STR_LEN + 1];
    rf_test_tmpdir("it-tools-dlq", dir, sizeof dir);
    snprintf(data, sizeof data, "%s/data", dir);
    traffic(brokers, late_id);
    fold_to_end(brokers, data);
    uint64_t c0[RF_OUTCOME__COUNT];
    counts(data, c0);
    assert_int_equal(c0[RF_OUTCOME_DEAD_LETTER], 2);
    char late[32], garbage[32];
    dlq_positions(brokers, late, garbage);
    /* show: reason, hex dump */
    static char out[65536];
    assert_int_equal(
        rf_test_refold(out, sizeof out, 0, "dlq show %s --brokers %s", garbage, brokers), 0);
    assert_non_null(strstr(out, "bad_magic"));
    assert_non_null(strstr(out, "|.garbage|"));
    assert_int_equal(rf_test_refold(out, sizeof out, 0, "dlq show %s --brokers %s", late, brokers),
                     0);
    assert_non_null(strstr(out, late_id));
    assert_non_null(strstr(out, "unknown program 'p-late'"));
    /* the upstream fix: p-late gets configured; the garbage is replaced by
     * a fixed event (matched by position: garbage has no event id) */
    configure_late(brokers);
    char fix[400];
    snprintf(fix, sizeof fix, "%s/fix.jsonl", dir);
    FILE *f = fopen(fix, "w");
    fprintf(
        f,
        "{\"type\":\"adjustment\",\"event_id\":\"0198a0b2-0000-7000-8000-00000000f1c5\","
        "\"program_id\":\"p1\",\"occurred_at\":\"2026-01-05T00:00:00Z\",\"user\":\"u1\","
        "\"amount_minor\":77,\"asset\":\"USD\",\"reason\":\"fixed upstream\",\"actor\":\"ops\"}\n");
    fclose(f);
    for (int round = 0; round < 2; round++) {
        redrive(brokers, late, NULL);
        redrive(brokers, garbage, fix);
        fold_to_end(brokers, data);
        uint64_t c[RF_OUTCOME__COUNT];
        counts(data, c);
        /* round 0: the two redriven events and the configure apply; round 1:
         * both are duplicates; nothing more is dead-lettered */
        assert_int_equal(c[RF_OUTCOME_APPLIED], c0[RF_OUTCOME_APPLIED] + 3);
        assert_int_equal(c[RF_OUTCOME_DUPLICATE], c0[RF_OUTCOME_DUPLICATE] + (round ? 2 : 0));
        assert_int_equal(c[RF_OUTCOME_DEAD_LETTER], 2);
    }
    /* the fixed adjustment is in u1's balance exactly once */
    assert_int_equal(rf_test_refold(out, sizeof out, 1,
                                    "balance-at --data %s --user u1 --program p1 "
                                    "--as-of 2030-01-01 --json",
                                    data),
                     0);
    assert_non_null(strstr(out, "\"available\":178")); /* 101 + 77 */
    /* redrive needs a choice */
    assert_int_equal(rf_test_refold(out, sizeof out, 1, "dlq redrive --brokers %s", brokers), 2);
    rf_broker_stop(b);
    rf_test_rmtree(dir);
}

static void test_replay_from_kafka(void **state)
{
    (void)state;
    rf_errbuf_t eb = {{0}};
    rf_broker_t *b = rf_broker_start(NPART, 1, &eb);
    assert_non_null(b);
    const char *brokers = rf_broker_bootstraps(b);
    char dir[256], data[300], k1[300], a1[300], late_id[RF_UUID_STR_LEN + 1];
    rf_test_tmpdir("it-tools-replay", dir, sizeof dir);
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(k1, sizeof k1, "%s/from-kafka", dir);
    snprintf(a1, sizeof a1, "%s/from-archive", dir);
    traffic(brokers, late_id);
    fold_to_end(brokers, data);
    rf_replay_opts_t o;
    rf_replay_opts_init(&o);
    o.data_dir = data;
    o.into_dir = k1;
    o.source = RF_REPLAY_KAFKA;
    o.kafka.brokers = brokers;
    o.ledger_flags = RF_LEDGER_NOSYNC;
    rf_replay_stats_t *st = malloc(sizeof *st);
    if (rf_replay_run(&o, st, &eb)) fail_msg("replay: %s", eb.msg);
    uint64_t c[RF_OUTCOME__COUNT];
    counts(data, c);
    assert_int_equal(st->events, c[0] + c[1] + c[2] + c[3]);
    rf_replay_cmp_t cmp[NPART];
    int n = rf_replay_compare(data, k1, cmp, NPART, &eb);
    assert_true(n > 0);
    for (int i = 0; i < n; i++) {
        if (cmp[i].verdict != RF_REPLAY_SAME)
            fail_msg("partition %d: %s", (int)cmp[i].partition,
                     rf_replay_verdict_name(cmp[i].verdict));
    }
    /* the command, from Kafka and from the archive, jobs in parallel */
    char out[16384];
    assert_int_equal(rf_test_refold(out, sizeof out, 1,
                                    "replay --brokers %s --data %s --into %s --nosync", brokers,
                                    data, a1),
                     0);
    assert_non_null(strstr(out, "SAME: every head matches"));
    assert_int_equal(rf_test_refold(out, sizeof out, 1,
                                    "replay --from-archive --data %s --into %s/x "
                                    "--nosync --json",
                                    data, dir),
                     0);
    assert_non_null(strstr(out, "\"verdict\":\"same\""));
    /* from a time after everything: nothing to fold, every partition a prefix */
    assert_int_equal(rf_test_refold(out, sizeof out, 1,
                                    "replay --brokers %s --data %s --into %s/y "
                                    "--from-time 2099-01-01 --nosync",
                                    brokers, data, dir),
                     0);
    assert_non_null(strstr(out, "replayed 0 events"));
    assert_null(strstr(out, "compare with"));
    free(st);
    rf_broker_stop(b);
    rf_test_rmtree(dir);
}

/* ---- a checkpoint while a fold worker runs under load ---- */

typedef struct live {
    rf_fold_worker_t *w;
    rf_err_t err;
    rf_errbuf_t eb;
} live_t;

static void *worker_main(void *arg)
{
    live_t *lv = arg;
    lv->err = rf_fold_worker_run(lv->w, &lv->eb);
    return NULL;
}

/* Adjustments to p1, n of them, with distinct event ids. */
static void load(const char *brokers, int n)
{
    rf_producer_conf_t pc;
    rf_producer_conf_init(&pc);
    pc.kafka.brokers = brokers;
    rf_errbuf_t eb = {{0}};
    rf_producer_t *p = rf_producer_new(&pc, &eb);
    rf_event_t *ev = malloc(sizeof *ev);
    for (int i = 0; i < n; i++) {
        char user[16];
        snprintf(user, sizeof user, "load%d", i % 100);
        RF_ASSERT(rf_event_adjustment(ev, "p1", user, 10, "USD", "load", "ops", &eb) == RF_OK);
        for (;;) {
            rf_err_t err = rf_producer_emit(p, ev, NULL, &eb);
            if (err != RF_ERR_RETRY) {
                RF_ASSERT(err == RF_OK);
                break;
            }
            rf_producer_poll(p, 100);
        }
    }
    RF_ASSERT(rf_producer_flush(p, 20000, &eb) == RF_OK);
    rf_producer_destroy(p);
    free(ev);
}

static void *load_main(void *brokers)
{
    load(brokers, 4000);
    return NULL;
}

static void test_checkpoint_while_folding(void **state)
{
    (void)state;
    rf_errbuf_t eb = {{0}};
    rf_broker_t *b = rf_broker_start(NPART, 1, &eb);
    assert_non_null(b);
    const char *brokers = rf_broker_bootstraps(b);
    char dir[256], data[300], ck[300], late_id[RF_UUID_STR_LEN + 1];
    rf_test_tmpdir("it-tools-ckpt", dir, sizeof dir);
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(ck, sizeof ck, "%s/ckpt", dir);
    traffic(brokers, late_id);
    /* a worker that keeps running (no exit at end) on this thread's behalf */
    static rf_fold_worker_conf_t c;
    rf_fold_worker_conf_init(&c);
    c.kafka.brokers = brokers;
    c.data_dir = data;
    c.no_outbox = true;
    c.npartitions = NPART;
    for (int i = 0; i < NPART; i++)
        c.partitions[i] = i;
    live_t lv = {rf_fold_worker_new(&c, &eb), RF_OK, {{0}}};
    assert_non_null(lv.w);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, worker_main, &lv), 0);
    load(brokers, 1000);
    /* wait (bounded) until the worker made a batch durable: before that there
     * is no data/fold to checkpoint yet */
    static rf_fold_stats_t fst;
    for (int i = 0; i < 3000; i++) {
        rf_fold_worker_stats(lv.w, &fst);
        if (fst.ledger_commits > 0) break;
        usleep(10000);
    }
    assert_true(fst.ledger_commits > 0);
    /* more load while the checkpoint is taken */
    pthread_t lt;
    assert_int_equal(pthread_create(&lt, NULL, load_main, (void *)brokers), 0);
    char out[8192];
    /* the command runs in another process: the worker thread holds every lock */
    int rc = rf_test_refold(out, sizeof out, 1,
                            "checkpoint --data %s --out %s --verify --wait-ms 30000", data, ck);
    if (rc) fail_msg("checkpoint: %s", out);
    assert_non_null(strstr(out, "worker  ok"));
    assert_null(strstr(out, "direct"));
    pthread_join(lt, NULL);
    load(brokers, 1000); /* the live ledger moves on past the checkpoint */
    rf_fold_worker_stop(lv.w);
    pthread_join(t, NULL);
    assert_int_equal(lv.err, RF_OK);
    rf_fold_worker_destroy(lv.w);
    /* both the live ledger and a worker started on the checkpoint fold to the
     * end; the one on the checkpoint resumes from its stored offsets and ends
     * with exactly the live heads */
    fold_to_end(brokers, data);
    fold_to_end(brokers, ck);
    rf_replay_cmp_t cmp[NPART];
    int n = rf_replay_compare(data, ck, cmp, NPART, &eb);
    assert_true(n > 0);
    for (int i = 0; i < n; i++)
        if (cmp[i].verdict != RF_REPLAY_SAME)
            fail_msg("partition %d: %s", (int)cmp[i].partition,
                     rf_replay_verdict_name(cmp[i].verdict));
    uint64_t cl[RF_OUTCOME__COUNT], cc[RF_OUTCOME__COUNT];
    counts(data, cl);
    counts(ck, cc);
    assert_memory_equal(cl, cc, sizeof cl);
    rf_broker_stop(b);
    rf_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dlq_redrive_exactly_once),
        cmocka_unit_test(test_replay_from_kafka),
        cmocka_unit_test(test_checkpoint_while_folding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
