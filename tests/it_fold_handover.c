/* it_fold_handover.c: a partition handed to a fold worker while another
 * process still holds its ledger open (a previous owner closing it late) is
 * waited for, not a storage error: the worker names the holder, opens the
 * ledger once it is let go, and folds everything. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rf_kafka.h"
#include "rf_ledger.h"
#include "rf_testutil.h"

#define NPART  2
#define EVENTS 2000

/* The previous owner: opens partition 0's ledger when told, says so, lets it
 * go when told. Forked before the broker starts, so the child of a
 * single-threaded process. */
static void holder(const char *data, int go, int held)
{
    char c;
    if (read(go, &c, 1) != 1) _exit(2);
    rf_errbuf_t eb = {{0}};
    rf_ledger_t *l = rf_ledger_open(data, 0, RF_LEDGER_CREATE | RF_LEDGER_NOSYNC, &eb);
    if (!l) _exit(3);
    if (write(held, "h", 1) != 1) _exit(4);
    if (read(go, &c, 1) != 1) _exit(5);
    rf_ledger_close(l);
    _exit(0);
}

/* Waits (bounded) until file contains text. */
static bool wait_for_text(const char *file, const char *text, int timeout_s)
{
    char *buf = malloc(1 << 16);
    bool found = false;
    for (int i = 0; i < timeout_s * 20 && !found; i++) {
        FILE *f = fopen(file, "r");
        size_t n = f ? fread(buf, 1, (1 << 16) - 1, f) : 0;
        if (f) fclose(f);
        buf[n] = 0;
        found = strstr(buf, text) != NULL;
        if (!found) usleep(50000);
    }
    free(buf);
    return found;
}

static void test_waits_for_the_previous_owner(void **state)
{
    (void)state;
    char dir[256], data[300];
    rf_test_tmpdir("handover", dir, sizeof dir);
    snprintf(data, sizeof data, "%s/data", dir);
    int go[2], held[2];
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(held), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) holder(data, go[0], held[1]);

    rf_errbuf_t eb = {{0}};
    rf_broker_t *b = rf_broker_start(NPART, 1, &eb);
    assert_non_null(b);
    const char *brokers = rf_broker_bootstraps(b);
    char *out = malloc(65536);
    int rc = rf_test_refold(out, 65536, 1,
                            "loadgen --brokers %s --events %d --seed 5 --no-throttle --programs 4",
                            brokers, EVENTS);
    if (rc) fail_msg("loadgen: %s", out);
    char c;
    assert_int_equal(write(go[1], "g", 1), 1);
    assert_int_equal(read(held[0], &c, 1), 1); /* partition 0 is held now */
    assert_int_equal(rf_ledger_lock_holder(data, 0), (long)child);
    assert_null(rf_ledger_open(data, 0, 0, &eb)); /* one writer at a time */

    /* the worker, in the background: it must wait for the holder, not stop */
    char log[320], cmd[2048], want[96];
    snprintf(log, sizeof log, "%s/fold.log", dir);
    snprintf(cmd, sizeof cmd,
             "'%s' fold --brokers %s --data %s --group handover --exit-at-end --no-outbox "
             ">'%s' 2>&1",
             rf_test_refold_bin(), brokers, data, log);
    FILE *fold = popen(cmd, "r");
    assert_non_null(fold);
    snprintf(want, sizeof want, "is held by process %ld", (long)child);
    bool waited = wait_for_text(log, want, 60);
    assert_int_equal(write(go[1], "r", 1), 1); /* the previous owner lets go */
    int st = 0;
    assert_int_equal(waitpid(child, &st, 0), child);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    rc = pclose(fold);
    FILE *f = fopen(log, "r");
    size_t n = f ? fread(out, 1, 65535, f) : 0;
    out[n] = 0;
    if (f) fclose(f);
    if (!waited) fail_msg("no wait for the holder in: %s", out);
    if (!WIFEXITED(rc) || WEXITSTATUS(rc) != 0) fail_msg("fold failed: %s", out);
    assert_int_equal(rf_ledger_lock_holder(data, 0), 0);

    /* everything folded: each ledger's next offset is its partition's end */
    int64_t hi[NPART];
    char err[256];
    assert_int_equal(
        rf_test_high_watermarks(brokers, RF_TOPIC_EVENTS, NPART, hi, 10, err, sizeof err), 0);
    int64_t total = 0;
    for (int p = 0; p < NPART; p++) {
        rf_ledger_t *l = rf_ledger_open(data, p, RF_LEDGER_READONLY, &eb);
        if (!l) fail_msg("open: %s", eb.msg);
        assert_int_equal(rf_ledger_next_offset(l), hi[p]);
        total += hi[p];
        rf_ledger_close(l);
    }
    assert_int_equal(total, EVENTS);
    free(out);
    rf_broker_stop(b);
    rf_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_waits_for_the_previous_owner)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
