/* test_store.c: the RocksDB layer (common/rf_store.h): environments, opens of
 * each kind and mode, error translation, and the writable ledgers' memtable
 * budget shared within an environment. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_ledger.h"
#include "rf_limits.h"
#include "rf_store.h"
#include "rf_testutil.h"

#define MIB ((size_t)1 << 20)

typedef struct fx {
    char dir[512];
    rf_store_env_t *env;
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    rf_test_tmpdir("store", f->dir, sizeof f->dir);
    /* a small budget: 96 MiB / 3 per ledger = 32 MiB for one, 16 for two */
    rf_store_env_conf_t c = {.memtable_budget_bytes = 96 * MIB};
    rf_errbuf_t eb = {{0}};
    f->env = rf_store_env_new(&c, &eb);
    assert_non_null(f->env);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    rf_store_env_free(f->env);
    rf_test_rmtree(f->dir);
    free(f);
    return 0;
}

static rf_store_t *open_at(fx_t *f, const char *name, rf_store_kind_t kind, rf_store_mode_t mode,
                           bool create, rf_errbuf_t *eb)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", f->dir, name);
    rf_store_open_conf_t c = {.kind = kind, .mode = mode, .create = create};
    return rf_store_open(f->env, path, &c, eb);
}

static void put(rocksdb_t *db, rocksdb_column_family_handle_t *cf, const char *k, const char *v)
{
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    char *err = NULL;
    if (cf)
        rocksdb_put_cf(db, wo, cf, k, strlen(k), v, strlen(v), &err);
    else
        rocksdb_put(db, wo, k, strlen(k), v, strlen(v), &err);
    rocksdb_writeoptions_destroy(wo);
    if (err) fail_msg("put: %s", err);
}

/* The value of k (cf NULL: the default family) as a string; "" when absent. */
static void get(rocksdb_t *db, rocksdb_column_family_handle_t *cf, const char *k, char *out,
                size_t cap)
{
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    char *err = NULL;
    size_t n = 0;
    char *v = cf ? rocksdb_get_cf(db, ro, cf, k, strlen(k), &n, &err)
                 : rocksdb_get(db, ro, k, strlen(k), &n, &err);
    rocksdb_readoptions_destroy(ro);
    if (err) fail_msg("get: %s", err);
    assert_true(n < cap);
    if (n) memcpy(out, v, n);
    out[n] = '\0';
    rocksdb_free(v);
}

static void test_env(void **state)
{
    (void)state;
    rf_errbuf_t eb = {{0}};
    rf_store_env_t *env = rf_store_env_new(NULL, &eb);
    assert_non_null(env);
    rf_store_env_expect_writers(env, 3);
    rf_store_env_expect_writers(env, -5); /* more than announced: back to none */
    rf_store_env_free(env);
    rf_store_env_free(NULL);
    assert_non_null(rf_store_env_default());
    assert_ptr_equal(rf_store_env_default(), rf_store_env_default());
}

/* A ledger store in a fresh directory: written in its families, closed,
 * read back read-only; the families' options are there for table files. */
static void test_open_ledger(void **state)
{
    fx_t *f = *state;
    rf_errbuf_t eb = {{0}};
    rf_store_t *s = open_at(f, "l", RF_STORE_LEDGER, RF_STORE_WRITE, true, &eb);
    assert_non_null(s);
    put(rf_store_db(s), rf_store_cf(s, RF_STORE_CF_STATE), "k", "state");
    put(rf_store_db(s), rf_store_cf(s, RF_STORE_CF_ARCHIVE), "k", "archive");
    for (int i = 0; i < RF_STORE_LEDGER_CFS; i++) {
        assert_non_null(rf_store_cf_options(s, i));
        rocksdb_options_t *o = rf_store_cf_options_uncompressed(s, i);
        assert_non_null(o);
        /* a copy of the family's: its memtable share (the logs' a quarter) */
        assert_int_equal(rocksdb_options_get_write_buffer_size(o),
                         i == RF_STORE_CF_STATE ? 32 * MIB : 8 * MIB);
        rocksdb_options_destroy(o);
    }
    assert_string_equal(rf_store_ledger_cf_name(RF_STORE_CF_RECORDS), "records");
    rf_store_close(s);
    rf_store_close(NULL);

    s = open_at(f, "l", RF_STORE_LEDGER, RF_STORE_READONLY, false, &eb);
    assert_non_null(s);
    char v[64];
    get(rf_store_db(s), rf_store_cf(s, RF_STORE_CF_STATE), "k", v, sizeof v);
    assert_string_equal(v, "state");
    get(rf_store_db(s), rf_store_cf(s, RF_STORE_CF_ARCHIVE), "k", v, sizeof v);
    assert_string_equal(v, "archive");
    get(rf_store_db(s), rf_store_cf(s, RF_STORE_CF_RECORDS), "k", v, sizeof v);
    assert_string_equal(v, "");
    assert_int_equal(rf_store_write_buffer_bytes(s), 0); /* not in the budget */
    rf_store_close(s);
}

/* A projection store: written, then read by a read-only and a secondary
 * instance while the writer is open. */
static void test_open_projection(void **state)
{
    fx_t *f = *state;
    rf_errbuf_t eb = {{0}};
    rf_store_t *w = open_at(f, "p", RF_STORE_PROJECTION, RF_STORE_WRITE, true, &eb);
    assert_non_null(w);
    assert_non_null(rf_store_cf_options(w, 0));
    put(rf_store_db(w), NULL, "m", "meta");
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    char *err = NULL;
    rocksdb_flush(rf_store_db(w), fo, &err);
    rocksdb_flushoptions_destroy(fo);
    assert_null(err);

    char v[64], path[600], scratch[600];
    rf_store_t *r = open_at(f, "p", RF_STORE_PROJECTION, RF_STORE_READONLY, false, &eb);
    assert_non_null(r);
    get(rf_store_db(r), NULL, "m", v, sizeof v);
    assert_string_equal(v, "meta");
    rf_store_close(r);

    snprintf(path, sizeof path, "%s/p", f->dir);
    snprintf(scratch, sizeof scratch, "%s/secondary", f->dir);
    rf_store_open_conf_t c = {
        .kind = RF_STORE_PROJECTION, .mode = RF_STORE_SECONDARY, .secondary_dir = scratch};
    rf_store_t *sec = rf_store_open(f->env, path, &c, &eb);
    assert_non_null(sec);
    put(rf_store_db(w), NULL, "m", "meta2");
    rocksdb_try_catch_up_with_primary(rf_store_db(sec), &err);
    assert_null(err);
    get(rf_store_db(sec), NULL, "m", v, sizeof v);
    assert_string_equal(v, "meta2"); /* the secondary follows the writer's WAL */
    rf_store_close(sec);
    rf_store_close(w);
}

/* A failed open names the kind and the path, then RocksDB's reason. */
static void test_open_errors(void **state)
{
    fx_t *f = *state;
    rf_errbuf_t eb = {{0}};
    char want[700];
    /* writable but not created: the directory does not exist */
    assert_null(open_at(f, "none", RF_STORE_LEDGER, RF_STORE_WRITE, false, &eb));
    snprintf(want, sizeof want, "cannot open ledger '%s/none': ", f->dir);
    assert_memory_equal(eb.msg, want, strlen(want));
    assert_true(strlen(eb.msg) > strlen(want)); /* RocksDB's reason follows */
    /* read-only opens of a missing store fail, of either kind */
    assert_null(open_at(f, "none", RF_STORE_LEDGER, RF_STORE_READONLY, false, &eb));
    assert_memory_equal(eb.msg, want, strlen(want));
    assert_null(open_at(f, "none", RF_STORE_PROJECTION, RF_STORE_READONLY, false, &eb));
    snprintf(want, sizeof want, "cannot open projection '%s/none': ", f->dir);
    assert_memory_equal(eb.msg, want, strlen(want));
    /* a second writer of the same store: RocksDB's LOCK */
    rf_store_t *s = open_at(f, "l", RF_STORE_LEDGER, RF_STORE_WRITE, true, &eb);
    assert_non_null(s);
    assert_null(open_at(f, "l", RF_STORE_LEDGER, RF_STORE_WRITE, true, &eb));
    assert_non_null(strstr(eb.msg, "/l': "));
    assert_int_equal(rf_store_write_buffer_bytes(s), 32 * MIB); /* the failed open left */
    rf_store_close(s);
    /* the env counts no store left open: rf_store_env_free asserts it */
}

static void test_err(void **state)
{
    (void)state;
    rf_errbuf_t eb = {{0}};
    char *errptr = strdup("IO error: No space left on device"); /* freed there */
    assert_non_null(errptr);
    assert_int_equal(rf_store_err(&eb, errptr, "cannot commit batch %d", 7), RF_ERR_STORAGE);
    assert_string_equal(eb.msg, "cannot commit batch 7: IO error: No space left on device");
}

/* The writable ledgers of an env share its budget: each holds a power of two
 * of budget / 3 / writers, within the floor and the cap; a close gives the
 * others more, an announced writer counts from the first open. */
static void test_budget(void **state)
{
    fx_t *f = *state;
    rf_errbuf_t eb = {{0}};
    rf_store_t *a = open_at(f, "a", RF_STORE_LEDGER, RF_STORE_WRITE, true, &eb);
    assert_non_null(a);
    assert_int_equal(rf_store_write_buffer_bytes(a), 32 * MIB);
    rf_store_t *b = open_at(f, "b", RF_STORE_LEDGER, RF_STORE_WRITE, true, &eb);
    assert_non_null(b);
    assert_int_equal(rf_store_write_buffer_bytes(a), 16 * MIB);
    assert_int_equal(rf_store_write_buffer_bytes(b), 16 * MIB);
    /* readers and projections take no share */
    rf_store_t *r = open_at(f, "a", RF_STORE_LEDGER, RF_STORE_READONLY, false, &eb);
    rf_store_t *p = open_at(f, "p", RF_STORE_PROJECTION, RF_STORE_WRITE, true, &eb);
    assert_non_null(r);
    assert_non_null(p);
    assert_int_equal(rf_store_write_buffer_bytes(a), 16 * MIB);
    assert_int_equal(rf_store_write_buffer_bytes(p), 0);
    rf_store_close(r);
    rf_store_close(p);
    rf_store_close(b);
    assert_int_equal(rf_store_write_buffer_bytes(a), 32 * MIB);
    rf_store_close(a);

    /* announced: the first opens at the share of two and is not resized */
    rf_store_env_expect_writers(f->env, 2);
    a = open_at(f, "a", RF_STORE_LEDGER, RF_STORE_WRITE, true, &eb);
    assert_int_equal(rf_store_write_buffer_bytes(a), 16 * MIB);
    b = open_at(f, "b", RF_STORE_LEDGER, RF_STORE_WRITE, true, &eb);
    assert_int_equal(rf_store_write_buffer_bytes(a), 16 * MIB);
    assert_int_equal(rf_store_write_buffer_bytes(b), 16 * MIB);
    rf_store_close(a);
    rf_store_close(b);

    /* another env has a budget of its own */
    rf_store_env_t *other = rf_store_env_new(NULL, &eb);
    char path[600];
    snprintf(path, sizeof path, "%s/c", f->dir);
    rf_store_open_conf_t c = {.kind = RF_STORE_LEDGER, .mode = RF_STORE_WRITE, .create = true};
    rf_store_t *o = rf_store_open(other, path, &c, &eb);
    a = open_at(f, "a", RF_STORE_LEDGER, RF_STORE_WRITE, true, &eb);
    assert_non_null(o);
    assert_int_equal(rf_store_write_buffer_bytes(o), RF_LEDGER_WRITE_BUFFER_MAX);
    assert_int_equal(rf_store_write_buffer_bytes(a), 32 * MIB);
    rf_store_close(a);
    rf_store_close(o);
    rf_store_env_free(other);
}

static int freed;
static void count_free(void *item)
{
    freed++;
    free(item);
}

/* Memory a closed store leaves with its env: taken back by kind, bounded in
 * count and size, freed with the env. */
static void test_keep(void **state)
{
    (void)state;
    rf_errbuf_t eb = {{0}};
    rf_store_env_t *env = rf_store_env_new(NULL, &eb);
    assert_non_null(env);
    assert_null(rf_store_env_take(env, RF_STORE_LEDGER));
    void *a = malloc(16);
    assert_true(rf_store_env_keep(env, RF_STORE_LEDGER, a, 16, count_free));
    assert_null(rf_store_env_take(env, RF_STORE_PROJECTION)); /* by kind */
    assert_ptr_equal(rf_store_env_take(env, RF_STORE_LEDGER), a);
    assert_null(rf_store_env_take(env, RF_STORE_LEDGER));
    assert_false(rf_store_env_keep(env, RF_STORE_LEDGER, a, RF_BATCH_MEM_POOL_BYTES + 1,
                                   count_free)); /* too large: the caller keeps it */
    free(a);
    for (int i = 0; i < RF_BATCH_MEM_POOL; i++)
        assert_true(rf_store_env_keep(env, RF_STORE_LEDGER, malloc(16), 16, count_free));
    void *extra = malloc(16);
    assert_false(rf_store_env_keep(env, RF_STORE_LEDGER, extra, 16, count_free)); /* full */
    free(extra);
    freed = 0;
    rf_store_env_free(env);
    assert_int_equal(freed, RF_BATCH_MEM_POOL);
}

/* The ledger opens in an explicit env and in the default one; a closed
 * ledger leaves its batch memory with its env. */
static void test_ledger_env(void **state)
{
    fx_t *f = *state;
    rf_errbuf_t eb = {{0}};
    rf_ledger_t *l = rf_ledger_open_env(f->env, f->dir, 3, RF_LEDGER_CREATE, &eb);
    assert_non_null(l);
    assert_int_equal(rf_ledger_next_offset(l), -1);
    rf_ledger_close(l);
    void *kept = rf_store_env_take(f->env, RF_STORE_LEDGER);
    assert_non_null(kept);
    /* back for the next open, which takes it (free: never called then) */
    assert_true(rf_store_env_keep(f->env, RF_STORE_LEDGER, kept, 0, free));
    l = rf_ledger_open_env(f->env, f->dir, 3, 0, &eb); /* takes it back */
    assert_non_null(l);
    assert_null(rf_store_env_take(f->env, RF_STORE_LEDGER));
    rf_ledger_close(l);
    l = rf_ledger_open(f->dir, 3, RF_LEDGER_READONLY, &eb);
    assert_non_null(l);
    rf_ledger_close(l);
    assert_null(rf_ledger_open(f->dir, 4, RF_LEDGER_READONLY, &eb));
    assert_non_null(strstr(eb.msg, "cannot open ledger '"));
    assert_non_null(strstr(eb.msg, "/fold/p-0004': "));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_err),
        cmocka_unit_test(test_keep),
        cmocka_unit_test_setup_teardown(test_open_ledger, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_projection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ledger_env, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
