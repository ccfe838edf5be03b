/* rf_kafka.h: the Kafka edge: every librdkafka client refold makes is created
 * here, from the command's options (brokers and -X) and one policy per role. */
#ifndef RF_KAFKA_H
#define RF_KAFKA_H

#include <librdkafka/rdkafka.h>

#include "rf_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* At most this many -X properties on one command line. */
#define RF_CONF_X_MAX 64

/* Topic names (overridable with --topic-prefix in every command). */
#define RF_TOPIC_EVENTS "refold.events"
#define RF_TOPIC_DLQ    "refold.events.dlq"
#define RF_TOPIC_LEDGER "refold.ledger"

typedef struct rf_kafka_opts {
    const char *brokers;          /* bootstrap.servers; required */
    int nx;                       /* number of -X properties */
    const char *x[RF_CONF_X_MAX]; /* "name=value" strings, borrowed from argv */
} rf_kafka_opts_t;

/* Parses one "-X name=value" argument into opts (borrows the string).
 * Returns RF_ERR_CONFIG (message in eb) when it has no '=' or too many. */
rf_err_t rf_kafka_opts_add_x(rf_kafka_opts_t *opts, const char *nv, rf_errbuf_t *eb);

/* What a client is for. Each role has refold's defaults (performance:
 * fetch and batch sizes, linger, timeouts; -X overrides them) and forced
 * settings (correctness: offsets, delivery guarantees; -X cannot change
 * them). rf_kafka_forced_help lists a role's forced settings. */
typedef enum rf_kafka_role {
    RF_KAFKA_FOLD_CONSUMER,    /* fold worker: refold.events; offsets live in the ledger */
    RF_KAFKA_FOLD_DLQ,         /* fold worker: dead letters to refold.events.dlq */
    RF_KAFKA_FOLD_OUTBOX,      /* fold worker: ledger records to refold.ledger */
    RF_KAFKA_PROJECT_CONSUMER, /* projection worker: refold.ledger; offsets live in the store */
    RF_KAFKA_WEBHOOK_CONSUMER, /* webhook relay: refold.ledger; offsets live in its store */
    RF_KAFKA_EVENTS_PRODUCER,  /* producer library (emit, loadgen, apps): refold.events */
    RF_KAFKA_REDRIVE_PRODUCER, /* refold dlq redrive: dead letters back to refold.events */
    RF_KAFKA_REPLAY_READER,    /* refold replay from Kafka: assign() only, never commits */
    RF_KAFKA_DLQ_READER,       /* refold dlq list/show/redrive: assign() only, never commits */
    RF_KAFKA_LAG,              /* a group's lag: committed offsets and watermarks only */
    RF_KAFKA_MOCK_HOST,        /* hosts the embedded mock cluster: no brokers, no -X */
    RF_KAFKA_ROLE__COUNT
} rf_kafka_role_t;

/* A client to create (librdkafka's conf callbacks, chosen per role). The
 * caller owns the struct; nothing in it is kept after the call except
 * opaque, which every callback receives for the client's lifetime. */
typedef struct rf_kafka_client {
    rf_kafka_role_t role;
    const rf_kafka_opts_t *opts; /* brokers and -X; NULL only for RF_KAFKA_MOCK_HOST */
    /* group.id: required (and forced) for the fold, projection and lag roles;
     * NULL for the others, which use a fixed default -X may change */
    const char *group;
    void *opaque;
    void (*rebalance_cb)(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque);
    void (*offset_commit_cb)(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t *offsets, void *opaque);
    void (*dr_msg_cb)(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);
    void (*error_cb)(rd_kafka_t *rk, int err, const char *reason, void *opaque);
} rf_kafka_client_t;

/* The one policy, in this order:
 *   1. refold's defaults for the role,
 *   2. bootstrap.servers from opts->brokers, then every -X in order,
 *   3. the role's forced settings: a -X that changed one is overridden, with
 *      one warning through rf_log naming it.
 * Logs go through rf_log; the callbacks and opaque of spec are set. Returns
 * the conf (the caller owns it until librdkafka takes it), or NULL with
 * RF_ERR_CONFIG's message in eb naming the bad setting (or the missing
 * brokers). The constructors use it; tests read the result back. */
rd_kafka_conf_t *rf_kafka_conf_build(const rf_kafka_client_t *spec, rf_errbuf_t *eb);

/* Creates the client of spec (a consumer or a producer, by role) from
 * rf_kafka_conf_build's conf into *out. RF_ERR_CONFIG for a bad setting,
 * RF_ERR_KAFKA when librdkafka refuses the client, with a message in eb;
 * *out is NULL then. The caller destroys the client (consumers:
 * rd_kafka_consumer_close first when subscribed). */
rf_err_t rf_kafka_client_new(const rf_kafka_client_t *spec, rd_kafka_t **out, rf_errbuf_t *eb);

/* A role's forced settings, one per line with the reason, for a command's
 * --help. Static text, valid for the process's lifetime; thread safe. */
const char *rf_kafka_forced_help(rf_kafka_role_t role);

/* Sets one property, translating librdkafka's error into rf_err_t with a
 * message naming the property. */
rf_err_t rf_kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
                           rf_errbuf_t *eb);

/* Routes librdkafka's logs through rf_log (set on a conf). */
void rf_kafka_conf_set_logger(rd_kafka_conf_t *conf);

#ifdef __cplusplus
}
#endif

#endif
