/* rf_loadgen_cmd.c: `refold loadgen`: synthetic traffic to JSON lines or
 * straight to Kafka, paced or flat out, throttled on a consumer group's lag
 * so the embedded broker never drops unconsumed events. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "rf_cmd_opt.h"
#include "rf_commands.h"
#include "rf_kafka.h"
#include "rf_jsonl.h"
#include "rf_lag.h"
#include "rf_loadgen.h"
#include "rf_producer.h"

#define LG "refold loadgen: "

typedef struct lg_opts {
    rf_loadgen_conf_t gen;
    rf_kafka_opts_t kafka;
    const char *out; /* JSON lines file, "-" = stdout */
    const char *topic;
    const char *lag_group;
    int64_t lag_max;     /* messages per partition */
    int64_t lag_wait_ms; /* wait for a first commit before stopping */
    uint64_t rate;       /* events/s, 0 = flat out */
    bool progress, no_throttle;
    bool json;                  /* the summary as one JSON object, errors as JSON lines */
    const char *root_key;       /* --root-key: the trust root's private key */
    const char *write_root;     /* --write-trust-root: its public key, for `fold --trust-root` */
    const char *root_seed_text; /* --root-seed: derive the root from this seed */
    uint64_t root_seed;
    bool root_seed_given;
} lg_opts_t;

/* The generator's trust root: --root-key, --root-seed or --seed; writes its
 * public key (--write-trust-root). Returns -1 to go on, or the exit status. */
static int lg_root(lg_opts_t *o)
{
    rf_errbuf_t eb = {{0}};
    rf_loadgen_conf_t c = o->gen;
    if (o->root_seed_given) c.seed = o->root_seed;
    rf_sign_key_t *k =
        o->root_key ? rf_sign_key_load(o->root_key, &eb) : rf_loadgen_root_key(&c, &eb);
    if (!k) {
        fprintf(stderr, LG "%s\n", eb.msg);
        return 2;
    }
    rf_sign_key_seed(k, o->gen.root_seed);
    o->gen.root_seed_set = true;
    rf_err_t err = o->write_root ? rf_sign_key_write(k, NULL, o->write_root, &eb) : RF_OK;
    rf_sign_key_destroy(k);
    if (err) {
        fprintf(stderr, LG "%s\n", eb.msg);
        return 1;
    }
    return -1;
}

typedef struct lg_run {
    lg_opts_t *o;
    rf_loadgen_t *gen;
    rf_producer_t *prod;
    rf_lag_t *lag;
    FILE *out;
    FILE *report; /* where the summary goes: stdout, or stderr when stdout has the events */
    uint64_t start_ns, last_progress_ns, last_progress_events;
    int64_t allowance; /* events to produce before measuring lag again */
    int64_t last_committed_sum;
    uint64_t last_commit_ns;
    uint64_t first_wait_ns; /* when waiting for a first commit began, or 0 */
    uint64_t failed_reported;
    bool tty, stopped;
} lg_run_t;

static volatile sig_atomic_t lg_interrupted;
static void lg_on_signal(int sig)
{
    (void)sig;
    lg_interrupted = 1;
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    rf_errbuf_t eb;
    return rf_loadgen_parse_fixed(s, 0, max, out, &eb) == RF_OK && !strchr(s, '.') &&
           !strchr(s, '%');
}

static rf_err_t parse_start(const char *s, int64_t *ms, rf_errbuf_t *eb)
{
    uint64_t v;
    if (parse_u64(s, INT64_MAX, &v)) {
        *ms = (int64_t)v;
        return RF_OK;
    }
    return rf_time_parse(s, ms, eb);
}

/* --click-rate and the other probabilities into the uint32_t ppm at opt->value. */
static rf_err_t opt_ppm(const rf_opt_t *opt, const char *arg, rf_errbuf_t *eb)
{
    rf_errbuf_t teb = {{0}};
    if (rf_loadgen_parse_ppm(arg, opt->value, &teb) == RF_OK) return RF_OK;
    return rf_errf(eb, RF_ERR_CONFIG, "--%s: '%s' is not a probability (0..1 or N%%)",
                   opt->long_name, arg);
}

static rf_err_t opt_start(const rf_opt_t *opt, const char *arg, rf_errbuf_t *eb)
{
    rf_errbuf_t teb = {{0}};
    if (parse_start(arg, opt->value, &teb) == RF_OK) return RF_OK;
    return rf_errf(eb, RF_ERR_CONFIG, "--start: %s", teb.msg);
}

static rf_err_t opt_prefix(const rf_opt_t *opt, const char *arg, rf_errbuf_t *eb)
{
    rf_loadgen_conf_t *g = opt->value;
    if (rf_strlcpy(g->prefix, arg, sizeof g->prefix) == RF_OK) return RF_OK;
    return rf_errf(eb, RF_ERR_CONFIG, "--prefix: at most %zu characters", sizeof g->prefix - 1);
}

static rf_err_t opt_share_rate(const rf_opt_t *opt, const char *arg, rf_errbuf_t *eb)
{
    rf_errbuf_t teb = {{0}};
    uint64_t v = 0;
    rf_err_t err = rf_loadgen_parse_fixed(arg, 3, 1000000000, &v, &teb);
    if (err != RF_OK || v == 0)
        return rf_errf(eb, RF_ERR_CONFIG, "--share-rate: '%s' must be a number >= 0.001", arg);
    *(uint32_t *)opt->value = (uint32_t)v;
    return RF_OK;
}

#define LG_PPM(name, field, def_text, h)                                                           \
    RF_OPT_CALLBACK(0, name, &g->field, "P", opt_ppm, h, .def = def_text)

static const char lg_desc[] =
    "Generates deterministic synthetic referral traffic: the same options and --seed\n"
    "give byte-identical events. Writes JSON lines (for refold emit) or publishes to\n"
    "Kafka, throttled on a consumer group's lag (the embedded broker keeps only the\n"
    "last 5 MiB / 100,000 batches per partition).\n"
    "Probabilities P are 0..1 or percentages (\"2%\").";

/* Returns -1 to go on, or the exit status. */
static int parse_args(lg_opts_t *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    rf_loadgen_conf_t *g = &o->gen;
    rf_loadgen_conf_init(g);
    o->topic = RF_TOPIC_EVENTS;
    o->lag_group = "refold-fold";
    o->lag_max = RF_MOCK_LAG_MAX;
    int64_t lag_wait_s = RF_LOADGEN_FIRST_COMMIT_WAIT_MS / 1000, clock_s = g->clock_ms / 1000;
    const rf_opt_t opts[] = {
        RF_OPT_GROUP("output:"),
        RF_OPT_STR(0, "out", &o->out, "FILE|-", "write JSON lines ('-' = stdout)"),
        RF_OPT_STR(0, "brokers", &o->kafka.brokers, "HOST:PORT",
                   "publish to Kafka (key = program id)"),
        RF_CMD_OPT_X(&o->kafka),
        RF_OPT_STR(0, "topic", &o->topic, "T", "topic"),
        RF_OPT_U64_RANGE(0, "rate", &o->rate, 1, 100000000, "R", "events per second",
                         .def = "flat out"),
        RF_OPT_BOOL(0, "progress", &o->progress, "progress line on stderr", .def = "when a tty"),
        RF_OPT_BOOL(0, "json", &o->json,
                    "the summary as one JSON object (on stdout, or stderr when\n"
                    "the events go to stdout), errors as {\"error\":{...}} lines"),
        RF_OPT_STR(0, "lag-group", &o->lag_group, "G", "consumer group to throttle on"),
        RF_OPT_I64_RANGE(0, "lag-max", &o->lag_max, 1, RF_MOCK_LAG_MAX, "N",
                         "max unconsumed events per partition"),
        RF_OPT_I64_RANGE(0, "lag-wait", &lag_wait_s, 0, 3600, "S",
                         "at the cap, wait S seconds for the group's first\n"
                         "commit before stopping"),
        RF_OPT_BOOL(0, "no-throttle", &o->no_throttle,
                    "do not watch lag (a real Kafka with retention)"),
        RF_OPT_GROUP("traffic:"),
        RF_OPT_U64_RANGE(0, "seed", &g->seed, 0, UINT64_MAX, "N", "PRNG seed"),
        RF_OPT_U64_RANGE(0, "events", &g->events, 0, UINT64_MAX / 2, "N", "total events"),
        RF_OPT_INT_RANGE(0, "programs", &g->programs, 1, RF_LOADGEN_PROGRAMS_MAX, "N",
                         "programs, each with its ProgramConfigured"),
        RF_OPT_INT_RANGE(0, "referrers", &g->referrers, 1, RF_LOADGEN_REFERRERS_MAX, "N",
                         "referrers per program"),
        RF_OPT_CALLBACK(0, "start", &g->start_ms, "TIME", opt_start,
                        "event time of the first event, RFC 3339 or Unix ms",
                        .def = "2026-01-01T00:00:00Z"),
        RF_OPT_CALLBACK(0, "prefix", g, "P", opt_prefix, "program ids are P-p1, P-p2, ...",
                        .def = "lg"),
        RF_OPT_CALLBACK(0, "share-rate", &g->share_rate_milli, "R", opt_share_rate,
                        "shares per referrer per day", .def = "1"),
        LG_PPM("click-rate", click_ppm, "0.3", "each of 8 viewers of a share clicks"),
        LG_PPM("signup-rate", signup_ppm, "0.25", "a click leads to a signup"),
        LG_PPM("purchase-rate", purchase_ppm, "0.6", "a signup leads to a purchase"),
        LG_PPM("repeat-rate", repeat_ppm, "0.3", "a purchase is followed by another"),
        LG_PPM("refund-rate", refund_ppm, "0.05", "a purchase is refunded"),
        LG_PPM("partial-refund-rate", partial_ppm, "0.5", "a refund is partial"),
        LG_PPM("redemption-rate", redemption_ppm, "0.3", "a referrer redeems after a reward"),
        LG_PPM("review-rate", review_ppm, "0.5", "a suspicious referral gets a review decision"),
        LG_PPM("adjustment-rate", adjustment_ppm, "0.002", "per share, a finance adjustment"),
        LG_PPM("organic-rate", organic_ppm, "0.3", "per share, an unreferred signup"),
        LG_PPM("fraud-share", fraud_ppm, "0.02", "shares that start a fraud pattern"),
        RF_OPT_I64_RANGE(0, "clock-interval", &clock_s, 1, 366 * 86400, "S",
                         "Clock heartbeat per program, seconds"),
        RF_OPT_GROUP("authority (privileged events are signed, docs/security.md):"),
        RF_OPT_STR(0, "root-key", &o->root_key, "FILE",
                   "the trust root's private key (PEM) that registers the\n"
                   "generator's operator keys",
                   .def = "derived from --seed"),
        RF_OPT_STR(0, "root-seed", &o->root_seed_text, "S",
                   "derive the root from seed S instead (add traffic to a\n"
                   "demo's data: its root is derived from the demo's --seed)"),
        RF_OPT_STR(0, "write-trust-root", &o->write_root, "FILE",
                   "write the root's public key (PEM): 'refold fold\n"
                   "--trust-root FILE' then applies this traffic's privileged\n"
                   "events"),
        RF_OPT_HELP(),
        RF_OPT_END(),
    };
    const rf_opt_cmd_t cmd = {
        "loadgen", "refold loadgen (--out FILE|- | --brokers HOST:PORT) [options]", lg_desc, opts,
        0,         .notes = {rf_kafka_forced_help(RF_KAFKA_EVENTS_PRODUCER)}};
    int n = rf_opt_parse(&cmd, argc, argv);
    if (n < 0) return rf_opt_status(n);
    o->lag_wait_ms = lag_wait_s * 1000;
    g->clock_ms = clock_s * 1000;
    o->root_seed_given = o->root_seed_text != NULL;
    int64_t rs = 0;
    if (o->root_seed_text &&
        rf_parse_i64(o->root_seed_text, 0, INT64_MAX, &rs, NULL, NULL) != RF_OK) {
        fprintf(stderr, LG "--root-seed '%s' is not a seed\n", o->root_seed_text);
        return 2;
    }
    o->root_seed = (uint64_t)rs;
    if (o->root_key && o->root_seed_given) {
        fprintf(stderr, LG "give at most one of --root-key and --root-seed\n");
        return 2;
    }
    if (!o->out == !o->kafka.brokers) {
        rf_cmd_error("loadgen", o->json, RF_ERR_CONFIG,
                     "give exactly one of --out FILE and --brokers HOST:PORT");
        return 2;
    }
    return -1;
}

/* ---- publishing ---- */

static void lg_on_delivery(const rf_delivery_t *d, void *opaque)
{
    lg_run_t *r = opaque;
    if (d->err == RF_OK) return;
    /* The first few failures in detail; the summary has the count. */
    if (r->failed_reported++ < 10)
        rf_cmd_error("loadgen", r->o->json, d->err, "event %s of %s not delivered: %s", d->event_id,
                     d->program_id, d->errmsg);
}

static int open_outputs(lg_run_t *r, rf_errbuf_t *eb)
{
    lg_opts_t *o = r->o;
    r->report = stdout;
    if (o->out) {
        bool std = !strcmp(o->out, "-");
        r->out = std ? stdout : fopen(o->out, "w");
        if (!r->out) return rf_errf(eb, RF_ERR_IO, "cannot open '%s'", o->out), 1;
        if (std) r->report = stderr;
        setvbuf(r->out, NULL, _IOFBF, 1 << 20);
        return 0;
    }
    rf_producer_conf_t pc;
    rf_producer_conf_init(&pc);
    pc.kafka = o->kafka;
    pc.topic = o->topic;
    pc.on_delivery = lg_on_delivery;
    pc.event_time_stamps = true; /* synthetic history: see rf_producer.h */
    pc.opaque = r;
    if (!(r->prod = rf_producer_new(&pc, eb))) return 1;
    if (!o->no_throttle && !(r->lag = rf_lag_new(&o->kafka, o->lag_group, o->topic, eb))) return 1;
    return 0;
}

/* The per-partition bound: --lag-max events, and the mock's bytes: what
 * RF_MOCK_LAG_BYTES_MAX holds at the average event size so far (uncompressed:
 * a safe side of what the broker stores). */
static int64_t lag_cap(const lg_run_t *r)
{
    rf_producer_stats_t st;
    rf_producer_stats(r->prod, &st);
    int64_t avg = st.emitted >= 100 ? (int64_t)(st.bytes / st.emitted) : 256;
    int64_t by_bytes = RF_MOCK_LAG_BYTES_MAX / (avg > 0 ? avg : 1);
    return r->o->lag_max < by_bytes ? r->o->lag_max : by_bytes;
}

static void stop_msg(lg_run_t *r, const rf_lag_sample_t *s, int64_t cap)
{
    if (r->o->json) {
        rf_cmd_error("loadgen", true, RF_ERR_RETRY,
                     "stopping: partition %d of %s holds %" PRId64
                     " unconsumed events (limit %" PRId64
                     ") and consumer group '%s' has committed no offsets",
                     s->max_partition, r->o->topic, s->max_lag, cap, r->o->lag_group);
        return;
    }
    fprintf(stderr,
            LG "stopping: partition %d of %s holds %" PRId64 " unconsumed events (limit %" PRId64
               ") and consumer group '%s' has committed no offsets.\n" LG
               "the embedded broker keeps only the last 5 MiB / 100,000 batches per partition, so "
               "more events would be lost.\n" LG
               "start the fold (it commits as group '%s'), name another group with --lag-group, "
               "or pass --no-throttle for a Kafka with real retention.\n",
            s->max_partition, r->o->topic, s->max_lag, cap, r->o->lag_group, r->o->lag_group);
}

/* No room under the cap: wait a little (RF_OK: measure again) or give the
 * reason to stop. Events in flight count as lag until delivered, so first
 * let them land; a group that never committed gets lag_wait_ms to start; a
 * group that stops committing, RF_LOADGEN_STALL_MS. */
static rf_err_t at_cap(lg_run_t *r, const rf_lag_sample_t *s, int64_t cap, rf_errbuf_t *eb)
{
    uint64_t now = rf_now_ns();
    if (lg_interrupted) return rf_errf(eb, RF_ERR_RETRY, "interrupted");
    if (rf_producer_outq_len(r->prod) > 0) {
        rf_producer_flush(r->prod, 1000, NULL);
        return RF_OK;
    }
    if (!s->any_committed) {
        if (r->first_wait_ns == 0) {
            r->first_wait_ns = now;
            fprintf(stderr,
                    LG "at the lag cap; waiting up to %" PRId64
                       " s for consumer group '%s' to commit\n",
                    r->o->lag_wait_ms / 1000, r->o->lag_group);
        }
        if (now - r->first_wait_ns >= (uint64_t)r->o->lag_wait_ms * 1000000u) {
            stop_msg(r, s, cap);
            r->stopped = true;
            return RF_ERR_RETRY;
        }
    } else if (s->committed_sum != r->last_committed_sum || r->last_commit_ns == 0) {
        r->last_committed_sum = s->committed_sum;
        r->last_commit_ns = now;
    } else if (now - r->last_commit_ns > (uint64_t)RF_LOADGEN_STALL_MS * 1000000u) {
        return rf_errf(eb, RF_ERR_TIMEOUT,
                       "consumer group '%s' made no progress for %d s with %" PRId64
                       " events unconsumed in partition %d",
                       r->o->lag_group, RF_LOADGEN_STALL_MS / 1000, s->max_lag, s->max_partition);
    }
    rf_producer_poll(r->prod, 50); /* a measurement costs ~1 ms per partition */
    return RF_OK;
}

/* Called before each event when throttling: produces freely while there is
 * room under the cap (counting events in flight as if all went to the
 * fullest partition); at the cap, waits until the group has consumed a
 * quarter of it (at_cap). A group that never committed may fill the cap to
 * the last event. Bounded by at_cap's time limits. */
static rf_err_t throttle(lg_run_t *r, rf_errbuf_t *eb)
{
    if (r->allowance-- > 0) return RF_OK;
    for (;;) {
        rf_lag_sample_t s;
        rf_err_t err = rf_lag_measure(r->lag, 10000, &s, eb);
        if (err != RF_OK) return err;
        int64_t cap = lag_cap(r), room = cap - s.max_lag - rf_producer_outq_len(r->prod);
        RF_ASSERT(cap > 0);
        if (room > 0 && (room >= cap / 4 || !s.any_committed)) {
            r->allowance = room - 1;
            return RF_OK;
        }
        if ((err = at_cap(r, &s, cap, eb)) != RF_OK) return err;
    }
}

static rf_err_t publish(lg_run_t *r, const rf_event_t *ev, rf_errbuf_t *eb)
{
    rf_err_t err = RF_OK;
    if (r->lag && (err = throttle(r, eb)) != RF_OK) return err;
    for (int tries = 0; tries < RF_PRODUCER_RETRY_MAX; tries++) {
        err = rf_producer_emit(r->prod, ev, NULL, eb);
        if (err != RF_ERR_RETRY) break;
    }
    return err;
}

/* Flushes, giving up after RF_PRODUCER_RETRY_MAX seconds. */
static rf_err_t flush_all(lg_run_t *r, rf_errbuf_t *eb)
{
    rf_err_t err = RF_OK;
    for (int i = 0; i < RF_PRODUCER_RETRY_MAX; i++)
        if ((err = rf_producer_flush(r->prod, 1000, eb)) != RF_ERR_TIMEOUT) break;
    return err;
}

/* ---- pacing, progress, summary ---- */

/* --rate: event i is due at start + i/R; wait (serving delivery reports)
 * until then. */
static void pace(lg_run_t *r, uint64_t i)
{
    uint64_t due = r->start_ns + (uint64_t)((unsigned __int128)i * 1000000000u / r->o->rate);
    for (uint64_t now = rf_now_ns(); now < due && !lg_interrupted; now = rf_now_ns()) {
        uint64_t wait_ms = (due - now) / 1000000u;
        if (r->prod) {
            rf_producer_poll(r->prod, wait_ms > 100 ? 100 : (int)wait_ms);
        } else {
            struct timespec ts = {0, (long)(due - now < 100000000u ? due - now : 100000000u)};
            nanosleep(&ts, NULL);
        }
    }
}

static void progress(lg_run_t *r, uint64_t events, bool final)
{
    if (!r->tty && !r->o->progress) return;
    uint64_t now = rf_now_ns();
    if (!final && now - r->last_progress_ns < 1000000000u) return;
    double secs = (double)(now - r->last_progress_ns) / 1e9;
    double rate = secs > 0 ? (double)(events - r->last_progress_events) / secs : 0;
    if (final) {
        if (r->tty) fputc('\n', stderr);
        return;
    }
    fprintf(stderr, "%sloadgen: %" PRIu64 " events, %.0f events/s%s", r->tty ? "\r" : "", events,
            rate, r->tty ? "   " : "\n");
    fflush(stderr);
    r->last_progress_ns = now;
    r->last_progress_events = events;
}

/* --json: the summary's numbers as one object. */
static void summary_json(lg_run_t *r, const rf_loadgen_stats_t *st)
{
    json_t *by = json_object();
    for (int t = 0; t < RF_EV__COUNT; t++)
        json_object_set_new(by, rf_jsonl_type_name((rf_event_type_t)t),
                            json_integer((json_int_t)st->by_type[t]));
    double secs = (double)(rf_now_ns() - r->start_ns) / 1e9;
    json_t *o = json_pack("{s:I, s:o, s:I, s:I, s:f, s:f}", "events", (json_int_t)st->events,
                          "by_type", by, "fraud_patterns", (json_int_t)st->fraud_journeys,
                          "dropped_follow_ups", (json_int_t)st->dropped, "elapsed_s", secs,
                          "events_per_s", secs > 0 ? (double)st->events / secs : 0.0);
    if (o && r->prod) {
        rf_producer_stats_t ps;
        rf_producer_stats(r->prod, &ps);
        json_object_set_new(o, "sent", json_integer((json_int_t)ps.emitted));
        json_object_set_new(o, "delivered", json_integer((json_int_t)ps.delivered));
        json_object_set_new(o, "failed", json_integer((json_int_t)ps.failed));
        json_object_set_new(o, "bytes", json_integer((json_int_t)ps.bytes));
    }
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    if (text) fprintf(r->report, "%s\n", text);
    free(text);
    json_decref(o);
    fflush(r->report);
}

static void summary(lg_run_t *r)
{
    rf_loadgen_stats_t st;
    rf_loadgen_stats(r->gen, &st);
    if (r->o->json) {
        summary_json(r, &st);
        return;
    }
    FILE *f = r->report;
    fprintf(f, "loadgen: generated %" PRIu64 " events:", st.events);
    for (int t = 0; t < RF_EV__COUNT; t++)
        fprintf(f, "%s %s %" PRIu64, t ? "," : "", rf_jsonl_type_name((rf_event_type_t)t),
                st.by_type[t]);
    fprintf(f, "\nloadgen: fraud patterns %" PRIu64 ", dropped follow-ups %" PRIu64 "\n",
            st.fraud_journeys, st.dropped);
    if (r->prod) {
        rf_producer_stats_t ps;
        rf_producer_stats(r->prod, &ps);
        fprintf(f,
                "loadgen: sent %" PRIu64 ", delivered %" PRIu64 ", failed %" PRIu64 ", %" PRIu64
                " bytes\n",
                ps.emitted, ps.delivered, ps.failed, ps.bytes);
    }
    double secs = (double)(rf_now_ns() - r->start_ns) / 1e9;
    fprintf(f, "loadgen: elapsed %.2f s, %.0f events/s\n", secs,
            secs > 0 ? (double)st.events / secs : 0.0);
    fflush(f);
}

/* The generate-and-send loop; returns RF_OK when every event was produced. */
static rf_err_t generate(lg_run_t *r, rf_errbuf_t *eb)
{
    rf_event_t *ev = malloc(sizeof *ev);
    if (!ev) return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    rf_err_t err = RF_OK;
    for (uint64_t i = 0; !lg_interrupted; i++) {
        if ((err = rf_loadgen_next(r->gen, ev)) != RF_OK) {
            if (err == RF_ERR_NOT_FOUND)
                err = RF_OK;
            else
                rf_errf(eb, err, "generator failed");
            break;
        }
        if (r->o->rate) pace(r, i);
        err = r->out ? rf_jsonl_write(r->out, ev, eb) : publish(r, ev, eb);
        if (err != RF_OK) break;
        if ((i & 1023) == 0) progress(r, i, false);
    }
    if (err == RF_OK && lg_interrupted) err = rf_errf(eb, RF_ERR_RETRY, "interrupted");
    free(ev);
    return err;
}

static rf_err_t finish(lg_run_t *r, rf_errbuf_t *eb)
{
    if (r->out) {
        bool bad = fflush(r->out) != 0 || ferror(r->out);
        if (r->out != stdout && fclose(r->out) != 0) bad = true;
        r->out = NULL;
        return bad ? rf_errf(eb, RF_ERR_IO, "cannot write '%s'", r->o->out) : RF_OK;
    }
    rf_err_t err = flush_all(r, eb);
    rf_producer_stats_t ps;
    rf_producer_stats(r->prod, &ps);
    if (err == RF_OK && ps.failed > 0)
        err = rf_errf(eb, RF_ERR_KAFKA, "%" PRIu64 " events not delivered", ps.failed);
    return err;
}

int rf_cmd_loadgen(int argc, char **argv)
{
    lg_opts_t o;
    int rc = parse_args(&o, argc, argv);
    if (rc >= 0) return rc;
    if ((rc = lg_root(&o)) >= 0) return rc;
    rf_errbuf_t eb = {{0}};
    lg_run_t r = {.o = &o, .tty = isatty(2) == 1};
    lg_interrupted = 0;
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = lg_on_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    r.gen = rf_loadgen_new(&o.gen, &eb);
    rf_err_t err = r.gen && open_outputs(&r, &eb) == 0 ? RF_OK : RF_ERR_CONFIG;
    if (err == RF_OK) {
        r.start_ns = r.last_progress_ns = rf_now_ns();
        err = generate(&r, &eb);
        rf_errbuf_t feb = {{0}};
        rf_err_t ferr = finish(&r, &feb);
        progress(&r, 0, true);
        if (err != RF_OK && !r.stopped) rf_cmd_error("loadgen", o.json, err, "%s", eb.msg);
        if (ferr != RF_OK) rf_cmd_error("loadgen", o.json, ferr, "%s", feb.msg);
        if (err == RF_OK) err = ferr;
        summary(&r);
    } else {
        rf_cmd_error("loadgen", o.json, err, "%s", eb.msg);
    }
    if (r.out && r.out != stdout) fclose(r.out);
    rf_lag_destroy(r.lag);
    rf_producer_destroy(r.prod);
    rf_loadgen_destroy(r.gen);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return err == RF_OK ? 0 : 1;
}
