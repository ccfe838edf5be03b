/* test_readmodels.c: the projection's read models, fed records directly (no
 * Kafka): periods, leaderboard order and rank against a naive sort, balances,
 * funnel stats against hand-computed values, duplicates and gaps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_fold.h"
#include "rf_project_int.h"
#include "rf_query.h"
#include "rf_testutil.h"
#include "rf_feed.h"

#define DAY_MS       86400000LL
#define T_2026_01_05 1767571200000LL /* Monday 2026-01-05T00:00:00Z */

/* ---- record builders ---------------------------------------------------- */

static void reward(feed_t *f, int64_t t, const char *role, const char *referrer,
                   const char *friend_, const char *asset, int64_t amount)
{
    rf_record_t *r = rec_new(f, RF_KIND_REWARD, t);
    rf_record_fact(r, RF_FACT_ROLE, role);
    rf_record_fact(r, RF_FACT_REFERRER, referrer);
    if (friend_) rf_record_fact(r, RF_FACT_FRIEND, friend_);
    const char *owner = strcmp(role, "friend") == 0 ? friend_ : referrer;
    rf_record_post(r, owner, RF_BUCKET_PENDING, asset, amount);
    rf_record_post(r, "#expense", RF_BUCKET_EXPENSE, asset, -amount);
    apply(f, r);
}

static void void_reward(feed_t *f, int64_t t, uint64_t reverses, const char *owner,
                        const char *asset, int64_t amount)
{
    rf_record_t *r = rec_new(f, RF_KIND_VOID, t);
    rf_record_factf(r, RF_FACT_REVERSES, "%llu", (unsigned long long)reverses);
    rf_record_post(r, owner, RF_BUCKET_PENDING, asset, -amount);
    rf_record_post(r, "#expense", RF_BUCKET_EXPENSE, asset, amount);
    apply(f, r);
}

static void simple(feed_t *f, const char *kind, int64_t t, const char *k1, const char *v1,
                   const char *k2, const char *v2, const char *k3, const char *v3)
{
    rf_record_t *r = rec_new(f, kind, t);
    if (k1) rf_record_fact(r, k1, v1);
    if (k2) rf_record_fact(r, k2, v2);
    if (k3) rf_record_fact(r, k3, v3);
    apply(f, r);
}

static void purchase(feed_t *f, int64_t t, const char *user, int64_t amount, bool referred)
{
    rf_record_t *r = rec_new(f, RF_KIND_PURCHASE, t);
    rf_record_fact(r, RF_FACT_USER, user);
    rf_record_factf(r, RF_FACT_AMOUNT, "%lld", (long long)amount);
    rf_record_fact(r, RF_FACT_CURRENCY, "USD");
    if (referred) rf_record_fact(r, RF_FACT_REFERRED, "1");
    apply(f, r);
}

/* ---- periods ------------------------------------------------------------ */

static void test_periods(void **state)
{
    (void)state;
    char txt[RF__PERIOD_TEXT_MAX];
    rf__period_t p = rf__pj_period_of(RF__P_DAY, T_2026_01_05 + 5 * 3600 * 1000LL);
    assert_int_equal(p.value, 20260105);
    assert_int_equal(rf__pj_period_of(RF__P_WEEK, T_2026_01_05).value, 202602);
    assert_int_equal(rf__pj_period_of(RF__P_WEEK, T_2026_01_05 - 1).value, 202601); /* Sunday */
    assert_int_equal(rf__pj_period_of(RF__P_MONTH, T_2026_01_05).value, 202601);
    /* ISO weeks across year boundaries */
    struct {
        int y, m, d;
        uint32_t week;
    } cases[] = {{2024, 12, 30, 202501}, {2021, 1, 3, 202053},   {2027, 1, 1, 202653},
                 {2026, 12, 31, 202653}, {2020, 12, 31, 202053}, {2019, 12, 30, 202001},
                 {2016, 1, 3, 201553},   {2023, 1, 1, 202252},   {2023, 1, 2, 202301}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t ms = rf_days_from_civil(cases[i].y, cases[i].m, cases[i].d) * DAY_MS + 43200000;
        assert_int_equal(rf__pj_period_of(RF__P_WEEK, ms).value, cases[i].week);
    }
    /* parse / format round trips and refusals */
    const char *good[] = {"all",           "day:2026-01-05", "week:2026-W02",
                          "week:2020-W53", "month:2026-12",  "day:2024-02-29"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(rf__pj_period_parse(good[i], 0, &p, NULL), RF_OK);
        rf__pj_period_format(p, txt);
        assert_string_equal(txt, good[i]);
    }
    const char *bad[] = {"",
                         "al",
                         "day:2026-02-30",
                         "day:2025-02-29",
                         "week:2025-W53",
                         "week:2026-W00",
                         "month:2026-13",
                         "day:2026-1-5",
                         "week:2026W02",
                         "day:2026-01-05x",
                         "month:",
                         "decade"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(rf__pj_period_parse(bad[i], 0, &p, NULL), RF_ERR_BAD_INPUT);
    assert_int_equal(rf__pj_period_parse("week", T_2026_01_05, &p, NULL), RF_OK);
    rf__pj_period_format(p, txt);
    assert_string_equal(txt, "week:2026-W02");
}

/* SK order = (score desc, reached asc) for random pairs, incl. extremes. */
static void test_sk_order(void **state)
{
    (void)state;
    srand(7);
    for (int i = 0; i < 200000; i++) {
        int64_t s1 = rand() % 4 == 0 ? (int64_t)rand() * rand() : rand() % 300;
        int64_t s2 = rand() % 2 ? s1 : (rand() % 4 == 0 ? (int64_t)rand() << 20 : rand() % 300);
        uint64_t r1 = (uint64_t)rand() % 100000 + 1, r2 = rand() % 2 ? r1 : (uint64_t)rand() + 1;
        if (i == 0) s1 = INT64_MAX, s2 = 0, r1 = UINT64_MAX, r2 = 1;
        uint8_t a[RF__SK_MAX], b[RF__SK_MAX];
        size_t la = rf__pj_sk_encode(s1, r1, a), lb = rf__pj_sk_encode(s2, r2, b);
        int c = memcmp(a, b, la < lb ? la : lb);
        if (c == 0) c = la < lb ? -1 : la > lb ? 1 : 0;
        int want = s1 != s2 ? (s1 > s2 ? -1 : 1) : (r1 < r2 ? -1 : r1 > r2 ? 1 : 0);
        assert_int_equal(c < 0 ? -1 : c > 0 ? 1 : 0, want);
        int64_t ds;
        uint64_t dr;
        assert_int_equal(rf__pj_sk_decode(a, la, &ds, &dr), la);
        assert_true(ds == s1 && dr == r1);
    }
}

/* ---- leaderboards against a naive reference ------------------------------ */

#define NUSERS   300
#define NREWARDS 4000

typedef struct ref_entry {
    char user[16];
    int64_t score;
    uint64_t reached;
} ref_entry_t;

static int ref_cmp(const void *a, const void *b)
{
    const ref_entry_t *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    if (x->reached != y->reached) return x->reached < y->reached ? -1 : 1;
    return strcmp(x->user, y->user);
}

/* The reference: scores per user of one board, as plain arrays. */
typedef struct ref_board {
    int64_t score[NUSERS];
    uint64_t reached[NUSERS];
    bool on[NUSERS];
} ref_board_t;

static void ref_bump(ref_board_t *b, int u, int64_t delta, uint64_t seq)
{
    if (b->on[u] && delta == 0) return;
    b->score[u] += delta;
    b->reached[u] = seq;
    b->on[u] = true;
}

static int ref_sorted(const ref_board_t *b, ref_entry_t *out)
{
    int n = 0;
    for (int u = 0; u < NUSERS; u++) {
        if (!b->on[u]) continue;
        snprintf(out[n].user, sizeof out[n].user, "u%03d", u);
        out[n].score = b->score[u] < 0 ? 0 : b->score[u];
        out[n].reached = b->reached[u];
        n++;
    }
    qsort(out, (size_t)n, sizeof *out, ref_cmp);
    return n;
}

static void check_board(rf_query_t *q, const char *period, rf_board_by_t by, const ref_board_t *b)
{
    static ref_entry_t want[NUSERS];
    static rf_board_entry_t got[NUSERS];
    rf_errbuf_t eb = {{0}};
    rf_board_sel_t sel = {.program = "p", .period = period, .by = by, .asset = NULL};
    rf_board_info_t info;
    int n = ref_sorted(b, want);
    int k = rf_query_top(q, &sel, NUSERS, got, &info, &eb);
    if (k < 0) fprintf(stderr, "top %s: %s\n", period, eb.msg);
    assert_int_equal(k, n);
    assert_int_equal(info.users, (uint64_t)n);
    for (int i = 0; i < n; i++) {
        assert_string_equal(got[i].user, want[i].user);
        assert_int_equal(got[i].score, want[i].score);
        rf_board_entry_t e;
        assert_int_equal(rf_query_rank(q, &sel, want[i].user, &e, NULL, &eb), RF_OK);
        assert_int_equal(e.rank, (uint64_t)i + 1); /* rank == position in the naive sort */
        assert_int_equal(e.score, want[i].score);
    }
    rf_board_entry_t e;
    assert_int_equal(rf_query_rank(q, &sel, "nobody", &e, NULL, &eb), RF_ERR_NOT_FOUND);
}

static void test_leaderboards(void **state)
{
    (void)state;
    feed_t f;
    feed_open(&f, "boards");
    static ref_board_t ref_all, ref_day, ref_week, ref_month, val_all, val_week;
    static int64_t amount_of[NREWARDS * 2];
    static int user_of[NREWARDS * 2];
    static int64_t time_of[NREWARDS * 2];
    const int64_t t0 = T_2026_01_05 - 3 * DAY_MS; /* Friday 2026-01-02: spans weeks/months */
    srand(42);
    for (int i = 0; i < NREWARDS; i++) {
        /* few distinct referral counts: many ties, broken by who got there first */
        int u = rand() % 7 == 0 ? rand() % 5 : rand() % NUSERS;
        int64_t t = t0 + (int64_t)i * (6 * DAY_MS / NREWARDS) - 2 * DAY_MS; /* Dec 31 .. Jan 6 */
        char user[16];
        snprintf(user, sizeof user, "u%03d", u);
        int64_t amount = 100 * (1 + rand() % 20);
        bool bonus = rand() % 10 == 0;
        reward(&f, t, bonus ? "milestone" : "referrer", user, "friend", "USD", amount);
        uint64_t seq = f.seq;
        user_of[seq] = u, amount_of[seq] = amount, time_of[seq] = t;
        if (!bonus) {
            ref_bump(&ref_all, u, 1, seq);
            if (rf__pj_period_of(RF__P_DAY, t).value == 20260105) ref_bump(&ref_day, u, 1, seq);
            if (rf__pj_period_of(RF__P_WEEK, t).value == 202602) ref_bump(&ref_week, u, 1, seq);
            if (rf__pj_period_of(RF__P_MONTH, t).value == 202601) ref_bump(&ref_month, u, 1, seq);
        }
        ref_bump(&val_all, u, amount, seq);
        if (rf__pj_period_of(RF__P_WEEK, t).value == 202602) ref_bump(&val_week, u, amount, seq);
        if (i % 9 == 8) { /* void an earlier reward in part: booked in ITS periods */
            uint64_t rs = seq - (uint64_t)(rand() % 8);
            int64_t part = amount_of[rs] / 2;
            char ru[16];
            snprintf(ru, sizeof ru, "u%03d", user_of[rs]);
            void_reward(&f, t, rs, ru, "USD", part);
            amount_of[rs] -= part;
            ref_bump(&val_all, user_of[rs], -part, f.seq);
            if (rf__pj_period_of(RF__P_WEEK, time_of[rs]).value == 202602)
                ref_bump(&val_week, user_of[rs], -part, f.seq);
        }
        if (rand() % 500 == 0) commit(&f); /* boards survive commits and cache resets */
    }
    commit(&f);
    rf_query_t *q = query_open(&f);
    check_board(q, "all", RF_BOARD_REFERRALS, &ref_all);
    check_board(q, "day:2026-01-05", RF_BOARD_REFERRALS, &ref_day);
    check_board(q, "week:2026-W02", RF_BOARD_REFERRALS, &ref_week);
    check_board(q, "month:2026-01", RF_BOARD_REFERRALS, &ref_month);
    check_board(q, "all", RF_BOARD_VALUE, &val_all);
    check_board(q, "week:2026-W02", RF_BOARD_VALUE, &val_week);
    rf_query_close(q);
    feed_close(&f);
}

/* Ranks on a board whose reached seqs span 1..~78,000: full rank nodes (256
 * prefixes), order keys of two reached lengths (seq below and above 65,536)
 * side by side, entries leaving nodes as scores grow, commits in between. */
static void test_rank_deep(void **state)
{
    (void)state;
    feed_t f;
    feed_open(&f, "rankdeep");
    static ref_board_t ref;
    memset(&ref, 0, sizeof ref);
    srand(7);
    for (int i = 0; i < 1200; i++) {
        int u = i < NUSERS ? i : rand() % NUSERS; /* everyone once, then a few more */
        char user[16];
        snprintf(user, sizeof user, "u%03d", u);
        reward(&f, T_2026_01_05, "referrer", user, "friend", "USD", 100);
        ref_bump(&ref, u, 1, f.seq);
        int gap = i < NUSERS ? 200 + rand() % 100 : rand() % 3; /* spread reached bytes */
        for (int g = 0; g < gap; g++)
            apply(&f, rec_new(&f, RF_KIND_CLOCK, T_2026_01_05));
        if (i % 97 == 96) commit(&f);
    }
    commit(&f);
    assert_true(f.seq > 70000);
    rf_query_t *q = query_open(&f);
    check_board(q, "all", RF_BOARD_REFERRALS, &ref);
    rf_query_close(q);
    feed_close(&f);
}

/* Pipelined commits (rf_projection_commit_start, as the worker's appliers
 * do): records keep updating keys whose batch is still being written, the
 * cache is trimmed (more than RF_PROJECT_CACHE_KEEP keys) between batches,
 * and close waits for the last batch: every balance must come out exact. */
typedef struct bal_check {
    int users_ok, users_bad;
    int64_t adjustment;
} bal_check_t;

static int bal_cb(const char *program, const char *owner, const char *asset,
                  const int64_t b[RF_BUCKET__COUNT], void *opaque)
{
    bal_check_t *c = opaque;
    (void)program;
    (void)asset;
    if (!strcmp(owner, "#adjustment"))
        c->adjustment = b[RF_BUCKET_ADJUSTMENT];
    else if (b[RF_BUCKET_AVAILABLE] == 3)
        c->users_ok++;
    else
        c->users_bad++;
    return 0;
}

static void test_commit_pipelined(void **state)
{
    (void)state;
    enum { NU = RF_PROJECT_CACHE_KEEP + 5000 };
    feed_t f;
    feed_open(&f, "pipelined");
    rf_errbuf_t eb = {{0}};
    char user[24];
    for (int pass = 1; pass <= 2; pass++) {
        for (int u = 0; u < NU; u++) {
            rf_record_t *r = rec_new(&f, RF_KIND_ADJUSTMENT, T_2026_01_05);
            snprintf(user, sizeof user, "u%d", u);
            rf_record_post(r, user, RF_BUCKET_AVAILABLE, "USD", pass);
            rf_record_post(r, "#adjustment", RF_BUCKET_ADJUSTMENT, "USD", -pass);
            apply(&f, r);
            if (f.seq % 3000 == 0)
                assert_int_equal(rf_projection_commit_start(f.p, (int64_t)f.seq + 1, -1, &eb),
                                 RF_OK);
        }
    }
    assert_int_equal(rf_projection_commit_start(f.p, (int64_t)f.seq + 1, -1, &eb), RF_OK);
    rf_projection_close(f.p); /* waits for the batch in flight */
    f.p = rf_projection_open(f.dir, 0, 0, &eb);
    assert_non_null(f.p);
    rf_projection_meta_t m;
    rf_projection_get_meta(f.p, &m);
    assert_int_equal(m.applied_seq, f.seq);
    assert_int_equal(m.next_offset, (int64_t)f.seq + 1);
    rf_query_t *q = query_open(&f);
    bal_check_t c = {0};
    assert_int_equal(rf_query_scan_balances(q, bal_cb, &c, &eb), RF_OK);
    assert_int_equal(c.users_ok, NU);
    assert_int_equal(c.users_bad, 0);
    assert_int_equal(c.adjustment, -3LL * NU);
    rf_query_close(q);
    feed_close(&f);
}

/* Ties: equal scores rank by who reached the score first, whatever the ids. */
static void test_tie_break(void **state)
{
    (void)state;
    feed_t f;
    feed_open(&f, "ties");
    reward(&f, T_2026_01_05, "referrer", "zed", "f1", "USD", 100); /* zed 1 @1 */
    reward(&f, T_2026_01_05, "referrer", "amy", "f2", "USD", 100); /* amy 1 @2 */
    reward(&f, T_2026_01_05, "referrer", "bob", "f3", "USD", 100); /* bob 1 @3 */
    reward(&f, T_2026_01_05, "referrer", "bob", "f4", "USD", 100); /* bob 2 @4 */
    reward(&f, T_2026_01_05, "referrer", "amy", "f5", "USD", 100); /* amy 2 @5 */
    commit(&f);
    rf_query_t *q = query_open(&f);
    rf_board_sel_t sel = {.program = "p", .period = "all", .by = RF_BOARD_REFERRALS};
    rf_board_entry_t e[3];
    assert_int_equal(rf_query_top(q, &sel, 3, e, NULL, NULL), 3);
    assert_string_equal(e[0].user, "bob"); /* reached 2 first */
    assert_string_equal(e[1].user, "amy");
    assert_string_equal(e[2].user, "zed");
    assert_int_equal(e[0].reached_seq, 4);
    rf_board_entry_t r;
    assert_int_equal(rf_query_rank(q, &sel, "zed", &r, NULL, NULL), RF_OK);
    assert_int_equal(r.rank, 3);
    rf_query_close(q);
    feed_close(&f);
}

/* ---- balances ---------------------------------------------------------- */

static void test_balances(void **state)
{
    (void)state;
    feed_t f;
    feed_open(&f, "bal");
    reward(&f, T_2026_01_05, "referrer", "alice", "carol", "USD", 1000);
    reward(&f, T_2026_01_05, "friend", "alice", "carol", "USD", 500);
    rf_record_t *r = rec_new(&f, RF_KIND_MATURED, T_2026_01_05 + DAY_MS);
    rf_record_post(r, "alice", RF_BUCKET_PENDING, "USD", -1000);
    rf_record_post(r, "alice", RF_BUCKET_AVAILABLE, "USD", 1000);
    apply(&f, r);
    r = rec_new(&f, RF_KIND_REDEMPTION, T_2026_01_05 + 2 * DAY_MS);
    rf_record_post(r, "alice", RF_BUCKET_AVAILABLE, "USD", -400);
    rf_record_post(r, "alice", RF_BUCKET_REDEEMED, "USD", 400);
    apply(&f, r);
    reward(&f, T_2026_01_05, "referrer", "alice", "dan", "POINTS", 50);
    /* another program on the same partition: the wallet sums both */
    r = rec_new(&f, RF_KIND_ADJUSTMENT, T_2026_01_05);
    rf_strlcpy(r->program_id, "q", sizeof r->program_id);
    rf_record_post(r, "alice", RF_BUCKET_AVAILABLE, "USD", 250);
    rf_record_post(r, "#adjustment", RF_BUCKET_ADJUSTMENT, "USD", -250);
    apply(&f, r);
    commit(&f);
    rf_query_t *q = query_open(&f);
    rf_query_balance_t rows[8], tot[8];
    rf_errbuf_t eb = {{0}};
    int n = rf_query_balances(q, "alice", "p", rows, 8, &eb);
    assert_int_equal(n, 2); /* POINTS, USD (key order) */
    assert_string_equal(rows[1].asset, "USD");
    assert_int_equal(rows[1].buckets[RF_BUCKET_PENDING], 0);
    assert_int_equal(rows[1].buckets[RF_BUCKET_AVAILABLE], 600);
    assert_int_equal(rows[1].buckets[RF_BUCKET_REDEEMED], 400);
    assert_int_equal(rows[0].buckets[RF_BUCKET_PENDING], 50);
    n = rf_query_balances(q, "alice", NULL, rows, 8, &eb);
    assert_int_equal(n, 3);
    int nt = rf_query_balance_totals(rows, n, tot, 8);
    assert_int_equal(nt, 2);
    for (int i = 0; i < nt; i++)
        if (!strcmp(tot[i].asset, "USD"))
            assert_int_equal(tot[i].buckets[RF_BUCKET_AVAILABLE], 850);
    assert_int_equal(rf_query_balances(q, "carol", "p", rows, 8, &eb), 1);
    assert_int_equal(rows[0].buckets[RF_BUCKET_PENDING], 500);
    assert_int_equal(rf_query_balances(q, "nobody", NULL, rows, 8, &eb), 0);
    /* program accounts: the expense account mirrors the rewards */
    assert_int_equal(rf_query_balances(q, "#expense", "p", rows, 8, &eb), 2);
    assert_int_equal(rows[1].buckets[RF_BUCKET_EXPENSE], -1500);
    rf_query_close(q);
    feed_close(&f);
}

/* ---- funnel stats: a small story with its numbers worked out by hand ------ */

static int64_t jint(json_t *o, const char *path)
{
    char buf[128];
    rf_strlcpy(buf, path, sizeof buf);
    json_t *cur = o;
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".", &save))
        cur = json_object_get(cur, tok);
    if (!json_is_integer(cur)) fprintf(stderr, "missing %s\n", path);
    assert_true(json_is_integer(cur));
    return (int64_t)json_integer_value(cur);
}

static const char *jstr(json_t *o, const char *a, const char *b, const char *c)
{
    json_t *v = json_object_get(json_object_get(o, a), b);
    if (c) v = json_object_get(v, c);
    return json_is_string(v) ? json_string_value(v) : "(null)";
}

static void story(feed_t *f)
{
    const int64_t t = T_2026_01_05 + 3600000;
    simple(f, RF_KIND_CODE, t, RF_FACT_REFERRER, "alice", RF_FACT_CODE, "ALICE1", 0, 0);
    simple(f, RF_KIND_CODE, t, RF_FACT_REFERRER, "bob", RF_FACT_CODE, "BOB1", 0, 0);
    simple(f, RF_KIND_SHARE, t, RF_FACT_REFERRER, "alice", RF_FACT_CHANNEL, "email", 0, 0);
    simple(f, RF_KIND_SHARE, t, RF_FACT_REFERRER, "bob", RF_FACT_CHANNEL, "social", 0, 0);
    simple(f, RF_KIND_SHARE, t, RF_FACT_REFERRER, "alice", RF_FACT_CHANNEL, "sms", 0, 0);
    simple(f, RF_KIND_CLICK, t, RF_FACT_CODE, "ALICE1", 0, 0, 0, 0); /* -> sms (last share) */
    simple(f, RF_KIND_CLICK, t, RF_FACT_CODE, "BOB1", 0, 0, 0, 0);   /* -> social */
    simple(f, RF_KIND_CLICK, t, RF_FACT_CODE, "NOPE", 0, 0, 0, 0);   /* organic */
    simple(f, RF_KIND_SIGNUP, t, RF_FACT_USER, "carol", RF_FACT_REFERRER, "alice", RF_FACT_REFERRED,
           "1");
    simple(f, RF_KIND_SIGNUP, t, RF_FACT_USER, "dave", 0, 0, 0, 0);
    rf_record_t *erin = rec_new(f, RF_KIND_SIGNUP, t); /* attributed, held for review */
    rf_record_fact(erin, RF_FACT_USER, "erin");
    rf_record_fact(erin, RF_FACT_REFERRER, "bob");
    rf_record_fact(erin, RF_FACT_REFERRED, "1");
    rf_record_fact(erin, RF_FACT_CHECKS, "self_referral=pass,velocity=fail:review");
    apply(f, erin);
    purchase(f, t, "carol", 5000, true);
    purchase(f, t, "dave", 3000, false);
    purchase(f, t, "alice", 2000, false); /* alice: a customer holding a code */
    purchase(f, t, "carol", 1000, true);
    reward(f, t, "referrer", "alice", "carol", "USD", 1000); /* alice now referred someone */
    reward(f, t, "friend", "alice", "carol", "USD", 500);
    purchase(f, t + DAY_MS, "erin", 4000, true); /* next day */
    reward(f, t + DAY_MS, "referrer", "bob", "erin", "USD", 1000);
    void_reward(f, t + DAY_MS, f->seq, "bob", "USD", 1000);
    simple(f, RF_KIND_REJECTED, t + DAY_MS, RF_FACT_CHECKS,
           "self_referral=fail:reject,ip_cluster=pass", RF_FACT_REASON, "self referral", 0, 0);
    /* the review record repeats the signup's checks: not counted twice */
    simple(f, RF_KIND_REVIEW, t + DAY_MS, RF_FACT_CHECKS, "velocity=fail:review", 0, 0, 0, 0);
}

static void test_stats(void **state)
{
    (void)state;
    feed_t f;
    feed_open(&f, "stats");
    story(&f);
    commit(&f);
    rf_query_t *q = query_open(&f);
    rf_err_t err;
    rf_errbuf_t eb = {{0}};
    json_t *s = rf_query_stats_json(q, "p", "all", &err, &eb);
    assert_non_null(s);
    assert_int_equal(jint(s, "funnel.shares"), 3);
    assert_int_equal(jint(s, "funnel.clicks"), 3);
    assert_int_equal(jint(s, "funnel.signups"), 3);
    assert_int_equal(jint(s, "funnel.attributed_signups"), 2);
    assert_int_equal(jint(s, "funnel.purchases"), 5);
    assert_int_equal(jint(s, "funnel.revenue.USD"), 15000);
    assert_int_equal(jint(s, "funnel.referred_purchases"), 3);
    assert_int_equal(jint(s, "funnel.referred_revenue.USD"), 10000);
    assert_int_equal(jint(s, "funnel.customers"), 4);
    assert_int_equal(jint(s, "funnel.referred_customers"), 2);
    assert_int_equal(jint(s, "funnel.customers_with_code"), 1);
    assert_int_equal(jint(s, "funnel.customers_referring"), 1);
    assert_int_equal(jint(s, "funnel.referrers"), 2);
    assert_int_equal(jint(s, "funnel.repeat_referrers"), 0);
    assert_int_equal(jint(s, "funnel.rewards"), 3);
    assert_int_equal(jint(s, "funnel.successful_referrals"), 2);
    assert_int_equal(jint(s, "funnel.friend_rewards"), 1);
    assert_int_equal(jint(s, "funnel.reward_cost.USD"), 1500); /* 1000 + 500 + 1000 - 1000 */
    assert_int_equal(jint(s, "funnel.voids"), 1);
    assert_int_equal(jint(s, "funnel.rejected"), 1);
    assert_int_equal(jint(s, "funnel.codes_issued"), 2);
    assert_int_equal(jint(s, "fraud.rejections.self_referral"), 1);
    assert_int_equal(jint(s, "fraud.reviews.velocity"), 1);
    assert_string_equal(jstr(s, "rates", "conversion_rate", NULL), "1.0000");
    assert_string_equal(jstr(s, "rates", "referral_rate", NULL), "0.2500");
    assert_string_equal(jstr(s, "rates", "participation_rate", NULL), "0.2500");
    assert_string_equal(jstr(s, "per_currency", "USD", "roi"), "6.6667"); /* 10000 / 1500 */
    assert_string_equal(jstr(s, "per_currency", "USD", "cac"), "750.00");
    assert_string_equal(jstr(s, "per_currency", "USD", "average_order_value"), "3000.00");
    assert_string_equal(jstr(s, "per_currency", "USD", "not_referred_average_order_value"),
                        "2500.00");
    assert_int_equal(jint(s, "referred_vs_not.not_referred.customers"), 2);
    assert_int_equal(jint(s, "referred_vs_not.not_referred.revenue.USD"), 5000);
    /* channels: sms (alice's last share), social (bob), email (a share only) */
    assert_int_equal(jint(s, "channels.sms.clicks"), 1);
    assert_int_equal(jint(s, "channels.sms.attributed_signups"), 1);
    assert_int_equal(jint(s, "channels.sms.referred_purchases"), 2);
    assert_int_equal(jint(s, "channels.sms.referred_revenue.USD"), 6000);
    assert_int_equal(jint(s, "channels.sms.rewards"), 2);
    assert_int_equal(jint(s, "channels.sms.reward_cost.USD"), 1500);
    assert_int_equal(jint(s, "channels.social.referred_revenue.USD"), 4000);
    assert_int_equal(jint(s, "channels.social.voids"), 1);
    assert_null(json_object_get(json_object_get(json_object_get(s, "channels"), "social"),
                                "reward_cost")); /* voided: nets to zero */
    assert_int_equal(jint(s, "channels.email.shares"), 1);
    json_decref(s);
    /* the next day holds only erin's purchase and bob's (voided) reward */
    s = rf_query_stats_json(q, "p", "day:2026-01-06", &err, &eb);
    assert_non_null(s);
    assert_int_equal(jint(s, "funnel.purchases"), 1);
    assert_int_equal(jint(s, "funnel.customers"), 1);
    assert_int_equal(jint(s, "funnel.shares"), 0);
    assert_string_equal(json_string_value(json_object_get(s, "period")), "day:2026-01-06");
    json_decref(s);
    s = rf_query_stats_json(q, "nope", "all", &err, &eb);
    assert_null(s);
    assert_int_equal(err, RF_ERR_NOT_FOUND);
    s = rf_query_stats_json(q, "p", "week:2026-W99", &err, &eb);
    assert_null(s);
    assert_int_equal(err, RF_ERR_BAD_INPUT);
    char code[RF_FACT_VAL_MAX + 1];
    assert_int_equal(rf_query_code(q, "p", "alice", code, &eb), RF_OK);
    assert_string_equal(code, "ALICE1");
    assert_int_equal(rf_query_code(q, "p", "carol", code, &eb), RF_ERR_NOT_FOUND);
    rf_query_close(q);
    feed_close(&f);
}

/* Random purchases over 70 days: customers and revenue per day and month
 * against a naive count over the same list. */
static void test_stats_periods(void **state)
{
    (void)state;
    feed_t f;
    feed_open(&f, "statsp");
    enum { N = 3000, USERS = 200 };
    static int user[N];
    static int64_t when[N], amt[N];
    srand(99);
    const int64_t start = rf_days_from_civil(2025, 12, 1) * DAY_MS;
    for (int i = 0; i < N; i++) {
        user[i] = rand() % USERS;
        when[i] = start + ((int64_t)rand() * 4096 + rand() % 4096) % (70 * DAY_MS);
        amt[i] = 100 + rand() % 10000;
        char u[16];
        snprintf(u, sizeof u, "c%d", user[i]);
        purchase(&f, when[i], u, amt[i], false);
    }
    commit(&f);
    rf_query_t *q = query_open(&f);
    const char *periods[] = {"day:2025-12-24",
                             "day:2026-01-01",
                             "week:2026-W01",
                             "week:2025-W52",
                             "month:2026-01",
                             "month:2025-12",
                             "all"};
    for (size_t pi = 0; pi < sizeof periods / sizeof periods[0]; pi++) {
        rf__period_t p;
        assert_int_equal(rf__pj_period_parse(periods[pi], 0, &p, NULL), RF_OK);
        int64_t purchases = 0, revenue = 0, customers = 0;
        bool seen[USERS] = {false};
        for (int i = 0; i < N; i++) {
            if (rf__pj_period_of((rf__ptype_t)p.type, when[i]).value != p.value) continue;
            purchases++;
            revenue += amt[i];
            if (!seen[user[i]]) seen[user[i]] = true, customers++;
        }
        rf_err_t err;
        json_t *s = rf_query_stats_json(q, "p", periods[pi], &err, NULL);
        assert_non_null(s);
        assert_int_equal(jint(s, "funnel.purchases"), purchases);
        assert_int_equal(jint(s, "funnel.customers"), customers);
        if (revenue) assert_int_equal(jint(s, "funnel.revenue.USD"), revenue);
        json_decref(s);
    }
    rf_query_close(q);
    feed_close(&f);
}

/* ---- seq rules --------------------------------------------------------------- */

static void test_dup_and_gap(void **state)
{
    (void)state;
    feed_t f;
    feed_open(&f, "seq");
    reward(&f, T_2026_01_05, "referrer", "alice", "carol", "USD", 1000); /* seq 1 */
    reward(&f, T_2026_01_05, "referrer", "alice", "dan", "USD", 1000);   /* seq 2 */
    commit(&f);
    rf_record_t *r = rec_new(&f, RF_KIND_REWARD, T_2026_01_05);
    r->seq = 2; /* a republished record */
    rf_record_fact(r, RF_FACT_ROLE, "referrer");
    rf_record_fact(r, RF_FACT_REFERRER, "alice");
    rf_record_post(r, "alice", RF_BUCKET_PENDING, "USD", 1000);
    rf_record_post(r, "#expense", RF_BUCKET_EXPENSE, "USD", -1000);
    rf_apply_outcome_t out;
    rf_errbuf_t eb = {{0}};
    assert_int_equal(rf_projection_apply(f.p, r, &out, &eb), RF_OK);
    assert_int_equal(out, RF_APPLY_DUPLICATE);
    r->seq = 4; /* seq 3 lost */
    assert_int_equal(rf_projection_apply(f.p, r, &out, &eb), RF_ERR_GAP);
    assert_non_null(strstr(eb.msg, "gap"));
    r->seq = 3;
    r->partition = 5;
    assert_int_equal(rf_projection_apply(f.p, r, &out, &eb), RF_ERR_CORRUPT);
    r->partition = 0;
    r->postings[0].amount_minor = 999; /* unbalanced */
    assert_int_equal(rf_projection_apply(f.p, r, &out, &eb), RF_ERR_CORRUPT);
    assert_int_equal(rf_projection_commit(f.p, 10, 12, &eb), RF_OK);
    /* reopen: applied seq, offset and the duplicate count survive */
    rf_projection_close(f.p);
    f.p = rf_projection_open(f.dir, 0, 0, &eb);
    assert_non_null(f.p);
    rf_projection_meta_t m;
    rf_projection_get_meta(f.p, &m);
    assert_int_equal(m.applied_seq, 2);
    assert_int_equal(m.next_offset, 10);
    assert_int_equal(m.high_watermark, 12);
    assert_int_equal(m.duplicates, 1);
    assert_int_equal(m.records, 2);
    rf_query_t *q = query_open(&f);
    rf_query_balance_t rows[4];
    assert_int_equal(rf_query_balances(q, "alice", "p", rows, 4, &eb), 1);
    assert_int_equal(rows[0].buckets[RF_BUCKET_PENDING], 2000); /* not 3000 */
    rf_query_close(q);
    /* another partition's store refuses to open as this one */
    rf_projection_close(f.p);
    char path[512];
    snprintf(path, sizeof path, "%s/project/p-0000", f.dir);
    assert_null(rf_projection_open_path(path, 3, 0, &eb));
    f.p = NULL;
    feed_close(&f);
}

static void test_ratio(void **state)
{
    (void)state;
    char b[48];
    rf_query_ratio(1, 3, 4, b);
    assert_string_equal(b, "0.3333");
    rf_query_ratio(2, 3, 2, b);
    assert_string_equal(b, "0.67");
    rf_query_ratio(-2, 3, 2, b);
    assert_string_equal(b, "-0.67");
    rf_query_ratio(5, 0, 2, b);
    assert_string_equal(b, "");
    rf_query_ratio(1000000000000000LL, 7, 4, b); /* no overflow at the amount limit */
    assert_string_equal(b, "142857142857142.8571");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_periods),
        cmocka_unit_test(test_sk_order),
        cmocka_unit_test(test_leaderboards),
        cmocka_unit_test(test_tie_break),
        cmocka_unit_test(test_balances),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_stats_periods),
        cmocka_unit_test(test_dup_and_gap),
        cmocka_unit_test(test_ratio),
        cmocka_unit_test(test_rank_deep),
        cmocka_unit_test(test_commit_pipelined),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
