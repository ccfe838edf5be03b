/* rf_fold_worker.h: the Kafka side of the fold (library refold_fold, room
 * consumers/fold/, which also holds replay and the DLQ tools' Kafka side):
 * consume refold.events in a
 * consumer group, fold every message into its partition's ledger, dead-letter
 * bad input, make each poll cycle durable, and publish committed records to
 * refold.ledger (outbox). docs/fold-worker.md explains the loop and why it is
 * exactly-once in effect.
 *
 * Lifetime: rf_fold_worker_new .. rf_fold_worker_destroy. rf_fold_worker_run
 * runs the loop on the calling thread until rf_fold_worker_stop, the end of
 * the topic (exit_at_end) or a fatal error, and may be called once.
 *
 * Thread safety: run, new and destroy on one thread; rf_fold_worker_stop and
 * rf_fold_worker_stats from any thread (stop is async-signal-safe, so a signal
 * handler may call it). run starts conf.threads - 1 helper threads of its own
 * that fold and commit partitions in parallel; they end with run. */
#ifndef RF_FOLD_WORKER_H
#define RF_FOLD_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "rf_common.h"
#include "rf_kafka.h"
#include "rf_ledger.h"
#include "rf_limits.h"

typedef struct rf_fold_worker rf_fold_worker_t;

/* Latency histogram with fixed log-linear buckets (8 per power of two), in
 * microseconds: no allocation, bounded error (a percentile is the upper bound
 * of its bucket, at most 12.5% above the true value). Not thread safe. */
#define RF_FOLD_HIST_BUCKETS 320
typedef struct rf_fold_hist {
    uint64_t count;
    uint64_t max_us;
    uint64_t sum_us;
    uint64_t buckets[RF_FOLD_HIST_BUCKETS];
} rf_fold_hist_t;
void rf_fold_hist_add(rf_fold_hist_t *h, uint64_t us);
/* The q-quantile (0 < q <= 1), e.g. 0.5, 0.99, 0.999; 0 when empty. */
uint64_t rf_fold_hist_quantile(const rf_fold_hist_t *h, double q);

/* One assigned partition, as of the end of the last poll cycle. */
typedef struct rf_fold_part_stats {
    int32_t partition;
    int64_t next_offset;    /* durable next offset; -1 when nothing folded */
    int64_t high_watermark; /* last known high watermark; -1 unknown */
    int64_t end_offset;     /* high watermark at assignment (exit_at_end target) */
    int64_t lag;            /* high_watermark - next_offset (>= 0) */
    uint64_t head_seq;      /* last committed record seq */
    uint64_t outbox_seq;    /* last seq acknowledged by refold.ledger */
} rf_fold_part_stats_t;

/* Counters since rf_fold_worker_run started. consumed == sum(outcomes)
 * always: every folded offset has exactly one outcome. After a fatal error
 * the counts may include offsets of the batch that was then not committed. */
typedef struct rf_fold_stats {
    uint64_t consumed;
    uint64_t outcomes[RF_OUTCOME__COUNT];
    uint64_t batches;         /* poll cycles that committed at least one partition */
    uint64_t ledger_commits;  /* synced partition commits */
    uint64_t dlq_produced;    /* dead letters delivered to the DLQ topic */
    uint64_t outbox_sent;     /* records produced to refold.ledger (incl. republished) */
    uint64_t outbox_acked;    /* records acknowledged */
    uint64_t outbox_failed;   /* failed deliveries (republished later) */
    uint64_t rebalances;      /* assignments received */
    uint64_t elapsed_ns;      /* since run started */
    uint64_t assigned_ns;     /* since run started, when the first assignment came
                                 (0: none yet); rates count from there */
    uint64_t fold_ns;         /* thread time in rf_ledger_fold (summed over threads) */
    uint64_t commit_ns;       /* thread time in rf_ledger_commit (summed over threads) */
    rf_fold_hist_t commit_us; /* one partition's synced commit */
    rf_fold_hist_t cycle_us;  /* a cycle's durable phase: DLQ flush + every commit */
    bool at_end;              /* exit_at_end condition currently met */
    int nparts;               /* open partitions; once run returns, those open at its last cycle */
    rf_fold_part_stats_t parts[RF_PARTITIONS_MAX];
} rf_fold_stats_t;

/* Called on the worker's thread every stats_interval_ms (for --stats). */
typedef void(rf_fold_stats_cb_t)(const rf_fold_stats_t *stats, void *opaque);

/* Options. Strings (and kafka.x) are borrowed: they must outlive the worker.
 * rf_fold_worker_conf_init sets the defaults noted here. */
typedef struct rf_fold_worker_conf {
    rf_kafka_opts_t kafka;    /* brokers (required) and -X, applied to every client */
    const char *group;        /* consumer group ("refold-fold") */
    const char *data_dir;     /* required: ledgers under <data_dir>/fold/p-NNNN */
    const char *topic_events; /* RF_TOPIC_EVENTS */
    const char *topic_dlq;    /* RF_TOPIC_DLQ */
    const char *topic_ledger; /* RF_TOPIC_LEDGER */
    int batch_max;            /* messages per poll cycle, 1..RF_FOLD_BATCH_MAX */
    int batch_ms;             /* longest a cycle takes queued messages (it ends sooner
                                 when none are left), 1..RF_FOLD_BATCH_MS_MAX */
    bool exit_at_end;         /* return once every assigned partition reached the high
                                 watermark it had at assignment and the outbox drained */
    bool no_outbox;           /* do not publish to refold.ledger (benchmarks) */
    bool metrics;             /* count outcomes by reason and commit latency in
                                 rf_metrics (the process serves /metrics) */
    int ledger_flags;         /* extra rf_ledger flags: RF_LEDGER_NOSYNC (tests only) */
    int threads;              /* partitions folded and committed in parallel,
                                 1..RF_FOLD_THREADS_MAX; 0: one per online CPU */
    int npartitions;          /* > 0: assign exactly these partitions, no group
                                 membership (offsets are still committed to group) */
    int32_t partitions[RF_PARTITIONS_MAX];
    int stats_interval_ms; /* > 0: call stats_cb this often */
    rf_fold_stats_cb_t *stats_cb;
    void *stats_opaque;
} rf_fold_worker_conf_t;

void rf_fold_worker_conf_init(rf_fold_worker_conf_t *conf);

/* Validates conf and copies it (strings stay borrowed). Creates no client
 * yet. NULL with RF_ERR_CONFIG's message in eb. */
rf_fold_worker_t *rf_fold_worker_new(const rf_fold_worker_conf_t *conf, rf_errbuf_t *eb);

/* Runs the loop. Returns RF_OK after a stop request or at the end
 * (exit_at_end); a fatal error otherwise (RF_ERR_STORAGE, RF_ERR_GAP,
 * RF_ERR_KAFKA, RF_ERR_CONFIG, ...), in which case no offset past the last
 * durable batch of any partition was stored: a restart resumes from there. */
rf_err_t rf_fold_worker_run(rf_fold_worker_t *w, rf_errbuf_t *eb);

/* Asks run to finish the current cycle (commit it) and return. Any thread,
 * async-signal-safe, idempotent. */
void rf_fold_worker_stop(rf_fold_worker_t *w);

/* Copies the stats of the last completed cycle. Any thread. */
void rf_fold_worker_stats(rf_fold_worker_t *w, rf_fold_stats_t *out);

/* NULL is a no-op. Must not race with run. */
void rf_fold_worker_destroy(rf_fold_worker_t *w);

/* One line "consumed=N applied=N rejected=N duplicate=N dead_lettered=N
 * batches=N elapsed_s=F events_per_s=N commit_p50_us=N ..." (json: one JSON
 * object) into buf; for `refold fold` and the benchmark. */
void rf_fold_stats_format(const rf_fold_stats_t *st, bool json, char *buf, size_t cap);

/* ---- metrics (rf_fold_metrics.c, into common/rf_metrics.h) ---- */

/* Mirrors a fold worker's stats (rf_fold_worker_stats) into refold's metrics:
 * consumed, outcomes (reason ""), batches, commits, dead letters, outbox,
 * rebalances; per assigned partition consumer lag and head seq; outbox
 * backlog. Call it from a hook. Outcome counts by reason come from the worker
 * itself calling rf_metrics_fold_outcome per rejected / dead-lettered event. */
void rf_metrics_from_fold_stats(const rf_fold_stats_t *st);
/* Counts one folded offset under refold_events_total{outcome, reason}; reason
 * is the error code name (rf_err_str) for rejected and dead-lettered offsets,
 * "" otherwise: a bounded set. */
void rf_metrics_fold_outcome(rf_outcome_t outcome, rf_err_t err);

/* The trusted clock rf_ledger_fold gets for a consumed message (rf_ledger.h):
 * its Kafka timestamp (LogAppendTime or CreateTime, whichever the topic
 * keeps), or -1 when it has none or a negative one, which the fold bounds as
 * 0 (fail closed: such an event cannot move time). Never
 * RF_LEDGER_CLOCK_NONE: nothing a producer sends unbounds the fold. The
 * worker and a replay from Kafka share it, so both fold the same. */
struct rd_kafka_message_s;
int64_t rf_fold_message_clock(const struct rd_kafka_message_s *m);

#endif
