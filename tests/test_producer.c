/* test_producer.c: the producer library without a broker: event ids
 * (UUIDv7, monotonic), PII hashes, constructors, configuration errors,
 * validation before anything is queued, purge reported on destroy. */
#include <stdlib.h>
#include <string.h>

#include "rf_producer.h"
#include "rf_testutil.h"

static void test_event_id_v7_layout(void **state)
{
    (void)state;
    const uint8_t rnd[10] = {0x0a, 0xbc, 0xff, 1, 2, 3, 4, 5, 6, 7};
    char id[RF_UUID_STR_LEN + 1];
    rf_event_id_v7(1767225600000LL, rnd, id); /* 0x019b76da a800 */
    assert_string_equal(id, "019b76da-a800-7abc-bf01-020304050607");
}

static void test_event_id_monotonic(void **state)
{
    (void)state;
    char prev[RF_UUID_STR_LEN + 1] = "", id[RF_UUID_STR_LEN + 1];
    int64_t before = rf_wall_ms();
    for (int i = 0; i < 100000; i++) {
        rf_event_id_new(id);
        assert_int_equal(strlen(id), RF_UUID_STR_LEN);
        assert_int_equal(id[14], '7');
        assert_true(strchr("89ab", id[19]) != NULL); /* RFC variant */
        if (strcmp(prev, id) >= 0) fail_msg("not increasing: %s then %s", prev, id);
        memcpy(prev, id, sizeof id);
    }
    /* The first 48 bits are the creation time in ms. */
    char hex[13];
    memcpy(hex, id, 8);
    memcpy(hex + 8, id + 9, 4);
    hex[12] = '\0';
    int64_t ms = strtoll(hex, NULL, 16);
    assert_true(ms >= before && ms <= rf_wall_ms() + 100);
}

static void test_pii_hash(void **state)
{
    (void)state;
    char out[RF_HASH_HEX_LEN + 1];
    rf_pii_hash("Jefe", "what do ya want for nothing?", out); /* RFC 4231 case 2 */
    assert_string_equal(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    rf_errbuf_t eb;
    assert_int_equal(rf_pii_hash_email("k", "  Ann@Example.COM\n", out, &eb), RF_OK);
    assert_string_equal(out, "812b5e65283998e47b49528ef531aea6e0a9f94ed9005c6c1cdec12579d7d459");
    char *huge = malloc(400);
    memset(huge, 'a', 399);
    huge[399] = '\0';
    assert_int_equal(rf_pii_hash_email("k", huge, out, &eb), RF_ERR_BAD_INPUT);
    free(huge);
}

static void test_constructors(void **state)
{
    (void)state;
    rf_event_t *ev = malloc(sizeof *ev);
    rf_errbuf_t eb = {{0}};
    assert_int_equal(rf_event_purchase(ev, "p1", "o1", "u1", 4599, "USD", NULL, &eb), RF_OK);
    rf_pii_hash("secret", "card-fingerprint", ev->payment_hash);
    assert_int_equal(rf_event_validate(ev, &eb), RF_OK);
    assert_int_equal(ev->type, RF_EV_PURCHASE);
    assert_string_equal(ev->asset, "USD");
    assert_int_equal(ev->amount_minor, 4599);
    assert_int_equal(rf_event_validate(ev, &eb), RF_OK);
    assert_int_equal(rf_event_program_configured(ev, "p1", 1, "{\"currency\":\"USD\"}", &eb),
                     RF_OK);
    assert_int_equal(rf_event_validate(ev, &eb), RF_OK);
    assert_int_equal(rf_event_code_issued(ev, "p1", "r1", "C1", &eb), RF_OK);
    assert_int_equal(rf_event_validate(ev, &eb), RF_OK);
    assert_int_equal(rf_event_share(ev, "p1", "r1", "sms", &eb), RF_OK);
    assert_int_equal(rf_event_click(ev, "p1", "C1", "v1", &eb), RF_OK);
    assert_int_equal(rf_event_signup(ev, "p1", "u1", "C1", "", &eb), RF_OK);
    assert_int_equal(rf_event_refund(ev, "p1", "o1", 100, "USD", &eb), RF_OK);
    assert_int_equal(rf_event_redemption(ev, "p1", "r1", 100, "POINTS", "q1", &eb), RF_OK);
    assert_int_equal(rf_event_review_decision(ev, "p1", "u1", true, "risk", "", &eb), RF_OK);
    assert_int_equal(rf_event_adjustment(ev, "p1", "r1", -100, "USD", "fix", "fin", &eb), RF_OK);
    assert_int_equal(rf_event_validate(ev, &eb), RF_OK);
    assert_int_equal(rf_event_clock(ev, "p1", &eb), RF_OK);
    assert_int_equal(rf_event_validate(ev, &eb), RF_OK);
    char long_id[100];
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    assert_int_equal(rf_event_signup(ev, "p1", long_id, "", "", &eb), RF_ERR_BAD_INPUT);
    assert_non_null(strstr(eb.msg, "'user'"));
    free(ev);
}

static void test_conf_errors(void **state)
{
    (void)state;
    rf_producer_conf_t conf;
    rf_producer_conf_init(&conf);
    rf_errbuf_t eb = {{0}};
    assert_null(rf_producer_new(&conf, &eb));
    assert_non_null(strstr(eb.msg, "no brokers"));
    conf.kafka.brokers = "127.0.0.1:1";
    assert_int_equal(rf_kafka_opts_add_x(&conf.kafka, "no.such.property=1", &eb), RF_OK);
    assert_null(rf_producer_new(&conf, &eb));
    assert_non_null(strstr(eb.msg, "no.such.property"));
    rf_producer_conf_init(&conf);
    conf.kafka.brokers = "127.0.0.1:1";
    conf.schema_id = 3;
    assert_null(rf_producer_new(&conf, &eb));
    assert_non_null(strstr(eb.msg, "not an event schema"));
}

typedef struct dr_log {
    int n, failed;
    void *last_opaque;
    char last_id[RF_UUID_STR_LEN + 1];
} dr_log_t;

static void on_dr(const rf_delivery_t *d, void *opaque)
{
    dr_log_t *log = opaque;
    log->n++;
    if (d->err != RF_OK) log->failed++;
    log->last_opaque = d->msg_opaque;
    snprintf(log->last_id, sizeof log->last_id, "%s", d->event_id);
}

/* Nothing listens on port 1: emit still validates synchronously, queues
 * valid events, and destroy reports what it purges. */
static void test_emit_without_broker(void **state)
{
    (void)state;
    dr_log_t log = {0};
    rf_producer_conf_t conf;
    rf_producer_conf_init(&conf);
    conf.kafka.brokers = "127.0.0.1:1";
    conf.on_delivery = on_dr;
    conf.opaque = &log;
    rf_errbuf_t eb = {{0}};
    rf_producer_t *p = rf_producer_new(&conf, &eb);
    assert_non_null(p);
    rf_event_t *ev = malloc(sizeof *ev);
    assert_int_equal(rf_event_purchase(ev, "p1", "o1", "u1", -5, "USD", "", &eb), RF_OK);
    assert_int_equal(rf_producer_emit(p, ev, NULL, &eb), RF_ERR_BAD_INPUT);
    assert_non_null(strstr(eb.msg, "amount_minor"));
    rf_producer_stats_t st;
    rf_producer_stats(p, &st);
    assert_int_equal(st.emitted, 0);
    assert_int_equal(rf_event_clock(ev, "p1", &eb), RF_OK);
    assert_int_equal(rf_producer_emit(p, ev, (void *)0x42, &eb), RF_OK);
    assert_true(rf_producer_outq_len(p) >= 1); /* plus any unserved librdkafka events */
    rf_producer_stats(p, &st);
    assert_int_equal(st.emitted, 1);
    assert_int_equal(rf_producer_flush(p, 10, &eb), RF_ERR_TIMEOUT);
    rf_producer_destroy(p);
    assert_int_equal(log.n, 1);
    assert_int_equal(log.failed, 1);
    assert_ptr_equal(log.last_opaque, (void *)0x42);
    assert_string_equal(log.last_id, ev->event_id); /* read back from the encoded bytes */
    rf_producer_destroy(NULL);
    free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_id_v7_layout), cmocka_unit_test(test_event_id_monotonic),
        cmocka_unit_test(test_pii_hash),           cmocka_unit_test(test_constructors),
        cmocka_unit_test(test_conf_errors),        cmocka_unit_test(test_emit_without_broker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
