/* it_fold.c: integration tests of the fold worker (consumers/rf_fold_worker.h
 * and `refold fold`) on the embedded broker: determinism, duplicates, every
 * kind of bad input to the DLQ, the outbox, an unwritable DLQ, a storage
 * failure, and a rebalance between two workers. */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rf_fold_worker.h"
#include "rf_testutil.h"

#include "bench/rf_fold_gen.h"

#define NPART    16
#define PROGRAMS 48
#define EVENTS   20000

/* ---- helpers ------------------------------------------------------------ */

typedef struct fold_opts {
    const char *group;
    bool outbox;
    bool manual;      /* assign all partitions directly (no group join) */
    const char *x[4]; /* extra -X */
} fold_opts_t;

static void conf_for(rf_fold_worker_conf_t *c, const char *brokers, const char *data,
                     const fold_opts_t *o)
{
    rf_fold_worker_conf_init(c);
    c->kafka.brokers = brokers;
    for (int i = 0; i < 4 && o->x[i]; i++)
        RF_ASSERT(rf_kafka_opts_add_x(&c->kafka, o->x[i], NULL) == RF_OK);
    c->data_dir = data;
    if (o->group) c->group = o->group;
    c->no_outbox = !o->outbox;
    if (o->manual) {
        c->npartitions = NPART;
        for (int i = 0; i < NPART; i++)
            c->partitions[i] = i;
    }
}

/* Runs a worker to the end of the topic on this thread. */
static rf_err_t fold_to_end(const char *brokers, const char *data, const fold_opts_t *o,
                            rf_fold_stats_t *st, rf_errbuf_t *eb)
{
    static rf_fold_worker_conf_t c;
    conf_for(&c, brokers, data, o);
    c.exit_at_end = true;
    rf_fold_worker_t *w = rf_fold_worker_new(&c, eb);
    assert_non_null(w);
    rf_err_t err = rf_fold_worker_run(w, eb);
    if (st) rf_fold_worker_stats(w, st);
    rf_fold_worker_destroy(w);
    return err;
}

static void assert_outcomes_add_up(const rf_fold_stats_t *st)
{
    uint64_t sum = 0;
    for (int i = 0; i < RF_OUTCOME__COUNT; i++)
        sum += st->outcomes[i];
    assert_int_equal(sum, st->consumed);
}

static void assert_heads_equal(const rf_ledger_head_t *a, const rf_ledger_head_t *b, int n)
{
    for (int i = 0; i < n; i++) {
        assert_int_equal(a[i].seq, b[i].seq);
        assert_memory_equal(a[i].hash, b[i].hash, 32);
    }
}

/* Every partition's ledger reached the topic's end and its counts add up. */
static void assert_at_end(const char *brokers, const rf_ledger_head_t *h)
{
    int64_t lo[NPART], hi[NPART];
    fg_watermarks(brokers, RF_TOPIC_EVENTS, NPART, lo, hi);
    for (int i = 0; i < NPART; i++) {
        assert_int_equal(lo[i], 0);
        assert_int_equal(h[i].next_offset < 0 ? 0 : h[i].next_offset, hi[i]);
        uint64_t sum = 0;
        for (int k = 0; k < RF_OUTCOME__COUNT; k++)
            sum += h[i].counts[k];
        assert_int_equal(sum, (uint64_t)hi[i]);
    }
}

static void produce_events(const char *brokers, uint64_t seed, uint64_t n)
{
    fg_prod_t p;
    fg_t *g = malloc(sizeof *g);
    assert_non_null(g);
    fg_init(g, seed, PROGRAMS, NPART);
    fg_prod_open(&p, brokers, "none");
    fg_prod_events(&p, RF_TOPIC_EVENTS, g, n);
    assert_int_equal(fg_prod_flush(&p), 0);
    fg_prod_close(&p);
    free(g);
}

static rf_broker_t *broker(void)
{
    rf_errbuf_t eb = {{0}};
    rf_broker_t *b = rf_broker_start(NPART, 1, &eb);
    assert_non_null(b);
    return b;
}

/* ---- outbox check ------------------------------------------------------- */

typedef struct ledger_topic {
    rf_codec_t *codec;
    rf_record_t *rec;
    uint64_t *count[NPART]; /* copies seen per seq (1-based) */
    uint64_t cap[NPART];
    uint8_t (*hash[NPART])[32];
    long bad;
} ledger_topic_t;

static void on_ledger_msg(const rd_kafka_message_t *m, void *opaque)
{
    ledger_topic_t *t = opaque;
    rf_errbuf_t eb = {{0}};
    if (rf_codec_decode_record(t->codec, m->payload, m->len, t->rec, &eb) != RF_OK ||
        t->rec->partition != m->partition || m->partition >= NPART || t->rec->seq == 0 ||
        t->rec->seq > t->cap[m->partition] || m->key_len != strlen(t->rec->program_id) ||
        memcmp(m->key, t->rec->program_id, m->key_len) != 0) {
        t->bad++;
        return;
    }
    uint64_t s = t->rec->seq;
    if (t->count[m->partition][s]++ == 0)
        memcpy(t->hash[m->partition][s], t->rec->hash, 32);
    else if (memcmp(t->hash[m->partition][s], t->rec->hash, 32) != 0)
        t->bad++;
}

/* Reads refold.ledger back: every seq 1..head of every partition, with the
 * head's hash; exactly once when `exact`, else at least once. */
static void assert_outbox(const char *brokers, const rf_ledger_head_t *h, bool exact)
{
    ledger_topic_t t = {0};
    rf_errbuf_t eb = {{0}};
    t.codec = rf_codec_new(&eb);
    t.rec = malloc(sizeof *t.rec);
    for (int i = 0; i < NPART; i++) {
        t.cap[i] = h[i].seq;
        t.count[i] = calloc(h[i].seq + 1, sizeof *t.count[i]);
        t.hash[i] = calloc(h[i].seq + 1, 32);
    }
    rf_test_consume_all(brokers, RF_TOPIC_LEDGER, on_ledger_msg, &t);
    assert_int_equal(t.bad, 0);
    for (int i = 0; i < NPART; i++) {
        for (uint64_t s = 1; s <= h[i].seq; s++) {
            if (exact)
                assert_int_equal(t.count[i][s], 1);
            else
                assert_true(t.count[i][s] >= 1);
        }
        if (h[i].seq) assert_memory_equal(t.hash[i][h[i].seq], h[i].hash, 32);
        assert_int_equal(h[i].outbox_seq, h[i].seq);
        free(t.count[i]);
        free(t.hash[i]);
    }
    free(t.rec);
    rf_codec_destroy(t.codec);
}

/* ---- tests -------------------------------------------------------------- */

/* 20k events folded twice into fresh directories (library with the outbox,
 * then the `refold fold` binary in a consumer group): same heads; every
 * offset has one outcome; the outbox delivered every record exactly once. */
static void test_determinism_and_outbox(void **state)
{
    (void)state;
    rf_broker_t *b = broker();
    const char *brokers = rf_broker_bootstraps(b);
    produce_events(brokers, 1, EVENTS);
    char d1[256], d2[256];
    rf_test_tmpdir("fold-det1", d1, sizeof d1);
    rf_test_tmpdir("fold-det2", d2, sizeof d2);
    static rf_fold_stats_t st;
    rf_errbuf_t eb = {{0}};
    fold_opts_t o = {.group = "det1", .outbox = true, .manual = true};
    rf_err_t err = fold_to_end(brokers, d1, &o, &st, &eb);
    if (err) fail_msg("fold: %s", eb.msg);
    assert_int_equal(st.consumed, EVENTS);
    assert_int_equal(st.nparts, NPART); /* after run: the partitions it held */
    assert_outcomes_add_up(&st);
    assert_int_equal(st.outcomes[RF_OUTCOME_DEAD_LETTER], 0);
    assert_true(st.outcomes[RF_OUTCOME_APPLIED] > EVENTS / 2);
    assert_true(st.outcomes[RF_OUTCOME_REJECTED] > 0); /* some redemptions overdraw */
    assert_true(st.batches > 0 && st.commit_us.count >= NPART);
    static rf_ledger_head_t h1[NPART], h2[NPART];
    fg_heads(d1, NPART, h1);
    assert_at_end(brokers, h1);
    assert_outbox(brokers, h1, true);

    char out[4096];
    int rc = rf_test_refold(out, sizeof out, 1,
                            "fold --brokers %s --data %s --group det2 --exit-at-end --no-outbox",
                            brokers, d2);
    if (rc != 0) fail_msg("refold fold exited %d: %s", rc, out);
    assert_non_null(strstr(out, "consumed=20000 "));
    char parts[32]; /* the partitions it folded, not 0 once they are closed */
    snprintf(parts, sizeof parts, " partitions=%d ", NPART);
    assert_non_null(strstr(out, parts));
    fg_heads(d2, NPART, h2);
    assert_heads_equal(h1, h2, NPART);
    assert_at_end(brokers, h2);

    rf_test_rmtree(d1);
    rf_test_rmtree(d2);
    rf_broker_stop(b);
}

/* The same events published twice fold to the same ledger as once. */
static void test_duplicates(void **state)
{
    (void)state;
    rf_broker_t *once = broker(), *twice = broker();
    produce_events(rf_broker_bootstraps(once), 2, 5000);
    produce_events(rf_broker_bootstraps(twice), 2, 5000);
    produce_events(rf_broker_bootstraps(twice), 2, 5000);
    char d1[256], d2[256];
    rf_test_tmpdir("fold-once", d1, sizeof d1);
    rf_test_tmpdir("fold-twice", d2, sizeof d2);
    static rf_fold_stats_t st;
    rf_errbuf_t eb = {{0}};
    fold_opts_t o = {.manual = true};
    assert_int_equal(fold_to_end(rf_broker_bootstraps(once), d1, &o, NULL, &eb), RF_OK);
    assert_int_equal(fold_to_end(rf_broker_bootstraps(twice), d2, &o, &st, &eb), RF_OK);
    assert_int_equal(st.consumed, 10000);
    assert_int_equal(st.outcomes[RF_OUTCOME_DUPLICATE], 5000);
    assert_outcomes_add_up(&st);
    static rf_ledger_head_t h1[NPART], h2[NPART];
    fg_heads(d1, NPART, h1);
    fg_heads(d2, NPART, h2);
    assert_heads_equal(h1, h2, NPART);
    rf_test_rmtree(d1);
    rf_test_rmtree(d2);
    rf_broker_stop(once);
    rf_broker_stop(twice);
}

/* ---- bad input ---------------------------------------------------------- */

#define NBAD 10
typedef struct bad_msg {
    const char *name;
    const char *errs[2]; /* acceptable refold.error values */
    uint8_t *bytes;
    size_t len;
    char event_id[RF_UUID_STR_LEN + 1]; /* expected refold.event_id, "" none */
    int64_t offset;
    int seen;
} bad_msg_t;

static uint8_t *find(uint8_t *hay, size_t n, const char *needle, size_t m)
{
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(hay + i, needle, m) == 0) return hay + i;
    return NULL;
}

static size_t encode(rf_codec_t *c, const rf_event_t *ev, uint8_t *buf, size_t cap)
{
    size_t len = 0;
    rf_errbuf_t eb = {{0}};
    RF_ASSERT(rf_codec_encode_event(c, ev, RF_SCHEMA_ID_EVENT, buf, cap, &len, &eb) == RF_OK);
    return len;
}

static void set_bad(bad_msg_t *b, const char *name, const char *e1, const char *e2,
                    const uint8_t *bytes, size_t len)
{
    b->name = name;
    b->errs[0] = e1;
    b->errs[1] = e2;
    b->bytes = malloc(len ? len : 1);
    memcpy(b->bytes, bytes, len);
    b->len = len;
}

static void make_bad(bad_msg_t *bad, rf_event_t *ev)
{
    rf_errbuf_t eb = {{0}};
    rf_codec_t *c = rf_codec_new(&eb);
    static uint8_t buf[80000];
    fg_t g;
    int32_t part;
    fg_init(&g, 77, PROGRAMS, NPART);
    g.configured[0] = g.configured[1] = true; /* get an activity event */
    do
        fg_next(&g, ev, &part);
    while (ev->type == RF_EV_PROGRAM_CONFIGURED);
    size_t len = encode(c, ev, buf, sizeof buf);
    memset(bad, 0, NBAD * sizeof *bad);
    uint8_t garbage[40] = {0};
    rf_be32_put(garbage + 1, (uint32_t)rf_codec_wire_id(c, RF_SCHEMA_ID_EVENT));
    memset(garbage + 5, 0xff, sizeof garbage - 5);
    set_bad(&bad[0], "garbage", "decode", "truncated", garbage, sizeof garbage);
    set_bad(&bad[1], "wrong magic", "bad_magic", NULL, buf, len);
    bad[1].bytes[0] = 1;
    set_bad(&bad[2], "unknown schema", "unknown_schema", NULL, buf, len);
    bad[2].bytes[4] = 99;
    set_bad(&bad[3], "truncated body", "truncated", "decode", buf, len / 2);
    set_bad(&bad[4], "short frame", "truncated", NULL, buf, 3);
    set_bad(&bad[5], "empty", "truncated", NULL, buf, 0);
    set_bad(&bad[6], "invalid field", "bad_input", NULL, buf, len);
    uint8_t *id = find(bad[6].bytes, len, ev->event_id, RF_UUID_STR_LEN);
    assert_non_null(id);
    id[0] = 'z'; /* event_id no longer a UUID: Avro decodes, validation fails */
    snprintf(ev->program_id, sizeof ev->program_id, "no-such-program");
    len = encode(c, ev, buf, sizeof buf);
    set_bad(&bad[7], "unknown program", "unknown_program", NULL, buf, len);
    snprintf(bad[7].event_id, sizeof bad[7].event_id, "%s", ev->event_id);
    memset(buf, 'x', sizeof buf);
    memcpy(buf, "\0\0\0\0\2", 5);
    set_bad(&bad[8], "oversize", "oversize", NULL, buf, RF_EVENT_BYTES_MAX + 100);
    set_bad(&bad[9], "random bytes", "bad_magic", NULL, (const uint8_t *)"hello, fold", 11);
    rf_codec_destroy(c);
}

typedef struct dlq_ctx {
    bad_msg_t *bad;
    long other;
} dlq_ctx_t;

static const char *header(const rd_kafka_message_t *m, const char *name, char *buf, size_t cap)
{
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t n;
    if (rd_kafka_message_headers(m, &h) || rd_kafka_header_get_last(h, name, &v, &n)) return NULL;
    snprintf(buf, cap, "%.*s", (int)n, (const char *)v);
    return buf;
}

static void on_dlq_msg(const rd_kafka_message_t *m, void *opaque)
{
    dlq_ctx_t *c = opaque;
    char off[32], part[16], err[64], reason[RF_ERRMSG_MAX + 1], id[64];
    if (!header(m, "refold.offset", off, sizeof off) ||
        !header(m, "refold.partition", part, sizeof part) || strcmp(part, "0") != 0 ||
        !header(m, "refold.error", err, sizeof err) ||
        !header(m, "refold.reason", reason, sizeof reason) || !reason[0]) {
        c->other++;
        return;
    }
    for (int i = 0; i < NBAD; i++) {
        bad_msg_t *b = &c->bad[i];
        if (b->offset != atoll(off)) continue;
        if (m->len != b->len || (b->len && memcmp(m->payload, b->bytes, b->len) != 0)) break;
        if (strcmp(err, b->errs[0]) != 0 && (!b->errs[1] || strcmp(err, b->errs[1]) != 0)) {
            print_error("%s: refold.error '%s' (%s)\n", b->name, err, reason);
            break;
        }
        const char *eid = header(m, "refold.event_id", id, sizeof id);
        if (b->event_id[0] ? !eid || strcmp(eid, b->event_id) != 0 : eid != NULL) break;
        if (m->key_len != strlen(b->name) || memcmp(m->key, b->name, m->key_len) != 0) break;
        b->seen++;
        return;
    }
    c->other++;
}

/* Every kind of bad input lands in the DLQ with its reason, source partition
 * and offset, original key and bytes; the worker goes on; outcomes add up. */
static void test_dead_letters(void **state)
{
    (void)state;
    rf_broker_t *b = broker();
    const char *brokers = rf_broker_bootstraps(b);
    produce_events(brokers, 3, 3000);
    static bad_msg_t bad[NBAD];
    static rf_event_t ev;
    make_bad(bad, &ev);
    fg_prod_t p;
    fg_prod_open(&p, brokers, "none");
    int64_t lo[NPART], hi[NPART];
    fg_watermarks(brokers, RF_TOPIC_EVENTS, NPART, lo, hi);
    for (int i = 0; i < NBAD; i++) {
        bad[i].offset = hi[0] + i;
        fg_prod_raw(&p, RF_TOPIC_EVENTS, 0, bad[i].name, strlen(bad[i].name), bad[i].bytes,
                    bad[i].len);
        assert_int_equal(fg_prod_flush(&p), 0); /* one at a time: known offsets */
    }
    fg_prod_close(&p);
    produce_events(brokers, 4, 2000); /* good events after the bad ones */

    char d[256];
    rf_test_tmpdir("fold-dlq", d, sizeof d);
    static rf_fold_stats_t st;
    rf_errbuf_t eb = {{0}};
    fold_opts_t o = {.manual = true, .outbox = true};
    rf_err_t err = fold_to_end(brokers, d, &o, &st, &eb);
    if (err) fail_msg("fold: %s", eb.msg);
    assert_int_equal(st.consumed, 3000 + NBAD + 2000);
    assert_int_equal(st.outcomes[RF_OUTCOME_DEAD_LETTER], NBAD);
    assert_int_equal(st.dlq_produced, NBAD);
    assert_outcomes_add_up(&st);
    static rf_ledger_head_t h[NPART];
    fg_heads(d, NPART, h);
    assert_at_end(brokers, h);
    assert_int_equal(h[0].counts[RF_OUTCOME_DEAD_LETTER], NBAD);
    assert_outbox(brokers, h, true);

    dlq_ctx_t c = {bad, 0};
    assert_int_equal(rf_test_consume_all(brokers, RF_TOPIC_DLQ, on_dlq_msg, &c), NBAD);
    assert_int_equal(c.other, 0);
    for (int i = 0; i < NBAD; i++) {
        if (bad[i].seen != 1) fail_msg("%s: seen %d times in the DLQ", bad[i].name, bad[i].seen);
        free(bad[i].bytes);
    }
    rf_test_rmtree(d);
    rf_broker_stop(b);
}

/* A DLQ that cannot be written stops the worker with the bad offset's
 * partition unadvanced; once the DLQ works a restart dead-letters it. */
static void test_dlq_unwritable(void **state)
{
    (void)state;
    rf_broker_t *b = broker();
    const char *brokers = rf_broker_bootstraps(b);
    produce_events(brokers, 5, 2000);
    char d[256];
    rf_test_tmpdir("fold-dlqfail", d, sizeof d);
    rf_errbuf_t eb = {{0}};
    fold_opts_t o = {.manual = true, .x = {"message.timeout.ms=3000"}};
    assert_int_equal(fold_to_end(brokers, d, &o, NULL, &eb), RF_OK);
    static rf_ledger_head_t before[NPART], after[NPART];
    fg_heads(d, NPART, before);

    rd_kafka_mock_topic_set_error(rf_broker_mock(b), RF_TOPIC_DLQ,
                                  RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    fg_prod_t p;
    fg_prod_open(&p, brokers, "none");
    fg_prod_raw(&p, RF_TOPIC_EVENTS, 0, "bad", 3, "garbage!", 8);
    assert_int_equal(fg_prod_flush(&p), 0);
    fg_prod_close(&p);
    produce_events(brokers, 6, 500);
    static rf_fold_stats_t st;
    rf_err_t err = fold_to_end(brokers, d, &o, &st, &eb);
    assert_int_equal(err, RF_ERR_KAFKA);
    assert_non_null(strstr(eb.msg, RF_TOPIC_DLQ));
    fg_heads(d, NPART, after);
    assert_int_equal(after[0].next_offset, before[0].next_offset); /* not advanced */
    assert_int_equal(after[0].seq, before[0].seq);

    rd_kafka_mock_topic_set_error(rf_broker_mock(b), RF_TOPIC_DLQ, RD_KAFKA_RESP_ERR_NO_ERROR);
    err = fold_to_end(brokers, d, &o, &st, &eb);
    if (err) fail_msg("restart: %s", eb.msg);
    assert_int_equal(st.outcomes[RF_OUTCOME_DEAD_LETTER], 1);
    fg_heads(d, NPART, after);
    assert_at_end(brokers, after);
    /* one dead letter: the failed run wrote none */
    assert_int_equal(rf_test_topic_count(brokers, RF_TOPIC_DLQ), 1);
    rf_test_rmtree(d);
    rf_broker_stop(b);
}

/* ---- storage failure ---------------------------------------------------- */

/* Runs `refold fold` with files limited to fsize_bytes (0: no limit): a
 * RocksDB write past it fails with EFBIG, as on a full disk. */
static int run_fold_limited(const char *brokers, const char *data, long fsize_bytes,
                            const char *log)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (fsize_bytes > 0) {
            struct rlimit rl = {(rlim_t)fsize_bytes, (rlim_t)fsize_bytes};
            signal(SIGXFSZ, SIG_IGN);
            setrlimit(RLIMIT_FSIZE, &rl);
        }
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        const char *bin = rf_test_refold_bin();
        execl(bin, bin, "fold", "--brokers", brokers, "--data", data, "--group", "limited",
              "--partitions", "0-15", "--exit-at-end", (char *)NULL);
        _exit(127);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void read_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    buf[n] = '\0';
    if (f) fclose(f);
}

/* A RocksDB write failure stops the worker non-zero with offsets unadvanced
 * past what is durable; after the cause is gone a restart ends at the same
 * heads as an undisturbed run. */
static void test_storage_failure(void **state)
{
    (void)state;
    rf_broker_t *b = broker();
    const char *brokers = rf_broker_bootstraps(b);
    produce_events(brokers, 7, EVENTS);
    char ref[256], d[256], log[300], out[8192];
    rf_test_tmpdir("fold-ref", ref, sizeof ref);
    rf_test_tmpdir("fold-full", d, sizeof d);
    snprintf(log, sizeof log, "%s/fold.log", d);
    rf_errbuf_t eb = {{0}};
    fold_opts_t o = {.manual = true};
    assert_int_equal(fold_to_end(brokers, ref, &o, NULL, &eb), RF_OK);

    int rc = run_fold_limited(brokers, d, 256 * 1024, log);
    read_file(log, out, sizeof out);
    if (rc == 0) fail_msg("refold fold did not fail: %s", out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "(storage)"));
    if (getenv("IT_FOLD_VERBOSE")) print_message("limited run: %s\n", out);
    static rf_ledger_head_t h[NPART], want[NPART];
    fg_heads(d, NPART, h);
    int64_t lo[NPART], hi[NPART];
    fg_watermarks(brokers, RF_TOPIC_EVENTS, NPART, lo, hi);
    int short_parts = 0;
    for (int i = 0; i < NPART; i++) {
        uint64_t sum = 0;
        for (int k = 0; k < RF_OUTCOME__COUNT; k++)
            sum += h[i].counts[k];
        assert_int_equal(sum, h[i].next_offset < 0 ? 0 : (uint64_t)h[i].next_offset);
        short_parts += (h[i].next_offset < 0 ? 0 : h[i].next_offset) < hi[i];
    }
    assert_true(short_parts > 0);

    rc = run_fold_limited(brokers, d, 0, log);
    read_file(log, out, sizeof out);
    if (rc != 0) fail_msg("restart failed (%d): %s", rc, out);
    fg_heads(d, NPART, h);
    fg_heads(ref, NPART, want);
    assert_heads_equal(h, want, NPART);
    assert_at_end(brokers, h);
    rf_test_rmtree(ref);
    rf_test_rmtree(d);
    rf_broker_stop(b);
}

/* ---- rebalance ---------------------------------------------------------- */

typedef struct bg_worker {
    pthread_t th;
    rf_fold_worker_conf_t conf;
    rf_fold_worker_t *w;
    rf_err_t err;
    rf_errbuf_t eb;
} bg_worker_t;

static void *bg_main(void *arg)
{
    bg_worker_t *bw = arg;
    bw->err = rf_fold_worker_run(bw->w, &bw->eb);
    return NULL;
}

static void bg_start(bg_worker_t *bw, const char *brokers, const char *data)
{
    fold_opts_t o = {.group = "rebalance",
                     .outbox = true,
                     .x = {"session.timeout.ms=6000", "heartbeat.interval.ms=500"}};
    conf_for(&bw->conf, brokers, data, &o);
    bw->w = rf_fold_worker_new(&bw->conf, &bw->eb);
    assert_non_null(bw->w);
    assert_int_equal(pthread_create(&bw->th, NULL, bg_main, bw), 0);
}

static void bg_stop(bg_worker_t *bw)
{
    rf_fold_worker_stop(bw->w);
    assert_int_equal(pthread_join(bw->th, NULL), 0);
    if (bw->err) fail_msg("worker: %s", bw->eb.msg);
    rf_fold_worker_destroy(bw->w);
}

/* Waits (up to 60 s) until the workers hold `want` partitions between them,
 * each at least one if `split`, and all of them at the topic's end. */
static void wait_for(bg_worker_t **ws, int n, const char *brokers, bool split)
{
    static rf_fold_stats_t st;
    int64_t lo[NPART], hi[NPART];
    fg_watermarks(brokers, RF_TOPIC_EVENTS, NPART, lo, hi);
    for (int tries = 0; tries < 600; tries++) {
        int held = 0, done = 0, empty = 0;
        for (int i = 0; i < n; i++) {
            rf_fold_worker_stats(ws[i]->w, &st);
            held += st.nparts;
            empty += st.nparts == 0;
            for (int k = 0; k < st.nparts; k++)
                done += st.parts[k].next_offset == hi[st.parts[k].partition];
        }
        if (held == NPART && done == NPART && (!split || empty == 0)) return;
        usleep(100 * 1000);
    }
    fail_msg("workers did not reach the end of the topic");
}

/* Two workers in one group split the partitions and, across joins and a
 * leave while events arrive, end at the same heads as one worker. */
static void test_rebalance(void **state)
{
    (void)state;
    rf_broker_t *b = broker();
    const char *brokers = rf_broker_bootstraps(b);
    char d[256], ref[256];
    rf_test_tmpdir("fold-rebal", d, sizeof d);
    rf_test_tmpdir("fold-rebal-ref", ref, sizeof ref);
    fg_prod_t p;
    fg_t *g = malloc(sizeof *g);
    fg_init(g, 9, PROGRAMS, NPART);
    fg_prod_open(&p, brokers, "none");
    fg_prod_events(&p, RF_TOPIC_EVENTS, g, 8000);
    fg_prod_flush(&p);

    static bg_worker_t a, c;
    bg_worker_t *both[2] = {&a, &c};
    bg_start(&a, brokers, d);
    wait_for(both, 1, brokers, false);
    bg_start(&c, brokers, d); /* joins: a revokes, both get half */
    fg_prod_events(&p, RF_TOPIC_EVENTS, g, 8000);
    fg_prod_flush(&p);
    wait_for(both, 2, brokers, true);
    bg_stop(&c); /* leaves: a takes everything back */
    fg_prod_events(&p, RF_TOPIC_EVENTS, g, 4000);
    assert_int_equal(fg_prod_flush(&p), 0);
    wait_for(both, 1, brokers, false);
    bg_stop(&a);
    fg_prod_close(&p);
    free(g);

    rf_errbuf_t eb = {{0}};
    fold_opts_t o = {.manual = true};
    assert_int_equal(fold_to_end(brokers, ref, &o, NULL, &eb), RF_OK);
    static rf_ledger_head_t h[NPART], want[NPART];
    fg_heads(d, NPART, h);
    fg_heads(ref, NPART, want);
    assert_heads_equal(h, want, NPART);
    assert_at_end(brokers, h);
    assert_outbox(brokers, h, false);
    rf_test_rmtree(d);
    rf_test_rmtree(ref);
    rf_broker_stop(b);
}

/* Offsets are never skipped: a ledger ahead of the topic (another cluster)
 * and a topic whose first events are gone both stop the worker with
 * RF_ERR_GAP naming the partition, and nothing is folded. */
static void test_offsets_out_of_range(void **state)
{
    (void)state;
    rf_broker_t *b1 = broker(), *b2 = broker();
    produce_events(rf_broker_bootstraps(b1), 8, 2000);
    produce_events(rf_broker_bootstraps(b2), 8, 100);
    char d[256], e[256];
    rf_test_tmpdir("fold-range", d, sizeof d);
    rf_test_tmpdir("fold-range-empty", e, sizeof e);
    rf_errbuf_t eb = {{0}};
    fold_opts_t o = {.manual = true};
    assert_int_equal(fold_to_end(rf_broker_bootstraps(b1), d, &o, NULL, &eb), RF_OK);
    static rf_ledger_head_t before[NPART], after[NPART];
    fg_heads(d, NPART, before);
    assert_int_equal(fold_to_end(rf_broker_bootstraps(b2), d, &o, NULL, &eb), RF_ERR_GAP);
    assert_non_null(strstr(eb.msg, "past the end"));
    fg_heads(d, NPART, after);
    assert_heads_equal(before, after, NPART);

    /* the embedded broker keeps 5 MiB per partition: 6 MiB in 60 KB
     * messages drops the first ones */
    fg_prod_t p;
    fg_prod_open(&p, rf_broker_bootstraps(b2), "none");
    static uint8_t big[60000];
    for (int i = 0; i < 105; i++) {
        fg_prod_raw(&p, RF_TOPIC_EVENTS, 3, "big", 3, big, sizeof big);
        assert_int_equal(fg_prod_flush(&p), 0);
    }
    fg_prod_close(&p);
    o.manual = false;
    o.group = "range";
    rf_err_t err = fold_to_end(rf_broker_bootstraps(b2), e, &o, NULL, &eb);
    assert_int_equal(err, RF_ERR_GAP);
    assert_non_null(strstr(eb.msg, "partition 3: the ledger is empty"));
    rf_test_rmtree(d);
    rf_test_rmtree(e);
    rf_broker_stop(b1);
    rf_broker_stop(b2);
}

/* Library options are validated. */
static void test_conf(void **state)
{
    (void)state;
    rf_fold_worker_conf_t c;
    rf_errbuf_t eb = {{0}};
    rf_fold_worker_conf_init(&c);
    assert_null(rf_fold_worker_new(&c, &eb)); /* no brokers */
    c.kafka.brokers = "127.0.0.1:1";
    assert_null(rf_fold_worker_new(&c, &eb)); /* no data dir */
    c.data_dir = "/tmp";
    c.batch_max = 0;
    assert_null(rf_fold_worker_new(&c, &eb));
    c.batch_max = 10;
    c.npartitions = 2;
    c.partitions[0] = c.partitions[1] = 3;
    assert_null(rf_fold_worker_new(&c, &eb));
    assert_non_null(strstr(eb.msg, "twice"));
    c.npartitions = 0;
    rf_fold_worker_t *w = rf_fold_worker_new(&c, &eb);
    assert_non_null(w);
    rf_fold_worker_destroy(w);
    rf_fold_worker_destroy(NULL);

    rf_fold_hist_t h = {0};
    assert_int_equal(rf_fold_hist_quantile(&h, 0.5), 0);
    for (uint64_t v = 1; v <= 1000; v++)
        rf_fold_hist_add(&h, v);
    uint64_t p50 = rf_fold_hist_quantile(&h, 0.5), p99 = rf_fold_hist_quantile(&h, 0.99);
    assert_true(p50 >= 500 && p50 <= 563);
    assert_true(p99 >= 990 && p99 <= 1000);
    assert_int_equal(rf_fold_hist_quantile(&h, 1.0), 1000);
}

int main(void)
{
    rf_log_set_level(RF_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conf),
        cmocka_unit_test(test_determinism_and_outbox),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_dead_letters),
        cmocka_unit_test(test_dlq_unwritable),
        cmocka_unit_test(test_storage_failure),
        cmocka_unit_test(test_offsets_out_of_range),
        cmocka_unit_test(test_rebalance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
