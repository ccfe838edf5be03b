/* rf_fold_stats.c: the fold worker's latency histogram (fixed log-linear
 * buckets) and its one-line summary. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "rf_fold_worker.h"

/* Buckets 0..7 hold 0..7 us exactly; above, 8 buckets per power of two. */
static int bucket_of(uint64_t us)
{
    if (us < 8) return (int)us;
    int e = 63 - __builtin_clzll(us); /* >= 3 */
    int idx = 8 + (e - 3) * 8 + (int)((us >> (e - 3)) & 7);
    return idx < RF_FOLD_HIST_BUCKETS ? idx : RF_FOLD_HIST_BUCKETS - 1;
}

static uint64_t bucket_upper(int idx)
{
    if (idx < 8) return (uint64_t)idx;
    int e = (idx - 8) / 8 + 3;
    uint64_t lower = (uint64_t)(8 + (idx - 8) % 8) << (e - 3);
    return lower + (UINT64_C(1) << (e - 3)) - 1;
}

void rf_fold_hist_add(rf_fold_hist_t *h, uint64_t us)
{
    int idx = bucket_of(us);
    RF_ASSERT(idx >= 0 && idx < RF_FOLD_HIST_BUCKETS);
    h->buckets[idx]++;
    h->count++;
    h->sum_us += us;
    if (us > h->max_us) h->max_us = us;
}

uint64_t rf_fold_hist_quantile(const rf_fold_hist_t *h, double q)
{
    RF_ASSERT(q > 0 && q <= 1);
    if (h->count == 0) return 0;
    uint64_t want = (uint64_t)ceil(q * (double)h->count);
    if (want < 1) want = 1;
    uint64_t seen = 0;
    for (int i = 0; i < RF_FOLD_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= want) {
            uint64_t up = bucket_upper(i);
            return up < h->max_us ? up : h->max_us;
        }
    }
    return h->max_us;
}

void rf_fold_stats_format(const rf_fold_stats_t *st, bool json, char *buf, size_t cap)
{
    double secs = (double)st->elapsed_ns / 1e9;
    double busy = (double)(st->elapsed_ns - st->assigned_ns) / 1e9; /* not the group join */
    double rate = busy > 0 ? (double)st->consumed / busy : 0;
    int64_t lag = 0;
    for (int i = 0; i < st->nparts; i++)
        lag += st->parts[i].lag;
    const char *f =
        json ? "{\"consumed\":%" PRIu64 ",\"applied\":%" PRIu64 ",\"rejected\":%" PRIu64
               ",\"duplicate\":%" PRIu64 ",\"dead_lettered\":%" PRIu64 ",\"batches\":%" PRIu64
               ",\"elapsed_s\":%.3f,\"events_per_s\":%.0f,\"commit_p50_us\":%" PRIu64
               ",\"commit_p99_us\":%" PRIu64 ",\"commit_p999_us\":%" PRIu64
               ",\"cycle_p50_us\":%" PRIu64 ",\"cycle_p99_us\":%" PRIu64
               ",\"cycle_p999_us\":%" PRIu64 ",\"outbox_sent\":%" PRIu64
               ",\"outbox_acked\":%" PRIu64 ",\"partitions\":%d,\"lag\":%" PRId64 "}"
             : "consumed=%" PRIu64 " applied=%" PRIu64 " rejected=%" PRIu64 " duplicate=%" PRIu64
               " dead_lettered=%" PRIu64 " batches=%" PRIu64
               " elapsed_s=%.3f events_per_s=%.0f commit_p50_us=%" PRIu64 " commit_p99_us=%" PRIu64
               " commit_p999_us=%" PRIu64 " cycle_p50_us=%" PRIu64 " cycle_p99_us=%" PRIu64
               " cycle_p999_us=%" PRIu64 " outbox_sent=%" PRIu64 " outbox_acked=%" PRIu64
               " partitions=%d lag=%" PRId64;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(
        buf, cap, f, st->consumed, st->outcomes[RF_OUTCOME_APPLIED],
        st->outcomes[RF_OUTCOME_REJECTED], st->outcomes[RF_OUTCOME_DUPLICATE],
        st->outcomes[RF_OUTCOME_DEAD_LETTER], st->batches, secs, rate,
        rf_fold_hist_quantile(&st->commit_us, 0.5), rf_fold_hist_quantile(&st->commit_us, 0.99),
        rf_fold_hist_quantile(&st->commit_us, 0.999), rf_fold_hist_quantile(&st->cycle_us, 0.5),
        rf_fold_hist_quantile(&st->cycle_us, 0.99), rf_fold_hist_quantile(&st->cycle_us, 0.999),
        st->outbox_sent, st->outbox_acked, st->nparts, lag);
#pragma GCC diagnostic pop
}
