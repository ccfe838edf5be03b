/* bench_project.c: projection benchmark (docs/projections.md, "Benchmark"):
 * read-model throughput (records/s, in-process on the worker's apply threads
 * and through the embedded broker), query latency p50/p99 at one million
 * referrers (balance, rank, top-100) and HTTP requests/s with p99 under wrk
 * from a second process. */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "rf_broker.h"
#include "rf_codec.h"
#include "rf_fold.h"
#include "rf_http.h"
#include "rf_project_worker.h"
#include "rf_query.h"

#define T0     1767571200000LL
#define DAY_MS 86400000LL

static struct {
    long records, referrers, kafka_records, samples;
    int http_seconds, threads, commit_ms;
    bool skip_kafka, skip_http, skip_queries;
    char dir[512];
} opt = {1000000, 1000000, 240000, 20000, 5, 0, 0, false, false, false, ""};

static void die(const char *what, const rf_errbuf_t *eb)
{
    fprintf(stderr, "bench_project: %s: %s\n", what, eb ? eb->msg : "");
    exit(1);
}

static double secs(uint64_t ns)
{
    return (double)ns / 1e9;
}

/* ---- a referral funnel as ledger records ------------------------------------ */

typedef struct gen {
    rf_record_t rec;
    uint64_t seq;
    int32_t partition;
    uint64_t n; /* generated */
    uint64_t last_reward;
} gen_t;

static rf_record_t *g_new(gen_t *g, const char *program, const char *kind, int64_t t)
{
    rf_record_t *r = &g->rec;
    rf_record_clear(r);
    r->seq = ++g->seq;
    r->partition = g->partition;
    r->offset = (int64_t)r->seq;
    snprintf(r->event_id, sizeof r->event_id, "00000000-0000-4000-8000-%012llx",
             (unsigned long long)r->seq);
    rf_strlcpy(r->program_id, program, sizeof r->program_id);
    rf_strlcpy(r->kind, kind, sizeof r->kind);
    r->occurred_at_ms = t;
    g->n++;
    return r;
}

typedef void(emit_fn)(const rf_record_t *rec, void *opaque);

/* One referral story (about 11 records): share, clicks, attributed signup,
 * referred purchase, two rewards and their maturity, plus organic traffic,
 * an occasional void and a fraud rejection. */
static void story(gen_t *g, long i, long nref, emit_fn *emit, void *op)
{
    static const char *channels[] = {"email", "sms", "social", "link"};
    char prog[32], ref[32], friend_[32], code[32], buf[32];
    long r = (i * 2654435761u) % nref;
    snprintf(prog, sizeof prog, "prog-%ld", r % 10);
    snprintf(ref, sizeof ref, "ref-%ld", r);
    snprintf(friend_, sizeof friend_, "friend-%ld", i);
    snprintf(code, sizeof code, "C%ld", r);
    int64_t t = T0 + i * 30000; /* time moves forward: ~2900 stories a day */
    rf_record_t *x;
    if (i < nref) {
        x = g_new(g, prog, RF_KIND_CODE, t);
        rf_record_fact(x, RF_FACT_REFERRER, ref);
        rf_record_fact(x, RF_FACT_CODE, code);
        emit(x, op);
    }
    x = g_new(g, prog, RF_KIND_SHARE, t);
    rf_record_fact(x, RF_FACT_REFERRER, ref);
    rf_record_fact(x, RF_FACT_CHANNEL, channels[i % 4]);
    emit(x, op);
    for (int c = 0; c < 3; c++) {
        x = g_new(g, prog, RF_KIND_CLICK, t);
        rf_record_fact(x, RF_FACT_CODE, code);
        emit(x, op);
    }
    x = g_new(g, prog, RF_KIND_SIGNUP, t);
    rf_record_fact(x, RF_FACT_USER, friend_);
    rf_record_fact(x, RF_FACT_REFERRER, ref);
    rf_record_fact(x, RF_FACT_REFERRED, "1");
    rf_record_fact(x, RF_FACT_CHECKS, i % 20 ? "self_referral=pass" : "ip_cluster=fail:review");
    emit(x, op);
    x = g_new(g, prog, RF_KIND_PURCHASE, t);
    rf_record_fact(x, RF_FACT_USER, friend_);
    snprintf(buf, sizeof buf, "%ld", 2000 + i % 9000);
    rf_record_fact(x, RF_FACT_AMOUNT, buf);
    rf_record_fact(x, RF_FACT_CURRENCY, "USD");
    rf_record_fact(x, RF_FACT_REFERRED, "1");
    emit(x, op);
    const char *roles[2] = {"referrer", "friend"};
    for (int k = 0; k < 2; k++) {
        x = g_new(g, prog, RF_KIND_REWARD, t);
        rf_record_fact(x, RF_FACT_ROLE, roles[k]);
        rf_record_fact(x, RF_FACT_REFERRER, ref);
        rf_record_fact(x, RF_FACT_FRIEND, friend_);
        int64_t amt = k == 0 ? 1000 + (i % 7) * 100 : 500;
        rf_record_post(x, k == 0 ? ref : friend_, RF_BUCKET_PENDING, "USD", amt);
        rf_record_post(x, "#expense", RF_BUCKET_EXPENSE, "USD", -amt);
        emit(x, op);
        if (k == 0) g->last_reward = x->seq;
        x = g_new(g, prog, RF_KIND_MATURED, t + 14 * DAY_MS);
        rf_record_post(x, k == 0 ? ref : friend_, RF_BUCKET_PENDING, "USD", -amt);
        rf_record_post(x, k == 0 ? ref : friend_, RF_BUCKET_AVAILABLE, "USD", amt);
        emit(x, op);
    }
    x = g_new(g, prog, RF_KIND_PURCHASE, t); /* organic */
    snprintf(buf, sizeof buf, "cust-%ld", i % 50000);
    rf_record_fact(x, RF_FACT_USER, buf);
    rf_record_fact(x, RF_FACT_AMOUNT, "3500");
    rf_record_fact(x, RF_FACT_CURRENCY, "USD");
    emit(x, op);
    if (i % 50 == 49) {
        x = g_new(g, prog, RF_KIND_REJECTED, t);
        rf_record_fact(x, RF_FACT_CHECKS, "self_referral=fail:reject");
        emit(x, op);
    }
}

/* ---- 1. throughput, in process ------------------------------------------------ */

/* As the worker runs: one partition store per apply thread (the worker's
 * default thread count), each applying its own partition's records and
 * committing them (synced) every RF_PROJECT_BATCH_MAX records. Nothing of
 * Kafka: the records are generated, so the generation cost is measured alone
 * first and subtracted. */
typedef struct apply_ctx {
    rf_projection_t *p;
    int32_t partition;
    pthread_barrier_t *barrier;
    uint64_t n, since_commit, commits, commit_ns, commit_cpu_ns, keys;
    uint64_t gen_wall, gen_cpu, wall, cpu; /* of this thread */
} apply_ctx_t;

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* User + system CPU of the whole process (every thread). */
static double proc_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* As the worker's appliers: the batch goes to the store's writer thread and
 * the thread applies on while it is synced (the next commit waits for it);
 * the last commit waits until it is durable. */
static void commit_now(apply_ctx_t *a, int64_t offset, bool last)
{
    rf_errbuf_t eb = {{0}};
    uint64_t c0 = rf_now_ns(), cc0 = cpu_ns();
    if (rf_projection_commit_start(a->p, offset, -1, &eb) != RF_OK ||
        (last && rf_projection_commit_wait(a->p, &eb) != RF_OK))
        die("commit", &eb);
    a->commit_ns += rf_now_ns() - c0;
    a->commit_cpu_ns += cpu_ns() - cc0;
    a->since_commit = 0;
    a->commits++;
}

static void apply_emit(const rf_record_t *rec, void *opaque)
{
    apply_ctx_t *a = opaque;
    rf_errbuf_t eb = {{0}};
    if (rf_projection_apply(a->p, rec, NULL, &eb) != RF_OK) die("apply", &eb);
    if (++a->since_commit >= RF_PROJECT_BATCH_MAX || rf_projection_cache_full(a->p))
        commit_now(a, (int64_t)rec->seq, false);
}

static void noop_emit(const rf_record_t *rec, void *opaque)
{
    (void)rec;
    (*(uint64_t *)opaque)++;
}

/* One apply thread: its partition's stories (distinct users per partition,
 * as in bench_kafka), generated alone, then generated and applied. */
static void *apply_thread(void *arg)
{
    apply_ctx_t *a = arg;
    gen_t *g = calloc(1, sizeof *g);
    uint64_t cnt = 0, w0 = rf_now_ns(), c0 = cpu_ns();
    long base = (long)a->partition * 1000003L;
    g->partition = a->partition;
    for (long i = 0; g->n < a->n; i++)
        story(g, i + base, 100000, noop_emit, &cnt);
    a->gen_wall = rf_now_ns() - w0;
    a->gen_cpu = cpu_ns() - c0;
    pthread_barrier_wait(a->barrier);
    memset(g, 0, sizeof *g);
    g->partition = a->partition;
    w0 = rf_now_ns();
    c0 = cpu_ns();
    for (long i = 0; g->n < a->n; i++)
        story(g, i + base, 100000, apply_emit, a);
    commit_now(a, (int64_t)g->seq, true);
    a->wall = rf_now_ns() - w0;
    a->cpu = cpu_ns() - c0;
    a->n = g->n;
    rf_projection_meta_t m;
    rf_projection_get_meta(a->p, &m);
    a->keys = m.keys_written;
    free(g);
    return NULL;
}

static int apply_threads(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int nt = opt.threads ? opt.threads : (int)(cpus < 1 ? 1 : cpus);
    return nt > RF_PROJECT_THREADS_MAX ? RF_PROJECT_THREADS_MAX : nt;
}

static void bench_apply(void)
{
    char dir[700];
    rf_errbuf_t eb = {{0}};
    int nt = apply_threads();
    apply_ctx_t a[RF_PROJECT_THREADS_MAX];
    pthread_t th[RF_PROJECT_THREADS_MAX];
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, (unsigned)nt + 1);
    snprintf(dir, sizeof dir, "%s/apply", opt.dir);
    double proc0 = proc_cpu_s();
    for (int t = 0; t < nt; t++) {
        a[t] = (apply_ctx_t){.partition = t, .barrier = &barrier};
        a[t].n = (uint64_t)(opt.records / nt + (t < opt.records % nt));
        a[t].p = rf_projection_open(dir, t, RF_PROJECTION_CREATE, &eb); /* synced commits */
        if (!a[t].p) die("open", &eb);
        pthread_create(&th[t], NULL, apply_thread, &a[t]);
    }
    pthread_barrier_wait(&barrier); /* every thread generated alone */
    double proc_gen = proc_cpu_s() - proc0;
    uint64_t w0 = rf_now_ns(), n = 0, keys = 0, commits = 0, gen_wall = 0;
    double cpu = 0, gen_cpu = 0, commit_s = 0, commit_cpu = 0;
    for (int t = 0; t < nt; t++) {
        pthread_join(th[t], NULL);
        n += a[t].n;
        keys += a[t].keys;
        commits += a[t].commits;
        gen_wall = a[t].gen_wall > gen_wall ? a[t].gen_wall : gen_wall;
        gen_cpu += secs(a[t].gen_cpu);
        cpu += secs(a[t].cpu - a[t].gen_cpu);
        commit_s += secs(a[t].commit_ns);
        commit_cpu += secs(a[t].commit_cpu_ns);
    }
    double wall = secs(rf_now_ns() - w0 - gen_wall);
    for (int t = 0; t < nt; t++)
        rf_projection_close(a[t].p); /* waits for RocksDB's background flushes: count them */
    double proc = proc_cpu_s() - proc0 - proc_gen - gen_cpu;
    pthread_barrier_destroy(&barrier);
    printf("projection apply (in process, %d partitions on %d apply threads, one synced commit "
           "per %d records of a partition):\n"
           "  %llu records: %.0f records/s wall (%.2f s), %llu commits, %.2f keys written per "
           "record\n"
           "  apply threads: %.0f records per CPU-second (%.2f s; the RocksDB writes run on the "
           "stores' writer threads)\n"
           "  of which commits (building the batch, waiting for the previous one's write and "
           "fsync), summed over threads: %.2f s wall, %.2f s CPU\n"
           "  whole process incl. writer, RocksDB flush/compaction threads: %.2f CPU-s = %.0f "
           "records per CPU-second\n",
           nt, nt, RF_PROJECT_BATCH_MAX, (unsigned long long)n, (double)n / wall, wall,
           (unsigned long long)commits, (double)keys / (double)n, (double)n / cpu, cpu, commit_s,
           commit_cpu, proc, (double)n / proc);
}

/* ---- 2. throughput through the embedded broker ------------------------------- */

typedef struct kafka_ctx {
    rd_kafka_t *prod;
    rf_codec_t *codec;
    uint8_t buf[RF_RECORD_BYTES_MAX];
} kafka_ctx_t;

static void kafka_emit(const rf_record_t *rec, void *opaque)
{
    kafka_ctx_t *k = opaque;
    size_t len;
    rf_errbuf_t eb = {{0}};
    if (rf_codec_encode_record(k->codec, rec, k->buf, sizeof k->buf, &len, &eb) != RF_OK)
        die("encode", &eb);
    while (rd_kafka_producev(
               k->prod, RD_KAFKA_V_TOPIC(RF_TOPIC_LEDGER), RD_KAFKA_V_PARTITION(rec->partition),
               RD_KAFKA_V_KEY(rec->program_id, strlen(rec->program_id)),
               RD_KAFKA_V_VALUE(k->buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
               RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(k->prod, 10);
}

typedef struct run_arg {
    rf_project_worker_t *w;
    rf_err_t err;
    rf_errbuf_t eb;
} run_arg_t;

static void *run_worker(void *p)
{
    run_arg_t *a = p;
    a->err = rf_project_worker_run(a->w, &a->eb);
    return NULL;
}

static void bench_kafka(void)
{
    enum { NP = 16 }; /* the mock keeps 5 MiB per partition: spread the records */
    rf_errbuf_t eb = {{0}};
    char errstr[256], dir[700];
    rf_broker_t *b = rf_broker_start(NP, 1, &eb);
    if (!b) die("broker", &eb);
    static kafka_ctx_t k;
    k.codec = rf_codec_new(&eb);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", rf_broker_bootstraps(b), errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "linger.ms", "20", errstr, sizeof errstr);
    k.prod = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    long per = opt.kafka_records / NP;
    uint64_t total = 0;
    for (int p = 0; p < NP; p++) {
        gen_t *g = calloc(1, sizeof *g);
        g->partition = p;
        for (long i = 0; (long)g->n < per; i++)
            story(g, i + p * 1000003L, 20000, kafka_emit, &k);
        total += g->n;
        free(g);
    }
    rd_kafka_flush(k.prod, 60000);
    snprintf(dir, sizeof dir, "%s/kafka", opt.dir);
    rf_project_opts_t o = {.kafka = {.brokers = rf_broker_bootstraps(b)},
                           .data_dir = dir,
                           .threads = opt.threads,
                           .commit_ms = opt.commit_ms};
    run_arg_t a = {.w = rf_project_worker_new(&o, &eb)};
    if (!a.w) die("worker", &eb);
    pthread_t t;
    pthread_create(&t, NULL, run_worker, &a);
    static rf_project_stats_t st;
    uint64_t first = 0, last = 0;
    uint64_t started = rf_now_ns();
    double cpu_first = 0;
    for (;;) { /* from the first applied record (after the group join) to the last */
        rf_project_worker_stats(a.w, &st);
        if (!first && st.records) {
            first = rf_now_ns();
            cpu_first = proc_cpu_s();
        }
        if (st.records >= total) break;
        if ((first && !st.running) || rf_now_ns() - started > 300ull * 1000000000ull) {
            fprintf(stderr, "bench_project: the worker stopped at %llu of %llu records\n",
                    (unsigned long long)st.records, (unsigned long long)total);
            break;
        }
        usleep(1000);
    }
    last = rf_now_ns();
    double cpu = proc_cpu_s() - cpu_first;
    rf_project_worker_stop(a.w);
    pthread_join(t, NULL);
    if (a.err != RF_OK) die("worker run", &a.eb);
    printf("projection worker (embedded broker, %d partitions, %ld apply threads, synced "
           "commits, commit-ms %d):\n"
           "  %llu records in %.2f s after the group join: %.0f records/s, %llu commits (%.2f s "
           "wall summed over threads), slowest commit %.1f ms\n"
           "  process CPU meanwhile (worker, RocksDB threads and the in-process broker): "
           "%.2f s = %.0f records per CPU-second\n",
           NP, opt.threads ? (long)opt.threads : sysconf(_SC_NPROCESSORS_ONLN), opt.commit_ms,
           (unsigned long long)st.records, secs(last - first),
           (double)st.records / secs(last - first), (unsigned long long)st.commits,
           secs(st.commit_ns), (double)st.commit_ns_max / 1e6, cpu, (double)st.records / cpu);
    rf_project_worker_destroy(a.w);
    rd_kafka_destroy(k.prod);
    rf_codec_destroy(k.codec);
    rf_broker_stop(b);
}

/* ---- 3. queries at one million referrers --------------------------------------- */

static void build_board(const char *dir)
{
    rf_errbuf_t eb = {{0}};
    rf_projection_t *p =
        rf_projection_open(dir, 0, RF_PROJECTION_CREATE | RF_PROJECTION_NOSYNC, &eb);
    if (!p) die("open", &eb);
    gen_t *g = calloc(1, sizeof *g);
    srand(1);
    uint64_t t0 = rf_now_ns(), since = 0;
    const int64_t step_ms = 60 * DAY_MS / (opt.referrers * 3 / 2); /* ~60 days of traffic */
    for (long i = 0; i < opt.referrers; i++) {
        /* a long tail: most referrers refer once, a few many times */
        int n =
            1 + (rand() % 4 == 0) + (rand() % 16 == 0) * (rand() % 10) + (rand() % 1000 == 0) * 40;
        char ref[24];
        snprintf(ref, sizeof ref, "ref-%ld", i);
        for (int k = 0; k < n; k++) {
            rf_record_t *x = g_new(g, "bench", RF_KIND_REWARD, T0 + (int64_t)g->seq * step_ms);
            int64_t amt = 500 + rand() % 5000;
            rf_record_fact(x, RF_FACT_ROLE, "referrer");
            rf_record_fact(x, RF_FACT_REFERRER, ref);
            rf_record_post(x, ref, RF_BUCKET_PENDING, "USD", amt);
            rf_record_post(x, "#expense", RF_BUCKET_EXPENSE, "USD", -amt);
            if (rf_projection_apply(p, x, NULL, &eb) != RF_OK) die("apply", &eb);
            if (++since >= RF_PROJECT_BATCH_MAX || rf_projection_cache_full(p)) {
                if (rf_projection_commit(p, (int64_t)g->seq, -1, &eb) != RF_OK) die("commit", &eb);
                since = 0;
            }
        }
    }
    if (rf_projection_commit(p, (int64_t)g->seq, -1, &eb) != RF_OK) die("commit", &eb);
    rf_projection_compact(p); /* steady state: background compaction would get there */
    printf("query store: %ld referrers, %llu reward records, built in %.1f s (%.0f records/s)\n",
           opt.referrers, (unsigned long long)g->n, secs(rf_now_ns() - t0),
           (double)g->n / secs(rf_now_ns() - t0));
    rf_projection_close(p);
    free(g);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

typedef int(query_fn)(rf_query_t *q, const char *user);

static int q_balance(rf_query_t *q, const char *user)
{
    rf_query_balance_t rows[4];
    return rf_query_balances(q, user, "bench", rows, 4, NULL) == 1 ? 0 : -1;
}
static int q_rank(rf_query_t *q, const char *user)
{
    rf_board_sel_t sel = {.program = "bench", .period = "all", .by = RF_BOARD_REFERRALS};
    rf_board_entry_t e;
    return rf_query_rank(q, &sel, user, &e, NULL, NULL) == RF_OK ? 0 : -1;
}
static int q_rank_value(rf_query_t *q, const char *user)
{
    rf_board_sel_t sel = {.program = "bench", .period = "all", .by = RF_BOARD_VALUE};
    rf_board_entry_t e;
    return rf_query_rank(q, &sel, user, &e, NULL, NULL) == RF_OK ? 0 : -1;
}
static int q_top100(rf_query_t *q, const char *user)
{
    (void)user;
    static rf_board_entry_t e[100];
    rf_board_sel_t sel = {.program = "bench", .period = "all", .by = RF_BOARD_REFERRALS};
    return rf_query_top(q, &sel, 100, e, NULL, NULL) == 100 ? 0 : -1;
}

/* Wall latency per call, and the thread's CPU time per call: on a shared
 * machine the wall p99 includes being descheduled, the CPU p99 does not. */
static void measure(rf_query_t *q, const char *name, query_fn *fn)
{
    uint64_t *lat = calloc((size_t)opt.samples * 2, sizeof *lat), *cpu = lat + opt.samples;
    char user[24];
    for (long i = 0; i < opt.samples; i++) {
        snprintf(user, sizeof user, "ref-%ld",
                 (long)(((uint64_t)rand() << 16 ^ (uint64_t)rand()) % (uint64_t)opt.referrers));
        uint64_t t = rf_now_ns(), c = cpu_ns();
        if (fn(q, user) != 0) {
            fprintf(stderr, "bench_project: %s failed for %s\n", name, user);
            exit(1);
        }
        cpu[i] = cpu_ns() - c;
        lat[i] = rf_now_ns() - t;
    }
    qsort(lat, (size_t)opt.samples, sizeof *lat, cmp_u64);
    qsort(cpu, (size_t)opt.samples, sizeof *cpu, cmp_u64);
    long p50 = opt.samples / 2, p99 = opt.samples * 99 / 100;
    printf("  %-18s wall p50 %6.1f us  p99 %7.1f us | cpu p50 %6.1f us  p99 %6.1f us\n", name,
           (double)lat[p50] / 1e3, (double)lat[p99] / 1e3, (double)cpu[p50] / 1e3,
           (double)cpu[p99] / 1e3);
    free(lat);
}

/* ---- 4. HTTP under wrk ------------------------------------------------------------ */

static void wrk_run(uint16_t port, const char *name, const char *lua_request)
{
    static int nscript;
    char script[700], cmd[1500], line[512];
    snprintf(script, sizeof script, "%s/wrk-%d.lua", opt.dir, ++nscript);
    FILE *f = fopen(script, "w");
    if (!f) die("cannot write the wrk script", NULL);
    fprintf(f,
            "math.randomseed(42)\nrequest = function()\n  local u = math.random(0, %ld)\n"
            "  return wrk.format(\"GET\", %s)\nend\n",
            opt.referrers - 1, lua_request);
    fclose(f);
    snprintf(cmd, sizeof cmd, "wrk -t2 -c32 -d%ds --latency -s %s http://127.0.0.1:%u 2>&1",
             opt.http_seconds, script, (unsigned)port);
    FILE *p = popen(cmd, "r");
    double rps = 0;
    char p50[32] = "?", p99[32] = "?", errors[128] = "";
    while (p && fgets(line, sizeof line, p)) {
        sscanf(line, " Requests/sec: %lf", &rps);
        sscanf(line, " 50%% %31s", p50);
        sscanf(line, " 99%% %31s", p99);
        if (strstr(line, "Non-2xx") || strstr(line, "Socket errors"))
            snprintf(errors, sizeof errors, " [%.*s]", (int)strcspn(line, "\n"), line);
    }
    if (!p || pclose(p) != 0) die("wrk failed (is /usr/bin/wrk installed?)", NULL);
    printf("  %-22s %9.0f requests/s   p50 %s   p99 %s%s\n", name, rps, p50, p99, errors);
}

static void bench_queries(void)
{
    char dir[700];
    rf_errbuf_t eb = {{0}};
    snprintf(dir, sizeof dir, "%s/board", opt.dir);
    build_board(dir);
    rf_query_t *q = rf_query_open(dir, RF_QUERY_SNAPSHOT, &eb);
    if (!q) die("query open", &eb);
    printf("query latency in process (%ld samples, random users):\n", opt.samples);
    measure(q, "balance", q_balance);
    measure(q, "rank (referrals)", q_rank);
    measure(q, "rank (value)", q_rank_value);
    measure(q, "top-100", q_top100);
    rf_query_close(q);
    if (opt.skip_http) return;
    rf_http_opts_t ho = {.data_dir = dir, .listen = "127.0.0.1:0"};
    rf_http_t *h = rf_http_start(&ho, &eb);
    if (!h) die("http", &eb);
    printf("HTTP (wrk -t2 -c32 -d%ds from a second process, %d server threads, 2 cores shared):\n",
           opt.http_seconds, RF_HTTP_THREADS);
    wrk_run(rf_http_port(h), "GET balance",
            "\"/v1/programs/bench/users/ref-\" .. u .. \"/balance\"");
    wrk_run(rf_http_port(h), "GET rank", "\"/v1/programs/bench/users/ref-\" .. u .. \"/rank\"");
    wrk_run(rf_http_port(h), "GET leaderboard top-100",
            "\"/v1/programs/bench/leaderboard?top=100\"");
    wrk_run(rf_http_port(h), "GET health", "\"/v1/health\"");
    rf_http_stop(h);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_project [--records N] [--referrers N] [--kafka-records N]\n"
            "                     [--samples N] [--http-seconds S] [--threads N] [--commit-ms N]\n"
            "                     [--skip-kafka]\n"
            "                     [--skip-http] [--skip-queries]\n"
            "                     [--dir SCRATCH]\n");
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {{"records", required_argument, 0, 'r'},
                                       {"referrers", required_argument, 0, 'u'},
                                       {"kafka-records", required_argument, 0, 'k'},
                                       {"samples", required_argument, 0, 's'},
                                       {"http-seconds", required_argument, 0, 'H'},
                                       {"skip-kafka", no_argument, 0, 'K'},
                                       {"skip-http", no_argument, 0, 'S'},
                                       {"skip-queries", no_argument, 0, 'Q'},
                                       {"threads", required_argument, 0, 't'},
                                       {"commit-ms", required_argument, 0, 'C'},
                                       {"dir", required_argument, 0, 'd'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'r':
            opt.records = atol(optarg);
            break;
        case 'u':
            opt.referrers = atol(optarg);
            break;
        case 'k':
            opt.kafka_records = atol(optarg);
            break;
        case 's':
            opt.samples = atol(optarg);
            break;
        case 'H':
            opt.http_seconds = atoi(optarg);
            break;
        case 'K':
            opt.skip_kafka = true;
            break;
        case 't':
            opt.threads = atoi(optarg);
            break;
        case 'C':
            opt.commit_ms = atoi(optarg);
            break;
        case 'S':
            opt.skip_http = true;
            break;
        case 'Q':
            opt.skip_queries = true;
            break;
        case 'd':
            rf_strlcpy(opt.dir, optarg, sizeof opt.dir);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (opt.records < 1 || opt.referrers < 100 || opt.samples < 100 || opt.http_seconds < 1) {
        usage(stderr);
        return 2;
    }
    bool own_dir = !opt.dir[0];
    if (own_dir) {
        const char *tmp = getenv("TMPDIR");
        snprintf(opt.dir, sizeof opt.dir, "%s/refold-bench-project-XXXXXX",
                 tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(opt.dir)) die("cannot create a scratch directory", NULL);
    }
    rf_log_set_level(RF_LOG_WARN);
    bench_apply();
    if (!opt.skip_kafka) bench_kafka();
    if (!opt.skip_queries) bench_queries();
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS %.0f MiB; scratch %s\n", (double)ru.ru_maxrss / 1024, opt.dir);
    if (own_dir) {
        char cmd[800];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", opt.dir);
        if (system(cmd) != 0) fprintf(stderr, "bench_project: could not remove %s\n", opt.dir);
    }
    return 0;
}
