/* rf_project_metrics.c: the projection worker's stats mirrored into refold's
 * Prometheus registry (common/rf_metrics.h). */
#include <stdio.h>

#include "rf_metrics.h"
#include "rf_project_worker.h"

static void part_label(char *buf, size_t cap, int32_t p)
{
    char num[16];
    snprintf(num, sizeof num, "%d", (int)p);
    rf_metrics_labels(buf, cap, "partition", num, NULL);
}

void rf_metrics_from_project_stats(const rf_project_stats_t *st)
{
    RF_ASSERT(st != NULL && st->nparts <= RF_PARTITIONS_MAX);
    rf_metrics_counter_set(RF_METRIC_PROJECTION_RECORDS, NULL, st->records);
    rf_metrics_counter_set(RF_METRIC_PROJECTION_DUPLICATES, NULL, st->duplicates);
    rf_metrics_counter_set(RF_METRIC_PROJECTION_COMMITS, NULL, st->commits);
    for (int i = 0; i < st->nparts; i++) {
        const rf_project_part_stats_t *p = &st->parts[i];
        if (!p->assigned) continue;
        char labels[64];
        part_label(labels, sizeof labels, p->partition);
        rf_metrics_gauge_set(RF_METRIC_PROJECTION_LAG, labels, (double)p->lag);
        rf_metrics_gauge_set(RF_METRIC_PROJECTION_APPLIED_SEQ, labels, (double)p->applied_seq);
    }
}
