/* rf_wh_metrics.c: the relay's metrics (docs/webhooks.md, "Metrics"):
 * deliveries by endpoint and outcome and the attempt latency histogram are
 * updated as attempts finish; the gauges mirror the relay's stats. */
#include "rf_metrics.h"
#include "rf_webhooks.h"

void rf_wh_metrics_declare(void)
{
    static const double attempt_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                            0.5,   1,    2.5,   5,    10,  30};
    rf_metrics_declare(RF_METRIC_WEBHOOK_DELIVERIES, RF_METRIC_COUNTER,
                       "webhook attempts by endpoint and outcome (delivered, failed, timeout, "
                       "gone, parked)",
                       NULL, 0);
    rf_metrics_declare(RF_METRIC_WEBHOOK_ATTEMPT_SECONDS, RF_METRIC_HISTOGRAM,
                       "duration of one webhook attempt (request to response or error)",
                       attempt_bounds, (int)(sizeof attempt_bounds / sizeof attempt_bounds[0]));
    rf_metrics_declare(RF_METRIC_WEBHOOK_LAG, RF_METRIC_GAUGE,
                       "ledger records not yet read by the relay", NULL, 0);
    rf_metrics_declare(RF_METRIC_WEBHOOK_PENDING, RF_METRIC_GAUGE,
                       "messages waiting for delivery per endpoint", NULL, 0);
    rf_metrics_declare(RF_METRIC_WEBHOOK_PARKED, RF_METRIC_GAUGE,
                       "parked (dead-lettered) messages per endpoint", NULL, 0);
    rf_metrics_declare(RF_METRIC_WEBHOOK_DISABLED, RF_METRIC_GAUGE,
                       "1 when the endpoint is disabled", NULL, 0);
    rf_metrics_declare(RF_METRIC_WEBHOOK_DELAY, RF_METRIC_GAUGE,
                       "age (now - event time) of the oldest pending message per endpoint", NULL,
                       0);
}

void rf_wh_metrics_from_stats(const rf_wh_stats_t *st)
{
    if (st->lag >= 0) rf_metrics_gauge_set(RF_METRIC_WEBHOOK_LAG, NULL, (double)st->lag);
    int64_t now = rf_wall_ms();
    for (int e = 0; e < st->nendpoints; e++) {
        const rf_wh_endpoint_stats_t *es = &st->endpoints[e];
        char lab[128];
        if (rf_metrics_labels(lab, sizeof lab, "endpoint", es->id, NULL) != RF_OK) continue;
        rf_metrics_gauge_set(RF_METRIC_WEBHOOK_PENDING, lab, (double)es->pending);
        rf_metrics_gauge_set(RF_METRIC_WEBHOOK_PARKED, lab, (double)es->parked);
        rf_metrics_gauge_set(RF_METRIC_WEBHOOK_DISABLED, lab, es->disabled ? 1 : 0);
        rf_metrics_gauge_set(
            RF_METRIC_WEBHOOK_DELAY, lab,
            es->oldest_pending_ms >= 0 ? (double)(now - es->oldest_pending_ms) / 1000.0 : 0);
    }
}
