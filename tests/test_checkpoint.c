/* test_checkpoint.c: `refold checkpoint` (consumers/rf_checkpoint.h) while a
 * writer folds: the writer thread serves the request between commits, the
 * checkpoint passes verify, and a ledger opened on it resumes at its stored
 * offset. Also: unlocked partitions are taken directly; a silent lock holder
 * times out. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rf_checkpoint_take.h"
#include "rf_codec.h"
#include "rf_ledger.h"
#include "rf_testutil.h"

typedef struct writer {
    char dir[256];
    int32_t partition;
    atomic_int stop;
    atomic_llong folded;
    rf_ledger_t *l;
} writer_t;

/* Waits (polling every millisecond) until the writer folded n events. */
static void wait_folded(writer_t *w, long long n)
{
    struct timespec ts = {0, 1000000L};
    while (atomic_load(&w->folded) < n)
        nanosleep(&ts, NULL);
}

static size_t encode(rf_codec_t *c, rf_event_t *ev, uint8_t *buf, int n, int64_t t)
{
    rf_event_clear(ev);
    snprintf(ev->event_id, sizeof ev->event_id, "00000000-0000-4000-8000-%012x", n);
    rf_strlcpy(ev->program_id, "pc", sizeof ev->program_id);
    ev->occurred_at_ms = t;
    if (n == 0) {
        ev->type = RF_EV_PROGRAM_CONFIGURED;
        ev->version = 1;
        rf_strlcpy(ev->rules_json, "{\"currency\":\"USD\"}", sizeof ev->rules_json);
    } else {
        ev->type = RF_EV_ADJUSTMENT;
        snprintf(ev->user, sizeof ev->user, "u%d", n % 50);
        ev->amount_minor = 100 + n % 7;
        rf_strlcpy(ev->asset, "USD", sizeof ev->asset);
        rf_strlcpy(ev->reason, "load", sizeof ev->reason);
        rf_strlcpy(ev->actor, "test", sizeof ev->actor);
    }
    size_t len = 0;
    rf_errbuf_t eb;
    assert_int_equal(
        rf_codec_encode_event(c, ev, RF_SCHEMA_ID_EVENT, buf, RF_EVENT_BYTES_MAX, &len, &eb),
        RF_OK);
    return len;
}

/* Folds batches of 50 events and serves checkpoint requests between commits,
 * as a fold worker does. */
static void *writer_main(void *arg)
{
    writer_t *w = arg;
    rf_errbuf_t eb = {{0}};
    rf_codec_t *c = rf_codec_new(&eb);
    rf_event_t *ev = malloc(sizeof *ev);
    uint8_t *buf = malloc(RF_EVENT_BYTES_MAX);
    rf_checkpoint_watch_t *watch = rf_checkpoint_watch_new(w->dir, "fold");
    RF_ASSERT(c && ev && buf && watch);
    int n = (int)rf_ledger_next_offset(w->l);
    if (n < 0) n = 0;
    while (!atomic_load(&w->stop)) {
        for (int i = 0; i < 50; i++, n++) {
            size_t len = encode(c, ev, buf, n, 1767225600000LL + n);
            rf_fold_result_t res;
            RF_ASSERT(rf_ledger_fold(w->l, n, RF_LEDGER_CLOCK_NONE, buf, len, &res, &eb) == RF_OK);
            RF_ASSERT(res.outcome == RF_OUTCOME_APPLIED);
        }
        RF_ASSERT(rf_ledger_commit(w->l, &eb) == RF_OK);
        atomic_store(&w->folded, n);
        rf_errbuf_t ceb = {{0}};
        RF_ASSERT(rf_checkpoint_serve(watch, w->partition, w->l, rf_ledger_checkpoint_fn, &ceb) ==
                  RF_OK);
    }
    rf_checkpoint_watch_free(watch);
    free(buf);
    free(ev);
    rf_codec_destroy(c);
    return NULL;
}

static void test_checkpoint_under_load(void **state)
{
    (void)state;
    writer_t *w = calloc(1, sizeof *w);
    rf_test_tmpdir("ckpt", w->dir, sizeof w->dir);
    rf_errbuf_t eb = {{0}};
    /* partition 1: a ledger nobody holds (the command checkpoints it itself) */
    rf_ledger_t *idle = rf_ledger_open(w->dir, 1, RF_LEDGER_CREATE, &eb);
    assert_non_null(idle);
    rf_ledger_close(idle);
    w->l = rf_ledger_open(w->dir, 0, RF_LEDGER_CREATE | RF_LEDGER_NOSYNC, &eb);
    assert_non_null(w->l);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, writer_main, w), 0);
    wait_folded(w, 2000);
    char out[512];
    snprintf(out, sizeof out, "%s/ckpt", w->dir);
    rf_checkpoint_result_t *res = malloc(sizeof *res);
    rf_err_t err = rf_checkpoint_take(w->dir, out, 20000, true, res, &eb);
    long long at_take = atomic_load(&w->folded);
    if (err) fail_msg("checkpoint: %s", eb.msg);
    atomic_store(&w->stop, 1);
    pthread_join(t, NULL);
    assert_int_equal(res->nparts, 2);
    assert_true(res->parts[0].by_worker);  /* p-0000: locked by the writer */
    assert_false(res->parts[1].by_worker); /* p-0001: free */
    assert_true(res->parts[0].verified);
    assert_true(res->parts[0].next_offset >= 2000 && res->parts[0].next_offset <= at_take + 50);
    /* one record per event: the head matches the stored offset */
    assert_int_equal(res->parts[0].head_seq, (uint64_t)res->parts[0].next_offset);
    int64_t resume = res->parts[0].next_offset;
    rf_ledger_close(w->l);
    /* a writer started on the checkpoint resumes at its stored offset */
    w->l = rf_ledger_open(out, 0, 0, &eb);
    assert_non_null(w->l);
    assert_int_equal(rf_ledger_next_offset(w->l), resume);
    rf_fold_result_t fr;
    assert_int_equal(
        rf_ledger_fold(w->l, resume + 1, RF_LEDGER_CLOCK_NONE, (const uint8_t *)"x", 1, &fr, &eb),
        RF_ERR_GAP);
    rf_ledger_close(w->l);
    w->l = rf_ledger_open(out, 0, RF_LEDGER_NOSYNC, &eb);
    atomic_store(&w->stop, 0);
    atomic_store(&w->folded, 0);
    strcpy(w->dir, out); /* the writer now works on the checkpoint */
    assert_int_equal(pthread_create(&t, NULL, writer_main, w), 0);
    wait_folded(w, resume + 100);
    atomic_store(&w->stop, 1);
    pthread_join(t, NULL);
    uint64_t bad = 0;
    assert_int_equal(rf_ledger_verify(w->l, &bad, &eb), RF_OK);
    rf_ledger_close(w->l);
    free(res);
    char *slash = strrchr(w->dir, '/');
    *slash = 0;
    rf_test_rmtree(w->dir);
    free(w);
}

static void test_silent_holder_times_out(void **state)
{
    (void)state;
    char dir[256], out[512];
    rf_test_tmpdir("ckpt-silent", dir, sizeof dir);
    rf_errbuf_t eb = {{0}};
    rf_ledger_t *l = rf_ledger_open(dir, 0, RF_LEDGER_CREATE, &eb);
    assert_non_null(l); /* holds the lock and never serves */
    snprintf(out, sizeof out, "%s/ckpt", dir);
    rf_checkpoint_result_t *res = malloc(sizeof *res);
    assert_int_equal(rf_checkpoint_take(dir, out, 300, false, res, &eb), RF_ERR_TIMEOUT);
    assert_non_null(strstr(eb.msg, "did not answer"));
    /* and the request was withdrawn */
    char req[700];
    snprintf(req, sizeof req, "%s/checkpoint.request", dir);
    FILE *f = fopen(req, "r");
    assert_null(f);
    /* a non-empty output directory is refused */
    assert_int_equal(rf_checkpoint_take(dir, out, 300, false, res, &eb), RF_ERR_CONFIG);
    rf_ledger_close(l);
    /* the command, nobody holding the lock now */
    char out2[600], text[4096];
    snprintf(out2, sizeof out2, "%s/ckpt2", dir);
    assert_int_equal(
        rf_test_refold(text, sizeof text, 1, "checkpoint --data %s --out %s --verify", dir, out2),
        0);
    assert_non_null(strstr(text, "checkpoint written"));
    snprintf(req, sizeof req, "%s/checkpoint.json", out2);
    f = fopen(req, "r");
    assert_non_null(f);
    fclose(f);
    free(res);
    rf_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checkpoint_under_load),
        cmocka_unit_test(test_silent_holder_times_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
