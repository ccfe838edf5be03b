/* rf_store.h: the one RocksDB layer of refold: an environment of shared
 * resources, the options of each kind of store, opening and closing them, and
 * the translation of RocksDB's errors. The fold ledgers and the projection
 * stores open through it; reads and writes on an open store stay direct.
 *
 * Environment (rf_store_env_t, after LMDB's MDB_env): what stores share
 * instead of process-wide globals: one block cache per kind of store (a
 * worker's 16 partitions must not take 16 caches), the memtable budget of
 * the writable ledgers with its sharing among them, and the memory closed
 * stores leave for the next open (rf_store_env_keep). The caller creates it,
 * passes it to every open and frees it after the last store opened with it
 * is closed (an env outlives its stores: rf_store_env_free asserts it).
 * rf_store_env_default() is a process-wide env created on first use and never
 * freed, for callers without one of their own (commands, tests).
 *
 * Errors: RocksDB's errptr strings are translated here (rf_store_err) into
 * RF_ERR_STORAGE with a message, and freed here.
 *
 * Thread safety: an env is thread safe (opens, closes and budget changes
 * from any thread). A store handle is RocksDB's: its db is thread safe, the
 * handle itself is opened and closed by one owner. */
#ifndef RF_STORE_H
#define RF_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include <rocksdb/c.h>

#include "rf_common.h"

/* The environment variable naming a directory for RocksDB's info LOG files
 * (one per store, named after the store's path). Unset: the LOG lives in the
 * store's directory, RocksDB's default. Set it to a directory on another
 * filesystem than the data: Debian's librocksdb is built with assertions and
 * aborts the process when it writes a LOG line after a failed one, which is
 * what a full data filesystem does to a LOG kept there. */
#define RF_STORE_LOG_DIR_ENV "REFOLD_ROCKSDB_LOG_DIR"
/* Seconds between dumps of a ledger's RocksDB statistics to its info LOG;
 * unset or 0: statistics off (common/rf_store.c, docs/ledger.md). */
#define RF_STORE_STATS_ENV "REFOLD_ROCKSDB_STATS_S"

/* ---- environment ---- */

/* The kinds of store, each with its option profile (rf_store.c). */
typedef enum rf_store_kind {
    RF_STORE_LEDGER,     /* a fold ledger: column families below, budgeted memtables */
    RF_STORE_PROJECTION, /* a projection store: the default column family only */
    RF_STORE_WEBHOOKS,   /* a webhook relay store: the projection's profile, its own cache */
    RF_STORE__KINDS,
} rf_store_kind_t;

typedef struct rf_store_env rf_store_env_t;

/* Sizes of an environment; a zero field takes its default from rf_limits.h. */
typedef struct rf_store_env_conf {
    size_t ledger_cache_bytes;     /* RF_LEDGER_BLOCK_CACHE_BYTES */
    size_t projection_cache_bytes; /* RF_PROJECT_BLOCK_CACHE_BYTES */
    size_t memtable_budget_bytes;  /* writable ledgers: RF_LEDGER_MEMTABLE_BUDGET_BYTES */
    size_t webhooks_cache_bytes;   /* RF_WEBHOOK_BLOCK_CACHE_BYTES */
} rf_store_env_conf_t;

/* A new environment (conf NULL: every default). A cache is created on the
 * first open of its kind and kept until rf_store_env_free. NULL with eb set
 * when out of memory. */
rf_store_env_t *rf_store_env_new(const rf_store_env_conf_t *conf, rf_errbuf_t *eb);
/* Frees env; every store opened with it must be closed. NULL is a no-op. */
void rf_store_env_free(rf_store_env_t *env);
/* The process's default environment, created on first call (aborts when out
 * of memory: there is no caller to report to). Never freed. Thread safe. */
rf_store_env_t *rf_store_env_default(void);
/* A hint before opening several writable ledgers (a worker's assignment):
 * delta more will open soon (negative: fewer than announced after all). The
 * memtable budget counts them from the first open, so the ledgers opened
 * first are not resized as the rest open. */
void rf_store_env_expect_writers(rf_store_env_t *env, int delta);

/* ---- memory kept between stores ----
 * A store's owner may leave the large buffers it allocated (a ledger's batch
 * overlay and staging buffers) with the env when it closes, for the next open
 * of the same kind to take: a replay opens ledger after ledger, and each
 * fresh buffer (tens of MiB, mmap'ed by malloc and unmapped by free) costs a
 * page fault per 4 KiB written. Up to RF_BATCH_MEM_POOL items per kind, each
 * of at most RF_BATCH_MEM_POOL_BYTES; the env frees those left with free_fn. */
typedef void(rf_store_kept_free_fn)(void *item);
/* An item a closed store of kind left (ownership passes to the caller), or
 * NULL when there is none. */
void *rf_store_env_take(rf_store_env_t *env, rf_store_kind_t kind);
/* Leaves item, holding bytes, for the next open of kind: true when kept (the
 * env owns it), false when the pool is full or the item too large (the caller
 * keeps it). */
bool rf_store_env_keep(rf_store_env_t *env, rf_store_kind_t kind, void *item, size_t bytes,
                       rf_store_kept_free_fn *free_fn);

/* ---- stores ---- */

/* The ledger's column families (docs/ledger.md, "Storage"): the state, and
 * the two append-only logs, whose ever-growing keys compact without rewrites. */
enum { RF_STORE_CF_STATE, RF_STORE_CF_RECORDS, RF_STORE_CF_ARCHIVE, RF_STORE_LEDGER_CFS };

/* A ledger column family's name ("default", "records", "archive"). */
const char *rf_store_ledger_cf_name(int i);

typedef enum rf_store_mode {
    RF_STORE_WRITE,     /* the one writer (RocksDB locks the directory) */
    RF_STORE_READONLY,  /* a snapshot as of the open, beside a writer */
    RF_STORE_SECONDARY, /* follows a writer (rocksdb_try_catch_up_with_primary) */
} rf_store_mode_t;

typedef struct rf_store_open_conf {
    rf_store_kind_t kind;
    rf_store_mode_t mode;
    bool create;               /* RF_STORE_WRITE: create the store if missing */
    const char *secondary_dir; /* RF_STORE_SECONDARY: the instance's scratch directory */
} rf_store_open_conf_t;

typedef struct rf_store rf_store_t;

/* Opens the store at path. NULL with eb set (RF_ERR_STORAGE, the message
 * names the kind and path: "cannot open ledger '<path>': <rocksdb's reason>").
 * A writable ledger joins env's memtable budget: opens of writable ledgers
 * are serialised, and may resize the memtables of the others. The handle
 * keeps env: env must outlive it. */
rf_store_t *rf_store_open(rf_store_env_t *env, const char *path, const rf_store_open_conf_t *conf,
                          rf_errbuf_t *eb);
/* Closes the store (its column family handles, the DB, its options); a
 * writable ledger leaves the budget and the others may grow. NULL is a no-op. */
void rf_store_close(rf_store_t *s);

/* The open DB and its column families (i < RF_STORE_LEDGER_CFS; ledgers
 * only), valid until rf_store_close. */
rocksdb_t *rf_store_db(const rf_store_t *s);
rocksdb_column_family_handle_t *rf_store_cf(const rf_store_t *s, int i);
/* The env the store was opened with. */
rf_store_env_t *rf_store_env_of(const rf_store_t *s);
/* The options of column family i (a projection: 0, the DB's), valid until
 * rf_store_close: table files written for it (SstFileWriter) take them. */
const rocksdb_options_t *rf_store_cf_options(const rf_store_t *s, int i);
/* A copy of column family i's options, uncompressed at every level (a table
 * file written like a flush, for L0); the caller destroys it. NULL: no memory. */
rocksdb_options_t *rf_store_cf_options_uncompressed(const rf_store_t *s, int i);
/* A writable ledger's state memtable size, its share of the budget now (the
 * logs' are a quarter of it); 0 for any other store. */
size_t rf_store_write_buffer_bytes(const rf_store_t *s);

/* ---- errors and policies ---- */

/* Translates a RocksDB error: frees errptr (not NULL) and sets eb to
 * "<what>: <errptr>" (what formatted like printf); returns RF_ERR_STORAGE. */
rf_err_t rf_store_err(rf_errbuf_t *eb, char *errptr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Turns RocksDB's perf counters off in the calling thread, once. RocksDB
 * counts every key comparison and memtable probe in a thread-local perf
 * context at its default level; in a shared librocksdb every count is a
 * __tls_get_addr call: off, the fold saved ~12% of its CPU per event
 * (docs/ledger.md), the projection ~6%. Nothing reads the counters. Call it
 * in each thread before it writes. */
void rf_store_perf_off(void);

/* Bounds RocksDB's info LOG (RF_ROCKSDB_LOG_FILE_BYTES, RF_ROCKSDB_LOG_FILES)
 * and places it per RF_STORE_LOG_DIR_ENV; every profile applies it. */
void rf_store_info_log(rocksdb_options_t *o);

#endif
