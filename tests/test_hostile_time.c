/* test_hostile_time.c: event time is bounded by the message's trusted clock
 * (rf_ledger.h, RF_LEDGER_CLOCK_SKEW_MS): the issue's attack (a share dated
 * 2099 from a stranger) neither matures a program's holds nor turns the
 * refund two days later into a clawback; near-future events still fold;
 * replay from the archive gives the same head; archive entries of the
 * format before the clock replay as they folded before. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rocksdb/c.h>

#include "rf_codec.h"
#include "rf_ledger.h"
#include "rf_ledger_int.h" /* white-box: archive chunk and meta formats */
#include "rf_replay.h"
#include "rf_testutil.h"

#define PROG  "p9"
#define T0    1767225600000LL /* 2026-01-01T00:00:00Z */
#define MIN   60000LL
#define HOUR  3600000LL
#define DAY   86400000LL
#define Y2099 4070908800000LL /* 2099-01-01T00:00:00Z */
/* A 30-day hold, double-sided. */
#define RULES                                                                                      \
    "{\"currency\":\"USD\",\"referrer_reward\":{\"type\":\"fixed\",\"amount_minor\":1000},"        \
    "\"friend_reward\":{\"type\":\"fixed\",\"amount_minor\":500},\"hold_days\":30}"

typedef struct fx {
    char dir[512];
    rf_codec_t *codec;
    uint64_t id;
    rf_event_t ev;
    uint8_t buf[RF_EVENT_BYTES_MAX];
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    rf_errbuf_t eb;
    assert_non_null(f);
    rf_test_tmpdir("hostile-time", f->dir, sizeof f->dir);
    f->codec = rf_codec_new(&eb);
    assert_non_null(f->codec);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    rf_test_rmtree(f->dir);
    rf_codec_destroy(f->codec);
    free(f);
    return 0;
}

static rf_ledger_t *open_ledger(fx_t *f, const char *name)
{
    char dir[600];
    rf_errbuf_t eb;
    snprintf(dir, sizeof dir, "%s/%s", f->dir, name);
    rf_ledger_t *l = rf_ledger_open(dir, 0, RF_LEDGER_CREATE | RF_LEDGER_NOSYNC, &eb);
    if (!l) fail_msg("open %s: %s", dir, eb.msg);
    return l;
}

/* A fresh event of type at t, its other fields empty. */
static rf_event_t *ev_new(fx_t *f, rf_event_type_t type, int64_t t)
{
    rf_event_t *ev = &f->ev;
    rf_event_clear(ev);
    ev->type = type;
    snprintf(ev->event_id, sizeof ev->event_id, "00000000-0000-4000-8000-%012llx",
             (unsigned long long)++f->id);
    rf_strlcpy(ev->program_id, PROG, sizeof ev->program_id);
    rf_strlcpy(ev->source, "test", sizeof ev->source);
    ev->occurred_at_ms = t;
    return ev;
}

/* Encodes f->ev, folds it at the next offset with clock_ms, commits. */
static rf_fold_result_t fold_clock(fx_t *f, rf_ledger_t *l, int64_t clock_ms)
{
    rf_errbuf_t eb;
    size_t len = 0;
    if (rf_codec_encode_event(f->codec, &f->ev, RF_SCHEMA_ID_EVENT, f->buf, sizeof f->buf, &len,
                              &eb))
        fail_msg("encode: %s", eb.msg);
    int64_t off = rf_ledger_next_offset(l);
    rf_fold_result_t res;
    if (rf_ledger_fold(l, off < 0 ? 0 : off, clock_ms, f->buf, len, &res, &eb))
        fail_msg("fold: %s", eb.msg);
    if (rf_ledger_commit(l, &eb)) fail_msg("commit: %s", eb.msg);
    return res;
}

/* How a message's clock is set in a run: the broker's time a second after
 * the event (an honest app), or none (the fold before the clock existed). */
typedef enum { CLOCK_BROKER, CLOCK_UNBOUNDED } clock_mode_t;

static rf_fold_result_t fold_at(fx_t *f, rf_ledger_t *l, clock_mode_t mode, int64_t broker_ms)
{
    return fold_clock(f, l, mode == CLOCK_UNBOUNDED ? RF_LEDGER_CLOCK_NONE : broker_ms);
}

static void balance(rf_ledger_t *l, const char *owner, int64_t pending, int64_t available,
                    int64_t receivable)
{
    int64_t b[RF_BUCKET__COUNT];
    rf_errbuf_t eb;
    assert_int_equal(rf_ledger_balance(l, PROG, owner, "USD", b, &eb), RF_OK);
    if (b[RF_BUCKET_PENDING] != pending || b[RF_BUCKET_AVAILABLE] != available ||
        b[RF_BUCKET_RECEIVABLE] != receivable)
        fail_msg("%s: pending %lld available %lld receivable %lld, expected %lld %lld %lld", owner,
                 (long long)b[RF_BUCKET_PENDING], (long long)b[RF_BUCKET_AVAILABLE],
                 (long long)b[RF_BUCKET_RECEIVABLE], (long long)pending, (long long)available,
                 (long long)receivable);
}

typedef struct kinds {
    int64_t offset;
    int n;
    char kind[RF_RECORDS_PER_EVENT_MAX][RF_ID_BUF];
    char reason[RF_FACT_VAL_MAX + 1];
    int64_t time_ms; /* the first record's */
} kinds_t;

static int kinds_cb(const rf_record_t *rec, void *opaque)
{
    kinds_t *k = opaque;
    if (rec->offset != k->offset) return 0;
    if (!k->n) {
        const char *r = rf_record_get_fact(rec, RF_FACT_REASON);
        rf_strlcpy(k->reason, r ? r : "", sizeof k->reason);
        k->time_ms = rec->occurred_at_ms;
    }
    if (k->n < RF_RECORDS_PER_EVENT_MAX) rf_strlcpy(k->kind[k->n++], rec->kind, RF_ID_BUF);
    return 0;
}

/* The records of one offset. */
static kinds_t records_of(rf_ledger_t *l, int64_t offset)
{
    kinds_t k;
    memset(&k, 0, sizeof k);
    k.offset = offset;
    rf_errbuf_t eb;
    assert_int_equal(rf_ledger_scan(l, 1, 0, kinds_cb, &k, &eb), RF_OK);
    return k;
}

static int has_kind(const kinds_t *k, const char *kind)
{
    for (int i = 0; i < k->n; i++)
        if (!strcmp(k->kind[i], kind)) return 1;
    return 0;
}

static int64_t event_time(rf_ledger_t *l)
{
    rf_ledger_head_t h;
    rf_errbuf_t eb;
    assert_int_equal(rf_ledger_head(l, &h, &eb), RF_OK);
    return h.event_time_ms;
}

/* The issue's sequence, offsets 0..5: program P9 (30-day hold), a referral
 * and its purchase, a stranger's share dated 2099 (offset 4), the full
 * refund two days after the purchase (offset 5). Balances are checked
 * before the refund: the rewards are still pending only with the clock. */
static void attack(fx_t *f, rf_ledger_t *l, clock_mode_t mode)
{
    rf_event_t *ev = ev_new(f, RF_EV_PROGRAM_CONFIGURED, T0);
    ev->version = 1;
    rf_strlcpy(ev->rules_json, RULES, sizeof ev->rules_json);
    assert_int_equal(fold_at(f, l, mode, T0 + 1000).outcome, RF_OUTCOME_APPLIED);
    ev = ev_new(f, RF_EV_CODE_ISSUED, T0 + MIN);
    rf_strlcpy(ev->referrer, "r1", sizeof ev->referrer);
    rf_strlcpy(ev->code, "C1", sizeof ev->code);
    assert_int_equal(fold_at(f, l, mode, T0 + MIN + 1000).outcome, RF_OUTCOME_APPLIED);
    ev = ev_new(f, RF_EV_SIGNUP, T0 + HOUR);
    rf_strlcpy(ev->user, "f1", sizeof ev->user);
    rf_strlcpy(ev->code, "C1", sizeof ev->code);
    assert_int_equal(fold_at(f, l, mode, T0 + HOUR + 1000).outcome, RF_OUTCOME_APPLIED);
    ev = ev_new(f, RF_EV_PURCHASE, T0 + DAY);
    rf_strlcpy(ev->user, "f1", sizeof ev->user);
    rf_strlcpy(ev->order_id, "o1", sizeof ev->order_id);
    rf_strlcpy(ev->asset, "USD", sizeof ev->asset);
    ev->amount_minor = 10000;
    assert_int_equal(fold_at(f, l, mode, T0 + DAY + 1000).outcome, RF_OUTCOME_APPLIED);
    balance(l, "r1", 1000, 0, 0);
    balance(l, "f1", 500, 0, 0);
    /* the attack: a user not in the program shares "in 2099" a minute later */
    ev = ev_new(f, RF_EV_SHARE, Y2099);
    rf_strlcpy(ev->referrer, "mallory", sizeof ev->referrer);
    rf_strlcpy(ev->channel, "email", sizeof ev->channel);
    rf_fold_result_t res = fold_at(f, l, mode, T0 + DAY + MIN);
    if (mode == CLOCK_BROKER) {
        assert_int_equal(res.outcome, RF_OUTCOME_REJECTED);
        assert_non_null(strstr(res.reason, "ahead of the broker time"));
        assert_int_equal(event_time(l), T0 + DAY); /* time did not move */
        balance(l, "r1", 1000, 0, 0);              /* still held */
        balance(l, "f1", 500, 0, 0);
    } else { /* what the fold did before the clock: every hold matured at once */
        assert_int_equal(res.outcome, RF_OUTCOME_APPLIED);
        assert_int_equal(event_time(l), Y2099);
        balance(l, "r1", 0, 1000, 0);
        balance(l, "f1", 0, 500, 0);
    }
    ev = ev_new(f, RF_EV_REFUND, T0 + 3 * DAY);
    rf_strlcpy(ev->order_id, "o1", sizeof ev->order_id);
    rf_strlcpy(ev->asset, "USD", sizeof ev->asset);
    ev->amount_minor = 10000;
    assert_int_equal(fold_at(f, l, mode, T0 + 3 * DAY + 1000).outcome, RF_OUTCOME_APPLIED);
    /* the refund reverses the rewards either way; the question is how */
    balance(l, "r1", 0, 0, 0);
    balance(l, "f1", 0, 0, 0);
}

static void assert_verifies(rf_ledger_t *l)
{
    uint64_t bad = 0;
    rf_errbuf_t eb;
    if (rf_ledger_verify(l, &bad, &eb))
        fail_msg("verify: seq %llu: %s", (unsigned long long)bad, eb.msg);
}

/* The issue's attack against a fold with the broker's clock: the share is
 * a rejected record dated at the bound, time stays, the refund is a void. */
static void test_attack_bounded(void **state)
{
    fx_t *f = *state;
    rf_ledger_t *l = open_ledger(f, "bounded");
    attack(f, l, CLOCK_BROKER);
    kinds_t share = records_of(l, 4);
    assert_int_equal(share.n, 1);
    assert_string_equal(share.kind[0], RF_KIND_REJECTED);
    print_message("share dated 2099: %s\n", share.reason);
    assert_non_null(strstr(share.reason, "2099-01-01T00:00:00.000Z"));
    assert_non_null(strstr(share.reason, "2026-01-02T00:01:00.000Z"));
    /* dated at the bound, not in 2099: projections take "now" from record times */
    assert_int_equal(share.time_ms, T0 + DAY + MIN + RF_LEDGER_CLOCK_SKEW_MS);
    kinds_t refund = records_of(l, 5);
    assert_true(has_kind(&refund, RF_KIND_REFUND));
    assert_true(has_kind(&refund, RF_KIND_VOID));
    assert_false(has_kind(&refund, RF_KIND_CLAWBACK));
    assert_false(has_kind(&refund, RF_KIND_MATURED));
    rf_ledger_head_t h;
    rf_errbuf_t eb;
    assert_int_equal(rf_ledger_head(l, &h, &eb), RF_OK);
    assert_int_equal(h.counts[RF_OUTCOME_REJECTED], 1);
    assert_int_equal(h.counts[RF_OUTCOME_APPLIED], 5);
    assert_int_equal(h.event_time_ms, T0 + 3 * DAY);
    /* the clock is archived with the bytes */
    uint8_t buf[RF_EVENT_BYTES_MAX];
    size_t n = 0;
    int64_t clock = 0;
    assert_int_equal(rf_ledger_archive_get(l, 4, buf, sizeof buf, &n, &clock, &eb), RF_OK);
    assert_int_equal(clock, T0 + DAY + MIN);
    assert_verifies(l);
    rf_ledger_close(l);
}

/* The same sequence without a clock: the attack works (what the bound
 * prevents): the holds matured in 2099 and the refund claws back. */
static void test_attack_unbounded(void **state)
{
    fx_t *f = *state;
    rf_ledger_t *l = open_ledger(f, "unbounded");
    attack(f, l, CLOCK_UNBOUNDED);
    kinds_t refund = records_of(l, 5);
    assert_true(has_kind(&refund, RF_KIND_CLAWBACK));
    assert_false(has_kind(&refund, RF_KIND_VOID));
    assert_verifies(l);
    rf_ledger_close(l);
}

/* What the bound leaves alone: an event a minute ahead folds and moves
 * time; one far ahead that does not move time (the partition is already
 * past it) folds; a Clock event is bounded like any other; a message
 * without a broker timestamp (-1) cannot move time. */
static void test_near_future_and_clock(void **state)
{
    fx_t *f = *state;
    rf_ledger_t *l = open_ledger(f, "near");
    rf_event_t *ev = ev_new(f, RF_EV_PROGRAM_CONFIGURED, T0);
    ev->version = 1;
    rf_strlcpy(ev->rules_json, RULES, sizeof ev->rules_json);
    assert_int_equal(fold_clock(f, l, T0).outcome, RF_OUTCOME_APPLIED);
    ev = ev_new(f, RF_EV_CLICK, T0 + HOUR + MIN);
    rf_strlcpy(ev->code, "NOPE", sizeof ev->code);
    rf_strlcpy(ev->visitor, "v1", sizeof ev->visitor);
    assert_int_equal(fold_clock(f, l, T0 + HOUR).outcome, RF_OUTCOME_APPLIED);
    assert_int_equal(event_time(l), T0 + HOUR + MIN);
    /* exactly at the bound: allowed; 1 ms past it: refused */
    ev = ev_new(f, RF_EV_CLICK, T0 + 2 * HOUR + RF_LEDGER_CLOCK_SKEW_MS);
    rf_strlcpy(ev->code, "NOPE", sizeof ev->code);
    rf_strlcpy(ev->visitor, "v1", sizeof ev->visitor);
    assert_int_equal(fold_clock(f, l, T0 + 2 * HOUR).outcome, RF_OUTCOME_APPLIED);
    ev = ev_new(f, RF_EV_CLICK, T0 + 3 * HOUR + RF_LEDGER_CLOCK_SKEW_MS + 1);
    rf_strlcpy(ev->code, "NOPE", sizeof ev->code);
    rf_strlcpy(ev->visitor, "v1", sizeof ev->visitor);
    assert_int_equal(fold_clock(f, l, T0 + 3 * HOUR).outcome, RF_OUTCOME_REJECTED);
    assert_int_equal(event_time(l), T0 + 2 * HOUR + RF_LEDGER_CLOCK_SKEW_MS);
    /* a Clock event 30 days ahead of the broker: refused; 1 minute: moves time */
    ev = ev_new(f, RF_EV_CLOCK, T0 + 30 * DAY);
    rf_fold_result_t res = fold_clock(f, l, T0 + 3 * HOUR);
    assert_int_equal(res.outcome, RF_OUTCOME_REJECTED);
    assert_non_null(strstr(res.reason, "ahead of the broker time"));
    ev = ev_new(f, RF_EV_CLOCK, T0 + 3 * HOUR + MIN);
    assert_int_equal(fold_clock(f, l, T0 + 3 * HOUR).outcome, RF_OUTCOME_APPLIED);
    assert_int_equal(event_time(l), T0 + 3 * HOUR + MIN);
    /* a late (backdated) event is never the problem */
    ev = ev_new(f, RF_EV_CLICK, T0 - 100 * DAY);
    rf_strlcpy(ev->code, "NOPE", sizeof ev->code);
    rf_strlcpy(ev->visitor, "v2", sizeof ev->visitor);
    assert_int_equal(fold_clock(f, l, T0 + 4 * HOUR).outcome, RF_OUTCOME_APPLIED);
    /* no broker timestamp: bounded as epoch, so it cannot move time ... */
    ev = ev_new(f, RF_EV_CLICK, T0 + 4 * HOUR);
    rf_strlcpy(ev->code, "NOPE", sizeof ev->code);
    rf_strlcpy(ev->visitor, "v3", sizeof ev->visitor);
    res = fold_clock(f, l, -1);
    assert_int_equal(res.outcome, RF_OUTCOME_REJECTED);
    assert_non_null(strstr(res.reason, "1970-01-01T00:00:00.000Z"));
    /* ... but folds when it does not need to (the partition is past it) */
    ev = ev_new(f, RF_EV_CLICK, T0 + HOUR);
    rf_strlcpy(ev->code, "NOPE", sizeof ev->code);
    rf_strlcpy(ev->visitor, "v4", sizeof ev->visitor);
    assert_int_equal(fold_clock(f, l, -1).outcome, RF_OUTCOME_APPLIED);
    /* a timestamp near INT64_MAX does not overflow the bound */
    ev = ev_new(f, RF_EV_CLICK, T0 + 5 * HOUR);
    rf_strlcpy(ev->code, "NOPE", sizeof ev->code);
    rf_strlcpy(ev->visitor, "v5", sizeof ev->visitor);
    assert_int_equal(fold_clock(f, l, INT64_MAX - 1).outcome, RF_OUTCOME_APPLIED);
    assert_int_equal(event_time(l), T0 + 5 * HOUR);
    assert_verifies(l);
    rf_ledger_close(l);
}

/* Replays dir's partition 0 from its archive into into and compares heads. */
static void replay_same(fx_t *f, const char *from, const char *into)
{
    char live[600], dst[600];
    snprintf(live, sizeof live, "%s/%s", f->dir, from);
    snprintf(dst, sizeof dst, "%s/%s", f->dir, into);
    rf_replay_opts_t o;
    rf_replay_opts_init(&o);
    o.data_dir = live;
    o.into_dir = dst;
    o.source = RF_REPLAY_ARCHIVE;
    o.ledger_flags = RF_LEDGER_NOSYNC;
    o.jobs = 1;
    rf_replay_stats_t *st = calloc(1, sizeof *st);
    assert_non_null(st);
    rf_errbuf_t eb;
    if (rf_replay_run(&o, st, &eb)) fail_msg("replay: %s", eb.msg);
    free(st);
    rf_replay_cmp_t cmp[2];
    assert_int_equal(rf_replay_compare(live, dst, cmp, 2, &eb), 1);
    if (cmp[0].verdict != RF_REPLAY_SAME)
        fail_msg("replay of %s: %s at seq %llu", from, rf_replay_verdict_name(cmp[0].verdict),
                 (unsigned long long)cmp[0].first_diff_seq);
}

/* Replay from the archive folds each event with its archived clock: the
 * same head, the same refusal. */
static void test_replay_archive(void **state)
{
    fx_t *f = *state;
    rf_ledger_t *l = open_ledger(f, "live");
    attack(f, l, CLOCK_BROKER);
    rf_ledger_close(l);
    replay_same(f, "live", "replayed");
    l = open_ledger(f, "replayed");
    kinds_t share = records_of(l, 4);
    assert_string_equal(share.kind[0], RF_KIND_REJECTED);
    assert_int_equal(event_time(l), T0 + 3 * DAY);
    balance(l, "r1", 0, 0, 0);
    rf_ledger_close(l);
}

/* ---- the archive format before the clock ---- */

typedef struct raw {
    rocksdb_t *db;
    rocksdb_options_t *o;
    rocksdb_column_family_handle_t *cf[3]; /* state, records, archive */
} raw_t;

static raw_t *raw_open(const char *dir)
{
    static const char *names[3] = {"default", "records", "archive"};
    char path[700];
    snprintf(path, sizeof path, "%s/fold/p-0000", dir);
    raw_t *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->o = rocksdb_options_create();
    const rocksdb_options_t *co[3] = {r->o, r->o, r->o};
    char *err = NULL;
    r->db = rocksdb_open_column_families(r->o, path, 3, names, co, r->cf, &err);
    if (!r->db) fail_msg("raw open: %s", err);
    return r;
}

static void raw_close(raw_t *r)
{
    for (int i = 0; i < 3; i++)
        rocksdb_column_family_handle_destroy(r->cf[i]);
    rocksdb_close(r->db);
    rocksdb_options_destroy(r->o);
    free(r);
}

static void raw_put(raw_t *r, int cf, const void *k, size_t kl, const void *v, size_t vl)
{
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    char *err = NULL;
    rocksdb_put_cf(r->db, wo, r->cf[cf], k, kl, v, vl, &err);
    rocksdb_writeoptions_destroy(wo);
    assert_null(err);
}

/* Rewrites the ledger as refold wrote it before the clock: archive chunks
 * of format 1 (no clock per event), meta row version 2. Returns the
 * number of chunks rewritten. */
static int make_old_format(const char *dir)
{
    raw_t *r = raw_open(dir);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(r->db, ro, r->cf[2]);
    int chunks = 0;
    static uint8_t out[2 * RF_LEDGER_ARCHIVE_CHUNK_BYTES + RF_EVENT_BYTES_MAX];
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl = 0, vl = 0;
        const char *k = rocksdb_iter_key(it, &kl);
        const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);
        assert_int_equal(v[0], RF__ARCHIVE_FMT);
        size_t pos = 1, o = 1;
        out[0] = RF__ARCHIVE_FMT_V1;
        while (pos < vl) {
            size_t n = (size_t)v[pos] | (size_t)v[pos + 1] << 8 | (size_t)v[pos + 2] << 16 |
                       (size_t)v[pos + 3] << 24;
            assert_true(o + 4 + n <= sizeof out);
            memcpy(out + o, v + pos, 4);
            memcpy(out + o + 4, v + pos + 4 + RF__ARCHIVE_CLOCK, n);
            o += 4 + n;
            pos += 4 + RF__ARCHIVE_CLOCK + n;
        }
        assert_int_equal(pos, vl);
        char key[9];
        memcpy(key, k, 9);
        raw_put(r, 2, key, kl, out, o); /* the iterator reads its own snapshot */
        chunks++;
    }
    rocksdb_iter_destroy(it);
    char mkey = RF__K_META, *err = NULL;
    size_t ml = 0;
    char *meta = rocksdb_get_cf(r->db, ro, r->cf[0], &mkey, 1, &ml, &err);
    assert_null(err);
    assert_non_null(meta);
    assert_int_equal((uint8_t)meta[0], RF__META_VERSION);
    meta[0] = 2;
    raw_put(r, 0, &mkey, 1, meta, ml);
    rocksdb_free(meta);
    rocksdb_readoptions_destroy(ro);
    raw_close(r);
    return chunks;
}

/* A ledger folded before the clock existed (no clock, archive format 1,
 * meta version 2): it opens and verifies, its entries read without a
 * clock, and replay gives the same head as it folded, clawback included;
 * folding on appends format 2 chunks after the old ones, and the mixed
 * archive replays the same too. */
static void test_old_archive(void **state)
{
    fx_t *f = *state;
    rf_ledger_t *l = open_ledger(f, "old");
    attack(f, l, CLOCK_UNBOUNDED);
    rf_ledger_close(l);
    char dir[600];
    snprintf(dir, sizeof dir, "%s/old", f->dir);
    assert_true(make_old_format(dir) >= 1);
    l = open_ledger(f, "old");
    assert_verifies(l);
    uint8_t buf[RF_EVENT_BYTES_MAX];
    size_t n = 0;
    int64_t clock = 0;
    rf_errbuf_t eb;
    assert_int_equal(rf_ledger_archive_get(l, 4, buf, sizeof buf, &n, &clock, &eb), RF_OK);
    assert_int_equal(clock, RF_LEDGER_CLOCK_NONE);
    rf_ledger_close(l);
    replay_same(f, "old", "old-replayed");
    l = open_ledger(f, "old-replayed");
    assert_true(has_kind((kinds_t[]){records_of(l, 5)}, RF_KIND_CLAWBACK));
    assert_int_equal(event_time(l), Y2099);
    rf_ledger_close(l);
    /* the old ledger folds on with the clock: chunks of both formats */
    l = open_ledger(f, "old");
    rf_event_t *ev = ev_new(f, RF_EV_CLICK, T0 + 4 * DAY);
    rf_strlcpy(ev->code, "C1", sizeof ev->code);
    rf_strlcpy(ev->visitor, "v9", sizeof ev->visitor);
    assert_int_equal(fold_clock(f, l, T0 + 4 * DAY).outcome, RF_OUTCOME_APPLIED);
    assert_int_equal(rf_ledger_archive_get(l, 6, buf, sizeof buf, &n, &clock, &eb), RF_OK);
    assert_int_equal(clock, T0 + 4 * DAY);
    assert_verifies(l);
    rf_ledger_close(l);
    replay_same(f, "old", "mixed-replayed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_attack_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attack_unbounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_near_future_and_clock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_archive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_archive, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
