/* bench_webhooks.c: the webhook relay's benchmark (docs/webhooks.md,
 * "Benchmark"; a program, not a timed test):
 *   1. deliveries/s: reward-dense traffic (gen_next) folded into refold.ledger first, then
 *      the relay (in-process, synced commits) delivers every record of every
 *      type to E endpoints on a local receiver that answers 204 at once
 *      (libmicrohttpd, in-process); messages / wall time from start to idle.
 *   2. latency: the same traffic published at a paced rate chosen to give
 *      --rewards-per-s reward records per second, with the fold and the
 *      projection workers running and the relay delivering: per
 *      reward.created webhook, the time from its source purchase being
 *      published (the producer's call) to the webhook arriving; p50/p99.
 * Usage: bench_webhooks [--events N] [--endpoints E] [--rewards-per-s R]
 *                       [--seconds S] [--skip-throughput] [--skip-latency] */
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_harness.h"
#include "rf_metrics.h"
#include "rf_webhooks.h"

#include "rf_fold_gen.h"

#define NPART  8
#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

/* ---- publish times by event id (open addressing, fixed size) ---- */
#define PUB_SLOTS (1u << 22)
static uint64_t *pub_key, *pub_ns;

static uint64_t id_hash(const char *id)
{
    return rf_hash64(id, strlen(id)) | 1;
}

static void pub_put(const char *id, uint64_t ns)
{
    uint64_t k = id_hash(id);
    for (uint64_t i = k % PUB_SLOTS;; i = (i + 1) % PUB_SLOTS) {
        uint64_t cur = __atomic_load_n(&pub_key[i], __ATOMIC_ACQUIRE);
        if (cur == 0 || cur == k) {
            __atomic_store_n(&pub_ns[i], ns, __ATOMIC_RELAXED);
            __atomic_store_n(&pub_key[i], k, __ATOMIC_RELEASE);
            return;
        }
    }
}

static uint64_t pub_get(const char *id)
{
    uint64_t k = id_hash(id);
    for (uint64_t i = k % PUB_SLOTS;; i = (i + 1) % PUB_SLOTS) {
        uint64_t cur = __atomic_load_n(&pub_key[i], __ATOMIC_ACQUIRE);
        if (cur == 0) return 0;
        if (cur == k) return __atomic_load_n(&pub_ns[i], __ATOMIC_RELAXED);
    }
}

/* ---- the receiver ---- */

#define LAT_MAX 2000000
static uint64_t received; /* atomic */
static pthread_mutex_t lat_mu = PTHREAD_MUTEX_INITIALIZER;
static double *lat_ms, *lat_warm_ms; /* all; published after the first 5 s */
static size_t nlat, nlat_warm;
static uint64_t lat_t0_ns; /* publishing started */
static bool measure_latency;

typedef struct conn {
    char body[RF_WEBHOOK_BODY_MAX + 1];
    size_t n;
} conn_t;

static void on_webhook(const char *body)
{
    __atomic_add_fetch(&received, 1, __ATOMIC_RELAXED);
    if (!measure_latency || !strstr(body, "\"type\":\"reward.created\"")) return;
    const char *e = strstr(body, "\"event_id\":\"");
    if (!e) return;
    char id[RF_UUID_STR_LEN + 1];
    memcpy(id, e + 12, RF_UUID_STR_LEN);
    id[RF_UUID_STR_LEN] = '\0';
    uint64_t t0 = pub_get(id), now = rf_now_ns();
    if (!t0) return;
    pthread_mutex_lock(&lat_mu);
    if (nlat < LAT_MAX) lat_ms[nlat++] = (double)(now - t0) / 1e6;
    if (t0 > lat_t0_ns + 5000000000ull && nlat_warm < LAT_MAX)
        lat_warm_ms[nlat_warm++] = (double)(now - t0) / 1e6;
    pthread_mutex_unlock(&lat_mu);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **con_cls)
{
    (void)cls, (void)url, (void)method, (void)version;
    conn_t *k = *con_cls;
    if (!k) {
        *con_cls = calloc(1, sizeof *k);
        return *con_cls ? MHD_YES : MHD_NO;
    }
    if (*size) {
        size_t room = RF_WEBHOOK_BODY_MAX - k->n, n = *size < room ? *size : room;
        memcpy(k->body + k->n, data, n);
        k->n += n;
        *size = 0;
        return MHD_YES;
    }
    k->body[k->n] = '\0';
    if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-signature")) on_webhook(k->body);
    struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, 204, r);
    MHD_destroy_response(r);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

static struct MHD_Daemon *receiver_start(uint16_t *port)
{
    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, handler,
                         NULL, MHD_OPTION_THREAD_POOL_SIZE, 2u, MHD_OPTION_CONNECTION_LIMIT, 1000u,
                         MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
    RF_ASSERT(d);
    *port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
    return d;
}

/* ---- the relay on a thread ---- */

typedef struct relay_run {
    rf_wh_opts_t o;
    rf_wh_relay_t *r;
    pthread_t th;
    rf_err_t err;
    rf_errbuf_t eb;
} relay_run_t;

static void *relay_main(void *arg)
{
    relay_run_t *rr = arg;
    rr->err = rf_wh_relay_run(rr->r, &rr->eb);
    return NULL;
}

static void relay_start(relay_run_t *rr, const char *brokers, const char *data,
                        const rf_wh_config_t *cfg, bool until_idle)
{
    memset(rr, 0, sizeof *rr);
    rr->o.kafka.brokers = brokers;
    rr->o.data_dir = data;
    rr->o.config = cfg;
    rr->o.exit_when_idle = until_idle;
    rr->o.nosync = getenv("BENCH_NOSYNC") != NULL;
    rr->o.npartitions = NPART;
    for (int i = 0; i < NPART; i++)
        rr->o.partitions[i] = i;
    rr->r = rf_wh_relay_new(&rr->o, &rr->eb);
    if (!rr->r) fprintf(stderr, "bench_webhooks: relay: %s\n", rr->eb.msg);
    RF_ASSERT(rr->r);
    RF_ASSERT(pthread_create(&rr->th, NULL, relay_main, rr) == 0);
}

static void relay_join(relay_run_t *rr)
{
    pthread_join(rr->th, NULL);
    if (rr->err) fprintf(stderr, "bench_webhooks: relay: %s\n", rr->eb.msg);
    RF_ASSERT(rr->err == RF_OK);
}

static void make_config(rf_wh_config_t *cfg, uint16_t port, int nep)
{
    char text[8192];
    size_t n = (size_t)snprintf(text, sizeof text, "{\"endpoints\":[");
    for (int i = 0; i < nep; i++)
        n += (size_t)snprintf(text + n, sizeof text - n,
                              "%s{\"id\":\"ep%d\",\"url\":\"http://127.0.0.1:%u/ep%d\","
                              "\"allow_http\":true,\"secrets\":[\"" SECRET "\"],"
                              "\"events\":[\"*\"],\"max_in_flight\":32}",
                              i ? "," : "", i, (unsigned)port, i);
    snprintf(text + n, sizeof text - n, "]}");
    rf_errbuf_t eb = {{0}};
    RF_ASSERT(rf_wh_config_parse(text, strlen(text), cfg, &eb) == RF_OK);
}

/* Traffic dense in rewards (loadgen's mix has ~3% reward records, and
 * 1,000 rewards/s from it is ~30,000 events/s, more than this 2-core machine
 * folds, projects and relays at once): 16 double-sided programs (fixed
 * rewards, no hold, no fraud checks), each friend signs up with a referrer's
 * issued code and buys once: two events, two rewards (referrer and friend). */
#define GEN_PROGRAMS  16
#define GEN_REFERRERS 800

typedef struct gen {
    uint64_t i, total, friend_;
    int phase; /* per friend: 0 code (first use of a referrer), 1 signup, 2 purchase */
} gen_t;

static bool gen_next(gen_t *g, rf_event_t *ev)
{
    if (g->i >= g->total) return false;
    rf_event_clear(ev);
    rf_event_id_new(ev->event_id);
    ev->occurred_at_ms = 1767225600000LL + (int64_t)g->i;
    g->i++;
    if (g->i <= GEN_PROGRAMS) {
        ev->type = RF_EV_PROGRAM_CONFIGURED;
        snprintf(ev->program_id, sizeof ev->program_id, "wb-p%02d", (int)(g->i - 1));
        ev->version = 1;
        rf_strlcpy(ev->rules_json, fg_rules, sizeof ev->rules_json);
        return true;
    }
    uint64_t j = g->friend_, r = j % (GEN_PROGRAMS * GEN_REFERRERS);
    snprintf(ev->program_id, sizeof ev->program_id, "wb-p%02d", (int)(r % GEN_PROGRAMS));
    if (g->phase == 0 && j >= GEN_PROGRAMS * GEN_REFERRERS) g->phase = 1;
    switch (g->phase) {
    case 0:
        ev->type = RF_EV_CODE_ISSUED;
        snprintf(ev->referrer, sizeof ev->referrer, "r%llu", (unsigned long long)r);
        snprintf(ev->code, sizeof ev->code, "C%llu", (unsigned long long)r);
        break;
    case 1:
        ev->type = RF_EV_SIGNUP;
        snprintf(ev->user, sizeof ev->user, "f%llu", (unsigned long long)j);
        snprintf(ev->code, sizeof ev->code, "C%llu", (unsigned long long)r);
        break;
    default:
        ev->type = RF_EV_PURCHASE;
        snprintf(ev->user, sizeof ev->user, "f%llu", (unsigned long long)j);
        snprintf(ev->order_id, sizeof ev->order_id, "o%llu", (unsigned long long)j);
        ev->amount_minor = 5000;
        rf_strlcpy(ev->asset, "USD", sizeof ev->asset);
        g->friend_++;
        g->phase = -1;
        break;
    }
    g->phase++;
    return true;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- 1. deliveries/s ---- */

typedef struct share {
    rf_codec_t *codec;
    rf_record_t rec;
    uint64_t rewards;
} share_t;

static void count_rewards(const rd_kafka_message_t *m, void *opaque)
{
    share_t *s = opaque;
    rf_errbuf_t eb = {{0}};
    if (rf_codec_decode_record(s->codec, m->payload, m->len, &s->rec, &eb) == RF_OK &&
        rf_wh_record_type(&s->rec) == RF_WH_REWARD_CREATED)
        s->rewards++;
}

static double reward_share; /* reward records per loadgen event, from phase 1 */

static void throughput(uint64_t events, int nep, uint16_t port)
{
    rf_errbuf_t eb = {{0}};
    rf_broker_t *b = rf_broker_start(NPART, 1, &eb);
    RF_ASSERT(b);
    const char *brokers = rf_broker_bootstraps(b);
    char data[256];
    rf_test_tmpdir("bench-webhooks", data, sizeof data);
    fg_prod_t p;
    fg_prod_open(&p, brokers, "none");
    gen_t g = {.total = events};
    while (gen_next(&g, p.ev))
        fg_prod_event(&p, RF_TOPIC_EVENTS, RD_KAFKA_PARTITION_UA, p.ev);
    RF_ASSERT(fg_prod_flush(&p) == 0);
    fg_prod_close(&p);
    static rf_fold_worker_conf_t c;
    rf_fold_worker_conf_init(&c);
    c.kafka.brokers = brokers;
    c.data_dir = data;
    c.exit_at_end = true;
    c.npartitions = NPART;
    for (int i = 0; i < NPART; i++)
        c.partitions[i] = i;
    rf_fold_worker_t *w = rf_fold_worker_new(&c, &eb);
    RF_ASSERT(w && rf_fold_worker_run(w, &eb) == RF_OK);
    rf_fold_worker_destroy(w);

    static rf_wh_config_t cfg;
    make_config(&cfg, port, nep);
    static relay_run_t rr;
    __atomic_store_n(&received, 0, __ATOMIC_RELAXED);
    uint64_t t0 = rf_now_ns();
    relay_start(&rr, brokers, data, &cfg, true);
    relay_join(&rr);
    double secs = rh_secs(t0);
    static rf_wh_stats_t st;
    rf_wh_relay_stats(rr.r, &st);
    uint64_t delivered = 0;
    for (int e = 0; e < st.nendpoints; e++)
        delivered += st.endpoints[e].delivered;
    rf_wh_relay_destroy(rr.r);
    if (getenv("BENCH_TRACE")) { /* the relay's attempt latency histogram */
        size_t len = 0;
        char *m = rf_metrics_render(&len);
        for (char *l = m ? strtok(m, "\n") : NULL; l; l = strtok(NULL, "\n"))
            if (strstr(l, "attempt_seconds") && strstr(l, "ep0")) fprintf(stderr, "%s\n", l);
        free(m);
    }
    share_t sh = {.codec = rf_codec_new(&eb)};
    rf_test_consume_all(brokers, RF_TOPIC_LEDGER, count_rewards, &sh);
    rf_codec_destroy(sh.codec);
    printf("throughput: %llu events -> %llu ledger records -> %llu messages to %d endpoints: "
           "%llu delivered (receiver saw %llu) in %.2f s = %.0f deliveries/s "
           "(relay: read, sign, POST, synced commits)\n",
           (unsigned long long)events, (unsigned long long)st.records,
           (unsigned long long)st.messages, nep, (unsigned long long)delivered,
           (unsigned long long)__atomic_load_n(&received, __ATOMIC_RELAXED), secs,
           (double)delivered / secs);
    reward_share = (double)sh.rewards / (double)events;
    rf_test_rmtree(data);
    rf_broker_stop(b);
}

/* ---- 2. reward-to-webhook latency ---- */

static void latency(double rewards_per_s, int seconds, uint16_t port)
{
    rf_errbuf_t eb = {{0}};
    rf_broker_t *b = rf_broker_start(NPART, 1, &eb);
    RF_ASSERT(b);
    const char *brokers = rf_broker_bootstraps(b);
    char data[256];
    rf_test_tmpdir("bench-webhooks-lat", data, sizeof data);
    static rh_pipe_t pp;
    rh_pipe_start(&pp, brokers, data, NPART, 1, true);
    RF_ASSERT(rh_pipe_wait_assigned(&pp, 120) >= 0); /* the group joins before the clock starts */
    static rf_wh_config_t cfg;
    make_config(&cfg, port, 1);
    static relay_run_t rr;
    relay_start(&rr, brokers, data, &cfg, false);
    /* reward records per loadgen event: measured by the throughput run (else
     * a guess) */
    double share = reward_share > 0 ? reward_share : 0.3;
    double rate = rewards_per_s / share; /* events/s */
    uint64_t total = (uint64_t)(rate * seconds);
    gen_t g = {.total = total};
    measure_latency = true;
    printf("latency: publishing %llu events at %.0f events/s (~%.0f rewards/s at the "
           "sampled share %.4f) with fold, projection and relay running\n",
           (unsigned long long)total, rate, rewards_per_s, share);
    uint64_t t0 = rf_now_ns();
    lat_t0_ns = t0;
    rf_event_t *ev = &pp.prod->ev;
    for (uint64_t i = 0; gen_next(&g, ev); i++) {
        uint64_t due = t0 + (uint64_t)((double)i / rate * 1e9);
        while (rf_now_ns() < due)
            rh_sleep_ms(1);
        pub_put(ev->event_id, rf_now_ns());
        rh_prod_emit(pp.prod, ev);
        if (getenv("BENCH_TRACE") && i % 3000 == 0) { /* where a backlog builds */
            static rf_wh_stats_t st;
            rh_progress_t pr;
            rf_wh_relay_stats(rr.r, &st);
            rh_pipe_progress(&pp, &pr);
            int64_t folded = 0;
            for (int k = 0; k < NPART; k++)
                folded += pr.next_offset[k] > 0 ? pr.next_offset[k] : 0;
            fprintf(stderr,
                    "trace %.1f s: published %llu, folded %lld, relay lag %lld, "
                    "pending %llu, received %llu\n",
                    rh_secs(t0), (unsigned long long)i, (long long)folded, (long long)st.lag,
                    (unsigned long long)st.endpoints[0].pending,
                    (unsigned long long)__atomic_load_n(&received, __ATOMIC_RELAXED));
        }
    }
    rh_prod_flush(pp.prod);
    double pub_s = rh_secs(t0);
    /* let the pipeline drain: until no webhook arrived for 3 s */
    uint64_t last = 0;
    for (int quiet = 0; quiet < 30;) {
        rh_sleep_ms(100);
        uint64_t r = __atomic_load_n(&received, __ATOMIC_RELAXED);
        quiet = r == last ? quiet + 1 : 0;
        last = r;
    }
    rf_wh_relay_stop(rr.r);
    relay_join(&rr);
    rf_wh_relay_destroy(rr.r);
    for (int i = 0; i < pp.nfold; i++)
        rh_sup_stop(&pp.fold[i]);
    rh_sup_stop(&pp.proj);
    share_t s = {.codec = rf_codec_new(&eb)};
    rf_test_consume_all(brokers, RF_TOPIC_LEDGER, count_rewards, &s);
    rf_codec_destroy(s.codec);
    rh_prod_destroy(pp.prod);
    qsort(lat_ms, nlat, sizeof *lat_ms, cmp_d);
    double p50 = nlat ? lat_ms[nlat / 2] : 0, p99 = nlat ? lat_ms[nlat * 99 / 100] : 0;
    printf("latency: published in %.1f s; %llu reward records in the ledger (%.0f/s), %zu "
           "reward.created webhooks measured: p50 %.1f ms, p99 %.1f ms, max %.1f ms "
           "(purchase published -> webhook received)\n",
           pub_s, (unsigned long long)s.rewards, (double)s.rewards / pub_s, nlat, p50, p99,
           nlat ? lat_ms[nlat - 1] : 0);
    qsort(lat_warm_ms, nlat_warm, sizeof *lat_warm_ms, cmp_d);
    if (nlat_warm)
        printf("latency: of them published after the first 5 s (%zu): p50 %.1f ms, p99 %.1f ms, "
               "max %.1f ms\n",
               nlat_warm, lat_warm_ms[nlat_warm / 2], lat_warm_ms[nlat_warm * 99 / 100],
               lat_warm_ms[nlat_warm - 1]);
    rf_test_rmtree(data);
    rf_broker_stop(b);
}

int main(int argc, char **argv)
{
    uint64_t events = 40000;
    int nep = 4, seconds = 20;
    double rps = 1000;
    bool skip_tp = false, skip_lat = false;
    for (int i = 1; i < argc; i++) {
        int64_t v;
        if (!strcmp(argv[i], "--events") && i + 1 < argc &&
            rf_parse_i64(argv[++i], 1, 100000000, &v, "--events", NULL) == RF_OK)
            events = (uint64_t)v;
        else if (!strcmp(argv[i], "--endpoints") && i + 1 < argc &&
                 rf_parse_i64(argv[++i], 1, RF_WEBHOOK_ENDPOINTS_MAX, &v, "--endpoints", NULL) ==
                     RF_OK)
            nep = (int)v;
        else if (!strcmp(argv[i], "--rewards-per-s") && i + 1 < argc &&
                 rf_parse_i64(argv[++i], 1, 1000000, &v, "--rewards-per-s", NULL) == RF_OK)
            rps = (double)v;
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc &&
                 rf_parse_i64(argv[++i], 1, 3600, &v, "--seconds", NULL) == RF_OK)
            seconds = (int)v;
        else if (!strcmp(argv[i], "--skip-throughput"))
            skip_tp = true;
        else if (!strcmp(argv[i], "--skip-latency"))
            skip_lat = true;
        else {
            fprintf(stderr, "usage: bench_webhooks [--events N] [--endpoints E] "
                            "[--rewards-per-s R] [--seconds S] [--skip-throughput] "
                            "[--skip-latency]\n");
            return 2;
        }
    }
    rh_log_install();
    pub_key = calloc(PUB_SLOTS, sizeof *pub_key);
    pub_ns = calloc(PUB_SLOTS, sizeof *pub_ns);
    lat_ms = calloc(LAT_MAX, sizeof *lat_ms);
    lat_warm_ms = calloc(LAT_MAX, sizeof *lat_warm_ms);
    RF_ASSERT(pub_key && pub_ns && lat_ms && lat_warm_ms);
    uint16_t port = 0;
    struct MHD_Daemon *d = receiver_start(&port);
    if (!skip_tp) throughput(events, nep, port);
    if (!skip_lat) latency(rps, seconds, port);
    MHD_stop_daemon(d);
    free(pub_key);
    free(pub_ns);
    free(lat_ms);
    free(lat_warm_ms);
    return 0;
}
