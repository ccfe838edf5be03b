/* rf_fold_dlq.c: the fold worker's dead-letter queue: bad input goes to
 * refold.events.dlq with its original key and bytes and headers saying why
 * and where it came from; every dead letter is acknowledged before the batch
 * holding its offset commits (docs/fold-worker.md, "DLQ format"). */
#include "rf_fold_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How long a dead letter may wait for room in the producer queue (it only
 * fills when the DLQ cannot be written, which dlq_wait then reports). */
#define DLQ_QUEUE_WAIT_MS 5000
/* Slack over message.timeout.ms before dlq_wait gives up on a report:
 * librdkafka reports every message within its timeout plus a scan interval. */
#define DLQ_REPORT_SLACK_MS 5000

static void dlq_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    rf_fold_worker_t *w = opaque;
    RF_ASSERT(w->dlq_pending > 0);
    w->dlq_pending--;
    if (!m->err) {
        w->st.dlq_produced++;
        return;
    }
    if (w->dlq_failed++ == 0)
        snprintf(w->dlq_error, sizeof w->dlq_error, "%s", rd_kafka_err2str(m->err));
}

rf_err_t rf__fold_dlq_init(rf_fold_worker_t *w, rf_kafka_client_t *spec)
{
    spec->dr_msg_cb = dlq_dr;
    rf_errbuf_t eb = {{0}};
    rf_err_t err = rf_kafka_client_new(spec, &w->dlq, &eb);
    if (err != RF_OK) return rf__fold_fail(w, err, "%s", eb.msg);
    /* -X may have changed it: dlq_wait waits as long as librdkafka may take */
    char tmo[32];
    size_t sz = sizeof tmo;
    int64_t ms = RF_FOLD_PRODUCE_TIMEOUT_MS;
    if (rd_kafka_conf_get(rd_kafka_conf(w->dlq), "message.timeout.ms", tmo, &sz) ==
            RD_KAFKA_CONF_OK &&
        rf_parse_i64(tmo, 0, INT32_MAX, &ms, "message.timeout.ms", &eb) != RF_OK)
        return rf__fold_fail(w, RF_ERR_CONFIG, "dead-letter producer: %s", eb.msg);
    w->dlq_timeout_ms = (int)ms;
    return RF_OK;
}

/* The events topic's partition count from the broker (0 when unknown):
 * asked per unknown-program dead letter only, which is rare. */
static int events_partitions(rf_fold_worker_t *w)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(w->consumer, w->conf.topic_events, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int n = 0;
    if (rkt && rd_kafka_metadata(w->consumer, 0, rkt, &md, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1 && !md->topics[0].err)
        n = md->topics[0].partition_cnt;
    if (md) rd_kafka_metadata_destroy(md);
    if (rkt) rd_kafka_topic_destroy(rkt);
    return n;
}

/* An unknown program is most often a producer whose partitioner is not
 * murmur2 (librdkafka's default is consistent_random): the program's rules
 * are in murmur2's partition, its events landed elsewhere. Names the cause. */
static void reason_of(rf_fold_worker_t *w, const rd_kafka_message_t *m, const rf_fold_result_t *res,
                      char *out, size_t cap)
{
    int n = res->err == RF_ERR_UNKNOWN_PROGRAM && res->program_id[0] ? events_partitions(w) : 0;
    int32_t want = n > 0 ? rd_kafka_msg_partitioner_murmur2(NULL, res->program_id,
                                                            strlen(res->program_id), n, NULL, NULL)
                         : -1;
    if (want < 0 || want == m->partition) {
        snprintf(out, cap, "%s", res->reason);
        return;
    }
    snprintf(out, cap,
             "%s: program '%s' belongs to partition %d of %d by murmur2, not %d; producer uses "
             "another partitioner? (set partitioner=murmur2_random: docs/producing.md)",
             res->reason, res->program_id, (int)want, n, (int)m->partition);
}

static rd_kafka_headers_t *dlq_headers(rf_fold_worker_t *w, const rd_kafka_message_t *m,
                                       const rf_fold_result_t *res, const char *reason)
{
    char part[16], off[24];
    snprintf(part, sizeof part, "%" PRId32, m->partition);
    snprintf(off, sizeof off, "%" PRId64, m->offset);
    rd_kafka_headers_t *h = rd_kafka_headers_new(6);
    rd_kafka_header_add(h, "refold.reason", -1, reason, -1);
    rd_kafka_header_add(h, "refold.error", -1, rf_err_str(res->err), -1);
    rd_kafka_header_add(h, "refold.partition", -1, part, -1);
    rd_kafka_header_add(h, "refold.offset", -1, off, -1);
    /* The event id is known when the bytes decode (an unknown program, say);
     * decoding again costs nothing that matters: dead letters are rare. */
    rf_errbuf_t eb = {{0}};
    if (m->payload && m->len <= RF_EVENT_BYTES_MAX &&
        rf_codec_decode_event(w->codec, m->payload, m->len, w->ev, &eb) == RF_OK &&
        w->ev->event_id[0])
        rd_kafka_header_add(h, "refold.event_id", -1, w->ev->event_id, -1);
    if (res->program_id[0]) rd_kafka_header_add(h, "refold.program_id", -1, res->program_id, -1);
    return h;
}

rf_err_t rf__fold_dlq_send(rf_fold_worker_t *w, const rd_kafka_message_t *m,
                           const rf_fold_result_t *res)
{
    RF_ASSERT(res->outcome == RF_OUTCOME_DEAD_LETTER && res->err != RF_OK);
    char reason[RF_ERRMSG_MAX + 192];
    reason_of(w, m, res, reason, sizeof reason);
    rd_kafka_headers_t *h = dlq_headers(w, m, res, reason);
    rd_kafka_resp_err_t kerr;
    for (int waited_ms = 0;; waited_ms += 100) {
        kerr = rd_kafka_producev(
            w->dlq, RD_KAFKA_V_TOPIC(w->conf.topic_dlq), RD_KAFKA_V_KEY(m->key, m->key_len),
            RD_KAFKA_V_VALUE(m->payload, m->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
        if (kerr != RD_KAFKA_RESP_ERR__QUEUE_FULL || waited_ms >= DLQ_QUEUE_WAIT_MS) break;
        rd_kafka_poll(w->dlq, 100);
    }
    if (kerr) {
        rd_kafka_headers_destroy(h); /* ownership passes only on success */
        return rf__fold_fail(w, RF_ERR_KAFKA,
                             "dead letter of partition %d offset %" PRId64
                             ": cannot produce to '%s': %s; nothing advanced",
                             m->partition, m->offset, w->conf.topic_dlq, rd_kafka_err2str(kerr));
    }
    w->dlq_pending++;
    rf_log(RF_LOG_INFO, "fold: partition %d offset %" PRId64 " dead-lettered (%s): %s",
           m->partition, m->offset, rf_err_str(res->err), reason);
    return RF_OK;
}

rf_err_t rf__fold_dlq_wait(rf_fold_worker_t *w)
{
    if (w->dlq_pending == 0 && w->dlq_failed == 0) return RF_OK;
    uint64_t limit_ns = (uint64_t)(w->dlq_timeout_ms + DLQ_REPORT_SLACK_MS) * 1000000u;
    uint64_t t0 = rf_now_ns();
    while (w->dlq_pending > 0 && rf_now_ns() - t0 < limit_ns)
        rd_kafka_poll(w->dlq, 100);
    if (w->dlq_pending > 0)
        return rf__fold_fail(w, RF_ERR_KAFKA,
                             "%" PRIu64 " dead letter(s) to '%s' unacknowledged after %d ms; "
                             "stopping without advancing any offset",
                             w->dlq_pending, w->conf.topic_dlq,
                             w->dlq_timeout_ms + DLQ_REPORT_SLACK_MS);
    if (w->dlq_failed > 0)
        return rf__fold_fail(w, RF_ERR_KAFKA,
                             "%" PRIu64 " dead letter(s) could not be written to '%s' (%s); "
                             "stopping without advancing any offset",
                             w->dlq_failed, w->conf.topic_dlq, w->dlq_error);
    return RF_OK;
}
