/* it_pages.c: `refold serve`'s pages over a projection built from records
 * applied directly: security headers, the embedded assets, the owner
 * endpoints behind the serve token, and the referral endpoint behind its
 * signed token: alice's token answers alice's data only, an expired or
 * tampered one is refused (issue 20). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>

#include "rf_fold.h"
#include "rf_http.h"
#include "rf_pages.h"
#include "rf_project.h"
#include "rf_reftoken.h"
#include "rf_testutil.h"

#define T0     1767571200000LL /* 2026-01-05T00:00:00Z */
#define TOKEN  "s3cret-token"
#define SECRET "referral-secret-0123456789"

static char dir[256];
static rf_projection_t *proj;
static uint64_t seq;
static rf_http_t *srv;
static rf_pages_t *pages;

static rf_record_t *rec_new(const char *kind, int64_t at)
{
    static rf_record_t rec;
    rf_record_clear(&rec);
    rec.seq = ++seq;
    rec.partition = 0;
    rf_strlcpy(rec.program_id, "shop", sizeof rec.program_id);
    rf_strlcpy(rec.kind, kind, sizeof rec.kind);
    rec.occurred_at_ms = at;
    return &rec;
}

static void apply(rf_record_t *r)
{
    rf_errbuf_t eb = {{0}};
    assert_int_equal(rf_projection_apply(proj, r, NULL, &eb), RF_OK);
}

static void code(const char *user, const char *c)
{
    rf_record_t *r = rec_new(RF_KIND_CODE, T0);
    rf_record_fact(r, RF_FACT_REFERRER, user);
    rf_record_fact(r, RF_FACT_CODE, c);
    apply(r);
}

static void reward(const char *referrer, int64_t amount, int64_t at)
{
    rf_record_t *r = rec_new(RF_KIND_REWARD, at);
    rf_record_fact(r, RF_FACT_ROLE, "referrer");
    rf_record_fact(r, RF_FACT_REFERRER, referrer);
    rf_record_post(r, referrer, RF_BUCKET_PENDING, "USD", amount);
    rf_record_post(r, "#expense", RF_BUCKET_EXPENSE, "USD", -amount);
    apply(r);
}

/* alice: two rewards on two days; bob: one, three days later. */
static void build(void)
{
    rf_errbuf_t eb = {{0}};
    rf_test_tmpdir("pages", dir, sizeof dir);
    proj = rf_projection_open(dir, 0, RF_PROJECTION_CREATE, &eb);
    assert_non_null(proj);
    code("alice", "ALICE-7Q");
    code("bob", "BOB 1/2");
    reward("alice", 1000, T0 + 3600000);
    reward("alice", 1000, T0 + 86400000 + 3600000);
    reward("bob", 500, T0 + 3 * 86400000LL + 3600000);
    assert_int_equal(rf_projection_commit(proj, (int64_t)seq, (int64_t)seq, &eb), RF_OK);
}

/* ---- a raw HTTP/1.1 client --------------------------------------------------- */

typedef struct resp {
    int status;
    char head[4096];
    char body[65536];
} resp_t;

/* Sends raw bytes to port, reads until the server closes; status 0 = no answer. */
static void http_raw_port(uint16_t port, const char *req, size_t len, resp_t *out)
{
    memset(out, 0, sizeof *out);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    for (size_t off = 0; off < len;) {
        ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (n <= 0) break; /* the server may close early on a huge request */
        off += (size_t)n;
    }
    static char buf[sizeof out->head + sizeof out->body];
    size_t used = 0;
    ssize_t n;
    while (used < sizeof buf - 1 && (n = recv(fd, buf + used, sizeof buf - 1 - used, 0)) > 0)
        used += (size_t)n;
    buf[used] = '\0';
    close(fd);
    if (sscanf(buf, "HTTP/1.%*d %d", &out->status) != 1) return;
    char *sep = strstr(buf, "\r\n\r\n");
    if (!sep) return;
    size_t hl = (size_t)(sep - buf);
    memcpy(out->head, buf, hl < sizeof out->head ? hl : sizeof out->head - 1);
    rf_strlcpy(out->body, sep + 4, sizeof out->body);
}

static void http_raw(const char *req, size_t len, resp_t *out)
{
    http_raw_port(rf_http_port(srv), req, len, out);
}

static void http_get_auth(const char *path, const char *auth, resp_t *out)
{
    static char req[300000];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: localhost\r\n%s%s%sConnection: close\r\n\r\n", path,
                     auth ? "Authorization: " : "", auth ? auth : "", auth ? "\r\n" : "");
    assert_true(n > 0 && (size_t)n < sizeof req);
    http_raw(req, (size_t)n, out);
}

static void http_get(const char *path, resp_t *out)
{
    http_get_auth(path, "Bearer " TOKEN, out);
}

/* GETs path, asserts the status and a JSON body; returns the body (decref). */
static json_t *get_json(const char *path, int status)
{
    static resp_t r;
    http_get(path, &r);
    if (r.status != status) fprintf(stderr, "GET %s -> %d %s\n", path, r.status, r.body);
    assert_int_equal(r.status, status);
    assert_non_null(strstr(r.head, "application/json"));
    json_error_t je;
    json_t *j = json_loads(r.body, 0, &je);
    assert_non_null(j);
    if (status >= 400) assert_true(json_is_object(json_object_get(j, "error")));
    return j;
}

static void expect_status(const char *path, int status)
{
    json_decref(get_json(path, status));
}

static void header_has(const resp_t *r, const char *line)
{
    if (!strstr(r->head, line)) fprintf(stderr, "missing '%s' in:\n%s\n", line, r->head);
    assert_non_null(strstr(r->head, line));
}

static void ref_token(const char *program, const char *user, int64_t exp_s, char *out)
{
    rf_errbuf_t eb = {{0}};
    assert_int_equal(rf_reftoken_mint(SECRET, program, user, exp_s, out, &eb), RF_OK);
}

static int64_t now_s(void)
{
    return rf_wall_ms() / 1000;
}

/* ---- tests ------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    build();
    rf_errbuf_t eb = {{0}};
    rf_pages_opts_t po = {.data_dir = dir,
                          .token = TOKEN,
                          .ref_secret = SECRET,
                          .link_base = "https://shop.example/",
                          .frame_ancestors = "'self' https://app.example"};
    pages = rf_pages_new(&po, &eb);
    if (!pages) fprintf(stderr, "pages: %s\n", eb.msg);
    rf_http_opts_t o = {.data_dir = dir, .listen = "127.0.0.1:0", .token = TOKEN, .pages = pages};
    srv = pages ? rf_http_start(&o, &eb) : NULL;
    if (!srv) fprintf(stderr, "start: %s\n", eb.msg);
    return srv ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    rf_http_stop(srv);
    rf_pages_destroy(pages);
    rf_projection_close(proj);
    rf_test_rmtree(dir);
    return 0;
}

static void test_pages_and_headers(void **state)
{
    (void)state;
    static resp_t r;
    http_get_auth("/", NULL, &r); /* the page itself needs no token: its data does */
    assert_int_equal(r.status, 200);
    header_has(&r, "Content-Type: text/html; charset=utf-8");
    header_has(&r, "X-Content-Type-Options: nosniff");
    header_has(&r, "Referrer-Policy: no-referrer");
    header_has(&r, "script-src 'self';");
    header_has(&r, "frame-ancestors 'none'");
    header_has(&r, "X-Frame-Options: DENY");
    assert_non_null(strstr(r.body, "<noscript>"));
    assert_null(strstr(r.body, "<script>")); /* no inline script: the CSP forbids it */
    http_get_auth("/assets/dashboard.js", NULL, &r);
    assert_int_equal(r.status, 200);
    header_has(&r, "Content-Type: text/javascript");
    http_get_auth("/assets/app.css", NULL, &r);
    header_has(&r, "Content-Type: text/css");
    http_get_auth("/assets/nope.js", NULL, &r);
    assert_int_equal(r.status, 404);
    http_get_auth("/assets/..%2Fdashboard.html", NULL, &r);
    assert_int_equal(r.status, 404);
}

static void test_owner_endpoints_need_token(void **state)
{
    (void)state;
    static resp_t r;
    const char *paths[] = {"/v1/programs", "/v1/ops", "/v1/programs/shop/series"};
    char tok[RF_REFTOKEN_MAX + 1], auth[RF_REFTOKEN_MAX + 16];
    ref_token("shop", "alice", now_s() + 600, tok);
    snprintf(auth, sizeof auth, "Bearer %s", tok);
    for (size_t i = 0; i < 3; i++) {
        http_get_auth(paths[i], NULL, &r);
        assert_int_equal(r.status, 401);
        header_has(&r, "WWW-Authenticate: Bearer");
        http_get_auth(paths[i], "Bearer wrong", &r);
        assert_int_equal(r.status, 401);
        http_get_auth(paths[i], auth, &r); /* a referral token is no owner token */
        assert_int_equal(r.status, 401);
        http_get_auth(paths[i], "bearer " TOKEN, &r); /* the scheme in any case */
        assert_int_equal(r.status, 200);
    }
}

static void test_programs_series_ops(void **state)
{
    (void)state;
    json_t *j = get_json("/v1/programs", 200);
    assert_int_equal(json_array_size(json_object_get(j, "programs")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "programs"), 0)),
                        "shop");
    json_decref(j);
    /* the latest day is bob's (2026-01-08): four days back to alice's first */
    j = get_json("/v1/programs/shop/series?unit=day&n=4", 200);
    json_t *ps = json_object_get(j, "periods");
    assert_int_equal(json_array_size(ps), 4);
    const char *want_p[] = {"day:2026-01-05", "day:2026-01-06", "day:2026-01-07", "day:2026-01-08"};
    const int want_r[] = {1, 1, 0, 1};
    for (int i = 0; i < 4; i++) {
        json_t *p = json_array_get(ps, (size_t)i);
        assert_string_equal(json_string_value(json_object_get(p, "period")), want_p[i]);
        assert_int_equal(json_integer_value(json_object_get(p, "rewards")), want_r[i]);
    }
    json_decref(j);
    j = get_json("/v1/programs/shop/series?unit=month&n=2", 200);
    ps = json_object_get(j, "periods");
    assert_string_equal(json_string_value(json_object_get(json_array_get(ps, 0), "period")),
                        "month:2025-12");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(ps, 1), "rewards")), 3);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_array_get(ps, 1), "reward_cost"), "USD")),
                     2500);
    json_decref(j);
    j = get_json("/v1/programs/shop/series?unit=week&n=1", 200);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(j, "periods"), 0), "period")),
                        "week:2026-W02");
    json_decref(j);
    expect_status("/v1/programs/shop/series?unit=year", 400);
    expect_status("/v1/programs/shop/series?n=0", 400);
    expect_status("/v1/programs/shop/series?n=368", 400);
    expect_status("/v1/programs/shop/series?top=3", 400);
    expect_status("/v1/programs/nope/series", 404);
    expect_status("/v1/ops?x=1", 400);
    j = get_json("/v1/ops", 200); /* a projection without fold ledgers next to it */
    assert_int_equal(json_integer_value(json_object_get(j, "fold_partitions")), 0);
    assert_true(json_is_null(json_object_get(j, "last_verify")));
    json_decref(j);
}

static json_t *referral(const char *tok, int status)
{
    char path[RF_REFTOKEN_MAX + 64];
    snprintf(path, sizeof path, "/v1/referral?t=%s", tok);
    static resp_t r;
    http_get_auth(path, NULL, &r);
    if (r.status != status) fprintf(stderr, "GET %s -> %d %s\n", path, r.status, r.body);
    assert_int_equal(r.status, status);
    return json_loads(r.body, 0, NULL);
}

static void test_referral_own_data_only(void **state)
{
    (void)state;
    char a[RF_REFTOKEN_MAX + 1], b[RF_REFTOKEN_MAX + 1];
    ref_token("shop", "alice", now_s() + 600, a);
    ref_token("shop", "bob", now_s() + 600, b);
    json_t *j = referral(a, 200);
    assert_string_equal(json_string_value(json_object_get(j, "user")), "alice");
    assert_string_equal(json_string_value(json_object_get(j, "code")), "ALICE-7Q");
    assert_string_equal(json_string_value(json_object_get(j, "link")),
                        "https://shop.example/r/shop/ALICE-7Q");
    json_t *bal = json_array_get(json_object_get(j, "balances"), 0);
    assert_int_equal(json_integer_value(json_object_get(bal, "pending")), 2000);
    json_t *rank = json_object_get(j, "rank");
    assert_int_equal(json_integer_value(json_object_get(rank, "rank")), 1);
    assert_int_equal(json_integer_value(json_object_get(rank, "score")), 2);
    char *s = json_dumps(j, 0);
    assert_null(strstr(s, "bob")); /* nothing of bob's in alice's answer */
    free(s);
    json_decref(j);
    j = referral(b, 200);
    assert_string_equal(json_string_value(json_object_get(j, "user")), "bob");
    assert_string_equal(json_string_value(json_object_get(j, "link")),
                        "https://shop.example/r/shop/BOB%201%2F2");
    s = json_dumps(j, 0);
    assert_null(strstr(s, "alice"));
    free(s);
    json_decref(j);
    /* no parameter may name another user */
    char path[RF_REFTOKEN_MAX + 64];
    static resp_t r;
    snprintf(path, sizeof path, "/v1/referral?t=%s&user=bob", a);
    http_get_auth(path, NULL, &r);
    assert_int_equal(r.status, 400);
    /* a user without a code or rewards: an empty page, not an error */
    ref_token("shop", "carol", now_s() + 600, a);
    j = referral(a, 200);
    assert_true(json_is_null(json_object_get(j, "code")));
    assert_true(json_is_null(json_object_get(j, "rank")));
    json_decref(j);
    ref_token("nope", "alice", now_s() + 600, a);
    json_decref(referral(a, 404));
}

static void test_referral_refused(void **state)
{
    (void)state;
    char a[RF_REFTOKEN_MAX + 1], forged[2 * RF_REFTOKEN_MAX];
    ref_token("shop", "alice", now_s() - 1, a); /* expired */
    json_t *j = referral(a, 401);
    assert_non_null(strstr(
        json_string_value(json_object_get(json_object_get(j, "error"), "message")), "expired"));
    json_decref(j);
    ref_token("shop", "alice", now_s() + 600, a);
    char *dot = strchr(a, '.'); /* alice's token with bob's user field */
    const char *rest = strchr(dot + 1, '.');
    snprintf(forged, sizeof forged, "%.*s.Ym9i%s", (int)(dot - a), a, rest);
    json_decref(referral(forged, 401));
    a[strlen(a) - 1] ^= 1; /* the signature's last digit */
    json_decref(referral(a, 401));
    json_decref(referral("", 401));
    static resp_t r;
    http_get_auth("/v1/referral", NULL, &r);
    assert_int_equal(r.status, 401);
}

static void test_ref_page(void **state)
{
    (void)state;
    char a[RF_REFTOKEN_MAX + 1], path[RF_REFTOKEN_MAX + 16];
    ref_token("shop", "alice", now_s() + 600, a);
    snprintf(path, sizeof path, "/ref?t=%s", a);
    static resp_t r;
    http_get_auth(path, NULL, &r);
    assert_int_equal(r.status, 200);
    header_has(&r, "frame-ancestors 'self' https://app.example");
    assert_null(strstr(r.head, "X-Frame-Options")); /* embeddable where the CSP allows */
    char link[RF_REFTOKEN_MAX + 64];
    snprintf(link, sizeof link, "href=\"/v1/referral?t=%s\"", a);
    assert_non_null(strstr(r.body, link)); /* the noscript link */
    http_get_auth("/ref?t=%3Cscript%3E", NULL, &r);
    assert_int_equal(r.status, 400);
}

/* ---- review queue ----------------------------------------------------------- */

static void review(const char *friend_, const char *referrer, const char *status, int64_t at)
{
    rf_record_t *r = rec_new(RF_KIND_REVIEW, at);
    rf_record_fact(r, RF_FACT_USER, friend_);
    rf_record_fact(r, RF_FACT_FRIEND, friend_);
    rf_record_fact(r, RF_FACT_REFERRER, referrer);
    rf_record_fact(r, "status", status);
    if (!strcmp(status, "held")) {
        rf_record_fact(r, RF_FACT_REASON, "fraud:ip_cluster");
        rf_record_fact(r, RF_FACT_CHECKS, "self_referral=pass,ip_cluster=fail:review");
    }
    apply(r);
}

/* Rewards posted while friend_ is held (fact review=held): amount in asset to
 * the referrer, and credit CREDIT to the friend when not 0. */
static void held_reward(const char *friend_, const char *referrer, int64_t amount,
                        const char *asset, int64_t credit, int64_t at)
{
    rf_record_t *r = rec_new(RF_KIND_REWARD, at);
    rf_record_fact(r, RF_FACT_ROLE, "referrer");
    rf_record_fact(r, RF_FACT_REFERRER, referrer);
    rf_record_fact(r, RF_FACT_FRIEND, friend_);
    rf_record_fact(r, "review", "held");
    rf_record_post(r, referrer, RF_BUCKET_PENDING, asset, amount);
    rf_record_post(r, "#expense", RF_BUCKET_EXPENSE, asset, -amount);
    if (credit) {
        rf_record_post(r, friend_, RF_BUCKET_PENDING, "CREDIT", credit);
        rf_record_post(r, "#expense", RF_BUCKET_EXPENSE, "CREDIT", -credit);
    }
    apply(r);
}

static void commit(void)
{
    rf_errbuf_t eb = {{0}};
    assert_int_equal(rf_projection_commit(proj, (int64_t)seq, (int64_t)seq, &eb), RF_OK);
}

/* The queue once serve has picked up the last commit (it refreshes every
 * RF_QUERY_REFRESH_MS): waits until it holds want entries, 5 s at most. */
static json_t *reviews_when(size_t want)
{
    json_t *j = NULL;
    for (int i = 0; i < 100; i++) {
        json_decref(j);
        j = get_json("/v1/programs/shop/reviews", 200);
        if (json_array_size(json_object_get(j, "reviews")) == want) break;
        usleep(50000);
    }
    return j;
}

static const char *entry_str(json_t *j, size_t i, const char *key)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(j, "reviews"), i), key));
}

static json_t *entry_held(json_t *j, size_t i)
{
    return json_object_get(json_array_get(json_object_get(j, "reviews"), i), "held");
}

static json_int_t entry_int(json_t *j, size_t i, const char *key)
{
    return json_integer_value(
        json_object_get(json_array_get(json_object_get(j, "reviews"), i), key));
}

static void test_review_queue(void **state)
{
    (void)state;
    json_t *j = get_json("/v1/programs/shop/reviews", 200);
    assert_int_equal(json_array_size(json_object_get(j, "reviews")), 0);
    assert_false(json_is_true(json_object_get(j, "more")));
    json_decref(j);
    /* carol held first in seq but later in time than dave: dave is oldest */
    review("carol", "alice", "held", T0 + 2 * 3600000);
    held_reward("carol", "alice", 700, "USD", 0, T0 + 2 * 3600000);
    held_reward("carol", "alice", 200, "USD", 150, T0 + 2 * 3600000); /* + the friend's */
    review("dave", "bob", "held", T0 + 3600000);
    review("erin", "bob", "approved", T0 + 3600000); /* no hold: changes nothing */
    commit();
    j = reviews_when(2);
    assert_int_equal(json_array_size(json_object_get(j, "reviews")), 2);
    assert_string_equal(entry_str(j, 0, "friend"), "dave");
    assert_string_equal(entry_str(j, 0, "referrer"), "bob");
    assert_int_equal(entry_int(j, 0, "held_at_ms"), T0 + 3600000);
    assert_int_equal(entry_int(j, 0, "rewards"), 0);
    assert_int_equal(json_array_size(entry_held(j, 0)), 0);
    assert_string_equal(entry_str(j, 1, "friend"), "carol");
    assert_string_equal(entry_str(j, 1, "reason"), "fraud:ip_cluster");
    assert_string_equal(entry_str(j, 1, "checks"), "self_referral=pass,ip_cluster=fail:review");
    /* 700 + 200 USD and 150 CREDIT from two rewards */
    assert_int_equal(entry_int(j, 1, "rewards"), 2);
    json_t *held = entry_held(j, 1);
    assert_int_equal(json_array_size(held), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(held, 0), "asset")),
                        "USD");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(held, 0), "amount")), 900);
    assert_string_equal(json_string_value(json_object_get(json_array_get(held, 1), "asset")),
                        "CREDIT");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(held, 1), "amount")), 150);
    json_decref(j);
    j = get_json("/v1/programs/shop/reviews?limit=1", 200);
    assert_int_equal(json_array_size(json_object_get(j, "reviews")), 1);
    assert_string_equal(entry_str(j, 0, "friend"), "dave");
    assert_true(json_is_true(json_object_get(j, "more")));
    json_decref(j);
    expect_status("/v1/programs/shop/reviews?limit=0", 400);
    expect_status("/v1/programs/shop/reviews?limit=201", 400);
    expect_status("/v1/programs/shop/reviews?n=3", 400);
    expect_status("/v1/programs/nope/reviews", 404);
    static resp_t r;
    http_get_auth("/v1/programs/shop/reviews", NULL, &r);
    assert_int_equal(r.status, 401);
    /* the decision takes dave out; carol's rejection empties the queue */
    review("dave", "bob", "approved", T0 + 5 * 3600000);
    commit();
    j = reviews_when(1);
    assert_int_equal(json_array_size(json_object_get(j, "reviews")), 1);
    assert_string_equal(entry_str(j, 0, "friend"), "carol");
    json_decref(j);
    review("carol", "alice", "rejected", T0 + 5 * 3600000);
    commit();
    j = reviews_when(0);
    assert_int_equal(json_array_size(json_object_get(j, "reviews")), 0);
    json_decref(j);
}

/* ---- a referrer's friends ---------------------------------------------------- */

static void signup(const char *friend_, const char *referrer, int64_t at)
{
    rf_record_t *r = rec_new(RF_KIND_SIGNUP, at);
    rf_record_fact(r, RF_FACT_USER, friend_);
    rf_record_fact(r, RF_FACT_REFERRED, "1");
    rf_record_fact(r, RF_FACT_REFERRER, referrer);
    apply(r);
}

static void purchase(const char *friend_, const char *referrer, int64_t at)
{
    rf_record_t *r = rec_new(RF_KIND_PURCHASE, at);
    rf_record_fact(r, RF_FACT_USER, friend_);
    rf_record_fact(r, RF_FACT_REFERRED, "1");
    rf_record_fact(r, RF_FACT_REFERRER, referrer);
    rf_record_fact(r, RF_FACT_AMOUNT, "5000");
    apply(r);
}

/* The referrer's reward for friend_, pending until `until`, then matured. */
static void friend_reward(const char *friend_, const char *referrer, int64_t at, int64_t until)
{
    rf_record_t *r = rec_new(RF_KIND_REWARD, at);
    rf_record_fact(r, RF_FACT_ROLE, "referrer");
    rf_record_fact(r, RF_FACT_REFERRER, referrer);
    rf_record_fact(r, RF_FACT_FRIEND, friend_);
    rf_record_factf(r, RF_FACT_HOLD_UNTIL, "%lld", (long long)until);
    rf_record_post(r, referrer, RF_BUCKET_PENDING, "USD", 300);
    rf_record_post(r, "#expense", RF_BUCKET_EXPENSE, "USD", -300);
    apply(r);
}

static void matured(const char *friend_, const char *referrer, int64_t at)
{
    rf_record_t *r = rec_new(RF_KIND_MATURED, at);
    rf_record_fact(r, RF_FACT_ROLE, "referrer");
    rf_record_fact(r, RF_FACT_REFERRER, referrer);
    rf_record_fact(r, RF_FACT_FRIEND, friend_);
    rf_record_post(r, referrer, RF_BUCKET_PENDING, "USD", -300);
    rf_record_post(r, referrer, RF_BUCKET_AVAILABLE, "USD", 300);
    apply(r);
}

/* referrer's /v1/referral once serve shows friend i (newest first) with
 * status want: waits for the last commit, 5 s at most. */
static json_t *friends_when(const char *referrer, size_t i, const char *want)
{
    char tok[RF_REFTOKEN_MAX + 1];
    ref_token("shop", referrer, now_s() + 600, tok);
    json_t *j = NULL;
    for (int k = 0; k < 100; k++) {
        json_decref(j);
        j = referral(tok, 200);
        json_t *f = json_array_get(json_object_get(j, "friends"), i);
        if (f && !strcmp(json_string_value(json_object_get(f, "status")), want)) break;
        usleep(50000);
    }
    return j;
}

static json_t *friend_at(json_t *j, size_t i)
{
    return json_array_get(json_object_get(j, "friends"), i);
}

static void test_referral_friends(void **state)
{
    (void)state;
    const int64_t until = T0 + 20 * 86400000LL;
    signup("fred", "alice", T0 + 4 * 3600000);
    commit();
    json_t *j = friends_when("alice", 0, "signed_up");
    assert_int_equal(json_array_size(json_object_get(j, "friends")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "friends_total")), 1);
    assert_string_equal(json_string_value(json_object_get(friend_at(j, 0), "friend")), "fred");
    assert_string_equal(json_string_value(json_object_get(friend_at(j, 0), "status")), "signed_up");
    assert_string_equal(json_string_value(json_object_get(friend_at(j, 0), "since")),
                        "2026-01-05T04:00:00.000Z");
    assert_true(json_is_null(json_object_get(friend_at(j, 0), "reward")));
    json_decref(j);
    purchase("fred", "alice", T0 + 5 * 3600000);
    commit();
    j = friends_when("alice", 0, "purchased");
    assert_string_equal(json_string_value(json_object_get(friend_at(j, 0), "status")), "purchased");
    json_decref(j);
    friend_reward("fred", "alice", T0 + 5 * 3600000, until);
    commit();
    j = friends_when("alice", 0, "pending");
    json_t *f = friend_at(j, 0);
    assert_string_equal(json_string_value(json_object_get(f, "status")), "pending");
    assert_string_equal(json_string_value(json_object_get(f, "pending_until")),
                        "2026-01-25T00:00:00.000Z");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(f, "reward"), "amount")),
                     300);
    json_decref(j);
    matured("fred", "alice", until);
    commit();
    j = friends_when("alice", 0, "available");
    f = friend_at(j, 0);
    assert_string_equal(json_string_value(json_object_get(f, "status")), "available");
    assert_true(json_is_null(json_object_get(f, "pending_until")));
    json_decref(j);
    /* bob sees none of alice's friends */
    j = friends_when("bob", 0, "none");
    assert_int_equal(json_array_size(json_object_get(j, "friends")), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "friends_total")), 0);
    json_decref(j);
    /* gina's ring keeps her RF_REFERRAL_FRIENDS_MAX most recent friends */
    char name[32];
    for (int i = 0; i < RF_REFERRAL_FRIENDS_MAX + 2; i++) {
        snprintf(name, sizeof name, "g%02d", i);
        signup(name, "gina", T0 + 6 * 3600000 + i);
    }
    purchase("g00", "gina", T0 + 7 * 3600000); /* dropped out: no entry comes back */
    purchase("g02", "gina", T0 + 7 * 3600000);
    commit();
    j = friends_when("gina", RF_REFERRAL_FRIENDS_MAX - 1, "purchased");
    assert_int_equal(json_array_size(json_object_get(j, "friends")), RF_REFERRAL_FRIENDS_MAX);
    assert_int_equal(json_integer_value(json_object_get(j, "friends_total")),
                     RF_REFERRAL_FRIENDS_MAX + 2);
    snprintf(name, sizeof name, "g%02d", RF_REFERRAL_FRIENDS_MAX + 1);
    assert_string_equal(json_string_value(json_object_get(friend_at(j, 0), "friend")), name);
    f = friend_at(j, RF_REFERRAL_FRIENDS_MAX - 1);
    assert_string_equal(json_string_value(json_object_get(f, "friend")), "g02");
    assert_string_equal(json_string_value(json_object_get(f, "status")), "purchased");
    char *dump = json_dumps(j, 0);
    assert_null(strstr(dump, "\"g00\""));
    assert_null(strstr(dump, "\"g01\""));
    free(dump);
    json_decref(j);
}

/* /v1/ops reports DIR/verify.json (what `refold verify --data` writes; it_demo
 * checks the writing). The fold heads and the file are re-read at most every
 * RF_OPS_REFRESH_MS while asked: waits up to two periods. */
static void test_ops_last_verify(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof path, "%s/verify.json", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"at\":\"2026-12-07T09:00:00.000Z\",\"at_ms\":1796634000000,\"ok\":false,"
          "\"partitions\":[{\"partition\":0,\"ok\":true,\"seq\":12},"
          "{\"partition\":1,\"ok\":false,\"bad_seq\":7,\"error\":\"corrupt\"}]}",
          f);
    fclose(f);
    json_t *j = NULL, *lv = NULL;
    for (int i = 0; i < 2 * RF_OPS_REFRESH_MS / 100; i++) {
        json_decref(j);
        j = get_json("/v1/ops", 200);
        lv = json_object_get(j, "last_verify");
        if (!json_is_null(lv)) break;
        usleep(100000);
    }
    assert_true(json_is_object(lv));
    assert_true(json_is_false(json_object_get(lv, "ok")));
    assert_string_equal(json_string_value(json_object_get(lv, "at")), "2026-12-07T09:00:00.000Z");
    json_t *p1 = json_array_get(json_object_get(lv, "partitions"), 1);
    assert_int_equal(json_integer_value(json_object_get(p1, "bad_seq")), 7);
    json_decref(j);
}

static void test_bad_options(void **state)
{
    (void)state;
    rf_errbuf_t eb = {{0}};
    rf_pages_opts_t o = {.ref_secret = "short"};
    assert_null(rf_pages_new(&o, &eb));
    o = (rf_pages_opts_t){.frame_ancestors = "'self'; script-src *"};
    assert_null(rf_pages_new(&o, &eb));
    o = (rf_pages_opts_t){.link_base = "javascript:alert(1)"};
    assert_null(rf_pages_new(&o, &eb));
    o = (rf_pages_opts_t){.link_base = "https://a.example/\"><x"};
    assert_null(rf_pages_new(&o, &eb));
    rf_pages_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pages_and_headers),
        cmocka_unit_test(test_owner_endpoints_need_token),
        cmocka_unit_test(test_programs_series_ops),
        cmocka_unit_test(test_referral_own_data_only),
        cmocka_unit_test(test_referral_refused),
        cmocka_unit_test(test_ref_page),
        cmocka_unit_test(test_review_queue),
        cmocka_unit_test(test_referral_friends),
        cmocka_unit_test(test_ops_last_verify),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
