/* it_load.c: the fold under a steady load. A `refold fold` process folds
 * loadgen traffic produced at a fixed rate into the in-process embedded
 * broker for a while; every second the test samples the fold process's RSS
 * and the group's lag. It fails when the fold dies, when the lag grows
 * beyond a bound or does not drain at the end, when RSS exceeds the
 * configured caches plus slack, or when RSS still grows in the last third
 * of the run (a leak). Writes the samples as CSV to $RF_LOAD_CSV if set.
 * Short by default (RF_LOAD_SECONDS 30 at RF_LOAD_RATE 10000 events/s);
 * ops/reliability.sh --long runs 600 s at 100000 events/s. */
/* ctest-label: slow */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include "rf_testutil.h" /* before rf_harness.h: rdkafka.h first */
#include "rf_harness.h"
#include "rf_lag.h"

#define NPART       16
#define SAMPLES_MAX 4096

extern char **environ;

typedef struct sample {
    double t;
    uint64_t produced;
    int64_t lag_total, lag_max;
    long rss_kb;
} sample_t;

/* Memory the fold may use by configuration (rf_limits.h) for NPART
 * partitions, plus slack for librdkafka's queues, the producers and the
 * allocator: RSS above this is a leak or an unbounded queue. */
static long rss_bound_kb(void)
{
    long caches = RF_LEDGER_BLOCK_CACHE_BYTES / 1024 +
                  NPART * (2L * RF_LEDGER_WRITE_BUFFER_BYTES / 1024 +
                           (long)RF_RULES_STATE_CACHE * RF_RULES_STATE_VAL_MAX / 1024);
    return caches + 512 * 1024;
}

static pid_t spawn_fold(const char *brokers, const char *data, const char *log)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    char *argv[] = {(char *)rf_test_refold_bin(),
                    "fold",
                    "--brokers",
                    (char *)brokers,
                    "--data",
                    (char *)data,
                    NULL};
    pid_t pid = -1;
    assert_int_equal(posix_spawn(&pid, argv[0], &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

static bool alive(pid_t pid)
{
    int st;
    return waitpid(pid, &st, WNOHANG) == 0;
}

static void sample_now(rf_lag_t *lag, pid_t pid, double t, uint64_t produced, sample_t *s)
{
    rf_lag_sample_t ls;
    rf_errbuf_t eb = {{0}};
    s->t = t;
    s->produced = produced;
    s->rss_kb = rh_proc_kb(pid, "VmRSS");
    s->lag_total = s->lag_max = -1;
    if (rf_lag_measure(lag, 5000, &ls, &eb) == RF_OK && ls.any_committed) {
        s->lag_total = ls.total_lag;
        s->lag_max = ls.max_lag;
    }
}

static void test_steady_load(void **state)
{
    (void)state;
    long secs = rh_env_long("RF_LOAD_SECONDS", 30), rate = rh_env_long("RF_LOAD_RATE", 10000);
    char dir[256], data[300], log[300];
    rf_test_tmpdir("load", dir, sizeof dir);
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(log, sizeof log, "%s/fold.log", dir);
    rf_errbuf_t eb = {{0}};
    rf_broker_t *b = rf_broker_start(NPART, 1, &eb);
    assert_non_null(b);
    const char *brokers = rf_broker_bootstraps(b);
    pid_t pid = spawn_fold(brokers, data, log);
    rf_kafka_opts_t ko = {.brokers = brokers};
    rf_lag_t *lag = rf_lag_new(&ko, "refold-fold", RF_TOPIC_EVENTS, &eb);
    assert_non_null(lag);
    rh_prod_t *prod = rh_prod_new(brokers, NPART);
    rf_loadgen_conf_t lc;
    rf_loadgen_conf_init(&lc);
    lc.events = (uint64_t)(secs * rate) + 1000; /* + the warm-up */
    lc.programs = 64;
    rf_loadgen_t *g = rf_loadgen_new(&lc, &eb);
    assert_non_null(g);

    /* warm-up: the fold joins its group (about 3 s) before the steady load
     * starts; at a high rate the embedded broker would otherwise drop the
     * backlog of the join (it keeps 5 MiB per partition) */
    uint64_t produced = 0;
    for (; produced < 1000 && rf_loadgen_next(g, &prod->ev) == RF_OK; produced++)
        rh_prod_emit(prod, &prod->ev);
    rh_prod_flush(prod);
    for (int i = 0; i < 600 && alive(pid); i++) {
        rf_lag_sample_t ls;
        if (rf_lag_measure(lag, 5000, &ls, &eb) == RF_OK && ls.any_committed && ls.total_lag == 0)
            break;
        rh_sleep_ms(100);
    }
    static sample_t samples[SAMPLES_MAX];
    int ns = 0;
    uint64_t t0 = rf_now_ns(), warm = produced;
    double next_sample = 1;
    /* produce at the rate in 10 ms slices; sample every second */
    while (produced < lc.events && alive(pid)) {
        double t = rh_secs(t0);
        uint64_t due = warm + (uint64_t)(t * (double)rate);
        while (produced < due && rf_loadgen_next(g, &prod->ev) == RF_OK) {
            rh_prod_emit(prod, &prod->ev);
            produced++;
        }
        rf_producer_poll(prod->p, 0);
        if (t >= next_sample && ns < SAMPLES_MAX) {
            sample_now(lag, pid, t, produced, &samples[ns++]);
            next_sample += 1;
        }
        rh_sleep_ms(10);
    }
    rh_prod_flush(prod);
    double t_prod = rh_secs(t0);
    int64_t lag_at_end = -1;
    if (ns < SAMPLES_MAX) {
        sample_now(lag, pid, t_prod, produced, &samples[ns++]);
        lag_at_end = samples[ns - 1].lag_total;
    }
    /* the fold must drain the lag */
    int64_t final_lag = -1;
    while (rh_secs(t0) < t_prod + 60 && alive(pid)) {
        if (ns < SAMPLES_MAX) sample_now(lag, pid, rh_secs(t0), produced, &samples[ns++]);
        final_lag = samples[ns - 1].lag_total;
        if (final_lag == 0) break;
        rh_sleep_ms(1000);
    }
    double t_drain = rh_secs(t0) - t_prod;
    bool was_alive = alive(pid);
    if (was_alive) kill(pid, SIGTERM);
    int st = 0;
    waitpid(pid, &st, 0);

    /* report */
    const char *csv = getenv("RF_LOAD_CSV");
    FILE *f = csv && *csv ? fopen(csv, "w") : NULL;
    if (f) fprintf(f, "t_s,produced,lag_total,lag_max,rss_kb\n");
    long rss_max = 0, rss_mid = 0, rss_last = 0;
    int64_t lag_max = 0;
    for (int i = 0; i < ns; i++) {
        const sample_t *s = &samples[i];
        if (f)
            fprintf(f, "%.1f,%" PRIu64 ",%" PRId64 ",%" PRId64 ",%ld\n", s->t, s->produced,
                    s->lag_total, s->lag_max, s->rss_kb);
        if (s->rss_kb > rss_max) rss_max = s->rss_kb;
        if (s->t <= t_prod && s->t > t_prod / 3 && s->t <= 2 * t_prod / 3 && s->rss_kb > rss_mid)
            rss_mid = s->rss_kb;
        if (s->t <= t_prod && s->t > 2 * t_prod / 3 && s->rss_kb > rss_last) rss_last = s->rss_kb;
        if (s->lag_total > lag_max) lag_max = s->lag_total;
        if (i % (ns > 60 ? ns / 20 : 5) == 0 || i == ns - 1)
            printf("load: t=%5.1fs produced=%" PRIu64 " lag=%" PRId64 " max_part_lag=%" PRId64
                   " rss=%ld KiB\n",
                   s->t, s->produced, s->lag_total, s->lag_max, s->rss_kb);
    }
    if (f) fclose(f);
    double achieved = (double)(produced - warm) / t_prod;
    printf("load: %ld s at %ld events/s (achieved %.0f/s, %" PRIu64 " events): peak RSS %ld KiB "
           "(bound %ld), mid-run peak %ld, last-third peak %ld; peak lag %" PRId64
           " events, %" PRId64 " when the load stopped, drained to %" PRId64 " in %.1f s\n",
           secs, rate, achieved, produced, rss_max, rss_bound_kb(), rss_mid, rss_last, lag_max,
           lag_at_end, final_lag, t_drain);
    rf_loadgen_destroy(g);
    rh_prod_destroy(prod);
    rf_lag_destroy(lag);
    rf_broker_stop(b);
    if (!was_alive) {
        fail_msg("the fold process died during the load (log: %s)", log);
    }
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* lag bounded: the fold stays within 10 s of the producer (and below what
     * the embedded broker keeps), and drains once the load stops */
    if (lag_at_end > rate * 10 || lag_max >= (int64_t)NPART * RF_MOCK_LAG_MAX / 2)
        fail_msg("lag unbounded: %" PRId64 " events behind when the load stopped (%.1f s of "
                 "load); peak %" PRId64,
                 lag_at_end, (double)lag_at_end / (double)rate, lag_max);
    assert_int_equal(final_lag, 0);
    /* memory bounded by configuration, and flat once warm */
    assert_true(rss_max < rss_bound_kb());
    if (rss_mid > 0 && rss_last > rss_mid + rss_mid / 10 + 32 * 1024)
        fail_msg("RSS still grows: %ld KiB mid-run, %ld KiB in the last third", rss_mid, rss_last);
    if (rh_verify(data, NPART, &eb)) fail_msg("verify: %s", eb.msg);
    rf_test_rmtree(dir);
}

int main(void)
{
    rh_log_install();
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_steady_load)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
