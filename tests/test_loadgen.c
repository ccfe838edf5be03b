/* test_loadgen.c: loadgen is deterministic (same seed, byte-identical JSON
 * lines, in-process and through `refold loadgen`; another seed differs), its
 * events are valid and causally ordered per program, every type and fraud
 * pattern shows up, and its program rules use the documented fields. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rf_jsonl.h"
#include "rf_loadgen.h"
#include "rf_testutil.h"

/* Generates conf's events as JSON lines into a malloc'd buffer. */
static char *generate(const rf_loadgen_conf_t *conf, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    assert_non_null(f);
    rf_errbuf_t eb = {{0}};
    rf_loadgen_t *g = rf_loadgen_new(conf, &eb);
    assert_non_null(g);
    rf_event_t *ev = malloc(sizeof *ev);
    uint64_t n = 0;
    while (rf_loadgen_next(g, ev) == RF_OK) {
        assert_int_equal(rf_jsonl_write(f, ev, &eb), RF_OK);
        n++;
    }
    assert_int_equal(n, conf->events);
    rf_loadgen_destroy(g);
    free(ev);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static void test_same_seed_same_bytes(void **state)
{
    (void)state;
    rf_loadgen_conf_t conf;
    rf_loadgen_conf_init(&conf);
    conf.events = 30000;
    conf.seed = 42;
    size_t n1, n2, n3;
    char *a = generate(&conf, &n1), *b = generate(&conf, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1);
    conf.seed = 43;
    char *c = generate(&conf, &n3);
    assert_true(n1 != n3 || memcmp(a, c, n1) != 0);
    free(a);
    free(b);
    free(c);
}

static void test_cli_determinism(void **state)
{
    (void)state;
    char dir[256], out[8192];
    rf_test_tmpdir("loadgen", dir, sizeof dir);
    const char *opts = "--events 20000 --programs 3 --fraud-share 5%";
    assert_int_equal(
        rf_test_refold(out, sizeof out, 1, "loadgen %s --seed 9 --out %s/a", opts, dir), 0);
    assert_non_null(strstr(out, "loadgen: generated 20000 events:"));
    assert_int_equal(
        rf_test_refold(out, sizeof out, 1, "loadgen %s --seed 9 --out %s/b", opts, dir), 0);
    assert_int_equal(
        rf_test_refold(out, sizeof out, 1, "loadgen %s --seed 10 --out %s/c", opts, dir), 0);
    assert_int_equal(rf_test_refold(NULL, 0, 0, "loadgen %s --seed 9 --out - > %s/d", opts, dir),
                     0);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cmp -s %s/a %s/b && cmp -s %s/a %s/d", dir, dir, dir, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "cmp -s %s/a %s/c", dir, dir);
    assert_true(system(cmd) != 0);
    snprintf(cmd, sizeof cmd, "test $(wc -l < %s/a) -eq 20000", dir);
    assert_int_equal(system(cmd), 0);
    rf_test_rmtree(dir);
}

/* What the causality checks remember of the traffic seen so far. */
typedef struct seen {
    json_t *codes;     /* code -> true once issued */
    json_t *orders;    /* order id -> amount */
    json_t *referrers; /* referrer id -> true once it has a code */
    json_t *clicks;    /* visitor -> time of its click */
    json_t *ips;       /* signup ip_hash -> count */
    json_t *programs;  /* program -> last event time */
    int dup_orders, fast_signups;
    uint64_t by_type[RF_EV__COUNT];
} seen_t;

static void check_program_order(seen_t *s, const rf_event_t *ev)
{
    json_t *last = json_object_get(s->programs, ev->program_id);
    if (!last) {
        assert_int_equal(ev->type, RF_EV_KEY_REGISTERED); /* the key that signs the rules first */
    } else {
        assert_true(ev->occurred_at_ms >= json_integer_value(last));
    }
    json_object_set_new(s->programs, ev->program_id, json_integer(ev->occurred_at_ms));
}

static void check_event(seen_t *s, const rf_event_t *ev)
{
    check_program_order(s, ev);
    s->by_type[ev->type]++;
    /* privileged events are signed, the others not */
    assert_int_equal(ev->auth_key_id[0] != '\0', rf_event_privileged(ev->type));
    switch (ev->type) {
    case RF_EV_CODE_ISSUED:
        assert_null(json_object_get(s->codes, ev->code)); /* issued once */
        json_object_set_new(s->codes, ev->code, json_true());
        json_object_set_new(s->referrers, ev->referrer, json_true());
        break;
    case RF_EV_SHARE:
        assert_non_null(json_object_get(s->referrers, ev->referrer));
        break;
    case RF_EV_CLICK:
        assert_non_null(json_object_get(s->codes, ev->code));
        json_object_set_new(s->clicks, ev->visitor, json_integer(ev->occurred_at_ms));
        break;
    case RF_EV_SIGNUP: {
        if (ev->code[0]) assert_non_null(json_object_get(s->codes, ev->code));
        json_t *click = ev->visitor[0] ? json_object_get(s->clicks, ev->visitor) : NULL;
        if (ev->visitor[0]) assert_non_null(click);
        if (click && ev->occurred_at_ms - json_integer_value(click) < 5000) s->fast_signups++;
        json_t *n = json_object_get(s->ips, ev->ip_hash);
        json_object_set_new(s->ips, ev->ip_hash, json_integer(n ? json_integer_value(n) + 1 : 1));
        break;
    }
    case RF_EV_PURCHASE:
        if (json_object_get(s->orders, ev->order_id)) s->dup_orders++;
        json_object_set_new(s->orders, ev->order_id, json_integer(ev->amount_minor));
        break;
    case RF_EV_REFUND: {
        json_t *amount = json_object_get(s->orders, ev->order_id);
        assert_non_null(amount); /* refunds follow their purchase */
        assert_true(ev->amount_minor <= json_integer_value(amount));
        break;
    }
    case RF_EV_REDEMPTION:
    case RF_EV_ADJUSTMENT:
        assert_non_null(json_object_get(s->referrers, ev->user));
        break;
    default:
        break;
    }
}

static void test_traffic_is_valid_and_causal(void **state)
{
    (void)state;
    rf_loadgen_conf_t conf;
    rf_loadgen_conf_init(&conf);
    conf.events = 300000;
    conf.fraud_ppm = 50000;
    rf_errbuf_t eb = {{0}};
    rf_loadgen_t *g = rf_loadgen_new(&conf, &eb);
    assert_non_null(g);
    rf_event_t *ev = malloc(sizeof *ev);
    seen_t s = {json_object(),
                json_object(),
                json_object(),
                json_object(),
                json_object(),
                json_object(),
                0,
                0,
                {0}};
    int64_t prev_ms = 0;
    while (rf_loadgen_next(g, ev) == RF_OK) {
        if (rf_event_validate(ev, &eb) != RF_OK) fail_msg("%s", eb.msg);
        assert_true(ev->occurred_at_ms >= prev_ms);
        prev_ms = ev->occurred_at_ms;
        check_event(&s, ev);
    }
    for (int t = 0; t < RF_EV__COUNT; t++)
        if (s.by_type[t] == 0) fail_msg("no %s events", rf_jsonl_type_name((rf_event_type_t)t));
    assert_int_equal(s.by_type[RF_EV_PROGRAM_CONFIGURED], conf.programs + 1); /* one change */
    int clustered = 0;
    const char *key;
    json_t *v;
    json_object_foreach(s.ips, key, v) clustered += json_integer_value(v) >= 3;
    assert_true(s.dup_orders > 0);
    assert_true(s.fast_signups > 0);
    assert_true(clustered > 0);
    rf_loadgen_stats_t st;
    rf_loadgen_stats(g, &st);
    assert_true(st.fraud_journeys > 0);
    assert_int_equal(st.dropped, 0);
    /* key events: one per program and the first program's rotation (two) */
    assert_int_equal(st.by_type[RF_EV_KEY_REGISTERED], conf.programs + 1);
    assert_int_equal(st.by_type[RF_EV_KEY_REVOKED], 1);
    assert_int_equal(st.events, conf.events);
    json_decref(s.codes);
    json_decref(s.orders);
    json_decref(s.referrers);
    json_decref(s.clicks);
    json_decref(s.ips);
    json_decref(s.programs);
    rf_loadgen_destroy(g);
    free(ev);
}

/* Only fields of docs/programs.md, and together every feature. */
static void test_rules_shapes(void **state)
{
    (void)state;
    static const char *const allowed[] = {
        "name",  "currency",   "attribution", "qualification", "referrer_reward", "friend_reward",
        "tiers", "milestones", "caps",        "budget_minor",  "hold_days",       "fraud"};
    rf_loadgen_conf_t conf;
    rf_loadgen_conf_init(&conf);
    char *all = calloc(1, 65536);
    for (int i = 0; i < 8; i++) {
        char rules[RF_RULES_MAX + 1];
        rf_errbuf_t eb;
        assert_int_equal(rf_loadgen_rules(&conf, i, 1 + i % 2, rules, sizeof rules, &eb), RF_OK);
        json_t *o = json_loads(rules, 0, NULL);
        assert_true(json_is_object(o));
        assert_true(json_is_string(json_object_get(o, "currency")));
        const char *key;
        json_t *v;
        json_object_foreach(o, key, v)
        {
            bool ok = false;
            for (size_t k = 0; k < sizeof allowed / sizeof allowed[0]; k++)
                ok |= !strcmp(key, allowed[k]);
            if (!ok) fail_msg("unknown rules field '%s'", key);
        }
        json_decref(o);
        strcat(all, rules);
    }
    static const char *const features[] = {
        "\"tiers\"",         "\"milestones\"",  "\"caps\"",
        "\"budget_minor\"",  "\"hold_days\"",   "\"percent\"",
        "\"max_minor\"",     "\"coupon\"",      "\"product\"",
        "\"POINTS\"",        "CREDIT_",         "\"ip_cluster\"",
        "\"velocity\"",      "\"fast_signup\"", "\"duplicate_order\"",
        "\"self_referral\"", "\"first_touch\"", "\"refuse\"",
        "\"reduce\""};
    for (size_t k = 0; k < sizeof features / sizeof features[0]; k++)
        if (!strstr(all, features[k])) fail_msg("no program uses %s", features[k]);
    free(all);
}

static void test_parse_numbers(void **state)
{
    (void)state;
    rf_errbuf_t eb;
    uint32_t ppm = 0;
    assert_int_equal(rf_loadgen_parse_ppm("0.25", &ppm, &eb), RF_OK);
    assert_int_equal(ppm, 250000);
    assert_int_equal(rf_loadgen_parse_ppm("2%", &ppm, &eb), RF_OK);
    assert_int_equal(ppm, 20000);
    assert_int_equal(rf_loadgen_parse_ppm("1", &ppm, &eb), RF_OK);
    assert_int_equal(ppm, 1000000);
    assert_int_equal(rf_loadgen_parse_ppm(".5", &ppm, &eb), RF_OK);
    assert_int_equal(ppm, 500000);
    assert_int_equal(rf_loadgen_parse_ppm("0.0000001", &ppm, &eb), RF_OK);
    assert_int_equal(ppm, 0);
    assert_int_equal(rf_loadgen_parse_ppm("1.5", &ppm, &eb), RF_ERR_CONFIG);
    assert_int_equal(rf_loadgen_parse_ppm("abc", &ppm, &eb), RF_ERR_CONFIG);
    assert_int_equal(rf_loadgen_parse_ppm("", &ppm, &eb), RF_ERR_CONFIG);
    assert_int_equal(rf_loadgen_parse_ppm("-0.1", &ppm, &eb), RF_ERR_CONFIG);
    uint64_t v = 0;
    assert_int_equal(rf_loadgen_parse_fixed("1.5", 3, 1000000, &v, &eb), RF_OK);
    assert_int_equal(v, 1500);
}

static void test_conf_errors(void **state)
{
    (void)state;
    rf_loadgen_conf_t conf;
    rf_errbuf_t eb;
    rf_loadgen_conf_init(&conf);
    conf.programs = 0;
    assert_null(rf_loadgen_new(&conf, &eb));
    rf_loadgen_conf_init(&conf);
    conf.referrers = RF_LOADGEN_REFERRERS_MAX;
    assert_null(rf_loadgen_new(&conf, &eb)); /* 8 programs x the max */
    rf_loadgen_conf_init(&conf);
    conf.click_ppm = RF_PPM + 1;
    assert_null(rf_loadgen_new(&conf, &eb));
    rf_loadgen_conf_init(&conf);
    snprintf(conf.prefix, sizeof conf.prefix, "Bad-Prefix");
    assert_null(rf_loadgen_new(&conf, &eb));
    char out[4096];
    assert_int_equal(rf_test_refold(out, sizeof out, 1, "loadgen --out - --brokers x"), 2);
    assert_non_null(strstr(out, "exactly one of"));
    assert_int_equal(rf_test_refold(out, sizeof out, 1, "loadgen --out - --click-rate 2"), 2);
    assert_non_null(strstr(out, "--click-rate"));
    assert_int_equal(rf_test_refold(out, sizeof out, 1, "loadgen --help"), 0);
    assert_non_null(strstr(out, "--fraud-share"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_same_bytes),
        cmocka_unit_test(test_cli_determinism),
        cmocka_unit_test(test_traffic_is_valid_and_causal),
        cmocka_unit_test(test_rules_shapes),
        cmocka_unit_test(test_parse_numbers),
        cmocka_unit_test(test_conf_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
