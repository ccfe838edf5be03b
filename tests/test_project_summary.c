/* test_project_summary.c: the projection's per-user period summaries ('U'
 * board entries, 'F' flags): events that go back in time (entries spilled to
 * the per-period old keys), ranks on every day board against a naive sort,
 * distinct customers per day, the store layout version check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>
#include <utime.h>

#include <rocksdb/c.h>

#include "rf_fold.h"
#include "rf_project_int.h"
#include "rf_query.h"
#include "rf_testutil.h"
#include "rf_feed.h"

#define DAY_MS 86400000LL
#define T0     1767571200000LL /* Monday 2026-01-05T00:00:00Z */
#define NDAYS  6
#define NUSERS 40
#define NRECS  3000

/* The naive board of one day: score and the seq that set it, per user. */
typedef struct ref_entry {
    int64_t score;
    uint64_t reached;
} ref_entry_t;

static ref_entry_t ref[NDAYS][NUSERS];

/* 1 + the entries that sort before user u on day d. */
static uint64_t ref_rank(int d, int u)
{
    uint64_t r = 1;
    for (int v = 0; v < NUSERS; v++) {
        if (v == u || !ref[d][v].score) continue;
        const ref_entry_t *a = &ref[d][v], *b = &ref[d][u];
        if (a->score > b->score || (a->score == b->score && a->reached < b->reached)) r++;
    }
    return r;
}

/* Rewards at random days (back and forth in time), commits in between (the
 * write-back cache is reset): each day board's ranks and top match the naive
 * board, including days whose entries were spilled to the old keys. */
static void test_boards_back_in_time(void **state)
{
    (void)state;
    feed_t f;
    feed_open(&f, "sumboards");
    memset(ref, 0, sizeof ref);
    srand(7);
    for (int i = 0; i < NRECS; i++) {
        int d = rand() % NDAYS, u = rand() % NUSERS;
        char user[16];
        snprintf(user, sizeof user, "u%02d", u);
        rf_record_t *r = rec_new(&f, RF_KIND_REWARD, T0 + d * DAY_MS + rand() % DAY_MS);
        rf_record_fact(r, RF_FACT_ROLE, "referrer");
        rf_record_fact(r, RF_FACT_REFERRER, user);
        rf_record_post(r, user, RF_BUCKET_PENDING, "USD", 100);
        rf_record_post(r, "#expense", RF_BUCKET_EXPENSE, "USD", -100);
        apply(&f, r);
        ref[d][u].score++;
        ref[d][u].reached = f.seq;
        if (rand() % 400 == 0) commit(&f);
    }
    commit(&f);
    rf_query_t *q = query_open(&f);
    for (int d = 0; d < NDAYS; d++) {
        char period[32];
        snprintf(period, sizeof period, "day:2026-01-%02d", 5 + d);
        rf_board_sel_t sel = {.program = "p", .period = period, .by = RF_BOARD_REFERRALS};
        for (int u = 0; u < NUSERS; u++) {
            char user[16];
            snprintf(user, sizeof user, "u%02d", u);
            rf_board_entry_t e;
            rf_err_t err = rf_query_rank(q, &sel, user, &e, NULL, NULL);
            if (!ref[d][u].score) {
                assert_int_equal(err, RF_ERR_NOT_FOUND);
                continue;
            }
            assert_int_equal(err, RF_OK);
            assert_int_equal(e.score, ref[d][u].score);
            assert_int_equal(e.reached_seq, ref[d][u].reached);
            assert_int_equal(e.rank, ref_rank(d, u));
        }
        rf_board_entry_t top[3];
        assert_int_equal(rf_query_top(q, &sel, 3, top, NULL, NULL), 3);
        for (int k = 0; k < 3; k++)
            assert_int_equal(top[k].rank, (uint64_t)k + 1);
        int u0 = atoi(top[0].user + 1);
        assert_int_equal(ref_rank(d, u0), 1);
    }
    rf_query_close(q);
    rf_projection_close(f.p);
    rf_test_rmtree(f.dir);
}

static int64_t jint(json_t *o, const char *path)
{
    char buf[128];
    rf_strlcpy(buf, path, sizeof buf);
    json_t *cur = o;
    for (char *save = NULL, *part = strtok_r(buf, ".", &save); part && cur;
         part = strtok_r(NULL, ".", &save))
        cur = json_object_get(cur, part);
    return cur ? json_integer_value(cur) : -1;
}

/* Distinct customers per day when purchases jump back and forth between days:
 * a customer is counted once per day, whichever day the summary holds. */
static void test_customers_back_in_time(void **state)
{
    (void)state;
    feed_t f;
    feed_open(&f, "sumflags");
    static bool seen[NDAYS][NUSERS];
    int64_t customers[NDAYS] = {0}, month = 0;
    bool seen_month[NUSERS] = {false};
    memset(seen, 0, sizeof seen);
    srand(11);
    for (int i = 0; i < NRECS; i++) {
        int d = rand() % NDAYS, u = rand() % NUSERS;
        char user[16];
        snprintf(user, sizeof user, "c%02d", u);
        rf_record_t *r = rec_new(&f, RF_KIND_PURCHASE, T0 + d * DAY_MS + rand() % DAY_MS);
        rf_record_fact(r, RF_FACT_USER, user);
        rf_record_fact(r, RF_FACT_AMOUNT, "1000");
        rf_record_fact(r, RF_FACT_CURRENCY, "USD");
        apply(&f, r);
        if (!seen[d][u]) seen[d][u] = true, customers[d]++;
        if (!seen_month[u]) seen_month[u] = true, month++;
        if (rand() % 300 == 0) commit(&f);
    }
    commit(&f);
    rf_query_t *q = query_open(&f);
    for (int d = 0; d < NDAYS; d++) {
        char period[32];
        snprintf(period, sizeof period, "day:2026-01-%02d", 5 + d);
        json_t *s = rf_query_stats_json(q, "p", period, NULL, NULL);
        assert_non_null(s);
        assert_int_equal(jint(s, "funnel.customers"), customers[d]);
        json_decref(s);
    }
    json_t *s = rf_query_stats_json(q, "p", "month:2026-01", NULL, NULL);
    assert_non_null(s);
    assert_int_equal(jint(s, "funnel.customers"), month);
    json_decref(s);
    rf_query_close(q);
    rf_projection_close(f.p);
    rf_test_rmtree(f.dir);
}

/* More keys than the write-back cache keeps across a commit
 * (RF_PROJECT_CACHE_KEEP): the commit trims the cache to its hot keys, and
 * every balance, score and rank stays right across the trims. */
static void test_cache_trim(void **state)
{
    (void)state;
    enum { USERS = 3000, REWARDS = 12000 };
    static int64_t score[USERS], paid[USERS];
    static uint64_t reached[USERS];
    memset(score, 0, sizeof score);
    memset(paid, 0, sizeof paid);
    feed_t f;
    feed_open(&f, "sumtrim");
    srand(5);
    for (int i = 0; i < REWARDS; i++) {
        int u = rand() % USERS;
        char user[16];
        snprintf(user, sizeof user, "t%04d", u);
        int64_t amount = 100 + rand() % 900;
        /* a day per 100 rewards: day slots move, entries spill */
        rf_record_t *r = rec_new(&f, RF_KIND_REWARD, T0 + (i / 100) * DAY_MS);
        rf_record_fact(r, RF_FACT_ROLE, "referrer");
        rf_record_fact(r, RF_FACT_REFERRER, user);
        rf_record_post(r, user, RF_BUCKET_PENDING, "USD", amount);
        rf_record_post(r, "#expense", RF_BUCKET_EXPENSE, "USD", -amount);
        apply(&f, r);
        score[u]++;
        reached[u] = f.seq;
        paid[u] += amount;
        if (i % 3000 == 2999) commit(&f);
    }
    commit(&f);
    rf_query_t *q = query_open(&f);
    rf_board_sel_t sel = {.program = "p", .period = "all", .by = RF_BOARD_REFERRALS};
    for (int u = 0; u < USERS; u += 7) {
        char user[16];
        snprintf(user, sizeof user, "t%04d", u);
        rf_query_balance_t b[2];
        if (!score[u]) continue;
        assert_int_equal(rf_query_balances(q, user, "p", b, 2, NULL), 1);
        assert_int_equal(b[0].buckets[RF_BUCKET_PENDING], paid[u]);
        rf_board_entry_t e;
        assert_int_equal(rf_query_rank(q, &sel, user, &e, NULL, NULL), RF_OK);
        assert_int_equal(e.score, score[u]);
        assert_int_equal(e.reached_seq, reached[u]);
        uint64_t rank = 1;
        for (int v = 0; v < USERS; v++)
            if (score[v] > score[u] ||
                (score[v] == score[u] && score[v] && reached[v] < reached[u]))
                rank++;
        assert_int_equal(e.rank, rank);
    }
    rf_query_close(q);
    rf_projection_close(f.p);
    rf_test_rmtree(f.dir);
}

/* A store of an older key layout is refused with a message that says what
 * to do, never read with the wrong layout. */
static void test_layout_version(void **state)
{
    (void)state;
    feed_t f;
    feed_open(&f, "sumversion");
    rf_record_t *r = rec_new(&f, RF_KIND_SHARE, T0);
    rf_record_fact(r, RF_FACT_REFERRER, "a");
    apply(&f, r);
    commit(&f);
    rf_projection_close(f.p);
    char path[512], *err = NULL;
    size_t vl = 0;
    snprintf(path, sizeof path, "%s/project/p-0000", f.dir);
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_t *db = rocksdb_open(o, path, &err);
    assert_null(err);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    char *v = rocksdb_get(db, ro, "m", 1, &vl, &err);
    assert_non_null(v);
    assert_int_equal((uint8_t)v[0], RF__META_VERSION);
    v[0] = 1; /* the layout before the per-user summaries */
    rocksdb_put(db, wo, "m", 1, v, vl, &err);
    assert_null(err);
    free(v);
    rocksdb_writeoptions_destroy(wo);
    rocksdb_readoptions_destroy(ro);
    rocksdb_close(db);
    rocksdb_options_destroy(o);
    rf_errbuf_t eb = {{0}};
    f.p = rf_projection_open(f.dir, 0, 0, &eb);
    assert_null(f.p);
    assert_non_null(strstr(eb.msg, "key layout version 1"));
    assert_non_null(strstr(eb.msg, "rebuild"));
    rf_test_rmtree(f.dir);
}

/* mkdir DIR/NAME, its mtime age_s seconds ago */
static void scratch_dir(const char *dir, const char *name, int age_s)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(mkdir(path, 0700), 0);
    struct utimbuf t = {.actime = time(NULL) - age_s, .modtime = time(NULL) - age_s};
    assert_int_equal(utime(path, &t), 0);
}

static bool exists(const char *dir, const char *name)
{
    char path[1024];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

/* Counts DIR's entries starting with prefix. */
static int count_prefix(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

/* A follower's secondary instances keep scratch dirs under $TMPDIR named
 * with its pid, removed on close; a killed process leaves its own, and the
 * next follower removes those of processes that are gone and untouched for
 * RF_QUERY_SCRATCH_STALE_S, never a live process's or a recent one. */
static void test_scratch_sweep(void **state)
{
    (void)state;
    feed_t f;
    feed_open(&f, "sumscratch");
    rf_record_t *r = rec_new(&f, RF_KIND_SHARE, T0);
    rf_record_fact(r, RF_FACT_REFERRER, "a");
    apply(&f, r);
    commit(&f);
    rf_projection_close(f.p);
    char tmp[600], name[3][64], mine[64];
    snprintf(tmp, sizeof tmp, "%s/tmp", f.dir);
    assert_int_equal(mkdir(tmp, 0700), 0);
    pid_t dead = fork(); /* a pid that is gone */
    assert_true(dead >= 0);
    if (dead == 0) _exit(0);
    assert_int_equal(waitpid(dead, NULL, 0), dead);
    snprintf(name[0], sizeof name[0], "refold-secondary-%ld-aaaaaa", (long)dead);
    snprintf(name[1], sizeof name[1], "refold-secondary-%ld-bbbbbb", (long)dead);
    snprintf(name[2], sizeof name[2], "refold-secondary-%ld-cccccc", (long)getppid());
    scratch_dir(tmp, name[0], RF_QUERY_SCRATCH_STALE_S + 60); /* gone, old: removed */
    scratch_dir(tmp, name[1], 0);                             /* gone, recent: kept */
    scratch_dir(tmp, name[2], RF_QUERY_SCRATCH_STALE_S + 60); /* alive: kept */
    const char *old_tmp = getenv("TMPDIR");
    char *saved = old_tmp ? strdup(old_tmp) : NULL;
    setenv("TMPDIR", tmp, 1);
    rf_errbuf_t eb = {{0}};
    rf_query_t *q = rf_query_open(f.dir, RF_QUERY_FOLLOW, &eb);
    if (!q) fail_msg("open: %s", eb.msg);
    assert_false(exists(tmp, name[0]));
    assert_true(exists(tmp, name[1]));
    assert_true(exists(tmp, name[2]));
    snprintf(mine, sizeof mine, "refold-secondary-%ld-", (long)getpid());
    assert_int_equal(count_prefix(tmp, mine), 1); /* partition 0's, named with our pid */
    rf_query_close(q);
    assert_int_equal(count_prefix(tmp, mine), 0); /* removed on close */
    if (saved) {
        setenv("TMPDIR", saved, 1);
        free(saved);
    } else {
        unsetenv("TMPDIR");
    }
    rf_test_rmtree(f.dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boards_back_in_time), cmocka_unit_test(test_customers_back_in_time),
        cmocka_unit_test(test_cache_trim),          cmocka_unit_test(test_layout_version),
        cmocka_unit_test(test_scratch_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
