/* rf_cmd_opt.h: option-table entries the commands share that need libraries
 * refold_common must not link: -X (librdkafka's properties) and event times. */
#ifndef RF_CMD_OPT_H
#define RF_CMD_OPT_H

#include "rf_kafka.h"
#include "rf_opt.h"

/* -X name=value into the rf_kafka_opts_t at opt->value (rf_kafka_opts_add_x). */
rf_err_t rf_cmd_opt_x(const rf_opt_t *opt, const char *arg, rf_errbuf_t *eb);

/* An event time (2026-01-31, 2026-01-31T12:00:00Z or Unix milliseconds,
 * rf_finance_time_parse) into the int64_t at opt->value. */
rf_err_t rf_cmd_opt_time(const rf_opt_t *opt, const char *arg, rf_errbuf_t *eb);

#define RF_CMD_OPT_X(kafka) RF_OPT_X(rf_cmd_opt_x, RF__OPT_PTR(rf_kafka_opts_t, kafka))
#define RF_CMD_OPT_TIME(s, l, v, h, ...)                                                           \
    RF_OPT_CALLBACK(s, l, RF__OPT_PTR(int64_t, v), "TIME", rf_cmd_opt_time, h, __VA_ARGS__)

#endif
