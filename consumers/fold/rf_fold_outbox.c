/* rf_fold_outbox.c: the fold worker's outbox: publish committed ledger
 * records to refold.ledger (same partition number, key = program id) with an
 * idempotent producer, and store the acknowledged prefix in the ledger. */
#include "rf_fold_internal.h"

#include <inttypes.h>
#include <string.h>

/* A delivery report names its record by (partition, open generation, seq)
 * packed into the message opaque: no allocation per record. */
_Static_assert(sizeof(void *) == 8, "the outbox packs (partition, gen, seq) into a pointer");
_Static_assert(RF_PARTITIONS_MAX <= 256, "the outbox packs a partition into 8 bits");
_Static_assert(RF_FOLD_OUTBOX_INFLIGHT_MAX % 64 == 0, "ack window is whole 64-bit words");
#define SEQ_BITS 48
#define SEQ_MASK ((UINT64_C(1) << SEQ_BITS) - 1)

static void *pack(const rf_fold_part_t *p, uint64_t seq)
{
    RF_ASSERT(seq > 0 && seq <= SEQ_MASK);
    return (void *)(uintptr_t)(((uint64_t)p->partition << 56) | ((uint64_t)p->gen << SEQ_BITS) |
                               seq);
}

static bool bit_get(const rf_fold_part_t *p, uint64_t seq)
{
    uint64_t i = seq % RF_FOLD_OUTBOX_INFLIGHT_MAX;
    return (p->ob_bits[i / 64] >> (i % 64)) & 1;
}

static void bit_set(rf_fold_part_t *p, uint64_t seq, bool on)
{
    uint64_t i = seq % RF_FOLD_OUTBOX_INFLIGHT_MAX;
    if (on)
        p->ob_bits[i / 64] |= UINT64_C(1) << (i % 64);
    else
        p->ob_bits[i / 64] &= ~(UINT64_C(1) << (i % 64));
}

/* Errors no retry fixes: the ledger topic lacks the partition, or is gone. */
static bool permanent(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION || err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
           err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
           err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE || err == RD_KAFKA_RESP_ERR__FATAL;
}

static void outbox_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    rf_fold_worker_t *w = opaque;
    uint64_t v = (uint64_t)(uintptr_t)m->_private;
    int32_t pn = (int32_t)(v >> 56);
    uint64_t seq = v & SEQ_MASK;
    rf_fold_part_t *p = w->parts[pn];
    if (!p || p->gen != (uint8_t)(v >> SEQ_BITS)) return; /* closed since: republished later */
    RF_ASSERT(p->ob_inflight > 0 && seq > p->ob_acked && seq <= p->ob_sent);
    p->ob_inflight--;
    if (m->err) {
        w->st.outbox_failed++;
        if (!p->ob_failed)
            rf_log(RF_LOG_WARN, "fold: outbox: partition %d seq %" PRIu64 " not delivered: %s", pn,
                   seq, rd_kafka_err2str(m->err));
        p->ob_failed = true;
        if (permanent(m->err))
            rf__fold_fail(w, RF_ERR_KAFKA, "outbox: cannot publish to partition %d of '%s': %s", pn,
                          w->conf.topic_ledger, rd_kafka_err2str(m->err));
        return;
    }
    w->st.outbox_acked++;
    p->ob_fail_rounds = 0;
    bit_set(p, seq, true);
    while (p->ob_acked < p->ob_sent && bit_get(p, p->ob_acked + 1)) {
        bit_set(p, p->ob_acked + 1, false);
        p->ob_acked++;
    }
}

rf_err_t rf__fold_outbox_init(rf_fold_worker_t *w, rf_kafka_client_t *spec)
{
    spec->dr_msg_cb = outbox_dr;
    rf_errbuf_t eb = {{0}};
    rf_err_t err = rf_kafka_client_new(spec, &w->outbox, &eb);
    return err != RF_OK ? rf__fold_fail(w, err, "%s", eb.msg) : RF_OK;
}

void rf__fold_outbox_open(rf_fold_worker_t *w, rf_fold_part_t *p, uint64_t acked_seq)
{
    RF_ASSERT(acked_seq <= p->head_seq);
    /* the stored seq again (no write): from now on the ledger keeps the
     * records it commits in memory for publish_part */
    rf_errbuf_t eb = {{0}};
    if (w->outbox && rf_ledger_outbox_ack(p->ledger, acked_seq, &eb) != RF_OK)
        rf_log(RF_LOG_WARN, "fold: outbox: partition %d: %s", p->partition, eb.msg);
    p->ob_acked = p->ob_stored = p->ob_sent = acked_seq;
    p->ob_inflight = 0;
    p->ob_failed = false;
    p->ob_fail_rounds = 0;
    memset(p->ob_bits, 0, sizeof p->ob_bits);
}

rf_err_t rf__fold_outbox_store(rf_fold_worker_t *w, rf_fold_part_t *p, rf_errbuf_t *eb)
{
    if (!w->outbox || p->ob_acked <= p->ob_stored) return RF_OK;
    rf_errbuf_t leb = {{0}};
    rf_err_t err = rf_ledger_outbox_ack(p->ledger, p->ob_acked, &leb);
    if (err != RF_OK)
        return rf_errf(eb, err, "partition %d: cannot store outbox seq %" PRIu64 ": %s",
                       p->partition, p->ob_acked, leb.msg);
    p->ob_stored = p->ob_acked;
    return RF_OK;
}

typedef struct publish_ctx {
    rf_fold_worker_t *w;
    rf_fold_part_t *p;
    bool full; /* the producer queue is full: go on next cycle */
} publish_ctx_t;

static int publish_cb(const rf_record_t *rec, void *opaque)
{
    publish_ctx_t *c = opaque;
    rf_fold_worker_t *w = c->w;
    rf_fold_part_t *p = c->p;
    RF_ASSERT(rec->seq == p->ob_sent + 1 && rec->partition == p->partition);
    size_t len = 0;
    rf_errbuf_t eb = {{0}};
    rf_err_t err =
        rf_codec_encode_record(w->codec, rec, w->recbuf, 2 * RF_RECORD_BYTES_MAX, &len, &eb);
    if (err != RF_OK) {
        rf__fold_fail(w, RF_ERR_INTERNAL, "outbox: partition %d seq %" PRIu64 ": %s", p->partition,
                      rec->seq, eb.msg);
        return 1;
    }
    rd_kafka_resp_err_t kerr = rd_kafka_producev(
        w->outbox, RD_KAFKA_V_TOPIC(w->conf.topic_ledger), RD_KAFKA_V_PARTITION(p->partition),
        RD_KAFKA_V_KEY(rec->program_id, strlen(rec->program_id)), RD_KAFKA_V_VALUE(w->recbuf, len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(pack(p, rec->seq)),
        RD_KAFKA_V_END);
    if (kerr == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        c->full = true;
        return 1;
    }
    if (kerr) {
        rf__fold_fail(w, RF_ERR_KAFKA, "outbox: cannot produce to partition %d of '%s': %s",
                      p->partition, w->conf.topic_ledger, rd_kafka_err2str(kerr));
        return 1;
    }
    p->ob_sent = rec->seq;
    p->ob_inflight++;
    w->st.outbox_sent++;
    return 0;
}

/* After a failed delivery and once nothing is in flight: publish again
 * from the acknowledged prefix (readers drop duplicates by seq). */
static rf_err_t rewind_part(rf_fold_worker_t *w, rf_fold_part_t *p)
{
    RF_ASSERT(p->ob_failed && p->ob_inflight == 0);
    if (++p->ob_fail_rounds > RF_FOLD_OUTBOX_RETRY_MAX)
        return rf__fold_fail(w, RF_ERR_KAFKA,
                             "outbox: partition %d of '%s' failed %d rounds in a row; records "
                             "from seq %" PRIu64 " stay unpublished until a restart",
                             p->partition, w->conf.topic_ledger, RF_FOLD_OUTBOX_RETRY_MAX,
                             p->ob_acked + 1);
    p->ob_sent = p->ob_acked;
    p->ob_failed = false;
    memset(p->ob_bits, 0, sizeof p->ob_bits);
    return RF_OK;
}

static rf_err_t publish_part(rf_fold_worker_t *w, rf_fold_part_t *p, bool *full)
{
    if (rf__fold_outbox_held(w, p)) return w->err;
    if (p->ob_failed) {
        if (p->ob_inflight > 0) return RF_OK;
        rf_err_t err = rewind_part(w, p);
        if (err != RF_OK) return err;
    }
    uint64_t limit = p->ob_acked + RF_FOLD_OUTBOX_INFLIGHT_MAX;
    uint64_t to = p->head_seq < limit ? p->head_seq : limit;
    if (p->ob_sent >= to) return RF_OK;
    publish_ctx_t c = {w, p, false};
    rf_errbuf_t eb = {{0}};
    rf_err_t err = rf_ledger_scan(p->ledger, p->ob_sent + 1, to, publish_cb, &c, &eb);
    if (w->err != RF_OK) return w->err;
    if (err != RF_OK)
        return rf__fold_fail(w, err, "outbox: partition %d: cannot read records: %s", p->partition,
                             eb.msg);
    *full = c.full;
    return RF_OK;
}

rf_err_t rf__fold_outbox_pump(rf_fold_worker_t *w)
{
    if (!w->outbox || w->err != RF_OK) return w->err;
    rd_kafka_poll(w->outbox, 0); /* delivery reports, on this thread */
    bool full = false;
    for (int i = 0; i < RF_PARTITIONS_MAX && !full && w->err == RF_OK; i++) {
        rf_fold_part_t *p = w->parts[i];
        if (!p) continue;
        rf_err_t err = publish_part(w, p, &full);
        if (err != RF_OK) return err;
        rf_errbuf_t eb = {{0}};
        if (p->dirty == 0 && (err = rf__fold_outbox_store(w, p, &eb)) != RF_OK)
            return rf__fold_fail(w, err, "%s", eb.msg);
    }
    return w->err;
}

static bool busy(const rf_fold_part_t *p)
{
    return p->ob_inflight > 0 || p->ob_acked < p->head_seq;
}

void rf__fold_outbox_drain(rf_fold_worker_t *w, rf_fold_part_t *const *parts, int n, int timeout_ms)
{
    if (!w->outbox) return;
    uint64_t deadline = rf_now_ns() + (uint64_t)timeout_ms * 1000000u;
    while (w->err == RF_OK && rf_now_ns() < deadline) {
        if (rf__fold_outbox_pump(w) != RF_OK) return;
        bool any = false;
        if (parts)
            for (int i = 0; i < n && !any; i++)
                any = busy(parts[i]);
        else
            any = !rf__fold_outbox_drained(w);
        if (!any) return;
        rd_kafka_poll(w->outbox, 20);
    }
    if (w->err == RF_OK)
        rf_log(RF_LOG_INFO, "fold: outbox not drained in %d ms; the tail is republished later",
               timeout_ms);
}

bool rf__fold_outbox_drained(const rf_fold_worker_t *w)
{
    for (int i = 0; i < RF_PARTITIONS_MAX; i++)
        if (w->parts[i] && busy(w->parts[i])) return false;
    return true;
}
