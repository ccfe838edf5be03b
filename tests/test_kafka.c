/* test_kafka.c: the Kafka edge's one policy (common/kafka/rf_kafka.h): per
 * role, a -X that tries to change a forced setting loses (with one warning),
 * a -X that changes a default wins, and the defaults hold without -X. Builds
 * confs only: no broker. */
#include <stdio.h>
#include <string.h>

#include "rf_kafka.h"
#include "rf_testutil.h"

/* Warnings logged while a conf is built. */
static int warnings;
static char last_warning[512];

static void count_log(rf_log_level_t level, const char *msg, void *opaque)
{
    (void)opaque;
    if (level != RF_LOG_WARN) return;
    warnings++;
    snprintf(last_warning, sizeof last_warning, "%s", msg);
}

static int setup(void **state)
{
    (void)state;
    warnings = 0;
    last_warning[0] = '\0';
    rf_log_set_callback(count_log, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rf_log_set_callback(NULL, NULL);
    return 0;
}

/* The value conf holds for name, librdkafka's spelling. */
static const char *get(rd_kafka_conf_t *conf, const char *name)
{
    static char buf[512];
    size_t sz = sizeof buf;
    assert_int_equal(rd_kafka_conf_get(conf, name, buf, &sz), RD_KAFKA_CONF_OK);
    return buf;
}

/* A conf for role with the given -X (NULL-terminated) and group. */
static rd_kafka_conf_t *build(rf_kafka_role_t role, const char *group, const char *const *x)
{
    static rf_kafka_opts_t opts;
    memset(&opts, 0, sizeof opts);
    opts.brokers = "127.0.0.1:9";
    rf_errbuf_t eb = {{0}};
    for (int i = 0; x && x[i]; i++)
        assert_int_equal(rf_kafka_opts_add_x(&opts, x[i], &eb), RF_OK);
    rf_kafka_client_t spec = {.role = role, .opts = &opts, .group = group};
    rd_kafka_conf_t *conf = rf_kafka_conf_build(&spec, &eb);
    if (!conf) fail_msg("role %d: %s", (int)role, eb.msg);
    return conf;
}

typedef struct role_case {
    rf_kafka_role_t role;
    const char *group;
    const char *forced_x, *forced_name, *forced_value; /* -X that must lose */
    const char *default_x, *default_name, *default_value, *default_was;
} role_case_t;

static const role_case_t cases[] = {
    {RF_KAFKA_FOLD_CONSUMER, "g-fold", "auto.offset.reset=earliest", "auto.offset.reset", "error",
     "session.timeout.ms=7000", "session.timeout.ms", "7000", "6000"},
    {RF_KAFKA_FOLD_DLQ, NULL, "acks=1", "acks", "-1", "linger.ms=3", "linger.ms", "3", "0"},
    {RF_KAFKA_FOLD_OUTBOX, NULL, "enable.idempotence=false", "enable.idempotence", "true",
     "compression.type=zstd", "compression.codec", "zstd", "gzip"},
    {RF_KAFKA_PROJECT_CONSUMER, "g-proj", "auto.offset.reset=earliest", "auto.offset.reset",
     "error", "fetch.wait.max.ms=70", "fetch.wait.max.ms", "70", "5"},
    {RF_KAFKA_EVENTS_PRODUCER, NULL, "acks=1", "acks", "-1", "linger.ms=20", "linger.ms", "20",
     "5"},
    {RF_KAFKA_REDRIVE_PRODUCER, NULL, "enable.idempotence=false", "enable.idempotence", "true",
     "partitioner=consistent", "partitioner", "consistent", "murmur2_random"},
    {RF_KAFKA_REPLAY_READER, NULL, "enable.auto.commit=true", "enable.auto.commit", "false",
     "fetch.message.max.bytes=1048576", "fetch.message.max.bytes", "1048576", "4194304"},
    {RF_KAFKA_DLQ_READER, NULL, "enable.auto.commit=true", "enable.auto.commit", "false",
     "group.id=other-tool", "group.id", "other-tool", "refold-dlq-tool"},
    {RF_KAFKA_LAG, "g-lag", "group.id=elsewhere", "group.id", "g-lag", "client.id=lagger",
     "client.id", "lagger", "rdkafka"},
};

/* Without -X the role's defaults and forced settings both hold. */
static void test_defaults_hold(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const role_case_t *c = &cases[i];
        rd_kafka_conf_t *conf = build(c->role, c->group, NULL);
        assert_string_equal(get(conf, c->forced_name), c->forced_value);
        assert_string_equal(get(conf, c->default_name), c->default_was);
        rd_kafka_conf_destroy(conf);
    }
    assert_int_equal(warnings, 0);
}

/* -X changing a forced setting loses with one warning naming it; -X changing
 * a default wins silently, whichever comes first on the command line. */
static void test_forced_wins_default_yields(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const role_case_t *c = &cases[i];
        const char *x[] = {c->forced_x, c->default_x, NULL};
        warnings = 0;
        rd_kafka_conf_t *conf = build(c->role, c->group, x);
        if (strcmp(get(conf, c->forced_name), c->forced_value) != 0)
            fail_msg("case %zu: -X %s won over the forced %s=%s", i, c->forced_x, c->forced_name,
                     c->forced_value);
        assert_string_equal(get(conf, c->default_name), c->default_value);
        assert_int_equal(warnings, 1);
        assert_non_null(strstr(last_warning, c->forced_name));
        rd_kafka_conf_destroy(conf);
    }
}

/* A -X equal to a forced value is no attempt to change it: no warning. An
 * alias of a forced setting (request.required.acks) is caught all the same. */
static void test_equal_and_alias(void **state)
{
    (void)state;
    const char *same[] = {"enable.auto.commit=false", "auto.offset.reset=error", NULL};
    rd_kafka_conf_t *conf = build(RF_KAFKA_FOLD_CONSUMER, "g", same);
    assert_int_equal(warnings, 0);
    assert_string_equal(get(conf, "group.id"), "g");
    assert_string_equal(get(conf, "enable.auto.offset.store"), "false");
    rd_kafka_conf_destroy(conf);
    const char *alias[] = {"request.required.acks=0", NULL};
    conf = build(RF_KAFKA_FOLD_OUTBOX, NULL, alias);
    assert_string_equal(get(conf, "acks"), "-1");
    assert_int_equal(warnings, 1);
    rd_kafka_conf_destroy(conf);
}

/* Errors name the setting and the client; no brokers, no group: config. */
static void test_errors(void **state)
{
    (void)state;
    rf_kafka_opts_t opts = {.brokers = "127.0.0.1:9"};
    rf_errbuf_t eb = {{0}};
    assert_int_equal(rf_kafka_opts_add_x(&opts, "no.such.property=1", &eb), RF_OK);
    rf_kafka_client_t spec = {.role = RF_KAFKA_EVENTS_PRODUCER, .opts = &opts};
    rd_kafka_t *rk = (rd_kafka_t *)&spec;
    assert_int_equal(rf_kafka_client_new(&spec, &rk, &eb), RF_ERR_CONFIG);
    assert_null(rk);
    assert_non_null(strstr(eb.msg, "no.such.property"));
    assert_non_null(strstr(eb.msg, "producer"));
    rf_kafka_opts_t none = {0};
    spec.opts = &none;
    assert_null(rf_kafka_conf_build(&spec, &eb));
    assert_non_null(strstr(eb.msg, "no brokers given"));
    opts.nx = 0;
    spec = (rf_kafka_client_t){.role = RF_KAFKA_PROJECT_CONSUMER, .opts = &opts, .group = ""};
    assert_null(rf_kafka_conf_build(&spec, &eb));
    assert_non_null(strstr(eb.msg, "group"));
    assert_int_equal(rf_kafka_opts_add_x(&opts, "=1", &eb), RF_ERR_CONFIG);
}

/* --help text: every forced setting of a role, none of its defaults. */
static void test_forced_help(void **state)
{
    (void)state;
    const char *h = rf_kafka_forced_help(RF_KAFKA_FOLD_CONSUMER);
    assert_non_null(strstr(h, "enable.auto.commit=false"));
    assert_non_null(strstr(h, "auto.offset.reset=error"));
    assert_non_null(strstr(h, "group.id="));
    assert_null(strstr(h, "session.timeout.ms"));
    h = rf_kafka_forced_help(RF_KAFKA_EVENTS_PRODUCER);
    assert_non_null(strstr(h, "enable.idempotence=true"));
    assert_non_null(strstr(h, "acks=all"));
    assert_null(strstr(h, "linger.ms"));
    assert_string_equal(rf_kafka_forced_help(RF_KAFKA_MOCK_HOST), "");
}

/* A client is created (librdkafka does not connect until asked). */
static void test_client_new(void **state)
{
    (void)state;
    rf_kafka_opts_t opts = {.brokers = "127.0.0.1:9"};
    rf_errbuf_t eb = {{0}};
    rd_kafka_t *rk = NULL;
    rf_kafka_client_t spec = {.role = RF_KAFKA_DLQ_READER, .opts = &opts};
    assert_int_equal(rf_kafka_client_new(&spec, &rk, &eb), RF_OK);
    assert_non_null(rk);
    assert_int_equal(rd_kafka_type(rk), RD_KAFKA_CONSUMER);
    rd_kafka_destroy(rk);
    spec.role = RF_KAFKA_REDRIVE_PRODUCER;
    assert_int_equal(rf_kafka_client_new(&spec, &rk, &eb), RF_OK);
    assert_int_equal(rd_kafka_type(rk), RD_KAFKA_PRODUCER);
    rd_kafka_destroy(rk);
}

/* -X scoping: consumer./producer. name the kind of client; an unprefixed
 * property librdkafka has for one kind only skips the other (it would warn
 * "ignored by this producer instance" per client); a forced setting changed
 * by one -X warns once for the command line, not once per client. */
static void test_x_scope(void **state)
{
    (void)state;
    static rf_kafka_opts_t opts;
    memset(&opts, 0, sizeof opts);
    opts.brokers = "127.0.0.1:9";
    rf_errbuf_t eb = {{0}};
    const char *x[] = {"fetch.max.bytes=1000000", "producer.linger.ms=7",
                       "consumer.client.id=reader", "acks=1", "producer.batch.size=20000"};
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
        assert_int_equal(rf_kafka_opts_add_x(&opts, x[i], &eb), RF_OK);
    rf_kafka_client_t c = {.role = RF_KAFKA_FOLD_CONSUMER, .opts = &opts, .group = "g"};
    rf_kafka_client_t d = {.role = RF_KAFKA_FOLD_DLQ, .opts = &opts};
    rf_kafka_client_t o = {.role = RF_KAFKA_FOLD_OUTBOX, .opts = &opts};
    warnings = 0;
    rd_kafka_conf_t *cc = rf_kafka_conf_build(&c, &eb), *dc = rf_kafka_conf_build(&d, &eb);
    rd_kafka_conf_t *oc = rf_kafka_conf_build(&o, &eb);
    assert_true(cc && dc && oc);
    assert_string_equal(get(cc, "fetch.max.bytes"), "1000000");
    assert_string_equal(get(dc, "fetch.max.bytes"), "52428800"); /* not given to producers */
    assert_string_equal(get(dc, "linger.ms"), "7");
    assert_string_equal(get(oc, "linger.ms"), "7");
    assert_string_equal(get(oc, "batch.size"), "20000");
    assert_string_equal(get(cc, "client.id"), "reader");
    assert_string_equal(get(dc, "client.id"), "rdkafka");
    assert_string_equal(get(dc, "acks"), "-1"); /* forced in both producers ... */
    assert_string_equal(get(oc, "acks"), "-1");
    assert_int_equal(warnings, 1); /* ... told once */
    assert_non_null(strstr(last_warning, "acks"));
    /* librdkafka creates the producer without a word about fetch.max.bytes */
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, dc, errstr, sizeof errstr);
    assert_non_null(rk);
    rd_kafka_destroy(rk);
    assert_int_equal(warnings, 1);
    rd_kafka_conf_destroy(cc);
    rd_kafka_conf_destroy(oc);
    /* a bad property behind a prefix is still named */
    memset(&opts, 0, sizeof opts);
    opts.brokers = "127.0.0.1:9";
    assert_int_equal(rf_kafka_opts_add_x(&opts, "producer.no.such.thing=1", &eb), RF_OK);
    assert_null(rf_kafka_conf_build(&d, &eb));
    assert_non_null(strstr(eb.msg, "no.such.thing"));
    cc = rf_kafka_conf_build(&c, &eb); /* a consumer ignores it */
    assert_non_null(cc);
    rd_kafka_conf_destroy(cc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults_hold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forced_wins_default_yields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_equal_and_alias, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forced_help, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_new, setup, teardown),
        cmocka_unit_test_setup_teardown(test_x_scope, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
