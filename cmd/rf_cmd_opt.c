/* rf_cmd_opt.c: the option callbacks of rf_cmd_opt.h. */
#include "rf_cmd_opt.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "rf_finance.h"

rf_err_t rf_cmd_opt_x(const rf_opt_t *opt, const char *arg, rf_errbuf_t *eb)
{
    return rf_kafka_opts_add_x(opt->value, arg, eb);
}

rf_err_t rf_cmd_opt_time(const rf_opt_t *opt, const char *arg, rf_errbuf_t *eb)
{
    rf_errbuf_t teb = {{0}};
    if (rf_finance_time_parse(arg, opt->value, &teb) == RF_OK) return RF_OK;
    return rf_errf(eb, RF_ERR_CONFIG, "--%s: %s", opt->long_name, teb.msg);
}

static bool metrics_on(const rf_cmd_metrics_t *m)
{
    return m->port > 0 || (m->listen && *m->listen);
}

rf_err_t rf_cmd_metrics_start(const rf_cmd_metrics_t *m, const char *worker,
                              rf_metrics_hook_t *hook, void *opaque, rf_errbuf_t *eb)
{
    if (!metrics_on(m)) return RF_OK;
    if (m->port > 0 && m->listen)
        return rf_errf(eb, RF_ERR_CONFIG, "--metrics-port and --metrics-listen exclude each other");
    rf_metrics_declare_worker(worker, REFOLD_VERSION);
    rf_err_t err = hook ? rf_metrics_add_hook(hook, opaque) : RF_OK;
    if (err != RF_OK) return rf_errf(eb, err, "cannot add the stats hook");
    err = m->listen ? rf_metrics_serve_listen(m->listen, eb)
                    : rf_metrics_serve("127.0.0.1", m->port, eb);
    if (err != RF_OK && hook) rf_metrics_remove_hook(hook, opaque);
    return err;
}

void rf_cmd_metrics_stop(const rf_cmd_metrics_t *m, rf_metrics_hook_t *hook, void *opaque)
{
    if (!metrics_on(m)) return;
    rf_metrics_stop();
    if (hook) rf_metrics_remove_hook(hook, opaque);
}

void rf_cmd_error(const char *cmd, bool json, rf_err_t code, const char *fmt, ...)
{
    char msg[RF_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *o = json
                    ? json_pack("{s:{s:s, s:s}}", "error", "code", rf_err_str(code), "message", msg)
                    : NULL;
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    if (text)
        fprintf(stderr, "%s\n", text);
    else
        fprintf(stderr, "refold %s: %s\n", cmd, msg);
    free(text);
    json_decref(o);
}
