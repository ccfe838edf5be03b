/* rf_overlay.c: the open batch's read-your-writes overlay: a hash map of the
 * keys written since the last commit (values in one arena), replacing
 * RocksDB's WriteBatchWithIndex, whose skiplist index cost more than the
 * fold itself (docs/ledger.md, "Commit and failure"). Scans find their
 * candidates by key group (the rules' prog \0 owner \0 prefixes) or by the
 * first two bytes, and sort them by radix on 8 key bytes at a time. */
#include <stdlib.h>
#include <string.h>

#include "rf_ledger_int.h"

#define OV_DELETED  UINT32_MAX
#define OV_PREFIXES 256
/* Runs shorter than this are sorted by insertion on the whole key: below it
 * a radix pass (9 histograms of 256) costs more than the compares. */
#define OV_RADIX_MIN 32

/* A hash slot (open addressing, linear probing, at most half full): the
 * key's hash beside the entry, so a probe that misses reads no entry. */
typedef struct ov_slot {
    uint32_t hash;
    uint32_t idx; /* entry index + 1, 0 empty */
} ov_slot_t;

typedef struct ov_entry {
    uint32_t koff, klen;
    uint32_t voff, vlen; /* vlen OV_DELETED: a tombstone */
    uint32_t pnext;      /* prefix list: entry index + 1, 0 ends */
    uint32_t gnext;      /* group chain (older entry of the group): index + 1, 0 ends */
    uint32_t glen;       /* length of the key's group prefix, 0: none */
} ov_entry_t;

/* A sort item: 8 key bytes from the run's depth on, big-endian (zero
 * padded), and how many key bytes remain there (9: more than 8). */
typedef struct ov_sk {
    uint64_t chunk;
    uint32_t idx, tag;
} ov_sk_t;

struct rf__overlay {
    ov_slot_t *slots; /* every key; a power of two, >= 2 x entries */
    uint32_t nslots;
    ov_slot_t *gslots; /* every group prefix; idx: the group's newest entry */
    uint32_t ngslots, ngroups;
    ov_entry_t *entries;
    uint32_t n, cap;
    uint8_t *arena;
    size_t used, acap;
    uint32_t phead[OV_PREFIXES]; /* entries by their first two key bytes */
    ov_sk_t *sk, *tmp;           /* sort scratch; sk[0, count) is a scan's result */
    uint32_t *runs;              /* radix work stack: (lo, hi, depth) triples */
    uint32_t skcap;
    rf__buf_t dec; /* a rules value from the DB, decoded for a scan */
    int scanning;  /* scans do not nest (sk is shared) */
};

static uint32_t ov_prefix(const uint8_t *k, size_t n)
{
    return ((uint32_t)k[0] * 31u + (n > 1 ? k[1] : 0)) & (OV_PREFIXES - 1);
}

static uint32_t ov_hash(const void *k, size_t n)
{
    uint64_t h = rf_hash64(k, n);
    return (uint32_t)(h ^ (h >> 32));
}

/* A key's group prefix (the rules' keys: tag, sub, prog \0 owner \0 ...):
 * its bytes up to and including the second NUL at offset >= 2; 0: none. */
static uint32_t group_len(const uint8_t *k, size_t kl)
{
    if (kl < 4) return 0;
    const uint8_t *a = memchr(k + 2, 0, kl - 2);
    if (!a) return 0;
    const uint8_t *b = memchr(a + 1, 0, kl - (size_t)(a + 1 - k));
    return b ? (uint32_t)(b - k + 1) : 0;
}

rf__overlay_t *rf__ov_new(void)
{
    rf__overlay_t *o = calloc(1, sizeof *o);
    if (!o) return NULL;
    o->nslots = 1024;
    o->ngslots = 256;
    o->slots = calloc(o->nslots, sizeof *o->slots);
    o->gslots = calloc(o->ngslots, sizeof *o->gslots);
    if (!o->slots || !o->gslots) {
        rf__ov_free(o);
        return NULL;
    }
    return o;
}

void rf__ov_free(rf__overlay_t *o)
{
    if (!o) return;
    free(o->slots);
    free(o->gslots);
    free(o->entries);
    free(o->arena);
    free(o->sk);
    free(o->tmp);
    free(o->runs);
    rf__buf_free(&o->dec);
    free(o);
}

void rf__ov_clear(rf__overlay_t *o)
{
    RF_ASSERT(!o->scanning);
    if (o->n) memset(o->slots, 0, o->nslots * sizeof *o->slots);
    if (o->ngroups) memset(o->gslots, 0, o->ngslots * sizeof *o->gslots);
    memset(o->phead, 0, sizeof o->phead);
    o->n = 0;
    o->ngroups = 0;
    o->used = 0;
}

uint32_t rf__ov_count(const rf__overlay_t *o)
{
    return o->n;
}

size_t rf__ov_held(const rf__overlay_t *o)
{
    return o->acap + (size_t)o->cap * sizeof(ov_entry_t) +
           ((size_t)o->nslots + o->ngslots) * sizeof(ov_slot_t) +
           (size_t)o->skcap * 2 * sizeof(ov_sk_t) + o->dec.cap;
}

size_t rf__ov_bytes(const rf__overlay_t *o)
{
    return o->used + (size_t)o->cap * sizeof(ov_entry_t) +
           ((size_t)o->nslots + o->ngslots) * sizeof(ov_slot_t);
}

/* The slot of tab (nslots, at most half full, so the probe ends within
 * nslots steps) holding k, or the empty slot where it would go. by_group:
 * tab chains group prefixes (an entry's first glen key bytes), else keys. */
static inline ov_slot_t *probe(const rf__overlay_t *o, ov_slot_t *tab, uint32_t nslots,
                               const uint8_t *k, size_t kl, uint32_t h, int by_group)
{
    uint32_t mask = nslots - 1, probes = 0;
    for (uint32_t i = h & mask;; i = (i + 1) & mask) {
        ov_slot_t *s = &tab[i];
        if (!s->idx) return s;
        const ov_entry_t *e = &o->entries[s->idx - 1];
        if (s->hash == h && (by_group ? e->glen : e->klen) == kl &&
            !memcmp(o->arena + e->koff, k, kl))
            return s;
        RF_ASSERT(++probes < nslots);
    }
}

static ov_slot_t *key_slot(const rf__overlay_t *o, const uint8_t *k, size_t kl, uint32_t h)
{
    return probe(o, o->slots, o->nslots, k, kl, h, 0);
}

static ov_slot_t *group_slot(const rf__overlay_t *o, const uint8_t *g, uint32_t gl, uint32_t h)
{
    return probe(o, o->gslots, o->ngslots, g, gl, h, 1);
}

/* Doubles a slot table, re-placing the slots by their stored hash (no entry
 * is read). -1: out of memory (the table is unchanged). */
static int slots_grow(ov_slot_t **tab, uint32_t *nslots)
{
    uint32_t n = *nslots, nn = n * 2, mask = nn - 1;
    if (nn == 0) return -1;
    ov_slot_t *t = calloc(nn, sizeof *t);
    if (!t) return -1;
    for (uint32_t i = 0; i < n; i++) {
        const ov_slot_t *s = &(*tab)[i];
        if (!s->idx) continue;
        uint32_t j = s->hash & mask;
        while (t[j].idx)
            j = (j + 1) & mask;
        t[j] = *s;
    }
    free(*tab);
    *tab = t;
    *nslots = nn;
    return 0;
}

/* Appends bytes to the arena; returns the offset or -1 (out of memory). */
static int64_t ov_store(rf__overlay_t *o, const void *p, size_t n)
{
    if (o->used + n > o->acap) {
        size_t cap = o->acap ? o->acap : 1u << 16;
        while (cap < o->used + n)
            cap *= 2;
        if (cap > UINT32_MAX) return -1; /* offsets are 32-bit: 4 GiB per batch */
        uint8_t *a = realloc(o->arena, cap);
        if (!a) return -1;
        o->arena = a;
        o->acap = cap;
    }
    if (n) memcpy(o->arena + o->used, p, n);
    o->used += n;
    return (int64_t)(o->used - n);
}

/* Room for one more entry (and one more group): tables stay at most half
 * full. -1: out of memory. */
static int ov_reserve(rf__overlay_t *o)
{
    if (o->n == o->cap) {
        if (o->cap >= UINT32_MAX / 4) return -1;
        uint32_t cap = o->cap ? o->cap * 2 : 1024;
        ov_entry_t *e = realloc(o->entries, cap * sizeof *e);
        if (!e) return -1;
        o->entries = e;
        o->cap = cap;
    }
    if ((o->n + 1) * 2 > o->nslots && slots_grow(&o->slots, &o->nslots)) return -1;
    if ((o->ngroups + 1) * 2 > o->ngslots && slots_grow(&o->gslots, &o->ngslots)) return -1;
    return 0;
}

/* Chains the new entry i (index + 1) into its group's chain, newest first. */
static void group_add(rf__overlay_t *o, uint32_t i, const uint8_t *k, size_t kl)
{
    ov_entry_t *e = &o->entries[i - 1];
    e->glen = group_len(k, kl);
    e->gnext = 0;
    if (!e->glen) return;
    uint32_t h = ov_hash(k, e->glen);
    ov_slot_t *s = group_slot(o, k, e->glen, h);
    if (s->idx) {
        e->gnext = s->idx;
    } else {
        s->hash = h;
        o->ngroups++;
        RF_ASSERT(o->ngroups * 2 <= o->ngslots);
    }
    s->idx = i;
}

/* Sets key to val (vlen OV_DELETED: deletes). 0, or -1 when out of memory. */
static int ov_set(rf__overlay_t *o, const void *key, size_t kl, const void *val, uint32_t vlen)
{
    RF_ASSERT(kl > 0 && kl < UINT32_MAX);
    uint32_t h = ov_hash(key, kl);
    ov_slot_t *s = key_slot(o, key, kl, h);
    int64_t voff = vlen == OV_DELETED ? 0 : ov_store(o, val, vlen);
    if (voff < 0) return -1;
    if (!s->idx) {
        int64_t koff = ov_store(o, key, kl);
        if (koff < 0 || ov_reserve(o)) return -1;
        s = key_slot(o, key, kl, h); /* the table may have grown */
        RF_ASSERT(!s->idx);
        ov_entry_t *ne = &o->entries[o->n++];
        ne->koff = (uint32_t)koff;
        ne->klen = (uint32_t)kl;
        s->hash = h;
        s->idx = o->n;
        uint32_t p = ov_prefix(key, kl);
        ne->pnext = o->phead[p];
        o->phead[p] = o->n;
        group_add(o, o->n, key, kl);
    }
    ov_entry_t *e = &o->entries[s->idx - 1];
    e->voff = (uint32_t)voff;
    e->vlen = vlen;
    return 0;
}

int rf__ov_put(rf__overlay_t *o, const void *key, size_t kl, const void *val, size_t vlen)
{
    RF_ASSERT(vlen < OV_DELETED);
    return ov_set(o, key, kl, val, (uint32_t)vlen);
}

int rf__ov_del(rf__overlay_t *o, const void *key, size_t kl)
{
    return ov_set(o, key, kl, NULL, OV_DELETED);
}

int rf__ov_get(const rf__overlay_t *o, const void *key, size_t kl, const uint8_t **val,
               size_t *vlen)
{
    const ov_slot_t *s = key_slot(o, key, kl, ov_hash(key, kl));
    if (!s->idx) return 0;
    const ov_entry_t *e = &o->entries[s->idx - 1];
    if (e->vlen == OV_DELETED) return -1;
    *val = o->arena + e->voff;
    *vlen = e->vlen;
    return 1;
}

/* ---- sorting: memcmp order, then the shorter key first ---- */

static int key_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

/* Insertion sort of a short run whose keys share their first d bytes. */
static void sk_insertion(const rf__overlay_t *o, ov_sk_t *a, uint32_t n, uint32_t d)
{
    for (uint32_t i = 1; i < n; i++) {
        ov_sk_t x = a[i];
        const ov_entry_t *ex = &o->entries[x.idx];
        uint32_t j = i;
        for (; j > 0; j--) {
            const ov_entry_t *e = &o->entries[a[j - 1].idx];
            if (key_cmp(o->arena + e->koff + d, e->klen - d, o->arena + ex->koff + d,
                        ex->klen - d) <= 0)
                break;
            a[j] = a[j - 1];
        }
        a[j] = x;
    }
}

/* Loads each item's 8 key bytes from depth d (every key is longer than d). */
static void sk_fill(const rf__overlay_t *o, ov_sk_t *a, uint32_t n, uint32_t d)
{
    for (uint32_t i = 0; i < n; i++) {
        /* below the top level the items are in key order, not arena order:
         * fetch ahead, two hops (entry, then key bytes) */
        if (i + 16 < n) __builtin_prefetch(&o->entries[a[i + 16].idx]);
        if (i + 8 < n) __builtin_prefetch(o->arena + o->entries[a[i + 8].idx].koff + d);
        const ov_entry_t *e = &o->entries[a[i].idx];
        RF_ASSERT(e->klen > d);
        uint32_t rem = e->klen - d;
        const uint8_t *k = o->arena + e->koff + d;
        uint64_t c = 0;
        if (rem >= 8) {
            c = rf_be64_get(k);
        } else {
            for (uint32_t j = 0; j < rem; j++)
                c |= (uint64_t)k[j] << (56 - 8 * j);
        }
        a[i].chunk = c;
        a[i].tag = rem > 8 ? 9 : rem;
    }
}

static inline uint32_t sk_digit(const ov_sk_t *x, int pass)
{
    return pass == 0 ? x->tag : (uint32_t)(x->chunk >> (8 * (pass - 1))) & 255;
}

/* Sorts a[0, n) by (chunk, tag), LSD radix: the tag, then the chunk's bytes
 * from the lowest; a pass whose digit is the same for all items is skipped
 * (shared key prefixes make many). tmp has room for n items. */
static void sk_radix(ov_sk_t *a, ov_sk_t *tmp, uint32_t n)
{
    uint32_t cnt[9][256];
    memset(cnt, 0, sizeof cnt);
    for (uint32_t i = 0; i < n; i++)
        for (int p = 0; p < 9; p++)
            cnt[p][sk_digit(&a[i], p)]++;
    ov_sk_t *src = a, *dst = tmp;
    for (int p = 0; p < 9; p++) {
        uint32_t *c = cnt[p], sum = 0;
        if (c[sk_digit(&src[0], p)] == n) continue;
        for (int b = 0; b < 256; b++) {
            uint32_t x = c[b];
            c[b] = sum;
            sum += x;
        }
        RF_ASSERT(sum == n);
        for (uint32_t i = 0; i < n; i++)
            dst[c[sk_digit(&src[i], p)]++] = src[i];
        ov_sk_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a) memcpy(a, src, n * sizeof *a);
}

/* Sorts sk[0, n) (idx set) into key order: radix on 8 key bytes at a time;
 * items equal on them with more bytes left form a run sorted again 8 bytes
 * deeper (runs are disjoint, so at most n / OV_RADIX_MIN wait at once). An
 * equal chunk with fewer than 9 bytes left orders by what is left, as
 * memcmp then length does: the shorter key is a prefix of the longer. */
static void ov_sort(rf__overlay_t *o, uint32_t n)
{
    uint32_t top = 0, max = n / OV_RADIX_MIN + 1;
    if (n < OV_RADIX_MIN) {
        sk_insertion(o, o->sk, n, 0);
        return;
    }
    o->runs[top++] = 0, o->runs[top++] = n, o->runs[top++] = 0;
    while (top) {
        uint32_t d = o->runs[--top], hi = o->runs[--top], lo = o->runs[--top];
        ov_sk_t *a = o->sk + lo;
        sk_fill(o, a, hi - lo, d);
        sk_radix(a, o->tmp + lo, hi - lo);
        for (uint32_t i = lo, j; i < hi; i = j) {
            for (j = i + 1;
                 j < hi && o->sk[j].chunk == o->sk[i].chunk && o->sk[j].tag == o->sk[i].tag; j++)
                ;
            if (o->sk[i].tag < 9 || j - i < 2) {
                RF_ASSERT(j - i == 1); /* keys are unique */
                continue;
            }
            if (j - i < OV_RADIX_MIN) {
                sk_insertion(o, o->sk + i, j - i, d + 8);
                continue;
            }
            RF_ASSERT(top + 3 <= 3 * max);
            o->runs[top++] = i, o->runs[top++] = j, o->runs[top++] = d + 8;
        }
    }
}

/* Room for n sort items. -1: out of memory. */
static int sk_reserve(rf__overlay_t *o, uint32_t n)
{
    if (o->skcap >= n && o->sk) return 0;
    /* scans reserve for the whole overlay as it grows: double, or every
     * scan of a growing batch would reallocate */
    uint32_t cap = o->skcap > UINT32_MAX / 4 ? n : o->skcap * 2;
    if (cap < n) cap = n;
    if (cap < 1024) cap = 1024;
    ov_sk_t *a = realloc(o->sk, cap * sizeof *a);
    if (a) o->sk = a;
    ov_sk_t *t = realloc(o->tmp, cap * sizeof *t);
    if (t) o->tmp = t;
    uint32_t *r = realloc(o->runs, 3 * (cap / OV_RADIX_MIN + 1) * sizeof *r);
    if (r) o->runs = r;
    if (!a || !t || !r) return -1;
    o->skcap = cap;
    return 0;
}

/* ---- ordered scans: the overlay's keys in range, merged with the DB ---- */

static int in_range(const rf__overlay_t *o, const ov_entry_t *e, const uint8_t *s, size_t sl,
                    const uint8_t *end, size_t el)
{
    const uint8_t *k = o->arena + e->koff;
    return key_cmp(k, e->klen, s, sl) >= 0 && (!end || key_cmp(k, e->klen, end, el) < 0);
}

/* Whether every key in [s, end) starts with s's first two bytes, so one
 * prefix list holds all the overlay's candidates. */
static int one_prefix(const uint8_t *s, size_t sl, const uint8_t *end, size_t el)
{
    if (sl < 2 || !end || s[1] == 0xff) return 0;
    uint8_t ub[2] = {s[0], (uint8_t)(s[1] + 1)};
    return key_cmp(end, el, ub, 2) <= 0;
}

/* Whether end <= succ(G), G = g[0, gl) a group prefix (its last byte is the
 * NUL) and succ(G) = G with that byte 1: the first key above all that start
 * with G. */
static int below_succ(const uint8_t *end, size_t el, const uint8_t *g, size_t gl)
{
    size_t m = gl - 1;
    RF_ASSERT(gl >= 4 && g[m] == 0);
    int c = memcmp(end, g, el < m ? el : m);
    if (c) return c < 0;
    if (el <= m) return 1;              /* a prefix of succ(G) */
    if (end[m] != 1) return end[m] < 1; /* 0: starts with G; above 1: above succ(G) */
    return el == gl;                    /* succ(G) itself */
}

/* Whether one group chain holds every overlay key in [s, end): s has the
 * group prefix G (length *gl) and end <= succ(G). Proof: for a key k in
 * range, G <= s <= k < end <= succ(G). If k did not start with G[0, m)
 * (m = |G| - 1), at the first byte i < m where they differ k[i] < G[i]
 * would put k below G, k[i] > G[i] above succ(G) (which has G's bytes
 * there), and k shorter than m bytes is a proper prefix of G, below it. So
 * k starts with G[0, m), and G[m] = 0 <= k[m] < 1 (k = G[0, m) would be
 * below G): k starts with G. G holds exactly two NULs from offset 2 on, the
 * second as its last byte, so the first two of k are the same two: k's
 * group prefix is G, and k is on G's chain. */
static int one_group(const uint8_t *s, size_t sl, const uint8_t *end, size_t el, uint32_t *gl)
{
    if (!end) return 0;
    *gl = group_len(s, sl);
    return *gl && below_succ(end, el, s, *gl);
}

/* Collects into sk[0, *n) the overlay's entries in [s, end), sorted. */
static int ov_collect(rf__overlay_t *o, const uint8_t *s, size_t sl, const uint8_t *end, size_t el,
                      uint32_t *n)
{
    uint32_t gl = 0, c = 0;
    if (sk_reserve(o, o->n)) return -1;
    if (one_group(s, sl, end, el, &gl)) {
        const ov_slot_t *g = group_slot(o, s, gl, ov_hash(s, gl));
        for (uint32_t i = g->idx; i; i = o->entries[i - 1].gnext)
            if (in_range(o, &o->entries[i - 1], s, sl, end, el)) o->sk[c++].idx = i - 1;
    } else if (one_prefix(s, sl, end, el)) {
        for (uint32_t i = o->phead[ov_prefix(s, sl)]; i; i = o->entries[i - 1].pnext)
            if (in_range(o, &o->entries[i - 1], s, sl, end, el)) o->sk[c++].idx = i - 1;
    } else if (sl == 0 && !end) {
        for (uint32_t i = 0; i < o->n; i++)
            o->sk[c++].idx = i;
    } else {
        for (uint32_t i = 0; i < o->n; i++)
            if (in_range(o, &o->entries[i], s, sl, end, el)) o->sk[c++].idx = i;
    }
    RF_ASSERT(c <= o->n);
    ov_sort(o, c);
    *n = c;
    return 0;
}

/* A stored rules value, decoded into the overlay's scratch (valid until the
 * next one). */
static rf_err_t ov_decode(rf__overlay_t *o, const uint8_t **v, size_t *vl)
{
    size_t n = 0;
    rf_err_t err = rf__zr_decode(*v, *vl, o->dec.p, o->dec.cap, &n);
    if (err == RF_ERR_OVERSIZE) {
        o->dec.len = 0;
        if (rf__buf_reserve(&o->dec, n)) return RF_ERR_NOMEM;
        err = rf__zr_decode(*v, *vl, o->dec.p, o->dec.cap, &n);
    }
    if (err) return err;
    *v = n ? o->dec.p : (const uint8_t *)"";
    *vl = n;
    return RF_OK;
}

rf_err_t rf__ov_scan(rf__overlay_t *o, rocksdb_iterator_t *it, const uint8_t *s, size_t sl,
                     const uint8_t *end, size_t el, rf_kv_cb_t *cb, void *opaque)
{
    uint32_t n = 0, i = 0;
    rf_err_t err = RF_OK;
    RF_ASSERT(!o->scanning);
    if (ov_collect(o, s, sl, end, el, &n)) return RF_ERR_NOMEM;
    o->scanning = 1;
    if (it && sl)
        rocksdb_iter_seek(it, (const char *)s, sl);
    else if (it)
        rocksdb_iter_seek_to_first(it);
    for (;;) {
        size_t kl = 0, vl = 0;
        const uint8_t *dk = NULL;
        if (it && rocksdb_iter_valid(it)) {
            dk = (const uint8_t *)rocksdb_iter_key(it, &kl);
            if (end && key_cmp(dk, kl, end, el) >= 0) dk = NULL;
        }
        /* entries are re-read each step: cb may write to the overlay */
        const ov_entry_t *e = i < n ? &o->entries[o->sk[i].idx] : NULL;
        if (!dk && !e) break;
        int c = !e ? -1 : !dk ? 1 : key_cmp(dk, kl, o->arena + e->koff, e->klen);
        if (c < 0) { /* only in the DB */
            const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);
            if (dk[0] == RF__K_RULES && (err = ov_decode(o, &v, &vl))) break;
            if (cb(dk, kl, v, vl, opaque)) break;
            rocksdb_iter_next(it);
            continue;
        }
        if (c == 0) rocksdb_iter_next(it); /* the overlay shadows the DB */
        i++;
        if (e->vlen != OV_DELETED &&
            cb(o->arena + e->koff, e->klen, o->arena + e->voff, e->vlen, opaque))
            break;
    }
    o->scanning = 0;
    return err;
}

int rf__ov_each_sorted(rf__overlay_t *o, rf__ov_each_cb_t *cb, void *opaque)
{
    uint32_t n = 0;
    RF_ASSERT(!o->scanning);
    if (ov_collect(o, (const uint8_t *)"", 0, NULL, 0, &n)) return -1;
    RF_ASSERT(n == o->n);
    for (uint32_t i = 0; i < n; i++) {
        if (i + 4 < n) { /* the value is read first here: fetch ahead */
            const ov_entry_t *ahead = &o->entries[o->sk[i + 4].idx];
            __builtin_prefetch(o->arena + ahead->voff);
        }
        const ov_entry_t *e = &o->entries[o->sk[i].idx];
        size_t vl = e->vlen == OV_DELETED ? SIZE_MAX : e->vlen;
        int rc = cb(o->arena + e->koff, e->klen, o->arena + e->voff, vl, opaque);
        if (rc) return rc;
    }
    return 0;
}

/* ---- growable buffers ---- */

int rf__buf_reserve(rf__buf_t *b, size_t n)
{
    if (n <= b->cap - b->len) return 0;
    size_t cap = b->cap ? b->cap : 1u << 16;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2) return -1;
        cap *= 2;
    }
    uint8_t *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

void rf__buf_free(rf__buf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}
