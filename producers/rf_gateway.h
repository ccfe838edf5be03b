/* rf_gateway.h: `refold gateway`, the producer side for apps and browsers
 * without Kafka: tracking links (GET /r/{program}/{code}: Click event,
 * visitor cookie, 302 to the program's landing URL) and the intake API
 * (POST /v1/events: one JSON event or application/x-ndjson, bearer token,
 * 202 once the broker acknowledged every event). Library refold_gateway
 * (room producers/): it publishes with rf_producer.h and resolves codes and
 * landing URLs from the read side (rf_query.h over a --data directory, no
 * Kafka consumer). Behaviour, limits and guarantees: docs/intake.md.
 *
 * Threads: libmicrohttpd's pool answers requests; one publisher thread owns
 * the rf_producer_t (it is single-threaded) and serves the click ring and
 * the POST batches; one refresher thread keeps the read side caught up
 * (RF_QUERY_FOLLOW, woken by the projection's commits: rf_query_wait).
 *
 * The parse functions below are pure (no server needed): the server uses
 * them and tests/fuzz/fuzz_gateway.c feeds them hostile input. */
#ifndef RF_GATEWAY_H
#define RF_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rf_common.h"
#include "rf_event.h"
#include "rf_kafka.h"

typedef struct rf_gateway rf_gateway_t;

typedef struct rf_gateway_opts {
    rf_kafka_opts_t kafka; /* brokers (required) and -X, applied after the
                            * gateway's message.timeout.ms default */
    const char *topic;     /* NULL: RF_TOPIC_EVENTS */
    const char *data_dir;  /* the projection stores (codes, landing URLs); required */
    const char *listen;    /* "host:port"; NULL: 127.0.0.1:8088; port 0: any free one */
    int threads;           /* HTTP worker threads; 0: RF_HTTP_THREADS */
    const char *pii_key;   /* HMAC key of the clicks' IP and user-agent hashes; required */
    int ntokens;           /* app tokens accepted by POST /v1/events (none: 401) */
    const char *tokens[RF_GATEWAY_TOKENS_MAX]; /* borrowed; outlive the gateway */
    bool secure_cookies; /* always mark the visitor cookie Secure (TLS in front) */
    bool trust_proxy;    /* client address from X-Forwarded-For's last entry and
                          * Secure when X-Forwarded-Proto is https */
    bool access_log;     /* one info line per request through rf_log */
} rf_gateway_opts_t;

/* Binds, connects the producer, opens the read side (or waits for it to
 * appear: links answer 503 until then) and starts serving. NULL with a
 * message on a bad option, a taken address or a producer error. */
rf_gateway_t *rf_gateway_start(const rf_gateway_opts_t *opts, rf_errbuf_t *eb);
uint16_t rf_gateway_port(const rf_gateway_t *g);

typedef struct rf_gateway_stats {
    uint64_t requests;        /* every request answered */
    uint64_t redirects;       /* 302s of tracking links */
    uint64_t redirects_fresh; /* ... answered without a visitor cookie (a new visitor) */
    uint64_t not_found;       /* links of unknown programs or codes (404) */
    uint64_t bots;            /* links followed by bots and prefetchers: no click */
    uint64_t clicks_queued;   /* clicks put on the ring */
    uint64_t clicks_dropped;  /* clicks lost to a full ring or a failed emit */
    uint64_t clicks_delivered;
    uint64_t clicks_failed;     /* delivery reports with an error */
    uint64_t posts_accepted;    /* 202 */
    uint64_t posts_rejected;    /* 4xx */
    uint64_t posts_unavailable; /* 503 */
    uint64_t events_accepted;   /* events of 202 requests */
    uint64_t events_failed;     /* events whose delivery failed (their request got 503) */
    uint64_t queue_depth;       /* clicks on the ring now */
} rf_gateway_stats_t;
void rf_gateway_stats(rf_gateway_t *g, rf_gateway_stats_t *out);

/* True once the producer failed fatally (librdkafka's idempotence state
 * lost): every POST then gets 503 and clicks are dropped; /v1/health says
 * so. `refold gateway` exits with status 1 so its supervisor restarts it. */
bool rf_gateway_failed(rf_gateway_t *g);

/* Stops accepting, answers every POST still waiting for the broker, stops
 * HTTP, then publishes the clicks still queued (flushing up to
 * RF_GATEWAY_ACK_TIMEOUT_MS) and frees. NULL is a no-op. */
void rf_gateway_stop(rf_gateway_t *g);

/* ---- request parsing (pure, thread safe) ---------------------------------- */

/* Event kinds apps may not send through the intake (they move money or
 * rules: the operator path of docs/intake.md). The one list. */
bool rf_gateway_privileged(rf_event_type_t t);

/* A request's rejection: the HTTP status and the JSON error's fields. */
typedef struct rf_gateway_error {
    unsigned status;       /* 400, 403, 413, 415 */
    char code[32];         /* "invalid_event", "privileged_event", ... */
    char field[RF_ID_BUF]; /* the field named ("" when none) */
    long line;             /* 1-based line of an ndjson body (0: single JSON) */
    char message[RF_ERRMSG_MAX + 32];
} rf_gateway_error_t;

/* Called for each valid event of a body, in order, with its line in the
 * body (from 1; blank lines count). */
typedef rf_err_t(rf_gateway_event_cb_t)(const rf_event_t *ev, long line, void *opaque);

/* Parses a POST body: one JSON event (ndjson false) or JSON lines (blank
 * lines skipped), at most RF_GATEWAY_BATCH_EVENTS_MAX events and
 * RF_GATEWAY_BODY_MAX bytes (413). Each line is validated by rf_jsonl_parse's
 * rules; privileged kinds are refused (403). An absent event_id is
 * UUIDv5(gateway namespace, idem_key "/" line), so a retried request yields
 * the same ids; without idem_key (NULL or "") event_id is required.
 * ev is scratch space. Returns the number of events, or -1 with e filled;
 * cb may have seen the lines before the bad one, so a caller publishes only
 * after a whole pass succeeded. */
long rf_gateway_parse_body(const char *body, size_t len, bool ndjson, const char *idem_key,
                           rf_event_t *ev, rf_gateway_event_cb_t *cb, void *opaque,
                           rf_gateway_error_t *e);

/* The derived event id of line in a request with idem_key. */
void rf_gateway_event_id(const char *idem_key, long line, char out[RF_UUID_STR_LEN + 1]);

/* Splits a tracking link's raw path "/r/{program}/{code}" (percent-decoded,
 * ids of 1..RF_ID_MAX bytes without control characters or '/'; a query
 * string is ignored). False when the path is not a tracking link. */
bool rf_gateway_link_parse(const char *path, char program[RF_ID_BUF], char code[RF_ID_BUF]);

/* True for a user agent on the link-preview and crawler list of
 * docs/intake.md (case-insensitive substring match). NULL: false. */
bool rf_gateway_bot_agent(const char *ua);

/* The visitor id in a Cookie header (cookie rf_vid, a lowercase UUID); false
 * when absent or malformed (then the gateway issues a new one). */
bool rf_gateway_cookie_visitor(const char *cookie, char out[RF_UUID_STR_LEN + 1]);

/* landing + "?ref=" or "&ref=" + the percent-encoded code. RF_ERR_OVERSIZE
 * when it does not fit cap. */
rf_err_t rf_gateway_landing(const char *landing, const char *code, char *out, size_t cap);

/* True when got equals one of tokens[0..n): CRYPTO_memcmp over equal
 * lengths, every token compared (time does not tell which one matched). */
bool rf_gateway_token_ok(const char *got, const char *const *tokens, int n);

#endif
