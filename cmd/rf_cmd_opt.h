/* rf_cmd_opt.h: option-table entries the commands share that need libraries
 * refold_common must not link: -X (librdkafka's properties) and event times. */
#ifndef RF_CMD_OPT_H
#define RF_CMD_OPT_H

#include <stdbool.h>

#include "rf_kafka.h"
#include "rf_metrics.h"
#include "rf_opt.h"

/* -X name=value into the rf_kafka_opts_t at opt->value (rf_kafka_opts_add_x). */
rf_err_t rf_cmd_opt_x(const rf_opt_t *opt, const char *arg, rf_errbuf_t *eb);

/* An event time (2026-01-31, 2026-01-31T12:00:00Z or Unix milliseconds,
 * rf_finance_time_parse) into the int64_t at opt->value. */
rf_err_t rf_cmd_opt_time(const rf_opt_t *opt, const char *arg, rf_errbuf_t *eb);

/* A worker's metrics endpoint: --metrics-port N (127.0.0.1:N) or
 * --metrics-listen ADDR:PORT; neither: none. */
typedef struct rf_cmd_metrics {
    int port;
    const char *listen;
} rf_cmd_metrics_t;
#define RF_CMD_OPT_METRICS(m)                                                                      \
    RF_OPT_INT_RANGE(0, "metrics-port", &(m)->port, 1, 65535, "N",                                 \
                     "serve Prometheus metrics on 127.0.0.1:N/metrics", .def = "none"),            \
        RF_OPT_STR(0, "metrics-listen", &(m)->listen, "ADDR:PORT",                                 \
                   "serve them on ADDR:PORT instead (0.0.0.0:9464, [::]:9464)",                    \
                   .flags = RF_OPT_NODEFAULT)
/* Declares the worker's families (rf_metrics_declare_worker), adds hook (may
 * be NULL) and serves; RF_OK doing nothing when no option was given. */
rf_err_t rf_cmd_metrics_start(const rf_cmd_metrics_t *m, const char *worker,
                              rf_metrics_hook_t *hook, void *opaque, rf_errbuf_t *eb);
/* Stops serving and removes hook (a no-op when not started). */
void rf_cmd_metrics_stop(const rf_cmd_metrics_t *m, rf_metrics_hook_t *hook, void *opaque);

/* A command's error on stderr: "refold CMD: message", or with --json one
 * line {"error":{"code":"<rf_err_str(code)>","message":"..."}}. */
void rf_cmd_error(const char *cmd, bool json, rf_err_t code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define RF_CMD_OPT_X(kafka) RF_OPT_X(rf_cmd_opt_x, RF__OPT_PTR(rf_kafka_opts_t, kafka))
#define RF_CMD_OPT_TIME(s, l, v, h, ...)                                                           \
    RF_OPT_CALLBACK(s, l, RF__OPT_PTR(int64_t, v), "TIME", rf_cmd_opt_time, h, __VA_ARGS__)

#endif
