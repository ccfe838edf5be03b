/* rf_replay.c: rebuild a fresh fold ledger from the live ledger's archive or
 * from refold.events, and compare heads with the live ledger (rf_replay.h). */
#include "rf_replay.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "rf_codec.h"
#include "rf_fold_worker.h"

void rf_replay_opts_init(rf_replay_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->source = RF_REPLAY_ARCHIVE;
    o->from_offset = -1;
    o->from_time_ms = INT64_MIN;
}

const char *rf_replay_verdict_name(rf_replay_verdict_t v)
{
    switch (v) {
    case RF_REPLAY_SAME:
        return "same";
    case RF_REPLAY_PREFIX:
        return "prefix";
    case RF_REPLAY_DIFFER:
        return "differ";
    case RF_REPLAY_MISSING:
        return "missing";
    }
    return "unknown";
}

/* What one run shares between its threads. */
typedef struct shared {
    const rf_replay_opts_t *o;
    rf_replay_stats_t *st; /* parts[] are disjoint per thread; totals merged at the end */
    uint64_t total;        /* expected events (progress) */
    uint64_t start_ns;
    atomic_ullong events; /* folded by every thread */
    pthread_mutex_t progress_mu;
} shared_t;

/* One replaying thread's state. */
typedef struct rep {
    shared_t *sh;
    const rf_replay_opts_t *o;
    rf_errbuf_t *eb;
    rf_codec_t *codec; /* what-if only */
    rf_event_t *ev;    /* what-if only */
    uint8_t *buf;      /* what-if: the rewritten event */
    uint64_t events, fold_ns, commit_ns;
    uint64_t published; /* of events, added to the shared count */
    uint64_t mark_ns;   /* the last commit's end (fold_ns counts from it) */
    uint64_t next_progress;
} rep_t;

/* Adds this thread's new events to the shared count: per batch, not per
 * event (an atomic add per event bounced its cache line between threads). */
static void publish(rep_t *r)
{
    atomic_fetch_add(&r->sh->events, r->events - r->published);
    r->published = r->events;
}

static void progress(rep_t *r, bool force)
{
    shared_t *sh = r->sh;
    if (!force && r->events < r->next_progress) return;
    r->next_progress = r->events + RF_REPLAY_BATCH_MAX;
    publish(r);
    if (!r->o->progress) return;
    pthread_mutex_lock(&sh->progress_mu);
    rf_replay_progress_t p = {atomic_load(&sh->events), sh->total, rf_now_ns() - sh->start_ns};
    r->o->progress(&p, r->o->progress_opaque);
    pthread_mutex_unlock(&sh->progress_mu);
}

static rf_err_t rep_init(rep_t *r, shared_t *sh, rf_errbuf_t *eb)
{
    memset(r, 0, sizeof *r);
    r->sh = sh;
    r->o = sh->o;
    r->eb = eb;
    if (!r->o->override_program) return RF_OK;
    r->codec = rf_codec_new(eb);
    r->ev = malloc(sizeof *r->ev);
    r->buf = malloc(RF_EVENT_BYTES_MAX);
    return r->codec && r->ev && r->buf ? RF_OK : rf_errf(eb, RF_ERR_NOMEM, "out of memory");
}

static void rep_release(rep_t *r)
{
    rf_codec_destroy(r->codec);
    free(r->ev);
    free(r->buf);
    r->codec = NULL, r->ev = NULL, r->buf = NULL;
}

/* What-if: the bytes to fold instead of (b, len), or (b, len) itself. An
 * undecodable event is folded as is (it dead-letters as it did live). */
static const uint8_t *rewrite(rep_t *r, rf_replay_part_t *pp, const uint8_t *b, size_t *len)
{
    if (!r->o->override_program) return b;
    rf_errbuf_t eb = {{0}};
    if (rf_codec_decode_event(r->codec, b, *len, r->ev, &eb) != RF_OK) return b;
    if (r->ev->type != RF_EV_PROGRAM_CONFIGURED ||
        strcmp(r->ev->program_id, r->o->override_program))
        return b;
    rf_strlcpy(r->ev->rules_json, r->o->override_rules_json, sizeof r->ev->rules_json);
    size_t n = 0;
    rf_err_t err = rf_codec_encode_event(r->codec, r->ev, RF_SCHEMA_ID_EVENT, r->buf,
                                         RF_EVENT_BYTES_MAX, &n, &eb);
    if (err) {
        /* the override itself is invalid as an event: fold it as the live
         * worker would see such bytes... which it never did; keep the original
         * and say so */
        rf_log(RF_LOG_WARN, "replay: cannot re-encode program '%s' with the override rules: %s",
               r->ev->program_id, eb.msg);
        return b;
    }
    pp->overridden++;
    *len = n;
    return r->buf;
}

/* Commits the open batch. The clock is read per batch, not per event (two
 * reads per event were about 1% of a replay's CPU), so fold_ns is the time
 * between commits: folding, with the reading of the source. */
static rf_err_t commit_batch(rep_t *r, rf_ledger_t *n)
{
    uint64_t t0 = rf_now_ns();
    r->fold_ns += t0 - r->mark_ns;
    rf_err_t err = rf_ledger_commit(n, r->eb);
    r->mark_ns = rf_now_ns();
    r->commit_ns += r->mark_ns - t0;
    return err;
}

static rf_err_t fold_one(rep_t *r, rf_ledger_t *n, rf_replay_part_t *pp, int64_t off,
                         int64_t clock_ms, const uint8_t *b, size_t len)
{
    const uint8_t *orig = b;
    b = rewrite(r, pp, b, &len);
    rf_fold_result_t res;
    rf_err_t err = rf_ledger_fold(n, off, clock_ms, b, len, &res, r->eb);
    if (err) return err;
    if (b != orig && res.outcome != RF_OUTCOME_APPLIED)
        return rf_errf(r->eb, RF_ERR_BAD_INPUT,
                       "the override rules of program '%s' are %s by "
                       "the fold (partition %d offset %lld): %s",
                       r->o->override_program, rf_outcome_name(res.outcome), (int)pp->partition,
                       (long long)off, res.reason);
    RF_ASSERT(res.outcome < RF_OUTCOME__COUNT);
    if (pp->start_offset < 0) pp->start_offset = off;
    pp->end_offset = off + 1;
    pp->events++;
    pp->outcomes[res.outcome]++;
    r->events++;
    if (rf_ledger_batch_size(n) >= RF_REPLAY_BATCH_MAX) err = commit_batch(r, n);
    progress(r, false);
    return err;
}

/* A bulk load: the open refuses a directory that already holds this
 * partition's ledger, and a crashed replay's ledgers stay refused until
 * deleted (rf_ledger.h, RF_LEDGER_BULK). */
static rf_ledger_t *open_fresh(rep_t *r, int32_t p)
{
    return rf_ledger_open(r->o->into_dir, p, RF_LEDGER_CREATE | RF_LEDGER_BULK | r->o->ledger_flags,
                          r->eb);
}

/* ---- event time -> offset, through the live archive ---- */

typedef struct tmap {
    rf_codec_t *codec;
    rf_event_t *ev;
    int64_t t_ms, max_ms, found;
} tmap_t;

static int tmap_one(int64_t offset, int64_t clock_ms, const uint8_t *b, size_t len, void *opaque)
{
    (void)clock_ms; /* an upper bound on event time: events it refused start the replay earlier */
    tmap_t *m = opaque;
    rf_errbuf_t eb;
    if (rf_codec_decode_event(m->codec, b, len, m->ev, &eb) == RF_OK &&
        m->ev->occurred_at_ms > m->max_ms)
        m->max_ms = m->ev->occurred_at_ms;
    if (m->max_ms >= m->t_ms) {
        m->found = offset;
        return 1;
    }
    return 0;
}

/* The first offset at which the partition's event time (the running maximum
 * of occurred_at, what the fold calls now) reaches t_ms; next_offset when it
 * never does. Offsets before it all hold events before t_ms. */
static rf_err_t time_to_offset(rf_ledger_t *live, int64_t t_ms, int64_t *off, rf_errbuf_t *eb)
{
    tmap_t m = {rf_codec_new(eb), malloc(sizeof(rf_event_t)), t_ms, INT64_MIN, -1};
    rf_err_t err = (!m.codec || !m.ev) ? rf_errf(eb, RF_ERR_NOMEM, "out of memory") : RF_OK;
    if (!err) err = rf_ledger_archive_scan(live, 0, tmap_one, &m, eb);
    if (!err) *off = m.found >= 0 ? m.found : rf_ledger_next_offset(live);
    rf_codec_destroy(m.codec);
    free(m.ev);
    return err;
}

/* The first offset to replay of a partition from the options (-1: earliest). */
static rf_err_t start_offset(rep_t *r, rf_ledger_t *live, int64_t *off)
{
    *off = r->o->from_offset;
    if (r->o->from_time_ms == INT64_MIN) return RF_OK;
    if (!live)
        return rf_errf(r->eb, RF_ERR_CONFIG,
                       "--from-time needs the live ledger (--data) to map "
                       "event time to offsets");
    return time_to_offset(live, r->o->from_time_ms, off, r->eb);
}

/* ---- from the archive ---- */

/* Finishing a partition's bulk load (rf_ledger_bulk_finish) after its seal
 * (on the folding thread: the state's sort and table file) mostly waits: for
 * the sync of the table files, the ingests, the unmark. A finisher thread
 * does it while the folding threads go on with the next partitions; at most
 * RF_REPLAY_FINISH_QUEUE ledgers wait for it. A ledger is unmarked only by
 * rf_ledger_bulk_finish, so a crash anywhere leaves every unfinished one
 * refused by later opens. */
typedef struct finisher {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* the queue or `closing` changed */
    rf_ledger_t *q[RF_REPLAY_FINISH_QUEUE];
    int head, n;
    int closing;        /* no more ledgers will come */
    atomic_int *failed; /* the job's: set on error, read to skip the work */
    pthread_t tid;
    rf_err_t err;
    rf_errbuf_t eb;
    uint64_t finish_ns;
} finisher_t;

/* Hands l to the finisher, waiting while its queue is full. */
static void finisher_put(finisher_t *f, rf_ledger_t *l)
{
    pthread_mutex_lock(&f->mu);
    while (f->n == RF_REPLAY_FINISH_QUEUE)
        pthread_cond_wait(&f->cv, &f->mu);
    RF_ASSERT(!f->closing && f->n < RF_REPLAY_FINISH_QUEUE);
    f->q[(f->head + f->n++) % RF_REPLAY_FINISH_QUEUE] = l;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

/* The next ledger to finish, or NULL once closing and drained. */
static rf_ledger_t *finisher_take(finisher_t *f)
{
    pthread_mutex_lock(&f->mu);
    while (f->n == 0 && !f->closing)
        pthread_cond_wait(&f->cv, &f->mu);
    rf_ledger_t *l = NULL;
    if (f->n > 0) {
        l = f->q[f->head];
        f->head = (f->head + 1) % RF_REPLAY_FINISH_QUEUE;
        f->n--;
        pthread_cond_broadcast(&f->cv);
    }
    pthread_mutex_unlock(&f->mu);
    return l;
}

static void *finisher_thread(void *arg)
{
    finisher_t *f = arg;
    rf_ledger_t *l;
    while ((l = finisher_take(f))) {
        uint64_t t0 = rf_now_ns();
        /* after a failure the rest stay unfinished: the replay failed anyway */
        if (!f->err && !atomic_load(f->failed)) f->err = rf_ledger_bulk_finish(l, &f->eb);
        if (f->err) atomic_store(f->failed, 1);
        rf_ledger_close(l);
        f->finish_ns += rf_now_ns() - t0;
    }
    return NULL;
}

static rf_err_t finisher_start(finisher_t *f, atomic_int *failed, rf_errbuf_t *eb)
{
    memset(f, 0, sizeof *f);
    f->failed = failed;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    if (pthread_create(&f->tid, NULL, finisher_thread, f) == 0) return RF_OK;
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    return rf_errf(eb, RF_ERR_INTERNAL, "cannot start the replay's finisher thread");
}

/* Waits until every handed ledger is finished and closed. */
static rf_err_t finisher_stop(finisher_t *f, rf_errbuf_t *eb)
{
    pthread_mutex_lock(&f->mu);
    f->closing = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->tid, NULL);
    RF_ASSERT(f->n == 0);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    return f->err ? rf_errf(eb, f->err, "%s", f->eb.msg) : RF_OK;
}

typedef struct arch_ctx {
    rep_t *r;
    rf_ledger_t *n;
    rf_replay_part_t *pp;
    rf_err_t err;
} arch_ctx_t;

static int arch_one(int64_t offset, int64_t clock_ms, const uint8_t *b, size_t len, void *opaque)
{
    arch_ctx_t *a = opaque;
    a->err = fold_one(a->r, a->n, a->pp, offset, clock_ms, b, len);
    return a->err != RF_OK;
}

static rf_err_t archive_part(rep_t *r, finisher_t *fin, rf_ledger_t *live, rf_replay_part_t *pp)
{
    int64_t from;
    rf_err_t err = start_offset(r, live, &from);
    if (err) return err;
    rf_ledger_t *n = open_fresh(r, pp->partition);
    if (!n) return RF_ERR_CONFIG;
    arch_ctx_t a = {r, n, pp, RF_OK};
    r->mark_ns = rf_now_ns();
    int64_t next = rf_ledger_next_offset(live);
    if (next >= 0 && (from < 0 || from < next))
        err = rf_ledger_archive_scan(live, from < 0 ? 0 : from, arch_one, &a, r->eb);
    if (!err) err = a.err;
    if (!err) err = commit_batch(r, n); /* the last batch, in this thread */
    if (!err) { /* so is sorting and writing its state: the finisher mostly waits */
        uint64_t t0 = rf_now_ns();
        err = rf_ledger_bulk_seal(n, r->eb);
        r->commit_ns += rf_now_ns() - t0;
    }
    publish(r);
    if (err) {
        rf_ledger_close(n); /* still marked unfinished: refused by every open */
        return err;
    }
    finisher_put(fin, n); /* the finisher owns it now */
    return RF_OK;
}

/* The partitions of an archive replay, shared by its threads. */
typedef struct arch_job {
    shared_t *sh;
    rf_ledger_t **live;
    int np;
    atomic_int next;              /* next index into order to take */
    atomic_int failed;            /* a thread failed: the others stop taking work */
    finisher_t fin;               /* finishes the folded partitions' bulk loads */
    int order[RF_PARTITIONS_MAX]; /* partition indexes, most events first */
    uint64_t size[RF_PARTITIONS_MAX];
} arch_job_t;

typedef struct arch_thread {
    arch_job_t *job;
    pthread_t tid;
    rep_t r;
    rf_errbuf_t eb;
    rf_err_t err;
} arch_thread_t;

static void *archive_thread(void *arg)
{
    arch_thread_t *t = arg;
    arch_job_t *job = t->job;
    t->err = rep_init(&t->r, job->sh, &t->eb);
    while (!t->err && !atomic_load(&job->failed)) {
        int k = atomic_fetch_add(&job->next, 1);
        if (k >= job->np) break;
        int i = job->order[k];
        t->err = archive_part(&t->r, &job->fin, job->live[i], &job->sh->st->parts[i]);
    }
    if (t->err) atomic_store(&job->failed, 1);
    rep_release(&t->r);
    return NULL;
}

static int replay_jobs(const rf_replay_opts_t *o, int np)
{
    int jobs = o->jobs;
    if (jobs <= 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        jobs = cpus > 0 ? (int)cpus : 1;
    }
    if (jobs > RF_REPLAY_JOBS_MAX) jobs = RF_REPLAY_JOBS_MAX;
    return jobs < np ? jobs : (np > 0 ? np : 1);
}

/* Runs the partitions on `jobs` threads (partitions are independent ledgers,
 * so they replay in parallel; each thread folds one partition at a time). */
static rf_err_t archive_run(arch_job_t *job, int jobs, rf_replay_stats_t *st, rf_errbuf_t *eb)
{
    arch_thread_t *ts = calloc((size_t)jobs, sizeof *ts);
    if (!ts) return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    rf_err_t err = finisher_start(&job->fin, &job->failed, eb);
    if (err) {
        free(ts);
        return err;
    }
    int started = 0;
    for (; started < jobs; started++) {
        ts[started].job = job;
        if (pthread_create(&ts[started].tid, NULL, archive_thread, &ts[started]) != 0) {
            err = rf_errf(eb, RF_ERR_INTERNAL, "cannot start a replay thread");
            atomic_store(&job->failed, 1);
            break;
        }
    }
    for (int i = 0; i < started; i++) {
        pthread_join(ts[i].tid, NULL);
        st->fold_ns += ts[i].r.fold_ns;
        st->commit_ns += ts[i].r.commit_ns;
        if (!err && ts[i].err) err = rf_errf(eb, ts[i].err, "%s", ts[i].eb.msg);
    }
    rf_err_t ferr = finisher_stop(&job->fin, err ? NULL : eb);
    st->finish_ns = job->fin.finish_ns;
    free(ts);
    return err ? err : ferr;
}

/* Largest partitions first, so the threads finish together: in partition
 * order the last one taken could be a big one while the other threads idle
 * (loadgen partitions differ by 3x: 3.5% longer than ideal on two threads,
 * 0.1% sorted). Ties keep partition order. */
static void order_by_size(arch_job_t *job)
{
    RF_ASSERT(job->np >= 0 && job->np <= RF_PARTITIONS_MAX);
    for (int i = 0; i < job->np; i++) {
        int k = i;
        while (k > 0 && job->size[job->order[k - 1]] < job->size[i]) {
            job->order[k] = job->order[k - 1];
            k--;
        }
        job->order[k] = i;
    }
}

static rf_err_t replay_archive(shared_t *sh, rf_errbuf_t *eb)
{
    const rf_replay_opts_t *o = sh->o;
    int32_t parts[RF_PARTITIONS_MAX];
    int np = rf_ledger_list_partitions(o->data_dir, parts, RF_PARTITIONS_MAX);
    if (np < 0) return rf_errf(eb, RF_ERR_IO, "no fold ledger under '%s/fold'", o->data_dir);
    rf_ledger_t **ls = calloc(RF_PARTITIONS_MAX, sizeof *ls);
    if (!ls) return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    arch_job_t *job = calloc(1, sizeof *job); /* RF_PARTITIONS_MAX-sized arrays */
    if (!job) {
        free(ls);
        return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    }
    rf_err_t err = RF_OK;
    /* open every live partition first: the progress total needs their heads */
    for (int i = 0; i < np && !err; i++) {
        ls[i] = rf_ledger_open(o->data_dir, parts[i], RF_LEDGER_READONLY, eb);
        rf_ledger_head_t h;
        if (!ls[i])
            err = RF_ERR_STORAGE;
        else if (!(err = rf_ledger_head(ls[i], &h, eb)))
            for (int k = 0; k < RF_OUTCOME__COUNT; k++)
                sh->total += h.counts[k], job->size[i] += h.counts[k];
        rf_replay_part_t *pp = &sh->st->parts[sh->st->nparts++];
        pp->partition = parts[i];
        pp->start_offset = pp->end_offset = -1;
    }
    job->sh = sh;
    job->live = ls;
    job->np = np;
    atomic_init(&job->next, 0);
    atomic_init(&job->failed, 0);
    order_by_size(job);
    if (!err) err = archive_run(job, replay_jobs(o, np), sh->st, eb);
    for (int i = 0; i < np; i++)
        rf_ledger_close(ls[i]);
    free(ls);
    free(job);
    return err;
}

/* ---- from Kafka ---- */

typedef struct kpart {
    int32_t partition;
    int64_t start, end; /* [start, end): end is the high watermark at start */
    rf_ledger_t *n;
    rf_replay_part_t *pp;
} kpart_t;

typedef struct kctx {
    rep_t *r;
    rd_kafka_t *rk;
    const char *topic;
    int np;
    kpart_t parts[RF_PARTITIONS_MAX];
} kctx_t;

/* Settings: rf_kafka.c, RF_KAFKA_REPLAY_READER (assign() only, never commits). */
static rd_kafka_t *kafka_consumer(rep_t *r)
{
    rf_kafka_client_t spec = {.role = RF_KAFKA_REPLAY_READER, .opts = &r->o->kafka};
    rd_kafka_t *rk = NULL;
    (void)rf_kafka_client_new(&spec, &rk, r->eb);
    return rk;
}

static int topic_partitions(rd_kafka_t *rk, const char *topic, rf_errbuf_t *eb)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t kerr = rd_kafka_metadata(rk, 0, t, &md, 10000);
    int n = -1;
    if (kerr)
        rf_errf(eb, RF_ERR_KAFKA, "metadata of '%s': %s", topic, rd_kafka_err2str(kerr));
    else if (md->topic_cnt != 1 || md->topics[0].err)
        rf_errf(eb, RF_ERR_KAFKA, "topic '%s': %s", topic,
                md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "not found");
    else
        n = md->topics[0].partition_cnt;
    if (md) rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    if (n > RF_PARTITIONS_MAX) {
        rf_errf(eb, RF_ERR_CONFIG, "topic '%s' has %d partitions, more than %d", topic, n,
                RF_PARTITIONS_MAX);
        n = -1;
    }
    return n;
}

/* Decides [start, end) of one partition from the watermarks and options. */
static rf_err_t kafka_range(kctx_t *k, kpart_t *kp)
{
    rep_t *r = k->r;
    int64_t lo, hi;
    rd_kafka_resp_err_t kerr =
        rd_kafka_query_watermark_offsets(k->rk, k->topic, kp->partition, &lo, &hi, 10000);
    if (kerr)
        return rf_errf(r->eb, RF_ERR_KAFKA, "watermarks of %s [%d]: %s", k->topic,
                       (int)kp->partition, rd_kafka_err2str(kerr));
    rf_ledger_t *live = NULL;
    rf_err_t err = RF_OK;
    int64_t from = -1;
    if (r->o->from_time_ms != INT64_MIN) {
        if (!r->o->data_dir)
            return rf_errf(r->eb, RF_ERR_CONFIG,
                           "--from-time needs the live ledger (--data) to "
                           "map event time to offsets");
        int32_t parts[RF_PARTITIONS_MAX];
        int np = rf_ledger_list_partitions(r->o->data_dir, parts, RF_PARTITIONS_MAX);
        bool have = false;
        for (int i = 0; i < np && !have; i++)
            have = parts[i] == kp->partition;
        /* a partition the live fold never saw: no time map, replay all of it */
        if (have &&
            !(live = rf_ledger_open(r->o->data_dir, kp->partition, RF_LEDGER_READONLY, r->eb)))
            return RF_ERR_STORAGE;
        if (live) err = start_offset(r, live, &from);
        rf_ledger_close(live);
    } else {
        err = start_offset(r, NULL, &from);
    }
    if (err) return err;
    if (from >= 0 && from < lo)
        return rf_errf(r->eb, RF_ERR_NOT_FOUND,
                       "%s [%d]: offset %lld is no longer in the topic (low watermark %lld): "
                       "replay from the archive (--from-archive)",
                       k->topic, (int)kp->partition, (long long)from, (long long)lo);
    if (from < 0 && lo > 0)
        rf_log(RF_LOG_WARN,
               "replay: %s [%d] starts at offset %lld (earlier events are gone): "
               "the replay is partial; --from-archive has them",
               k->topic, (int)kp->partition, (long long)lo);
    kp->start = from < 0 ? lo : from;
    kp->end = hi;
    return RF_OK;
}

static rf_err_t kafka_setup(kctx_t *k)
{
    rep_t *r = k->r;
    int np = topic_partitions(k->rk, k->topic, r->eb);
    if (np < 0) return RF_ERR_KAFKA;
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(np > 0 ? np : 1);
    rf_err_t err = RF_OK;
    for (int32_t p = 0; p < np && !err; p++) {
        kpart_t *kp = &k->parts[k->np++];
        kp->partition = p;
        kp->pp = &r->sh->st->parts[r->sh->st->nparts++];
        kp->pp->partition = p;
        kp->pp->start_offset = kp->pp->end_offset = -1;
        err = kafka_range(k, kp);
        if (err || kp->start >= kp->end) continue;
        r->sh->total += (uint64_t)(kp->end - kp->start);
        if (!(kp->n = open_fresh(r, p)))
            err = RF_ERR_CONFIG;
        else
            rd_kafka_topic_partition_list_add(tl, k->topic, p)->offset = kp->start;
    }
    if (!err && tl->cnt > 0) {
        rd_kafka_resp_err_t kerr = rd_kafka_assign(k->rk, tl);
        if (kerr) err = rf_errf(r->eb, RF_ERR_KAFKA, "assign: %s", rd_kafka_err2str(kerr));
    }
    rd_kafka_topic_partition_list_destroy(tl);
    return err;
}

static bool kafka_done(const kctx_t *k)
{
    for (int i = 0; i < k->np; i++)
        if (k->parts[i].n && k->parts[i].pp->end_offset < k->parts[i].end) return false;
    return true;
}

static rf_err_t kafka_message(kctx_t *k, const rd_kafka_message_t *m)
{
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return RF_OK;
    if (m->err) return rf_errf(k->r->eb, RF_ERR_KAFKA, "consume: %s", rd_kafka_message_errstr(m));
    if (m->partition < 0 || m->partition >= k->np) return RF_OK;
    kpart_t *kp = &k->parts[m->partition];
    if (!kp->n || m->offset >= kp->end) return RF_OK; /* beyond the end taken at start */
    return fold_one(k->r, kp->n, kp->pp, m->offset, rf_fold_message_clock(m), m->payload, m->len);
}

static rf_err_t kafka_loop(kctx_t *k)
{
    uint64_t last_ns = rf_now_ns();
    rf_err_t err = RF_OK;
    k->r->mark_ns = last_ns;
    while (!err && !kafka_done(k)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(k->rk, 100);
        if (!m) {
            if (rf_now_ns() - last_ns > (uint64_t)RF_REPLAY_IDLE_MS * 1000000u)
                err = rf_errf(k->r->eb, RF_ERR_TIMEOUT,
                              "no message for %d ms before the end offsets were reached",
                              RF_REPLAY_IDLE_MS);
            continue;
        }
        last_ns = rf_now_ns();
        err = kafka_message(k, m);
        rd_kafka_message_destroy(m);
    }
    publish(k->r);
    for (int i = 0; i < k->np && !err; i++)
        if (k->parts[i].n) err = rf_ledger_bulk_finish(k->parts[i].n, k->r->eb);
    return err;
}

static rf_err_t replay_kafka(rep_t *r)
{
    kctx_t *k = calloc(1, sizeof *k);
    if (!k) return rf_errf(r->eb, RF_ERR_NOMEM, "out of memory");
    k->r = r;
    k->topic = r->o->topic ? r->o->topic : RF_TOPIC_EVENTS;
    rf_err_t err = RF_OK;
    if (!(k->rk = kafka_consumer(r))) err = RF_ERR_KAFKA;
    if (!err) err = kafka_setup(k);
    if (!err) err = kafka_loop(k);
    for (int i = 0; i < k->np; i++)
        rf_ledger_close(k->parts[i].n);
    if (k->rk) {
        rd_kafka_consumer_close(k->rk);
        rd_kafka_destroy(k->rk);
    }
    free(k);
    return err;
}

/* ---- run ---- */

static rf_err_t check_opts(const rf_replay_opts_t *o, rf_errbuf_t *eb)
{
    if (!o->into_dir)
        return rf_errf(eb, RF_ERR_CONFIG, "the target directory (--into) is required");
    if (o->source == RF_REPLAY_ARCHIVE && !o->data_dir)
        return rf_errf(eb, RF_ERR_CONFIG, "replay from the archive needs the live --data");
    if (o->source == RF_REPLAY_KAFKA && !o->kafka.brokers)
        return rf_errf(eb, RF_ERR_CONFIG, "replay from Kafka needs --brokers");
    if (o->data_dir && !strcmp(o->data_dir, o->into_dir))
        return rf_errf(eb, RF_ERR_CONFIG, "--into must not be the live data directory");
    if (o->override_program &&
        (!o->override_rules_json || strlen(o->override_rules_json) > RF_RULES_MAX))
        return rf_errf(eb, RF_ERR_CONFIG, "override rules missing or longer than %d bytes",
                       RF_RULES_MAX);
    return RF_OK;
}

rf_err_t rf_replay_run(const rf_replay_opts_t *o, rf_replay_stats_t *st, rf_errbuf_t *eb)
{
    RF_ASSERT(o != NULL && st != NULL);
    memset(st, 0, sizeof *st);
    rf_err_t err = check_opts(o, eb);
    if (err) return err;
    shared_t sh;
    memset(&sh, 0, sizeof sh);
    sh.o = o;
    sh.st = st;
    sh.start_ns = rf_now_ns();
    atomic_init(&sh.events, 0);
    pthread_mutex_init(&sh.progress_mu, NULL);
    if (o->source == RF_REPLAY_ARCHIVE) {
        err = replay_archive(&sh, eb);
    } else {
        rep_t r;
        err = rep_init(&r, &sh, eb);
        if (!err) err = replay_kafka(&r);
        st->fold_ns = r.fold_ns;
        st->commit_ns = r.commit_ns;
        rep_release(&r);
    }
    st->events = atomic_load(&sh.events);
    st->elapsed_ns = rf_now_ns() - sh.start_ns;
    if (!err && o->progress) {
        rf_replay_progress_t p = {st->events, sh.total, st->elapsed_ns};
        o->progress(&p, o->progress_opaque);
    }
    pthread_mutex_destroy(&sh.progress_mu);
    RF_ASSERT(st->nparts <= RF_PARTITIONS_MAX);
    return err;
}

/* ---- compare ---- */

static rf_err_t hash_at(rf_ledger_t *l, uint64_t seq, uint8_t out[32], rf_errbuf_t *eb)
{
    rf_record_t *rec = malloc(sizeof *rec);
    if (!rec) return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    rf_err_t err = rf_ledger_get_record(l, seq, rec, eb);
    if (!err) memcpy(out, rec->hash, 32);
    free(rec);
    return err;
}

/* Smallest seq in [1, hi] whose hashes differ, knowing they differ at hi. */
static rf_err_t first_diff(rf_ledger_t *a, rf_ledger_t *b, uint64_t hi, uint64_t *out,
                           rf_errbuf_t *eb)
{
    uint64_t lo = 1;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        uint8_t ha[32], hb[32];
        rf_err_t err = hash_at(a, mid, ha, eb);
        if (!err) err = hash_at(b, mid, hb, eb);
        if (err) return err;
        if (memcmp(ha, hb, 32))
            hi = mid;
        else
            lo = mid + 1;
    }
    *out = lo;
    return RF_OK;
}

static rf_err_t compare_part(rf_ledger_t *live, rf_ledger_t *nw, rf_replay_cmp_t *c,
                             rf_errbuf_t *eb)
{
    rf_ledger_head_t hl, hn;
    rf_ledger_head(live, &hl, eb);
    rf_ledger_head(nw, &hn, eb);
    c->live_seq = hl.seq;
    c->new_seq = hn.seq;
    memcpy(c->live_hash, hl.hash, 32);
    memcpy(c->new_hash, hn.hash, 32);
    if (hl.seq == hn.seq && !memcmp(hl.hash, hn.hash, 32)) {
        c->verdict = RF_REPLAY_SAME;
        return RF_OK;
    }
    uint64_t common = hl.seq < hn.seq ? hl.seq : hn.seq;
    uint8_t ha[32], hb[32];
    rf_err_t err = RF_OK;
    if (common > 0) {
        err = hash_at(live, common, ha, eb);
        if (!err) err = hash_at(nw, common, hb, eb);
        if (err) return err;
    }
    if (common == 0 || !memcmp(ha, hb, 32)) {
        c->verdict = hl.seq > hn.seq ? RF_REPLAY_PREFIX : RF_REPLAY_DIFFER;
        c->first_diff_seq = hl.seq > hn.seq ? 0 : common + 1;
        return RF_OK;
    }
    c->verdict = RF_REPLAY_DIFFER;
    return first_diff(live, nw, common, &c->first_diff_seq, eb);
}

/* A partition on one side only: the same as nothing when that side is empty. */
static rf_err_t one_side(const char *dir, int32_t p, bool live, rf_replay_cmp_t *c, rf_errbuf_t *eb)
{
    c->partition = p;
    rf_ledger_t *l = rf_ledger_open(dir, p, RF_LEDGER_READONLY, eb);
    if (!l) return RF_ERR_STORAGE;
    rf_ledger_head_t h;
    rf_err_t err = rf_ledger_head(l, &h, eb);
    rf_ledger_close(l);
    if (live)
        c->live_seq = h.seq, memcpy(c->live_hash, h.hash, 32);
    else
        c->new_seq = h.seq, memcpy(c->new_hash, h.hash, 32);
    c->verdict = h.seq == 0 ? RF_REPLAY_SAME : RF_REPLAY_MISSING;
    return err;
}

int rf_replay_compare(const char *live_dir, const char *new_dir, rf_replay_cmp_t *out, int cap,
                      rf_errbuf_t *eb)
{
    RF_ASSERT(live_dir != NULL && new_dir != NULL && out != NULL);
    int32_t a[RF_PARTITIONS_MAX], b[RF_PARTITIONS_MAX];
    int na = rf_ledger_list_partitions(live_dir, a, RF_PARTITIONS_MAX);
    int nb = rf_ledger_list_partitions(new_dir, b, RF_PARTITIONS_MAX);
    if (na < 0 || nb < 0)
        return rf_errf(eb, RF_ERR_IO, "no fold ledger under '%s/fold'",
                       na < 0 ? live_dir : new_dir);
    int i = 0, j = 0, n = 0;
    rf_err_t err = RF_OK;
    while ((i < na || j < nb) && n < cap && !err) {
        rf_replay_cmp_t *c = &out[n++];
        memset(c, 0, sizeof *c);
        if (j == nb || (i < na && a[i] < b[j])) {
            err = one_side(live_dir, a[i++], true, c, eb);
        } else if (i == na || b[j] < a[i]) {
            err = one_side(new_dir, b[j++], false, c, eb);
        } else {
            c->partition = a[i];
            rf_ledger_t *l = rf_ledger_open(live_dir, a[i++], RF_LEDGER_READONLY, eb);
            rf_ledger_t *r = l ? rf_ledger_open(new_dir, b[j++], RF_LEDGER_READONLY, eb) : NULL;
            err = r ? compare_part(l, r, c, eb) : RF_ERR_STORAGE;
            rf_ledger_close(l);
            rf_ledger_close(r);
        }
    }
    return err ? (int)err : n;
}
