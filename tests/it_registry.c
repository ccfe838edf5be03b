/* it_registry.c: schema registries with outside clients (npm's kafkajs and
 * @kafkajs/confluent-schema-registry, tests/interop/kafkajs_registry.js):
 * - refold's registry (`refold broker --registry`'s rf_registry): the client
 *   finds refold's ids by subject and by lookup, registering refold's own
 *   schema returns its id, another is refused (422); the events it encodes
 *   fold into the expected reward; a message framed with a foreign id 1 is
 *   dead-lettered unknown_schema and one with a byte left over is
 *   dead-lettered, neither applied;
 * - a shop's own registry (ids from 1): the fold with REFOLD_SCHEMA_REGISTRY
 *   resolves its ids; while that registry is down the fold stops without
 *   dead-lettering or advancing, and folds everything once it is back.
 * - the Python example of docs/producing.md (tests/interop/produce_avro.py,
 *   Debian's python3-confluent-kafka and python3-avro) against refold's
 *   registry: its funnel and Clock fold into the reward; kafkajs then reads
 *   refold.ledger (gzip, the outbox's default: no plugin needed) and decodes
 *   every record through the registry.
 * Fails loudly when node, the npm packages or the Python packages are missing
 * (the test installs the npm ones with tests/interop/npm-setup.sh; the
 * Debian ones come from ops/install-deps.sh). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rf_codec.h"
#include "rf_kafka.h"
#include "rf_registry.h"
#include "rf_testutil.h"

#define PROGRAM      "shop"
#define DOUBLE_SIDED RF_TEST_SOURCE_DIR "/ops/programs/double_sided.json"
#define OUT_CAP      (64 * 1024)

typedef struct fixture {
    rf_broker_t *broker;
    rf_registry_t *reg;
    char dir[256], data[320], npm[512], url[64];
    char out[OUT_CAP];
} fixture_t;

static void npm_dir(char *out, size_t cap)
{
    FILE *p = popen("sh '" RF_TEST_SOURCE_DIR "/tests/interop/npm-setup.sh'", "r");
    assert_non_null(p);
    if (!fgets(out, (int)cap, p)) out[0] = '\0';
    int rc = pclose(p);
    out[strcspn(out, "\n")] = '\0';
    if (rc != 0 || !out[0])
        fail_msg("node packages missing: tests/interop/npm-setup.sh failed (rc %d); it needs npm "
                 "and the npm registry",
                 rc);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    rf_errbuf_t eb = {{0}};
    if (system("node --version >/dev/null 2>&1") != 0) fail_msg("node is not installed (Node 20)");
    npm_dir(f->npm, sizeof f->npm);
    f->broker = rf_broker_start(4, 1, &eb);
    assert_non_null(f->broker);
    rf_test_tmpdir("registry", f->dir, sizeof f->dir);
    snprintf(f->data, sizeof f->data, "%s/data", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    rf_registry_stop(f->reg);
    rf_broker_stop(f->broker);
    rf_test_rmtree(f->dir);
    free(f);
    return 0;
}

/* Starts a registry with schema id base `base` (refold's default, or 0 for
 * a shop's registry that numbered refold's schemas from 1). */
static void start_registry(fixture_t *f, const char *base)
{
    rf_errbuf_t eb = {{0}};
    setenv(RF_SCHEMA_ID_BASE_ENV, base, 1);
    f->reg = rf_registry_start("127.0.0.1:0", &eb);
    unsetenv(RF_SCHEMA_ID_BASE_ENV);
    if (!f->reg) fail_msg("registry: %s", eb.msg);
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%u", (unsigned)rf_registry_port(f->reg));
}

static const char *brokers(fixture_t *f)
{
    return rf_broker_bootstraps(f->broker);
}

/* Runs the kafkajs producer; its JSON lines land in f->out. */
static void run_node(fixture_t *f, int foreign_id)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "NODE_PATH='%s/node_modules' REFOLD_BROKERS='%s' REFOLD_REGISTRY='%s' "
             "REFOLD_SCHEMA_FILE='" RF_TEST_SOURCE_DIR "/schemas/event.avsc' "
             "REFOLD_PROGRAM=" PROGRAM " REFOLD_T0=%lld REFOLD_FOREIGN_ID=%d "
             "node '" RF_TEST_SOURCE_DIR "/tests/interop/kafkajs_registry.js' 2>&1",
             f->npm, brokers(f), f->url, (long long)time(NULL) * 1000 + 10000, foreign_id);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(f->out, 1, sizeof f->out - 1, p);
    f->out[n] = '\0';
    int rc = pclose(p);
    if (rc != 0) fail_msg("kafkajs_registry.js failed (%d):\n%s", rc, f->out);
    printf("%s", f->out);
}

static void apply_program(fixture_t *f)
{
    int rc = rf_test_refold(f->out, sizeof f->out, 1,
                            "program apply '" DOUBLE_SIDED "' --program " PROGRAM
                            " --version 1 --brokers '%s'",
                            brokers(f));
    if (rc != 0) fail_msg("program apply: %s", f->out);
}

/* Folds to the end with env (e.g. "REFOLD_SCHEMA_REGISTRY=..."); the exit
 * status, the summary JSON in f->out. */
static int fold(fixture_t *f, const char *env)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s '%s' fold --brokers '%s' --data '%s' --exit-at-end --json 2>&1",
             env, rf_test_refold_bin(), brokers(f), f->data);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(f->out, 1, sizeof f->out - 1, p);
    f->out[n] = '\0';
    int rc = pclose(p);
    printf("fold (%s):\n%s", env, f->out);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static long summary_count(const char *out, const char *key)
{
    const char *brace = strstr(out, "{\"consumed\"");
    json_error_t jerr;
    json_t *o = brace ? json_loads(brace, JSON_DISABLE_EOF_CHECK, &jerr) : NULL;
    if (!o) fail_msg("no fold summary in:\n%s", out);
    long v = (long)json_integer_value(json_object_get(o, key));
    json_decref(o);
    return v;
}

/* r1's pending USD after the funnel: the referrer reward of double_sided. */
static long pending_usd(fixture_t *f, const char *user)
{
    int rc =
        rf_test_refold(f->out, sizeof f->out, 0,
                       "explain --data '%s' --program " PROGRAM " --user %s --json", f->data, user);
    assert_int_equal(rc, 0);
    json_error_t jerr;
    json_t *o = json_loads(f->out, 0, &jerr);
    assert_non_null(o);
    json_t *bal = json_object_get(json_object_get(o, "summary"), "balances"), *b;
    size_t i;
    long pending = -1;
    json_array_foreach(bal, i,
                       b) if (!strcmp(json_string_value(json_object_get(b, "asset")), "USD"))
        pending = (long)json_integer_value(json_object_get(b, "pending"));
    json_decref(o);
    return pending;
}

static void assert_dlq(fixture_t *f, const char *what)
{
    int rc = rf_test_refold(f->out, sizeof f->out, 1, "dlq list --brokers '%s'", brokers(f));
    assert_int_equal(rc, 0);
    if (!strstr(f->out, what)) fail_msg("dead letters lack '%s':\n%s", what, f->out);
}

static void test_refold_registry(void **state)
{
    fixture_t *f = *state;
    start_registry(f, "1000000000");
    apply_program(f);
    run_node(f, 1);
    assert_non_null(strstr(f->out, "{\"latest\":1000000004,\"looked\":1000000004,"
                                   "\"registered\":1000000004}"));
    assert_non_null(strstr(f->out, "\"status\":422"));
    assert_non_null(strstr(f->out, "read-only mode"));
    assert_int_equal(fold(f, ""), 0);
    /* program + 5 funnel events applied; foreign id and trailing byte not */
    assert_int_equal(summary_count(f->out, "applied"), 6);
    assert_int_equal(summary_count(f->out, "dead_lettered"), 2);
    assert_int_equal(pending_usd(f, "r1"), 1000);
    assert_int_equal(pending_usd(f, "r2"), -1); /* the foreign-framed share did nothing */
    assert_dlq(f, "unknown schema id 1 (refold's ids are 1000000000+n");
    assert_dlq(f, "1 trailing bytes after the value");
}

static void test_shop_registry(void **state)
{
    fixture_t *f = *state;
    start_registry(f, "0"); /* the shop's registry gave refold's schemas ids 1..3 */
    apply_program(f);
    run_node(f, 999);
    assert_non_null(strstr(f->out, "{\"latest\":4,\"looked\":4,\"registered\":4}"));
    /* registry down: the fold stops, nothing dead-lettered, nothing advanced */
    assert_int_not_equal(fold(f, "REFOLD_SCHEMA_REGISTRY=http://127.0.0.1:1"), 0);
    assert_non_null(strstr(f->out, "unreachable for schema id 4"));
    /* the program's event (refold's own id) may have committed in a cycle
     * before the first shop event's */
    long before = summary_count(f->out, "applied");
    assert_true(before <= 1);
    assert_int_equal(rf_test_topic_count(brokers(f), RF_TOPIC_DLQ), 0);
    /* back: every event resolves through it */
    char env[128];
    snprintf(env, sizeof env, "REFOLD_SCHEMA_REGISTRY=%s", f->url);
    assert_int_equal(fold(f, env), 0);
    assert_int_equal(before + summary_count(f->out, "applied"), 6);
    assert_int_equal(summary_count(f->out, "dead_lettered"), 2);
    assert_int_equal(pending_usd(f, "r1"), 1000);
    assert_dlq(f, "schema id 999 is not in the registry at");
    assert_dlq(f, "1 trailing bytes after the value");
}

static void test_python(void **state)
{
    fixture_t *f = *state;
    if (system("/usr/bin/python3 -c 'import avro.io, confluent_kafka.schema_registry' "
               ">/dev/null 2>&1") != 0)
        fail_msg("python3-avro, python3-confluent-kafka or python3-requests is not installed "
                 "(ops/install-deps.sh installs them)");
    start_registry(f, "1000000000");
    apply_program(f);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 '" RF_TEST_SOURCE_DIR
             "/tests/interop/produce_avro.py' '%s' '%s' " PROGRAM " %lld 2>&1",
             brokers(f), f->url, (long long)time(NULL) * 1000 + 10000);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(f->out, 1, sizeof f->out - 1, p);
    f->out[n] = '\0';
    if (pclose(p) != 0) fail_msg("produce_avro.py failed:\n%s", f->out);
    assert_non_null(strstr(f->out, "sent 5 events with schema id 1000000004"));
    assert_int_equal(fold(f, ""), 0);
    assert_int_equal(summary_count(f->out, "applied"), 6); /* program + 4 funnel + Clock */
    assert_int_equal(summary_count(f->out, "dead_lettered"), 0);
    assert_int_equal(pending_usd(f, "alice"), 1000);
    /* kafkajs reads the outbox (gzip by default, no plugin) and decodes the
     * records through the registry: 6 events + 2 rewards */
    char cmd2[1024];
    snprintf(cmd2, sizeof cmd2,
             "NODE_PATH='%s/node_modules' REFOLD_BROKERS='%s' REFOLD_REGISTRY='%s' REFOLD_WANT=8 "
             "node '" RF_TEST_SOURCE_DIR "/tests/interop/kafkajs_ledger.js' 2>&1",
             f->npm, brokers(f), f->url);
    p = popen(cmd2, "r");
    assert_non_null(p);
    n = fread(f->out, 1, sizeof f->out - 1, p);
    f->out[n] = '\0';
    if (pclose(p) != 0) fail_msg("kafkajs_ledger.js failed:\n%s", f->out);
    printf("%s", f->out);
    assert_non_null(strstr(f->out, "\"records\":8,"));
    assert_non_null(strstr(f->out, "\"reward\":2"));
    assert_non_null(strstr(f->out, "\"clock\":1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_python, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refold_registry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shop_registry, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
