/* test_ledger.c: the partition ledger without Kafka: offsets, outcomes,
 * dedup, dead letters, Adjustment/Redemption, durability, determinism,
 * tamper detection, checkpoints, storage failures; RF_BENCH=1 measures the
 * fold throughput. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rocksdb/c.h>

#include "rf_codec.h"
#include "rf_hex.h"
#include "rf_ledger.h"
#include "rf_ledger_int.h" /* white-box: meta encoding for the tamper tests */
#include "rf_testutil.h"

#define PROGRAM "prog-a"
#define RULES                                                                                      \
    "{\"name\":\"test\",\"currency\":\"USD\",\"referrer_reward\":{\"type\":\"fixed\","             \
    "\"amount_minor\":1000},\"friend_reward\":{\"type\":\"fixed\",\"amount_minor\":500}}"
#define T0 1767225600000LL /* 2026-01-01 */

typedef struct fx {
    char dir[512];
    rf_codec_t *codec;
    rf_event_t *ev;
    uint8_t buf[RF_EVENT_BYTES_MAX];
    size_t len;
    uint64_t id; /* event id counter */
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    rf_errbuf_t eb;
    assert_non_null(f);
    rf_test_tmpdir("ledger", f->dir, sizeof f->dir);
    f->codec = rf_codec_new(&eb);
    assert_non_null(f->codec);
    f->ev = malloc(sizeof *f->ev);
    assert_non_null(f->ev);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    rf_test_rmtree(f->dir);
    rf_codec_destroy(f->codec);
    free(f->ev);
    free(f);
    return 0;
}

/* ---- building events ---- */

static rf_event_t *ev_new(fx_t *f, rf_event_type_t type, const char *program)
{
    rf_event_t *ev = f->ev;
    rf_event_clear(ev);
    ev->type = type;
    f->id++;
    snprintf(ev->event_id, sizeof ev->event_id, "%08x-0000-4000-8000-%012llx",
             (unsigned)(f->id >> 32), (unsigned long long)(f->id & 0xffffffffffffULL));
    rf_strlcpy(ev->program_id, program, sizeof ev->program_id);
    ev->occurred_at_ms = T0 + (int64_t)f->id * 1000;
    rf_strlcpy(ev->source, "test", sizeof ev->source);
    return ev;
}

static void encode(fx_t *f)
{
    rf_errbuf_t eb;
    rf_err_t err = rf_codec_encode_event(f->codec, f->ev, RF_SCHEMA_ID_EVENT, f->buf, sizeof f->buf,
                                         &f->len, &eb);
    if (err) fail_msg("encode: %s", eb.msg);
}

static void ev_program(fx_t *f, const char *program, int version)
{
    rf_event_t *ev = ev_new(f, RF_EV_PROGRAM_CONFIGURED, program);
    ev->version = version;
    rf_strlcpy(ev->rules_json, RULES, sizeof ev->rules_json);
    encode(f);
}

static void ev_share(fx_t *f, const char *program, const char *referrer)
{
    rf_event_t *ev = ev_new(f, RF_EV_SHARE, program);
    rf_strlcpy(ev->referrer, referrer, sizeof ev->referrer);
    rf_strlcpy(ev->channel, "email", sizeof ev->channel);
    encode(f);
}

static void ev_purchase(fx_t *f, const char *program, const char *user, int64_t amount)
{
    rf_event_t *ev = ev_new(f, RF_EV_PURCHASE, program);
    rf_strlcpy(ev->user, user, sizeof ev->user);
    snprintf(ev->order_id, sizeof ev->order_id, "order-%llu", (unsigned long long)f->id);
    rf_strlcpy(ev->asset, "USD", sizeof ev->asset);
    ev->amount_minor = amount;
    encode(f);
}

static void ev_code(fx_t *f, const char *referrer, const char *code)
{
    rf_event_t *ev = ev_new(f, RF_EV_CODE_ISSUED, PROGRAM);
    rf_strlcpy(ev->referrer, referrer, sizeof ev->referrer);
    rf_strlcpy(ev->code, code, sizeof ev->code);
    encode(f);
}

static void ev_signup(fx_t *f, const char *user, const char *code)
{
    rf_event_t *ev = ev_new(f, RF_EV_SIGNUP, PROGRAM);
    rf_strlcpy(ev->user, user, sizeof ev->user);
    rf_strlcpy(ev->code, code, sizeof ev->code);
    encode(f);
}

static void ev_clock(fx_t *f, int64_t at_ms)
{
    rf_event_t *ev = ev_new(f, RF_EV_CLOCK, PROGRAM);
    ev->occurred_at_ms = at_ms;
    encode(f);
}

static void ev_adjust(fx_t *f, const char *user, int64_t amount)
{
    rf_event_t *ev = ev_new(f, RF_EV_ADJUSTMENT, PROGRAM);
    rf_strlcpy(ev->user, user, sizeof ev->user);
    rf_strlcpy(ev->asset, "USD", sizeof ev->asset);
    rf_strlcpy(ev->reason, "goodwill", sizeof ev->reason);
    rf_strlcpy(ev->actor, "finance-1", sizeof ev->actor);
    ev->amount_minor = amount;
    encode(f);
}

static void ev_redeem(fx_t *f, const char *user, int64_t amount)
{
    rf_event_t *ev = ev_new(f, RF_EV_REDEMPTION, PROGRAM);
    rf_strlcpy(ev->user, user, sizeof ev->user);
    rf_strlcpy(ev->asset, "USD", sizeof ev->asset);
    snprintf(ev->request_id, sizeof ev->request_id, "req-%llu", (unsigned long long)f->id);
    ev->amount_minor = amount;
    encode(f);
}

/* ---- folding ---- */

static rf_ledger_t *open_rw(fx_t *f, int32_t partition)
{
    rf_errbuf_t eb;
    rf_ledger_t *l = rf_ledger_open(f->dir, partition, RF_LEDGER_CREATE, &eb);
    if (!l) fail_msg("open: %s", eb.msg);
    return l;
}

/* Folds f->buf at the ledger's next offset; returns the outcome. */
static rf_outcome_t fold_next(rf_ledger_t *l, fx_t *f, rf_fold_result_t *res)
{
    rf_fold_result_t r;
    rf_errbuf_t eb;
    if (!res) res = &r;
    int64_t off = l->staged.next_offset < 0 ? 0 : l->staged.next_offset;
    rf_err_t err = rf_ledger_fold(l, off, RF_LEDGER_CLOCK_NONE, f->buf, f->len, res, &eb);
    if (err) fail_msg("fold at %lld: %s", (long long)off, eb.msg);
    return res->outcome;
}

static void commit(rf_ledger_t *l)
{
    rf_errbuf_t eb;
    rf_err_t err = rf_ledger_commit(l, &eb);
    if (err) fail_msg("commit: %s", eb.msg);
}

static void assert_verifies(rf_ledger_t *l)
{
    rf_errbuf_t eb = {{0}};
    uint64_t bad = 0;
    rf_err_t err = rf_ledger_verify(l, &bad, &eb);
    if (err) fail_msg("verify: seq %llu: %s", (unsigned long long)bad, eb.msg);
}

static void balance(rf_ledger_t *l, const char *owner, int64_t b[RF_BUCKET__COUNT])
{
    rf_errbuf_t eb;
    assert_int_equal(rf_ledger_balance(l, PROGRAM, owner, "USD", b, &eb), RF_OK);
}

static uint64_t head_seq(rf_ledger_t *l)
{
    rf_ledger_head_t h;
    assert_int_equal(rf_ledger_head(l, &h, NULL), RF_OK);
    return h.seq;
}

/* ---- tests ---- */

static void test_offsets_contiguous(void **state)
{
    fx_t *f = *state;
    rf_ledger_t *l = open_rw(f, 3);
    rf_fold_result_t res;
    rf_errbuf_t eb;
    assert_int_equal(rf_ledger_next_offset(l), -1);
    ev_program(f, PROGRAM, 1);
    /* an empty ledger starts at any offset >= 0 (the topic's earliest) */
    assert_int_equal(rf_ledger_fold(l, -1, RF_LEDGER_CLOCK_NONE, f->buf, f->len, &res, &eb),
                     RF_ERR_GAP);
    assert_int_equal(rf_ledger_fold(l, 5, RF_LEDGER_CLOCK_NONE, f->buf, f->len, &res, &eb), RF_OK);
    assert_int_equal(res.outcome, RF_OUTCOME_APPLIED);
    ev_share(f, PROGRAM, "alice");
    assert_int_equal(rf_ledger_fold(l, 7, RF_LEDGER_CLOCK_NONE, f->buf, f->len, &res, &eb),
                     RF_ERR_GAP);
    assert_non_null(strstr(eb.msg, "expected 6"));
    assert_int_equal(rf_ledger_fold(l, 5, RF_LEDGER_CLOCK_NONE, f->buf, f->len, &res, &eb),
                     RF_ERR_GAP);
    assert_int_equal(rf_ledger_fold(l, 6, RF_LEDGER_CLOCK_NONE, f->buf, f->len, &res, &eb), RF_OK);
    assert_int_equal(rf_ledger_batch_size(l), 2);
    assert_int_equal(rf_ledger_next_offset(l), -1); /* not committed yet */
    commit(l);
    assert_int_equal(rf_ledger_next_offset(l), 7);
    assert_int_equal(rf_ledger_batch_size(l), 0);
    assert_int_equal(rf_ledger_fold(l, 8, RF_LEDGER_CLOCK_NONE, f->buf, f->len, &res, &eb),
                     RF_ERR_GAP);
    assert_verifies(l);
    rf_ledger_close(l);
}

static void test_duplicate_and_conflict(void **state)
{
    fx_t *f = *state;
    rf_ledger_t *l = open_rw(f, 0);
    rf_fold_result_t res;
    ev_program(f, PROGRAM, 1);
    fold_next(l, f, NULL);
    ev_share(f, PROGRAM, "alice");
    assert_int_equal(fold_next(l, f, &res), RF_OUTCOME_APPLIED);
    /* same bytes in the same batch, then after a commit */
    assert_int_equal(fold_next(l, f, &res), RF_OUTCOME_DUPLICATE);
    assert_int_equal(res.nrecords, 0);
    commit(l);
    assert_int_equal(head_seq(l), 2); /* program and share only */
    assert_int_equal(fold_next(l, f, &res), RF_OUTCOME_DUPLICATE);
    /* same id, other bytes: a rejected record */
    rf_strlcpy(f->ev->channel, "sms", sizeof f->ev->channel);
    encode(f);
    assert_int_equal(fold_next(l, f, &res), RF_OUTCOME_REJECTED);
    assert_int_equal(res.err, RF_ERR_CONFLICT);
    assert_non_null(strstr(res.reason, "conflict"));
    assert_int_equal(res.nrecords, 1);
    commit(l);
    rf_record_t *rec = malloc(sizeof *rec);
    rf_errbuf_t eb;
    assert_int_equal(rf_ledger_get_record(l, head_seq(l), rec, &eb), RF_OK);
    assert_string_equal(rec->kind, RF_KIND_REJECTED);
    assert_non_null(strstr(rf_record_get_fact(rec, RF_FACT_REASON), "conflict"));
    assert_string_equal(rf_record_get_fact(rec, RF_FACT_TYPE), "Share");
    free(rec);
    rf_ledger_head_t h;
    rf_ledger_head(l, &h, NULL);
    assert_int_equal(h.counts[RF_OUTCOME_APPLIED], 2);
    assert_int_equal(h.counts[RF_OUTCOME_DUPLICATE], 2);
    assert_int_equal(h.counts[RF_OUTCOME_REJECTED], 1);
    assert_verifies(l);
    rf_ledger_close(l);
}

typedef struct dl_seen {
    int n;
    int64_t offsets[8];
    rf_err_t errs[8];
} dl_seen_t;

static int on_dl(int64_t offset, rf_err_t err, const char *reason, void *opaque)
{
    dl_seen_t *s = opaque;
    assert_true(reason[0] != 0);
    if (s->n < 8) s->offsets[s->n] = offset, s->errs[s->n] = err;
    s->n++;
    return 0;
}

static void test_dead_letters(void **state)
{
    fx_t *f = *state;
    rf_ledger_t *l = open_rw(f, 0);
    rf_fold_result_t res;
    rf_errbuf_t eb;
    uint8_t bad_magic[] = {1, 0, 0, 0, 2, 0};
    uint8_t unknown_schema[] = {0, 0, 0, 0x7f, 0x7f, 0};
    assert_int_equal(
        rf_ledger_fold(l, 0, RF_LEDGER_CLOCK_NONE, bad_magic, sizeof bad_magic, &res, &eb), RF_OK);
    assert_int_equal(res.outcome, RF_OUTCOME_DEAD_LETTER);
    assert_int_equal(res.err, RF_ERR_BAD_MAGIC);
    assert_true(res.reason[0] != 0);
    assert_int_equal(rf_ledger_fold(l, 1, RF_LEDGER_CLOCK_NONE, unknown_schema,
                                    sizeof unknown_schema, &res, &eb),
                     RF_OK);
    assert_int_equal(res.err, RF_ERR_UNKNOWN_SCHEMA);
    assert_int_equal(rf_ledger_fold(l, 2, RF_LEDGER_CLOCK_NONE, NULL, 0, &res, &eb), RF_OK);
    assert_int_equal(res.outcome, RF_OUTCOME_DEAD_LETTER);
    ev_share(f, PROGRAM, "alice");
    assert_int_equal(rf_ledger_fold(l, 3, RF_LEDGER_CLOCK_NONE, f->buf, f->len - 3, &res, &eb),
                     RF_OK); /* truncated */
    assert_int_equal(res.outcome, RF_OUTCOME_DEAD_LETTER);
    /* a valid event of a program never configured */
    assert_int_equal(rf_ledger_fold(l, 4, RF_LEDGER_CLOCK_NONE, f->buf, f->len, &res, &eb), RF_OK);
    assert_int_equal(res.outcome, RF_OUTCOME_DEAD_LETTER);
    assert_int_equal(res.err, RF_ERR_UNKNOWN_PROGRAM);
    assert_string_equal(res.program_id, PROGRAM);
    assert_non_null(strstr(res.reason, PROGRAM));
    commit(l);
    assert_int_equal(head_seq(l), 0);
    dl_seen_t seen = {0};
    assert_int_equal(rf_ledger_deadletter_scan(l, on_dl, &seen, &eb), RF_OK);
    assert_int_equal(seen.n, 5);
    assert_int_equal(seen.offsets[4], 4);
    assert_int_equal(seen.errs[4], RF_ERR_UNKNOWN_PROGRAM);
    /* every outcome archives the bytes */
    uint8_t got[64];
    size_t n = 0;
    assert_int_equal(rf_ledger_archive_get(l, 0, got, sizeof got, &n, NULL, &eb), RF_OK);
    assert_int_equal(n, sizeof bad_magic);
    assert_memory_equal(got, bad_magic, n);
    /* redriven after the program exists, the same event applies (dead
     * letters leave no dedup key) */
    uint8_t saved[RF_EVENT_BYTES_MAX];
    size_t saved_len = f->len;
    memcpy(saved, f->buf, f->len);
    ev_program(f, PROGRAM, 1);
    fold_next(l, f, NULL);
    assert_int_equal(rf_ledger_fold(l, 6, RF_LEDGER_CLOCK_NONE, saved, saved_len, &res, &eb),
                     RF_OK);
    assert_int_equal(res.outcome, RF_OUTCOME_APPLIED);
    commit(l);
    assert_verifies(l);
    rf_ledger_close(l);
}

static void test_adjustments(void **state)
{
    fx_t *f = *state;
    rf_ledger_t *l = open_rw(f, 0);
    rf_fold_result_t res;
    int64_t b[RF_BUCKET__COUNT], adj[RF_BUCKET__COUNT];
    ev_program(f, PROGRAM, 1);
    fold_next(l, f, NULL);
    ev_adjust(f, "bob", 500);
    assert_int_equal(fold_next(l, f, &res), RF_OUTCOME_APPLIED);
    ev_adjust(f, "bob", -200);
    assert_int_equal(fold_next(l, f, &res), RF_OUTCOME_APPLIED);
    ev_adjust(f, "bob", -1000);
    assert_int_equal(fold_next(l, f, &res), RF_OUTCOME_REJECTED);
    assert_non_null(strstr(res.reason, "insufficient available balance"));
    /* '#' names program accounts: no event may address one as a user */
    ev_adjust(f, "#expense", 100);
    assert_int_equal(fold_next(l, f, &res), RF_OUTCOME_REJECTED);
    assert_string_equal(res.reason, "reserved_id");
    commit(l);
    balance(l, "bob", b);
    balance(l, "#adjustment", adj);
    assert_int_equal(b[RF_BUCKET_AVAILABLE], 300);
    assert_int_equal(b[RF_BUCKET_PENDING], 0);
    assert_int_equal(adj[RF_BUCKET_ADJUSTMENT], -300);
    /* the credit record balances and names reason and actor */
    rf_record_t *rec = malloc(sizeof *rec);
    rf_errbuf_t eb;
    assert_int_equal(rf_ledger_get_record(l, 2, rec, &eb), RF_OK);
    assert_string_equal(rec->kind, RF_KIND_ADJUSTMENT);
    assert_int_equal(rec->npostings, 2);
    assert_true(rf_record_balanced(rec));
    assert_string_equal(rf_record_get_fact(rec, RF_FACT_ACTOR), "finance-1");
    assert_string_equal(rf_record_get_fact(rec, RF_FACT_TYPE), "Adjustment");
    free(rec);
    assert_verifies(l);
    rf_ledger_close(l);
}

static void test_redemption(void **state)
{
    fx_t *f = *state;
    rf_ledger_t *l = open_rw(f, 0);
    rf_fold_result_t res;
    int64_t b[RF_BUCKET__COUNT];
    ev_program(f, PROGRAM, 1);
    fold_next(l, f, NULL);
    ev_redeem(f, "carol", 1);
    assert_int_equal(fold_next(l, f, &res), RF_OUTCOME_REJECTED); /* nothing available */
    ev_adjust(f, "carol", 1000);
    fold_next(l, f, NULL);
    ev_redeem(f, "carol", 400);
    assert_int_equal(fold_next(l, f, &res), RF_OUTCOME_APPLIED);
    ev_redeem(f, "carol", 700);
    assert_int_equal(fold_next(l, f, &res), RF_OUTCOME_REJECTED);
    assert_non_null(strstr(res.reason, "requested 700, available 600"));
    ev_redeem(f, "carol", 600);
    assert_int_equal(fold_next(l, f, &res), RF_OUTCOME_APPLIED);
    commit(l);
    balance(l, "carol", b);
    assert_int_equal(b[RF_BUCKET_AVAILABLE], 0);
    assert_int_equal(b[RF_BUCKET_REDEEMED], 1000);
    assert_verifies(l);
    rf_ledger_close(l);
}

static void test_durable_and_dropped(void **state)
{
    fx_t *f = *state;
    rf_ledger_t *l = open_rw(f, 1);
    int64_t b[RF_BUCKET__COUNT];
    ev_program(f, PROGRAM, 1);
    fold_next(l, f, NULL);
    ev_adjust(f, "dave", 700);
    fold_next(l, f, NULL);
    commit(l);
    rf_ledger_head_t h1, h2;
    rf_ledger_head(l, &h1, NULL);
    /* a batch never committed is dropped on close */
    ev_adjust(f, "dave", 50);
    fold_next(l, f, NULL);
    rf_ledger_close(l);
    l = open_rw(f, 1);
    rf_ledger_head(l, &h2, NULL);
    assert_memory_equal(&h1, &h2, sizeof h1);
    assert_int_equal(rf_ledger_next_offset(l), 2);
    balance(l, "dave", b);
    assert_int_equal(b[RF_BUCKET_AVAILABLE], 700);
    /* and the dropped offset folds again after the reopen */
    fold_next(l, f, NULL);
    commit(l);
    balance(l, "dave", b);
    assert_int_equal(b[RF_BUCKET_AVAILABLE], 750);
    assert_verifies(l);
    rf_ledger_close(l);
    int32_t parts[4];
    assert_int_equal(rf_ledger_list_partitions(f->dir, parts, 4), 1);
    assert_int_equal(parts[0], 1);
}

/* The same events into two ledgers (different batch boundaries) give the
 * same head hash: the fold is a function of the events alone. The mix runs a
 * referral funnel through the rules (codes, attributed signups, purchases,
 * a clock far ahead to mature holds) and the engine's adjustments and
 * redemptions (some overdrawn). */
static void fold_mix(fx_t *f, rf_ledger_t *l, int commit_every)
{
    f->id = 0;
    ev_program(f, PROGRAM, 1);
    fold_next(l, f, NULL);
    for (int i = 0; i < 360; i++) {
        char user[32], ref[32], code[32], friend_[32];
        snprintf(user, sizeof user, "u%d", i % 17);
        snprintf(ref, sizeof ref, "ref%d", i / 6 % 10);
        snprintf(code, sizeof code, "CODE%d", i / 6 % 10);
        snprintf(friend_, sizeof friend_, "friend%d", i / 6);
        switch (i % 6) {
        case 0:
            ev_code(f, ref, code);
            break;
        case 1:
            ev_signup(f, friend_, code);
            break;
        case 2:
            ev_purchase(f, PROGRAM, friend_, 2500 + i);
            break;
        case 3:
            ev_adjust(f, user, 100 + i);
            break;
        case 4:
            ev_redeem(f, i % 12 == 4 ? ref : user, 50 + i);
            break;
        default:
            ev_share(f, PROGRAM, ref);
            break;
        }
        fold_next(l, f, NULL);
        if (i % commit_every == 0) commit(l);
        if (i == 180) {
            ev_clock(f, T0 + 400LL * 86400 * 1000); /* past any hold */
            fold_next(l, f, NULL);
        }
    }
    commit(l);
}

/* Double entry: over every account of the ledger, all buckets sum to zero. */
static int sum_balances(const char *program, const char *owner, const char *asset,
                        const int64_t b[RF_BUCKET__COUNT], void *opaque)
{
    int64_t *sum = opaque;
    (void)program, (void)owner;
    assert_string_equal(asset, "USD");
    for (int i = 0; i < RF_BUCKET__COUNT; i++)
        sum[0] += b[i];
    sum[1]++;
    return 0;
}

static int count_archive(int64_t offset, int64_t clock_ms, const uint8_t *bytes, size_t len,
                         void *opaque)
{
    (void)clock_ms;
    int64_t *n = opaque;
    assert_int_equal(offset, *n); /* every offset, in order */
    assert_true(len > 0 && bytes[0] == 0);
    (*n)++;
    return 0;
}

typedef struct kind_count {
    uint64_t records, posted, rules_posted;
} kind_count_t;

static int count_kinds(const rf_record_t *rec, void *opaque)
{
    kind_count_t *kc = opaque;
    kc->records++;
    if (rec->npostings) {
        kc->posted++;
        if (strcmp(rec->kind, RF_KIND_ADJUSTMENT) && strcmp(rec->kind, RF_KIND_REDEMPTION))
            kc->rules_posted++;
    }
    return 0;
}

static void test_determinism(void **state)
{
    fx_t *f = *state;
    char d1[600], d2[600];
    snprintf(d1, sizeof d1, "%s/one", f->dir);
    snprintf(d2, sizeof d2, "%s/two", f->dir);
    rf_errbuf_t eb;
    rf_ledger_t *a = rf_ledger_open(d1, 2, RF_LEDGER_CREATE | RF_LEDGER_NOSYNC, &eb);
    rf_ledger_t *b = rf_ledger_open(d2, 2, RF_LEDGER_CREATE | RF_LEDGER_NOSYNC, &eb);
    assert_non_null(a);
    assert_non_null(b);
    fold_mix(f, a, 7);
    fold_mix(f, b, 1000);
    rf_ledger_head_t ha, hb;
    rf_ledger_head(a, &ha, NULL);
    rf_ledger_head(b, &hb, NULL);
    assert_true(ha.seq > 300);
    assert_int_equal(ha.seq, hb.seq);
    assert_memory_equal(ha.hash, hb.hash, 32);
    assert_memory_equal(ha.counts, hb.counts, sizeof ha.counts);
    assert_true(ha.counts[RF_OUTCOME_REJECTED] > 0); /* some overdrafts in the mix */
    kind_count_t kc = {0};
    rf_errbuf_t seb;
    assert_int_equal(rf_ledger_scan(a, 0, 0, count_kinds, &kc, &seb), RF_OK);
    assert_int_equal(kc.records, ha.seq);
    int64_t sum[2] = {0, 0}, narch = 0;
    assert_int_equal(rf_ledger_scan_balances(a, sum_balances, sum, &seb), RF_OK);
    assert_int_equal(sum[0], 0);
    assert_true(sum[1] > 20);
    assert_int_equal(rf_ledger_archive_scan(a, 0, count_archive, &narch, &seb), RF_OK);
    assert_int_equal(narch, ha.next_offset);
    print_message("%llu records, %llu with postings, %llu of the rules' kinds with postings\n",
                  (unsigned long long)kc.records, (unsigned long long)kc.posted,
                  (unsigned long long)kc.rules_posted);
    assert_verifies(a);
    rf_ledger_close(a);
    rf_ledger_close(b);
}

/* ---- tampering through RocksDB directly ---- */

/* The ledger's RocksDB with its column families (state, records, archive);
 * each key goes to the family of its first byte, as in rf_ledger.c. */
typedef struct raw {
    rocksdb_t *db;
    rocksdb_options_t *o;
    rocksdb_column_family_handle_t *cf[3];
} raw_t;

static rocksdb_column_family_handle_t *raw_cf(raw_t *r, const uint8_t *k)
{
    return r->cf[k[0] == 'r' ? 1 : k[0] == 'a' ? 2 : 0];
}

static raw_t *raw_open(const char *dir, int32_t partition, char *path, size_t cap)
{
    static const char *names[3] = {"default", "records", "archive"};
    snprintf(path, cap, "%s/fold/p-%04d", dir, (int)partition);
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

static void raw_put(raw_t *r, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    char *err = NULL;
    rocksdb_put_cf(r->db, wo, raw_cf(r, k), (const char *)k, kl, (const char *)v, vl, &err);
    rocksdb_writeoptions_destroy(wo);
    assert_null(err);
}

static void raw_del(raw_t *r, const uint8_t *k, size_t kl)
{
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    char *err = NULL;
    rocksdb_delete_cf(r->db, wo, raw_cf(r, k), (const char *)k, kl, &err);
    rocksdb_writeoptions_destroy(wo);
    assert_null(err);
}

static char *raw_get(raw_t *r, const uint8_t *k, size_t kl, size_t *vl)
{
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    char *err = NULL;
    char *v = rocksdb_get_cf(r->db, ro, raw_cf(r, k), (const char *)k, kl, vl, &err);
    rocksdb_readoptions_destroy(ro);
    assert_null(err);
    assert_non_null(v);
    return v;
}

static void build_ledger(fx_t *f, int32_t partition)
{
    rf_ledger_t *l = open_rw(f, partition);
    fold_mix(f, l, 50);
    assert_verifies(l);
    rf_ledger_close(l);
}

static rf_err_t verify_dir(fx_t *f, int32_t partition, uint64_t *bad, rf_errbuf_t *eb)
{
    rf_ledger_t *l = rf_ledger_open(f->dir, partition, RF_LEDGER_READONLY, eb);
    assert_non_null(l);
    rf_err_t err = rf_ledger_verify(l, bad, eb);
    rf_ledger_close(l);
    return err;
}

static void test_tamper_byte(void **state)
{
    fx_t *f = *state;
    char path[700], out[4096];
    build_ledger(f, 0);
    raw_t *db = raw_open(f->dir, 0, path, sizeof path);
    uint8_t key[9];
    size_t vl = 0;
    rf__key_u64(key, RF__K_RECORD, 40);
    char *v = raw_get(db, key, 9, &vl);
    v[vl - 1] ^= 0x01; /* last byte of the last fact's value */
    raw_put(db, key, 9, (uint8_t *)v, vl);
    rocksdb_free(v);
    raw_close(db);
    uint64_t bad = 0;
    rf_errbuf_t eb;
    assert_int_equal(verify_dir(f, 0, &bad, &eb), RF_ERR_CORRUPT);
    assert_int_equal(bad, 40);
    assert_non_null(strstr(eb.msg, "hash"));
    /* reading the record checks it too */
    rf_ledger_t *l = rf_ledger_open(f->dir, 0, RF_LEDGER_READONLY, &eb);
    rf_record_t *rec = malloc(sizeof *rec);
    assert_int_equal(rf_ledger_get_record(l, 40, rec, &eb), RF_ERR_CORRUPT);
    assert_int_equal(rf_ledger_get_record(l, 39, rec, &eb), RF_OK);
    free(rec);
    rf_ledger_close(l);
    /* and the command says so, exiting 1 */
    assert_int_equal(rf_test_refold(out, sizeof out, 0, "verify --data '%s'", f->dir), 1);
    assert_non_null(strstr(out, "FAULT seq=40"));
    assert_int_equal(rf_test_refold(out, sizeof out, 0, "verify --data '%s' --json", f->dir), 1);
    assert_non_null(strstr(out, "\"bad_seq\":40"));
}

static void test_tamper_delete(void **state)
{
    fx_t *f = *state;
    char path[700];
    build_ledger(f, 0);
    raw_t *db = raw_open(f->dir, 0, path, sizeof path);
    uint8_t key[9];
    rf__key_u64(key, RF__K_RECORD, 17);
    raw_del(db, key, 9);
    raw_close(db);
    uint64_t bad = 0;
    rf_errbuf_t eb;
    assert_int_equal(verify_dir(f, 0, &bad, &eb), RF_ERR_CORRUPT);
    assert_int_equal(bad, 17);
    assert_non_null(strstr(eb.msg, "missing"));
}

/* An extra record with a valid hash and link but unbalanced postings (and a
 * meta row pointing at it) is still caught: the postings check. */
static void test_tamper_unbalanced(void **state)
{
    fx_t *f = *state;
    char path[700];
    build_ledger(f, 0);
    raw_t *db = raw_open(f->dir, 0, path, sizeof path);
    uint8_t mkey = RF__K_META;
    size_t vl = 0;
    char *mv = raw_get(db, &mkey, 1, &vl);
    rf__meta_t m;
    assert_int_equal(rf__meta_decode((uint8_t *)mv, vl, &m, NULL), RF_OK);
    rocksdb_free(mv);
    rf_record_t *rec = calloc(1, sizeof *rec);
    rec->seq = m.head_seq + 1;
    memcpy(rec->prev_hash, m.head_hash, 32);
    rec->partition = 0;
    rec->offset = m.next_offset - 1;
    rf_strlcpy(rec->event_id, "00000000-0000-4000-8000-000000000001", sizeof rec->event_id);
    rf_strlcpy(rec->program_id, PROGRAM, sizeof rec->program_id);
    rf_strlcpy(rec->kind, RF_KIND_ADJUSTMENT, sizeof rec->kind);
    rf_record_post(rec, "mallory", RF_BUCKET_AVAILABLE, "USD", 1000000);
    rf_record_compute_hash(rec, rec->hash);
    uint8_t val[RF__RECORD_HDR + RF_RECORD_BYTES_MAX], key[9], meta[RF__META_LEN];
    size_t n = rf_record_canonical(rec, val + RF__RECORD_HDR, RF_RECORD_BYTES_MAX);
    memcpy(val, rec->hash, 32);
    memcpy(val + 32, rec->prev_hash, 32);
    raw_put(db, key, rf__key_u64(key, RF__K_RECORD, rec->seq), val, RF__RECORD_HDR + n);
    m.head_seq = rec->seq;
    memcpy(m.head_hash, rec->hash, 32);
    rf__meta_encode(&m, meta);
    raw_put(db, &mkey, 1, meta, sizeof meta);
    raw_close(db);
    uint64_t bad = 0;
    rf_errbuf_t eb;
    assert_int_equal(verify_dir(f, 0, &bad, &eb), RF_ERR_CORRUPT);
    assert_int_equal(bad, rec->seq);
    assert_non_null(strstr(eb.msg, "balance"));
    free(rec);
}

/* A balance changed behind the ledger's back no longer equals its postings. */
static void test_tamper_balance(void **state)
{
    fx_t *f = *state;
    char path[700];
    build_ledger(f, 0);
    raw_t *db = raw_open(f->dir, 0, path, sizeof path);
    uint8_t key[RF__BALANCE_KEY_MAX], v[RF__BALANCE_VAL_LEN];
    int64_t b[RF_BUCKET__COUNT] = {0};
    size_t kl = rf__balance_key(key, PROGRAM, "u3", "USD"), vl = 0;
    char *old = raw_get(db, key, kl, &vl);
    assert_int_equal(vl, RF__BALANCE_VAL_LEN);
    rf__balance_decode((uint8_t *)old, b);
    rocksdb_free(old);
    b[RF_BUCKET_AVAILABLE] += 1;
    rf__balance_encode(b, v);
    raw_put(db, key, kl, v, sizeof v);
    raw_close(db);
    uint64_t bad = 0;
    rf_errbuf_t eb;
    assert_int_equal(verify_dir(f, 0, &bad, &eb), RF_ERR_CORRUPT);
    assert_true(bad > 0);
    assert_non_null(strstr(eb.msg, "u3"));
}

/* More accounts than verify's map holds: several passes, same verdicts. */
static void test_verify_passes(void **state)
{
    fx_t *f = *state;
    rf_ledger_t *l = open_rw(f, 0);
    ev_program(f, PROGRAM, 1);
    fold_next(l, f, NULL);
    for (int i = 0; i < 1500; i++) {
        char user[32];
        snprintf(user, sizeof user, "many%d", i);
        ev_adjust(f, user, 10 + i);
        fold_next(l, f, NULL);
    }
    commit(l);
    rf__verify_slots_max = 1024; /* 384 accounts per pass: 4 passes */
    assert_verifies(l);
    rf_ledger_close(l);
    char path[700];
    raw_t *db = raw_open(f->dir, 0, path, sizeof path);
    uint8_t key[RF__BALANCE_KEY_MAX], v[RF__BALANCE_VAL_LEN];
    int64_t b[RF_BUCKET__COUNT] = {0};
    b[RF_BUCKET_AVAILABLE] = 9999;
    rf__balance_encode(b, v);
    raw_put(db, key, rf__balance_key(key, PROGRAM, "many1234", "USD"), v, sizeof v);
    raw_close(db);
    uint64_t bad = 0;
    rf_errbuf_t eb;
    rf_err_t err = verify_dir(f, 0, &bad, &eb);
    rf__verify_slots_max = RF_VERIFY_ACCOUNTS_MAX;
    assert_int_equal(err, RF_ERR_CORRUPT);
    assert_int_equal(bad, 1236); /* the program's record, then many0 at seq 2 */
    assert_non_null(strstr(eb.msg, "many1234"));
}

static void test_checkpoint_and_readonly(void **state)
{
    fx_t *f = *state;
    char cp[700], out[4096];
    rf_errbuf_t eb;
    rf_ledger_t *l = open_rw(f, 5);
    fold_mix(f, l, 40);
    snprintf(cp, sizeof cp, "%s/checkpoint", f->dir);
    assert_int_equal(rf_ledger_checkpoint(l, cp, &eb), RF_OK);
    assert_int_equal(rf_ledger_checkpoint(l, cp, &eb), RF_ERR_STORAGE); /* exists */
    rf_ledger_head_t h, hc;
    rf_ledger_head(l, &h, NULL);
    /* a reader sees the ledger as of its open, while the writer goes on */
    rf_ledger_t *r = rf_ledger_open(f->dir, 5, RF_LEDGER_READONLY, &eb);
    assert_non_null(r);
    ev_adjust(f, "late", 5);
    fold_next(l, f, NULL);
    commit(l);
    rf_ledger_head(r, &hc, NULL);
    assert_memory_equal(&h, &hc, sizeof h);
    rf_fold_result_t res;
    assert_int_equal(
        rf_ledger_fold(r, h.next_offset, RF_LEDGER_CLOCK_NONE, f->buf, f->len, &res, &eb),
        RF_ERR_CONFIG);
    /* a reader cannot checkpoint: it may not know files the writer made since */
    char cp2[700];
    snprintf(cp2, sizeof cp2, "%s/checkpoint-ro", f->dir);
    assert_int_equal(rf_ledger_checkpoint(r, cp2, &eb), RF_ERR_CONFIG);
    rf_ledger_close(r);
    rf_ledger_close(l);
    rf_ledger_t *c = rf_ledger_open_path(cp, 5, RF_LEDGER_READONLY, &eb);
    assert_non_null(c);
    rf_ledger_head(c, &hc, NULL);
    assert_memory_equal(&h, &hc, sizeof h);
    assert_verifies(c);
    rf_ledger_close(c);
    assert_null(rf_ledger_open_path(cp, 6, RF_LEDGER_READONLY, &eb)); /* other partition */
    assert_int_equal(rf_test_refold(out, sizeof out, 0, "verify --path '%s' --partition 5", cp), 0);
    assert_non_null(strstr(out, "partition=5 OK"));
    assert_int_equal(rf_test_refold(out, sizeof out, 0, "head --data '%s' --json", f->dir), 0);
    assert_non_null(strstr(out, "\"partition\":5"));
    assert_non_null(strstr(out, "\"applied\":"));
}

static void test_outbox_ack(void **state)
{
    fx_t *f = *state;
    rf_errbuf_t eb;
    rf_ledger_t *l = open_rw(f, 0);
    ev_program(f, PROGRAM, 1);
    fold_next(l, f, NULL);
    ev_adjust(f, "erin", 10);
    fold_next(l, f, NULL);
    commit(l);
    assert_int_equal(rf_ledger_outbox_ack(l, 9, &eb), RF_ERR_BAD_INPUT);
    assert_int_equal(rf_ledger_outbox_ack(l, 1, &eb), RF_OK); /* no batch: written now */
    rf_ledger_close(l);
    l = open_rw(f, 0);
    rf_ledger_head_t h;
    rf_ledger_head(l, &h, NULL);
    assert_int_equal(h.outbox_seq, 1);
    ev_adjust(f, "erin", 10);
    fold_next(l, f, NULL);
    assert_int_equal(rf_ledger_outbox_ack(l, 2, &eb), RF_OK); /* staged with the batch */
    assert_int_equal(rf_ledger_outbox_ack(l, 1, &eb), RF_OK); /* never goes back */
    commit(l);
    rf_ledger_head(l, &h, NULL);
    assert_int_equal(h.outbox_seq, 2);
    assert_verifies(l);
    rf_ledger_close(l);
}

/* The outbox's tail: records committed after the first ack are scanned
 * from memory; every range must read as the stored records do, whether it
 * lies in the tail, before it, or straddles it, and after the tail restarts
 * over RF_LEDGER_TAIL_BYTES with nothing acknowledged. */
typedef struct tail_chk {
    rf_ledger_t *ro; /* reads the stored records (the same handle, from RocksDB) */
    uint64_t next;   /* the seq expected next */
} tail_chk_t;

static int tail_cb(const rf_record_t *rec, void *opaque)
{
    tail_chk_t *c = opaque;
    rf_record_t *want = malloc(sizeof *want);
    rf_errbuf_t eb;
    assert_non_null(want);
    assert_int_equal(rec->seq, c->next);
    assert_int_equal(rf_ledger_get_record(c->ro, rec->seq, want, &eb), RF_OK);
    assert_memory_equal(rec->hash, want->hash, 32);
    assert_memory_equal(rec->prev_hash, want->prev_hash, 32);
    assert_string_equal(rec->kind, want->kind);
    assert_int_equal(rec->npostings, want->npostings);
    uint8_t a[RF_RECORD_BYTES_MAX], b[RF_RECORD_BYTES_MAX];
    size_t an = rf_record_canonical(rec, a, sizeof a), bn = rf_record_canonical(want, b, sizeof b);
    assert_int_equal(an, bn);
    assert_memory_equal(a, b, an);
    free(want);
    c->next++;
    return 0;
}

static void scan_check(rf_ledger_t *l, uint64_t from, uint64_t to)
{
    rf_errbuf_t eb;
    tail_chk_t c = {l, from};
    assert_int_equal(rf_ledger_scan(l, from, to, tail_cb, &c, &eb), RF_OK);
    assert_int_equal(c.next, to + 1);
}

static void test_outbox_tail(void **state)
{
    fx_t *f = *state;
    rf_errbuf_t eb;
    rf_ledger_t *l = open_rw(f, 0);
    ev_program(f, PROGRAM, 1);
    fold_next(l, f, NULL);
    commit(l); /* before the tail: read from RocksDB */
    assert_int_equal(rf_ledger_outbox_ack(l, 0, &eb), RF_OK); /* the outbox starts */
    uint64_t acked = 0;
    for (int batch = 0; batch < 45; batch++) { /* ~275 bytes a record: over the cap */
        uint64_t before = head_seq(l);
        for (int i = 0; i < 500; i++) {
            ev_adjust(f, i % 2 ? "erin" : "frank", 10 + i);
            fold_next(l, f, NULL);
        }
        commit(l);
        uint64_t head = head_seq(l);
        scan_check(l, before + 1, head);                  /* the new batch */
        scan_check(l, acked + 1, head);                   /* from the acknowledged seq */
        scan_check(l, before > 3 ? before - 3 : 1, head); /* straddling */
        if (batch < 10 && batch % 3 == 2) { /* then nothing acked: the tail restarts */
            acked = before;
            assert_int_equal(rf_ledger_outbox_ack(l, acked, &eb), RF_OK);
        }
    }
    /* white-box: the tail restarted past the acknowledged seq (cap) */
    assert_true(l->tail_first > acked + 1 && l->tail_len.len > 0);
    scan_check(l, 1, head_seq(l));
    assert_verifies(l);
    rf_ledger_close(l);
}

/* ---- the batch overlay: read-your-writes gets and merged scans ---- */

typedef struct scan_out {
    char keys[512];
    int stop_after;
    int n;
} scan_out_t;

static int collect(const void *k, size_t kl, const void *v, size_t vl, void *opaque)
{
    scan_out_t *o = opaque;
    size_t n = strlen(o->keys);
    snprintf(o->keys + n, sizeof o->keys - n, "%.*s=%.*s ", (int)kl, (const char *)k, (int)vl,
             (const char *)v);
    return ++o->n == o->stop_after;
}

static const char *scan_str(rf_fold_ctx_t *ctx, const char *s, const char *e, int stop_after)
{
    static scan_out_t o;
    memset(&o, 0, sizeof o);
    o.stop_after = stop_after;
    assert_int_equal(rf_fold_scan(ctx, s, strlen(s), e, e ? strlen(e) : 0, collect, &o), RF_OK);
    return o.keys;
}

static void put_str(rf_fold_ctx_t *ctx, const char *k, const char *v)
{
    assert_int_equal(rf_fold_put(ctx, k, strlen(k), v, strlen(v)), RF_OK);
}

static void test_overlay(void **state)
{
    fx_t *f = *state;
    rf_ledger_t *l = open_rw(f, 0);
    rf_fold_ctx_t *ctx = &l->ctx;
    rf__ctx_reset(l, ev_new(f, RF_EV_CLOCK, PROGRAM), 0);
    put_str(ctx, "xA1", "a");
    put_str(ctx, "xA2", "b");
    put_str(ctx, "xA4", "d");
    put_str(ctx, "xB1", "z");
    commit(l);
    assert_int_equal(rf_ledger_next_offset(l), -1); /* state only: no offset folded */
    put_str(ctx, "xA2", "B");                       /* overwrite a committed key */
    put_str(ctx, "xA3", "c");
    put_str(ctx, "xA3", "C"); /* overwrite a batch key */
    assert_int_equal(rf_fold_del(ctx, "xA4", 3), RF_OK);
    put_str(ctx, "xA0", "0");
    char v[8];
    size_t vl = 0;
    assert_int_equal(rf_fold_get(ctx, "xA4", 3, v, sizeof v, &vl), RF_ERR_NOT_FOUND);
    assert_int_equal(rf_fold_get(ctx, "xA3", 3, v, sizeof v, &vl), RF_OK);
    assert_int_equal(vl, 1);
    assert_int_equal(v[0], 'C');
    assert_int_equal(rf_fold_get(ctx, "xA2", 3, v, 0, &vl), RF_ERR_OVERSIZE);
    assert_int_equal(vl, 1);
    const char *want_a = "xA0=0 xA1=a xA2=B xA3=C ";
    assert_string_equal(scan_str(ctx, "xA", "xB", 0), want_a); /* one prefix */
    assert_string_equal(scan_str(ctx, "x", "y", 0), "xA0=0 xA1=a xA2=B xA3=C xB1=z ");
    assert_string_equal(scan_str(ctx, "xA1", "xA3", 0), "xA1=a xA2=B ");
    assert_string_equal(scan_str(ctx, "xA", NULL, 2), "xA0=0 xA1=a "); /* cb stops */
    commit(l);
    rf__ctx_reset(l, l->ev ? l->ev : f->ev, 0);
    assert_string_equal(scan_str(ctx, "xA", "xB", 0), want_a); /* the same from the DB */
    rf_ledger_close(l);
}

/* Rules state values are stored with zero runs collapsed: random mixes of
 * zero runs (of every length around the token limits) and bytes round-trip,
 * never grow past the bound, and malformed or too-large input is refused. */
static void test_zero_runs(void **state)
{
    (void)state;
    static uint8_t in[2048], enc[2048 + 32], out[2048];
    unsigned seed = 12345;
    for (int it = 0; it < 3000; it++) {
        size_t n = 0, want = (size_t)(rand_r(&seed) % 1500);
        while (n < want) { /* alternate zero runs and non-zero bytes */
            size_t run = (size_t)(rand_r(&seed) % (rand_r(&seed) % 2 ? 4 : 300)) + 1;
            int zero = rand_r(&seed) % 2;
            for (size_t i = 0; i < run && n < want; i++)
                in[n++] = zero ? 0 : (uint8_t)(rand_r(&seed) % 255 + 1);
        }
        size_t el = rf__zr_encode(in, n, enc), ol = 0;
        assert_true(el <= rf__zr_bound(n));
        assert_int_equal(rf__zr_decode(enc, el, out, sizeof out, &ol), RF_OK);
        assert_int_equal(ol, n);
        assert_memory_equal(out, in, n);
        if (n > 0) { /* too small a buffer: the size, and nothing past cap */
            memset(out, 0xAA, sizeof out);
            assert_int_equal(rf__zr_decode(enc, el, out, n - 1, &ol), RF_ERR_OVERSIZE);
            assert_int_equal(ol, n);
            assert_int_equal(out[n - 1], 0xAA);
        }
    }
    memset(in, 0, 600); /* a mostly zero struct shrinks */
    in[3] = 7;
    assert_true(rf__zr_encode(in, 600, enc) < 16);
    const uint8_t bad[2] = {5, 'x'}; /* a literal run past the end */
    size_t ol = 0;
    assert_int_equal(rf__zr_decode(bad, sizeof bad, out, sizeof out, &ol), RF_ERR_CORRUPT);
}

/* A rules value with zero runs written, committed and read back from the
 * DB through get (exact and too small a buffer) and scan. */
static int scan_big(const void *k, size_t kl, const void *v, size_t vl, void *opaque)
{
    (void)k, (void)kl;
    return vl == 700 && memcmp(v, opaque, 700) == 0 ? 0 : -1;
}

static void test_state_values(void **state)
{
    fx_t *f = *state;
    rf_ledger_t *l = open_rw(f, 0);
    rf_fold_ctx_t *ctx = &l->ctx;
    rf__ctx_reset(l, ev_new(f, RF_EV_CLOCK, PROGRAM), 0);
    static uint8_t big[700], got[700];
    memset(big, 0, sizeof big);
    memcpy(big + 10, "referrer-1", 10);
    memset(big + 300, 0xff, 8);
    big[699] = 1;
    assert_int_equal(rf_fold_put(ctx, "xZbig", 5, big, sizeof big), RF_OK);
    assert_int_equal(rf_fold_put(ctx, "xZempty", 7, "", 0), RF_OK);
    commit(l);
    size_t vl = 0;
    assert_int_equal(rf_fold_get(ctx, "xZbig", 5, got, sizeof got, &vl), RF_OK);
    assert_int_equal(vl, sizeof big);
    assert_memory_equal(got, big, sizeof big);
    assert_int_equal(rf_fold_get(ctx, "xZbig", 5, got, 100, &vl), RF_ERR_OVERSIZE);
    assert_int_equal(vl, sizeof big);
    assert_int_equal(rf_fold_get(ctx, "xZempty", 7, got, sizeof got, &vl), RF_OK);
    assert_int_equal(vl, 0);
    assert_int_equal(rf_fold_scan(ctx, "xZb", 3, "xZc", 3, scan_big, big), RF_OK);
    rf_ledger_close(l);
}

/* Archived events are stored in chunks (RF_LEDGER_ARCHIVE_CHUNK_BYTES):
 * every offset reads back from any chunk and from a scan starting anywhere,
 * across batches; a missing or malformed chunk is found by verify and the
 * read API. */
#define ARCH_N   40
#define ARCH_LEN 9000 /* undecodable, so dead-lettered and archived */

static void arch_bytes(int i, uint8_t *buf)
{
    for (int j = 0; j < ARCH_LEN; j++)
        buf[j] = (uint8_t)(7 + i * 31 + j % 251);
}

typedef struct arch_check {
    int64_t next;
    int bad;
} arch_check_t;

static int arch_cb(int64_t offset, int64_t clock_ms, const uint8_t *bytes, size_t len, void *opaque)
{
    (void)clock_ms;
    arch_check_t *c = opaque;
    static uint8_t want[ARCH_LEN];
    arch_bytes((int)offset, want);
    if (offset != c->next || len != ARCH_LEN || memcmp(bytes, want, len)) c->bad = 1;
    c->next++;
    return 0;
}

static void test_archive_chunks(void **state)
{
    fx_t *f = *state;
    rf_ledger_t *l = open_rw(f, 0);
    static uint8_t buf[ARCH_LEN], got[ARCH_LEN];
    rf_errbuf_t eb;
    for (int i = 0; i < ARCH_N; i++) {
        rf_fold_result_t res;
        arch_bytes(i, buf);
        assert_int_equal(rf_ledger_fold(l, i, RF_LEDGER_CLOCK_NONE, buf, ARCH_LEN, &res, &eb),
                         RF_OK);
        assert_int_equal(res.outcome, RF_OUTCOME_DEAD_LETTER);
        if (i == 29) commit(l); /* chunks of two batches */
    }
    commit(l);
    assert_verifies(l);
    for (int i = 0; i < ARCH_N; i++) {
        size_t n = 0;
        arch_bytes(i, buf);
        assert_int_equal(rf_ledger_archive_get(l, i, got, sizeof got, &n, NULL, &eb), RF_OK);
        assert_int_equal(n, ARCH_LEN);
        assert_memory_equal(got, buf, n);
        arch_check_t c = {i, 0};
        assert_int_equal(rf_ledger_archive_scan(l, i, arch_cb, &c, &eb), RF_OK);
        assert_int_equal(c.next, ARCH_N);
        assert_false(c.bad);
    }
    size_t n = 0;
    assert_int_equal(rf_ledger_archive_get(l, 3, got, 10, &n, NULL, &eb), RF_ERR_OVERSIZE);
    assert_int_equal(rf_ledger_archive_get(l, ARCH_N, got, sizeof got, &n, NULL, &eb),
                     RF_ERR_NOT_FOUND);
    assert_int_equal(rf_ledger_archive_get(l, -1, got, sizeof got, &n, NULL, &eb),
                     RF_ERR_NOT_FOUND);
    rf_ledger_close(l);
}

/* Archive chunks tampered with: one deleted, one cut short. */
static void test_tamper_archive(void **state)
{
    fx_t *f = *state;
    rf_ledger_t *l = open_rw(f, 0);
    static uint8_t buf[ARCH_LEN];
    rf_errbuf_t eb;
    for (int i = 0; i < ARCH_N; i++) {
        rf_fold_result_t res;
        arch_bytes(i, buf);
        assert_int_equal(rf_ledger_fold(l, i, RF_LEDGER_CLOCK_NONE, buf, ARCH_LEN, &res, &eb),
                         RF_OK);
    }
    commit(l);
    rf_ledger_close(l);
    /* chunks close past 64 KiB: 8 events of 9004 bytes each */
    char path[600];
    uint8_t key[9];
    raw_t *db = raw_open(f->dir, 0, path, sizeof path);
    raw_del(db, key, rf__key_u64(key, RF__K_ARCHIVE, 8));
    size_t vl = 0;
    char *v = raw_get(db, key, rf__key_u64(key, RF__K_ARCHIVE, 16), &vl);
    raw_put(db, key, 9, (uint8_t *)v, vl - 10);
    rocksdb_free(v);
    raw_close(db);
    uint64_t bad = 0;
    assert_int_equal(verify_dir(f, 0, &bad, &eb), RF_ERR_CORRUPT);
    print_message("verify: %s\n", eb.msg);
    assert_non_null(strstr(eb.msg, "archive"));
    l = rf_ledger_open(f->dir, 0, RF_LEDGER_READONLY, &eb);
    assert_non_null(l);
    size_t n = 0;
    assert_int_equal(rf_ledger_archive_get(l, 7, buf, sizeof buf, &n, NULL, &eb), RF_OK);
    assert_int_equal(rf_ledger_archive_get(l, 17, buf, sizeof buf, &n, NULL, &eb),
                     RF_OK); /* intact */
    assert_int_equal(rf_ledger_archive_get(l, 9, buf, sizeof buf, &n, NULL, &eb), RF_ERR_NOT_FOUND);
    assert_int_equal(rf_ledger_archive_get(l, 23, buf, sizeof buf, &n, NULL, &eb), RF_ERR_CORRUPT);
    arch_check_t c = {0, 0};
    assert_int_equal(rf_ledger_archive_scan(l, 0, arch_cb, &c, &eb), RF_ERR_CORRUPT);
    assert_int_equal(c.next, 8); /* stopped at the gap */
    rf_ledger_close(l);
}

/* More writable ledgers than the memtable budget gives 64 MiB each: the
 * open ones are resized as others open and close (down to the floor) and
 * keep folding and committing. */
static void test_many_writers(void **state)
{
    fx_t *f = *state;
    enum { N = 24 };
    rf_ledger_t *ls[N];
    for (int p = 0; p < N; p++) {
        ls[p] = open_rw(f, p);
        ev_program(f, PROGRAM, 1);
        assert_int_equal(fold_next(ls[p], f, NULL), RF_OUTCOME_APPLIED);
    }
    for (int p = 0; p < N; p++) {
        commit(ls[p]);
        ev_share(f, PROGRAM, "ann");
        assert_int_equal(fold_next(ls[p], f, NULL), RF_OUTCOME_APPLIED);
        commit(ls[p]);
        if (p % 2) rf_ledger_close(ls[p]), ls[p] = NULL;
    }
    for (int p = 0; p < N; p += 2) {
        ev_share(f, PROGRAM, "bob");
        assert_int_equal(fold_next(ls[p], f, NULL), RF_OUTCOME_APPLIED);
        commit(ls[p]);
        assert_verifies(ls[p]);
        assert_int_equal(rf_ledger_next_offset(ls[p]), 3);
        rf_ledger_close(ls[p]);
    }
}

/* Pins the canonical encoding and hash (docs/ledger.md, test vector): a
 * change here breaks every stored chain. */
static void test_canonical_vector(void **state)
{
    (void)state;
    rf_record_t *rec = calloc(1, sizeof *rec);
    rec->seq = 1;
    rec->partition = 3;
    rec->offset = 42;
    rf_strlcpy(rec->event_id, "00000000-0000-4000-8000-000000000001", sizeof rec->event_id);
    rf_strlcpy(rec->program_id, "prog-a", sizeof rec->program_id);
    rec->occurred_at_ms = T0;
    rf_strlcpy(rec->kind, "adjustment", sizeof rec->kind);
    rf_record_post(rec, "#adjustment", RF_BUCKET_ADJUSTMENT, "USD", -500);
    rf_record_post(rec, "bob", RF_BUCKET_AVAILABLE, "USD", 500);
    rf_record_fact(rec, "event_type", "Adjustment");
    uint8_t buf[RF_RECORD_BYTES_MAX], h[32];
    size_t n = rf_record_canonical(rec, buf, sizeof buf);
    assert_int_equal(n, 161);
    assert_int_equal(buf[0], 1);
    assert_int_equal(rf_record_canonical(rec, buf, 10), 0); /* does not fit */
    rf_record_compute_hash(rec, h);
    char hex[65];
    rf_hex(h, 32, hex);
    /* computed independently from docs/ledger.md with Python's struct and hashlib */
    assert_string_equal(hex, "dbedaee92cb99b1f9681580f96fbe7c70fff1b6072ad71b00a77bfd3c6e07770");
    free(rec);
}

static void test_derive_id(void **state)
{
    fx_t *f = *state;
    rf_event_t *ev = ev_new(f, RF_EV_CLOCK, PROGRAM);
    rf_strlcpy(ev->event_id, "00000000-0000-4000-8000-000000000001", sizeof ev->event_id);
    rf_fold_ctx_t ctx = {.ev = ev};
    char a[37], b[37];
    rf_fold_derive_id(&ctx, "reward/referrer", a);
    rf_fold_derive_id(&ctx, "reward/friend", b);
    /* Python: uuid.uuid5(UUID('4dbd4b57-7051-41b0-ba0e-9cfbf9d48cbb'),
     *   '00000000-0000-4000-8000-000000000001/reward/referrer') */
    assert_string_equal(a, "c5fbf3c2-cdad-54fd-8aee-613fccd0eaa1");
    assert_string_not_equal(a, b);
    assert_int_equal(a[14], '5');
}

/* ---- storage failures: commit fails, nothing advances, restart resumes ---- */

static char mounted[700]; /* unmounted by the teardown if a test fails midway */

static int teardown_mount(void **state)
{
    if (mounted[0]) umount2(mounted, MNT_DETACH);
    mounted[0] = 0;
    return teardown(state);
}

/* Fills the file system holding dir; returns the filler's path length. */
static void fill_fs(const char *dir, char *filler, size_t cap)
{
    snprintf(filler, cap, "%s/filler", dir);
    int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    static char chunk[4096];
    for (int i = 0; i < 1 << 16; i++) /* bounded: 256 MiB at most */
        if (write(fd, chunk, sizeof chunk) < 0) break;
    assert_int_equal(errno, ENOSPC);
    close(fd);
}

/* Folds `count` adjustments and commits; returns the commit's result. */
static rf_err_t fold_batch(fx_t *f, rf_ledger_t *l, int count, rf_errbuf_t *eb)
{
    for (int i = 0; i < count; i++) {
        ev_adjust(f, "frank", 3);
        fold_next(l, f, NULL);
    }
    return rf_ledger_commit(l, eb);
}

static void after_failure(fx_t *f, const char *data, int64_t committed)
{
    rf_errbuf_t eb;
    rf_ledger_t *l = rf_ledger_open(data, 0, 0, &eb);
    if (!l) fail_msg("reopen: %s", eb.msg);
    assert_int_equal(rf_ledger_next_offset(l), committed);
    assert_verifies(l);
    /* the cause fixed, the same offsets fold again */
    assert_int_equal(fold_batch(f, l, 10, &eb), RF_OK);
    assert_int_equal(rf_ledger_next_offset(l), committed + 10);
    assert_verifies(l);
    rf_ledger_close(l);
}

static void test_storage_full(void **state)
{
    fx_t *f = *state;
    char mnt[600], filler[700];
    rf_errbuf_t eb = {{0}};
    snprintf(mnt, sizeof mnt, "%s/tmpfs", f->dir);
    assert_int_equal(mkdir(mnt, 0755), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=2m") != 0) {
        print_message("tmpfs mount not permitted (%s): skipped\n", strerror(errno));
        skip();
    }
    rf_strlcpy(mounted, mnt, sizeof mounted);
    rf_ledger_t *l = rf_ledger_open(mnt, 0, RF_LEDGER_CREATE, &eb);
    if (!l) fail_msg("open on tmpfs: %s", eb.msg);
    ev_program(f, PROGRAM, 1);
    fold_next(l, f, NULL);
    assert_int_equal(fold_batch(f, l, 20, &eb), RF_OK);
    int64_t committed = rf_ledger_next_offset(l);
    fill_fs(mnt, filler, sizeof filler);
    rf_err_t err = fold_batch(f, l, 500, &eb);
    assert_int_equal(err, RF_ERR_STORAGE);
    print_message("commit on a full disk: %s\n", eb.msg);
    assert_int_equal(rf_ledger_next_offset(l), committed);
    assert_int_equal(rf_ledger_batch_size(l), 0); /* the failed batch is dropped */
    rf_ledger_close(l);
    assert_int_equal(unlink(filler), 0);
    f->id -= 500; /* refold the very same events */
    after_failure(f, mnt, committed);
    assert_int_equal(umount2(mnt, MNT_DETACH), 0);
    mounted[0] = 0;
}

/* Without root: a file size limit makes the WAL append fail (EFBIG). */
static void test_storage_fsize(void **state)
{
    fx_t *f = *state;
    rf_errbuf_t eb = {{0}};
    rf_ledger_t *l = open_rw(f, 0);
    ev_program(f, PROGRAM, 1);
    fold_next(l, f, NULL);
    assert_int_equal(fold_batch(f, l, 20, &eb), RF_OK);
    int64_t committed = rf_ledger_next_offset(l);
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = 1024 * 1024;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    rf_err_t err = RF_OK;
    int batches = 0;
    while (batches < 40 && (err = fold_batch(f, l, 500, &eb)) == RF_OK) {
        committed = rf_ledger_next_offset(l);
        batches++;
    }
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_int_equal(err, RF_ERR_STORAGE);
    print_message("commit past the file size limit (%d batches ok): %s\n", batches, eb.msg);
    assert_int_equal(rf_ledger_next_offset(l), committed);
    rf_ledger_close(l);
    f->id -= 500;
    after_failure(f, f->dir, committed);
}

/* ---- benchmark (RF_BENCH=1): fold + synced commit without Kafka ---- */

#define BENCH_EVENTS     200000 /* RF_BENCH_EVENTS overrides (up to BENCH_EVENTS_MAX) */
#define BENCH_EVENTS_MAX 4000000
#define BENCH_BATCH      5000
#define BENCH_PARALLEL   0x100 /* commit the partitions of a cycle from threads */

typedef struct bench_ev {
    uint32_t off, len;
    int32_t part;
} bench_ev_t;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Share and Purchase events (half each) of one program per partition. */
static uint8_t *bench_events(fx_t *f, int nparts, bench_ev_t *evs, int n)
{
    uint8_t *arena = malloc((size_t)n * 256);
    assert_non_null(arena);
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        int p = i % nparts;
        char prog[32], user[32];
        snprintf(prog, sizeof prog, "bench-%d", p);
        snprintf(user, sizeof user, "user-%d", (i / nparts) % 5000);
        if (i < nparts)
            ev_program(f, prog, 1);
        else if (i % 2)
            ev_share(f, prog, user);
        else
            ev_purchase(f, prog, user, 1000 + i % 9000);
        assert_true(f->len <= 256);
        memcpy(arena + used, f->buf, f->len);
        evs[i] = (bench_ev_t){(uint32_t)used, (uint32_t)f->len, p};
        used += f->len;
    }
    return arena;
}

typedef struct bench_commit {
    rf_ledger_t *l;
    uint64_t ns;
    rf_err_t err;
} bench_commit_t;

static void *bench_commit_thread(void *arg)
{
    bench_commit_t *c = arg;
    rf_errbuf_t eb;
    uint64_t t = rf_now_ns();
    c->err = rf_ledger_commit(c->l, &eb);
    c->ns = rf_now_ns() - t;
    return NULL;
}

/* Commits every partition of a cycle, one after the other or from one thread
 * per partition (their fsyncs overlap); records each commit's latency. */
static void bench_commit_all(rf_ledger_t **ls, int nparts, int parallel, uint64_t *commit_ns,
                             int *ncommits)
{
    bench_commit_t c[16];
    pthread_t th[16];
    for (int p = 0; p < nparts; p++) {
        c[p] = (bench_commit_t){ls[p], 0, RF_OK};
        if (parallel)
            assert_int_equal(pthread_create(&th[p], NULL, bench_commit_thread, &c[p]), 0);
        else
            bench_commit_thread(&c[p]);
    }
    for (int p = 0; p < nparts; p++) {
        if (parallel) pthread_join(th[p], NULL);
        assert_int_equal(c[p].err, RF_OK);
        commit_ns[(*ncommits)++] = c[p].ns;
    }
}

/* Whether RocksDB has no flush or compaction running or pending. */
static int bench_idle(rf_ledger_t *l)
{
    static const char *props[] = {"rocksdb.num-running-compactions", "rocksdb.num-running-flushes",
                                  "rocksdb.compaction-pending", "rocksdb.mem-table-flush-pending"};
    for (size_t i = 0; i < sizeof props / sizeof props[0]; i++) {
        char *v = rocksdb_property_value(l->db, props[i]);
        int busy = v && strcmp(v, "0") != 0;
        rocksdb_free(v);
        if (busy) return 0;
    }
    return 1;
}

/* Waits (bounded: 120 s) until the background work the run left behind is
 * done, so its CPU counts too: compaction debt is part of the cost. */
static void bench_settle(rf_ledger_t **ls, int nparts)
{
    for (int i = 0; i < 1200; i++) {
        int idle = 1;
        for (int p = 0; p < nparts && idle; p++)
            idle = bench_idle(ls[p]);
        if (idle) return;
        usleep(100 * 1000);
    }
}

static double cpu_secs(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void bench_run(fx_t *f, int nparts, int flags, const char *label)
{
    const char *ne = getenv("RF_BENCH_EVENTS");
    int nev = ne ? atoi(ne) : BENCH_EVENTS;
    if (nev < BENCH_BATCH || nev > BENCH_EVENTS_MAX) nev = BENCH_EVENTS;
    bench_ev_t *evs = malloc((size_t)nev * sizeof *evs);
    uint64_t *commit_ns = malloc((size_t)nev / BENCH_BATCH * 16 * sizeof *commit_ns + 16);
    assert_non_null(evs);
    assert_non_null(commit_ns);
    char data[700];
    snprintf(data, sizeof data, "%s/bench-%d-%d", f->dir, nparts, flags);
    uint8_t *arena = bench_events(f, nparts, evs, nev);
    rf_ledger_t *ls[16];
    rf_errbuf_t eb;
    for (int p = 0; p < nparts; p++)
        ls[p] = rf_ledger_open(data, p, RF_LEDGER_CREATE | (flags & ~BENCH_PARALLEL), &eb);
    int ncommits = 0;
    double cpu0 = cpu_secs();
    uint64_t t0 = rf_now_ns(), fold_ns = 0;
    for (int i = 0; i < nev; i += BENCH_BATCH) {
        uint64_t tf = rf_now_ns();
        for (int j = i; j < i + BENCH_BATCH && j < nev; j++) {
            rf_ledger_t *l = ls[evs[j].part];
            rf_fold_result_t res;
            int64_t off = l->staged.next_offset < 0 ? 0 : l->staged.next_offset;
            assert_int_equal(rf_ledger_fold(l, off, RF_LEDGER_CLOCK_NONE, arena + evs[j].off,
                                            evs[j].len, &res, &eb),
                             0);
            assert_int_equal(res.outcome, RF_OUTCOME_APPLIED);
        }
        fold_ns += rf_now_ns() - tf;
        bench_commit_all(ls, nparts, flags & BENCH_PARALLEL, commit_ns, &ncommits);
    }
    double secs = (double)(rf_now_ns() - t0) / 1e9;
    /* CPU time of the process (this thread and RocksDB's flushes and
     * compactions): less sensitive than wall time to a busy shared machine;
     * "settled" adds the flushes and compactions still due after the run */
    double cpu = cpu_secs() - cpu0;
    bench_settle(ls, nparts);
    double settled = cpu_secs() - cpu0;
    qsort(commit_ns, (size_t)ncommits, sizeof commit_ns[0], cmp_u64);
    printf("bench %-20s %2d partition(s): %d events in %.2f s = %.0f events/s (fold only "
           "%.0f/s, %.1f us CPU/event, %.1f settled); %d commits p50 %.2f ms p99 %.2f ms\n",
           label, nparts, nev, secs, nev / secs, nev / ((double)fold_ns / 1e9), cpu * 1e6 / nev,
           settled * 1e6 / nev, ncommits, (double)commit_ns[ncommits / 2] / 1e6,
           (double)commit_ns[ncommits * 99 / 100] / 1e6);
    if (getenv("RF_BENCH_STATS"))
        for (int c = 0; c < RF__CF__COUNT; c++) {
            char *st = rocksdb_property_value_cf(ls[0]->db, ls[0]->cf[c], "rocksdb.cfstats");
            printf("%s\n", st ? st : "");
            rocksdb_free(st);
        }
    for (int p = 0; p < nparts; p++) {
        if (p == 0) assert_verifies(ls[p]);
        rf_ledger_close(ls[p]);
    }
    free(arena);
    free(evs);
    free(commit_ns);
}

static void test_bench(void **state)
{
    const char *b = getenv("RF_BENCH");
    if (!b || strcmp(b, "1") != 0) skip();
    fx_t *f = *state;
    /* RF_BENCH_ONLY=N (1-5) runs one configuration (profiling) */
    const char *only = getenv("RF_BENCH_ONLY");
    int o = only ? atoi(only) : 0;
    if (!o || o == 1) bench_run(f, 1, 0, "synced, batch 5000");
    if (!o || o == 2) bench_run(f, 16, 0, "synced, cycle 5000");
    if (!o || o == 3) bench_run(f, 1, RF_LEDGER_NOSYNC, "unsynced, batch 5000");
    /* what 16 synced WAL writes per cycle cost against none (one shared
     * instance would pay one): the one-RocksDB-per-partition trade-off */
    if (!o || o == 4) bench_run(f, 16, RF_LEDGER_NOSYNC, "unsynced, cycle 5000");
    if (!o || o == 5) bench_run(f, 16, BENCH_PARALLEL, "synced, parallel commits");
}

int main(void)
{
    rf_log_set_level(RF_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_offsets_contiguous, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_and_conflict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_letters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_adjustments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redemption, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durable_and_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_determinism, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_unbalanced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_balance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_passes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_and_readonly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_ack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_archive_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_archive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_canonical_vector, setup, teardown),
        cmocka_unit_test_setup_teardown(test_derive_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_storage_full, setup, teardown_mount),
        cmocka_unit_test_setup_teardown(test_storage_fsize, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bench, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
