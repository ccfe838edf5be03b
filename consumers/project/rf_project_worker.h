/* rf_project_worker.h: the projection worker: a consumer of refold.ledger
 * (consumer group) that applies each partition's records to its projection
 * store (rf_project.h) on a pool of threads, committing the ledger offset
 * with the read models. The Kafka side of the projection room; the stores
 * and read models (rf_project.h) know nothing of Kafka. */
#ifndef RF_PROJECT_WORKER_H
#define RF_PROJECT_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "rf_common.h"
#include "rf_kafka.h"
#include "rf_limits.h"
#include "rf_project.h"

/* ---- the worker ----------------------------------------------------------- */

typedef struct rf_project_opts {
    rf_kafka_opts_t kafka; /* brokers and -X properties (borrowed) */
    const char *group;     /* consumer group; NULL: "refold-project" */
    const char *topic;     /* NULL: refold.ledger */
    const char *data_dir;  /* required */
    bool exit_at_end;      /* return once every assigned partition reached the
                            * high watermark it had when it was assigned */
    bool nosync;           /* tests/bench only */
    bool replica;          /* read replica: assign() every partition of the
                            * topic (its count from metadata), no group
                            * membership, no broker commits; every serving
                            * host answers every query (docs/operations.md,
                            * "Several hosts"). group is then unused. */
    int threads;           /* partitions applied in parallel; 0: online CPUs
                            * (at most RF_PROJECT_THREADS_MAX) */
    int commit_ms;         /* 0: every partition commits every poll cycle
                            * (freshest reads). N > 0: a partition commits once
                            * RF_PROJECT_BATCH_MAX records are pending or its
                            * oldest pending record is N ms old: bigger batches
                            * write each hot key once for more records, reads are
                            * up to N ms staler. At most RF_PROJECT_COMMIT_MS_MAX. */
} rf_project_opts_t;

typedef struct rf_project_part_stats {
    int32_t partition;
    bool assigned;
    uint64_t applied_seq;
    int64_t next_offset;    /* position in refold.ledger */
    int64_t high_watermark; /* -1 unknown */
    int64_t lag;            /* high_watermark - next_offset (messages); -1 unknown */
} rf_project_part_stats_t;

typedef struct rf_project_stats {
    bool running;
    rf_err_t err; /* why the worker stopped (RF_OK: stop or end) */
    char errmsg[RF_ERRMSG_MAX];
    uint64_t records;       /* applied since start */
    uint64_t duplicates;    /* dropped since start */
    uint64_t commits;       /* partition commits since start */
    uint64_t commit_ns_max; /* slowest partition commit */
    uint64_t commit_ns;     /* all partition commits (wall, summed over threads) */
    int nparts;             /* entries in parts (partitions ever assigned) */
    rf_project_part_stats_t parts[RF_PARTITIONS_MAX];
} rf_project_stats_t;

typedef struct rf_project_worker rf_project_worker_t;

/* Creates the consumer (no network yet). NULL with a message on bad options. */
rf_project_worker_t *rf_project_worker_new(const rf_project_opts_t *opts, rf_errbuf_t *eb);
/* Runs the poll loop on the calling thread until rf_project_worker_stop, the
 * end (exit_at_end) or a fatal error (RF_ERR_GAP, RF_ERR_STORAGE, ...), which
 * it returns with a message. Stored state is always a committed batch. */
rf_err_t rf_project_worker_run(rf_project_worker_t *w, rf_errbuf_t *eb);
/* Asks run to return after the current cycle. Thread and signal safe. */
void rf_project_worker_stop(rf_project_worker_t *w);
/* Copies the stats (thread safe: call from any thread while run runs). */
void rf_project_worker_stats(rf_project_worker_t *w, rf_project_stats_t *out);
/* Destroys (after run returned). NULL is a no-op. */
void rf_project_worker_destroy(rf_project_worker_t *w);

/* ---- metrics (rf_project_metrics.c, into common/rf_metrics.h) ---- */

/* Mirrors a projection worker's stats: records, duplicates, lag and applied
 * seq per partition. */
void rf_metrics_from_project_stats(const rf_project_stats_t *st);

#endif
