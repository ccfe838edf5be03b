/* it_gateway.c: `refold gateway` end to end through HTTP only, with the
 * curl command as the client: a program with a landing URL, a referrer's
 * code POSTed, the link clicked (cookie, 302 to the landing URL with the
 * code), a signup with the visitor id and a purchase POSTed, fold and
 * projection run, and the referrer's balance, `refold explain` and `refold
 * stats` show the referral; a retried POST folds as duplicates; every bad
 * input gets its 4xx and publishes nothing (the topic's high watermarks). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "rf_fold_worker.h"
#include "rf_gateway.h"
#include "rf_kafka.h"
#include "rf_ledger.h"
#include "rf_project_worker.h"
#include "rf_query.h"
#include "rf_testutil.h"

#define NPART   2
#define PROGRAM "shop"
#define TOKEN   "app-token-0123456789"
#define LANDING "https://shop.example.com/welcome?src=ref"
#define OUT_MAX 65536

typedef struct fixture {
    rf_broker_t *broker;
    const char *brokers;
    char dir[256], data[320];
    rf_gateway_t *gw;
    char base[64];
    char out[OUT_MAX];
    rf_fold_stats_t fold_last;
} fixture_t;

static fixture_t *F;

/* ---- the curl client ---------------------------------------------------------- */

typedef struct resp {
    int status;
    char text[OUT_MAX]; /* headers and body as curl -i prints them */
    const char *body;
} resp_t;

/* Runs curl with args (a shell fragment) against the gateway; -i output. */
static void curl(resp_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void curl(resp_t *r, const char *fmt, ...)
{
    char args[4096], cmd[4400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "curl -s -i --max-time 30 %s", args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(r->text, 1, sizeof r->text - 1, p);
    r->text[n] = '\0';
    int rc = pclose(p);
    if (rc != 0) fprintf(stderr, "curl failed (%d): %s\n", rc, cmd);
    assert_int_equal(rc, 0);
    r->status = 0;
    assert_int_equal(sscanf(r->text, "HTTP/1.1 %d", &r->status), 1);
    char *sep = strstr(r->text, "\r\n\r\n");
    r->body = sep ? sep + 4 : "";
}

/* A header's value (first occurrence, case-insensitive name) into out. */
static bool header(const resp_t *r, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *l = strstr(r->text, "\r\n"); l && l < r->body; l = strstr(l + 2, "\r\n")) {
        if (!strncasecmp(l + 2, name, nl) && l[2 + nl] == ':') {
            const char *v = l + 3 + nl;
            while (*v == ' ')
                v++;
            size_t n = strcspn(v, "\r\n");
            if (n >= cap) n = cap - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return true;
        }
    }
    return false;
}

/* POSTs body (written to a file) with the content type and extra curl args. */
static void post(resp_t *r, const char *ctype, const char *body, const char *extra)
{
    char path[400];
    snprintf(path, sizeof path, "%s/body", F->dir);
    rf_test_write_file(path, body);
    curl(r, "-X POST -H 'Content-Type: %s' %s --data-binary @'%s' %s/v1/events", ctype, extra, path,
         F->base);
}

static void post_ok(resp_t *r, const char *ctype, const char *body, const char *idem)
{
    char extra[256];
    snprintf(extra, sizeof extra, "-H 'Authorization: Bearer " TOKEN "' %s%s%s",
             idem ? "-H 'Idempotency-Key: " : "", idem ? idem : "", idem ? "'" : "");
    post(r, ctype, body, extra);
    if (r->status != 202) fprintf(stderr, "POST -> %d %s\n", r->status, r->body);
    assert_int_equal(r->status, 202);
}

/* The JSON error of a 4xx: asserts status, code and field (NULL: null). */
static void expect_error(const resp_t *r, int status, const char *code, const char *field)
{
    if (r->status != status) fprintf(stderr, "got %d %s\n", r->status, r->body);
    assert_int_equal(r->status, status);
    json_t *j = json_loads(r->body, 0, NULL);
    assert_non_null(j);
    json_t *e = json_object_get(j, "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), code);
    assert_true(json_is_string(json_object_get(e, "message")));
    if (field)
        assert_string_equal(json_string_value(json_object_get(e, "field")), field);
    else
        assert_true(json_is_null(json_object_get(e, "field")));
    json_decref(j);
}

/* ---- pipeline ------------------------------------------------------------------ */

static void fold_to_end(void)
{
    static rf_fold_worker_conf_t c;
    rf_fold_worker_conf_init(&c);
    c.kafka.brokers = F->brokers;
    c.data_dir = F->data;
    c.exit_at_end = true;
    c.ledger_flags = RF_LEDGER_NOSYNC;
    c.npartitions = NPART;
    for (int i = 0; i < NPART; i++)
        c.partitions[i] = i;
    rf_errbuf_t eb = {{0}};
    rf_fold_worker_t *w = rf_fold_worker_new(&c, &eb);
    assert_non_null(w);
    rf_err_t err = rf_fold_worker_run(w, &eb);
    if (err) fprintf(stderr, "fold: %s\n", eb.msg);
    assert_int_equal(err, RF_OK);
    rf_fold_worker_stats(w, &F->fold_last);
    rf_fold_worker_destroy(w);
}

static void project_to_end(void)
{
    rf_project_opts_t o = {.kafka.brokers = F->brokers,
                           .data_dir = F->data,
                           .exit_at_end = true,
                           .nosync = true,
                           .threads = 1};
    rf_errbuf_t eb = {{0}};
    rf_project_worker_t *w = rf_project_worker_new(&o, &eb);
    assert_non_null(w);
    rf_err_t err = rf_project_worker_run(w, &eb);
    if (err) fprintf(stderr, "project: %s\n", eb.msg);
    assert_int_equal(err, RF_OK);
    rf_project_worker_destroy(w);
}

static long events_published(void)
{
    int64_t hi[NPART];
    char err[256];
    assert_int_equal(
        rf_test_high_watermarks(F->brokers, RF_TOPIC_EVENTS, NPART, hi, 10, err, sizeof err), 0);
    long n = 0;
    for (int i = 0; i < NPART; i++)
        n += (long)hi[i];
    return n;
}

static rf_gateway_stats_t gw_stats(void)
{
    rf_gateway_stats_t s;
    rf_gateway_stats(F->gw, &s);
    return s;
}

/* Waits (bounded) until every queued click has its delivery report. */
static void wait_clicks_delivered(uint64_t want)
{
    for (int i = 0; i < 200 && gw_stats().clicks_delivered < want; i++)
        usleep(50000);
    assert_int_equal(gw_stats().clicks_delivered, want);
}

/* ---- fixture --------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    F = calloc(1, sizeof *F);
    rf_errbuf_t eb = {{0}};
    F->broker = rf_broker_start(NPART, 1, &eb);
    assert_non_null(F->broker);
    F->brokers = rf_broker_bootstraps(F->broker);
    rf_test_tmpdir("gateway", F->dir, sizeof F->dir);
    snprintf(F->data, sizeof F->data, "%s/data", F->dir);
    static rf_gateway_opts_t o;
    memset(&o, 0, sizeof o);
    o.kafka.brokers = F->brokers;
    o.data_dir = F->data;
    o.listen = "127.0.0.1:0";
    o.pii_key = "test-pii-key-0123456789";
    o.tokens[o.ntokens++] = "other-app-token-999999";
    o.tokens[o.ntokens++] = TOKEN;
    F->gw = rf_gateway_start(&o, &eb); /* before the projection exists */
    if (!F->gw) fprintf(stderr, "gateway: %s\n", eb.msg);
    assert_non_null(F->gw);
    snprintf(F->base, sizeof F->base, "http://127.0.0.1:%u", (unsigned)rf_gateway_port(F->gw));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rf_gateway_stop(F->gw);
    rf_broker_stop(F->broker);
    rf_test_rmtree(F->dir);
    free(F);
    return 0;
}

/* ---- tests ------------------------------------------------------------------------- */

static void apply_program(void)
{
    char path[400];
    snprintf(path, sizeof path, "%s/shop.json", F->dir);
    rf_test_write_file(path,
                       "{\"currency\": \"USD\", \"landing_url\": \"" LANDING "\",\n"
                       " \"attribution\": {\"model\": \"last_touch\", \"window_days\": 30},\n"
                       " \"referrer_reward\": {\"type\": \"fixed\", \"amount_minor\": 1000}}\n");
    /* privileged: the operator path, never the gateway */
    int rc = rf_test_refold(F->out, sizeof F->out, 1,
                            "program apply '%s' --program " PROGRAM " --version 1 --brokers %s",
                            path, F->brokers);
    if (rc) fprintf(stderr, "%s", F->out);
    assert_int_equal(rc, 0);
}

static void test_funnel(void **state)
{
    (void)state;
    resp_t *r = malloc(sizeof *r), *r2 = malloc(sizeof *r2);
    char v[512], visitor[64];
    curl(r, "%s/r/" PROGRAM "/ALICE-7Q", F->base); /* no read side yet */
    assert_int_equal(r->status, 503);
    apply_program();
    post_ok(r, "application/json",
            "{\"type\":\"code_issued\",\"program_id\":\"" PROGRAM "\",\"referrer\":\"alice\","
            "\"code\":\"ALICE-7Q\"}",
            "issue-alice");
    assert_non_null(strstr(r->body, "\"accepted\":1"));
    fold_to_end();
    project_to_end();
    /* the gateway's secondary catches up within RF_QUERY_REFRESH_MS: wait
     * with HEAD (a prefetch: redirected, never recorded) */
    for (int i = 0; i < 100; i++) {
        curl(r, "-I %s/r/" PROGRAM "/ALICE-7Q", F->base);
        if (r->status == 302) break;
        usleep(50000);
    }
    assert_int_equal(r->status, 302);
    assert_false(header(r, "Set-Cookie", v, sizeof v));
    assert_true(header(r, "Location", v, sizeof v)); /* a prefetch goes where a person goes */
    assert_string_equal(v, LANDING "&ref=ALICE-7Q");
    assert_int_equal(gw_stats().clicks_queued, 0);

    /* the click: cookie, 302 to the landing URL with the code */
    curl(r, "-A 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0' %s/r/" PROGRAM "/ALICE-7Q",
         F->base);
    assert_int_equal(r->status, 302);
    assert_true(header(r, "Location", v, sizeof v));
    assert_string_equal(v, LANDING "&ref=ALICE-7Q");
    assert_true(header(r, "Set-Cookie", v, sizeof v));
    assert_int_equal(sscanf(v, "rf_vid=%36[0-9a-f-]", visitor), 1);
    assert_non_null(strstr(v, "HttpOnly"));
    assert_non_null(strstr(v, "SameSite=Lax"));
    assert_non_null(strstr(v, "Max-Age=2592000")); /* 30 days */
    assert_null(strstr(v, "Secure"));              /* plain HTTP, no --secure-cookies */
    /* the same visitor again: no new cookie, a second click */
    curl(r, "-H 'Cookie: theme=dark; rf_vid=%s' %s/r/" PROGRAM "/ALICE-7Q", visitor, F->base);
    assert_int_equal(r->status, 302);
    assert_false(header(r, "Set-Cookie", v, sizeof v));
    wait_clicks_delivered(2);

    /* signup with the visitor id (no code: attributed by the click), then
     * a share and the purchase as ndjson */
    char body[1024];
    int64_t now = rf_wall_ms();
    snprintf(body, sizeof body,
             "{\"type\":\"signup\",\"program_id\":\"" PROGRAM "\",\"user\":\"bob\","
             "\"visitor\":\"%s\",\"occurred_at\":%lld}",
             visitor, (long long)now + 1000);
    post_ok(r, "application/json", body, "signup-bob");
    snprintf(body, sizeof body,
             "{\"type\":\"share\",\"program_id\":\"" PROGRAM "\",\"referrer\":\"alice\","
             "\"channel\":\"email\",\"occurred_at\":%lld}\n\n"
             "{\"type\":\"purchase\",\"program_id\":\"" PROGRAM "\",\"order_id\":\"o-1\","
             "\"user\":\"bob\",\"amount_minor\":5000,\"currency\":\"USD\",\"occurred_at\":%lld}\n",
             (long long)now + 1500, (long long)now + 2000);
    post_ok(r, "application/x-ndjson", body, "order-o-1");
    json_t *j = json_loads(r->body, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(j, "accepted")), 2);
    json_t *e2 = json_array_get(json_object_get(j, "events"), 1);
    assert_int_equal(json_integer_value(json_object_get(e2, "line")), 3);
    assert_true(json_integer_value(json_object_get(e2, "offset")) >= 0);
    char id2[64];
    rf_strlcpy(id2, json_string_value(json_object_get(e2, "event_id")), sizeof id2);
    char want[RF_UUID_STR_LEN + 1];
    rf_gateway_event_id("order-o-1", 2, want);
    assert_string_equal(id2, want); /* derived: the event's number, not the line */
    json_decref(j);

    fold_to_end();
    project_to_end();
    /* the referrer's balance (read side), explain (fold ledger), stats */
    rf_errbuf_t eb = {{0}};
    rf_query_t *q = rf_query_open(F->data, RF_QUERY_SNAPSHOT, &eb);
    assert_non_null(q);
    rf_query_balance_t rows[8];
    int n = rf_query_balances(q, "alice", PROGRAM, rows, 8, &eb);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].asset, "USD");
    assert_int_equal(rows[0].buckets[RF_BUCKET_PENDING] + rows[0].buckets[RF_BUCKET_AVAILABLE],
                     1000);
    rf_query_close(q);
    int rc = rf_test_refold(F->out, sizeof F->out, 1,
                            "explain --data '%s' --program " PROGRAM " --user bob", F->data);
    if (rc || !strstr(F->out, "referred by alice")) fprintf(stderr, "%s", F->out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(F->out, "referred by alice"));
    assert_non_null(strstr(F->out, "last_touch"));
    rc = rf_test_refold(F->out, sizeof F->out, 1, "stats --data '%s' --program " PROGRAM " --json",
                        F->data);
    assert_int_equal(rc, 0);
    json_t *st = json_loads(F->out, 0, NULL);
    assert_non_null(st);
    json_t *fun = json_object_get(st, "funnel");
    assert_int_equal(json_integer_value(json_object_get(fun, "clicks")), 2);
    assert_int_equal(json_integer_value(json_object_get(fun, "attributed_signups")), 1);
    assert_int_equal(json_integer_value(json_object_get(fun, "referred_purchases")), 1);
    assert_int_equal(json_integer_value(json_object_get(fun, "codes_issued")), 1);
    json_decref(st);

    /* a retried request with the same Idempotency-Key: the same ids and
     * bytes, so the fold counts both events as duplicates */
    post_ok(r2, "application/x-ndjson", body, "order-o-1");
    assert_non_null(strstr(r2->body, id2));
    fold_to_end();
    assert_int_equal(F->fold_last.outcomes[RF_OUTCOME_DUPLICATE], 2);
    assert_int_equal(F->fold_last.outcomes[RF_OUTCOME_APPLIED], 0);
    project_to_end();
    q = rf_query_open(F->data, RF_QUERY_SNAPSHOT, &eb);
    assert_non_null(q);
    n = rf_query_balances(q, "alice", PROGRAM, rows, 8, &eb);
    assert_int_equal(rows[0].buckets[RF_BUCKET_PENDING] + rows[0].buckets[RF_BUCKET_AVAILABLE],
                     1000);
    rf_query_close(q);
    free(r);
    free(r2);
}

static void test_bad_input(void **state)
{
    (void)state;
    resp_t *r = malloc(sizeof *r);
    const long before = events_published();
    const uint64_t clicks = gw_stats().clicks_queued;
    const char *auth = "-H 'Authorization: Bearer " TOKEN "'";
    const char *good = "{\"type\":\"share\",\"program_id\":\"" PROGRAM
                       "\",\"referrer\":\"alice\",\"channel\":\"sms\"}";
    char extra[512];

    post(r, "application/json", good, "-H 'Idempotency-Key: x1'");
    expect_error(r, 401, "unauthorized", NULL);
    assert_true(header(r, "WWW-Authenticate", extra, sizeof extra));
    post(r, "application/json", good,
         "-H 'Authorization: Bearer " TOKEN "x' -H 'Idempotency-Key: x1'");
    expect_error(r, 401, "unauthorized", NULL);
    snprintf(extra, sizeof extra, "%s -H 'Idempotency-Key: x2'", auth);
    post(r, "application/json", "{\"type\":\"share\",", extra);
    expect_error(r, 400, "invalid_event", NULL);
    post(r, "application/json",
         "{\"type\":\"purchase\",\"program_id\":\"shop\",\"order_id\":\"o\",\"user\":\"u\","
         "\"currency\":\"USD\",\"amount_minor\":-5}",
         extra);
    expect_error(r, 400, "invalid_event", "amount_minor");
    post(r, "application/json", "{\"type\":\"share\",\"program_id\":\"shop\",\"referer\":\"a\"}",
         extra);
    expect_error(r, 400, "invalid_event", "referer"); /* a typo is an error */
    /* ndjson: line 1 valid, line 2 not: nothing of the request is published */
    char body[2048];
    snprintf(body, sizeof body, "%s\n{\"type\":\"signup\",\"program_id\":\"shop\"}\n", good);
    post(r, "application/x-ndjson", body, extra);
    expect_error(r, 400, "invalid_event", "user");
    assert_non_null(strstr(r->body, "line 2: "));
    /* privileged kinds: 403 */
    post(r, "application/json",
         "{\"type\":\"adjustment\",\"program_id\":\"shop\",\"user\":\"mallory\","
         "\"amount_minor\":100000,\"asset\":\"USD\",\"reason\":\"x\",\"actor\":\"me\"}",
         extra);
    expect_error(r, 403, "privileged_event", "type");
    post(r, "application/json", "{\"type\":\"clock\",\"program_id\":\"shop\"}", extra);
    expect_error(r, 403, "privileged_event", "type");
    /* no event_id and no Idempotency-Key */
    post(r, "application/json", good, auth);
    expect_error(r, 400, "invalid_event", "event_id");
    /* limits: count, bytes, media type, empty */
    size_t cap = 1001 * (strlen(good) + 1) + 1;
    char *big = malloc(RF_GATEWAY_BODY_MAX + 64);
    big[0] = '\0';
    for (int i = 0; i < 1001; i++) {
        strcat(big, good);
        strcat(big, "\n");
    }
    assert_true(strlen(big) < cap);
    post(r, "application/x-ndjson", big, extra);
    expect_error(r, 413, "too_many_events", NULL);
    memset(big, ' ', RF_GATEWAY_BODY_MAX + 10);
    big[RF_GATEWAY_BODY_MAX + 10] = '\0';
    post(r, "application/x-ndjson", big, extra);
    expect_error(r, 413, "too_large", NULL);
    free(big);
    big = NULL;
    /* chunked: no Content-Length to refuse early; the body is cut off at the bound */
    big = malloc(RF_GATEWAY_BODY_MAX + 64);
    memset(big, ' ', RF_GATEWAY_BODY_MAX + 10);
    big[RF_GATEWAY_BODY_MAX + 10] = '\0';
    char chunked[600];
    snprintf(chunked, sizeof chunked, "%s -H 'Transfer-Encoding: chunked' -H 'Expect:'", extra);
    post(r, "application/x-ndjson", big, chunked);
    expect_error(r, 413, "too_large", NULL);
    free(big);
    post(r, "text/plain", good, extra);
    expect_error(r, 415, "unsupported_media_type", NULL);
    post(r, "application/x-ndjson", "\n\n", extra);
    expect_error(r, 400, "empty", NULL);
    char longkey[300];
    memset(longkey, 'k', 200);
    longkey[200] = '\0';
    snprintf(extra, sizeof extra, "%s -H 'Idempotency-Key: %s'", auth, longkey);
    post(r, "application/json", good, extra);
    expect_error(r, 400, "bad_idempotency_key", NULL);

    /* links: unknown program or code (friendly page, no event), bots */
    curl(r, "%s/r/nope/ALICE-7Q", F->base);
    assert_int_equal(r->status, 404);
    assert_non_null(strstr(r->body, "<h1>This referral link is not valid</h1>"));
    curl(r, "%s/r/" PROGRAM "/NOPE", F->base);
    assert_int_equal(r->status, 404);
    curl(r, "%s/r/" PROGRAM "/A%%2FB", F->base); /* an encoded '/' is no code */
    assert_int_equal(r->status, 404);
    curl(r,
         "-A 'Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)' %s/r/" PROGRAM
         "/ALICE-7Q",
         F->base);
    assert_int_equal(r->status, 302);
    assert_false(header(r, "Set-Cookie", extra, sizeof extra));
    assert_true(header(r, "Location", extra, sizeof extra));
    assert_string_equal(extra, LANDING "&ref=ALICE-7Q");
    curl(r, "-H 'Sec-Purpose: prefetch' %s/r/" PROGRAM "/ALICE-7Q", F->base);
    assert_int_equal(r->status, 302);
    curl(r, "-X DELETE %s/r/" PROGRAM "/ALICE-7Q", F->base);
    assert_int_equal(r->status, 405);

    usleep(300000); /* anything wrongly queued would be on its way by now */
    assert_int_equal(gw_stats().clicks_queued, clicks);
    assert_int_equal(events_published(), before);
    free(r);
}

/* Kafka unavailable: 503 with Retry-After (after message.timeout.ms), and
 * the gateway serves again once the broker is back. */
static void test_kafka_down(void **state)
{
    (void)state;
    static rf_gateway_opts_t o;
    memset(&o, 0, sizeof o);
    o.kafka.brokers = F->brokers;
    o.kafka.x[o.kafka.nx++] = "message.timeout.ms=1500";
    o.data_dir = F->data;
    o.listen = "127.0.0.1:0";
    o.pii_key = "test-pii-key-0123456789";
    o.tokens[o.ntokens++] = TOKEN;
    rf_errbuf_t eb = {{0}};
    rf_gateway_t *gw = rf_gateway_start(&o, &eb);
    assert_non_null(gw);
    char base[64], extra[256], v[64];
    snprintf(base, sizeof base, "%s", F->base);
    snprintf(F->base, sizeof F->base, "http://127.0.0.1:%u", (unsigned)rf_gateway_port(gw));
    resp_t *r = malloc(sizeof *r);
    const char *ev = "{\"type\":\"share\",\"program_id\":\"" PROGRAM "\",\"referrer\":\"alice\","
                     "\"channel\":\"sms\",\"occurred_at\":1767571200000}";
    snprintf(extra, sizeof extra,
             "-H 'Authorization: Bearer " TOKEN "' -H 'Idempotency-Key: down-1'");
    rd_kafka_mock_cluster_t *mc = rf_broker_mock(F->broker);
    assert_int_equal(rd_kafka_mock_broker_set_down(mc, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    post(r, "application/json", ev, extra);
    expect_error(r, 503, "unavailable", NULL);
    assert_true(header(r, "Retry-After", v, sizeof v));
    assert_string_equal(v, "5");
    /* the redirect never waits for Kafka */
    curl(r, "%s/r/" PROGRAM "/ALICE-7Q", F->base);
    assert_int_equal(r->status, 302);
    assert_int_equal(rd_kafka_mock_broker_set_up(mc, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    for (int i = 0; i < 40; i++) { /* the client reconnects with backoff */
        post(r, "application/json", ev, extra);
        if (r->status == 202) break;
        usleep(250000);
    }
    assert_int_equal(r->status, 202);
    snprintf(F->base, sizeof F->base, "%s", base);
    rf_gateway_stats_t s;
    rf_gateway_stats(gw, &s);
    assert_true(s.posts_unavailable >= 1);
    rf_gateway_stop(gw);
    free(r);
}

/* Behind a trusted proxy: Secure from X-Forwarded-Proto; a gateway that does
 * not trust the proxy ignores the header; --secure-cookies always. */
static void test_proxy_cookies(void **state)
{
    (void)state;
    static rf_gateway_opts_t o;
    char v[512], base[64];
    resp_t *r = malloc(sizeof *r);
    snprintf(base, sizeof base, "%s", F->base);
    for (int mode = 0; mode < 3; mode++) {
        memset(&o, 0, sizeof o);
        o.kafka.brokers = F->brokers;
        o.data_dir = F->data;
        o.listen = "127.0.0.1:0";
        o.pii_key = "test-pii-key-0123456789";
        o.trust_proxy = mode == 1;
        o.secure_cookies = mode == 2;
        rf_errbuf_t eb = {{0}};
        rf_gateway_t *gw = rf_gateway_start(&o, &eb);
        assert_non_null(gw);
        snprintf(F->base, sizeof F->base, "http://127.0.0.1:%u", (unsigned)rf_gateway_port(gw));
        for (int i = 0; i < 100; i++) { /* its read side opens at start or on a refresh */
            curl(r, "-I %s/r/" PROGRAM "/ALICE-7Q", F->base);
            if (r->status == 302) break;
            usleep(50000);
        }
        curl(r,
             "-H 'X-Forwarded-Proto: https' -H 'X-Forwarded-For: 203.0.113.9, 198.51.100.7' "
             "%s/r/" PROGRAM "/ALICE-7Q",
             F->base);
        assert_int_equal(r->status, 302);
        assert_true(header(r, "Set-Cookie", v, sizeof v));
        if (mode == 0)
            assert_null(strstr(v, "; Secure"));
        else
            assert_non_null(strstr(v, "; Secure"));
        curl(r, "%s/r/" PROGRAM "/ALICE-7Q", F->base);
        assert_true(header(r, "Set-Cookie", v, sizeof v));
        if (mode == 2)
            assert_non_null(strstr(v, "; Secure"));
        else
            assert_null(strstr(v, "; Secure"));
        rf_gateway_stop(gw);
    }
    snprintf(F->base, sizeof F->base, "%s", base);
    free(r);
}

/* The command: secrets from files, metrics, SIGTERM answers and exits 0. */
static void test_command(void **state)
{
    (void)state;
    char tok[400], key[400], out[400], pidf[400], cmd[3000], v[256], base[64];
    snprintf(tok, sizeof tok, "%s/tokens", F->dir);
    snprintf(key, sizeof key, "%s/pii-key", F->dir);
    snprintf(out, sizeof out, "%s/gateway.out", F->dir);
    snprintf(pidf, sizeof pidf, "%s/gateway.pid", F->dir);
    rf_test_write_file(tok, "# apps\nshop-backend-token-0001\n\n" TOKEN "\n");
    rf_test_write_file(key, "pii-key-from-a-file-0123456789\n");
    int mport = 20000 + (int)(getpid() % 20000);
    snprintf(cmd, sizeof cmd,
             "env -u REFOLD_GATEWAY_TOKENS -u REFOLD_PII_KEY '%s' gateway --brokers %s --data '%s' "
             "--listen 127.0.0.1:0 --tokens-file '%s' --pii-key-file '%s' --metrics-port %d "
             "--access-log >'%s' 2>'%s.err' & echo $! >'%s'",
             rf_test_refold_bin(), F->brokers, F->data, tok, key, mport, out, out, pidf);
    assert_int_equal(system(cmd), 0);
    char line[256] = "";
    for (int i = 0; i < 200 && !strstr(line, "listening on "); i++) {
        FILE *f = fopen(out, "r");
        if (f) {
            if (!fgets(line, sizeof line, f)) line[0] = '\0';
            fclose(f);
        }
        usleep(50000);
    }
    assert_non_null(strstr(line, "listening on http://"));
    line[strcspn(line, "\n")] = '\0';
    snprintf(base, sizeof base, "%s", F->base);
    assert_true(strlen(line) < 13 + sizeof F->base);
    memcpy(F->base, line + 13, strlen(line + 13) + 1); /* after "listening on " */
    resp_t *r = malloc(sizeof *r);
    post_ok(r, "application/json",
            "{\"type\":\"share\",\"program_id\":\"" PROGRAM "\",\"referrer\":\"alice\","
            "\"channel\":\"sms\",\"occurred_at\":1767571200000}",
            "cmd-1");
    post(r, "application/json", "{}", "-H 'Authorization: Bearer shop-backend-token-0001'");
    expect_error(r, 400, "invalid_event", "type"); /* the file's other token works */
    curl(r, "http://127.0.0.1:%d/metrics", mport);
    assert_int_equal(r->status, 200);
    assert_non_null(strstr(r->body, "refold_gateway_posts_total{status=\"202\"} 1"));
    assert_non_null(strstr(r->body, "refold_gateway_events_total{outcome=\"accepted\"} 1"));
    FILE *pf = fopen(pidf, "r");
    assert_non_null(pf);
    long pid = 0;
    assert_int_equal(fscanf(pf, "%ld", &pid), 1);
    fclose(pf);
    snprintf(cmd, sizeof cmd, "kill -TERM %ld; while kill -0 %ld 2>/dev/null; do sleep 0.1; done",
             pid, pid);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s.err", out);
    FILE *ef = fopen(cmd, "r");
    assert_non_null(ef);
    bool logged = false;
    while (fgets(v, sizeof v, ef))
        logged |= strstr(v, "gateway: POST /v1/events 202") != NULL;
    fclose(ef);
    assert_true(logged); /* --access-log */
    snprintf(F->base, sizeof F->base, "%s", base);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_funnel),        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_proxy_cookies), cmocka_unit_test(test_command),
        cmocka_unit_test(test_kafka_down),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
