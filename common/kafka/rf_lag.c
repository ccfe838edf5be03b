/* rf_lag.c: consumer-group lag from committed offsets and watermarks (see
 * rf_lag.h). */
#include "rf_lag.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct rf_lag {
    rd_kafka_t *rk;
    rd_kafka_topic_partition_list_t *parts;
    char topic[256];
    int partitions;
};

static int topic_partitions(rd_kafka_t *rk, const char *topic, rf_errbuf_t *eb)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    if (!t) return rf_errf(eb, RF_ERR_KAFKA, "cannot open topic '%s'", topic), -1;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, t, &md, 10000);
    rd_kafka_topic_destroy(t);
    if (err)
        return rf_errf(eb, RF_ERR_KAFKA, "metadata of '%s': %s", topic, rd_kafka_err2str(err)), -1;
    int n = -1;
    if (md->topic_cnt != 1 || md->topics[0].err)
        rf_errf(eb, RF_ERR_KAFKA, "topic '%s': %s", topic,
                rd_kafka_err2str(md->topic_cnt ? md->topics[0].err
                                               : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART));
    else if (md->topics[0].partition_cnt < 1 || md->topics[0].partition_cnt > RF_PARTITIONS_MAX)
        rf_errf(eb, RF_ERR_KAFKA, "topic '%s' has %d partitions (1..%d supported)", topic,
                md->topics[0].partition_cnt, RF_PARTITIONS_MAX);
    else
        n = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    return n;
}

rf_lag_t *rf_lag_new(const rf_kafka_opts_t *opts, const char *group, const char *topic,
                     rf_errbuf_t *eb)
{
    RF_ASSERT(opts && group && topic);
    rf_lag_t *l = calloc(1, sizeof *l);
    if (!l || rf_strlcpy(l->topic, topic, sizeof l->topic) != RF_OK) {
        free(l);
        rf_errf(eb, RF_ERR_CONFIG, "cannot watch topic '%s'", topic);
        return NULL;
    }
    rf_kafka_client_t spec = {.role = RF_KAFKA_LAG, .opts = opts, .group = group};
    if (rf_kafka_client_new(&spec, &l->rk, eb) != RF_OK) {
        free(l);
        return NULL;
    }
    if ((l->partitions = topic_partitions(l->rk, topic, eb)) < 0) {
        rf_lag_destroy(l);
        return NULL;
    }
    l->parts = rd_kafka_topic_partition_list_new(l->partitions);
    for (int p = 0; p < l->partitions; p++)
        rd_kafka_topic_partition_list_add(l->parts, topic, p);
    return l;
}

void rf_lag_destroy(rf_lag_t *l)
{
    if (!l) return;
    if (l->parts) rd_kafka_topic_partition_list_destroy(l->parts);
    /* Never subscribed: no consumer_close handshake needed, destroy is enough. */
    if (l->rk) rd_kafka_destroy(l->rk);
    free(l);
}

/* rd_kafka_committed, retried while the group coordinator is being found. */
static rf_err_t fetch_committed(rf_lag_t *l, int timeout_ms, rf_errbuf_t *eb)
{
    uint64_t deadline = rf_now_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        for (int i = 0; i < l->parts->cnt; i++)
            l->parts->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
        rd_kafka_resp_err_t err = rd_kafka_committed(l->rk, l->parts, timeout_ms);
        if (!err) return RF_OK;
        bool transient = err == RD_KAFKA_RESP_ERR__WAIT_COORD ||
                         err == RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS ||
                         err == RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE ||
                         err == RD_KAFKA_RESP_ERR_NOT_COORDINATOR ||
                         err == RD_KAFKA_RESP_ERR__TRANSPORT;
        if (!transient || rf_now_ns() >= deadline)
            return rf_errf(eb, err == RD_KAFKA_RESP_ERR__TIMED_OUT ? RF_ERR_TIMEOUT : RF_ERR_KAFKA,
                           "committed offsets: %s", rd_kafka_err2str(err));
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

rf_err_t rf_lag_measure(rf_lag_t *l, int timeout_ms, rf_lag_sample_t *out, rf_errbuf_t *eb)
{
    RF_ASSERT(l && out);
    RF_ASSERT(l->parts->cnt == l->partitions);
    rf_err_t err = fetch_committed(l, timeout_ms, eb);
    if (err != RF_OK) return err;
    memset(out, 0, offsetof(rf_lag_sample_t, lag));
    out->partitions = l->partitions;
    out->max_partition = 0;
    for (int p = 0; p < l->partitions; p++) {
        int64_t lo = 0, hi = 0, committed = l->parts->elems[p].offset;
        rd_kafka_resp_err_t kerr =
            rd_kafka_query_watermark_offsets(l->rk, l->topic, p, &lo, &hi, timeout_ms);
        if (kerr)
            return rf_errf(eb, RF_ERR_KAFKA, "watermarks of %s [%d]: %s", l->topic, p,
                           rd_kafka_err2str(kerr));
        if (committed >= 0) {
            out->any_committed = true;
            out->committed_sum += committed;
        }
        int64_t lag = hi - (committed >= 0 ? committed : lo);
        out->lag[p] = lag < 0 ? 0 : lag;
        out->total_lag += out->lag[p];
        if (out->lag[p] > out->max_lag) {
            out->max_lag = out->lag[p];
            out->max_partition = p;
        }
    }
    return RF_OK;
}
