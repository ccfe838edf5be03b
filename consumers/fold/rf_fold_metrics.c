/* rf_fold_metrics.c: the fold worker's stats and outcomes mirrored into
 * refold's Prometheus registry (common/rf_metrics.h). */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include "rf_fold_worker.h"
#include "rf_metrics.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static bool by_reason[RF_OUTCOME__COUNT]; /* rf_metrics_fold_outcome was used */

static void part_label(char *buf, size_t cap, int32_t p)
{
    char num[16];
    snprintf(num, sizeof num, "%d", (int)p);
    rf_metrics_labels(buf, cap, "partition", num, NULL);
}

void rf_metrics_fold_outcome(rf_outcome_t outcome, rf_err_t err)
{
    RF_ASSERT(outcome < RF_OUTCOME__COUNT);
    char labels[RF_METRICS_LABELS_MAX + 1];
    bool why = outcome == RF_OUTCOME_REJECTED || outcome == RF_OUTCOME_DEAD_LETTER;
    rf_metrics_labels(labels, sizeof labels, "outcome", rf_outcome_name(outcome), "reason",
                      why ? rf_err_str(err) : "", NULL);
    pthread_mutex_lock(&mu);
    by_reason[outcome] = true;
    pthread_mutex_unlock(&mu);
    rf_metrics_counter_add(RF_METRIC_EVENTS, labels, 1);
}

void rf_metrics_from_fold_stats(const rf_fold_stats_t *st)
{
    RF_ASSERT(st != NULL && st->nparts <= RF_PARTITIONS_MAX);
    rf_metrics_counter_set(RF_METRIC_EVENTS_CONSUMED, NULL, st->consumed);
    for (int o = 0; o < RF_OUTCOME__COUNT; o++) {
        pthread_mutex_lock(&mu);
        bool counted = by_reason[o];
        pthread_mutex_unlock(&mu);
        if (counted) continue; /* the worker counts this outcome per reason itself */
        char labels[RF_METRICS_LABELS_MAX + 1];
        bool why = o == RF_OUTCOME_REJECTED || o == RF_OUTCOME_DEAD_LETTER;
        rf_metrics_labels(labels, sizeof labels, "outcome", rf_outcome_name(o), "reason",
                          why ? "unspecified" : "", NULL);
        rf_metrics_counter_set(RF_METRIC_EVENTS, labels, st->outcomes[o]);
    }
    rf_metrics_counter_set(RF_METRIC_BATCHES, NULL, st->batches);
    rf_metrics_counter_set(RF_METRIC_LEDGER_COMMITS, NULL, st->ledger_commits);
    rf_metrics_counter_set(RF_METRIC_DLQ_PRODUCED, NULL, st->dlq_produced);
    rf_metrics_counter_set(RF_METRIC_OUTBOX_SENT, NULL, st->outbox_sent);
    rf_metrics_counter_set(RF_METRIC_OUTBOX_FAILED, NULL, st->outbox_failed);
    rf_metrics_counter_set(RF_METRIC_REBALANCES, NULL, st->rebalances);
    uint64_t backlog = 0;
    for (int i = 0; i < st->nparts; i++) {
        const rf_fold_part_stats_t *p = &st->parts[i];
        char labels[64];
        part_label(labels, sizeof labels, p->partition);
        rf_metrics_gauge_set(RF_METRIC_CONSUMER_LAG, labels, (double)p->lag);
        rf_metrics_gauge_set(RF_METRIC_LEDGER_HEAD_SEQ, labels, (double)p->head_seq);
        if (p->head_seq > p->outbox_seq) backlog += p->head_seq - p->outbox_seq;
    }
    rf_metrics_gauge_set(RF_METRIC_OUTBOX_BACKLOG, NULL, (double)backlog);
}
