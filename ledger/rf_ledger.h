/* rf_ledger.h: one partition's reward ledger in RocksDB: fold events into
 * hash-chained double-entry records, commit them atomically with balances,
 * dedup keys, archived event bytes and the next offset, and read them back.
 *
 * The ledger knows nothing of Kafka: it folds (partition, offset, bytes).
 * Library refold_ledger (room ledger/) owns the ledgers: storage, fold engine,
 * rules (rules/), reads, verify and finance; the build keeps librdkafka off
 * its link line (tests/rooms/).
 * Layout: one RocksDB per partition at <data>/fold/p-NNNN (docs/ledger.md).
 *
 * Lifetime: rf_ledger_open .. rf_ledger_close. Not thread safe: one thread
 * folds a partition; readers open their own read-only handle
 * (RF_LEDGER_READONLY), which sees the ledger as of its open.
 *
 * Batching: rf_ledger_fold stages into the open batch (read-your-writes);
 * nothing is durable until rf_ledger_commit writes the batch with sync. A
 * failed commit leaves the stored state as before the batch: the caller must
 * stop (the in-memory caches are then stale) and restart from stored state. */
#ifndef RF_LEDGER_H
#define RF_LEDGER_H

#include <stdbool.h>
#include <stdint.h>

#include "rf_codec.h"
#include "rf_common.h"
#include "rf_event.h"

typedef struct rf_ledger rf_ledger_t;
/* The storage environment (common/rf_store.h): block cache, memtable budget. */
typedef struct rf_store_env rf_store_env_t;

typedef enum rf_ledger_flags {
    RF_LEDGER_READONLY = 1, /* open for reading only (safe while a worker runs) */
    RF_LEDGER_CREATE = 2,   /* create if missing */
    RF_LEDGER_NOSYNC = 4,   /* commits not synced (tests/bench only; never in production) */
    RF_LEDGER_BULK = 8,     /* a bulk load into a fresh ledger (replay), see below */
} rf_ledger_flags_t;

/* Bulk load (RF_LEDGER_BULK, with RF_LEDGER_CREATE): for rebuilding a whole
 * ledger, where a crash means starting over rather than resuming. The open
 * refuses a ledger that already holds data and durably marks the new one
 * unfinished; commits then write nothing through the WAL or the memtables:
 * the state stays in memory across commits (up to its share of
 * RF_LEDGER_BULK_STATE_BUDGET_BYTES, then it is written to a table file and
 * ingested), records and archived events, appended in key order, go
 * straight into table files of their own (<ledger>/bulk-*.sst, synced as
 * each is closed). rf_ledger_bulk_finish writes the state's table file,
 * ingests those files and, only then, clears the mark with a synced write. Any open of a ledger
 * still marked (a bulk load that crashed or failed anywhere before that write) is refused with
 * RF_ERR_CONFIG naming it, so a partial rebuild is never mistaken for a
 * ledger. Until the finish the handle's read API (rf_ledger_get_record,
 * _scan, _archive_*, balances) does not see its records, archive or state:
 * the fold reads its state through the batch, which holds it. Nothing else
 * changes: the records are the same bytes. */

/* Opens partition's ledger under data_dir (creating <data_dir>/fold/p-NNNN
 * with RF_LEDGER_CREATE) in env: the ledger shares env's block cache and, when
 * writable, its memtable budget with env's other ledgers. env must outlive
 * the ledger. NULL with message on failure. */
rf_ledger_t *rf_ledger_open_env(rf_store_env_t *env, const char *data_dir, int32_t partition,
                                int flags, rf_errbuf_t *eb);
/* The same in the process's default environment (rf_store_env_default()):
 * for commands and tests; a long-running worker passes its own. */
rf_ledger_t *rf_ledger_open(const char *data_dir, int32_t partition, int flags, rf_errbuf_t *eb);
/* Opens a ledger at an explicit RocksDB path (checkpoints, replay scratch),
 * in env or in the default environment. */
rf_ledger_t *rf_ledger_open_path_env(rf_store_env_t *env, const char *db_path, int32_t partition,
                                     int flags, rf_errbuf_t *eb);
rf_ledger_t *rf_ledger_open_path(const char *db_path, int32_t partition, int flags,
                                 rf_errbuf_t *eb);
/* Closes; an uncommitted batch is dropped. NULL is a no-op. */
void rf_ledger_close(rf_ledger_t *l);
/* A hint before opening several writable ledgers (a worker's assignment):
 * delta more will open soon (negative: fewer than announced after all), in
 * the default environment (rf_store_env_expect_writers for another). The
 * memtable budget counts them from the first open, so the ledgers opened
 * first are not resized as the rest open. Thread safe. */
void rf_ledger_expect_writers(int delta);

/* Lists the partitions with a ledger under data_dir (ascending); returns the
 * count (<= cap) or a negative rf_err_t. */
int rf_ledger_list_partitions(const char *data_dir, int32_t *parts, int cap);

/* The pid of another process that holds partition's ledger under data_dir
 * open for writing (RocksDB allows one writer: an open fails meanwhile), 0
 * when none does, -1 when it cannot be told (no ledger there yet). */
long rf_ledger_lock_holder(const char *data_dir, int32_t partition);

/* The outcome of one consumed offset: exactly one of these. */
typedef enum rf_outcome {
    RF_OUTCOME_APPLIED = 0, /* records appended */
    RF_OUTCOME_REJECTED,    /* a "rejected" record with the reason appended */
    RF_OUTCOME_DUPLICATE,   /* same event id and bytes seen before: no effect, no
                             * record; or a repeated request (a Redemption's
                             * request_id): a "duplicate" record, no postings */
    RF_OUTCOME_DEAD_LETTER, /* bad input: caller must publish to the DLQ */
    RF_OUTCOME__COUNT
} rf_outcome_t;
const char *rf_outcome_name(rf_outcome_t o);

typedef struct rf_fold_result {
    rf_outcome_t outcome;
    rf_err_t err;               /* for REJECTED / DEAD_LETTER: why */
    char reason[RF_ERRMSG_MAX]; /* for REJECTED / DEAD_LETTER: the message */
    uint32_t nrecords;          /* records appended for this offset */
    char program_id[RF_ID_BUF]; /* decoded program id ("" if undecodable) */
} rf_fold_result_t;

/* The trusted clock of a consumed message: the broker's timestamp of the
 * Kafka message (LogAppendTime where the topic sets it, else the producer's
 * CreateTime: docs/reliability.md, "Event time"), in ms since the epoch,
 * archived with the bytes so a replay folds the same. An event whose
 * occurred_at is more than RF_LEDGER_CLOCK_SKEW_MS ahead of it and would
 * advance the partition's event time is rejected (a "rejected" record,
 * reason "occurred_at ... ahead of the broker time ..."): one wrong or
 * hostile clock cannot mature holds or skip windows. Negative values (a
 * message the broker gave no timestamp) bound as 0: such an event never
 * advances time past epoch + skew.
 * RF_LEDGER_CLOCK_NONE: no trusted clock, the event time is not bounded:
 * archive entries written before the clock was archived replay so, as they
 * folded, and callers folding synthetic streams (tests, benchmarks) pass it. */
#define RF_LEDGER_CLOCK_NONE INT64_MIN

/* Folds the message at offset, with its trusted clock clock_ms (above), into
 * the open batch. Offsets: for an empty
 * ledger (next offset -1) the first folded offset may be any value >= 0 (the
 * topic's earliest offset may not be 0); after that offsets must be
 * contiguous: an offset above the next one is RF_ERR_GAP (something was lost
 * upstream), and one below it is RF_ERR_GAP too (already folded: the caller
 * must not refold; it seeks to rf_ledger_next_offset). Nothing is staged on
 * RF_ERR_GAP. Bad input is not an error: it is the DEAD_LETTER outcome.
 * Returns a fatal rf_err_t only for storage failures or broken invariants;
 * after one the open batch is partial and refuses to commit (close and
 * reopen). The next offset counts folds in the open batch; the committed one
 * (rf_ledger_next_offset) moves only on commit. */
rf_err_t rf_ledger_fold(rf_ledger_t *l, int64_t offset, int64_t clock_ms, const uint8_t *bytes,
                        size_t len, rf_fold_result_t *res, rf_errbuf_t *eb);

/* Makes the open batch durable (one synced WriteBatch). No-op when empty.
 * On failure (RF_ERR_STORAGE) the batch is dropped and the handle is back at
 * the stored state; RocksDB keeps refusing writes until the ledger is
 * reopened, so the caller stops and restarts from rf_ledger_next_offset. */
rf_err_t rf_ledger_commit(rf_ledger_t *l, rf_errbuf_t *eb);
/* Ends a bulk load's folding, the CPU half of its finish: commits the open
 * batch and writes the state kept in memory, sorted, to its table file. The
 * handle then takes no more folds (RF_ERR_CONFIG). Optional: the finish
 * seals first when it was not. No-op when not a bulk load or sealed. */
rf_err_t rf_ledger_bulk_seal(rf_ledger_t *l, rf_errbuf_t *eb);
/* Ends a bulk load: seals it, ingests the state, record and archive table
 * files (moved, not copied), flushes the memtables (the mark) and clears the
 * unfinished mark; the handle then commits like any other (WAL, synced).
 * After a seal it mostly waits on RocksDB (fsync, manifest writes): a caller
 * with more partitions to load can seal on its folding thread and finish on
 * another (one thread at a time per handle). No-op on a ledger not opened with RF_LEDGER_BULK or
 * already finished. */
rf_err_t rf_ledger_bulk_finish(rf_ledger_t *l, rf_errbuf_t *eb);
/* Number of offsets folded into the open batch. */
uint32_t rf_ledger_batch_size(const rf_ledger_t *l);

/* The next offset to consume (stored with the last committed batch), or -1
 * when nothing was ever folded (start from the earliest offset). */
int64_t rf_ledger_next_offset(const rf_ledger_t *l);

typedef struct rf_ledger_head {
    int32_t partition;
    uint64_t seq;                       /* last record's seq; 0 when empty */
    uint8_t hash[32];                   /* last record's hash; zeros when empty */
    int64_t next_offset;                /* -1 when nothing folded */
    int64_t event_time_ms;              /* the partition's event time (max occurred_at folded) */
    uint64_t counts[RF_OUTCOME__COUNT]; /* offsets by outcome, committed */
    uint64_t outbox_seq;                /* last seq acknowledged by refold.ledger */
} rf_ledger_head_t;
/* Committed head (read-only handles: as of open). */
rf_err_t rf_ledger_head(rf_ledger_t *l, rf_ledger_head_t *head, rf_errbuf_t *eb);

/* Reads record seq (committed) and checks it: hash recomputed, postings
 * balanced. RF_ERR_NOT_FOUND, RF_ERR_CORRUPT. */
rf_err_t rf_ledger_get_record(rf_ledger_t *l, uint64_t seq, rf_record_t *rec, rf_errbuf_t *eb);

/* Calls cb for each committed record with from_seq <= seq <= to_seq (to_seq 0:
 * to the head), in order; cb returns non-zero to stop. rec is valid only
 * during the call; cb must not fold or commit on l. */
typedef int(rf_record_cb_t)(const rf_record_t *rec, void *opaque);
rf_err_t rf_ledger_scan(rf_ledger_t *l, uint64_t from_seq, uint64_t to_seq, rf_record_cb_t *cb,
                        void *opaque, rf_errbuf_t *eb);

/* Balance of (program, owner, asset): amounts per bucket; zeros if none. */
rf_err_t rf_ledger_balance(rf_ledger_t *l, const char *program, const char *owner,
                           const char *asset, int64_t buckets[RF_BUCKET__COUNT], rf_errbuf_t *eb);
typedef int(rf_balance_cb_t)(const char *program, const char *owner, const char *asset,
                             const int64_t buckets[RF_BUCKET__COUNT], void *opaque);
rf_err_t rf_ledger_scan_balances(rf_ledger_t *l, rf_balance_cb_t *cb, void *opaque,
                                 rf_errbuf_t *eb);

/* The archived bytes of a consumed offset (every outcome is archived) and
 * the trusted clock it was folded with (RF_LEDGER_CLOCK_NONE for entries
 * archived without one). *len gets the size; clock_ms may be NULL;
 * RF_ERR_NOT_FOUND; RF_ERR_OVERSIZE if cap too small. */
rf_err_t rf_ledger_archive_get(rf_ledger_t *l, int64_t offset, uint8_t *buf, size_t cap,
                               size_t *len, int64_t *clock_ms, rf_errbuf_t *eb);
typedef int(rf_archive_cb_t)(int64_t offset, int64_t clock_ms, const uint8_t *bytes, size_t len,
                             void *opaque);
rf_err_t rf_ledger_archive_scan(rf_ledger_t *l, int64_t from_offset, rf_archive_cb_t *cb,
                                void *opaque, rf_errbuf_t *eb);

/* Dead letters recorded by this partition: offset, error, reason. */
typedef int(rf_deadletter_cb_t)(int64_t offset, rf_err_t err, const char *reason, void *opaque);
rf_err_t rf_ledger_deadletter_scan(rf_ledger_t *l, rf_deadletter_cb_t *cb, void *opaque,
                                   rf_errbuf_t *eb);

/* Outbox: records with seq > outbox_seq are not yet acknowledged by
 * refold.ledger. rf_ledger_outbox_ack stores the new acknowledged seq (staged
 * into the next commit, or written at once, unsynced, when no batch is open:
 * losing it only republishes records, which readers drop by seq).
 * From its first ack (or scan) on, a writable handle keeps the committed
 * records above the acknowledged seq in memory (RF_LEDGER_TAIL_BYTES), and
 * rf_ledger_scan serves ranges within them from there, without re-reading
 * and re-hashing them: an outbox acks the stored seq once at start. */
rf_err_t rf_ledger_outbox_ack(rf_ledger_t *l, uint64_t seq, rf_errbuf_t *eb);

/* Walks the whole chain: gapless seq, prev_hash links, hashes, postings
 * balanced, balances equal to the sum of postings, no user bucket negative but
 * receivable. On the first fault: RF_ERR_CORRUPT, *bad_seq and a message. */
rf_err_t rf_ledger_verify(rf_ledger_t *l, uint64_t *bad_seq, rf_errbuf_t *eb);

/* A consistent RocksDB checkpoint of this partition into dir (must not
 * exist): the committed state, hard-linked where possible. Needs the writable
 * handle (RF_ERR_CONFIG on a read-only one, which could miss files a running
 * writer flushed after the reader opened); open it with rf_ledger_open_path. */
rf_err_t rf_ledger_checkpoint(rf_ledger_t *l, const char *dir, rf_errbuf_t *eb);
/* rf_ledger_checkpoint with the handle as void *: an rf_checkpoint_fn for
 * rf_checkpoint_serve (common/rf_checkpoint.h). */
rf_err_t rf_ledger_checkpoint_fn(void *ledger, const char *dir, rf_errbuf_t *eb);

/* Canonical encoding of a record (the bytes its hash covers, docs/ledger.md)
 * and the hash itself: SHA-256(prev_hash || canonical). */
size_t rf_record_canonical(const rf_record_t *rec, uint8_t *buf, size_t cap);
void rf_record_compute_hash(const rf_record_t *rec, uint8_t out[32]);

#endif
