/* it_program.c: `refold program` on the embedded broker: validate names the
 * bad field; apply publishes ops/programs/double_sided.json, a fold worker
 * folds it and `program show` and a purchase's reward prove it live; --data
 * bumps the version from the fold ledgers and refuses one the fold would
 * reject; --dry-run publishes nothing; a lagging fold is warned about. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "rf_kafka.h"
#include "rf_fold_worker.h"
#include "rf_ledger.h"
#include "rf_rules.h"
#include "rf_testutil.h"

#define NPART        4
#define OUT_MAX      65536
#define PROGRAM      "spring"
#define DOUBLE_SIDED RF_TEST_SOURCE_DIR "/ops/programs/double_sided.json"

typedef struct fixture {
    rf_broker_t *broker;
    const char *brokers;
    char dir[256];
    char data[320];
    char out[OUT_MAX];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    rf_errbuf_t eb = {{0}};
    f->broker = rf_broker_start(NPART, 1, &eb);
    assert_non_null(f->broker);
    f->brokers = rf_broker_bootstraps(f->broker);
    rf_test_tmpdir("program", f->dir, sizeof f->dir);
    snprintf(f->data, sizeof f->data, "%s/data", f->dir);
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

static long topic_count(const fixture_t *f)
{
    return rf_test_topic_count(f->brokers, RF_TOPIC_EVENTS);
}

/* Folds every partition to the end of refold.events (assigned directly: no
 * group join) on this thread. */
static void fold_parts(const fixture_t *f, int nparts)
{
    static rf_fold_worker_conf_t c;
    rf_fold_worker_conf_init(&c);
    c.kafka.brokers = f->brokers;
    c.data_dir = f->data;
    c.exit_at_end = true;
    c.no_outbox = true;
    c.ledger_flags = RF_LEDGER_NOSYNC;
    c.npartitions = nparts;
    for (int i = 0; i < nparts; i++)
        c.partitions[i] = i;
    rf_errbuf_t eb = {{0}};
    rf_fold_worker_t *w = rf_fold_worker_new(&c, &eb);
    assert_non_null(w);
    rf_err_t err = rf_fold_worker_run(w, &eb);
    if (err) fprintf(stderr, "fold: %s\n", eb.msg);
    assert_int_equal(err, RF_OK);
    rf_fold_worker_destroy(w);
}

static void fold_to_end(const fixture_t *f)
{
    fold_parts(f, NPART);
}

/* Publishes JSON lines with `refold emit`. */
static void emit(fixture_t *f, const char *lines)
{
    char path[400];
    snprintf(path, sizeof path, "%s/events.jsonl", f->dir);
    rf_test_write_file(path, lines);
    int rc =
        rf_test_refold(f->out, sizeof f->out, 1, "emit --brokers %s --file '%s'", f->brokers, path);
    if (rc) fprintf(stderr, "%s", f->out);
    assert_int_equal(rc, 0);
}

/* `refold program show --json`: its version, and its rules equal to the
 * rules file want_file. */
static int show_version(fixture_t *f, const char *want_file)
{
    int rc = rf_test_refold(f->out, sizeof f->out, 0,
                            "program show --data '%s' --program " PROGRAM " --json", f->data);
    assert_int_equal(rc, 0);
    json_error_t jerr;
    json_t *o = json_loads(f->out, 0, &jerr);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "program")), PROGRAM);
    json_t *want = json_load_file(want_file, JSON_REJECT_DUPLICATES, &jerr);
    assert_non_null(want);
    assert_true(json_equal(json_object_get(o, "rules"), want));
    int v = (int)json_integer_value(json_object_get(o, "version"));
    json_decref(want);
    json_decref(o);
    return v;
}

typedef struct reward_find {
    const char *friend_;
    char amount[32], rule_version[16];
    int n, rejected_versions;
} reward_find_t;

static int on_record(const rf_record_t *rec, void *opaque)
{
    reward_find_t *r = opaque;
    if (strcmp(rec->program_id, PROGRAM)) return 0;
    const char *reason = rf_record_get_fact(rec, "reason");
    if (!strcmp(rec->kind, "rejected") && reason && strstr(reason, "is not greater than"))
        r->rejected_versions++;
    const char *role = rf_record_get_fact(rec, "role");
    const char *fr = rf_record_get_fact(rec, "friend");
    if (strcmp(rec->kind, "reward") || !role || strcmp(role, "referrer") || !fr ||
        strcmp(fr, r->friend_))
        return 0;
    snprintf(r->amount, sizeof r->amount, "%s", rf_record_get_fact(rec, "amount"));
    snprintf(r->rule_version, sizeof r->rule_version, "%s",
             rf_record_get_fact(rec, "rule_version"));
    r->n++;
    return 0;
}

/* Scans every fold ledger for the referrer reward of friend_'s purchase. */
static void find_reward(const fixture_t *f, reward_find_t *r)
{
    for (int p = 0; p < NPART; p++) {
        rf_errbuf_t eb = {{0}};
        rf_ledger_t *l = rf_ledger_open(f->data, p, RF_LEDGER_READONLY, &eb);
        if (!l) continue; /* a partition that never had an event */
        assert_int_equal(rf_ledger_scan(l, 1, 0, on_record, r, &eb), RF_OK);
        rf_ledger_close(l);
    }
}

static void test_validate(void **state)
{
    fixture_t *f = *state;
    char bad1[400], bad2[400], bad3[400], bad4[400];
    snprintf(bad1, sizeof bad1, "%s/typo.json", f->dir);
    snprintf(bad2, sizeof bad2, "%s/nocurrency.json", f->dir);
    snprintf(bad3, sizeof bad3, "%s/array.json", f->dir);
    snprintf(bad4, sizeof bad4, "%s/type.json", f->dir);
    rf_test_write_file(bad1, "{\"currency\": \"USD\", \"attribution\": {\"window\": 30}}\n");
    rf_test_write_file(bad2, "{\"name\": \"x\"}\n");
    rf_test_write_file(bad3, "[{\"currency\": \"USD\"}]\n");
    rf_test_write_file(bad4, "{\"currency\": \"USD\",\n \"hold_days\": \"14\"}\n");
    int rc = rf_test_refold(f->out, sizeof f->out, 1, "program validate '%s'/ops/programs/*.json",
                            RF_TEST_SOURCE_DIR);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(f->out, "double_sided.json: OK"));
    assert_non_null(strstr(f->out, "tiered_coupon.json: OK"));
    assert_non_null(strstr(f->out, "points_milestones.json: OK"));
    rc = rf_test_refold(f->out, sizeof f->out, 1, "program validate '%s' '%s' '%s' '%s' '%s'", bad1,
                        DOUBLE_SIDED, bad2, bad3, bad4);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(f->out, "typo.json: ERROR: unknown field 'attribution.window'"));
    assert_non_null(strstr(f->out, "double_sided.json: OK"));
    assert_non_null(strstr(f->out, "nocurrency.json: ERROR: field 'currency' is required"));
    assert_non_null(strstr(f->out, "array.json: ERROR: rules_json must be a JSON object"));
    assert_non_null(strstr(f->out, "type.json: ERROR: field 'hold_days' must be an integer"));
    assert_non_null(strstr(f->out, "4 of 5 files invalid"));
    rc = rf_test_refold(f->out, sizeof f->out, 1, "program validate '%s/missing.json'", f->dir);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(f->out, "cannot open"));
    /* --json: one entry per file */
    rc = rf_test_refold(f->out, sizeof f->out, 0, "program validate --json '%s' '%s'", bad1,
                        DOUBLE_SIDED);
    assert_int_equal(rc, 1);
    json_t *arr = json_loads(f->out, 0, NULL);
    assert_non_null(arr);
    assert_int_equal(json_array_size(arr), 2);
    assert_true(json_is_false(json_object_get(json_array_get(arr, 0), "ok")));
    assert_true(json_is_true(json_object_get(json_array_get(arr, 1), "ok")));
    json_decref(arr);
    /* an invalid file is never published */
    rc = rf_test_refold(f->out, sizeof f->out, 1,
                        "program apply '%s' --program " PROGRAM " --version 1 --brokers %s", bad1,
                        f->brokers);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(f->out, "unknown field 'attribution.window'"));
    assert_int_equal(topic_count(f), 0);
}

#define REFERRAL(code, friend_, order, t)                                                          \
    "{\"type\":\"signup\",\"program_id\":\"" PROGRAM "\",\"user\":\"" friend_                      \
    "\",\"code\":\"" code "\",\"occurred_at\":\"2026-03-01T00:00:" t "Z\"}\n"                      \
    "{\"type\":\"purchase\",\"program_id\":\"" PROGRAM "\",\"order_id\":\"" order                  \
    "\",\"user\":\"" friend_ "\",\"amount_minor\":5000,\"currency\":\"USD\","                      \
    "\"occurred_at\":\"2026-03-01T00:01:" t "Z\"}\n"

/* Version 1 from the file, folded: show and a purchase's reward prove it live. */
static void apply_v1(fixture_t *f)
{
    int rc = rf_test_refold(f->out, sizeof f->out, 1, "program show --data '%s' --program spring",
                            f->data);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(f->out, "no fold ledgers"));
    rc =
        rf_test_refold(f->out, sizeof f->out, 1, "program apply '%s' --program spring --brokers %s",
                       DOUBLE_SIDED, f->brokers);
    assert_int_equal(rc, 2); /* neither --version nor --data */
    assert_non_null(strstr(f->out, "--version"));
    rc = rf_test_refold(f->out, sizeof f->out, 0,
                        "program apply '%s' --program " PROGRAM " --version 1 --brokers %s --json",
                        DOUBLE_SIDED, f->brokers);
    assert_int_equal(rc, 0);
    json_t *o = json_loads(f->out, 0, NULL);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o, "version")), 1);
    assert_int_equal(json_integer_value(json_object_get(o, "offset")), 0);
    json_decref(o);
    assert_int_equal(topic_count(f), 1);
    emit(f, "{\"type\":\"code_issued\",\"program_id\":\"" PROGRAM
            "\",\"referrer\":\"r1\",\"code\":\"RONE\",\"occurred_at\":\"2026-03-01T00:00:00Z\"}"
            "\n" REFERRAL("RONE", "f1", "o1", "01"));
    fold_to_end(f);
    assert_int_equal(show_version(f, DOUBLE_SIDED), 1);
    reward_find_t r = {.friend_ = "f1"};
    find_reward(f, &r);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.amount, "1000"); /* referrer_reward.amount_minor of the file */
    assert_string_equal(r.rule_version, "1");
    /* as compiled: the defaulted assets and the fraud checks of the file */
    rc = rf_test_refold(f->out, sizeof f->out, 0,
                        "program show --data '%s' --program " PROGRAM " --effective --json",
                        f->data);
    assert_int_equal(rc, 0);
    o = json_loads(f->out, 0, NULL);
    assert_non_null(o);
    json_t *rules = json_object_get(o, "rules");
    assert_int_equal(json_integer_value(json_object_get(rules, "hold_days")), 14);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(rules, "referrer_reward"), "asset")),
        "USD");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(rules, "friend_reward"), "asset")),
        "CREDIT_USD");
    assert_int_equal(json_object_size(json_object_get(rules, "fraud")), 5);
    json_decref(o);
}

static void test_apply_fold_show(void **state)
{
    fixture_t *f = *state;
    apply_v1(f);
    /* version 2 from --data: the live version + 1; a larger referrer reward */
    char v2[400];
    snprintf(v2, sizeof v2, "%s/v2.json", f->dir);
    rf_test_write_file(v2, "{\"currency\": \"USD\", \"referrer_reward\": {\"type\": \"fixed\", "
                           "\"amount_minor\": 1500}}\n");
    int rc = rf_test_refold(f->out, sizeof f->out, 1,
                            "program apply '%s' --program " PROGRAM " --data '%s' --brokers %s", v2,
                            f->data, f->brokers);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(f->out, "live at version 1"));
    /* what changes, as compiled: defaults count, so dropped fields show */
    assert_non_null(strstr(f->out, "changes from the live version 1:"));
    assert_non_null(strstr(f->out, "  referrer_reward.amount_minor: 1000 -> 1500\n"));
    assert_non_null(strstr(f->out, "  hold_days: 14 -> 0\n"));
    assert_non_null(strstr(f->out, "  friend_reward.type: \"fixed\" -> \"none\"\n"));
    assert_non_null(strstr(f->out, "  fraud.velocity.action: \"review\" -> (none)\n"));
    assert_null(strstr(f->out, "currency:"));
    assert_non_null(strstr(f->out, "program spring version 2: published to refold.events"));
    assert_null(strstr(f->out, "warning"));
    emit(f, REFERRAL("RONE", "f2", "o2", "02"));
    fold_to_end(f);
    assert_int_equal(show_version(f, v2), 2);
    reward_find_t r = {.friend_ = "f2"};
    find_reward(f, &r);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.amount, "1500");
    assert_string_equal(r.rule_version, "2");
    /* every program, and the program's history: both versions, oldest first */
    int rc2 = rf_test_refold(f->out, sizeof f->out, 0, "program show --data '%s'", f->data);
    assert_int_equal(rc2, 0);
    assert_non_null(strstr(f->out, "spring                   version 2"));
    rc2 =
        rf_test_refold(f->out, sizeof f->out, 0,
                       "program show --data '%s' --program " PROGRAM " --history --json", f->data);
    assert_int_equal(rc2, 0);
    json_t *hist = json_loads(f->out, 0, NULL), *want1 = json_load_file(DOUBLE_SIDED, 0, NULL),
           *want2 = json_load_file(v2, 0, NULL);
    assert_non_null(hist);
    assert_int_equal(json_array_size(hist), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(hist, 0), "version")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(hist, 1), "version")), 2);
    assert_true(json_equal(json_object_get(json_array_get(hist, 0), "rules"), want1));
    assert_true(json_equal(json_object_get(json_array_get(hist, 1), "rules"), want2));
    json_decref(hist);
    json_decref(want1);
    json_decref(want2);
    /* a version the fold would reject is refused before publishing */
    long before = topic_count(f);
    rc = rf_test_refold(f->out, sizeof f->out, 1,
                        "program apply '%s' --program " PROGRAM
                        " --version 2 --data '%s' --brokers %s",
                        DOUBLE_SIDED, f->data, f->brokers);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(f->out, "not greater than the live version 2"));
    /* --dry-run prints the event (input of `refold emit`) and sends nothing */
    rc = rf_test_refold(f->out, sizeof f->out, 0,
                        "program apply '%s' --program " PROGRAM " --data '%s' --dry-run",
                        DOUBLE_SIDED, f->data);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(f->out, "\"type\":\"program_configured\""));
    assert_non_null(strstr(f->out, "\"version\":3"));
    assert_non_null(strstr(f->out, "\"amount_minor\":1000"));
    assert_int_equal(topic_count(f), before);
}

/* Two auto-bumped applies before the fold catches up pick the same version:
 * the second warns, and the fold indeed rejects it. */
static void test_lagging_fold(void **state)
{
    fixture_t *f = *state;
    apply_v1(f);
    int rc = rf_test_refold(f->out, sizeof f->out, 1,
                            "program apply '%s' --program " PROGRAM " --data '%s' --brokers %s",
                            DOUBLE_SIDED, f->data, f->brokers);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(f->out, "note: no change from the live version 1"));
    assert_null(strstr(f->out, "warning"));
    rc = rf_test_refold(f->out, sizeof f->out, 1,
                        "program apply '%s' --program " PROGRAM " --data '%s' --brokers %s",
                        DOUBLE_SIDED, f->data, f->brokers);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(f->out, "version 2: published"));
    assert_non_null(strstr(f->out, "warning: the fold of partition"));
    fold_to_end(f);
    assert_int_equal(show_version(f, DOUBLE_SIDED), 2);
    reward_find_t r = {.friend_ = "none"};
    find_reward(f, &r);
    assert_int_equal(r.rejected_versions, 1);
}

/* `program apply --wait` on a thread, while the test folds. */
typedef struct waiter {
    fixture_t *f;
    const char *file;
    pthread_t thread;
    int rc;
    char out[8192];
} waiter_t;

static void *waiter_run(void *arg)
{
    waiter_t *w = arg;
    w->rc = rf_test_refold(w->out, sizeof w->out, 0,
                           "program apply '%s' --program " PROGRAM
                           " --data '%s' --brokers %s --wait 60 --json",
                           w->file, w->f->data, w->f->brokers);
    return NULL;
}

/* Starts the waiter, lets it publish, folds, and returns its JSON answer. */
static json_t *apply_wait_fold(fixture_t *f, const char *file, int *rc)
{
    static waiter_t w;
    memset(&w, 0, sizeof w);
    w.f = f;
    w.file = file;
    long before = topic_count(f);
    assert_int_equal(pthread_create(&w.thread, NULL, waiter_run, &w), 0);
    for (int i = 0; i < 600 && topic_count(f) == before; i++) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(topic_count(f), before + 1);
    fold_to_end(f);
    assert_int_equal(pthread_join(w.thread, NULL), 0);
    *rc = w.rc;
    json_t *o = json_loads(w.out, 0, NULL);
    if (!o) fprintf(stderr, "apply --wait printed: %s\n", w.out);
    assert_non_null(o);
    return o;
}

/* --wait reports the fold's verdict: accepted, or rejected with its reason
 * (here a version another apply took first). */
static void test_wait(void **state)
{
    fixture_t *f = *state;
    apply_v1(f);
    int rc = rf_test_refold(f->out, sizeof f->out, 1,
                            "program apply '%s' --program " PROGRAM " --version 2 --wait 5 "
                            "--brokers %s",
                            DOUBLE_SIDED, f->brokers);
    assert_int_equal(rc, 2); /* --wait needs --data */
    json_t *o = apply_wait_fold(f, DOUBLE_SIDED, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(json_integer_value(json_object_get(o, "version")), 2);
    assert_string_equal(json_string_value(json_object_get(o, "fold")), "accepted");
    json_decref(o);
    /* version 3 published unchecked first: the waiter also takes 3 */
    rc = rf_test_refold(f->out, sizeof f->out, 1,
                        "program apply '%s' --program " PROGRAM " --version 3 --brokers %s",
                        DOUBLE_SIDED, f->brokers);
    assert_int_equal(rc, 0);
    o = apply_wait_fold(f, DOUBLE_SIDED, &rc);
    assert_int_equal(rc, 1);
    assert_int_equal(json_integer_value(json_object_get(o, "version")), 3);
    assert_string_equal(json_string_value(json_object_get(o, "fold")), "rejected");
    assert_string_equal(json_string_value(json_object_get(o, "reason")),
                        "version 3 is not greater than the current 3");
    json_decref(o);
    assert_int_equal(show_version(f, DOUBLE_SIDED), 3);
}

/* The effective rules (defaults filled in) parse back to themselves. */
static void test_effective_roundtrip(void **state)
{
    (void)state;
    static const char *const files[] = {"double_sided", "tiered_coupon", "points_milestones"};
    for (int i = 0; i < 3; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/ops/programs/%s.json", RF_TEST_SOURCE_DIR, files[i]);
        json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, NULL);
        assert_non_null(doc);
        char *text = json_dumps(doc, JSON_COMPACT), *e1 = NULL, *e2 = NULL;
        rf_errbuf_t eb = {{0}};
        assert_int_equal(rf_rules_effective_json(text, &e1, &eb), RF_OK);
        assert_int_equal(rf_rules_validate_json(e1, &eb), RF_OK);
        assert_int_equal(rf_rules_effective_json(e1, &e2, &eb), RF_OK);
        assert_string_equal(e1, e2);
        free(text);
        free(e1);
        free(e2);
        json_decref(doc);
    }
    /* the defaults of docs/programs.md */
    char *e = NULL;
    rf_errbuf_t eb = {{0}};
    assert_int_equal(rf_rules_effective_json("{\"currency\":\"USD\"}", &e, &eb), RF_OK);
    json_t *o = json_loads(e, 0, NULL);
    assert_non_null(o);
    json_t *at = json_object_get(o, "attribution"), *q = json_object_get(o, "qualification");
    assert_string_equal(json_string_value(json_object_get(at, "model")), "last_touch");
    assert_int_equal(json_integer_value(json_object_get(at, "window_days")), 30);
    assert_int_equal(json_integer_value(json_object_get(q, "window_days")), 60);
    assert_true(json_is_true(json_object_get(q, "first_purchase_only")));
    json_t *caps = json_object_get(o, "caps");
    assert_string_equal(json_string_value(json_object_get(caps, "period")), "year");
    assert_string_equal(json_string_value(json_object_get(caps, "on_exceed")), "reduce");
    json_t *fraud = json_object_get(o, "fraud");
    assert_int_equal(json_object_size(fraud), 1); /* only self_referral is on by default */
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(fraud, "self_referral"), "action")),
        "reject");
    json_decref(o);
    free(e);
    assert_int_equal(rf_rules_effective_json("{\"currency\":\"USD\",\"x\":1}", &e, &eb),
                     RF_ERR_BAD_INPUT);
    assert_null(e);
    assert_string_equal(eb.msg, "unknown field 'x'");
}

/* A program no ledger knows starts at version 1, but only when the data
 * directory covers every partition (else its partition is folded elsewhere). */
static void test_new_program(void **state)
{
    fixture_t *f = *state;
    fold_parts(f, 2); /* ledgers of partitions 0 and 1 only */
    int rc = rf_test_refold(f->out, sizeof f->out, 1,
                            "program apply '%s' --program autumn --data '%s' --brokers %s",
                            DOUBLE_SIDED, f->data, f->brokers);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(f->out, "which has 2 of the 4 partitions"));
    assert_int_equal(topic_count(f), 0);
    fold_to_end(f);
    rc = rf_test_refold(f->out, sizeof f->out, 1,
                        "program apply '%s' --program autumn --data '%s' --brokers %s",
                        DOUBLE_SIDED, f->data, f->brokers);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(f->out, "no rules in the fold ledgers"));
    assert_non_null(strstr(f->out, "program autumn version 1: published"));
    assert_int_equal(topic_count(f), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_validate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apply_fold_show, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lagging_fold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_program, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wait, setup, teardown),
        cmocka_unit_test(test_effective_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
