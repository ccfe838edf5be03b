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
#include "rf_pages.h"
#include "rf_reftoken.h"

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

/* The dashboard's address, and with --ref-link a referral page's. */
static void print_pages(const char *host, unsigned port, const char *secret, const char *ref_for)
{
    printf("dashboard: http://%s:%u/\n", host, port);
    if (!ref_for) return;
    char program[RF_ID_BUF * 2], tok[RF_REFTOKEN_MAX + 1];
    rf_errbuf_t eb = {{0}};
    snprintf(program, sizeof program, "%s", ref_for);
    char *colon = strchr(program, ':');
    int64_t exp = rf_wall_ms() / 1000 + 30LL * 86400;
    if (!colon)
        rf_errf(&eb, RF_ERR_CONFIG, "--ref-link wants PROGRAM:USER");
    else if (!secret)
        rf_errf(&eb, RF_ERR_CONFIG, "--ref-link needs --ref-secret");
    else
        *colon = '\0';
    if (!eb.msg[0] && rf_reftoken_mint(secret, program, colon + 1, exp, tok, &eb) == RF_OK)
        printf("referral page: http://%s:%u/ref?t=%s\n", host, port, tok);
    else
        fprintf(stderr, "refold serve: %s\n", eb.msg);
}

int rf_cmd_serve(int argc, char **argv)
{
    rf_cmd_metrics_t metrics = {0};
    rf_http_opts_t o = {.listen = "127.0.0.1:8080", .token = getenv("REFOLD_HTTP_TOKEN")};
    rf_pages_opts_t po = {.ref_secret = getenv("REFOLD_REF_SECRET")};
    const char *ref_for = NULL;
    const rf_opt_t opts[] = {
        RF_OPT_DATA(&o.data_dir, .flags = RF_OPT_REQUIRED),
        RF_OPT_STR(0, "listen", &o.listen, "HOST:PORT", "address (port 0: any free port)"),
        RF_OPT_STR(0, "token", &o.token, "T",
                   "require 'Authorization: Bearer T' (also $REFOLD_HTTP_TOKEN,\n"
                   "which keeps the token out of the process list)",
                   .flags = RF_OPT_NODEFAULT),
        RF_OPT_INT_RANGE(0, "threads", &o.threads, 1, 64, "N", "worker threads",
                         .def = RF_OPT_STRINGIFY(RF_HTTP_THREADS)),
        RF_OPT_STR(0, "ref-secret", &po.ref_secret, "S",
                   "key of the referral pages' tokens, 16..256 bytes (also\n"
                   "$REFOLD_REF_SECRET); without it /ref is off (docs/dashboard.md)",
                   .flags = RF_OPT_NODEFAULT),
        RF_OPT_STR(0, "link-base", &po.link_base, "URL",
                   "base of the tracking links on referral pages: URL/r/{program}/{code}"),
        RF_OPT_STR(0, "frame-ancestors", &po.frame_ancestors, "SRCS",
                   "who may embed the referral page in an iframe (CSP\n"
                   "frame-ancestors, e.g. \"https://app.example\"; default 'self')"),
        RF_OPT_STR(0, "ref-link", &ref_for, "PROGRAM:USER",
                   "print a referral page link for USER, valid 30 days (needs\n"
                   "--ref-secret; for trying the page: apps mint their own)"),
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
        "Also serves the owner dashboard at / and referral pages at /ref\n"
        "(docs/dashboard.md). Prints 'listening on http://HOST:PORT' once ready,\n"
        "then the dashboard's address.",
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
    po.data_dir = o.data_dir;
    po.token = o.token;
    rf_pages_t *pages = rf_pages_new(&po, &eb);
    if (!pages) {
        fprintf(stderr, "refold serve: %s\n", eb.msg);
        return 2;
    }
    o.pages = pages;
    rf_http_t *h = rf_http_start(&o, &eb);
    if (!h) {
        fprintf(stderr, "refold serve: %s\n", eb.msg);
        rf_pages_destroy(pages);
        return 1;
    }
    if (rf_cmd_metrics_start(&metrics, "serve", metrics_hook, h, &eb) != RF_OK) {
        fprintf(stderr, "refold serve: metrics: %s\n", eb.msg);
        rf_http_stop(h);
        rf_pages_destroy(pages);
        return 1;
    }
    const char *host = o.listen;
    char hostbuf[256];
    snprintf(hostbuf, sizeof hostbuf, "%s", host);
    char *colon = strrchr(hostbuf, ':');
    if (colon) *colon = '\0';
    printf("listening on http://%s:%u\n", hostbuf, (unsigned)rf_http_port(h));
    print_pages(hostbuf, rf_http_port(h), po.ref_secret, ref_for);
    fflush(stdout);
    rf_wait_stop(&serve_stop);
    rf_cmd_metrics_stop(&metrics, metrics_hook, h);
    rf_http_stop(h);
    rf_pages_destroy(pages);
    return 0;
}
