/* rf_project_cmd.c: `refold project`: runs the projection worker on
 * refold.ledger until SIGINT/SIGTERM, the end (--exit-at-end) or an error. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rf_kafka.h"
#include "rf_cmd_opt.h"
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

/* --json: one object, the same numbers as the text lines. */
static void print_summary_json(const rf_project_stats_t *st)
{
    json_t *parts = json_array();
    for (int i = 0; i < st->nparts; i++)
        json_array_append_new(parts, json_pack("{s:i, s:I, s:I, s:I}", "partition",
                                               (int)st->parts[i].partition, "applied_seq",
                                               (json_int_t)st->parts[i].applied_seq, "next_offset",
                                               (json_int_t)st->parts[i].next_offset, "lag",
                                               (json_int_t)st->parts[i].lag));
    json_t *o = json_pack("{s:I, s:I, s:I, s:o}", "records", (json_int_t)st->records, "duplicates",
                          (json_int_t)st->duplicates, "commits", (json_int_t)st->commits,
                          "partitions", parts);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (text) printf("%s\n", text);
    free(text);
    json_decref(o);
}

static void print_summary(rf_project_worker_t *w, bool json)
{
    static rf_project_stats_t st; /* large: not on the stack */
    rf_project_worker_stats(w, &st);
    if (json) {
        print_summary_json(&st);
        return;
    }
    printf("applied %llu records, dropped %llu duplicates, %llu commits\n",
           (unsigned long long)st.records, (unsigned long long)st.duplicates,
           (unsigned long long)st.commits);
    for (int i = 0; i < st.nparts; i++)
        printf("  partition %d: applied seq %llu, offset %lld, lag %lld\n",
               (int)st.parts[i].partition, (unsigned long long)st.parts[i].applied_seq,
               (long long)st.parts[i].next_offset, (long long)st.parts[i].lag);
}

static rf_cmd_metrics_t metrics;
static bool json_out;

/* --topic-prefix P: the ledger topic is P + refold.ledger. */
typedef struct prefix_ctx {
    rf_project_opts_t *o;
    char *topic;
    size_t cap;
} prefix_ctx_t;

static rf_err_t opt_topic_prefix(const rf_opt_t *opt, const char *prefix, rf_errbuf_t *eb)
{
    (void)eb;
    prefix_ctx_t *p = opt->value;
    snprintf(p->topic, p->cap, "%s%s", prefix, RF_TOPIC_LEDGER);
    p->o->topic = p->topic;
    return RF_OK;
}

/* --commit-ms N: its own message, the one operators (and it_project) know. */
static rf_err_t opt_commit_ms(const rf_opt_t *opt, const char *arg, rf_errbuf_t *eb)
{
    int64_t v = 0;
    if (rf_parse_i64(arg, 0, RF_PROJECT_COMMIT_MS_MAX, &v, "--commit-ms", NULL) != RF_OK)
        return rf_errf(eb, RF_ERR_CONFIG, "--commit-ms must be 0..%d", RF_PROJECT_COMMIT_MS_MAX);
    *(int *)opt->value = (int)v;
    return RF_OK;
}

/* Parses the options into o; returns -1 to go on, or the exit status. */
static int parse_args(int argc, char **argv, rf_project_opts_t *o, char *topic, size_t tcap)
{
    prefix_ctx_t prefix = {o, topic, tcap};
    int log_json = 0;
    const rf_opt_t opts[] = {
        RF_OPT_BROKERS(&o->kafka.brokers, .flags = RF_OPT_REQUIRED),
        RF_OPT_DATA(&o->data_dir, .flags = RF_OPT_REQUIRED),
        RF_OPT_STR(0, "group", &o->group, "G", "consumer group", .def = "refold-project"),
        RF_OPT_STR(0, "topic", &o->topic, "T", "ledger topic", .def = RF_TOPIC_LEDGER),
        RF_OPT_CALLBACK(0, "topic-prefix", &prefix, "P", opt_topic_prefix,
                        "prefix of refold's topic names (reads Prefold.ledger)"),
        RF_OPT_INT_RANGE(0, "threads", &o->threads, 1, RF_PROJECT_THREADS_MAX, "N",
                         "partitions applied in parallel", .def = "online CPUs"),
        RF_OPT_CALLBACK(0, "commit-ms", &o->commit_ms, "N", opt_commit_ms,
                        "let a partition batch records up to N ms (or 16384 records)\n"
                        "before its commit: fewer writes of hot keys, reads up to\n"
                        "N ms staler (0: commit every poll cycle)",
                        .def = "0"),
        RF_OPT_BOOL(0, "replica", &o->replica,
                    "read replica: consume every partition of the topic (assigned\n"
                    "directly, no group; --group unused), so this host's stores\n"
                    "answer every query: serving hosts of a multi-host deployment\n"
                    "(docs/operations.md, \"Several hosts\")"),
        RF_OPT_BOOL(0, "exit-at-end", &o->exit_at_end,
                    "exit 0 once every assigned partition reached the end it\n"
                    "had when assigned"),
        RF_CMD_OPT_METRICS(&metrics),
        RF_OPT_BOOL(0, "json", &json_out,
                    "the summary as one JSON object on stdout, errors as\n"
                    "{\"error\":{\"code\",\"message\"}} on stderr"),
        RF_OPT_FLAG(0, "log-json", &log_json, "log one JSON object per line on stderr"),
        RF_CMD_OPT_X(&o->kafka),
        RF_OPT_HELP(),
        RF_OPT_END(),
    };
    const rf_opt_cmd_t cmd = {
        "project",
        "refold project --brokers HOST:PORT --data DIR [--group G] [--topic T]\n"
        "                      [--topic-prefix P] [--exit-at-end] [--threads N]\n"
        "                      [--commit-ms N] [--replica]\n"
        "                      [--metrics-port N | --metrics-listen ADDR:PORT]\n"
        "                      [--log-json] [--json] [-X name=value ...]",
        "Consumes refold.ledger into the read models (balances, leaderboards, funnel\n"
        "stats, code index) under DIR/project/p-NNNN, one synced RocksDB batch per\n"
        "partition per poll cycle together with the applied seq and offset.\n"
        "Duplicate records (seq already applied) are dropped; a seq gap stops the\n"
        "worker with an error. Query with refold balance|leaderboard|rank|stats|serve.",
        opts,
        0,
        .notes = {rf_kafka_forced_help(RF_KAFKA_PROJECT_CONSUMER)}};
    int n = rf_opt_parse(&cmd, argc, argv);
    if (n < 0) return rf_opt_status(n);
    if (log_json) rf_log_set_json(1);
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
        rf_cmd_error("project", json_out, RF_ERR_CONFIG, "%s", eb.msg);
        return 1;
    }
    if (rf_cmd_metrics_start(&metrics, "project", metrics_hook, w, &eb) != RF_OK) {
        rf_cmd_error("project", json_out, RF_ERR_CONFIG, "metrics: %s", eb.msg);
        rf_project_worker_destroy(w);
        return 1;
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
    print_summary(w, json_out);
    rf_cmd_metrics_stop(&metrics, metrics_hook, w);
    rf_project_worker_destroy(w);
    if (err != RF_OK) {
        rf_cmd_error("project", json_out, err, "%s", eb.msg);
        return 1;
    }
    return 0;
}
