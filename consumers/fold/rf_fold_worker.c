/* rf_fold_worker.c: the fold worker's loop: Kafka clients, poll cycles,
 * rebalances, durable commits and the exit-at-end condition
 * (docs/fold-worker.md). */
#include "rf_checkpoint.h" /* tools hook */
#include "rf_fold_internal.h"
#include "rf_hex.h"
#include "rf_store.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Watermark queries at assignment: one round trip each; a broker that does
 * not answer in this time is not one to fold from. */
#define WATERMARK_TIMEOUT_MS 10000

void rf_fold_worker_conf_init(rf_fold_worker_conf_t *c)
{
    memset(c, 0, sizeof *c);
    c->group = "refold-fold";
    c->topic_events = RF_TOPIC_EVENTS;
    c->topic_dlq = RF_TOPIC_DLQ;
    c->topic_ledger = RF_TOPIC_LEDGER;
    c->batch_max = RF_FOLD_BATCH_MAX;
    c->batch_ms = RF_FOLD_BATCH_MS;
}

static rf_err_t check_conf(const rf_fold_worker_conf_t *c, rf_errbuf_t *eb)
{
    if (!c->kafka.brokers || !c->kafka.brokers[0])
        return rf_errf(eb, RF_ERR_CONFIG, "no brokers given (use --brokers host:port)");
    if (!c->data_dir || !c->data_dir[0])
        return rf_errf(eb, RF_ERR_CONFIG, "no data directory given (use --data DIR)");
    if (!c->group || !c->group[0]) return rf_errf(eb, RF_ERR_CONFIG, "empty consumer group");
    if (!c->topic_events || !c->topic_dlq || !c->topic_ledger || !c->topic_events[0] ||
        !c->topic_dlq[0] || !c->topic_ledger[0])
        return rf_errf(eb, RF_ERR_CONFIG, "empty topic name");
    if (c->batch_max < 1 || c->batch_max > RF_FOLD_BATCH_MAX)
        return rf_errf(eb, RF_ERR_CONFIG, "batch must be 1..%d, not %d", RF_FOLD_BATCH_MAX,
                       c->batch_max);
    if (c->batch_ms < 1 || c->batch_ms > RF_FOLD_BATCH_MS_MAX)
        return rf_errf(eb, RF_ERR_CONFIG, "batch-ms must be 1..%d, not %d", RF_FOLD_BATCH_MS_MAX,
                       c->batch_ms);
    if (c->threads < 0 || c->threads > RF_FOLD_THREADS_MAX)
        return rf_errf(eb, RF_ERR_CONFIG, "threads must be 1..%d, not %d", RF_FOLD_THREADS_MAX,
                       c->threads);
    if (c->ledger_flags & ~RF_LEDGER_NOSYNC)
        return rf_errf(eb, RF_ERR_CONFIG, "ledger flags may only add RF_LEDGER_NOSYNC");
    if (c->npartitions < 0 || c->npartitions > RF_PARTITIONS_MAX)
        return rf_errf(eb, RF_ERR_CONFIG, "at most %d partitions", RF_PARTITIONS_MAX);
    bool seen[RF_PARTITIONS_MAX] = {0};
    for (int i = 0; i < c->npartitions; i++) {
        int32_t p = c->partitions[i];
        if (p < 0 || p >= RF_PARTITIONS_MAX)
            return rf_errf(eb, RF_ERR_CONFIG, "partition %d is not in 0..%d", p,
                           RF_PARTITIONS_MAX - 1);
        if (seen[p]) return rf_errf(eb, RF_ERR_CONFIG, "partition %d listed twice", p);
        seen[p] = true;
    }
    return RF_OK;
}

rf_fold_worker_t *rf_fold_worker_new(const rf_fold_worker_conf_t *conf, rf_errbuf_t *eb)
{
    if (check_conf(conf, eb) != RF_OK) return NULL;
    rf_fold_worker_t *w = calloc(1, sizeof *w);
    if (!w) {
        rf_errf(eb, RF_ERR_NOMEM, "out of memory");
        return NULL;
    }
    w->conf = *conf;
    if (!(w->store_env = rf_store_env_new(NULL, eb))) {
        free(w);
        return NULL;
    }
    atomic_init(&w->stop, 0);
    RF_ASSERT(pthread_mutex_init(&w->snap_lock, NULL) == 0);
    return w;
}

rf_err_t rf__fold_fail(rf_fold_worker_t *w, rf_err_t err, const char *fmt, ...)
{
    RF_ASSERT(err != RF_OK);
    char msg[RF_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (w->err == RF_OK) {
        w->err = err;
        memcpy(w->eb.msg, msg, sizeof msg);
        rf_log(RF_LOG_ERROR, "fold: %s", msg);
    } else {
        rf_log(RF_LOG_WARN, "fold: also: %s", msg);
    }
    return w->err;
}

void rf_fold_worker_stop(rf_fold_worker_t *w)
{
    atomic_store(&w->stop, 1);
}

bool rf__fold_stopping(rf_fold_worker_t *w)
{
    return w->err != RF_OK || atomic_load_explicit(&w->stop, memory_order_relaxed);
}

/* ---- Kafka clients ---------------------------------------------------- */

static void on_kafka_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    rf_fold_worker_t *w = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[256];
        rd_kafka_fatal_error(rk, buf, sizeof buf);
        rf__fold_fail(w, RF_ERR_KAFKA, "%s: fatal kafka error: %s", rd_kafka_name(rk), buf);
        return;
    }
    rf_log(RF_LOG_WARN, "fold: kafka %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* A client of the worker: its -X, its error callback, the worker as opaque. */
static rf_kafka_client_t client_spec(rf_fold_worker_t *w, rf_kafka_role_t role)
{
    return (rf_kafka_client_t){
        .role = role, .opts = &w->conf.kafka, .opaque = w, .error_cb = on_kafka_error};
}

/* Settings and forced ones: rf_kafka.c, RF_KAFKA_FOLD_DLQ and _OUTBOX. */
static rf_err_t make_producers(rf_fold_worker_t *w)
{
    rf_kafka_client_t spec = client_spec(w, RF_KAFKA_FOLD_DLQ);
    rf_err_t err = rf__fold_dlq_init(w, &spec);
    if (err != RF_OK || w->conf.no_outbox) return err;
    spec = client_spec(w, RF_KAFKA_FOLD_OUTBOX);
    return rf__fold_outbox_init(w, &spec);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *tl, void *opaque);

static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk, (void)offsets, (void)opaque;
    /* Broker commits are for lag monitoring only: a failure costs nothing. */
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        rf_log(RF_LOG_DEBUG, "fold: broker offset commit: %s", rd_kafka_err2str(err));
}

/* Settings and forced ones (group, offsets): rf_kafka.c, RF_KAFKA_FOLD_CONSUMER. */
static rf_err_t make_consumer(rf_fold_worker_t *w)
{
    rf_kafka_client_t spec = client_spec(w, RF_KAFKA_FOLD_CONSUMER);
    spec.group = w->conf.group;
    spec.rebalance_cb = on_rebalance;
    spec.offset_commit_cb = on_commit;
    rf_errbuf_t eb = {{0}};
    rf_err_t err = rf_kafka_client_new(&spec, &w->consumer, &eb);
    if (err != RF_OK) return rf__fold_fail(w, err, "%s", eb.msg);
    rd_kafka_poll_set_consumer(w->consumer);
    return RF_OK;
}

/* ---- partitions --------------------------------------------------------- */

/* Checks the stored offset against the topic: an empty ledger must start at
 * offset 0 and a stored offset must lie inside [low, high]; anything else
 * means events were lost or this is another topic: never skip, stop. */
static rf_err_t check_range(rf_fold_worker_t *w, int32_t pn, int64_t next, int64_t lo, int64_t hi)
{
    if (next < 0 && lo > 0)
        return rf__fold_fail(w, RF_ERR_GAP,
                             "partition %d: the ledger is empty but '%s' starts at offset "
                             "%" PRId64 ": events 0..%" PRId64 " are gone",
                             pn, w->conf.topic_events, lo, lo - 1);
    if (next >= 0 && next < lo)
        return rf__fold_fail(w, RF_ERR_GAP,
                             "partition %d: stored next offset %" PRId64
                             " is below the first offset %" PRId64 " of '%s': events lost",
                             pn, next, lo, w->conf.topic_events);
    if (next > hi)
        return rf__fold_fail(w, RF_ERR_GAP,
                             "partition %d: stored next offset %" PRId64 " is past the end %" PRId64
                             " of '%s' (another cluster or a recreated topic?)",
                             pn, next, hi, w->conf.topic_events);
    return RF_OK;
}

/* Asks the brokers for the events topic's metadata. The watermark query goes
 * to the leader in librdkafka's metadata cache and does not refresh it on
 * NOT_LEADER: after a leader moved, an idle consumer would keep asking the
 * former leader until its periodic refresh (minutes). A metadata response
 * updates the cache. Failures are left to the next query to report. */
static void refresh_leaders(rf_fold_worker_t *w)
{
    rd_kafka_topic_t *t = rd_kafka_topic_new(w->consumer, w->conf.topic_events, NULL);
    if (!t) return;
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(w->consumer, 0, t, &md, WATERMARK_TIMEOUT_MS) ==
        RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
}

/* Opens a partition's ledger and returns the offset to resume at. */
/* Opens partition pn's ledger, waiting up to RF_FOLD_LOCK_WAIT_MS while
 * another process holds it: after a rebalance the previous owner may still
 * be closing it (a commit in progress, or it learns of the revocation late),
 * which is not a storage error. NULL with eb set otherwise. */
static rf_ledger_t *open_ledger(rf_fold_worker_t *w, int32_t pn, rf_errbuf_t *eb)
{
    uint64_t t0 = rf_now_ns();
    for (bool said = false;; said = true) {
        rf_ledger_t *l = rf_ledger_open_env(w->store_env, w->conf.data_dir, pn,
                                            RF_LEDGER_CREATE | w->conf.ledger_flags, eb);
        long pid = l ? 0 : rf_ledger_lock_holder(w->conf.data_dir, pn);
        if (l || pid <= 0) return l;
        uint64_t waited_ms = (rf_now_ns() - t0) / 1000000u;
        if (waited_ms >= RF_FOLD_LOCK_WAIT_MS || rf__fold_stopping(w)) {
            rf_errf(eb, RF_ERR_STORAGE,
                    "the ledger is still held by process %ld after %llu ms (another fold worker "
                    "on the same data directory that did not let the partition go)",
                    pid, (unsigned long long)waited_ms);
            return NULL;
        }
        if (!said)
            rf_log(RF_LOG_INFO,
                   "fold: partition %d: its ledger is held by process %ld (the previous owner "
                   "closing it?): waiting up to %d ms",
                   pn, pid, RF_FOLD_LOCK_WAIT_MS);
        usleep(100000);
    }
}

/* ---- stale stores (docs/operations.md, "Several hosts") ------------------ */

/* The last record refold.ledger holds for each partition of tl (what the
 * newest owner published): seqs[p] 0 when there is none. One reader, assigned
 * at each partition's last offset, for the whole assignment at once. */
static rf_err_t ledger_tails(rf_fold_worker_t *w, const rd_kafka_topic_partition_list_t *tl,
                             uint64_t *seqs, uint8_t (*hashes)[32])
{
    memset(seqs, 0, RF_PARTITIONS_MAX * sizeof *seqs);
    if (!w->outbox) return RF_OK;
    rf_errbuf_t eb = {{0}};
    if (!w->tail_reader) {
        rf_kafka_client_t spec = client_spec(w, RF_KAFKA_REPLAY_READER);
        if (rf_kafka_client_new(&spec, &w->tail_reader, &eb) != RF_OK)
            return rf__fold_fail(w, RF_ERR_KAFKA, "ledger tail reader: %s", eb.msg);
        if (!(w->tail_rec = malloc(sizeof *w->tail_rec)))
            return rf__fold_fail(w, RF_ERR_NOMEM, "out of memory");
    }
    const char *topic = w->conf.topic_ledger;
    int64_t last[RF_PARTITIONS_MAX];
    rd_kafka_topic_partition_list_t *want = rd_kafka_topic_partition_list_new(tl->cnt);
    for (int i = 0; i < tl->cnt; i++) {
        int32_t pn = tl->elems[i].partition;
        int64_t lo = -1, hi = -1;
        if (pn < 0 || pn >= RF_PARTITIONS_MAX) continue; /* open_part refuses it */
        rd_kafka_resp_err_t kerr = rd_kafka_query_watermark_offsets(w->tail_reader, topic, pn, &lo,
                                                                    &hi, WATERMARK_TIMEOUT_MS);
        if (kerr) {
            rd_kafka_topic_partition_list_destroy(want);
            return rf__fold_fail(w, RF_ERR_KAFKA,
                                 "partition %d of '%s': cannot read watermarks: %s", pn, topic,
                                 rd_kafka_err2str(kerr));
        }
        last[pn] = hi - 1;
        if (hi > lo) rd_kafka_topic_partition_list_add(want, topic, pn)->offset = hi - 1;
    }
    int left = want->cnt;
    if (left > 0 && rd_kafka_assign(w->tail_reader, want)) left = -1;
    uint64_t deadline = rf_now_ns() + (uint64_t)WATERMARK_TIMEOUT_MS * 1000000u;
    while (left > 0 && w->err == RF_OK && rf_now_ns() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->tail_reader, 100);
        if (!m) continue;
        int32_t pn = m->partition;
        if (!m->err && pn >= 0 && pn < RF_PARTITIONS_MAX && m->offset == last[pn] && !seqs[pn]) {
            if (rf_codec_decode_record(w->codec, m->payload, m->len, w->tail_rec, &eb) != RF_OK)
                rf__fold_fail(w, RF_ERR_CORRUPT,
                              "partition %d: the last record of '%s' does not "
                              "decode: %s",
                              pn, topic, eb.msg);
            seqs[pn] = w->tail_rec->seq;
            memcpy(hashes[pn], w->tail_rec->hash, 32);
            left--;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(w->tail_reader, NULL);
    rd_kafka_topic_partition_list_destroy(want);
    if (left != 0 && w->err == RF_OK)
        rf__fold_fail(w, RF_ERR_KAFKA, "cannot read the last records of '%s' in %d ms", topic,
                      WATERMARK_TIMEOUT_MS);
    return w->err;
}

bool rf__fold_outbox_held(rf_fold_worker_t *w, rf_fold_part_t *p)
{
    if (p->hold_seq == 0) return false;
    /* record hold_seq came from events consumed before this assignment, so
     * below the high watermark read then: folding up to it and still short
     * of that seq means the history here differs */
    if (p->head_seq < p->hold_seq && p->durable_offset >= p->end_offset) {
        rf__fold_fail(w, RF_ERR_CORRUPT,
                      "partition %d: folded every event up to offset %" PRId64 " into %" PRIu64
                      " records, but '%s' already holds record %" PRIu64 ": this ledger's history "
                      "diverged; nothing of it was published. Rebuild the partition: move "
                      "%s/fold/p-%04d away and restart",
                      p->partition, p->durable_offset, p->head_seq, w->conf.topic_ledger,
                      p->hold_seq, w->conf.data_dir, p->partition);
        return true;
    }
    if (p->head_seq < p->hold_seq) return true;
    rf_errbuf_t eb = {{0}};
    rf_err_t err = rf_ledger_get_record(p->ledger, p->hold_seq, w->tail_rec, &eb);
    if (err != RF_OK) {
        rf__fold_fail(w, err, "partition %d: cannot read record %" PRIu64 ": %s", p->partition,
                      p->hold_seq, eb.msg);
        return true;
    }
    if (memcmp(w->tail_rec->hash, p->hold_hash, 32) != 0) {
        char here[65], there[65];
        rf_hex(w->tail_rec->hash, 32, here);
        rf_hex(p->hold_hash, 32, there);
        rf__fold_fail(w, RF_ERR_CORRUPT,
                      "partition %d: record %" PRIu64 " folded here (hash %s) differs from the "
                      "one in '%s' (hash %s): this ledger's history diverged; nothing of it was "
                      "published. Rebuild the partition: move %s/fold/p-%04d away and restart",
                      p->partition, p->hold_seq, here, w->conf.topic_ledger, there,
                      w->conf.data_dir, p->partition);
        return true;
    }
    /* nothing is in flight while held. The topic holds 1..hold_seq: an owner's
     * outbox publishes in seq order from an idempotent producer and rewinds
     * on any failure, so a record there follows all before it */
    rf_log(RF_LOG_INFO,
           "fold: partition %d: record %" PRIu64 " equals '%s''s: publishing from seq %" PRIu64,
           p->partition, p->hold_seq, w->conf.topic_ledger,
           (p->ob_acked > p->hold_seq ? p->ob_acked : p->hold_seq) + 1);
    if (p->ob_acked < p->hold_seq) rf__fold_outbox_open(w, p, p->hold_seq);
    p->hold_seq = 0;
    return false;
}

/* A partition whose ledger is behind (or level with) what refold.ledger
 * already holds: the outbox waits until the fold reached that seq and the
 * two records are equal (same hash: same history, by the hash chain). */
static void hold_outbox(rf_fold_worker_t *w, rf_fold_part_t *p, uint64_t seq, const uint8_t *hash)
{
    if (seq == 0) return;
    p->hold_seq = seq;
    memcpy(p->hold_hash, hash, 32);
    if (p->head_seq < seq && p->durable_offset < p->end_offset)
        rf_log(RF_LOG_INFO,
               "fold: partition %d: this ledger (seq %" PRIu64 ") is behind '%s' (seq %" PRIu64
               "): catching up from offset %" PRId64 ", publishing again once seq %" PRIu64
               " matches",
               p->partition, p->head_seq, w->conf.topic_ledger, seq,
               p->next_offset < 0 ? 0 : p->next_offset, seq);
    else
        (void)rf__fold_outbox_held(w, p); /* check it now: a divergent ledger stops here */
}

static rf_err_t open_part(rf_fold_worker_t *w, int32_t pn, int64_t *start, uint64_t tail_seq,
                          const uint8_t *tail_hash)
{
    if (pn < 0 || pn >= RF_PARTITIONS_MAX)
        return rf__fold_fail(w, RF_ERR_CONFIG, "partition %d: refold handles 0..%d", pn,
                             RF_PARTITIONS_MAX - 1);
    RF_ASSERT(w->parts[pn] == NULL);
    rf_errbuf_t eb = {{0}};
    int64_t lo = -1, hi = -1;
    rd_kafka_resp_err_t kerr = RD_KAFKA_RESP_ERR_NO_ERROR;
    /* A leader change or a slow broker makes this fail transiently (not
     * leader, timed out): retry a bounded number of times before giving up. */
    for (int attempt = 0; attempt < RF_FOLD_WATERMARK_TRIES; attempt++) {
        kerr = rd_kafka_query_watermark_offsets(w->consumer, w->conf.topic_events, pn, &lo, &hi,
                                                WATERMARK_TIMEOUT_MS);
        if (kerr != RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION &&
            kerr != RD_KAFKA_RESP_ERR__TIMED_OUT && kerr != RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT &&
            kerr != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE && kerr != RD_KAFKA_RESP_ERR__TRANSPORT)
            break;
        rf_log(RF_LOG_WARN, "fold: partition %d: watermarks: %s (try %d of %d)", pn,
               rd_kafka_err2str(kerr), attempt + 1, RF_FOLD_WATERMARK_TRIES);
        usleep(200000);
        refresh_leaders(w);
    }
    if (kerr)
        return rf__fold_fail(w, RF_ERR_KAFKA, "partition %d of '%s': cannot read watermarks: %s",
                             pn, w->conf.topic_events, rd_kafka_err2str(kerr));
    rf_ledger_t *l = open_ledger(w, pn, &eb);
    if (!l) return rf__fold_fail(w, RF_ERR_STORAGE, "partition %d: %s", pn, eb.msg);
    rf_ledger_head_t head;
    rf_err_t err = rf_ledger_head(l, &head, &eb);
    if (err == RF_OK)
        err = check_range(w, pn, head.next_offset, lo, hi);
    else
        rf__fold_fail(w, err, "partition %d: %s", pn, eb.msg);
    if (err != RF_OK) {
        rf_ledger_close(l);
        return w->err;
    }
    RF_ASSERT(head.outbox_seq <= head.seq);
    rf_fold_part_t *p = calloc(1, sizeof *p);
    if (!p) {
        rf_ledger_close(l);
        return rf__fold_fail(w, RF_ERR_NOMEM, "out of memory");
    }
    p->partition = pn;
    p->gen = ++w->gens[pn];
    p->ledger = l;
    p->next_offset = p->durable_offset = head.next_offset;
    p->low_offset = lo;
    p->end_offset = hi;
    p->head_seq = head.seq;
    p->q_head = p->q_tail = -1;
    rf__fold_outbox_open(w, p, head.outbox_seq);
    w->parts[pn] = p;
    hold_outbox(w, p, tail_seq, tail_hash);
    if (w->err != RF_OK) return w->err;
    *start = head.next_offset < 0 ? 0 : head.next_offset;
    rf_log(RF_LOG_INFO,
           "fold: partition %d assigned: resume at offset %" PRId64 " (topic %" PRId64 "..%" PRId64
           ", head seq %" PRIu64 ", outbox seq %" PRIu64 ")",
           pn, *start, lo, hi, head.seq, head.outbox_seq);
    return RF_OK;
}

static void close_part(rf_fold_worker_t *w, rf_fold_part_t *p)
{
    RF_ASSERT(w->parts[p->partition] == p);
    rf_errbuf_t eb = {{0}};
    rf_err_t err;
    if (w->err == RF_OK && p->dirty == 0 && (err = rf__fold_outbox_store(w, p, &eb)) != RF_OK)
        rf__fold_fail(w, err, "%s", eb.msg);
    if (p->dirty)
        rf_log(RF_LOG_WARN, "fold: partition %d: dropping %u uncommitted offsets", p->partition,
               p->dirty);
    rf_ledger_close(p->ledger); /* an open batch is dropped: nothing advanced */
    w->parts[p->partition] = NULL;
    free(p);
}

/* Collects the assigned parts (all when tl is NULL) into out. */
int rf__fold_collect_parts(rf_fold_worker_t *w, const rd_kafka_topic_partition_list_t *tl,
                           rf_fold_part_t **out)
{
    int n = 0;
    if (!tl) {
        for (int i = 0; i < RF_PARTITIONS_MAX; i++)
            if (w->parts[i]) out[n++] = w->parts[i];
        return n;
    }
    for (int i = 0; i < tl->cnt && n < RF_PARTITIONS_MAX; i++) {
        int32_t pn = tl->elems[i].partition;
        if (pn >= 0 && pn < RF_PARTITIONS_MAX && w->parts[pn]) out[n++] = w->parts[pn];
    }
    return n;
}

/* Revoke (or shutdown): commit what was folded, let the outbox catch up
 * briefly, close. Messages queued but not folded yet are dropped (the next
 * owner folds them from the stored offset). After a fatal error nothing is
 * committed. */
static void release_parts(rf_fold_worker_t *w, const rd_kafka_topic_partition_list_t *tl)
{
    rf_fold_part_t *parts[RF_PARTITIONS_MAX] = {0};
    int n = rf__fold_collect_parts(w, tl, parts);
    if (w->err == RF_OK) rf__fold_commit_parts(w, parts, n);
    if (w->err == RF_OK && w->outbox) rf__fold_outbox_drain(w, parts, n, RF_FOLD_DRAIN_MS);
    for (int i = 0; i < n; i++)
        close_part(w, parts[i]);
}

static rf_err_t acquire_parts(rf_fold_worker_t *w, rd_kafka_topic_partition_list_t *tl)
{
    /* the ledgers size their memtables for the whole assignment at once */
    int cnt = tl->cnt < RF_PARTITIONS_MAX ? tl->cnt : RF_PARTITIONS_MAX;
    rf_store_env_expect_writers(w->store_env, cnt);
    uint64_t tail_seq[RF_PARTITIONS_MAX];
    uint8_t tail_hash[RF_PARTITIONS_MAX][32];
    rf_err_t err = ledger_tails(w, tl, tail_seq, tail_hash);
    for (int i = 0; i < tl->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &tl->elems[i];
        RF_ASSERT(strcmp(tp->topic, w->conf.topic_events) == 0);
        int32_t pn = tp->partition;
        bool ok = pn >= 0 && pn < RF_PARTITIONS_MAX;
        if (err == RF_OK)
            err = open_part(w, pn, &tp->offset, ok ? tail_seq[pn] : 0, ok ? tail_hash[pn] : NULL);
        if (err != RF_OK) {
            int opened = ok && w->parts[pn] ? i + 1 : i; /* a divergent one stays open */
            if (opened < cnt)                            /* those left unopened */
                rf_store_env_expect_writers(w->store_env, -(cnt - opened));
            return err;
        }
    }
    w->st.rebalances++;
    w->assigned = true;
    if (w->st.assigned_ns == 0) w->st.assigned_ns = rf_now_ns() - w->start_ns;
    return RF_OK;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *tl, void *opaque)
{
    rf_fold_worker_t *w = opaque;
    if (strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0) {
        rf__fold_fail(w, RF_ERR_CONFIG,
                      "the fold needs an eager assignor (range or roundrobin), not a "
                      "cooperative one");
        if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
            release_parts(w, tl);
            rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, tl);
            if (e) rd_kafka_error_destroy(e);
        }
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (w->err == RF_OK && acquire_parts(w, tl) == RF_OK) {
            rd_kafka_resp_err_t kerr = rd_kafka_assign(rk, tl);
            if (kerr) rf__fold_fail(w, RF_ERR_KAFKA, "assign: %s", rd_kafka_err2str(kerr));
            return;
        }
        release_parts(w, tl); /* the ones opened before the failure */
        rd_kafka_assign(rk, NULL);
        return;
    }
    if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
        rf_log(RF_LOG_WARN, "fold: rebalance error: %s", rd_kafka_err2str(err));
    w->assigned = false;
    release_parts(w, tl);
    rd_kafka_assign(rk, NULL);
}

static rf_err_t assign_manual(rf_fold_worker_t *w)
{
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(w->conf.npartitions);
    for (int i = 0; i < w->conf.npartitions; i++)
        rd_kafka_topic_partition_list_add(tl, w->conf.topic_events, w->conf.partitions[i]);
    rf_err_t err = acquire_parts(w, tl);
    if (err == RF_OK) {
        rd_kafka_resp_err_t kerr = rd_kafka_assign(w->consumer, tl);
        if (kerr) err = rf__fold_fail(w, RF_ERR_KAFKA, "assign: %s", rd_kafka_err2str(kerr));
    }
    rd_kafka_topic_partition_list_destroy(tl);
    return err;
}

static rf_err_t subscribe(rf_fold_worker_t *w)
{
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tl, w->conf.topic_events, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t kerr = rd_kafka_subscribe(w->consumer, tl);
    rd_kafka_topic_partition_list_destroy(tl);
    if (kerr)
        return rf__fold_fail(w, RF_ERR_KAFKA, "cannot subscribe to '%s': %s", w->conf.topic_events,
                             rd_kafka_err2str(kerr));
    return RF_OK;
}

/* ---- run ---------------------------------------------------------------- */

static rf_err_t setup(rf_fold_worker_t *w)
{
    rf_errbuf_t eb = {{0}};
    w->codec = rf_codec_new(&eb);
    if (!w->codec) return rf__fold_fail(w, RF_ERR_INTERNAL, "codec: %s", eb.msg);
    size_t nb = (size_t)w->conf.batch_max;
    w->ev = malloc(sizeof *w->ev);
    w->recbuf = malloc(2 * RF_RECORD_BYTES_MAX);
    w->msgs = calloc(nb, sizeof *w->msgs);
    w->next = calloc(nb, sizeof *w->next);
    w->res = calloc(nb, sizeof *w->res);
    if (!w->ev || !w->recbuf || !w->msgs || !w->next || !w->res)
        return rf__fold_fail(w, RF_ERR_NOMEM, "out of memory");
    int threads = w->conf.threads;
    if (threads == 0) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        threads = ncpu < 1 ? 1 : ncpu > RF_FOLD_THREADS_MAX ? RF_FOLD_THREADS_MAX : (int)ncpu;
    }
    if (!(w->pool = rf__fold_pool_new(threads - 1)))
        return rf__fold_fail(w, RF_ERR_NOMEM, "cannot start %d fold threads", threads - 1);
    rf_err_t err = make_producers(w);
    if (err == RF_OK) err = make_consumer(w);
    if (err == RF_OK) err = w->conf.npartitions > 0 ? assign_manual(w) : subscribe(w);
    return err;
}

static void shutdown_clients(rf_fold_worker_t *w)
{
    if (w->err == RF_OK && w->outbox) rf__fold_outbox_drain(w, NULL, 0, RF_FOLD_DRAIN_MS);
    rf__fold_drop_queued(w);
    if (w->consumer) {
        /* in a group this revokes (release_parts); manual assignments: below */
        rd_kafka_consumer_close(w->consumer);
        release_parts(w, NULL);
        rd_kafka_destroy(w->consumer);
        w->consumer = NULL;
    }
    if (w->tail_reader) {
        rd_kafka_destroy(w->tail_reader);
        w->tail_reader = NULL;
    }
    rd_kafka_t *producers[2] = {w->dlq, w->outbox};
    for (int i = 0; i < 2; i++) {
        if (!producers[i]) continue;
        /* dead letters are flushed before every commit; what is left is
         * either acknowledged-later outbox records or a failed run's */
        rd_kafka_purge(producers[i], RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(producers[i], 1000);
        rd_kafka_destroy(producers[i]);
    }
    w->dlq = w->outbox = NULL;
}

rf_err_t rf_fold_worker_run(rf_fold_worker_t *w, rf_errbuf_t *eb)
{
    RF_ASSERT(!w->ran);
    w->ran = true;
    w->start_ns = w->last_stats_ns = rf_now_ns();
    rf_err_t err = setup(w);
    while (err == RF_OK && !rf__fold_stopping(w)) {
        err = rf__fold_poll_cycle(w);
        /* tools hook (consumers/rf_checkpoint.h): serve `refold checkpoint` between cycles */
        for (int p = 0; err == RF_OK && p < RF_PARTITIONS_MAX; p++)
            if (w->parts[p] && w->parts[p]->ledger)
                rf_checkpoint_serve_dir(w->conf.data_dir, "fold", p, w->parts[p]->ledger,
                                        rf_ledger_checkpoint_fn);
        if (err == RF_OK && w->conf.exit_at_end && rf__fold_at_end(w)) break;
    }
    shutdown_clients(w);
    w->last_stats_ns = 0;
    rf__fold_publish_stats(w);
    if (w->err != RF_OK) {
        if (eb) *eb = w->eb;
        return w->err;
    }
    return RF_OK;
}

void rf_fold_worker_stats(rf_fold_worker_t *w, rf_fold_stats_t *out)
{
    pthread_mutex_lock(&w->snap_lock);
    *out = w->snap;
    pthread_mutex_unlock(&w->snap_lock);
}

void rf_fold_worker_destroy(rf_fold_worker_t *w)
{
    if (!w) return;
    RF_ASSERT(w->consumer == NULL && w->dlq == NULL && w->outbox == NULL);
    for (int i = 0; i < RF_PARTITIONS_MAX; i++)
        RF_ASSERT(w->parts[i] == NULL);
    rf__fold_pool_destroy(w->pool);
    rf_codec_destroy(w->codec);
    free(w->ev);
    free(w->tail_rec);
    free(w->recbuf);
    free(w->msgs);
    free(w->next);
    free(w->res);
    pthread_mutex_destroy(&w->snap_lock);
    rf_store_env_free(w->store_env); /* after its ledgers (all closed above) */
    free(w);
}
