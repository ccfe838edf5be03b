/* rf_gateway_int.h: what the gateway's files share (rf_gateway.c serves
 * HTTP, rf_gateway_pub.c owns the producer). Not a public header. */
#ifndef RF_GATEWAY_INT_H
#define RF_GATEWAY_INT_H

#include <pthread.h>
#include <stddef.h>

#include "rf_gateway.h"
#include "rf_producer.h"
#include "rf_query.h"

struct MHD_Connection;
struct MHD_Daemon;

/* A click waiting on the ring (its event is built by the publisher). */
typedef struct rf__gw_click {
    char program[RF_ID_BUF];
    char code[RF_ID_BUF];
    char visitor[RF_UUID_STR_LEN + 1];
    char event_id[RF_UUID_STR_LEN + 1];
    char ip_hash[RF_HASH_BUF];
    char agent_hash[RF_HASH_BUF];
    int64_t at_ms;
} rf__gw_click_t;

/* An intake event: rf_event_t up to rules_json (apps cannot send
 * ProgramConfigured, the only kind that uses it), ~1.4 KiB instead of 17. */
#define RF__GW_EV_PREFIX offsetof(rf_event_t, rules_json)

struct rf__gw_batch;
typedef struct rf__gw_item {
    struct rf__gw_batch *batch;
    long line;
    int32_t partition;
    int64_t offset;
    rf_err_t err;
    _Alignas(rf_event_t) unsigned char ev[RF__GW_EV_PREFIX]; /* read as an rf_event_t */
} rf__gw_item_t;

/* One POST's events, published together; the connection is suspended until
 * every event has its delivery report. */
typedef struct rf__gw_batch {
    struct rf__gw_batch *next; /* the publisher's submission list */
    struct MHD_Connection *conn;
    long n, pending, failed; /* pending and failed: publisher thread only */
    char errmsg[128];
    bool done; /* under the gateway's mutex */
    rf__gw_item_t items[];
} rf__gw_batch_t;

struct rf_gateway {
    rf_gateway_opts_t o;
    char listen[256];
    struct MHD_Daemon *d;
    uint16_t port;
    rf_query_t *q; /* NULL until the projection exists; published atomically */
    rf_producer_t *prod;
    char timeout_x[64];

    pthread_mutex_t mu; /* ring, submissions, stop flags */
    pthread_cond_t pub_cv, ref_cv, idle_cv;
    rf__gw_click_t *ring; /* RF_GATEWAY_CLICK_QUEUE_MAX */
    uint32_t ring_head, ring_count;
    rf__gw_batch_t *sub_head, *sub_tail;
    int batches_open; /* submitted, not yet completed */
    bool ref_stop, pub_stop;
    pthread_t refresher, publisher;
    bool refresher_started, publisher_started;
    bool failed;            /* atomic: the producer failed fatally (rf_gateway_failed) */
    int64_t drop_logged_ms; /* rate limit of the dropped-click log line */
    uint64_t drops_unlogged;

    rf_gateway_stats_t st; /* atomics */
};

#define RF__GW_ADD(g, field, n) __atomic_add_fetch(&(g)->st.field, (n), __ATOMIC_RELAXED)

/* Publisher (rf_gateway_pub.c). */
/* Marks the producer failed (a fatal librdkafka error): logged once. */
void rf__gw_fatal(rf_gateway_t *g, const char *msg);
rf_err_t rf__gw_pub_start(rf_gateway_t *g, rf_errbuf_t *eb);
/* Stops after publishing the queued clicks and flushing (bounded). */
void rf__gw_pub_stop(rf_gateway_t *g);
/* Queues a click; false when the ring is full (the click is dropped,
 * counted and logged here). */
bool rf__gw_click_push(rf_gateway_t *g, const rf__gw_click_t *c);
/* Hands a batch to the publisher; RF_ERR_RETRY when RF_GATEWAY_PENDING_MAX
 * batches are open (the caller answers 503). */
rf_err_t rf__gw_batch_submit(rf_gateway_t *g, rf__gw_batch_t *b);

#endif
