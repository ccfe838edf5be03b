/* rf_producer.h: the C producer library for upstream apps: validate, encode
 * (Avro, Confluent framing) and publish refold events to Kafka, with
 * per-event delivery reports; plus PII-hash helpers (event ids are
 * schemas/rf_event.h's). Room producers/ (refold_producer_core): what apps
 * link to publish, installed as librefold with <refold/rf_producer.h>
 * (docs/c-library.md); its Kafka client comes from the Kafka edge.
 *
 * Modelled on librdkafka's producer: a conf struct, an opaque handle, an
 * asynchronous emit whose result arrives later in a delivery callback served
 * by rf_producer_poll / rf_producer_flush, and flush before destroy.
 *
 *     rf_producer_conf_t conf;
 *     rf_producer_conf_init(&conf);
 *     conf.kafka.brokers = "127.0.0.1:9092";
 *     conf.on_delivery = my_dr;                // optional
 *     rf_errbuf_t eb;
 *     rf_producer_t *p = rf_producer_new(&conf, &eb);
 *     rf_event_t ev;
 *     rf_event_purchase(&ev, "p1", "order-17", "user-9", 4599, "USD", "", &eb);
 *     rf_pii_hash(secret, card_fingerprint, ev.payment_hash);
 *     rf_producer_emit(p, &ev, NULL, &eb);     // RF_ERR_RETRY: queue full, poll + retry
 *     rf_producer_flush(p, 10000, &eb);
 *     rf_producer_destroy(p);
 *
 * Delivery: the Kafka key is the program id, so all events of a program land
 * in one partition in emit order (the idempotent producer keeps that order
 * across retries). The partitioner is murmur2_random (the Java client's
 * default), so apps using other Kafka clients put a program's events in the
 * same partition.
 *
 * Thread safety: one rf_producer_t is used by one thread at a time; the
 * delivery callback runs on the thread that calls emit, poll or flush. */
#ifndef RF_PRODUCER_H
#define RF_PRODUCER_H

#include <stdint.h>

#include "rf_common.h"
#include "rf_kafka.h"
#include "rf_event.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rf_producer rf_producer_t;

/* One event's delivery result; every string is valid only during the
 * callback. */
typedef struct rf_delivery {
    const char *event_id;   /* read back from the encoded message */
    const char *program_id; /* the message key */
    int32_t partition;      /* -1 when not delivered */
    int64_t offset;         /* -1 when not delivered */
    rf_err_t err;           /* RF_OK, RF_ERR_TIMEOUT (message.timeout.ms) or RF_ERR_KAFKA */
    const char *errmsg;     /* librdkafka's reason; "" when delivered */
    void *msg_opaque;       /* as given to rf_producer_emit */
} rf_delivery_t;

typedef void(rf_delivery_cb_t)(const rf_delivery_t *d, void *opaque);

typedef struct rf_producer_conf {
    rf_kafka_opts_t kafka;         /* brokers (required) and -X properties, applied
                                    * after refold's defaults so they override them
                                    * (not the forced ones: rf_producer_new) */
    const char *topic;             /* NULL: RF_TOPIC_EVENTS */
    int32_t schema_id;             /* writer schema; 0: RF_SCHEMA_ID_EVENT */
    rf_delivery_cb_t *on_delivery; /* NULL: results only counted in the stats */
    void *opaque;                  /* passed to on_delivery */
    bool event_time_stamps;        /* message timestamp = occurred_at, not the wall
                                    * clock: for backfills and synthetic history
                                    * (loadgen, the demo), whose event times may run
                                    * ahead of today; the fold bounds event time by the
                                    * message timestamp (docs/reliability.md). A topic
                                    * with LogAppendTime ignores it, as it should. */
} rf_producer_conf_t;

/* Zeroes conf (no brokers, default topic and schema, no callback). */
void rf_producer_conf_init(rf_producer_conf_t *conf);

/* Creates a producer (rf_kafka.h, RF_KAFKA_EVENTS_PRODUCER). refold's
 * defaults (before -X, which overrides them): partitioner=murmur2_random,
 * linger.ms=10, batch.num.messages=10000, batch.size=1000000,
 * compression.codec=none. Forced (after -X, which cannot change them: the
 * fold depends on each partition's events arriving once and in order):
 * enable.idempotence=true, acks=all.
 * conf is copied; its strings (brokers, -X, topic) must outlive the producer.
 * NULL on failure with RF_ERR_CONFIG/RF_ERR_KAFKA's message in eb. */
rf_producer_t *rf_producer_new(const rf_producer_conf_t *conf, rf_errbuf_t *eb);

/* Destroys the producer without waiting: messages still queued are purged
 * and reported as failed to the delivery callback. Call rf_producer_flush
 * first. NULL is a no-op. */
void rf_producer_destroy(rf_producer_t *p);

/* Validates and encodes ev, then queues it for topic with key = program id.
 * msg_opaque comes back in the delivery report. Returns:
 *   RF_OK             queued; the delivery callback reports the outcome
 *   RF_ERR_BAD_INPUT  (or another bad-input code such as RF_ERR_OVERSIZE) the
 *                     event is invalid; eb names the field; nothing queued
 *   RF_ERR_RETRY      the local queue stayed full after polling for about
 *                     RF_PRODUCER_FULL_WAIT_MS; poll or flush, then emit again
 *   RF_ERR_KAFKA      the producer failed fatally (e.g. idempotence state lost)
 * Serves due delivery callbacks (non-blocking) as a side effect. */
rf_err_t rf_producer_emit(rf_producer_t *p, const rf_event_t *ev, void *msg_opaque,
                          rf_errbuf_t *eb);

/* Serves delivery callbacks, waiting up to timeout_ms for the first one.
 * Returns the number of events served. */
int rf_producer_poll(rf_producer_t *p, int timeout_ms);

/* Waits until every queued event has a delivery report (served through the
 * callback) or timeout_ms passes: RF_ERR_TIMEOUT then, with the count of
 * events still in flight in eb. */
rf_err_t rf_producer_flush(rf_producer_t *p, int timeout_ms, rf_errbuf_t *eb);

/* Events queued or in flight (not yet reported), plus librdkafka events
 * (errors, logs) not yet served: an upper bound (rd_kafka_outq_len). */
int rf_producer_outq_len(rf_producer_t *p);

typedef struct rf_producer_stats {
    uint64_t emitted;   /* accepted by rf_producer_emit */
    uint64_t delivered; /* acknowledged by the broker */
    uint64_t failed;    /* reported with an error */
    uint64_t bytes;     /* encoded bytes accepted (framing included) */
} rf_producer_stats_t;
void rf_producer_stats(const rf_producer_t *p, rf_producer_stats_t *out);

/* The underlying librdkafka handle, for advanced use (metadata, watermarks);
 * owned by the producer. */
rd_kafka_t *rf_producer_kafka(rf_producer_t *p);

/* HMAC-SHA256(secret, value) as 64 lowercase hex digits: how PII (email, IP,
 * device and payment fingerprints) travels. The secret is per program or per
 * app and never leaves the app. out gets 64 characters and a NUL. */
void rf_pii_hash(const char *secret, const char *value, char out[RF_HASH_HEX_LEN + 1]);

/* rf_pii_hash of an email address trimmed of surrounding blanks and
 * lowercased, so "Ann@Example.com " and "ann@example.com" hash alike.
 * RF_ERR_BAD_INPUT when the address is longer than 320 bytes. */
rf_err_t rf_pii_hash_email(const char *secret, const char *email, char out[RF_HASH_HEX_LEN + 1],
                           rf_errbuf_t *eb);

/* Convenience constructors: clear ev, set the type, a new event id
 * (rf_event_id_new), occurred_at = now (wall clock) and the given fields.
 * Optional fields take "" or NULL; hashes and source are set afterwards by
 * the caller. RF_ERR_BAD_INPUT when a string does not fit its field; the
 * event is validated in full by rf_producer_emit. */
rf_err_t rf_event_begin(rf_event_t *ev, rf_event_type_t type, const char *program_id,
                        rf_errbuf_t *eb);
rf_err_t rf_event_program_configured(rf_event_t *ev, const char *program_id, int32_t version,
                                     const char *rules_json, rf_errbuf_t *eb);
rf_err_t rf_event_code_issued(rf_event_t *ev, const char *program_id, const char *referrer,
                              const char *code, rf_errbuf_t *eb);
rf_err_t rf_event_share(rf_event_t *ev, const char *program_id, const char *referrer,
                        const char *channel, rf_errbuf_t *eb);
rf_err_t rf_event_click(rf_event_t *ev, const char *program_id, const char *code,
                        const char *visitor, rf_errbuf_t *eb);
rf_err_t rf_event_signup(rf_event_t *ev, const char *program_id, const char *user, const char *code,
                         const char *visitor, rf_errbuf_t *eb);
rf_err_t rf_event_purchase(rf_event_t *ev, const char *program_id, const char *order_id,
                           const char *user, int64_t amount_minor, const char *currency,
                           const char *code, rf_errbuf_t *eb);
rf_err_t rf_event_refund(rf_event_t *ev, const char *program_id, const char *order_id,
                         int64_t amount_minor, const char *currency, rf_errbuf_t *eb);
rf_err_t rf_event_redemption(rf_event_t *ev, const char *program_id, const char *user,
                             int64_t amount_minor, const char *asset, const char *request_id,
                             rf_errbuf_t *eb);
rf_err_t rf_event_review_decision(rf_event_t *ev, const char *program_id, const char *user,
                                  bool approve, const char *reviewer, const char *reason,
                                  rf_errbuf_t *eb);
rf_err_t rf_event_adjustment(rf_event_t *ev, const char *program_id, const char *user,
                             int64_t amount_minor, const char *asset, const char *reason,
                             const char *actor, rf_errbuf_t *eb);
rf_err_t rf_event_clock(rf_event_t *ev, const char *program_id, rf_errbuf_t *eb);

#ifdef __cplusplus
}
#endif

#endif
