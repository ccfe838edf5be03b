/* test_webhooks.c: the webhook relay's pure parts: Standard Webhooks signing
 * (the specification's test vector), secrets, the strict endpoints config,
 * the retry schedule, and which records map to which event types. */
#include <string.h>

#include "rf_fold.h"
#include "rf_rules.h"
#include "rf_testutil.h"
#include "rf_webhooks.h"

#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

/* The vector of the Standard Webhooks specification's reference libraries
 * (also what npm's standardwebhooks signs: checked by it_webhooks). */
static void test_sign_vector(void **state)
{
    (void)state;
    rf_wh_secret_t s[2];
    rf_errbuf_t eb = {{0}};
    assert_int_equal(rf_wh_secret_parse(SECRET, &s[0], &eb), RF_OK);
    char sig[RF_WH_SIG_BUF];
    const char *body = "{\"test\": 2432232314}";
    rf_wh_sign(s, 1, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, strlen(body), sig);
    assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    /* rotation: two secrets, two signatures, space separated, new one second */
    assert_int_equal(
        rf_wh_secret_parse("whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY=", &s[1], &eb), RF_OK);
    rf_wh_sign(s, 2, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, strlen(body), sig);
    assert_true(strncmp(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1,", 51) == 0);
    assert_int_equal(strlen(sig), 47 * 2 + 1);
}

static void test_secret_errors(void **state)
{
    (void)state;
    rf_wh_secret_t s;
    rf_errbuf_t eb = {{0}};
    assert_int_equal(rf_wh_secret_parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &s, &eb),
                     RF_ERR_CONFIG);
    assert_non_null(strstr(eb.msg, "whsec_"));
    assert_int_equal(rf_wh_secret_parse("whsec_c2hvcnQ=", &s, &eb), RF_ERR_CONFIG); /* 5 bytes */
    assert_non_null(strstr(eb.msg, "24 to 64 bytes"));
    assert_int_equal(rf_wh_secret_parse("whsec_MfKQ9r8GKYqrTwjUPD8I!PZIo2LaLaSw", &s, &eb),
                     RF_ERR_CONFIG);
    assert_non_null(strstr(eb.msg, "not base64"));
}

static rf_err_t parse(const char *json, rf_errbuf_t *eb)
{
    static rf_wh_config_t c;
    return rf_wh_config_parse(json, strlen(json), &c, eb);
}

#define EP(extra)                                                                                  \
    "{\"endpoints\":[{\"id\":\"shop\",\"url\":\"https://shop.example/"                             \
    "hooks\",\"secrets\":[\"" SECRET "\"],\"events\":[\"reward.created\"]" extra "}]}"

static void expect_err(const char *json, const char *needle)
{
    rf_errbuf_t eb = {{0}};
    assert_int_equal(parse(json, &eb), RF_ERR_CONFIG);
    if (!strstr(eb.msg, needle)) fail_msg("message '%s' lacks '%s'", eb.msg, needle);
}

static void test_config(void **state)
{
    (void)state;
    static rf_wh_config_t c;
    rf_errbuf_t eb = {{0}};
    const char *ok = EP(",\"programs\":[\"spring\"],\"retry\":{\"initial_ms\":100,"
                        "\"max_attempts\":3},\"max_in_flight\":4");
    assert_int_equal(rf_wh_config_parse(ok, strlen(ok), &c, &eb), RF_OK);
    assert_int_equal(c.nendpoints, 1);
    assert_int_equal(c.endpoints[0].retry.max_attempts, 3);
    assert_int_equal(c.endpoints[0].retry.max_delay_ms, RF_WEBHOOK_RETRY_MAX_DELAY_MS_DEFAULT);
    assert_true(rf_wh_endpoint_wants(&c.endpoints[0], "spring", RF_WH_REWARD_CREATED));
    assert_false(rf_wh_endpoint_wants(&c.endpoints[0], "autumn", RF_WH_REWARD_CREATED));
    assert_false(rf_wh_endpoint_wants(&c.endpoints[0], "spring", RF_WH_REWARD_VOIDED));
    expect_err(EP(",\"secret\":\"x\""), "endpoints[0]: unknown field 'secret'");
    expect_err(EP(",\"retry\":{\"initial\":5}"), "endpoints[0].retry: unknown field 'initial'");
    expect_err("{\"endpoints\":[{\"id\":\"a\",\"url\":\"http://x/\",\"secrets\":[\"" SECRET
               "\"],\"events\":[\"*\"]}]}",
               "must be https");
    const char *http = "{\"endpoints\":[{\"id\":\"a\",\"url\":\"http://127.0.0.1:9/\","
                       "\"allow_http\":true,\"secrets\":[\"" SECRET "\"],\"events\":[\"*\"]}]}";
    assert_int_equal(parse(http, &eb), RF_OK);
    expect_err("{\"endpoints\":[{\"id\":\"a\",\"url\":\"https://x/\",\"secrets\":[\"whsec_abc\"],"
               "\"events\":[\"*\"]}]}",
               "endpoints[0].secrets[0]");
    expect_err("{\"endpoints\":[{\"id\":\"a\",\"url\":\"https://x/\",\"secrets\":[\"" SECRET
               "\"],\"events\":[\"reward.paid\"]}]}",
               "unknown event type 'reward.paid'");
    expect_err("{\"endpoints\":[{\"id\":\"Shop!\",\"url\":\"https://x/\",\"secrets\":[\"" SECRET
               "\"],\"events\":[\"*\"]}]}",
               "endpoints[0].id");
    expect_err(EP(",\"max_in_flight\":1000"), "max_in_flight: must be 1..64");
    expect_err("{\"endpoints\":[]}", "non-empty");
    expect_err("{\"endpoints\":[{\"id\":\"a\",\"url\":\"https://u:p@x/\",\"secrets\":[\"" SECRET
               "\"],\"events\":[\"*\"]}]}",
               "credentials");
}

static void test_backoff(void **state)
{
    (void)state;
    rf_wh_retry_t r = {5000, 3600000, 12, 86400000};
    assert_int_equal(rf_wh_backoff_ms(&r, 1), 5000);
    assert_int_equal(rf_wh_backoff_ms(&r, 2), 10000);
    assert_int_equal(rf_wh_backoff_ms(&r, 10), 2560000);
    assert_int_equal(rf_wh_backoff_ms(&r, 11), 3600000);
    assert_int_equal(rf_wh_backoff_ms(&r, 99), 3600000);
}

static void rec_init(rf_record_t *r, const char *kind)
{
    rf_record_clear(r);
    r->seq = 42;
    r->partition = 3;
    r->offset = 7;
    strcpy(r->program_id, "spring");
    strcpy(r->event_id, "00000000-0000-4000-8000-000000000001");
    r->occurred_at_ms = 1767225600000;
    strcpy(r->kind, kind);
}

static void test_mapping(void **state)
{
    (void)state;
    static rf_record_t r;
    rec_init(&r, RF_KIND_REWARD);
    rf_record_fact(&r, RF_FACT_USER, "alice");
    rf_record_fact(&r, RF_FACT_AMOUNT_MINOR, "1000");
    rf_record_fact(&r, RF_FACT_ASSET, "USD");
    rf_record_fact(&r, RF_FACT_HOLD_UNTIL, "1767312000000");
    assert_int_equal(rf_wh_record_type(&r), RF_WH_REWARD_CREATED);
    char body[RF_WEBHOOK_BODY_MAX + 1];
    size_t len = 0;
    rf_errbuf_t eb = {{0}};
    assert_int_equal(rf_wh_payload(&r, RF_WH_REWARD_CREATED, body, sizeof body, &len, &eb), RF_OK);
    assert_int_equal(strlen(body), len);
    assert_true(strncmp(body,
                        "{\"type\":\"reward.created\",\"timestamp\":\"2026-01-01T00:00:00.000Z"
                        "\",\"data\":{\"program\":\"spring\",\"reward_id\":null,\"user\":"
                        "\"alice\"",
                        90) == 0);
    assert_non_null(strstr(body, "\"amount_minor\":1000,\"asset\":\"USD\""));
    assert_non_null(strstr(body, "\"hold_until\":\"2026-01-02T00:00:00.000Z\""));
    assert_non_null(strstr(body, "\"ledger\":{\"program\":\"spring\",\"partition\":3,\"seq\":42,"));
    char id[RF_WH_MSGID_BUF];
    rf_wh_msg_id(3, 42, id);
    assert_string_equal(id, "msg_3_42");
    /* too small a buffer: an error, not a truncated payload */
    assert_int_equal(rf_wh_payload(&r, RF_WH_REWARD_CREATED, body, 64, &len, &eb), RF_ERR_OVERSIZE);

    rec_init(&r, RF_KIND_SIGNUP);
    rf_record_fact(&r, RF_FACT_REFERRED, "1");
    rf_record_fact(&r, RF_FACT_REFERRER, "bob");
    rf_record_fact(&r, RF_FACT_ATTRIBUTION, "code");
    assert_int_equal(rf_wh_record_type(&r), RF_WH_REFERRAL_ATTRIBUTED);
    rec_init(&r, RF_KIND_SIGNUP);
    rf_record_fact(&r, RF_FACT_REFERRED, "1");
    rf_record_fact(&r, RF_FACT_ATTRIBUTION, "existing");
    assert_int_equal(rf_wh_record_type(&r), -1);
    rec_init(&r, RF_KIND_SIGNUP);
    rf_record_fact(&r, RF_FACT_REFERRED, "0");
    rf_record_fact(&r, RF_FACT_REFUSED_REFERRER, "bob");
    rf_record_fact(&r, RF_FACT_REASON, "fraud:ip_cluster");
    assert_int_equal(rf_wh_record_type(&r), RF_WH_REFERRAL_REFUSED);
    assert_int_equal(rf_wh_payload(&r, RF_WH_REFERRAL_REFUSED, body, sizeof body, &len, &eb),
                     RF_OK);
    assert_non_null(strstr(body, "\"referrer\":\"bob\",\"stage\":\"signup\""));
    rec_init(&r, RF_KIND_PURCHASE);
    rf_record_fact(&r, RF_FACT_REFERRED, "1");
    rf_record_fact(&r, RF_FACT_CHECKS, "velocity=fail:reject");
    assert_int_equal(rf_wh_record_type(&r), RF_WH_REFERRAL_REFUSED);
    rec_init(&r, RF_KIND_PURCHASE);
    rf_record_fact(&r, RF_FACT_REFERRED, "1");
    assert_int_equal(rf_wh_record_type(&r), -1);
    rec_init(&r, RF_KIND_REJECTED);
    rf_record_fact(&r, RF_FACT_TYPE, "Redemption");
    assert_int_equal(rf_wh_record_type(&r), RF_WH_REDEMPTION_REJECTED);
    rec_init(&r, RF_KIND_REJECTED);
    rf_record_fact(&r, RF_FACT_TYPE, "Signup");
    assert_int_equal(rf_wh_record_type(&r), -1);
    rec_init(&r, RF_KIND_REVIEW);
    rf_record_fact(&r, RF_FACT_STATUS, "held");
    assert_int_equal(rf_wh_record_type(&r), RF_WH_REVIEW_REQUIRED);
    rec_init(&r, RF_KIND_REDEMPTION);
    rf_record_post(&r, "alice", RF_BUCKET_AVAILABLE, "USD", -500);
    rf_record_post(&r, "alice", RF_BUCKET_REDEEMED, "USD", 500);
    assert_int_equal(rf_wh_record_type(&r), RF_WH_REDEMPTION_APPLIED);
    assert_int_equal(rf_wh_payload(&r, RF_WH_REDEMPTION_APPLIED, body, sizeof body, &len, &eb),
                     RF_OK);
    assert_non_null(strstr(body, "\"amount_minor\":500,\"asset\":\"USD\""));
    for (int t = 0; t < RF_WH__TYPES; t++)
        assert_int_equal(rf_wh_type_parse(rf_wh_type_name((rf_wh_type_t)t)), t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_vector), cmocka_unit_test(test_secret_errors),
        cmocka_unit_test(test_config),      cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_mapping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
