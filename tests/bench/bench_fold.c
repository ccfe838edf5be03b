/* bench_fold.c: the fold benchmark: publish N generated events to an
 * in-process embedded broker, then fold them with durable commits and print
 * events/s, batch commit latency percentiles and peak RSS, next to a raw
 * librdkafka consume of the same topic and a RocksDB synced-batch probe
 * measured in the same run (docs/fold-worker.md, "Benchmark"). */
#include <getopt.h>
#include <rocksdb/c.h>
#include <sys/resource.h>

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
    const char *data;
} bench_opts_t;

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_fold [--events N] [--partitions P] [--programs K] [--batch N]\n"
               "                  [--threads T] [--no-outbox] [--nosync] [--data DIR] [--json]\n"
               "\n"
               "Publishes N events (default 1000000; lz4-compressed so the embedded broker's\n"
               "5 MiB per partition holds them) to an in-process embedded broker with P\n"
               "partitions (default 16), then folds them into fresh ledgers with synced\n"
               "commits (--nosync: unsynced, for comparison only) and the outbox on\n"
               "(--no-outbox: off). Prints events/s, commit latency and peak RSS, with a raw\n"
               "consume of the same topic and a RocksDB synced-batch probe for scale.\n");
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

/* Produces the events; returns events/s. Aborts if the broker dropped any. */
static double produce(const char *brokers, const bench_opts_t *o)
{
    fg_t *g = malloc(sizeof *g);
    RF_ASSERT(g);
    fg_init(g, 42, o->programs, o->partitions);
    fg_prod_t p;
    fg_prod_open(&p, brokers, "lz4");
    uint64_t t0 = rf_now_ns();
    fg_prod_events(&p, RF_TOPIC_EVENTS, g, (uint64_t)o->events);
    RF_ASSERT(fg_prod_flush(&p) == 0);
    double rate = (double)o->events / secs_since(t0);
    fg_prod_close(&p);
    free(g);
    int64_t lo[RF_PARTITIONS_MAX], hi[RF_PARTITIONS_MAX], total = 0;
    fg_watermarks(brokers, RF_TOPIC_EVENTS, o->partitions, lo, hi);
    for (int i = 0; i < o->partitions; i++) {
        if (lo[i] != 0) {
            fprintf(stderr,
                    "bench_fold: the broker dropped events of partition %d (low "
                    "watermark %" PRId64 "): use more partitions\n",
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
    uint64_t bytes = 0;
    while (got < o->events) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 1000);
        if (!m) continue;
        if (!m->err) got++, bytes += m->len;
        rd_kafka_message_destroy(m);
    }
    double rate = (double)got / secs_since(t0);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    RF_ASSERT(bytes > 0);
    return rate;
}

/* RocksDB alone: n synced WriteBatches of `puts` 120-byte puts each; returns
 * the median batch latency in us and the puts/s. */
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
    char key[16], val[120];
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

static rf_err_t fold(const char *brokers, const char *data, const bench_opts_t *o,
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

static int parse(int argc, char **argv, bench_opts_t *o)
{
    static const struct option lo[] = {{"events", required_argument, 0, 'n'},
                                       {"partitions", required_argument, 0, 'p'},
                                       {"programs", required_argument, 0, 'k'},
                                       {"batch", required_argument, 0, 'b'},
                                       {"threads", required_argument, 0, 't'},
                                       {"no-outbox", no_argument, 0, 'o'},
                                       {"nosync", no_argument, 0, 's'},
                                       {"data", required_argument, 0, 'd'},
                                       {"json", no_argument, 0, 'j'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'n':
            o->events = atol(optarg);
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
        case 'd':
            o->data = optarg;
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
    if (o->events < 1 || o->partitions < 1 || o->partitions > RF_PARTITIONS_MAX ||
        o->programs < o->partitions || o->programs > FG_PROGRAMS_MAX || o->batch < 1 ||
        o->batch > RF_FOLD_BATCH_MAX || o->threads < 0 || o->threads > RF_FOLD_THREADS_MAX) {
        fprintf(stderr, "bench_fold: bad options (programs must be >= partitions)\n");
        return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    bench_opts_t o = {1000000, RF_PARTITIONS_DEFAULT, 256, RF_FOLD_BATCH_MAX, 0, 0, 0, 0, NULL};
    if (parse(argc, argv, &o)) return 2;
    rf_log_set_level(RF_LOG_WARN);
    char dir[512], data[600], probe[600];
    snprintf(dir, sizeof dir, "%s/refold-bench-XXXXXX", o.data ? o.data : "/tmp");
    if (!mkdtemp(dir)) {
        perror("bench_fold: mkdtemp");
        return 1;
    }
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(probe, sizeof probe, "%s/probe", dir);
    rf_errbuf_t eb = {{0}};
    rf_broker_t *b = rf_broker_start(o.partitions, 1, &eb);
    if (!b) {
        fprintf(stderr, "bench_fold: %s\n", eb.msg);
        return 1;
    }
    const char *brokers = rf_broker_bootstraps(b);
    fprintf(stderr, "bench_fold: producing %ld events to %d partitions...\n", o.events,
            o.partitions);
    double produce_rate = produce(brokers, &o);
    double raw_rate = raw_consume(brokers, &o);
    uint64_t sync1_us, sync1000_us;
    double puts1, puts1000;
    rocks_probe(probe, 300, 1, &sync1_us, &puts1);
    char probe2[700];
    snprintf(probe2, sizeof probe2, "%s2", probe);
    rocks_probe(probe2, 300, 1000, &sync1000_us, &puts1000);
    long rss_before = peak_rss_kb();
    double cpu0 = cpu_s();
    fprintf(stderr, "bench_fold: folding...\n");
    static rf_fold_stats_t st;
    rf_err_t err = fold(brokers, data, &o, &st, &eb);
    long rss_after = peak_rss_kb();
    double cpu = cpu_s() - cpu0;
    rf_broker_stop(b);
    if (err) {
        fprintf(stderr, "bench_fold: fold failed: %s\n", eb.msg);
        return 1;
    }
    double secs = (double)st.elapsed_ns / 1e9, rate = (double)st.consumed / secs;
    uint64_t c50 = rf_fold_hist_quantile(&st.commit_us, 0.5),
             c99 = rf_fold_hist_quantile(&st.commit_us, 0.99),
             c999 = rf_fold_hist_quantile(&st.commit_us, 0.999),
             y50 = rf_fold_hist_quantile(&st.cycle_us, 0.5),
             y99 = rf_fold_hist_quantile(&st.cycle_us, 0.99),
             y999 = rf_fold_hist_quantile(&st.cycle_us, 0.999);
    const char *fmt =
        o.json ? "{\"events\":%" PRIu64 ",\"partitions\":%d,\"sync\":%s,\"outbox\":%s,"
                 "\"events_per_s\":%.0f,\"elapsed_s\":%.3f,\"batches\":%" PRIu64
                 ",\"commits\":%" PRIu64
                 ",\"cpu_s\":%.3f,\"events_per_cpu_s\":%.0f,\"fold_thread_s\":%.3f,\"commit_thread_"
                 "s\":%.3f,\"commit_p50_us\":%" PRIu64 ",\"commit_p99_us\":%" PRIu64
                 ",\"commit_p999_us\":%" PRIu64 ",\"cycle_p50_us\":%" PRIu64
                 ",\"cycle_p99_us\":%" PRIu64 ",\"cycle_p999_us\":%" PRIu64
                 ",\"peak_rss_kb\":%ld,\"peak_rss_before_fold_kb\":%ld,"
                 "\"produce_per_s\":%.0f,\"raw_consume_per_s\":%.0f,\"fold_vs_raw\":%.3f,"
                 "\"rocksdb_sync_batch1_p50_us\":%" PRIu64
                 ",\"rocksdb_sync_batch1000_p50_us\":%" PRIu64
                 ",\"rocksdb_sync_batch1000_puts_per_s\":%.0f,\"commit_p50_vs_sync1\":%.2f}\n"
               : "events=%" PRIu64 " partitions=%d sync=%s outbox=%s\n"
                 "fold: %.0f events/s (%.3f s), %" PRIu64 " batches, %" PRIu64 " commits\n"
                 "cpu: %.3f s (%.0f events per cpu-second, whole process); thread time: %.3f s "
                 "in rf_ledger_fold, %.3f s in rf_ledger_commit\n"
                 "partition commit latency: p50 %" PRIu64 " us, p99 %" PRIu64 " us, p999 %" PRIu64
                 " us\n"
                 "cycle commit latency:     p50 %" PRIu64 " us, p99 %" PRIu64 " us, p999 %" PRIu64
                 " us\n"
                 "peak RSS: %ld KiB (before the fold, broker + producer + consumer: %ld KiB)\n"
                 "produce: %.0f events/s; raw consume: %.0f msg/s; fold / raw = %.3f\n"
                 "rocksdb synced batch p50: 1 put %" PRIu64 " us, 1000 puts %" PRIu64
                 " us (%.0f puts/s); partition commit p50 / 1-put sync = %.2f\n";
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    printf(fmt, st.consumed, o.partitions,
           o.nosync ? (o.json ? "false" : "off") : (o.json ? "true" : "on"),
           o.no_outbox ? (o.json ? "false" : "off") : (o.json ? "true" : "on"), rate, secs,
           st.batches, st.ledger_commits, cpu, (double)st.consumed / cpu, (double)st.fold_ns / 1e9,
           (double)st.commit_ns / 1e9, c50, c99, c999, y50, y99, y999, rss_after, rss_before,
           produce_rate, raw_rate, rate / raw_rate, sync1_us, sync1000_us, puts1000,
           sync1_us ? (double)c50 / (double)sync1_us : 0.0);
#pragma GCC diagnostic pop
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (strstr(dir, "refold-bench-") && system(cmd) != 0)
        fprintf(stderr, "bench_fold: cannot remove %s\n", dir);
    return st.consumed == (uint64_t)o.events ? 0 : 1;
}
