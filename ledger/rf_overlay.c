/* rf_overlay.c: the open batch's read-your-writes overlay: a hash map of the
 * keys written since the last commit (values in one arena), replacing
 * RocksDB's WriteBatchWithIndex, whose skiplist index cost more than the
 * fold itself (docs/ledger.md, "Commit and failure"). */
#include <stdlib.h>
#include <string.h>

#include "rf_ledger_int.h"

#define OV_DELETED  UINT32_MAX
#define OV_PREFIXES 256

typedef struct ov_entry {
    uint64_t hash;
    uint32_t next;  /* hash chain: entry index + 1, 0 ends */
    uint32_t pnext; /* prefix list: entry index + 1, 0 ends */
    uint32_t koff, klen;
    uint32_t voff, vlen; /* vlen OV_DELETED: a tombstone */
} ov_entry_t;

struct rf__overlay {
    uint32_t *buckets; /* entry index + 1, 0 empty */
    uint32_t nbuckets; /* power of two, >= 2 x entries */
    ov_entry_t *entries;
    uint32_t n, cap;
    uint8_t *arena;
    size_t used, acap;
    uint32_t phead[OV_PREFIXES]; /* entries by their first two key bytes */
    uint32_t *sorted;            /* scratch for scans */
    uint32_t scap;
    rf__buf_t dec; /* a rules value from the DB, decoded for a scan */
    int scanning;  /* scans do not nest (sorted is shared) */
};

static uint32_t ov_prefix(const uint8_t *k, size_t n)
{
    return ((uint32_t)k[0] * 31u + (n > 1 ? k[1] : 0)) & (OV_PREFIXES - 1);
}

rf__overlay_t *rf__ov_new(void)
{
    rf__overlay_t *o = calloc(1, sizeof *o);
    if (!o) return NULL;
    o->nbuckets = 1024;
    o->buckets = calloc(o->nbuckets, sizeof *o->buckets);
    if (!o->buckets) {
        free(o);
        return NULL;
    }
    return o;
}

void rf__ov_free(rf__overlay_t *o)
{
    if (!o) return;
    free(o->buckets);
    free(o->entries);
    free(o->arena);
    free(o->sorted);
    rf__buf_free(&o->dec);
    free(o);
}

void rf__ov_clear(rf__overlay_t *o)
{
    if (o->n) memset(o->buckets, 0, o->nbuckets * sizeof *o->buckets);
    memset(o->phead, 0, sizeof o->phead);
    o->n = 0;
    o->used = 0;
}

uint32_t rf__ov_count(const rf__overlay_t *o)
{
    return o->n;
}

static ov_entry_t *ov_find(const rf__overlay_t *o, const uint8_t *k, size_t kl, uint64_t h)
{
    for (uint32_t i = o->buckets[h & (o->nbuckets - 1)]; i; i = o->entries[i - 1].next) {
        ov_entry_t *e = &o->entries[i - 1];
        if (e->hash == h && e->klen == kl && !memcmp(o->arena + e->koff, k, kl)) return e;
    }
    return NULL;
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

static int ov_grow(rf__overlay_t *o)
{
    if (o->n == o->cap) {
        uint32_t cap = o->cap ? o->cap * 2 : 1024;
        ov_entry_t *e = realloc(o->entries, cap * sizeof *e);
        if (!e) return -1;
        o->entries = e;
        o->cap = cap;
    }
    if ((o->n + 1) * 2 <= o->nbuckets) return 0;
    uint32_t nb = o->nbuckets * 2, *b = calloc(nb, sizeof *b);
    if (!b) return -1;
    for (uint32_t i = 0; i < o->n; i++) {
        ov_entry_t *e = &o->entries[i];
        e->next = b[e->hash & (nb - 1)];
        b[e->hash & (nb - 1)] = i + 1;
    }
    free(o->buckets);
    o->buckets = b;
    o->nbuckets = nb;
    return 0;
}

/* Sets key to val (vlen OV_DELETED: deletes). 0, or -1 when out of memory. */
static int ov_set(rf__overlay_t *o, const void *key, size_t kl, const void *val, uint32_t vlen)
{
    RF_ASSERT(kl > 0 && kl < UINT32_MAX);
    uint64_t h = rf_hash64(key, kl);
    ov_entry_t *e = ov_find(o, key, kl, h);
    int64_t voff = vlen == OV_DELETED ? 0 : ov_store(o, val, vlen);
    if (voff < 0) return -1;
    if (!e) {
        int64_t koff = ov_store(o, key, kl);
        if (koff < 0 || ov_grow(o)) return -1;
        e = &o->entries[o->n++];
        e->hash = h;
        e->koff = (uint32_t)koff;
        e->klen = (uint32_t)kl;
        uint32_t b = (uint32_t)(h & (o->nbuckets - 1)), p = ov_prefix(key, kl);
        e->next = o->buckets[b];
        o->buckets[b] = o->n;
        e->pnext = o->phead[p];
        o->phead[p] = o->n;
    }
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
    ov_entry_t *e = ov_find(o, key, kl, rf_hash64(key, kl));
    if (!e) return 0;
    if (e->vlen == OV_DELETED) return -1;
    *val = o->arena + e->voff;
    *vlen = e->vlen;
    return 1;
}

/* ---- ordered scans: the overlay's keys in range, merged with the DB ---- */

static int key_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

/* qsort has no context argument in C11; one scan at a time per thread */
static _Thread_local const rf__overlay_t *sort_ov;
static int entry_cmp(const void *x, const void *y)
{
    const ov_entry_t *a = &sort_ov->entries[*(const uint32_t *)x];
    const ov_entry_t *b = &sort_ov->entries[*(const uint32_t *)y];
    return key_cmp(sort_ov->arena + a->koff, a->klen, sort_ov->arena + b->koff, b->klen);
}

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

/* Collects the indices of the overlay's entries in [s, end), sorted. */
static int ov_collect(rf__overlay_t *o, const uint8_t *s, size_t sl, const uint8_t *end, size_t el,
                      uint32_t *n)
{
    if (o->scap < o->n) {
        uint32_t *p = realloc(o->sorted, o->n * sizeof *p);
        if (!p) return -1;
        o->sorted = p;
        o->scap = o->n;
    }
    *n = 0;
    if (one_prefix(s, sl, end, el)) {
        for (uint32_t i = o->phead[ov_prefix(s, sl)]; i; i = o->entries[i - 1].pnext)
            if (in_range(o, &o->entries[i - 1], s, sl, end, el)) o->sorted[(*n)++] = i - 1;
    } else {
        for (uint32_t i = 0; i < o->n; i++)
            if (in_range(o, &o->entries[i], s, sl, end, el)) o->sorted[(*n)++] = i;
    }
    sort_ov = o;
    qsort(o->sorted, *n, sizeof *o->sorted, entry_cmp);
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
    if (sl)
        rocksdb_iter_seek(it, (const char *)s, sl);
    else
        rocksdb_iter_seek_to_first(it);
    for (;;) {
        size_t kl = 0, vl = 0;
        const uint8_t *dk = NULL;
        if (rocksdb_iter_valid(it)) {
            dk = (const uint8_t *)rocksdb_iter_key(it, &kl);
            if (end && key_cmp(dk, kl, end, el) >= 0) dk = NULL;
        }
        /* entries are re-read each step: cb may write to the overlay */
        const ov_entry_t *e = i < n ? &o->entries[o->sorted[i]] : NULL;
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
        const ov_entry_t *e = &o->entries[o->sorted[i]];
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
