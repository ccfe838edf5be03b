/* it_operator.c: the operator's authorized path on the embedded broker
 * (docs/security.md): `refold keys generate` writes a root and two operator
 * keys, `keys register` gives them scopes in a program, `program apply --key
 * --at` configures it, an app's traffic holds a referral for review, `refold
 * review` and `refold adjust` act with the right key and are refused with the
 * wrong one, `refold clock` moves event time only when signed with the
 * scope, `keys revoke` ends a key, and the app's own privileged events
 * (unsigned) are refused. `refold fold --trust-root` folds it all; balances,
 * rules, the clock and the rejections' reasons are checked in the ledger, a
 * replay with the trust root gives the same heads and one without it does
 * not; OpenSSL's command line verifies a signature the way docs/security.md
 * tells an outside tool to. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "rf_hex.h"
#include "rf_kafka.h"
#include "rf_ledger.h"
#include "rf_rules.h"
#include "rf_testutil.h"

#define OUT_MAX 65536
#define PROG    "shop"
#define H1      "1111111111111111111111111111111111111111111111111111111111111111"
#define RULES                                                                                      \
    "{\"currency\": \"USD\", \"hold_days\": 0,\n"                                                  \
    " \"referrer_reward\": {\"type\": \"fixed\", \"amount_minor\": 1000},\n"                       \
    " \"fraud\": {\"ip_cluster\": {\"max_signups\": 1, \"window_hours\": 24, \"action\": "         \
    "\"review\"}}}\n"

typedef struct fx {
    rf_broker_t *broker;
    const char *brokers;
    char dir[256], data[320], path[400];
    char out[OUT_MAX];
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    rf_errbuf_t eb = {{0}};
    assert_non_null(f);
    f->broker = rf_broker_start(1, 1, &eb);
    assert_non_null(f->broker);
    f->brokers = rf_broker_bootstraps(f->broker);
    rf_test_tmpdir("operator", f->dir, sizeof f->dir);
    snprintf(f->data, sizeof f->data, "%s/data", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    rf_broker_stop(f->broker);
    rf_test_rmtree(f->dir);
    free(f);
    return 0;
}

/* Runs refold; fails the test unless the exit status is want. */
#define RUN(f, want, ...)                                                                          \
    do {                                                                                           \
        int rc_ = rf_test_refold((f)->out, sizeof(f)->out, 1, __VA_ARGS__);                        \
        if (rc_ != (want)) fail_msg("exit %d, want %d: %s", rc_, (want), (f)->out);                \
    } while (0)

/* `refold <cmd> ... --brokers B --at T` publishing one signed event. */
#define OP(f, at, fmt, ...) RUN(f, 0, fmt " --brokers %s --at %s", __VA_ARGS__, (f)->brokers, at)

static void write_app_events(fx_t *f)
{
    static const char *lines[] = {
        "{\"type\":\"code_issued\",\"program_id\":\"" PROG
        "\",\"occurred_at\":\"2026-01-01T00:00:10Z\",\"referrer\":\"alice\",\"code\":\"ALICE1\"}",
        "{\"type\":\"signup\",\"program_id\":\"" PROG "\",\"occurred_at\":\"2026-01-01T00:00:20Z\","
        "\"user\":\"carol\",\"code\":\"ALICE1\",\"ip_hash\":\"" H1 "\"}",
        "{\"type\":\"signup\",\"program_id\":\"" PROG "\",\"occurred_at\":\"2026-01-01T00:00:30Z\","
        "\"user\":\"bob\",\"code\":\"ALICE1\",\"ip_hash\":\"" H1 "\"}",
        "{\"type\":\"purchase\",\"program_id\":\"" PROG
        "\",\"occurred_at\":\"2026-01-01T00:01:00Z\","
        "\"order_id\":\"o1\",\"user\":\"bob\",\"amount_minor\":5000,\"currency\":\"USD\"}",
        /* the app tries what only operators may do */
        "{\"type\":\"adjustment\",\"program_id\":\"" PROG
        "\",\"occurred_at\":\"2026-01-01T00:01:10Z\","
        "\"user\":\"alice\",\"amount_minor\":100000,\"asset\":\"USD\",\"reason\":\"free\","
        "\"actor\":\"app\"}",
        "{\"type\":\"review_decision\",\"program_id\":\"" PROG
        "\",\"occurred_at\":\"2026-01-01T00:01:20Z\",\"user\":\"bob\",\"approve\":true,"
        "\"reviewer\":\"app\"}",
        "{\"type\":\"clock\",\"program_id\":\"" PROG "\",\"occurred_at\":\"2026-09-01T00:00:00Z\"}",
    };
    char text[4096] = "";
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        strcat(text, lines[i]);
        strcat(text, "\n");
    }
    snprintf(f->path, sizeof f->path, "%s/app.jsonl", f->dir);
    rf_test_write_file(f->path, text);
}

typedef struct seen {
    char reasons[8192];
    int approved, adjustments, keys, revoked;
} seen_t;

static int seen_cb(const rf_record_t *rec, void *opaque)
{
    seen_t *s = opaque;
    if (!strcmp(rec->kind, "rejected")) {
        strncat(s->reasons, rf_record_get_fact(rec, "reason"),
                sizeof s->reasons - strlen(s->reasons) - 2);
        strcat(s->reasons, "\n");
    }
    const char *st = rf_record_get_fact(rec, "status");
    s->approved += !strcmp(rec->kind, "review") && st && !strcmp(st, "approved");
    s->adjustments += !strcmp(rec->kind, "adjustment");
    s->keys += !strcmp(rec->kind, "key_registered");
    s->revoked += !strcmp(rec->kind, "key_revoked");
    return 0;
}

static void check_ledger(fx_t *f)
{
    rf_errbuf_t eb = {{0}};
    rf_ledger_t *l = rf_ledger_open(f->data, 0, RF_LEDGER_READONLY, &eb);
    if (!l) fail_msg("%s", eb.msg);
    int64_t b[RF_BUCKET__COUNT];
    assert_int_equal(rf_ledger_balance(l, PROG, "alice", "USD", b, &eb), RF_OK);
    assert_int_equal(b[RF_BUCKET_AVAILABLE], 1000 + 700); /* approved reward + adjustment */
    assert_int_equal(b[RF_BUCKET_PENDING], 0);
    int32_t version = 0;
    assert_int_equal(rf_rules_program_get(l, PROG, &version, NULL, 0, &eb), RF_OK);
    assert_int_equal(version, 1); /* the unsigned version 2 changed nothing */
    rf_ledger_head_t h;
    assert_int_equal(rf_ledger_head(l, &h, &eb), RF_OK);
    /* the signed Clock set the time; the app's Clock of September, the root's of June
     * and every other refused event did not move it */
    assert_true(h.event_time_ms == 1767229200000LL); /* 2026-01-01T01:00:00Z */
    static seen_t s;
    memset(&s, 0, sizeof s);
    assert_int_equal(rf_ledger_scan(l, 1, 0, seen_cb, &s, &eb), RF_OK);
    rf_ledger_close(l);
    assert_int_equal(s.approved, 1);
    assert_int_equal(s.adjustments, 1);
    assert_int_equal(s.keys, 2);
    assert_int_equal(s.revoked, 1);
    const char *want[] = {
        "unauthorized: Adjustment needs an operator signature",
        "unauthorized: ReviewDecision needs an operator signature",
        "unauthorized: Clock needs an operator signature",
        "lacks scope 'review'",
        "lacks scope 'adjust'",
        "signs key events only, not Clock",
        "was revoked",
        "unauthorized: ProgramConfigured needs an operator signature",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(s.reasons, want[i])) fail_msg("no rejection '%s' in:\n%s", want[i], s.reasons);
}

/* The signing string of an Adjustment, built here from docs/security.md
 * alone, verified by `openssl pkeyutl` with the key's public PEM. */
static void check_openssl(fx_t *f, const char *key)
{
    RUN(f, 0,
        "adjust --program " PROG " --user alice --amount -5 --asset USD --reason 'x y' --key '%s' "
        "--at 2026-01-02T00:00:00Z --dry-run",
        key);
    json_error_t je;
    json_t *e = json_loads(f->out, 0, &je);
    assert_non_null(e);
    const char *fields[][2] = {
        {"type", "Adjustment"},
        {"event_id", json_string_value(json_object_get(e, "event_id"))},
        {"program_id", PROG},
        {"occurred_at", "1767312000000"},
        {"source", json_string_value(json_object_get(e, "source"))},
        {"auth_key_id", json_string_value(json_object_get(json_object_get(e, "auth"), "key_id"))},
        {"user", "alice"},
        {"amount_minor", "-5"},
        {"asset", "USD"},
        {"reason", "x y"},
        {"actor", json_string_value(json_object_get(e, "actor"))},
    };
    char msg[2048] = "refold-event-auth-v1\n", path[512], sig_path[512];
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        assert_non_null(fields[i][1]);
        snprintf(msg + strlen(msg), sizeof msg - strlen(msg), "%s=%zu:%s\n", fields[i][0],
                 strlen(fields[i][1]), fields[i][1]);
    }
    snprintf(path, sizeof path, "%s/msg", f->dir);
    rf_test_write_file(path, msg);
    uint8_t sig[64];
    const char *hex = json_string_value(json_object_get(json_object_get(e, "auth"), "signature"));
    assert_int_equal(rf_unhex(hex, sig, sizeof sig), RF_OK);
    snprintf(sig_path, sizeof sig_path, "%s/sig", f->dir);
    FILE *fp = fopen(sig_path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(sig, 1, sizeof sig, fp), sizeof sig);
    fclose(fp);
    json_decref(e);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "openssl pkeyutl -verify -pubin -inkey '%s.pub' -rawin -in '%s' -sigfile '%s' 2>&1",
             key, path, sig_path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[256] = "";
    if (!fgets(line, sizeof line, p)) line[0] = 0;
    int rc = pclose(p);
    if (rc != 0 || !strstr(line, "Signature Verified Successfully"))
        fail_msg("openssl (needed: ops/install-deps.sh installs it) says: %s", line);
}

static void test_operator_path(void **state)
{
    fx_t *f = *state;
    char root[400], ops[400], fin[400], rules[400];
    snprintf(root, sizeof root, "%s/root", f->dir);
    snprintf(ops, sizeof ops, "%s/ops", f->dir);
    snprintf(fin, sizeof fin, "%s/fin", f->dir);
    snprintf(rules, sizeof rules, "%s/rules.json", f->dir);
    rf_test_write_file(rules, RULES);
    const char *keys[] = {root, ops, fin};
    for (int i = 0; i < 3; i++) {
        RUN(f, 0, "keys generate --out '%s'", keys[i]);
        assert_non_null(strstr(f->out, "key "));
        struct stat st;
        assert_int_equal(stat(keys[i], &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
    }
    RUN(f, 1, "keys generate --out '%s'", ops); /* never overwrites a key */

    OP(f, "2026-01-01T00:00:00Z",
       "keys register --program " PROG " --public-key '%s.pub' --scopes program,review,clock "
       "--holder ops --root-key '%s'",
       ops, root);
    OP(f, "2026-01-01T00:00:01Z",
       "keys register --program " PROG " --public-key '%s.pub' --scopes adjust --holder fin "
       "--root-key '%s'",
       fin, root);
    OP(f, "2026-01-01T00:00:02Z", "program apply '%s' --program " PROG " --version 1 --key '%s'",
       rules, ops);
    write_app_events(f);
    RUN(f, 0, "emit --brokers %s --file '%s'", f->brokers, f->path);
    OP(f, "2026-01-01T00:02:00Z",
       "review --program " PROG " --user bob --decision approve --key '%s'", fin);
    OP(f, "2026-01-01T00:02:10Z",
       "review --program " PROG " --user bob --decision approve --reason ok --key '%s'", ops);
    OP(f, "2026-01-01T00:03:00Z",
       "adjust --program " PROG " --user alice --amount 700 --asset USD --reason goodwill "
       "--key '%s'",
       fin);
    OP(f, "2026-01-01T00:03:10Z",
       "adjust --program " PROG " --user alice --amount 700 --asset USD --reason goodwill "
       "--key '%s'",
       ops);
    OP(f, "2026-01-01T00:04:00Z",
       "keys revoke --program " PROG " --public-key '%s.pub' --reason left --root-key '%s'", fin,
       root);
    OP(f, "2026-01-01T00:05:00Z",
       "adjust --program " PROG " --user alice --amount 900 --asset USD --reason late --key '%s'",
       fin);
    OP(f, "2026-01-01T00:06:00Z", "program apply '%s' --program " PROG " --version 2", rules);
    OP(f, "2026-06-01T00:00:00Z", "clock --program " PROG " --key '%s'",
       root); /* roots: keys only */
    OP(f, "2026-01-01T01:00:00Z", "clock --program " PROG " --key '%s'", ops);

    RUN(f, 0,
        "fold --brokers %s --data '%s' --partitions 0 --exit-at-end --no-outbox "
        "--trust-root '%s.pub'",
        f->brokers, f->data, root);
    assert_null(strstr(f->out, "open mode"));
    check_ledger(f);

    /* replay: the same heads with the trust root; open mode applies what was
     * refused (and says so) */
    RUN(f, 0, "replay --from-archive --data '%s' --into '%s/r1' --nosync --trust-root '%s.pub'",
        f->data, f->dir, root);
    assert_non_null(strstr(f->out, "SAME"));
    RUN(f, 1, "replay --from-archive --data '%s' --into '%s/r2' --nosync", f->data, f->dir);
    assert_non_null(strstr(f->out, "open mode"));
    assert_non_null(strstr(f->out, "DIFFERENT"));
    RUN(f, 2, "replay --from-archive --data '%s' --into '%s/r3' --trust-root '%s'", f->data, f->dir,
        rules); /* not a key file */

    check_openssl(f, fin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_operator_path, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
