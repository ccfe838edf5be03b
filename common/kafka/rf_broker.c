/* rf_broker.c: the embedded broker (librdkafka mock cluster, rf_broker.h). */
#include "rf_broker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rf_kafka.h"
#include "rf_limits.h"

struct rf_broker {
    rd_kafka_t *rk; /* owns the mock cluster */
    rd_kafka_mock_cluster_t *mock;
    int partitions;
};

rf_broker_t *rf_broker_start(int partitions, int nbrokers, rf_errbuf_t *eb)
{
    if (partitions < 1 || partitions > RF_PARTITIONS_MAX) {
        rf_errf(eb, RF_ERR_CONFIG, "partitions must be 1..%d, not %d", RF_PARTITIONS_MAX,
                partitions);
        return NULL;
    }
    if (nbrokers < 1 || nbrokers > 16) {
        rf_errf(eb, RF_ERR_CONFIG, "brokers must be 1..16, not %d", nbrokers);
        return NULL;
    }
    rf_kafka_client_t spec = {.role = RF_KAFKA_MOCK_HOST};
    rd_kafka_t *rk = NULL;
    if (rf_kafka_client_new(&spec, &rk, eb) != RF_OK) return NULL;
    rd_kafka_mock_cluster_t *mock = rd_kafka_mock_cluster_new(rk, nbrokers);
    if (!mock) {
        rd_kafka_destroy(rk);
        rf_errf(eb, RF_ERR_KAFKA, "cannot start the mock cluster");
        return NULL;
    }
    /* librdkafka 2.0.2's mock has no topic configs: it stores the producer's
     * record batches as they came (rd_kafka_mock_partition_log_append), so
     * LogAppendTime cannot be set here; timestamps are CreateTime (rf_broker.h) */
    const char *topics[] = {RF_TOPIC_EVENTS, RF_TOPIC_DLQ, RF_TOPIC_LEDGER};
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++) {
        rd_kafka_resp_err_t err =
            rd_kafka_mock_topic_create(mock, topics[i], partitions, nbrokers < 3 ? nbrokers : 3);
        if (err) {
            rd_kafka_mock_cluster_destroy(mock);
            rd_kafka_destroy(rk);
            rf_errf(eb, RF_ERR_KAFKA, "cannot create topic '%s': %s", topics[i],
                    rd_kafka_err2str(err));
            return NULL;
        }
    }
    rf_broker_t *b = calloc(1, sizeof *b);
    RF_ASSERT(b);
    b->rk = rk;
    b->mock = mock;
    b->partitions = partitions;
    return b;
}

const char *rf_broker_bootstraps(const rf_broker_t *b)
{
    return rd_kafka_mock_cluster_bootstraps(b->mock);
}
rd_kafka_mock_cluster_t *rf_broker_mock(rf_broker_t *b)
{
    return b->mock;
}
int rf_broker_partitions(const rf_broker_t *b)
{
    return b->partitions;
}

void rf_broker_stop(rf_broker_t *b)
{
    if (!b) return;
    rd_kafka_mock_cluster_destroy(b->mock);
    rd_kafka_destroy(b->rk);
    free(b);
}
