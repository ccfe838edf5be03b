/* rf_replay.h: rebuild a fresh fold ledger from the live ledger's archive or
 * from refold.events, compare its heads with the live ledger, and price a
 * rule change (what-if). Used by `refold replay`, `refold whatif`, tests and
 * the replay benchmark (docs/operations.md, "Replay").
 *
 * A replay folds exactly what the fold worker folds (rf_ledger_fold), so a
 * full replay reproduces every record byte for byte: same head (seq, hash)
 * per partition. Dead letters are counted, never published (the live DLQ
 * already has them). Nothing here writes to the live data directory.
 *
 * Thread safety: functions keep no global state; a replay from the archive
 * runs its partitions on up to `jobs` threads of its own. */
#ifndef RF_REPLAY_H
#define RF_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "rf_common.h"
#include "rf_kafka.h"
#include "rf_ledger.h"
#include "rf_limits.h"

typedef enum rf_replay_source {
    RF_REPLAY_ARCHIVE = 0, /* the live ledger's archive (no Kafka needed) */
    RF_REPLAY_KAFKA = 1,   /* refold.events: assign + seek, no consumer group */
} rf_replay_source_t;

typedef struct rf_replay_progress {
    uint64_t events; /* folded so far */
    uint64_t total;  /* expected in all (0 when unknown) */
    uint64_t elapsed_ns;
} rf_replay_progress_t;
/* Called about every RF_REPLAY_BATCH_MAX events of a replaying thread, one
 * call at a time (under a mutex), from any of the replay's threads. */
typedef void(rf_replay_progress_cb_t)(const rf_replay_progress_t *p, void *opaque);

typedef struct rf_replay_opts {
    const char *data_dir; /* live data dir (archive source; from-time map) */
    const char *into_dir; /* fresh data dir: <into>/fold/p-NNNN must not hold data */
    rf_replay_source_t source;
    rf_kafka_opts_t kafka; /* RF_REPLAY_KAFKA: brokers and -X */
    const char *topic;     /* NULL: refold.events */
    int64_t from_offset;   /* -1: from the first offset (archive) / earliest (Kafka) */
    int64_t from_time_ms;  /* INT64_MIN: none; else from the first offset whose
                            * archived event time reaches it (per partition) */
    /* what-if: every ProgramConfigured of override_program gets
     * override_rules_json instead of its own rules (NULL: none) */
    const char *override_program;
    const char *override_rules_json;
    int ledger_flags; /* extra flags for the new ledgers (RF_LEDGER_NOSYNC) */
    int jobs;         /* archive: partitions replayed in parallel (0: one per
                       * CPU, at most RF_REPLAY_JOBS_MAX); Kafka: one thread */
    rf_replay_progress_cb_t *progress;
    void *progress_opaque;
} rf_replay_opts_t;

/* Sets the defaults noted above (everything else zero/NULL). */
void rf_replay_opts_init(rf_replay_opts_t *o);

typedef struct rf_replay_part {
    int32_t partition;
    int64_t start_offset; /* first offset folded (-1: nothing) */
    int64_t end_offset;   /* next offset after the last folded */
    uint64_t events;
    uint64_t outcomes[RF_OUTCOME__COUNT];
    uint64_t overridden; /* ProgramConfigured events rewritten (what-if) */
} rf_replay_part_t;

typedef struct rf_replay_stats {
    uint64_t events;
    uint64_t elapsed_ns;
    uint64_t fold_ns;   /* in rf_ledger_fold */
    uint64_t commit_ns; /* in rf_ledger_commit */
    uint64_t finish_ns; /* archive: in rf_ledger_bulk_finish and close, on the finisher thread
                         * (mostly waiting for RocksDB's flush and syncs) */
    int nparts;
    rf_replay_part_t parts[RF_PARTITIONS_MAX];
} rf_replay_stats_t;

/* Runs the replay. Errors: RF_ERR_CONFIG (bad options, into_dir not fresh,
 * override rules longer than RF_RULES_MAX), RF_ERR_NOT_FOUND (from_offset no
 * longer in the topic), RF_ERR_BAD_INPUT (what-if: the fold rejects the
 * override rules; the message says why), RF_ERR_KAFKA, RF_ERR_TIMEOUT (a partition stopped
 * delivering before its end), RF_ERR_GAP, RF_ERR_STORAGE. */
rf_err_t rf_replay_run(const rf_replay_opts_t *o, rf_replay_stats_t *st, rf_errbuf_t *eb);

/* One partition's comparison of a replayed ledger with the live one. */
typedef enum rf_replay_verdict {
    RF_REPLAY_SAME = 0, /* same head (seq, hash) */
    RF_REPLAY_PREFIX,   /* replay matches live up to its head; live moved on */
    RF_REPLAY_DIFFER,   /* first_diff_seq is the first record whose hash differs */
    RF_REPLAY_MISSING,  /* the partition exists on one side only */
} rf_replay_verdict_t;
const char *rf_replay_verdict_name(rf_replay_verdict_t v);

typedef struct rf_replay_cmp {
    int32_t partition;
    rf_replay_verdict_t verdict;
    uint64_t live_seq, new_seq;
    uint8_t live_hash[32], new_hash[32];
    uint64_t first_diff_seq; /* DIFFER: first seq whose hash differs (0 otherwise) */
} rf_replay_cmp_t;

/* Compares every partition of either side: heads, then (when they differ)
 * a binary search over seq for the first differing hash (the hash chain
 * makes "equal at k" imply "equal before k"). Returns the number of rows
 * written to out (<= cap) or a negative rf_err_t. */
int rf_replay_compare(const char *live_dir, const char *new_dir, rf_replay_cmp_t *out, int cap,
                      rf_errbuf_t *eb);

#endif
