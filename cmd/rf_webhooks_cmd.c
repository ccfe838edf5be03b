/* rf_webhooks_cmd.c: `refold webhooks`: run the webhook relay, check its
 * config, list endpoints, show and redeliver parked messages, replay an
 * endpoint, enable a disabled one (docs/webhooks.md). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_cmd_opt.h"
#include "rf_commands.h"
#include "rf_metrics.h"
#include "rf_time.h"
#include "rf_webhooks.h"

typedef struct wh_args {
    rf_wh_opts_t o;
    const char *config_path;
    const char *endpoint;
    const char *msg; /* "P:S" or a webhook-id */
    int64_t from_seq, from_time;
    int partition;
    int json;
    int all;
    int log_json;
    int metrics_port;
    char topic[256];
} wh_args_t;

static rf_wh_relay_t *signal_relay;

static void on_signal(int sig)
{
    (void)sig;
    if (signal_relay) rf_wh_relay_stop(signal_relay);
}

static void metrics_hook(void *opaque)
{
    static rf_wh_stats_t st;
    rf_wh_relay_stats(opaque, &st);
    rf_wh_metrics_from_stats(&st);
}

/* "0,3,5-7" into the relay's assigned partitions. */
static rf_err_t opt_partitions(const rf_opt_t *opt, const char *arg, rf_errbuf_t *eb)
{
    rf_wh_opts_t *o = opt->value;
    char buf[1024];
    if (rf_strlcpy(buf, arg, sizeof buf) != RF_OK)
        return rf_errf(eb, RF_ERR_CONFIG, "--partitions: too long");
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int64_t a, b;
        char *dash = strchr(tok, '-');
        if (dash) *dash = '\0';
        if (rf_parse_i64(tok, 0, RF_PARTITIONS_MAX - 1, &a, "--partitions", eb))
            return RF_ERR_CONFIG;
        b = a;
        if (dash && rf_parse_i64(dash + 1, a, RF_PARTITIONS_MAX - 1, &b, "--partitions", eb))
            return RF_ERR_CONFIG;
        for (int64_t p = a; p <= b; p++) {
            if (o->npartitions >= RF_PARTITIONS_MAX)
                return rf_errf(eb, RF_ERR_CONFIG, "--partitions: too many");
            o->partitions[o->npartitions++] = (int32_t)p;
        }
    }
    return RF_OK;
}

static rf_err_t opt_topic_prefix(const rf_opt_t *opt, const char *prefix, rf_errbuf_t *eb)
{
    (void)eb;
    wh_args_t *a = opt->value;
    snprintf(a->topic, sizeof a->topic, "%s%s", prefix, RF_TOPIC_LEDGER);
    a->o.topic = a->topic;
    return RF_OK;
}

static rf_wh_config_t *load_config(const char *name, const char *path)
{
    static rf_wh_config_t cfg; /* large; one per process */
    rf_errbuf_t eb = {{0}};
    if (rf_wh_config_load(path, &cfg, &eb) != RF_OK) {
        fprintf(stderr, "refold webhooks %s: %s\n", name, eb.msg);
        return NULL;
    }
    return &cfg;
}

/* ---- run ---- */

static int cmd_run(wh_args_t *a)
{
    rf_wh_config_t *cfg = load_config("run", a->config_path);
    if (!cfg) return 1;
    a->o.config = cfg;
    rf_errbuf_t eb = {{0}};
    rf_wh_relay_t *r = rf_wh_relay_new(&a->o, &eb);
    if (!r) {
        fprintf(stderr, "refold webhooks run: %s\n", eb.msg);
        return 1;
    }
    if (a->metrics_port) {
        rf_metrics_declare_standard();
        rf_wh_metrics_declare();
        if (rf_metrics_add_hook(metrics_hook, r) != RF_OK ||
            rf_metrics_serve("127.0.0.1", a->metrics_port, &eb) != RF_OK) {
            fprintf(stderr, "refold webhooks run: metrics: %s\n", eb.msg);
            rf_metrics_remove_hook(metrics_hook, r);
            rf_wh_relay_destroy(r);
            return 1;
        }
    }
    signal_relay = r;
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    rf_err_t err = rf_wh_relay_run(r, &eb);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal_relay = NULL;
    static rf_wh_stats_t st;
    rf_wh_relay_stats(r, &st);
    printf("read %llu ledger records, queued %llu messages\n", (unsigned long long)st.records,
           (unsigned long long)st.messages);
    for (int e = 0; e < st.nendpoints; e++)
        printf("  %s: delivered %llu, failed attempts %llu, pending %llu, parked %llu%s\n",
               st.endpoints[e].id, (unsigned long long)st.endpoints[e].delivered,
               (unsigned long long)st.endpoints[e].failed,
               (unsigned long long)st.endpoints[e].pending,
               (unsigned long long)st.endpoints[e].parked,
               st.endpoints[e].disabled ? ", DISABLED" : "");
    if (a->metrics_port) {
        rf_metrics_stop();
        rf_metrics_remove_hook(metrics_hook, r);
    }
    rf_wh_relay_destroy(r);
    if (err) {
        fprintf(stderr, "refold webhooks run: %s\n", eb.msg);
        return 1;
    }
    return 0;
}

/* ---- check, list ---- */

static int cmd_check(wh_args_t *a)
{
    rf_wh_config_t *cfg = load_config("check", a->config_path);
    if (!cfg) return 1;
    for (int e = 0; e < cfg->nendpoints; e++) {
        const rf_wh_endpoint_t *ep = &cfg->endpoints[e];
        printf("%s: %s, %d secret(s), %s, events", ep->id, ep->url, ep->nsecrets,
               ep->nprograms ? "some programs" : "every program");
        for (int t = 0; t < RF_WH__TYPES; t++)
            if (ep->types & (1u << t)) printf(" %s", rf_wh_type_name((rf_wh_type_t)t));
        printf("\n");
    }
    printf("OK\n");
    return 0;
}

static int cmd_list(wh_args_t *a)
{
    rf_wh_config_t *cfg = load_config("list", a->config_path);
    if (!cfg) return 1;
    static rf_wh_stats_t st;
    rf_errbuf_t eb = {{0}};
    if (rf_wh_store_stats(a->o.data_dir, cfg, &st, &eb) != RF_OK) {
        fprintf(stderr, "refold webhooks list: %s\n", eb.msg);
        return 1;
    }
    int64_t now = rf_wall_ms();
    if (!a->json)
        printf("%-20s %-9s %10s %8s %10s %10s %9s  %s\n", "endpoint", "state", "delivered",
               "pending", "failed", "parked", "lag_s", "url");
    for (int e = 0; e < st.nendpoints; e++) {
        const rf_wh_endpoint_stats_t *es = &st.endpoints[e];
        double lag = es->oldest_pending_ms >= 0 ? (double)(now - es->oldest_pending_ms) / 1e3 : 0;
        if (a->json) {
            printf("{\"endpoint\":\"%s\",\"url\":\"%s\",\"state\":\"%s\",\"disabled_reason\":",
                   es->id, cfg->endpoints[e].url, es->disabled ? "disabled" : "active");
            if (es->disabled) {
                putchar('"');
                for (const char *c = es->disabled_reason; *c; c++)
                    if (*c == '"' || *c == '\\')
                        printf("\\%c", *c);
                    else if ((unsigned char)*c >= 0x20)
                        putchar(*c);
                putchar('"');
            } else {
                printf("null");
            }
            printf(",\"delivered\":%llu,\"pending\":%llu,\"failed_attempts\":%llu,\"parked\":%llu,"
                   "\"oldest_pending_ms\":%lld}\n",
                   (unsigned long long)es->delivered, (unsigned long long)es->pending,
                   (unsigned long long)es->failed, (unsigned long long)es->parked,
                   (long long)es->oldest_pending_ms);
        } else {
            printf("%-20s %-9s %10llu %8llu %10llu %10llu %9.1f  %s\n", es->id,
                   es->disabled ? "disabled" : "active", (unsigned long long)es->delivered,
                   (unsigned long long)es->pending, (unsigned long long)es->failed,
                   (unsigned long long)es->parked, lag, cfg->endpoints[e].url);
            if (es->disabled) printf("  disabled: %s\n", es->disabled_reason);
        }
    }
    return 0;
}

/* ---- parked, show ---- */

typedef struct show_ctx {
    wh_args_t *a;
    int32_t part;
    uint64_t seq; /* show: this one */
    long n;
} show_ctx_t;

static int print_parked(const rf_wh_message_info_t *m, const char *body, void *opaque)
{
    show_ctx_t *c = opaque;
    if (c->seq && (m->partition != c->part || m->seq != c->seq)) return 0;
    char t[RF_TIME_BUF], la[RF_TIME_BUF];
    rf_time_format(m->event_time_ms, t);
    rf_time_format(m->last_attempt_ms, la);
    if (c->a->json || c->seq) {
        printf("{\"webhook_id\":\"%s\",\"partition\":%d,\"seq\":%llu,\"type\":\"%s\","
               "\"event_time\":\"%s\",\"attempts\":%d,\"last_attempt\":\"%s\",\"last_status\":%d,"
               "\"last_error\":\"",
               m->msg_id, (int)m->partition, (unsigned long long)m->seq, m->type, t, m->attempts,
               la, m->last_status);
        for (const char *s = m->last_error; *s; s++)
            if (*s == '"' || *s == '\\')
                printf("\\%c", *s);
            else if ((unsigned char)*s >= 0x20)
                putchar(*s);
        printf("\"%s%s}\n", c->seq ? ",\"body\":" : "", c->seq ? body : "");
    } else {
        printf("%-16s %-20s %s  attempts %d  last %s: %s\n", m->msg_id, m->type, t, m->attempts, la,
               m->last_error);
    }
    c->n++;
    return c->seq ? 1 : c->n >= RF_WEBHOOK_LIST_MAX;
}

/* "P:S" or "msg_P_S" into partition and seq. */
static int parse_msg(const char *s, int32_t *p, uint64_t *seq)
{
    char buf[64];
    if (rf_strlcpy(buf, strncmp(s, "msg_", 4) == 0 ? s + 4 : s, sizeof buf)) return -1;
    char *sep = strpbrk(buf, ":_");
    if (!sep) return -1;
    *sep = '\0';
    int64_t a, b;
    if (rf_parse_i64(buf, 0, RF_PARTITIONS_MAX - 1, &a, "partition", NULL) ||
        rf_parse_i64(sep + 1, 1, INT64_MAX, &b, "seq", NULL))
        return -1;
    *p = (int32_t)a;
    *seq = (uint64_t)b;
    return 0;
}

static int cmd_parked(wh_args_t *a, bool show)
{
    show_ctx_t c = {a, -1, 0, 0};
    if (show && (!a->msg || parse_msg(a->msg, &c.part, &c.seq))) {
        fprintf(stderr, "refold webhooks show: --message msg_P_S (or P:S) is required\n");
        return 2;
    }
    rf_errbuf_t eb = {{0}};
    if (rf_wh_parked_scan(a->o.data_dir, a->endpoint, show ? c.part : a->partition, print_parked,
                          &c, &eb) != RF_OK) {
        fprintf(stderr, "refold webhooks %s: %s\n", show ? "show" : "parked", eb.msg);
        return 1;
    }
    if (show && c.n == 0) {
        fprintf(stderr, "refold webhooks show: no parked message %s of '%s'\n", a->msg,
                a->endpoint);
        return 1;
    }
    if (!show && !a->json) fprintf(stderr, "%ld parked message(s)\n", c.n);
    return 0;
}

/* ---- redeliver, replay, enable ---- */

static int cmd_write(wh_args_t *a, const char *name, rf_wh_req_kind_t kind)
{
    rf_wh_config_t *cfg = load_config(name, a->config_path);
    if (!cfg) return 1;
    rf_wh_request_t req = {.kind = kind, .partition = -1, .from_ms = -1};
    rf_strlcpy(req.endpoint, a->endpoint, sizeof req.endpoint);
    if (kind == RF_WH_REQ_REDELIVER) {
        if (!a->all && (!a->msg || parse_msg(a->msg, &req.partition, &req.seq))) {
            fprintf(stderr, "refold webhooks redeliver: --message msg_P_S or --all\n");
            return 2;
        }
    } else if (kind == RF_WH_REQ_REPLAY) {
        if ((a->from_seq > 0) == (a->from_time >= 0)) {
            fprintf(stderr, "refold webhooks replay: one of --from-seq and --from-time\n");
            return 2;
        }
        req.partition = a->partition;
        req.seq = a->from_seq > 0 ? (uint64_t)a->from_seq : 0;
        req.from_ms = a->from_time;
        if (a->from_seq > 0 && a->partition < 0) {
            fprintf(stderr, "refold webhooks replay: --from-seq needs --partition (seqs are "
                            "per partition)\n");
            return 2;
        }
    }
    uint64_t n = 0;
    rf_errbuf_t eb = {{0}};
    if (rf_wh_request(a->o.data_dir, cfg, &req, &n, &eb) != RF_OK) {
        fprintf(stderr, "refold webhooks %s: %s\n", name, eb.msg);
        return 1;
    }
    if (kind == RF_WH_REQ_ENABLE)
        printf("endpoint '%s' enabled\n", a->endpoint);
    else
        printf("%llu message(s) of '%s' queued for delivery\n", (unsigned long long)n, a->endpoint);
    return 0;
}

/* ---- options ---- */

static const char *const subs[] = {"run",  "check",     "list",   "parked",
                                   "show", "redeliver", "replay", "enable"};
#define NSUBS ((int)(sizeof subs / sizeof subs[0]))

static int parse_args(int sub, int argc, char **argv, wh_args_t *a)
{
    char name[32];
    snprintf(name, sizeof name, "webhooks %s", subs[sub]);
    bool needs_ep = sub >= 3, run = sub == 0;
    const rf_opt_t opts[] = {
        RF_OPT_STR(0, "config", &a->config_path, "FILE", "endpoints config (JSON)",
                   .flags = sub == 3 || sub == 4 ? 0 : RF_OPT_REQUIRED),
        RF_OPT_DATA(&a->o.data_dir, .flags = sub == 1 ? 0 : RF_OPT_REQUIRED),
        RF_OPT_STR(0, "endpoint", &a->endpoint, "ID", "the endpoint",
                   .flags = needs_ep ? RF_OPT_REQUIRED : 0),
        RF_OPT_STR(0, "message", &a->msg, "ID", "a message: its webhook-id msg_P_S (or P:S)"),
        RF_OPT_FLAG(0, "all", &a->all, "redeliver: every parked message of the endpoint"),
        RF_OPT_I64_RANGE(0, "from-seq", &a->from_seq, 1, INT64_MAX, "S",
                         "replay: from this ledger seq (with --partition)", .def = "none"),
        RF_CMD_OPT_TIME(0, "from-time", &a->from_time,
                        "replay: from this event time (RFC 3339 or Unix ms)"),
        RF_OPT_INT_RANGE(0, "partition", &a->partition, 0, RF_PARTITIONS_MAX - 1, "N",
                         "one ledger partition", .def = "all"),
        RF_OPT_JSON(&a->json, "one JSON object per line"),
        RF_OPT_GROUP("run:"),
        RF_OPT_BROKERS(&a->o.kafka.brokers, .flags = run ? RF_OPT_REQUIRED : 0),
        RF_OPT_STR(0, "group", &a->o.group, "G", "consumer group", .def = "refold-webhooks"),
        RF_OPT_STR(0, "topic", &a->o.topic, "T", "ledger topic", .def = RF_TOPIC_LEDGER),
        RF_OPT_CALLBACK(0, "topic-prefix", a, "P", opt_topic_prefix,
                        "prefix of refold's topic names (reads Prefold.ledger)"),
        RF_OPT_CALLBACK(0, "partitions", &a->o, "LIST", opt_partitions,
                        "assign these partitions (\"0-15\") instead of joining the group"),
        RF_OPT_BOOL(0, "exit-when-idle", &a->o.exit_when_idle,
                    "exit once everything read is delivered or parked (tests)"),
        RF_OPT_BOOL(0, "nosync", &a->o.nosync, "do not sync commits (benchmarks only)"),
        RF_OPT_INT_RANGE(0, "metrics-port", &a->metrics_port, 1, 65535, "N",
                         "serve Prometheus metrics on 127.0.0.1:N/metrics", .def = "none"),
        RF_OPT_FLAG(0, "log-json", &a->log_json, "log one JSON object per line on stderr"),
        RF_CMD_OPT_X(&a->o.kafka),
        RF_OPT_HELP(),
        RF_OPT_END(),
    };
    const rf_opt_cmd_t cmd = {
        name,
        "refold webhooks run --config FILE --data DIR --brokers HOST:PORT [--partitions LIST]\n"
        "       refold webhooks check --config FILE\n"
        "       refold webhooks list --config FILE --data DIR [--json]\n"
        "       refold webhooks parked --data DIR --endpoint ID [--partition N] [--json]\n"
        "       refold webhooks show --data DIR --endpoint ID --message msg_P_S\n"
        "       refold webhooks redeliver --config FILE --data DIR --endpoint ID (--message "
        "msg_P_S | --all)\n"
        "       refold webhooks replay --config FILE --data DIR --endpoint ID\n"
        "                             (--partition N --from-seq S | --from-time T)\n"
        "       refold webhooks enable --config FILE --data DIR --endpoint ID",
        "Relays ledger records of refold.ledger to HTTP endpoints as Standard Webhooks\n"
        "(signed with HMAC-SHA256), retried with backoff, then parked. Delivery state\n"
        "lives in DIR/webhooks/p-NNNN, committed with the consumed offset. The writing\n"
        "subcommands work while a relay runs (it applies them between cycles).\n"
        "docs/webhooks.md has the payloads, the retry schedule and operations.",
        opts,
        0,
        .notes = {run ? rf_kafka_forced_help(RF_KAFKA_WEBHOOK_CONSUMER) : NULL}};
    int n = rf_opt_parse(&cmd, argc, argv);
    if (n < 0) return n;
    if (a->log_json) rf_log_set_json(1);
    return 0;
}

int rf_cmd_webhooks(int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "";
    int s = -1;
    for (int i = 0; i < NSUBS; i++)
        if (!strcmp(sub, subs[i])) s = i;
    if (s < 0) {
        FILE *f = !strcmp(sub, "--help") || !strcmp(sub, "-h") ? stdout : stderr;
        if (*sub && f == stderr) fprintf(f, "refold webhooks: unknown subcommand '%s'\n", sub);
        fprintf(f, "usage: refold webhooks run|check|list|parked|show|redeliver|replay|enable "
                   "[options]\n(refold webhooks <subcommand> --help for each one's options)\n");
        return f == stdout ? 0 : 2;
    }
    static wh_args_t a;
    memset(&a, 0, sizeof a);
    a.partition = -1;
    a.from_time = -1;
    int rc = parse_args(s, argc - 1, argv + 1, &a);
    if (rc < 0) return rf_opt_status(rc);
    switch (s) {
    case 0:
        return cmd_run(&a);
    case 1:
        return cmd_check(&a);
    case 2:
        return cmd_list(&a);
    case 3:
        return cmd_parked(&a, false);
    case 4:
        return cmd_parked(&a, true);
    case 5:
        return cmd_write(&a, "redeliver", RF_WH_REQ_REDELIVER);
    case 6:
        return cmd_write(&a, "replay", RF_WH_REQ_REPLAY);
    default:
        return cmd_write(&a, "enable", RF_WH_REQ_ENABLE);
    }
}
