/* it_multihost_stale.c: the multi-host guarantees that need no network
 * namespaces (tests/multihost/run.sh has the rest, as root): a projection
 * replica (--replica, every partition, no group) answers as a group-mode
 * projection; a fold ledger rebuilt from offset 0 and a stale ledger that
 * comes back both catch up with their outbox held, end at the same heads,
 * and refold.ledger holds every record exactly once (docs/operations.md,
 * "Several hosts"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_broker.h"
#include "rf_testutil.h"

#define NPART 8

static char out[1 << 18], out2[1 << 18];

static long sum_seqs(const char *heads)
{
    long n = 0;
    for (const char *s = heads; (s = strstr(s, " seq=")); s += 5)
        n += strtol(s + 5, NULL, 10);
    return n;
}

static void loadgen(const char *b, int events, int seed)
{
    int rc = rf_test_refold(out, sizeof out, 1,
                            "loadgen --brokers %s --events %d --programs 8 --referrers 100 "
                            "--seed %d --start 2026-0%d-01T00:00:00Z --no-throttle",
                            b, events, seed, seed);
    assert_int_equal(rc, 0);
}

static void fold(const char *b, const char *dir, const char *group, char *log, size_t cap)
{
    int rc = rf_test_refold(log, cap, 1, "fold --brokers %s --data %s --group %s --exit-at-end", b,
                            dir, group);
    if (rc != 0) fprintf(stderr, "%s\n", log);
    assert_int_equal(rc, 0);
}

static void heads(const char *dir, char *buf, size_t cap)
{
    assert_int_equal(rf_test_refold(buf, cap, 0, "head --data %s", dir), 0);
}

static void test_stale_and_rebuilt(void **state)
{
    (void)state;
    rf_errbuf_t eb = {{0}};
    rf_broker_t *br = rf_broker_start(NPART, 1, &eb);
    assert_non_null(br);
    const char *b = rf_broker_bootstraps(br);
    char dir[256], a[300], nb[300], rep[300], grp[300];
    rf_test_tmpdir("multihost", dir, sizeof dir);
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(nb, sizeof nb, "%s/b", dir);
    snprintf(rep, sizeof rep, "%s/replica", dir);
    snprintf(grp, sizeof grp, "%s/group", dir);

    loadgen(b, 4000, 1);
    fold(b, a, "ga", out, sizeof out); /* host a folds everything so far */
    loadgen(b, 3000, 2);
    /* host b has no state: rebuilds from offset 0, holding its outbox until
     * it reaches what a published, then publishes only the rest */
    fold(b, nb, "gb", out, sizeof out);
    assert_non_null(strstr(out, "is behind 'refold.ledger'"));
    assert_non_null(strstr(out, "equals 'refold.ledger''s"));
    loadgen(b, 2000, 3);
    fold(b, nb, "gb", out, sizeof out);
    /* host a comes back with its stale store: catches up, publishes nothing
     * b published */
    fold(b, a, "ga", out, sizeof out);
    assert_non_null(strstr(out, "is behind 'refold.ledger'"));
    assert_non_null(strstr(out, "equals 'refold.ledger''s"));
    heads(a, out, sizeof out);
    heads(nb, out2, sizeof out2);
    assert_string_equal(out, out2);
    /* every seq of every partition published once: no rebuilt prefix again */
    long records = sum_seqs(out);
    assert_true(records > 9000);
    assert_int_equal(rf_test_topic_count(b, "refold.ledger"), records);

    /* a replica (no group) and a group-mode projection give the same answers */
    assert_int_equal(rf_test_refold(out, sizeof out, 1,
                                    "project --replica --brokers %s --data %s --exit-at-end", b,
                                    rep),
                     0);
    assert_non_null(strstr(out, "dropped 0 duplicates"));
    assert_int_equal(rf_test_refold(out, sizeof out, 1,
                                    "project --brokers %s --data %s --group g-proj --exit-at-end",
                                    b, grp),
                     0);
    const char *queries[][2] = {{"stats", "--program lg-p1"},
                                {"leaderboard", "--program lg-p2 --json"},
                                {"stats", "--program lg-p5"}};
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        assert_int_equal(rf_test_refold(out, sizeof out, 1, "%s --data %s %s", queries[i][0], rep,
                                        queries[i][1]),
                         0);
        assert_int_equal(rf_test_refold(out2, sizeof out2, 1, "%s --data %s %s", queries[i][0], grp,
                                        queries[i][1]),
                         0);
        assert_string_equal(out, out2);
    }
    rf_broker_stop(br);
    rf_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_stale_and_rebuilt)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
