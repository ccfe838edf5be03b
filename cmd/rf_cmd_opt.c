/* rf_cmd_opt.c: the option callbacks of rf_cmd_opt.h. */
#include "rf_cmd_opt.h"

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
