/* it_badinput.c: bad input at scale. Loadgen traffic with 1% corrupt
 * messages mixed in, of every kind: bad magic byte, unknown schema id,
 * truncated, oversize, undecodable Avro, an invalid field, an unknown
 * program (all dead-lettered), a reused event id with other bytes
 * (rejected: conflict) and a byte-identical redelivery (duplicate). Checks:
 * every corrupt message is in refold.events.dlq with its reason and error
 * headers and in the ledgers' dead-letter index, every good event is
 * applied (the balances equal a clean run of the good events alone), and
 * the outcome counts add up to the offsets consumed.
 * Size: RF_BAD_EVENTS good events (default 40000; --long: 1000000) over
 * RF_BAD_PARTITIONS partitions (4; 64 above 100k events). */
#include "rf_testutil.h" /* before rf_harness.h: rdkafka.h first */
#include "rf_harness.h"

#include "bench/rf_fold_gen.h"

/* partitions: the mock keeps 5 MiB per partition, so 1M events need many */
static int npart = 4;
#define PROGRAMS 16
#define EVERY    100 /* one corrupt message per this many good events: 1% */

typedef enum kind {
    K_BAD_MAGIC,
    K_UNKNOWN_SCHEMA,
    K_TRUNCATED,
    K_OVERSIZE,
    K_GARBAGE,
    K_INVALID_FIELD,
    K_UNKNOWN_PROGRAM,
    K_CONFLICT,
    K_DUPLICATE,
    K__COUNT
} kind_t;
#define K_DEAD_LETTERED 7 /* kinds before K_CONFLICT go to the DLQ */
static const char *const kind_names[K__COUNT] = {
    "bad magic",     "unknown schema",  "truncated",   "oversize", "undecodable",
    "invalid field", "unknown program", "id conflict", "duplicate"};
/* the refold.error header each dead-lettered kind may carry */
static const char *const kind_errors[K_DEAD_LETTERED][2] = {
    {"bad_magic", NULL},     {"unknown_schema", NULL}, {"truncated", "decode"},  {"oversize", NULL},
    {"decode", "truncated"}, {"bad_input", NULL},      {"unknown_program", NULL}};

typedef struct gen {
    fg_prod_t p;
    uint8_t last[RF_EVENT_BYTES_MAX]; /* the last good event's bytes */
    size_t last_len;
    rf_event_t last_ev;
    long counts[K__COUNT];
    uint64_t x;
} gen_t;

static void encode(gen_t *g, const rf_event_t *ev, uint8_t *buf, size_t *len)
{
    rf_errbuf_t eb = {{0}};
    assert_int_equal(rf_codec_encode_event(g->p.codec, ev, RF_SCHEMA_ID_EVENT, buf,
                                           RF_EVENT_BYTES_MAX, len, &eb),
                     RF_OK);
}

static void put_msg(gen_t *g, const char *key, const uint8_t *buf, size_t len)
{
    fg_prod_raw(&g->p, RF_TOPIC_EVENTS, RD_KAFKA_PARTITION_UA, key, strlen(key), buf, len);
}

/* One corrupt message of kind k, derived from the last good event. */
static void corrupt(gen_t *g, kind_t k)
{
    static uint8_t buf[RF_EVENT_BYTES_MAX + 8192];
    static rf_event_t ev;
    size_t len = g->last_len;
    memcpy(buf, g->last, len);
    const char *key = g->last_ev.program_id;
    g->x = fg_mix(g->x + 1);
    switch (k) {
    case K_BAD_MAGIC:
        buf[0] = (uint8_t)(1 + g->x % 255);
        break;
    case K_UNKNOWN_SCHEMA:
        rf_be32_put(buf + 1, 9000 + (uint32_t)(g->x % 1000));
        break;
    case K_TRUNCATED:
        len = RF_FRAME_HEADER + (len - RF_FRAME_HEADER) / 2;
        break;
    case K_OVERSIZE:
        len = RF_EVENT_BYTES_MAX + 1 + g->x % 4096;
        memset(buf + RF_FRAME_HEADER, 'x', len - RF_FRAME_HEADER);
        break;
    case K_GARBAGE:
        len = RF_FRAME_HEADER + 8 + g->x % 64;
        for (size_t i = RF_FRAME_HEADER; i < len; i++)
            buf[i] = (uint8_t)fg_mix(g->x + i);
        buf[RF_FRAME_HEADER] = 0xff; /* a huge negative string length: never valid */
        break;
    case K_INVALID_FIELD: {
        /* the event id's text, same length, no longer a UUID */
        size_t at = 0;
        while (at + RF_UUID_STR_LEN <= len &&
               memcmp(buf + at, g->last_ev.event_id, RF_UUID_STR_LEN))
            at++;
        assert_true(at + RF_UUID_STR_LEN <= len);
        memset(buf + at, 'z', RF_UUID_STR_LEN);
        break;
    }
    case K_UNKNOWN_PROGRAM:
        ev = g->last_ev;
        snprintf(ev.program_id, sizeof ev.program_id, "nope-%" PRIu64, g->x % 1000);
        ev.event_id[0] = ev.event_id[0] == 'a' ? 'b' : 'a';
        encode(g, &ev, buf, &len);
        key = ev.program_id;
        break;
    case K_CONFLICT:
        ev = g->last_ev;
        snprintf(ev.source, sizeof ev.source, "conflict-%" PRIu64, g->x);
        encode(g, &ev, buf, &len);
        break;
    case K_DUPLICATE:
        break;
    default:
        fail();
    }
    put_msg(g, key, buf, len);
    g->counts[k]++;
}

/* Produces n good events, with one corrupt message after every EVERY-th
 * when with_bad. */
static void produce(const char *brokers, uint64_t n, bool with_bad, gen_t *g)
{
    memset(g, 0, sizeof *g);
    fg_prod_open(&g->p, brokers, "lz4");
    rf_loadgen_t *lg = fg_loadgen_new(11, PROGRAMS, n);
    uint64_t i = 0;
    while (rf_loadgen_next(lg, &g->last_ev) == RF_OK) {
        encode(g, &g->last_ev, g->last, &g->last_len);
        put_msg(g, g->last_ev.program_id, g->last, g->last_len);
        if (with_bad && ++i % EVERY == 0) corrupt(g, (kind_t)((i / EVERY) % K__COUNT));
    }
    rf_loadgen_destroy(lg);
    assert_int_equal(fg_prod_flush(&g->p), 0);
    fg_prod_close(&g->p);
}

static void fold(const char *brokers, const char *data, rf_fold_stats_t *st)
{
    static rf_fold_worker_conf_t c;
    rf_fold_worker_conf_init(&c);
    c.kafka.brokers = brokers;
    c.data_dir = data;
    c.exit_at_end = true;
    c.no_outbox = true;
    c.npartitions = npart;
    for (int i = 0; i < npart; i++)
        c.partitions[i] = i;
    rf_errbuf_t eb = {{0}};
    rf_fold_worker_t *w = rf_fold_worker_new(&c, &eb);
    assert_non_null(w);
    rf_err_t err = rf_fold_worker_run(w, &eb);
    if (err) fail_msg("fold: %s", eb.msg);
    rf_fold_worker_stats(w, st);
    rf_fold_worker_destroy(w);
}

typedef struct dlq_check {
    long n, bad_headers;
    long by_error[16];
    char errors[16][32];
    int nerrors;
} dlq_check_t;

static void on_dlq(const rd_kafka_message_t *m, void *opaque)
{
    dlq_check_t *d = opaque;
    rd_kafka_headers_t *h = NULL;
    const void *reason = NULL, *error = NULL;
    size_t rlen = 0, elen = 0;
    d->n++;
    if (rd_kafka_message_headers(m, &h) ||
        rd_kafka_header_get_last(h, "refold.reason", &reason, &rlen) ||
        rd_kafka_header_get_last(h, "refold.error", &error, &elen) || rlen == 0 || elen == 0 ||
        elen >= 32) {
        d->bad_headers++;
        return;
    }
    int i = 0;
    while (i < d->nerrors && (strlen(d->errors[i]) != elen || memcmp(d->errors[i], error, elen)))
        i++;
    if (i == d->nerrors && d->nerrors < 16) {
        memcpy(d->errors[i], error, elen);
        d->errors[i][elen] = '\0';
        d->nerrors++;
    }
    if (i < 16) d->by_error[i]++;
}

static long dlq_errors(const dlq_check_t *d, const char *name)
{
    for (int i = 0; i < d->nerrors; i++)
        if (name && !strcmp(d->errors[i], name)) return d->by_error[i];
    return 0;
}

static void test_bad_input(void **state)
{
    (void)state;
    uint64_t n = (uint64_t)rh_env_long("RF_BAD_EVENTS", 40000);
    npart = (int)rh_env_long("RF_BAD_PARTITIONS", n > 100000 ? 64 : 4);
    char clean_dir[256], bad_dir[256];
    rf_test_tmpdir("bad-clean", clean_dir, sizeof clean_dir);
    rf_test_tmpdir("bad-mixed", bad_dir, sizeof bad_dir);
    rf_errbuf_t eb = {{0}};
    static gen_t g;
    static rf_fold_stats_t st_clean, st_bad;
    static rh_digest_t clean, bad;

    rf_broker_t *b = rf_broker_start(npart, 1, &eb);
    assert_non_null(b);
    produce(rf_broker_bootstraps(b), n, false, &g);
    fold(rf_broker_bootstraps(b), clean_dir, &st_clean);
    rf_broker_stop(b);
    assert_int_equal(rh_digest_read(clean_dir, npart, false, &clean, &eb), RF_OK);

    b = rf_broker_start(npart, 1, &eb);
    assert_non_null(b);
    uint64_t t0 = rf_now_ns();
    produce(rf_broker_bootstraps(b), n, true, &g);
    fold(rf_broker_bootstraps(b), bad_dir, &st_bad);
    double secs = rh_secs(t0);
    static dlq_check_t dq;
    memset(&dq, 0, sizeof dq);
    long in_dlq = rf_test_consume_all(rf_broker_bootstraps(b), RF_TOPIC_DLQ, on_dlq, &dq);
    rf_broker_stop(b);
    assert_int_equal(rh_digest_read(bad_dir, npart, false, &bad, &eb), RF_OK);
    if (rh_verify(bad_dir, npart, &eb)) fail_msg("verify: %s", eb.msg);

    long corrupt = 0, dead = 0;
    printf("badinput: %" PRIu64 " good events, corrupt:", n);
    for (int k = 0; k < K__COUNT; k++) {
        printf(" %s %ld%s", kind_names[k], g.counts[k], k + 1 < K__COUNT ? "," : "\n");
        corrupt += g.counts[k];
        if (k < K_DEAD_LETTERED) dead += g.counts[k];
    }
    const uint64_t *o = st_bad.outcomes, *oc = st_clean.outcomes;
    printf("badinput: consumed %" PRIu64 " in %.1f s: applied %" PRIu64 ", rejected %" PRIu64
           ", duplicate %" PRIu64 ", dead-lettered %" PRIu64
           " (DLQ topic %ld, ledger index %" PRIu64 "); clean run: applied %" PRIu64
           ", rejected %" PRIu64 "\n",
           st_bad.consumed, secs, o[RF_OUTCOME_APPLIED], o[RF_OUTCOME_REJECTED],
           o[RF_OUTCOME_DUPLICATE], o[RF_OUTCOME_DEAD_LETTER], in_dlq, bad.deadletters,
           oc[RF_OUTCOME_APPLIED], oc[RF_OUTCOME_REJECTED]);
    for (int i = 0; i < dq.nerrors; i++)
        printf("badinput:   DLQ error %s: %ld\n", dq.errors[i], dq.by_error[i]);
    /* counts add up */
    assert_int_equal(st_bad.consumed, n + (uint64_t)corrupt);
    assert_int_equal(o[0] + o[1] + o[2] + o[3], st_bad.consumed);
    assert_int_equal(o[RF_OUTCOME_DEAD_LETTER], dead);
    assert_int_equal(o[RF_OUTCOME_DUPLICATE], oc[RF_OUTCOME_DUPLICATE] + g.counts[K_DUPLICATE]);
    assert_int_equal(o[RF_OUTCOME_REJECTED], oc[RF_OUTCOME_REJECTED] + g.counts[K_CONFLICT]);
    assert_int_equal(o[RF_OUTCOME_APPLIED], oc[RF_OUTCOME_APPLIED]);
    /* every corrupt one in the DLQ, with its reason and the right error */
    assert_int_equal(in_dlq, dead);
    assert_int_equal(bad.deadletters, (uint64_t)dead);
    assert_int_equal(dq.bad_headers, 0);
    for (int k = 0; k < K_DEAD_LETTERED; k++) {
        long seen = dlq_errors(&dq, kind_errors[k][0]) + dlq_errors(&dq, kind_errors[k][1]);
        if (seen < g.counts[k])
            fail_msg("%s: %ld corrupt, %ld in the DLQ with error %s", kind_names[k], g.counts[k],
                     seen, kind_errors[k][0]);
    }
    /* every good event applied: the same balances as the clean run */
    assert_int_equal(bad.fold_rows, clean.fold_rows);
    assert_int_equal(bad.fold_sum, clean.fold_sum);
    assert_int_equal(bad.fold_xor, clean.fold_xor);
    rf_test_rmtree(clean_dir);
    rf_test_rmtree(bad_dir);
}

int main(void)
{
    rh_log_install();
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_bad_input)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
