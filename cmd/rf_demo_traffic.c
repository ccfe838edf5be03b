/* rf_demo_traffic.c: `refold demo` publishes the example programs and the
 * loadgen traffic from one thread (so a seed gives one per-partition order),
 * throttled so that the embedded broker never drops what a worker has not
 * read, and waits until the fold and the projection have everything. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "rf_demo_int.h"
#include "rf_producer.h"
#include "rf_rules.h"
#include <unistd.h>

/* Loadgen's own programs (lg-p1..lg-p4: its four rule shapes); the example
 * programs take over the traffic of the programs after them. */
#define LOADGEN_OWN_PROGRAMS 4
/* Throttle and progress checks every this many events: a stats snapshot
 * costs a few tens of KiB of copying, nothing next to 1024 events. */
#define CHECK_EVERY 1024

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- the traffic: loadgen, with some programs remapped -------------------- */

/* Sets up the loadgen configuration: its own programs plus one per example
 * program, whose id, rules and assets the demo substitutes. */
static rf_err_t traffic_conf(rf_demo_run_t *r, rf_errbuf_t *eb)
{
    rf_loadgen_conf_init(&r->lg);
    r->lg.seed = r->o->seed;
    if (r->o->root_key) {
        rf_sign_key_t *k = rf_sign_key_load(r->o->root_key, eb);
        if (!k) return RF_ERR_CONFIG;
        rf_sign_key_seed(k, r->lg.root_seed);
        r->lg.root_seed_set = true;
        rf_sign_key_destroy(k);
    }
    r->lg.events = r->o->events;
    r->lg.programs = LOADGEN_OWN_PROGRAMS + r->progs->n;
    for (int i = 0; i < r->progs->n; i++) {
        rf_demo_program_t *p = &r->progs->p[i];
        snprintf(p->lg_id, sizeof p->lg_id, "%s-p%d", r->lg.prefix, LOADGEN_OWN_PROGRAMS + i + 1);
        for (int k = 1; k <= r->lg.programs; k++) {
            char lid[RF_ID_BUF];
            snprintf(lid, sizeof lid, "%s-p%d", r->lg.prefix, k);
            if (!strcmp(lid, p->id))
                return rf_errf(eb, RF_ERR_CONFIG,
                               "example program id '%s' (%s) is also a loadgen program id", p->id,
                               p->file);
        }
    }
    return RF_OK;
}

/* Moves an event of a remapped loadgen program to its example program: the
 * program id, the rules (in place of loadgen's ProgramConfigured, same event
 * id and time) and the currencies and reward asset. */
static bool remap(const rf_demo_programs_t *ps, rf_event_t *ev)
{
    const rf_demo_program_t *p = NULL;
    for (int i = 0; i < ps->n && !p; i++)
        if (!strcmp(ev->program_id, ps->p[i].lg_id)) p = &ps->p[i];
    if (!p) return false;
    RF_ASSERT(p->id[0] && p->rules_json);
    snprintf(ev->program_id, sizeof ev->program_id, "%s", p->id);
    switch (ev->type) {
    case RF_EV_PROGRAM_CONFIGURED:
        ev->version = p->version;
        RF_ASSERT(strlen(p->rules_json) <= RF_RULES_MAX);
        memcpy(ev->rules_json, p->rules_json, strlen(p->rules_json) + 1);
        break;
    case RF_EV_PURCHASE:
    case RF_EV_REFUND:
        snprintf(ev->asset, sizeof ev->asset, "%s", p->currency);
        break;
    case RF_EV_REDEMPTION:
    case RF_EV_ADJUSTMENT:
        snprintf(ev->asset, sizeof ev->asset, "%s", p->reward_asset);
        break;
    default:
        break;
    }
    return true;
}

rf_err_t rf__demo_trust(rf_demo_run_t *r, rf_errbuf_t *eb)
{
    rf_err_t err = traffic_conf(r, eb);
    if (err != RF_OK) return err;
    rf_sign_key_t *root = rf_loadgen_root_key(&r->lg, eb);
    if (!root) return RF_ERR_CONFIG;
    static rf_rules_trust_t t; /* installed for the process: one demo at a time */
    memset(&t, 0, sizeof t);
    t.enforce = true;
    t.nroots = 1;
    rf_sign_key_public(root, t.roots[0]);
    rf_rules_trust_set(&t);
    char path[RF_DEMO_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", r->o->data_dir, RF_DEMO_TRUST_FILE);
    unlink(path); /* rewritten each run: the public key of this run's root */
    err = rf_sign_key_write(root, NULL, path, eb);
    rf_sign_key_destroy(root);
    return err;
}

/* ---- delivery reports ---------------------------------------------------- */

/* The partition of a program's events: the producer's partitioner
 * (murmur2_random, rf_producer.h) computed here too, so the throttle knows
 * each partition's events in flight before they are delivered. */
static int32_t partition_of(const rf_demo_run_t *r, const char *program_id)
{
    int32_t p = rd_kafka_msg_partitioner_murmur2_random(NULL, program_id, strlen(program_id),
                                                        r->o->partitions, NULL, NULL);
    RF_ASSERT(p >= 0 && p < r->o->partitions);
    return p;
}

static void on_delivery(const rf_delivery_t *d, void *opaque)
{
    rf_demo_run_t *r = opaque;
    if (d->err != RF_OK) {
        if (!r->failed++)
            snprintf(r->delivery_error, sizeof r->delivery_error, "event %s of '%s': %s",
                     d->event_id, d->program_id, d->errmsg);
        return;
    }
    RF_ASSERT(d->partition >= 0 && d->partition < RF_PARTITIONS_MAX);
    RF_ASSERT(d->offset >= 0);
    if (d->partition != partition_of(r, d->program_id) && !r->partition_mismatch++)
        snprintf(r->delivery_error, sizeof r->delivery_error,
                 "program '%s' went to partition %d, not %d (partitioner changed?)", d->program_id,
                 (int)d->partition, (int)partition_of(r, d->program_id));
    r->delivered++;
    if (d->offset + 1 > r->end_offset[d->partition]) r->end_offset[d->partition] = d->offset + 1;
}

/* ---- workers' progress --------------------------------------------------- */

void rf__demo_snapshot(rf_demo_run_t *r)
{
    rf_fold_worker_stats(r->fold, &r->fs);
    rf_project_worker_stats(r->proj, &r->ps);
    if (r->wh) rf_wh_relay_stats(r->wh, &r->ws);
    rf_demo_timing_t *tm = &r->tm;
    uint64_t now = rf_now_ns();
    if (r->fs.consumed != tm->seen_consumed) {
        if (!tm->fold_first_ns) tm->fold_first_ns = now;
        tm->fold_last_ns = now;
        tm->seen_consumed = r->fs.consumed;
    }
    if (r->ps.records != tm->seen_records) {
        if (!tm->proj_first_ns) tm->proj_first_ns = now;
        tm->proj_last_ns = now;
        tm->seen_records = r->ps.records;
    }
}

uint64_t rf__demo_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t rf__demo_thread_cpu_ns(const rf_demo_thread_t *t)
{
    clockid_t cid;
    struct timespec ts;
    if (!t->started || pthread_getcpuclockid(t->tid, &cid) != 0 || clock_gettime(cid, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

rf_err_t rf__demo_check_workers(rf_demo_run_t *r, rf_errbuf_t *eb)
{
    rf_demo_thread_t *ts[3] = {&r->fold_t, &r->proj_t, &r->wh_t};
    const char *names[3] = {"fold worker", "projection worker", "webhook relay"};
    for (int i = 0; i < 3; i++) {
        if (!ts[i]->started || !atomic_load(&ts[i]->done)) continue;
        if (ts[i]->err != RF_OK)
            return rf_errf(eb, ts[i]->err, "%s failed: %s (%s)", names[i], ts[i]->eb.msg,
                           rf_err_str(ts[i]->err));
        return rf_errf(eb, RF_ERR_INTERNAL, "%s stopped before the end", names[i]);
    }
    return RF_OK;
}

/* Per partition of the last snapshot: events published (delivered or in
 * flight) but not yet durably folded, ledger records not yet projected, and
 * the records each unfolded event is expected to become, in hundredths (the
 * partition's ratio so far plus a margin, rf_limits.h). */
static void lags(const rf_demo_run_t *r, int64_t ev_lag[], int64_t rec_lag[], int64_t rpe100[])
{
    uint64_t head[RF_PARTITIONS_MAX] = {0}, applied[RF_PARTITIONS_MAX] = {0};
    int64_t next[RF_PARTITIONS_MAX] = {0};
    for (int i = 0; i < r->fs.nparts; i++) {
        const rf_fold_part_stats_t *p = &r->fs.parts[i];
        RF_ASSERT(p->partition >= 0 && p->partition < RF_PARTITIONS_MAX);
        next[p->partition] = p->next_offset < 0 ? 0 : p->next_offset;
        head[p->partition] = p->head_seq;
    }
    for (int i = 0; i < r->ps.nparts; i++) {
        const rf_project_part_stats_t *p = &r->ps.parts[i];
        if (p->partition >= 0 && p->partition < RF_PARTITIONS_MAX)
            applied[p->partition] = p->applied_seq;
    }
    for (int p = 0; p < r->o->partitions; p++) {
        ev_lag[p] = (int64_t)r->emitted_p[p] - next[p];
        if (ev_lag[p] < 0) ev_lag[p] = 0;
        rec_lag[p] = head[p] > applied[p] ? (int64_t)(head[p] - applied[p]) : 0;
        /* the relay reads the same ledger: its lag is a sum over partitions,
         * counted whole against each (at worst it is all one partition's) */
        if (r->wh && r->ws.lag > rec_lag[p]) rec_lag[p] = r->ws.lag;
        int64_t rpe = 100 * RF_DEMO_RECORDS_PER_EVENT_EST;
        if (next[p] >= RF_DEMO_RPE_MIN_EVENTS) {
            rpe = (int64_t)head[p] * (100 + RF_DEMO_RPE_MARGIN_PCT) / next[p];
            if (rpe < 100) rpe = 100;
        }
        rpe100[p] = rpe;
    }
}

/* The messages a partition may hold unread: what the broker is measured to
 * keep of it (RF_DEMO_KEPT_PCT of the window between its watermarks once it
 * deletes, as records of the same kind follow) or, until it first deleted,
 * the larger of the estimate and that share of what it holds so far (all
 * of it fits in its RF_MOCK_LAG_BYTES_MAX plus margin). */
static int64_t room(int64_t kept, int64_t estimate)
{
    if (kept > 0) return kept * RF_DEMO_KEPT_PCT / 100;
    int64_t held = -kept * RF_DEMO_KEPT_PCT / 100;
    return held > estimate ? held : estimate;
}

/* -1 when the producer may publish another CHECK_EVERY events (all of
 * them, at worst, to one partition) without any partition of either topic
 * outgrowing what the mock keeps; else the bound that holds it
 * (RF_DEMO_HOLD_*). */
static int held_by(const rf_demo_run_t *r)
{
    int64_t ev_lag[RF_PARTITIONS_MAX], rec_lag[RF_PARTITIONS_MAX], rpe100[RF_PARTITIONS_MAX];
    lags(r, ev_lag, rec_lag, rpe100);
    int64_t ev_bytes = r->emitted ? (int64_t)(r->bytes / r->emitted) + 1 : 256;
    for (int p = 0; p < r->o->partitions; p++) {
        int64_t e = ev_lag[p] + CHECK_EVERY;
        if (e > RF_MOCK_LAG_MAX) return RF_DEMO_HOLD_EVENTS;
        if (e > room(r->kept[0][p], RF_MOCK_LAG_BYTES_MAX / ev_bytes))
            return RF_DEMO_HOLD_EVENT_BYTES;
        int64_t recs = rec_lag[p] + e * rpe100[p] / 100;
        if (recs > room(r->kept[1][p], RF_MOCK_LAG_BYTES_MAX / RF_DEMO_RECORD_BYTES_EST))
            return RF_DEMO_HOLD_LEDGER;
    }
    return -1;
}

/* Measures what the broker keeps of every partition that has messages
 * (ListOffsets: a round trip on loopback), at most every
 * RF_DEMO_KEPT_EVERY_MS. A failed query keeps the last measure. */
static void measure_kept(rf_demo_run_t *r, rf_producer_t *prod)
{
    uint64_t now = rf_now_ns();
    if (now - r->kept_ns < (uint64_t)RF_DEMO_KEPT_EVERY_MS * 1000000u) return;
    r->kept_ns = now;
    rd_kafka_t *rk = rf_producer_kafka(prod);
    uint64_t head[RF_PARTITIONS_MAX] = {0};
    for (int i = 0; i < r->fs.nparts; i++)
        head[r->fs.parts[i].partition] = r->fs.parts[i].head_seq;
    const char *topics[2] = {RF_TOPIC_EVENTS, RF_TOPIC_LEDGER};
    for (int t = 0; t < 2; t++) {
        for (int p = 0; p < r->o->partitions; p++) {
            if (t == 0 ? r->emitted_p[p] == 0 : head[p] == 0) continue;
            int64_t lo = -1, hi = -1;
            if (rd_kafka_query_watermark_offsets(rk, topics[t], p, &lo, &hi, 1000) != 0 || lo < 0 ||
                hi < lo)
                continue;
            r->kept[t][p] = lo > 0 ? hi - lo : -hi;
        }
    }
}

static bool may_publish(const rf_demo_run_t *r)
{
    return held_by(r) < 0;
}

/* A progress measure of the whole pipeline: it moves while anything moves. */
static uint64_t pipeline_position(const rf_demo_run_t *r)
{
    uint64_t pos = r->delivered + r->fs.consumed + r->ps.records + r->ws.records;
    for (int e = 0; e < r->ws.nendpoints; e++)
        pos += r->ws.endpoints[e].delivered + r->ws.endpoints[e].failed;
    for (int i = 0; i < r->fs.nparts; i++)
        pos += r->fs.parts[i].outbox_seq;
    return pos;
}

/* Waits (serving delivery reports, redrawing the progress) until cond
 * holds, a worker fails, or nothing moved for RF_DEMO_STALL_MS. */
static rf_err_t wait_until(rf_demo_run_t *r, rf_producer_t *prod,
                           bool (*cond)(const rf_demo_run_t *), const char *what, rf_errbuf_t *eb)
{
    uint64_t last_pos = UINT64_MAX, last_move_ns = rf_now_ns();
    for (;;) {
        if (*r->interrupted) return rf_errf(eb, RF_ERR_RETRY, "interrupted");
        rf__demo_snapshot(r);
        if (cond(r)) return RF_OK;
        rf_err_t err = rf__demo_check_workers(r, eb);
        if (err != RF_OK) return err;
        uint64_t pos = pipeline_position(r), now = rf_now_ns();
        if (pos != last_pos) {
            last_pos = pos;
            last_move_ns = now;
        } else if (now - last_move_ns > (uint64_t)RF_DEMO_STALL_MS * 1000000u) {
            return rf_errf(eb, RF_ERR_TIMEOUT, "no progress for %d s while waiting for %s",
                           RF_DEMO_STALL_MS / 1000, what);
        }
        rf__demo_progress(r, false);
        if (prod && cond == may_publish) measure_kept(r, prod);
        if (prod)
            rf_producer_poll(prod, 5);
        else
            sleep_ms(5);
    }
}

/* ---- publishing -------------------------------------------------------- */

static rf_err_t emit_one(rf_demo_run_t *r, rf_producer_t *prod, const rf_event_t *ev,
                         rf_errbuf_t *eb)
{
    RF_ASSERT(r->delivered + r->failed <= r->emitted);
    for (int attempt = 0; attempt < RF_PRODUCER_RETRY_MAX; attempt++) {
        rf_err_t err = rf_producer_emit(prod, ev, NULL, eb);
        if (err == RF_OK) {
            r->emitted++;
            return RF_OK;
        }
        if (err != RF_ERR_RETRY) return err;
        if ((err = rf__demo_check_workers(r, eb)) != RF_OK) return err;
    }
    return rf_errf(eb, RF_ERR_TIMEOUT, "the producer queue stayed full for %d s",
                   RF_PRODUCER_RETRY_MAX);
}

static rf_err_t publish_loop(rf_demo_run_t *r, rf_producer_t *prod, rf_loadgen_t *gen,
                             rf_errbuf_t *eb)
{
    static rf_event_t ev; /* 17 KiB: one event at a time, main thread only */
    rf_err_t err = RF_OK;
    while (err == RF_OK) {
        if (r->emitted % CHECK_EVERY == 0) {
            rf_producer_stats_t st;
            rf_producer_stats(prod, &st);
            r->bytes = st.bytes;
            rf__demo_snapshot(r);
            measure_kept(r, prod);
            int held = held_by(r);
            if (held >= 0) {
                uint64_t t0 = rf_now_ns();
                err = wait_until(r, prod, may_publish, "the workers to catch up", eb);
                r->tm.held_ns[held] += rf_now_ns() - t0;
                r->tm.holds++;
            }
            if (err != RF_OK) return err;
        }
        err = rf_loadgen_next(gen, &ev);
        if (err == RF_ERR_NOT_FOUND) return RF_OK;
        if (err != RF_OK) return rf_errf(eb, err, "loadgen: %s", rf_err_str(err));
        /* a moved event's signature covers its old fields: sign it again */
        if (remap(r->progs, &ev) && ev.auth_key_id[0] && (err = rf_loadgen_sign(gen, &ev)))
            return rf_errf(eb, err, "cannot sign event %s again", ev.event_id);
        int32_t part = partition_of(r, ev.program_id);
        err = emit_one(r, prod, &ev, eb);
        if (err == RF_OK) r->emitted_p[part]++;
        if (r->failed) return rf_errf(eb, RF_ERR_KAFKA, "delivery failed: %s", r->delivery_error);
        if (r->partition_mismatch) return rf_errf(eb, RF_ERR_INTERNAL, "%s", r->delivery_error);
    }
    return err;
}

static bool all_delivered(const rf_demo_run_t *r)
{
    return r->delivered + r->failed == r->emitted;
}

rf_err_t rf__demo_publish(rf_demo_run_t *r, rf_errbuf_t *eb)
{
    rf_err_t err = traffic_conf(r, eb);
    if (err != RF_OK) return err;
    rf_loadgen_t *gen = rf_loadgen_new(&r->lg, eb);
    if (!gen) return RF_ERR_CONFIG;
    rf_producer_conf_t pc;
    rf_producer_conf_init(&pc);
    pc.kafka.brokers = r->brokers;
    pc.event_time_stamps = true; /* loadgen's synthetic history: see rf_producer.h */
    pc.on_delivery = on_delivery;
    pc.opaque = r;
    rf_producer_t *prod = rf_producer_new(&pc, eb);
    if (!prod) {
        rf_loadgen_destroy(gen);
        return RF_ERR_KAFKA;
    }
    r->tm.publish_first_ns = rf_now_ns();
    err = publish_loop(r, prod, gen, eb);
    if (err == RF_OK) err = wait_until(r, prod, all_delivered, "delivery reports", eb);
    if (err == RF_OK && r->failed)
        err = rf_errf(eb, RF_ERR_KAFKA, "delivery failed: %s", r->delivery_error);
    if (err == RF_OK) r->publish_done_ns = rf_now_ns();
    rf_producer_flush(prod, err == RF_OK ? 10000 : 0, NULL);
    rf_producer_destroy(prod);
    rf_loadgen_destroy(gen);
    return err;
}

/* ---- the end: every stage has everything ------------------------------- */

static bool caught_up(const rf_demo_run_t *r)
{
    int64_t next[RF_PARTITIONS_MAX];
    uint64_t head[RF_PARTITIONS_MAX] = {0}, acked[RF_PARTITIONS_MAX] = {0},
             applied[RF_PARTITIONS_MAX] = {0};
    for (int p = 0; p < r->o->partitions; p++)
        next[p] = -2; /* not assigned */
    for (int i = 0; i < r->fs.nparts; i++) {
        const rf_fold_part_stats_t *p = &r->fs.parts[i];
        next[p->partition] = p->next_offset < 0 ? 0 : p->next_offset;
        head[p->partition] = p->head_seq;
        acked[p->partition] = p->outbox_seq;
    }
    for (int i = 0; i < r->ps.nparts; i++) {
        const rf_project_part_stats_t *p = &r->ps.parts[i];
        if (p->partition >= 0 && p->partition < RF_PARTITIONS_MAX)
            applied[p->partition] = p->applied_seq;
    }
    for (int p = 0; p < r->o->partitions; p++) {
        /* what was delivered is what was emitted, once the producer is done */
        RF_ASSERT(r->end_offset[p] <= (int64_t)r->emitted_p[p]);
        if (next[p] != r->end_offset[p] || acked[p] != head[p] || applied[p] != head[p])
            return false;
    }
    return true;
}

rf_err_t rf__demo_wait_caught_up(rf_demo_run_t *r, rf_errbuf_t *eb)
{
    rf_err_t err = wait_until(r, NULL, caught_up, "the fold and the projection", eb);
    r->end_ns = rf_now_ns();
    /* the workers' threads still run: their CPU clocks are valid until joined */
    r->tm.cpu_process_ns = rf__demo_cpu_ns() - r->tm.cpu0_process_ns;
    r->tm.cpu_fold_ns = rf__demo_thread_cpu_ns(&r->fold_t);
    r->tm.cpu_proj_ns = rf__demo_thread_cpu_ns(&r->proj_t);
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
        r->tm.cpu_main_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec -
                            r->tm.cpu_main_ns; /* held the start value */
    return err;
}

/* Every endpoint is disabled (nothing more will be sent until an operator
 * enables it): waiting longer shows nothing new. */
static bool webhooks_all_disabled(const rf_demo_run_t *r)
{
    for (int e = 0; e < r->ws.nendpoints; e++)
        if (!r->ws.endpoints[e].disabled) return false;
    return r->ws.nendpoints > 0;
}

/* The relay read the whole ledger and delivered it. Its lag alone does
 * not say so: before its group join hands it the partitions it holds none,
 * and the pipeline can be done by then; so every record the fold committed
 * must also have been read (one message each, a new data directory). */
static bool webhooks_drained(const rf_demo_run_t *r)
{
    uint64_t committed = 0;
    for (int i = 0; i < r->fs.nparts; i++)
        committed += r->fs.parts[i].head_seq;
    if (r->ws.lag != 0 || r->ws.records < committed) return false;
    /* and every message queued has ended (delivered or parked): a message
     * is counted queued before it is counted pending */
    uint64_t ended = 0;
    for (int e = 0; e < r->ws.nendpoints; e++) {
        if (r->ws.endpoints[e].pending > 0) return false;
        ended += r->ws.endpoints[e].delivered + r->ws.endpoints[e].parked;
    }
    return ended >= r->ws.messages;
}

rf_err_t rf__demo_wait_webhooks(rf_demo_run_t *r, rf_errbuf_t *eb)
{
    uint64_t last_pos = UINT64_MAX, last_move_ns = rf_now_ns();
    for (;;) {
        if (*r->interrupted) return rf_errf(eb, RF_ERR_RETRY, "interrupted");
        rf__demo_snapshot(r);
        if (webhooks_drained(r)) {
            r->wh_drained = true;
            break;
        }
        if (r->ws.lag == 0 && webhooks_all_disabled(r)) break;
        rf_err_t err = rf__demo_check_workers(r, eb);
        if (err != RF_OK) return err;
        uint64_t pos = pipeline_position(r), now = rf_now_ns();
        if (pos != last_pos) {
            last_pos = pos;
            last_move_ns = now;
        } else if (now - last_move_ns > (uint64_t)RF_DEMO_WH_STALL_MS * 1000000u) {
            break; /* a receiver that never answers: the report says what is pending */
        }
        rf__demo_progress(r, false);
        sleep_ms(5);
    }
    r->wh_done_ns = rf_now_ns();
    return RF_OK;
}

/* ---- progress lines ------------------------------------------------------ */

void rf__demo_num(uint64_t v, char out[32])
{
    char digits[24];
    int n = snprintf(digits, sizeof digits, "%" PRIu64, v), o = 0;
    RF_ASSERT(n > 0 && n < 24);
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0) out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
    RF_ASSERT(o < 32);
}

#define PROGRESS_LINES    3
#define PROGRESS_EVERY_NS 200000000u
#define RATE_WINDOW_NS    1000000000u

static void update_rates(rf_demo_run_t *r, uint64_t now)
{
    if (r->rate_t0_ns == 0) r->rate_t0_ns = r->start_ns;
    uint64_t dt = now - r->rate_t0_ns;
    if (dt < RATE_WINDOW_NS) return;
    double s = (double)dt / 1e9;
    r->rate_pub = (double)(r->delivered - r->rate_pub0) / s;
    r->rate_fold = (double)(r->fs.consumed - r->rate_fold0) / s;
    r->rate_proj = (double)(r->ps.records - r->rate_proj0) / s;
    r->rate_t0_ns = now;
    r->rate_pub0 = r->delivered;
    r->rate_fold0 = r->fs.consumed;
    r->rate_proj0 = r->ps.records;
}

/* Serialises the progress lines (main thread) and log lines (any thread). */
static pthread_mutex_t draw_mu = PTHREAD_MUTEX_INITIALIZER;
static rf_demo_run_t *draw_run; /* the run whose lines are on screen */

static void progress_clear(rf_demo_run_t *r)
{
    if (!r || !r->o->progress || !r->drawn) return;
    printf("\033[%dA\r\033[J", PROGRESS_LINES);
    fflush(stdout);
    r->drawn = false;
}

void rf__demo_progress_attach(rf_demo_run_t *r)
{
    pthread_mutex_lock(&draw_mu);
    draw_run = r;
    pthread_mutex_unlock(&draw_mu);
}

void rf__demo_log_line(const char *line)
{
    pthread_mutex_lock(&draw_mu);
    progress_clear(draw_run);
    fputs(line, stderr);
    fflush(stderr);
    pthread_mutex_unlock(&draw_mu);
}

static void draw(rf_demo_run_t *r);

void rf__demo_progress(rf_demo_run_t *r, bool force)
{
    if (!r->o->progress) return;
    uint64_t now = rf_now_ns();
    if (!force && r->drawn && now - r->last_draw_ns < PROGRESS_EVERY_NS) return;
    r->last_draw_ns = now;
    update_rates(r, now);
    pthread_mutex_lock(&draw_mu);
    draw(r);
    pthread_mutex_unlock(&draw_mu);
}

static void draw(rf_demo_run_t *r)
{
    int64_t ev_lag[RF_PARTITIONS_MAX], rec_lag[RF_PARTITIONS_MAX], rpe100[RF_PARTITIONS_MAX];
    lags(r, ev_lag, rec_lag, rpe100);
    uint64_t evl = 0, recl = 0;
    for (int p = 0; p < r->o->partitions; p++) {
        evl += (uint64_t)ev_lag[p];
        recl += (uint64_t)rec_lag[p];
    }
    char a[32], b[32], c[32], d[32];
    if (r->drawn) printf("\033[%dA", PROGRESS_LINES);
    rf__demo_num(r->delivered, a);
    rf__demo_num(r->o->events, b);
    rf__demo_num((uint64_t)r->rate_pub, c);
    printf("\r\033[K  published  %13s of %s events  %11s ev/s\n", a, b, c);
    rf__demo_num(r->fs.consumed, a);
    rf__demo_num((uint64_t)r->rate_fold, c);
    rf__demo_num(evl, d);
    printf("\r\033[K  folded     %13s events  %11s ev/s   lag %s events\n", a, c, d);
    rf__demo_num(r->ps.records, a);
    rf__demo_num((uint64_t)r->rate_proj, c);
    rf__demo_num(recl, d);
    printf("\r\033[K  projected  %13s records %11s rec/s  lag %s records\n", a, c, d);
    fflush(stdout);
    r->drawn = true;
}

void rf__demo_progress_clear(rf_demo_run_t *r)
{
    pthread_mutex_lock(&draw_mu);
    progress_clear(r);
    pthread_mutex_unlock(&draw_mu);
}
