/* rf_checkpoint.h: consistent RocksDB checkpoints of every fold ledger and
 * projection store of a data directory, also while workers run
 * (`refold checkpoint`, docs/operations.md, "Checkpoints").
 *
 * Why workers take part: RocksDB can only checkpoint consistently through the
 * handle that writes the database. A read-only or secondary handle opened
 * beside a live writer can miss a WAL file that the writer flushed and deleted
 * while the reader opened (measured: 1 open in 40 under a busy writer saw a
 * state that never existed), and a checkpoint through it hard-links the live
 * WAL. So: a partition whose RocksDB LOCK is free is checkpointed by the
 * command itself (it takes the lock for that moment); a locked one is
 * checkpointed by the worker holding it, on request: the command writes
 * <data>/checkpoint.request, each worker serves it between commits through
 * rf_checkpoint_serve and leaves <out>/<store>/p-NNNN.done (or .err).
 *
 * A checkpoint holds only committed state: its stored next offset (fold) or
 * applied seq and ledger offset (projection) match its contents, so a worker
 * started on it resumes from there.
 *
 * Thread safety: a watch is used by the one thread that owns the handles. */
#ifndef RF_CHECKPOINT_H
#define RF_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include "rf_common.h"
#include "rf_ledger.h"
#include "rf_limits.h"

/* Checkpoints one open handle into dir (which must not exist). */
typedef rf_err_t(rf_checkpoint_fn)(void *handle, const char *dir, rf_errbuf_t *eb);
/* Adapters: handle is an rf_ledger_t * / an rf_projection_t *. */
rf_err_t rf_checkpoint_ledger_fn(void *ledger, const char *dir, rf_errbuf_t *eb);
rf_err_t rf_checkpoint_projection_fn(void *projection, const char *dir, rf_errbuf_t *eb);

typedef struct rf_checkpoint_watch rf_checkpoint_watch_t;

/* A worker's watch for checkpoint requests on data_dir; store is "fold" or
 * "project" (the subdirectory the worker's partitions live in). NULL when out
 * of memory or the path is too long. */
rf_checkpoint_watch_t *rf_checkpoint_watch_new(const char *data_dir, const char *store);
void rf_checkpoint_watch_free(rf_checkpoint_watch_t *w); /* NULL is a no-op */

/* Call for every partition the worker holds, once per poll cycle, between
 * commits (never with a half-folded batch in flight: the checkpoint then holds
 * the last commit, which is fine, but calling after the commit makes it
 * fresher). Costs one stat() per RF_CHECKPOINT_POLL_MS while no request is
 * pending. When a request is pending and this partition's checkpoint is not
 * written yet, writes it with fn(handle, <out>/<store>/p-NNNN) and the marker.
 * Returns RF_OK, or the checkpoint's error (also written to the requester's
 * .err marker: the worker should log it and carry on). */
rf_err_t rf_checkpoint_serve(rf_checkpoint_watch_t *w, int32_t partition, void *handle,
                             rf_checkpoint_fn *fn, rf_errbuf_t *eb);

/* rf_checkpoint_serve through a process-wide table of watches, one per
 * (data_dir, store): the one-line hook the fold and projection worker loops
 * call for each partition they hold after each poll cycle's commits. Errors
 * are logged (and reported to the requester), never returned: a failed
 * checkpoint must not stop a worker. Thread safe. */
void rf_checkpoint_serve_dir(const char *data_dir, const char *store, int32_t partition,
                             void *handle, rf_checkpoint_fn *fn);

/* ---- the command's side ---- */

typedef struct rf_checkpoint_part {
    char store[8]; /* "fold" or "project" */
    int32_t partition;
    bool by_worker; /* served by the worker holding the lock */
    rf_err_t err;   /* RF_OK when written */
    char msg[RF_ERRMSG_MAX];
    uint64_t head_seq;   /* fold: the checkpoint's head */
    int64_t next_offset; /* fold: the checkpoint's stored next offset */
    bool verified;       /* fold with verify: rf_ledger_verify accepted it */
} rf_checkpoint_part_t;

typedef struct rf_checkpoint_result {
    int nparts;
    rf_checkpoint_part_t parts[2 * RF_PARTITIONS_MAX];
} rf_checkpoint_result_t;

/* Checkpoints every partition under <data_dir>/fold and <data_dir>/project
 * into out_dir (created; must not exist or be empty), waiting up to wait_ms
 * for workers; with verify, runs rf_ledger_verify on each fold checkpoint.
 * Returns RF_OK when every partition was written (and verified); otherwise
 * the first error, with every partition's outcome in *res. */
rf_err_t rf_checkpoint_take(const char *data_dir, const char *out_dir, int wait_ms, bool verify,
                            rf_checkpoint_result_t *res, rf_errbuf_t *eb);

#endif
