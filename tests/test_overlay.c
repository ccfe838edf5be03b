/* test_overlay.c: the open batch's overlay (rf_overlay.c) against a brute-force
 * model: random binary and rules-shaped keys, puts, deletes and overwrites,
 * point reads, range scans merged with a RocksDB iterator (ranges inside,
 * straddling and just past a key group), and the sorted walk of the commit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rocksdb/c.h>

#include "rf_ledger_int.h"
#include "rf_testutil.h"

#define KEY_MAX   64
#define VAL_MAX   24
#define MODEL_MAX 4096

/* One key of the model: its overlay state and its committed (DB) state. */
typedef struct mkey {
    uint8_t k[KEY_MAX];
    size_t kl;
    int ov;             /* 0 absent from the overlay, 1 put, -1 deleted */
    uint8_t v[VAL_MAX]; /* the overlay's value */
    size_t vl;
    int db; /* present in the DB, with value dv */
    uint8_t dv[VAL_MAX];
    size_t dvl;
} mkey_t;

typedef struct fx {
    char dir[512];
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_readoptions_t *ro;
    rocksdb_writeoptions_t *wo;
    rf__overlay_t *ov;
    mkey_t *m; /* the model, sorted by key */
    size_t n;
    unsigned seed;
} fx_t;

static int key_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    rf_test_tmpdir("overlay", f->dir, sizeof f->dir);
    f->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(f->opts, 1);
    char *err = NULL;
    f->db = rocksdb_open(f->opts, f->dir, &err);
    if (err) fail_msg("rocksdb_open: %s", err);
    f->ro = rocksdb_readoptions_create();
    f->wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_disable_WAL(f->wo, 1);
    f->ov = rf__ov_new();
    assert_non_null(f->ov);
    f->m = calloc(MODEL_MAX, sizeof *f->m);
    assert_non_null(f->m);
    f->seed = 20261123;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    rf__ov_free(f->ov);
    rf__ov_free(NULL);
    rocksdb_close(f->db);
    rocksdb_options_destroy(f->opts);
    rocksdb_readoptions_destroy(f->ro);
    rocksdb_writeoptions_destroy(f->wo);
    rf_test_rmtree(f->dir);
    free(f->m);
    free(f);
    return 0;
}

static uint32_t rnd(fx_t *f, uint32_t n)
{
    return (uint32_t)rand_r(&f->seed) % n;
}

/* A byte biased to the edges where order bugs hide: 0, 1, 0xfe, 0xff. */
static uint8_t rnd_byte(fx_t *f)
{
    static const uint8_t edge[] = {0, 0, 1, 0xfe, 0xff, 0xff, 'a', 'b', 'x'};
    return rnd(f, 3) ? edge[rnd(f, sizeof edge)] : (uint8_t)rnd(f, 256);
}

/* A rules-shaped key: 'x' sub prog \0 owner \0 suffix, from small sets so
 * groups hold many keys and share long prefixes (8-byte radix ties); at
 * times cut short (no second NUL) or with an empty prog or owner. */
static size_t rules_key(fx_t *f, uint8_t *k)
{
    static const char *progs[] = {"", "p", "lg-p1", "lg-p10", "lg-p1-long-program-id"};
    static const char *owners[] = {"", "v", "lg-p1-v1", "lg-p1-v10", "lg-p1-v100"};
    static const uint8_t subs[] = {0, 'f', 'k', 'r', 0xff};
    size_t n = 0;
    k[n++] = 'x';
    k[n++] = subs[rnd(f, sizeof subs)];
    const char *p = progs[rnd(f, 5)], *o = owners[rnd(f, 5)];
    memcpy(k + n, p, strlen(p));
    n += strlen(p);
    k[n++] = 0;
    if (rnd(f, 8) == 0) return n; /* one NUL only: no group */
    memcpy(k + n, o, strlen(o));
    n += strlen(o);
    k[n++] = rnd(f, 10) ? 0 : 1;                     /* 1: just above the group (its successor) */
    for (uint32_t i = 0, s = rnd(f, 10); i < s; i++) /* e.g. a time or id; NULs too */
        k[n++] = rnd_byte(f);
    assert_true(n <= KEY_MAX);
    return n;
}

static size_t random_key(fx_t *f, uint8_t *k)
{
    if (rnd(f, 3)) return rules_key(f, k);
    size_t n = 1 + rnd(f, 12);
    for (size_t i = 0; i < n; i++)
        k[i] = rnd_byte(f);
    return n;
}

/* The model's entry for k, added (absent everywhere) in key order if new. */
static mkey_t *model_get(fx_t *f, const uint8_t *k, size_t kl)
{
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = key_cmp(f->m[mid].k, f->m[mid].kl, k, kl);
        if (c == 0) return &f->m[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    assert_true(f->n < MODEL_MAX);
    memmove(&f->m[lo + 1], &f->m[lo], (f->n - lo) * sizeof *f->m);
    f->n++;
    mkey_t *e = &f->m[lo];
    memset(e, 0, sizeof *e);
    memcpy(e->k, k, kl);
    e->kl = kl;
    return e;
}

static void random_value(fx_t *f, uint8_t *v, size_t *vl)
{
    *vl = rnd(f, VAL_MAX);
    for (size_t i = 0; i < *vl; i++)
        v[i] = rnd_byte(f);
}

/* A random write to the overlay: a put (new key or overwrite) or a delete. */
static void random_write(fx_t *f)
{
    uint8_t k[KEY_MAX];
    size_t kl;
    if (f->n && rnd(f, 3) == 0) { /* overwrite or delete an existing key */
        const mkey_t *x = &f->m[rnd(f, (uint32_t)f->n)];
        kl = x->kl;
        memcpy(k, x->k, kl);
    } else {
        kl = random_key(f, k);
    }
    mkey_t *e = model_get(f, k, kl);
    if (rnd(f, 5) == 0) {
        assert_int_equal(rf__ov_del(f->ov, k, kl), 0);
        e->ov = -1;
    } else {
        random_value(f, e->v, &e->vl);
        assert_int_equal(rf__ov_put(f->ov, k, kl, e->v, e->vl), 0);
        e->ov = 1;
    }
}

/* Commits nothing of the overlay: writes random keys straight to the DB
 * (the rules' 'x' values stored zero-run encoded, as the ledger does). */
static void random_db_writes(fx_t *f, int count)
{
    for (int i = 0; i < count; i++) {
        uint8_t k[KEY_MAX], enc[VAL_MAX + 16];
        size_t kl = random_key(f, k);
        mkey_t *e = model_get(f, k, kl);
        e->db = 1;
        random_value(f, e->dv, &e->dvl);
        size_t el = e->dvl;
        memcpy(enc, e->dv, el);
        if (k[0] == RF__K_RULES) el = rf__zr_encode(e->dv, e->dvl, enc);
        char *err = NULL;
        rocksdb_put(f->db, f->wo, (const char *)k, kl, (const char *)enc, el, &err);
        if (err) fail_msg("rocksdb_put: %s", err);
    }
}

static void check_gets(fx_t *f)
{
    for (size_t i = 0; i < f->n; i++) {
        const mkey_t *e = &f->m[i];
        const uint8_t *v = NULL;
        size_t vl = 0;
        int rc = rf__ov_get(f->ov, e->k, e->kl, &v, &vl);
        assert_int_equal(rc, e->ov);
        if (rc == 1) {
            assert_int_equal(vl, e->vl);
            assert_memory_equal(v, e->v, vl);
        }
    }
}

/* A scan's output: keys and values back to back. */
typedef struct out {
    uint8_t buf[MODEL_MAX * (KEY_MAX + VAL_MAX + 8)];
    size_t len;
    uint32_t count, stop_after; /* stop_after 0: never stop */
} out_t;

static void out_add(out_t *o, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    assert_true(o->len + kl + vl + 8 <= sizeof o->buf);
    uint8_t *p = o->buf + o->len;
    p[0] = (uint8_t)kl, p[1] = (uint8_t)vl;
    memcpy(p + 2, k, kl);
    memcpy(p + 2 + kl, v, vl);
    o->len += 2 + kl + vl;
    o->count++;
}

static int scan_cb(const void *k, size_t kl, const void *v, size_t vl, void *opaque)
{
    out_t *o = opaque;
    out_add(o, k, kl, v, vl);
    return o->stop_after && o->count == o->stop_after;
}

/* What a scan of [s, end) must return, from the model. */
static void expect_scan(const fx_t *f, const uint8_t *s, size_t sl, const uint8_t *end, size_t el,
                        out_t *want)
{
    for (size_t i = 0; i < f->n; i++) {
        const mkey_t *e = &f->m[i];
        if (key_cmp(e->k, e->kl, s, sl) < 0 || (end && key_cmp(e->k, e->kl, end, el) >= 0))
            continue;
        if (want->stop_after && want->count == want->stop_after) break;
        if (e->ov == 1)
            out_add(want, e->k, e->kl, e->v, e->vl);
        else if (e->ov == 0 && e->db)
            out_add(want, e->k, e->kl, e->dv, e->dvl);
    }
}

static void check_scan(fx_t *f, const uint8_t *s, size_t sl, const uint8_t *end, size_t el,
                       uint32_t stop_after)
{
    static out_t got, want;
    got.len = want.len = 0;
    got.count = want.count = 0;
    got.stop_after = want.stop_after = stop_after;
    expect_scan(f, s, sl, end, el, &want);
    rocksdb_iterator_t *it = rocksdb_create_iterator(f->db, f->ro);
    assert_int_equal(rf__ov_scan(f->ov, it, s, sl, end, el, scan_cb, &got), RF_OK);
    rocksdb_iter_destroy(it);
    assert_int_equal(got.count, want.count);
    assert_int_equal(got.len, want.len);
    assert_memory_equal(got.buf, want.buf, want.len);
}

/* The group prefix of k as the overlay defines it: up to and including the
 * second NUL at offset >= 2; 0: none. */
static size_t group_of(const uint8_t *k, size_t kl)
{
    int nul = 0;
    for (size_t i = 2; i < kl; i++)
        if (k[i] == 0 && ++nul == 2) return i + 1;
    return 0;
}

/* Ranges around a model key: inside its group (exactly the group, from a
 * key to the group's end, between two of its keys), just past the group's
 * end (must not use the group index), straddling groups, the two-byte
 * prefix range, open-ended, empty and reversed. */
static void random_scans(fx_t *f, int count)
{
    for (int i = 0; i < count; i++) {
        uint8_t s[KEY_MAX + 2], end[KEY_MAX + 2];
        size_t sl, el;
        const mkey_t *a = &f->m[rnd(f, (uint32_t)f->n)], *b = &f->m[rnd(f, (uint32_t)f->n)];
        size_t g = group_of(a->k, a->kl);
        int kind = (int)rnd(f, 9);
        memcpy(s, a->k, a->kl);
        sl = a->kl;
        memcpy(end, a->k, a->kl);
        el = a->kl;
        if (g && kind <= 3) {
            if (kind == 0) sl = g; /* [G, succ(G)) */
            el = g;
            end[g - 1] = 1;                           /* succ(G) */
            if (kind == 2) end[el++] = 0;             /* just past succ(G): straddles */
            if (kind == 3) el = g - 1, end[el - 1]++; /* well past G: fallback */
            if (kind == 3 && end[el - 1] == 0) el--;  /* wrapped */
        } else if (kind == 4) {                       /* a to b, whichever order: b < a is empty */
            memcpy(end, b->k, b->kl);
            el = b->kl;
        } else if (kind == 5 && a->kl >= 2 && a->k[1] != 0xff) { /* two-byte prefix */
            sl = 2;
            el = 2;
            end[1]++;
        } else if (kind == 6) { /* a key and the next possible one */
            end[el++] = 0;
        } else if (kind == 7) { /* open-ended, from a's first byte */
            sl = 1;
            check_scan(f, s, sl, NULL, 0, rnd(f, 4) ? 0 : 1 + rnd(f, 5));
            continue;
        } else { /* from a group key to b */
            memcpy(end, b->k, b->kl);
            el = b->kl;
            if (g) sl = g;
        }
        check_scan(f, s, sl, end, el, rnd(f, 6) ? 0 : 1 + rnd(f, 5));
    }
    check_scan(f, (const uint8_t *)"", 0, NULL, 0, 0); /* everything */
}

typedef struct walk {
    const fx_t *f;
    size_t at; /* the model index of the previous overlay key + 1 */
    uint32_t count;
} walk_t;

static int each_cb(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *opaque)
{
    walk_t *w = opaque;
    const fx_t *f = w->f;
    while (w->at < f->n && f->m[w->at].ov == 0) /* keys only in the DB */
        w->at++;
    assert_true(w->at < f->n);
    const mkey_t *e = &f->m[w->at++];
    assert_int_equal(kl, e->kl);
    assert_memory_equal(k, e->k, kl);
    if (e->ov < 0) {
        assert_true(vl == SIZE_MAX);
    } else {
        assert_int_equal(vl, e->vl);
        assert_memory_equal(v, e->v, vl);
    }
    w->count++;
    return 0;
}

static void check_each_sorted(fx_t *f)
{
    walk_t w = {f, 0, 0};
    assert_int_equal(rf__ov_each_sorted(f->ov, each_cb, &w), 0);
    uint32_t in_ov = 0;
    for (size_t i = 0; i < f->n; i++)
        in_ov += f->m[i].ov != 0;
    assert_int_equal(w.count, in_ov);
    assert_int_equal(rf__ov_count(f->ov), in_ov);
}

/* Forgets the overlay (as a commit or a dropped batch does); the DB stays. */
static void clear_overlay(fx_t *f)
{
    rf__ov_clear(f->ov);
    size_t n = 0;
    for (size_t i = 0; i < f->n; i++) {
        f->m[i].ov = 0;
        if (f->m[i].db) f->m[n++] = f->m[i];
    }
    f->n = n;
}

static void test_random(void **state)
{
    fx_t *f = *state;
    random_db_writes(f, 300);
    for (int round = 0; round < 6; round++) {
        int writes = round % 2 ? 2500 : 400;
        for (int i = 0; i < writes; i++) {
            random_write(f);
            if (i % 97 == 0) random_scans(f, 3); /* scans while the batch grows */
        }
        check_gets(f);
        random_scans(f, 1500);
        check_each_sorted(f);
        clear_overlay(f);
        check_gets(f);
        check_each_sorted(f);
    }
}

/* Many keys of one group that tie on their first 8 and 16 bytes, so the
 * sort runs its radix passes and re-sorts the tied runs deeper; a scan of
 * a time window inside a group, as first-touch attribution does. */
static void test_deep_ties(void **state)
{
    fx_t *f = *state;
    for (int i = 0; i < 3000; i++) {
        uint8_t k[KEY_MAX];
        size_t kl = (size_t)snprintf((char *)k, sizeof k, "xflg-p1%clg-p1-v%d", 0, i % 300);
        k[kl++] = 0;
        uint64_t t = 1767225600000ULL + (uint64_t)rnd(f, 5000) * (i % 7 ? 1 : 1ULL << 40);
        rf_be64_put(k + kl, t);
        kl += rnd(f, 4) ? 8 : rnd(f, 9); /* now and then a shorter time */
        mkey_t *e = model_get(f, k, kl);
        random_value(f, e->v, &e->vl);
        assert_int_equal(rf__ov_put(f->ov, k, kl, e->v, e->vl), 0);
        e->ov = 1;
    }
    check_each_sorted(f);
    for (int i = 0; i < 300; i++) {
        uint8_t s[KEY_MAX], end[KEY_MAX];
        size_t sl =
            (size_t)snprintf((char *)s, sizeof s, "xflg-p1%clg-p1-v%d", 0, (int)rnd(f, 300));
        s[sl++] = 0;
        memcpy(end, s, sl);
        uint64_t t = 1767225600000ULL + rnd(f, 5000);
        rf_be64_put(s + sl, t);
        rf_be64_put(end + sl, t + rnd(f, 2000));
        check_scan(f, s, sl + 8, end, sl + 8, 0);
    }
    random_scans(f, 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_random, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deep_ties, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
