/* it_disk_full.c: disk faults. The fold's data directory is a small tmpfs
 * (mounted by the test; it needs root and is skipped, saying so, without)
 * that a ballast file fills until RocksDB's writes fail with ENOSPC. Each
 * time: the worker stops with a fatal storage error, the stored ledgers
 * verify, and neither the stored next offsets nor the group's committed
 * Kafka offsets moved past what is durable. The ballast is then deleted and
 * the worker resumes; after RF_DISK_ROUNDS (3) such failures, a final run
 * ends with ledgers identical to a clean run's (heads and balances).
 * The projection worker gets the same treatment (test_disk_full_project):
 * its stores on the full tmpfs, compared at the end with its fold.
 * RocksDB's info LOG goes outside the full filesystem (REFOLD_ROCKSDB_LOG_DIR,
 * as docs/operations.md advises): kept in the store, Debian's librocksdb
 * (built with assertions) aborts on the LOG line after a failed one, so with
 * it moved every stop must be a clean one (no abort).
 * Size: RF_DISK_EVENTS (default 40000), RF_DISK_PROJECT_EVENTS (30000). */
#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "rf_testutil.h" /* before rf_harness.h: rdkafka.h first */
#include "rf_harness.h"
#include "rf_store.h"

#define NPART 2
#define GROUP "refold-fold-disk"

static rf_err_t fold_once(const char *brokers, const char *data, const char *group,
                          rf_fold_stats_t *st, rf_errbuf_t *eb)
{
    static rf_fold_worker_conf_t c;
    rf_fold_worker_conf_init(&c);
    c.kafka.brokers = brokers;
    c.data_dir = data;
    c.group = group;
    c.exit_at_end = true;
    c.no_outbox = true;
    c.npartitions = NPART;
    for (int i = 0; i < NPART; i++)
        c.partitions[i] = i;
    rf_fold_worker_t *w = rf_fold_worker_new(&c, eb);
    if (!w) return RF_ERR_CONFIG;
    rf_err_t err = rf_fold_worker_run(w, eb);
    rf_fold_worker_stats(w, st);
    rf_fold_worker_destroy(w);
    return err;
}

/* The group's committed offsets (-1 when none). */
static void committed(const char *brokers, int64_t *out)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr),
                     0);
    assert_int_equal(rd_kafka_conf_set(conf, "group.id", GROUP, errstr, sizeof errstr), 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(NPART);
    for (int i = 0; i < NPART; i++)
        rd_kafka_topic_partition_list_add(tl, RF_TOPIC_EVENTS, i);
    assert_int_equal(rd_kafka_committed(rk, tl, 10000), 0);
    for (int i = 0; i < NPART; i++)
        out[i] = tl->elems[i].offset < 0 ? -1 : tl->elems[i].offset;
    rd_kafka_topic_partition_list_destroy(tl);
    rd_kafka_destroy(rk);
}

static long du_kb(const char *dir)
{
    char cmd[512], buf[64] = "";
    snprintf(cmd, sizeof cmd, "du -sk '%s'", dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    if (!fgets(buf, sizeof buf, p)) buf[0] = '\0';
    pclose(p);
    return atol(buf);
}

static long free_kb(const char *dir)
{
    struct statvfs sv;
    assert_int_equal(statvfs(dir, &sv), 0);
    return (long)(sv.f_bavail * sv.f_frsize / 1024);
}

/* Fills dir's filesystem with a ballast file until keep_kb stay free. */
static void ballast(const char *path, long keep_kb)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    long kb = free_kb(dir) - keep_kb;
    if (kb <= 0) return;
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    assert_true(fd >= 0);
    static char zero[1 << 16];
    for (long done = 0; done < kb * 1024;) {
        ssize_t w = write(fd, zero, sizeof zero);
        if (w <= 0) break;
        done += w;
    }
    close(fd);
}

static char mounted[300]; /* unmounted by the teardown, also after a failure */

static int teardown(void **state)
{
    (void)state;
    if (mounted[0]) umount2(mounted, MNT_DETACH);
    mounted[0] = '\0';
    unsetenv(RF_STORE_LOG_DIR_ENV);
    return 0;
}

/* Publishes n loadgen events (8 programs, 300 referrers) to brokers. */
static rh_prod_t *produce_events(const char *brokers, long n)
{
    rf_errbuf_t eb = {{0}};
    rh_prod_t *prod = rh_prod_new(brokers, NPART);
    rf_loadgen_conf_t lc;
    rf_loadgen_conf_init(&lc);
    lc.events = (uint64_t)n;
    lc.programs = 8;
    lc.referrers = 300;
    rf_loadgen_t *g = rf_loadgen_new(&lc, &eb);
    assert_non_null(g);
    while (rf_loadgen_next(g, &prod->ev) == RF_OK)
        rh_prod_emit(prod, &prod->ev);
    rh_prod_flush(prod);
    rf_loadgen_destroy(g);
    return prod;
}

/* Mounts a tmpfs of twice clean_kb plus 64 MiB at <top>/mnt, with <mnt>/data
 * made, and points RocksDB's info LOG at <top>/rocksdb-log. False (after a
 * message) when no tmpfs can be mounted. */
static bool mount_small(const char *top, long clean_kb, char *mnt, size_t cap)
{
    snprintf(mnt, cap, "%s/mnt", top);
    assert_int_equal(mkdir(mnt, 0700), 0);
    char opts[64];
    snprintf(opts, sizeof opts, "size=%ldk", clean_kb * 2 + 64 * 1024);
    if (mount("tmpfs", mnt, "tmpfs", 0, opts) != 0) {
        print_message("disk_full: cannot mount a tmpfs (%s): skipped\n", strerror(errno));
        return false;
    }
    snprintf(mounted, sizeof mounted, "%s", mnt);
    char path[400];
    snprintf(path, sizeof path, "%s/data", mnt);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/rocksdb-log", top);
    assert_int_equal(mkdir(path, 0700), 0);
    setenv(RF_STORE_LOG_DIR_ENV, path, 1);
    return true;
}

/* Runs `refold ARGS` (a separate process: a stop may also be an abort inside
 * librocksdb) with the ballast leaving keep_kb free; prints the outcome of
 * round r. 0 finished, 1 stopped cleanly, 2 aborted. */
static int faulted_round(const char *what, int r, const char *ball, long keep_kb, char *out,
                         size_t cap, const char *args)
{
    ballast(ball, keep_kb);
    int rc = rf_test_refold(out, cap, 1, "%s 2>&1", args);
    unlink(ball);
    bool aborted = rc < 0 || rc >= 128;
    printf("disk_full: %s round %d: %s (exit %d)\n", what, r + 1,
           rc == 0   ? "finished"
           : aborted ? "ABORTED"
                     : "stopped",
           rc);
    if (rc != 0) printf("%s", out);
    return rc == 0 ? 0 : aborted ? 2 : 1;
}

static void test_disk_full(void **state)
{
    (void)state;
    if (geteuid() != 0) skip();
    long n = rh_env_long("RF_DISK_EVENTS", 40000), rounds = rh_env_long("RF_DISK_ROUNDS", 3);
    char top[256], clean[300], mnt[300], data[320], ball[320];
    rf_test_tmpdir("disk-full", top, sizeof top);
    snprintf(clean, sizeof clean, "%s/clean", top);
    rf_errbuf_t eb = {{0}};
    rf_broker_t *b = rf_broker_start(NPART, 1, &eb);
    assert_non_null(b);
    const char *brokers = rf_broker_bootstraps(b);

    /* the events, and a clean fold of them */
    rh_prod_t *prod = produce_events(brokers, n);
    static rf_fold_stats_t st;
    static rh_digest_t want, got;
    assert_int_equal(mkdir(clean, 0700), 0);
    rf_err_t err = fold_once(brokers, clean, "refold-fold-clean", &st, &eb);
    if (err) fail_msg("clean fold: %s", eb.msg);
    assert_int_equal(rh_digest_read(clean, NPART, false, &want, &eb), RF_OK);
    long clean_kb = du_kb(clean);

    if (!mount_small(top, clean_kb, mnt, sizeof mnt)) {
        rh_prod_destroy(prod);
        rf_broker_stop(b);
        rf_test_rmtree(top);
        skip();
    }
    snprintf(data, sizeof data, "%s/data", mnt);
    snprintf(ball, sizeof ball, "%s/ballast", mnt);
    /* RocksDB preallocates its write-ahead log (about 1.1 x the 8 MiB write
     * buffer per partition): leave room for that plus an eighth of the data */
    long keep_kb = clean_kb / 8 + NPART * 10 * 1024;
    printf("disk_full: the clean run wrote %ld KiB; each round leaves %ld KiB free\n", clean_kb,
           keep_kb);
    int failures = 0, aborts = 0;
    int64_t prev_next[NPART] = {0};
    static char out[8192], args[1024];
    snprintf(args, sizeof args,
             "fold --brokers %s --data %s --group %s --partitions 0-%d --exit-at-end --no-outbox",
             brokers, data, GROUP, NPART - 1);
    for (int r = 0; r < rounds; r++) {
        int res = faulted_round("fold", r, ball, keep_kb, out, sizeof out, args);
        if (res == 0) break;
        failures++;
        aborts += res == 2;
        /* what is stored is whole and no offset ran ahead of it */
        assert_int_equal(rh_digest_read(data, NPART, false, &got, &eb), RF_OK);
        if (rh_verify(data, NPART, &eb)) fail_msg("verify after ENOSPC: %s", eb.msg);
        int64_t comm[NPART];
        committed(brokers, comm);
        for (int i = 0; i < NPART; i++) {
            int64_t stored = got.heads[i].next_offset < 0 ? 0 : got.heads[i].next_offset;
            printf("disk_full:   partition %d: stored next offset %" PRId64 ", committed %" PRId64
                   "\n",
                   i, stored, comm[i]);
            assert_true(comm[i] <= stored);
            assert_true(stored >= prev_next[i]);
            prev_next[i] = stored;
        }
    }
    /* space freed: the worker resumes and ends where the clean run did */
    err = fold_once(brokers, data, GROUP, &st, &eb);
    if (err) fail_msg("fold after freeing space: %s", eb.msg);
    assert_int_equal(rh_digest_read(data, NPART, false, &got, &eb), RF_OK);
    if (rh_verify(data, NPART, &eb)) fail_msg("verify: %s", eb.msg);
    printf("disk_full: %d ENOSPC stops (%d of them aborts inside librocksdb), then resumed; "
           "comparing with the clean run\n",
           failures, aborts);
    assert_int_equal(rh_digest_compare(&want, &got, false, true), 0);
    assert_true(failures >= 1);
    assert_int_equal(aborts, 0);

    teardown(NULL);
    rh_prod_destroy(prod);
    rf_broker_stop(b);
    rf_test_rmtree(top);
}

/* Committed offsets of group on topic (-1 when none). */
static void committed_of(const char *brokers, const char *group, const char *topic, int64_t *out)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr),
                     0);
    assert_int_equal(rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof errstr), 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(NPART);
    for (int i = 0; i < NPART; i++)
        rd_kafka_topic_partition_list_add(tl, topic, i);
    assert_int_equal(rd_kafka_committed(rk, tl, 10000), 0);
    for (int i = 0; i < NPART; i++)
        out[i] = tl->elems[i].offset < 0 ? -1 : tl->elems[i].offset;
    rd_kafka_topic_partition_list_destroy(tl);
    rd_kafka_destroy(rk);
}

/* The projection under <data>: per partition applied seq and next offset,
 * and its balances folded into d's proj_* digest. */
static void read_projection(const char *data, rh_digest_t *d, int64_t *next_offset)
{
    rf_errbuf_t eb = {{0}};
    d->proj_rows = d->proj_sum = d->proj_xor = 0;
    for (int i = 0; i < NPART; i++)
        d->proj_applied[i] = 0, next_offset[i] = -1;
    rf_query_t *q = rf_query_open(data, RF_QUERY_SNAPSHOT, &eb);
    if (!q) return; /* nothing projected yet */
    rf_projection_meta_t meta[NPART];
    int n = rf_query_progress(q, meta, NPART);
    for (int i = 0; i < n; i++) {
        d->proj_applied[meta[i].partition] = meta[i].applied_seq;
        next_offset[meta[i].partition] = meta[i].next_offset;
    }
    assert_int_equal(rf_query_scan_balances(q, rh_proj_row, d, &eb), RF_OK);
    rf_query_close(q);
}

/* The projection worker on a full disk: it stops without storing a partial
 * batch or committing offsets past what is stored, and resumes. */
static void test_disk_full_project(void **state)
{
    (void)state;
    if (geteuid() != 0) skip();
    long n = rh_env_long("RF_DISK_PROJECT_EVENTS", 30000);
    long rounds = rh_env_long("RF_DISK_ROUNDS", 3);
    char top[256], fold_dir[300], clean[300], mnt[300], data[320], ball[320];
    rf_test_tmpdir("disk-full-project", top, sizeof top);
    snprintf(fold_dir, sizeof fold_dir, "%s/fold", top);
    snprintf(clean, sizeof clean, "%s/clean", top);
    rf_errbuf_t eb = {{0}};
    rf_broker_t *b = rf_broker_start(NPART, 1, &eb);
    assert_non_null(b);
    const char *brokers = rf_broker_bootstraps(b);
    rh_prod_t *prod = produce_events(brokers, n);
    /* fold with the outbox on: refold.ledger gets the records */
    static char out[8192], args[1024];
    assert_int_equal(rf_test_refold(out, sizeof out, 1,
                                    "fold --brokers %s --data %s --exit-at-end 2>&1", brokers,
                                    fold_dir),
                     0);
    static rh_digest_t want, got;
    assert_int_equal(rh_digest_read(fold_dir, NPART, false, &want, &eb), RF_OK);
    assert_int_equal(rf_test_refold(out, sizeof out, 1,
                                    "project --brokers %s --data %s --group clean-project "
                                    "--exit-at-end 2>&1",
                                    brokers, clean),
                     0);
    long clean_kb = du_kb(clean);

    if (!mount_small(top, clean_kb, mnt, sizeof mnt)) {
        rh_prod_destroy(prod);
        rf_broker_stop(b);
        rf_test_rmtree(top);
        skip();
    }
    snprintf(data, sizeof data, "%s/data", mnt);
    snprintf(ball, sizeof ball, "%s/ballast", mnt);
    /* the projection's stores are small: room for a quarter of them */
    long keep_kb = clean_kb / 4 + 256;
    printf("disk_full: projection: the clean run wrote %ld KiB; each round leaves %ld KiB free\n",
           clean_kb, keep_kb);
    int failures = 0, aborts = 0;
    snprintf(args, sizeof args, "project --brokers %s --data %s --group %s-project --exit-at-end",
             brokers, data, GROUP);
    for (int r = 0; r < rounds; r++) {
        int res = faulted_round("projection", r, ball, keep_kb, out, sizeof out, args);
        if (res == 0) break;
        failures++;
        aborts += res == 2;
        int64_t next[NPART], comm[NPART];
        read_projection(data, &got, next);
        committed_of(brokers, GROUP "-project", RF_TOPIC_LEDGER, comm);
        for (int i = 0; i < NPART; i++) {
            printf("disk_full:   partition %d: applied seq %" PRIu64 " of %" PRIu64
                   ", stored next offset %" PRId64 ", committed %" PRId64 "\n",
                   i, got.proj_applied[i], want.heads[i].seq, next[i], comm[i]);
            assert_true(got.proj_applied[i] <= want.heads[i].seq);
            assert_true(comm[i] <= (next[i] < 0 ? 0 : next[i]) || comm[i] < 0);
        }
    }
    assert_int_equal(rf_test_refold(out, sizeof out, 1, "%s 2>&1", args), 0);
    int64_t next[NPART];
    read_projection(data, &got, next);
    printf("disk_full: projection: %d ENOSPC stops (%d aborts inside librocksdb), then resumed; "
           "comparing with the fold\n",
           failures, aborts);
    for (int i = 0; i < NPART; i++)
        assert_int_equal(got.proj_applied[i], want.heads[i].seq);
    assert_int_equal(got.proj_rows, want.fold_rows);
    assert_int_equal(got.proj_sum, want.fold_sum);
    assert_int_equal(got.proj_xor, want.fold_xor);
    assert_true(failures >= 1);
    assert_int_equal(aborts, 0);
    teardown(NULL);
    rh_prod_destroy(prod);
    rf_broker_stop(b);
    rf_test_rmtree(top);
}

int main(void)
{
    rh_log_install();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_disk_full, teardown),
        cmocka_unit_test_teardown(test_disk_full_project, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
