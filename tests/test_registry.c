/* test_registry.c: the Confluent schema registry subset (rf_registry.h) with a
 * real HTTP client (curl): every route's status and body, Confluent's error
 * codes, the lookup by content, the refused registration, the ids following
 * REFOLD_SCHEMA_ID_BASE. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "rf_codec.h"
#include "rf_registry.h"
#include "rf_testutil.h"

static char url[64];
static char out[65536];

/* curl -X method [--data body] url+path: "<body> [status]" in out. */
static void req(const char *method, const char *path, const char *body)
{
    char cmd[1024], file[64] = "";
    if (body) { /* a file: a schema is longer than a command line should be */
        snprintf(file, sizeof file, "/tmp/refold-test-registry-%d.json", (int)getpid());
        rf_test_write_file(file, body);
    }
    snprintf(cmd, sizeof cmd, "curl -s -X %s -w ' [%%{http_code}]' %s%s '%s%s'", method,
             body ? "-H 'Content-Type: application/vnd.schemaregistry.v1+json' --data-binary @"
                  : "",
             file, url, path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    if (file[0]) unlink(file);
    if (pclose(p) != 0) fail_msg("curl failed (is it installed? ops/install-deps.sh): %s", cmd);
}

static void expect(const char *method, const char *path, const char *body, const char *want)
{
    req(method, path, body);
    if (!strstr(out, want)) fail_msg("%s %s: no '%s' in: %.300s", method, path, want, out);
}

static void test_routes(void **state)
{
    (void)state;
    unsetenv(RF_SCHEMA_ID_BASE_ENV);
    rf_errbuf_t eb = {{0}};
    rf_registry_t *r = rf_registry_start("127.0.0.1:0", &eb);
    if (!r) fail_msg("%s", eb.msg);
    snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)rf_registry_port(r));
    expect("GET", "/subjects", NULL, "[\"refold.ledger-value\",\"refold.events-value\"] [200]");
    expect("GET", "/subjects/refold.events-value/versions", NULL, "[1,2,3] [200]");
    expect("GET", "/subjects/refold.events-value/versions/latest", NULL,
           "\"version\":3,\"id\":1000000004,");
    expect("GET", "/subjects/refold.events-value/versions/1", NULL, "\"id\":1000000001,");
    expect("GET", "/subjects/refold.ledger-value/versions/-1", NULL, "\"id\":1000000003,");
    expect("GET", "/schemas/ids/1000000004", NULL, "\"schema\":\"{");
    expect("GET", "/schemas/ids/1000000003/versions", NULL,
           "[{\"subject\":\"refold.ledger-value\",\"version\":1}] [200]");
    expect("GET", "/schemas/ids/2", NULL,
           "{\"error_code\":40403,\"message\":\"Schema 2 not found\"} [404]");
    expect("GET", "/schemas/ids/x", NULL, "\"error_code\":40403");
    expect("GET", "/subjects/orders-value/versions", NULL,
           "{\"error_code\":40401,\"message\":\"Subject 'orders-value' not found.\"} [404]");
    expect("GET", "/subjects/refold.events-value/versions/4", NULL,
           "{\"error_code\":40402,\"message\":\"Version 4 not found.\"} [404]");
    expect("GET", "/subjects/refold.events-value/versions/0", NULL, "\"error_code\":42202");
    expect("GET", "/subjects/refold.events-value/versions/two", NULL, "[422]");
    expect("GET", "/config/refold.events-value", NULL, "{\"compatibilityLevel\":\"BACKWARD\"}");
    expect("GET", "/nothing/here", NULL, "\"error_code\":404");
    expect("PUT", "/config/refold.events-value", "{}", "\"error_code\":42205");
    /* lookup and register by content: refold's own schema, compact JSON */
    json_error_t jerr;
    json_t *s = json_loads(rf_codec_schema_json(RF_SCHEMA_ID_EVENT), 0, &jerr);
    char *compact = json_dumps(s, JSON_COMPACT);
    json_t *b = json_pack("{s:s}", "schema", compact);
    char *body = json_dumps(b, JSON_COMPACT);
    expect("POST", "/subjects/refold.events-value", body, "\"version\":3,\"id\":1000000004,");
    expect("POST", "/subjects/refold.events-value/versions", body, "{\"id\":1000000004} [200]");
    expect("POST", "/subjects/refold.ledger-value", body, "\"error_code\":40403");
    expect("POST", "/subjects/orders-value", body, "\"error_code\":40401");
    const char *foreign = "{\"schema\":\"{\\\"type\\\":\\\"record\\\",\\\"name\\\":\\\"X\\\","
                          "\\\"fields\\\":[]}\"}";
    expect("POST", "/subjects/refold.events-value/versions", foreign,
           "\"error_code\":42205,\"message\":\"Subject 'refold.events-value' is in read-only");
    expect("POST", "/subjects/refold.events-value", foreign, "\"error_code\":40403");
    expect("POST", "/subjects/refold.events-value", "{\"schema\":\"{oops\"}",
           "\"error_code\":42201");
    expect("POST", "/subjects/refold.events-value", "[]", "\"error_code\":42201");
    expect("POST", "/subjects/refold.events-value",
           "{\"schema\":\"\\\"string\\\"\",\"schemaType\":\"PROTOBUF\"}", "\"error_code\":42201");
    free(body);
    json_decref(b);
    free(compact);
    json_decref(s);
    rf_registry_stop(r);
    /* the ids follow the base */
    setenv(RF_SCHEMA_ID_BASE_ENV, "0", 1);
    r = rf_registry_start("127.0.0.1:0", &eb);
    unsetenv(RF_SCHEMA_ID_BASE_ENV);
    assert_non_null(r);
    snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)rf_registry_port(r));
    expect("GET", "/subjects/refold.events-value/versions/latest", NULL, "\"id\":4,");
    rf_registry_stop(r);
    assert_null(rf_registry_start("nowhere", &eb));
    assert_non_null(strstr(eb.msg, "want host:port"));
    rf_registry_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
