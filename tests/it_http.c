/* it_http.c: the HTTP API (rf_http, `refold serve`) over a projection built
 * from records applied directly: every endpoint through a raw socket client,
 * plus malformed paths, unknown users, huge URIs, bad tokens, follow mode,
 * keep-alive, pagination, CORS; every JSON answer is checked against
 * docs/openapi.json (the document the server serves at /v1/openapi.json). */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "rf_fold.h"
#include "rf_http.h"
#include "rf_project.h"
#include "rf_testutil.h"

#define T0    1767571200000LL /* 2026-01-05T00:00:00Z */
#define TOKEN "s3cret-token"

static char dir[256];
static rf_projection_t *proj, *proj_empty;
static json_t *openapi; /* docs/openapi.json */
static uint64_t seq;
static rf_http_t *srv;

/* ---- building the projection ---------------------------------------------- */

static rf_record_t *rec_new(const char *kind)
{
    static rf_record_t rec;
    rf_record_clear(&rec);
    rec.seq = ++seq;
    rec.partition = 0;
    rf_strlcpy(rec.program_id, "shop", sizeof rec.program_id);
    rf_strlcpy(rec.kind, kind, sizeof rec.kind);
    rec.occurred_at_ms = T0 + 3600000;
    return &rec;
}

static void apply(rf_record_t *r)
{
    rf_errbuf_t eb = {{0}};
    assert_int_equal(rf_projection_apply(proj, r, NULL, &eb), RF_OK);
}

static void reward(const char *referrer, int64_t amount)
{
    rf_record_t *r = rec_new(RF_KIND_REWARD);
    rf_record_fact(r, RF_FACT_ROLE, "referrer");
    rf_record_fact(r, RF_FACT_REFERRER, referrer);
    rf_record_post(r, referrer, RF_BUCKET_PENDING, "USD", amount);
    rf_record_post(r, "#expense", RF_BUCKET_EXPENSE, "USD", -amount);
    apply(r);
}

static void build(void)
{
    rf_errbuf_t eb = {{0}};
    rf_test_tmpdir("http", dir, sizeof dir);
    proj = rf_projection_open(dir, 0, RF_PROJECTION_CREATE, &eb);
    assert_non_null(proj);
    rf_record_t *r = rec_new(RF_KIND_CODE);
    rf_record_fact(r, RF_FACT_REFERRER, "alice");
    rf_record_fact(r, RF_FACT_CODE, "ALICE-7Q");
    apply(r);
    r = rec_new(RF_KIND_CODE);
    rf_record_fact(r, RF_FACT_REFERRER, "a/b c");
    rf_record_fact(r, RF_FACT_CODE, "SLASHY");
    apply(r);
    reward("alice", 1000);
    reward("alice", 1000);
    reward("bob", 500);
    r = rec_new(RF_KIND_PURCHASE);
    rf_record_fact(r, RF_FACT_USER, "carol");
    rf_record_fact(r, RF_FACT_AMOUNT, "4200");
    rf_record_fact(r, RF_FACT_CURRENCY, "USD");
    rf_record_fact(r, RF_FACT_REFERRED, "1");
    apply(r);
    assert_int_equal(rf_projection_commit(proj, (int64_t)seq, (int64_t)seq + 3, &eb), RF_OK);
    /* partition 1 never had a record: the worker commits its high watermark 0 only */
    proj_empty = rf_projection_open(dir, 1, RF_PROJECTION_CREATE, &eb);
    assert_non_null(proj_empty);
    assert_int_equal(rf_projection_commit(proj_empty, -1, 0, &eb), RF_OK);
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

/* ---- checking answers against docs/openapi.json ------------------------------- */

static json_t *oa_resolve(json_t *schema)
{
    const char *ref = json_string_value(json_object_get(schema, "$ref"));
    if (!ref) return schema;
    const char *prefix = "#/components/schemas/";
    assert_true(strncmp(ref, prefix, strlen(prefix)) == 0);
    json_t *s = json_object_get(json_object_get(json_object_get(openapi, "components"), "schemas"),
                                ref + strlen(prefix));
    if (!s) fail_msg("openapi: no schema %s", ref);
    return s;
}

/* Fails unless v matches schema (the OpenAPI 3.0 subset the document uses:
 * type, nullable, enum, properties, required, additionalProperties, items). */
static void oa_validate(json_t *schema, json_t *v, const char *where)
{
    schema = oa_resolve(schema);
    const char *type = json_string_value(json_object_get(schema, "type"));
    if (json_is_null(v)) {
        if (!json_is_true(json_object_get(schema, "nullable"))) fail_msg("%s: null", where);
        return;
    }
    char sub[512];
    if (!type) return; /* any */
    if (!strcmp(type, "object")) {
        if (!json_is_object(v)) fail_msg("%s: not an object", where);
        json_t *props = json_object_get(schema, "properties"),
               *req = json_object_get(schema, "required");
        json_t *extra = json_object_get(schema, "additionalProperties");
        size_t i;
        json_t *x;
        json_array_foreach(req, i, x) if (!json_object_get(v, json_string_value(x)))
            fail_msg("%s: required field %s missing", where, json_string_value(x));
        const char *k;
        json_object_foreach(v, k, x)
        {
            snprintf(sub, sizeof sub, "%s.%s", where, k);
            json_t *ps = json_object_get(props, k);
            if (ps)
                oa_validate(ps, x, sub);
            else if (json_is_object(extra))
                oa_validate(extra, x, sub);
            else if (json_is_false(extra) || (props && !extra))
                fail_msg("%s: field not in the schema", sub);
        }
    } else if (!strcmp(type, "array")) {
        if (!json_is_array(v)) fail_msg("%s: not an array", where);
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            snprintf(sub, sizeof sub, "%s[%zu]", where, i);
            oa_validate(json_object_get(schema, "items"), x, sub);
        }
    } else if (!strcmp(type, "integer")) {
        if (!json_is_integer(v)) fail_msg("%s: not an integer", where);
    } else if (!strcmp(type, "string")) {
        if (!json_is_string(v)) fail_msg("%s: not a string", where);
        json_t *en = json_object_get(schema, "enum"), *x;
        size_t i;
        bool in = !en;
        json_array_foreach(en, i, x) in = in || json_equal(x, v);
        if (!in) fail_msg("%s: '%s' not in the enum", where, json_string_value(v));
    } else {
        fail_msg("%s: schema type %s not handled by this checker", where, type);
    }
}

/* The documented path item matching path ("/v1/users/a/balance?x" matches
 * "/v1/users/{user}/balance"); NULL when none. */
static json_t *oa_path_item(const char *path, const char **tmpl)
{
    const char *key;
    json_t *item;
    size_t pl = strcspn(path, "?");
    json_object_foreach(json_object_get(openapi, "paths"), key, item)
    {
        const char *k = key, *p = path, *pe = path + pl;
        while (*k && p < pe) {
            if (*k == '{') { /* one non-empty segment */
                k = strchr(k, '}') + 1;
                const char *slash = memchr(p, '/', (size_t)(pe - p));
                const char *se = slash ? slash : pe;
                if (se == p) break;
                p = se;
            } else if (*k++ != *p++) {
                break;
            }
        }
        if (!*k && p == pe) {
            *tmpl = key;
            return item;
        }
    }
    return NULL;
}

/* Checks one answer: its status is documented for its path and its body
 * matches that response's schema; an unknown path answers with an Error. */
static void oa_check(const char *path, int status, json_t *body)
{
    const char *tmpl = NULL;
    json_t *item = oa_path_item(path, &tmpl);
    char where[600], st[8];
    snprintf(st, sizeof st, "%d", status);
    if (!item || status == 405 || status == 414) {
        assert_true(status >= 400);
        snprintf(where, sizeof where, "%d %.500s", status, path);
        json_t *err = json_pack("{s:s}", "$ref", "#/components/schemas/Error");
        oa_validate(err, body, where);
        json_decref(err);
        return;
    }
    json_t *resp = json_object_get(json_object_get(json_object_get(item, "get"), "responses"), st);
    if (!resp) fail_msg("openapi: %s does not document status %d (GET %s)", tmpl, status, path);
    json_t *schema = json_object_get(
        json_object_get(json_object_get(resp, "content"), "application/json"), "schema");
    snprintf(where, sizeof where, "%s %d", tmpl, status);
    oa_validate(schema, body, where);
}

/* GETs path, asserts the status and a JSON body (checked against the
 * OpenAPI document); returns the body (decref). */
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
    if (status >= 400) {
        json_t *e = json_object_get(j, "error");
        assert_true(json_is_string(json_object_get(e, "code")));
        assert_true(json_is_string(json_object_get(e, "message")));
        assert_non_null(json_object_get(e, "param")); /* a name or null */
    }
    oa_check(path, status, j);
    return j;
}

/* Asserts an error answer's code and the parameter it names (NULL: none). */
static void expect_error(const char *path, int status, const char *code, const char *param)
{
    json_t *j = get_json(path, status), *e = json_object_get(j, "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), code);
    if (param)
        assert_string_equal(json_string_value(json_object_get(e, "param")), param);
    else
        assert_true(json_is_null(json_object_get(e, "param")));
    json_decref(j);
}

static void expect_status(const char *path, int status)
{
    json_decref(get_json(path, status));
}

/* Runs a shell command (not the refold binary); its output into out. */
static int run_sh(char *out, size_t cap, const char *cmd)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- tests ------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    build();
    json_error_t je;
    openapi = json_load_file(RF_TEST_SOURCE_DIR "/docs/openapi.json", 0, &je);
    if (!openapi) fprintf(stderr, "docs/openapi.json: %s line %d\n", je.text, je.line);
    assert_non_null(openapi);
    rf_errbuf_t eb = {{0}};
    rf_http_opts_t o = {.data_dir = dir, .listen = "127.0.0.1:0", .token = TOKEN};
    srv = rf_http_start(&o, &eb);
    if (!srv) fprintf(stderr, "start: %s\n", eb.msg);
    return srv ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    rf_http_stop(srv);
    rf_projection_close(proj);
    rf_projection_close(proj_empty);
    json_decref(openapi);
    rf_test_rmtree(dir);
    return 0;
}

static void test_health(void **state)
{
    (void)state;
    resp_t r;
    http_get_auth("/v1/health", NULL, &r); /* health needs no token */
    assert_int_equal(r.status, 200);
    json_t *j = json_loads(r.body, 0, NULL);
    oa_check("/v1/health", 200, j);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "ok");
    json_t *p = json_array_get(json_object_get(j, "partitions"), 0);
    assert_int_equal(json_integer_value(json_object_get(p, "applied_seq")), (json_int_t)seq);
    assert_int_equal(json_integer_value(json_object_get(p, "lag")), 3);
    /* the empty partition is at its end: lag 0, and the total stays known */
    json_t *p1 = json_array_get(json_object_get(j, "partitions"), 1);
    assert_int_equal(json_integer_value(json_object_get(p1, "partition")), 1);
    assert_int_equal(json_integer_value(json_object_get(p1, "lag")), 0);
    assert_true(json_is_integer(json_object_get(j, "lag")));
    assert_int_equal(json_integer_value(json_object_get(j, "lag")), 3);
    json_decref(j);
}

static void test_code(void **state)
{
    (void)state;
    json_t *j = get_json("/v1/programs/shop/users/alice/code", 200);
    assert_string_equal(json_string_value(json_object_get(j, "code")), "ALICE-7Q");
    json_decref(j);
    j = get_json("/v1/programs/shop/users/a%2Fb%20c/code", 200); /* %2F stays in the id */
    assert_string_equal(json_string_value(json_object_get(j, "code")), "SLASHY");
    json_decref(j);
    expect_error("/v1/programs/shop/users/carol/code", 404, "not_found", "user"); /* no code */
    expect_error("/v1/programs/nope/users/alice/code", 404, "not_found", "program");
}

static void test_balance(void **state)
{
    (void)state;
    json_t *j = get_json("/v1/programs/shop/users/alice/balance", 200);
    json_t *b = json_array_get(json_object_get(j, "balances"), 0);
    assert_string_equal(json_string_value(json_object_get(b, "asset")), "USD");
    assert_int_equal(json_integer_value(json_object_get(b, "pending")), 2000);
    json_decref(j);
    j = get_json("/v1/users/alice/balance", 200);
    b = json_array_get(json_object_get(j, "totals"), 0);
    assert_int_equal(json_integer_value(json_object_get(b, "pending")), 2000);
    json_decref(j);
    j = get_json("/v1/users/nobody/balance", 200); /* unknown user: an empty wallet */
    assert_int_equal(json_array_size(json_object_get(j, "balances")), 0);
    json_decref(j);
    /* an unknown program is a 404 on every program endpoint (was 200 with empty lists) */
    expect_error("/v1/programs/nope/users/alice/balance", 404, "not_found", "program");
    expect_error("/v1/programs/nope/stats", 404, "not_found", "program");
    expect_error("/v1/programs/nope/users/alice/rank", 404, "not_found", "program");
}

static void test_rank_and_leaderboard(void **state)
{
    (void)state;
    json_t *j = get_json("/v1/programs/shop/users/bob/rank", 200);
    assert_int_equal(json_integer_value(json_object_get(j, "rank")), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "users")), 2);
    json_decref(j);
    j = get_json("/v1/programs/shop/users/bob/rank?by=value&period=day:2026-01-05", 200);
    assert_int_equal(json_integer_value(json_object_get(j, "score")), 500);
    json_decref(j);
    expect_status("/v1/programs/shop/users/nobody/rank", 404);
    j = get_json("/v1/programs/shop/leaderboard?period=all&by=referrals&top=1", 200);
    json_t *e = json_object_get(j, "entries");
    assert_int_equal(json_array_size(e), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(e, 0), "user")), "alice");
    json_decref(j);
    j = get_json("/v1/programs/shop/leaderboard?period=month:2026-01&by=value&asset=USD", 200);
    assert_int_equal(json_array_size(json_object_get(j, "entries")), 2);
    json_decref(j);
    j = get_json("/v1/programs/shop/leaderboard?period=week:2025-W10", 200); /* empty board */
    assert_int_equal(json_array_size(json_object_get(j, "entries")), 0);
    json_decref(j);
    expect_error("/v1/programs/shop/leaderboard?top=0", 400, "invalid_parameter", "top");
    expect_error("/v1/programs/shop/leaderboard?top=1001", 400, "invalid_parameter", "top");
    expect_error("/v1/programs/shop/leaderboard?limit=3x", 400, "invalid_parameter", "limit");
    expect_error("/v1/programs/shop/leaderboard?limit=1&top=1", 400, "invalid_parameter", "top");
    expect_error("/v1/programs/shop/leaderboard?by=fame", 400, "invalid_parameter", "by");
    expect_error("/v1/programs/shop/leaderboard?period=week:2026-W99", 400, "invalid_parameter",
                 "period");
    expect_error("/v1/programs/shop/leaderboard?colour=red", 400, "unknown_parameter", "colour");
    expect_error("/v1/programs/shop/leaderboard?top=1&top=2", 400, "bad_request", NULL);
    expect_error("/v1/programs/nope/leaderboard", 404, "not_found", "program");
    expect_error("/v1/programs/shop/users/nobody/rank", 404, "not_found", "user");
}

static void test_stats(void **state)
{
    (void)state;
    json_t *j = get_json("/v1/programs/shop/stats?period=day:2026-01-05", 200);
    json_t *f = json_object_get(j, "funnel");
    assert_int_equal(json_integer_value(json_object_get(f, "successful_referrals")), 3);
    assert_int_equal(json_integer_value(json_object_get(f, "referred_purchases")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(f, "reward_cost"), "USD")),
                     2500);
    json_decref(j);
    expect_error("/v1/programs/shop/stats?period=fortnight", 400, "invalid_parameter", "period");
    expect_error("/v1/programs/shop/stats?by=value", 400, "unknown_parameter", "by");
}

static void test_malformed(void **state)
{
    (void)state;
    const char *not_found[] = {"/",
                               "//",
                               "/v1",
                               "/v1/",
                               "/v2/health",
                               "/v1/../etc/passwd",
                               "/v1/programs/shop/users/alice/code/extra",
                               "/v1/programs/shop/users/alice",
                               "/v1/programs/shop/unknown",
                               "/v1/users/alice/code",
                               "/v1/programs/shop/users/alice/balance/",
                               "/a/b/c/d/e/f/g"};
    for (size_t i = 0; i < sizeof not_found / sizeof not_found[0]; i++)
        expect_status(not_found[i], 404);
    const char *bad[] = {"/v1/programs/%zz/stats",
                         "/v1/programs/%0/stats",
                         "/v1/programs/%00/stats",
                         "/v1/programs/%1b%5b31m/stats",
                         "/v1/programs/shop/stats?period=%",
                         "/a/b/c/d/e/f/g/h/i/j",
                         "/v1/programs//users/alice/code",
                         "/v1/users//balance",
                         "/v1/programs/shop/users/alice/balance?x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_status(bad[i], 400);
    char longid[200] = "/v1/users/";
    memset(longid + strlen(longid), 'x', 65);
    strcat(longid, "/balance");
    expect_status(longid, 400); /* ids are at most RF_ID_MAX bytes */
    /* not a path at all */
    resp_t r;
    const char *weird =
        "GET * HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN "\r\nConnection: close\r\n\r\n";
    http_raw(weird, strlen(weird), &r);
    assert_true(r.status >= 400 && r.status < 500);
    const char *garbage = "\x01\x02 nonsense \r\n\r\n";
    http_raw(garbage, strlen(garbage), &r);
    assert_true(r.status == 0 || (r.status >= 400 && r.status < 500));
    const char *post = "POST /v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                       "Connection: close\r\n\r\nabc";
    http_raw(post, strlen(post), &r);
    assert_int_equal(r.status, 405);
    assert_non_null(strstr(r.head, "Allow: GET"));
}

static void test_huge_uri(void **state)
{
    (void)state;
    static char path[200000];
    strcpy(path, "/v1/programs/shop/stats?period=");
    size_t n = strlen(path);
    memset(path + n, 'a', 3000 - n); /* over RF_HTTP_URL_MAX, under MHD's buffer */
    path[3000] = '\0';
    expect_status(path, 414);
    memset(path + n, 'a', sizeof path - 1 - n); /* far over the connection memory */
    path[sizeof path - 1] = '\0';
    resp_t r;
    http_get(path, &r);
    assert_true(r.status == 0 || (r.status >= 400 && r.status < 500));
    expect_status("/v1/health", 200); /* still alive */
}

static void test_auth(void **state)
{
    (void)state;
    resp_t r;
    http_get_auth("/v1/users/alice/balance", NULL, &r);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.head, "WWW-Authenticate: Bearer"));
    assert_non_null(strstr(r.body, "\"error\""));
    http_get_auth("/v1/users/alice/balance", "Bearer s3cret-tokeN", &r);
    assert_int_equal(r.status, 401);
    http_get_auth("/v1/users/alice/balance", "Bearer s3cret-token-longer", &r);
    assert_int_equal(r.status, 401);
    http_get_auth("/v1/users/alice/balance", "Basic czNjcmV0LXRva2Vu", &r);
    assert_int_equal(r.status, 401);
    http_get_auth("/v1/users/alice/balance", "Bearer " TOKEN, &r);
    assert_int_equal(r.status, 200);
}

/* RFC 7235: the scheme is case-insensitive, one or more spaces follow it. */
static void test_auth_scheme_case(void **state)
{
    (void)state;
    const char *ok[] = {"bearer " TOKEN, "BEARER " TOKEN, "BeArEr   " TOKEN};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        resp_t r;
        http_get_auth("/v1/users/alice/balance", ok[i], &r);
        assert_int_equal(r.status, 200);
    }
    resp_t r;
    http_get_auth("/v1/users/alice/balance", "Bearer" TOKEN, &r); /* no space */
    assert_int_equal(r.status, 401);
    json_t *j = json_loads(r.body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                        "unauthorized");
    json_decref(j);
}

/* Reads one response (headers and a Content-Length body) from fd. */
static void read_one(int fd, resp_t *out)
{
    static char buf[65536];
    size_t used = 0;
    char *sep = NULL;
    memset(out, 0, sizeof *out);
    while (!sep && used < sizeof buf - 1) {
        ssize_t n = recv(fd, buf + used, sizeof buf - 1 - used, 0);
        assert_true(n > 0);
        used += (size_t)n;
        buf[used] = 0;
        sep = strstr(buf, "\r\n\r\n");
    }
    assert_non_null(sep);
    const char *cl = strcasestr(buf, "Content-Length:");
    assert_non_null(cl);
    size_t want = (size_t)(sep + 4 - buf) + (size_t)atol(cl + 15);
    while (used < want) {
        ssize_t n = recv(fd, buf + used, sizeof buf - 1 - used, 0);
        assert_true(n > 0);
        used += (size_t)n;
    }
    buf[used] = 0;
    sscanf(buf, "HTTP/1.%*d %d", &out->status);
    memcpy(out->head, buf, (size_t)(sep - buf));
    rf_strlcpy(out->body, sep + 4, sizeof out->body);
}

/* Keep-alive: three requests, success and error, on one connection. */
static void test_keep_alive(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(rf_http_port(srv))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    const char *paths[] = {"/v1/health", "/v1/programs/nope/stats", "/v1/users/alice/balance"};
    const int want[] = {200, 404, 200};
    for (int i = 0; i < 3; i++) {
        char req[512];
        int n = snprintf(req, sizeof req,
                         "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN "\r\n\r\n",
                         paths[i]);
        assert_int_equal(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
        resp_t r;
        read_one(fd, &r);
        assert_int_equal(r.status, want[i]);
        assert_null(strcasestr(r.head, "Connection: close"));
    }
    close(fd);
}

/* limit + cursor walk the whole board once, in rank order. */
static void test_pagination(void **state)
{
    (void)state;
    char path[256] = "/v1/programs/shop/leaderboard?limit=1";
    json_int_t rank = 0;
    int pages = 0;
    for (;;) {
        json_t *j = get_json(path, 200);
        json_t *e = json_object_get(j, "entries");
        assert_int_equal(json_array_size(e), 1);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(e, 0), "rank")), ++rank);
        pages++;
        const char *c = json_string_value(json_object_get(j, "next_cursor"));
        if (!c) {
            assert_true(json_is_null(json_object_get(j, "next_cursor")));
            json_decref(j);
            break;
        }
        snprintf(path, sizeof path, "/v1/programs/shop/leaderboard?limit=1&cursor=%s", c);
        json_decref(j);
        assert_true(pages < 10);
    }
    assert_int_equal(pages, 2); /* alice, bob */
    json_t *j = get_json("/v1/programs/shop/leaderboard?limit=1", 200);
    char other[256];
    snprintf(other, sizeof other, "/v1/programs/shop/leaderboard?by=value&cursor=%s",
             json_string_value(json_object_get(j, "next_cursor")));
    json_decref(j);
    expect_error(other, 400, "invalid_parameter", "cursor"); /* another board's cursor */
    expect_error("/v1/programs/shop/leaderboard?cursor=zz", 400, "invalid_parameter", "cursor");
}

/* Every documented path answers with a documented status and body, the
 * server serves the document itself, and a path the table lacks is a 404. */
static void test_openapi(void **state)
{
    (void)state;
    resp_t r;
    http_get_auth("/v1/openapi.json", NULL, &r); /* open, like health */
    assert_int_equal(r.status, 200);
    json_t *served = json_loads(r.body, 0, NULL);
    assert_true(json_equal(served, openapi));
    json_decref(served);
    assert_string_equal(json_string_value(json_object_get(openapi, "openapi")), "3.0.3");
    /* the document itself is valid OpenAPI 3.0, by a validator from npm */
    char out[4096];
    int rc = run_sh(out, sizeof out,
                    "sh " RF_TEST_SOURCE_DIR "/tests/openapi/check.sh " RF_TEST_SOURCE_DIR
                    "/docs/openapi.json 2>&1");
    if (rc != 0) fail_msg("tests/openapi/check.sh (swagger-parser) failed (%d):\n%s", rc, out);
    const char *tmpl;
    json_t *item;
    int n = 0;
    json_object_foreach(json_object_get(openapi, "paths"), tmpl, item)
    {
        char path[512] = "", *o = path;
        json_t *params = json_object_get(json_object_get(item, "get"), "parameters"), *pa;
        for (const char *t = tmpl; *t;) { /* {x} from the parameter's example */
            if (*t != '{') {
                *o++ = *t++;
                continue;
            }
            const char *end = strchr(t, '}');
            size_t i;
            const char *ex = NULL;
            json_array_foreach(params, i,
                               pa) if (!strncmp(json_string_value(json_object_get(pa, "name")),
                                                t + 1, (size_t)(end - t - 1))) ex =
                json_string_value(json_object_get(pa, "example"));
            assert_non_null(ex); /* documented; this projection's ids replace it */
            o += sprintf(o, "%s", !strncmp(t, "{program}", 9) ? "shop" : "alice");
            t = end + 1;
        }
        size_t i;
        char sep = '?';
        json_array_foreach(params, i, pa)
        {
            json_t *ex = json_object_get(pa, "example");
            if (strcmp(json_string_value(json_object_get(pa, "in")), "query") || !ex) continue;
            if (json_is_integer(ex))
                o += sprintf(o, "%c%s=%lld", sep, json_string_value(json_object_get(pa, "name")),
                             (long long)json_integer_value(ex));
            else
                o += sprintf(o, "%c%s=%s", sep, json_string_value(json_object_get(pa, "name")),
                             json_string_value(ex));
            sep = '&';
        }
        json_decref(get_json(path, 200)); /* checked against its schema */
        n++;
    }
    assert_int_equal(n, 8);
}

/* CORS: no headers by default; with an origin, the header and preflights. */
static void test_cors(void **state)
{
    (void)state;
    resp_t r;
    http_get("/v1/health", &r);
    assert_null(strcasestr(r.head, "Access-Control"));
    const char *pre = "OPTIONS /v1/users/alice/balance HTTP/1.1\r\nHost: x\r\n"
                      "Origin: https://app.example\r\nConnection: close\r\n\r\n";
    http_raw(pre, strlen(pre), &r);
    assert_int_equal(r.status, 405);
    rf_errbuf_t eb = {{0}};
    rf_http_opts_t o = {.data_dir = dir,
                        .listen = "127.0.0.1:0",
                        .token = TOKEN,
                        .cors_origin = "https://app.example"};
    rf_http_t *c = rf_http_start(&o, &eb);
    assert_non_null(c);
    http_raw_port(rf_http_port(c), pre, strlen(pre), &r);
    assert_int_equal(r.status, 204); /* no token needed for a preflight */
    assert_non_null(strstr(r.head, "Access-Control-Allow-Origin: https://app.example"));
    assert_non_null(strstr(r.head, "Access-Control-Allow-Headers: Authorization"));
    const char *get = "GET /v1/users/alice/balance HTTP/1.1\r\nHost: x\r\n"
                      "Authorization: Bearer " TOKEN "\r\nConnection: close\r\n\r\n";
    http_raw_port(rf_http_port(c), get, strlen(get), &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "Access-Control-Allow-Origin: https://app.example"));
    rf_http_stop(c);
}

/* A data directory that does not exist is an error at start (was 503 forever). */
static void test_missing_data_dir(void **state)
{
    (void)state;
    rf_errbuf_t eb = {{0}};
    char missing[300];
    snprintf(missing, sizeof missing, "%s/no-such-dir", dir);
    rf_http_opts_t o = {.data_dir = missing, .listen = "127.0.0.1:0"};
    assert_null(rf_http_start(&o, &eb));
    assert_non_null(strstr(eb.msg, "no-such-dir"));
    char out[1024];
    assert_int_equal(
        rf_test_refold(out, sizeof out, 1, "serve --data %s --listen 127.0.0.1:0", missing), 1);
    assert_non_null(strstr(out, "no data directory"));
}

/* `refold code --data` prints the code the referrer holds (ALICE-7Q was
 * given in its CodeIssued), not the derived one; without --data it says the
 * code is the derived one. */
static void test_code_command(void **state)
{
    (void)state;
    char out[2048];
    assert_int_equal(
        rf_test_refold(out, sizeof out, 0, "code --data %s --program shop --referrer alice", dir),
        0);
    assert_string_equal(out, "ALICE-7Q\n");
    assert_int_equal(rf_test_refold(out, sizeof out, 0,
                                    "code --data %s --program shop --referrer alice --json", dir),
                     0);
    assert_non_null(strstr(out, "\"code\":\"ALICE-7Q\""));
    assert_non_null(strstr(out, "\"source\":\"issued\""));
    assert_int_equal(rf_test_refold(out, sizeof out, 1,
                                    "code --data %s --program shop --referrer carol --json", dir),
                     1);
    assert_non_null(strstr(out, "{\"error\":{\"code\":\"not_found\""));
    assert_int_equal(rf_test_refold(out, sizeof out, 1, "code --program shop --referrer alice"), 0);
    assert_non_null(strstr(out, "the derived code"));
    assert_null(strstr(out, "ALICE-7Q"));
}

/* The server follows the store: a commit shows up within the refresh period. */
static void test_follows_worker(void **state)
{
    (void)state;
    reward("bob", 700);
    reward("bob", 700);
    rf_errbuf_t eb = {{0}};
    assert_int_equal(rf_projection_commit(proj, (int64_t)seq, -1, &eb), RF_OK);
    uint64_t start = rf_now_ns();
    for (;;) {
        json_t *j = get_json("/v1/programs/shop/users/bob/rank", 200);
        json_int_t rank = json_integer_value(json_object_get(j, "rank"));
        json_decref(j);
        if (rank == 1) break; /* bob (3 referrals) passed alice (2) */
        assert_true(rf_now_ns() - start < 10ull * 1000000000ull);
        usleep(20000);
    }
    assert_true(rf_http_requests(srv) > 30);
}

/* `refold serve` itself: starts, prints its port, answers, exits 0 on SIGTERM. */
static void test_serve_command(void **state)
{
    (void)state;
    char out[4096];
    assert_int_equal(rf_test_refold(out, sizeof out, 1, "serve --help"), 0);
    assert_non_null(strstr(out, "--listen"));
    assert_int_not_equal(
        rf_test_refold(out, sizeof out, 1, "serve --data %s --listen nowhere", dir), 0);
    assert_non_null(strstr(out, "refold serve:"));
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        execl(rf_test_refold_bin(), "refold", "serve", "--data", dir, "--listen", "127.0.0.1:0",
              (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    FILE *f = fdopen(pfd[0], "r");
    char line[256] = "";
    assert_non_null(fgets(line, sizeof line, f)); /* blocks until the server is up */
    const char *colon = strrchr(line, ':');
    assert_non_null(strstr(line, "listening on http://127.0.0.1:"));
    uint16_t port = (uint16_t)atoi(colon + 1);
    resp_t r;
    const char *req = "GET /v1/programs/shop/users/alice/code HTTP/1.0\r\n"
                      "Authorization: Bearer " TOKEN "\r\n\r\n";
    http_raw_port(port, req, strlen(req), &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "ALICE-7Q"));
    kill(pid, SIGTERM);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health),
        cmocka_unit_test(test_code),
        cmocka_unit_test(test_balance),
        cmocka_unit_test(test_rank_and_leaderboard),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_huge_uri),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_follows_worker),
        cmocka_unit_test(test_serve_command),
        cmocka_unit_test(test_auth_scheme_case),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_pagination),
        cmocka_unit_test(test_openapi),
        cmocka_unit_test(test_cors),
        cmocka_unit_test(test_missing_data_dir),
        cmocka_unit_test(test_code_command),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
