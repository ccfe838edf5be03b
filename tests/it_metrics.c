/* it_metrics.c: the workers' Prometheus endpoints as Prometheus sees them:
 * `refold fold`, `refold project` and `refold serve` run on the embedded
 * broker with --metrics-listen, their /metrics pass `promtool check metrics`
 * (Debian's prometheus package, installed by ops/install-deps.sh), each
 * exports its own families, refold_up, refold_build_info and process_*;
 * /v1/health reports lag 0 (not null) for partitions that never had a
 * record; curl reuses one connection to `refold serve` (keep-alive). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rf_testutil.h"

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static pid_t spawn(char *const argv[])
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        execv(rf_test_refold_bin(), argv);
        _exit(127);
    }
    return pid;
}

/* GET http://127.0.0.1:port/metrics into out (body only), retrying until the
 * worker listens (10 s). */
static void scrape(int port, char *out, size_t cap)
{
    for (int tries = 0; tries < 200; tries++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        struct timeval tv = {.tv_sec = 10};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
            const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
            assert_true(send(fd, req, strlen(req), MSG_NOSIGNAL) > 0);
            static char buf[1 << 20];
            size_t used = 0;
            ssize_t n;
            while (used < sizeof buf - 1 &&
                   (n = recv(fd, buf + used, sizeof buf - 1 - used, 0)) > 0)
                used += (size_t)n;
            buf[used] = 0;
            close(fd);
            char *body = strstr(buf, "\r\n\r\n");
            assert_non_null(body);
            assert_non_null(strstr(buf, "HTTP/1.1 200"));
            rf_strlcpy(out, body + 4, cap);
            return;
        }
        close(fd);
        usleep(50000);
    }
    fail_msg("nothing listens on metrics port %d", port);
}

/* GET path on port: the status, the body into out. */
static int http_get(int port, const char *path, char *out, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    char req[256], buf[16384];
    int n =
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    assert_true(send(fd, req, (size_t)n, MSG_NOSIGNAL) == n);
    size_t used = 0;
    ssize_t r;
    while (used < sizeof buf - 1 && (r = recv(fd, buf + used, sizeof buf - 1 - used, 0)) > 0)
        used += (size_t)r;
    buf[used] = 0;
    close(fd);
    int status = 0;
    sscanf(buf, "HTTP/1.%*d %d", &status);
    char *body = strstr(buf, "\r\n\r\n");
    rf_strlcpy(out, body ? body + 4 : "", cap);
    return status;
}

/* Runs promtool check metrics on text; fails with its complaints. */
static void promtool_check(const char *worker, const char *text, const char *tmp)
{
    char path[512], cmd[1200], out[8192];
    snprintf(path, sizeof path, "%s/%s.prom", tmp, worker);
    rf_test_write_file(path, text);
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s 2>&1", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int st = pclose(p);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("promtool check metrics on %s's /metrics failed (status %d):\n%s", worker,
                 WIFEXITED(st) ? WEXITSTATUS(st) : -1, out);
}

static void expect_has(const char *worker, const char *text, const char *want)
{
    if (!strstr(text, want)) fail_msg("%s's /metrics lacks '%s':\n%s", worker, want, text);
}

static void expect_lacks(const char *worker, const char *text, const char *unwanted)
{
    if (strstr(text, unwanted)) fail_msg("%s's /metrics has '%s'", worker, unwanted);
}

static void test_workers_pass_promtool(void **state)
{
    (void)state;
    if (system("command -v promtool >/dev/null") != 0)
        fail_msg("promtool is not installed (Debian package prometheus): run ops/install-deps.sh");
    rf_errbuf_t eb = {{0}};
    rf_broker_t *b = rf_broker_start(2, 1, &eb);
    assert_non_null(b);
    char dir[256], tmp[256];
    rf_test_tmpdir("metrics", dir, sizeof dir);
    rf_test_tmpdir("metrics-out", tmp, sizeof tmp);
    int pf = free_port(), pp = free_port(), ps = free_port(), http = free_port();
    char lf[64], lp[64], ls[64], lh[64];
    snprintf(lf, sizeof lf, "127.0.0.1:%d", pf);
    snprintf(lp, sizeof lp, "127.0.0.1:%d", pp);
    snprintf(ls, sizeof ls, "127.0.0.1:%d", ps);
    snprintf(lh, sizeof lh, "127.0.0.1:%d", http);
    const char *brokers = rf_broker_bootstraps(b);
    char *fold[] = {"refold",           "fold", "--brokers", (char *)brokers, "--data", dir,
                    "--metrics-listen", lf,     NULL};
    char *proj[] = {"refold",           "project", "--brokers", (char *)brokers, "--data", dir,
                    "--metrics-listen", lp,        NULL};
    char *serve[] = {"refold",           "serve", "--data", dir, "--listen", lh,
                     "--metrics-listen", ls,      NULL};
    pid_t pids[3] = {spawn(fold), spawn(proj), spawn(serve)};
    static char text[1 << 20];
    const char *workers[3] = {"fold", "project", "serve"};
    const int ports[3] = {pf, pp, ps};
    const char *own[3] = {"refold_events_consumed_total", "refold_projection_records_total",
                          "refold_http_requests_total"};
    for (int i = 0; i < 3; i++) {
        scrape(ports[i], text, sizeof text);
        promtool_check(workers[i], text, tmp);
        char up[64], lacks[2][64];
        snprintf(up, sizeof up, "\nrefold_up{worker=\"%s\"} 1\n", workers[i]);
        expect_has(workers[i], text, up);
        expect_has(workers[i], text, "\nrefold_build_info{version=\"");
        expect_has(workers[i], text, "\nprocess_cpu_seconds_total ");
        expect_has(workers[i], text, "\nprocess_resident_memory_bytes ");
        expect_has(workers[i], text, "\nprocess_open_fds ");
        expect_has(workers[i], text, "\nprocess_start_time_seconds ");
        expect_has(workers[i], text, own[i]);
        for (int k = 0, n = 0; k < 3; k++)
            if (k != i) snprintf(lacks[n++], sizeof lacks[0], "# TYPE %s ", own[k]);
        expect_lacks(workers[i], text, lacks[0]); /* only its own families */
        expect_lacks(workers[i], text, lacks[1]);
    }
    /* /v1/health over a real projection of two partitions that never had a
     * record: each is at its end, so the lag is 0, not null */
    char body[16384];
    int st = 0;
    for (int tries = 0; tries < 200; tries++) {
        st = http_get(http, "/v1/health", body, sizeof body);
        if (st == 200 && strstr(body, "\"high_watermark\":0") &&
            !strstr(body, "\"high_watermark\":-1"))
            break;
        usleep(50000);
    }
    assert_int_equal(st, 200);
    if (!strstr(body, "{\"status\":\"ok\",\"lag\":0,"))
        fail_msg("health of empty partitions: %s", body);
    /* curl: two requests on one connection (keep-alive), to the API and to /metrics */
    const char *urls[2][2] = {{lh, "/v1/health"}, {lf, "/metrics"}};
    for (int i = 0; i < 2; i++) {
        char cmd[512], out[16384];
        snprintf(cmd, sizeof cmd, "curl -sv -o /dev/null -o /dev/null http://%s%s http://%s%s 2>&1",
                 urls[i][0], urls[i][1], urls[i][0], urls[i][1]);
        FILE *p = popen(cmd, "r");
        size_t n = fread(out, 1, sizeof out - 1, p);
        out[n] = 0;
        pclose(p);
        if (!strstr(out, "Re-using existing connection"))
            fail_msg("curl did not reuse the connection:\n%s", out);
        assert_null(strstr(out, "< Connection: close"));
    }
    for (int i = 0; i < 3; i++) {
        kill(pids[i], SIGTERM);
        int st = 0;
        assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    rf_broker_stop(b);
    rf_test_rmtree(dir);
    rf_test_rmtree(tmp);
}

/* Option errors: a bad address, both options at once. */
static void test_metrics_options(void **state)
{
    (void)state;
    char out[2048], dir[256];
    rf_test_tmpdir("metrics-opt", dir, sizeof dir);
    assert_int_equal(rf_test_refold(out, sizeof out, 1,
                                    "serve --data %s --listen 127.0.0.1:0 --metrics-listen nowhere",
                                    dir),
                     1);
    assert_non_null(strstr(out, "bad metrics address 'nowhere'"));
    assert_int_equal(
        rf_test_refold(out, sizeof out, 1,
                       "serve --data %s --listen 127.0.0.1:0 --metrics-port 9 --metrics-listen "
                       "127.0.0.1:0",
                       dir),
        1);
    assert_non_null(strstr(out, "exclude each other"));
    rf_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workers_pass_promtool),
        cmocka_unit_test(test_metrics_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
