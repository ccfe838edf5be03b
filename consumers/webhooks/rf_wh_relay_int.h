/* rf_wh_relay_int.h: the relay's state shared by its Kafka side
 * (rf_wh_relay.c) and its HTTP side (rf_wh_deliver.c). One thread runs
 * both: the poll loop consumes, commits, then drives libcurl's multi handle. */
#ifndef RF_WH_RELAY_INT_H
#define RF_WH_RELAY_INT_H

#include <pthread.h>

#include <curl/curl.h>
#include <librdkafka/rdkafka.h>

#include "rf_codec.h"
#include "rf_wh_int.h"

/* A pending message in memory (a lane's window). */
typedef struct wh_item {
    uint64_t seq; /* 0: removed (compacted away by the next scan) */
    uint64_t key; /* ordering key (program, user) */
    int64_t event_ms;
    int64_t first_ms; /* first attempt; 0 none yet */
    int64_t next_ms;  /* due */
    int32_t attempts;
    bool in_flight;
} wh_item_t;

/* The pending messages of one (endpoint, partition), in seq order: a window
 * of at most RF_WEBHOOK_WINDOW in memory, the rest in the store. */
typedef struct wh_lane {
    wh_item_t *v;
    int n, cap;
    bool complete;        /* every pending message of the lane is in v */
    uint64_t last_loaded; /* the highest seq in v or read into it */
    uint64_t pending;     /* pending messages (memory and store) */
    uint64_t parked;
    uint64_t delivered, failed; /* counters, persisted in "c" */
    bool counters_dirty;
    bool changed;    /* rescan before wake_ms */
    int64_t wake_ms; /* the earliest retry due among the lane's idle items */
} wh_lane_t;

/* An assigned partition: its store and a lane per endpoint. */
typedef struct wh_part {
    rf_wh_part_t *st;
    wh_lane_t lanes[RF_WEBHOOK_ENDPOINTS_MAX];
    int64_t hwm; /* last known high watermark; -1 unknown */
} wh_part_t;

typedef struct wh_ep {
    const rf_wh_endpoint_t *cfg;
    bool disabled;
    char reason[RF_WEBHOOK_ERROR_MAX + 1];
    int in_flight;
    uint64_t consecutive; /* failed attempts since the last 2xx */
    char labels[128];     /* endpoint="<id>" */
} wh_ep_t;

/* One HTTP attempt in flight. */
typedef struct wh_xfer {
    CURL *h;
    struct curl_slist *hdrs;
    bool busy;
    int ep;
    int32_t part;
    uint64_t seq;
    uint64_t t0_ns;
    char *val; /* the history value the body points into (rocksdb_free) */
    char resp[RF_WEBHOOK_ERROR_MAX + 1];
    size_t resp_n;
    char cerr[CURL_ERROR_SIZE];
} wh_xfer_t;

struct rf_wh_relay {
    rf_wh_opts_t opts;
    char group[RF_ID_BUF * 2];
    char topic[RF_ID_BUF * 2];
    char data_dir[4096];
    rd_kafka_t *rk;
    rf_codec_t *codec;
    rf_record_t *rec;
    char *body; /* RF_WEBHOOK_BODY_MAX + 1 */
    rf_store_env_t *env;
    wh_part_t *parts[RF_PARTITIONS_MAX];
    int neps;
    wh_ep_t eps[RF_WEBHOOK_ENDPOINTS_MAX];
    CURLM *multi;
    wh_xfer_t xfers[RF_WEBHOOK_IN_FLIGHT_TOTAL_MAX];
    int in_flight;
    bool busy;    /* the last cycle started attempts: do not wait on Kafka */
    uint64_t rng; /* jitter only: delivery timing is not the fold */
    int stop;     /* atomic */
    bool ever_assigned;
    rf_err_t fatal;
    rf_errbuf_t fatal_eb;
    int64_t last_hwm_ms, last_req_ms, last_stats_ms, last_idle_check_ms, last_times_ms;
    uint64_t cycles, phase_ns[3]; /* consume, commit, deliver (debug log) */
    pthread_mutex_t mu;           /* guards stats */
    rf_wh_stats_t stats;
};

/* rf_wh_deliver.c */
rf_err_t rf__wh_deliver_init(rf_wh_relay_t *r, rf_errbuf_t *eb);
void rf__wh_deliver_fini(rf_wh_relay_t *r);
/* Starts the attempts that are due, within the bounds (per endpoint, total,
 * one per ordering key at a time); returns how many it started. */
int rf__wh_dispatch(rf_wh_relay_t *r, int64_t now_ms);
/* Lets libcurl work for up to wait_ms and handles the finished attempts
 * (outcomes staged in the stores' batches). */
void rf__wh_perform(rf_wh_relay_t *r, int wait_ms);
/* Abandons the attempts of partition p (revoke) or of endpoint e (a
 * request): the messages stay pending in the store and are sent again. */
void rf__wh_abort(rf_wh_relay_t *r, int32_t p, int e);
/* Reads a lane's window from the store (after a commit). */
void rf__wh_lane_refill(rf_wh_relay_t *r, int32_t p, int e);
void rf__wh_lane_reset(wh_lane_t *l);
/* Adds a new pending message to a lane (staged by the caller). */
void rf__wh_lane_add(wh_lane_t *l, uint64_t seq, uint64_t key, int64_t event_ms);
/* Disables endpoint e (410 or the failure threshold), in every open store. */
void rf__wh_disable(rf_wh_relay_t *r, int e, const char *reason);

#endif
