/* rf_ledger_idf.c: the ledger's filter of folded event ids, in memory.
 *
 * Every event looks up its dedup key ('d' + event id) and almost never finds
 * it. In RocksDB such a miss probes the Bloom filter of every level-0 file
 * and of the last level, and at 15-20M events those probes and the filter
 * blocks they fault in were the part of the fold's CPU that grew fastest
 * (docs/ledger.md, "Flat cost as the ledger grows"). This filter answers
 * "certainly new" from memory for ~99% of the events; only a "maybe" reads
 * RocksDB, so exactly-once does not rest on it: it has no false negatives.
 *
 * - Built at a handle's first fold from every 'd' key the state family holds
 *   (the batch is empty then: only folds write 'd' keys).
 * - Every id folded is added when its dedup key is staged. A batch that never
 *   commits leaves its ids in the filter: false positives, which cost one
 *   RocksDB read each, never a wrong answer.
 * - Blocked Bloom filter (one 64-byte cache line per key, 6 bits set in it,
 *   10 bits per key: ~1.5% false positives), in segments of doubling
 *   capacity: a full segment is kept and a twice larger one takes the new
 *   ids, so it never rescans and a lookup probes O(log n) lines.
 * Memory: ~1.25 bytes per stored event id (25 MiB for 20M events). */
#include "rf_ledger_int.h"

#include <stdlib.h>
#include <string.h>

#define IDF_BITS_PER_KEY 10
#define IDF_PROBES       6
#define IDF_LINE_BITS    512
#define IDF_MIN_KEYS     65536
#define IDF_SEGMENTS_MAX 40 /* capacities double from 64k: far past any ledger */

typedef struct idf_seg {
    uint64_t *bits; /* nlines x 8 words */
    uint64_t nlines;
    uint64_t cap, n; /* keys it was sized for, keys added */
} idf_seg_t;

struct rf__idf {
    idf_seg_t seg[IDF_SEGMENTS_MAX];
    int nseg;
    uint64_t keys;
};

/* Two independent 64-bit hashes of the 16 id bytes (ids may be v7 UUIDs,
 * time-ordered: mixed, never used raw). */
static void idf_hash(const uint8_t id[16], uint64_t *h1, uint64_t *h2)
{
    uint64_t a = 0, b = 0;
    memcpy(&a, id, 8);
    memcpy(&b, id + 8, 8);
    uint64_t x = a ^ (b * UINT64_C(0x9e3779b97f4a7c15));
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    uint64_t y = b ^ (a * UINT64_C(0xc2b2ae3d27d4eb4f)) ^ x;
    y = (y ^ (y >> 33)) * UINT64_C(0xff51afd7ed558ccd);
    y = (y ^ (y >> 33)) * UINT64_C(0xc4ceb9fe1a85ec53);
    y ^= y >> 33;
    *h1 = x;
    *h2 = y | 1;
}

static int seg_init(idf_seg_t *s, uint64_t cap)
{
    uint64_t bits = cap * IDF_BITS_PER_KEY;
    s->nlines = (bits + IDF_LINE_BITS - 1) / IDF_LINE_BITS;
    s->bits = calloc(s->nlines, IDF_LINE_BITS / 8);
    s->cap = cap;
    s->n = 0;
    return s->bits ? 0 : -1;
}

static void seg_add(idf_seg_t *s, uint64_t h1, uint64_t h2)
{
    uint64_t *line = s->bits + (h1 % s->nlines) * (IDF_LINE_BITS / 64);
    for (int i = 0; i < IDF_PROBES; i++) {
        uint32_t bit = (uint32_t)((h2 >> (i * 9)) & (IDF_LINE_BITS - 1));
        line[bit >> 6] |= UINT64_C(1) << (bit & 63);
    }
    s->n++;
}

static int seg_maybe(const idf_seg_t *s, uint64_t h1, uint64_t h2)
{
    const uint64_t *line = s->bits + (h1 % s->nlines) * (IDF_LINE_BITS / 64);
    for (int i = 0; i < IDF_PROBES; i++) {
        uint32_t bit = (uint32_t)((h2 >> (i * 9)) & (IDF_LINE_BITS - 1));
        if (!(line[bit >> 6] & (UINT64_C(1) << (bit & 63)))) return 0;
    }
    return 1;
}

void rf__idf_free(rf__idf_t *f)
{
    if (!f) return;
    for (int i = 0; i < f->nseg; i++)
        free(f->seg[i].bits);
    free(f);
}

int rf__idf_add(rf__idf_t *f, const uint8_t id[16])
{
    idf_seg_t *s = &f->seg[f->nseg - 1];
    if (s->n >= s->cap) {
        if (f->nseg == IDF_SEGMENTS_MAX) return -1;
        if (seg_init(&f->seg[f->nseg], s->cap * 2) != 0) return -1;
        s = &f->seg[f->nseg++];
    }
    uint64_t h1, h2;
    idf_hash(id, &h1, &h2);
    seg_add(s, h1, h2);
    f->keys++;
    return 0;
}

int rf__idf_maybe(const rf__idf_t *f, const uint8_t id[16])
{
    uint64_t h1, h2;
    idf_hash(id, &h1, &h2);
    for (int i = f->nseg - 1; i >= 0; i--)
        if (seg_maybe(&f->seg[i], h1, h2)) return 1;
    return 0;
}

uint64_t rf__idf_keys(const rf__idf_t *f)
{
    return f ? f->keys : 0;
}

/* Counts the stored 'd' keys, or adds them to f (f NULL: count only). */
static rf_err_t scan_ids(rf_ledger_t *l, rf__idf_t *f, uint64_t *n, rf_errbuf_t *eb)
{
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_fill_cache(ro, 0); /* one pass: keep the cache for the fold */
    static const uint8_t upper[1] = {RF__K_DEDUP + 1};
    rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)upper, 1);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(l->db, ro, l->cf[RF__CF_STATE]);
    static const uint8_t lower[1] = {RF__K_DEDUP};
    rf_err_t err = RF_OK;
    *n = 0;
    for (rocksdb_iter_seek(it, (const char *)lower, 1); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t kl = 0;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
        if (kl != 17 || k[0] != RF__K_DEDUP) {
            err = rf_errf(eb, RF_ERR_CORRUPT, "ledger partition %d: a dedup key of %zu bytes",
                          (int)l->partition, kl);
            break;
        }
        if (f && rf__idf_add(f, k + 1) != 0) {
            err = rf_errf(eb, RF_ERR_NOMEM, "out of memory");
            break;
        }
        (*n)++;
    }
    char *e = NULL;
    if (err == RF_OK) rocksdb_iter_get_error(it, &e);
    if (e) {
        err = rf_errf(eb, RF_ERR_STORAGE, "ledger partition %d: reading the dedup keys: %s",
                      (int)l->partition, e);
        rocksdb_free(e);
    }
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    return err;
}

rf__idf_t *rf__idf_new(uint64_t cap)
{
    rf__idf_t *f = calloc(1, sizeof *f);
    if (!f || seg_init(&f->seg[0], cap > IDF_MIN_KEYS ? cap : IDF_MIN_KEYS) != 0) {
        free(f);
        return NULL;
    }
    f->nseg = 1;
    return f;
}

int rf__idf_segments(const rf__idf_t *f)
{
    return f ? f->nseg : 0;
}

rf_err_t rf__idf_build(rf_ledger_t *l, rf_errbuf_t *eb)
{
    RF_ASSERT(l->idf == NULL);
    uint64_t n = 0;
    /* a bulk load whose state is all in the overlay has no 'd' key stored */
    rf_err_t err = l->ov_only ? RF_OK : scan_ids(l, NULL, &n, eb);
    if (err != RF_OK) return err;
    rf__idf_t *f = rf__idf_new(n * 2); /* room to double before a new segment */
    if (!f) return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    if (n > 0 && (err = scan_ids(l, f, &n, eb)) != RF_OK) {
        rf__idf_free(f);
        return err;
    }
    l->idf = f;
    return RF_OK;
}
