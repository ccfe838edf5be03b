/* rf_demo_int.h: internals of `refold demo` shared by its files: the run's
 * options, the example programs, the live pipeline and the final report. */
#ifndef RF_DEMO_INT_H
#define RF_DEMO_INT_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "rf_broker.h"
#include "rf_common.h"
#include "rf_fold_worker.h"
#include "rf_limits.h"
#include "rf_loadgen.h"
#include "rf_project_worker.h"
#include "rf_webhooks.h"

#define RF_DEMO_PATH_MAX 4096
/* The demo's one webhook endpoint (--webhooks; its bounds: rf_limits.h). */
#define RF_DEMO_WH_ENDPOINT "demo"

typedef struct rf_demo_opts {
    const char *data_dir;     /* --data */
    const char *programs_dir; /* --programs (NULL: found next to the binary) */
    const char *json_report;  /* --json-report FILE or NULL */
    const char *root_key;     /* --root-key FILE or NULL: derived from the seed */
    uint64_t events;          /* loadgen events */
    uint64_t seed;
    int partitions;
    bool force;                  /* wipe an existing refold data directory first */
    bool keep_broker;            /* keep the broker running after the report */
    bool progress;               /* live progress lines (stdout is a terminal) */
    const char *webhooks_url;    /* --webhooks URL: run the relay too, or NULL */
    const char *webhooks_secret; /* --webhooks-secret whsec_... (NULL: generated) */
} rf_demo_opts_t;

/* One example program (ops/programs/<file>.json), and the loadgen program
 * whose traffic it takes over. */
typedef struct rf_demo_program {
    char id[RF_ID_BUF];
    char file[256]; /* file name, for messages */
    int32_t version;
    char name[RF_TEXT_MAX + 1];
    char currency[RF_ASSET_MAX + 1];
    char reward_asset[RF_ASSET_MAX + 1]; /* the referrer reward's asset ("" if none) */
    char lg_id[RF_ID_BUF];               /* "<prefix>-p<N>" of the loadgen program remapped here */
    char *rules_json;                    /* compact JSON (malloc'ed) */
} rf_demo_program_t;

typedef struct rf_demo_programs {
    int n;
    char dir[RF_DEMO_PATH_MAX];
    rf_demo_program_t p[RF_DEMO_PROGRAMS_MAX];
} rf_demo_programs_t;

/* Finds the example programs directory: opts->programs_dir, else
 * <bin>/../share/refold/programs, else ops/programs in the binary's
 * ancestors, else ./ops/programs. RF_ERR_NOT_FOUND with a hint. */
rf_err_t rf__demo_find_programs(const char *given, char out[RF_DEMO_PATH_MAX], rf_errbuf_t *eb);
/* Loads and validates every *.json of dir (sorted by name). */
rf_err_t rf__demo_load_programs(const char *dir, rf_demo_programs_t *ps, rf_errbuf_t *eb);
void rf__demo_free_programs(rf_demo_programs_t *ps);

/* A worker running on its own thread. */
typedef struct rf_demo_thread {
    pthread_t tid;
    bool started;
    atomic_int done; /* run returned */
    rf_err_t err;    /* its result (valid once done) */
    rf_errbuf_t eb;
} rf_demo_thread_t;

/* Where the time went: each stage's first and last progress (seen by the
 * main thread's snapshots, every few ms), the producer's waits on the
 * throttle by the bound that held it, and CPU time by thread. */
enum { RF_DEMO_HOLD_EVENTS, RF_DEMO_HOLD_EVENT_BYTES, RF_DEMO_HOLD_LEDGER, RF_DEMO_HOLD__COUNT };
typedef struct rf_demo_timing {
    uint64_t publish_first_ns;            /* the producer started */
    uint64_t fold_first_ns, fold_last_ns; /* fold: first and last event durably folded */
    uint64_t proj_first_ns, proj_last_ns; /* projection: first and last record applied */
    uint64_t seen_consumed, seen_records;
    uint64_t held_ns[RF_DEMO_HOLD__COUNT]; /* producer waiting on the throttle, by bound */
    uint64_t holds;                        /* times it waited */
    /* CPU time of the pipeline (start_ns..end_ns): the process, the main
     * thread (loadgen, producer, throttle), the fold and projection threads
     * (not the fold's pool helpers: they are in "other") */
    uint64_t cpu0_process_ns, cpu_process_ns, cpu_main_ns, cpu_fold_ns, cpu_proj_ns;
    uint64_t checks_ns, cpu_checks_ns; /* the report's checks (after the pipeline) */
} rf_demo_timing_t;

/* The live pipeline: broker, workers, producer side counters. */
typedef struct rf_demo_run {
    const rf_demo_opts_t *o;
    rf_demo_programs_t *progs;
    volatile const sig_atomic_t *interrupted; /* set by SIGINT/SIGTERM */
    rf_broker_t *broker;
    const char *brokers;
    rf_fold_worker_t *fold;
    rf_project_worker_t *proj;
    rf_demo_thread_t fold_t, proj_t;
    /* the webhook relay (--webhooks only, else NULL) */
    rf_wh_relay_t *wh;
    rf_demo_thread_t wh_t;
    rf_wh_config_t *wh_cfg;
    char wh_secret[RF_DEMO_WH_SECRET_BUF];
    uint64_t wh_done_ns;  /* when the relay had everything (or the wait ended) */
    bool wh_drained;      /* nothing pending when the wait ended */
    rf_loadgen_conf_t lg; /* the traffic's configuration */
    uint64_t start_ns, publish_done_ns, end_ns;
    rf_demo_timing_t tm; /* where the time went (the report's "time:") */
    /* producer side (main thread only) */
    uint64_t emitted, delivered, failed, bytes, partition_mismatch;
    uint64_t emitted_p[RF_PARTITIONS_MAX]; /* per partition (the partitioner's choice) */
    int64_t end_offset[RF_PARTITIONS_MAX]; /* highest delivered offset + 1, or 0 */
    char delivery_error[RF_ERRMSG_MAX];
    /* what the broker keeps of each partition, measured (rf_demo_traffic.c):
     * [0] refold.events, [1] refold.ledger; > 0: messages between its low and
     * high watermark once it deleted its first batch, < 0: -(high watermark)
     * while it still has everything, 0: not measured */
    int64_t kept[2][RF_PARTITIONS_MAX];
    uint64_t kept_ns; /* when measured */
    /* progress display */
    bool drawn;
    uint64_t last_draw_ns;
    uint64_t rate_t0_ns, rate_pub0, rate_fold0, rate_proj0;
    double rate_pub, rate_fold, rate_proj;
    /* snapshots (large: kept here, not on the stack) */
    rf_fold_stats_t fs;
    rf_project_stats_t ps;
    rf_wh_stats_t ws;
} rf_demo_run_t;

/* The trust root of the run (loadgen's, from --root-key or the seed): the
 * fold's trust configuration, and its public key written to
 * DATA/trust-root.pem for later folds and replays of the data. */
#define RF_DEMO_TRUST_FILE "trust-root.pem"
rf_err_t rf__demo_trust(rf_demo_run_t *r, rf_errbuf_t *eb);

/* Publishes the programs and the traffic, throttled, while drawing the
 * progress; then waits until fold and projection have everything. */
rf_err_t rf__demo_publish(rf_demo_run_t *r, rf_errbuf_t *eb);
rf_err_t rf__demo_wait_caught_up(rf_demo_run_t *r, rf_errbuf_t *eb);
/* With --webhooks: waits until the relay read the whole ledger and nothing
 * is pending (delivered or parked), or nothing moved for RF_DEMO_WH_STALL_MS
 * (then r->wh_drained stays false; the report says what is pending). */
rf_err_t rf__demo_wait_webhooks(rf_demo_run_t *r, rf_errbuf_t *eb);
/* Fails with the worker's error when a worker thread stopped on its own. */
rf_err_t rf__demo_check_workers(rf_demo_run_t *r, rf_errbuf_t *eb);
/* Takes fresh snapshots of the workers' stats into r->fs / r->ps (and notes
 * the stages' progress times in r->tm). */
void rf__demo_snapshot(rf_demo_run_t *r);
/* CPU time consumed so far: the process, or a thread (0 if unavailable). */
uint64_t rf__demo_cpu_ns(void);
uint64_t rf__demo_thread_cpu_ns(const rf_demo_thread_t *t);
/* 1234567 as "1,234,567". */
void rf__demo_num(uint64_t v, char out[32]);
/* Redraws the progress lines (force: now, else at most every 200 ms). */
void rf__demo_progress(rf_demo_run_t *r, bool force);
/* Erases the progress lines (before printing anything else). */
void rf__demo_progress_clear(rf_demo_run_t *r);
/* Log lines from any thread go through here, above the progress lines
 * (attach: the run whose lines are on screen, or NULL). */
void rf__demo_progress_attach(rf_demo_run_t *r);
void rf__demo_log_line(const char *line);

/* The report: every check the demo makes after the workers stopped, printed
 * as text on stdout and, when asked, as JSON. Returns RF_OK when every
 * check passed, else the first failure (eb says which). */
rf_err_t rf__demo_report(rf_demo_run_t *r, rf_errbuf_t *eb);

#endif
