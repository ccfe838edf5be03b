/* rf_fold_cmd.c: `refold fold`, the fold worker as a command: options,
 * signals (SIGINT/SIGTERM finish the cycle and close), a final summary. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_cmd_opt.h"
#include "rf_commands.h"
#include "rf_kafka.h"
#include "rf_fold_worker.h"
#include "rf_metrics.h"
#include "rf_operator_int.h"

static rf_fold_worker_t *volatile running_worker;

static void on_signal(int sig)
{
    (void)sig;
    rf_fold_worker_t *w = running_worker;
    if (w) rf_fold_worker_stop(w); /* an atomic store: async-signal-safe */
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    int64_t v = 0;
    if (rf_parse_i64(s, lo, hi, &v, NULL, NULL) != RF_OK) return -1;
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
    const char *trust_root;
    bool json;
    rf_cmd_metrics_t metrics; /* neither option: no metrics endpoint */
    char topics[3][256];
} fold_args_t;

static rf_err_t opt_partitions(const rf_opt_t *opt, const char *arg, rf_errbuf_t *eb)
{
    fold_args_t *a = opt->value;
    if (parse_partitions(arg, &a->conf) == 0) return RF_OK;
    return rf_errf(eb, RF_ERR_CONFIG, "bad --partitions '%s'", arg);
}

static rf_err_t opt_topic_prefix(const rf_opt_t *opt, const char *prefix, rf_errbuf_t *eb)
{
    (void)eb;
    fold_args_t *a = opt->value;
    const char *names[3] = {RF_TOPIC_EVENTS, RF_TOPIC_DLQ, RF_TOPIC_LEDGER};
    for (int i = 0; i < 3; i++)
        snprintf(a->topics[i], sizeof a->topics[i], "%s%s", prefix, names[i]);
    a->conf.topic_events = a->topics[0];
    a->conf.topic_dlq = a->topics[1];
    a->conf.topic_ledger = a->topics[2];
    return RF_OK;
}

/* Returns -1 to continue, else the exit status. */
static int parse_args(int argc, char **argv, fold_args_t *a)
{
    rf_fold_worker_conf_t *c = &a->conf;
    int stats = 0, log_json = 0;
    const rf_opt_t opts[] = {
        RF_OPT_BROKERS(&c->kafka.brokers, .flags = RF_OPT_REQUIRED),
        RF_OPT_DATA(&c->data_dir, .flags = RF_OPT_REQUIRED),
        RF_OPT_STR(0, "group", &c->group, "G", "consumer group"),
        RF__OPT_TRUST_ROOT(&a->trust_root),
        RF_CMD_OPT_X(&c->kafka),
        RF_OPT_BOOL(0, "exit-at-end", &c->exit_at_end,
                    "exit 0 once every assigned partition reached the high\n"
                    "watermark it had when assigned and the outbox is drained"),
        RF_OPT_INT_RANGE(0, "batch", &c->batch_max, 1, RF_FOLD_BATCH_MAX, "N",
                         "messages per poll cycle"),
        RF_OPT_INT_RANGE(0, "batch-ms", &c->batch_ms, 1, RF_FOLD_BATCH_MS_MAX, "MS",
                         "longest a poll cycle takes queued messages (it\n"
                         "ends sooner when none are left)"),
        RF_OPT_INT_RANGE(0, "threads", &c->threads, 1, RF_FOLD_THREADS_MAX, "N",
                         "partitions folded and committed in parallel",
                         .def = "one per CPU, at most " RF_OPT_STRINGIFY(RF_FOLD_THREADS_MAX)),
        RF_OPT_CALLBACK(0, "partitions", a, "LIST", opt_partitions,
                        "fold only these partitions (\"0,3,5-7\"), assigned\n"
                        "directly instead of through group membership"),
        RF_OPT_CALLBACK(0, "topic-prefix", a, "P", opt_topic_prefix,
                        "prefix of refold's topic names"),
        RF_OPT_BOOL(0, "no-outbox", &c->no_outbox,
                    "do not publish records to refold.ledger (benchmarks)"),
        RF_OPT_FLAG(0, "stats", &stats, "a stats line on stderr every second"),
        RF_OPT_BOOL(0, "json", &a->json,
                    "the summary as one JSON object, errors as {\"error\":{...}}"),
        RF_CMD_OPT_METRICS(&a->metrics),
        RF_OPT_FLAG(0, "log-json", &log_json, "log one JSON object per line on stderr"),
        RF_OPT_HELP(),
        RF_OPT_END(),
    };
    const rf_opt_cmd_t cmd = {
        "fold",
        "refold fold --brokers HOST:PORT --data DIR [options]",
        "Consumes refold.events in a consumer group and folds every event into the\n"
        "partition's ledger under DIR/fold/p-NNNN; bad input goes to refold.events.dlq,\n"
        "committed records to refold.ledger. SIGINT/SIGTERM commit the open batch and\n"
        "exit. Prints a summary line at the end (docs/fold-worker.md).",
        opts,
        0,
        .notes = {rf_kafka_forced_help(RF_KAFKA_FOLD_CONSUMER),
                  rf_kafka_forced_help(RF_KAFKA_FOLD_DLQ),
                  rf_kafka_forced_help(RF_KAFKA_FOLD_OUTBOX)}};
    int n = rf_opt_parse(&cmd, argc, argv);
    if (n < 0) return rf_opt_status(n);
    if (stats) {
        c->stats_interval_ms = 1000;
        c->stats_cb = print_stats;
    }
    if (a->metrics.port || a->metrics.listen) c->metrics = true;
    if (log_json) rf_log_set_json(1);
    return -1;
}

/* Scrape hook: mirrors the worker's stats (thread safe) into the registry. */
static void metrics_hook(void *opaque)
{
    static rf_fold_stats_t st; /* large; the registry serialises hooks */
    rf_fold_worker_stats(opaque, &st);
    rf_metrics_from_fold_stats(&st);
}

int rf_cmd_fold(int argc, char **argv)
{
    static fold_args_t a; /* large (partition list); commands run one at a time */
    memset(&a, 0, sizeof a);
    rf_fold_worker_conf_init(&a.conf);
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    if ((rc = rf__trust_root_install(a.trust_root, "refold fold: "))) return rc;
    rf_errbuf_t eb = {{0}};
    rf_fold_worker_t *w = rf_fold_worker_new(&a.conf, &eb);
    if (!w) {
        rf_cmd_error("fold", a.json, RF_ERR_CONFIG, "%s", eb.msg);
        return 2;
    }
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (rf_cmd_metrics_start(&a.metrics, "fold", metrics_hook, w, &eb) != RF_OK) {
        rf_cmd_error("fold", a.json, RF_ERR_CONFIG, "metrics: %s", eb.msg);
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
    rf_cmd_metrics_stop(&a.metrics, metrics_hook, w);
    rf_fold_worker_destroy(w);
    char line[1024];
    rf_fold_stats_format(&st, a.json, line, sizeof line);
    printf("%s\n", line);
    fflush(stdout);
    if (err != RF_OK) {
        if (a.json)
            rf_cmd_error("fold", true, err, "%s", eb.msg);
        else
            fprintf(stderr, "refold fold: %s (%s)\n", eb.msg, rf_err_str(err));
        return 1;
    }
    return 0;
}
