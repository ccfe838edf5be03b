/* it_webhooks.c: the webhook relay end to end, checked by an implementation
 * nobody on this project wrote: loadgen traffic is folded into refold.ledger,
 * `refold webhooks run` relays it to a Node receiver that verifies every
 * request with npm's standardwebhooks (tests/interop/wh_receiver.mjs),
 * answers 500 or hangs past the relay's timeout on a share of requests and
 * is restarted mid-run, while the relay is killed with SIGKILL a few times.
 * At the end every ledger record of the subscribed types was accepted once
 * (after the receiver's deduplication by webhook-id), an endpoint signing
 * with a wrong secret was refused on every request and its messages parked,
 * and redeliver and replay work with the same webhook-ids. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rf_fold_worker.h"
#include "rf_testutil.h"
#include "rf_webhooks.h"

#include "bench/rf_fold_gen.h"

#define NPART   4
#define EVENTS  30000
#define SECRET  "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define WRONG   "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY="
#define IDS_MAX 200000

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

static void require_interop(void)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/node_modules/standardwebhooks/package.json", interop_dir());
    if (access(p, R_OK) != 0 || system("node --version >/dev/null 2>&1") != 0)
        fail_msg("npm's standardwebhooks is not installed in %s (or node is missing): run "
                 "tests/interop/npm-setup.sh (ops/install-deps.sh does)",
                 interop_dir());
}

/* ---- the pipeline up to refold.ledger ---- */

static void fold_to_ledger(const char *brokers, const char *data)
{
    fg_prod_t p;
    fg_prod_open(&p, brokers, "none");
    rf_loadgen_t *g = fg_loadgen_new(19, 6, EVENTS);
    assert_int_equal(fg_prod_loadgen(&p, RF_TOPIC_EVENTS, g, EVENTS), EVENTS);
    assert_int_equal(fg_prod_flush(&p), 0);
    rf_loadgen_destroy(g);
    fg_prod_close(&p);
    static rf_fold_worker_conf_t c;
    rf_fold_worker_conf_init(&c);
    c.kafka.brokers = brokers;
    c.data_dir = data;
    c.exit_at_end = true;
    c.npartitions = NPART;
    for (int i = 0; i < NPART; i++)
        c.partitions[i] = i;
    rf_errbuf_t eb = {{0}};
    rf_fold_worker_t *w = rf_fold_worker_new(&c, &eb);
    assert_non_null(w);
    if (rf_fold_worker_run(w, &eb)) fail_msg("fold: %s", eb.msg);
    rf_fold_worker_destroy(w);
}

/* The webhook-ids the relay owes: every ledger record that maps to a type. */
typedef struct expect {
    char (*ids)[RF_WH_MSGID_BUF];
    int n;
    int per_type[RF_WH__TYPES];
    uint64_t *keys[NPART]; /* ordering key by seq, per partition */
    uint64_t nkeys[NPART];
    rf_codec_t *codec;
    rf_record_t rec;
} expect_t;

static void on_ledger(const rd_kafka_message_t *m, void *opaque)
{
    expect_t *x = opaque;
    rf_errbuf_t eb = {{0}};
    assert_int_equal(rf_codec_decode_record(x->codec, m->payload, m->len, &x->rec, &eb), RF_OK);
    int t = rf_wh_record_type(&x->rec);
    if (t < 0) return;
    assert_true(x->n < IDS_MAX);
    rf_wh_msg_id(x->rec.partition, x->rec.seq, x->ids[x->n++]);
    x->per_type[t]++;
    int32_t p = x->rec.partition;
    assert_true(p >= 0 && p < NPART);
    if (x->rec.seq >= x->nkeys[p]) {
        uint64_t n = (x->rec.seq + 1) * 2;
        x->keys[p] = realloc(x->keys[p], n * sizeof *x->keys[p]);
        assert_non_null(x->keys[p]);
        memset(x->keys[p] + x->nkeys[p], 0, (n - x->nkeys[p]) * sizeof *x->keys[p]);
        x->nkeys[p] = n;
    }
    x->keys[p][x->rec.seq] = rf_wh_order_key(&x->rec);
}

/* In the order the receiver first accepted them, the messages of one
 * (program, user) come in ledger order. */
static void assert_user_order(const expect_t *x, char (*got)[RF_WH_MSGID_BUF], int ngot)
{
    enum { SLOTS = 1 << 16 };
    static uint64_t k[SLOTS], last[SLOTS];
    memset(k, 0, sizeof k);
    for (int i = 0; i < ngot; i++) {
        int p;
        unsigned long long seq;
        assert_int_equal(sscanf(got[i], "msg_%d_%llu", &p, &seq), 2);
        assert_true(p >= 0 && p < NPART && seq < x->nkeys[p]);
        uint64_t key = x->keys[p][seq] | 1, at = (key * 0x9e3779b97f4a7c15ULL) >> 48;
        while (k[at] && k[at] != key)
            at = (at + 1) % SLOTS;
        uint64_t ps = ((uint64_t)p << 48) | seq;
        if (k[at] && last[at] > ps)
            fail_msg("%s accepted after a later message of the same user", got[i]);
        k[at] = key;
        last[at] = ps;
    }
}

/* ---- processes ---- */

static pid_t spawn(const char *log, char *const argv[])
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

typedef struct env {
    char dir[256], data[300], conf[300], rlog[300], log[300], portf[300], port[16];
    const char *brokers;
} env_t;

static pid_t start_receiver(env_t *e, double fail, double hang)
{
    char script[1200], f[16], h[16];
    snprintf(script, sizeof script, "%s/tests/interop/wh_receiver.mjs", RF_TEST_SOURCE_DIR);
    snprintf(f, sizeof f, "%.2f", fail);
    snprintf(h, sizeof h, "%.2f", hang);
    char *argv[] = {"node",        script,   "--modules",   (char *)interop_dir(),
                    "--secret",    SECRET,   "--port",      e->port,
                    "--port-file", e->portf, "--log",       e->log,
                    "--fail-rate", f,        "--hang-rate", h,
                    "--hang-ms",   "1500",   NULL};
    unlink(e->portf);
    pid_t pid = spawn(e->rlog, argv);
    for (int i = 0; i < 200 && access(e->portf, R_OK) != 0; i++)
        sleep_ms(50);
    FILE *pf = fopen(e->portf, "r");
    if (!pf) fail_msg("the receiver did not start (see %s)", e->rlog);
    assert_int_equal(fscanf(pf, "%15s", e->port), 1);
    fclose(pf);
    return pid;
}

static void write_config(env_t *e)
{
    char text[4096];
    snprintf(text, sizeof text,
             "{\"endpoints\":["
             "{\"id\":\"good\",\"url\":\"http://127.0.0.1:%s/good\",\"allow_http\":true,"
             "\"secrets\":[\"" SECRET "\"],\"events\":[\"*\"],\"timeout_ms\":500,"
             "\"max_in_flight\":8,\"disable_after_failures\":100000,"
             "\"retry\":{\"initial_ms\":50,\"max_delay_ms\":400,\"max_attempts\":100,"
             "\"max_age_ms\":300000}},"
             "{\"id\":\"wrong\",\"url\":\"http://127.0.0.1:%s/wrong\",\"allow_http\":true,"
             "\"secrets\":[\"" WRONG "\"],\"events\":[\"program.configured\"],"
             "\"timeout_ms\":500,\"disable_after_failures\":100000,"
             "\"retry\":{\"initial_ms\":20,\"max_delay_ms\":50,\"max_attempts\":2}},"
             "{\"id\":\"gone\",\"url\":\"http://127.0.0.1:%s/gone\",\"allow_http\":true,"
             "\"secrets\":[\"" SECRET "\"],\"events\":[\"program.configured\"]},"
             "{\"id\":\"dead\",\"url\":\"http://127.0.0.1:1/\",\"allow_http\":true,"
             "\"secrets\":[\"" SECRET "\"],\"events\":[\"program.configured\"],"
             "\"disable_after_failures\":3,\"retry\":{\"initial_ms\":20,\"max_delay_ms\":50}}]}",
             e->port, e->port, e->port);
    rf_test_write_file(e->conf, text);
}

/* group: join a consumer group (rebalance callbacks) instead of assigning
 * the partitions (a killed member would hold them for its session) */
static pid_t start_relay(env_t *e, bool until_idle, bool group)
{
    char *argv[] = {(char *)rf_test_refold_bin(),
                    "webhooks",
                    "run",
                    "--config",
                    e->conf,
                    "--data",
                    e->data,
                    "--brokers",
                    (char *)e->brokers,
                    group ? "--group" : "--partitions",
                    group ? "it-webhooks" : "0-3",
                    until_idle ? "--exit-when-idle" : NULL,
                    NULL};
    char relay_log[320];
    snprintf(relay_log, sizeof relay_log, "%s/relay.log", e->dir);
    return spawn(relay_log, argv);
}

static void kill9(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static int wait_exit(pid_t pid, int timeout_s)
{
    for (int i = 0; i < timeout_s * 20; i++) {
        int st = 0;
        if (waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        sleep_ms(50);
    }
    kill9(pid);
    return -2;
}

/* Lines "path id" of the receiver's log that start with path. */
static int read_log(const char *file, const char *path, char (*ids)[RF_WH_MSGID_BUF], int cap)
{
    FILE *f = fopen(file, "r");
    if (!f) return 0;
    char p[64], id[64];
    int n = 0;
    while (fscanf(f, "%63s %63s%*[^\n]", p, id) == 2)
        if (!strcmp(p, path) && n < cap) rf_strlcpy(ids[n++], id, RF_WH_MSGID_BUF);
    fclose(f);
    return n;
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void assert_exactly_once(char (*want)[RF_WH_MSGID_BUF], int nwant,
                                char (*got)[RF_WH_MSGID_BUF], int ngot)
{
    qsort(want, (size_t)nwant, RF_WH_MSGID_BUF, cmp_id);
    qsort(got, (size_t)ngot, RF_WH_MSGID_BUF, cmp_id);
    for (int i = 1; i < ngot; i++)
        if (!strcmp(got[i], got[i - 1])) fail_msg("%s accepted twice", got[i]);
    int i = 0, k = 0;
    while (i < nwant || k < ngot) {
        int c = i >= nwant ? 1 : k >= ngot ? -1 : strcmp(want[i], got[k]);
        if (c < 0) fail_msg("%s was never accepted (%d of %d accepted)", want[i], ngot, nwant);
        if (c > 0) fail_msg("%s was accepted but is not owed", got[k]);
        i++, k++;
    }
}

static void test_webhooks_e2e(void **state)
{
    (void)state;
    require_interop();
    static env_t e;
    rf_test_tmpdir("webhooks", e.dir, sizeof e.dir);
    snprintf(e.data, sizeof e.data, "%s/data", e.dir);
    snprintf(e.conf, sizeof e.conf, "%s/endpoints.json", e.dir);
    snprintf(e.rlog, sizeof e.rlog, "%s/receiver.out", e.dir);
    snprintf(e.log, sizeof e.log, "%s/accepted.log", e.dir);
    snprintf(e.portf, sizeof e.portf, "%s/port", e.dir);
    snprintf(e.port, sizeof e.port, "0");
    rf_errbuf_t eb = {{0}};
    rf_broker_t *b = rf_broker_start(NPART, 1, &eb);
    assert_non_null(b);
    e.brokers = rf_broker_bootstraps(b);
    fold_to_ledger(e.brokers, e.data);

    static expect_t x;
    x.ids = calloc(IDS_MAX, RF_WH_MSGID_BUF);
    x.codec = rf_codec_new(&eb);
    rf_test_consume_all(e.brokers, RF_TOPIC_LEDGER, on_ledger, &x);
    fprintf(stderr, "it_webhooks: %d messages owed:", x.n);
    for (int t = 0; t < RF_WH__TYPES; t++)
        fprintf(stderr, " %s %d", rf_wh_type_name((rf_wh_type_t)t), x.per_type[t]);
    fprintf(stderr, "\n");
    /* loadgen's traffic exercises the main types */
    assert_true(x.per_type[RF_WH_REWARD_CREATED] > 50);
    assert_true(x.per_type[RF_WH_REFERRAL_ATTRIBUTED] > 20);
    assert_true(x.per_type[RF_WH_PROGRAM_CONFIGURED] > 0);

    pid_t recv = start_receiver(&e, 0.15, 0.05);
    write_config(&e);
    /* the relay is killed with SIGKILL three times; the receiver restarts once */
    srand(7);
    for (int round = 0; round < 3; round++) {
        pid_t relay = start_relay(&e, false, false);
        sleep_ms(700 + rand() % 1200);
        if (round == 1) { /* the receiver dies mid-run and comes back on its port */
            kill9(recv);
            sleep_ms(300);
            recv = start_receiver(&e, 0.15, 0.05);
        }
        kill9(relay);
    }
    static char got[IDS_MAX][RF_WH_MSGID_BUF];
    int ngot = read_log(e.log, "/good", got, IDS_MAX);
    fprintf(stderr, "it_webhooks: %d of %d accepted before the last run\n", ngot, x.n);
    pid_t relay = start_relay(&e, true, false);
    int rc = wait_exit(relay, 150);
    if (rc != 0) fail_msg("the relay did not finish (status %d): see %s/relay.log", rc, e.dir);

    ngot = read_log(e.log, "/good", got, IDS_MAX);
    fprintf(stderr, "it_webhooks: %d of %d accepted\n", ngot, x.n);
    assert_user_order(&x, got, ngot); /* before sorting: the log's order */
    assert_exactly_once(x.ids, x.n, got, ngot);
    /* every request to /good verified; every one to /wrong was refused */
    char rej[320];
    snprintf(rej, sizeof rej, "%s.rejected", e.log);
    static char bad[IDS_MAX][RF_WH_MSGID_BUF];
    assert_int_equal(read_log(rej, "/good", bad, IDS_MAX), 0);
    assert_int_equal(read_log(e.log, "/wrong", bad, IDS_MAX), 0);
    int nrej = read_log(rej, "/wrong", bad, IDS_MAX);
    assert_true(nrej >= x.per_type[RF_WH_PROGRAM_CONFIGURED]);

    /* the wrong endpoint's messages are parked, listed and redeliverable */
    static char out[1 << 16];
    rc = rf_test_refold(out, sizeof out, 0, "webhooks parked --data %s --endpoint wrong --json",
                        e.data);
    assert_int_equal(rc, 0);
    int nparked = 0;
    for (char *s = out; (s = strstr(s, "\"webhook_id\"")); s++)
        nparked++;
    assert_int_equal(nparked, x.per_type[RF_WH_PROGRAM_CONFIGURED]);
    assert_non_null(strstr(out, "HTTP 401"));
    rc = rf_test_refold(out, sizeof out, 1, "webhooks list --config %s --data %s --json", e.conf,
                        e.data);
    assert_int_equal(rc, 0);
    char *good = strstr(out, "\"endpoint\":\"good\",\"url\"");
    assert_non_null(good);
    char *eol = strchr(good, '\n');
    if (eol) *eol = '\0';
    assert_non_null(strstr(good, "\"state\":\"active\""));
    assert_non_null(strstr(good, "\"pending\":0,"));
    if (eol) *eol = '\n';
    char expect_parked[64];
    snprintf(expect_parked, sizeof expect_parked, "\"parked\":%d", nparked);
    assert_non_null(strstr(out, expect_parked));
    /* a 410 disabled "gone", connection failures disabled "dead"; their
     * messages stay pending */
    assert_non_null(strstr(out, "\"endpoint\":\"gone\""));
    assert_non_null(strstr(out, "\"state\":\"disabled\",\"disabled_reason\":\"410 Gone\""));
    assert_non_null(strstr(out, "\"disabled_reason\":\"3 failed attempts in a row"));
    rc = rf_test_refold(out, sizeof out, 1, "webhooks enable --config %s --data %s --endpoint gone",
                        e.conf, e.data);
    assert_int_equal(rc, 0);
    rc = rf_test_refold(out, sizeof out, 1, "webhooks list --config %s --data %s --json", e.conf,
                        e.data);
    assert_null(strstr(out, "410 Gone"));
    rc = rf_test_refold(out, sizeof out, 1,
                        "webhooks redeliver --config %s --data %s --endpoint wrong --all", e.conf,
                        e.data);
    assert_int_equal(rc, 0);
    char expect_q[64];
    snprintf(expect_q, sizeof expect_q, "%d message(s) of 'wrong' queued", nparked);
    assert_non_null(strstr(out, expect_q));
    /* a replay by event time, over every partition, finds the same ones */
    rc = rf_test_refold(out, sizeof out, 1,
                        "webhooks replay --config %s --data %s --endpoint wrong --from-time "
                        "2000-01-01T00:00:00Z",
                        e.conf, e.data);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, expect_q));

    /* replay partition 0 of the good endpoint: the same webhook-ids again,
     * which the receiver deduplicates: still exactly once */
    rc = rf_test_refold(out, sizeof out, 1,
                        "webhooks replay --config %s --data %s --endpoint good --partition 0 "
                        "--from-seq 1",
                        e.conf, e.data);
    assert_int_equal(rc, 0);
    assert_null(strstr(out, " 0 message(s)"));
    relay = start_relay(&e, true, true); /* in a consumer group this time */
    assert_int_equal(wait_exit(relay, 120), 0);
    ngot = read_log(e.log, "/good", got, IDS_MAX);
    assert_exactly_once(x.ids, x.n, got, ngot);

    kill(recv, SIGTERM);
    waitpid(recv, NULL, 0);
    snprintf(out, sizeof out, "cat %s/receiver.out >&2", e.dir);
    (void)system(out);
    free(x.ids);
    for (int p = 0; p < NPART; p++)
        free(x.keys[p]);
    rf_codec_destroy(x.codec);
    rf_broker_stop(b);
    rf_test_rmtree(e.dir);
}

/* The config check: a strict error names the field and exits non-zero. */
static void test_webhooks_check(void **state)
{
    (void)state;
    char dir[256], conf[300], out[4096];
    rf_test_tmpdir("webhooks-check", dir, sizeof dir);
    snprintf(conf, sizeof conf, "%s/c.json", dir);
    rf_test_write_file(conf,
                       "{\"endpoints\":[{\"id\":\"a\",\"url\":\"http://x/\",\"secrets\":[\"" SECRET
                       "\"],\"events\":[\"*\"]}]}");
    assert_int_equal(rf_test_refold(out, sizeof out, 1, "webhooks check --config %s", conf), 1);
    assert_non_null(strstr(out, "endpoints[0].url: must be https"));
    rf_test_write_file(conf,
                       "{\"endpoints\":[{\"id\":\"a\",\"url\":\"https://x/\",\"secrets\":[\"" SECRET
                       "\"],\"events\":[\"reward.created\"]}]}");
    assert_int_equal(rf_test_refold(out, sizeof out, 1, "webhooks check --config %s", conf), 0);
    assert_non_null(strstr(out, "OK"));
    rf_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_webhooks_check),
        cmocka_unit_test(test_webhooks_e2e),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
