/* bench_fold.c: the fold benchmark: N loadgen events through an in-process
 * embedded broker into the fold worker with durable commits; prints events/s,
 * batch commit latency percentiles and peak RSS, next to a raw librdkafka
 * consume of the same topic and a RocksDB synced-batch probe measured in the
 * same run (docs/fold-worker.md, "Benchmark"). */
#include <getopt.h>
#include <pthread.h>
#include <rocksdb/c.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rf_broker.h"
#include "rf_fold_gen.h"
#include "rf_fold_worker.h"

#define BENCH_GROUP "bench-fold"
/* No progress for this long while folding: give up. */
#define STALL_NS (120ull * 1000000000ull)

typedef struct bench_opts {
    long events;
    long prefill; /* events published before the fold starts */
    int partitions;
    int programs;
    int batch;
    int threads;
    long window; /* events per growth window (0: none) */
    bool no_outbox, nosync, json, subprocess, simple, keep;
    const char *compression; /* of the produced events */
    const char *data;
} bench_opts_t;

/* The events' source: loadgen, or the tests' simple generator. */
typedef struct source {
    fg_prod_t prod;
    rf_loadgen_t *lg;
    fg_t *simple;
    uint64_t produced;
} source_t;

/* The fold under test: a worker on a thread, or a `refold fold` child. */
typedef struct fold_run {
    rf_fold_worker_t *w;
    pthread_t th;
    rf_err_t err;
    rf_errbuf_t eb;
    pid_t pid;
    int out_fd;
} fold_run_t;

/* The growth figures: one per window of o->window folded events, so a
 * rate or CPU per event that grows with the ledger shows in one run. */
#define WINDOWS_MAX 256
typedef struct window {
    long events;   /* folded at its end */
    long n;        /* folded in it: a window ends at the first commit past it */
    double wall_s; /* its wall time */
    double cpu_s;  /* the fold's CPU in it (in-process: this whole process) */
    long rss_kb;   /* the fold's RSS at its end */
} window_t;

typedef struct bench_result {
    double produce_per_s, raw_per_s;
    uint64_t sync1_us, sync1000_us;
    double sync1000_puts_per_s;
    long rss_before_kb;
    fg_report_t rep; /* the fold's figures (shared with bench_e2e) */
    window_t win[WINDOWS_MAX];
    int nwin;
    long win_peak_rss_kb; /* the fold's, sampled at the windows' ends */
} bench_result_t;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_fold [--events N] [--prefill N] [--partitions P] [--programs K]\n"
            "                  [--batch N] [--threads T] [--no-outbox] [--nosync]\n"
            "                  [--subprocess] [--simple] [--compression C] [--data DIR]\n"
            "                  [--window N] [--keep] [--json]\n"
            "\n"
            "Publishes N loadgen events (default 1000000; K programs, default 64) to an\n"
            "in-process embedded broker with P partitions (default 16) and folds them into\n"
            "fresh ledgers with synced commits (--nosync: unsynced, for comparison only)\n"
            "and the outbox on (--no-outbox: off). The broker keeps only 5 MiB per\n"
            "partition, so --prefill events (default 150000, zstd-compressed) are published\n"
            "first and the rest while the fold runs, never more than the prefill ahead of\n"
            "it. Prints events/s, commit latency and peak RSS, with a raw consume of the\n"
            "prefilled events and a RocksDB synced-batch probe for scale. --subprocess folds\n"
            "with the `refold fold` binary, so the peak RSS is the fold's alone (in-process\n"
            "it includes the in-memory broker). --simple: the tests' small generator.\n"
            "--window N (default 1000000, at most 256 windows): events/s, CPU us per event\n"
            "and RSS of the fold for every N folded events, so a cost that grows with the\n"
            "ledger shows (CPU and RSS: the fold process's with --subprocess, else this\n"
            "process's, with the broker and the producer). --keep: leave the ledgers (and\n"
            "their RocksDB LOGs: REFOLD_ROCKSDB_STATS_S=N dumps statistics there) for a look.\n");
}

static double secs_since(uint64_t t0)
{
    return (double)(rf_now_ns() - t0) / 1e9;
}

/* ---- events ------------------------------------------------------------- */

static void source_open(source_t *s, const char *brokers, const bench_opts_t *o)
{
    memset(s, 0, sizeof *s);
    fg_prod_open(&s->prod, brokers, o->compression);
    if (o->simple) {
        s->simple = malloc(sizeof *s->simple);
        RF_ASSERT(s->simple);
        fg_init(s->simple, 42, o->programs, o->partitions);
    } else {
        s->lg = fg_loadgen_new(42, o->programs, (uint64_t)o->events);
    }
}

static void source_produce(source_t *s, uint64_t n)
{
    if (s->simple)
        fg_prod_events(&s->prod, RF_TOPIC_EVENTS, s->simple, n);
    else
        RF_ASSERT(fg_prod_loadgen(&s->prod, RF_TOPIC_EVENTS, s->lg, n) == n);
    s->produced += n;
}

static void source_close(source_t *s)
{
    RF_ASSERT(fg_prod_flush(&s->prod) == 0);
    fg_prod_close(&s->prod);
    rf_loadgen_destroy(s->lg);
    free(s->simple);
}

/* Exits when the broker dropped events (low watermark above 0). */
static void check_kept(const char *brokers, const bench_opts_t *o, long want)
{
    int64_t lo[RF_PARTITIONS_MAX], hi[RF_PARTITIONS_MAX], total = 0;
    fg_watermarks(brokers, RF_TOPIC_EVENTS, o->partitions, lo, hi);
    for (int i = 0; i < o->partitions; i++) {
        if (lo[i] != 0) {
            fprintf(stderr,
                    "bench_fold: the broker dropped events of partition %d (low watermark "
                    "%" PRId64 "): use a smaller --prefill or more partitions\n",
                    i, lo[i]);
            exit(1);
        }
        total += hi[i];
    }
    RF_ASSERT(total == want);
}

/* A plain assign-and-consume of the first n events: the fold's ceiling. */
static double raw_consume(const char *brokers, const bench_opts_t *o, long n)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[] = {
        "bootstrap.servers", brokers, "group.id", "bench-raw", "enable.auto.commit", "false",
        "fetch.wait.max.ms", "100",   NULL};
    for (int i = 0; kv[i]; i += 2)
        RF_ASSERT(rd_kafka_conf_set(conf, kv[i], kv[i + 1], errstr, sizeof errstr) == 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    RF_ASSERT(rk);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(o->partitions);
    for (int i = 0; i < o->partitions; i++)
        rd_kafka_topic_partition_list_add(tl, RF_TOPIC_EVENTS, i)->offset = 0;
    uint64_t t0 = rf_now_ns();
    RF_ASSERT(rd_kafka_assign(rk, tl) == 0);
    rd_kafka_topic_partition_list_destroy(tl);
    long got = 0;
    while (got < n) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 1000);
        if (!m) continue;
        got += m->err == 0;
        rd_kafka_message_destroy(m);
    }
    double rate = (double)got / secs_since(t0);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rate;
}

/* RocksDB alone: n synced WriteBatches of `puts` 120-byte puts each; the
 * median batch latency in us and the puts/s. */
static void rocks_probe(const char *dir, int n, int puts, uint64_t *p50_us, double *puts_per_s)
{
    char *err = NULL;
    rocksdb_options_t *opt = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(opt, 1);
    rocksdb_t *db = rocksdb_open(opt, dir, &err);
    RF_ASSERT(db && !err);
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(wo, 1);
    rf_fold_hist_t h = {0};
    char key[8], val[120];
    memset(val, 'v', sizeof val);
    uint64_t t0 = rf_now_ns();
    for (int b = 0; b < n; b++) {
        rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
        for (int i = 0; i < puts; i++) {
            rf_be64_put((uint8_t *)key, (uint64_t)b * (uint64_t)puts + (uint64_t)i);
            rocksdb_writebatch_put(wb, key, 8, val, sizeof val);
        }
        uint64_t t1 = rf_now_ns();
        rocksdb_write(db, wo, wb, &err);
        RF_ASSERT(!err);
        rf_fold_hist_add(&h, (rf_now_ns() - t1) / 1000);
        rocksdb_writebatch_destroy(wb);
    }
    *puts_per_s = (double)n * puts / secs_since(t0);
    *p50_us = rf_fold_hist_quantile(&h, 0.5);
    rocksdb_writeoptions_destroy(wo);
    rocksdb_close(db);
    rocksdb_options_destroy(opt);
}

/* ---- the fold ----------------------------------------------------------- */

static void *fold_thread(void *arg)
{
    fold_run_t *f = arg;
    f->err = rf_fold_worker_run(f->w, &f->eb);
    return NULL;
}

static void fold_start_in_process(fold_run_t *f, const char *brokers, const char *data,
                                  const bench_opts_t *o)
{
    static rf_fold_worker_conf_t c;
    rf_fold_worker_conf_init(&c);
    c.kafka.brokers = brokers;
    c.data_dir = data;
    c.group = BENCH_GROUP;
    c.no_outbox = o->no_outbox;
    c.batch_max = o->batch;
    c.threads = o->threads;
    c.ledger_flags = o->nosync ? RF_LEDGER_NOSYNC : 0;
    /* assigned directly: the benchmark measures folding, not a group join */
    c.npartitions = o->partitions;
    for (int i = 0; i < o->partitions; i++)
        c.partitions[i] = i;
    f->w = rf_fold_worker_new(&c, &f->eb);
    RF_ASSERT(f->w);
    RF_ASSERT(pthread_create(&f->th, NULL, fold_thread, f) == 0);
}

static void fold_start_subprocess(fold_run_t *f, const char *brokers, const char *data,
                                  const bench_opts_t *o)
{
    static char parts[32], batch[16], threads[16];
    snprintf(parts, sizeof parts, "0-%d", o->partitions - 1);
    snprintf(batch, sizeof batch, "%d", o->batch);
    snprintf(threads, sizeof threads, "%d", o->threads);
    const char *argv[20] = {RF_BENCH_REFOLD, "fold", "--brokers", brokers, "--data",  data,
                            "--partitions",  parts,  "--batch",   batch,   "--group", BENCH_GROUP,
                            "--json",        NULL};
    int argc = 13;
    if (o->threads) argv[argc++] = "--threads", argv[argc++] = threads;
    if (o->no_outbox) argv[argc++] = "--no-outbox";
    argv[argc] = NULL;
    int fds[2];
    RF_ASSERT(pipe(fds) == 0);
    f->pid = fork();
    RF_ASSERT(f->pid >= 0);
    if (f->pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        execv(RF_BENCH_REFOLD, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    f->out_fd = fds[0];
}

/* Offsets the fold made durable, from the group's committed offsets (the
 * worker commits them after every durable batch). */
static int64_t folded(rd_kafka_t *rk, int partitions)
{
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(partitions);
    for (int i = 0; i < partitions; i++)
        rd_kafka_topic_partition_list_add(tl, RF_TOPIC_EVENTS, i);
    int64_t sum = -1;
    if (rd_kafka_committed(rk, tl, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        sum = 0;
        for (int i = 0; i < partitions; i++)
            sum += tl->elems[i].offset > 0 ? tl->elems[i].offset : 0;
    }
    rd_kafka_topic_partition_list_destroy(tl);
    return sum;
}

static rd_kafka_t *group_reader(const char *brokers)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    RF_ASSERT(rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr) == 0);
    RF_ASSERT(rd_kafka_conf_set(conf, "group.id", BENCH_GROUP, errstr, sizeof errstr) == 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    RF_ASSERT(rk);
    return rk;
}

/* CPU seconds (user + system) and resident KiB of process pid (0: this
 * one), from /proc; -1 where unreadable. */
static void proc_sample(pid_t pid, double *cpu_s, long *rss_kb)
{
    char path[64], buf[1024];
    *cpu_s = -1, *rss_kb = -1;
    snprintf(path, sizeof path, "/proc/%d/stat", pid ? (int)pid : (int)getpid());
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        fclose(f);
        const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
        unsigned long ut, st;
        if (p &&
            sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
            *cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    }
    snprintf(path, sizeof path, "/proc/%d/status", pid ? (int)pid : (int)getpid());
    f = fopen(path, "r");
    if (f) {
        while (fgets(buf, sizeof buf, f))
            if (sscanf(buf, "VmRSS: %ld kB", rss_kb) == 1) break;
        fclose(f);
    }
}

static double win_rate(const window_t *w)
{
    return w->wall_s > 0 ? (double)w->n / w->wall_s : 0;
}

static double win_cpu_us(const window_t *w)
{
    return w->cpu_s >= 0 && w->n > 0 ? w->cpu_s * 1e6 / (double)w->n : -1;
}

/* Closes the window that `done` folded events complete, if any. */
static void window_mark(bench_result_t *r, const bench_opts_t *o, pid_t pid, long done,
                        uint64_t *w_ns, double *w_cpu)
{
    /* one window per call: a commit that crosses two ends one, the next call the other */
    if (o->window > 0 && r->nwin < WINDOWS_MAX && done >= (r->nwin + 1) * o->window) {
        double cpu;
        long rss;
        proc_sample(pid, &cpu, &rss);
        uint64_t now = rf_now_ns();
        window_t *w = &r->win[r->nwin++];
        w->events = done;
        w->n = done - (r->nwin > 1 ? r->win[r->nwin - 2].events : 0);
        w->wall_s = (double)(now - *w_ns) / 1e9;
        w->cpu_s = cpu - *w_cpu;
        w->rss_kb = rss;
        if (rss > r->win_peak_rss_kb) r->win_peak_rss_kb = rss;
        *w_ns = now, *w_cpu = cpu;
        if (!o->json || isatty(2))
            fprintf(stderr,
                    "bench_fold: %ld events folded, window %.0f events/s, %.2f us cpu/event, "
                    "rss %ld KiB\n",
                    done, win_rate(w), win_cpu_us(w), rss);
    }
}

/* Publishes the rest of the events at most `prefill` ahead of the fold, and
 * waits until the fold made every event durable. Returns false on a stall. */
static bool feed_and_wait(source_t *src, const char *brokers, const bench_opts_t *o, pid_t pid,
                          bench_result_t *r)
{
    rd_kafka_t *rk = group_reader(brokers);
    uint64_t last_ns = rf_now_ns(), w_ns = last_ns;
    double w_cpu;
    long rss0;
    proc_sample(pid, &w_cpu, &rss0);
    int64_t last = 0, done = 0;
    while (done < o->events) {
        done = folded(rk, o->partitions);
        window_mark(r, o, pid, (long)done, &w_ns, &w_cpu);
        if (done > last) last = done, last_ns = rf_now_ns();
        if (rf_now_ns() - last_ns > STALL_NS) break;
        long room = o->prefill - ((long)src->produced - (long)done);
        long n = o->events - (long)src->produced;
        if (room > 10000 && n > 0) {
            source_produce(src, (uint64_t)(n < room - 10000 ? n : room - 10000));
            rd_kafka_flush(src->prod.rk, 1000);
        } else {
            usleep(10 * 1000);
        }
    }
    rd_kafka_destroy(rk);
    return done >= o->events;
}

static rf_err_t fold_finish(fold_run_t *f, const bench_opts_t *o, rf_fold_stats_t *st,
                            bench_result_t *r, rf_errbuf_t *eb)
{
    if (!o->subprocess) {
        rf_fold_worker_stop(f->w);
        RF_ASSERT(pthread_join(f->th, NULL) == 0);
        rf_fold_worker_stats(f->w, st);
        rf_fold_worker_destroy(f->w);
        fg_report_add(&r->rep, st);
        r->rep.peak_rss_kb = fg_peak_rss_kb();
        if (f->err) *eb = f->eb;
        return f->err;
    }
    char out[4096];
    ssize_t n, used = 0;
    kill(f->pid, SIGTERM);
    while ((n = read(f->out_fd, out + used, sizeof out - 1 - (size_t)used)) > 0)
        used += n;
    out[used] = '\0';
    close(f->out_fd);
    int status;
    struct rusage ru;
    RF_ASSERT(wait4(f->pid, &status, 0, &ru) == f->pid);
    r->rep.peak_rss_kb = ru.ru_maxrss;
    r->rep.cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                   (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return rf_errf(eb, RF_ERR_INTERNAL, "refold fold failed: %s", out);
    const char *keys[6] = {"commit_p50_us", "commit_p99_us", "commit_p999_us",
                           "cycle_p50_us",  "cycle_p99_us",  "cycle_p999_us"};
    for (int i = 0; i < 6; i++) {
        char pat[64];
        snprintf(pat, sizeof pat, "\"%s\":", keys[i]);
        const char *p = strstr(out, pat);
        r->rep.pct[i] = p ? strtoull(p + strlen(pat), NULL, 10) : 0;
    }
    const char *c = strstr(out, "\"consumed\":");
    st->consumed = c ? strtoull(c + 11, NULL, 10) : 0;
    const char *b = strstr(out, "\"batches\":");
    st->batches = b ? strtoull(b + 10, NULL, 10) : 0;
    r->rep.batches = st->batches;
    return RF_OK;
}

/* ---- main --------------------------------------------------------------- */

/* The growth figures as JSON members: the first and the last window side
 * by side (the flat keys ops/bench.sh reads), then every window. */
static void print_windows_json(const bench_opts_t *o, const bench_result_t *r)
{
    if (r->nwin == 0) return;
    const window_t *a = &r->win[0], *z = &r->win[r->nwin - 1];
    printf(",\"window_events\":%ld,\"win_first_per_s\":%.0f,\"win_last_per_s\":%.0f,"
           "\"win_last_vs_first\":%.3f,\"win_first_cpu_us\":%.2f,\"win_last_cpu_us\":%.2f,"
           "\"win_first_rss_kb\":%ld,\"win_last_rss_kb\":%ld,\"fold_rss_peak_kb\":%ld,"
           "\"windows\":[",
           o->window, win_rate(a), win_rate(z), win_rate(a) > 0 ? win_rate(z) / win_rate(a) : 0,
           win_cpu_us(a), win_cpu_us(z), a->rss_kb, z->rss_kb, r->win_peak_rss_kb);
    for (int i = 0; i < r->nwin; i++)
        printf("%s{\"events\":%ld,\"events_per_s\":%.0f,\"cpu_us\":%.2f,\"rss_kb\":%ld}",
               i ? "," : "", r->win[i].events, win_rate(&r->win[i]), win_cpu_us(&r->win[i]),
               r->win[i].rss_kb);
    printf("]");
}

static void print_windows_text(const bench_opts_t *o, const bench_result_t *r)
{
    if (r->nwin == 0) return;
    printf("growth, per window of %ld events (CPU and RSS of %s):\n", o->window,
           o->subprocess ? "the refold fold process" : "this whole process");
    printf("  %10s %10s %8s %10s\n", "folded", "events/s", "cpu us", "rss MiB");
    for (int i = 0; i < r->nwin; i++)
        printf("  %10ld %10.0f %8.2f %10.1f\n", r->win[i].events, win_rate(&r->win[i]),
               win_cpu_us(&r->win[i]), (double)r->win[i].rss_kb / 1024);
    const window_t *a = &r->win[0], *z = &r->win[r->nwin - 1];
    printf("growth: last window %.0f events/s = %.3f of the first; cpu %.2f -> %.2f us/event; "
           "fold RSS %ld -> %ld KiB (peak sampled %ld KiB)\n",
           win_rate(z), win_rate(a) > 0 ? win_rate(z) / win_rate(a) : 0, win_cpu_us(a),
           win_cpu_us(z), a->rss_kb, z->rss_kb, r->win_peak_rss_kb);
}

static void print_result(const bench_opts_t *o, const bench_result_t *r)
{
    const fg_report_t *rep = &r->rep;
    double rate = (double)o->events / rep->elapsed_s;
    if (o->json) {
        printf("{\"partitions\":%d,\"sync\":%s,\"outbox\":%s,\"subprocess\":%s,", o->partitions,
               o->nosync ? "false" : "true", o->no_outbox ? "false" : "true",
               o->subprocess ? "true" : "false");
        fg_report_json(stdout, rep);
        printf(",\"produce_per_s\":%.0f,\"raw_consume_per_s\":%.0f,\"fold_vs_raw\":%.3f,"
               "\"sync_1put_p50_us\":%" PRIu64 ",\"sync_1000puts_p50_us\":%" PRIu64
               ",\"sync_1000puts_per_s\":%.0f",
               r->produce_per_s, r->raw_per_s, rate / r->raw_per_s, r->sync1_us, r->sync1000_us,
               r->sync1000_puts_per_s);
        print_windows_json(o, r);
        printf("}\n");
        return;
    }
    printf("events=%ld partitions=%d sync=%s outbox=%s fold=%s\n", o->events, o->partitions,
           o->nosync ? "off" : "on", o->no_outbox ? "off" : "on",
           o->subprocess ? "refold-fold-process" : "in-process");
    fg_report_text(stdout, rep,
                   o->subprocess ? "the refold fold process alone"
                                 : "this process: the fold, the producer feeding it, the broker");
    if (o->subprocess)
        printf("(peak RSS of the refold fold process)\n");
    else
        printf("(peak RSS of the whole process, with the in-memory broker; %ld KiB before the "
               "fold)\n",
               r->rss_before_kb);
    printf("produce: %.0f events/s; raw consume: %.0f msg/s; fold / raw = %.3f\n", r->produce_per_s,
           r->raw_per_s, rate / r->raw_per_s);
    printf("rocksdb synced batch p50: 1 put %" PRIu64 " us, 1000 puts %" PRIu64
           " us (%.0f puts/s); partition commit p50 / 1-put sync = %.2f\n",
           r->sync1_us, r->sync1000_us, r->sync1000_puts_per_s,
           r->sync1_us ? (double)rep->pct[0] / (double)r->sync1_us : 0.0);
    print_windows_text(o, r);
}

static int parse(int argc, char **argv, bench_opts_t *o)
{
    static const struct option lo[] = {{"events", required_argument, 0, 'n'},
                                       {"prefill", required_argument, 0, 'f'},
                                       {"partitions", required_argument, 0, 'p'},
                                       {"programs", required_argument, 0, 'k'},
                                       {"batch", required_argument, 0, 'b'},
                                       {"threads", required_argument, 0, 't'},
                                       {"no-outbox", no_argument, 0, 'o'},
                                       {"nosync", no_argument, 0, 's'},
                                       {"subprocess", no_argument, 0, 'S'},
                                       {"simple", no_argument, 0, 'g'},
                                       {"compression", required_argument, 0, 'c'},
                                       {"data", required_argument, 0, 'd'},
                                       {"window", required_argument, 0, 'w'},
                                       {"keep", no_argument, 0, 'K'},
                                       {"json", no_argument, 0, 'j'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'n':
            o->events = atol(optarg);
            break;
        case 'f':
            o->prefill = atol(optarg);
            break;
        case 'p':
            o->partitions = atoi(optarg);
            break;
        case 'k':
            o->programs = atoi(optarg);
            break;
        case 'b':
            o->batch = atoi(optarg);
            break;
        case 't':
            o->threads = atoi(optarg);
            break;
        case 'o':
            o->no_outbox = true;
            break;
        case 's':
            o->nosync = true;
            break;
        case 'S':
            o->subprocess = true;
            break;
        case 'g':
            o->simple = true;
            break;
        case 'c':
            o->compression = optarg;
            break;
        case 'd':
            o->data = optarg;
            break;
        case 'w':
            o->window = atol(optarg);
            break;
        case 'K':
            o->keep = true;
            break;
        case 'j':
            o->json = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return 2;
        }
    }
    if (o->events < 1 || o->prefill < 20000 || o->partitions < 1 ||
        o->partitions > RF_PARTITIONS_MAX || o->programs < 1 || o->programs > FG_PROGRAMS_MAX ||
        o->batch < 1 || o->batch > RF_FOLD_BATCH_MAX || o->threads < 0 ||
        o->threads > RF_FOLD_THREADS_MAX || o->window < 0 || (o->subprocess && o->nosync)) {
        fprintf(stderr, "bench_fold: bad options (see --help)\n");
        return 2;
    }
    return 0;
}

/* Prefill, raw consume, RocksDB probe, then the fold while the rest arrives. */
static rf_err_t run(const char *dir, const bench_opts_t *o, rf_fold_stats_t *st, bench_result_t *r,
                    rf_errbuf_t *eb)
{
    char data[600], probe[600];
    rf_broker_t *b = rf_broker_start(o->partitions, 1, eb);
    if (!b) return RF_ERR_KAFKA;
    const char *brokers = rf_broker_bootstraps(b);
    long prefill = o->events < o->prefill ? o->events : o->prefill;
    fprintf(stderr, "bench_fold: %ld events, %ld before the fold...\n", o->events, prefill);
    source_t src;
    source_open(&src, brokers, o);
    uint64_t t0 = rf_now_ns();
    source_produce(&src, (uint64_t)prefill);
    RF_ASSERT(fg_prod_flush(&src.prod) == 0);
    r->produce_per_s = (double)prefill / secs_since(t0);
    check_kept(brokers, o, prefill);
    r->raw_per_s = raw_consume(brokers, o, prefill);
    double puts1_per_s;
    snprintf(probe, sizeof probe, "%s/probe1", dir);
    rocks_probe(probe, 300, 1, &r->sync1_us, &puts1_per_s);
    snprintf(probe, sizeof probe, "%s/probe1000", dir);
    rocks_probe(probe, 300, 1000, &r->sync1000_us, &r->sync1000_puts_per_s);
    snprintf(data, sizeof data, "%s/data", dir);
    r->rss_before_kb = fg_peak_rss_kb();
    double cpu0 = fg_cpu_s();
    fold_run_t f = {0};
    t0 = rf_now_ns();
    if (o->subprocess)
        fold_start_subprocess(&f, brokers, data, o);
    else
        fold_start_in_process(&f, brokers, data, o);
    bool ok = feed_and_wait(&src, brokers, o, o->subprocess ? f.pid : 0, r);
    r->rep.elapsed_s = secs_since(t0);
    rf_err_t err = fold_finish(&f, o, st, r, eb);
    if (!o->subprocess) r->rep.cpu_s = fg_cpu_s() - cpu0; /* else the child's, from wait4 */
    r->rep.events = (uint64_t)o->events;
    /* The broker now drops already-folded events (it keeps the last 5 MiB of
     * a partition); had it dropped one before the fold read it, the fold would
     * have stopped with RF_ERR_GAP. */
    source_close(&src);
    rf_broker_stop(b);
    if (err == RF_OK && !ok) err = rf_errf(eb, RF_ERR_TIMEOUT, "the fold stalled");
    return err;
}

int main(int argc, char **argv)
{
    bench_opts_t o = {.events = 1000000,
                      .prefill = 150000,
                      .partitions = RF_PARTITIONS_DEFAULT,
                      .programs = 64,
                      .batch = RF_FOLD_BATCH_MAX,
                      .window = 1000000,
                      .compression = "zstd"};
    if (parse(argc, argv, &o)) return 2;
    rf_log_set_level(RF_LOG_WARN);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/refold-bench-XXXXXX", o.data ? o.data : "/tmp");
    if (!mkdtemp(dir)) {
        perror("bench_fold: mkdtemp");
        return 1;
    }
    static rf_fold_stats_t st;
    bench_result_t r = {0};
    rf_errbuf_t eb = {{0}};
    rf_err_t err = run(dir, &o, &st, &r, &eb);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (o.keep)
        fprintf(stderr, "bench_fold: kept %s (delete it when done)\n", dir);
    else if (system(cmd) != 0)
        fprintf(stderr, "bench_fold: cannot remove %s\n", dir);
    if (err) {
        fprintf(stderr, "bench_fold: %s\n", eb.msg);
        return 1;
    }
    print_result(&o, &r);
    return st.consumed == (uint64_t)o.events ? 0 : 1;
}
