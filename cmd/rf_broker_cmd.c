/* rf_broker_cmd.c: `refold broker`, the embedded Kafka broker as a command. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_broker.h"
#include "rf_commands.h"
#include "rf_limits.h"
#include "rf_opt.h"
#include "rf_registry.h"

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

int rf_cmd_broker(int argc, char **argv)
{
    int partitions = RF_PARTITIONS_DEFAULT, nbrokers = 1;
    const char *bootstrap_file = NULL, *registry = NULL;
    const rf_opt_t opts[] = {
        RF_OPT_INT_RANGE(0, "partitions", &partitions, 1, RF_PARTITIONS_MAX, "N",
                         "partitions per topic"),
        RF_OPT_INT_RANGE(0, "brokers-count", &nbrokers, 1, 16, "N", "mock brokers"),
        RF_OPT_STR(0, "bootstrap-file", &bootstrap_file, "F",
                   "also write the bootstrap address to F"),
        RF_OPT_STR(0, "registry", &registry, "HOST:PORT",
                   "also serve refold's schemas as a Confluent schema registry\n"
                   "(read-only subset; port 0: any free port; docs/schema-registry.md)"),
        RF_OPT_HELP(),
        RF_OPT_END(),
    };
    const rf_opt_cmd_t cmd = {
        "broker",
        "refold broker [--partitions N] [--brokers-count N] [--bootstrap-file F]\n"
        "             [--registry HOST:PORT]",
        "Runs the embedded Kafka broker (librdkafka's mock cluster) on loopback with\n"
        "refold's topics, prints its bootstrap address and runs until SIGINT/SIGTERM.\n"
        "It is in memory and keeps only the last 5 MiB or 100,000 batches per\n"
        "partition: for demos and tests, not for production (see README).\n"
        "With --registry, a second line 'schema registry http://HOST:PORT' follows.",
        opts,
        0,
        {NULL}};
    int n = rf_opt_parse(&cmd, argc, argv);
    if (n < 0) return rf_opt_status(n);
    rf_errbuf_t eb = {{0}};
    rf_broker_t *b = rf_broker_start(partitions, nbrokers, &eb);
    if (!b) {
        fprintf(stderr, "refold broker: %s\n", eb.msg);
        return 1;
    }
    printf("%s\n", rf_broker_bootstraps(b));
    rf_registry_t *reg = NULL;
    if (registry) {
        if (!(reg = rf_registry_start(registry, &eb))) {
            fprintf(stderr, "refold broker: %s\n", eb.msg);
            rf_broker_stop(b);
            return 1;
        }
        char host[256];
        rf_strlcpy(host, registry, sizeof host);
        char *colon = strrchr(host, ':');
        if (colon) *colon = '\0';
        printf("schema registry http://%s:%u\n", host, (unsigned)rf_registry_port(reg));
    }
    fflush(stdout);
    if (bootstrap_file) {
        FILE *f = fopen(bootstrap_file, "w");
        if (!f || fprintf(f, "%s\n", rf_broker_bootstraps(b)) < 0 || fclose(f) != 0) {
            fprintf(stderr, "refold broker: cannot write '%s'\n", bootstrap_file);
            rf_registry_stop(reg);
            rf_broker_stop(b);
            return 1;
        }
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    rf_wait_stop(&stop_requested);
    rf_registry_stop(reg);
    rf_broker_stop(b);
    return 0;
}
