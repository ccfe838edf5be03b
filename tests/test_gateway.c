/* test_gateway.c: the gateway's pure parts without a server: the rules'
 * landing_url validation, POST body parsing (ids, lines, fields, limits,
 * privileged kinds), link paths, cookies, bot agents, landing URLs, tokens. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_fold.h"
#include "rf_gateway.h"
#include "rf_project.h"
#include "rf_query.h"
#include "rf_rules.h"
#include "rf_testutil.h"

static void rules_ok(const char *landing, bool ok)
{
    char json[512];
    snprintf(json, sizeof json, "{\"currency\": \"USD\", \"landing_url\": \"%s\"}", landing);
    rf_errbuf_t eb = {{0}};
    rf_err_t err = rf_rules_validate_json(json, &eb);
    if ((err == RF_OK) != ok) fprintf(stderr, "%s: %s\n", landing, eb.msg);
    assert_int_equal(err == RF_OK, ok);
    if (!ok) assert_non_null(strstr(eb.msg, "landing_url"));
}

static void test_landing_rules(void **state)
{
    (void)state;
    rules_ok("https://shop.example.com/welcome", true);
    rules_ok("https://shop.example.com:8443/w?src=ref&x=%20", true);
    rules_ok("https://[::1]/w", true);
    rules_ok("http://shop.example.com/", false);      /* https only */
    rules_ok("https://shop.example.com/#top", false); /* a fragment */
    rules_ok("https://shop.example.com@evil.example/", false);
    rules_ok("https:///path", false);
    rules_ok("https://shop.example.com/a b", false);
    rules_ok("javascript:alert(1)", false);
    char longurl[200] = "https://shop.example.com/";
    memset(longurl + strlen(longurl), 'a', 120);
    rules_ok(longurl, false); /* over RF_LANDING_URL_MAX */
}

typedef struct seen {
    int n;
    long lines[8];
    char ids[8][RF_UUID_STR_LEN + 1];
} seen_t;

static rf_err_t collect(const rf_event_t *ev, long line, void *opaque)
{
    seen_t *s = opaque;
    s->lines[s->n] = line;
    memcpy(s->ids[s->n++], ev->event_id, RF_UUID_STR_LEN + 1);
    return RF_OK;
}

static void test_body(void **state)
{
    (void)state;
    static rf_event_t ev;
    rf_gateway_error_t e;
    seen_t s = {0};
    const char *two =
        "{\"type\":\"share\",\"program_id\":\"p\",\"referrer\":\"a\",\"channel\":\"x\"}\n"
        "\r\n"
        "{\"type\":\"click\",\"program_id\":\"p\",\"code\":\"C\",\"visitor\":\"v\"}";
    assert_int_equal(rf_gateway_parse_body(two, strlen(two), true, "key-1", &ev, collect, &s, &e),
                     2);
    assert_int_equal(s.lines[0], 1);
    assert_int_equal(s.lines[1], 3);
    char want[RF_UUID_STR_LEN + 1];
    rf_gateway_event_id("key-1", 2, want); /* the 2nd event, on line 3 */
    assert_string_equal(s.ids[1], want);
    assert_int_equal(want[14], '5'); /* UUID version 5 */
    seen_t again = {0};
    rf_gateway_parse_body(two, strlen(two), true, "key-1", &ev, collect, &again, &e);
    assert_memory_equal(s.ids, again.ids, sizeof s.ids); /* deterministic */
    rf_gateway_event_id("key-2", 2, want);
    assert_string_not_equal(s.ids[1], want);
    /* a given event_id wins */
    const char *withid =
        "{\"type\":\"share\",\"program_id\":\"p\",\"referrer\":\"a\",\"channel\":\"x\","
        "\"event_id\":\"01890a5d-ac96-774b-bcce-b302099a8057\"}";
    s.n = 0;
    assert_int_equal(
        rf_gateway_parse_body(withid, strlen(withid), false, "k", &ev, collect, &s, &e), 1);
    assert_string_equal(s.ids[0], "01890a5d-ac96-774b-bcce-b302099a8057");
    /* no id and no key */
    assert_int_equal(rf_gateway_parse_body(two, strlen(two), true, NULL, &ev, NULL, NULL, &e), -1);
    assert_int_equal(e.status, 400);
    assert_string_equal(e.field, "event_id");
    assert_int_equal(e.line, 1);
    assert_non_null(strstr(e.message, "Idempotency-Key"));
    /* the bad line and field are named */
    const char *bad =
        "{\"type\":\"share\",\"program_id\":\"p\",\"referrer\":\"a\",\"channel\":\"x\"}\n"
        "{\"type\":\"purchase\",\"program_id\":\"p\",\"order_id\":\"o\",\"user\":\"u\","
        "\"currency\":\"USD\"}\n";
    assert_int_equal(rf_gateway_parse_body(bad, strlen(bad), true, "k", &ev, NULL, NULL, &e), -1);
    assert_int_equal(e.line, 2);
    assert_string_equal(e.field, "amount_minor");
    assert_string_equal(e.code, "invalid_event");
    /* privileged kinds */
    const char *adj =
        "{\"type\":\"ReviewDecision\",\"program_id\":\"p\",\"user\":\"u\",\"approve\":true,"
        "\"reviewer\":\"r\"}";
    assert_int_equal(rf_gateway_parse_body(adj, strlen(adj), false, "k", &ev, NULL, NULL, &e), -1);
    assert_int_equal(e.status, 403);
    assert_true(rf_gateway_privileged(RF_EV_PROGRAM_CONFIGURED));
    assert_true(rf_gateway_privileged(RF_EV_ADJUSTMENT));
    assert_true(rf_gateway_privileged(RF_EV_CLOCK));
    assert_false(rf_gateway_privileged(RF_EV_PURCHASE));
    /* limits */
    assert_int_equal(rf_gateway_parse_body("", 0, true, "k", &ev, NULL, NULL, &e), -1);
    assert_string_equal(e.code, "empty");
    char *many = malloc(RF_GATEWAY_BODY_MAX);
    size_t at = 0;
    const char *line =
        "{\"type\":\"share\",\"program_id\":\"p\",\"referrer\":\"a\",\"channel\":\"x\"}\n";
    for (int i = 0; i <= RF_GATEWAY_BATCH_EVENTS_MAX; i++, at += strlen(line))
        memcpy(many + at, line, strlen(line));
    assert_int_equal(rf_gateway_parse_body(many, at, true, "k", &ev, NULL, NULL, &e), -1);
    assert_int_equal(e.status, 413);
    assert_int_equal(e.line, RF_GATEWAY_BATCH_EVENTS_MAX + 1);
    assert_int_equal(rf_gateway_parse_body(many, at - strlen(line), true, "k", &ev, NULL, NULL, &e),
                     RF_GATEWAY_BATCH_EVENTS_MAX);
    free(many);
}

static void test_links(void **state)
{
    (void)state;
    char p[RF_ID_BUF], c[RF_ID_BUF], out[512];
    assert_true(rf_gateway_link_parse("/r/shop/ALICE-7Q?utm_source=x", p, c));
    assert_string_equal(p, "shop");
    assert_string_equal(c, "ALICE-7Q");
    assert_true(rf_gateway_link_parse("/r/sh%20op/A%26B", p, c));
    assert_string_equal(p, "sh op");
    assert_string_equal(c, "A&B");
    assert_false(rf_gateway_link_parse("/r/shop/A%2FB", p, c)); /* an encoded '/' */
    assert_false(rf_gateway_link_parse("/r/shop/", p, c));
    assert_false(rf_gateway_link_parse("/r/shop/a/b", p, c));
    assert_false(rf_gateway_link_parse("/r/shop/%0a", p, c));
    assert_false(rf_gateway_link_parse("/r/shop/%4", p, c));
    assert_false(rf_gateway_link_parse("/x/shop/A", p, c));
    assert_int_equal(rf_gateway_landing("https://s.example/w", "A&B C", out, sizeof out), RF_OK);
    assert_string_equal(out, "https://s.example/w?ref=A%26B%20C");
    assert_int_equal(rf_gateway_landing("https://s.example/w?x=1", "A-7", out, sizeof out), RF_OK);
    assert_string_equal(out, "https://s.example/w?x=1&ref=A-7");
    assert_int_equal(rf_gateway_landing("https://s.example/w", "ABC", out, 20), RF_ERR_OVERSIZE);

    char v[RF_UUID_STR_LEN + 1];
    assert_true(rf_gateway_cookie_visitor("a=1; rf_vid=0f8e4c2a-1b3d-4e5f-8a9b-0c1d2e3f4a5b", v));
    assert_string_equal(v, "0f8e4c2a-1b3d-4e5f-8a9b-0c1d2e3f4a5b");
    assert_false(rf_gateway_cookie_visitor("rf_vid=0F8E4C2A-1b3d-4e5f-8a9b-0c1d2e3f4a5b", v));
    assert_false(rf_gateway_cookie_visitor("xrf_vid=0f8e4c2a-1b3d-4e5f-8a9b-0c1d2e3f4a5b", v));
    assert_false(rf_gateway_cookie_visitor("rf_vid=../../etc", v));
    assert_false(rf_gateway_cookie_visitor(NULL, v));

    assert_true(rf_gateway_bot_agent("facebookexternalhit/1.1 (+http://www.facebook.com)"));
    assert_true(rf_gateway_bot_agent("Mozilla/5.0 (compatible; Googlebot/2.1)"));
    assert_true(rf_gateway_bot_agent("WhatsApp/2.23.20.0"));
    assert_false(rf_gateway_bot_agent("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Safari/604.1"));
    assert_false(rf_gateway_bot_agent(NULL));

    const char *tokens[] = {"token-aaaaaaaaaaaaaaaa", "token-bbbbbbbbbbbbbbbb"};
    assert_true(rf_gateway_token_ok("token-bbbbbbbbbbbbbbbb", tokens, 2));
    assert_false(rf_gateway_token_ok("token-bbbbbbbbbbbbbbb", tokens, 2));
    assert_false(rf_gateway_token_ok("", tokens, 2));
    assert_false(rf_gateway_token_ok(NULL, tokens, 2));
    assert_false(rf_gateway_token_ok("token-aaaaaaaaaaaaaaaa", tokens, 0));
}

static void apply_rec(rf_projection_t *p, uint64_t seq, const char *kind, const char *k1,
                      const char *v1, const char *k2, const char *v2)
{
    static rf_record_t rec;
    rf_record_clear(&rec);
    rec.seq = seq;
    rf_strlcpy(rec.program_id, "shop", sizeof rec.program_id);
    rf_strlcpy(rec.kind, kind, sizeof rec.kind);
    rec.occurred_at_ms = 1767571200000LL;
    if (k1) rf_record_fact(&rec, k1, v1);
    if (k2) rf_record_fact(&rec, k2, v2);
    rf_errbuf_t eb = {{0}};
    assert_int_equal(rf_projection_apply(p, &rec, NULL, &eb), RF_OK);
    assert_int_equal(rf_projection_commit(p, (int64_t)seq, -1, &eb), RF_OK);
}

/* The read side the gateway resolves links with: the landing key follows
 * the program's latest rules; the code index answers code -> referrer. */
static void test_read_side(void **state)
{
    (void)state;
    char dir[256], user[RF_ID_BUF];
    rf_test_tmpdir("gateway-rs", dir, sizeof dir);
    rf_errbuf_t eb = {{0}};
    rf_projection_t *p = rf_projection_open(dir, 0, RF_PROJECTION_CREATE, &eb);
    assert_non_null(p);
    apply_rec(p, 1, RF_KIND_PROGRAM, RF_FACT_LANDING_URL, "https://s.example/w", RF_FACT_ATTR_DAYS,
              "14");
    apply_rec(p, 2, RF_KIND_CODE, RF_FACT_REFERRER, "alice", RF_FACT_CODE, "ALICE-7Q");
    rf_query_t *q = rf_query_open(dir, RF_QUERY_SNAPSHOT, &eb);
    assert_non_null(q);
    rf_query_landing_t land;
    assert_int_equal(rf_query_landing(q, "shop", &land, &eb), RF_OK);
    assert_string_equal(land.url, "https://s.example/w");
    assert_int_equal(land.attribution_days, 14);
    assert_int_equal(rf_query_code_owner(q, "shop", "ALICE-7Q", user, &eb), RF_OK);
    assert_string_equal(user, "alice");
    assert_int_equal(rf_query_code_owner(q, "shop", "BOB", user, &eb), RF_ERR_NOT_FOUND);
    assert_int_equal(rf_query_code_owner(q, "nope", "ALICE-7Q", user, &eb), RF_ERR_NOT_FOUND);
    assert_int_equal(rf_query_landing(q, "nope", &land, &eb), RF_ERR_NOT_FOUND);
    rf_query_close(q);
    /* a new rules version without landing_url: no more tracking links */
    apply_rec(p, 3, RF_KIND_PROGRAM, RF_FACT_RULE_VERSION, "2", NULL, NULL);
    q = rf_query_open(dir, RF_QUERY_SNAPSHOT, &eb);
    assert_non_null(q);
    assert_int_equal(rf_query_landing(q, "shop", &land, &eb), RF_ERR_NOT_FOUND);
    assert_int_equal(rf_query_code_owner(q, "shop", "ALICE-7Q", user, &eb), RF_OK);
    rf_query_close(q);
    rf_projection_close(p);
    rf_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_landing_rules),
        cmocka_unit_test(test_body),
        cmocka_unit_test(test_links),
        cmocka_unit_test(test_read_side),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
