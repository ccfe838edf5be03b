/* rf_fold_internal.h: the fold worker's private state, shared by its files
 * (rf_fold_worker.c: loop and rebalances, rf_fold_outbox.c, rf_fold_dlq.c). */
#ifndef RF_FOLD_INTERNAL_H
#define RF_FOLD_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include <librdkafka/rdkafka.h>

#include "rf_codec.h"
#include "rf_fold_worker.h"

#define RF_FOLD_OB_WORDS (RF_FOLD_OUTBOX_INFLIGHT_MAX / 64)

/* One assigned partition. Owned by the worker thread. */
typedef struct rf_fold_part {
    int32_t partition;
    uint8_t gen; /* bumped on every open: tells stale delivery reports */
    rf_ledger_t *ledger;
    int64_t next_offset;    /* offset of the next message to fold (-1: expect 0) */
    int64_t durable_offset; /* next offset stored by the last commit (-1: none) */
    int64_t end_offset;     /* high watermark at assignment */
    int64_t low_offset;     /* low watermark at assignment */
    uint32_t dirty;         /* offsets folded into the open batch */
    uint64_t head_seq;      /* committed head */
    /* outbox: acked <= stored ack, acked <= sent <= head_seq */
    uint64_t ob_acked;  /* contiguous acknowledged prefix */
    uint64_t ob_stored; /* ack value last given to rf_ledger_outbox_ack */
    uint64_t ob_sent;   /* last seq produced */
    uint32_t ob_inflight;
    bool ob_failed;                     /* a delivery failed: rewind once in-flight drains */
    int ob_fail_rounds;                 /* rewinds in a row without an acknowledgement */
    uint64_t ob_bits[RF_FOLD_OB_WORDS]; /* acks above ob_acked, by seq % window */
    /* stale store: refold.ledger already holds seq hold_seq (hash hold_hash)
     * from another owner; nothing is published until the local record
     * hold_seq is folded and equal to it (rf__fold_outbox_hold) */
    uint64_t hold_seq;
    uint8_t hold_hash[32];
    /* this cycle: queued messages (indexes into w->msgs, chained by w->next)
     * and the result of the job a pool thread ran on the partition */
    int32_t q_head, q_tail;
    uint32_t queued;
    rf_err_t job_err;
    rf_errbuf_t job_eb;
    uint64_t job_ns;
} rf_fold_part_t;

typedef struct rf_fold_pool rf_fold_pool_t;
typedef void(rf__fold_job_fn)(rf_fold_worker_t *w, rf_fold_part_t *p);
/* nthreads helper threads (0: the caller does everything). */
rf_fold_pool_t *rf__fold_pool_new(int nthreads);
/* Runs fn on each of parts, on the helpers and the calling thread. */
void rf__fold_pool_run(rf_fold_pool_t *pool, rf_fold_worker_t *w, rf_fold_part_t *const *parts,
                       int n, rf__fold_job_fn *fn);
void rf__fold_pool_destroy(rf_fold_pool_t *pool); /* NULL is a no-op */

struct rf_fold_worker {
    rf_fold_worker_conf_t conf;
    rd_kafka_t *consumer;
    rd_kafka_t *dlq;    /* producer for dead letters */
    rd_kafka_t *outbox; /* idempotent producer for refold.ledger (NULL: --no-outbox) */
    /* reads refold.ledger's last record of each partition at assignment */
    rd_kafka_t *tail_reader;
    rf_record_t *tail_rec;
    rf_codec_t *codec;
    rf_event_t *ev;  /* scratch for decoding dead letters' event ids */
    uint8_t *recbuf; /* scratch for encoding records (RF_RECORD_BYTES_MAX) */
    rf_fold_pool_t *pool;
    rf_store_env_t *store_env; /* the ledgers' block cache and memtable budget */

    /* the cycle's messages in poll order; next[i] chains a partition's */
    rd_kafka_message_t **msgs;
    int32_t *next;
    rf_fold_result_t *res; /* res[i].outcome == RF_OUTCOME__COUNT: not folded */
    int nmsgs;

    rf_fold_part_t *parts[RF_PARTITIONS_MAX]; /* by partition number; NULL unassigned */
    uint8_t gens[RF_PARTITIONS_MAX];

    /* dead letters in flight (delivery reports on the worker thread) */
    uint64_t dlq_pending;
    uint64_t dlq_failed;
    char dlq_error[RF_ERRMSG_MAX];
    int dlq_timeout_ms; /* the DLQ producer's effective message.timeout.ms */
    bool assigned;      /* holds an assignment (possibly empty) right now */

    /* first fatal error; once set nothing more is committed */
    rf_err_t err;
    rf_errbuf_t eb;

    atomic_int stop;
    bool ran;
    uint64_t start_ns;
    uint64_t last_stats_ns;

    rf_fold_stats_t st; /* live, worker thread only */
    pthread_mutex_t snap_lock;
    rf_fold_stats_t snap; /* copy for rf_fold_worker_stats */
};

/* The poll cycle (rf_fold_cycle.c). */
rf_err_t rf__fold_poll_cycle(rf_fold_worker_t *w);
/* Commits the open batches of parts (dead letters acknowledged first) on the
 * pool, then asks the broker to record their offsets. */
rf_err_t rf__fold_commit_parts(rf_fold_worker_t *w, rf_fold_part_t *const *parts, int n);
/* Destroys the cycle's queued messages (folded or not). */
void rf__fold_drop_queued(rf_fold_worker_t *w);
bool rf__fold_at_end(rf_fold_worker_t *w);
void rf__fold_publish_stats(rf_fold_worker_t *w);
bool rf__fold_stopping(rf_fold_worker_t *w);
/* The assigned parts in tl (all when NULL) into out; returns the count. */
int rf__fold_collect_parts(rf_fold_worker_t *w, const rd_kafka_topic_partition_list_t *tl,
                           rf_fold_part_t **out);

/* Records the first fatal error (later ones only log) and returns it. */
rf_err_t rf__fold_fail(rf_fold_worker_t *w, rf_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* DLQ (rf_fold_dlq.c) */
/* Creates the DLQ producer of spec (the worker's -X and error callback). */
rf_err_t rf__fold_dlq_init(rf_fold_worker_t *w, rf_kafka_client_t *spec);
rf_err_t rf__fold_dlq_send(rf_fold_worker_t *w, const rd_kafka_message_t *m,
                           const rf_fold_result_t *res);
/* Waits until every dead letter is acknowledged; a fatal error if one failed. */
rf_err_t rf__fold_dlq_wait(rf_fold_worker_t *w);

/* Outbox (rf_fold_outbox.c) */
/* Creates the outbox producer of spec (the worker's -X and error callback). */
rf_err_t rf__fold_outbox_init(rf_fold_worker_t *w, rf_kafka_client_t *spec);
void rf__fold_outbox_open(rf_fold_worker_t *w, rf_fold_part_t *p, uint64_t acked_seq);
/* Publishes what each partition may (bounded in-flight) and serves reports. */
rf_err_t rf__fold_outbox_pump(rf_fold_worker_t *w);
/* True while p's outbox is held (a stale store catching up); releases the
 * hold once the local record hold_seq matches refold.ledger's, fails the
 * worker (RF_ERR_CORRUPT) when it differs. rf_fold_worker.c. */
bool rf__fold_outbox_held(rf_fold_worker_t *w, rf_fold_part_t *p);
/* Stages the acknowledged seq of p into its ledger when it advanced. Safe
 * on a pool thread: reports only through eb. */
rf_err_t rf__fold_outbox_store(rf_fold_worker_t *w, rf_fold_part_t *p, rf_errbuf_t *eb);
/* Serves delivery reports until parts (NULL: all) have nothing in flight or
 * timeout_ms passed. */
void rf__fold_outbox_drain(rf_fold_worker_t *w, rf_fold_part_t *const *parts, int n,
                           int timeout_ms);
bool rf__fold_outbox_drained(const rf_fold_worker_t *w);

#endif
