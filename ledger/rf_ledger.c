/* rf_ledger.c: a partition ledger's storage (one RocksDB per partition) and
 * its fold engine: offsets, archive, decode, dedup, programs, Adjustment and
 * Redemption; every other event goes to the rules (rules/rf_rules.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rf_ledger_int.h"
#include "rf_store.h"
#include "rf_rules.h"

rf_err_t rf__rocks_err(rf_errbuf_t *eb, char *errptr, const char *what)
{
    RF_ASSERT(errptr != NULL);
    rf_errf(eb, RF_ERR_STORAGE, "%s: %s", what, errptr);
    rocksdb_free(errptr);
    return RF_ERR_STORAGE;
}

/* RocksDB counts into a thread-local perf context by default; in a shared
 * librocksdb every count is a __tls_get_addr call: turning it off in the
 * folding thread saved ~12% of CPU per event (docs/ledger.md). Thread-local,
 * so set once per thread that folds or commits. */
static void perf_off(void)
{
    static _Thread_local int done;
    if (!done) rocksdb_set_perf_level(rocksdb_disable);
    done = 1;
}

/* ---- the block cache shared by every partition of the process ---- */

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static rocksdb_cache_t *shared_cache;
static int shared_cache_refs;

/* RocksDB's default splits a 64 MiB cache in 64 shards of 1 MiB: a table's
 * full filter block (about 1.25 bytes per key: 1 MiB and more for a large
 * file) then evicts the others of its shard and every dedup miss read a
 * filter from disk (95 us per event at 1M events). 8 shards of 8 MiB. */
#define CACHE_SHARD_BITS 3

static rocksdb_cache_t *cache_ref(void)
{
    pthread_mutex_lock(&cache_mu);
    if (shared_cache_refs++ == 0) {
        rocksdb_lru_cache_options_t *co = rocksdb_lru_cache_options_create();
        rocksdb_lru_cache_options_set_capacity(co, RF_LEDGER_BLOCK_CACHE_BYTES);
        rocksdb_lru_cache_options_set_num_shard_bits(co, CACHE_SHARD_BITS);
        shared_cache = rocksdb_cache_create_lru_opts(co);
        rocksdb_lru_cache_options_destroy(co);
    }
    rocksdb_cache_t *c = shared_cache;
    pthread_mutex_unlock(&cache_mu);
    return c;
}

/* RocksDB holds its own reference to the cache in every open DB's options,
 * so dropping ours when the last ledger closes is always safe. */
static void cache_unref(void)
{
    pthread_mutex_lock(&cache_mu);
    RF_ASSERT(shared_cache_refs > 0);
    if (--shared_cache_refs == 0) {
        rocksdb_cache_destroy(shared_cache);
        shared_cache = NULL;
    }
    pthread_mutex_unlock(&cache_mu);
}

/* ---- the memtable budget shared by the writable ledgers of the process ----
 * The C API has no shared WriteBufferManager: each writable ledger's
 * memtables are resized (a mutable option) when ledgers open or close so
 * that together they stay within RF_LEDGER_MEMTABLE_BUDGET_BYTES (each
 * partition at least RF_LEDGER_WRITE_BUFFER_BYTES). Guarded by cache_mu. */

static rf_ledger_t *writers;
static size_t writers_n, writers_wb;
/* Writable ledgers announced by rf_ledger_expect_writers and not open yet:
 * counted in the budget from the first open, so the ones opened first are
 * not resized as the others open (each resize rewrites and re-parses the
 * OPTIONS file of every column family: 4% of the fold's CPU over 300k
 * events when a worker opened 16 partitions one by one). */
static size_t writers_expected;

/* A partition's state memtable for n writable ledgers: a power of two, so
 * the others are resized only a few times while a worker opens its
 * partitions. Its records and archive memtables get a quarter each. */
static size_t budget_wb(size_t n)
{
    size_t share = RF_LEDGER_MEMTABLE_BUDGET_BYTES / (3 * (n ? n : 1));
    size_t w = RF_LEDGER_WRITE_BUFFER_BYTES;
    while (w * 2 <= share && w * 2 <= RF_LEDGER_WRITE_BUFFER_MAX)
        w *= 2;
    return w;
}

static size_t log_wb(size_t state_wb)
{
    return state_wb / 4;
}

static void resize_memtables(rf_ledger_t *l, size_t wb)
{
    static const char *const keys[1] = {"write_buffer_size"};
    for (int i = 0; i < RF__CF__COUNT; i++) {
        char v[32];
        snprintf(v, sizeof v, "%zu", i == RF__CF_STATE ? wb : log_wb(wb));
        const char *const vals[1] = {v};
        char *errptr = NULL;
        rocksdb_set_options_cf(l->db, l->cf[i], 1, keys, vals, &errptr);
        if (errptr) {
            rf_log(RF_LOG_WARN, "ledger '%s': cannot resize memtables: %s", l->path, errptr);
            rocksdb_free(errptr);
        }
    }
}

/* The share of each of n writable ledgers; resizes the open ones when it
 * changes. Caller holds cache_mu. */
static size_t writers_rebudget(size_t n)
{
    RF_ASSERT(n >= writers_n);
    size_t wb = budget_wb(n > writers_n + writers_expected ? n : writers_n + writers_expected);
    if (wb != writers_wb)
        for (rf_ledger_t *w = writers; w; w = w->wnext)
            resize_memtables(w, wb);
    writers_wb = wb;
    return wb;
}

static void writers_add(rf_ledger_t *l)
{
    l->wnext = writers;
    l->wprev = NULL;
    if (writers) writers->wprev = l;
    writers = l;
    writers_n++;
    if (writers_expected) writers_expected--;
}

void rf_ledger_expect_writers(int delta)
{
    RF_ASSERT(delta >= -RF_PARTITIONS_MAX && delta <= RF_PARTITIONS_MAX);
    pthread_mutex_lock(&cache_mu);
    if (delta < 0)
        writers_expected -= (size_t)-delta < writers_expected ? (size_t)-delta : writers_expected;
    else
        writers_expected += (size_t)delta;
    pthread_mutex_unlock(&cache_mu);
}

static void writers_remove(rf_ledger_t *l)
{
    RF_ASSERT(writers_n > 0);
    if (l->wprev)
        l->wprev->wnext = l->wnext;
    else
        writers = l->wnext;
    if (l->wnext) l->wnext->wprev = l->wprev;
    writers_n--;
}

/* Options (docs/ledger.md, "Storage"). DB-wide: WAL on (commits are
 * synced), two background jobs (two cores), bounded info logs, and a table
 * cache of RF_LEDGER_OPEN_FILES_MAX files in 4 shards: RocksDB's default of
 * 64 shards gave each under one entry, so flushes of the record files
 * evicted the state files and misses reopened tables (-0.6 us per event). */
static rocksdb_options_t *make_db_options(int flags)
{
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(o, (flags & RF_LEDGER_CREATE) ? 1 : 0);
    rocksdb_options_set_create_missing_column_families(o, (flags & RF_LEDGER_CREATE) ? 1 : 0);
    rocksdb_options_set_max_background_jobs(o, 2);
    rocksdb_options_set_max_open_files(o, RF_LEDGER_OPEN_FILES_MAX);
    rocksdb_options_set_table_cache_numshardbits(o, 2);
    rf_rocksdb_info_log(o);
    return o;
}

/* The state takes random keys and random misses (every event looks up a
 * dedup key that is almost never there): bloom filters in the table files
 * and in the memtable, so a miss costs no skiplist search; L0 files gather
 * RF_LEDGER_L0_TRIGGER memtables before a compaction merges them. */
static void state_cf_options(rocksdb_options_t *o, rocksdb_block_based_table_options_t *t)
{
    rocksdb_block_based_options_set_filter_policy(t, rocksdb_filterpolicy_create_bloom_full(10));
    rocksdb_options_set_memtable_whole_key_filtering(o, 1);
    rocksdb_options_set_memtable_prefix_bloom_size_ratio(o, 0.02);
    rocksdb_options_set_level0_file_num_compaction_trigger(o, RF_LEDGER_L0_TRIGGER);
}

/* Flushes skip compression in every family: an L0 file lives until the
 * next compaction (RF_LEDGER_L0_TRIGGER flushes), which reads it and writes
 * it again compressed; compressing it first only cost CPU (the state's L0
 * LZ4 was 1.7% of a replay) and its reads a decompression. */
static void compress_below_l0(rocksdb_options_t *o, int compression)
{
    int levels[7];
    for (int i = 0; i < 7; i++)
        levels[i] = i == 0 ? rocksdb_no_compression : compression;
    rocksdb_options_set_num_levels(o, 7);
    rocksdb_options_set_compression_per_level(o, levels, 7);
}

/* Records and archive are append-only with ever-growing keys: their files
 * never overlap, so compaction never merges them with the state. The one
 * compaction below L0 compresses and merges the flushed files into larger
 * ones (a bounded number of open files), after which files only move down.
 * Reads hit: no filter. */
static void log_cf_options(rocksdb_options_t *o, rocksdb_block_based_table_options_t *t)
{
    rocksdb_block_based_options_set_block_size(t, RF_LEDGER_LOG_BLOCK_BYTES);
    rocksdb_options_set_target_file_size_base(o, RF_LEDGER_LOG_FILE_BYTES);
    rocksdb_options_set_level0_file_num_compaction_trigger(o, RF_LEDGER_L0_TRIGGER);
}

/* Per column family; index and filter blocks live in the shared cache so
 * memory is bounded per process, not per partition. */
static rocksdb_options_t *make_cf_options(int cf, rocksdb_cache_t *cache, int compression,
                                          size_t wb)
{
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_options_set_write_buffer_size(o, cf == RF__CF_STATE ? wb : log_wb(wb));
    rocksdb_options_set_max_write_buffer_number(o, 2);
    rocksdb_options_set_level_compaction_dynamic_level_bytes(o, 1);
    rocksdb_options_set_compression(o, compression);
    compress_below_l0(o, compression);
    rocksdb_block_based_table_options_t *t = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(t, cache);
    rocksdb_block_based_options_set_cache_index_and_filter_blocks(t, 1);
    rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(t, 1);
    if (cf == RF__CF_STATE)
        state_cf_options(o, t);
    else
        log_cf_options(o, t);
    rocksdb_options_set_block_based_table_factory(o, t);
    rocksdb_block_based_options_destroy(t);
    return o;
}

static const char *const cf_names[RF__CF__COUNT] = {"default", "records", "archive"};

static rocksdb_t *open_cfs(rf_ledger_t *l, const char *path, rocksdb_cache_t *cache,
                           int compression, size_t wb, char **errptr)
{
    l->opts = make_db_options(l->flags);
    for (int i = 0; i < RF__CF__COUNT; i++)
        l->cf_opts[i] = make_cf_options(i, cache, compression, wb);
    const rocksdb_options_t *co[RF__CF__COUNT];
    memcpy(co, l->cf_opts, sizeof co);
    if (l->flags & RF_LEDGER_READONLY)
        return rocksdb_open_for_read_only_column_families(l->opts, path, RF__CF__COUNT, cf_names,
                                                          co, l->cf, 0, errptr);
    return rocksdb_open_column_families(l->opts, path, RF__CF__COUNT, cf_names, co, l->cf, errptr);
}

static void destroy_options(rf_ledger_t *l)
{
    if (l->opts) rocksdb_options_destroy(l->opts);
    for (int i = 0; i < RF__CF__COUNT; i++)
        if (l->cf_opts[i]) rocksdb_options_destroy(l->cf_opts[i]);
    l->opts = NULL;
    memset(l->cf_opts, 0, sizeof l->cf_opts);
}

static rf_err_t open_db(rf_ledger_t *l, const char *path, rf_errbuf_t *eb)
{
    rocksdb_cache_t *cache = cache_ref();
    char *errptr = NULL;
    int writer = !(l->flags & RF_LEDGER_READONLY);
    /* opens of writable ledgers are serialised: the budget counts them */
    if (writer) pthread_mutex_lock(&cache_mu);
    size_t wb = writer ? writers_rebudget(writers_n + 1) : RF_LEDGER_WRITE_BUFFER_BYTES;
    l->db = open_cfs(l, path, cache, rocksdb_lz4_compression, wb, &errptr);
    if (!l->db && errptr && strstr(errptr, "ompression")) {
        /* a RocksDB built without LZ4: fall back to no compression */
        rf_log(RF_LOG_WARN, "ledger '%s': %s; using no compression", path, errptr);
        rocksdb_free(errptr), errptr = NULL;
        destroy_options(l);
        l->db = open_cfs(l, path, cache, rocksdb_no_compression, wb, &errptr);
    }
    if (writer) {
        if (l->db)
            writers_add(l);
        else
            writers_rebudget(writers_n); /* back to the share of the others */
        pthread_mutex_unlock(&cache_mu);
    }
    if (!l->db) {
        cache_unref();
        char what[4200];
        snprintf(what, sizeof what, "cannot open ledger '%s'", path);
        return errptr ? rf__rocks_err(eb, errptr, what) : rf_errf(eb, RF_ERR_STORAGE, "%s", what);
    }
    RF_ASSERT(errptr == NULL);
    return RF_OK;
}

/* ---- bulk load: straight into table files ----
 * Records and archive are appended in key order and never read back during a
 * fold (see staged_apart), so a bulk load writes them with SstFileWriter into
 * files of their own and ingests them at rf_ledger_bulk_finish: no memtable
 * insert and no flush for the two largest column families. The state needs
 * no durability before the finish either (a crash means starting over), so
 * commits leave it in the overlay, which serves the fold's reads from memory;
 * once the overlay holds its share of the state budget (rf__bulk_state_bound),
 * it is written sorted into a table file and ingested at once, and the DB
 * answers for what the overlay no longer holds; at the end the seal writes
 * the rest (docs/ledger.md, "Bulk load"). */

rf__bulk_hooks_t rf__bulk_hooks;

/* Open bulk loads of the process: they share the state budget. */
static atomic_size_t bulk_open;

size_t rf__bulk_state_bound(void)
{
    if (rf__bulk_hooks.state_bytes) return (size_t)rf__bulk_hooks.state_bytes;
    size_t n = atomic_load(&bulk_open);
    size_t share = RF_LEDGER_BULK_STATE_BUDGET_BYTES / (n ? n : 1);
    return share < RF_LEDGER_BULK_STATE_MIN_BYTES ? RF_LEDGER_BULK_STATE_MIN_BYTES
           : share > RF_LEDGER_BULK_STATE_BYTES   ? RF_LEDGER_BULK_STATE_BYTES
                                                  : share;
}

typedef struct rf__bulk {
    rocksdb_envoptions_t *env;
    rocksdb_options_t *state_opts;             /* the state family's, uncompressed (L0) */
    rocksdb_sstfilewriter_t *w[RF__CF__COUNT]; /* a family's open file, or NULL */
    uint32_t nfiles[RF__CF__COUNT];            /* files started, the open one included */
    uint32_t first[RF__CF__COUNT];             /* the first file not ingested yet */
    uint64_t bytes[RF__CF__COUNT];             /* keys + values in the open file */
    rf__buf_t val;                             /* an archive chunk with its format byte */
    int failed; /* a write failed: the files are partial, the load cannot finish */
    int sealed; /* rf_ledger_bulk_seal ran: no more folds, the finish remains */
} rf__bulk_t;

/* <db>/bulk-<family>-NNNNNN.sst: a name RocksDB's own file cleanup ignores;
 * the ingest moves (hard-links) it to a table number of the DB. */
static void bulk_file(const rf_ledger_t *l, int cf, uint32_t n, char *out, size_t cap)
{
    snprintf(out, cap, "%s/bulk-%s-%06u.sst", l->path, cf_names[cf], (unsigned)n);
}

static void bulk_free(rf__bulk_t *b)
{
    if (!b) return;
    RF_ASSERT(atomic_load(&bulk_open) > 0);
    atomic_fetch_sub(&bulk_open, 1);
    /* an open writer is abandoned: its partial file stays in a ledger that
     * is still marked unfinished, which every open refuses */
    for (int i = 0; i < RF__CF__COUNT; i++)
        if (b->w[i]) rocksdb_sstfilewriter_destroy(b->w[i]);
    if (b->env) rocksdb_envoptions_destroy(b->env);
    if (b->state_opts) rocksdb_options_destroy(b->state_opts);
    rf__buf_free(&b->val);
    free(b);
}

/* Finishes (and syncs: SstFileWriter::Finish does) the open file of cf. */
static rf_err_t bulk_close_file(rf_ledger_t *l, int cf, rf_errbuf_t *eb)
{
    rf__bulk_t *b = l->bulk;
    if (!b->w[cf]) return RF_OK;
    char *errptr = NULL;
    rocksdb_sstfilewriter_finish(b->w[cf], &errptr);
    rocksdb_sstfilewriter_destroy(b->w[cf]);
    b->w[cf] = NULL;
    b->bytes[cf] = 0;
    if (errptr) {
        b->failed = 1;
        return rf__rocks_err(eb, errptr, "cannot write a bulk load table file");
    }
    return RF_OK;
}

/* Appends k -> v (v NULL: a deletion) to cf's open table file, started
 * when there is none; keys come in order within a file. */
static rf_err_t bulk_put(rf_ledger_t *l, int cf, const uint8_t *k, size_t kl, const void *v,
                         size_t vl, rf_errbuf_t *eb)
{
    rf__bulk_t *b = l->bulk;
    RF_ASSERT(!b->failed && (v != NULL || vl == 0));
    char *errptr = NULL;
    if (!b->w[cf]) {
        if (b->nfiles[cf] >= RF_LEDGER_BULK_FILES_MAX) {
            b->failed = 1;
            return rf_errf(eb, RF_ERR_CONFIG, "bulk load of '%s': more than %d %s files", l->path,
                           RF_LEDGER_BULK_FILES_MAX, cf_names[cf]);
        }
        char path[4200];
        bulk_file(l, cf, b->nfiles[cf]++, path, sizeof path);
        /* the family's own options: its table format, and the compression of
         * its bottom level (LZ4), where the ingest puts the log files; the
         * state's files overlap the mark (and each other): they land in L0,
         * written uncompressed as a flush would (compress_below_l0) */
        b->w[cf] = rocksdb_sstfilewriter_create(b->env, cf == RF__CF_STATE ? b->state_opts
                                                                           : l->cf_opts[cf]);
        rocksdb_sstfilewriter_open(b->w[cf], path, &errptr);
    }
    if (!errptr && v)
        rocksdb_sstfilewriter_put(b->w[cf], (const char *)k, kl, (const char *)v, vl, &errptr);
    else if (!errptr)
        rocksdb_sstfilewriter_delete(b->w[cf], (const char *)k, kl, &errptr);
    if (errptr) {
        b->failed = 1;
        return rf__rocks_err(eb, errptr, "cannot write a bulk load table file");
    }
    b->bytes[cf] += kl + vl;
    /* files of about the size compaction makes (fewer, larger files) */
    uint64_t max = rf__bulk_hooks.file_bytes ? rf__bulk_hooks.file_bytes : RF_LEDGER_LOG_FILE_BYTES;
    return b->bytes[cf] >= max ? bulk_close_file(l, cf, eb) : RF_OK;
}

/* One archive chunk: its format byte then the events, in one value. */
static rf_err_t bulk_put_chunk(rf_ledger_t *l, const uint8_t key[9], const uint8_t *p, size_t n,
                               rf_errbuf_t *eb)
{
    rf__bulk_t *b = l->bulk;
    b->val.len = 0;
    if (rf__buf_reserve(&b->val, 1 + n)) return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    b->val.p[0] = RF__ARCHIVE_FMT;
    memcpy(b->val.p + 1, p, n);
    return bulk_put(l, RF__CF_ARCHIVE, key, 9, b->val.p, 1 + n, eb);
}

/* Ingests the table files of cf written since its last ingest, moved into
 * the DB (linked, not copied); file numbers are never reused, so a name
 * still linked into the DB is never opened for writing again. */
static rf_err_t bulk_ingest(rf_ledger_t *l, int cf, rf_errbuf_t *eb)
{
    rf__bulk_t *b = l->bulk;
    rf_err_t err = bulk_close_file(l, cf, eb);
    uint32_t n = b->nfiles[cf] - b->first[cf];
    if (err || n == 0) return err;
    char **names = calloc(n, sizeof *names);
    for (uint32_t i = 0; names && i < n && !err; i++)
        if (!(names[i] = malloc(4200)))
            err = RF_ERR_NOMEM;
        else
            bulk_file(l, cf, b->first[cf] + i, names[i], 4200);
    char *errptr = NULL;
    if (names && !err) {
        rocksdb_ingestexternalfileoptions_t *io = rocksdb_ingestexternalfileoptions_create();
        rocksdb_ingestexternalfileoptions_set_move_files(io, 1);
        rocksdb_ingest_external_file_cf(l->db, l->cf[cf], (const char *const *)names, n, io,
                                        &errptr);
        rocksdb_ingestexternalfileoptions_destroy(io);
    }
    for (uint32_t i = 0; names && i < n; i++)
        free(names[i]);
    if (!names || err) {
        free(names);
        return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    }
    free(names);
    if (errptr) {
        b->failed = 1;
        return rf__rocks_err(eb, errptr, "cannot ingest the bulk load table files");
    }
    b->first[cf] = b->nfiles[cf];
    return RF_OK;
}

/* A state value as stored: the rules' values with zero runs collapsed (in
 * l->enc). -1: out of memory. */
static int state_value(rf_ledger_t *l, const uint8_t *k, const uint8_t **v, size_t *vl)
{
    if (k[0] != RF__K_RULES) return 0;
    l->enc.len = 0;
    if (rf__buf_reserve(&l->enc, rf__zr_bound(*vl))) return -1;
    *vl = rf__zr_encode(*v, *vl, l->enc.p);
    *v = l->enc.p;
    return 0;
}

typedef struct spill {
    rf_ledger_t *l;
    rf_errbuf_t *eb;
    rf_err_t err;
} spill_t;

static int spill_one(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *opaque)
{
    spill_t *s = opaque;
    if (vl == SIZE_MAX && s->l->ov_only) return 0; /* nothing stored to delete */
    if (vl != SIZE_MAX && state_value(s->l, k, &v, &vl)) return -1;
    s->err = bulk_put(s->l, RF__CF_STATE, k, kl, vl == SIZE_MAX ? NULL : v, vl == SIZE_MAX ? 0 : vl,
                      s->eb);
    return s->err ? 1 : 0;
}

/* Writes the overlay, sorted, into a state table file (finished, synced)
 * and empties the overlay; ingest, or the reads of the fold would miss it. */
static rf_err_t bulk_write_state(rf_ledger_t *l, rf_errbuf_t *eb)
{
    RF_ASSERT(l->bulk != NULL && !l->bulk->failed);
    if (rf__ov_count(l->ov) == 0) return RF_OK;
    spill_t s = {l, eb, RF_OK};
    if (rf__ov_each_sorted(l->ov, spill_one, &s) < 0) {
        l->bulk->failed = 1;
        return rf_errf(eb, RF_ERR_NOMEM, "cannot write the bulk load's state: out of memory");
    }
    rf_err_t err = s.err ? s.err : bulk_close_file(l, RF__CF_STATE, eb);
    if (err) return err;
    rf__ov_clear(l->ov);
    l->ov_only = 0;
    RF_ASSERT(rf__ov_count(l->ov) == 0);
    return RF_OK;
}

/* A spill mid-load: the state's table file, ingested at once so the DB
 * answers what the overlay no longer holds. */
static rf_err_t bulk_spill(rf_ledger_t *l, rf_errbuf_t *eb)
{
    rf_err_t err = bulk_write_state(l, eb);
    return err ? err : bulk_ingest(l, RF__CF_STATE, eb);
}

static rf_err_t load_meta(rf_ledger_t *l, rf_errbuf_t *eb)
{
    uint8_t key = RF__K_META;
    char *val = NULL;
    size_t vlen = 0;
    rf__meta_empty(&l->committed, l->partition);
    rf_err_t err = rf__db_get(l, &key, 1, &val, &vlen, eb);
    if (err == RF_ERR_NOT_FOUND)
        err = RF_OK;
    else if (err == RF_OK) {
        err = rf__meta_decode((const uint8_t *)val, vlen, &l->committed, eb);
        rocksdb_free(val);
        if (!err && l->committed.partition != l->partition)
            err = rf_errf(eb, RF_ERR_CONFIG, "ledger '%s' holds partition %d, not %d", l->path,
                          (int)l->committed.partition, (int)l->partition);
    }
    l->staged = l->committed;
    if (err) return err;
    key = RF__K_UNFINISHED;
    err = rf__db_get(l, &key, 1, &val, &vlen, eb);
    if (err == RF_OK) {
        rocksdb_free(val);
        return rf_errf(eb, RF_ERR_CONFIG,
                       "ledger '%s' is an unfinished bulk load (a replay that crashed or "
                       "failed): delete it and run the replay again",
                       l->path);
    }
    return err == RF_ERR_NOT_FOUND ? RF_OK : err;
}

/* RF_LEDGER_BULK: a fresh ledger, durably marked unfinished before the
 * first WAL-less commit (rf_ledger.h). */
static rf_err_t bulk_start(rf_ledger_t *l, rf_errbuf_t *eb)
{
    if ((l->flags & RF_LEDGER_READONLY) || !(l->flags & RF_LEDGER_CREATE))
        return rf_errf(eb, RF_ERR_CONFIG, "a bulk load needs a writable, created ledger");
    if (l->committed.next_offset >= 0 || l->committed.head_seq > 0)
        return rf_errf(eb, RF_ERR_CONFIG,
                       "ledger '%s' already holds data: a bulk load (replay) needs a fresh "
                       "directory",
                       l->path);
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(wo, 1);
    char *errptr = NULL;
    const char key = RF__K_UNFINISHED;
    rocksdb_put_cf(l->db, wo, l->cf[RF__CF_STATE], &key, 1, "", 0, &errptr);
    rocksdb_writeoptions_destroy(wo);
    if (errptr) return rf__rocks_err(eb, errptr, "cannot mark the bulk load");
    if ((l->bulk = calloc(1, sizeof *l->bulk))) atomic_fetch_add(&bulk_open, 1);
    if (!l->bulk || !(l->bulk->env = rocksdb_envoptions_create()) ||
        !(l->bulk->state_opts = rocksdb_options_create_copy(l->cf_opts[RF__CF_STATE])))
        return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    compress_below_l0(l->bulk->state_opts, rocksdb_no_compression);
    rocksdb_writeoptions_set_sync(l->wo, 0);
    rocksdb_writeoptions_disable_WAL(l->wo, 1);
    l->ov_only = 1; /* the open found no data: only the mark is stored */
    return RF_OK;
}

rf_err_t rf_ledger_bulk_seal(rf_ledger_t *l, rf_errbuf_t *eb)
{
    RF_ASSERT(l != NULL);
    if (!(l->flags & RF_LEDGER_BULK) || l->bulk->sealed) return RF_OK;
    rf_err_t err = rf_ledger_commit(l, eb);
    if (!err) err = bulk_write_state(l, eb);
    if (err) return err;
    l->bulk->sealed = 1;
    RF_ASSERT(!rf__batch_open(l) && rf__ov_count(l->ov) == 0);
    return RF_OK;
}

rf_err_t rf_ledger_bulk_finish(rf_ledger_t *l, rf_errbuf_t *eb)
{
    RF_ASSERT(l != NULL);
    if (!(l->flags & RF_LEDGER_BULK)) return RF_OK;
    RF_ASSERT(l->bulk != NULL);
    rf_err_t err = rf_ledger_bulk_seal(l, eb);
    if (!err) err = bulk_ingest(l, RF__CF_STATE, eb);
    if (err) return err;
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    char *errptr = NULL;
    for (int i = 0; i < RF__CF__COUNT && !errptr; i++)
        rocksdb_flush_cf(l->db, fo, l->cf[i], &errptr);
    rocksdb_flushoptions_destroy(fo);
    if (errptr) return rf__rocks_err(eb, errptr, "cannot flush the bulk load");
    /* the table files are synced as they are finished; the ingest puts them
     * in the manifest (synced) */
    if ((err = bulk_ingest(l, RF__CF_RECORDS, eb)) || (err = bulk_ingest(l, RF__CF_ARCHIVE, eb)))
        return err;
    /* every table file is synced and in the manifest: only now unmark */
    if (rf__bulk_hooks.crash_after_ingest) _exit(RF__BULK_CRASH_EXIT);
    rocksdb_writeoptions_set_sync(l->wo, (l->flags & RF_LEDGER_NOSYNC) ? 0 : 1);
    rocksdb_writeoptions_disable_WAL(l->wo, 0);
    const char key = RF__K_UNFINISHED;
    rocksdb_delete_cf(l->db, l->wo, l->cf[RF__CF_STATE], &key, 1, &errptr);
    if (errptr) return rf__rocks_err(eb, errptr, "cannot finish the bulk load");
    l->flags &= ~RF_LEDGER_BULK;
    l->ov_only = 0;
    bulk_free(l->bulk);
    l->bulk = NULL;
    return RF_OK;
}

/* ---- the batch's memory, kept from closed ledgers for the next open ----
 * A replay opens ledger after ledger; each fresh overlay arena and staging
 * buffer (tens of MiB, mmap'ed by malloc and unmapped by free) cost a page
 * fault per 4 KiB written: a third of a replay's page faults, 5-9% of its
 * CPU. Reuse keeps their pages. It never adds memory: a set is pooled only
 * while no open needs it, so the pool holds what the process needed at its
 * peak, and at most RF_BATCH_MEM_POOL_BYTES each. */

typedef struct batch_mem {
    rf__overlay_t *ov;
    rf__buf_t recs_buf, recs_len, arch;
} batch_mem_t;

static pthread_mutex_t mem_mu = PTHREAD_MUTEX_INITIALIZER;
static batch_mem_t mem_pool[RF_BATCH_MEM_POOL];
static int mem_npool;

/* Gives l a pooled set (overlay and staging buffers, empty): 1, or 0 when
 * the pool is empty. */
static int batch_mem_take(rf_ledger_t *l)
{
    pthread_mutex_lock(&mem_mu);
    int got = mem_npool > 0;
    if (got) {
        batch_mem_t *m = &mem_pool[--mem_npool];
        l->ov = m->ov;
        l->recs_buf = m->recs_buf;
        l->recs_len = m->recs_len;
        l->arch = m->arch;
    }
    pthread_mutex_unlock(&mem_mu);
    RF_ASSERT(!got || (rf__ov_count(l->ov) == 0 && l->recs_buf.len == 0 && l->arch.len == 0));
    return got;
}

/* Pools l's set, emptied: 1, or 0 when the pool is full or the set too
 * large (the caller frees it). */
static int batch_mem_give(rf_ledger_t *l)
{
    if (!l->ov || rf__ov_held(l->ov) + l->recs_buf.cap + l->recs_len.cap + l->arch.cap >
                      RF_BATCH_MEM_POOL_BYTES)
        return 0;
    rf__ov_clear(l->ov);
    l->recs_buf.len = l->recs_len.len = l->arch.len = 0;
    pthread_mutex_lock(&mem_mu);
    int kept = mem_npool < RF_BATCH_MEM_POOL;
    if (kept) mem_pool[mem_npool++] = (batch_mem_t){l->ov, l->recs_buf, l->recs_len, l->arch};
    pthread_mutex_unlock(&mem_mu);
    return kept;
}

rf_ledger_t *rf_ledger_open_path(const char *db_path, int32_t partition, int flags, rf_errbuf_t *eb)
{
    RF_ASSERT(db_path != NULL);
    if (partition < 0 || partition >= RF_PARTITIONS_MAX) {
        rf_errf(eb, RF_ERR_CONFIG, "partition %d out of range 0..%d", (int)partition,
                RF_PARTITIONS_MAX - 1);
        return NULL;
    }
    rf_ledger_t *l = calloc(1, sizeof *l);
    if (!l) {
        rf_errf(eb, RF_ERR_NOMEM, "out of memory");
        return NULL;
    }
    l->partition = partition;
    l->flags = flags;
    l->ctx.l = l;
    if (rf_strlcpy(l->path, db_path, sizeof l->path) != RF_OK) {
        rf_errf(eb, RF_ERR_CONFIG, "path too long");
        free(l);
        return NULL;
    }
    if (open_db(l, db_path, eb) != RF_OK) {
        destroy_options(l);
        free(l);
        return NULL;
    }
    l->ro = rocksdb_readoptions_create();
    l->wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(l->wo, (flags & RF_LEDGER_NOSYNC) ? 0 : 1);
    l->wo_async = rocksdb_writeoptions_create();
    l->wb = rocksdb_writebatch_create();
    if (!batch_mem_take(l)) l->ov = rf__ov_new();
    l->sha = rf__sha_new();
    if (!l->ov || !l->sha) {
        rf_errf(eb, RF_ERR_NOMEM, "out of memory");
        rf_ledger_close(l);
        return NULL;
    }
    if (load_meta(l, eb) != RF_OK || ((flags & RF_LEDGER_BULK) && bulk_start(l, eb) != RF_OK)) {
        rf_ledger_close(l);
        return NULL;
    }
    return l;
}

static rf_err_t mkdir_one(const char *path, rf_errbuf_t *eb)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST) return RF_OK;
    return rf_errf(eb, RF_ERR_IO, "cannot create '%s': %s", path, strerror(errno));
}

/* <data_dir>/fold/p-NNNN into path[4096]; returns the length of the
 * <data_dir>/fold prefix, or -1 when the path would not fit. */
static int ledger_dir(char path[4096], const char *data_dir, int32_t partition)
{
    int n = snprintf(path, 4096, "%s/fold", data_dir);
    if (n < 0 || (size_t)n + 32 >= 4096) return -1;
    snprintf(path + n, 4096 - (size_t)n, "/p-%04d", (int)partition);
    return n;
}

rf_ledger_t *rf_ledger_open(const char *data_dir, int32_t partition, int flags, rf_errbuf_t *eb)
{
    RF_ASSERT(data_dir != NULL);
    char path[4096];
    int n = ledger_dir(path, data_dir, partition);
    if (n < 0) {
        rf_errf(eb, RF_ERR_CONFIG, "data directory path too long");
        return NULL;
    }
    if (flags & RF_LEDGER_CREATE) {
        path[n] = '\0'; /* <data_dir>/fold */
        rf_err_t err = mkdir_one(data_dir, eb) ? RF_ERR_IO : mkdir_one(path, eb);
        path[n] = '/';
        if (err) return NULL;
    }
    return rf_ledger_open_path(path, partition, flags, eb);
}

/* RocksDB locks LOCK with fcntl: F_GETLK names another process holding it
 * (never our own: fcntl locks belong to the process). */
long rf_ledger_lock_holder(const char *data_dir, int32_t partition)
{
    RF_ASSERT(data_dir != NULL);
    char path[4096];
    if (ledger_dir(path, data_dir, partition) < 0) return -1;
    strcat(path, "/LOCK");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    long pid = fcntl(fd, F_GETLK, &fl) < 0 ? -1 : fl.l_type == F_UNLCK ? 0 : (long)fl.l_pid;
    close(fd);
    RF_ASSERT(pid != (long)getpid());
    return pid;
}

void rf_ledger_close(rf_ledger_t *l)
{
    if (!l) return;
    rf_rules_cache_free(l->rules_cache);
    if (l->wb) rocksdb_writebatch_destroy(l->wb);
    if (!batch_mem_give(l)) {
        rf__ov_free(l->ov);
        rf__buf_free(&l->recs_buf);
        rf__buf_free(&l->recs_len);
        rf__buf_free(&l->arch);
    }
    rf__buf_free(&l->enc);
    rf__tail_free(l);
    bulk_free(l->bulk);
    EVP_MD_CTX_free(l->sha);
    if (l->db && !(l->flags & RF_LEDGER_READONLY)) {
        pthread_mutex_lock(&cache_mu);
        writers_remove(l);
        writers_rebudget(writers_n); /* the others may grow */
        pthread_mutex_unlock(&cache_mu);
    }
    if (l->db) {
        for (int i = 0; i < RF__CF__COUNT; i++)
            rocksdb_column_family_handle_destroy(l->cf[i]);
        rocksdb_close(l->db);
        cache_unref();
    }
    destroy_options(l);
    if (l->ro) rocksdb_readoptions_destroy(l->ro);
    if (l->wo) rocksdb_writeoptions_destroy(l->wo);
    if (l->wo_async) rocksdb_writeoptions_destroy(l->wo_async);
    rf_codec_destroy(l->codec);
    free(l->ev);
    free(l->recs);
    free(l);
}

rf_err_t rf__db_get(rf_ledger_t *l, const uint8_t *key, size_t klen, char **val, size_t *vlen,
                    rf_errbuf_t *eb)
{
    char *errptr = NULL;
    *val = rocksdb_get_cf(l->db, l->ro, rf__cf(l, key[0]), (const char *)key, klen, vlen, &errptr);
    if (errptr) return rf__rocks_err(eb, errptr, "cannot read ledger");
    return *val ? RF_OK : RF_ERR_NOT_FOUND;
}

/* Records and archived events are staged in their own buffers (they are
 * never read back during a fold and their keys are sequential); every other
 * key goes to the overlay. */
static int staged_apart(uint8_t prefix)
{
    return prefix == RF__K_RECORD || prefix == RF__K_ARCHIVE;
}

rf_err_t rf__batch_put(rf_ledger_t *l, const uint8_t *key, size_t klen, const void *val,
                       size_t vlen)
{
    RF_ASSERT(klen > 0 && !(l->flags & RF_LEDGER_READONLY));
    RF_ASSERT((val != NULL || vlen == 0) && !staged_apart(key[0]));
    if (rf__ov_put(l->ov, key, klen, val ? val : "", vlen))
        return rf_errf(NULL, RF_ERR_NOMEM, "out of memory");
    return RF_OK;
}

rf_err_t rf__batch_del(rf_ledger_t *l, const uint8_t *key, size_t klen)
{
    RF_ASSERT(klen > 0 && !staged_apart(key[0]));
    if (rf__ov_del(l->ov, key, klen)) return RF_ERR_NOMEM;
    return RF_OK;
}

rf_err_t rf__batch_record(rf_ledger_t *l, const uint8_t *val, size_t vlen)
{
    RF_ASSERT(vlen > RF__RECORD_HDR && vlen <= RF__RECORD_HDR + RF_RECORD_BYTES_MAX);
    if (rf__buf_reserve(&l->recs_buf, vlen) || rf__buf_reserve(&l->recs_len, 4))
        return RF_ERR_NOMEM;
    uint32_t n = (uint32_t)vlen;
    memcpy(l->recs_buf.p + l->recs_buf.len, val, vlen);
    memcpy(l->recs_len.p + l->recs_len.len, &n, 4);
    l->recs_buf.len += vlen;
    l->recs_len.len += 4;
    return RF_OK;
}

rf_err_t rf__batch_archive(rf_ledger_t *l, int64_t offset, const uint8_t *bytes, size_t len)
{
    RF_ASSERT(len <= UINT32_MAX && offset >= 0);
    if (rf__buf_reserve(&l->arch, 4 + len)) return RF_ERR_NOMEM;
    if (l->arch.len == 0) l->arch_first = offset;
    uint8_t *p = l->arch.p + l->arch.len;
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(len >> (8 * i));
    if (len) memcpy(p + 4, bytes, len);
    l->arch.len += 4 + len;
    return RF_OK;
}

rf_err_t rf__batch_get(rf_ledger_t *l, const void *key, size_t klen, void *val, size_t cap,
                       size_t *vlen)
{
    RF_ASSERT(klen > 0 && vlen != NULL);
    const uint8_t *ov = NULL;
    int in = rf__ov_get(l->ov, key, klen, &ov, vlen);
    if (in < 0) return RF_ERR_NOT_FOUND;
    if (in > 0) {
        if (*vlen > cap) return RF_ERR_OVERSIZE;
        if (*vlen) memcpy(val, ov, *vlen);
        return RF_OK;
    }
    if (l->ov_only) return RF_ERR_NOT_FOUND;
    char *errptr = NULL;
    char *v = rocksdb_get_cf(l->db, l->ro, l->cf[RF__CF_STATE], key, klen, vlen, &errptr);
    if (errptr) {
        rf_log(RF_LOG_ERROR, "ledger partition %d: rocksdb get: %s", (int)l->partition, errptr);
        rocksdb_free(errptr);
        return RF_ERR_STORAGE;
    }
    if (!v) return RF_ERR_NOT_FOUND;
    rf_err_t err = RF_OK;
    if (((const uint8_t *)key)[0] == RF__K_RULES)
        err = rf__zr_decode((const uint8_t *)v, *vlen, val, cap, vlen);
    else if (*vlen > cap)
        err = RF_ERR_OVERSIZE;
    else if (*vlen)
        memcpy(val, v, *vlen);
    rocksdb_free(v);
    if (err == RF_ERR_CORRUPT)
        rf_log(RF_LOG_ERROR, "ledger partition %d: malformed rules state value", (int)l->partition);
    return err;
}

int rf__batch_open(const rf_ledger_t *l)
{
    /* a bulk load's overlay outlives its commits: it is not a batch */
    return l->batch_offsets > 0 || (!l->bulk && rf__ov_count(l->ov) > 0) || l->recs_len.len > 0 ||
           l->arch.len > 0;
}

int64_t rf_ledger_next_offset(const rf_ledger_t *l)
{
    return l->committed.next_offset;
}

uint32_t rf_ledger_batch_size(const rf_ledger_t *l)
{
    return l->batch_offsets;
}

/* Empties the staged writes after a commit (a bulk load keeps its state in
 * the overlay, keep_state) or to drop them. */
static void clear_staged(rf_ledger_t *l, int keep_state)
{
    rocksdb_writebatch_clear(l->wb);
    if (!keep_state) rf__ov_clear(l->ov);
    l->recs_buf.len = 0;
    l->recs_len.len = 0;
    l->arch.len = 0;
    l->batch_offsets = 0;
}

/* Drops the open batch and everything cached from it: after this the handle
 * is back at the stored state. A bulk load cannot go on: its table files may
 * hold part of the batch, or be ahead of the state. */
static void drop_batch(rf_ledger_t *l)
{
    if (l->bulk) l->bulk->failed = 1;
    clear_staged(l, 0);
    l->staged = l->committed;
    l->nprograms = 0;
    l->poisoned = 0;
    rf_rules_cache_free(l->rules_cache);
    l->rules_cache = NULL;
}

/* ---- the commit: the staged writes as one WriteBatch in key order ---- */

/* Archived events of the batch in chunks of consecutive offsets, each closed
 * once it holds RF_LEDGER_ARCHIVE_CHUNK_BYTES: 'a' + be64(first offset) ->
 * RF__ARCHIVE_FMT || (u32 LE length || bytes)... */
static rf_err_t put_archive(rf_ledger_t *l, rf_errbuf_t *eb)
{
    const uint8_t *p = l->arch.p, *end = p + l->arch.len;
    int64_t off = l->arch_first;
    while (p < end) {
        const uint8_t *start = p;
        uint8_t key[9], fmt = RF__ARCHIVE_FMT;
        rf__key_u64(key, RF__K_ARCHIVE, (uint64_t)off);
        do {
            uint32_t n =
                (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
            RF_ASSERT(n <= (size_t)(end - p) - 4);
            p += 4 + n;
            off++;
        } while (p < end && (size_t)(p - start) < RF_LEDGER_ARCHIVE_CHUNK_BYTES);
        if (l->bulk) {
            rf_err_t err = bulk_put_chunk(l, key, start, (size_t)(p - start), eb);
            if (err) return err;
            continue;
        }
        const char *k[1] = {(const char *)key}, *v[2] = {(const char *)&fmt, (const char *)start};
        size_t ks[1] = {sizeof key}, vs[2] = {1, (size_t)(p - start)};
        rocksdb_writebatch_putv_cf(l->wb, l->cf[RF__CF_ARCHIVE], 1, k, ks, 2, v, vs);
    }
    RF_ASSERT(off == l->staged.next_offset || l->arch.len == 0);
    return RF_OK;
}

/* The batch's records under 'r' + be64(seq), in seq order. */
static rf_err_t put_records(rf_ledger_t *l, rf_errbuf_t *eb)
{
    uint64_t seq = l->committed.head_seq;
    size_t n = l->recs_len.len / 4, pos = 0;
    RF_ASSERT(seq + n == l->staged.head_seq);
    for (size_t i = 0; i < n; i++) {
        uint32_t vl;
        uint8_t key[9];
        memcpy(&vl, l->recs_len.p + 4 * i, 4);
        rf__key_u64(key, RF__K_RECORD, ++seq);
        if (l->bulk) {
            rf_err_t err =
                bulk_put(l, RF__CF_RECORDS, key, sizeof key, l->recs_buf.p + pos, vl, eb);
            if (err) return err;
        } else {
            rocksdb_writebatch_put_cf(l->wb, l->cf[RF__CF_RECORDS], (const char *)key, sizeof key,
                                      (const char *)l->recs_buf.p + pos, vl);
        }
        pos += vl;
    }
    RF_ASSERT(pos == l->recs_buf.len);
    return RF_OK;
}

/* One state key; the rules' values are stored with zero runs collapsed.
 * -1: out of memory. */
static int emit_one(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *opaque)
{
    rf_ledger_t *l = opaque;
    if (vl == SIZE_MAX) {
        rocksdb_writebatch_delete(l->wb, (const char *)k, kl);
        return 0;
    }
    if (state_value(l, k, &v, &vl)) return -1;
    rocksdb_writebatch_put(l->wb, (const char *)k, kl, (const char *)v, vl);
    return 0;
}

/* Builds the WriteBatch from the staged writes, each key once and in key
 * order: RocksDB's memtable insert starts from its previous position, so
 * sorted inserts cost a fraction of interleaved ones (docs/ledger.md). In a
 * bulk load, records and archive go to their table files instead, and the
 * state stays in the overlay until it is spilled (above). */
static rf_err_t build_batch(rf_ledger_t *l, rf_errbuf_t *eb)
{
    rocksdb_writebatch_clear(l->wb);
    rf_err_t err = put_archive(l, eb);
    if (!err) err = put_records(l, eb);
    if (!err && l->bulk && rf__ov_bytes(l->ov) >= rf__bulk_state_bound())
        err = bulk_spill(l, eb);
    else if (!err && !l->bulk && rf__ov_each_sorted(l->ov, emit_one, l) < 0)
        err = rf_errf(eb, RF_ERR_NOMEM, "cannot build the ledger batch: out of memory");
    return err; /* the caller drops the batch on error */
}

rf_err_t rf_ledger_commit(rf_ledger_t *l, rf_errbuf_t *eb)
{
    RF_ASSERT(l != NULL);
    if (l->flags & RF_LEDGER_READONLY)
        return rf_errf(eb, RF_ERR_CONFIG, "ledger is open read-only");
    if (l->poisoned || (l->bulk && l->bulk->failed))
        return rf_errf(eb, RF_ERR_INTERNAL,
                       "the open batch holds a partial fold after a fatal "
                       "error; close and reopen the ledger");
    if (!rf__batch_open(l) && !memcmp(&l->staged, &l->committed, sizeof l->staged)) return RF_OK;
    perf_off();
    uint8_t key = RF__K_META, meta[RF__META_LEN];
    rf__meta_encode(&l->staged, meta);
    rf_err_t err = rf__batch_put(l, &key, 1, meta, sizeof meta);
    if (err) rf_errf(eb, err, "cannot build the ledger batch: out of memory");
    if (!err) err = build_batch(l, eb);
    if (err) {
        drop_batch(l);
        return err;
    }
    char *errptr = NULL;
    if (rocksdb_writebatch_count(l->wb) > 0) rocksdb_write(l->db, l->wo, l->wb, &errptr);
    if (errptr) {
        drop_batch(l);
        return rf__rocks_err(eb, errptr, "cannot commit ledger batch");
    }
    RF_ASSERT(l->staged.head_seq >= l->committed.head_seq);
    l->committed = l->staged;
    rf__tail_commit(l); /* the outbox reads these records from memory */
    clear_staged(l, l->bulk != NULL);
    return RF_OK;
}

const char *rf_outcome_name(rf_outcome_t o)
{
    switch (o) {
    case RF_OUTCOME_APPLIED:
        return "applied";
    case RF_OUTCOME_REJECTED:
        return "rejected";
    case RF_OUTCOME_DUPLICATE:
        return "duplicate";
    case RF_OUTCOME_DEAD_LETTER:
        return "dead_letter";
    case RF_OUTCOME__COUNT:
        break;
    }
    return "unknown";
}

/* ---- the fold ---- */

static rf_err_t dead_letter(rf_ledger_t *l, int64_t offset, rf_err_t err, const char *reason,
                            rf_fold_result_t *res)
{
    RF_ASSERT(rf_err_class(err) == RF_ERRCLASS_BAD_INPUT);
    uint8_t key[9], val[4 + RF_ERRMSG_MAX];
    size_t n = strnlen(reason, RF_ERRMSG_MAX - 1);
    rf__key_u64(key, RF__K_DEADLETTER, (uint64_t)offset);
    rf_be32_put(val, (uint32_t)(-(int32_t)err));
    memcpy(val + 4, reason, n);
    rf__batch_put(l, key, sizeof key, val, 4 + n);
    res->outcome = RF_OUTCOME_DEAD_LETTER;
    res->err = err;
    memcpy(res->reason, reason, n);
    res->reason[n] = 0;
    return RF_OK;
}

/* Remembers a program that exists; when the cache is full, slots are reused
 * round robin (a miss only costs one get). */
static void program_remember(rf_ledger_t *l, const char *program)
{
    for (uint32_t i = 0; i < l->nprograms && i < RF_LEDGER_PROGRAM_CACHE; i++)
        if (!strcmp(l->programs[i], program)) return;
    uint32_t slot = l->nprograms++ % RF_LEDGER_PROGRAM_CACHE;
    rf_strlcpy(l->programs[slot], program, sizeof l->programs[slot]);
}

static int program_known(rf_ledger_t *l, const char *program, rf_errbuf_t *eb, rf_err_t *errp)
{
    for (uint32_t i = 0; i < l->nprograms && i < RF_LEDGER_PROGRAM_CACHE; i++)
        if (!strcmp(l->programs[i], program)) return 1;
    uint8_t key[1 + RF_ID_BUF];
    size_t n = strlen(program);
    RF_ASSERT(n < RF_ID_BUF);
    key[0] = RF__K_PROGRAM;
    memcpy(key + 1, program, n);
    size_t vlen = 0;
    rf_err_t err = rf__batch_get(l, key, n + 1, NULL, 0, &vlen);
    if (err == RF_ERR_NOT_FOUND) return 0;
    if (err != RF_OK && err != RF_ERR_OVERSIZE) {
        *errp = rf_errf(eb, err, "cannot read program '%s'", program);
        return 0;
    }
    program_remember(l, program);
    return 1;
}

static rf_err_t store_program(rf_ledger_t *l, const rf_event_t *ev)
{
    uint8_t key[1 + RF_ID_BUF];
    size_t n = strlen(ev->program_id), rn = strlen(ev->rules_json);
    key[0] = RF__K_PROGRAM;
    memcpy(key + 1, ev->program_id, n);
    /* version (LE int32) then the rules JSON; scratch is large enough */
    RF_ASSERT(4 + rn <= sizeof l->scratch);
    uint32_t v = (uint32_t)ev->version;
    for (int i = 0; i < 4; i++)
        l->scratch[i] = (uint8_t)(v >> (8 * i));
    memcpy(l->scratch + 4, ev->rules_json, rn);
    return rf__batch_put(l, key, n + 1, l->scratch, 4 + rn);
}

static rf_err_t reject(rf_fold_ctx_t *ctx, const char *reason)
{
    rf_record_t *rec = rf_fold_record_begin(ctx, RF_KIND_REJECTED);
    if (ctx->ev->user[0]) rf_record_fact(rec, RF_FACT_USER, ctx->ev->user);
    if (ctx->ev->request_id[0]) rf_record_fact(rec, RF_FACT_REQUEST, ctx->ev->request_id);
    rf_record_fact(rec, RF_FACT_REASON, reason);
    return rf_fold_record_append(ctx, rec);
}

/* '#' owners are program accounts (#expense, #adjustment): no event may
 * address one as a user (the rules refuse them the same way). */
#define RESERVED_ID "reserved_id"

static rf_err_t fold_adjustment(rf_fold_ctx_t *ctx, const rf_event_t *ev)
{
    if (ev->user[0] == '#') return reject(ctx, RESERVED_ID);
    int64_t b[RF_BUCKET__COUNT];
    rf_err_t err = rf_fold_balance(ctx, ev->program_id, ev->user, ev->asset, b);
    if (err) return err;
    int64_t amount = ev->amount_minor;
    RF_ASSERT(amount != 0 && amount >= -RF_AMOUNT_MAX && amount <= RF_AMOUNT_MAX);
    if (amount < 0 && b[RF_BUCKET_AVAILABLE] < -amount) {
        char reason[RF_FACT_VAL_MAX];
        snprintf(reason, sizeof reason,
                 "insufficient available balance: debit %lld, available %lld", (long long)-amount,
                 (long long)b[RF_BUCKET_AVAILABLE]);
        return reject(ctx, reason);
    }
    rf_record_t *rec = rf_fold_record_begin(ctx, RF_KIND_ADJUSTMENT);
    rf_record_fact(rec, RF_FACT_USER, ev->user);
    rf_record_fact(rec, RF_FACT_REASON, ev->reason);
    rf_record_fact(rec, RF_FACT_ACTOR, ev->actor);
    if (amount > 0) {
        rf_fold_credit_available(rec, b, ev->user, ev->asset, amount, "#adjustment",
                                 RF_BUCKET_ADJUSTMENT);
    } else {
        rf_record_post(rec, ev->user, RF_BUCKET_AVAILABLE, ev->asset, amount);
        rf_record_post(rec, "#adjustment", RF_BUCKET_ADJUSTMENT, ev->asset, -amount);
    }
    return rf_fold_record_append(ctx, rec);
}

static rf_err_t fold_redemption(rf_fold_ctx_t *ctx, const rf_event_t *ev)
{
    if (ev->user[0] == '#') return reject(ctx, RESERVED_ID);
    int64_t b[RF_BUCKET__COUNT];
    rf_err_t err = rf_fold_balance(ctx, ev->program_id, ev->user, ev->asset, b);
    if (err) return err;
    int64_t amount = ev->amount_minor;
    RF_ASSERT(amount >= 0 && amount <= RF_AMOUNT_MAX);
    if (b[RF_BUCKET_AVAILABLE] < amount) {
        char reason[RF_FACT_VAL_MAX];
        snprintf(reason, sizeof reason,
                 "insufficient available balance: requested %lld, available %lld",
                 (long long)amount, (long long)b[RF_BUCKET_AVAILABLE]);
        return reject(ctx, reason);
    }
    rf_record_t *rec = rf_fold_record_begin(ctx, RF_KIND_REDEMPTION);
    rf_record_fact(rec, RF_FACT_USER, ev->user);
    if (ev->request_id[0]) rf_record_fact(rec, RF_FACT_REQUEST, ev->request_id);
    if (amount > 0) {
        rf_record_post(rec, ev->user, RF_BUCKET_AVAILABLE, ev->asset, -amount);
        rf_record_post(rec, ev->user, RF_BUCKET_REDEEMED, ev->asset, amount);
    }
    return rf_fold_record_append(ctx, rec);
}

static rf_err_t fold_program(rf_fold_ctx_t *ctx, const rf_event_t *ev)
{
    rf_errbuf_t reb = {{0}};
    rf_err_t err = rf_rules_check_config(ctx, ev, &reb);
    if (err && rf_err_class(err) == RF_ERRCLASS_BAD_INPUT) return reject(ctx, reb.msg);
    if (err) return err;
    if ((err = store_program(ctx->l, ev))) return err;
    program_remember(ctx->l, ev->program_id);
    return rf_rules_fold(ctx, ev);
}

/* Applies a decoded, new event of a known program (or a ProgramConfigured). */
static rf_err_t fold_event(rf_ledger_t *l, const rf_event_t *ev, rf_fold_result_t *res,
                           rf_errbuf_t *eb)
{
    rf_fold_ctx_t *ctx = &l->ctx;
    rf_err_t err = rf_rules_advance(ctx);
    if (err) return rf_errf(eb, err, "rules cannot advance event time: %s", rf_err_str(err));
    ctx->own = 1;
    uint32_t before = ctx->nappended;
    switch (ev->type) {
    case RF_EV_PROGRAM_CONFIGURED:
        err = fold_program(ctx, ev);
        break;
    case RF_EV_ADJUSTMENT:
        err = fold_adjustment(ctx, ev);
        break;
    case RF_EV_REDEMPTION:
        err = fold_redemption(ctx, ev);
        break;
    default:
        err = rf_rules_fold(ctx, ev);
        break;
    }
    if (err)
        return rf_errf(eb, err, "cannot fold %s event %s: %s", rf_event_type_name(ev->type),
                       ev->event_id, rf_err_str(err));
    if (ctx->nappended == before)
        return rf_errf(eb, RF_ERR_INTERNAL, "no record for %s event %s",
                       rf_event_type_name(ev->type), ev->event_id);
    res->outcome = ctx->rejected ? RF_OUTCOME_REJECTED : RF_OUTCOME_APPLIED;
    if (ctx->rejected) {
        res->err = RF_ERR_BAD_INPUT;
        rf_strlcpy(res->reason, ctx->reject_reason, sizeof res->reason);
    }
    return RF_OK;
}

/* Dedup: 'd' + event id -> SHA-256 of the bytes. Returns 1 when the event
 * was seen (res filled: DUPLICATE, or REJECTED conflict), 0 when new. */
static int seen_before(rf_ledger_t *l, const uint8_t dkey[17], const uint8_t digest[32],
                       rf_fold_result_t *res, rf_err_t *errp, rf_errbuf_t *eb)
{
    uint8_t v[32];
    size_t vlen = 0;
    rf_err_t err = rf__batch_get(l, dkey, 17, v, sizeof v, &vlen);
    if (err == RF_ERR_NOT_FOUND) return 0;
    if (err != RF_OK && err != RF_ERR_OVERSIZE) {
        *errp = rf_errf(eb, err, "cannot read dedup key");
        return 1;
    }
    if (err == RF_OK && vlen == 32 && memcmp(v, digest, 32) == 0) {
        res->outcome = RF_OUTCOME_DUPLICATE;
        return 1;
    }
    /* same id, other bytes: record the refusal; no other effect */
    *errp = reject(&l->ctx, "event id conflict: same event id with different bytes");
    res->outcome = RF_OUTCOME_REJECTED;
    res->err = RF_ERR_CONFLICT;
    rf_strlcpy(res->reason, "event id conflict: same event id with different bytes",
               sizeof res->reason);
    return 1;
}

static rf_err_t fold_offset(rf_ledger_t *l, int64_t offset, const uint8_t *bytes, size_t len,
                            rf_fold_result_t *res, rf_errbuf_t *eb)
{
    rf_err_t err = rf__batch_archive(l, offset, bytes, len);
    if (err) return rf_errf(eb, err, "out of memory");
    rf_errbuf_t deb = {{0}};
    err = rf_codec_decode_event(l->codec, bytes, len, l->ev, &deb);
    if (err && rf_err_class(err) == RF_ERRCLASS_BAD_INPUT)
        return dead_letter(l, offset, err, deb.msg, res);
    if (err) return rf_errf(eb, err, "cannot decode offset %lld: %s", (long long)offset, deb.msg);
    const rf_event_t *ev = l->ev;
    rf_strlcpy(res->program_id, ev->program_id, sizeof res->program_id);
    uint8_t dkey[17], digest[32];
    dkey[0] = RF__K_DEDUP;
    if (rf__uuid_parse(ev->event_id, dkey + 1) != RF_OK)
        return dead_letter(l, offset, RF_ERR_BAD_INPUT, "event_id is not a UUID", res);
    rf__sha256(l->sha, bytes, len, NULL, 0, digest);
    rf__ctx_reset(l, ev, offset);
    if (seen_before(l, dkey, digest, res, &err, eb)) return err;
    if (ev->type != RF_EV_PROGRAM_CONFIGURED && !program_known(l, ev->program_id, eb, &err)) {
        if (err) return err;
        char reason[RF_ERRMSG_MAX];
        snprintf(reason, sizeof reason, "unknown program '%s'", ev->program_id);
        return dead_letter(l, offset, RF_ERR_UNKNOWN_PROGRAM, reason, res);
    }
    if ((err = rf__batch_put(l, dkey, sizeof dkey, digest, sizeof digest)))
        return rf_errf(eb, err, "out of memory");
    if (ev->occurred_at_ms > l->staged.event_time_ms) l->staged.event_time_ms = ev->occurred_at_ms;
    return fold_event(l, ev, res, eb);
}

static rf_err_t prepare_fold(rf_ledger_t *l, int64_t offset, rf_errbuf_t *eb)
{
    perf_off();
    if (l->flags & RF_LEDGER_READONLY)
        return rf_errf(eb, RF_ERR_CONFIG, "ledger is open read-only");
    if (l->poisoned)
        return rf_errf(eb, RF_ERR_INTERNAL,
                       "the open batch holds a partial fold after a fatal "
                       "error; close and reopen the ledger");
    if (l->bulk && l->bulk->sealed)
        return rf_errf(eb, RF_ERR_CONFIG, "bulk load of '%s' is sealed: no more folds", l->path);
    int64_t next = l->staged.next_offset;
    if (next < 0 ? offset < 0 : offset != next)
        return rf_errf(eb, RF_ERR_GAP, "partition %d: offset %lld folded, expected %lld%s",
                       (int)l->partition, (long long)offset, (long long)next,
                       offset < next ? " (already folded: refold from stored state)" : "");
    if (!l->codec && !(l->codec = rf_codec_new(eb))) return RF_ERR_INTERNAL;
    if (!l->ev && !(l->ev = malloc(sizeof *l->ev)))
        return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    if (!l->recs && !(l->recs = calloc(RF_RECORDS_PER_EVENT_MAX, sizeof *l->recs)))
        return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    return RF_OK;
}

rf_err_t rf_ledger_fold(rf_ledger_t *l, int64_t offset, const uint8_t *bytes, size_t len,
                        rf_fold_result_t *res, rf_errbuf_t *eb)
{
    RF_ASSERT(l != NULL && res != NULL && (bytes != NULL || len == 0));
    memset(res, 0, sizeof *res);
    rf_err_t err = prepare_fold(l, offset, eb);
    if (err) return err;
    /* from here the batch changes: a fatal error leaves it partial */
    err = fold_offset(l, offset, bytes ? bytes : (const uint8_t *)"", len, res, eb);
    if (err) {
        l->poisoned = 1;
        return err;
    }
    RF_ASSERT(res->outcome < RF_OUTCOME__COUNT);
    res->nrecords = l->ctx.nappended;
    if (l->staged.next_offset < 0) l->staged.first_offset = offset;
    l->staged.next_offset = offset + 1;
    l->staged.counts[res->outcome]++;
    l->batch_offsets++;
    return RF_OK;
}
