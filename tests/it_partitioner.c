/* it_partitioner.c: a producer with librdkafka's default partitioner
 * (consistent_random: CRC32) puts a program's events in another partition
 * than murmur2, where `refold program apply` put its rules: the fold
 * dead-letters them as an unknown program, and the reason names the cause
 * (the partition murmur2 gives and the partitioner setting). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_kafka.h"
#include "rf_testutil.h"

#define DOUBLE_SIDED RF_TEST_SOURCE_DIR "/ops/programs/double_sided.json"
#define NPARTS       4

static void test_partitioner_hint(void **state)
{
    (void)state;
    rf_errbuf_t eb = {{0}};
    rf_broker_t *b = rf_broker_start(NPARTS, 1, &eb);
    assert_non_null(b);
    const char *k = rf_broker_bootstraps(b);
    /* a program id whose CRC32 and murmur2 partitions differ */
    char program[16] = "";
    int32_t mm = -1, crc = -1;
    for (int i = 0; i < 100 && mm == crc; i++) {
        snprintf(program, sizeof program, "prog%d", i);
        size_t n = strlen(program);
        mm = rd_kafka_msg_partitioner_murmur2(NULL, program, n, NPARTS, NULL, NULL);
        crc = rd_kafka_msg_partitioner_consistent(NULL, program, n, NPARTS, NULL, NULL);
    }
    assert_int_not_equal(mm, crc);
    char dir[256], out[16384], want[160];
    rf_test_tmpdir("partitioner", dir, sizeof dir);
    int rc = rf_test_refold(
        out, sizeof out, 1,
        "program apply '" DOUBLE_SIDED "' --program %s --version 1 --brokers '%s'", program, k);
    assert_int_equal(rc, 0);
    char file[320], line[160];
    snprintf(file, sizeof file, "%s/events.jsonl", dir);
    snprintf(line, sizeof line,
             "{\"type\":\"code_issued\",\"program_id\":\"%s\",\"referrer\":\"r1\","
             "\"code\":\"C1\"}\n",
             program);
    rf_test_write_file(file, line);
    rc =
        rf_test_refold(out, sizeof out, 1,
                       "emit --brokers '%s' -X partitioner=consistent_random --file '%s'", k, file);
    assert_int_equal(rc, 0);
    rc = rf_test_refold(out, sizeof out, 1, "fold --brokers '%s' --data '%s/data' --exit-at-end", k,
                        dir);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "dead_lettered=1"));
    rc = rf_test_refold(out, sizeof out, 1, "dlq list --brokers '%s'", k);
    assert_int_equal(rc, 0);
    printf("%s", out);
    snprintf(want, sizeof want,
             "unknown program '%s': program '%s' belongs to partition %d of %d "
             "by murmur2, not %d; producer uses another partitioner?",
             program, program, (int)mm, NPARTS, (int)crc);
    if (!strstr(out, want)) fail_msg("no '%s' in:\n%s", want, out);
    rf_test_rmtree(dir);
    rf_broker_stop(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partitioner_hint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
