/* rf_project.h: the read models (balances, leaderboards, funnel analytics,
 * code index) built from refold.ledger. Library refold_readmodels (room
 * consumers/project/): it owns the projection stores and what each record
 * changes in them, and never touches Kafka; the worker that feeds them from
 * refold.ledger is rf_project_worker.h (library refold_project).
 *
 * Two layers:
 *  - rf_projection_t: one partition's read-model store (RocksDB at
 *    <data>/project/p-NNNN). rf_projection_apply stages one ledger record into
 *    an in-memory write-back cache (read-your-writes); rf_projection_commit
 *    writes every change of the batch, the applied seq and the next Kafka
 *    offset of refold.ledger as ONE synced WriteBatch. Nothing touches Kafka,
 *    so tests and benchmarks apply records directly.
 *  - rf_project_worker_t (rf_project_worker.h): the Kafka consumer (group
 *    "refold-project") that reads refold.ledger, applies each partition's records in seq order and
 *    commits one batch per partition per poll cycle.
 *
 * Seq rules (per partition): a record with seq <= applied is a duplicate
 * (republished by the fold's outbox after a crash) and is dropped; seq ==
 * applied + 1 is applied; seq > applied + 1 is RF_ERR_GAP (fatal: something
 * was lost upstream; the worker stops and nothing of the batch is stored).
 *
 * Key layout, rank algorithm and consistency: docs/projections.md. */
#ifndef RF_PROJECT_H
#define RF_PROJECT_H

#include <stdbool.h>
#include <stdint.h>

#include "rf_common.h"
#include "rf_event.h"
#include "rf_limits.h"

/* ---- one partition's read-model store ---------------------------------- */

typedef struct rf_projection rf_projection_t;
/* The storage environment (common/rf_store.h): the stores' block cache. */
typedef struct rf_store_env rf_store_env_t;

typedef enum rf_projection_flags {
    RF_PROJECTION_CREATE = 1, /* create <data>/project/p-NNNN when missing */
    RF_PROJECTION_NOSYNC = 2, /* commits not synced (tests and benchmarks only) */
} rf_projection_flags_t;

/* Opens (the only writer of) partition's store under data_dir in env (its
 * block cache; env outlives the store). NULL with a message on failure
 * (RocksDB's LOCK held by another worker, missing dir...). */
rf_projection_t *rf_projection_open_env(rf_store_env_t *env, const char *data_dir,
                                        int32_t partition, int flags, rf_errbuf_t *eb);
/* The same in the process's default environment (rf_store_env_default()). */
rf_projection_t *rf_projection_open(const char *data_dir, int32_t partition, int flags,
                                    rf_errbuf_t *eb);
/* Opens a store at an explicit RocksDB path, in env or the default one. */
rf_projection_t *rf_projection_open_path_env(rf_store_env_t *env, const char *db_path,
                                             int32_t partition, int flags, rf_errbuf_t *eb);
rf_projection_t *rf_projection_open_path(const char *db_path, int32_t partition, int flags,
                                         rf_errbuf_t *eb);
/* Closes; an uncommitted batch is dropped. NULL is a no-op. */
void rf_projection_close(rf_projection_t *p);

typedef enum rf_apply_outcome {
    RF_APPLY_APPLIED = 0,
    RF_APPLY_DUPLICATE = 1, /* seq <= applied: dropped */
} rf_apply_outcome_t;

/* Stages rec into the open batch. *outcome (may be NULL) tells applied or
 * duplicate. Errors: RF_ERR_GAP (seq > applied + 1), RF_ERR_CORRUPT (the record
 * belongs to another partition or its postings do not balance), RF_ERR_STORAGE.
 * After an error the caller must drop the batch (close without committing). */
rf_err_t rf_projection_apply(rf_projection_t *p, const rf_record_t *rec,
                             rf_apply_outcome_t *outcome, rf_errbuf_t *eb);

/* Makes the open batch durable, together with next_offset (the next offset
 * of refold.ledger to consume; -1 keeps the stored one) and high_watermark
 * (the last known end of the ledger partition, for lag reports; -1 keeps).
 * One synced WriteBatch. Cheap no-op when nothing changed. */
rf_err_t rf_projection_commit(rf_projection_t *p, int64_t next_offset, int64_t high_watermark,
                              rf_errbuf_t *eb);

/* The same in two steps, so the owner applies the next records while the
 * batch is written and synced: commit_start waits for the previous batch,
 * then hands this one to the projection's writer thread and returns;
 * commit_wait returns once it is durable (or failed: the error is sticky, as
 * for rf_projection_commit). Until then nothing about the batch may be
 * reported as durable. close waits too. Reads of the owner (the write-back
 * cache) see the handed-off batch at once. */
rf_err_t rf_projection_commit_start(rf_projection_t *p, int64_t next_offset, int64_t high_watermark,
                                    rf_errbuf_t *eb);
rf_err_t rf_projection_commit_wait(rf_projection_t *p, rf_errbuf_t *eb);

/* True when the write-back cache holds RF_PROJECT_CACHE_ENTRIES_MAX entries:
 * the caller must commit now (the cache is bounded; a commit empties it). */
bool rf_projection_cache_full(const rf_projection_t *p);

/* Compacts the whole store now (RocksDB does it in the background anyway;
 * tools and benchmarks use it to measure reads on a settled LSM tree). */
void rf_projection_compact(rf_projection_t *p);

/* Progress as stored (or staged, for the owner). */
typedef struct rf_projection_meta {
    int32_t partition;
    uint64_t applied_seq;      /* last applied record seq; 0 when none */
    int64_t next_offset;       /* next refold.ledger offset; -1 when none consumed */
    int64_t high_watermark;    /* ledger partition end when last committed; -1 unknown */
    int64_t event_time_ms;     /* max occurred_at applied */
    uint64_t records;          /* records applied (duplicates excluded) */
    uint64_t duplicates;       /* duplicates dropped */
    int64_t committed_wall_ms; /* wall clock of the last commit (monitoring only) */
    uint64_t keys_written;     /* read-model keys put or deleted by commits since
                                * open (not stored; benchmarks: keys per record) */
} rf_projection_meta_t;
void rf_projection_get_meta(const rf_projection_t *p, rf_projection_meta_t *meta);

/* Checkpoints an open projection (an rf_projection_t *) into dir (which must
 * not exist): an rf_checkpoint_fn for rf_checkpoint_serve. */
rf_err_t rf_projection_checkpoint_fn(void *projection, const char *dir, rf_errbuf_t *eb);

#endif
