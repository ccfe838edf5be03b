/* rf_testutil.h: helpers shared by refold's tests: scratch directories, the
 * embedded broker in-process, running the refold binary, reading topics. */
#ifndef RF_TESTUTIL_H
#define RF_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>

#include "rf_broker.h"
#include "rf_common.h"

/* Creates a fresh directory under $TMPDIR (or /tmp) named refold-test-<tag>-XXXXXX;
 * writes its path into out (cap >= 256). Asserts on failure. */
void rf_test_tmpdir(const char *tag, char *out, size_t cap);
/* Writes text to path (created or truncated). Asserts on failure. */
void rf_test_write_file(const char *path, const char *text);
/* rm -rf path (tests only). */
void rf_test_rmtree(const char *path);

/* Runs the refold binary with a printf-formatted argument string through
 * /bin/sh (so redirections work). Captures stdout (and stderr when
 * merge_stderr) into out (truncated to cap-1, NUL-terminated; out may be
 * NULL). Returns the exit status, or -1 if it did not exit normally. */
int rf_test_refold(char *out, size_t cap, int merge_stderr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Path of the refold binary under test. */
const char *rf_test_refold_bin(void);

/* Consumes every message of topic (all partitions, from the beginning to the
 * high watermark at call time) and calls cb for each. Returns the count. */
typedef void(rf_test_msg_cb_t)(const rd_kafka_message_t *m, void *opaque);
long rf_test_consume_all(const char *brokers, const char *topic, rf_test_msg_cb_t *cb,
                         void *opaque);
/* Sum of high watermarks of topic. */
long rf_test_topic_count(const char *brokers, const char *topic);
/* Reads the high watermark of partitions 0..nparts-1 of topic into hi[],
 * through a fresh client (its metadata is new: a long-lived client may still
 * address a partition's former leader after leader moves and keep failing
 * with NOT_LEADER). Retries for up to timeout_s; 0, or -1 with the last
 * error in err. */
int rf_test_high_watermarks(const char *brokers, const char *topic, int nparts, int64_t *hi,
                            double timeout_s, char *err, size_t cap);

#endif
