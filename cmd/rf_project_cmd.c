/* rf_project_cmd.c: `refold project`: runs the projection worker on
 * refold.ledger until SIGINT/SIGTERM, the end (--exit-at-end) or an error. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_commands.h"
#include "rf_metrics.h"
#include "rf_project_worker.h"

static rf_project_worker_t *signal_worker; /* for the signal handler only */

static void on_signal(int sig)
{
    (void)sig;
    if (signal_worker) rf_project_worker_stop(signal_worker);
}

/* Scrape hook: mirrors the worker's stats into the metrics registry on each
 * GET /metrics (rf_project_worker_stats is thread safe). */
static void metrics_hook(void *opaque)
{
    static rf_project_stats_t st; /* large; the registry serialises hooks */
    rf_project_worker_stats(opaque, &st);
    rf_metrics_from_project_stats(&st);
}

static void project_usage(FILE *f)
{
    fprintf(f, "usage: refold project --brokers HOST:PORT --data DIR [--group G] [--topic T]\n"
               "                      [--topic-prefix P] [--exit-at-end] [--threads N]\n"
               "                      [--commit-ms N]\n"
               "                      [--metrics-port N] [--log-json] [-X name=value ...]\n"
               "\n"
               "Consumes refold.ledger into the read models (balances, leaderboards, funnel\n"
               "stats, code index) under DIR/project/p-NNNN, one synced RocksDB batch per\n"
               "partition per poll cycle together with the applied seq and offset.\n"
               "Duplicate records (seq already applied) are dropped; a seq gap stops the\n"
               "worker with an error. Query with refold balance|leaderboard|rank|stats|serve.\n"
               "\n"
               "  --brokers B      bootstrap servers (required)\n"
               "  --data DIR       data directory (required)\n"
               "  --group G        consumer group (default refold-project)\n"
               "  --topic T        ledger topic (default refold.ledger)\n"
               "  --topic-prefix P prefix of refold's topic names (reads Prefold.ledger)\n"
               "  --threads N      partitions applied in parallel (default: online CPUs)\n"
               "  --commit-ms N    let a partition batch records up to N ms (or 16384 records)\n"
               "                   before its commit: fewer writes of hot keys, reads up to\n"
               "                   N ms staler (default 0: commit every poll cycle)\n"
               "  --exit-at-end    exit 0 once every assigned partition reached the end it\n"
               "                   had when assigned\n"
               "  --metrics-port N serve Prometheus metrics on 127.0.0.1:N/metrics\n"
               "  --log-json       log one JSON object per line on stderr\n"
               "  -X name=value    any librdkafka property\n");
}

static void print_summary(rf_project_worker_t *w)
{
    static rf_project_stats_t st; /* large: not on the stack */
    rf_project_worker_stats(w, &st);
    printf("applied %llu records, dropped %llu duplicates, %llu commits\n",
           (unsigned long long)st.records, (unsigned long long)st.duplicates,
           (unsigned long long)st.commits);
    for (int i = 0; i < st.nparts; i++)
        printf("  partition %d: applied seq %llu, offset %lld, lag %lld\n",
               (int)st.parts[i].partition, (unsigned long long)st.parts[i].applied_seq,
               (long long)st.parts[i].next_offset, (long long)st.parts[i].lag);
}

/* Parses the options into o; returns -1 to go on, or the exit status. */
static int metrics_port;

static int parse_args(int argc, char **argv, rf_project_opts_t *o, char *topic, size_t tcap)
{
    static const struct option longopts[] = {{"brokers", required_argument, 0, 'b'},
                                             {"data", required_argument, 0, 'd'},
                                             {"group", required_argument, 0, 'g'},
                                             {"topic", required_argument, 0, 't'},
                                             {"exit-at-end", no_argument, 0, 'e'},
                                             {"topic-prefix", required_argument, 0, 'P'},
                                             {"threads", required_argument, 0, 'n'},
                                             {"commit-ms", required_argument, 0, 'C'},
                                             {"metrics-port", required_argument, 0, 'M'},
                                             {"log-json", no_argument, 0, 'J'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    rf_errbuf_t eb = {{0}};
    char *end = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "X:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            o->kafka.brokers = optarg;
            break;
        case 'd':
            o->data_dir = optarg;
            break;
        case 'g':
            o->group = optarg;
            break;
        case 't':
            o->topic = optarg;
            break;
        case 'P':
            snprintf(topic, tcap, "%s%s", optarg, RF_TOPIC_LEDGER);
            o->topic = topic;
            break;
        case 'e':
            o->exit_at_end = true;
            break;
        case 'n':
            o->threads = (int)strtol(optarg, &end, 10);
            if (*end || o->threads < 1 || o->threads > RF_PROJECT_THREADS_MAX) {
                fprintf(stderr, "refold project: --threads must be 1..%d\n",
                        RF_PROJECT_THREADS_MAX);
                return 2;
            }
            break;
        case 'C':
            o->commit_ms = (int)strtol(optarg, &end, 10);
            if (*end || o->commit_ms < 0 || o->commit_ms > RF_PROJECT_COMMIT_MS_MAX) {
                fprintf(stderr, "refold project: --commit-ms must be 0..%d\n",
                        RF_PROJECT_COMMIT_MS_MAX);
                return 2;
            }
            break;
        case 'M':
            metrics_port = (int)strtol(optarg, &end, 10);
            if (*end || metrics_port < 1 || metrics_port > 65535) {
                fprintf(stderr, "refold project: --metrics-port must be 1..65535\n");
                return 2;
            }
            break;
        case 'J':
            rf_log_set_json(1);
            break;
        case 'X':
            if (rf_kafka_opts_add_x(&o->kafka, optarg, &eb) == RF_OK) break;
            fprintf(stderr, "refold project: %s\n", eb.msg);
            return 2;
        case 'h':
            project_usage(stdout);
            return 0;
        default:
            project_usage(stderr);
            return 2;
        }
    }
    if (optind < argc || !o->kafka.brokers || !o->data_dir) {
        fprintf(stderr, "refold project: --brokers and --data are required\n");
        project_usage(stderr);
        return 2;
    }
    return -1;
}

int rf_cmd_project(int argc, char **argv)
{
    rf_project_opts_t o = {0};
    rf_errbuf_t eb = {{0}};
    char topic[256];
    int rc = parse_args(argc, argv, &o, topic, sizeof topic);
    if (rc >= 0) return rc;
    rf_project_worker_t *w = rf_project_worker_new(&o, &eb);
    if (!w) {
        fprintf(stderr, "refold project: %s\n", eb.msg);
        return 1;
    }
    if (metrics_port) {
        rf_metrics_declare_standard();
        if (rf_metrics_add_hook(metrics_hook, w) != RF_OK ||
            rf_metrics_serve("127.0.0.1", metrics_port, &eb) != RF_OK) {
            fprintf(stderr, "refold project: metrics: %s\n", eb.msg);
            rf_metrics_remove_hook(metrics_hook, w);
            rf_project_worker_destroy(w);
            return 1;
        }
    }
    signal_worker = w;
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    rf_err_t err = rf_project_worker_run(w, &eb);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal_worker = NULL;
    print_summary(w);
    if (metrics_port) {
        rf_metrics_stop();
        rf_metrics_remove_hook(metrics_hook, w);
    }
    rf_project_worker_destroy(w);
    if (err != RF_OK) {
        fprintf(stderr, "refold project: %s\n", eb.msg);
        return 1;
    }
    return 0;
}
