/* rf_wh_relay.c: the relay's Kafka side: a consumer of refold.ledger (group
 * or assigned partitions) that turns each record of a subscribed type into
 * pending messages, committing them, the outcomes of finished attempts and
 * the next offset in one synced WriteBatch per partition per cycle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_metrics.h"
#include "rf_wh_relay_int.h"

static void set_fatal(rf_wh_relay_t *r, rf_err_t err, const char *msg)
{
    if (r->fatal != RF_OK) return;
    r->fatal = err;
    rf_strlcpy(r->fatal_eb.msg, msg, sizeof r->fatal_eb.msg);
    __atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
}

/* ---- partitions ---------------------------------------------------------- */

typedef struct counter {
    uint64_t n;
} counter_t;

static int count_one(uint64_t seq, const char *v, size_t n, void *opaque)
{
    (void)seq, (void)v, (void)n;
    ((counter_t *)opaque)->n++;
    return 0;
}

/* Opens partition p's store and reads its lanes' state. */
static rf_err_t part_open(rf_wh_relay_t *r, int32_t p, rf_errbuf_t *eb)
{
    wh_part_t *wp = calloc(1, sizeof *wp);
    if (!wp) return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    rf_err_t err =
        rf__wh_part_open(r->env, r->data_dir, p, RF_STORE_WRITE, r->opts.nosync, &wp->st, eb);
    if (err) {
        free(wp);
        return err;
    }
    wp->hwm = -1;
    r->parts[p] = wp;
    for (int e = 0; e < r->neps; e++) {
        wh_lane_t *l = &wp->lanes[e];
        const char *id = r->eps[e].cfg->id;
        counter_t q = {0}, d = {0};
        rf__wh_scan(wp->st, 'q', id, 0, count_one, &q);
        rf__wh_scan(wp->st, 'd', id, 0, count_one, &d);
        rf__wh_counters_get(wp->st, id, &l->delivered, &l->failed);
        l->pending = q.n;
        l->parked = d.n;
        l->complete = false;
        l->changed = true;
        char reason[RF_WEBHOOK_ERROR_MAX + 1] = "";
        if (!r->eps[e].disabled && rf__wh_disabled_get(wp->st, id, reason, sizeof reason)) {
            r->eps[e].disabled = true;
            rf_strlcpy(r->eps[e].reason, reason, sizeof r->eps[e].reason);
            rf_log(RF_LOG_WARN, "webhooks: endpoint '%s' is disabled: %s", id, reason);
        }
        rf__wh_lane_refill(r, p, e);
    }
    return RF_OK;
}

static void part_close(rf_wh_relay_t *r, int32_t p)
{
    wh_part_t *wp = r->parts[p];
    if (!wp) return;
    rf__wh_abort(r, p, -1);
    for (int e = 0; e < r->neps; e++)
        free(wp->lanes[e].v);
    rf__wh_part_close(wp->st);
    free(wp);
    r->parts[p] = NULL;
}

/* Stages the lanes' counters of partition p. */
static rf_err_t part_commit_stage(rf_wh_relay_t *r, int32_t p)
{
    wh_part_t *wp = r->parts[p];
    for (int e = 0; e < r->neps; e++) {
        wh_lane_t *l = &wp->lanes[e];
        if (!l->counters_dirty) continue;
        rf__wh_counters_stage(wp->st, r->eps[e].cfg->id, l->delivered, l->failed);
        l->counters_dirty = false;
    }
    return RF_OK;
}

/* Stages the lanes' counters, then commits partition p. */
static rf_err_t part_commit(rf_wh_relay_t *r, int32_t p, rf_errbuf_t *eb)
{
    part_commit_stage(r, p);
    return rf__wh_part_commit(r->parts[p]->st, eb);
}

typedef struct committer {
    rf_wh_part_t *st;
    rf_err_t err;
    rf_errbuf_t eb;
} committer_t;

static void *commit_main(void *arg)
{
    committer_t *c = arg;
    c->err = rf__wh_part_commit(c->st, &c->eb);
    return NULL;
}

/* Commits every dirty partition; the synced writes of different stores run
 * on threads (up to RF_WEBHOOK_COMMIT_THREADS at once), so a cycle pays for
 * about one fsync, not one per partition. */
static rf_err_t commit_all(rf_wh_relay_t *r, rf_errbuf_t *eb)
{
    committer_t c[RF_WEBHOOK_COMMIT_THREADS];
    pthread_t th[RF_WEBHOOK_COMMIT_THREADS];
    bool started[RF_WEBHOOK_COMMIT_THREADS];
    int32_t p = 0;
    rf_err_t err = RF_OK;
    while (p < RF_PARTITIONS_MAX && !err) {
        int n = 0;
        for (; p < RF_PARTITIONS_MAX && n < RF_WEBHOOK_COMMIT_THREADS; p++) {
            if (!r->parts[p]) continue;
            if ((err = part_commit_stage(r, p))) break;
            if (!r->parts[p]->st->dirty) continue;
            c[n] = (committer_t){.st = r->parts[p]->st};
            started[n] = n > 0 && pthread_create(&th[n], NULL, commit_main, &c[n]) == 0;
            if (!started[n]) commit_main(&c[n]);
            n++;
        }
        for (int i = 0; i < n; i++) {
            if (started[i]) pthread_join(th[i], NULL);
            if (c[i].err && !err) err = rf_errf(eb, c[i].err, "%s", c[i].eb.msg);
        }
    }
    return err;
}

static void on_assign(rf_wh_relay_t *r, rd_kafka_topic_partition_list_t *parts)
{
    rf_errbuf_t eb = {{0}};
    for (int i = 0; i < parts->cnt; i++) {
        int32_t p = parts->elems[i].partition;
        if (p < 0 || p >= RF_PARTITIONS_MAX) {
            set_fatal(r, RF_ERR_CONFIG, "assigned a partition beyond RF_PARTITIONS_MAX");
            return;
        }
        if (!r->parts[p] && part_open(r, p, &eb) != RF_OK) {
            set_fatal(r, RF_ERR_STORAGE, eb.msg);
            return;
        }
        int64_t off = r->parts[p]->st->next_offset;
        parts->elems[i].offset = off >= 0 ? off : RD_KAFKA_OFFSET_BEGINNING;
        rf_log(RF_LOG_INFO, "webhooks: partition %d assigned: seq %llu, offset %lld", (int)p,
               (unsigned long long)r->parts[p]->st->last_seq, (long long)off);
    }
    r->ever_assigned = true;
}

static void on_revoke(rf_wh_relay_t *r, rd_kafka_topic_partition_list_t *parts)
{
    rf_errbuf_t eb = {{0}};
    for (int i = 0; i < parts->cnt; i++) {
        int32_t p = parts->elems[i].partition;
        if (p < 0 || p >= RF_PARTITIONS_MAX || !r->parts[p]) continue;
        /* attempts in flight are abandoned: still pending, the next owner sends them */
        rf__wh_abort(r, p, -1);
        if (r->fatal == RF_OK && part_commit(r, p, &eb) != RF_OK)
            set_fatal(r, RF_ERR_STORAGE, eb.msg);
        part_close(r, p);
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    rf_wh_relay_t *r = opaque;
    bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        on_assign(r, parts);
        if (coop)
            rd_kafka_error_destroy(rd_kafka_incremental_assign(rk, parts));
        else
            rd_kafka_assign(rk, parts);
    } else {
        on_revoke(r, parts);
        if (coop)
            rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, parts));
        else
            rd_kafka_assign(rk, NULL);
    }
}

/* ---- setup ------------------------------------------------------------------- */

rf_wh_relay_t *rf_wh_relay_new(const rf_wh_opts_t *opts, rf_errbuf_t *eb)
{
    if (!opts->data_dir || !*opts->data_dir || !opts->config) {
        rf_errf(eb, RF_ERR_CONFIG, "--data and --config are required");
        return NULL;
    }
    if (opts->npartitions < 0 || opts->npartitions > RF_PARTITIONS_MAX) {
        rf_errf(eb, RF_ERR_CONFIG, "at most %d partitions", RF_PARTITIONS_MAX);
        return NULL;
    }
    rf_wh_relay_t *r = calloc(1, sizeof *r);
    if (!r) {
        rf_errf(eb, RF_ERR_NOMEM, "out of memory");
        return NULL;
    }
    r->opts = *opts;
    pthread_mutex_init(&r->mu, NULL);
    r->neps = opts->config->nendpoints;
    for (int e = 0; e < r->neps; e++) {
        r->eps[e].cfg = &opts->config->endpoints[e];
        rf_metrics_labels(r->eps[e].labels, sizeof r->eps[e].labels, "endpoint", r->eps[e].cfg->id,
                          NULL);
    }
    rf_store_env_conf_t ec = {0};
    if (rf_strlcpy(r->group, opts->group ? opts->group : "refold-webhooks", sizeof r->group) ||
        rf_strlcpy(r->topic, opts->topic ? opts->topic : RF_TOPIC_LEDGER, sizeof r->topic) ||
        rf_strlcpy(r->data_dir, opts->data_dir, sizeof r->data_dir)) {
        rf_errf(eb, RF_ERR_CONFIG, "group, topic or data directory too long");
        rf_wh_relay_destroy(r);
        return NULL;
    }
    r->opts.data_dir = r->data_dir;
    rf_kafka_client_t spec = {.role = RF_KAFKA_WEBHOOK_CONSUMER,
                              .opts = &r->opts.kafka,
                              .group = r->group,
                              .opaque = r,
                              .rebalance_cb = opts->npartitions ? NULL : rebalance_cb};
    if (!(r->env = rf_store_env_new(&ec, eb)) || !(r->codec = rf_codec_new(eb)) ||
        !(r->rec = malloc(sizeof *r->rec)) || !(r->body = malloc(RF_WEBHOOK_BODY_MAX + 1)) ||
        rf__wh_deliver_init(r, eb) != RF_OK || rf_kafka_client_new(&spec, &r->rk, eb) != RF_OK) {
        if (eb && !eb->msg[0]) rf_errf(eb, RF_ERR_NOMEM, "out of memory");
        rf_wh_relay_destroy(r);
        return NULL;
    }
    rd_kafka_poll_set_consumer(r->rk);
    return r;
}

void rf_wh_relay_destroy(rf_wh_relay_t *r)
{
    if (!r) return;
    if (r->rk) rd_kafka_destroy(r->rk);
    rf__wh_deliver_fini(r);
    for (int32_t p = 0; p < RF_PARTITIONS_MAX; p++)
        part_close(r, p);
    rf_store_env_free(r->env);
    rf_codec_destroy(r->codec);
    free(r->rec);
    free(r->body);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

void rf_wh_relay_stop(rf_wh_relay_t *r)
{
    __atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
}

void rf_wh_relay_stats(rf_wh_relay_t *r, rf_wh_stats_t *out)
{
    pthread_mutex_lock(&r->mu);
    *out = r->stats;
    pthread_mutex_unlock(&r->mu);
}

/* ---- consuming ------------------------------------------------------------ */

/* One ledger record: its history entry and a pending message per endpoint
 * that subscribes, staged with the next offset. */
static rf_err_t handle_record(rf_wh_relay_t *r, const rd_kafka_message_t *m, rf_errbuf_t *eb)
{
    int32_t p = m->partition;
    wh_part_t *wp = r->parts[p];
    rf_wh_part_t *st = wp->st;
    rf_errbuf_t deb = {{0}};
    rf_record_t *rec = r->rec;
    if (rf_codec_decode_record(r->codec, m->payload, m->len, rec, &deb) != RF_OK)
        return rf_errf(eb, RF_ERR_CORRUPT, "%s [%d] offset %lld: undecodable ledger record: %s",
                       r->topic, (int)p, (long long)m->offset, deb.msg);
    st->next_offset = m->offset + 1;
    if (rec->seq <= st->last_seq) { /* a refetched copy */
        rf__wh_meta_stage(st);
        return RF_OK;
    }
    if (st->last_seq > 0 && rec->seq != st->last_seq + 1)
        return rf_errf(eb, RF_ERR_GAP,
                       "%s [%d]: seq %llu after %llu: ledger records are missing, webhooks "
                       "would be lost",
                       r->topic, (int)p, (unsigned long long)rec->seq,
                       (unsigned long long)st->last_seq);
    st->last_seq = rec->seq;
    rf__wh_meta_stage(st);
    pthread_mutex_lock(&r->mu);
    r->stats.records++;
    pthread_mutex_unlock(&r->mu);
    int t = rf_wh_record_type(rec);
    if (t < 0) return RF_OK;
    size_t len = 0;
    rf_err_t err = rf_wh_payload(rec, (rf_wh_type_t)t, r->body, RF_WEBHOOK_BODY_MAX + 1, &len, eb);
    if (err) return err;
    uint64_t key = rf_wh_order_key(rec);
    rf__wh_hist_stage(st, rec->seq, t, rec->occurred_at_ms, key, rec->program_id, r->body, len);
    for (int e = 0; e < r->neps; e++) {
        if (!rf_wh_endpoint_wants(r->eps[e].cfg, rec->program_id, (rf_wh_type_t)t)) continue;
        rf_wh_state_t s = {.order_key = key, .event_ms = rec->occurred_at_ms};
        rf__wh_state_stage(st, 'q', r->eps[e].cfg->id, rec->seq, &s);
        rf__wh_lane_add(&wp->lanes[e], rec->seq, key, rec->occurred_at_ms);
        pthread_mutex_lock(&r->mu);
        r->stats.messages++;
        pthread_mutex_unlock(&r->mu);
    }
    return RF_OK;
}

static rf_err_t consumer_error(rf_wh_relay_t *r, const rd_kafka_message_t *m, rf_errbuf_t *eb)
{
    char fatal[256];
    if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
        m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE)
        return rf_errf(eb, RF_ERR_GAP,
                       "%s [%d]: stored offset is out of range (%s): the ledger topic lost "
                       "records the relay has not read",
                       r->topic, (int)m->partition, rd_kafka_message_errstr(m));
    if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
        rd_kafka_fatal_error(r->rk, fatal, sizeof fatal);
        return rf_errf(eb, RF_ERR_KAFKA, "fatal consumer error: %s", fatal);
    }
    if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
        rf_log(RF_LOG_WARN, "webhooks: consumer: %s", rd_kafka_message_errstr(m));
    return RF_OK;
}

/* Reads up to RF_WEBHOOK_CYCLE_MAX records, waiting at most wait_ms for the
 * first one. */
static rf_err_t consume(rf_wh_relay_t *r, int wait_ms, rf_errbuf_t *eb)
{
    uint64_t start = rf_now_ns();
    for (int n = 0; n < RF_WEBHOOK_CYCLE_MAX; n++) {
        if (rf_now_ns() - start > (uint64_t)RF_WEBHOOK_CYCLE_MS * 1000000u) break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, n == 0 ? wait_ms : 0);
        if (r->fatal != RF_OK) {
            if (m) rd_kafka_message_destroy(m);
            return rf_errf(eb, r->fatal, "%s", r->fatal_eb.msg);
        }
        if (!m) break;
        rf_err_t err = RF_OK;
        if (m->err)
            err = consumer_error(r, m, eb);
        else if (m->partition >= 0 && m->partition < RF_PARTITIONS_MAX && r->parts[m->partition])
            err = handle_record(r, m, eb);
        rd_kafka_message_destroy(m);
        if (err) return err;
    }
    return RF_OK;
}

/* ---- watermarks, requests, stats ------------------------------------------ */

/* The partitions' high watermarks: librdkafka's cached values (from the
 * fetch responses), or asked of the broker (query: a round trip per
 * partition, only when the relay may be done: exit_when_idle). */
static void refresh_hwm(rf_wh_relay_t *r, bool query)
{
    for (int32_t p = 0; p < RF_PARTITIONS_MAX; p++) {
        if (!r->parts[p]) continue;
        int64_t lo = -1, hi = -1;
        rd_kafka_resp_err_t err =
            query ? rd_kafka_query_watermark_offsets(r->rk, r->topic, p, &lo, &hi, 2000)
                  : rd_kafka_get_watermark_offsets(r->rk, r->topic, p, &lo, &hi);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR && hi >= 0) r->parts[p]->hwm = hi;
    }
}

/* Applies operator requests found in DATA/webhooks/requests. */
static rf_err_t serve_requests(rf_wh_relay_t *r, rf_errbuf_t *eb)
{
    rf_wh_request_t req;
    char name[256];
    while (rf__wh_request_next(r->data_dir, &req, name, sizeof name)) {
        int e = -1;
        for (int i = 0; i < r->neps; i++)
            if (strcmp(r->eps[i].cfg->id, req.endpoint) == 0) e = i;
        rf_wh_part_t *open[RF_PARTITIONS_MAX];
        int n = 0;
        for (int32_t p = 0; p < RF_PARTITIONS_MAX; p++)
            if (r->parts[p]) open[n++] = r->parts[p]->st;
        uint64_t count = 0;
        rf_errbuf_t reb = {{0}};
        if (e >= 0) rf__wh_abort(r, -1, e); /* sent again from the store */
        rf_err_t err = rf__wh_request_apply(open, n, r->opts.config, &req, &count, &reb);
        if (!err) err = commit_all(r, eb);
        if (err && !reb.msg[0]) rf_strlcpy(reb.msg, eb->msg, sizeof reb.msg);
        rf__wh_request_done(r->data_dir, name, err, count, reb.msg);
        if (err == RF_ERR_STORAGE) return err;
        if (e < 0) continue;
        if (req.kind == RF_WH_REQ_ENABLE) {
            r->eps[e].disabled = false;
            r->eps[e].consecutive = 0;
            r->eps[e].reason[0] = '\0';
            rf_metrics_gauge_set(RF_METRIC_WEBHOOK_DISABLED, r->eps[e].labels, 0);
            rf_log(RF_LOG_INFO, "webhooks: endpoint '%s' enabled", req.endpoint);
        }
        for (int32_t p = 0; p < RF_PARTITIONS_MAX; p++) { /* read the lanes back */
            if (!r->parts[p]) continue;
            wh_lane_t *l = &r->parts[p]->lanes[e];
            counter_t q = {0}, d = {0};
            rf__wh_scan(r->parts[p]->st, 'q', req.endpoint, 0, count_one, &q);
            rf__wh_scan(r->parts[p]->st, 'd', req.endpoint, 0, count_one, &d);
            rf__wh_lane_reset(l);
            l->pending = q.n;
            l->parked = d.n;
            rf__wh_lane_refill(r, p, e);
        }
    }
    return RF_OK;
}

static void update_stats(rf_wh_relay_t *r, bool running)
{
    rf_wh_stats_t *s = &r->stats;
    pthread_mutex_lock(&r->mu);
    s->running = running;
    s->nendpoints = r->neps;
    /* unknown while no partition is held (before the group's assignment) or
     * while a held one's watermark is not known */
    bool held = false, unknown = false;
    int64_t lag = 0;
    for (int32_t p = 0; p < RF_PARTITIONS_MAX; p++) {
        wh_part_t *wp = r->parts[p];
        if (!wp) continue;
        held = true;
        if (wp->hwm < 0)
            unknown = true;
        else if (wp->hwm > wp->st->next_offset)
            lag += wp->hwm - (wp->st->next_offset < 0 ? 0 : wp->st->next_offset);
    }
    s->lag = held && !unknown ? lag : -1;
    for (int e = 0; e < r->neps; e++) {
        rf_wh_endpoint_stats_t *es = &s->endpoints[e];
        wh_ep_t *ep = &r->eps[e];
        memset(es, 0, sizeof *es);
        rf_strlcpy(es->id, ep->cfg->id, sizeof es->id);
        es->disabled = ep->disabled;
        rf_strlcpy(es->disabled_reason, ep->reason, sizeof es->disabled_reason);
        es->in_flight = ep->in_flight;
        es->consecutive_failures = ep->consecutive;
        es->oldest_pending_ms = -1;
        for (int32_t p = 0; p < RF_PARTITIONS_MAX; p++) {
            if (!r->parts[p]) continue;
            wh_lane_t *l = &r->parts[p]->lanes[e];
            es->pending += l->pending;
            es->parked += l->parked;
            es->delivered += l->delivered;
            es->failed += l->failed;
            for (int i = 0; i < l->n; i++)
                if (l->v[i].seq) {
                    if (es->oldest_pending_ms < 0 || l->v[i].event_ms < es->oldest_pending_ms)
                        es->oldest_pending_ms = l->v[i].event_ms;
                    break;
                }
        }
    }
    pthread_mutex_unlock(&r->mu);
}

/* exit_when_idle: every assigned partition read to its high watermark, no
 * attempt in flight, nothing pending of an enabled endpoint. */
static bool idle(rf_wh_relay_t *r)
{
    if (!r->ever_assigned || r->in_flight) return false;
    for (int32_t p = 0; p < RF_PARTITIONS_MAX; p++) {
        wh_part_t *wp = r->parts[p];
        if (!wp) continue;
        if (wp->hwm < 0 || wp->st->next_offset < wp->hwm) return false;
        for (int e = 0; e < r->neps; e++)
            if (!r->eps[e].disabled && wp->lanes[e].pending) return false;
    }
    return true;
}

/* ---- the loop ----------------------------------------------------------------- */

static rf_err_t start_reading(rf_wh_relay_t *r, rf_errbuf_t *eb)
{
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(16);
    rd_kafka_resp_err_t kerr;
    if (r->opts.npartitions > 0) {
        for (int i = 0; i < r->opts.npartitions; i++)
            rd_kafka_topic_partition_list_add(tl, r->topic, r->opts.partitions[i]);
        on_assign(r, tl);
        kerr = r->fatal ? RD_KAFKA_RESP_ERR_NO_ERROR : rd_kafka_assign(r->rk, tl);
    } else {
        rd_kafka_topic_partition_list_add(tl, r->topic, RD_KAFKA_PARTITION_UA);
        kerr = rd_kafka_subscribe(r->rk, tl);
    }
    rd_kafka_topic_partition_list_destroy(tl);
    if (r->fatal) return rf_errf(eb, r->fatal, "%s", r->fatal_eb.msg);
    if (kerr)
        return rf_errf(eb, RF_ERR_KAFKA, "cannot read %s: %s", r->topic, rd_kafka_err2str(kerr));
    return RF_OK;
}

/* Tells the broker the stored offsets (monitoring only: lag tools). */
static void commit_broker(rf_wh_relay_t *r)
{
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(16);
    for (int32_t p = 0; p < RF_PARTITIONS_MAX; p++)
        if (r->parts[p] && r->parts[p]->st->next_offset >= 0)
            rd_kafka_topic_partition_list_add(offs, r->topic, p)->offset =
                r->parts[p]->st->next_offset;
    if (offs->cnt > 0 && r->opts.npartitions == 0) rd_kafka_commit(r->rk, offs, 1);
    rd_kafka_topic_partition_list_destroy(offs);
}

/* Where a cycle's time goes, logged at debug level every 5 s (tuning). */
static void note_time(rf_wh_relay_t *r, int phase, uint64_t t0)
{
    r->phase_ns[phase] += rf_now_ns() - t0;
}

static void log_times(rf_wh_relay_t *r, int64_t now)
{
    if (now - r->last_times_ms < 5000) return;
    rf_log(RF_LOG_DEBUG,
           "webhooks: %llu cycles: consume %.0f ms, commit %.0f ms, deliver %.0f ms; %d in flight",
           (unsigned long long)r->cycles, r->phase_ns[0] / 1e6, r->phase_ns[1] / 1e6,
           r->phase_ns[2] / 1e6, r->in_flight);
    memset(r->phase_ns, 0, sizeof r->phase_ns);
    r->cycles = 0;
    r->last_times_ms = now;
}

static rf_err_t cycle(rf_wh_relay_t *r, rf_errbuf_t *eb)
{
    uint64_t t0 = rf_now_ns();
    /* wait on Kafka when nothing is in flight nor was due, on the sockets otherwise */
    rf_err_t err = consume(r, r->in_flight || r->busy ? 0 : 10, eb);
    note_time(r, 0, t0);
    t0 = rf_now_ns();
    if (!err) err = commit_all(r, eb); /* outcomes of the last cycle and the new messages */
    note_time(r, 1, t0);
    if (err) return err;
    int64_t now = rf_wall_ms();
    if (now - r->last_req_ms >= RF_WEBHOOK_REQUEST_POLL_MS) {
        r->last_req_ms = now;
        if ((err = serve_requests(r, eb))) return err;
    }
    /* deliver for up to RF_WEBHOOK_DELIVER_MS before the next commit: the
     * outcomes of a cycle share one synced commit (a kill -9 before it sends
     * them again: they count as in flight) */
    t0 = rf_now_ns();
    int64_t until = now + RF_WEBHOOK_DELIVER_MS;
    int started;
    r->busy = false;
    do {
        started = rf__wh_dispatch(r, now);
        r->busy |= started > 0;
        rf__wh_perform(r, r->in_flight ? 5 : 0);
        now = rf_wall_ms();
    } while ((r->in_flight || started) && now < until &&
             !__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE));
    note_time(r, 2, t0);
    r->cycles++;
    log_times(r, now);
    if (now - r->last_hwm_ms >= 500) {
        r->last_hwm_ms = now;
        refresh_hwm(r, false);
        commit_broker(r);
    }
    if (now - r->last_stats_ms >= 200) {
        r->last_stats_ms = now;
        update_stats(r, true);
    }
    return RF_OK;
}

rf_err_t rf_wh_relay_run(rf_wh_relay_t *r, rf_errbuf_t *eb)
{
    rf_err_t err = start_reading(r, eb);
    update_stats(r, true);
    while (!err && !__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
        err = cycle(r, eb);
        if (!err && r->opts.exit_when_idle && idle(r) &&
            rf_wall_ms() - r->last_idle_check_ms >= 500) { /* idle by the cached watermarks */
            r->last_idle_check_ms = rf_wall_ms();
            refresh_hwm(r, true);
            if (idle(r)) break;
        }
    }
    if (!err) { /* the outcomes of the attempts that finished */
        rf__wh_perform(r, 0);
        err = commit_all(r, eb);
    }
    if (err) { /* nothing of the failed cycle may be stored */
        set_fatal(r, err, eb ? eb->msg : rf_err_str(err));
        for (int32_t p = 0; p < RF_PARTITIONS_MAX; p++)
            part_close(r, p);
    }
    if (r->opts.npartitions == 0)
        rd_kafka_consumer_close(r->rk); /* revoke: commits (when no error) and closes */
    if (!err && r->fatal != RF_OK) err = rf_errf(eb, r->fatal, "%s", r->fatal_eb.msg);
    update_stats(r, false);
    return err;
}
