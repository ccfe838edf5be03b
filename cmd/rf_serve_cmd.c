/* rf_serve_cmd.c: `refold serve`: the HTTP JSON API over the projection
 * until SIGINT/SIGTERM (endpoints: docs/http-api.md). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rf_cmd_opt.h"
#include "rf_commands.h"
#include "rf_http.h"
#include "rf_limits.h"
#include "rf_opt.h"

static volatile sig_atomic_t serve_stop;

/* Scrape hook: the server's request count and readiness. */
static void metrics_hook(void *opaque)
{
    const rf_http_t *h = opaque;
    rf_metrics_counter_set(RF_METRIC_HTTP_REQUESTS, NULL, rf_http_requests(h));
    rf_metrics_gauge_set(RF_METRIC_HTTP_READY, NULL, rf_http_ready(h) ? 1 : 0);
}

static void on_signal(int sig)
{
    (void)sig;
    serve_stop = 1;
}

int rf_cmd_serve(int argc, char **argv)
{
    rf_cmd_metrics_t metrics = {0};
    rf_http_opts_t o = {.listen = "127.0.0.1:8080", .token = getenv("REFOLD_HTTP_TOKEN")};
    const rf_opt_t opts[] = {
        RF_OPT_DATA(&o.data_dir, .flags = RF_OPT_REQUIRED),
        RF_OPT_STR(0, "listen", &o.listen, "HOST:PORT", "address (port 0: any free port)"),
        RF_OPT_STR(0, "token", &o.token, "T",
                   "require 'Authorization: Bearer T' (also $REFOLD_HTTP_TOKEN,\n"
                   "which keeps the token out of the process list)",
                   .flags = RF_OPT_NODEFAULT),
        RF_OPT_INT_RANGE(0, "threads", &o.threads, 1, 64, "N", "worker threads",
                         .def = RF_OPT_STRINGIFY(RF_HTTP_THREADS)),
        RF_OPT_STR(0, "cors-origin", &o.cors_origin, "ORIGIN",
                   "answer browsers from ORIGIN (https://app.example.com, or *):\n"
                   "Access-Control-Allow-Origin and OPTIONS preflights",
                   .def = "none: no CORS headers"),
        RF_CMD_OPT_METRICS(&metrics),
        RF_OPT_HELP(),
        RF_OPT_END(),
    };
    const rf_opt_cmd_t cmd = {
        "serve",
        "refold serve --data DIR [--listen HOST:PORT] [--token T] [--threads N]\n"
        "                    [--cors-origin ORIGIN] [--metrics-port N | --metrics-listen A:P]",
        "Serves the projection under DIR/project as a JSON API (GET only), following\n"
        "the projection workers while they run. Endpoints (docs/http-api.md):\n"
        "  /v1/health  /v1/users/{u}/balance  /v1/programs/{p}/leaderboard\n"
        "  /v1/programs/{p}/stats  /v1/programs/{p}/users/{u}/code|balance|rank\n"
        "  /v1/openapi.json (the OpenAPI 3 description of all of them)\n"
        "Prints 'listening on http://HOST:PORT' once ready.",
        opts,
        0,
        {NULL}};
    int n = rf_opt_parse(&cmd, argc, argv);
    if (n < 0) return rf_opt_status(n);
    rf_errbuf_t eb = {{0}};
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    rf_http_t *h = rf_http_start(&o, &eb);
    if (!h) {
        fprintf(stderr, "refold serve: %s\n", eb.msg);
        return 1;
    }
    if (rf_cmd_metrics_start(&metrics, "serve", metrics_hook, h, &eb) != RF_OK) {
        fprintf(stderr, "refold serve: metrics: %s\n", eb.msg);
        rf_http_stop(h);
        return 1;
    }
    const char *host = o.listen;
    char hostbuf[256];
    snprintf(hostbuf, sizeof hostbuf, "%s", host);
    char *colon = strrchr(hostbuf, ':');
    if (colon) *colon = '\0';
    printf("listening on http://%s:%u\n", hostbuf, (unsigned)rf_http_port(h));
    fflush(stdout);
    rf_wait_stop(&serve_stop);
    rf_cmd_metrics_stop(&metrics, metrics_hook, h);
    rf_http_stop(h);
    return 0;
}
