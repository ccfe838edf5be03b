/* rf_lag.h: consumer-group lag of a topic from the outside: committed
 * offsets of the group versus each partition's high watermark. Used by
 * loadgen to throttle against the embedded broker's retention, and usable
 * for lag monitoring (the mock broker has no DescribeGroups / ListGroups).
 *
 * It opens a consumer handle with the group's group.id but never subscribes
 * or joins: it only calls rd_kafka_committed and watermark queries, so it
 * does not disturb the group's members.
 *
 * Thread safety: one thread per rf_lag_t. */
#ifndef RF_LAG_H
#define RF_LAG_H

#include <stdbool.h>
#include <stdint.h>

#include "rf_common.h"
#include "rf_kafka.h"
#include "rf_limits.h"

typedef struct rf_lag rf_lag_t;

typedef struct rf_lag_sample {
    int partitions;
    bool any_committed;    /* the group has committed at least one partition */
    int64_t committed_sum; /* sum of committed offsets (progress measure) */
    int64_t max_lag;       /* largest unconsumed count of a partition */
    int max_partition;     /* the partition with max_lag */
    int64_t total_lag;
    /* Per partition: high watermark - committed offset, or - low watermark
     * when the group has not committed it. */
    int64_t lag[RF_PARTITIONS_MAX];
} rf_lag_sample_t;

/* Opens the handle (opts: brokers and -X) for group and topic. NULL with
 * the reason in eb when the topic does not exist or has too many partitions. */
rf_lag_t *rf_lag_new(const rf_kafka_opts_t *opts, const char *group, const char *topic,
                     rf_errbuf_t *eb);
void rf_lag_destroy(rf_lag_t *l); /* NULL is a no-op */

/* Measures the lag now (one OffsetFetch, one ListOffsets per partition).
 * RF_ERR_TIMEOUT/RF_ERR_KAFKA with eb when the broker does not answer
 * within timeout_ms. */
rf_err_t rf_lag_measure(rf_lag_t *l, int timeout_ms, rf_lag_sample_t *out, rf_errbuf_t *eb);

#endif
