/* bench_e2e.c: end-to-end benchmark of the pipeline on loadgen traffic
 * (rules on, fraud share on): a producer publishes while fold workers in one
 * consumer group fold with durable commits and the outbox on; events/s is
 * events over the time from the first produced to the last one folded, once
 * the workers have joined their group (the join is reported as join_s). The broker is in this
 * process or a separate `refold broker` process. --latency instead runs the
 * projection too at a fixed rate and measures produce-to-balance-visible
 * latency with probe Adjustments read back through rf_query. One line of
 * JSON per run (ops/bench.sh collects them into docs/benchmarks.md). */
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "rf_broker.h"
#include "rf_fold_gen.h"
#include "../rf_harness.h"

extern char **environ;

typedef struct opts {
    long events;
    int partitions;
    int folders;
    int programs;
    bool external;
    long rate; /* events/s; 0: flat out (throttled on lag) */
    bool latency;
    long probes; /* --latency: probe events, one every 100 ms */
    const char *refold;
    const char *tmp;
} opts_t;

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_e2e [--events N] [--partitions P] [--folders 1|2] [--programs K]\n"
               "                 [--external-broker REFOLD_BINARY] [--rate R]\n"
               "                 [--latency [--probes N]] [--tmp DIR]\n"
               "\n"
               "Publishes N loadgen events (default 1000000; 64 programs) while fold workers\n"
               "(--folders, one consumer group, durable commits, outbox on) fold them; prints\n"
               "one JSON line: events/s from the first event produced (after the group join,\n"
               "timed apart as join_s) until the last is folded, commit latency\n"
               "p50/p99/p999 and peak RSS. --external-broker runs `refold broker` as a separate\n"
               "process instead of the in-process one. --latency: also the projection, at a\n"
               "fixed --rate (default 10000/s), and prints produce-to-balance-visible latency\n"
               "p50/p99 of --probes (default 300) probe Adjustments read back via rf_query.\n"
               "Every run prints the CPU of the whole run (total_cpu_s, the broker process\n"
               "included). Diagnostics: RF_BENCH_STAGES=1 adds when each probe was folded,\n"
               "published and projected; RF_BENCH_X=name=value passes a -X to every client;\n"
               "RF_BENCH_PROBES=1 prints every probe.\n");
}

static pid_t spawn_broker(const opts_t *o, char *bootstraps, size_t cap, const char *dir)
{
    char file[600], parts[16];
    snprintf(file, sizeof file, "%s/bootstrap", dir);
    snprintf(parts, sizeof parts, "%d", o->partitions);
    char *argv[] = {
        (char *)o->refold, "broker", "--partitions", parts, "--bootstrap-file", file, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid = -1;
    if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
        perror("bench_e2e: spawn refold broker");
        exit(1);
    }
    posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(file, "r");
        if (f) {
            bool ok = fgets(bootstraps, (int)cap, f) != NULL;
            fclose(f);
            bootstraps[strcspn(bootstraps, "\n")] = '\0';
            if (ok && bootstraps[0]) return pid;
        }
        rh_sleep_ms(50);
    }
    fprintf(stderr, "bench_e2e: refold broker did not write %s\n", file);
    kill(pid, SIGTERM);
    exit(1);
}

/* CPU seconds (user + system) of process pid so far; 0 when unknown. */
static double proc_cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- latency probes -------------------------------------------------------- */

#define PROBES_MAX 100000
typedef struct probes {
    rh_pipe_t *pp;
    const char *data;
    long n;
    uint64_t sent_ns[PROBES_MAX];
    uint64_t seen_ns[PROBES_MAX];
    /* RF_BENCH_STAGES: where each probe landed (its delivery report) and
     * when the fold committed it, the outbox had it acknowledged and the
     * projection committed it (the workers' stats, sampled every ms) */
    volatile int32_t part[PROBES_MAX];
    volatile int64_t off[PROBES_MAX];
    uint64_t folded_ns[PROBES_MAX], published_ns[PROBES_MAX], projected_ns[PROBES_MAX];
    int64_t head_at[PROBES_MAX];
    volatile long sent; /* probes emitted so far */
    volatile int stop;
    volatile int warm; /* the projection has applied records: probes may start */
    uint64_t warm_ns;
    rf_fold_hist_t hist;
    uint64_t t0_ns;
} probes_t;

static void probe_user(long i, char *out, size_t cap)
{
    snprintf(out, cap, "latency-probe-%ld", i);
}

/* Poller: follows the projection as a reader would (a FOLLOW handle that
 * sleeps until the projection commits, rf_query_wait) and stamps each probe
 * when its balance becomes visible. It looks for the probes after each
 * catch-up, so what it measures includes the reader's own delay. */
static void *poller_main(void *arg)
{
    probes_t *pr = arg;
    prctl(PR_SET_NAME, "bench-poller");
    rf_errbuf_t eb = {{0}};
    rf_query_t *q = NULL;
    long next = 0;
    rf_query_balance_t rows[8];
    while (!pr->stop && next < pr->n) {
        if (!q && !(q = rf_query_open(pr->data, RF_QUERY_FOLLOW, &eb))) {
            rh_sleep_ms(20);
            continue;
        }
        if (!rf_query_wait(q, 100)) continue;
        rf_query_refresh(q, &eb);
        if (!pr->warm) {
            /* probes start once the pipeline runs: the group joins are not latency */
            rf_projection_meta_t meta[RF_PARTITIONS_DEFAULT];
            int np = rf_query_progress(q, meta, RF_PARTITIONS_DEFAULT);
            for (int i = 0; i < np; i++)
                if (meta[i].applied_seq > 0) pr->warm = 1;
            continue;
        }
        /* probes are applied in order within their partition: check them all */
        long sent = pr->sent;
        for (long i = next; i < sent; i++) {
            if (pr->seen_ns[i]) continue;
            char user[64];
            probe_user(i, user, sizeof user);
            if (rf_query_balances(q, user, NULL, rows, 8, &eb) > 0) pr->seen_ns[i] = rf_now_ns();
        }
        while (next < sent && pr->seen_ns[next])
            next++;
    }
    rf_query_close(q);
    return NULL;
}

static void probe_delivered(const rf_delivery_t *d, void *opaque)
{
    probes_t *pr = opaque;
    long i = (long)(uintptr_t)d->msg_opaque - 1;
    if (i < 0 || i >= pr->n || d->partition < 0) return;
    pr->off[i] = d->offset;
    __atomic_store_n(&pr->part[i], d->partition, __ATOMIC_RELEASE);
}

/* RF_BENCH_STAGES: stamps the stages of each probe from the workers' stats
 * every millisecond (a diagnostic: the sampling costs CPU of its own). */
static void *stages_main(void *arg)
{
    probes_t *pr = arg;
    prctl(PR_SET_NAME, "bench-stages");
    rh_progress_t g;
    long first = 0;
    while (!pr->stop) {
        rh_sleep_ms(1);
        rh_pipe_progress(pr->pp, &g);
        uint64_t now = rf_now_ns();
        long sent = pr->sent;
        for (long i = first; i < sent; i++) {
            int32_t p = __atomic_load_n(&pr->part[i], __ATOMIC_ACQUIRE);
            if (p < 0) continue;
            if (!pr->folded_ns[i] && g.next_offset[p] > pr->off[i]) {
                pr->folded_ns[i] = now;
                pr->head_at[i] = g.head_seq[p];
            }
            if (pr->folded_ns[i] && !pr->published_ns[i] && g.outbox_seq[p] >= pr->head_at[i])
                pr->published_ns[i] = now;
            if (pr->folded_ns[i] && !pr->projected_ns[i] && g.applied_seq[p] >= pr->head_at[i])
                pr->projected_ns[i] = now;
        }
        while (first < sent && pr->projected_ns[first])
            first++;
    }
    return NULL;
}

static void stages_report(const probes_t *pr)
{
    static const char *names[3] = {"folded", "published", "projected"};
    for (int k = 0; k < 3; k++) {
        rf_fold_hist_t h;
        memset(&h, 0, sizeof h);
        for (long i = 0; i < pr->sent; i++) {
            const uint64_t *at = k == 0   ? pr->folded_ns
                                 : k == 1 ? pr->published_ns
                                          : pr->projected_ns;
            if (at[i] > pr->sent_ns[i]) rf_fold_hist_add(&h, (at[i] - pr->sent_ns[i]) / 1000);
        }
        fprintf(stderr, "stage %-9s p50 %.1f ms, p99 %.1f ms after produce\n", names[k],
                (double)rf_fold_hist_quantile(&h, 0.5) / 1000,
                (double)rf_fold_hist_quantile(&h, 0.99) / 1000);
    }
}

static void probe_tick(uint64_t produced, void *opaque)
{
    probes_t *pr = opaque;
    (void)produced;
    if (!pr->warm) return;
    if (!pr->warm_ns) pr->warm_ns = rf_now_ns();
    uint64_t due = 1 + (uint64_t)(rh_secs(pr->warm_ns) * 10); /* one probe per 100 ms */
    while (pr->sent < pr->n && (uint64_t)pr->sent < due) {
        rf_event_t *ev = malloc(sizeof *ev);
        rf_errbuf_t eb = {{0}};
        char user[64];
        probe_user(pr->sent, user, sizeof user);
        RF_ASSERT(ev);
        RF_ASSERT(rf_event_adjustment(ev, "lg-p1", user, 1, "USD", "latency probe", "bench", &eb) ==
                  RF_OK);
        pr->sent_ns[pr->sent] = rf_now_ns();
        rh_prod_emit_tagged(pr->pp->prod, ev, (void *)(uintptr_t)(pr->sent + 1));
        pr->sent++;
        free(ev);
    }
}

typedef struct both {
    rh_pace_t pace;
    probes_t *pr;
} both_t;

static void both_tick(uint64_t produced, void *opaque)
{
    both_t *b = opaque;
    if (b->pace.rate > 0) rh_pace_tick(produced, &b->pace);
    if (b->pr) {
        probe_tick(produced, b->pr);
        rf_producer_poll(b->pr->pp->prod->p, 0); /* the probes' delivery reports, on time */
    }
}

/* ---- the run ---------------------------------------------------------------- */

static int run(const opts_t *o, const char *brokers, const char *data, pid_t broker_pid)
{
    static rh_pipe_t pp;
    static probes_t pr;
    rf_loadgen_conf_t lc;
    rf_loadgen_conf_init(&lc);
    lc.seed = 42;
    lc.events = (uint64_t)o->events;
    lc.programs = o->programs;
    rf_errbuf_t eb = {{0}};
    rf_loadgen_t *g = rf_loadgen_new(&lc, &eb);
    if (!g) {
        fprintf(stderr, "bench_e2e: loadgen: %s\n", eb.msg);
        return 1;
    }
    /* experiments: RF_BENCH_X=name=value for every client (rh_kafka_x) */
    if (getenv("RF_BENCH_X")) rh_kafka_x = getenv("RF_BENCH_X");
    rh_pipe_start(&pp, brokers, data, o->partitions, o->folders, o->latency);
    /* the group join (about 3 s with the mock's group protocol) happens once
     * per worker start, not per event: timed apart, not in events/s */
    double join_s = rh_pipe_wait_assigned(&pp, 120);
    if (join_s < 0) {
        fprintf(stderr, "bench_e2e: the fold workers did not join their group in 120 s\n");
        rh_pipe_stop(&pp);
        return 1;
    }
    double cpu0 = fg_cpu_s();
    uint64_t t0 = rf_now_ns();
    both_t tick = {{t0, (double)o->rate}, NULL};
    pthread_t poller, sampler;
    bool stages = getenv("RF_BENCH_STAGES") != NULL;
    if (o->latency) {
        memset(&pr, 0, sizeof pr);
        pr.pp = &pp;
        pr.data = data;
        pr.n = o->probes;
        pr.t0_ns = t0;
        tick.pr = &pr;
        for (long i = 0; i < pr.n; i++)
            pr.part[i] = -1;
        pp.prod->on_tagged = probe_delivered;
        pp.prod->tagged_opaque = &pr;
        RF_ASSERT(pthread_create(&poller, NULL, poller_main, &pr) == 0);
        if (stages) RF_ASSERT(pthread_create(&sampler, NULL, stages_main, &pr) == 0);
    }
    bool ok = rh_pipe_produce(&pp, g, (uint64_t)o->events, 100,
                              o->rate > 0 || o->latency ? both_tick : NULL, &tick);
    double t_produce = rh_secs(t0);
    ok = ok && rh_pipe_wait(&pp, 3600);
    double t_all = rh_secs(t0);
    if (o->latency) {
        for (int i = 0; i < 1000 && pr.sent && !pr.seen_ns[pr.sent - 1]; i++)
            rh_sleep_ms(10);
        pr.stop = 1;
        pthread_join(poller, NULL);
        if (stages) pthread_join(sampler, NULL);
    }
    int restarts = rh_pipe_restarts(&pp);
    uint64_t folded = (uint64_t)rh_prod_total(pp.prod);
    static rf_project_stats_t pst;
    uint64_t proj_commits = 0;
    if (o->latency) {
        pthread_mutex_lock(&pp.proj.mu);
        if (pp.proj.pw) rf_project_worker_stats(pp.proj.pw, &pst), proj_commits = pst.commits;
        pthread_mutex_unlock(&pp.proj.mu);
    }
    rh_pipe_stop(&pp);
    rf_loadgen_destroy(g);
    if (!ok) {
        fprintf(stderr, "bench_e2e: the pipeline did not finish\n");
        return 1;
    }
    /* the histograms of every worker's last run, merged; CPU of this
     * process (producer, fold workers and, in-process, the broker) */
    static fg_report_t rep;
    memset(&rep, 0, sizeof rep);
    for (int i = 0; i < o->folders; i++)
        if (pp.fold[i].last_stats) fg_report_add(&rep, pp.fold[i].last_stats);
    rh_pipe_free(&pp);
    rep.events = folded;
    rep.elapsed_s = t_all;
    rep.cpu_s = fg_cpu_s() - cpu0;
    rep.peak_rss_kb = fg_peak_rss_kb();
    /* the whole run, group join and start-up included: this process and the
     * broker's, when it is a process of its own */
    double broker_cpu = o->external ? proc_cpu_s(broker_pid) : 0;
    double total_cpu = fg_cpu_s() + broker_cpu;
    printf("{\"bench\":\"e2e\",\"partitions\":%d,\"folders\":%d,\"broker\":\"%s\",\"rate\":%ld,"
           "\"join_s\":%.2f,\"produce_s\":%.2f,\"restarts\":%d,",
           o->partitions, o->folders, o->external ? "process" : "in-process", o->rate, join_s,
           t_produce, restarts);
    fg_report_json(stdout, &rep);
    printf(",\"total_cpu_s\":%.3f,\"total_events_per_cpu_s\":%.0f", total_cpu,
           total_cpu > 0 ? (double)folded / total_cpu : 0);
    if (o->external) printf(",\"broker_cpu_s\":%.3f", broker_cpu);
    fprintf(stderr, "bench_e2e: %s broker, %d fold worker(s), cpu counts this process (%s)\n",
            o->external ? "refold broker process" : "in-process", o->folders,
            o->external ? "producer and fold workers" : "producer, fold workers and broker");
    fg_report_text(stderr, &rep, "this process");
    fprintf(stderr,
            "whole run: %.3f cpu-seconds (this process%s, group join included) = %.0f events per "
            "cpu-second\n",
            total_cpu, o->external ? " and the broker process" : "",
            total_cpu > 0 ? (double)folded / total_cpu : 0);
    if (o->latency) {
        long seen = 0;
        for (long i = 0; i < pr.sent; i++)
            if (pr.seen_ns[i]) {
                rf_fold_hist_add(&pr.hist, (pr.seen_ns[i] - pr.sent_ns[i]) / 1000);
                if (getenv("RF_BENCH_PROBES"))
                    fprintf(stderr, "probe %ld: sent at %.2f s, visible after %.1f ms\n", i,
                            (double)(pr.sent_ns[i] - t0) / 1e9,
                            (double)(pr.seen_ns[i] - pr.sent_ns[i]) / 1e6);
                seen++;
            }
        printf(",\"probes\":%ld,\"probes_seen\":%ld,\"visible_p50_ms\":%.1f,"
               "\"visible_p99_ms\":%.1f,\"visible_max_ms\":%.1f",
               pr.sent, seen, (double)rf_fold_hist_quantile(&pr.hist, 0.5) / 1000,
               (double)rf_fold_hist_quantile(&pr.hist, 0.99) / 1000, (double)pr.hist.max_us / 1000);
        printf(",\"project_commits\":%" PRIu64, proj_commits);
        fprintf(stderr,
                "visible: p50 %.1f ms, p99 %.1f ms, max %.1f ms (%ld probes, produce to balance "
                "read back); %" PRIu64 " projection partition commits\n",
                (double)rf_fold_hist_quantile(&pr.hist, 0.5) / 1000,
                (double)rf_fold_hist_quantile(&pr.hist, 0.99) / 1000, (double)pr.hist.max_us / 1000,
                seen, proj_commits);
        if (stages) stages_report(&pr);
        if (pr.sent == 0) {
            printf("}\n");
            fprintf(stderr, "bench_e2e: no probe sent (the run ended before the projection "
                            "started): give it more --events\n");
            return 1;
        }
        if (seen < pr.sent) {
            printf("}\n");
            fprintf(stderr, "bench_e2e: %ld probes never became visible\n", pr.sent - seen);
            return 1;
        }
    }
    printf("}\n");
    return folded == (uint64_t)o->events + (o->latency ? (uint64_t)pr.sent : 0) ? 0 : 1;
}

static int parse(int argc, char **argv, opts_t *o)
{
    static const struct option lo[] = {{"events", required_argument, 0, 'n'},
                                       {"partitions", required_argument, 0, 'p'},
                                       {"folders", required_argument, 0, 'f'},
                                       {"programs", required_argument, 0, 'k'},
                                       {"external-broker", required_argument, 0, 'x'},
                                       {"rate", required_argument, 0, 'r'},
                                       {"latency", no_argument, 0, 'l'},
                                       {"probes", required_argument, 0, 'q'},
                                       {"tmp", required_argument, 0, 't'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'n':
            o->events = atol(optarg);
            break;
        case 'p':
            o->partitions = atoi(optarg);
            break;
        case 'f':
            o->folders = atoi(optarg);
            break;
        case 'k':
            o->programs = atoi(optarg);
            break;
        case 'x':
            o->external = true;
            o->refold = optarg;
            break;
        case 'r':
            o->rate = atol(optarg);
            break;
        case 'l':
            o->latency = true;
            break;
        case 'q':
            o->probes = atol(optarg);
            break;
        case 't':
            o->tmp = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return 2;
        }
    }
    if (o->latency && o->rate == 0) o->rate = 10000;
    if (o->events < 1 || o->partitions < 1 || o->partitions > RF_PARTITIONS_MAX || o->folders < 1 ||
        o->folders > RH_FOLDERS_MAX || o->programs < 1 || o->probes < 1 || o->probes > PROBES_MAX ||
        o->rate < 0) {
        fprintf(stderr, "bench_e2e: bad options\n");
        return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    opts_t o = {1000000, RF_PARTITIONS_DEFAULT, 1, 64, false, 0, false, 300, NULL, "/tmp"};
    if (parse(argc, argv, &o)) return 2;
    rh_log_install();
    char dir[512], data[600];
    snprintf(dir, sizeof dir, "%s/refold-bench-e2e-XXXXXX", o.tmp);
    if (!mkdtemp(dir)) {
        perror("bench_e2e: mkdtemp");
        return 1;
    }
    snprintf(data, sizeof data, "%s/data", dir);
    rf_errbuf_t eb = {{0}};
    rf_broker_t *b = NULL;
    pid_t broker_pid = -1;
    char bootstraps[512];
    if (o.external) {
        broker_pid = spawn_broker(&o, bootstraps, sizeof bootstraps, dir);
    } else {
        if (!(b = rf_broker_start(o.partitions, 1, &eb))) {
            fprintf(stderr, "bench_e2e: %s\n", eb.msg);
            return 1;
        }
        snprintf(bootstraps, sizeof bootstraps, "%s", rf_broker_bootstraps(b));
    }
    int rc = run(&o, bootstraps, data, broker_pid);
    rf_broker_stop(b);
    if (broker_pid > 0) {
        kill(broker_pid, SIGTERM);
        waitpid(broker_pid, NULL, 0);
    }
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_e2e: cannot remove %s\n", dir);
    return rc;
}
