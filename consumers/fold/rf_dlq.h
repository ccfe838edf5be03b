/* rf_dlq.h: the dead-letter topic from the outside (refold dlq): read the
 * dead letters the fold worker wrote (rf_fold_dlq.c) and republish chosen ones
 * to the events topic. No printing: results go to callbacks and rf_err_t. */
#ifndef RF_DLQ_H
#define RF_DLQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rf_common.h"
#include "rf_kafka.h"

/* A dead letter's address in the DLQ topic. */
typedef struct rf_dlq_pos {
    int32_t partition;
    int64_t offset;
} rf_dlq_pos_t;

/* One dead letter as read. Borrowed: valid during the callback only. The
 * header values (written by the fold worker, docs/fold-worker.md "DLQ
 * format") are "" when missing and truncated to fit. */
typedef struct rf_dlq_letter {
    rf_dlq_pos_t pos; /* in the DLQ topic */
    const void *key;  /* the original key (the program id); NULL: none */
    size_t key_len;
    const void *payload; /* the original bytes */
    size_t len;
    char reason[RF_ERRMSG_MAX]; /* refold.reason */
    char error[64];             /* refold.error: rf_err_str of the fold's error */
    char src_part[16];          /* refold.partition: where it was in the events topic */
    char src_off[24];           /* refold.offset */
    char event_id[64];          /* refold.event_id: "" when the bytes did not decode */
    char program[80];           /* refold.program_id */
} rf_dlq_letter_t;

/* Called per dead letter in topic order per partition; non-zero stops. */
typedef int(rf_dlq_letter_cb_t)(const rf_dlq_letter_t *d, void *opaque);

/* Reads topic (the DLQ) through kafka (brokers, -X; rf_kafka.h's
 * RF_KAFKA_DLQ_READER: never commits) up to each partition's high watermark
 * at start, calling cb for the letters at pos[0..n) or every letter (n < 0).
 * RF_ERR_NOT_FOUND when a position is not in the topic, RF_ERR_TIMEOUT when
 * the topic stops delivering for RF_REPLAY_IDLE_MS, RF_ERR_KAFKA (or
 * RF_ERR_CONFIG) otherwise; message in eb. */
rf_err_t rf_dlq_read(const rf_kafka_opts_t *kafka, const char *topic, const rf_dlq_pos_t *pos,
                     int n, rf_dlq_letter_cb_t *cb, void *opaque, rf_errbuf_t *eb);

/* ---- redrive ---- */

typedef struct rf_dlq_redriver rf_dlq_redriver_t;

/* The outcome of one republished event: where it landed, or why not. */
typedef struct rf_dlq_delivery {
    int32_t partition;  /* in the events topic; -1 on failure */
    int64_t offset;     /* -1 on failure */
    rf_err_t err;       /* RF_OK or RF_ERR_KAFKA */
    const char *errmsg; /* "" on success; valid during the callback */
} rf_dlq_delivery_t;

/* Called once per republished event, from rf_dlq_redrive or
 * rf_dlq_redriver_flush (the caller's thread). */
typedef void(rf_dlq_delivery_cb_t)(const rf_dlq_delivery_t *d, void *opaque);

typedef struct rf_dlq_counts {
    uint64_t queued, delivered, failed;
} rf_dlq_counts_t;

/* A producer to topic (the events topic) through kafka (RF_KAFKA_REDRIVE_PRODUCER:
 * idempotent, acks=all, key-hashed like the producer library). kafka and topic
 * must outlive the redriver. NULL with a message in eb on failure. */
rf_dlq_redriver_t *rf_dlq_redriver_new(const rf_kafka_opts_t *kafka, const char *topic,
                                       rf_dlq_delivery_cb_t *cb, void *opaque, rf_errbuf_t *eb);

/* Queues one event (key, val) redriven from the dead letter at from, with
 * header refold.redriven_from = "P:O". Waits up to about 10 s for
 * room in a full queue. RF_ERR_KAFKA with a message in eb when it cannot. */
rf_err_t rf_dlq_redrive(rf_dlq_redriver_t *r, const rf_dlq_pos_t *from, const void *key,
                        size_t klen, const void *val, size_t vlen, rf_errbuf_t *eb);

/* Waits up to timeout_ms for every queued event's delivery report.
 * RF_ERR_TIMEOUT (message in eb) when some are still unacknowledged. */
rf_err_t rf_dlq_redriver_flush(rf_dlq_redriver_t *r, int timeout_ms, rf_errbuf_t *eb);

/* Events queued, delivered and failed so far (all zero for NULL). */
rf_dlq_counts_t rf_dlq_redriver_counts(const rf_dlq_redriver_t *r);

/* Destroys the producer without waiting (flush first). NULL is a no-op. */
void rf_dlq_redriver_destroy(rf_dlq_redriver_t *r);

#endif
