/* rf_project_store.c: one partition's projection store: RocksDB, the
 * write-back cache that gives the read models read-your-writes within a batch,
 * the seq checks, and the synced commit of a batch with the applied seq. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rf_project_int.h"

/* ---- write-back cache ------------------------------------------------------
 * Every key the read models touch in a batch lives here once: repeated updates
 * of a hot key (a program's day counters, the top of a board) cost one hash
 * lookup each and one RocksDB put per commit. Absent keys are cached too, so
 * a new user costs one RocksDB miss. Entries come from an arena that a reset
 * frees at once; the cache is bounded (RF_PROJECT_CACHE_ENTRIES_MAX): the
 * owner commits when it is full, and a commit resets it above
 * RF_PROJECT_CACHE_KEEP so memory stays flat. */

struct pc_entry {
    struct pc_entry *dnext; /* dirty list */
    uint8_t *val;
    uint64_t head; /* key_head(): the sort key's first 8 bytes */
    uint32_t hash;
    uint16_t klen, vlen, vcap;
    uint8_t present, dirty;
    uint8_t key[];
};
typedef struct pc_entry pc_entry_t;

typedef struct pc_chunk {
    struct pc_chunk *next;
    size_t used, cap;
    uint8_t data[];
} pc_chunk_t;

/* Open addressing, linear probing: a slot holds the entry's hash next to its
 * pointer, so a probe touches the entry only when the hashes match (the
 * table is larger than the CPU caches: each avoided pointer chase is a cache
 * miss). Entries are never removed before a reset, so no tombstones. */
typedef struct pc_bucket {
    pc_entry_t *e;
    uint64_t hash;
} pc_bucket_t;

/* A small direct-mapped table in front of the big one: the hot keys (a
 * program's counters, the top of its boards) stay in it and in the CPU
 * caches, so their lookups skip the big table's cache-missing probe. */
#define PC_FRONT 4096u

struct rf__pc {
    pc_bucket_t front[PC_FRONT];
    pc_bucket_t *buckets;
    size_t nbuckets; /* power of two, at least twice count */
    size_t count;
    pc_entry_t *dirty;
    size_t ndirty;
    pc_entry_t **sorted; /* commit: dirty entries in key order */
    size_t sorted_cap;
    pc_chunk_t *chunks;
    pc_chunk_t *spare; /* freed chunks kept for reuse: no page faults per batch */
};

#define PC_CHUNK_BYTES (1u << 20)
#define PC_BUCKETS_MIN 4096u
#define PC_KEY_MAX     1024u
#define PC_VAL_MAX     4096u /* a full rank node: 1280 bytes, a memo block: 2240 */
_Static_assert(RF__RNODE_MAX <= PC_VAL_MAX && RF__MEMO_BLOCK_MAX <= PC_VAL_MAX, "values fit");

/* Eight bytes at a time (keys are 10-60 bytes), then a final mix; the
 * write-back cache's and the batch's counter table's (rf_project_apply.c). */
uint32_t rf__pj_key_hash(const uint8_t *k, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ n, w;
    for (; n >= 8; k += 8, n -= 8) {
        memcpy(&w, k, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDULL;
        h ^= h >> 32;
    }
    w = 0;
    memcpy(&w, k, n);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ULL;
    h ^= h >> 29;
    h *= 0xFF51AFD7ED558CCDULL;
    return (uint32_t)(h ^ (h >> 32));
}

/* The first 8 key bytes as a big-endian number (zero padded): comparing it
 * orders most pairs without a memcmp call. */
static uint64_t key_head(const pc_entry_t *e)
{
    uint8_t b[8] = {0};
    memcpy(b, e->key, e->klen < 8 ? e->klen : 8);
    return rf_be64_get(b);
}

static void *pc_alloc(rf__pc_t *c, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    if (!c->chunks || c->chunks->used + n > c->chunks->cap) {
        size_t cap = n > PC_CHUNK_BYTES ? n : PC_CHUNK_BYTES;
        pc_chunk_t *ch = NULL;
        if (c->spare && c->spare->cap >= cap) {
            ch = c->spare;
            c->spare = ch->next;
            cap = ch->cap;
        } else {
            ch = malloc(sizeof *ch + cap);
        }
        if (!ch) abort(); /* out of memory: nothing sane to do mid-batch */
        ch->next = c->chunks;
        ch->used = 0;
        ch->cap = cap;
        c->chunks = ch;
    }
    void *p = c->chunks->data + c->chunks->used;
    c->chunks->used += n;
    return p;
}

/* Moves a chunk list to the spare list (standard-size chunks only: an
 * oversized one is freed), so the next batch reuses the pages. */
static void pc_release(rf__pc_t *c, pc_chunk_t *list)
{
    for (pc_chunk_t *ch = list, *nx; ch; ch = nx) {
        nx = ch->next;
        if (ch->cap == PC_CHUNK_BYTES) {
            ch->next = c->spare;
            c->spare = ch;
        } else {
            free(ch);
        }
    }
}

static rf__pc_t *pc_new(void)
{
    rf__pc_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->nbuckets = PC_BUCKETS_MIN;
    c->buckets = calloc(c->nbuckets, sizeof *c->buckets);
    if (!c->buckets) {
        free(c);
        return NULL;
    }
    return c;
}

static void pc_reset(rf__pc_t *c)
{
    RF_ASSERT(c->dirty == NULL); /* never drop unwritten changes */
    pc_release(c, c->chunks);
    c->chunks = NULL;
    c->count = 0;
    memset(c->buckets, 0, c->nbuckets * sizeof *c->buckets);
    memset(c->front, 0, sizeof c->front); /* its entries were freed */
    RF_ASSERT(c->count == 0 && c->chunks == NULL);
}

static void pc_free(rf__pc_t *c)
{
    if (!c) return;
    c->dirty = NULL;
    pc_reset(c);
    for (pc_chunk_t *ch = c->spare, *nx; ch; ch = nx) {
        nx = ch->next;
        free(ch);
    }
    free(c->buckets);
    free(c->sorted);
    free(c);
}

static void pc_grow(rf__pc_t *c)
{
    size_t nb = c->nbuckets * 2;
    pc_bucket_t *b = calloc(nb, sizeof *b);
    if (!b) abort(); /* out of memory: nothing sane to do mid-batch */
    for (size_t i = 0; i < c->nbuckets; i++) {
        if (!c->buckets[i].e) continue;
        size_t j = c->buckets[i].hash & (nb - 1);
        while (b[j].e)
            j = (j + 1) & (nb - 1);
        b[j] = c->buckets[i];
    }
    free(c->buckets);
    c->buckets = b;
    c->nbuckets = nb;
}

/* The entry of key k, or NULL; *slot gets its bucket or the empty bucket
 * where it would go. */
/* The big table's probe: the entry, or NULL and *slot = the empty bucket
 * where it goes. */
static pc_entry_t *pc_find_big(rf__pc_t *c, const uint8_t *k, size_t kl, uint32_t h, size_t *slot)
{
    size_t mask = c->nbuckets - 1, i = h & mask;
    for (;; i = (i + 1) & mask) {
        const pc_bucket_t *b = &c->buckets[i];
        if (!b->e) break;
        if (b->hash == h && b->e->klen == kl && memcmp(b->e->key, k, kl) == 0) {
            *slot = i;
            return b->e;
        }
    }
    *slot = i;
    return NULL;
}

static pc_entry_t *pc_find(rf__pc_t *c, const uint8_t *k, size_t kl, uint32_t h, size_t *slot)
{
    pc_bucket_t *f = &c->front[(h >> 12) & (PC_FRONT - 1)];
    if (f->e && f->hash == h && f->e->klen == kl && memcmp(f->e->key, k, kl) == 0) {
        *slot = SIZE_MAX; /* found: the caller does not insert */
        return f->e;
    }
    pc_entry_t *e = pc_find_big(c, k, kl, h, slot);
    if (e) {
        f->e = e;
        f->hash = h;
    }
    return e;
}

static pc_entry_t *pc_insert(rf__pc_t *c, const uint8_t *k, size_t kl, uint32_t h, size_t slot)
{
    RF_ASSERT(kl <= PC_KEY_MAX);
    RF_ASSERT(c->buckets[slot].e == NULL);
    if (2 * (c->count + 1) > c->nbuckets) { /* keep probes short */
        pc_grow(c);
        pc_entry_t *none = pc_find_big(c, k, kl, h, &slot);
        RF_ASSERT(none == NULL);
    }
    pc_entry_t *e = pc_alloc(c, sizeof *e + kl);
    memset(e, 0, sizeof *e);
    memcpy(e->key, k, kl);
    e->klen = (uint16_t)kl;
    e->hash = h;
    e->head = key_head(e);
    c->buckets[slot].e = e;
    c->buckets[slot].hash = h;
    c->count++;
    return e;
}

static void pc_set(rf__pc_t *c, pc_entry_t *e, const void *v, size_t vl);
static void pc_mark_dirty(rf__pc_t *c, pc_entry_t *e);

/* Copies entry e into the (reset) table; an entry already copied is kept. */
static pc_entry_t *pc_keep(rf__pc_t *c, const pc_entry_t *e)
{
    size_t slot;
    pc_entry_t *n = pc_find_big(c, e->key, e->klen, e->hash, &slot);
    if (n) return n; /* dirty and in the front table */
    n = pc_insert(c, e->key, e->klen, e->hash, slot);
    if (e->present) pc_set(c, n, e->val, e->vlen);
    return n;
}

/* Drops the cache's keys but the dirty ones (the open batch) and those in the
 * front table (the recently hot ones: a program's counters, the top of its
 * boards), so the next batch does not read them from RocksDB again. Only
 * when no batch is in flight: its keys must stay cached until RocksDB has
 * them (a miss would read the old value). Entries move: slots are invalid. */
static void pc_trim(rf__pc_t *c)
{
    pc_chunk_t *old = c->chunks;
    pc_entry_t *dirty = c->dirty;
    c->chunks = NULL;
    c->count = 0;
    c->dirty = NULL;
    c->ndirty = 0;
    memset(c->buckets, 0, c->nbuckets * sizeof *c->buckets);
    for (pc_entry_t *e = dirty; e; e = e->dnext)
        pc_mark_dirty(c, pc_keep(c, e));
    for (size_t i = 0; i < PC_FRONT; i++)
        if (c->front[i].e) c->front[i].e = pc_keep(c, c->front[i].e);
    pc_release(c, old);
    RF_ASSERT(c->count <= PC_FRONT + c->ndirty);
}

static void pc_set(rf__pc_t *c, pc_entry_t *e, const void *v, size_t vl)
{
    RF_ASSERT(vl <= PC_VAL_MAX);
    if (vl > e->vcap || !e->val) {
        /* old space stays in the arena until reset: a value that grows (a rank
         * node gains 5 bytes per new prefix) doubles, so its copies stay few */
        size_t cap = vl < 16 ? 16 : vl;
        if (e->val && cap < 2u * e->vcap)
            cap = 2u * e->vcap < PC_VAL_MAX ? 2u * e->vcap : PC_VAL_MAX;
        e->val = pc_alloc(c, cap);
        e->vcap = (uint16_t)cap;
    }
    if (vl) memcpy(e->val, v, vl);
    e->vlen = (uint16_t)vl;
    e->present = 1;
}

static void pc_mark_dirty(rf__pc_t *c, pc_entry_t *e)
{
    if (e->dirty) return;
    e->dirty = 1;
    e->dnext = c->dirty;
    c->dirty = e;
    c->ndirty++;
}

static int entry_cmp(const void *a, const void *b)
{
    const pc_entry_t *x = *(pc_entry_t *const *)a, *y = *(pc_entry_t *const *)b;
    if (x->head != y->head) return x->head < y->head ? -1 : 1;
    int c = memcmp(x->key, y->key, x->klen < y->klen ? x->klen : y->klen);
    return c ? c : (int)x->klen - (int)y->klen;
}

/* Dirty entries in key order: RocksDB's skiplist inserts sorted keys much
 * faster (each insert starts from the previous one's position). */
static size_t sort_dirty(rf__pc_t *c)
{
    if (c->ndirty > c->sorted_cap) {
        size_t cap = c->ndirty * 2;
        pc_entry_t **s = realloc(c->sorted, cap * sizeof *s);
        if (!s) abort(); /* out of memory: nothing sane to do mid-commit */
        c->sorted = s;
        c->sorted_cap = cap;
    }
    size_t n = 0;
    for (pc_entry_t *e = c->dirty; e; e = e->dnext)
        c->sorted[n++] = e;
    RF_ASSERT(n == c->ndirty);
    if (n > 1) qsort(c->sorted, n, sizeof *c->sorted, entry_cmp);
    return n;
}

/* ---- point operations -------------------------------------------------- */

/* The perf-counter policy (rf_store_perf_off) is per thread, and the
 * worker's appliers are fresh threads: each turns the counters off before
 * its first RocksDB call. */
static inline void no_perf_counters(void)
{
    rf_store_perf_off();
}

/* Records a storage failure (sticky: the batch is lost, the owner must
 * close); err is RocksDB's (or malloc'ed), freed here. */
static rf_err_t store_fail(rf_projection_t *p, const char *what, char *err)
{
    rf_errbuf_t eb;
    _Static_assert(sizeof p->failmsg == sizeof eb.msg, "the failure message is an error message");
    if (err)
        rf_store_err(&eb, err, "projection p-%04d: %s", (int)p->partition, what);
    else
        rf_errf(&eb, RF_ERR_STORAGE, "projection p-%04d: %s: unknown error", (int)p->partition,
                what);
    memcpy(p->failmsg, eb.msg, sizeof p->failmsg);
    p->failed = RF_ERR_STORAGE;
    return RF_ERR_STORAGE;
}

rf_err_t rf__pj_fail(rf_projection_t *p, const char *what, char *err)
{
    return store_fail(p, what, err);
}

rf_err_t rf__pj_slot(rf_projection_t *p, const uint8_t *k, size_t kl, rf__pj_slot_t **slot)
{
    uint32_t h = rf__pj_key_hash(k, kl);
    size_t at;
    pc_entry_t *e = pc_find(p->cache, k, kl, h, &at);
    if (!e) {
        char *err = NULL;
        no_perf_counters();
        rocksdb_pinnableslice_t *ps =
            rocksdb_get_pinned(p->db, p->ropts, (const char *)k, kl, &err);
        if (err) return store_fail(p, "read", err);
        size_t n = 0;
        const char *v = ps ? rocksdb_pinnableslice_value(ps, &n) : NULL;
        if (n > PC_VAL_MAX) {
            rocksdb_pinnableslice_destroy(ps);
            return store_fail(p, "read", strdup("stored value too large"));
        }
        e = pc_insert(p->cache, k, kl, h, at);
        if (ps) pc_set(p->cache, e, v, n);
        rocksdb_pinnableslice_destroy(ps);
    }
    *slot = e;
    return RF_OK;
}

rf_err_t rf__pj_slot_new(rf_projection_t *p, const uint8_t *k, size_t kl, rf__pj_slot_t **slot)
{
    uint32_t h = rf__pj_key_hash(k, kl);
    size_t at;
    pc_entry_t *e = pc_find(p->cache, k, kl, h, &at);
    if (!e) {
#ifndef NDEBUG
        char *err = NULL;
        size_t n = 0;
        char *v = rocksdb_get(p->db, p->ropts, (const char *)k, kl, &n, &err);
        RF_ASSERT(v == NULL && err == NULL); /* the caller's claim was wrong */
#endif
        e = pc_insert(p->cache, k, kl, h, at);
    }
    *slot = e;
    return RF_OK;
}

bool rf__pj_slot_value(const rf__pj_slot_t *s, const uint8_t **val, size_t *vl)
{
    if (!s->present) return false;
    *val = s->val;
    *vl = s->vlen;
    return true;
}

void rf__pj_slot_set(rf_projection_t *p, rf__pj_slot_t *s, const void *v, size_t vl)
{
    if (s->present && s->vlen == vl && memcmp(s->val, v, vl) == 0) return; /* unchanged */
    pc_set(p->cache, s, v, vl);
    pc_mark_dirty(p->cache, s);
    p->dirty = true;
}

void rf__pj_slot_touch(rf_projection_t *p, rf__pj_slot_t *s)
{
    pc_mark_dirty(p->cache, s);
    p->dirty = true;
}

void rf__pj_slot_del(rf_projection_t *p, rf__pj_slot_t *s)
{
    if (!s->present && !s->dirty) return; /* absent in the store too */
    s->present = 0;
    s->vlen = 0;
    pc_mark_dirty(p->cache, s);
    p->dirty = true;
}

rf_err_t rf__pj_get(rf_projection_t *p, const uint8_t *k, size_t kl, const uint8_t **val,
                    size_t *vl)
{
    rf__pj_slot_t *s;
    rf_err_t err = rf__pj_slot(p, k, kl, &s);
    if (err != RF_OK) return err;
    return rf__pj_slot_value(s, val, vl) ? RF_OK : RF_ERR_NOT_FOUND;
}

void rf__pj_put(rf_projection_t *p, const uint8_t *k, size_t kl, const void *v, size_t vl)
{
    uint32_t h = rf__pj_key_hash(k, kl);
    size_t at;
    pc_entry_t *e = pc_find(p->cache, k, kl, h, &at);
    if (e && e->present && e->vlen == vl && memcmp(e->val, v, vl) == 0) return; /* unchanged */
    if (!e) e = pc_insert(p->cache, k, kl, h, at);
    pc_set(p->cache, e, v, vl);
    pc_mark_dirty(p->cache, e);
    p->dirty = true;
}

void rf__pj_del(rf_projection_t *p, const uint8_t *k, size_t kl)
{
    uint32_t h = rf__pj_key_hash(k, kl);
    size_t at;
    pc_entry_t *e = pc_find(p->cache, k, kl, h, &at);
    if (!e) e = pc_insert(p->cache, k, kl, h, at);
    e->present = 0;
    e->vlen = 0;
    pc_mark_dirty(p->cache, e);
    p->dirty = true;
}

rf_err_t rf__pj_add(rf_projection_t *p, const uint8_t *k, size_t kl, int64_t delta, int64_t *after)
{
    rf__pj_slot_t *s;
    const uint8_t *v;
    size_t vl;
    int64_t cur = 0, next;
    rf_err_t err = rf__pj_slot(p, k, kl, &s);
    if (err != RF_OK) return err;
    if (rf__pj_slot_value(s, &v, &vl)) {
        if (vl != 8) return store_fail(p, "read", strdup("counter value is not 8 bytes"));
        cur = (int64_t)rf_be64_get(v);
    }
    if (!rf__pj_add_ok(cur, delta, &next)) /* ledger limits keep sums far from this */
        return store_fail(p, "update", strdup("int64 counter overflow"));
    if (after) *after = next;
    if (delta == 0) return RF_OK;
    if (next == 0) {
        rf__pj_slot_del(p, s); /* zero counters vanish: rank scans stay short */
    } else {
        uint8_t b[8];
        rf_be64_put(b, (uint64_t)next);
        rf__pj_slot_set(p, s, b, 8);
    }
    return RF_OK;
}

rf_err_t rf__pj_intern(rf_projection_t *p, const char *name, size_t nlen, bool create, uint32_t *id)
{
    uint8_t k[1 + RF__NAME_MAX];
    RF_ASSERT(nlen <= RF__NAME_MAX);
    k[0] = RF__PK_NAME;
    memcpy(k + 1, name, nlen);
    const uint8_t *v;
    size_t vl;
    rf_err_t err = rf__pj_get(p, k, 1 + nlen, &v, &vl);
    if (err == RF_OK) {
        if (vl != 4) return RF_ERR_CORRUPT;
        *id = rf_be32_get(v);
        return RF_OK;
    }
    if (err != RF_ERR_NOT_FOUND || !create) return err;
    RF_ASSERT(p->next_name_id > 0 && p->next_name_id < UINT32_MAX);
    *id = p->next_name_id++;
    uint8_t b[4];
    rf_be32_put(b, *id);
    rf__pj_put(p, k, 1 + nlen, b, 4);
    return RF_OK;
}

/* ---- open, apply, commit ------------------------------------------------- */

static void writer_stop(rf_projection_t *p);

static rf_err_t load_meta(rf_projection_t *p, rf_errbuf_t *eb)
{
    char *err = NULL;
    size_t n = 0;
    const char mk = RF__PK_META;
    char *v = rocksdb_get(p->db, p->ropts, &mk, 1, &n, &err);
    if (err) return rf_store_err(eb, err, "cannot read projection meta");
    memset(&p->meta, 0, sizeof p->meta);
    p->meta.partition = p->partition;
    p->meta.next_offset = -1;
    p->meta.high_watermark = -1;
    p->next_name_id = 1;
    if (v && n > 0 && (uint8_t)v[0] != RF__META_VERSION) {
        /* an older key layout: the store is rebuilt from the ledger topic */
        rf_errf(eb, RF_ERR_CORRUPT,
                "projection p-%04d has key layout version %u, this build uses %u: remove the "
                "store and rebuild it from the ledger topic",
                (int)p->partition, (unsigned)(uint8_t)v[0], (unsigned)RF__META_VERSION);
        free(v);
        return RF_ERR_CORRUPT;
    }
    if (v) {
        rf_err_t e = rf__pj_meta_decode((const uint8_t *)v, n, &p->meta, &p->next_name_id);
        free(v);
        if (e != RF_OK)
            return rf_errf(eb, RF_ERR_CORRUPT, "projection meta of p-%04d is corrupt",
                           (int)p->partition);
        if (p->meta.partition != p->partition)
            return rf_errf(eb, RF_ERR_CORRUPT, "store holds partition %d, not %d",
                           (int)p->meta.partition, (int)p->partition);
    }
    p->stored = p->meta;
    p->stored_name_id = p->next_name_id;
    return RF_OK;
}

rf_projection_t *rf_projection_open_path_env(rf_store_env_t *env, const char *db_path,
                                             int32_t partition, int flags, rf_errbuf_t *eb)
{
    RF_ASSERT(env != NULL && db_path != NULL);
    if (partition < 0 || partition >= RF_PARTITIONS_MAX) {
        rf_errf(eb, RF_ERR_CONFIG, "partition %d out of range", (int)partition);
        return NULL;
    }
    rf_projection_t *p = calloc(1, sizeof *p);
    if (!p || !(p->cache = pc_new())) {
        free(p);
        rf_errf(eb, RF_ERR_NOMEM, "out of memory");
        return NULL;
    }
    p->partition = partition;
    pthread_mutex_init(&p->writer.mu, NULL);
    pthread_cond_init(&p->writer.cv, NULL);
    p->wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(p->wopts, (flags & RF_PROJECTION_NOSYNC) ? 0 : 1);
    p->ropts = rocksdb_readoptions_create();
    p->wb = rocksdb_writebatch_create();
    rf_store_open_conf_t c = {.kind = RF_STORE_PROJECTION,
                              .mode = RF_STORE_WRITE,
                              .create = (flags & RF_PROJECTION_CREATE) != 0};
    if (!(p->store = rf_store_open(env, db_path, &c, eb))) {
        rf_projection_close(p);
        return NULL;
    }
    p->db = rf_store_db(p->store);
    if (load_meta(p, eb) != RF_OK) {
        rf_projection_close(p);
        return NULL;
    }
    return p;
}

rf_projection_t *rf_projection_open_path(const char *db_path, int32_t partition, int flags,
                                         rf_errbuf_t *eb)
{
    return rf_projection_open_path_env(rf_store_env_default(), db_path, partition, flags, eb);
}

rf_projection_t *rf_projection_open_env(rf_store_env_t *env, const char *data_dir,
                                        int32_t partition, int flags, rf_errbuf_t *eb)
{
    char path[4096], dir[4096];
    if (rf__project_part_path(data_dir, partition, path, sizeof path) != RF_OK) {
        rf_errf(eb, RF_ERR_CONFIG, "data directory path too long");
        return NULL;
    }
    if (flags & RF_PROJECTION_CREATE) {
        snprintf(dir, sizeof dir, "%s/project", data_dir);
        if (mkdir(data_dir, 0755) != 0 && errno != EEXIST) {
            rf_errf(eb, RF_ERR_IO, "cannot create '%s': %s", data_dir, strerror(errno));
            return NULL;
        }
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
            rf_errf(eb, RF_ERR_IO, "cannot create '%s': %s", dir, strerror(errno));
            return NULL;
        }
    }
    return rf_projection_open_path_env(env, path, partition, flags, eb);
}

rf_projection_t *rf_projection_open(const char *data_dir, int32_t partition, int flags,
                                    rf_errbuf_t *eb)
{
    return rf_projection_open_env(rf_store_env_default(), data_dir, partition, flags, eb);
}

void rf_projection_close(rf_projection_t *p)
{
    if (!p) return;
    writer_stop(p); /* a batch in flight lands (or fails) before the store closes */
    rf_store_close(p->store);
    if (p->wb) rocksdb_writebatch_destroy(p->wb);
    if (p->ropts) rocksdb_readoptions_destroy(p->ropts);
    if (p->wopts) rocksdb_writeoptions_destroy(p->wopts);
    pc_free(p->cache);
    rf__pj_dq_free(p->dq);
    pthread_cond_destroy(&p->writer.cv);
    pthread_mutex_destroy(&p->writer.mu);
    free(p);
}

rf_err_t rf_projection_apply(rf_projection_t *p, const rf_record_t *rec,
                             rf_apply_outcome_t *outcome, rf_errbuf_t *eb)
{
    RF_ASSERT(p && rec);
    if (p->failed) return rf_errf(eb, p->failed, "%s", p->failmsg);
    if (rec->partition != p->partition)
        return rf_errf(eb, RF_ERR_CORRUPT, "record seq %llu names partition %d, read from %d",
                       (unsigned long long)rec->seq, (int)rec->partition, (int)p->partition);
    if (rec->seq <= p->meta.applied_seq) {
        p->meta.duplicates++;
        p->dirty = true; /* the offset still advances past the duplicate */
        if (outcome) *outcome = RF_APPLY_DUPLICATE;
        return RF_OK;
    }
    if (rec->seq != p->meta.applied_seq + 1)
        return rf_errf(eb, RF_ERR_GAP,
                       "ledger partition %d: seq gap: applied %llu, next record is %llu "
                       "(records %llu..%llu are missing upstream)",
                       (int)p->partition, (unsigned long long)p->meta.applied_seq,
                       (unsigned long long)rec->seq, (unsigned long long)p->meta.applied_seq + 1,
                       (unsigned long long)rec->seq - 1);
    if (rec->npostings > RF_POSTINGS_MAX || rec->nfacts > RF_FACTS_MAX || !rf_record_balanced(rec))
        return rf_errf(eb, RF_ERR_CORRUPT, "ledger partition %d seq %llu: postings do not balance",
                       (int)p->partition, (unsigned long long)rec->seq);
    rf_err_t err = rf__project_apply_models(p, rec, eb);
    if (err == RF_OK && p->failed) err = p->failed;
    if (err != RF_OK) {
        if (p->failed) rf_errf(eb, p->failed, "%s", p->failmsg);
        return err;
    }
    p->meta.applied_seq = rec->seq;
    p->meta.records++;
    if (rec->occurred_at_ms > p->meta.event_time_ms) p->meta.event_time_ms = rec->occurred_at_ms;
    p->dirty = true;
    if (outcome) *outcome = RF_APPLY_APPLIED;
    RF_ASSERT(p->meta.applied_seq == rec->seq);
    return RF_OK;
}

bool rf_projection_cache_full(const rf_projection_t *p)
{
    return p->cache->count + rf__pj_dq_count(p) >= RF_PROJECT_CACHE_ENTRIES_MAX;
}

/* ---- commits: built by the owner, written by the writer thread ------------ */

static void *writer_main(void *arg)
{
    rf_projection_t *p = arg;
    rf__pj_writer_t *w = &p->writer;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->busy && !w->stop)
            pthread_cond_wait(&w->cv, &w->mu);
        if (!w->busy) break; /* stop, nothing in flight */
        pthread_mutex_unlock(&w->mu);
        char *err = NULL;
        no_perf_counters();
        rocksdb_write(p->db, p->wopts, w->wb, &err); /* synced unless NOSYNC */
        rocksdb_writebatch_clear(w->wb);
        pthread_mutex_lock(&w->mu);
        w->err = err;
        w->busy = false;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static rf_err_t writer_start(rf_projection_t *p)
{
    rf__pj_writer_t *w = &p->writer;
    if (w->started) return RF_OK;
    if (!(w->wb = rocksdb_writebatch_create())) return RF_ERR_NOMEM;
    if (pthread_create(&w->thread, NULL, writer_main, p) != 0) return RF_ERR_NOMEM;
    w->started = true;
    return RF_OK;
}

/* Waits until no batch is in flight; a failed write makes the store failed. */
static rf_err_t writer_wait(rf_projection_t *p)
{
    rf__pj_writer_t *w = &p->writer;
    if (!w->started) return p->failed;
    pthread_mutex_lock(&w->mu);
    while (w->busy)
        pthread_cond_wait(&w->cv, &w->mu);
    char *err = w->err;
    w->err = NULL;
    pthread_mutex_unlock(&w->mu);
    if (err && !p->failed)
        store_fail(p, "commit", err);
    else
        free(err);
    return p->failed;
}

static void writer_stop(rf_projection_t *p)
{
    rf__pj_writer_t *w = &p->writer;
    if (!w->started) return;
    writer_wait(p);
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    rocksdb_writebatch_destroy(w->wb);
    w->started = false;
}

/* The open batch's dirty keys (sorted) and the meta key into p->wb; marks
 * them clean: from here the batch is the writer's. */
static size_t build_batch(rf_projection_t *p)
{
    rocksdb_writebatch_clear(p->wb);
    size_t n = sort_dirty(p->cache);
    for (size_t i = 0; i < n; i++) {
        const pc_entry_t *e = p->cache->sorted[i];
        if (e->present)
            rocksdb_writebatch_put(p->wb, (const char *)e->key, e->klen, (const char *)e->val,
                                   e->vlen);
        else
            rocksdb_writebatch_delete(p->wb, (const char *)e->key, e->klen);
    }
    p->meta.committed_wall_ms = rf_wall_ms();
    uint8_t mv[RF__META_LEN];
    const char mk = RF__PK_META;
    rf__pj_meta_encode(&p->meta, p->next_name_id, mv);
    rocksdb_writebatch_put(p->wb, &mk, 1, (const char *)mv, sizeof mv);
    for (pc_entry_t *e = p->cache->dirty, *nx; e; e = nx) {
        nx = e->dnext;
        e->dirty = 0;
        e->dnext = NULL;
    }
    p->cache->dirty = NULL;
    p->cache->ndirty = 0;
    RF_ASSERT(rocksdb_writebatch_count(p->wb) == (int)n + 1);
    return n;
}

rf_err_t rf_projection_commit_start(rf_projection_t *p, int64_t next_offset, int64_t high_watermark,
                                    rf_errbuf_t *eb)
{
    RF_ASSERT(p);
    /* the previous batch is durable first: batches land in order, and its
     * keys may leave the cache only now */
    if (writer_wait(p) != RF_OK || rf__pj_dq_flush(p) != RF_OK)
        return rf_errf(eb, p->failed, "%s", p->failmsg);
    if (next_offset >= 0 && next_offset != p->meta.next_offset) {
        p->meta.next_offset = next_offset;
        p->dirty = true;
    }
    if (high_watermark >= 0 && high_watermark != p->meta.high_watermark) {
        p->meta.high_watermark = high_watermark;
        p->dirty = true;
    }
    if (p->cache->count > RF_PROJECT_CACHE_KEEP) pc_trim(p->cache);
    if (!p->dirty) return RF_OK;
    if (writer_start(p) != RF_OK) return rf_errf(eb, RF_ERR_NOMEM, "cannot start a writer");
    size_t n = build_batch(p);
    p->meta.keys_written += n;
    p->dirty = false;
    p->stored = p->meta; /* what RocksDB will hold: no key above it is stored */
    p->stored_name_id = p->next_name_id;
    rf__pj_writer_t *w = &p->writer;
    pthread_mutex_lock(&w->mu);
    rocksdb_writebatch_t *built = p->wb;
    p->wb = w->wb; /* cleared by the writer */
    w->wb = built;
    w->busy = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return RF_OK;
}

rf_err_t rf_projection_commit_wait(rf_projection_t *p, rf_errbuf_t *eb)
{
    RF_ASSERT(p);
    if (writer_wait(p) != RF_OK) return rf_errf(eb, p->failed, "%s", p->failmsg);
    return RF_OK;
}

rf_err_t rf_projection_commit(rf_projection_t *p, int64_t next_offset, int64_t high_watermark,
                              rf_errbuf_t *eb)
{
    rf_err_t err = rf_projection_commit_start(p, next_offset, high_watermark, eb);
    return err == RF_OK ? rf_projection_commit_wait(p, eb) : err;
}

void rf_projection_get_meta(const rf_projection_t *p, rf_projection_meta_t *meta)
{
    *meta = p->meta;
}

void rf_projection_compact(rf_projection_t *p)
{
    RF_ASSERT(p && p->db);
    rocksdb_compact_range(p->db, NULL, 0, NULL, 0);
}

rf_err_t rf_projection_checkpoint_fn(void *projection, const char *dir, rf_errbuf_t *eb)
{
    RF_ASSERT(projection != NULL && dir != NULL);
    rf_projection_t *p = projection;
    RF_ASSERT(p->db != NULL);
    char *err = NULL;
    rocksdb_checkpoint_t *cp = rocksdb_checkpoint_object_create(p->db, &err);
    if (!err) {
        /* 0: flush first, so the checkpoint is table files only */
        rocksdb_checkpoint_create(cp, dir, 0, &err);
        rocksdb_checkpoint_object_destroy(cp);
    }
    return err ? rf_store_err(eb, err, "cannot checkpoint projection into '%s'", dir) : RF_OK;
}
