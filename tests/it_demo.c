/* it_demo.c: `refold demo` end to end (embedded broker, fold and projection
 * workers, example programs, loadgen traffic): its report says everything
 * adds up, its leaderboard is what `refold leaderboard --json` says, the same
 * seed gives the same head, and an existing data directory is refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rf_event.h"
#include "rf_testutil.h"

#define OUT_MAX (256 * 1024)
#define EVENTS  20000

static char scratch[256];
static char out1[OUT_MAX], out2[OUT_MAX], tmp[OUT_MAX];

/* The value after "head: " (64 hex digits), or "" when absent. */
static void head_of(const char *out, char hex[65])
{
    const char *p = strstr(out, "\nhead: ");
    hex[0] = '\0';
    if (!p) return;
    p += 7;
    size_t n = strspn(p, "0123456789abcdef");
    if (n != 64) return;
    memcpy(hex, p, 64);
    hex[64] = '\0';
}

/* The users of program's top-10 block in the demo's text output, in order. */
static int demo_board(const char *out, const char *program, char users[10][RF_ID_BUF])
{
    char tag[128];
    snprintf(tag, sizeof tag, "\n%s: \"", program);
    const char *p = strstr(out, tag);
    assert_non_null(p);
    p = strstr(p, "top 10 by successful referrals");
    assert_non_null(p);
    p = strchr(p, '\n') + 1;
    int n = 0;
    for (; n < 10; n++) {
        int rank = 0, used = 0;
        char user[RF_ID_BUF];
        if (sscanf(p, " %d %64s %*s%n", &rank, user, &used) != 2 || rank != n + 1) break;
        snprintf(users[n], RF_ID_BUF, "%s", user);
        p = strchr(p, '\n');
        if (!p) break;
        p++;
    }
    return n;
}

static void run_demo(const char *dir, uint64_t seed, char *out)
{
    int rc = rf_test_refold(out, OUT_MAX, 0,
                            "demo --events %d --seed %llu --data '%s' "
                            "--json-report '%s.json'",
                            EVENTS, (unsigned long long)seed, dir, dir);
    if (rc != 0) fprintf(stderr, "demo output:\n%s\n", out);
    assert_int_equal(rc, 0);
}

static void test_demo_report(void **state)
{
    (void)state;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/a", scratch);
    run_demo(dir, 7, out1);
    /* everything adds up */
    assert_non_null(strstr(out1, "\nverify: OK\n"));
    assert_non_null(strstr(out1, "  ok   offsets accounted "));
    assert_non_null(strstr(out1, "  ok   everything folded "));
    assert_non_null(strstr(out1, "  ok   projection = fold "));
    assert_non_null(strstr(out1, "  ok   trial balance "));
    assert_null(strstr(out1, "FAIL"));
    char head[65];
    head_of(out1, head);
    assert_int_equal(strlen(head), 64);
    /* the JSON report says the same */
    char path[600];
    snprintf(path, sizeof path, "%s.json", dir);
    json_error_t jerr;
    json_t *rep = json_load_file(path, 0, &jerr);
    assert_non_null(rep);
    assert_true(json_is_true(json_object_get(rep, "ok")));
    json_t *off = json_object_get(rep, "offsets");
    assert_int_equal(json_integer_value(json_object_get(off, "published")), EVENTS);
    assert_int_equal(json_integer_value(json_object_get(off, "consumed")), EVENTS);
    assert_string_equal(json_string_value(json_object_get(json_object_get(rep, "verify"), "head")),
                        head);
    /* where the time went: each stage's span within the run, the producer's
     * waits, the CPU (text and JSON) */
    assert_non_null(strstr(out1, "\ntime (seconds since the start"));
    assert_non_null(strstr(out1, "\n  cpu: pipeline "));
    json_t *t = json_object_get(rep, "timing");
    double total = atof(json_string_value(json_object_get(t, "total_s")));
    const char *stages[] = {"publish", "fold", "project"};
    for (int i = 0; i < 3; i++) {
        json_t *st = json_object_get(t, stages[i]);
        double s0 = json_number_value(json_object_get(st, "start_s"));
        double s1 = json_number_value(json_object_get(st, "end_s"));
        assert_true(s0 > 0 && s0 <= s1 && s1 <= total + 0.01);
    }
    assert_true(json_number_value(json_object_get(t, "overlap_s")) >= 0);
    assert_non_null(json_object_get(json_object_get(t, "throttle"), "waited_s"));
    assert_true(json_number_value(json_object_get(json_object_get(t, "cpu"), "pipeline_s")) > 0);
    /* each example program's leaderboard is the CLI's, same users in the same order */
    json_t *progs = json_object_get(rep, "programs");
    assert_true(json_array_size(progs) >= 1);
    int nonempty = 0;
    for (size_t i = 0; i < json_array_size(progs); i++) {
        const char *id = json_string_value(json_object_get(json_array_get(progs, i), "id"));
        char users[10][RF_ID_BUF];
        int n = demo_board(out1, id, users);
        nonempty += n > 0;
        assert_int_equal(rf_test_refold(tmp, OUT_MAX, 0,
                                        "leaderboard --data '%s' --program '%s' --json", dir, id),
                         0);
        json_t *cli = json_loads(tmp, 0, &jerr);
        assert_non_null(cli);
        json_t *entries = json_object_get(cli, "entries");
        assert_int_equal((int)json_array_size(entries), n);
        for (int k = 0; k < n; k++)
            assert_string_equal(
                json_string_value(json_object_get(json_array_get(entries, (size_t)k), "user")),
                users[k]);
        json_decref(cli);
    }
    assert_true(nonempty >= 1);
    json_decref(rep);

    /* the same directory again: refused, nothing touched */
    assert_int_not_equal(rf_test_refold(tmp, OUT_MAX, 1, "demo --events 1000 --data '%s'", dir), 0);
    assert_non_null(strstr(tmp, "not empty"));
    assert_int_not_equal(
        rf_test_refold(tmp, OUT_MAX, 1, "demo --events 1000 --data '%s' --continue", dir), 0);
    assert_non_null(strstr(tmp, "--continue is not supported"));
    assert_int_equal(rf_test_refold(tmp, OUT_MAX, 0, "verify --data '%s'", dir), 0);
    /* verify recorded its result for serve's /v1/ops */
    char vpath[600];
    snprintf(vpath, sizeof vpath, "%s/verify.json", dir);
    json_t *v = json_load_file(vpath, 0, NULL);
    assert_non_null(v);
    assert_true(json_is_true(json_object_get(v, "ok")));
    json_t *vp = json_object_get(v, "partitions");
    assert_true(json_array_size(vp) >= 1);
    json_int_t records = 0;
    for (size_t i = 0; i < json_array_size(vp); i++) {
        assert_true(json_is_true(json_object_get(json_array_get(vp, i), "ok")));
        records += json_integer_value(json_object_get(json_array_get(vp, i), "seq"));
    }
    assert_true(records > 0);
    json_decref(v);
}

static void test_demo_deterministic(void **state)
{
    (void)state;
    char dir_b[512], dir_c[512], h1[65], h2[65];
    snprintf(dir_b, sizeof dir_b, "%s/b", scratch);
    snprintf(dir_c, sizeof dir_c, "%s/c", scratch);
    run_demo(dir_b, 11, out1);
    run_demo(dir_c, 11, out2);
    head_of(out1, h1);
    head_of(out2, h2);
    assert_int_equal(strlen(h1), 64);
    assert_string_equal(h1, h2);
    /* --force wipes an earlier run, and refuses a directory that is not one */
    assert_int_equal(
        rf_test_refold(tmp, OUT_MAX, 1, "demo --events 2000 --data '%s' --force", dir_b), 0);
    assert_non_null(strstr(tmp, "\nverify: OK\n"));
    char stranger[600];
    snprintf(stranger, sizeof stranger, "%s/notes.txt", dir_c);
    FILE *f = fopen(stranger, "w");
    assert_non_null(f);
    fputs("keep me\n", f);
    fclose(f);
    assert_int_not_equal(
        rf_test_refold(tmp, OUT_MAX, 1, "demo --events 1000 --data '%s' --force", dir_c), 0);
    assert_non_null(strstr(tmp, "does not look like a refold data directory"));
    f = fopen(stranger, "r");
    assert_non_null(f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    rf_test_tmpdir("demo", scratch, sizeof scratch);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rf_test_rmtree(scratch);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_demo_report),
        cmocka_unit_test(test_demo_deterministic),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
