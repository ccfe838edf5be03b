/* rf_store.c: the RocksDB layer: environments (block caches, the writable
 * ledgers' memtable budget), the option profiles of the ledger and the
 * projection, opens and closes, error translation, perf and LOG policies. */
#include "rf_store.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_limits.h"

struct rf_store {
    rf_store_env_t *env;
    rf_store_kind_t kind;
    rf_store_mode_t mode;
    rocksdb_t *db;
    rocksdb_options_t *opts;                         /* the DB's (a projection: all) */
    rocksdb_options_t *cf_opts[RF_STORE_LEDGER_CFS]; /* a ledger's, per family */
    rocksdb_column_family_handle_t *cf[RF_STORE_LEDGER_CFS];
    size_t wb;                 /* a writable ledger's share of the budget (its state memtable) */
    rf_store_t *wnext, *wprev; /* the env's writable ledgers */
    char path[];
};

struct rf_store_env {
    size_t cache_bytes[RF_STORE__KINDS];
    size_t budget_bytes;
    pthread_mutex_t cache_mu; /* cache[], nstores, kept[], nkept[] */
    rocksdb_cache_t *cache[RF_STORE__KINDS];
    int nstores; /* open stores: the env must outlive them */
    struct kept {
        void *item;
        rf_store_kept_free_fn *free_fn;
    } kept[RF_STORE__KINDS][RF_BATCH_MEM_POOL];
    int nkept[RF_STORE__KINDS];
    /* The memtable budget of the writable ledgers. The C API has no shared
     * WriteBufferManager: each writable ledger's memtables are resized (a
     * mutable option) when ledgers open or close so that together they stay
     * within budget_bytes (each at least RF_LEDGER_WRITE_BUFFER_BYTES). Held
     * across the open of a writable ledger: the budget counts it. */
    pthread_mutex_t budget_mu;
    rf_store_t *writers;
    size_t writers_n, writers_wb;
    /* Writable ledgers announced by rf_store_env_expect_writers and not open
     * yet: counted in the budget from the first open, so the ones opened
     * first are not resized as the others open (each resize rewrites and
     * re-parses the OPTIONS file of every column family: 4% of the fold's
     * CPU over 300k events when a worker opened 16 partitions one by one). */
    size_t writers_expected;
};

static const char *const kind_names[RF_STORE__KINDS] = {"ledger", "projection", "webhook store"};
static const char *const ledger_cf_names[RF_STORE_LEDGER_CFS] = {"default", "records", "archive"};

const char *rf_store_ledger_cf_name(int i)
{
    RF_ASSERT(i >= 0 && i < RF_STORE_LEDGER_CFS);
    return ledger_cf_names[i];
}

/* ---- errors and policies ---- */

rf_err_t rf_store_err(rf_errbuf_t *eb, char *errptr, const char *fmt, ...)
{
    RF_ASSERT(errptr != NULL);
    char what[RF_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    rf_errf(eb, RF_ERR_STORAGE, "%s: %s", what, errptr);
    rocksdb_free(errptr);
    return RF_ERR_STORAGE;
}

void rf_store_perf_off(void)
{
    static _Thread_local bool done;
    if (done) return;
    rocksdb_set_perf_level(rocksdb_disable);
    done = true;
}

void rf_store_info_log(rocksdb_options_t *o)
{
    rocksdb_options_set_keep_log_file_num(o, RF_ROCKSDB_LOG_FILES);
    rocksdb_options_set_max_log_file_size(o, RF_ROCKSDB_LOG_FILE_BYTES);
    const char *dir = getenv(RF_STORE_LOG_DIR_ENV);
    if (dir && *dir) rocksdb_options_set_db_log_dir(o, dir);
}

/* ---- environment ---- */

rf_store_env_t *rf_store_env_new(const rf_store_env_conf_t *conf, rf_errbuf_t *eb)
{
    rf_store_env_t *env = calloc(1, sizeof *env);
    if (!env) {
        rf_errf(eb, RF_ERR_NOMEM, "out of memory");
        return NULL;
    }
    rf_store_env_conf_t c = conf ? *conf : (rf_store_env_conf_t){0};
    env->cache_bytes[RF_STORE_LEDGER] =
        c.ledger_cache_bytes ? c.ledger_cache_bytes : RF_LEDGER_BLOCK_CACHE_BYTES;
    env->cache_bytes[RF_STORE_PROJECTION] =
        c.projection_cache_bytes ? c.projection_cache_bytes : RF_PROJECT_BLOCK_CACHE_BYTES;
    env->cache_bytes[RF_STORE_WEBHOOKS] =
        c.webhooks_cache_bytes ? c.webhooks_cache_bytes : RF_WEBHOOK_BLOCK_CACHE_BYTES;
    env->budget_bytes =
        c.memtable_budget_bytes ? c.memtable_budget_bytes : RF_LEDGER_MEMTABLE_BUDGET_BYTES;
    pthread_mutex_init(&env->cache_mu, NULL);
    pthread_mutex_init(&env->budget_mu, NULL);
    return env;
}

void rf_store_env_free(rf_store_env_t *env)
{
    if (!env) return;
    RF_ASSERT(env->nstores == 0 && env->writers == NULL && env->writers_n == 0);
    for (int k = 0; k < RF_STORE__KINDS; k++) {
        if (env->cache[k]) rocksdb_cache_destroy(env->cache[k]);
        for (int i = 0; i < env->nkept[k]; i++)
            env->kept[k][i].free_fn(env->kept[k][i].item);
    }
    pthread_mutex_destroy(&env->cache_mu);
    pthread_mutex_destroy(&env->budget_mu);
    free(env);
}

static rf_store_env_t *default_env;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void make_default_env(void)
{
    default_env = rf_store_env_new(NULL, NULL);
}

rf_store_env_t *rf_store_env_default(void)
{
    pthread_once(&default_once, make_default_env);
    RF_ASSERT(default_env != NULL);
    return default_env;
}

/* The cache of kind, created on its first store; counts the store open.
 * RocksDB holds its own reference in every open DB's options. */
static rocksdb_cache_t *env_acquire(rf_store_env_t *env, rf_store_kind_t kind)
{
    pthread_mutex_lock(&env->cache_mu);
    if (!env->cache[kind] && kind == RF_STORE_LEDGER) {
        rocksdb_lru_cache_options_t *co = rocksdb_lru_cache_options_create();
        rocksdb_lru_cache_options_set_capacity(co, env->cache_bytes[kind]);
        rocksdb_lru_cache_options_set_num_shard_bits(co, RF_LEDGER_CACHE_SHARD_BITS);
        env->cache[kind] = rocksdb_cache_create_lru_opts(co);
        rocksdb_lru_cache_options_destroy(co);
    } else if (!env->cache[kind]) {
        env->cache[kind] = rocksdb_cache_create_lru(env->cache_bytes[kind]);
    }
    rocksdb_cache_t *c = env->cache[kind];
    env->nstores++;
    pthread_mutex_unlock(&env->cache_mu);
    RF_ASSERT(c != NULL);
    return c;
}

static void env_release(rf_store_env_t *env)
{
    pthread_mutex_lock(&env->cache_mu);
    RF_ASSERT(env->nstores > 0);
    env->nstores--;
    pthread_mutex_unlock(&env->cache_mu);
}

void *rf_store_env_take(rf_store_env_t *env, rf_store_kind_t kind)
{
    RF_ASSERT((unsigned)kind < RF_STORE__KINDS);
    pthread_mutex_lock(&env->cache_mu);
    void *item = env->nkept[kind] > 0 ? env->kept[kind][--env->nkept[kind]].item : NULL;
    pthread_mutex_unlock(&env->cache_mu);
    return item;
}

bool rf_store_env_keep(rf_store_env_t *env, rf_store_kind_t kind, void *item, size_t bytes,
                       rf_store_kept_free_fn *free_fn)
{
    RF_ASSERT((unsigned)kind < RF_STORE__KINDS && item != NULL && free_fn != NULL);
    if (bytes > RF_BATCH_MEM_POOL_BYTES) return false;
    pthread_mutex_lock(&env->cache_mu);
    bool kept = env->nkept[kind] < RF_BATCH_MEM_POOL;
    if (kept) env->kept[kind][env->nkept[kind]++] = (struct kept){item, free_fn};
    pthread_mutex_unlock(&env->cache_mu);
    return kept;
}

/* ---- the writable ledgers' memtable budget ---- */

/* A ledger's state memtable for n writable ledgers: a power of two, so the
 * others are resized only a few times while a worker opens its partitions.
 * Its records and archive memtables get a quarter each (log_wb), and each
 * family keeps RF_LEDGER_MEMTABLES_MAX: 3 x the share per ledger. */
static size_t budget_wb(const rf_store_env_t *env, size_t n)
{
    size_t share = env->budget_bytes / (3 * (n ? n : 1));
    size_t w = RF_LEDGER_WRITE_BUFFER_BYTES;
    while (w * 2 <= share && w * 2 <= RF_LEDGER_WRITE_BUFFER_MAX)
        w *= 2;
    return w;
}

static size_t log_wb(size_t state_wb)
{
    return state_wb / 4;
}

static void resize_memtables(rf_store_t *s, size_t wb)
{
    static const char *const keys[1] = {"write_buffer_size"};
    for (int i = 0; i < RF_STORE_LEDGER_CFS; i++) {
        char v[32];
        snprintf(v, sizeof v, "%zu", i == RF_STORE_CF_STATE ? wb : log_wb(wb));
        const char *const vals[1] = {v};
        char *errptr = NULL;
        rocksdb_set_options_cf(s->db, s->cf[i], 1, keys, vals, &errptr);
        if (errptr) {
            rf_log(RF_LOG_WARN, "ledger '%s': cannot resize memtables: %s", s->path, errptr);
            rocksdb_free(errptr);
        }
    }
    s->wb = wb;
}

/* The share of each of n writable ledgers; resizes the open ones when it
 * changes. Caller holds budget_mu. */
static size_t writers_rebudget(rf_store_env_t *env, size_t n)
{
    RF_ASSERT(n >= env->writers_n);
    size_t all = env->writers_n + env->writers_expected;
    size_t wb = budget_wb(env, n > all ? n : all);
    if (wb != env->writers_wb)
        for (rf_store_t *w = env->writers; w; w = w->wnext)
            resize_memtables(w, wb);
    env->writers_wb = wb;
    return wb;
}

static void writers_add(rf_store_env_t *env, rf_store_t *s)
{
    s->wnext = env->writers;
    s->wprev = NULL;
    if (env->writers) env->writers->wprev = s;
    env->writers = s;
    env->writers_n++;
    if (env->writers_expected) env->writers_expected--;
}

static void writers_remove(rf_store_env_t *env, rf_store_t *s)
{
    RF_ASSERT(env->writers_n > 0);
    if (s->wprev)
        s->wprev->wnext = s->wnext;
    else
        env->writers = s->wnext;
    if (s->wnext) s->wnext->wprev = s->wprev;
    env->writers_n--;
}

void rf_store_env_expect_writers(rf_store_env_t *env, int delta)
{
    RF_ASSERT(env != NULL && delta >= -RF_PARTITIONS_MAX && delta <= RF_PARTITIONS_MAX);
    pthread_mutex_lock(&env->budget_mu);
    if (delta < 0)
        env->writers_expected -=
            (size_t)-delta < env->writers_expected ? (size_t)-delta : env->writers_expected;
    else
        env->writers_expected += (size_t)delta;
    pthread_mutex_unlock(&env->budget_mu);
}

/* ---- the ledger's profile (docs/ledger.md, "Storage") ---- */

/* With RF_STORE_STATS_ENV=N (seconds), a ledger keeps RocksDB's statistics
 * (tickers: block cache hits and misses by block type, bloom filter use,
 * reads per level, compaction and flush bytes, stalls) and dumps them with
 * rocksdb.stats to its info LOG every N seconds, in larger LOG files: how
 * the figures of docs/ledger.md, "Flat cost", were read. Off by default
 * (the tickers cost about 0.4 % of the fold's CPU). */
static void ledger_stats(rocksdb_options_t *o)
{
    const char *v = getenv(RF_STORE_STATS_ENV);
    long secs = v ? strtol(v, NULL, 10) : 0;
    if (secs <= 0) return;
    rocksdb_options_enable_statistics(o);
    rocksdb_options_set_stats_dump_period_sec(o, (unsigned)(secs < 86400 ? secs : 86400));
    rocksdb_options_set_max_log_file_size(o, RF_ROCKSDB_STATS_LOG_FILE_BYTES);
}

/* DB-wide: WAL on (commits are synced), a background job per core, bounded
 * info logs, and a table cache of RF_LEDGER_OPEN_FILES_MAX files in
 * 2^RF_LEDGER_TABLE_CACHE_SHARD_BITS shards. */
static rocksdb_options_t *ledger_db_options(bool create)
{
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(o, create ? 1 : 0);
    rocksdb_options_set_create_missing_column_families(o, create ? 1 : 0);
    rocksdb_options_set_max_background_jobs(o, RF_STORE_BACKGROUND_JOBS);
    rocksdb_options_set_max_open_files(o, RF_LEDGER_OPEN_FILES_MAX);
    rocksdb_options_set_table_cache_numshardbits(o, RF_LEDGER_TABLE_CACHE_SHARD_BITS);
    rf_store_info_log(o);
    ledger_stats(o);
    return o;
}

/* The state takes random keys and random misses (every event looks up a
 * dedup key that is almost never there): bloom filters in the table files
 * and in the memtable, so a miss costs no skiplist search; L0 files gather
 * RF_LEDGER_L0_TRIGGER memtables before a compaction merges them. */
static void state_cf_options(rocksdb_options_t *o, rocksdb_block_based_table_options_t *t)
{
    rocksdb_block_based_options_set_filter_policy(
        t, rocksdb_filterpolicy_create_bloom_full(RF_STORE_BLOOM_BITS));
    rocksdb_options_set_memtable_whole_key_filtering(o, 1);
    rocksdb_options_set_memtable_prefix_bloom_size_ratio(o, RF_LEDGER_MEMTABLE_BLOOM_RATIO);
    rocksdb_options_set_level0_file_num_compaction_trigger(o, RF_LEDGER_L0_TRIGGER);
}

/* Flushes skip compression in every family: an L0 file lives until the
 * next compaction (RF_LEDGER_L0_TRIGGER flushes), which reads it and writes
 * it again compressed; compressing it first only cost CPU (the state's L0
 * LZ4 was 1.7% of a replay) and its reads a decompression. */
static void compress_below_l0(rocksdb_options_t *o, int compression)
{
    int levels[RF_STORE_LEVELS];
    for (int i = 0; i < RF_STORE_LEVELS; i++)
        levels[i] = i == 0 ? rocksdb_no_compression : compression;
    rocksdb_options_set_num_levels(o, RF_STORE_LEVELS);
    rocksdb_options_set_compression_per_level(o, levels, RF_STORE_LEVELS);
}

/* Records and archive are append-only with ever-growing keys: their files
 * never overlap each other, so compaction has nothing to merge. Their flushes
 * compress as every level below does, so a compaction moves a flushed file
 * down without rewriting it (a trivial move: no read, no LZ4, no write);
 * L0 left uncompressed made every byte written twice more (each flushed file
 * was read, compressed and written again alone, one compaction per file:
 * docs/ledger.md, "Flat cost"). Reads hit: no filter. */
static void log_cf_options(rocksdb_options_t *o, rocksdb_block_based_table_options_t *t,
                           int compression)
{
    int levels[RF_STORE_LEVELS];
    for (int i = 0; i < RF_STORE_LEVELS; i++)
        levels[i] = compression;
    rocksdb_options_set_compression_per_level(o, levels, RF_STORE_LEVELS);
    rocksdb_block_based_options_set_block_size(t, RF_LEDGER_LOG_BLOCK_BYTES);
    rocksdb_options_set_target_file_size_base(o, RF_LEDGER_LOG_FILE_BYTES);
    rocksdb_options_set_level0_file_num_compaction_trigger(o, RF_LEDGER_L0_TRIGGER);
}

/* Per column family; index and filter blocks live in the env's cache so
 * memory is bounded per environment (a worker), not per partition. */
static rocksdb_options_t *ledger_cf_options(int cf, rocksdb_cache_t *cache, int compression,
                                            size_t wb)
{
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_options_set_write_buffer_size(o, cf == RF_STORE_CF_STATE ? wb : log_wb(wb));
    rocksdb_options_set_max_write_buffer_number(o, RF_LEDGER_MEMTABLES_MAX);
    rocksdb_options_set_level_compaction_dynamic_level_bytes(o, 1);
    rocksdb_options_set_compression(o, compression);
    compress_below_l0(o, compression);
    rocksdb_block_based_table_options_t *t = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(t, cache);
    rocksdb_block_based_options_set_cache_index_and_filter_blocks(t, 1);
    rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(t, 1);
    if (cf == RF_STORE_CF_STATE)
        state_cf_options(o, t);
    else
        log_cf_options(o, t, compression);
    rocksdb_options_set_block_based_table_factory(o, t);
    rocksdb_block_based_options_destroy(t);
    return o;
}

static void destroy_options(rf_store_t *s)
{
    if (s->opts) rocksdb_options_destroy(s->opts);
    for (int i = 0; i < RF_STORE_LEDGER_CFS; i++)
        if (s->cf_opts[i]) rocksdb_options_destroy(s->cf_opts[i]);
    s->opts = NULL;
    memset(s->cf_opts, 0, sizeof s->cf_opts);
}

static rocksdb_t *ledger_open_cfs(rf_store_t *s, const rf_store_open_conf_t *c,
                                  rocksdb_cache_t *cache, int compression, size_t wb, char **errptr)
{
    s->opts = ledger_db_options(c->create);
    for (int i = 0; i < RF_STORE_LEDGER_CFS; i++)
        s->cf_opts[i] = ledger_cf_options(i, cache, compression, wb);
    const rocksdb_options_t *co[RF_STORE_LEDGER_CFS];
    memcpy(co, s->cf_opts, sizeof co);
    const int n = RF_STORE_LEDGER_CFS;
    if (c->mode == RF_STORE_READONLY)
        return rocksdb_open_for_read_only_column_families(s->opts, s->path, n, ledger_cf_names, co,
                                                          s->cf, 0, errptr);
    if (c->mode == RF_STORE_SECONDARY)
        return rocksdb_open_as_secondary_column_families(s->opts, s->path, c->secondary_dir, n,
                                                         ledger_cf_names, co, s->cf, errptr);
    return rocksdb_open_column_families(s->opts, s->path, n, ledger_cf_names, co, s->cf, errptr);
}

/* Opens a ledger with LZ4 (none on a RocksDB built without it); a writable
 * one with its share of the budget, joining the env's writers. */
static char *open_ledger(rf_store_t *s, const rf_store_open_conf_t *c, rocksdb_cache_t *cache)
{
    rf_store_env_t *env = s->env;
    char *errptr = NULL;
    bool writer = c->mode == RF_STORE_WRITE;
    if (writer) pthread_mutex_lock(&env->budget_mu);
    size_t wb = writer ? writers_rebudget(env, env->writers_n + 1) : RF_LEDGER_WRITE_BUFFER_BYTES;
    s->db = ledger_open_cfs(s, c, cache, rocksdb_lz4_compression, wb, &errptr);
    if (!s->db && errptr && strstr(errptr, "ompression")) {
        rf_log(RF_LOG_WARN, "ledger '%s': %s; using no compression", s->path, errptr);
        rocksdb_free(errptr), errptr = NULL;
        destroy_options(s);
        s->db = ledger_open_cfs(s, c, cache, rocksdb_no_compression, wb, &errptr);
    }
    if (writer) {
        if (s->db) {
            s->wb = wb;
            writers_add(env, s);
        } else {
            writers_rebudget(env, env->writers_n); /* back to the share of the others */
        }
        pthread_mutex_unlock(&env->budget_mu);
    }
    return errptr;
}

/* ---- the projection's profile (docs/projections.md) ---- */

static rocksdb_options_t *projection_options(bool create, rocksdb_cache_t *cache)
{
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(o, create ? 1 : 0);
    rocksdb_options_set_write_buffer_size(o, RF_PROJECT_WRITE_BUFFER_BYTES);
    rocksdb_options_set_max_open_files(o, -1); /* required by secondary instances */
    rocksdb_options_set_compression(o, rocksdb_lz4_compression);
    /* L0 and L1 are rewritten soon by compaction: compressing them costs the
     * flush thread CPU for data that lives briefly */
    int levels[RF_STORE_LEVELS];
    for (int i = 0; i < RF_STORE_LEVELS; i++)
        levels[i] = i < 2 ? rocksdb_no_compression : rocksdb_lz4_compression;
    rocksdb_options_set_compression_per_level(o, levels, RF_STORE_LEVELS);
    rocksdb_options_set_max_background_jobs(o, RF_STORE_BACKGROUND_JOBS);
    rf_store_info_log(o);
    /* most cache misses are keys that do not exist yet (a user's first day):
     * a memtable bloom filter answers those without walking the skiplist */
    rocksdb_options_set_memtable_prefix_bloom_size_ratio(o, RF_PROJECT_MEMTABLE_BLOOM_RATIO);
    rocksdb_options_set_memtable_whole_key_filtering(o, 1);
    rocksdb_block_based_table_options_t *t = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(t, cache);
    rocksdb_block_based_options_set_filter_policy(
        t, rocksdb_filterpolicy_create_bloom(RF_STORE_BLOOM_BITS));
    rocksdb_block_based_options_set_cache_index_and_filter_blocks(t, 0);
    rocksdb_options_set_block_based_table_factory(o, t);
    rocksdb_block_based_options_destroy(t);
    return o;
}

static char *open_projection(rf_store_t *s, const rf_store_open_conf_t *c, rocksdb_cache_t *cache)
{
    char *errptr = NULL;
    s->opts = projection_options(c->create, cache);
    if (c->mode == RF_STORE_READONLY)
        s->db = rocksdb_open_for_read_only(s->opts, s->path, 0, &errptr);
    else if (c->mode == RF_STORE_SECONDARY) {
        /* every catch-up with the primary rebuilds its version and loads the
         * table handlers on max_file_opening_threads new threads (16 by
         * default), even when no file changed: one thread, no spawning */
        rocksdb_options_set_max_file_opening_threads(s->opts, 1);
        s->db = rocksdb_open_as_secondary(s->opts, s->path, c->secondary_dir, &errptr);
    } else
        s->db = rocksdb_open(s->opts, s->path, &errptr);
    return errptr;
}

/* ---- stores ---- */

rf_store_t *rf_store_open(rf_store_env_t *env, const char *path, const rf_store_open_conf_t *conf,
                          rf_errbuf_t *eb)
{
    RF_ASSERT(env != NULL && path != NULL && conf != NULL);
    RF_ASSERT((unsigned)conf->kind < RF_STORE__KINDS);
    RF_ASSERT(conf->mode != RF_STORE_SECONDARY || conf->secondary_dir != NULL);
    size_t plen = strlen(path);
    rf_store_t *s = calloc(1, sizeof *s + plen + 1);
    if (!s) {
        rf_errf(eb, RF_ERR_NOMEM, "out of memory");
        return NULL;
    }
    memcpy(s->path, path, plen + 1);
    s->env = env;
    s->kind = conf->kind;
    s->mode = conf->mode;
    rocksdb_cache_t *cache = env_acquire(env, conf->kind);
    char *errptr = conf->kind == RF_STORE_LEDGER ? open_ledger(s, conf, cache)
                                                 : open_projection(s, conf, cache);
    if (s->db) {
        RF_ASSERT(errptr == NULL);
        return s;
    }
    if (errptr)
        rf_store_err(eb, errptr, "cannot open %s '%s'", kind_names[conf->kind], path);
    else
        rf_errf(eb, RF_ERR_STORAGE, "cannot open %s '%s'", kind_names[conf->kind], path);
    destroy_options(s);
    env_release(env);
    free(s);
    return NULL;
}

void rf_store_close(rf_store_t *s)
{
    if (!s) return;
    rf_store_env_t *env = s->env;
    RF_ASSERT(s->db != NULL);
    if (s->kind == RF_STORE_LEDGER && s->mode == RF_STORE_WRITE) {
        pthread_mutex_lock(&env->budget_mu);
        writers_remove(env, s);
        writers_rebudget(env, env->writers_n); /* the others may grow */
        pthread_mutex_unlock(&env->budget_mu);
    }
    for (int i = 0; i < RF_STORE_LEDGER_CFS; i++)
        if (s->cf[i]) rocksdb_column_family_handle_destroy(s->cf[i]);
    rocksdb_close(s->db);
    destroy_options(s);
    env_release(env);
    free(s);
}

rocksdb_t *rf_store_db(const rf_store_t *s)
{
    return s->db;
}

rf_store_env_t *rf_store_env_of(const rf_store_t *s)
{
    return s->env;
}

rocksdb_column_family_handle_t *rf_store_cf(const rf_store_t *s, int i)
{
    RF_ASSERT(s->kind == RF_STORE_LEDGER && i >= 0 && i < RF_STORE_LEDGER_CFS);
    return s->cf[i];
}

const rocksdb_options_t *rf_store_cf_options(const rf_store_t *s, int i)
{
    if (s->kind != RF_STORE_LEDGER) {
        RF_ASSERT(i == 0);
        return s->opts;
    }
    RF_ASSERT(i >= 0 && i < RF_STORE_LEDGER_CFS);
    return s->cf_opts[i];
}

rocksdb_options_t *rf_store_cf_options_uncompressed(const rf_store_t *s, int i)
{
    rocksdb_options_t *o =
        rocksdb_options_create_copy((rocksdb_options_t *)rf_store_cf_options(s, i));
    if (o) compress_below_l0(o, rocksdb_no_compression);
    return o;
}

size_t rf_store_write_buffer_bytes(const rf_store_t *s)
{
    if (s->kind != RF_STORE_LEDGER || s->mode != RF_STORE_WRITE) return 0;
    pthread_mutex_lock(&s->env->budget_mu);
    size_t wb = s->wb;
    pthread_mutex_unlock(&s->env->budget_mu);
    return wb;
}
