/* test_replay_bulk.c: the bulk load a replay writes (RF_LEDGER_BULK): records,
 * archive and state go to table files ingested at rf_ledger_bulk_finish (the
 * state also mid-load when it outgrows its memory share), so the finished
 * ledger must equal a normal fold of the same events, and stay equal when
 * both go on folding; a load that stops anywhere before the unmark, the
 * ingest included, must leave a ledger every open refuses. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rf_codec.h"
#include "rf_ledger.h"
#include "rf_ledger_int.h"
#include "rf_loadgen.h"
#include "rf_testutil.h"

#define EVENTS 6000
#define BATCH  500  /* commits per ledger: 12, so the table files grow over many commits */
#define MORE   2000 /* events folded live after the load, as after a cut-over */

/* Folds offsets [from, to) of one loadgen stream (one program: every event
 * in partition 0) into dir's partition 0 opened with flags; commits every
 * BATCH events and returns the open ledger (the last batch committed). */
static rf_ledger_t *fold_range(const char *dir, int flags, int from, int to)
{
    rf_loadgen_conf_t c;
    rf_loadgen_conf_init(&c);
    c.seed = 7;
    c.events = EVENTS + MORE;
    c.programs = 1;
    rf_errbuf_t eb = {{0}};
    rf_loadgen_t *g = rf_loadgen_new(&c, &eb);
    assert_non_null(g);
    rf_codec_t *codec = rf_codec_new(&eb);
    rf_event_t *ev = malloc(sizeof *ev);
    uint8_t *buf = malloc(RF_EVENT_BYTES_MAX);
    rf_ledger_t *l = rf_ledger_open(dir, 0, RF_LEDGER_CREATE | RF_LEDGER_NOSYNC | flags, &eb);
    if (!l) fail_msg("open: %s", eb.msg);
    for (int64_t off = 0; off < to && rf_loadgen_next(g, ev) == RF_OK; off++) {
        if (off < from) continue;
        size_t len = 0;
        assert_int_equal(rf_codec_encode_event(codec, ev, RF_SCHEMA_ID_EVENT, buf,
                                               RF_EVENT_BYTES_MAX, &len, &eb),
                         RF_OK);
        rf_fold_result_t res;
        if (rf_ledger_fold(l, off, RF_LEDGER_CLOCK_NONE, buf, len, &res, &eb))
            fail_msg("fold: %s", eb.msg);
        if (rf_ledger_batch_size(l) >= BATCH && rf_ledger_commit(l, &eb))
            fail_msg("commit: %s", eb.msg);
    }
    assert_int_equal(rf_ledger_commit(l, &eb), RF_OK);
    free(buf);
    free(ev);
    rf_codec_destroy(codec);
    rf_loadgen_destroy(g);
    return l;
}

static rf_ledger_t *fold_events(const char *dir, int flags, int n)
{
    return fold_range(dir, flags, 0, n);
}

/* Bytes read back from a ledger: two ledgers hold the same archive (or
 * state) when their copies are equal. */
typedef struct copy {
    uint8_t *p;
    size_t len, cap;
    int64_t next;  /* the archive's next offset */
    uint64_t keys; /* the state's keys */
} copy_t;

static void append(copy_t *c, const void *p, size_t n)
{
    if (c->len + n > c->cap) {
        c->cap = (c->len + n) * 2;
        c->p = realloc(c->p, c->cap);
        assert_non_null(c->p);
    }
    if (n) memcpy(c->p + c->len, p, n);
    c->len += n;
}

/* Appends (offset, bytes) of every archived event, in offset order. */
static int copy_one(int64_t offset, int64_t clock_ms, const uint8_t *b, size_t len, void *opaque)
{
    (void)clock_ms;
    copy_t *a = opaque;
    assert_int_equal(offset, a->next);
    a->next++;
    append(a, &offset, 8);
    append(a, b, len);
    return 0;
}

/* Counts the files of dir/fold/p-0000 whose name starts with prefix. */
static int files_named(const char *dir, const char *prefix)
{
    char cmd[700], out[64] = "";
    snprintf(cmd, sizeof cmd, "ls %s/fold/p-0000 | grep -c '^%s'", dir, prefix);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    if (!fgets(out, sizeof out, f)) out[0] = 0;
    pclose(f);
    return atoi(out);
}

/* Appends each (key, value) of the state family as klen || key || vlen ||
 * value. */
static int copy_kv(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *opaque)
{
    copy_t *c = opaque;
    uint64_t n = kl;
    append(c, &n, 8);
    append(c, k, kl);
    n = vl;
    append(c, &n, 8);
    append(c, v, vl);
    c->keys++;
    return 0;
}

/* Reads partition 0 of dir back into c: its archive, or (state) every key
 * of its state family. */
static void copy_of(const char *dir, int state, copy_t *c)
{
    rf_errbuf_t eb = {{0}};
    memset(c, 0, sizeof *c);
    rf_ledger_t *l = rf_ledger_open(dir, 0, RF_LEDGER_READONLY, &eb);
    if (!l) fail_msg("open: %s", eb.msg);
    const uint8_t start = 0, end = 0xff; /* every state key (its family: rf__cf) */
    if (state)
        assert_int_equal(rf__db_range(l, &start, 1, &end, 1, copy_kv, c, &eb), RF_OK);
    else
        assert_int_equal(rf_ledger_archive_scan(l, 0, copy_one, c, &eb), RF_OK);
    rf_ledger_close(l);
}

/* A finished bulk load written in many small table files per column family
 * equals a normal fold: same head, every record readable and the chain
 * verified, the same archive, the same state keys and values; the bulk files
 * are gone (moved into the DB). state_bytes: the overlay's bound (0: the
 * default, never reached here, so the state is written once at the finish;
 * small: spilled to a table file and ingested by almost every commit, so
 * the fold reads state back from those files and deletes keys in them). */
static void bulk_equals_normal(uint64_t state_bytes)
{
    char dir[256], bulk[512], normal[512];
    rf_test_tmpdir("replay-bulk", dir, sizeof dir);
    snprintf(bulk, sizeof bulk, "%s/bulk", dir);
    snprintf(normal, sizeof normal, "%s/normal", dir);
    rf_errbuf_t eb = {{0}};
    rf__bulk_hooks.file_bytes = 64 << 10; /* several files per family */
    rf__bulk_hooks.state_bytes = state_bytes;
    rf_ledger_t *l = fold_events(bulk, RF_LEDGER_BULK, EVENTS);
    assert_true(files_named(bulk, "bulk-records-") > 3);
    assert_true(files_named(bulk, "bulk-archive-") > 3);
    assert_int_equal(files_named(bulk, "bulk-default-"), 0); /* spills are ingested at once */
    assert_int_equal(l->ov_only, state_bytes == 0);          /* whether the state reached the DB */
    if (state_bytes) { /* sealed first, as a replay's folding thread does */
        if (rf_ledger_bulk_seal(l, &eb)) fail_msg("seal: %s", eb.msg);
        rf_fold_result_t res;
        const uint8_t junk[1] = {0};
        assert_int_equal(rf_ledger_fold(l, EVENTS, RF_LEDGER_CLOCK_NONE, junk, 1, &res, &eb),
                         RF_ERR_CONFIG);
        assert_non_null(strstr(eb.msg, "sealed"));
        assert_int_equal(rf_ledger_bulk_seal(l, &eb), RF_OK); /* a no-op now */
    }
    if (rf_ledger_bulk_finish(l, &eb)) fail_msg("finish: %s", eb.msg);
    rf__bulk_hooks.file_bytes = 0;
    rf__bulk_hooks.state_bytes = 0;
    assert_int_equal(files_named(bulk, "bulk-"), 0);
    /* the handle goes on as a normal ledger: its records are readable */
    rf_record_t *rec = malloc(sizeof *rec);
    assert_int_equal(rf_ledger_get_record(l, 1, rec, &eb), RF_OK);
    rf_ledger_close(l);
    rf_ledger_close(fold_events(normal, 0, EVENTS));

    rf_ledger_t *a = rf_ledger_open(bulk, 0, 0, &eb); /* writable: the mark is gone */
    rf_ledger_t *b = rf_ledger_open(normal, 0, RF_LEDGER_READONLY, &eb);
    assert_non_null(a);
    assert_non_null(b);
    rf_ledger_head_t ha, hb;
    assert_int_equal(rf_ledger_head(a, &ha, &eb), RF_OK);
    assert_int_equal(rf_ledger_head(b, &hb, &eb), RF_OK);
    assert_true(ha.seq > EVENTS / 2);
    assert_int_equal(ha.seq, hb.seq);
    assert_int_equal(ha.next_offset, EVENTS);
    assert_memory_equal(ha.hash, hb.hash, 32);
    uint64_t bad = 0;
    if (rf_ledger_verify(a, &bad, &eb))
        fail_msg("verify: record %llu: %s", (unsigned long long)bad, eb.msg);
    assert_int_equal(rf_ledger_get_record(a, ha.seq, rec, &eb), RF_OK);
    assert_memory_equal(rec->hash, ha.hash, 32);
    rf_ledger_close(a);
    rf_ledger_close(b);
    free(rec);
    copy_t x, y;
    copy_of(bulk, 0, &x);
    copy_of(normal, 0, &y);
    assert_int_equal(x.next, EVENTS);
    assert_int_equal(x.len, y.len);
    assert_memory_equal(x.p, y.p, x.len);
    free(x.p);
    free(y.p);
    copy_t sx, sy;
    copy_of(bulk, 1, &sx);
    copy_of(normal, 1, &sy);
    assert_true(sx.keys > EVENTS); /* dedup keys alone: one per event */
    assert_int_equal(sx.keys, sy.keys);
    assert_int_equal(sx.len, sy.len);
    assert_memory_equal(sx.p, sy.p, sx.len);
    free(sx.p);
    free(sy.p);
    /* cut over: both go on as live ledgers (the load's state now in table
     * files it wrote) and stay equal */
    rf_ledger_close(fold_range(bulk, 0, EVENTS, EVENTS + MORE));
    rf_ledger_close(fold_range(normal, 0, EVENTS, EVENTS + MORE));
    a = rf_ledger_open(bulk, 0, RF_LEDGER_READONLY, &eb);
    b = rf_ledger_open(normal, 0, RF_LEDGER_READONLY, &eb);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(rf_ledger_head(a, &ha, &eb), RF_OK);
    assert_int_equal(rf_ledger_head(b, &hb, &eb), RF_OK);
    assert_int_equal(ha.next_offset, EVENTS + MORE);
    assert_int_equal(ha.seq, hb.seq);
    assert_memory_equal(ha.hash, hb.hash, 32);
    if (rf_ledger_verify(a, &bad, &eb))
        fail_msg("verify after the cut-over: record %llu: %s", (unsigned long long)bad, eb.msg);
    rf_ledger_close(a);
    rf_ledger_close(b);
    copy_of(bulk, 1, &sx);
    copy_of(normal, 1, &sy);
    assert_int_equal(sx.len, sy.len);
    assert_memory_equal(sx.p, sy.p, sx.len);
    free(sx.p);
    free(sy.p);
    rf_test_rmtree(dir);
}

static void test_bulk_equals_normal(void **state)
{
    (void)state;
    bulk_equals_normal(0);
}

static void test_bulk_state_spilled(void **state)
{
    (void)state;
    bulk_equals_normal(32 << 10);
}

/* Open bulk loads share the state budget: each gets its share, within the
 * floor and the cap, and a closed one gives its share back. */
static void test_bulk_state_budget(void **state)
{
    (void)state;
    enum { MANY = 48 };
    char dir[256];
    rf_test_tmpdir("replay-budget", dir, sizeof dir);
    rf_errbuf_t eb = {{0}};
    rf_ledger_t *ls[MANY];
    assert_int_equal(rf__bulk_state_bound(), RF_LEDGER_BULK_STATE_BYTES);
    for (int i = 0; i < MANY; i++) {
        ls[i] = rf_ledger_open(dir, i, RF_LEDGER_CREATE | RF_LEDGER_BULK | RF_LEDGER_NOSYNC, &eb);
        if (!ls[i]) fail_msg("open: %s", eb.msg);
        size_t share = RF_LEDGER_BULK_STATE_BUDGET_BYTES / (size_t)(i + 1);
        if (i + 1 == 1) assert_int_equal(rf__bulk_state_bound(), RF_LEDGER_BULK_STATE_BYTES);
        if (i + 1 == 16) assert_int_equal(rf__bulk_state_bound(), share); /* 64 MiB */
        if (i + 1 == MANY) assert_int_equal(rf__bulk_state_bound(), RF_LEDGER_BULK_STATE_MIN_BYTES);
    }
    for (int i = 0; i < 32; i++)
        rf_ledger_close(ls[i]); /* unfinished: refused by later opens, gone below */
    assert_int_equal(rf__bulk_state_bound(), RF_LEDGER_BULK_STATE_BUDGET_BYTES / (MANY - 32));
    for (int i = 32; i < MANY; i++)
        rf_ledger_close(ls[i]);
    assert_int_equal(rf__bulk_state_bound(), RF_LEDGER_BULK_STATE_BYTES);
    rf_test_rmtree(dir);
}

/* The child of crashed_load: a bulk load of partition 0 under dir that stops
 * at `where` (0: killed after its commits, table files open; 1: exits after
 * the ingest, before the unmark). */
static int crash_child(const char *dir, int where)
{
    rf_errbuf_t eb = {{0}};
    rf__bulk_hooks.file_bytes = 64 << 10;
    rf_ledger_t *l = fold_events(dir, RF_LEDGER_BULK, EVENTS / 2);
    if (where == 0) raise(SIGKILL);
    rf__bulk_hooks.crash_after_ingest = 1;
    rf_ledger_bulk_finish(l, &eb);
    return 1; /* not reached: the hook exits */
}

/* Runs crash_child in a new process (exec: a forked copy of a process with
 * RocksDB's threads can deadlock) and returns its wait status. */
static int crashed_load(const char *dir, int where)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char w[8];
        snprintf(w, sizeof w, "%d", where);
        execl("/proc/self/exe", "test_replay_bulk", "--crash-child", dir, w, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return st;
}

static void assert_refused(const char *dir)
{
    rf_errbuf_t eb = {{0}};
    assert_null(rf_ledger_open(dir, 0, 0, &eb));
    assert_non_null(strstr(eb.msg, "unfinished bulk load"));
    memset(&eb, 0, sizeof eb);
    assert_null(rf_ledger_open(dir, 0, RF_LEDGER_READONLY, &eb));
    assert_non_null(strstr(eb.msg, "unfinished bulk load"));
    memset(&eb, 0, sizeof eb); /* and it is not taken for a fresh directory either */
    assert_null(rf_ledger_open(dir, 0, RF_LEDGER_CREATE | RF_LEDGER_BULK, &eb));
}

/* A load killed mid-way (table files half written) and one stopped between
 * the ingest and the unmark (all data in place) are both refused. */
static void test_bulk_crash(void **state)
{
    (void)state;
    char dir[256], mid[512], ingested[512];
    rf_test_tmpdir("replay-bulk-crash", dir, sizeof dir);
    snprintf(mid, sizeof mid, "%s/mid", dir);
    snprintf(ingested, sizeof ingested, "%s/ingested", dir);
    int st = crashed_load(mid, 0);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    assert_true(files_named(mid, "bulk-") > 0);
    assert_refused(mid);
    st = crashed_load(ingested, 1);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == RF__BULK_CRASH_EXIT);
    assert_int_equal(files_named(ingested, "bulk-"), 0); /* moved into the DB */
    assert_refused(ingested);
    rf_test_rmtree(dir);
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "--crash-child")) return crash_child(argv[2], atoi(argv[3]));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bulk_equals_normal),
        cmocka_unit_test(test_bulk_state_spilled),
        cmocka_unit_test(test_bulk_state_budget),
        cmocka_unit_test(test_bulk_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
