/* rf_broker.h: the embedded Kafka broker: librdkafka's mock cluster speaking
 * the real Kafka protocol on loopback, with refold's topics created.
 *
 * Limits (librdkafka 2.0.2): in memory only; each partition keeps the last
 * 5 MiB or 100,000 batches, so producers must not run ahead of consumers
 * (RF_MOCK_LAG_MAX); no CreateTopics, no ListOffsets by time, no transactions
 * semantics for read_committed; no topic configs, so no
 * message.timestamp.type=LogAppendTime: the mock keeps the batches as the
 * producer wrote them, and every message carries its producer's CreateTime
 * (the fold's trusted clock is then the producer's: docs/reliability.md,
 * "Event time"). docs/operations.md has the full list. */
#ifndef RF_BROKER_H
#define RF_BROKER_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "rf_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rf_broker rf_broker_t;

/* Starts a mock cluster with nbrokers brokers and refold's topics
 * (refold.events, refold.events.dlq, refold.ledger) with `partitions` each.
 * Thread safety: the cluster runs on its own threads; the handle is used
 * from one thread. */
rf_broker_t *rf_broker_start(int partitions, int nbrokers, rf_errbuf_t *eb);
/* "127.0.0.1:port,..." valid until rf_broker_stop. */
const char *rf_broker_bootstraps(const rf_broker_t *b);
/* For fault injection in tests. */
rd_kafka_mock_cluster_t *rf_broker_mock(rf_broker_t *b);
int rf_broker_partitions(const rf_broker_t *b);
void rf_broker_stop(rf_broker_t *b); /* NULL is a no-op */

#ifdef __cplusplus
}
#endif

#endif
