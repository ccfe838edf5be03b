/* rf_testutil.c: shared test helpers (see rf_testutil.h). */
#include "rf_testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void rf_test_tmpdir(const char *tag, char *out, size_t cap)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    int n = snprintf(out, cap, "%s/refold-test-%s-XXXXXX", base, tag);
    RF_ASSERT(n > 0 && (size_t)n < cap);
    RF_ASSERT(mkdtemp(out) != NULL);
}

void rf_test_rmtree(const char *path)
{
    char cmd[1024];
    RF_ASSERT(strstr(path, "refold-test-") != NULL); /* never remove anything else */
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    RF_ASSERT(system(cmd) == 0);
}

void rf_test_write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    RF_ASSERT(fp);
    RF_ASSERT(fputs(text, fp) >= 0);
    RF_ASSERT(fclose(fp) == 0);
}

const char *rf_test_refold_bin(void)
{
    const char *env = getenv("REFOLD_BIN");
    return env && *env ? env : RF_TEST_BINARY;
}

int rf_test_refold(char *out, size_t cap, int merge_stderr, const char *fmt, ...)
{
    char args[8192], cmd[9000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "'%s' %s%s", rf_test_refold_bin(), args, merge_stderr ? " 2>&1" : "");
    FILE *p = popen(cmd, "r");
    RF_ASSERT(p);
    size_t used = 0;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) {
        if (out && used + 1 < cap) {
            size_t take = n < cap - 1 - used ? n : cap - 1 - used;
            memcpy(out + used, buf, take);
            used += take;
        }
    }
    if (out && cap) out[used] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static rd_kafka_t *test_consumer(const char *brokers)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    RF_ASSERT(rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr) ==
              RD_KAFKA_CONF_OK);
    RF_ASSERT(rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof errstr) ==
              RD_KAFKA_CONF_OK);
    RF_ASSERT(rd_kafka_conf_set(conf, "group.id", "refold-test-reader", errstr, sizeof errstr) ==
              RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    RF_ASSERT(rk);
    return rk;
}

static int topic_partitions(rd_kafka_t *rk, const char *topic)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    RF_ASSERT(rd_kafka_metadata(rk, 0, t, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR);
    int n = md->topic_cnt == 1 ? md->topics[0].partition_cnt : 0;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    return n;
}

long rf_test_topic_count(const char *brokers, const char *topic)
{
    rd_kafka_t *rk = test_consumer(brokers);
    int np = topic_partitions(rk, topic);
    long total = 0;
    for (int p = 0; p < np; p++) {
        int64_t lo, hi;
        RF_ASSERT(rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000) == 0);
        total += (long)(hi - lo);
    }
    rd_kafka_destroy(rk);
    return total;
}

int rf_test_high_watermarks(const char *brokers, const char *topic, int nparts, int64_t *hi,
                            double timeout_s, char *err, size_t cap)
{
    uint64_t t0 = rf_now_ns();
    int p = 0;
    while (p < nparts) {
        rd_kafka_t *rk = test_consumer(brokers);
        for (; p < nparts; p++) {
            int64_t lo = -1;
            rd_kafka_resp_err_t e =
                rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi[p], 5000);
            if (e) {
                snprintf(err, cap, "%s [%d]: %s", topic, p, rd_kafka_err2str(e));
                break;
            }
        }
        rd_kafka_destroy(rk);
        if (p == nparts) break;
        if ((double)(rf_now_ns() - t0) / 1e9 > timeout_s) return -1;
        usleep(200 * 1000);
    }
    return 0;
}

long rf_test_consume_all(const char *brokers, const char *topic, rf_test_msg_cb_t *cb, void *opaque)
{
    rd_kafka_t *rk = test_consumer(brokers);
    int np = topic_partitions(rk, topic);
    RF_ASSERT(np > 0);
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(np);
    long want = 0;
    for (int p = 0; p < np; p++) {
        int64_t lo, hi;
        RF_ASSERT(rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000) == 0);
        want += (long)(hi - lo);
        rd_kafka_topic_partition_list_add(tl, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    RF_ASSERT(rd_kafka_assign(rk, tl) == 0);
    rd_kafka_topic_partition_list_destroy(tl);
    long got = 0;
    int idle = 0;
    while (got < want && idle < 100) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            idle++;
            continue;
        }
        idle = 0;
        if (!m->err) {
            got++;
            if (cb) cb(m, opaque);
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return got;
}
