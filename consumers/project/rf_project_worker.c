/* rf_project_worker.c: the projection worker: a consumer group on
 * refold.ledger (or, as a read replica, every partition assigned directly)
 * that applies each partition's records in seq order and commits one synced
 * WriteBatch per partition per poll cycle, with the next offset stored next
 * to the read models (broker commits: monitoring only). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "rf_checkpoint.h" /* tools hook */
#include "rf_codec.h"
#include "rf_project_int.h"
#include "rf_project_worker.h"
#include "rf_store.h"

typedef struct wpart {
    rf_projection_t *proj; /* open while assigned */
    bool assigned;
    bool pending;              /* applied but not committed */
    int64_t pos;               /* next offset to consume (staged) */
    int64_t target;            /* exit_at_end: high watermark at assignment */
    int64_t hwm;               /* last known high watermark */
    uint64_t applied;          /* applied seq (staged) */
    bool in_cycle;             /* apply_cycle's grouping mark */
    bool committed;            /* committed by its applier this cycle: tell the broker */
    uint64_t pending_records;  /* applied since the last commit */
    uint64_t pending_since_ns; /* when the first of them was applied */
} wpart_t;

/* One applier per thread: partitions share nothing, so a cycle's partitions
 * are decoded and applied in parallel, each by one thread. */
typedef struct applier {
    rf_project_worker_t *w;
    rf_codec_t *codec;
    rf_record_t *rec;
    uint64_t records, duplicates; /* this cycle */
    rf_err_t err;
    rf_errbuf_t eb;
} applier_t;

/* The messages of one poll cycle, chained per partition in offset order. */
typedef struct cycle {
    rd_kafka_message_t *msgs[RF_PROJECT_CYCLE_MAX];
    int next[RF_PROJECT_CYCLE_MAX];
    int first[RF_PARTITIONS_MAX], last[RF_PARTITIONS_MAX];
    int32_t active[RF_PARTITIONS_MAX];
    int n, nactive;
    int cursor; /* atomic: next active partition to take */
    int failed; /* atomic: an applier failed, the others stop */
} cycle_t;

struct rf_project_worker {
    rf_project_opts_t opts;
    char group[RF_ID_BUF * 2];
    char topic[RF_ID_BUF * 2];
    char data_dir[4096];
    rd_kafka_t *rk;
    int nthreads;
    applier_t appliers[RF_PROJECT_THREADS_MAX];
    cycle_t *cy;
    wpart_t parts[RF_PARTITIONS_MAX];
    /* the stores' block cache; outlives parts[] */
    rf_store_env_t *store_env;
    int stop; /* atomic */
    bool ever_assigned;
    rf_err_t fatal; /* an error raised inside a callback */
    rf_errbuf_t fatal_eb;
    pthread_mutex_t mu; /* guards stats */
    rf_project_stats_t stats;
};

static void set_fatal(rf_project_worker_t *w, rf_err_t err, const char *msg)
{
    if (w->fatal != RF_OK) return; /* keep the first cause */
    w->fatal = err;
    rf_strlcpy(w->fatal_eb.msg, msg, sizeof w->fatal_eb.msg);
    __atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
}

/* Commits partition p's batch: hands it to the store's writer (wait: and
 * returns once it is durable). An applier does not wait, so the sync of one
 * partition overlaps the apply of the next; commit_all waits before it tells
 * the broker. */
static rf_err_t commit_part(rf_project_worker_t *w, int32_t p, bool wait, rf_errbuf_t *eb)
{
    wpart_t *wp = &w->parts[p];
    if (!wp->proj) return RF_OK;
    int64_t lo = -1, hi = -1;
    if (rd_kafka_get_watermark_offsets(w->rk, w->topic, p, &lo, &hi) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        hi >= 0)
        wp->hwm = hi > wp->hwm ? hi : wp->hwm;
    rf_projection_meta_t m;
    rf_projection_get_meta(wp->proj, &m);
    if (!wp->pending && (wp->hwm < 0 || wp->hwm == m.high_watermark))
        return wait ? rf_projection_commit_wait(wp->proj, eb) : RF_OK;
    uint64_t t0 = rf_now_ns();
    rf_err_t err = rf_projection_commit_start(wp->proj, wp->pending ? wp->pos : -1, wp->hwm, eb);
    if (err == RF_OK && wait) err = rf_projection_commit_wait(wp->proj, eb);
    if (err != RF_OK) return err;
    uint64_t dt = rf_now_ns() - t0;
    if (wp->pending) wp->committed = true;
    wp->pending = false;
    wp->pending_records = 0;
    pthread_mutex_lock(&w->mu);
    w->stats.commits++;
    w->stats.commit_ns += dt;
    if (dt > w->stats.commit_ns_max) w->stats.commit_ns_max = dt;
    pthread_mutex_unlock(&w->mu);
    return RF_OK;
}

/* ---- rebalance ----------------------------------------------------------- */

static void on_assign(rf_project_worker_t *w, rd_kafka_topic_partition_list_t *parts)
{
    rf_errbuf_t eb = {{0}};
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];
        int32_t p = tp->partition;
        if (p < 0 || p >= RF_PARTITIONS_MAX) {
            set_fatal(w, RF_ERR_CONFIG, "assigned a partition beyond RF_PARTITIONS_MAX");
            return;
        }
        wpart_t *wp = &w->parts[p];
        int flags = RF_PROJECTION_CREATE | (w->opts.nosync ? RF_PROJECTION_NOSYNC : 0);
        if (!wp->proj) wp->proj = rf_projection_open_env(w->store_env, w->data_dir, p, flags, &eb);
        if (!wp->proj) {
            set_fatal(w, RF_ERR_STORAGE, eb.msg);
            return;
        }
        rf_projection_meta_t m;
        rf_projection_get_meta(wp->proj, &m);
        wp->assigned = true;
        wp->pending = false;
        wp->committed = false;
        wp->pending_records = 0;
        wp->applied = m.applied_seq;
        wp->pos = m.next_offset >= 0 ? m.next_offset : 0;
        tp->offset = m.next_offset >= 0 ? m.next_offset : RD_KAFKA_OFFSET_BEGINNING;
        int64_t lo = -1, hi = -1;
        wp->target = -1;
        if (rd_kafka_query_watermark_offsets(w->rk, w->topic, p, &lo, &hi, 10000) ==
            RD_KAFKA_RESP_ERR_NO_ERROR) {
            wp->target = hi;
            wp->hwm = hi;
            if (m.next_offset < 0) wp->pos = lo; /* an empty store starts at the beginning */
        } else if (w->opts.exit_at_end) {
            set_fatal(w, RF_ERR_KAFKA, "cannot read the high watermark of an assigned partition");
            return;
        }
        rf_log(RF_LOG_INFO, "project: partition %d assigned: applied seq %llu, offset %lld", (int)p,
               (unsigned long long)m.applied_seq, (long long)m.next_offset);
    }
    w->ever_assigned = true;
}

static void on_revoke(rf_project_worker_t *w, rd_kafka_topic_partition_list_t *parts)
{
    rf_errbuf_t eb = {{0}};
    for (int i = 0; i < parts->cnt; i++) {
        int32_t p = parts->elems[i].partition;
        if (p < 0 || p >= RF_PARTITIONS_MAX || !w->parts[p].proj) continue;
        wpart_t *wp = &w->parts[p];
        /* a failed batch must not be committed: after a fatal error only close */
        if (w->fatal == RF_OK && commit_part(w, p, true, &eb) != RF_OK)
            set_fatal(w, RF_ERR_STORAGE, eb.msg);
        rf_projection_close(wp->proj);
        wp->proj = NULL;
        wp->assigned = false;
        wp->pending = false;
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    rf_project_worker_t *w = opaque;
    bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        on_assign(w, parts);
        if (coop)
            rd_kafka_error_destroy(rd_kafka_incremental_assign(rk, parts));
        else
            rd_kafka_assign(rk, parts);
    } else {
        on_revoke(w, parts);
        if (coop)
            rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, parts));
        else
            rd_kafka_assign(rk, NULL);
    }
}

/* ---- setup ------------------------------------------------------------------- */

/* Settings and forced ones (group, offsets): rf_kafka.c, RF_KAFKA_PROJECT_CONSUMER. */
static rf_err_t make_consumer(rf_project_worker_t *w, rf_errbuf_t *eb)
{
    rf_kafka_client_t spec = {.role = RF_KAFKA_PROJECT_CONSUMER,
                              .opts = &w->opts.kafka,
                              .group = w->group,
                              .opaque = w,
                              .rebalance_cb = rebalance_cb};
    rf_err_t err = rf_kafka_client_new(&spec, &w->rk, eb);
    if (err != RF_OK) return err;
    rd_kafka_poll_set_consumer(w->rk);
    return RF_OK;
}

rf_project_worker_t *rf_project_worker_new(const rf_project_opts_t *opts, rf_errbuf_t *eb)
{
    if (!opts->data_dir || !*opts->data_dir || !opts->kafka.brokers || !*opts->kafka.brokers) {
        rf_errf(eb, RF_ERR_CONFIG, "--brokers and --data are required");
        return NULL;
    }
    if (opts->threads < 0 || opts->threads > RF_PROJECT_THREADS_MAX) {
        rf_errf(eb, RF_ERR_CONFIG, "threads must be 0..%d", RF_PROJECT_THREADS_MAX);
        return NULL;
    }
    if (opts->commit_ms < 0 || opts->commit_ms > RF_PROJECT_COMMIT_MS_MAX) {
        rf_errf(eb, RF_ERR_CONFIG, "commit interval must be 0..%d ms", RF_PROJECT_COMMIT_MS_MAX);
        return NULL;
    }
    rf_project_worker_t *w = calloc(1, sizeof *w);
    if (!w || !(w->cy = calloc(1, sizeof *w->cy))) {
        free(w);
        rf_errf(eb, RF_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (!(w->store_env = rf_store_env_new(NULL, eb))) {
        free(w->cy);
        free(w);
        return NULL;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    w->nthreads = opts->threads ? opts->threads : (int)(cpus < 1 ? 1 : cpus);
    if (w->nthreads > RF_PROJECT_THREADS_MAX) w->nthreads = RF_PROJECT_THREADS_MAX;
    w->opts = *opts;
    pthread_mutex_init(&w->mu, NULL);
    if (rf_strlcpy(w->group, opts->group ? opts->group : "refold-project", sizeof w->group) ||
        rf_strlcpy(w->topic, opts->topic ? opts->topic : RF_TOPIC_LEDGER, sizeof w->topic) ||
        rf_strlcpy(w->data_dir, opts->data_dir, sizeof w->data_dir)) {
        rf_errf(eb, RF_ERR_CONFIG, "group, topic or data directory too long");
        rf_project_worker_destroy(w);
        return NULL;
    }
    w->opts.data_dir = w->data_dir;
    for (int i = 0; i < RF_PARTITIONS_MAX; i++)
        w->parts[i].hwm = -1;
    for (int i = 0; i < w->nthreads; i++) {
        applier_t *a = &w->appliers[i];
        a->w = w;
        a->rec = malloc(sizeof *a->rec);
        if (!a->rec || !(a->codec = rf_codec_new(eb))) {
            if (!a->rec) rf_errf(eb, RF_ERR_NOMEM, "out of memory");
            rf_project_worker_destroy(w);
            return NULL;
        }
    }
    if (make_consumer(w, eb) != RF_OK) {
        rf_project_worker_destroy(w);
        return NULL;
    }
    return w;
}

void rf_project_worker_destroy(rf_project_worker_t *w)
{
    if (!w) return;
    if (w->rk) rd_kafka_destroy(w->rk);
    for (int i = 0; i < RF_PARTITIONS_MAX; i++)
        rf_projection_close(w->parts[i].proj);
    rf_store_env_free(w->store_env); /* after its stores */
    for (int i = 0; i < RF_PROJECT_THREADS_MAX; i++) {
        rf_codec_destroy(w->appliers[i].codec);
        free(w->appliers[i].rec);
    }
    pthread_mutex_destroy(&w->mu);
    free(w->cy);
    free(w);
}

void rf_project_worker_stop(rf_project_worker_t *w)
{
    __atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
}

void rf_project_worker_stats(rf_project_worker_t *w, rf_project_stats_t *out)
{
    pthread_mutex_lock(&w->mu);
    *out = w->stats;
    pthread_mutex_unlock(&w->mu);
}

/* ---- the poll loop ------------------------------------------------------------- */

static rf_err_t handle_message(applier_t *a, const rd_kafka_message_t *msg, rf_errbuf_t *eb)
{
    rf_project_worker_t *w = a->w;
    int32_t p = msg->partition;
    wpart_t *wp = &w->parts[p];
    rf_errbuf_t deb = {{0}};
    rf_err_t err = rf_codec_decode_record(a->codec, msg->payload, msg->len, a->rec, &deb);
    if (err != RF_OK)
        return rf_errf(eb, RF_ERR_CORRUPT, "%s [%d] offset %lld: undecodable ledger record: %s",
                       w->topic, (int)p, (long long)msg->offset, deb.msg);
    rf_apply_outcome_t out;
    err = rf_projection_apply(wp->proj, a->rec, &out, eb);
    if (err != RF_OK) return err;
    wp->pos = msg->offset + 1;
    if (!wp->pending) wp->pending_since_ns = rf_now_ns();
    wp->pending = true;
    wp->pending_records++;
    if (out == RF_APPLY_DUPLICATE) {
        a->duplicates++;
    } else {
        a->records++;
        wp->applied = a->rec->seq;
    }
    if (rf_projection_cache_full(wp->proj)) return commit_part(w, p, false, eb); /* bounded */
    return RF_OK;
}

/* Whether partition p's pending batch commits now (opts.commit_ms). */
static bool commit_due(const rf_project_worker_t *w, const wpart_t *wp)
{
    if (w->opts.commit_ms <= 0 || !wp->pending) return true;
    return wp->pending_records >= RF_PROJECT_BATCH_MAX ||
           rf_now_ns() - wp->pending_since_ns >= (uint64_t)w->opts.commit_ms * 1000000u;
}

/* Applies the cycle's messages of the partitions it takes, one at a time,
 * and commits each partition right after its messages: the synced commits of
 * different partitions then overlap (and overlap other partitions' apply)
 * instead of running one after the other on the polling thread. */
static void *applier_main(void *arg)
{
    applier_t *a = arg;
    cycle_t *cy = a->w->cy;
    for (;;) {
        int i = __atomic_fetch_add(&cy->cursor, 1, __ATOMIC_ACQ_REL);
        if (i >= cy->nactive || __atomic_load_n(&cy->failed, __ATOMIC_ACQUIRE)) break;
        for (int m = cy->first[cy->active[i]]; m >= 0 && a->err == RF_OK; m = cy->next[m])
            a->err = handle_message(a, cy->msgs[m], &a->eb);
        if (a->err == RF_OK && commit_due(a->w, &a->w->parts[cy->active[i]]))
            a->err = commit_part(a->w, cy->active[i], false, &a->eb);
        if (a->err != RF_OK) {
            __atomic_store_n(&cy->failed, 1, __ATOMIC_RELEASE);
            return NULL;
        }
    }
    return NULL;
}

/* Groups the collected messages by partition and applies the partitions on
 * up to nthreads threads; the calling thread is one of them. Messages of
 * partitions no longer ours are skipped (the new owner reads them from its
 * stored offset); messages polled before a revoke and reassign of the same
 * partition are applied, and their refetched copies are dropped by seq. */
static rf_err_t apply_cycle(rf_project_worker_t *w, rf_errbuf_t *eb)
{
    cycle_t *cy = w->cy;
    cy->nactive = cy->cursor = cy->failed = 0;
    for (int i = 0; i < cy->n; i++) {
        int32_t p = cy->msgs[i]->partition;
        cy->next[i] = -1;
        if (p < 0 || p >= RF_PARTITIONS_MAX || !w->parts[p].proj) continue;
        if (!w->parts[p].in_cycle) {
            w->parts[p].in_cycle = true;
            cy->active[cy->nactive++] = p;
            cy->first[p] = i;
        } else {
            cy->next[cy->last[p]] = i;
        }
        cy->last[p] = i;
    }
    for (int k = 0; k < cy->nactive; k++)
        w->parts[cy->active[k]].in_cycle = false;
    int nt = cy->nactive < w->nthreads ? cy->nactive : w->nthreads;
    int worth = 1 + cy->n / RF_PROJECT_APPLY_THREAD_MIN; /* small cycles: this thread alone */
    if (nt > worth) nt = worth;
    pthread_t th[RF_PROJECT_THREADS_MAX];
    int started = 0;
    for (int t = 1; t < nt; t++, started++)
        if (pthread_create(&th[t], NULL, applier_main, &w->appliers[t]) != 0) break;
    applier_main(&w->appliers[0]);
    for (int t = 1; t <= started; t++)
        pthread_join(th[t], NULL);
    rf_err_t err = RF_OK;
    pthread_mutex_lock(&w->mu);
    for (int t = 0; t < w->nthreads; t++) {
        applier_t *a = &w->appliers[t];
        w->stats.records += a->records;
        w->stats.duplicates += a->duplicates;
        a->records = a->duplicates = 0;
        if (a->err != RF_OK && err == RF_OK) {
            err = a->err;
            rf_errf(eb, err, "%s", a->eb.msg);
        }
        a->err = RF_OK;
    }
    pthread_mutex_unlock(&w->mu);
    return err;
}

static rf_err_t consumer_error(rf_project_worker_t *w, const rd_kafka_message_t *msg,
                               rf_errbuf_t *eb)
{
    char fatal[256];
    if (msg->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
        msg->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE)
        return rf_errf(eb, RF_ERR_GAP,
                       "%s [%d]: stored offset is out of range (%s): the ledger topic lost "
                       "records this projection has not applied; rebuild it from a full topic",
                       w->topic, (int)msg->partition, rd_kafka_message_errstr(msg));
    if (msg->err == RD_KAFKA_RESP_ERR__FATAL) {
        rd_kafka_fatal_error(w->rk, fatal, sizeof fatal);
        return rf_errf(eb, RF_ERR_KAFKA, "fatal consumer error: %s", fatal);
    }
    if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return RF_OK;
    rf_log(RF_LOG_WARN, "project: consumer: %s", rd_kafka_message_errstr(msg));
    return RF_OK; /* transient (broker down, ...): librdkafka retries */
}

/* How long a cycle may wait for its first record: RF_PROJECT_IDLE_WAIT_MS,
 * or less when a partition's --commit-ms batch falls due sooner. */
static int idle_wait_ms(const rf_project_worker_t *w)
{
    uint64_t wait_ns = (uint64_t)RF_PROJECT_IDLE_WAIT_MS * 1000000u, now = rf_now_ns();
    for (int p = 0; p < RF_PARTITIONS_MAX && w->opts.commit_ms > 0; p++) {
        const wpart_t *wp = &w->parts[p];
        if (!wp->proj || !wp->pending) continue;
        uint64_t due = wp->pending_since_ns + (uint64_t)w->opts.commit_ms * 1000000u;
        uint64_t left = due > now ? due - now : 0;
        if (left < wait_ns) wait_ns = left;
    }
    return (int)((wait_ns + 999999u) / 1000000u);
}

/* Takes one message into the cycle (true), or handles an error event. */
static bool take(rf_project_worker_t *w, rd_kafka_message_t *msg, rf_err_t *err, rf_errbuf_t *eb)
{
    if (w->fatal != RF_OK && *err == RF_OK) /* raised by the rebalance callback */
        *err = rf_errf(eb, w->fatal, "%s", w->fatal_eb.msg);
    if (msg->err || *err != RF_OK) {
        if (*err == RF_OK) *err = consumer_error(w, msg, eb);
        rd_kafka_message_destroy(msg);
        return false;
    }
    w->cy->msgs[w->cy->n++] = msg;
    return true;
}

/* One poll cycle, a group commit: wait up to RF_PROJECT_IDLE_WAIT_MS for the
 * first record, take what the consumer already holds (up to
 * RF_PROJECT_CYCLE_MAX, or RF_PROJECT_BATCH_MS of taking), then apply them
 * (in parallel per partition). Records that arrive while a cycle applies and
 * commits make the next cycle: batches grow with the load by themselves, and
 * a lone record waits for no timer. */
static rf_err_t poll_cycle(rf_project_worker_t *w, rf_errbuf_t *eb)
{
    cycle_t *cy = w->cy;
    rf_err_t err = RF_OK;
    cy->n = 0;
    rd_kafka_message_t *msg = rd_kafka_consumer_poll(w->rk, idle_wait_ms(w));
    if (msg) take(w, msg, &err, eb);
    if (w->fatal != RF_OK && err == RF_OK) err = rf_errf(eb, w->fatal, "%s", w->fatal_eb.msg);
    uint64_t deadline = rf_now_ns() + (uint64_t)RF_PROJECT_BATCH_MS * 1000000u;
    while (cy->n > 0 && cy->n < RF_PROJECT_CYCLE_MAX && err == RF_OK) {
        if (__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) break;
        if ((cy->n & 1023) == 0 && rf_now_ns() >= deadline) break;
        if (!(msg = rd_kafka_consumer_poll(w->rk, 0))) break;
        take(w, msg, &err, eb);
    }
    if (err == RF_OK) err = apply_cycle(w, eb);
    for (int i = 0; i < cy->n; i++)
        rd_kafka_message_destroy(cy->msgs[i]);
    cy->n = 0;
    return err;
}

/* Commits every partition's batch (the writes of all partitions in flight
 * together), waits until they are durable, then tells the broker
 * (monitoring only). */
static rf_err_t commit_all(rf_project_worker_t *w, rf_errbuf_t *eb)
{
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(16);
    rf_err_t err = RF_OK;
    bool had[RF_PARTITIONS_MAX] = {false};
    for (int p = 0; p < RF_PARTITIONS_MAX && err == RF_OK; p++) {
        wpart_t *wp = &w->parts[p];
        if (!wp->proj) continue;
        if (!commit_due(w, wp)) continue; /* --commit-ms: keeps batching */
        had[p] = wp->pending || wp->committed;
        wp->committed = false;
        err = commit_part(w, p, false, eb);
    }
    for (int p = 0; p < RF_PARTITIONS_MAX && err == RF_OK; p++) {
        if (!had[p]) continue;
        err = rf_projection_commit_wait(w->parts[p].proj, eb);
        if (err == RF_OK)
            rd_kafka_topic_partition_list_add(offs, w->topic, p)->offset = w->parts[p].pos;
    }
    /* a replica is in no group: hosts would overwrite each other's offsets */
    if (err == RF_OK && offs->cnt > 0 && !w->opts.replica) rd_kafka_commit(w->rk, offs, 1);
    rd_kafka_topic_partition_list_destroy(offs);
    return err;
}

static void update_stats(rf_project_worker_t *w, bool running)
{
    pthread_mutex_lock(&w->mu);
    w->stats.running = running;
    int n = 0;
    for (int p = 0; p < RF_PARTITIONS_MAX; p++) {
        wpart_t *wp = &w->parts[p];
        if (!wp->proj && !wp->assigned && wp->hwm < 0) continue;
        rf_project_part_stats_t *s = &w->stats.parts[n++];
        s->partition = p;
        s->assigned = wp->assigned;
        s->applied_seq = wp->applied;
        s->next_offset = wp->pos;
        s->high_watermark = wp->hwm;
        s->lag = wp->hwm >= 0 ? (wp->hwm > wp->pos ? wp->hwm - wp->pos : 0) : -1;
    }
    w->stats.nparts = n;
    pthread_mutex_unlock(&w->mu);
}

static bool reached_end(rf_project_worker_t *w)
{
    if (!w->ever_assigned) return false;
    for (int p = 0; p < RF_PARTITIONS_MAX; p++) {
        const wpart_t *wp = &w->parts[p];
        if (wp->assigned && (wp->target < 0 || wp->pos < wp->target)) return false;
    }
    return true;
}

/* ---- replica mode: every partition, no group ------------------------------- */

/* The ledger topic's partition count, asking until timeout_ms passed (the
 * topic may not exist yet). */
static rf_err_t topic_partitions(rf_project_worker_t *w, int timeout_ms, int *count,
                                 rf_errbuf_t *eb)
{
    uint64_t deadline = rf_now_ns() + (uint64_t)timeout_ms * 1000000u;
    const char *why = "no answer";
    for (;;) {
        rd_kafka_topic_t *t = rd_kafka_topic_new(w->rk, w->topic, NULL);
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t kerr =
            t ? rd_kafka_metadata(w->rk, 0, t, &md, timeout_ms) : rd_kafka_last_error();
        if (t) rd_kafka_topic_destroy(t);
        if (!kerr && md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0) {
            *count = md->topics[0].partition_cnt;
            rd_kafka_metadata_destroy(md);
            if (*count > RF_PARTITIONS_MAX)
                return rf_errf(eb, RF_ERR_CONFIG, "%s has %d partitions; refold handles %d",
                               w->topic, *count, RF_PARTITIONS_MAX);
            return RF_OK;
        }
        why = rd_kafka_err2str(kerr ? kerr : md->topic_cnt ? md->topics[0].err : kerr);
        if (md) rd_kafka_metadata_destroy(md);
        if (rf_now_ns() >= deadline || __atomic_load_n(&w->stop, __ATOMIC_ACQUIRE))
            return rf_errf(eb, RF_ERR_KAFKA, "cannot learn the partitions of %s: %s", w->topic,
                           why);
        usleep(200000);
    }
}

/* Assigns partitions 0..count-1: those not held yet start at their stored
 * offsets (on_assign), the others stay at their positions. Runs between poll
 * cycles, so no message of an old position is pending. */
static rf_err_t replica_assign(rf_project_worker_t *w, int count, rf_errbuf_t *eb)
{
    rd_kafka_topic_partition_list_t *all = rd_kafka_topic_partition_list_new(count);
    rd_kafka_topic_partition_list_t *fresh = rd_kafka_topic_partition_list_new(count);
    for (int32_t p = 0; p < count; p++)
        if (w->parts[p].assigned)
            rd_kafka_topic_partition_list_add(all, w->topic, p)->offset = w->parts[p].pos;
        else
            rd_kafka_topic_partition_list_add(fresh, w->topic, p);
    if (fresh->cnt > 0) on_assign(w, fresh);
    for (int i = 0; i < fresh->cnt; i++)
        rd_kafka_topic_partition_list_add(all, w->topic, fresh->elems[i].partition)->offset =
            fresh->elems[i].offset;
    rf_err_t err = RF_OK;
    rd_kafka_resp_err_t kerr = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (w->fatal != RF_OK)
        err = rf_errf(eb, w->fatal, "%s", w->fatal_eb.msg);
    else if (fresh->cnt > 0 && (kerr = rd_kafka_assign(w->rk, all)))
        err = rf_errf(eb, RF_ERR_KAFKA, "cannot assign %s: %s", w->topic, rd_kafka_err2str(kerr));
    if (err == RF_OK && fresh->cnt > 0)
        rf_log(RF_LOG_INFO, "project: replica of %s: %d partitions (%d new)", w->topic, count,
               fresh->cnt);
    rd_kafka_topic_partition_list_destroy(all);
    rd_kafka_topic_partition_list_destroy(fresh);
    return err;
}

/* Takes up partitions added to the topic since the last look. */
static rf_err_t replica_refresh(rf_project_worker_t *w, uint64_t *last_ns, rf_errbuf_t *eb)
{
    uint64_t now = rf_now_ns();
    if (now - *last_ns < (uint64_t)RF_PROJECT_REPLICA_REFRESH_MS * 1000000u) return RF_OK;
    *last_ns = now;
    int count = 0;
    rf_errbuf_t meb = {{0}};
    if (topic_partitions(w, 1000, &count, &meb) != RF_OK) { /* try again next time */
        rf_log(RF_LOG_WARN, "project: %s", meb.msg);
        return RF_OK;
    }
    return replica_assign(w, count, eb);
}

/* Joins the group (subscribe) or, as a replica, assigns every partition. */
static rf_err_t start_consuming(rf_project_worker_t *w, rf_errbuf_t *eb)
{
    if (w->opts.replica) {
        int count = 0;
        rf_err_t err = topic_partitions(w, RF_PROJECT_REPLICA_METADATA_MS, &count, eb);
        return err == RF_OK ? replica_assign(w, count, eb) : err;
    }
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, w->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t kerr = rd_kafka_subscribe(w->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (kerr)
        return rf_errf(eb, RF_ERR_KAFKA, "cannot subscribe to %s: %s", w->topic,
                       rd_kafka_err2str(kerr));
    return RF_OK;
}

/* A replica has no rebalance callback to revoke its partitions at close:
 * commits and closes them here (what on_revoke does for a group member). */
static void replica_release(rf_project_worker_t *w)
{
    rd_kafka_topic_partition_list_t *mine = rd_kafka_topic_partition_list_new(RF_PARTITIONS_MAX);
    for (int32_t p = 0; p < RF_PARTITIONS_MAX; p++)
        if (w->parts[p].proj) rd_kafka_topic_partition_list_add(mine, w->topic, p);
    on_revoke(w, mine);
    rd_kafka_topic_partition_list_destroy(mine);
    rd_kafka_assign(w->rk, NULL);
}

rf_err_t rf_project_worker_run(rf_project_worker_t *w, rf_errbuf_t *eb)
{
    rf_err_t err = start_consuming(w, eb);
    if (err != RF_OK) return err;
    uint64_t refreshed_ns = rf_now_ns();
    update_stats(w, true);
    while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
        err = poll_cycle(w, eb);
        if (err == RF_OK) err = commit_all(w, eb);
        if (err == RF_OK && w->opts.replica) err = replica_refresh(w, &refreshed_ns, eb);
        if (err != RF_OK) break;
        /* tools hook (consumers/rf_checkpoint.h): serve `refold checkpoint` between cycles */
        for (int p = 0; p < RF_PARTITIONS_MAX; p++)
            if (w->parts[p].proj)
                rf_checkpoint_serve_dir(w->data_dir, "project", p, w->parts[p].proj,
                                        rf_projection_checkpoint_fn);
        update_stats(w, true);
        if (w->opts.exit_at_end && reached_end(w)) break;
    }
    if (err != RF_OK) { /* nothing of the failed batch may be stored: drop it */
        set_fatal(w, err, eb ? eb->msg : rf_err_str(err));
        for (int p = 0; p < RF_PARTITIONS_MAX; p++) {
            rf_projection_close(w->parts[p].proj);
            w->parts[p].proj = NULL;
        }
    }
    /* a replica commits what is pending (when no error) here */
    if (w->opts.replica) replica_release(w);
    rd_kafka_consumer_close(w->rk); /* revoke: commits what is pending (when no error) */
    if (err == RF_OK && w->fatal != RF_OK) err = rf_errf(eb, w->fatal, "%s", w->fatal_eb.msg);
    pthread_mutex_lock(&w->mu);
    w->stats.err = err;
    if (err != RF_OK) rf_strlcpy(w->stats.errmsg, eb ? eb->msg : rf_err_str(err), RF_ERRMSG_MAX);
    pthread_mutex_unlock(&w->mu);
    update_stats(w, false);
    return err;
}
