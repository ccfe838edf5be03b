/* rf_conf.c: librdkafka configuration from refold's command-line options. */
#include "rf_kafka.h"

#include <string.h>

rf_err_t rf_kafka_opts_add_x(rf_kafka_opts_t *opts, const char *nv, rf_errbuf_t *eb)
{
    if (!strchr(nv, '=') || nv[0] == '=')
        return rf_errf(eb, RF_ERR_CONFIG, "-X '%s': expected name=value", nv);
    if (opts->nx >= RF_CONF_X_MAX)
        return rf_errf(eb, RF_ERR_CONFIG, "too many -X properties (at most %d)", RF_CONF_X_MAX);
    opts->x[opts->nx++] = nv;
    return RF_OK;
}

rf_err_t rf_kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
                           rf_errbuf_t *eb)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
        return rf_errf(eb, RF_ERR_CONFIG, "kafka property '%s': %s", name, errstr);
    return RF_OK;
}

rf_err_t rf_kafka_conf_apply(rd_kafka_conf_t *conf, const rf_kafka_opts_t *opts, rf_errbuf_t *eb)
{
    rf_err_t err;
    if (opts->brokers &&
        (err = rf_kafka_conf_set(conf, "bootstrap.servers", opts->brokers, eb)) != RF_OK)
        return err;
    for (int i = 0; i < opts->nx; i++) {
        char name[256];
        const char *eq = strchr(opts->x[i], '=');
        size_t n = (size_t)(eq - opts->x[i]);
        if (!eq || n >= sizeof name)
            return rf_errf(eb, RF_ERR_CONFIG, "-X '%s': expected name=value", opts->x[i]);
        memcpy(name, opts->x[i], n);
        name[n] = '\0';
        if ((err = rf_kafka_conf_set(conf, name, eq + 1, eb)) != RF_OK) return err;
    }
    return RF_OK;
}

rd_kafka_conf_t *rf_kafka_conf_new(const rf_kafka_opts_t *opts, rf_errbuf_t *eb)
{
    if (!opts->brokers || !opts->brokers[0]) {
        rf_errf(eb, RF_ERR_CONFIG, "no brokers given (use --brokers host:port)");
        return NULL;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rf_kafka_conf_set_logger(conf);
    if (rf_kafka_conf_apply(conf, opts, eb) != RF_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

static void kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    rf_log_level_t l = level <= 3   ? RF_LOG_ERROR
                       : level <= 4 ? RF_LOG_WARN
                       : level <= 6 ? RF_LOG_INFO
                                    : RF_LOG_DEBUG;
    rf_log(l, "kafka %s: %s", fac, buf);
}

void rf_kafka_conf_set_logger(rd_kafka_conf_t *conf)
{
    rd_kafka_conf_set_log_cb(conf, kafka_log);
}
