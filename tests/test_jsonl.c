/* test_jsonl.c: JSON lines <-> events: every type parses, prints canonically
 * and round-trips; errors name the line and the field; time parsing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_jsonl.h"
#include "rf_loadgen.h"
#include "rf_producer.h"
#include "rf_testutil.h"

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define EID "\"event_id\":\"019b76da-a800-7da9-84ec-7e540318498c\",\"program_id\":\"p1\""
#define T0  ",\"occurred_at\":\"2026-01-01T00:00:00.000Z\""

/* One canonical line per type: parse then format must give it back. */
static const char *const canonical[] = {
    "{\"type\":\"program_configured\"," EID T0
    ",\"version\":1,\"rules\":{\"currency\":\"USD\",\"hold_days\":14}}\n",
    "{\"type\":\"code_issued\"," EID T0 ",\"referrer\":\"r1\",\"code\":\"ANN-1\"}\n",
    "{\"type\":\"share\"," EID T0
    ",\"source\":\"web\",\"referrer\":\"r1\",\"channel\":\"whatsapp\"}\n",
    "{\"type\":\"click\"," EID T0 ",\"code\":\"ANN-1\",\"visitor\":\"v1\",\"ip_hash\":\"" H64
    "\",\"agent_hash\":\"" H64 "\"}\n",
    "{\"type\":\"signup\"," EID T0 ",\"user\":\"u1\",\"code\":\"ANN-1\",\"visitor\":\"v1\","
    "\"email_hash\":\"" H64 "\",\"device_hash\":\"" H64 "\",\"ip_hash\":\"" H64 "\"}\n",
    "{\"type\":\"purchase\"," EID T0 ",\"order_id\":\"o1\",\"user\":\"u1\",\"amount_minor\":4599,"
    "\"currency\":\"USD\",\"code\":\"ANN-1\",\"payment_hash\":\"" H64 "\"}\n",
    "{\"type\":\"refund\"," EID T0
    ",\"order_id\":\"o1\",\"amount_minor\":100,\"currency\":\"USD\"}\n",
    "{\"type\":\"redemption\"," EID T0 ",\"user\":\"r1\",\"amount_minor\":500,\"asset\":\"POINTS\","
    "\"request_id\":\"q1\"}\n",
    "{\"type\":\"review_decision\"," EID T0
    ",\"user\":\"u1\",\"approve\":false,\"reviewer\":\"risk\","
    "\"reason\":\"same \\\"device\\\"\\n\"}\n",
    "{\"type\":\"adjustment\"," EID T0 ",\"user\":\"r1\",\"amount_minor\":-250,\"asset\":\"USD\","
    "\"reason\":\"correction\",\"actor\":\"finance\"}\n",
    "{\"type\":\"clock\"," EID T0 "}\n",
    "{\"type\":\"key_registered\"," EID T0 ",\"auth\":{\"key_id\":\"0123456789abcdef\","
    "\"signature\":\"" H64 H64 "\"},\"key_id\":\"fedcba9876543210\",\"public_key\":\"" H64
    "\",\"scopes\":\"adjust,review\",\"actor\":\"fin-ann\"}\n",
    "{\"type\":\"key_revoked\"," EID T0 ",\"key_id\":\"fedcba9876543210\",\"reason\":\"left\"}\n",
};

static char *fmt(const rf_event_t *ev)
{
    static char buf[RF_JSONL_OUT_MAX];
    size_t len = 0;
    rf_errbuf_t eb;
    assert_int_equal(rf_jsonl_format(ev, buf, sizeof buf, &len, &eb), RF_OK);
    assert_int_equal(strlen(buf), len);
    return buf;
}

static rf_event_t *new_event(void)
{
    rf_event_t *ev = malloc(sizeof *ev);
    assert_non_null(ev);
    return ev;
}

static void test_canonical_round_trip(void **state)
{
    (void)state;
    rf_event_t *ev = new_event();
    int seen[RF_EV__COUNT] = {0};
    for (size_t i = 0; i < sizeof canonical / sizeof canonical[0]; i++) {
        rf_errbuf_t eb = {{0}};
        rf_err_t err = rf_jsonl_parse(canonical[i], strlen(canonical[i]), ev, &eb);
        if (err != RF_OK) fail_msg("line %zu: %s", i, eb.msg);
        seen[ev->type]++;
        assert_string_equal(fmt(ev), canonical[i]);
    }
    for (int t = 0; t < RF_EV__COUNT; t++)
        assert_int_equal(seen[t], 1);
    free(ev);
}

static void test_fields(void **state)
{
    (void)state;
    rf_event_t *ev = new_event();
    rf_errbuf_t eb;
    assert_int_equal(rf_jsonl_parse(canonical[5], strlen(canonical[5]), ev, &eb), RF_OK);
    assert_int_equal(ev->type, RF_EV_PURCHASE);
    assert_string_equal(ev->program_id, "p1");
    assert_int_equal(ev->occurred_at_ms, 1767225600000LL);
    assert_string_equal(ev->order_id, "o1");
    assert_int_equal(ev->amount_minor, 4599);
    assert_string_equal(ev->asset, "USD");
    assert_string_equal(ev->payment_hash, H64);
    /* Avro record names are accepted as types too; "rules" is stored compactly. */
    const char *pc = "{\"type\":\"ProgramConfigured\",\"program_id\":\"p9\",\"version\":3,"
                     "\"rules\": { \"currency\" : \"EUR\", \"hold_days\": 7 } }";
    assert_int_equal(rf_jsonl_parse(pc, strlen(pc), ev, &eb), RF_OK);
    assert_int_equal(ev->version, 3);
    assert_string_equal(ev->rules_json, "{\"currency\":\"EUR\",\"hold_days\":7}");
    free(ev);
}

static void test_defaults(void **state)
{
    (void)state;
    rf_event_t *ev = new_event();
    rf_errbuf_t eb;
    const char *line = "{\"type\":\"clock\",\"program_id\":\"p1\"}";
    int64_t before = rf_wall_ms();
    assert_int_equal(rf_jsonl_parse(line, strlen(line), ev, &eb), RF_OK);
    assert_int_equal(strlen(ev->event_id), RF_UUID_STR_LEN);
    assert_int_equal(ev->event_id[14], '7'); /* UUIDv7 */
    assert_true(ev->occurred_at_ms >= before && ev->occurred_at_ms <= rf_wall_ms());
    /* rules_json as a string that is not compact: kept as is, printed as a string. */
    const char *pc = "{\"type\":\"program_configured\"," EID T0
                     ",\"version\":1,\"rules_json\":\"{ \\\"currency\\\": \\\"USD\\\" }\"}\n";
    assert_int_equal(rf_jsonl_parse(pc, strlen(pc), ev, &eb), RF_OK);
    assert_string_equal(ev->rules_json, "{ \"currency\": \"USD\" }");
    assert_string_equal(fmt(ev), pc);
    free(ev);
}

static const struct {
    const char *line;
    const char *want; /* substring of the message */
} bad[] = {
    {"{\"type\":\"purchase\",\"program_id\":\"p1\",\"order_id\":\"o1\",\"user\":\"u1\","
     "\"amount_minor\":\"12\",\"currency\":\"USD\"}",
     "purchase: field 'amount_minor' must be an integer"},
    {"{\"type\":\"purchase\",\"program_id\":\"p1\",\"order_id\":\"o1\",\"user\":\"u1\","
     "\"amount_minor\":12.5,\"currency\":\"USD\"}",
     "purchase: field 'amount_minor' must be an integer"},
    {"{\"type\":\"purchase\",\"program_id\":\"p1\",\"order_id\":\"o1\",\"amount_minor\":1,"
     "\"currency\":\"USD\"}",
     "purchase: field 'user' is required"},
    {"{\"type\":\"purchase\",\"program_id\":\"p1\",\"order_id\":\"o1\",\"user\":\"\","
     "\"amount_minor\":1,\"currency\":\"USD\"}",
     "purchase: field 'user' is missing"},
    {"{\"type\":\"purchase\",\"program_id\":\"p1\",\"order_id\":\"o1\",\"user\":\"u\","
     "\"amount_minor\":-1,\"currency\":\"USD\"}",
     "field 'amount_minor' is negative"},
    {"{\"type\":\"purchase\",\"program_id\":\"p1\",\"order_id\":\"o1\",\"user\":\"u\","
     "\"amount_minor\":1,\"currency\":\"USD\",\"channel\":\"x\"}",
     "purchase: unknown field 'channel'"},
    {"{\"type\":\"purchase\",\"program_id\":\"p1\",\"order_id\":\"o1\",\"user\":\"u\","
     "\"amount_minor\":1,\"currency\":\"USD\",\"payment_hash\":\"ABC\"}",
     "field 'payment_hash' is not 64 lowercase hex"},
    {"{\"type\":\"clock\"}", "clock: field 'program_id' is required"},
    {"{\"program_id\":\"p1\"}", "field 'type' is required"},
    {"{\"type\":\"bogus\",\"program_id\":\"p1\"}", "unknown event type 'bogus'"},
    {"{\"type\":7,\"program_id\":\"p1\"}", "field 'type' must be a string"},
    {"not json", "invalid JSON"},
    {"[1,2]", "must be a JSON object"},
    {"{\"type\":\"clock\",\"program_id\":\"p1\",\"program_id\":\"p2\"}", "duplicate"},
    {"{\"type\":\"clock\",\"program_id\":\"p1\",\"event_id\":\"nope\"}",
     "field 'event_id' is not a UUID"},
    {"{\"type\":\"clock\",\"program_id\":\"p1\",\"occurred_at\":\"2026-02-30T00:00:00Z\"}",
     "clock: field 'occurred_at'"},
    {"{\"type\":\"clock\",\"program_id\":\"p1\",\"occurred_at\":1.5}",
     "field 'occurred_at' must be Unix milliseconds or an RFC 3339 string"},
    {"{\"type\":\"clock\",\"program_id\":\"p1\",\"occurred_at\":-5}", "field 'occurred_at'"},
    {"{\"type\":\"clock\",\"program_id\":"
     "\"p1234567890123456789012345678901234567890123456789012345678901234\"}",
     "field 'program_id' is longer than 64 bytes"},
    {"{\"type\":\"program_configured\",\"program_id\":\"p1\",\"version\":1,\"rules\":{},"
     "\"rules_json\":\"{}\"}",
     "exclude each other"},
    {"{\"type\":\"program_configured\",\"program_id\":\"p1\",\"version\":1,\"rules_json\":\"[1]\"}",
     "field 'rules_json' is not a JSON object"},
    {"{\"type\":\"program_configured\",\"program_id\":\"p1\",\"version\":\"1\",\"rules\":{}}",
     "field 'version' must be an integer"},
    {"{\"type\":\"program_configured\",\"program_id\":\"p1\",\"version\":1}",
     "field 'rules' is required"},
    {"{\"type\":\"review_decision\",\"program_id\":\"p1\",\"user\":\"u\",\"approve\":\"yes\","
     "\"reviewer\":\"r\"}",
     "field 'approve' must be true or false"},
    {"{\"type\":\"adjustment\",\"program_id\":\"p1\",\"user\":\"u\",\"amount_minor\":0,"
     "\"asset\":\"USD\",\"reason\":\"x\",\"actor\":\"y\"}",
     "must not be zero"},
    {"{\"type\":\"signup\",\"program_id\":\"p1\",\"user\":\"a\\u0000b\"}", "NUL"},
};

static void test_errors(void **state)
{
    (void)state;
    rf_event_t *ev = new_event();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rf_errbuf_t eb = {{0}};
        rf_err_t err = rf_jsonl_parse(bad[i].line, strlen(bad[i].line), ev, &eb);
        if (err == RF_OK) fail_msg("case %zu parsed: %s", i, bad[i].line);
        assert_int_equal(rf_err_class(err), RF_ERRCLASS_BAD_INPUT);
        if (!strstr(eb.msg, bad[i].want))
            fail_msg("case %zu: got '%s', want '%s'", i, eb.msg, bad[i].want);
    }
    free(ev);
}

static void test_time(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int64_t ms;
    } ok[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"2026-01-01T00:00:00Z", 1767225600000LL},
        {"2026-01-01T01:00:00.5+01:00", 1767225600500LL},
        {"2025-12-31t19:00:00.123456-05:00", 1767225600123LL},
        {"2028-02-29T12:00:00Z", 1835438400000LL},
        {"9999-12-31T23:59:59.999Z", 253402300799999LL},
    };
    rf_errbuf_t eb;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t ms = -1;
        assert_int_equal(rf_time_parse(ok[i].s, &ms, &eb), RF_OK);
        assert_int_equal(ms, ok[i].ms);
        char out[RF_TIME_BUF], back_in[RF_TIME_BUF];
        rf_time_format(ms, out);
        int64_t back = -1;
        assert_int_equal(rf_time_parse(out, &back, &eb), RF_OK);
        assert_int_equal(back, ms);
        memcpy(back_in, out, sizeof out);
        assert_int_equal(strlen(back_in), 24);
    }
    static const char *const no[] = {
        "2027-02-29T00:00:00Z",  "2026-13-01T00:00:00Z", "2026-01-01T24:00:00Z",
        "2026-01-01T00:00:00",   "2026-01-01",           "1969-12-31T23:59:59Z",
        "2026-01-01T00:00:00Zx", "2026-01-01T00:00:00.Z"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        int64_t ms;
        if (rf_time_parse(no[i], &ms, &eb) == RF_OK) fail_msg("parsed '%s'", no[i]);
    }
}

static void test_reader(void **state)
{
    (void)state;
    char text[512];
    snprintf(text, sizeof text, "%s\n   \n%s{\"type\":\"clock\"}\n%s", canonical[1], canonical[2],
             canonical[10]);
    FILE *f = fmemopen(text, strlen(text), "r");
    assert_non_null(f);
    rf_jsonl_reader_t *r = malloc(sizeof *r);
    rf_event_t *ev = new_event();
    rf_jsonl_reader_init(r, f);
    rf_errbuf_t eb = {{0}};
    assert_int_equal(rf_jsonl_read(r, ev, &eb), RF_OK);
    assert_int_equal(ev->type, RF_EV_CODE_ISSUED);
    assert_int_equal(rf_jsonl_read(r, ev, &eb), RF_OK); /* blank lines skipped */
    assert_int_equal(ev->type, RF_EV_SHARE);
    assert_int_equal(r->lineno, 4);
    assert_int_equal(rf_jsonl_read(r, ev, &eb), RF_ERR_BAD_INPUT);
    assert_string_equal(eb.msg, "line 5: clock: field 'program_id' is required");
    assert_int_equal(rf_jsonl_read(r, ev, &eb), RF_OK); /* goes on after a bad line */
    assert_int_equal(ev->type, RF_EV_CLOCK);
    assert_int_equal(rf_jsonl_read(r, ev, &eb), RF_ERR_NOT_FOUND);
    fclose(f);
    free(ev);
    free(r);
}

static void test_reader_long_line(void **state)
{
    (void)state;
    size_t n = RF_JSON_LINE_MAX + 100;
    char *text = malloc(n + 512);
    memset(text, ' ', n);
    text[n - 1] = '\n';
    strcpy(text + n, canonical[10]);
    FILE *f = fmemopen(text, strlen(text), "r");
    rf_jsonl_reader_t *r = malloc(sizeof *r);
    rf_event_t *ev = new_event();
    rf_jsonl_reader_init(r, f);
    rf_errbuf_t eb = {{0}};
    assert_int_equal(rf_jsonl_read(r, ev, &eb), RF_ERR_BAD_INPUT);
    assert_non_null(strstr(eb.msg, "line 1: longer than"));
    assert_int_equal(rf_jsonl_read(r, ev, &eb), RF_OK);
    assert_int_equal(r->lineno, 2);
    assert_int_equal(ev->type, RF_EV_CLOCK);
    fclose(f);
    free(ev);
    free(r);
    free(text);
}

/* Every loadgen event prints and parses back to the same line. */
static void test_loadgen_round_trip(void **state)
{
    (void)state;
    rf_loadgen_conf_t conf;
    rf_loadgen_conf_init(&conf);
    conf.events = 20000;
    conf.fraud_ppm = 200000;
    rf_errbuf_t eb = {{0}};
    rf_loadgen_t *g = rf_loadgen_new(&conf, &eb);
    assert_non_null(g);
    rf_event_t *ev = new_event(), *back = new_event();
    static char line[RF_JSONL_OUT_MAX];
    while (rf_loadgen_next(g, ev) == RF_OK) {
        size_t len;
        assert_int_equal(rf_jsonl_format(ev, line, sizeof line, &len, &eb), RF_OK);
        if (rf_jsonl_parse(line, len, back, &eb) != RF_OK) fail_msg("%s: %s", line, eb.msg);
        assert_string_equal(fmt(back), line);
    }
    rf_loadgen_destroy(g);
    free(ev);
    free(back);
}

static void test_format_oversize(void **state)
{
    (void)state;
    rf_event_t *ev = new_event();
    rf_errbuf_t eb;
    assert_int_equal(rf_jsonl_parse(canonical[5], strlen(canonical[5]), ev, &eb), RF_OK);
    char small[64];
    size_t len;
    assert_int_equal(rf_jsonl_format(ev, small, sizeof small, &len, &eb), RF_ERR_OVERSIZE);
    free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_round_trip),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_reader),
        cmocka_unit_test(test_reader_long_line),
        cmocka_unit_test(test_loadgen_round_trip),
        cmocka_unit_test(test_format_oversize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
