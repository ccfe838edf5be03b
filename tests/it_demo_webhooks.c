/* it_demo_webhooks.c: `refold demo --webhooks URL` runs the webhook relay in
 * the demo's process; a Node receiver verifies every request with npm's
 * standardwebhooks (tests/interop/wh_receiver.mjs), and the deliveries it
 * accepted are exactly the ones the demo's report counts as delivered. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "rf_testutil.h"

#define OUT_MAX (256 * 1024)
#define EVENTS  5000
#define SECRET  "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

static char scratch[256];
static char out[OUT_MAX];

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Where tests/interop/npm-setup.sh put npm's packages. */
static const char *interop_dir(void)
{
    static char dir[1024];
    const char *e = getenv("REFOLD_NPM_DIR"), *home = getenv("HOME");
    if (e && *e)
        snprintf(dir, sizeof dir, "%s", e);
    else
        snprintf(dir, sizeof dir, "%s/.cache/refold/npm", home ? home : "/root");
    return dir;
}

static pid_t start_receiver(const char *log, const char *rlog, const char *portf, char port[16])
{
    char p[1200], script[1200];
    snprintf(p, sizeof p, "%s/node_modules/standardwebhooks/package.json", interop_dir());
    if (access(p, R_OK) != 0 || system("node --version >/dev/null 2>&1") != 0)
        fail_msg("npm's standardwebhooks is not installed in %s (or node is missing): run "
                 "tests/interop/npm-setup.sh (ops/install-deps.sh does)",
                 interop_dir());
    snprintf(script, sizeof script, "%s/tests/interop/wh_receiver.mjs", RF_TEST_SOURCE_DIR);
    char *argv[] = {"node",   script,      "--modules",   (char *)interop_dir(),
                    "--port", "0",         "--port-file", (char *)portf,
                    "--log",  (char *)log, "--secret",    SECRET,
                    NULL};
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(rlog, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    for (int i = 0; i < 200 && access(portf, R_OK) != 0; i++)
        sleep_ms(50);
    FILE *pf = fopen(portf, "r");
    if (!pf) fail_msg("the receiver did not start (see %s)", rlog);
    assert_int_equal(fscanf(pf, "%15s", port), 1);
    fclose(pf);
    return pid;
}

/* Lines of path ("" when it does not exist); each accepted line is
 * "/hook msg_P_S", unique by construction of the receiver's dedup. */
static long count_lines(const char *path, const char *prefix)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[512];
    long n = 0;
    while (fgets(line, sizeof line, f)) {
        if (prefix) assert_memory_equal(line, prefix, strlen(prefix));
        n++;
    }
    fclose(f);
    return n;
}

static void test_demo_webhooks(void **state)
{
    (void)state;
    char log[400], rlog[400], portf[400], rej[420], data[400], port[16];
    snprintf(log, sizeof log, "%s/accepted.log", scratch);
    snprintf(rej, sizeof rej, "%s.rejected", log);
    snprintf(rlog, sizeof rlog, "%s/receiver.out", scratch);
    snprintf(portf, sizeof portf, "%s/port", scratch);
    snprintf(data, sizeof data, "%s/data", scratch);
    pid_t recv = start_receiver(log, rlog, portf, port);
    int rc = rf_test_refold(out, OUT_MAX, 1,
                            "demo --events %d --seed 3 --data '%s' --json-report '%s.json' "
                            "--webhooks http://127.0.0.1:%s/hook --webhooks-secret " SECRET,
                            EVENTS, data, data, port);
    kill(recv, SIGTERM);
    waitpid(recv, NULL, 0);
    if (rc != 0) fprintf(stderr, "demo output:\n%s\n", out);
    assert_int_equal(rc, 0);
    if (!strstr(out, "  ok   webhooks           every subscribed record delivered")) {
        fprintf(stderr, "demo output:\n%s\n", out);
        fail_msg("the webhooks check did not pass (the demo's output is above)");
    }
    assert_null(strstr(out, "FAIL"));

    char path[420];
    snprintf(path, sizeof path, "%s.json", data);
    json_error_t jerr;
    json_t *rep = json_load_file(path, 0, &jerr);
    assert_non_null(rep);
    json_t *wh = json_object_get(rep, "webhooks");
    assert_non_null(wh);
    json_t *ep = json_array_get(json_object_get(wh, "endpoints"), 0);
    assert_non_null(ep);
    json_int_t delivered = json_integer_value(json_object_get(ep, "delivered"));
    /* the records of a demo include rewards, attributions and the programs'
     * configuration: some hundreds at 5,000 events */
    assert_true(delivered > 100);
    assert_int_equal(json_integer_value(json_object_get(wh, "messages")), delivered);
    assert_int_equal(json_integer_value(json_object_get(ep, "pending")), 0);
    assert_int_equal(json_integer_value(json_object_get(ep, "parked")), 0);
    /* what the receiver verified with standardwebhooks (and deduplicated by
     * webhook-id) is what the relay counted, and nothing was refused */
    assert_int_equal(count_lines(log, "/hook msg_"), delivered);
    assert_int_equal(count_lines(rej, NULL), 0);
    json_decref(rep);

    /* bad input is named before anything starts */
    assert_int_equal(
        rf_test_refold(out, OUT_MAX, 1, "demo --data '%s/x' --webhooks-secret " SECRET, scratch),
        2);
    assert_non_null(strstr(out, "--webhooks-secret needs --webhooks URL"));
    assert_int_equal(
        rf_test_refold(out, OUT_MAX, 1, "demo --data '%s/y' --webhooks ftp://127.0.0.1/x", scratch),
        2);
    assert_non_null(strstr(out, "--webhooks: "));
}

static int setup(void **state)
{
    (void)state;
    rf_test_tmpdir("demo-wh", scratch, sizeof scratch);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rf_test_rmtree(scratch);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_demo_webhooks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
