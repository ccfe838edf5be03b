/* rf_http_cmd.c: `refold serve`: the HTTP JSON API over the projection
 * until SIGINT/SIGTERM (endpoints: docs/http-api.md). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rf_commands.h"
#include "rf_http.h"
#include "rf_limits.h"

static volatile sig_atomic_t serve_stop;

static void on_signal(int sig)
{
    (void)sig;
    serve_stop = 1;
}

static void serve_usage(FILE *f)
{
    fprintf(f,
            "usage: refold serve --data DIR [--listen HOST:PORT] [--token T] [--threads N]\n"
            "\n"
            "Serves the projection under DIR/project as a JSON API (GET only), following\n"
            "the projection workers while they run. Endpoints (docs/http-api.md):\n"
            "  /v1/health  /v1/users/{u}/balance  /v1/programs/{p}/leaderboard\n"
            "  /v1/programs/{p}/stats  /v1/programs/{p}/users/{u}/code|balance|rank\n"
            "\n"
            "  --data DIR        data directory (required)\n"
            "  --listen A        address (default 127.0.0.1:8080; port 0: any free port)\n"
            "  --token T         require 'Authorization: Bearer T' (also $REFOLD_HTTP_TOKEN,\n"
            "                    which keeps the token out of the process list)\n"
            "  --threads N       worker threads (default %d)\n"
            "Prints 'listening on http://HOST:PORT' once ready.\n",
            RF_HTTP_THREADS);
}

int rf_cmd_serve(int argc, char **argv)
{
    rf_http_opts_t o = {.listen = "127.0.0.1:8080", .token = getenv("REFOLD_HTTP_TOKEN")};
    static const struct option longopts[] = {
        {"data", required_argument, 0, 'd'},  {"listen", required_argument, 0, 'l'},
        {"token", required_argument, 0, 't'}, {"threads", required_argument, 0, 'n'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'd':
            o.data_dir = optarg;
            break;
        case 'l':
            o.listen = optarg;
            break;
        case 't':
            o.token = optarg;
            break;
        case 'n':
            o.threads = (int)strtol(optarg, &end, 10);
            if (*end || o.threads < 1 || o.threads > 64) {
                fprintf(stderr, "refold serve: --threads must be 1..64\n");
                return 2;
            }
            break;
        case 'h':
            serve_usage(stdout);
            return 0;
        default:
            serve_usage(stderr);
            return 2;
        }
    }
    if (optind < argc || !o.data_dir) {
        fprintf(stderr, "refold serve: --data is required\n");
        serve_usage(stderr);
        return 2;
    }
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
    const char *host = o.listen;
    char hostbuf[256];
    snprintf(hostbuf, sizeof hostbuf, "%s", host);
    char *colon = strrchr(hostbuf, ':');
    if (colon) *colon = '\0';
    printf("listening on http://%s:%u\n", hostbuf, (unsigned)rf_http_port(h));
    fflush(stdout);
    rf_wait_stop(&serve_stop);
    rf_http_stop(h);
    return 0;
}
