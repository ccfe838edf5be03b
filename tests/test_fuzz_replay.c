/* test_fuzz_replay.c: replays every fuzz target's seed corpus and its
 * regression inputs (tests/fuzz/corpus/<target>/, tests/fuzz/regress/<target>/)
 * through the same harness code libFuzzer runs, so the plain and sanitizer
 * test passes keep every crash the fuzzers ever found fixed. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_testutil.h"

#define LLVMFuzzerTestOneInput fuzz_codec_one
#include "fuzz/fuzz_codec.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_jsonl_one
#include "fuzz/fuzz_jsonl.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_http_one
#include "fuzz/fuzz_http.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_gateway_one
#include "fuzz/fuzz_gateway.c"
#undef LLVMFuzzerTestOneInput

typedef int(fuzz_fn_t)(const uint8_t *data, size_t n);

/* Runs fn on every file of <source>/tests/fuzz/<kind>/<target>; returns the count. */
static int replay_dir(const char *kind, const char *target, fuzz_fn_t *fn)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/%s/%s", RF_TEST_SOURCE_DIR, kind, target);
    DIR *d = opendir(dir);
    if (!d) return 0;
    static uint8_t buf[RF_JSON_LINE_MAX + RF_EVENT_BYTES_MAX];
    int count = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        print_message("replay %s/%s/%s (%zu bytes)\n", kind, target, de->d_name, n);
        assert_int_equal(fn(buf, n), 0); /* a broken invariant traps instead */
        count++;
    }
    closedir(d);
    return count;
}

static void replay(const char *target, fuzz_fn_t *fn)
{
    int seeds = replay_dir("corpus", target, fn);
    replay_dir("regress", target, fn);
    assert_true(seeds >= 5); /* the seed corpus is checked in */
}

static void test_codec_corpus(void **state)
{
    (void)state;
    replay("fuzz_codec", fuzz_codec_one);
    /* framing errors by construction: empty, bad magic, unknown schema id */
    static const uint8_t bad[][6] = {{0}, {1, 0, 0, 0, 2, 0}, {0, 0, 0, 0, 99, 0}};
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(fuzz_codec_one(bad[i], i ? 6 : 0), 0);
}

static void test_jsonl_corpus(void **state)
{
    (void)state;
    replay("fuzz_jsonl", fuzz_jsonl_one);
}

static void test_http_corpus(void **state)
{
    (void)state;
    replay("fuzz_http", fuzz_http_one);
}

static void test_gateway_corpus(void **state)
{
    (void)state;
    replay("fuzz_gateway", fuzz_gateway_one);
}

int main(void)
{
    rf_log_set_level(RF_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec_corpus),
        cmocka_unit_test(test_jsonl_corpus),
        cmocka_unit_test(test_http_corpus),
        cmocka_unit_test(test_gateway_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
