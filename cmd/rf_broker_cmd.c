/* rf_broker_cmd.c: `refold broker`, the embedded Kafka broker as a command. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_broker.h"
#include "rf_commands.h"
#include "rf_limits.h"

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void broker_usage(FILE *f)
{
    fprintf(f,
            "usage: refold broker [--partitions N] [--brokers-count N] [--bootstrap-file F]\n"
            "\n"
            "Runs the embedded Kafka broker (librdkafka's mock cluster) on loopback with\n"
            "refold's topics, prints its bootstrap address and runs until SIGINT/SIGTERM.\n"
            "It is in memory and keeps only the last 5 MiB or 100,000 batches per\n"
            "partition: for demos and tests, not for production (see README).\n"
            "\n"
            "  --partitions N      partitions per topic (default %d)\n"
            "  --brokers-count N   mock brokers (default 1)\n"
            "  --bootstrap-file F  also write the bootstrap address to F\n",
            RF_PARTITIONS_DEFAULT);
}

int rf_cmd_broker(int argc, char **argv)
{
    int partitions = RF_PARTITIONS_DEFAULT, nbrokers = 1;
    const char *bootstrap_file = NULL;
    static const struct option longopts[] = {{"partitions", required_argument, 0, 'p'},
                                             {"brokers-count", required_argument, 0, 'n'},
                                             {"bootstrap-file", required_argument, 0, 'f'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            partitions = atoi(optarg);
            break;
        case 'n':
            nbrokers = atoi(optarg);
            break;
        case 'f':
            bootstrap_file = optarg;
            break;
        case 'h':
            broker_usage(stdout);
            return 0;
        default:
            broker_usage(stderr);
            return 2;
        }
    }
    rf_errbuf_t eb = {{0}};
    rf_broker_t *b = rf_broker_start(partitions, nbrokers, &eb);
    if (!b) {
        fprintf(stderr, "refold broker: %s\n", eb.msg);
        return 1;
    }
    printf("%s\n", rf_broker_bootstraps(b));
    fflush(stdout);
    if (bootstrap_file) {
        FILE *f = fopen(bootstrap_file, "w");
        if (!f || fprintf(f, "%s\n", rf_broker_bootstraps(b)) < 0 || fclose(f) != 0) {
            fprintf(stderr, "refold broker: cannot write '%s'\n", bootstrap_file);
            rf_broker_stop(b);
            return 1;
        }
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    rf_wait_stop(&stop_requested);
    rf_broker_stop(b);
    return 0;
}
