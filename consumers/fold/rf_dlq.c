/* rf_dlq.c: the dead-letter topic from the outside (rf_dlq.h): a reader that
 * assigns the chosen span of each partition, and a redriver to the events
 * topic. */
#include "rf_dlq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_limits.h"

/* How long a redriven event may wait for room in the producer queue (it only
 * fills when the events topic cannot be written; the flush then reports). */
#define REDRIVE_QUEUE_WAIT_MS 10000
/* Metadata and watermark round trips: a broker that does not answer in this
 * time is not one to read from. */
#define DLQ_QUERY_TIMEOUT_MS 10000

/* ---- reading ---- */

/* Per partition the end offset to read to. */
typedef struct reader {
    rd_kafka_t *rk;
    const char *topic;
    int np;
    int64_t *want;      /* end offset per partition (0: nothing to read) */
    uint64_t remaining; /* messages still to read */
} reader_t;

static void header(const rd_kafka_message_t *m, const char *name, char *out, size_t cap)
{
    rd_kafka_headers_t *h = NULL;
    const void *v = NULL;
    size_t n = 0;
    out[0] = 0;
    if (rd_kafka_message_headers(m, &h) || rd_kafka_header_get_last(h, name, &v, &n) || !v) return;
    if (n >= cap) n = cap - 1;
    memcpy(out, v, n);
    out[n] = 0;
}

static void letter_read(const rd_kafka_message_t *m, rf_dlq_letter_t *d)
{
    d->pos.partition = m->partition;
    d->pos.offset = m->offset;
    d->key = m->key;
    d->key_len = m->key ? m->key_len : 0;
    d->payload = m->payload;
    d->len = m->len;
    header(m, "refold.reason", d->reason, sizeof d->reason);
    header(m, "refold.error", d->error, sizeof d->error);
    header(m, "refold.partition", d->src_part, sizeof d->src_part);
    header(m, "refold.offset", d->src_off, sizeof d->src_off);
    header(m, "refold.event_id", d->event_id, sizeof d->event_id);
    header(m, "refold.program_id", d->program, sizeof d->program);
}

static int topic_partitions(reader_t *r, rf_errbuf_t *eb)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(r->rk, r->topic, NULL);
    rd_kafka_resp_err_t kerr = rd_kafka_metadata(r->rk, 0, t, &md, DLQ_QUERY_TIMEOUT_MS);
    rd_kafka_topic_destroy(t);
    int np = -1;
    if (kerr || md->topic_cnt != 1 || md->topics[0].err)
        rf_errf(eb, RF_ERR_KAFKA, "topic '%s': %s", r->topic,
                rd_kafka_err2str(kerr ? kerr : md->topics[0].err));
    else
        np = md->topics[0].partition_cnt;
    if (md) rd_kafka_metadata_destroy(md);
    return np;
}

/* [from, to) of partition p: everything, or the span of the selected offsets. */
static rf_err_t part_range(reader_t *r, int32_t p, const rf_dlq_pos_t *pos, int n, int64_t *from,
                           int64_t *to, rf_errbuf_t *eb)
{
    int64_t lo, hi;
    rd_kafka_resp_err_t kerr =
        rd_kafka_query_watermark_offsets(r->rk, r->topic, p, &lo, &hi, DLQ_QUERY_TIMEOUT_MS);
    if (kerr) return rf_errf(eb, RF_ERR_KAFKA, "watermarks: %s", rd_kafka_err2str(kerr));
    *from = lo, *to = hi;
    if (n < 0) return RF_OK;
    *from = INT64_MAX, *to = -1;
    for (int i = 0; i < n; i++) {
        if (pos[i].partition != p) continue;
        if (pos[i].offset < lo || pos[i].offset >= hi)
            return rf_errf(eb, RF_ERR_NOT_FOUND,
                           "no dead letter at %d:%lld (partition %d holds "
                           "%lld..%lld)",
                           (int)p, (long long)pos[i].offset, (int)p, (long long)lo,
                           (long long)hi - 1);
        if (pos[i].offset < *from) *from = pos[i].offset;
        if (pos[i].offset + 1 > *to) *to = pos[i].offset + 1;
    }
    return RF_OK;
}

/* Assigns each partition's span; r->rk is set already. */
static rf_err_t reader_assign(reader_t *r, const rf_dlq_pos_t *pos, int n, rf_errbuf_t *eb)
{
    if ((r->np = topic_partitions(r, eb)) < 0) return RF_ERR_KAFKA;
    for (int i = 0; i < n; i++)
        if (pos[i].partition < 0 || pos[i].partition >= r->np)
            return rf_errf(eb, RF_ERR_NOT_FOUND, "'%s' has no partition %d", r->topic,
                           (int)pos[i].partition);
    if (!(r->want = calloc((size_t)r->np + 1, sizeof *r->want)))
        return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(r->np + 1);
    rf_err_t err = RF_OK;
    for (int32_t p = 0; p < r->np && !err; p++) {
        int64_t from = 0, to = 0;
        err = part_range(r, p, pos, n, &from, &to, eb);
        if (err || from >= to) continue;
        r->want[p] = to;
        r->remaining += (uint64_t)(to - from);
        rd_kafka_topic_partition_list_add(tl, r->topic, p)->offset = from;
    }
    rd_kafka_resp_err_t kerr;
    if (!err && tl->cnt && (kerr = rd_kafka_assign(r->rk, tl)))
        err = rf_errf(eb, RF_ERR_KAFKA, "assign: %s", rd_kafka_err2str(kerr));
    rd_kafka_topic_partition_list_destroy(tl);
    return err;
}

static void reader_close(reader_t *r)
{
    free(r->want);
    if (r->rk) {
        rd_kafka_consumer_close(r->rk);
        rd_kafka_destroy(r->rk);
    }
}

static bool chosen(const rf_dlq_pos_t *pos, int n, const rd_kafka_message_t *m)
{
    bool yes = n < 0;
    for (int i = 0; i < n && !yes; i++)
        yes = pos[i].partition == m->partition && pos[i].offset == m->offset;
    return yes;
}

rf_err_t rf_dlq_read(const rf_kafka_opts_t *kafka, const char *topic, const rf_dlq_pos_t *pos,
                     int n, rf_dlq_letter_cb_t *cb, void *opaque, rf_errbuf_t *eb)
{
    RF_ASSERT(kafka && topic && cb && (n <= 0 || pos));
    reader_t r = {.topic = topic};
    rf_kafka_client_t spec = {.role = RF_KAFKA_DLQ_READER, .opts = kafka};
    rf_err_t err = rf_kafka_client_new(&spec, &r.rk, eb);
    if (!err) err = reader_assign(&r, pos, n, eb);
    int idle = 0, stop = 0;
    while (!err && !stop && r.remaining > 0) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r.rk, 100);
        if (!m) {
            if (++idle > RF_REPLAY_IDLE_MS / 100)
                err = rf_errf(eb, RF_ERR_TIMEOUT, "'%s' stopped delivering", topic);
            continue;
        }
        idle = 0;
        if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            err = rf_errf(eb, RF_ERR_KAFKA, "consume: %s", rd_kafka_message_errstr(m));
        else if (!m->err && m->partition < r.np && m->offset < r.want[m->partition]) {
            r.remaining--;
            if (chosen(pos, n, m)) {
                rf_dlq_letter_t d;
                letter_read(m, &d);
                stop = cb(&d, opaque);
            }
        }
        rd_kafka_message_destroy(m);
    }
    reader_close(&r);
    return err;
}

/* ---- redrive ---- */

struct rf_dlq_redriver {
    rd_kafka_t *rk;
    const char *topic;
    rf_dlq_delivery_cb_t *cb;
    void *opaque;
    rf_dlq_counts_t counts;
};

static void redrive_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    rf_dlq_redriver_t *r = opaque;
    rf_dlq_delivery_t d = {.partition = m->err ? -1 : m->partition,
                           .offset = m->err ? -1 : m->offset,
                           .err = m->err ? RF_ERR_KAFKA : RF_OK,
                           .errmsg = m->err ? rd_kafka_err2str(m->err) : ""};
    if (m->err)
        r->counts.failed++;
    else
        r->counts.delivered++;
    RF_ASSERT(r->counts.delivered + r->counts.failed <= r->counts.queued);
    if (r->cb) r->cb(&d, r->opaque);
}

rf_dlq_redriver_t *rf_dlq_redriver_new(const rf_kafka_opts_t *kafka, const char *topic,
                                       rf_dlq_delivery_cb_t *cb, void *opaque, rf_errbuf_t *eb)
{
    RF_ASSERT(kafka && topic);
    rf_dlq_redriver_t *r = calloc(1, sizeof *r);
    if (!r) {
        rf_errf(eb, RF_ERR_NOMEM, "out of memory");
        return NULL;
    }
    r->topic = topic;
    r->cb = cb;
    r->opaque = opaque;
    rf_kafka_client_t spec = {
        .role = RF_KAFKA_REDRIVE_PRODUCER, .opts = kafka, .opaque = r, .dr_msg_cb = redrive_dr};
    if (rf_kafka_client_new(&spec, &r->rk, eb) != RF_OK) {
        free(r);
        return NULL;
    }
    return r;
}

rf_err_t rf_dlq_redrive(rf_dlq_redriver_t *r, const rf_dlq_pos_t *from, const void *key,
                        size_t klen, const void *val, size_t vlen, rf_errbuf_t *eb)
{
    RF_ASSERT(r && from);
    char where[64];
    snprintf(where, sizeof where, "%d:%lld", (int)from->partition, (long long)from->offset);
    rd_kafka_resp_err_t kerr;
    for (int waited = 0;; waited += 100) {
        kerr = rd_kafka_producev(
            r->rk, RD_KAFKA_V_TOPIC(r->topic), RD_KAFKA_V_KEY(key, klen),
            RD_KAFKA_V_VALUE((void *)val, vlen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADER("refold.redriven_from", where, -1), RD_KAFKA_V_END);
        if (kerr != RD_KAFKA_RESP_ERR__QUEUE_FULL || waited > REDRIVE_QUEUE_WAIT_MS) break;
        rd_kafka_poll(r->rk, 100);
    }
    if (kerr) return rf_errf(eb, RF_ERR_KAFKA, "produce: %s", rd_kafka_err2str(kerr));
    r->counts.queued++;
    rd_kafka_poll(r->rk, 0);
    return RF_OK;
}

rf_err_t rf_dlq_redriver_flush(rf_dlq_redriver_t *r, int timeout_ms, rf_errbuf_t *eb)
{
    RF_ASSERT(r && timeout_ms >= 0);
    if (rd_kafka_flush(r->rk, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return rf_errf(eb, RF_ERR_TIMEOUT, "%d redriven events not acknowledged in %d s",
                       rd_kafka_outq_len(r->rk), timeout_ms / 1000);
    return RF_OK;
}

rf_dlq_counts_t rf_dlq_redriver_counts(const rf_dlq_redriver_t *r)
{
    rf_dlq_counts_t none = {0, 0, 0};
    return r ? r->counts : none;
}

void rf_dlq_redriver_destroy(rf_dlq_redriver_t *r)
{
    if (!r) return;
    rd_kafka_destroy(r->rk);
    free(r);
}
