/* it_loadgen.c: `refold loadgen --brokers` against an in-process embedded
 * broker: with nobody consuming it stops at the per-partition cap with a
 * clear message; with a consumer group committing it waits for the group and
 * delivers everything without the lag ever passing the cap; --no-throttle
 * and --rate. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_kafka.h"
#include "rf_testutil.h"

#define LAG_MAX 1500

static int64_t partition_count(const char *brokers, int p)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    assert_non_null(rk);
    int64_t lo, hi;
    assert_int_equal(rd_kafka_query_watermark_offsets(rk, RF_TOPIC_EVENTS, p, &lo, &hi, 10000), 0);
    rd_kafka_destroy(rk);
    return hi - lo;
}

static void test_stops_without_consumer(void **state)
{
    (void)state;
    rf_errbuf_t eb = {{0}};
    rf_broker_t *b = rf_broker_start(4, 1, &eb);
    assert_non_null(b);
    char out[8192];
    int rc = rf_test_refold(
        out, sizeof out, 1,
        "loadgen --brokers %s --events 100000 --programs 8 --lag-max %d --lag-wait 1",
        rf_broker_bootstraps(b), LAG_MAX);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "consumer group 'refold-fold' has committed no offsets"));
    assert_non_null(strstr(out, "--no-throttle"));
    int64_t max = 0;
    for (int p = 0; p < 4; p++) {
        int64_t n = partition_count(rf_broker_bootstraps(b), p);
        if (n > max) max = n;
    }
    assert_int_equal(max, LAG_MAX); /* filled up to the cap, not past it */
    /* A second run finds the backlog and stops at once. */
    rc = rf_test_refold(out, sizeof out, 1,
                        "loadgen --brokers %s --events 100 --lag-max %d --lag-wait 0",
                        rf_broker_bootstraps(b), LAG_MAX);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "sent 0,"));
    rf_broker_stop(b);
}

typedef struct consumer {
    const char *brokers;
    atomic_int stop;
    long consumed;
    int64_t max_lag_seen; /* high watermark - committed, sampled */
} consumer_t;

/* committed offsets of the group vs high watermarks, as loadgen sees them */
static int64_t sample_lag(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_copy(parts);
    int64_t max = 0;
    if (rd_kafka_committed(rk, c, 5000) == 0) {
        for (int i = 0; i < c->cnt; i++) {
            int64_t lo, hi, committed = c->elems[i].offset;
            if (rd_kafka_query_watermark_offsets(rk, RF_TOPIC_EVENTS, i, &lo, &hi, 5000)) continue;
            int64_t lag = hi - (committed >= 0 ? committed : lo);
            if (lag > max) max = lag;
        }
    }
    rd_kafka_topic_partition_list_destroy(c);
    return max;
}

/* A slow member of group "it-loadgen": reads every partition from the start
 * and commits what it read every 100 ms. */
static void *consume(void *arg)
{
    consumer_t *c = arg;
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", c->brokers, errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "group.id", "it-loadgen", errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    RF_ASSERT(rk);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(4);
    for (int p = 0; p < 4; p++)
        rd_kafka_topic_partition_list_add(parts, RF_TOPIC_EVENTS, p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    RF_ASSERT(rd_kafka_assign(rk, parts) == 0);
    uint64_t last_commit = rf_now_ns();
    while (!atomic_load(&c->stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 20);
        if (m) {
            if (!m->err) c->consumed++;
            rd_kafka_message_destroy(m);
        }
        if (c->consumed % 200 == 0) {
            struct timespec ts = {0, 2000000}; /* slower than loadgen: it must wait */
            nanosleep(&ts, NULL);
        }
        if (rf_now_ns() - last_commit > 100000000u) {
            rd_kafka_commit(rk, NULL, 0);
            int64_t lag = sample_lag(rk, parts);
            if (lag > c->max_lag_seen) c->max_lag_seen = lag;
            last_commit = rf_now_ns();
        }
    }
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return NULL;
}

static void test_waits_for_consumer(void **state)
{
    (void)state;
    rf_errbuf_t eb = {{0}};
    rf_broker_t *b = rf_broker_start(4, 1, &eb);
    assert_non_null(b);
    consumer_t c = {.brokers = rf_broker_bootstraps(b)};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, consume, &c), 0);
    char out[8192];
    int rc = rf_test_refold(out, sizeof out, 1,
                            "loadgen --brokers %s --events 12000 --programs 8 --lag-max %d "
                            "--lag-group it-loadgen",
                            rf_broker_bootstraps(b), LAG_MAX);
    if (rc != 0) fail_msg("loadgen failed: %s", out);
    assert_non_null(strstr(out, "sent 12000, delivered 12000, failed 0"));
    /* wait (bounded) for the consumer to read everything */
    for (int i = 0; i < 600 && c.consumed < 12000; i++) {
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
    atomic_store(&c.stop, 1);
    pthread_join(th, NULL);
    assert_int_equal(c.consumed, 12000);
    assert_true(c.max_lag_seen <= LAG_MAX);
    assert_int_equal(rf_test_topic_count(rf_broker_bootstraps(b), RF_TOPIC_EVENTS), 12000);
    rf_broker_stop(b);
}

static void test_no_throttle_and_rate(void **state)
{
    (void)state;
    rf_errbuf_t eb = {{0}};
    rf_broker_t *b = rf_broker_start(2, 1, &eb);
    assert_non_null(b);
    char out[8192];
    uint64_t t0 = rf_now_ns();
    int rc = rf_test_refold(out, sizeof out, 1,
                            "loadgen --brokers %s --events 3000 --rate 5000 --no-throttle "
                            "--progress",
                            rf_broker_bootstraps(b));
    double secs = (double)(rf_now_ns() - t0) / 1e9;
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "sent 3000, delivered 3000, failed 0"));
    assert_true(secs >= 0.55); /* 3000 events at 5000/s take 0.6 s */
    assert_int_equal(rf_test_topic_count(rf_broker_bootstraps(b), RF_TOPIC_EVENTS), 3000);
    rf_broker_stop(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stops_without_consumer),
        cmocka_unit_test(test_waits_for_consumer),
        cmocka_unit_test(test_no_throttle_and_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
