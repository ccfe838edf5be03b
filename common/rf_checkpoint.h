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
#include "rf_limits.h"

/* Checkpoints one open handle into dir (which must not exist). */
typedef rf_err_t(rf_checkpoint_fn)(void *handle, const char *dir, rf_errbuf_t *eb);
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

/* ---- shared with the command's side (cmd/rf_checkpoint_cmd.c) ---- */

/* The request file under the data directory, and the longest path used. */
#define RF_CHECKPOINT_REQUEST_FILE "checkpoint.request"
#define RF_CHECKPOINT_PATH_MAX     4096

bool rf_checkpoint_exists(const char *path);
/* Writes text to path atomically (tmp + rename), so a reader never sees half. */
rf_err_t rf_checkpoint_write_atomic(const char *path, const char *text, rf_errbuf_t *eb);
/* <dir>/<store>/p-NNNN.<ext>: where a worker leaves its done/err marker. */
void rf_checkpoint_marker_path(char *out, size_t cap, const char *dir, const char *store, int32_t p,
                               const char *ext);

#endif
