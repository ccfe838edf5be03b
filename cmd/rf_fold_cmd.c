/* rf_fold_cmd.c: `refold fold`, the fold worker as a command: options,
 * signals (SIGINT/SIGTERM finish the cycle and close), a final summary. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_commands.h"
#include "rf_fold_worker.h"
#include "rf_metrics.h"

static rf_fold_worker_t *volatile running_worker;

static void on_signal(int sig)
{
    (void)sig;
    rf_fold_worker_t *w = running_worker;
    if (w) rf_fold_worker_stop(w); /* an atomic store: async-signal-safe */
}

static void fold_usage(FILE *f)
{
    fprintf(f,
            "usage: refold fold --brokers HOST:PORT --data DIR [options]\n"
            "\n"
            "Consumes refold.events in a consumer group and folds every event into the\n"
            "partition's ledger under DIR/fold/p-NNNN; bad input goes to refold.events.dlq,\n"
            "committed records to refold.ledger. SIGINT/SIGTERM commit the open batch and\n"
            "exit. Prints a summary line at the end (docs/fold-worker.md).\n"
            "\n"
            "  --brokers B        bootstrap servers (required)\n"
            "  --data DIR         data directory (required)\n"
            "  --group G          consumer group (default refold-fold)\n"
            "  -X name=value      any librdkafka property (repeatable)\n"
            "  --exit-at-end      exit 0 once every assigned partition reached the high\n"
            "                     watermark it had when assigned and the outbox is drained\n"
            "  --batch N          messages per poll cycle (default %d)\n"
            "  --batch-ms MS      poll cycle length (default %d)\n"
            "  --threads N        partitions folded and committed in parallel (default:\n"
            "                     one per CPU, at most %d)\n"
            "  --partitions LIST  fold only these partitions (\"0,3,5-7\"), assigned\n"
            "                     directly instead of through group membership\n"
            "  --topic-prefix P   prefix of refold's topic names\n"
            "  --no-outbox        do not publish records to refold.ledger (benchmarks)\n"
            "  --stats            a stats line on stderr every second\n"
            "  --json             the summary as one JSON object\n"
            "  --metrics-port N   serve Prometheus metrics on 127.0.0.1:N/metrics\n"
            "  --log-json         log one JSON object per line on stderr\n",
            RF_FOLD_BATCH_MAX, RF_FOLD_BATCH_MS, RF_FOLD_THREADS_MAX);
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

/* "0,3,5-7" into conf->partitions. */
static int parse_partitions(const char *s, rf_fold_worker_conf_t *c)
{
    char buf[1024];
    if (rf_strlcpy(buf, s, sizeof buf) != RF_OK) return -1;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int a, b;
        char *dash = strchr(tok, '-');
        if (dash) *dash = '\0';
        if (parse_int(tok, 0, RF_PARTITIONS_MAX - 1, &a) != 0) return -1;
        b = a;
        if (dash && parse_int(dash + 1, a, RF_PARTITIONS_MAX - 1, &b) != 0) return -1;
        for (int p = a; p <= b; p++) {
            if (c->npartitions >= RF_PARTITIONS_MAX) return -1;
            c->partitions[c->npartitions++] = p;
        }
    }
    return c->npartitions > 0 ? 0 : -1;
}

static void print_stats(const rf_fold_stats_t *st, void *opaque)
{
    (void)opaque;
    char line[1024];
    rf_fold_stats_format(st, false, line, sizeof line);
    fprintf(stderr, "refold fold: %s\n", line);
}

typedef struct fold_args {
    rf_fold_worker_conf_t conf;
    bool json;
    int metrics_port; /* 0: no metrics endpoint */
    char topics[3][256];
} fold_args_t;

/* Options that take a value and can be wrong; returns 0 or prints and 2. */
static int value_opt(int opt, const char *arg, fold_args_t *a)
{
    rf_fold_worker_conf_t *c = &a->conf;
    rf_errbuf_t eb = {{0}};
    int bad = 0;
    const char *name = "";
    switch (opt) {
    case 'n':
        bad = parse_int(arg, 1, RF_FOLD_BATCH_MAX, &c->batch_max), name = "batch";
        break;
    case 'm':
        bad = parse_int(arg, 1, RF_FOLD_BATCH_MS_MAX, &c->batch_ms), name = "batch-ms";
        break;
    case 'T':
        bad = parse_int(arg, 1, RF_FOLD_THREADS_MAX, &c->threads), name = "threads";
        break;
    case 'p':
        bad = parse_partitions(arg, c), name = "partitions";
        break;
    case 'X':
        if (rf_kafka_opts_add_x(&c->kafka, arg, &eb) == RF_OK) return 0;
        fprintf(stderr, "refold fold: %s\n", eb.msg);
        return 2;
    default:
        RF_ASSERT(!"unknown option");
    }
    if (bad) fprintf(stderr, "refold fold: bad --%s '%s'\n", name, arg);
    return bad ? 2 : 0;
}

static void set_topic_prefix(fold_args_t *a, const char *prefix)
{
    const char *names[3] = {RF_TOPIC_EVENTS, RF_TOPIC_DLQ, RF_TOPIC_LEDGER};
    for (int i = 0; i < 3; i++)
        snprintf(a->topics[i], sizeof a->topics[i], "%s%s", prefix, names[i]);
    a->conf.topic_events = a->topics[0];
    a->conf.topic_dlq = a->topics[1];
    a->conf.topic_ledger = a->topics[2];
}

/* Returns -1 to continue, else the exit status. */
static int parse_args(int argc, char **argv, fold_args_t *a)
{
    static const struct option longopts[] = {{"brokers", required_argument, 0, 'b'},
                                             {"data", required_argument, 0, 'd'},
                                             {"group", required_argument, 0, 'g'},
                                             {"exit-at-end", no_argument, 0, 'e'},
                                             {"batch", required_argument, 0, 'n'},
                                             {"batch-ms", required_argument, 0, 'm'},
                                             {"partitions", required_argument, 0, 'p'},
                                             {"topic-prefix", required_argument, 0, 't'},
                                             {"no-outbox", no_argument, 0, 'o'},
                                             {"stats", no_argument, 0, 's'},
                                             {"json", no_argument, 0, 'j'},
                                             {"threads", required_argument, 0, 'T'},
                                             {"metrics-port", required_argument, 0, 'M'},
                                             {"log-json", no_argument, 0, 'J'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    rf_fold_worker_conf_t *c = &a->conf;
    int opt, rc;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "X:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'b':
            c->kafka.brokers = optarg;
            break;
        case 'd':
            c->data_dir = optarg;
            break;
        case 'g':
            c->group = optarg;
            break;
        case 'e':
            c->exit_at_end = true;
            break;
        case 'o':
            c->no_outbox = true;
            break;
        case 'j':
            a->json = true;
            break;
        case 't':
            set_topic_prefix(a, optarg);
            break;
        case 's':
            c->stats_interval_ms = 1000;
            c->stats_cb = print_stats;
            break;
        case 'M':
            if (parse_int(optarg, 1, 65535, &a->metrics_port) != 0) {
                fprintf(stderr, "refold fold: bad --metrics-port '%s'\n", optarg);
                return 2;
            }
            c->metrics = true;
            break;
        case 'J':
            rf_log_set_json(1);
            break;
        case 'n':
        case 'm':
        case 'T':
        case 'p':
        case 'X':
            if ((rc = value_opt(opt, optarg, a)) != 0) return rc;
            break;
        case 'h':
            fold_usage(stdout);
            return 0;
        default:
            fold_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "refold fold: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    return -1;
}

/* Scrape hook: mirrors the worker's stats (thread safe) into the registry. */
static void metrics_hook(void *opaque)
{
    static rf_fold_stats_t st; /* large; the registry serialises hooks */
    rf_fold_worker_stats(opaque, &st);
    rf_metrics_from_fold_stats(&st);
}

static rf_err_t start_metrics(rf_fold_worker_t *w, int port, rf_errbuf_t *eb)
{
    rf_metrics_declare_standard();
    rf_err_t err = rf_metrics_add_hook(metrics_hook, w);
    if (err != RF_OK) return rf_errf(eb, err, "cannot add the stats hook");
    err = rf_metrics_serve("127.0.0.1", port, eb);
    if (err != RF_OK) rf_metrics_remove_hook(metrics_hook, w);
    return err;
}

int rf_cmd_fold(int argc, char **argv)
{
    static fold_args_t a; /* large (partition list); commands run one at a time */
    memset(&a, 0, sizeof a);
    rf_fold_worker_conf_init(&a.conf);
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    rf_errbuf_t eb = {{0}};
    rf_fold_worker_t *w = rf_fold_worker_new(&a.conf, &eb);
    if (!w) {
        fprintf(stderr, "refold fold: %s\n", eb.msg);
        return 2;
    }
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (a.metrics_port && start_metrics(w, a.metrics_port, &eb) != RF_OK) {
        fprintf(stderr, "refold fold: metrics: %s\n", eb.msg);
        rf_fold_worker_destroy(w);
        return 1;
    }
    running_worker = w;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    rf_err_t err = rf_fold_worker_run(w, &eb);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    running_worker = NULL;
    static rf_fold_stats_t st;
    rf_fold_worker_stats(w, &st);
    if (a.metrics_port) {
        rf_metrics_stop();
        rf_metrics_remove_hook(metrics_hook, w);
    }
    rf_fold_worker_destroy(w);
    char line[1024];
    rf_fold_stats_format(&st, a.json, line, sizeof line);
    printf("%s\n", line);
    fflush(stdout);
    if (err != RF_OK) {
        fprintf(stderr, "refold fold: %s (%s)\n", eb.msg, rf_err_str(err));
        return 1;
    }
    return 0;
}
