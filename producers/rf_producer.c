/* rf_producer.c: the producer library (see rf_producer.h): librdkafka
 * idempotent producer, Avro codec, delivery reports per event. */
#include "rf_producer.h"

#include <stdlib.h>
#include <string.h>

#include "rf_codec.h"
#include "rf_limits.h"

struct rf_producer {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    rf_codec_t *codec;
    rf_producer_conf_t conf;
    rf_producer_stats_t stats;
    uint8_t buf[RF_EVENT_BYTES_MAX]; /* encode buffer; librdkafka copies it */
};

void rf_producer_conf_init(rf_producer_conf_t *conf)
{
    memset(conf, 0, sizeof *conf);
}

/* Reads the event id back from framed bytes: event_id is the first field of
 * every event schema, an Avro string (zigzag varint length 36 = 0x48, then the
 * text). Saves keeping a per-message allocation just for the report. */
static void framed_event_id(const void *payload, size_t len, char out[RF_UUID_STR_LEN + 1])
{
    const uint8_t *b = payload;
    out[0] = '\0';
    if (!b || len < RF_FRAME_HEADER + 1 + RF_UUID_STR_LEN) return;
    if (b[RF_FRAME_HEADER] != (uint8_t)(RF_UUID_STR_LEN * 2)) return;
    memcpy(out, b + RF_FRAME_HEADER + 1, RF_UUID_STR_LEN);
    out[RF_UUID_STR_LEN] = '\0';
}

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    rf_producer_t *p = opaque;
    RF_ASSERT(p && m);
    char event_id[RF_UUID_STR_LEN + 1], program_id[RF_ID_BUF];
    framed_event_id(m->payload, m->len, event_id);
    size_t klen = m->key_len < RF_ID_MAX ? m->key_len : RF_ID_MAX;
    if (m->key) memcpy(program_id, m->key, klen);
    program_id[m->key ? klen : 0] = '\0';
    rf_delivery_t d = {.event_id = event_id,
                       .program_id = program_id,
                       .partition = m->err ? -1 : m->partition,
                       .offset = m->err ? -1 : m->offset,
                       .err = RF_OK,
                       .errmsg = "",
                       .msg_opaque = m->_private};
    if (m->err) {
        d.err = m->err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT ? RF_ERR_TIMEOUT : RF_ERR_KAFKA;
        d.errmsg = rd_kafka_err2str(m->err);
        p->stats.failed++;
    } else {
        p->stats.delivered++;
    }
    if (p->conf.on_delivery) p->conf.on_delivery(&d, p->conf.opaque);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    char fatal[256] = "";
    if (err == RD_KAFKA_RESP_ERR__FATAL) rd_kafka_fatal_error(rk, fatal, sizeof fatal);
    /* Transport errors are retried by librdkafka, which logs them already;
     * keep them for debugging only. */
    rf_log(err == RD_KAFKA_RESP_ERR__FATAL ? RF_LOG_ERROR : RF_LOG_DEBUG, "producer: %s%s%s",
           reason, fatal[0] ? ": " : "", fatal);
}

/* Settings and forced ones (idempotence, acks): rf_kafka.c, RF_KAFKA_EVENTS_PRODUCER. */
static rd_kafka_t *create_kafka(rf_producer_t *p, rf_errbuf_t *eb)
{
    rf_kafka_client_t spec = {.role = RF_KAFKA_EVENTS_PRODUCER,
                              .opts = &p->conf.kafka,
                              .opaque = p,
                              .dr_msg_cb = on_dr,
                              .error_cb = on_error};
    rd_kafka_t *rk = NULL;
    (void)rf_kafka_client_new(&spec, &rk, eb);
    return rk;
}

rf_producer_t *rf_producer_new(const rf_producer_conf_t *conf, rf_errbuf_t *eb)
{
    RF_ASSERT(conf);
    int32_t sid = conf->schema_id ? conf->schema_id : RF_SCHEMA_ID_EVENT;
    if (sid != RF_SCHEMA_ID_EVENT && sid != RF_SCHEMA_ID_EVENT_V1) {
        rf_errf(eb, RF_ERR_CONFIG, "schema id %d is not an event schema", (int)sid);
        return NULL;
    }
    rf_producer_t *p = calloc(1, sizeof *p);
    if (!p) {
        rf_errf(eb, RF_ERR_NOMEM, "out of memory");
        return NULL;
    }
    p->conf = *conf;
    p->conf.schema_id = sid;
    if (!p->conf.topic) p->conf.topic = RF_TOPIC_EVENTS;
    p->codec = rf_codec_new(eb);
    if (!p->codec || !(p->rk = create_kafka(p, eb))) {
        rf_codec_destroy(p->codec);
        free(p);
        return NULL;
    }
    p->rkt = rd_kafka_topic_new(p->rk, p->conf.topic, NULL);
    if (!p->rkt) {
        rf_errf(eb, RF_ERR_KAFKA, "cannot create topic handle '%s': %s", p->conf.topic,
                rd_kafka_err2str(rd_kafka_last_error()));
        rf_producer_destroy(p);
        return NULL;
    }
    return p;
}

void rf_producer_destroy(rf_producer_t *p)
{
    if (!p) return;
    if (p->rk) {
        /* Report what is left as failed instead of dropping it silently. */
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(p->rk, 1000);
    }
    if (p->rkt) rd_kafka_topic_destroy(p->rkt);
    if (p->rk) rd_kafka_destroy(p->rk);
    rf_codec_destroy(p->codec);
    free(p);
}

/* Queues one encoded message, polling while the local queue is full. */
static rf_err_t produce_bytes(rf_producer_t *p, const rf_event_t *ev, size_t len, void *msg_opaque,
                              rf_errbuf_t *eb)
{
    size_t klen = strlen(ev->program_id);
    RF_ASSERT(klen > 0 && len > RF_FRAME_HEADER);
    uint64_t deadline = 0; /* set on the first full queue: no clock read per event */
    for (;;) {
        rd_kafka_resp_err_t kerr;
        if (p->conf.event_time_stamps)
            kerr = rd_kafka_producev(
                p->rk, RD_KAFKA_V_RKT(p->rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_VALUE(p->buf, len), RD_KAFKA_V_KEY(ev->program_id, klen),
                RD_KAFKA_V_TIMESTAMP(ev->occurred_at_ms), RD_KAFKA_V_OPAQUE(msg_opaque),
                RD_KAFKA_V_END);
        else
            kerr = rd_kafka_produce(p->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, p->buf, len,
                                    ev->program_id, klen, msg_opaque) == 0
                       ? RD_KAFKA_RESP_ERR_NO_ERROR
                       : rd_kafka_last_error();
        if (!kerr) return RF_OK;
        if (kerr != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            char fatal[256] = "";
            if (kerr == RD_KAFKA_RESP_ERR__FATAL) rd_kafka_fatal_error(p->rk, fatal, sizeof fatal);
            return rf_errf(eb, RF_ERR_KAFKA, "cannot produce event %s: %s%s%s", ev->event_id,
                           rd_kafka_err2str(kerr), fatal[0] ? ": " : "", fatal);
        }
        uint64_t now = rf_now_ns();
        if (deadline == 0) deadline = now + (uint64_t)RF_PRODUCER_FULL_WAIT_MS * 1000000u;
        if (now >= deadline)
            return rf_errf(eb, RF_ERR_RETRY, "local queue full (%d events in flight)",
                           rd_kafka_outq_len(p->rk));
        rd_kafka_poll(p->rk, 10);
    }
}

rf_err_t rf_producer_emit(rf_producer_t *p, const rf_event_t *ev, void *msg_opaque, rf_errbuf_t *eb)
{
    RF_ASSERT(p && ev);
    size_t len = 0;
    rf_err_t err =
        rf_codec_encode_event(p->codec, ev, p->conf.schema_id, p->buf, sizeof p->buf, &len, eb);
    if (err != RF_OK) return err;
    RF_ASSERT(len > RF_FRAME_HEADER && len <= sizeof p->buf);
    if ((err = produce_bytes(p, ev, len, msg_opaque, eb)) != RF_OK) return err;
    p->stats.emitted++;
    p->stats.bytes += len;
    /* Serve due reports now and then so callers that never poll still see
     * them and librdkafka's report queue stays short. */
    if ((p->stats.emitted & 1023) == 0) rd_kafka_poll(p->rk, 0);
    return RF_OK;
}

int rf_producer_poll(rf_producer_t *p, int timeout_ms)
{
    RF_ASSERT(p);
    return rd_kafka_poll(p->rk, timeout_ms);
}

rf_err_t rf_producer_flush(rf_producer_t *p, int timeout_ms, rf_errbuf_t *eb)
{
    RF_ASSERT(p);
    rd_kafka_resp_err_t kerr = rd_kafka_flush(p->rk, timeout_ms);
    if (kerr == RD_KAFKA_RESP_ERR__TIMED_OUT)
        return rf_errf(eb, RF_ERR_TIMEOUT, "flush timed out with %d events in flight",
                       rd_kafka_outq_len(p->rk));
    RF_ASSERT(kerr == RD_KAFKA_RESP_ERR_NO_ERROR);
    return RF_OK;
}

int rf_producer_outq_len(rf_producer_t *p)
{
    RF_ASSERT(p);
    return rd_kafka_outq_len(p->rk);
}

void rf_producer_stats(const rf_producer_t *p, rf_producer_stats_t *out)
{
    RF_ASSERT(p && out);
    *out = p->stats;
}

rd_kafka_t *rf_producer_kafka(rf_producer_t *p)
{
    RF_ASSERT(p);
    return p->rk;
}
