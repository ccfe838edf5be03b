/* rf_metrics.h: Prometheus text metrics for refold's workers: a small,
 * bounded, process-wide registry of counters, gauges and histograms, and an
 * HTTP endpoint (libmicrohttpd) serving it at /metrics.
 *
 * Usage (a worker command):
 *     rf_metrics_declare_worker("fold", REFOLD_VERSION);
 *     if (rf_metrics_serve_listen("0.0.0.0:9464", &eb)) ...; // --metrics-listen
 *     rf_metrics_add_hook(mirror_stats, worker);          // refresh on scrape
 *     ... rf_metrics_observe(RF_METRIC_BATCH_COMMIT_SECONDS, NULL, secs);
 *     rf_metrics_stop();
 *
 * Series are (name, labels). Labels are one preformatted string
 * `key="value",key2="value2"` (NULL or "" for none); build it with
 * rf_metrics_labels, which escapes values. Keep label values to bounded sets
 * (outcome, error code name, partition): at most RF_METRICS_SERIES_MAX series
 * exist; updates of a series beyond that are dropped and counted in
 * refold_metrics_dropped_total. A metric used before it is declared is
 * declared with the type its first update implies and no help text.
 *
 * Thread safety: every function may be called from any thread (one mutex;
 * an update is a hash lookup and an add: cheap enough per batch, not meant
 * per event in a hot loop). Hooks run on the HTTP thread, outside the lock.
 * The names refold exports are listed below and in docs/operations.md. */
#ifndef RF_METRICS_H
#define RF_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "rf_common.h"
#include "rf_limits.h"

typedef enum rf_metric_type {
    RF_METRIC_COUNTER = 0,
    RF_METRIC_GAUGE = 1,
    RF_METRIC_HISTOGRAM = 2,
} rf_metric_type_t;

/* refold's metrics (docs/operations.md, "Metrics"). */
#define RF_METRIC_EVENTS_CONSUMED        "refold_events_consumed_total" /* counter */
#define RF_METRIC_EVENTS                 "refold_events_total" /* counter {outcome, reason} */
#define RF_METRIC_DLQ_PRODUCED           "refold_dead_letters_produced_total" /* counter */
#define RF_METRIC_BATCHES                "refold_batches_total"               /* counter */
#define RF_METRIC_LEDGER_COMMITS         "refold_ledger_commits_total"        /* counter */
#define RF_METRIC_BATCH_COMMIT_SECONDS   "refold_batch_commit_seconds"        /* histogram */
#define RF_METRIC_CONSUMER_LAG           "refold_consumer_lag"    /* gauge {partition} */
#define RF_METRIC_LEDGER_HEAD_SEQ        "refold_ledger_head_seq" /* gauge {partition} */
#define RF_METRIC_OUTBOX_BACKLOG         "refold_outbox_backlog"  /* gauge: records not yet acked */
#define RF_METRIC_OUTBOX_SENT            "refold_outbox_sent_total"           /* counter */
#define RF_METRIC_OUTBOX_FAILED          "refold_outbox_failed_total"         /* counter */
#define RF_METRIC_REBALANCES             "refold_rebalances_total"            /* counter */
#define RF_METRIC_PROJECTION_RECORDS     "refold_projection_records_total"    /* counter */
#define RF_METRIC_PROJECTION_DUPLICATES  "refold_projection_duplicates_total" /* counter */
#define RF_METRIC_PROJECTION_COMMITS     "refold_projection_commits_total"    /* counter */
#define RF_METRIC_PROJECTION_LAG         "refold_projection_lag"         /* gauge {partition} */
#define RF_METRIC_PROJECTION_APPLIED_SEQ "refold_projection_applied_seq" /* gauge {partition} */
#define RF_METRIC_UP                     "refold_up"                     /* gauge {worker} */
#define RF_METRIC_BUILD_INFO             "refold_build_info"             /* gauge {version} */
#define RF_METRIC_HTTP_REQUESTS          "refold_http_requests_total"    /* counter (serve) */
#define RF_METRIC_HTTP_READY             "refold_http_projection_ready"  /* gauge (serve) */
#define RF_METRIC_DROPPED                "refold_metrics_dropped_total" /* counter: series over the bound */
/* Process metrics (Prometheus' client conventions), rendered from /proc at
 * each scrape once rf_metrics_declare_worker ran: process_cpu_seconds_total,
 * process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_open_fds, process_max_fds, process_start_time_seconds. */

/* Declares a metric family. bounds: histogram bucket upper bounds, ascending,
 * at most RF_METRICS_BUCKETS_MAX (NULL: Prometheus' default latency buckets
 * 0.005 .. 10 s). Declaring again with the same type is a no-op.
 * RF_ERR_CONFIG: bad name, type clash, too many families or buckets. */
rf_err_t rf_metrics_declare(const char *name, rf_metric_type_t type, const char *help,
                            const double *bounds, int nbounds);
/* Declares every family listed above, with label-less series at zero for the
 * label-less ones, so a scrape shows them from the start. Idempotent. */
void rf_metrics_declare_standard(void);
/* Declares what one worker exports and nothing else: its own families
 * ("fold", "project" or "serve"; others get only the common ones), the
 * samples refold_up{worker} 1 and refold_build_info{version} 1, and turns
 * the process metrics on. Idempotent. */
void rf_metrics_declare_worker(const char *worker, const char *version);

void rf_metrics_counter_add(const char *name, const char *labels, uint64_t n);
/* Sets a counter to a total kept elsewhere (a worker's stats); a counter
 * never goes down, so a smaller value is ignored. */
void rf_metrics_counter_set(const char *name, const char *labels, uint64_t total);
void rf_metrics_gauge_set(const char *name, const char *labels, double v);
void rf_metrics_gauge_add(const char *name, const char *labels, double v);
void rf_metrics_observe(const char *name, const char *labels, double v);

/* Formats labels from NULL-terminated key, value pairs:
 * rf_metrics_labels(buf, sizeof buf, "outcome", "applied", "partition", "3", NULL)
 * gives `outcome="applied",partition="3"`. Values are escaped (\\, \", \n).
 * Returns RF_ERR_OVERSIZE when it does not fit cap (or RF_METRICS_LABELS_MAX). */
rf_err_t rf_metrics_labels(char *buf, size_t cap, ...) __attribute__((sentinel));

/* Hooks called before each exposition (e.g. mirror a worker's stats into
 * gauges). At most 8; RF_ERR_CONFIG beyond. */
typedef void(rf_metrics_hook_t)(void *opaque);
rf_err_t rf_metrics_add_hook(rf_metrics_hook_t *fn, void *opaque);
void rf_metrics_remove_hook(rf_metrics_hook_t *fn, void *opaque);

/* The exposition (text format 0.0.4), malloc'ed; *len gets its length.
 * Runs the hooks first. NULL when out of memory. */
char *rf_metrics_render(size_t *len);

/* Serves GET /metrics on bind_addr:port (bind_addr NULL: every interface;
 * an IPv4 address otherwise; port 0: any free port) from a libmicrohttpd
 * thread. One server per process: RF_ERR_CONFIG if one runs. */
rf_err_t rf_metrics_serve(const char *bind_addr, int port, rf_errbuf_t *eb);
/* The same from "ADDR:PORT": a numeric IPv4 address ("0.0.0.0:9464" for
 * every interface) or a bracketed IPv6 one ("[::]:9464"). */
rf_err_t rf_metrics_serve_listen(const char *listen, rf_errbuf_t *eb);
/* The port served (after port 0), or -1 when not serving. */
int rf_metrics_port(void);
void rf_metrics_stop(void); /* no-op when not serving */

/* Drops every family, series and hook (tests). Not while serving. */
void rf_metrics_reset(void);

#endif
