/* rf_webhooks.h: the webhook relay (library refold_webhooks, room
 * consumers/webhooks/): a consumer of refold.ledger that turns ledger records
 * into signed HTTP calls (Standard Webhooks), retried with backoff, parked
 * in a per-endpoint dead-letter store, with the delivery state and the
 * consumed offset committed together in RocksDB (docs/webhooks.md).
 *
 * Pieces: the endpoints config (strict JSON), the event mapping and payloads
 * (record -> event type and stable JSON), signing, the relay (Kafka loop and
 * libcurl multi delivery) and the operator functions over its stores.
 * Libraries never print: messages go to rf_errbuf_t and rf_log. */
#ifndef RF_WEBHOOKS_H
#define RF_WEBHOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rf_common.h"
#include "rf_event.h"
#include "rf_kafka.h"
#include "rf_limits.h"

/* ---- event types ---------------------------------------------------------- */

/* The event types, in this order in docs and config ("reward.created"...). */
typedef enum rf_wh_type {
    RF_WH_REWARD_CREATED = 0,
    RF_WH_REWARD_AVAILABLE,
    RF_WH_REWARD_VOIDED,
    RF_WH_REWARD_CLAWED_BACK,
    RF_WH_REFERRAL_ATTRIBUTED,
    RF_WH_REFERRAL_REFUSED,
    RF_WH_REDEMPTION_APPLIED,
    RF_WH_REDEMPTION_REJECTED,
    RF_WH_REVIEW_REQUIRED,
    RF_WH_PROGRAM_CONFIGURED,
    RF_WH__TYPES
} rf_wh_type_t;

const char *rf_wh_type_name(rf_wh_type_t t);
int rf_wh_type_parse(const char *name); /* -1 when unknown */

/* The event type of a ledger record, or -1 when no webhook is sent for it
 * (docs/webhooks.md, "Event types": which kinds and facts map to which). */
int rf_wh_record_type(const rf_record_t *rec);

/* The webhook-id of a record: "msg_<partition>_<seq>", the same for every
 * attempt, redelivery and replay. */
#define RF_WH_MSGID_BUF 48
void rf_wh_msg_id(int32_t partition, uint64_t seq, char out[RF_WH_MSGID_BUF]);

/* The payload of rec as type t (rf_wh_record_type): compact JSON with a fixed
 * key order (docs/webhooks.md, "Payloads"), into out (cap bytes, NUL
 * terminated); *len gets its length. RF_ERR_OVERSIZE when it does not fit.
 * The same record always gives the same bytes. */
rf_err_t rf_wh_payload(const rf_record_t *rec, rf_wh_type_t t, char *out, size_t cap, size_t *len,
                       rf_errbuf_t *eb);

/* The key deliveries are ordered by: program and the user the event is
 * about (empty user: the program's own events). */
uint64_t rf_wh_order_key(const rf_record_t *rec);

/* ---- signing (Standard Webhooks) ----------------------------------------- */

typedef struct rf_wh_secret {
    uint8_t key[RF_WEBHOOK_SECRET_BYTES_MAX];
    size_t len;
} rf_wh_secret_t;

/* Decodes "whsec_<base64>" (24..64 bytes of key). RF_ERR_CONFIG naming what
 * is wrong (never the secret itself). */
rf_err_t rf_wh_secret_parse(const char *text, rf_wh_secret_t *out, rf_errbuf_t *eb);

/* The webhook-signature header value: "v1,<base64 HMAC-SHA256(key,
 * id.timestamp.body)>" per secret, space separated. out needs
 * RF_WH_SIG_BUF bytes. Returns the length. */
#define RF_WH_SIG_BUF (RF_WEBHOOK_SECRETS_MAX * 48)
size_t rf_wh_sign(const rf_wh_secret_t *secrets, int nsecrets, const char *msg_id,
                  int64_t timestamp_s, const char *body, size_t body_len, char *out);

/* ---- endpoints config ----------------------------------------------------- */

typedef struct rf_wh_retry {
    int64_t initial_ms;   /* delay before the first retry */
    int64_t max_delay_ms; /* delays double up to this */
    int max_attempts;     /* attempts in all (the first included) */
    int64_t max_age_ms;   /* no attempt later than this after the first */
} rf_wh_retry_t;

typedef struct rf_wh_endpoint {
    char id[RF_WEBHOOK_ID_MAX + 1];
    char url[RF_WEBHOOK_URL_MAX + 1];
    bool allow_http;
    int nsecrets;
    rf_wh_secret_t secrets[RF_WEBHOOK_SECRETS_MAX];
    int nprograms; /* 0: every program */
    char programs[RF_WEBHOOK_PROGRAMS_MAX][RF_ID_BUF];
    uint32_t types; /* bit per rf_wh_type_t */
    int timeout_ms;
    int max_in_flight;
    rf_wh_retry_t retry;
    int disable_after_failures;
} rf_wh_endpoint_t;

typedef struct rf_wh_config {
    int nendpoints;
    rf_wh_endpoint_t endpoints[RF_WEBHOOK_ENDPOINTS_MAX];
} rf_wh_config_t;

/* Parses and validates the config text strictly (unknown fields, wrong
 * types, bad URLs, secrets, event types and out-of-range numbers are errors
 * naming the field: "endpoints[1].secrets[0]: ..."). */
rf_err_t rf_wh_config_parse(const char *json, size_t len, rf_wh_config_t *out, rf_errbuf_t *eb);
/* Reads and parses a file (at most RF_WEBHOOK_CONFIG_BYTES_MAX). */
rf_err_t rf_wh_config_load(const char *path, rf_wh_config_t *out, rf_errbuf_t *eb);
/* Whether ep subscribes to a record of program, type t. */
bool rf_wh_endpoint_wants(const rf_wh_endpoint_t *ep, const char *program, rf_wh_type_t t);
/* The delay before attempt n + 1 after n failed attempts (n >= 1), without
 * jitter: initial_ms * 2^(n-1), at most max_delay_ms. */
int64_t rf_wh_backoff_ms(const rf_wh_retry_t *r, int n);

/* ---- the relay ------------------------------------------------------------ */

typedef struct rf_wh_opts {
    rf_kafka_opts_t kafka;        /* brokers and -X (borrowed) */
    const char *group;            /* NULL: "refold-webhooks" */
    const char *topic;            /* NULL: refold.ledger */
    const char *data_dir;         /* required: stores under DATA/webhooks/ */
    const rf_wh_config_t *config; /* required (borrowed for the relay's life) */
    int npartitions;              /* > 0: assign these partitions, no group */
    int32_t partitions[RF_PARTITIONS_MAX];
    bool exit_when_idle; /* return once every assigned partition is at
                          * its high watermark and nothing is pending
                          * but parked or disabled (tests, benchmarks) */
    bool nosync;         /* benchmarks only */
} rf_wh_opts_t;

typedef struct rf_wh_endpoint_stats {
    char id[RF_WEBHOOK_ID_MAX + 1];
    bool disabled;
    char disabled_reason[RF_WEBHOOK_ERROR_MAX + 1];
    uint64_t delivered; /* since the store was created (all assigned partitions) */
    uint64_t failed;    /* failed attempts */
    uint64_t parked;    /* dead letters now */
    uint64_t pending;   /* queued (not yet delivered nor parked) */
    uint64_t consecutive_failures;
    int in_flight;
    int64_t oldest_pending_ms; /* event time of the oldest pending message; -1 none */
} rf_wh_endpoint_stats_t;

typedef struct rf_wh_stats {
    bool running;
    uint64_t records;  /* ledger records consumed since start */
    uint64_t messages; /* messages queued since start (records x endpoints) */
    int64_t lag;       /* ledger records not yet consumed (sum over the partitions held);
                        * -1 unknown: no partition held yet, or a watermark not known */
    int nendpoints;
    rf_wh_endpoint_stats_t endpoints[RF_WEBHOOK_ENDPOINTS_MAX];
} rf_wh_stats_t;

typedef struct rf_wh_relay rf_wh_relay_t;

rf_wh_relay_t *rf_wh_relay_new(const rf_wh_opts_t *opts, rf_errbuf_t *eb);
/* Runs until rf_wh_relay_stop, exit_when_idle's end, or a fatal error
 * (storage, a seq gap, an undecodable record), which it returns. */
rf_err_t rf_wh_relay_run(rf_wh_relay_t *r, rf_errbuf_t *eb);
void rf_wh_relay_stop(rf_wh_relay_t *r);                      /* thread and signal safe */
void rf_wh_relay_stats(rf_wh_relay_t *r, rf_wh_stats_t *out); /* thread safe */
void rf_wh_relay_destroy(rf_wh_relay_t *r);                   /* NULL: no-op */

/* ---- operator functions (the stores under DATA/webhooks) ------------------ */

/* Aggregates the stores' per-endpoint state (read-only opens: works while a
 * relay runs). Endpoints of cfg in its order; lag is not filled. */
rf_err_t rf_wh_store_stats(const char *data_dir, const rf_wh_config_t *cfg, rf_wh_stats_t *out,
                           rf_errbuf_t *eb);

/* A parked (or pending) message, as shown to operators. */
typedef struct rf_wh_message_info {
    int32_t partition;
    uint64_t seq;
    char msg_id[RF_WH_MSGID_BUF];
    char type[32];
    int64_t event_time_ms;
    int attempts;
    int64_t first_attempt_ms;
    int64_t last_attempt_ms;
    int last_status; /* HTTP status, 0: no response (timeout, connection) */
    char last_error[RF_WEBHOOK_ERROR_MAX + 1];
} rf_wh_message_info_t;

typedef int(rf_wh_message_cb_t)(const rf_wh_message_info_t *m, const char *body, void *opaque);
/* Calls cb for each parked message of endpoint (partition -1: all), in
 * (partition, seq) order; cb returning non-zero stops. */
rf_err_t rf_wh_parked_scan(const char *data_dir, const char *endpoint, int32_t partition,
                           rf_wh_message_cb_t *cb, void *opaque, rf_errbuf_t *eb);

/* Operator requests that write: applied directly when no relay holds the
 * stores, else handed to the running relay (a request file it applies
 * between cycles) and waited for. *count gets the messages affected. */
typedef enum rf_wh_req_kind {
    RF_WH_REQ_REDELIVER, /* parked -> pending (partition/seq or all) */
    RF_WH_REQ_REPLAY,    /* history from seq or time -> pending */
    RF_WH_REQ_ENABLE,    /* clear the disabled state */
} rf_wh_req_kind_t;

typedef struct rf_wh_request {
    rf_wh_req_kind_t kind;
    char endpoint[RF_WEBHOOK_ID_MAX + 1];
    int32_t partition; /* -1: every partition */
    uint64_t seq;      /* REDELIVER: one message (0: all); REPLAY: from this seq */
    int64_t from_ms;   /* REPLAY: from this event time (-1: by seq) */
} rf_wh_request_t;

rf_err_t rf_wh_request(const char *data_dir, const rf_wh_config_t *cfg, const rf_wh_request_t *req,
                       uint64_t *count, rf_errbuf_t *eb);

/* ---- metrics (rf_wh_metrics.c, into common/rf_metrics.h) ---- */
#define RF_METRIC_WEBHOOK_DELIVERIES "refold_webhook_deliveries_total" /* {endpoint, outcome} */
#define RF_METRIC_WEBHOOK_ATTEMPT_SECONDS                                                          \
    "refold_webhook_attempt_seconds"                                  /* histogram {endpoint} */
#define RF_METRIC_WEBHOOK_LAG      "refold_webhook_consumer_lag"      /* gauge: records */
#define RF_METRIC_WEBHOOK_PENDING  "refold_webhook_pending"           /* gauge {endpoint} */
#define RF_METRIC_WEBHOOK_PARKED   "refold_webhook_parked"            /* gauge {endpoint} */
#define RF_METRIC_WEBHOOK_DISABLED "refold_webhook_endpoint_disabled" /* gauge {endpoint} */
#define RF_METRIC_WEBHOOK_DELAY    "refold_webhook_oldest_pending_seconds" /* gauge {endpoint} */
void rf_wh_metrics_declare(void);
/* Mirrors a relay's stats (gauges); counters and the histogram are updated
 * by the relay as it delivers. */
void rf_wh_metrics_from_stats(const rf_wh_stats_t *st);

#endif
