/* it_project.c: the projection worker on the embedded broker: ledger records
 * published to refold.ledger (Avro, as the fold's outbox does) are projected
 * exactly once: duplicates dropped, a seq gap stops the worker, a worker
 * killed with SIGKILL resumes from its stored offset, stats report lag. */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "rf_codec.h"
#include "rf_fold.h"
#include "rf_project_worker.h"
#include "rf_query.h"
#include "rf_testutil.h"

#define NPART  4
#define NUSERS 40
#define T0     1767571200000LL

typedef struct env {
    rf_broker_t *broker;
    rd_kafka_t *producer;
    rf_codec_t *codec;
    char dir[256];
    uint64_t next_seq[NPART];
    int64_t pending[NPART][NUSERS]; /* expected pending balance per user */
} env_t;

static env_t *env_new(const char *tag)
{
    env_t *e = calloc(1, sizeof *e);
    rf_errbuf_t eb = {{0}};
    char errstr[256];
    e->broker = rf_broker_start(NPART, 1, &eb);
    assert_non_null(e->broker);
    e->codec = rf_codec_new(&eb);
    assert_non_null(e->codec);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", rf_broker_bootstraps(e->broker), errstr,
                      sizeof errstr);
    rd_kafka_conf_set(conf, "linger.ms", "5", errstr, sizeof errstr);
    e->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    assert_non_null(e->producer);
    rf_test_tmpdir(tag, e->dir, sizeof e->dir);
    for (int p = 0; p < NPART; p++)
        e->next_seq[p] = 1;
    return e;
}

static void env_free(env_t *e)
{
    rd_kafka_flush(e->producer, 10000);
    rd_kafka_destroy(e->producer);
    rf_codec_destroy(e->codec);
    rf_broker_stop(e->broker);
    rf_test_rmtree(e->dir);
    free(e);
}

/* Publishes the reward record (partition p, seq) to refold.ledger. */
static void publish(env_t *e, int p, uint64_t seq, int user, int64_t amount)
{
    static rf_record_t rec;
    static uint8_t buf[RF_RECORD_BYTES_MAX];
    rf_record_clear(&rec);
    rec.seq = seq;
    rec.partition = p;
    rec.offset = (int64_t)seq;
    snprintf(rec.event_id, sizeof rec.event_id, "00000000-0000-4000-8000-%012llx",
             (unsigned long long)seq);
    snprintf(rec.program_id, sizeof rec.program_id, "prog-%d", p);
    rf_strlcpy(rec.kind, RF_KIND_REWARD, sizeof rec.kind);
    rec.occurred_at_ms = T0 + (int64_t)seq * 1000;
    char u[16];
    snprintf(u, sizeof u, "user-%d", user);
    rf_record_fact(&rec, RF_FACT_ROLE, "referrer");
    rf_record_fact(&rec, RF_FACT_REFERRER, u);
    rf_record_post(&rec, u, RF_BUCKET_PENDING, "USD", amount);
    rf_record_post(&rec, "#expense", RF_BUCKET_EXPENSE, "USD", -amount);
    size_t len;
    rf_errbuf_t eb = {{0}};
    assert_int_equal(rf_codec_encode_record(e->codec, &rec, buf, sizeof buf, &len, &eb), RF_OK);
    rd_kafka_resp_err_t err;
    while ((err = rd_kafka_producev(
                e->producer, RD_KAFKA_V_TOPIC(RF_TOPIC_LEDGER), RD_KAFKA_V_PARTITION(p),
                RD_KAFKA_V_KEY(rec.program_id, strlen(rec.program_id)), RD_KAFKA_V_VALUE(buf, len),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
           RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(e->producer, 10);
    assert_int_equal(err, RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* Publishes n new records per partition (and remembers their effect). */
static void publish_new(env_t *e, int n)
{
    for (int i = 0; i < n; i++)
        for (int p = 0; p < NPART; p++) {
            uint64_t seq = e->next_seq[p]++;
            int user = (int)((seq * 7 + (uint64_t)p) % NUSERS);
            int64_t amount = (int64_t)(seq % 13 + 1) * 100;
            publish(e, p, seq, user, amount);
            e->pending[p][user] += amount;
        }
    assert_int_equal(rd_kafka_flush(e->producer, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* Republishes seq from..to of every partition, as an outbox does after a crash. */
static void republish(env_t *e, uint64_t from, uint64_t to)
{
    for (int p = 0; p < NPART; p++)
        for (uint64_t seq = from; seq <= to; seq++)
            publish(e, p, seq, (int)((seq * 7 + (uint64_t)p) % NUSERS),
                    (int64_t)(seq % 13 + 1) * 100);
    assert_int_equal(rd_kafka_flush(e->producer, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* Each run joins a fresh group: the projection keeps its offsets in its store,
 * and the mock coordinator would make a rejoining group wait a session timeout. */
static int run_project(env_t *e, char *out, size_t cap, const char *extra)
{
    static int run;
    return rf_test_refold(out, cap, 1,
                          "project --brokers %s --data %s --group it-run-%d --exit-at-end %s",
                          rf_broker_bootstraps(e->broker), e->dir, ++run, extra);
}

/* Every user's projected balance equals what was published (once). */
static void check_balances(env_t *e)
{
    rf_errbuf_t eb = {{0}};
    rf_query_t *q = rf_query_open(e->dir, RF_QUERY_SNAPSHOT, &eb);
    assert_non_null(q);
    for (int p = 0; p < NPART; p++)
        for (int u = 0; u < NUSERS; u++) {
            char user[16], program[16];
            snprintf(user, sizeof user, "user-%d", u);
            snprintf(program, sizeof program, "prog-%d", p);
            rf_query_balance_t rows[4];
            int n = rf_query_balances(q, user, program, rows, 4, &eb);
            int64_t got = n == 1 ? rows[0].buckets[RF_BUCKET_PENDING] : 0;
            if (got != e->pending[p][u])
                fprintf(stderr, "%s %s: %lld != %lld\n", program, user, (long long)got,
                        (long long)e->pending[p][u]);
            assert_int_equal(got, e->pending[p][u]);
        }
    rf_projection_meta_t m[NPART];
    assert_int_equal(rf_query_progress(q, m, NPART), NPART);
    for (int p = 0; p < NPART; p++)
        assert_int_equal(m[p].applied_seq, e->next_seq[p] - 1);
    rf_query_close(q);
}

static void test_project_and_duplicates(void **state)
{
    (void)state;
    env_t *e = env_new("proj");
    char out[8192];
    publish_new(e, 300);
    republish(e, 251, 300); /* the outbox's unacknowledged tail, again */
    publish_new(e, 100);
    int rc = run_project(e, out, sizeof out, "");
    if (rc) fprintf(stderr, "%s\n", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "dropped 200 duplicates"));
    check_balances(e);
    /* a second run has nothing to do and changes nothing; --json: one object */
    rc = run_project(e, out, sizeof out, "--json");
    assert_int_equal(rc, 0);
    json_error_t je;
    json_t *j = json_loads(strchr(out, '{'), JSON_DISABLE_EOF_CHECK, &je);
    if (!j) fail_msg("project --json: %s", out);
    assert_int_equal(json_integer_value(json_object_get(j, "records")), 0);
    assert_int_equal(json_array_size(json_object_get(j, "partitions")), NPART);
    json_decref(j);
    check_balances(e);
    /* the query commands read it */
    rc = rf_test_refold(out, sizeof out, 1, "balance --data %s --user user-3 --program prog-0",
                        e->dir);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "prog-0"));
    rc =
        rf_test_refold(out, sizeof out, 1, "leaderboard --data %s --program prog-1 --json", e->dir);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "\"entries\""));
    rc = rf_test_refold(out, sizeof out, 1, "rank --data %s --program prog-1 --user ghost", e->dir);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "refold rank:"));
    rc = rf_test_refold(out, sizeof out, 1, "stats --data %s --program prog-2", e->dir);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "successful_referrals"));
    rc = rf_test_refold(out, sizeof out, 1, "stats --data %s", e->dir);
    assert_int_equal(rc, 2);
    env_free(e);
}

static void test_gap_stops(void **state)
{
    (void)state;
    env_t *e = env_new("gap");
    char out[8192];
    publish_new(e, 20);
    e->next_seq[2] += 3; /* seq 21..23 of partition 2 are lost upstream */
    publish_new(e, 5);
    int rc = run_project(e, out, sizeof out, "");
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "seq gap"));
    assert_non_null(strstr(out, "partition 2"));
    /* a restart does not skip it either */
    rc = run_project(e, out, sizeof out, "");
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "seq gap"));
    rf_errbuf_t eb = {{0}};
    rf_query_t *q = rf_query_open(e->dir, RF_QUERY_SNAPSHOT, &eb);
    if (q) { /* whatever was committed stops before the gap */
        rf_projection_meta_t m[NPART];
        int n = rf_query_progress(q, m, NPART);
        for (int i = 0; i < n; i++)
            if (m[i].partition == 2) assert_true(m[i].applied_seq <= 20);
        rf_query_close(q);
    }
    env_free(e);
}

static pid_t spawn_project(env_t *e, const char *commit_ms)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", 1);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execl(rf_test_refold_bin(), "refold", "project", "--brokers",
              rf_broker_bootstraps(e->broker), "--data", e->dir, "--commit-ms", commit_ms,
              (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Applied records so far (committed), summed over partitions; 0 if none yet. */
static uint64_t applied_total(env_t *e)
{
    rf_query_t *q = rf_query_open(e->dir, RF_QUERY_SNAPSHOT, NULL);
    if (!q) return 0;
    rf_projection_meta_t m[NPART];
    uint64_t sum = 0;
    int n = rf_query_progress(q, m, NPART);
    for (int i = 0; i < n; i++)
        sum += m[i].applied_seq;
    rf_query_close(q);
    return sum;
}

/* Killed mid-stream (with commit_ms, while up to that much is applied but
 * not committed), then resumed: nothing lost, nothing applied twice. */
static void kill_and_resume(const char *tag, const char *commit_ms)
{
    env_t *e = env_new(tag);
    char out[8192];
    pid_t pid = spawn_project(e, commit_ms);
    uint64_t start = rf_now_ns();
    /* kill it while records arrive, once it has committed something */
    publish_new(e, 200);
    while (applied_total(e) == 0) {
        assert_true(rf_now_ns() - start < 60ull * 1000000000ull);
        usleep(20000);
    }
    for (int i = 0; i < 5; i++)
        publish_new(e, 400);
    kill(pid, SIGKILL);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    uint64_t at_kill = applied_total(e);
    publish_new(e, 500);
    int rc = run_project(e, out, sizeof out, "");
    if (rc) fprintf(stderr, "%s\n", out);
    assert_int_equal(rc, 0);
    assert_true(applied_total(e) > at_kill);
    check_balances(e); /* nothing lost, nothing twice */
    env_free(e);
}

static void test_kill_and_resume(void **state)
{
    (void)state;
    kill_and_resume("kill", "0");
}

/* --commit-ms: partitions batch across poll cycles; the end of the run and
 * a kill keep exactly-once. */
static void test_commit_ms(void **state)
{
    (void)state;
    env_t *e = env_new("commitms");
    char out[8192];
    publish_new(e, 300);
    republish(e, 251, 300);
    publish_new(e, 100);
    int rc = run_project(e, out, sizeof out, "--commit-ms 2000");
    if (rc) fprintf(stderr, "%s\n", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "dropped 200 duplicates"));
    check_balances(e); /* the exit committed what was pending */
    rc = run_project(e, out, sizeof out, "--commit-ms 99999");
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "--commit-ms must be"));
    env_free(e);
    kill_and_resume("commitkill", "700");
}

/* ---- the library API in a thread (as the demo uses it) ------------------ */

typedef struct run_arg {
    rf_project_worker_t *w;
    rf_err_t err;
    rf_errbuf_t eb;
} run_arg_t;

static void *run_thread(void *p)
{
    run_arg_t *a = p;
    a->err = rf_project_worker_run(a->w, &a->eb);
    return NULL;
}

static void test_worker_thread(void **state)
{
    (void)state;
    env_t *e = env_new("thread");
    publish_new(e, 50);
    rf_project_opts_t o = {
        .kafka = {.brokers = rf_broker_bootstraps(e->broker)}, .data_dir = e->dir, .nosync = true};
    rf_errbuf_t eb = {{0}};
    rf_project_worker_t *w = rf_project_worker_new(&o, &eb);
    assert_non_null(w);
    run_arg_t a = {.w = w};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, run_thread, &a), 0);
    static rf_project_stats_t st;
    uint64_t start = rf_now_ns();
    for (;;) { /* wait for the condition, not a fixed time */
        rf_project_worker_stats(w, &st);
        uint64_t sum = 0;
        for (int i = 0; i < st.nparts; i++)
            sum += st.parts[i].applied_seq;
        if (sum == 50 * NPART) break;
        assert_true(rf_now_ns() - start < 60ull * 1000000000ull);
        usleep(10000);
    }
    assert_true(st.running);
    assert_int_equal(st.records, 50 * NPART);
    for (int i = 0; i < st.nparts; i++)
        assert_int_equal(st.parts[i].lag, 0);
    rf_project_worker_stop(w);
    pthread_join(t, NULL);
    assert_int_equal(a.err, RF_OK);
    rf_project_worker_stats(w, &st);
    assert_false(st.running);
    rf_project_worker_destroy(w);
    check_balances(e);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_project_and_duplicates), cmocka_unit_test(test_gap_stops),
        cmocka_unit_test(test_kill_and_resume),        cmocka_unit_test(test_commit_ms),
        cmocka_unit_test(test_worker_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
