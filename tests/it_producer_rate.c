/* it_producer_rate.c: produce rate of the producer library against the
 * in-process embedded broker, next to raw librdkafka with the same settings
 * (DESIGN.md measured ~1.3 M msg/s raw). Prints the figures; asserts only
 * that everything was delivered and the rate is not absurdly low.
 * RF_RATE_EVENTS sets the count (default 1000000); RF_RATE_X adds one -X. */
/* ctest-label: slow */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "rf_codec.h"
#include "rf_kafka.h"
#include "rf_loadgen.h"
#include "rf_producer.h"
#include "rf_testutil.h"

#define RING 512 /* distinct loadgen events, emitted round robin */

/* CPU seconds of the whole process (the embedded broker's threads too):
 * steadier than wall time on a shared machine. */
static double cpu_secs(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static long events_wanted(void)
{
    const char *s = getenv("RF_RATE_EVENTS");
    return s && atol(s) > 0 ? atol(s) : 1000000;
}

static double library_rate(const char *brokers, const rf_event_t *ring, long n, const char *x)
{
    rf_producer_conf_t conf;
    rf_producer_conf_init(&conf);
    conf.kafka.brokers = brokers;
    rf_errbuf_t eb = {{0}};
    if (x) assert_int_equal(rf_kafka_opts_add_x(&conf.kafka, x, &eb), RF_OK);
    rf_producer_t *p = rf_producer_new(&conf, &eb);
    assert_non_null(p);
    uint64_t t0 = rf_now_ns();
    double c0 = cpu_secs();
    for (long i = 0; i < n; i++) {
        rf_err_t err;
        while ((err = rf_producer_emit(p, &ring[i % RING], NULL, &eb)) == RF_ERR_RETRY) {
        }
        if (err != RF_OK) fail_msg("emit: %s", eb.msg);
    }
    assert_int_equal(rf_producer_flush(p, 60000, &eb), RF_OK);
    double secs = (double)(rf_now_ns() - t0) / 1e9;
    rf_producer_stats_t st;
    rf_producer_stats(p, &st);
    assert_int_equal(st.delivered, (uint64_t)n);
    printf("library %-28s %ld events, %.0f bytes avg: %.2f s, %.0f events/s, %.2f us CPU/event\n",
           x ? x : "(defaults)", n, (double)st.bytes / (double)n, secs, (double)n / secs,
           (cpu_secs() - c0) * 1e6 / (double)n);
    rf_producer_destroy(p);
    return (double)n / secs;
}

/* Validation + encoding alone: the library's own share of the cost. */
static void encode_rate(const rf_event_t *ring, long n)
{
    rf_errbuf_t eb = {{0}};
    rf_codec_t *c = rf_codec_new(&eb);
    static uint8_t buf[RF_EVENT_BYTES_MAX];
    uint64_t t0 = rf_now_ns();
    double c0 = cpu_secs();
    for (long i = 0; i < n; i++) {
        size_t len;
        assert_int_equal(rf_codec_encode_event(c, &ring[i % RING], RF_SCHEMA_ID_EVENT, buf,
                                               sizeof buf, &len, &eb),
                         RF_OK);
    }
    double secs = (double)(rf_now_ns() - t0) / 1e9;
    printf("validate+encode only                 %ld events: %.2f s, %.0f events/s, %.2f us "
           "CPU/event\n",
           n, secs, (double)n / secs, (cpu_secs() - c0) * 1e6 / (double)n);
    rf_codec_destroy(c);
}

static void raw_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    if (!m->err) (*(long *)opaque)++;
}

/* The same producer settings, 120-byte payloads, no codec. */
static double raw_rate(const char *brokers, long n)
{
    char errstr[256], payload[120];
    long delivered = 0;
    memset(payload, 'x', sizeof payload);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[][2] = {{"bootstrap.servers", brokers},
                           {"enable.idempotence", "true"},
                           {"acks", "all"},
                           {"linger.ms", "10"},
                           {"batch.num.messages", "10000"},
                           {"batch.size", "1000000"},
                           {"compression.codec", "none"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        assert_int_equal(rd_kafka_conf_set(conf, kv[i][0], kv[i][1], errstr, sizeof errstr), 0);
    rd_kafka_conf_set_dr_msg_cb(conf, raw_dr);
    rd_kafka_conf_set_opaque(conf, &delivered);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    assert_non_null(rk);
    uint64_t t0 = rf_now_ns();
    double c0 = cpu_secs();
    for (long i = 0; i < n; i++) {
        char key[8];
        int klen = snprintf(key, sizeof key, "p%ld", i % 4);
        while (rd_kafka_producev(
                   rk, RD_KAFKA_V_TOPIC(RF_TOPIC_EVENTS), RD_KAFKA_V_VALUE(payload, sizeof payload),
                   RD_KAFKA_V_KEY(key, (size_t)klen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                   RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10);
        if ((i & 1023) == 0) rd_kafka_poll(rk, 0);
    }
    assert_int_equal(rd_kafka_flush(rk, 60000), 0);
    double secs = (double)(rf_now_ns() - t0) / 1e9;
    assert_int_equal(delivered, n);
    printf(
        "raw librdkafka (120-byte, none)       %ld messages: %.2f s, %.0f msg/s, %.2f us CPU/msg\n",
        n, secs, (double)n / secs, (cpu_secs() - c0) * 1e6 / (double)n);
    rd_kafka_destroy(rk);
    return (double)n / secs;
}

static void test_rates(void **state)
{
    (void)state;
    rf_errbuf_t eb = {{0}};
    rf_broker_t *b = rf_broker_start(RF_PARTITIONS_DEFAULT, 1, &eb);
    assert_non_null(b);
    rf_loadgen_conf_t lc;
    rf_loadgen_conf_init(&lc);
    lc.events = RING * 100;
    rf_loadgen_t *g = rf_loadgen_new(&lc, &eb);
    rf_event_t *ring = malloc(RING * sizeof *ring);
    /* every 100th of the first 51200 events: the mix of a long run */
    for (int i = 0; i < RING * 100; i++)
        assert_int_equal(rf_loadgen_next(g, &ring[i / 100]), RF_OK);
    rf_loadgen_destroy(g);
    long n = events_wanted();
    const char *x = getenv("RF_RATE_X");
    double lib = library_rate(rf_broker_bootstraps(b), ring, n, x && *x ? x : NULL);
    double raw = raw_rate(rf_broker_bootstraps(b), n);
    encode_rate(ring, n);
    printf("library / raw: %.2f\n", lib / raw);
    assert_true(lib > 1000);
    free(ring);
    rf_broker_stop(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_rates)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
