/* rf_conf.h: Kafka client options shared by every refold command: the
 * bootstrap brokers and any librdkafka property passed through with -X. */
#ifndef RF_CONF_H
#define RF_CONF_H

#include <librdkafka/rdkafka.h>

#include "rf_common.h"

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

/* Creates a librdkafka conf with bootstrap.servers, then every -X property in
 * order (so -X wins over refold's defaults set afterwards only when the caller
 * applies defaults first: call rf_kafka_conf_set for defaults BEFORE this).
 * Returns NULL with a message naming the bad property. The caller owns the
 * conf until it passes it to rd_kafka_new. */
rd_kafka_conf_t *rf_kafka_conf_new(const rf_kafka_opts_t *opts, rf_errbuf_t *eb);

/* Sets one property, translating librdkafka's error into rf_err_t. */
rf_err_t rf_kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
                           rf_errbuf_t *eb);

/* Applies opts (brokers then -X) to an existing conf. */
rf_err_t rf_kafka_conf_apply(rd_kafka_conf_t *conf, const rf_kafka_opts_t *opts, rf_errbuf_t *eb);

/* Routes librdkafka's logs through rf_log (set on a conf). */
void rf_kafka_conf_set_logger(rd_kafka_conf_t *conf);

#endif
