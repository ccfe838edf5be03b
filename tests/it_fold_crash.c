/* it_fold_crash.c: crash consistency of `refold fold`: kill -9 at 20 random
 * points while 200k loadgen events arrive and fold, restart each time; the
 * final ledgers equal an uninterrupted run's, with no gap in seq or offsets
 * and every record delivered by the outbox. Also determinism on 100k
 * loadgen events. */
/* ctest-label: slow */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rf_fold_worker.h"
#include "rf_testutil.h"

#include "bench/rf_fold_gen.h"

#define NPART     16
#define PROGRAMS  64
#define ROUNDS    20
#define PER_ROUND 10000

static rf_broker_t *broker(void)
{
    rf_errbuf_t eb = {{0}};
    rf_broker_t *b = rf_broker_start(NPART, 1, &eb);
    assert_non_null(b);
    return b;
}

static void produce_loadgen(const char *brokers, uint64_t seed, uint64_t n)
{
    fg_prod_t p;
    fg_prod_open(&p, brokers, "none");
    rf_loadgen_t *g = fg_loadgen_new(seed, PROGRAMS, n);
    assert_int_equal(fg_prod_loadgen(&p, RF_TOPIC_EVENTS, g, n), n);
    assert_int_equal(fg_prod_flush(&p), 0);
    rf_loadgen_destroy(g);
    fg_prod_close(&p);
}

/* In-process fold of every partition to the end of the topic. */
static void fold_all(const char *brokers, const char *data, rf_fold_stats_t *st)
{
    static rf_fold_worker_conf_t c;
    rf_fold_worker_conf_init(&c);
    c.kafka.brokers = brokers;
    c.data_dir = data;
    c.exit_at_end = true;
    c.no_outbox = true;
    c.npartitions = NPART;
    for (int i = 0; i < NPART; i++)
        c.partitions[i] = i;
    rf_errbuf_t eb = {{0}};
    rf_fold_worker_t *w = rf_fold_worker_new(&c, &eb);
    assert_non_null(w);
    rf_err_t err = rf_fold_worker_run(w, &eb);
    if (err) fail_msg("fold: %s", eb.msg);
    if (st) rf_fold_worker_stats(w, st);
    rf_fold_worker_destroy(w);
}

static void assert_heads_equal(const rf_ledger_head_t *a, const rf_ledger_head_t *b)
{
    for (int i = 0; i < NPART; i++) {
        if (a[i].seq != b[i].seq || memcmp(a[i].hash, b[i].hash, 32) != 0)
            fail_msg("partition %d: head seq %" PRIu64 " vs %" PRIu64 " or hashes differ", i,
                     a[i].seq, b[i].seq);
    }
}

/* The same 100k loadgen events folded twice into fresh directories give the
 * same head hash in every partition. */
static void test_determinism_100k(void **state)
{
    (void)state;
    rf_broker_t *b = broker();
    const char *brokers = rf_broker_bootstraps(b);
    produce_loadgen(brokers, 11, 100000);
    char d1[256], d2[256];
    rf_test_tmpdir("fold-det100k-1", d1, sizeof d1);
    rf_test_tmpdir("fold-det100k-2", d2, sizeof d2);
    static rf_fold_stats_t st;
    fold_all(brokers, d1, &st);
    assert_int_equal(st.consumed, 100000);
    fold_all(brokers, d2, NULL);
    static rf_ledger_head_t h1[NPART], h2[NPART];
    fg_heads(d1, NPART, h1);
    fg_heads(d2, NPART, h2);
    assert_heads_equal(h1, h2);
    int nonempty = 0;
    for (int i = 0; i < NPART; i++)
        nonempty += h1[i].seq > 0;
    assert_true(nonempty >= NPART / 2); /* the keys spread over the partitions */
    rf_test_rmtree(d1);
    rf_test_rmtree(d2);
    rf_broker_stop(b);
}

/* ---- crash ------------------------------------------------------------- */

static pid_t spawn_fold(const char *brokers, const char *data, const char *log, bool to_end)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        const char *bin = rf_test_refold_bin();
        /* partitions assigned directly: a killed group member would hold its
         * partitions until its session times out; cycles of 4096 so a
         * round's backlog takes several commits and kills land between them */
        execl(bin, bin, "fold", "--brokers", brokers, "--data", data, "--partitions", "0-15",
              "--batch", "4096", "--batch-ms", "20", to_end ? "--exit-at-end" : "--stats",
              (char *)NULL);
        _exit(127);
    }
    return pid;
}

typedef struct crash_check {
    int64_t next;
    long gaps;
} crash_check_t;

static int on_archived(int64_t offset, int64_t clock_ms, const uint8_t *bytes, size_t len,
                       void *opaque)
{
    (void)clock_ms;
    (void)bytes, (void)len;
    crash_check_t *c = opaque;
    if (offset != c->next) c->gaps++;
    c->next = offset + 1;
    return 0;
}

/* No gap: seq chain verified, every offset 0..next-1 archived exactly once,
 * outcome counts adding up to the offsets consumed. */
static void assert_no_gaps(const char *data, const rf_ledger_head_t *h, const int64_t *hi)
{
    for (int i = 0; i < NPART; i++) {
        rf_errbuf_t eb = {{0}};
        assert_int_equal(h[i].next_offset < 0 ? 0 : h[i].next_offset, hi[i]);
        uint64_t sum = 0;
        for (int k = 0; k < RF_OUTCOME__COUNT; k++)
            sum += h[i].counts[k];
        assert_int_equal(sum, (uint64_t)hi[i]);
        if (hi[i] == 0) continue;
        rf_ledger_t *l = rf_ledger_open(data, i, RF_LEDGER_READONLY, &eb);
        assert_non_null(l);
        uint64_t bad = 0;
        rf_err_t err = rf_ledger_verify(l, &bad, &eb);
        if (err) fail_msg("partition %d: verify: %s (seq %" PRIu64 ")", i, eb.msg, bad);
        crash_check_t c = {0, 0};
        assert_int_equal(rf_ledger_archive_scan(l, 0, on_archived, &c, &eb), RF_OK);
        assert_int_equal(c.gaps, 0);
        assert_int_equal(c.next, hi[i]);
        rf_ledger_close(l);
    }
}

/* Reads refold.ledger while the crash rounds run, as a projection worker
 * would (the embedded broker keeps only 5 MiB per partition, and every
 * crash republishes a tail): counts the copies of every (partition, seq). */
typedef struct ledger_reader {
    pthread_t th;
    const char *brokers;
    atomic_int stop;
    _Atomic int64_t next[NPART]; /* next offset of each ledger partition */
    uint32_t *count[NPART];      /* copies per seq (grown as needed) */
    uint64_t cap[NPART];
    long bad, gaps, copies;
} ledger_reader_t;

static void reader_count(ledger_reader_t *r, int32_t p, uint64_t seq)
{
    if (seq >= r->cap[p]) {
        uint64_t cap = r->cap[p] ? r->cap[p] : 4096;
        while (cap <= seq)
            cap *= 2;
        r->count[p] = realloc(r->count[p], cap * sizeof *r->count[p]);
        RF_ASSERT(r->count[p]);
        memset(r->count[p] + r->cap[p], 0, (cap - r->cap[p]) * sizeof *r->count[p]);
        r->cap[p] = cap;
    }
    r->count[p][seq]++;
}

static void reader_msg(ledger_reader_t *r, const rd_kafka_message_t *m, rf_codec_t *codec,
                       rf_record_t *rec)
{
    rf_errbuf_t eb = {{0}};
    if (m->err) { /* an offset reset: records dropped before they were read */
        r->gaps += m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF;
        return;
    }
    int32_t p = m->partition;
    if (p < 0 || p >= NPART || rf_codec_decode_record(codec, m->payload, m->len, rec, &eb) ||
        rec->partition != p || rec->seq == 0) {
        r->bad++;
        return;
    }
    if (m->offset != atomic_load(&r->next[p])) r->gaps++;
    reader_count(r, p, rec->seq);
    r->copies++;
    atomic_store(&r->next[p], m->offset + 1);
}

static void *reader_main(void *arg)
{
    ledger_reader_t *r = arg;
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[] = {"bootstrap.servers",
                        r->brokers,
                        "group.id",
                        "crash-ledger-reader",
                        "enable.auto.commit",
                        "false",
                        "auto.offset.reset",
                        "error",
                        NULL};
    for (int i = 0; kv[i]; i += 2)
        RF_ASSERT(rd_kafka_conf_set(conf, kv[i], kv[i + 1], errstr, sizeof errstr) == 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    RF_ASSERT(rk);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(NPART);
    for (int i = 0; i < NPART; i++)
        rd_kafka_topic_partition_list_add(tl, RF_TOPIC_LEDGER, i)->offset = 0;
    RF_ASSERT(rd_kafka_assign(rk, tl) == 0);
    rd_kafka_topic_partition_list_destroy(tl);
    rf_errbuf_t eb = {{0}};
    rf_codec_t *codec = rf_codec_new(&eb);
    rf_record_t *rec = malloc(sizeof *rec);
    RF_ASSERT(codec && rec);
    while (!atomic_load(&r->stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) continue;
        reader_msg(r, m, codec, rec);
        rd_kafka_message_destroy(m);
    }
    free(rec);
    rf_codec_destroy(codec);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return NULL;
}

/* Waits until the reader reached the ledger topic's end, then stops it. */
static void reader_finish(ledger_reader_t *r)
{
    int64_t lo[NPART], hi[NPART];
    fg_watermarks(r->brokers, RF_TOPIC_LEDGER, NPART, lo, hi);
    for (int tries = 0; tries < 600; tries++) {
        int behind = 0;
        for (int i = 0; i < NPART; i++)
            behind += atomic_load(&r->next[i]) < hi[i];
        if (!behind) break;
        usleep(100 * 1000);
    }
    atomic_store(&r->stop, 1);
    assert_int_equal(pthread_join(r->th, NULL), 0);
}

/* The outbox delivered every committed record (crashes republish the
 * unacknowledged tail: duplicates allowed, gaps not). */
static void assert_outbox_complete(ledger_reader_t *r, const rf_ledger_head_t *h)
{
    reader_finish(r);
    assert_int_equal(r->bad, 0);
    assert_int_equal(r->gaps, 0);
    uint64_t total = 0;
    for (int i = 0; i < NPART; i++) {
        total += h[i].seq;
        for (uint64_t s = 1; s <= h[i].seq; s++)
            if (s >= r->cap[i] || r->count[i][s] == 0)
                fail_msg("partition %d: seq %" PRIu64 " never published", i, s);
        assert_int_equal(h[i].outbox_seq, h[i].seq);
    }
    print_message("outbox: %" PRIu64 " records, %ld messages (%ld republished)\n", total, r->copies,
                  r->copies - (long)total);
}

static void reader_free(ledger_reader_t *r)
{
    for (int i = 0; i < NPART; i++)
        free(r->count[i]);
}

/* The group's committed offsets: the worker commits them after each durable
 * batch, so they trail the ledgers by at most one cycle. */
static int64_t committed_sum(rd_kafka_t *rk)
{
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(NPART);
    for (int i = 0; i < NPART; i++)
        rd_kafka_topic_partition_list_add(tl, RF_TOPIC_EVENTS, i);
    int64_t sum = -1;
    if (rd_kafka_committed(rk, tl, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        sum = 0;
        for (int i = 0; i < NPART; i++)
            sum += tl->elems[i].offset > 0 ? tl->elems[i].offset : 0;
    }
    rd_kafka_topic_partition_list_destroy(tl);
    return sum;
}

static void wait_committed(rd_kafka_t *rk, int64_t target)
{
    for (int i = 0; i < 1000 && committed_sum(rk) < target; i++)
        usleep(10 * 1000);
}

static rd_kafka_t *group_watcher(const char *brokers)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    RF_ASSERT(rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr) == 0);
    RF_ASSERT(rd_kafka_conf_set(conf, "group.id", "refold-fold", errstr, sizeof errstr) == 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    RF_ASSERT(rk);
    return rk;
}

static void test_kill9(void **state)
{
    (void)state;
    const char *env = getenv("RF_CRASH_SEED");
    unsigned seed = env ? (unsigned)atoi(env) : (unsigned)time(NULL);
    print_message("crash seed %u (set RF_CRASH_SEED to repeat)\n", seed);
    srand(seed);
    rf_broker_t *b = broker();
    const char *brokers = rf_broker_bootstraps(b);
    char d[256], ref[256], log[300];
    rf_test_tmpdir("fold-crash", d, sizeof d);
    rf_test_tmpdir("fold-crash-ref", ref, sizeof ref);
    snprintf(log, sizeof log, "%s/fold.log", ref);
    static rf_ledger_head_t h[NPART], want[NPART];
    int mid_fold = 0;
    int64_t last_folded = 0;
    rd_kafka_t *watcher = group_watcher(brokers);
    static ledger_reader_t reader;
    memset(&reader, 0, sizeof reader);
    reader.brokers = brokers;
    assert_int_equal(pthread_create(&reader.th, NULL, reader_main, &reader), 0);
    fg_prod_t p;
    fg_prod_open(&p, brokers, "none");
    rf_loadgen_t *g = fg_loadgen_new(21, PROGRAMS, ROUNDS * PER_ROUND);
    for (int r = 0; r < ROUNDS; r++) {
        pid_t pid = spawn_fold(brokers, d, log, false);
        assert_int_equal(fg_prod_loadgen(&p, RF_TOPIC_EVENTS, g, PER_ROUND), PER_ROUND);
        assert_int_equal(fg_prod_flush(&p), 0);
        if (r % 2) {
            usleep((useconds_t)(rand() % 700) * 1000); /* 0..0.7 s: startup, assignment, fold */
        } else {
            /* once a random share of the backlog is durable: mid-fold */
            int64_t backlog = (int64_t)(r + 1) * PER_ROUND - last_folded;
            wait_committed(watcher, last_folded + 1 + rand() % backlog);
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            fail_msg("round %d: the worker exited early (log %s)", r, log);
        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        fg_heads(d, NPART, h);
        int64_t folded = 0;
        for (int i = 0; i < NPART; i++)
            folded += h[i].next_offset < 0 ? 0 : h[i].next_offset;
        mid_fold += folded > last_folded && folded < (int64_t)(r + 1) * PER_ROUND;
        if (getenv("RF_CRASH_VERBOSE")) print_message("round %d: %" PRId64 " folded\n", r, folded);
        last_folded = folded;
    }
    print_message("%d of %d kills hit a worker that had folded part of its backlog\n", mid_fold,
                  ROUNDS);
    assert_true(mid_fold >= ROUNDS / 5);
    rf_loadgen_destroy(g);
    fg_prod_close(&p);
    rd_kafka_destroy(watcher);
    pid_t pid = spawn_fold(brokers, d, log, true);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) fail_msg("final run failed (log %s)", log);

    fold_all(brokers, ref, NULL);
    int64_t lo[NPART], hi[NPART];
    fg_watermarks(brokers, RF_TOPIC_EVENTS, NPART, lo, hi);
    for (int i = 0; i < NPART; i++)
        assert_int_equal(lo[i], 0);
    fg_heads(d, NPART, h);
    fg_heads(ref, NPART, want);
    assert_heads_equal(h, want);
    assert_no_gaps(d, h, hi);
    assert_outbox_complete(&reader, h);
    reader_free(&reader);
    rf_test_rmtree(d);
    rf_test_rmtree(ref);
    rf_broker_stop(b);
}

int main(void)
{
    rf_log_set_level(RF_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_determinism_100k),
        cmocka_unit_test(test_kill9),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
