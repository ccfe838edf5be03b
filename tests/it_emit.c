/* it_emit.c: `refold emit` against an in-process embedded broker: a valid
 * file is published in full; a bad line is reported by number and field and
 * nothing after it is sent; --skip-invalid skips it; --dry-run sends nothing;
 * an unreachable broker makes the exit status non-zero. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rf_kafka.h"
#include "rf_testutil.h"

#define GOOD1                                                                                      \
    "{\"type\":\"code_issued\",\"program_id\":\"p1\",\"referrer\":\"r1\",\"code\":\"C1\"}\n"
#define GOOD2 "{\"type\":\"click\",\"program_id\":\"p1\",\"code\":\"C1\",\"visitor\":\"v1\"}\n"
#define GOOD3                                                                                      \
    "{\"type\":\"signup\",\"program_id\":\"p1\",\"user\":\"u1\",\"visitor\":\"v1\","               \
    "\"occurred_at\":\"2026-01-01T00:00:10Z\"}\n"
#define GOOD4                                                                                      \
    "{\"type\":\"purchase\",\"program_id\":\"p2\",\"order_id\":\"o1\",\"user\":\"u1\","            \
    "\"amount_minor\":4599,\"currency\":\"USD\",\"occurred_at\":1767225600000}\n"
#define BAD                                                                                        \
    "{\"type\":\"purchase\",\"program_id\":\"p1\",\"order_id\":\"o2\",\"user\":\"u1\","            \
    "\"amount_minor\":\"12\",\"currency\":\"USD\"}\n"

typedef struct fixture {
    rf_broker_t *broker;
    char dir[256];
    char path[320];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    rf_errbuf_t eb = {{0}};
    f->broker = rf_broker_start(4, 1, &eb);
    assert_non_null(f->broker);
    rf_test_tmpdir("emit", f->dir, sizeof f->dir);
    snprintf(f->path, sizeof f->path, "%s/events.jsonl", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    rf_broker_stop(f->broker);
    rf_test_rmtree(f->dir);
    free(f);
    return 0;
}

static long topic_count(fixture_t *f)
{
    return rf_test_topic_count(rf_broker_bootstraps(f->broker), RF_TOPIC_EVENTS);
}

static void test_valid_file(void **state)
{
    fixture_t *f = *state;
    rf_test_write_file(f->path, GOOD1 GOOD2 "\n" GOOD3 GOOD4);
    char out[4096];
    int rc = rf_test_refold(out, sizeof out, 1, "emit --brokers %s --file '%s'",
                            rf_broker_bootstraps(f->broker), f->path);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "sent 4, delivered 4, failed 0, invalid 0"));
    assert_int_equal(topic_count(f), 4);
    /* stdin works as well */
    rc = rf_test_refold(out, sizeof out, 1, "emit --brokers %s < '%s'",
                        rf_broker_bootstraps(f->broker), f->path);
    assert_int_equal(rc, 0);
    assert_int_equal(topic_count(f), 8);
}

static void test_bad_line_stops(void **state)
{
    fixture_t *f = *state;
    rf_test_write_file(f->path, GOOD1 GOOD2 BAD GOOD3 GOOD4);
    char out[4096];
    int rc = rf_test_refold(out, sizeof out, 1, "emit --brokers %s --file '%s'",
                            rf_broker_bootstraps(f->broker), f->path);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "line 3: purchase: field 'amount_minor' must be an integer"));
    assert_non_null(strstr(out, "sent 2, delivered 2, failed 0, invalid 1"));
    assert_int_equal(topic_count(f), 2); /* the lines before it, nothing after it */
}

static void test_skip_invalid(void **state)
{
    fixture_t *f = *state;
    rf_test_write_file(f->path, GOOD1 BAD GOOD2 BAD GOOD3 GOOD4);
    char out[4096];
    int rc = rf_test_refold(out, sizeof out, 1, "emit --brokers %s --file '%s' --skip-invalid",
                            rf_broker_bootstraps(f->broker), f->path);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "line 2: purchase: field 'amount_minor'"));
    assert_non_null(strstr(out, "line 4: purchase: field 'amount_minor'"));
    assert_non_null(strstr(out, "sent 4, delivered 4, failed 0, invalid 2"));
    assert_int_equal(topic_count(f), 4);
}

static void test_dry_run(void **state)
{
    fixture_t *f = *state;
    rf_test_write_file(f->path, GOOD1 GOOD2 BAD);
    char out[4096];
    int rc = rf_test_refold(out, sizeof out, 1, "emit --dry-run --file '%s'", f->path);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "line 3:"));
    assert_non_null(strstr(out, "dry run: valid 2, invalid 1"));
    assert_int_equal(topic_count(f), 0);
}

static void test_undelivered(void **state)
{
    fixture_t *f = *state;
    rf_test_write_file(f->path, GOOD1 GOOD2);
    char out[4096];
    int rc =
        rf_test_refold(out, sizeof out, 1,
                       "emit --brokers 127.0.0.1:1 -X message.timeout.ms=300 --file '%s'", f->path);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "line 1: event "));
    assert_non_null(strstr(out, "not delivered"));
    assert_non_null(strstr(out, "sent 2, delivered 0, failed 2, invalid 0"));
}

static void test_usage(void **state)
{
    fixture_t *f = *state;
    char out[4096];
    assert_int_equal(rf_test_refold(out, sizeof out, 1, "emit --help"), 0);
    assert_non_null(strstr(out, "--skip-invalid"));
    assert_int_equal(rf_test_refold(out, sizeof out, 1, "emit --file '%s'", f->path), 2);
    assert_non_null(strstr(out, "no brokers"));
    assert_int_equal(rf_test_refold(out, sizeof out, 1, "emit --brokers x -X bad"), 2);
    assert_int_equal(rf_test_refold(out, sizeof out, 1, "emit --dry-run --file /nonexistent"), 1);
    assert_non_null(strstr(out, "cannot open '/nonexistent'"));
}

/* --json: the summary as one object on stdout, each error as one
 * {"error":{"code","message"}} line on stderr; loadgen's summary too. */
static void test_json(void **state)
{
    fixture_t *f = *state;
    rf_test_write_file(f->path, GOOD1 BAD GOOD2);
    char out[4096];
    int rc = rf_test_refold(out, sizeof out, 0,
                            "emit --brokers %s --file '%s' --skip-invalid --json 2>/dev/null",
                            rf_broker_bootstraps(f->broker), f->path);
    assert_int_equal(rc, 0);
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    if (!j) fail_msg("emit --json printed no JSON object: %s", out);
    assert_int_equal(json_integer_value(json_object_get(j, "sent")), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "delivered")), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "invalid")), 1);
    json_decref(j);
    rc = rf_test_refold(out, sizeof out, 0, "emit --brokers %s --file '%s' --json 2>&1 >/dev/null",
                        rf_broker_bootstraps(f->broker), f->path);
    assert_int_equal(rc, 1);
    j = json_loads(out, JSON_DISABLE_EOF_CHECK, &je); /* the first stderr line */
    if (!j) fail_msg("emit --json error is not JSON: %s", out);
    json_t *e = json_object_get(j, "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), "bad_input");
    assert_non_null(strstr(json_string_value(json_object_get(e, "message")), "line 2:"));
    json_decref(j);
    rc = rf_test_refold(out, sizeof out, 0, "loadgen --out /dev/null --events 200 --json");
    assert_int_equal(rc, 0);
    j = json_loads(out, 0, &je);
    if (!j) fail_msg("loadgen --json printed no JSON object: %s", out);
    assert_int_equal(json_integer_value(json_object_get(j, "events")), 200);
    assert_true(json_is_object(json_object_get(j, "by_type")));
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_valid_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_line_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_skip_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dry_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_undelivered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
