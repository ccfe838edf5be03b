/* rf_fold_gen.h: helpers shared by the fold tests and the fold benchmark: a
 * small deterministic event generator (programs configured first, then
 * activity, purchases, adjustments and redemptions of known programs), a raw
 * librdkafka producer for encoded events, and ledger head reading.
 * Header-only (static functions): included by it_fold.c, it_fold_crash.c,
 * bench_fold.c and bench_e2e.c (which share the report at the end). Failures
 * of the helpers themselves abort (RF_ASSERT). */
#ifndef RF_FOLD_GEN_H
#define RF_FOLD_GEN_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <librdkafka/rdkafka.h>

#include "rf_codec.h"
#include "rf_kafka.h"
#include "rf_event.h"
#include "rf_ledger.h"
#include "rf_fold_worker.h"
#include "rf_loadgen.h"

#define FG_PROGRAMS_MAX 1024

typedef struct fg {
    uint64_t seed;
    uint64_t i; /* index of the next event */
    int programs;
    int partitions;
    bool configured[FG_PROGRAMS_MAX];
} fg_t;

static inline uint64_t fg_mix(uint64_t x)
{
    /* splitmix64's finalizer: a fixed bijection, good enough to spread */
    x += UINT64_C(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

static inline void fg_init(fg_t *g, uint64_t seed, int programs, int partitions)
{
    RF_ASSERT(programs > 0 && programs <= FG_PROGRAMS_MAX && partitions > 0);
    memset(g, 0, sizeof *g);
    g->seed = seed;
    g->programs = programs;
    g->partitions = partitions;
}

static inline void fg_program_id(int prog, char *out, size_t cap)
{
    snprintf(out, cap, "fg-p%03d", prog);
}

static inline void fg_uuid(uint64_t a, uint64_t b, char out[RF_UUID_STR_LEN + 1])
{
    snprintf(out, RF_UUID_STR_LEN + 1,
             "%08" PRIx32 "-%04" PRIx32 "-4%03" PRIx32 "-8%03" PRIx32 "-%012" PRIx64,
             (uint32_t)(a >> 32), (uint32_t)(a >> 16) & 0xffff, (uint32_t)a & 0xfff,
             (uint32_t)(b >> 52) & 0xfff, b & UINT64_C(0xffffffffffff));
}

static const char fg_rules[] = "{\"name\":\"fold test\",\"currency\":\"USD\","
                               "\"referrer_reward\":{\"type\":\"fixed\",\"amount_minor\":1000},"
                               "\"friend_reward\":{\"type\":\"fixed\",\"amount_minor\":500}}";

/* Fills ev with event number g->i and its partition (program % partitions). */
static inline void fg_next(fg_t *g, rf_event_t *ev, int32_t *partition)
{
    uint64_t r = fg_mix(g->seed * UINT64_C(1000003) + g->i);
    uint64_t r2 = fg_mix(r);
    int prog = (int)(r % (uint64_t)g->programs);
    rf_event_clear(ev);
    fg_uuid(r2, fg_mix(r2 + g->i), ev->event_id);
    fg_program_id(prog, ev->program_id, sizeof ev->program_id);
    ev->occurred_at_ms = INT64_C(1767225600000) + (int64_t)g->i * 1000;
    snprintf(ev->source, sizeof ev->source, "fold-gen");
    *partition = prog % g->partitions;
    unsigned user = (unsigned)(r2 >> 8) % 500, ref = (unsigned)(r2 >> 20) % 100;
    int64_t amount = 100 + (int64_t)((r2 >> 32) % 4900);
    g->i++;
    if (!g->configured[prog]) {
        g->configured[prog] = true;
        ev->type = RF_EV_PROGRAM_CONFIGURED;
        ev->version = 1;
        snprintf(ev->rules_json, sizeof ev->rules_json, "%s", fg_rules);
        return;
    }
    switch ((r >> 40) % 10) {
    case 0:
        ev->type = RF_EV_CODE_ISSUED;
        snprintf(ev->referrer, sizeof ev->referrer, "r%04u", ref);
        snprintf(ev->code, sizeof ev->code, "C-R%04u", ref);
        break;
    case 1:
        ev->type = RF_EV_SHARE;
        snprintf(ev->referrer, sizeof ev->referrer, "r%04u", ref);
        snprintf(ev->channel, sizeof ev->channel, "%s", (r2 & 1) ? "email" : "link");
        break;
    case 2:
        ev->type = RF_EV_CLICK;
        snprintf(ev->code, sizeof ev->code, "C-R%04u", ref);
        snprintf(ev->visitor, sizeof ev->visitor, "v%06u", (unsigned)(r2 % 100000));
        break;
    case 3:
        ev->type = RF_EV_SIGNUP;
        snprintf(ev->user, sizeof ev->user, "u%05u", user);
        snprintf(ev->code, sizeof ev->code, "C-R%04u", ref);
        break;
    case 4:
    case 5:
        ev->type = RF_EV_PURCHASE;
        snprintf(ev->user, sizeof ev->user, "u%05u", user);
        snprintf(ev->order_id, sizeof ev->order_id, "o-%" PRIu64, g->i);
        snprintf(ev->asset, sizeof ev->asset, "USD");
        ev->amount_minor = amount * 10;
        break;
    case 6:
    case 7:
        ev->type = RF_EV_ADJUSTMENT;
        snprintf(ev->user, sizeof ev->user, "u%05u", user);
        snprintf(ev->asset, sizeof ev->asset, "USD");
        snprintf(ev->reason, sizeof ev->reason, "goodwill");
        snprintf(ev->actor, sizeof ev->actor, "finance-bot");
        ev->amount_minor = amount;
        break;
    case 8:
        ev->type = RF_EV_REDEMPTION;
        snprintf(ev->user, sizeof ev->user, "u%05u", user);
        snprintf(ev->asset, sizeof ev->asset, "USD");
        snprintf(ev->request_id, sizeof ev->request_id, "req-%" PRIu64, g->i);
        ev->amount_minor = amount; /* sometimes more than available: rejected */
        break;
    default:
        ev->type = RF_EV_CLOCK;
        break;
    }
}

/* ---- producing ---------------------------------------------------------- */

typedef struct fg_prod {
    rd_kafka_t *rk;
    rf_codec_t *codec;
    rf_event_t *ev;
    long delivered, failed;
} fg_prod_t;

static void fg_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    fg_prod_t *p = opaque;
    if (m->err)
        p->failed++;
    else
        p->delivered++;
}

/* compression: "none" for tests, "lz4" for the benchmark (the mock keeps 5 MiB
 * per partition, counted compressed). */
static inline void fg_prod_open(fg_prod_t *p, const char *brokers, const char *compression)
{
    char errstr[512];
    memset(p, 0, sizeof *p);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[] = {"bootstrap.servers",
                        brokers,
                        "enable.idempotence",
                        "true",
                        "linger.ms",
                        "20",
                        "batch.num.messages",
                        "10000",
                        "batch.size",
                        "1000000",
                        "compression.type",
                        compression,
                        "queue.buffering.max.messages",
                        "500000",
                        NULL};
    for (int i = 0; kv[i]; i += 2)
        RF_ASSERT(rd_kafka_conf_set(conf, kv[i], kv[i + 1], errstr, sizeof errstr) ==
                  RD_KAFKA_CONF_OK);
    rd_kafka_conf_set_dr_msg_cb(conf, fg_dr);
    rd_kafka_conf_set_opaque(conf, p);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    RF_ASSERT(p->rk);
    rf_errbuf_t eb = {{0}};
    p->codec = rf_codec_new(&eb);
    RF_ASSERT(p->codec);
    p->ev = malloc(sizeof *p->ev);
    RF_ASSERT(p->ev);
}

static inline void fg_prod_raw(fg_prod_t *p, const char *topic, int32_t partition, const void *key,
                               size_t klen, const void *val, size_t vlen)
{
    for (;;) {
        rd_kafka_resp_err_t err =
            rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                              RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_VALUE((void *)val, vlen),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            RF_ASSERT(err == RD_KAFKA_RESP_ERR_NO_ERROR);
            break;
        }
        rd_kafka_poll(p->rk, 10);
    }
    rd_kafka_poll(p->rk, 0);
}

static inline void fg_prod_event(fg_prod_t *p, const char *topic, int32_t partition,
                                 const rf_event_t *ev)
{
    uint8_t buf[RF_EVENT_BYTES_MAX];
    size_t len = 0;
    rf_errbuf_t eb = {{0}};
    rf_err_t err =
        rf_codec_encode_event(p->codec, ev, RF_SCHEMA_ID_EVENT, buf, sizeof buf, &len, &eb);
    if (err != RF_OK) fprintf(stderr, "fold gen: encode: %s\n", eb.msg);
    RF_ASSERT(err == RF_OK);
    fg_prod_raw(p, topic, partition, ev->program_id, strlen(ev->program_id), buf, len);
}

/* Produces the next n events of g. */
static inline void fg_prod_events(fg_prod_t *p, const char *topic, fg_t *g, uint64_t n)
{
    for (uint64_t k = 0; k < n; k++) {
        int32_t part;
        fg_next(g, p->ev, &part);
        fg_prod_event(p, topic, part, p->ev);
    }
}

/* `loadgen` traffic: a generator of `total` events with this seed and
 * program count (default rates and rules). */
static inline rf_loadgen_t *fg_loadgen_new(uint64_t seed, int programs, uint64_t total)
{
    rf_loadgen_conf_t c;
    rf_loadgen_conf_init(&c);
    c.seed = seed;
    c.events = total;
    c.programs = programs;
    rf_errbuf_t eb = {{0}};
    rf_loadgen_t *g = rf_loadgen_new(&c, &eb);
    if (!g) fprintf(stderr, "fold gen: loadgen: %s\n", eb.msg);
    RF_ASSERT(g);
    return g;
}

/* Produces the next n events of g (fewer at its end), keyed by program id
 * and partitioned by librdkafka's default partitioner. Returns the count. */
static inline uint64_t fg_prod_loadgen(fg_prod_t *p, const char *topic, rf_loadgen_t *g, uint64_t n)
{
    uint64_t k = 0;
    while (k < n && rf_loadgen_next(g, p->ev) == RF_OK) {
        fg_prod_event(p, topic, RD_KAFKA_PARTITION_UA, p->ev);
        k++;
    }
    return k;
}

/* Flushes; returns the number of failed deliveries so far. */
static inline long fg_prod_flush(fg_prod_t *p)
{
    while (rd_kafka_outq_len(p->rk) > 0)
        rd_kafka_flush(p->rk, 1000);
    return p->failed;
}

static inline void fg_prod_close(fg_prod_t *p)
{
    fg_prod_flush(p);
    rd_kafka_destroy(p->rk);
    rf_codec_destroy(p->codec);
    free(p->ev);
}

/* ---- reading back --------------------------------------------------------- */

/* Low and high watermarks of every partition of topic (n partitions). */
static inline void fg_watermarks(const char *brokers, const char *topic, int n, int64_t *lo,
                                 int64_t *hi)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    RF_ASSERT(rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr) ==
              RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    RF_ASSERT(rk);
    for (int i = 0; i < n; i++)
        RF_ASSERT(rd_kafka_query_watermark_offsets(rk, topic, i, &lo[i], &hi[i], 10000) == 0);
    rd_kafka_destroy(rk);
}

/* Heads of partitions 0..n-1 under data (read-only opens; a missing ledger
 * reads as empty with next_offset -1). */
static inline void fg_heads(const char *data, int n, rf_ledger_head_t *heads)
{
    for (int i = 0; i < n; i++) {
        rf_errbuf_t eb = {{0}};
        memset(&heads[i], 0, sizeof heads[i]);
        heads[i].partition = i;
        heads[i].next_offset = -1;
        rf_ledger_t *l = rf_ledger_open(data, i, RF_LEDGER_READONLY, &eb);
        if (!l) continue;
        RF_ASSERT(rf_ledger_head(l, &heads[i], &eb) == RF_OK);
        rf_ledger_close(l);
    }
}

/* ---- the fold benchmarks' report (bench_fold, bench_e2e) ------------------ */

/* CPU seconds (user + system) of this process so far. */
static inline double fg_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static inline long fg_peak_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* What both benchmarks report about a fold run: the machine is shared, so
 * CPU seconds (less sensitive to other load than wall time) come with the
 * wall figures. cpu_s < 0: not measured (a fold in another process). */
typedef struct fg_report {
    uint64_t events;
    double elapsed_s;
    double cpu_s;     /* this process over the run (fold, and producer/broker if in it) */
    uint64_t batches; /* poll cycles that committed */
    rf_fold_hist_t commit, cycle;
    uint64_t pct[6];             /* commit p50/p99/p999, cycle p50/p99/p999 (us) */
    uint64_t fold_ns, commit_ns; /* thread time in rf_ledger_fold / rf_ledger_commit */
    long peak_rss_kb;
} fg_report_t;

/* Adds one worker's stats (several workers: call for each). */
static inline void fg_report_add(fg_report_t *r, const rf_fold_stats_t *st)
{
    rf_fold_hist_t *into[2] = {&r->commit, &r->cycle};
    const rf_fold_hist_t *from[2] = {&st->commit_us, &st->cycle_us};
    for (int i = 0; i < 2; i++) {
        into[i]->count += from[i]->count;
        into[i]->sum_us += from[i]->sum_us;
        if (from[i]->max_us > into[i]->max_us) into[i]->max_us = from[i]->max_us;
        for (int k = 0; k < RF_FOLD_HIST_BUCKETS; k++)
            into[i]->buckets[k] += from[i]->buckets[k];
    }
    r->batches += st->batches;
    r->fold_ns += st->fold_ns;
    r->commit_ns += st->commit_ns;
    const double q[3] = {0.5, 0.99, 0.999};
    for (int i = 0; i < 6; i++)
        r->pct[i] = rf_fold_hist_quantile(i < 3 ? &r->commit : &r->cycle, q[i % 3]);
}

/* The report's JSON members (no braces: the caller adds its own). */
static inline void fg_report_json(FILE *f, const fg_report_t *r)
{
    double rate = r->elapsed_s > 0 ? (double)r->events / r->elapsed_s : 0;
    fprintf(f,
            "\"events\":%" PRIu64 ",\"events_per_s\":%.0f,\"elapsed_s\":%.3f,\"batches\":%" PRIu64
            ",\"commit_p50_us\":%" PRIu64 ",\"commit_p99_us\":%" PRIu64
            ",\"commit_p999_us\":%" PRIu64 ",\"cycle_p50_us\":%" PRIu64 ",\"cycle_p99_us\":%" PRIu64
            ",\"cycle_p999_us\":%" PRIu64 ",\"peak_rss_kb\":%ld",
            r->events, rate, r->elapsed_s, r->batches, r->pct[0], r->pct[1], r->pct[2], r->pct[3],
            r->pct[4], r->pct[5], r->peak_rss_kb);
    if (r->cpu_s >= 0)
        fprintf(f, ",\"cpu_s\":%.3f,\"events_per_cpu_s\":%.0f", r->cpu_s,
                r->cpu_s > 0 ? (double)r->events / r->cpu_s : 0);
    if (r->fold_ns || r->commit_ns)
        fprintf(f, ",\"fold_thread_s\":%.3f,\"commit_thread_s\":%.3f", (double)r->fold_ns / 1e9,
                (double)r->commit_ns / 1e9);
}

/* The same as text lines; cpu_what says whose CPU cpu_s counts. */
static inline void fg_report_text(FILE *f, const fg_report_t *r, const char *cpu_what)
{
    double n = (double)r->events;
    fprintf(f, "fold: %.0f events/s (%" PRIu64 " events in %.3f s, %" PRIu64 " batches)\n",
            r->elapsed_s > 0 ? n / r->elapsed_s : 0, r->events, r->elapsed_s, r->batches);
    fprintf(f,
            "partition commit latency: p50 %" PRIu64 " us, p99 %" PRIu64 " us, p999 %" PRIu64
            " us\ncycle commit latency:     p50 %" PRIu64 " us, p99 %" PRIu64 " us, p999 %" PRIu64
            " us\n",
            r->pct[0], r->pct[1], r->pct[2], r->pct[3], r->pct[4], r->pct[5]);
    if (r->cpu_s >= 0)
        fprintf(f, "cpu: %.3f s (%s) = %.0f events per cpu-second, %.2f us per event\n", r->cpu_s,
                cpu_what, r->cpu_s > 0 ? n / r->cpu_s : 0, r->cpu_s * 1e6 / n);
    if (r->fold_ns || r->commit_ns)
        fprintf(f,
                "fold thread time: rf_ledger_fold %.3f s, rf_ledger_commit %.3f s (%.2f + %.2f us "
                "per event; wall time of the threads, with their waits)\n",
                (double)r->fold_ns / 1e9, (double)r->commit_ns / 1e9, (double)r->fold_ns / 1e3 / n,
                (double)r->commit_ns / 1e3 / n);
    fprintf(f, "peak RSS: %ld KiB\n", r->peak_rss_kb);
}

#endif
