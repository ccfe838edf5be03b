/* bench_fold.c: the fold benchmark: publish N loadgen events to an
 * in-process embedded broker, then fold them with durable commits and print
 * events/s, batch commit latency percentiles and peak RSS, next to a raw
 * librdkafka consume of the same topic and a RocksDB synced-batch probe
 * measured in the same run (docs/fold-worker.md, "Benchmark"). */
#include <getopt.h>
#include <rocksdb/c.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rf_broker.h"
#include "rf_fold_gen.h"
#include "rf_fold_worker.h"

typedef struct bench_opts {
    long events;
    int partitions;
    int programs;
    int batch;
    int threads;
    bool no_outbox;
    bool nosync;
    bool json;
    bool subprocess;
    bool simple; /* the tests' simple generator instead of loadgen */
    const char *data;
} bench_opts_t;

/* What one run measured. */
typedef struct bench_result {
    double produce_per_s, raw_per_s;
    uint64_t sync1_us, sync1000_us;
    double sync1000_puts_per_s;
    long rss_before_kb, rss_peak_kb; /* fold's own peak in --subprocess mode */
    double cpu_s;                    /* whole process during the fold (in-process mode) */
} bench_result_t;

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_fold [--events N] [--partitions P] [--programs K] [--batch N]\n"
               "                  [--threads T] [--no-outbox] [--nosync] [--subprocess]\n"
               "                  [--simple] [--data DIR] [--json]\n"
               "\n"
               "Publishes N loadgen events (default 1000000, K programs, default 64;\n"
               "lz4-compressed so the embedded broker's 5 MiB per partition holds them) to an\n"
               "in-process embedded broker with P partitions (default 16), then folds them\n"
               "into fresh ledgers with synced commits (--nosync: unsynced, comparison only)\n"
               "and the outbox on (--no-outbox: off). Prints events/s, commit latency and\n"
               "peak RSS, with a raw consume of the same topic and a RocksDB synced-batch\n"
               "probe for scale. --subprocess folds with the `refold fold` binary, so the\n"
               "peak RSS is the fold's alone (in-process it includes the in-memory broker).\n"
               "--simple uses the tests' small generator instead of loadgen.\n");
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static long peak_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static double secs_since(uint64_t t0)
{
    return (double)(rf_now_ns() - t0) / 1e9;
}

/* Produces the events; returns events/s. Exits if the broker dropped any. */
static double produce(const char *brokers, const bench_opts_t *o)
{
    fg_prod_t p;
    fg_prod_open(&p, brokers, "lz4");
    uint64_t t0 = rf_now_ns();
    if (o->simple) {
        fg_t *g = malloc(sizeof *g);
        RF_ASSERT(g);
        fg_init(g, 42, o->programs, o->partitions);
        fg_prod_events(&p, RF_TOPIC_EVENTS, g, (uint64_t)o->events);
        free(g);
    } else {
        rf_loadgen_t *g = fg_loadgen_new(42, o->programs, (uint64_t)o->events);
        RF_ASSERT(fg_prod_loadgen(&p, RF_TOPIC_EVENTS, g, (uint64_t)o->events) ==
                  (uint64_t)o->events);
        rf_loadgen_destroy(g);
    }
    RF_ASSERT(fg_prod_flush(&p) == 0);
    double rate = (double)o->events / secs_since(t0);
    fg_prod_close(&p);
    int64_t lo[RF_PARTITIONS_MAX], hi[RF_PARTITIONS_MAX], total = 0;
    fg_watermarks(brokers, RF_TOPIC_EVENTS, o->partitions, lo, hi);
    for (int i = 0; i < o->partitions; i++) {
        if (lo[i] != 0) {
            fprintf(stderr,
                    "bench_fold: the broker dropped events of partition %d (low watermark "
                    "%" PRId64 "): use more partitions\n",
                    i, lo[i]);
            exit(1);
        }
        total += hi[i];
    }
    RF_ASSERT(total == o->events);
    return rate;
}

/* A plain assign-and-consume of the whole topic: the ceiling for the fold. */
static double raw_consume(const char *brokers, const bench_opts_t *o)
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
    while (got < o->events) {
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

static rf_err_t fold_in_process(const char *brokers, const char *data, const bench_opts_t *o,
                                rf_fold_stats_t *st, rf_errbuf_t *eb)
{
    static rf_fold_worker_conf_t c;
    rf_fold_worker_conf_init(&c);
    c.kafka.brokers = brokers;
    c.data_dir = data;
    c.group = "bench-fold";
    c.exit_at_end = true;
    c.no_outbox = o->no_outbox;
    c.batch_max = o->batch;
    c.threads = o->threads;
    c.ledger_flags = o->nosync ? RF_LEDGER_NOSYNC : 0;
    /* assigned directly: the benchmark measures folding, not a group join */
    c.npartitions = o->partitions;
    for (int i = 0; i < o->partitions; i++)
        c.partitions[i] = i;
    rf_fold_worker_t *w = rf_fold_worker_new(&c, eb);
    if (!w) return RF_ERR_CONFIG;
    rf_err_t err = rf_fold_worker_run(w, eb);
    rf_fold_worker_stats(w, st);
    rf_fold_worker_destroy(w);
    return err;
}

/* A number field of the `refold fold --json` summary (-1 when absent). */
static double json_num(const char *js, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(js, pat);
    return p ? strtod(p + strlen(pat), NULL) : -1;
}

/* Folds with `refold fold`; fills what its summary has and the child's
 * peak RSS. Percentiles come back in *pct (commit p50/p99/p999, cycle ...). */
static rf_err_t fold_subprocess(const char *brokers, const char *data, const bench_opts_t *o,
                                rf_fold_stats_t *st, uint64_t pct[6], long *rss_kb, rf_errbuf_t *eb)
{
    if (o->nosync) return rf_errf(eb, RF_ERR_CONFIG, "--nosync needs the in-process fold");
    char parts[32], batch[16], threads[16], out[4096];
    snprintf(parts, sizeof parts, "0-%d", o->partitions - 1);
    snprintf(batch, sizeof batch, "%d", o->batch);
    snprintf(threads, sizeof threads, "%d", o->threads);
    const char *argv[20] = {
        RF_BENCH_REFOLD, "fold",    "--brokers", brokers,  "--data",        data, "--partitions",
        parts,           "--batch", batch,       "--json", "--exit-at-end", NULL};
    int argc = 12;
    if (o->threads) argv[argc++] = "--threads", argv[argc++] = threads;
    if (o->no_outbox) argv[argc++] = "--no-outbox";
    argv[argc] = NULL;
    int fds[2];
    RF_ASSERT(pipe(fds) == 0);
    pid_t pid = fork();
    RF_ASSERT(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        execv(RF_BENCH_REFOLD, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    ssize_t n, used = 0;
    while ((n = read(fds[0], out + used, sizeof out - 1 - (size_t)used)) > 0)
        used += n;
    out[used] = '\0';
    close(fds[0]);
    int status;
    struct rusage ru;
    RF_ASSERT(wait4(pid, &status, 0, &ru) == pid);
    *rss_kb = ru.ru_maxrss;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return rf_errf(eb, RF_ERR_INTERNAL, "refold fold failed: %s", out);
    st->consumed = (uint64_t)json_num(out, "consumed");
    st->elapsed_ns = (uint64_t)(json_num(out, "elapsed_s") * 1e9);
    st->batches = (uint64_t)json_num(out, "batches");
    const char *keys[6] = {"commit_p50_us", "commit_p99_us", "commit_p999_us",
                           "cycle_p50_us",  "cycle_p99_us",  "cycle_p999_us"};
    for (int i = 0; i < 6; i++)
        pct[i] = (uint64_t)json_num(out, keys[i]);
    return RF_OK;
}

static void print_result(const bench_opts_t *o, const rf_fold_stats_t *st, const uint64_t pct[6],
                         const bench_result_t *r)
{
    double secs = (double)st->elapsed_ns / 1e9, rate = (double)st->consumed / secs;
    const char *sync = o->nosync ? "false" : "true", *outbox = o->no_outbox ? "false" : "true";
    if (o->json) {
        printf("{\"events\":%" PRIu64 ",\"partitions\":%d,\"sync\":%s,\"outbox\":%s,"
               "\"subprocess\":%s,\"events_per_s\":%.0f,\"elapsed_s\":%.3f,\"batches\":%" PRIu64
               ",\"commit_p50_us\":%" PRIu64 ",\"commit_p99_us\":%" PRIu64
               ",\"commit_p999_us\":%" PRIu64 ",\"cycle_p50_us\":%" PRIu64
               ",\"cycle_p99_us\":%" PRIu64 ",\"cycle_p999_us\":%" PRIu64
               ",\"peak_rss_kb\":%ld,\"cpu_s\":%.3f,\"produce_per_s\":%.0f,"
               "\"raw_consume_per_s\":%.0f,\"fold_vs_raw\":%.3f,\"sync_1put_p50_us\":%" PRIu64
               ",\"sync_1000puts_p50_us\":%" PRIu64 ",\"sync_1000puts_per_s\":%.0f}\n",
               st->consumed, o->partitions, sync, outbox, o->subprocess ? "true" : "false", rate,
               secs, st->batches, pct[0], pct[1], pct[2], pct[3], pct[4], pct[5], r->rss_peak_kb,
               r->cpu_s, r->produce_per_s, r->raw_per_s, rate / r->raw_per_s, r->sync1_us,
               r->sync1000_us, r->sync1000_puts_per_s);
        return;
    }
    printf("events=%" PRIu64 " partitions=%d sync=%s outbox=%s fold=%s\n", st->consumed,
           o->partitions, sync, outbox, o->subprocess ? "refold-fold-process" : "in-process");
    printf("fold: %.0f events/s (%.3f s, %" PRIu64 " batches)\n", rate, secs, st->batches);
    printf("partition commit latency: p50 %" PRIu64 " us, p99 %" PRIu64 " us, p999 %" PRIu64
           " us\n",
           pct[0], pct[1], pct[2]);
    printf("cycle commit latency:     p50 %" PRIu64 " us, p99 %" PRIu64 " us, p999 %" PRIu64
           " us\n",
           pct[3], pct[4], pct[5]);
    if (o->subprocess)
        printf("peak RSS of refold fold: %ld KiB\n", r->rss_peak_kb);
    else
        printf("peak RSS: %ld KiB (whole process, with the in-memory broker; %ld KiB before "
               "the fold); cpu %.3f s = %.0f events per cpu-second\n",
               r->rss_peak_kb, r->rss_before_kb, r->cpu_s, (double)st->consumed / r->cpu_s);
    printf("produce: %.0f events/s; raw consume: %.0f msg/s; fold / raw = %.3f\n", r->produce_per_s,
           r->raw_per_s, rate / r->raw_per_s);
    printf("rocksdb synced batch p50: 1 put %" PRIu64 " us, 1000 puts %" PRIu64
           " us (%.0f puts/s); partition commit p50 / 1-put sync = %.2f\n",
           r->sync1_us, r->sync1000_us, r->sync1000_puts_per_s,
           r->sync1_us ? (double)pct[0] / (double)r->sync1_us : 0.0);
}

static int parse(int argc, char **argv, bench_opts_t *o)
{
    static const struct option lo[] = {{"events", required_argument, 0, 'n'},
                                       {"partitions", required_argument, 0, 'p'},
                                       {"programs", required_argument, 0, 'k'},
                                       {"batch", required_argument, 0, 'b'},
                                       {"threads", required_argument, 0, 't'},
                                       {"no-outbox", no_argument, 0, 'o'},
                                       {"nosync", no_argument, 0, 's'},
                                       {"subprocess", no_argument, 0, 'S'},
                                       {"simple", no_argument, 0, 'g'},
                                       {"data", required_argument, 0, 'd'},
                                       {"json", no_argument, 0, 'j'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        if (c == 'n')
            o->events = atol(optarg);
        else if (c == 'p')
            o->partitions = atoi(optarg);
        else if (c == 'k')
            o->programs = atoi(optarg);
        else if (c == 'b')
            o->batch = atoi(optarg);
        else if (c == 't')
            o->threads = atoi(optarg);
        else if (c == 'o')
            o->no_outbox = true;
        else if (c == 's')
            o->nosync = true;
        else if (c == 'S')
            o->subprocess = true;
        else if (c == 'g')
            o->simple = true;
        else if (c == 'd')
            o->data = optarg;
        else if (c == 'j')
            o->json = true;
        else if (c == 'h')
            usage(stdout), exit(0);
        else
            return usage(stderr), 2;
    }
    if (o->events < 1 || o->partitions < 1 || o->partitions > RF_PARTITIONS_MAX ||
        o->programs < 1 || o->programs > FG_PROGRAMS_MAX || o->batch < 1 ||
        o->batch > RF_FOLD_BATCH_MAX || o->threads < 0 || o->threads > RF_FOLD_THREADS_MAX) {
        fprintf(stderr, "bench_fold: bad options (see --help)\n");
        return 2;
    }
    return 0;
}

/* Produce, raw consume, RocksDB probe, fold; returns the fold's error. */
static rf_err_t run(const char *dir, const bench_opts_t *o, rf_fold_stats_t *st, uint64_t pct[6],
                    bench_result_t *r, rf_errbuf_t *eb)
{
    char data[600], probe[600];
    rf_broker_t *b = rf_broker_start(o->partitions, 1, eb);
    if (!b) return RF_ERR_KAFKA;
    const char *brokers = rf_broker_bootstraps(b);
    fprintf(stderr, "bench_fold: producing %ld events to %d partitions...\n", o->events,
            o->partitions);
    r->produce_per_s = produce(brokers, o);
    r->raw_per_s = raw_consume(brokers, o);
    double puts1_per_s;
    snprintf(probe, sizeof probe, "%s/probe1", dir);
    rocks_probe(probe, 300, 1, &r->sync1_us, &puts1_per_s);
    snprintf(probe, sizeof probe, "%s/probe1000", dir);
    rocks_probe(probe, 300, 1000, &r->sync1000_us, &r->sync1000_puts_per_s);
    snprintf(data, sizeof data, "%s/data", dir);
    fprintf(stderr, "bench_fold: folding...\n");
    r->rss_before_kb = peak_rss_kb();
    double cpu0 = cpu_s();
    rf_err_t err;
    if (o->subprocess) {
        err = fold_subprocess(brokers, data, o, st, pct, &r->rss_peak_kb, eb);
    } else {
        err = fold_in_process(brokers, data, o, st, eb);
        r->rss_peak_kb = peak_rss_kb();
        const rf_fold_hist_t *h[2] = {&st->commit_us, &st->cycle_us};
        for (int i = 0; i < 6; i++)
            pct[i] = rf_fold_hist_quantile(h[i / 3], i % 3 == 0 ? 0.5 : i % 3 == 1 ? 0.99 : 0.999);
    }
    r->cpu_s = cpu_s() - cpu0;
    rf_broker_stop(b);
    return err;
}

int main(int argc, char **argv)
{
    bench_opts_t o = {.events = 1000000,
                      .partitions = RF_PARTITIONS_DEFAULT,
                      .programs = 64,
                      .batch = RF_FOLD_BATCH_MAX};
    if (parse(argc, argv, &o)) return 2;
    rf_log_set_level(RF_LOG_WARN);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/refold-bench-XXXXXX", o.data ? o.data : "/tmp");
    if (!mkdtemp(dir)) {
        perror("bench_fold: mkdtemp");
        return 1;
    }
    static rf_fold_stats_t st;
    uint64_t pct[6] = {0};
    bench_result_t r = {0};
    rf_errbuf_t eb = {{0}};
    rf_err_t err = run(dir, &o, &st, pct, &r, &eb);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_fold: cannot remove %s\n", dir);
    if (err) {
        fprintf(stderr, "bench_fold: %s\n", eb.msg);
        return 1;
    }
    print_result(&o, &st, pct, &r);
    return st.consumed == (uint64_t)o.events ? 0 : 1;
}
