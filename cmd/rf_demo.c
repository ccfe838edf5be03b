/* rf_demo.c: `refold demo`: the whole pipeline in one process: the embedded
 * broker, the fold and projection workers on threads (real Kafka protocol on
 * loopback between them), the example programs and loadgen traffic, then a
 * report of what came out and every check that it adds up (docs/demo.md). */
#define _XOPEN_SOURCE 700 /* nftw */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rf_commands.h"
#include "rf_demo_int.h"
#include "rf_opt.h"

#define DEMO "refold demo: "
/* Fewer events would leave an example program without its rules or any
 * traffic (loadgen configures every program first, then interleaves them). */
#define RF_DEMO_EVENTS_MIN 1000

static volatile sig_atomic_t interrupted;
static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* Warnings and errors of the workers and clients, above the progress lines;
 * their info lines would drown the report. */
static void demo_log(rf_log_level_t level, const char *msg, void *opaque)
{
    (void)opaque;
    if (level > RF_LOG_WARN) return;
    char line[RF_ERRMSG_MAX + 64];
    snprintf(line, sizeof line, DEMO "%s: %s\n", level == RF_LOG_ERROR ? "error" : "warning", msg);
    rf__demo_log_line(line);
}

/* Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, rf_demo_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->data_dir = "./refold-data";
    o->events = 1000000;
    o->seed = 1;
    o->partitions = RF_PARTITIONS_DEFAULT;
    int cont = 0;
    const rf_opt_t opts[] = {
        RF_OPT_STR(0, "data", &o->data_dir, "DIR",
                   "data directory to create; must not exist or be empty"),
        RF_OPT_U64_RANGE(
            0, "events", &o->events, RF_DEMO_EVENTS_MIN, UINT64_MAX / 2, "N",
            "loadgen events to publish (at least " RF_OPT_STRINGIFY(RF_DEMO_EVENTS_MIN) ")"),
        RF_OPT_U64_RANGE(0, "seed", &o->seed, 0, UINT64_MAX, "S", "loadgen seed"),
        RF_OPT_INT_RANGE(0, "partitions", &o->partitions, 1, RF_PARTITIONS_MAX, "P",
                         "partitions per topic"),
        RF_OPT_STR(0, "programs", &o->programs_dir, "DIR",
                   "example programs (default: ops/programs of the source\n"
                   "tree, or share/refold/programs next to the binary)"),
        RF_OPT_STR(0, "json-report", &o->json_report, "FILE",
                   "also write the report as JSON to FILE"),
        RF_OPT_STR(0, "root-key", &o->root_key, "FILE",
                   "the trust root's private key (PEM) that registers\n"
                   "loadgen's operator keys; its public key is written to\n"
                   "DIR/" RF_DEMO_TRUST_FILE " for later folds and replays",
                   .def = "derived from --seed"),
        RF_OPT_STR(0, "webhooks", &o->webhooks_url, "URL",
                   "also run the webhook relay, delivering every event type\n"
                   "to URL (http allowed: a local receiver); the report\n"
                   "counts deliveries (docs/demo.md)"),
        RF_OPT_STR(0, "webhooks-secret", &o->webhooks_secret, "whsec_...",
                   "the endpoint's signing secret", .def = "generated, printed"),
        RF_OPT_BOOL(0, "force", &o->force, "delete DIR first if it holds an earlier run"),
        RF_OPT_BOOL(0, "keep-broker", &o->keep_broker,
                    "keep the broker running after the report (Ctrl-C stops)"),
        RF_OPT_FLAG(0, "continue", &cont,
                    "not supported: see docs/demo.md (use --keep-broker and\n"
                    "the fold/project/loadgen commands to add traffic)"),
        RF_OPT_HELP(),
        RF_OPT_END(),
    };
    const rf_opt_cmd_t cmd = {
        "demo",
        "refold demo [--data DIR] [--events N] [--seed S] [--partitions P]\n"
        "                   [--programs DIR] [--json-report FILE] [--root-key FILE]\n"
        "                   [--webhooks URL [--webhooks-secret S]] [--force] [--keep-broker]",
        "Runs the whole pipeline in one process: the embedded Kafka broker, the fold and\n"
        "projection workers (the real Kafka protocol on loopback between them), the\n"
        "example programs (ops/programs) and deterministic loadgen traffic, throttled so\n"
        "the in-memory broker never drops unread events. Then it checks and reports:\n"
        "leaderboards, funnel KPIs and fraud checks of the example programs, the trial\n"
        "balance, offsets accounted, projection = fold balances, verify and head hashes.\n"
        "The same --seed gives the same head hashes. Exit status 0 only when every\n"
        "check passed (docs/demo.md).",
        opts,
        0,
        {NULL}};
    int n = rf_opt_parse(&cmd, argc, argv);
    if (n < 0) return rf_opt_status(n);
    if (cont) {
        fprintf(stderr, DEMO "--continue is not supported: the embedded broker starts "
                             "empty, so the ledgers' stored offsets would point past its "
                             "end; run with --keep-broker and add traffic with refold "
                             "loadgen/fold/project against it, or start over with --force "
                             "(docs/demo.md)\n");
        return 2;
    }
    if (o->webhooks_secret && !o->webhooks_url) {
        fprintf(stderr, DEMO "--webhooks-secret needs --webhooks URL\n");
        return 2;
    }
    return -1;
}

/* ---- the data directory ---------------------------------------------------- */

/* What an earlier demo (or the workers and tools) leave in a data directory:
 * --force deletes a directory only when it holds nothing else. */
static bool refold_entry(const char *name)
{
    static const char *const known[] = {
        "fold", "project", "checkpoints", "replay", RF_DEMO_TRUST_FILE, "webhooks", NULL};
    for (int i = 0; known[i]; i++)
        if (!strcmp(name, known[i])) return true;
    return false;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 ? 0 : -1;
}

/* Creates dir (and its parents) when missing. */
static rf_err_t mkdirs(const char *dir, rf_errbuf_t *eb)
{
    char buf[RF_DEMO_PATH_MAX];
    if (rf_strlcpy(buf, dir, sizeof buf) != RF_OK)
        return rf_errf(eb, RF_ERR_CONFIG, "path '%s' is too long", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return rf_errf(eb, RF_ERR_IO, "cannot create '%s': %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return rf_errf(eb, RF_ERR_IO, "cannot create '%s': %s", buf, strerror(errno));
    return RF_OK;
}

/* An empty (or new) data directory, or one --force may wipe. */
static rf_err_t prepare_data_dir(const rf_demo_opts_t *o, rf_errbuf_t *eb)
{
    struct stat st;
    if (stat(o->data_dir, &st) != 0) return mkdirs(o->data_dir, eb);
    if (!S_ISDIR(st.st_mode))
        return rf_errf(eb, RF_ERR_CONFIG, "'%s' exists and is not a directory", o->data_dir);
    DIR *d = opendir(o->data_dir);
    if (!d) return rf_errf(eb, RF_ERR_IO, "cannot open '%s': %s", o->data_dir, strerror(errno));
    struct dirent *de;
    char stranger[256] = "";
    int entries = 0;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        entries++;
        if (!refold_entry(de->d_name) && !stranger[0])
            snprintf(stranger, sizeof stranger, "%s", de->d_name);
    }
    closedir(d);
    if (entries == 0) return RF_OK;
    if (!o->force)
        return rf_errf(eb, RF_ERR_CONFIG,
                       "data directory '%s' is not empty (an earlier run?): choose a new --data "
                       "DIR, or add --force to delete it first",
                       o->data_dir);
    if (stranger[0])
        return rf_errf(eb, RF_ERR_CONFIG,
                       "--force: '%s' does not look like a refold data directory (it holds "
                       "'%s'); not deleting it",
                       o->data_dir, stranger);
    if (nftw(o->data_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return rf_errf(eb, RF_ERR_IO, "--force: cannot delete '%s': %s", o->data_dir,
                       strerror(errno));
    return mkdirs(o->data_dir, eb);
}

/* ---- worker threads -------------------------------------------------------- */

static void *fold_main(void *arg)
{
    rf_demo_run_t *r = arg;
    r->fold_t.err = rf_fold_worker_run(r->fold, &r->fold_t.eb);
    atomic_store(&r->fold_t.done, 1);
    return NULL;
}

static void *proj_main(void *arg)
{
    rf_demo_run_t *r = arg;
    r->proj_t.err = rf_project_worker_run(r->proj, &r->proj_t.eb);
    atomic_store(&r->proj_t.done, 1);
    return NULL;
}

static void *wh_main(void *arg)
{
    rf_demo_run_t *r = arg;
    r->wh_t.err = rf_wh_relay_run(r->wh, &r->wh_t.eb);
    atomic_store(&r->wh_t.done, 1);
    return NULL;
}

/* A secret for the demo's endpoint: 48 random base64 characters (36 bytes). */
static rf_err_t gen_secret(char out[RF_DEMO_WH_SECRET_BUF], rf_errbuf_t *eb)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char rnd[RF_DEMO_WH_SECRET_CHARS];
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(rnd, 1, sizeof rnd, f) != sizeof rnd) {
        if (f) fclose(f);
        return rf_errf(eb, RF_ERR_IO, "cannot read '/dev/urandom' for the webhook secret");
    }
    fclose(f);
    memcpy(out, "whsec_", 6);
    for (int i = 0; i < RF_DEMO_WH_SECRET_CHARS; i++)
        out[6 + i] = b64[rnd[i] & 63];
    out[6 + RF_DEMO_WH_SECRET_CHARS] = '\0';
    return RF_OK;
}

/* The demo's one endpoint, through the relay's own strict config parser (a
 * bad URL or secret is reported like in a config file). */
static rf_err_t webhooks_config(rf_demo_run_t *r, rf_errbuf_t *eb)
{
    static rf_wh_config_t cfg; /* large; one demo at a time */
    const rf_demo_opts_t *o = r->o;
    rf_err_t err = RF_OK;
    if (o->webhooks_secret)
        err = rf_strlcpy(r->wh_secret, o->webhooks_secret, sizeof r->wh_secret) == RF_OK
                  ? RF_OK
                  : rf_errf(eb, RF_ERR_CONFIG, "--webhooks-secret: too long");
    else
        err = gen_secret(r->wh_secret, eb);
    if (err != RF_OK) return err;
    json_t *doc =
        json_pack("{s:[{s:s, s:s, s:b, s:[s], s:[s], s:i, s:{s:i, s:i, s:i, s:i}}]}", "endpoints",
                  "id", RF_DEMO_WH_ENDPOINT, "url", o->webhooks_url, "allow_http", 1, "secrets",
                  r->wh_secret, "events", "*", "timeout_ms", RF_DEMO_WH_TIMEOUT_MS, "retry",
                  "initial_ms", RF_DEMO_WH_INITIAL_MS, "max_delay_ms", RF_DEMO_WH_MAX_DELAY_MS,
                  "max_attempts", RF_DEMO_WH_ATTEMPTS, "max_age_ms", RF_DEMO_WH_MAX_AGE_MS);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text) return rf_errf(eb, RF_ERR_NOMEM, "cannot build the webhooks config");
    rf_errbuf_t ceb = {{0}};
    err = rf_wh_config_parse(text, strlen(text), &cfg, &ceb);
    free(text);
    if (err != RF_OK) return rf_errf(eb, err, "--webhooks: %s", ceb.msg);
    r->wh_cfg = &cfg;
    return RF_OK;
}

static rf_err_t start_relay(rf_demo_run_t *r, rf_errbuf_t *eb)
{
    static rf_wh_opts_t wo; /* large (partition list) */
    memset(&wo, 0, sizeof wo);
    wo.kafka.brokers = r->brokers;
    wo.data_dir = r->o->data_dir;
    wo.config = r->wh_cfg;
    wo.npartitions = r->o->partitions; /* assigned: no group join, as the fold */
    for (int p = 0; p < r->o->partitions; p++)
        wo.partitions[p] = p;
    if (!(r->wh = rf_wh_relay_new(&wo, eb))) return RF_ERR_CONFIG;
    if (pthread_create(&r->wh_t.tid, NULL, wh_main, r) != 0)
        return rf_errf(eb, RF_ERR_INTERNAL, "cannot start the webhook relay thread");
    r->wh_t.started = true;
    return RF_OK;
}

static rf_err_t start_workers(rf_demo_run_t *r, rf_errbuf_t *eb)
{
    static rf_fold_worker_conf_t fc; /* large (partition list); one demo at a time */
    rf_fold_worker_conf_init(&fc);
    fc.kafka.brokers = r->brokers;
    /* the outbox compresses (the broker keeps 5 MiB per partition, counted
     * compressed) with lz4, not the default gzip: every reader of the
     * demo's ledger topic is librdkafka, and gzip's deflate and the
     * projection's inflate were 17% of the demo's CPU (docs/demo.md) */
    fc.kafka.nx = 1;
    fc.kafka.x[0] = "compression.type=lz4";
    fc.data_dir = r->o->data_dir;
    /* every partition assigned directly: no group join (seconds on the mock) */
    fc.npartitions = r->o->partitions;
    for (int p = 0; p < r->o->partitions; p++)
        fc.partitions[p] = p;
    rf_err_t err = rf__demo_trust(r, eb); /* before the fold folds anything */
    if (err != RF_OK) return err;
    if (!(r->fold = rf_fold_worker_new(&fc, eb))) return RF_ERR_CONFIG;
    /* every partition assigned directly too (the read replica's mode: its
     * offsets live in its store): a group join takes ~3 s on the mock, while
     * the throttle holds the producer for what is not projected */
    rf_project_opts_t po = {
        .kafka = {.brokers = r->brokers}, .data_dir = r->o->data_dir, .replica = true};
    if (!(r->proj = rf_project_worker_new(&po, eb))) return RF_ERR_CONFIG;
    if (pthread_create(&r->fold_t.tid, NULL, fold_main, r) != 0)
        return rf_errf(eb, RF_ERR_INTERNAL, "cannot start the fold thread");
    r->fold_t.started = true;
    if (pthread_create(&r->proj_t.tid, NULL, proj_main, r) != 0)
        return rf_errf(eb, RF_ERR_INTERNAL, "cannot start the projection thread");
    r->proj_t.started = true;
    return r->wh_cfg ? start_relay(r, eb) : RF_OK;
}

/* Stops and joins both workers; the first failure (if any) in eb. */
static rf_err_t stop_workers(rf_demo_run_t *r, rf_errbuf_t *eb)
{
    if (r->fold_t.started) rf_fold_worker_stop(r->fold);
    if (r->proj_t.started) rf_project_worker_stop(r->proj);
    if (r->wh_t.started) rf_wh_relay_stop(r->wh);
    rf_err_t err = RF_OK;
    rf_demo_thread_t *ts[3] = {&r->fold_t, &r->proj_t, &r->wh_t};
    const char *names[3] = {"fold worker", "projection worker", "webhook relay"};
    for (int i = 0; i < 3; i++) {
        if (!ts[i]->started) continue;
        pthread_join(ts[i]->tid, NULL);
        ts[i]->started = false;
        RF_ASSERT(atomic_load(&ts[i]->done));
        if (ts[i]->err != RF_OK && err == RF_OK)
            err = rf_errf(eb, ts[i]->err, "%s failed: %s (%s)", names[i], ts[i]->eb.msg,
                          rf_err_str(ts[i]->err));
    }
    return err;
}

static void destroy_run(rf_demo_run_t *r)
{
    rf_fold_worker_destroy(r->fold);
    rf_project_worker_destroy(r->proj);
    rf_wh_relay_destroy(r->wh);
    rf_broker_stop(r->broker);
    r->fold = NULL;
    r->proj = NULL;
    r->wh = NULL;
    r->broker = NULL;
}

/* ---- the run ------------------------------------------------------------ */

static void print_header(const rf_demo_run_t *r)
{
    char ev[32];
    rf__demo_num(r->o->events, ev);
    printf("refold demo: %s events, seed %" PRIu64 ", %d partitions, data %s\n", ev, r->o->seed,
           r->o->partitions, r->o->data_dir);
    printf("  broker %s (embedded, in memory); programs from %s:", r->brokers, r->progs->dir);
    for (int i = 0; i < r->progs->n; i++)
        printf(" %s", r->progs->p[i].id);
    printf("\n");
    if (r->wh_cfg)
        printf("  webhooks: every event type to %s (endpoint '" RF_DEMO_WH_ENDPOINT
               "'), secret %s\n",
               r->wh_cfg->endpoints[0].url, r->wh_secret);
    fflush(stdout);
}

static void keep_broker(const rf_demo_run_t *r)
{
    char dir[PATH_MAX];
    const char *d = realpath(r->o->data_dir, dir) ? dir : r->o->data_dir;
    printf("\nbroker still running at %s (Ctrl-C stops it); to add traffic to the same data:\n"
           "  refold loadgen --brokers %s --seed 2 --root-seed %" PRIu64 " --events 100000\n"
           "  refold fold --brokers %s --data %s --exit-at-end --trust-root %s/" RF_DEMO_TRUST_FILE
           "\n"
           "  refold project --brokers %s --data %s --exit-at-end\n",
           r->brokers, r->brokers, r->o->seed, r->brokers, d, d, r->brokers, d);
    fflush(stdout);
    rf_wait_stop(&interrupted);
}

/* Runs the pipeline; RF_OK when everything was published, folded,
 * projected and the workers stopped cleanly. */
static rf_err_t run_pipeline(rf_demo_run_t *r, rf_errbuf_t *eb)
{
    r->broker = rf_broker_start(r->o->partitions, 1, eb);
    if (!r->broker) return RF_ERR_KAFKA;
    r->brokers = rf_broker_bootstraps(r->broker);
    print_header(r);
    r->start_ns = rf_now_ns();
    r->tm.cpu0_process_ns = rf__demo_cpu_ns();
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
        r->tm.cpu_main_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    rf_err_t err = start_workers(r, eb);
    if (err == RF_OK) err = rf__demo_publish(r, eb);
    if (err == RF_OK) err = rf__demo_wait_caught_up(r, eb);
    if (err == RF_OK && r->wh) err = rf__demo_wait_webhooks(r, eb);
    /* the last frame stays on screen; later log lines must not erase what
     * is printed below it */
    rf__demo_progress(r, true);
    rf__demo_progress_attach(NULL);
    rf_errbuf_t seb = {{0}};
    rf_err_t serr = stop_workers(r, &seb);
    if (err == RF_OK && serr != RF_OK) {
        *eb = seb;
        err = serr;
    }
    return err;
}

int rf_cmd_demo(int argc, char **argv)
{
    static rf_demo_opts_t o;
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0) return rc;
    o.progress = isatty(STDOUT_FILENO) == 1;
    static rf_demo_programs_t progs;
    static rf_demo_run_t r;
    memset(&r, 0, sizeof r);
    r.o = &o;
    r.progs = &progs;
    r.interrupted = &interrupted;
    rf_errbuf_t eb = {{0}};
    char dir[RF_DEMO_PATH_MAX];
    rf_err_t err = rf__demo_find_programs(o.programs_dir, dir, &eb);
    if (err == RF_OK) err = rf__demo_load_programs(dir, &progs, &eb);
    if (err == RF_OK && o.webhooks_url) err = webhooks_config(&r, &eb);
    if (err == RF_OK) err = prepare_data_dir(&o, &eb);
    if (err != RF_OK) {
        rf__demo_free_programs(&progs);
        fprintf(stderr, DEMO "%s\n", eb.msg);
        return 2;
    }
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    interrupted = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    rf__demo_progress_attach(&r);
    rf_log_set_callback(demo_log, NULL);
    err = run_pipeline(&r, &eb);
    if (err == RF_OK) err = rf__demo_report(&r, &eb);
    if (err == RF_OK && o.keep_broker) keep_broker(&r);
    rf__demo_progress_attach(NULL);
    destroy_run(&r);
    rf_log_set_callback(NULL, NULL);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    rf__demo_free_programs(&progs);
    if (err != RF_OK) {
        fflush(stdout);
        fprintf(stderr, DEMO "FAILED: %s\n", eb.msg);
        return 1;
    }
    return 0;
}
