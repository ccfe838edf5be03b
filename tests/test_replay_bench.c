/* test_replay_bench.c: replay speed from the archive (docs/operations.md,
 * "Replay"): folds loadgen traffic straight into 16 partition ledgers (no
 * Kafka), then times `rf_replay_run` from the archive into a fresh directory
 * as a bulk load (state batches without WAL, records and archive in table
 * files ingested at the end), as `refold replay --from-archive` does, and
 * checks the heads match (the compare is not in the timed figures). By default a 50k-event smoke
 * run; RF_BENCH=1 runs 1M events (RF_BENCH_EVENTS=N to choose) and prints the figures. */
/* ctest-label: slow */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "rf_codec.h"
#include "rf_ledger.h"
#include "rf_loadgen.h"
#include "rf_replay.h"
#include "rf_testutil.h"

#define NPART 16

/* CPU seconds (user + system) of this process: on a shared machine the wall
 * clock says more about the neighbours than about refold. */
static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static uint32_t part_of(const char *program)
{
    uint32_t h = 2166136261u;
    for (const char *p = program; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return h % NPART;
}

/* Folds n loadgen events into data's ledgers; returns events/s (wall) and
 * *cpu the CPU seconds it took. */
static double fold_live(const char *data, uint64_t n, double *cpu)
{
    rf_loadgen_conf_t c;
    rf_loadgen_conf_init(&c);
    c.seed = 42;
    c.events = n;
    c.programs = 64;
    rf_errbuf_t eb = {{0}};
    rf_loadgen_t *g = rf_loadgen_new(&c, &eb);
    assert_non_null(g);
    rf_codec_t *codec = rf_codec_new(&eb);
    rf_event_t *ev = malloc(sizeof *ev);
    uint8_t *buf = malloc(RF_EVENT_BYTES_MAX);
    rf_ledger_t *ls[NPART];
    for (int p = 0; p < NPART; p++) {
        ls[p] = rf_ledger_open(data, p, RF_LEDGER_CREATE | RF_LEDGER_NOSYNC, &eb);
        assert_non_null(ls[p]);
    }
    uint64_t t0 = rf_now_ns(), k = 0;
    double c0 = cpu_s();
    while (rf_loadgen_next(g, ev) == RF_OK) {
        size_t len = 0;
        assert_int_equal(rf_codec_encode_event(codec, ev, RF_SCHEMA_ID_EVENT, buf,
                                               RF_EVENT_BYTES_MAX, &len, &eb),
                         RF_OK);
        rf_ledger_t *l = ls[part_of(ev->program_id)];
        int64_t off = rf_ledger_next_offset(l);
        off = off < 0 ? (int64_t)rf_ledger_batch_size(l) : off + rf_ledger_batch_size(l);
        rf_fold_result_t res;
        if (rf_ledger_fold(l, off, RF_LEDGER_CLOCK_NONE, buf, len, &res, &eb))
            fail_msg("fold: %s", eb.msg);
        if (rf_ledger_batch_size(l) >= RF_FOLD_BATCH_MAX && rf_ledger_commit(l, &eb))
            fail_msg("commit: %s", eb.msg);
        k++;
    }
    for (int p = 0; p < NPART; p++) {
        assert_int_equal(rf_ledger_commit(ls[p], &eb), RF_OK);
        rf_ledger_close(ls[p]);
        /* a long-running ledger has its data in table files (memtables flush
         * every RF_LEDGER_WRITE_BUFFER_BYTES); a writable open flushes what
         * the WAL holds, so the replay reads tables as it would in production
         * instead of re-inserting a whole WAL into a memtable */
        ls[p] = rf_ledger_open(data, p, 0, &eb);
        assert_non_null(ls[p]);
        rf_ledger_close(ls[p]);
    }
    double s = (double)(rf_now_ns() - t0) / 1e9;
    *cpu = cpu_s() - c0;
    assert_int_equal(k, n);
    free(buf);
    free(ev);
    rf_codec_destroy(codec);
    rf_loadgen_destroy(g);
    return (double)n / s;
}

static int count_bytes(int64_t offset, int64_t clock_ms, const uint8_t *b, size_t len, void *opaque)
{
    (void)clock_ms;
    (void)offset, (void)b;
    *(uint64_t *)opaque += len;
    return 0;
}

/* The read side alone: open every live partition and scan its archive. */
static double archive_scan_s(const char *data, uint64_t *bytes)
{
    uint64_t t0 = rf_now_ns();
    rf_errbuf_t eb = {{0}};
    for (int p = 0; p < NPART; p++) {
        rf_ledger_t *l = rf_ledger_open(data, p, RF_LEDGER_READONLY, &eb);
        assert_non_null(l);
        assert_int_equal(rf_ledger_archive_scan(l, 0, count_bytes, bytes, &eb), RF_OK);
        rf_ledger_close(l);
    }
    return (double)(rf_now_ns() - t0) / 1e9;
}

static void test_replay_speed(void **state)
{
    (void)state;
    const char *bench = getenv("RF_BENCH");
    const char *nev = getenv("RF_BENCH_EVENTS");
    uint64_t n = bench && *bench == '1' ? 1000000 : 50000;
    if (nev && *nev) n = strtoull(nev, NULL, 10);
    char dir[256], into[512];
    rf_test_tmpdir("replay-bench", dir, sizeof dir);
    snprintf(into, sizeof into, "%s/replayed", dir);
    double fold_cpu = 0, fold_rate = fold_live(dir, n, &fold_cpu);
    uint64_t bytes = 0;
    double scan_s = archive_scan_s(dir, &bytes);
    rf_replay_opts_t o;
    rf_replay_opts_init(&o);
    o.data_dir = dir;
    o.into_dir = into; /* a bulk load in batches of RF_REPLAY_BATCH_MAX events, as the command */
    rf_replay_stats_t *st = malloc(sizeof *st);
    rf_errbuf_t eb = {{0}};
    double c0 = cpu_s();
    if (rf_replay_run(&o, st, &eb)) fail_msg("replay: %s", eb.msg);
    double replay_cpu = cpu_s() - c0;
    assert_int_equal(st->events, n);
    double s = (double)st->elapsed_ns / 1e9;
    printf("replay bench: %llu loadgen events, 16 partitions\n"
           "  live fold (unsynced):        %.0f events/s wall, %.0f events per CPU-second\n"
           "  replay from the archive (bulk load, batches of %d): %.2f s wall "
           "= %.0f events/s, "
           "%.2f CPU-s = %.0f events per CPU-second\n",
           (unsigned long long)n, fold_rate, (double)n / fold_cpu, RF_REPLAY_BATCH_MAX, s,
           (double)n / s, replay_cpu, (double)n / replay_cpu);
    printf("  archive scan alone (open + read %.1f MiB): %.2f s wall\n", (double)bytes / 1048576,
           scan_s);
    printf("  replay thread-seconds: folding (with the archive read) %.2f s, rf_ledger_commit "
           "%.2f s; finisher thread (flush, sync, ingest; mostly waiting) %.2f s\n",
           (double)st->fold_ns / 1e9, (double)st->commit_ns / 1e9, (double)st->finish_ns / 1e9);
    static rf_replay_cmp_t cmp[NPART];
    assert_int_equal(rf_replay_compare(dir, into, cmp, NPART, &eb), NPART);
    for (int i = 0; i < NPART; i++)
        assert_int_equal(cmp[i].verdict, RF_REPLAY_SAME);
    free(st);
    const char *keep =
        getenv("RF_BENCH_KEEP"); /* keep the live ledger to profile `refold replay` on */
    if (keep && *keep == '1')
        printf("  kept: %s (live ledger) and %s (replayed)\n", dir, into);
    else
        rf_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_replay_speed)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
