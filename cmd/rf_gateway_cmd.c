/* rf_gateway_cmd.c: `refold gateway`: tracking links and the HTTP intake
 * until SIGINT/SIGTERM (docs/intake.md); app tokens and the PII key come
 * from files or the environment, never from the command line. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rf_cmd_opt.h"
#include "rf_commands.h"
#include "rf_gateway.h"
#include "rf_limits.h"
#include "rf_metrics.h"
#include "rf_opt.h"

#define GW "refold gateway: "

static volatile sig_atomic_t gateway_stop;

static void on_signal(int sig)
{
    (void)sig;
    gateway_stop = 1;
}

/* Secrets read once; the options point into these. */
static char tokens_buf[RF_GATEWAY_TOKENS_MAX * (RF_GATEWAY_TOKEN_MAX + 2)];
static char key_buf[RF_GATEWAY_TOKEN_MAX + 2];

/* Splits buf at sep characters into tokens (blank entries and '#' lines
 * skipped). */
static int split_tokens(char *buf, const char *sep, rf_gateway_opts_t *o, rf_errbuf_t *eb)
{
    char *save = NULL;
    for (char *t = strtok_r(buf, sep, &save); t; t = strtok_r(NULL, sep, &save)) {
        while (*t == ' ' || *t == '\t')
            t++;
        size_t n = strlen(t);
        while (n && (t[n - 1] == ' ' || t[n - 1] == '\t' || t[n - 1] == '\r'))
            t[--n] = '\0';
        if (!n || t[0] == '#') continue;
        if (o->ntokens == RF_GATEWAY_TOKENS_MAX)
            return rf_errf(eb, RF_ERR_CONFIG, "more than %d app tokens", RF_GATEWAY_TOKENS_MAX);
        o->tokens[o->ntokens++] = t;
    }
    return RF_OK;
}

static rf_err_t read_file(const char *path, char *buf, size_t cap, rf_errbuf_t *eb)
{
    FILE *f = fopen(path, "r");
    if (!f) return rf_errf(eb, RF_ERR_IO, "cannot open '%s'", path);
    size_t n = fread(buf, 1, cap - 1, f);
    bool more = fgetc(f) != EOF;
    fclose(f);
    if (more) return rf_errf(eb, RF_ERR_CONFIG, "'%s' is larger than %zu bytes", path, cap - 1);
    buf[n] = '\0';
    return RF_OK;
}

static rf_err_t load_secrets(rf_gateway_opts_t *o, const char *tokens_file, const char *key_file,
                             rf_errbuf_t *eb)
{
    rf_err_t err = RF_OK;
    const char *env = getenv("REFOLD_GATEWAY_TOKENS");
    if (tokens_file) {
        err = read_file(tokens_file, tokens_buf, sizeof tokens_buf, eb);
        if (!err) err = split_tokens(tokens_buf, "\n", o, eb);
    } else if (env) {
        if (rf_strlcpy(tokens_buf, env, sizeof tokens_buf) != RF_OK)
            return rf_errf(eb, RF_ERR_CONFIG, "$REFOLD_GATEWAY_TOKENS is too long");
        err = split_tokens(tokens_buf, ",", o, eb);
    }
    if (err) return err;
    if (key_file) {
        if ((err = read_file(key_file, key_buf, sizeof key_buf, eb))) return err;
        key_buf[strcspn(key_buf, "\r\n")] = '\0';
        o->pii_key = key_buf;
    } else {
        o->pii_key = getenv("REFOLD_PII_KEY");
    }
    return RF_OK;
}

static void metrics_hook(void *opaque)
{
    rf_gateway_stats_t s;
    rf_gateway_stats(opaque, &s);
    static const char *const C = "refold_gateway_clicks_total";
    rf_metrics_counter_set("refold_gateway_requests_total", NULL, s.requests);
    rf_metrics_counter_set("refold_gateway_redirects_total", "visitor=\"new\"", s.redirects_fresh);
    rf_metrics_counter_set("refold_gateway_redirects_total", "visitor=\"known_or_bot\"",
                           s.redirects - s.redirects_fresh);
    rf_metrics_counter_set("refold_gateway_links_not_found_total", NULL, s.not_found);
    rf_metrics_counter_set(C, "outcome=\"bot\"", s.bots);
    rf_metrics_counter_set(C, "outcome=\"queued\"", s.clicks_queued);
    rf_metrics_counter_set(C, "outcome=\"dropped\"", s.clicks_dropped);
    rf_metrics_counter_set(C, "outcome=\"delivered\"", s.clicks_delivered);
    rf_metrics_counter_set(C, "outcome=\"failed\"", s.clicks_failed);
    rf_metrics_counter_set("refold_gateway_posts_total", "status=\"202\"", s.posts_accepted);
    rf_metrics_counter_set("refold_gateway_posts_total", "status=\"4xx\"", s.posts_rejected);
    rf_metrics_counter_set("refold_gateway_posts_total", "status=\"503\"", s.posts_unavailable);
    rf_metrics_counter_set("refold_gateway_events_total", "outcome=\"accepted\"",
                           s.events_accepted);
    rf_metrics_counter_set("refold_gateway_events_total", "outcome=\"failed\"", s.events_failed);
    rf_metrics_gauge_set("refold_gateway_click_queue", NULL, (double)s.queue_depth);
}

int rf_cmd_gateway(int argc, char **argv)
{
    static rf_gateway_opts_t o; /* tokens array: off the stack */
    memset(&o, 0, sizeof o);
    const char *tokens_file = NULL, *key_file = NULL;
    int metrics_port = 0;
    bool verbose = false;
    o.listen = "127.0.0.1:8088";
    const rf_opt_t opts[] = {
        RF_OPT_BROKERS(&o.kafka.brokers, .flags = RF_OPT_REQUIRED),
        RF_CMD_OPT_X(&o.kafka),
        RF_OPT_STR(0, "data", &o.data_dir, "DIR",
                   "the projection stores (DIR/project): codes and landing URLs",
                   .flags = RF_OPT_REQUIRED),
        RF_OPT_STR(0, "listen", &o.listen, "HOST:PORT", "address (port 0: any free port)"),
        RF_OPT_INT_RANGE(0, "threads", &o.threads, 1, 64, "N", "HTTP worker threads",
                         .def = RF_OPT_STRINGIFY(RF_HTTP_THREADS)),
        RF_OPT_STR(0, "tokens-file", &tokens_file, "F",
                   "app tokens for POST /v1/events, one per line (else\n"
                   "$REFOLD_GATEWAY_TOKENS, comma-separated; none: POSTs get 401)",
                   .flags = RF_OPT_NODEFAULT),
        RF_OPT_STR(0, "pii-key-file", &key_file, "F",
                   "HMAC key of the clicks' IP and user-agent hashes, first\n"
                   "line of F (else $REFOLD_PII_KEY; required, >= 16 bytes)",
                   .flags = RF_OPT_NODEFAULT),
        RF_OPT_BOOL(0, "secure-cookies", &o.secure_cookies,
                    "mark the visitor cookie Secure (TLS ends in front of the gateway)"),
        RF_OPT_BOOL(0, "trust-proxy", &o.trust_proxy,
                    "take the client address from X-Forwarded-For's last entry and\n"
                    "Secure from X-Forwarded-Proto: https (only behind your proxy)"),
        RF_OPT_BOOL(0, "access-log", &verbose, "log one line per request to stderr"),
        RF_OPT_INT_RANGE(0, "metrics-port", &metrics_port, 1, 65535, "N",
                         "serve Prometheus metrics on 127.0.0.1:N/metrics", .def = "none"),
        RF_OPT_HELP(),
        RF_OPT_END(),
    };
    const rf_opt_cmd_t cmd = {
        "gateway",
        "refold gateway --brokers HOST:PORT --data DIR [--listen HOST:PORT] [-X name=value]...\n"
        "                      [--tokens-file F] [--pii-key-file F] [--secure-cookies]\n"
        "                      [--trust-proxy] [--access-log] [--metrics-port N]",
        "Tracking links and an HTTP intake for apps without Kafka (docs/intake.md):\n"
        "  GET  /r/{program}/{code}  records a Click, sets the visitor cookie rf_vid and\n"
        "                            redirects (302) to the program's landing_url?ref=CODE\n"
        "  POST /v1/events           one JSON event or application/x-ndjson, with\n"
        "                            'Authorization: Bearer <app token>'; 202 once Kafka\n"
        "                            acknowledged every event\n"
        "  GET  /v1/health\n"
        "Codes and landing URLs come from the projection under DIR (run `refold project`).\n"
        "Prints 'listening on http://HOST:PORT' once ready.",
        opts,
        0,
        .notes = {rf_kafka_forced_help(RF_KAFKA_EVENTS_PRODUCER)}};
    int n = rf_opt_parse(&cmd, argc, argv);
    if (n < 0) return rf_opt_status(n);
    rf_errbuf_t eb = {{0}};
    if (load_secrets(&o, tokens_file, key_file, &eb) != RF_OK) {
        fprintf(stderr, GW "%s\n", eb.msg);
        return 2;
    }
    o.access_log = verbose;
    if (verbose) rf_log_set_level(RF_LOG_INFO);
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    rf_gateway_t *g = rf_gateway_start(&o, &eb);
    if (!g) {
        fprintf(stderr, GW "%s\n", eb.msg);
        return 1;
    }
    if (metrics_port && (rf_metrics_add_hook(metrics_hook, g) != RF_OK ||
                         rf_metrics_serve("127.0.0.1", metrics_port, &eb) != RF_OK)) {
        fprintf(stderr, GW "metrics: %s\n", eb.msg);
        rf_gateway_stop(g);
        return 1;
    }
    char host[256];
    snprintf(host, sizeof host, "%s", o.listen);
    char *colon = strrchr(host, ':');
    if (colon) *colon = '\0';
    printf("listening on http://%s:%u\n", host, (unsigned)rf_gateway_port(g));
    fflush(stdout);
    while (!gateway_stop && !rf_gateway_failed(g)) /* a failed producer: exit 1, restart */
        usleep(RF_STOP_POLL_MS * 1000);
    int status = rf_gateway_failed(g) ? 1 : 0;
    if (metrics_port) {
        rf_metrics_stop();
        rf_metrics_remove_hook(metrics_hook, g);
    }
    rf_gateway_stop(g); /* answers waiting POSTs, publishes queued clicks */
    return status;
}
