/* rf_fold_cycle.c: the fold worker's poll cycle: queue a batch of messages
 * per partition (offset checks), fold the partitions in parallel, dead-letter,
 * commit the partitions in parallel, run the outbox (docs/fold-worker.md). */
#include "rf_fold_internal.h"
#include "rf_metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* While waiting for a cycle's first message with outbox records in flight,
 * the worker wakes this often to serve their delivery reports (the embedded
 * broker acknowledges in about a millisecond): the acknowledged seq is
 * stored sooner and the exit-at-end condition is seen. */
#define OUTBOX_WAIT_MS 5
/* With nothing in flight, the worker blocks in the consumer's poll for up to
 * RF_FOLD_IDLE_WAIT_MS: a message ends the wait at once. */

/* ---- queueing (worker thread) ------------------------------------------- */

static rf_err_t consumer_error(rf_fold_worker_t *w, const rd_kafka_message_t *m)
{
    switch (m->err) {
    case RD_KAFKA_RESP_ERR__PARTITION_EOF:
        return RF_OK;
    case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET:
    case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
        return rf__fold_fail(w, RF_ERR_GAP,
                             "partition %d: offset %" PRId64
                             " is out of range (%s): refusing to skip; the stored offset is "
                             "no longer in '%s'",
                             m->partition, m->offset, rd_kafka_message_errstr(m),
                             w->conf.topic_events);
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
        return rf__fold_fail(w, RF_ERR_CONFIG, "cannot consume '%s': %s", w->conf.topic_events,
                             rd_kafka_message_errstr(m));
    default:
        rf_log(RF_LOG_WARN, "fold: consumer: %s", rd_kafka_message_errstr(m));
        return RF_OK;
    }
}

/* Checks the offset and queues m on its partition. Takes ownership of m. */
static rf_err_t enqueue(rf_fold_worker_t *w, rd_kafka_message_t *m)
{
    int32_t pn = m->partition;
    rf_fold_part_t *p = m->err ? NULL : pn >= 0 && pn < RF_PARTITIONS_MAX ? w->parts[pn] : NULL;
    rf_err_t err = m->err ? consumer_error(w, m) : RF_OK;
    int64_t want = p && p->next_offset >= 0 ? p->next_offset : 0;
    if (p && m->offset != want)
        err = rf__fold_fail(
            w, RF_ERR_GAP,
            "partition %d: expected offset %" PRId64 ", got %" PRId64 " (%s): refusing to skip", pn,
            want, m->offset, m->offset > want ? "messages missing" : "offset went backwards");
    if (!p || err != RF_OK) { /* an error event, or revoked meanwhile: its next owner folds it */
        rd_kafka_message_destroy(m);
        return err;
    }
    int32_t i = w->nmsgs++;
    RF_ASSERT(i < w->conf.batch_max);
    w->msgs[i] = m;
    w->next[i] = -1;
    w->res[i].outcome = RF_OUTCOME__COUNT; /* not folded (yet) */
    if (p->q_tail >= 0)
        w->next[p->q_tail] = i;
    else
        p->q_head = i;
    p->q_tail = i;
    p->queued++;
    p->next_offset = m->offset + 1;
    return RF_OK;
}

void rf__fold_drop_queued(rf_fold_worker_t *w)
{
    for (int i = 0; i < w->nmsgs; i++)
        rd_kafka_message_destroy(w->msgs[i]);
    w->nmsgs = 0;
    for (int i = 0; i < RF_PARTITIONS_MAX; i++) {
        rf_fold_part_t *p = w->parts[i];
        if (p) p->q_head = p->q_tail = -1, p->queued = 0;
    }
}

int64_t rf_fold_message_clock(const struct rd_kafka_message_s *m)
{
    rd_kafka_timestamp_type_t type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
    int64_t ts = rd_kafka_message_timestamp(m, &type);
    return type != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE && ts >= 0 ? ts : -1;
}

/* Says once per process when the clock the fold trusts is the producers'
 * (CreateTime: the embedded broker's only mode, Kafka's default), so an
 * operator sees that the event-time bound does not hold against a hostile app. */
static void note_create_time(const rd_kafka_message_t *m)
{
    static atomic_flag said = ATOMIC_FLAG_INIT;
    rd_kafka_timestamp_type_t type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
    rd_kafka_message_timestamp(m, &type);
    if (type != RD_KAFKA_TIMESTAMP_CREATE_TIME || atomic_flag_test_and_set(&said)) return;
    rf_log(RF_LOG_INFO,
           "fold: message timestamps are CreateTime (set by producers): event time is bounded by "
           "the producers' clocks; use message.timestamp.type=LogAppendTime on the events topic "
           "(docs/reliability.md, \"Event time\")");
}

/* ---- pool jobs (one partition, any thread: report through p->job_*) ----- */

static void fold_job(rf_fold_worker_t *w, rf_fold_part_t *p)
{
    static const uint8_t empty[1];
    uint64_t t0 = rf_now_ns();
    p->job_err = RF_OK;
    if (p->q_head >= 0) note_create_time(w->msgs[p->q_head]);
    for (int32_t i = p->q_head; i >= 0; i = w->next[i]) {
        const rd_kafka_message_t *m = w->msgs[i];
        rf_errbuf_t eb = {{0}};
        rf_err_t err = rf_ledger_fold(p->ledger, m->offset, rf_fold_message_clock(m),
                                      m->payload ? m->payload : empty, m->len, &w->res[i], &eb);
        if (err != RF_OK) {
            p->job_err = rf_errf(&p->job_eb, err, "partition %d offset %" PRId64 ": %s",
                                 p->partition, m->offset, eb.msg);
            break;
        }
        RF_ASSERT(w->res[i].outcome >= 0 && w->res[i].outcome < RF_OUTCOME__COUNT);
        p->dirty++;
    }
    p->job_ns = rf_now_ns() - t0;
}

static void commit_job(rf_fold_worker_t *w, rf_fold_part_t *p)
{
    RF_ASSERT(p->dirty > 0 && p->queued == 0);
    rf_errbuf_t eb = {{0}};
    p->job_ns = 0;
    p->job_err = rf__fold_outbox_store(w, p, &p->job_eb); /* staged into the same batch */
    if (p->job_err != RF_OK) return;
    uint64_t t0 = rf_now_ns();
    rf_err_t err = rf_ledger_commit(p->ledger, &eb);
    p->job_ns = rf_now_ns() - t0;
    if (err != RF_OK) {
        p->job_err = rf_errf(&p->job_eb, err,
                             "partition %d: commit of offsets %" PRId64 "..%" PRId64
                             " failed, nothing advanced: %s",
                             p->partition, p->durable_offset < 0 ? 0 : p->durable_offset,
                             p->next_offset - 1, eb.msg);
        return;
    }
    rf_ledger_head_t head;
    if ((err = rf_ledger_head(p->ledger, &head, &eb)) != RF_OK) {
        p->job_err = rf_errf(&p->job_eb, err, "partition %d: %s", p->partition, eb.msg);
        return;
    }
    RF_ASSERT(head.next_offset == p->next_offset); /* the ledger stored what we folded */
    RF_ASSERT(head.seq >= p->head_seq);
    p->head_seq = head.seq;
    p->durable_offset = head.next_offset;
}

/* ---- fold and commit (worker thread) ------------------------------------ */

/* Largest first: the pool's threads take partitions in this order, so the
 * last ones taken are small and the threads finish together (partitions
 * differ by 3x in a loadgen cycle; in partition order a big one taken last
 * kept one core busy while the other waited). Ties keep partition order. */
static int by_size_desc(const void *a, const void *b)
{
    const rf_fold_part_t *x = *(rf_fold_part_t *const *)a, *y = *(rf_fold_part_t *const *)b;
    uint32_t xs = x->queued ? x->queued : x->dirty, ys = y->queued ? y->queued : y->dirty;
    if (xs != ys) return xs < ys ? 1 : -1;
    return (x->partition > y->partition) - (x->partition < y->partition);
}

/* Folds every queued message on the pool, then counts outcomes and sends
 * dead letters in poll order. */
static rf_err_t fold_queued(rf_fold_worker_t *w)
{
    rf_fold_part_t *parts[RF_PARTITIONS_MAX] = {0};
    int n = 0;
    for (int i = 0; i < RF_PARTITIONS_MAX; i++)
        if (w->parts[i] && w->parts[i]->queued) parts[n++] = w->parts[i];
    qsort(parts, (size_t)n, sizeof parts[0], by_size_desc);
    rf__fold_pool_run(w->pool, w, parts, n, fold_job);
    for (int k = 0; k < n; k++) {
        w->st.fold_ns += parts[k]->job_ns;
        parts[k]->q_head = parts[k]->q_tail = -1;
        parts[k]->queued = 0;
        if (parts[k]->job_err != RF_OK)
            rf__fold_fail(w, parts[k]->job_err, "%s", parts[k]->job_eb.msg);
    }
    for (int i = 0; i < w->nmsgs && w->err == RF_OK; i++) {
        const rf_fold_result_t *res = &w->res[i];
        if (res->outcome == RF_OUTCOME__COUNT) continue; /* its partition was revoked */
        w->st.consumed++;
        w->st.outcomes[res->outcome]++;
        if (w->conf.metrics && res->outcome != RF_OUTCOME_APPLIED)
            rf_metrics_fold_outcome(res->outcome, res->err);
        if (res->outcome == RF_OUTCOME_DEAD_LETTER) rf__fold_dlq_send(w, w->msgs[i], res);
    }
    rf__fold_drop_queued(w);
    return w->err;
}

rf_err_t rf__fold_commit_parts(rf_fold_worker_t *w, rf_fold_part_t *const *parts, int n)
{
    rf_fold_part_t *dirty[RF_PARTITIONS_MAX] = {0};
    int nd = 0;
    for (int i = 0; i < n; i++)
        if (parts[i]->dirty) dirty[nd++] = parts[i];
    if (nd == 0) return RF_OK;
    rf_err_t err = rf__fold_dlq_wait(w);
    if (err != RF_OK) return err;
    qsort(dirty, (size_t)nd, sizeof dirty[0], by_size_desc);
    uint64_t t0 = rf_now_ns();
    rf__fold_pool_run(w->pool, w, dirty, nd, commit_job);
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(nd);
    for (int i = 0; i < nd; i++) {
        rf_fold_part_t *p = dirty[i];
        w->st.commit_ns += p->job_ns;
        if (p->job_err != RF_OK) { /* this partition keeps nothing of the batch */
            rf__fold_fail(w, p->job_err, "%s", p->job_eb.msg);
            continue;
        }
        p->dirty = 0;
        w->st.ledger_commits++;
        rf_fold_hist_add(&w->st.commit_us, p->job_ns / 1000);
        if (w->conf.metrics)
            rf_metrics_observe(RF_METRIC_BATCH_COMMIT_SECONDS, "", (double)p->job_ns / 1e9);
        rd_kafka_topic_partition_list_add(tl, w->conf.topic_events, p->partition)->offset =
            p->durable_offset;
    }
    if (w->err == RF_OK) {
        rf_fold_hist_add(&w->st.cycle_us, (rf_now_ns() - t0) / 1000);
        w->st.batches++;
        rd_kafka_commit(w->consumer, tl, 1); /* lag monitoring only: asynchronous */
    }
    rd_kafka_topic_partition_list_destroy(tl);
    return w->err;
}

/* ---- the cycle ---------------------------------------------------------- */

bool rf__fold_at_end(rf_fold_worker_t *w)
{
    if (!w->assigned) return false;
    for (int i = 0; i < RF_PARTITIONS_MAX; i++) {
        const rf_fold_part_t *p = w->parts[i];
        if (p && (p->dirty || p->queued ||
                  (p->durable_offset < 0 ? 0 : p->durable_offset) < p->end_offset))
            return false;
    }
    return !w->outbox || rf__fold_outbox_drained(w);
}

static void part_stats(rf_fold_worker_t *w, const rf_fold_part_t *p, rf_fold_part_stats_t *ps)
{
    int64_t lo = -1, hi = -1;
    if (w->consumer)
        rd_kafka_get_watermark_offsets(w->consumer, w->conf.topic_events, p->partition, &lo, &hi);
    ps->partition = p->partition;
    ps->next_offset = p->durable_offset;
    ps->end_offset = p->end_offset;
    ps->high_watermark = hi >= 0 ? hi : p->end_offset;
    int64_t lag = ps->high_watermark - (p->durable_offset < 0 ? 0 : p->durable_offset);
    ps->lag = lag > 0 ? lag : 0;
    ps->head_seq = p->head_seq;
    ps->outbox_seq = p->ob_acked;
}

void rf__fold_publish_stats(rf_fold_worker_t *w)
{
    rf_fold_stats_t *st = &w->st;
    st->elapsed_ns = rf_now_ns() - w->start_ns;
    st->at_end = rf__fold_at_end(w);
    int open = 0;
    for (int i = 0; i < RF_PARTITIONS_MAX; i++)
        if (w->parts[i]) part_stats(w, w->parts[i], &st->parts[open++]);
    if (open > 0 || w->consumer) st->nparts = open; /* closed: the partitions it held */
    pthread_mutex_lock(&w->snap_lock);
    w->snap = *st;
    pthread_mutex_unlock(&w->snap_lock);
    uint64_t now = rf_now_ns();
    if (w->conf.stats_cb && w->conf.stats_interval_ms > 0 &&
        now - w->last_stats_ns >= (uint64_t)w->conf.stats_interval_ms * 1000000u) {
        w->last_stats_ns = now;
        w->conf.stats_cb(st, w->conf.stats_opaque);
    }
}

/* End of a cycle: fold, dead letters acknowledged, every partition that
 * folded something committed (synced), the outbox, stats. */
static rf_err_t end_cycle(rf_fold_worker_t *w)
{
    rf_err_t err = fold_queued(w);
    if (err != RF_OK) return err;
    rf_fold_part_t *parts[RF_PARTITIONS_MAX] = {0};
    int n = rf__fold_collect_parts(w, NULL, parts);
    if ((err = rf__fold_commit_parts(w, parts, n)) != RF_OK) return err;
    if ((err = rf__fold_outbox_pump(w)) != RF_OK) return err;
    rf__fold_publish_stats(w);
    return RF_OK;
}

/* Waits up to the idle time for the cycle's first message and queues it;
 * serves the outbox and the stats while none comes. False when none came
 * (or the worker stops, or the exit-at-end condition holds). */
static bool wait_first(rf_fold_worker_t *w)
{
    uint64_t until = rf_now_ns() + (uint64_t)RF_FOLD_IDLE_WAIT_MS * 1000000u;
    for (;;) {
        /* no batch is open while waiting: outbox acknowledgements stored now
         * shrink what a crash republishes */
        bool busy = w->outbox && !rf__fold_outbox_drained(w);
        if (busy && rf__fold_outbox_pump(w) != RF_OK) return false;
        uint64_t now = rf_now_ns();
        if (now >= until || rf__fold_stopping(w)) return false;
        int wait_ms = (int)((until - now + 999999u) / 1000000u);
        if (busy && wait_ms > OUTBOX_WAIT_MS) wait_ms = OUTBOX_WAIT_MS;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->consumer, wait_ms);
        if (m) return enqueue(w, m) == RF_OK && w->nmsgs > 0;
        if (busy) rf__fold_publish_stats(w); /* acknowledgements advanced */
        if (w->conf.exit_at_end && rf__fold_at_end(w)) return false;
    }
}

/* A cycle is a group commit: it starts with the first message to arrive
 * and takes whatever else the consumer already holds (poll without
 * waiting) up to batch_max or batch_ms of queueing, then folds and commits.
 * Under load messages queue up while a commit runs, so batches grow by
 * themselves; a lone event waits for no timer (docs/fold-worker.md). */
rf_err_t rf__fold_poll_cycle(rf_fold_worker_t *w)
{
    RF_ASSERT(w->nmsgs == 0);
    if (!wait_first(w)) {
        if (w->err != RF_OK) {
            rf__fold_drop_queued(w);
            return w->err;
        }
        rf__fold_publish_stats(w); /* idle: lag and the exit-at-end condition */
        return RF_OK;
    }
    uint64_t deadline = rf_now_ns() + (uint64_t)w->conf.batch_ms * 1000000u;
    while (w->nmsgs < w->conf.batch_max && !rf__fold_stopping(w)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->consumer, 0);
        if (!m) break;
        if (enqueue(w, m) != RF_OK) break;
        if ((w->nmsgs & 1023) == 0 && rf_now_ns() >= deadline) break;
    }
    if (w->err != RF_OK) {
        rf__fold_drop_queued(w);
        return w->err;
    }
    return end_cycle(w);
}
