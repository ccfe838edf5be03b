/* test_metrics.c: the Prometheus registry and endpoint (consumers/rf_metrics.h):
 * the documented metrics are served over HTTP (raw socket GET), values and
 * histogram buckets are right, labels are escaped, the series bound holds. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rf_fold_worker.h"
#include "rf_metrics.h"
#include "rf_testutil.h"

/* GET path from 127.0.0.1:port with a raw socket; returns the whole response
 * (status line, headers, body) in out. */
static void http_get(int port, const char *path, char *out, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    char req[256];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", path);
    assert_int_equal(write(fd, req, (size_t)n), n);
    size_t used = 0;
    ssize_t r;
    while (used + 1 < cap && (r = read(fd, out + used, cap - 1 - used)) > 0)
        used += (size_t)r;
    out[used] = 0;
    close(fd);
}

static const char *const documented[] = {
    "refold_events_consumed_total",
    "refold_events_total",
    "refold_dead_letters_produced_total",
    "refold_batches_total",
    "refold_ledger_commits_total",
    "refold_batch_commit_seconds",
    "refold_consumer_lag",
    "refold_ledger_head_seq",
    "refold_outbox_backlog",
    "refold_outbox_sent_total",
    "refold_outbox_failed_total",
    "refold_rebalances_total",
    "refold_projection_records_total",
    "refold_projection_duplicates_total",
    "refold_projection_lag",
    "refold_projection_applied_seq",
    "refold_up",
    "refold_metrics_dropped_total",
};

static int hook_calls;
static void hook(void *opaque)
{
    hook_calls++;
    rf_metrics_gauge_set(RF_METRIC_UP, "worker=\"fold\"", *(double *)opaque);
}

static void test_endpoint(void **state)
{
    (void)state;
    rf_metrics_reset();
    rf_metrics_declare_standard();
    rf_metrics_declare_standard(); /* idempotent */
    static double up = 1;
    assert_int_equal(rf_metrics_add_hook(hook, &up), RF_OK);
    /* a fold worker's stats mirrored, and outcomes by reason */
    static rf_fold_stats_t st;
    memset(&st, 0, sizeof st);
    st.consumed = 10;
    st.outcomes[RF_OUTCOME_APPLIED] = 7;
    st.outcomes[RF_OUTCOME_DUPLICATE] = 1;
    st.nparts = 2;
    st.parts[0] = (rf_fold_part_stats_t){.partition = 0, .lag = 42, .head_seq = 9, .outbox_seq = 5};
    st.parts[1] = (rf_fold_part_stats_t){.partition = 3, .lag = 0, .head_seq = 4, .outbox_seq = 4};
    rf_metrics_fold_outcome(RF_OUTCOME_REJECTED, RF_ERR_BAD_INPUT);
    rf_metrics_fold_outcome(RF_OUTCOME_DEAD_LETTER, RF_ERR_BAD_MAGIC);
    rf_metrics_from_fold_stats(&st);
    rf_metrics_observe(RF_METRIC_BATCH_COMMIT_SECONDS, NULL, 0.0003);
    rf_metrics_observe(RF_METRIC_BATCH_COMMIT_SECONDS, NULL, 0.002);
    rf_metrics_observe(RF_METRIC_BATCH_COMMIT_SECONDS, NULL, 99);
    rf_errbuf_t eb = {{0}};
    assert_int_equal(rf_metrics_serve("127.0.0.1", 0, &eb), RF_OK);
    int port = rf_metrics_port();
    assert_true(port > 0);
    assert_int_equal(rf_metrics_serve(NULL, 0, &eb), RF_ERR_CONFIG); /* one per process */
    static char out[65536];
    http_get(port, "/metrics", out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 200"));
    assert_non_null(strstr(out, "text/plain; version=0.0.4"));
    for (size_t i = 0; i < sizeof documented / sizeof documented[0]; i++) {
        char want[128];
        snprintf(want, sizeof want, "# TYPE %s ", documented[i]);
        if (!strstr(out, want)) fail_msg("metric %s not served:\n%s", documented[i], out);
    }
    assert_non_null(strstr(out, "\nrefold_events_consumed_total 10\n"));
    assert_non_null(strstr(out, "\nrefold_events_total{outcome=\"applied\",reason=\"\"} 7\n"));
    assert_non_null(
        strstr(out, "\nrefold_events_total{outcome=\"rejected\",reason=\"bad_input\"} 1\n"));
    assert_non_null(
        strstr(out, "\nrefold_events_total{outcome=\"dead_letter\",reason=\"bad_magic\"} 1\n"));
    assert_null(strstr(out, "unspecified")); /* the worker counted those by reason */
    assert_non_null(strstr(out, "\nrefold_consumer_lag{partition=\"0\"} 42\n"));
    assert_non_null(strstr(out, "\nrefold_outbox_backlog 4\n"));
    assert_non_null(strstr(out, "\nrefold_up{worker=\"fold\"} 1\n"));
    /* cumulative buckets: 0.0003 <= 0.0005, 0.002 <= 0.0025, 99 only in +Inf */
    assert_non_null(strstr(out, "\nrefold_batch_commit_seconds_bucket{le=\"0.00025\"} 0\n"));
    assert_non_null(strstr(out, "\nrefold_batch_commit_seconds_bucket{le=\"0.0005\"} 1\n"));
    assert_non_null(strstr(out, "\nrefold_batch_commit_seconds_bucket{le=\"0.0025\"} 2\n"));
    assert_non_null(strstr(out, "\nrefold_batch_commit_seconds_bucket{le=\"2.5\"} 2\n"));
    assert_non_null(strstr(out, "\nrefold_batch_commit_seconds_bucket{le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(out, "\nrefold_batch_commit_seconds_count 3\n"));
    assert_true(hook_calls >= 1);
    http_get(port, "/nope", out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 404"));
    rf_metrics_stop();
    assert_int_equal(rf_metrics_port(), -1);
    rf_metrics_reset();
}

static void test_labels_and_bounds(void **state)
{
    (void)state;
    rf_metrics_reset();
    char l[RF_METRICS_LABELS_MAX + 1];
    assert_int_equal(rf_metrics_labels(l, sizeof l, "a", "x\"y\\z\n", "b", "2", NULL), RF_OK);
    assert_string_equal(l, "a=\"x\\\"y\\\\z\\n\",b=\"2\"");
    char tiny[8];
    assert_int_equal(rf_metrics_labels(tiny, sizeof tiny, "key", "value", NULL), RF_ERR_OVERSIZE);
    assert_int_equal(rf_metrics_declare("bad name", RF_METRIC_GAUGE, "", NULL, 0), RF_ERR_CONFIG);
    assert_int_equal(rf_metrics_declare("t_g", RF_METRIC_GAUGE, "g", NULL, 0), RF_OK);
    assert_int_equal(rf_metrics_declare("t_g", RF_METRIC_COUNTER, "g", NULL, 0), RF_ERR_CONFIG);
    double desc[2] = {2, 1};
    assert_int_equal(rf_metrics_declare("t_h", RF_METRIC_HISTOGRAM, "h", desc, 2), RF_ERR_CONFIG);
    /* the series bound: updates beyond it are dropped and counted */
    for (int i = 0; i < RF_METRICS_SERIES_MAX + 10; i++) {
        char lab[64];
        snprintf(lab, sizeof lab, "i=\"%d\"", i);
        rf_metrics_counter_add("t_many_total", lab, 1);
    }
    rf_metrics_counter_set("t_many_total", "i=\"0\"", 0); /* counters never go down */
    size_t len = 0;
    char *text = rf_metrics_render(&len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    assert_non_null(strstr(text, "\nt_many_total{i=\"0\"} 1\n"));
    assert_null(strstr(text, "t_many_total{i=\"4200\"}"));
    assert_non_null(strstr(text, "\nt_many_total{i=\"4095\"} 1\n"));
    assert_non_null(strstr(text, "\nrefold_metrics_dropped_total 10\n"));
    free(text);
    rf_metrics_reset();
}

/* A worker exports its own families, refold_up and refold_build_info with a
 * sample each, and the process metrics; nothing of the other workers. */
static void test_declare_worker(void **state)
{
    (void)state;
    rf_metrics_reset();
    rf_metrics_declare_worker("project", "9.8.7");
    rf_metrics_declare_worker("project", "9.8.7"); /* idempotent */
    size_t len = 0;
    char *text = rf_metrics_render(&len);
    assert_non_null(text);
    assert_non_null(strstr(text, "\nrefold_up{worker=\"project\"} 1\n"));
    assert_non_null(strstr(text, "\nrefold_build_info{version=\"9.8.7\"} 1\n"));
    assert_non_null(strstr(text, "# TYPE refold_projection_records_total counter\n"));
    assert_non_null(strstr(text, "\nrefold_projection_commits_total 0\n"));
    assert_null(strstr(text, "refold_events_consumed_total"));
    assert_null(strstr(text, "refold_batch_commit_seconds"));
    assert_null(strstr(text, "refold_http_requests_total"));
    /* process metrics from /proc: plausible values */
    const char *rss = strstr(text, "\nprocess_resident_memory_bytes ");
    assert_non_null(rss);
    assert_true(atof(rss + 31) > 1e5);
    const char *fds = strstr(text, "\nprocess_open_fds ");
    assert_non_null(fds);
    assert_true(atol(fds + 18) >= 3); /* stdin, stdout, stderr at least */
    const char *start = strstr(text, "\nprocess_start_time_seconds ");
    assert_non_null(start);
    double t = atof(start + strlen("\nprocess_start_time_seconds ")), now = (double)time(NULL);
    assert_true(t > now - 3600 && t <= now + 1);
    assert_non_null(strstr(text, "\nprocess_cpu_seconds_total "));
    assert_non_null(strstr(text, "# HELP process_max_fds "));
    free(text);
    rf_metrics_reset();
    text = rf_metrics_render(&len); /* reset: no process metrics, no worker */
    assert_null(strstr(text, "process_"));
    assert_null(strstr(text, "refold_up"));
    free(text);
}

/* --metrics-listen's parser: ADDR:PORT, IPv4 or [IPv6]; names are refused. */
static void test_serve_listen(void **state)
{
    (void)state;
    rf_errbuf_t eb = {{0}};
    const char *bad[] = {"nowhere",     "localhost:9",   "127.0.0.1",
                         "127.0.0.1:x", "1.2.3.4:70000", "[::1:9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(rf_metrics_serve_listen(bad[i], &eb), RF_ERR_CONFIG);
        assert_non_null(strstr(eb.msg, "bad metrics address"));
    }
    assert_int_equal(rf_metrics_serve_listen("127.0.0.1:0", &eb), RF_OK);
    int port = rf_metrics_port();
    assert_true(port > 0);
    static char out[65536];
    http_get(port, "/metrics", out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 200"));
    rf_metrics_stop();
    /* IPv6 parses; binding needs the host to have it */
    if (rf_metrics_serve_listen("[::1]:0", &eb) == RF_OK)
        rf_metrics_stop();
    else
        assert_null(strstr(eb.msg, "bad metrics address"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoint),
        cmocka_unit_test(test_labels_and_bounds),
        cmocka_unit_test(test_declare_worker),
        cmocka_unit_test(test_serve_listen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
