/* rf_harness.h: the reliability harness's shared pieces (tests/it_faults.c,
 * it_disk_full.c, it_badinput.c, it_load.c, tests/bench/bench_e2e.c):
 * supervised fold and projection workers on threads (restarted after a fatal
 * error, as systemd would), a loadgen producer that counts deliveries per
 * partition and throttles on the pipeline's lag, and order-independent
 * digests of ledger heads and balances for comparing a run with a clean one.
 * Header-only (static functions). Failures of the harness itself abort. */
#ifndef RF_HARNESS_H
#define RF_HARNESS_H

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "rf_hex.h"
#include "rf_fold_worker.h"
#include "rf_ledger.h"
#include "rf_loadgen.h"
#include "rf_producer.h"
#include "rf_project_worker.h"
#include "rf_query.h"
#include "rf_testutil.h"

/* A supervisor gives up after this many restarts in one run: a worker that
 * keeps failing is a finding, not something to retry forever. */
#define RH_RESTARTS_MAX 200
/* Backpressure of the producer (the mock keeps 5 MiB per partition): events
 * not yet folded, and ledger records not yet projected, per partition. The
 * first can be lowered with RF_HARNESS_LAG_MAX: long fault runs, where
 * workers restart often, need more room below the mock's retention. */
#define RH_EVENTS_LAG_MAX  20000
#define RH_RECORDS_LAG_MAX 4000
/* Waiting for a condition: poll interval and default limit. */
#define RH_POLL_MS 50

static inline void rh_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static inline double rh_secs(uint64_t t0_ns)
{
    return (double)(rf_now_ns() - t0_ns) / 1e9;
}

/* A field of /proc/<pid>/status in KiB ("VmRSS", "VmHWM"); 0 when unknown. */
static inline long rh_proc_kb(long pid, const char *field)
{
    char path[64], line[256];
    if (pid > 0)
        snprintf(path, sizeof path, "/proc/%ld/status", pid);
    else
        snprintf(path, sizeof path, "/proc/self/status");
    FILE *f = fopen(path, "r");
    long kb = 0;
    size_t fl = strlen(field);
    if (!f) return 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, field, fl) && line[fl] == ':') kb = atol(line + fl + 1);
    fclose(f);
    return kb;
}

/* Logging: librdkafka's own complaints during injected faults are expected
 * and many; they are counted, the rest printed (at most RH_LOG_PRINT_MAX). */
#define RH_LOG_PRINT_MAX 5000
static uint64_t rh_log_kafka, rh_log_other;
static inline void rh_log_cb(rf_log_level_t level, const char *msg, void *opaque)
{
    (void)opaque;
    if (strstr(msg, "kafka ") || strstr(msg, "consumer: ")) {
        __atomic_add_fetch(&rh_log_kafka, 1, __ATOMIC_RELAXED);
        return;
    }
    if (__atomic_add_fetch(&rh_log_other, 1, __ATOMIC_RELAXED) <= RH_LOG_PRINT_MAX)
        fprintf(stderr, "refold: %s: %s\n",
                level == RF_LOG_ERROR  ? "error"
                : level == RF_LOG_WARN ? "warn"
                                       : "info",
                msg);
}
static inline void rh_log_install(void)
{
    const char *lv = getenv("RF_HARNESS_LOG"); /* "info" or "debug" for more */
    rf_log_set_level(lv && !strcmp(lv, "debug")  ? RF_LOG_DEBUG
                     : lv && !strcmp(lv, "info") ? RF_LOG_INFO
                                                 : RF_LOG_WARN);
    rf_log_set_callback(rh_log_cb, NULL);
}

/* ---- supervised workers ---------------------------------------------------- */

typedef enum rh_kind { RH_FOLD, RH_PROJECT } rh_kind_t;

typedef struct rh_sup {
    rh_kind_t kind;
    rf_fold_worker_conf_t fold; /* RH_FOLD */
    rf_project_opts_t project;  /* RH_PROJECT */
    pthread_t thread;
    pthread_mutex_t mu;
    bool stop;
    bool gave_up;
    int restarts;
    char last_error[RF_ERRMSG_MAX + 64];
    rf_fold_worker_t *fw; /* the running worker (under mu) */
    rf_project_worker_t *pw;
    rf_fold_stats_t *last_stats; /* RH_FOLD: stats of the last run that ended */
} rh_sup_t;

static inline void rh_note(rh_sup_t *s, rf_err_t err, const char *msg)
{
    pthread_mutex_lock(&s->mu);
    s->restarts++;
    snprintf(s->last_error, sizeof s->last_error, "%s: %s", rf_err_str(err), msg);
    pthread_mutex_unlock(&s->mu);
    fprintf(stderr, "harness: %s worker stopped (%s: %s); restarting\n",
            s->kind == RH_FOLD ? "fold" : "project", rf_err_str(err), msg);
}

/* One run of the worker; returns true when the supervisor should go on. */
static inline bool rh_sup_once(rh_sup_t *s)
{
    rf_errbuf_t eb = {{0}};
    rf_err_t err = RF_OK;
    pthread_mutex_lock(&s->mu);
    if (s->stop) {
        pthread_mutex_unlock(&s->mu);
        return false;
    }
    if (s->kind == RH_FOLD)
        s->fw = rf_fold_worker_new(&s->fold, &eb);
    else
        s->pw = rf_project_worker_new(&s->project, &eb);
    void *w = s->kind == RH_FOLD ? (void *)s->fw : (void *)s->pw;
    pthread_mutex_unlock(&s->mu);
    if (!w) {
        rh_note(s, RF_ERR_CONFIG, eb.msg);
        return s->restarts < RH_RESTARTS_MAX;
    }
    err = s->kind == RH_FOLD ? rf_fold_worker_run(s->fw, &eb) : rf_project_worker_run(s->pw, &eb);
    pthread_mutex_lock(&s->mu);
    bool stopping = s->stop;
    rf_fold_worker_t *fw = s->fw;
    rf_project_worker_t *pw = s->pw;
    if (fw) {
        if (!s->last_stats) s->last_stats = malloc(sizeof *s->last_stats);
        RF_ASSERT(s->last_stats);
        rf_fold_worker_stats(fw, s->last_stats);
    }
    s->fw = NULL;
    s->pw = NULL;
    pthread_mutex_unlock(&s->mu);
    rf_fold_worker_destroy(fw);
    rf_project_worker_destroy(pw);
    if (stopping && err == RF_OK) return false;
    if (err == RF_OK && (s->kind == RH_FOLD ? s->fold.exit_at_end : s->project.exit_at_end))
        return false;
    rh_note(s, err, err ? eb.msg : "returned without a stop request");
    return s->restarts < RH_RESTARTS_MAX;
}

static inline void *rh_sup_main(void *arg)
{
    rh_sup_t *s = arg;
    prctl(PR_SET_NAME, s->kind == RH_FOLD ? "rh-fold" : "rh-project"); /* top -H, perf */
    while (rh_sup_once(s))
        rh_sleep_ms(200);
    pthread_mutex_lock(&s->mu);
    if (!s->stop) s->gave_up = true;
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static inline void rh_sup_start(rh_sup_t *s)
{
    pthread_mutex_init(&s->mu, NULL);
    s->stop = s->gave_up = false;
    s->restarts = 0;
    s->last_error[0] = '\0';
    RF_ASSERT(pthread_create(&s->thread, NULL, rh_sup_main, s) == 0);
}

static inline void rh_sup_stop(rh_sup_t *s)
{
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    if (s->fw) rf_fold_worker_stop(s->fw);
    if (s->pw) rf_project_worker_stop(s->pw);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->mu);
}

static inline void rh_sup_free(rh_sup_t *s)
{
    free(s->last_stats);
    s->last_stats = NULL;
}

/* One -X property ("name=value") given to every Kafka client the harness
 * creates (workers and producer), or NULL. it_faults sets
 * max.in.flight.requests.per.connection=1: librdkafka 2.0.2's mock broker does
 * not check idempotent producers' sequence numbers, so with several requests
 * in flight an injected error on one request followed by the success of the
 * next makes the client count the failed one delivered (it trusts the broker
 * to refuse a gap, as real Kafka does): an acknowledged message lost by the
 * mock, not by the client or refold. One request in flight closes that gap. */
static const char *rh_kafka_x;

static inline void rh_kafka_x_apply(rf_kafka_opts_t *k)
{
    if (!rh_kafka_x) return;
    rf_errbuf_t eb = {{0}};
    RF_ASSERT(rf_kafka_opts_add_x(k, rh_kafka_x, &eb) == RF_OK);
}

static inline void rh_fold_conf(rh_sup_t *s, const char *brokers, const char *data)
{
    memset(s, 0, sizeof *s);
    s->kind = RH_FOLD;
    rf_fold_worker_conf_init(&s->fold);
    s->fold.kafka.brokers = brokers;
    rh_kafka_x_apply(&s->fold.kafka);
    s->fold.data_dir = data;
}

static inline void rh_project_conf(rh_sup_t *s, const char *brokers, const char *data)
{
    memset(s, 0, sizeof *s);
    s->kind = RH_PROJECT;
    s->project.kafka.brokers = brokers;
    rh_kafka_x_apply(&s->project.kafka);
    s->project.data_dir = data;
}

/* Progress per partition as the running workers see it: fold next offset,
 * head seq and outbox seq; projection applied seq. -1 where unknown (no worker
 * running, partition not assigned). Partitions of several supervisors merge. */
typedef struct rh_progress {
    int64_t next_offset[RF_PARTITIONS_MAX];
    int64_t head_seq[RF_PARTITIONS_MAX];
    int64_t outbox_seq[RF_PARTITIONS_MAX];
    int64_t applied_seq[RF_PARTITIONS_MAX];
} rh_progress_t;

static inline void rh_progress_reset(rh_progress_t *p)
{
    for (int i = 0; i < RF_PARTITIONS_MAX; i++)
        p->next_offset[i] = p->head_seq[i] = p->outbox_seq[i] = p->applied_seq[i] = -1;
}

static inline void rh_progress_add(rh_sup_t *s, rh_progress_t *p)
{
    static __thread rf_fold_stats_t fst;
    static __thread rf_project_stats_t pst;
    pthread_mutex_lock(&s->mu);
    if (s->fw) {
        rf_fold_worker_stats(s->fw, &fst);
        for (int i = 0; i < fst.nparts; i++) {
            const rf_fold_part_stats_t *ps = &fst.parts[i];
            if (ps->partition < 0 || ps->partition >= RF_PARTITIONS_MAX) continue;
            int32_t k = ps->partition;
            /* a partition moved between workers: the furthest view wins */
            int64_t next = ps->next_offset < 0 ? 0 : ps->next_offset;
            if (next > p->next_offset[k]) p->next_offset[k] = next;
            if ((int64_t)ps->head_seq > p->head_seq[k]) p->head_seq[k] = (int64_t)ps->head_seq;
            if ((int64_t)ps->outbox_seq > p->outbox_seq[k])
                p->outbox_seq[k] = (int64_t)ps->outbox_seq;
        }
    }
    if (s->pw) {
        rf_project_worker_stats(s->pw, &pst);
        for (int i = 0; i < pst.nparts; i++) {
            const rf_project_part_stats_t *ps = &pst.parts[i];
            if (!ps->assigned || ps->partition < 0 || ps->partition >= RF_PARTITIONS_MAX) continue;
            p->applied_seq[ps->partition] = (int64_t)ps->applied_seq;
        }
    }
    pthread_mutex_unlock(&s->mu);
}

/* ---- the producer -------------------------------------------------------- */

typedef struct rh_prod {
    rf_producer_t *p;
    int nparts;
    uint64_t emitted, failed;
    int64_t delivered[RF_PARTITIONS_MAX]; /* per partition, reported by librdkafka */
    rf_event_t ev;
    /* called with the delivery of each event emitted with a msg_opaque
     * (rh_prod_emit_tagged), on the thread that polls the producer */
    void (*on_tagged)(const rf_delivery_t *d, void *opaque);
    void *tagged_opaque;
} rh_prod_t;

static inline void rh_prod_dr(const rf_delivery_t *d, void *opaque)
{
    rh_prod_t *p = opaque;
    if (d->err || d->partition < 0 || d->partition >= RF_PARTITIONS_MAX) {
        p->failed++;
        fprintf(stderr, "harness: delivery failed: %s\n", d->errmsg);
        return;
    }
    /* counted, not taken from the offset: a retried batch that the broker
     * already had is reported delivered with offset -1 (idempotence); the
     * partition's end may still be more (rh_pipe_read_end) */
    p->delivered[d->partition]++;
    if (d->msg_opaque && p->on_tagged) p->on_tagged(d, p->tagged_opaque);
}

static inline rh_prod_t *rh_prod_new(const char *brokers, int nparts)
{
    rh_prod_t *p = calloc(1, sizeof *p);
    RF_ASSERT(p);
    rf_producer_conf_t c;
    rf_producer_conf_init(&c);
    c.kafka.brokers = brokers;
    rh_kafka_x_apply(&c.kafka);
    c.event_time_stamps = true; /* loadgen history may run ahead of today */
    c.on_delivery = rh_prod_dr;
    c.opaque = p;
    rf_errbuf_t eb = {{0}};
    p->p = rf_producer_new(&c, &eb);
    if (!p->p) fprintf(stderr, "harness: producer: %s\n", eb.msg);
    RF_ASSERT(p->p);
    p->nparts = nparts;
    return p;
}

/* Emits ev with msg_opaque tag (NULL: none; see on_tagged), retrying while
 * the local queue is full. */
static inline void rh_prod_emit_tagged(rh_prod_t *p, const rf_event_t *ev, void *tag)
{
    rf_errbuf_t eb = {{0}};
    for (int i = 0; i < RF_PRODUCER_RETRY_MAX; i++) {
        rf_err_t err = rf_producer_emit(p->p, ev, tag, &eb);
        if (err == RF_OK) {
            p->emitted++;
            return;
        }
        if (err != RF_ERR_RETRY) {
            fprintf(stderr, "harness: emit: %s\n", eb.msg);
            RF_ASSERT(!"emit failed");
        }
        rf_producer_poll(p->p, 100);
    }
    RF_ASSERT(!"producer queue stayed full");
}

static inline void rh_prod_emit(rh_prod_t *p, const rf_event_t *ev)
{
    rh_prod_emit_tagged(p, ev, NULL);
}

static inline void rh_prod_flush(rh_prod_t *p)
{
    rf_errbuf_t eb = {{0}};
    for (int i = 0; i < RF_PRODUCER_RETRY_MAX; i++)
        if (rf_producer_flush(p->p, 1000, &eb) == RF_OK) return;
    fprintf(stderr, "harness: flush: %s\n", eb.msg);
    RF_ASSERT(!"flush timed out");
}

static inline int64_t rh_prod_total(const rh_prod_t *p)
{
    int64_t t = 0;
    for (int i = 0; i < p->nparts; i++)
        t += p->delivered[i];
    return t;
}

static inline void rh_prod_destroy(rh_prod_t *p)
{
    if (!p) return;
    rh_prod_flush(p);
    rf_producer_destroy(p->p);
    free(p);
}

/* ---- the pipeline: producer + supervised fold and projection workers ------- */

#define RH_FOLDERS_MAX 4

typedef struct rh_pipe {
    const char *brokers;
    const char *data;
    int nparts;
    int nfold;
    bool project;
    rh_sup_t fold[RH_FOLDERS_MAX];
    rh_sup_t proj;
    rh_prod_t *prod;
    uint64_t throttled_ms;
    /* once production ended: each partition's high watermark, the end the
     * fold must reach (more than delivered when a retried produce request was
     * stored twice: the mock broker does not deduplicate under faults) */
    bool have_end;
    int64_t end[RF_PARTITIONS_MAX];
    int64_t stored_twice;
} rh_pipe_t;

/* Starts nfold fold workers (group "refold-fold") and, when project, a
 * projection worker, all on data; and a producer. */
static inline void rh_pipe_start(rh_pipe_t *pp, const char *brokers, const char *data, int nparts,
                                 int nfold, bool project)
{
    RF_ASSERT(nfold >= 1 && nfold <= RH_FOLDERS_MAX);
    memset(pp, 0, sizeof *pp);
    pp->brokers = brokers;
    pp->data = data;
    pp->nparts = nparts;
    pp->nfold = nfold;
    pp->project = project;
    for (int i = 0; i < nfold; i++) {
        rh_fold_conf(&pp->fold[i], brokers, data);
        rh_sup_start(&pp->fold[i]);
    }
    if (project) {
        rh_project_conf(&pp->proj, brokers, data);
        rh_sup_start(&pp->proj);
    }
    pp->prod = rh_prod_new(brokers, nparts);
}

static inline void rh_pipe_progress(rh_pipe_t *pp, rh_progress_t *pr)
{
    rh_progress_reset(pr);
    for (int i = 0; i < pp->nfold; i++)
        rh_progress_add(&pp->fold[i], pr);
    if (pp->project) rh_progress_add(&pp->proj, pr);
}

static inline bool rh_pipe_failed(rh_pipe_t *pp)
{
    bool bad = false;
    for (int i = 0; i < pp->nfold; i++)
        bad |= pp->fold[i].gave_up;
    return bad || (pp->project && pp->proj.gave_up);
}

/* Waits until the fold workers' group has assigned every partition (the
 * consumer-group join); returns the seconds it took, or -1 after timeout_s
 * or when a worker gave up. */
static inline double rh_pipe_wait_assigned(rh_pipe_t *pp, double timeout_s)
{
    uint64_t t0 = rf_now_ns();
    rh_progress_t pr;
    while (rh_secs(t0) < timeout_s && !rh_pipe_failed(pp)) {
        rh_pipe_progress(pp, &pr);
        int assigned = 0;
        for (int i = 0; i < pp->nparts; i++)
            assigned += pr.next_offset[i] >= 0;
        if (assigned == pp->nparts) return rh_secs(t0);
        rh_sleep_ms(10);
    }
    return -1;
}

/* True when every delivered event is folded, published and projected. */
static inline bool rh_pipe_caught_up(rh_pipe_t *pp)
{
    rh_progress_t pr;
    rh_pipe_progress(pp, &pr);
    for (int i = 0; i < pp->nparts; i++) {
        int64_t want = pp->have_end ? pp->end[i] : pp->prod->delivered[i];
        if (want == 0 && pr.next_offset[i] < 0) continue; /* an empty partition */
        if (pr.next_offset[i] != want) return false;
        if (!pp->project) continue;
        if (pr.outbox_seq[i] != pr.head_seq[i]) return false;
        if (pr.head_seq[i] > 0 && pr.applied_seq[i] != pr.head_seq[i]) return false;
    }
    return true;
}

/* Blocks while the pipeline lags too far behind the producer. Returns false
 * when a worker gave up. */
static inline bool rh_pipe_throttle(rh_pipe_t *pp)
{
    const char *env = getenv("RF_HARNESS_LAG_MAX");
    const int64_t lag_max = env && atol(env) > 0 ? atol(env) : RH_EVENTS_LAG_MAX;
    for (;;) {
        rf_producer_poll(pp->prod->p, 0);
        if (rh_pipe_failed(pp)) return false;
        rh_progress_t pr;
        rh_pipe_progress(pp, &pr);
        /* events still queued in the producer count too: under broker faults
         * they pile up undelivered and would reach the broker all at once,
         * past what its bounded retention keeps unconsumed */
        int64_t delivered = 0;
        for (int i = 0; i < pp->nparts; i++)
            delivered += pp->prod->delivered[i];
        int64_t queued = (int64_t)(pp->prod->emitted - pp->prod->failed) - delivered;
        bool ok = queued <= lag_max;
        /* a partition's share of the queued events (3x its even share for
         * skew, all of them with one partition) will land on it: with one
         * partition and cycles of RF_FOLD_BATCH_MAX, lag plus queue outgrew
         * the mock's retention and the fold found its next offset gone */
        int64_t share = queued * 3 / pp->nparts < queued ? queued * 3 / pp->nparts : queued;
        for (int i = 0; i < pp->nparts && ok; i++) {
            int64_t folded = pr.next_offset[i] < 0 ? 0 : pr.next_offset[i];
            if ((int64_t)pp->prod->delivered[i] + share - folded > lag_max) ok = false;
            /* unknown progress (a worker restarting) counts as behind */
            if (pr.next_offset[i] < 0 && pp->prod->delivered[i] > lag_max / 2) ok = false;
            if (pp->project && pr.head_seq[i] > 0 &&
                pr.head_seq[i] - (pr.applied_seq[i] < 0 ? 0 : pr.applied_seq[i]) >
                    RH_RECORDS_LAG_MAX)
                ok = false;
        }
        if (ok) return true;
        rf_producer_poll(pp->prod->p, RH_POLL_MS);
        pp->throttled_ms += RH_POLL_MS;
    }
}

/* Produces n loadgen events, throttled; every_cb (may be NULL) runs every
 * `every` events (fault injection, rate control). Returns false when a worker
 * gave up. */
typedef void(rh_tick_cb_t)(uint64_t produced, void *opaque);
static inline bool rh_pipe_produce(rh_pipe_t *pp, rf_loadgen_t *g, uint64_t n, uint64_t every,
                                   rh_tick_cb_t *cb, void *opaque)
{
    for (uint64_t k = 0; k < n; k++) {
        if (rf_loadgen_next(g, &pp->prod->ev) != RF_OK) break;
        rh_prod_emit(pp->prod, &pp->prod->ev);
        if ((k + 1) % 1000 == 0 && !rh_pipe_throttle(pp)) return false;
        if (cb && every && (k + 1) % every == 0) cb(k + 1, opaque);
    }
    rh_prod_flush(pp->prod);
    return true;
}

/* Pacing for rh_pipe_produce's tick: sleeps so that `produced` events took
 * at least produced / rate seconds since t0_ns. */
typedef struct rh_pace {
    uint64_t t0_ns;
    double rate; /* events per second */
} rh_pace_t;
static inline void rh_pace_tick(uint64_t produced, void *opaque)
{
    rh_pace_t *p = opaque;
    double due = (double)produced / p->rate, now = rh_secs(p->t0_ns);
    if (due > now) rh_sleep_ms((long)((due - now) * 1000));
}

/* Prints where the pipeline stands (stderr): totals of delivered events,
 * folded offsets, records, published records and projected records. */
static inline void rh_pipe_report(rh_pipe_t *pp, double t)
{
    rh_progress_t pr;
    rh_pipe_progress(pp, &pr);
    int64_t del = 0, folded = 0, head = 0, outbox = 0, applied = 0;
    int unknown = 0;
    for (int i = 0; i < pp->nparts; i++) {
        del += pp->prod->delivered[i];
        folded += pr.next_offset[i] > 0 ? pr.next_offset[i] : 0;
        head += pr.head_seq[i] > 0 ? pr.head_seq[i] : 0;
        outbox += pr.outbox_seq[i] > 0 ? pr.outbox_seq[i] : 0;
        applied += pr.applied_seq[i] > 0 ? pr.applied_seq[i] : 0;
        unknown += pr.next_offset[i] < 0 && pp->prod->delivered[i] > 0;
    }
    fprintf(stderr,
            "harness: %.0f s: delivered %" PRId64 ", folded %" PRId64 " (%d partitions "
            "unassigned), records %" PRId64 ", published %" PRId64 ", projected %" PRId64 "\n",
            t, del, folded, unknown, head, outbox, applied);
}

/* Reads the events topic's high watermarks into pp->end (retrying: the
 * broker may still be recovering from faults). */
static inline void rh_pipe_read_end(rh_pipe_t *pp)
{
    char err[256] = "";
    if (rf_test_high_watermarks(pp->brokers, RF_TOPIC_EVENTS, pp->nparts, pp->end, 60, err,
                                sizeof err) != 0) {
        fprintf(stderr, "harness: cannot read the high watermarks: %s\n", err);
        RF_ASSERT(!"high watermarks unreadable");
    }
    int64_t total = 0;
    for (int i = 0; i < pp->nparts; i++) {
        if (pp->end[i] < pp->prod->delivered[i])
            fprintf(stderr,
                    "harness: partition %d: high watermark %" PRId64 " below %" PRId64
                    " delivered events: the broker lost events\n",
                    i, pp->end[i], pp->prod->delivered[i]);
        RF_ASSERT(pp->end[i] >= pp->prod->delivered[i]);
        total += pp->end[i] - pp->prod->delivered[i];
    }
    pp->stored_twice = total;
    pp->have_end = true;
}

/* Waits until caught up (true) or timeout_s passes / a worker gives up. */
static inline bool rh_pipe_wait(rh_pipe_t *pp, double timeout_s)
{
    if (!pp->have_end) rh_pipe_read_end(pp);
    uint64_t t0 = rf_now_ns();
    double next_report = 10;
    while (rh_secs(t0) < timeout_s) {
        rf_producer_poll(pp->prod->p, 0);
        if (rh_pipe_failed(pp)) return false;
        if (rh_pipe_caught_up(pp)) return true;
        if (rh_secs(t0) >= next_report) {
            rh_pipe_report(pp, rh_secs(t0));
            next_report += 10;
        }
        rh_sleep_ms(RH_POLL_MS);
    }
    rh_pipe_report(pp, rh_secs(t0));
    return false;
}

static inline int rh_pipe_restarts(rh_pipe_t *pp)
{
    int r = 0;
    for (int i = 0; i < pp->nfold; i++)
        r += pp->fold[i].restarts;
    return r + (pp->project ? pp->proj.restarts : 0);
}

static inline void rh_pipe_stop(rh_pipe_t *pp)
{
    for (int i = 0; i < pp->nfold; i++)
        rh_sup_stop(&pp->fold[i]);
    if (pp->project) rh_sup_stop(&pp->proj);
    rh_prod_destroy(pp->prod);
    pp->prod = NULL;
}

/* Frees what rh_pipe_stop kept for reading (the workers' last stats). */
static inline void rh_pipe_free(rh_pipe_t *pp)
{
    for (int i = 0; i < pp->nfold; i++)
        rh_sup_free(&pp->fold[i]);
}

/* ---- digests for comparing runs ------------------------------------------ */

/* What a run ended with: per partition ledger head; the balances of the fold
 * ledgers and of the projection as order-independent digests (sum and xor of
 * a 64-bit hash per account row, and the row count). */
typedef struct rh_digest {
    int nparts;
    rf_ledger_head_t heads[RF_PARTITIONS_MAX];
    uint64_t fold_rows, fold_sum, fold_xor;
    uint64_t proj_rows, proj_sum, proj_xor;
    uint64_t proj_applied[RF_PARTITIONS_MAX];
    uint64_t deadletters;
} rh_digest_t;

static inline uint64_t rh_fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * UINT64_C(1099511628211);
    return h;
}

static inline uint64_t rh_row_hash(const char *program, const char *owner, const char *asset,
                                   const int64_t buckets[RF_BUCKET__COUNT])
{
    uint64_t h = UINT64_C(14695981039346656037);
    h = rh_fnv(h, program, strlen(program) + 1);
    h = rh_fnv(h, owner, strlen(owner) + 1);
    h = rh_fnv(h, asset, strlen(asset) + 1);
    for (int i = 0; i < RF_BUCKET__COUNT; i++)
        h = rh_fnv(h, &buckets[i], sizeof buckets[i]);
    return h;
}

static inline int rh_fold_row(const char *program, const char *owner, const char *asset,
                              const int64_t buckets[RF_BUCKET__COUNT], void *opaque)
{
    rh_digest_t *d = opaque;
    uint64_t h = rh_row_hash(program, owner, asset, buckets);
    d->fold_rows++;
    d->fold_sum += h;
    d->fold_xor ^= h;
    return 0;
}

static inline int rh_proj_row(const char *program, const char *owner, const char *asset,
                              const int64_t buckets[RF_BUCKET__COUNT], void *opaque)
{
    rh_digest_t *d = opaque;
    uint64_t h = rh_row_hash(program, owner, asset, buckets);
    /* an account whose buckets are all zero may exist on one side only */
    bool zero = true;
    for (int i = 0; i < RF_BUCKET__COUNT; i++)
        zero &= buckets[i] == 0;
    if (zero) return 0;
    d->proj_rows++;
    d->proj_sum += h;
    d->proj_xor ^= h;
    return 0;
}

static inline int rh_fold_row_nz(const char *program, const char *owner, const char *asset,
                                 const int64_t buckets[RF_BUCKET__COUNT], void *opaque)
{
    bool zero = true;
    for (int i = 0; i < RF_BUCKET__COUNT; i++)
        zero &= buckets[i] == 0;
    return zero ? 0 : rh_fold_row(program, owner, asset, buckets, opaque);
}

static inline int rh_dl_count(int64_t offset, rf_err_t err, const char *reason, void *opaque)
{
    (void)offset;
    (void)err;
    (void)reason;
    (*(uint64_t *)opaque)++;
    return 0;
}

/* Reads the digest of data (fold ledgers of partitions 0..nparts-1 and, when
 * project, the projection). Returns RF_OK or the first error (message in eb). */
static inline rf_err_t rh_digest_read(const char *data, int nparts, bool project, rh_digest_t *d,
                                      rf_errbuf_t *eb)
{
    memset(d, 0, sizeof *d);
    d->nparts = nparts;
    for (int i = 0; i < nparts; i++) {
        d->heads[i].partition = i;
        d->heads[i].next_offset = -1;
        rf_ledger_t *l = rf_ledger_open(data, i, RF_LEDGER_READONLY, eb);
        if (!l) continue; /* no ledger: an empty partition */
        rf_err_t err = rf_ledger_head(l, &d->heads[i], eb);
        if (!err) err = rf_ledger_scan_balances(l, rh_fold_row_nz, d, eb);
        if (!err) err = rf_ledger_deadletter_scan(l, rh_dl_count, &d->deadletters, eb);
        rf_ledger_close(l);
        if (err) return err;
    }
    if (!project) return RF_OK;
    rf_query_t *q = rf_query_open(data, RF_QUERY_SNAPSHOT, eb);
    if (!q) return RF_ERR_NOT_FOUND;
    rf_projection_meta_t *meta = calloc(RF_PARTITIONS_MAX, sizeof *meta);
    RF_ASSERT(meta);
    int n = rf_query_progress(q, meta, RF_PARTITIONS_MAX);
    for (int i = 0; i < n; i++)
        if (meta[i].partition >= 0 && meta[i].partition < RF_PARTITIONS_MAX)
            d->proj_applied[meta[i].partition] = meta[i].applied_seq;
    free(meta);
    rf_err_t err = rf_query_scan_balances(q, rh_proj_row, d, eb);
    rf_query_close(q);
    return err;
}

/* Verifies every partition ledger's chain (rf_ledger_verify). */
static inline rf_err_t rh_verify(const char *data, int nparts, rf_errbuf_t *eb)
{
    for (int i = 0; i < nparts; i++) {
        rf_ledger_t *l = rf_ledger_open(data, i, RF_LEDGER_READONLY, eb);
        if (!l) continue;
        uint64_t bad = 0;
        rf_err_t err = rf_ledger_verify(l, &bad, eb);
        rf_ledger_close(l);
        if (err) return err;
    }
    return RF_OK;
}

/* Compares two digests: same heads (rh_head_same) and balances; and in each, the projection equals
 * its fold (applied seq = head seq, same non-zero balances). Prints every difference; returns the
 * number of differences. */
/* exact: the same seq, hash, next offset and outcome counts. Not exact (the
 * two runs read different topics: a broker under faults may store a retried
 * produce request twice, an extra offset folded as a duplicate, which shifts
 * the source offsets the records' hashes cover): the same seq and the same
 * counts of applied, rejected and dead-lettered offsets, and exactly as many
 * more duplicates as extra offsets. */
static inline bool rh_head_same(const rf_ledger_head_t *a, const rf_ledger_head_t *b, bool exact)
{
    if (exact)
        return a->seq == b->seq && !memcmp(a->hash, b->hash, 32) &&
               a->next_offset == b->next_offset && !memcmp(a->counts, b->counts, sizeof a->counts);
    int64_t extra =
        (b->next_offset < 0 ? 0 : b->next_offset) - (a->next_offset < 0 ? 0 : a->next_offset);
    return a->seq == b->seq && extra >= 0 &&
           b->counts[RF_OUTCOME_DUPLICATE] - a->counts[RF_OUTCOME_DUPLICATE] == (uint64_t)extra &&
           a->counts[RF_OUTCOME_APPLIED] == b->counts[RF_OUTCOME_APPLIED] &&
           a->counts[RF_OUTCOME_REJECTED] == b->counts[RF_OUTCOME_REJECTED] &&
           a->counts[RF_OUTCOME_DEAD_LETTER] == b->counts[RF_OUTCOME_DEAD_LETTER];
}

static inline int rh_digest_compare(const rh_digest_t *clean, const rh_digest_t *run, bool project,
                                    bool exact)
{
    int diffs = 0;
    for (int i = 0; i < clean->nparts; i++) {
        const rf_ledger_head_t *a = &clean->heads[i], *b = &run->heads[i];
        if (!rh_head_same(a, b, exact)) {
            char ha[65], hb[65];
            rf_hex(a->hash, 32, ha);
            rf_hex(b->hash, 32, hb);
            fprintf(stderr,
                    "harness: partition %d: clean seq %" PRIu64 " next %" PRId64 " hash %.16s, "
                    "run seq %" PRIu64 " next %" PRId64 " hash %.16s\n",
                    i, a->seq, a->next_offset, ha, b->seq, b->next_offset, hb);
            diffs++;
        }
        if (project && (run->proj_applied[i] != b->seq || clean->proj_applied[i] != a->seq)) {
            fprintf(stderr,
                    "harness: partition %d: projection applied %" PRIu64 " (clean %" PRIu64
                    "), ledger seq %" PRIu64 "\n",
                    i, run->proj_applied[i], clean->proj_applied[i], b->seq);
            diffs++;
        }
    }
    if (clean->fold_rows != run->fold_rows || clean->fold_sum != run->fold_sum ||
        clean->fold_xor != run->fold_xor) {
        fprintf(stderr, "harness: fold balances differ: %" PRIu64 " rows vs %" PRIu64 "\n",
                clean->fold_rows, run->fold_rows);
        diffs++;
    }
    if (project && (run->proj_rows != run->fold_rows || run->proj_sum != run->fold_sum ||
                    run->proj_xor != run->fold_xor)) {
        fprintf(stderr,
                "harness: projection balances differ from the fold's: %" PRIu64 " rows vs %" PRIu64
                "\n",
                run->proj_rows, run->fold_rows);
        diffs++;
    }
    return diffs;
}

/* Environment knobs: RF_<name> as an integer, or def. */
static inline long rh_env_long(const char *name, long def)
{
    const char *v = getenv(name);
    return v && *v ? atol(v) : def;
}

#endif
