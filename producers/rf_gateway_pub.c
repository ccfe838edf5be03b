/* rf_gateway_pub.c: the gateway's publisher thread: the one owner of the
 * rf_producer_t; publishes the click ring (at most once: a crash loses what
 * the ring holds) and the POST batches (their requests wait for every
 * delivery report and then resume). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

#include "rf_gateway_int.h"
#include "rf_limits.h"

/* Clicks taken off the ring per round: the lock is held for one memcpy of
 * this many, and the batches waiting behind them are not starved. */
#define PUB_ROUND_CLICKS 1024
/* How long the idle publisher sleeps when messages are in flight (their
 * delivery reports are served between sleeps) and when none are. */
#define PUB_INFLIGHT_WAIT_MS 2
#define PUB_IDLE_WAIT_MS     100
/* At most one dropped-click log line per this many ms (with the count). */
#define PUB_DROP_LOG_MS 1000

static void cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(cv, mu, &ts);
}

bool rf__gw_click_push(rf_gateway_t *g, const rf__gw_click_t *c)
{
    pthread_mutex_lock(&g->mu);
    bool ok = g->ring_count < RF_GATEWAY_CLICK_QUEUE_MAX;
    if (ok) {
        uint32_t at = (g->ring_head + g->ring_count) % RF_GATEWAY_CLICK_QUEUE_MAX;
        g->ring[at] = *c;
        if (g->ring_count++ == 0) pthread_cond_signal(&g->pub_cv);
    }
    uint64_t unlogged = 0;
    int64_t now = rf_wall_ms();
    if (!ok) {
        g->drops_unlogged++;
        if (now - g->drop_logged_ms >= PUB_DROP_LOG_MS) {
            unlogged = g->drops_unlogged;
            g->drops_unlogged = 0;
            g->drop_logged_ms = now;
        }
    }
    pthread_mutex_unlock(&g->mu);
    if (!ok) RF__GW_ADD(g, clicks_dropped, 1);
    if (unlogged)
        rf_log(RF_LOG_WARN,
               "gateway: click queue full (%d): dropped %llu click(s) (redirected, not recorded)",
               RF_GATEWAY_CLICK_QUEUE_MAX, (unsigned long long)unlogged);
    else if (ok)
        RF__GW_ADD(g, clicks_queued, 1);
    return ok;
}

rf_err_t rf__gw_batch_submit(rf_gateway_t *g, rf__gw_batch_t *b)
{
    RF_ASSERT(b->n > 0 && b->conn != NULL);
    b->pending = b->n;
    pthread_mutex_lock(&g->mu);
    if (g->batches_open >= RF_GATEWAY_PENDING_MAX || g->pub_stop) {
        pthread_mutex_unlock(&g->mu);
        return RF_ERR_RETRY;
    }
    g->batches_open++;
    b->next = NULL;
    if (g->sub_tail)
        g->sub_tail->next = b;
    else
        g->sub_head = b;
    g->sub_tail = b;
    pthread_cond_signal(&g->pub_cv);
    pthread_mutex_unlock(&g->mu);
    return RF_OK;
}

/* Every event of b has its report (or was never queued): wake the request. */
static void batch_complete(rf_gateway_t *g, rf__gw_batch_t *b)
{
    RF_ASSERT(b->pending == 0);
    struct MHD_Connection *c = b->conn;
    pthread_mutex_lock(&g->mu);
    b->done = true;
    g->batches_open--;
    pthread_cond_broadcast(&g->idle_cv);
    pthread_mutex_unlock(&g->mu);
    MHD_resume_connection(c); /* b belongs to the request from here on */
}

static void on_delivery(const rf_delivery_t *d, void *opaque)
{
    rf_gateway_t *g = opaque;
    rf__gw_item_t *it = d->msg_opaque;
    if (!it) { /* a click */
        if (d->err == RF_OK) {
            RF__GW_ADD(g, clicks_delivered, 1);
        } else {
            RF__GW_ADD(g, clicks_failed, 1);
            rf_log(RF_LOG_WARN, "gateway: click %s not delivered: %s", d->event_id, d->errmsg);
        }
        return;
    }
    rf__gw_batch_t *b = it->batch;
    it->err = d->err;
    it->partition = d->partition;
    it->offset = d->offset;
    if (d->err != RF_OK && b->failed++ == 0) rf_strlcpy(b->errmsg, d->errmsg, sizeof b->errmsg);
    if (--b->pending == 0) batch_complete(g, b);
}

void rf__gw_fatal(rf_gateway_t *g, const char *msg)
{
    if (!__atomic_exchange_n(&g->failed, true, __ATOMIC_ACQ_REL))
        rf_log(RF_LOG_ERROR, "gateway: the producer failed: %s (restart the gateway)", msg);
}

static void emit_click(rf_gateway_t *g, rf_event_t *ev, const rf__gw_click_t *c)
{
    rf_event_clear(ev);
    ev->type = RF_EV_CLICK;
    ev->occurred_at_ms = c->at_ms;
    memcpy(ev->event_id, c->event_id, sizeof ev->event_id);
    memcpy(ev->program_id, c->program, sizeof ev->program_id);
    memcpy(ev->code, c->code, sizeof ev->code);
    memcpy(ev->visitor, c->visitor, sizeof c->visitor);
    memcpy(ev->ip_hash, c->ip_hash, sizeof ev->ip_hash);
    memcpy(ev->agent_hash, c->agent_hash, sizeof ev->agent_hash);
    rf_strlcpy(ev->source, "refold-gateway", sizeof ev->source);
    rf_errbuf_t eb = {{0}};
    rf_err_t err = rf_producer_emit(g->prod, ev, NULL, &eb);
    if (err == RF_OK) return;
    if (err == RF_ERR_KAFKA) rf__gw_fatal(g, eb.msg);
    RF__GW_ADD(g, clicks_dropped, 1);
    rf_log(RF_LOG_WARN, "gateway: click %s dropped: %s", c->event_id, eb.msg);
}

static void emit_batch(rf_gateway_t *g, rf_event_t *ev, rf__gw_batch_t *b)
{
    for (long i = 0; i < b->n; i++) {
        rf__gw_item_t *it = &b->items[i];
        memcpy(ev, it->ev, RF__GW_EV_PREFIX);
        ev->rules_json[0] = '\0';
        rf_errbuf_t eb = {{0}};
        rf_err_t err = rf_producer_emit(g->prod, ev, it, &eb);
        if (err == RF_OK) continue;
        if (err == RF_ERR_KAFKA) rf__gw_fatal(g, eb.msg);
        /* not queued: this event and the rest fail; the request gets 503 */
        if (b->failed == 0) rf_strlcpy(b->errmsg, eb.msg, sizeof b->errmsg);
        long left = b->n - i;
        for (long j = i; j < b->n; j++)
            b->items[j].err = err;
        b->failed += left;
        b->pending -= left;
        if (b->pending == 0) batch_complete(g, b);
        return;
    }
}

static void *publisher_main(void *arg)
{
    rf_gateway_t *g = arg;
    rf_event_t *ev = malloc(sizeof *ev);
    rf__gw_click_t *local = malloc(PUB_ROUND_CLICKS * sizeof *local);
    RF_ASSERT(ev && local); /* a few KiB at start-up */
    for (;;) {
        pthread_mutex_lock(&g->mu);
        if (!g->ring_count && !g->sub_head) {
            if (g->pub_stop) {
                pthread_mutex_unlock(&g->mu);
                break;
            }
            bool inflight = rf_producer_outq_len(g->prod) > 0;
            cond_wait_ms(&g->pub_cv, &g->mu, inflight ? PUB_INFLIGHT_WAIT_MS : PUB_IDLE_WAIT_MS);
        }
        uint32_t n = 0;
        while (n < PUB_ROUND_CLICKS && g->ring_count) {
            local[n++] = g->ring[g->ring_head];
            g->ring_head = (g->ring_head + 1) % RF_GATEWAY_CLICK_QUEUE_MAX;
            g->ring_count--;
        }
        rf__gw_batch_t *subs = g->sub_head;
        g->sub_head = g->sub_tail = NULL;
        pthread_mutex_unlock(&g->mu);
        for (rf__gw_batch_t *b = subs, *next; b; b = next) {
            next = b->next; /* b may complete (and be freed) inside emit_batch */
            emit_batch(g, ev, b);
        }
        for (uint32_t i = 0; i < n; i++)
            emit_click(g, ev, &local[i]);
        rf_producer_poll(g->prod, 0);
    }
    rf_errbuf_t eb = {{0}};
    if (rf_producer_flush(g->prod, RF_GATEWAY_ACK_TIMEOUT_MS, &eb) != RF_OK)
        rf_log(RF_LOG_WARN, "gateway: at stop: %s", eb.msg);
    free(local);
    free(ev);
    return NULL;
}

rf_err_t rf__gw_pub_start(rf_gateway_t *g, rf_errbuf_t *eb)
{
    rf_producer_conf_t pc;
    rf_producer_conf_init(&pc);
    /* the gateway's default first, so an operator's -X overrides it */
    snprintf(g->timeout_x, sizeof g->timeout_x, "message.timeout.ms=%d", RF_GATEWAY_ACK_TIMEOUT_MS);
    pc.kafka.brokers = g->o.kafka.brokers;
    pc.kafka.x[pc.kafka.nx++] = g->timeout_x;
    /* a POST waits for its acknowledgement: the library's 10 ms linger would
     * be most of a single event's latency; under load batches fill anyway */
    pc.kafka.x[pc.kafka.nx++] = "linger.ms=" RF_GATEWAY_LINGER_MS_STR;
    for (int i = 0; i < g->o.kafka.nx; i++) {
        if (pc.kafka.nx == RF_CONF_X_MAX) return rf_errf(eb, RF_ERR_CONFIG, "too many -X");
        pc.kafka.x[pc.kafka.nx++] = g->o.kafka.x[i];
    }
    pc.topic = g->o.topic;
    pc.on_delivery = on_delivery;
    pc.opaque = g;
    g->prod = rf_producer_new(&pc, eb);
    if (!g->prod) return RF_ERR_KAFKA;
    if (pthread_create(&g->publisher, NULL, publisher_main, g) != 0)
        return rf_errf(eb, RF_ERR_INTERNAL, "cannot start the publisher thread");
    g->publisher_started = true;
    return RF_OK;
}

void rf__gw_pub_stop(rf_gateway_t *g)
{
    if (g->publisher_started) {
        pthread_mutex_lock(&g->mu);
        g->pub_stop = true;
        pthread_cond_signal(&g->pub_cv);
        pthread_mutex_unlock(&g->mu);
        pthread_join(g->publisher, NULL);
        g->publisher_started = false;
    }
    rf_producer_destroy(g->prod);
    g->prod = NULL;
}
