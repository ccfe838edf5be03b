/* rf_wh_deliver.c: the relay's HTTP side: libcurl's multi interface, one
 * signed POST per attempt, the windows of pending messages per (endpoint,
 * partition), ordering per (endpoint, user), retries with jittered
 * exponential backoff, parking and disabling. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_metrics.h"
#include "rf_wh_relay_int.h"

/* ---- lanes ---------------------------------------------------------------- */

void rf__wh_lane_reset(wh_lane_t *l)
{
    free(l->v);
    uint64_t pending = l->pending, parked = l->parked, d = l->delivered, f = l->failed;
    bool cd = l->counters_dirty;
    memset(l, 0, sizeof *l);
    l->pending = pending, l->parked = parked, l->delivered = d, l->failed = f;
    l->counters_dirty = cd;
    l->complete = false;
    l->changed = true;
}

/* Room for one more item (the window grows up to RF_WEBHOOK_WINDOW). */
static bool lane_room(wh_lane_t *l)
{
    if (l->n < l->cap) return true;
    if (l->cap >= RF_WEBHOOK_WINDOW) return false;
    int cap = l->cap ? l->cap * 2 : 16;
    if (cap > RF_WEBHOOK_WINDOW) cap = RF_WEBHOOK_WINDOW;
    wh_item_t *v = realloc(l->v, (size_t)cap * sizeof *v);
    if (!v) return false; /* stays on disk; read back later */
    l->v = v;
    l->cap = cap;
    return true;
}

static void lane_compact(wh_lane_t *l)
{
    int k = 0;
    for (int i = 0; i < l->n; i++)
        if (l->v[i].seq) l->v[k++] = l->v[i];
    l->n = k;
}

void rf__wh_lane_add(wh_lane_t *l, uint64_t seq, uint64_t key, int64_t event_ms)
{
    l->pending++;
    l->changed = true;
    if (!l->complete || (!lane_room(l) && (lane_compact(l), !lane_room(l)))) {
        l->complete = false; /* read back from the store once the window drains */
        return;
    }
    l->v[l->n++] = (wh_item_t){.seq = seq, .key = key, .event_ms = event_ms};
    l->last_loaded = seq;
}

typedef struct refill {
    wh_lane_t *l;
    bool full;
} refill_t;

static int refill_one(uint64_t seq, const char *v, size_t n, void *opaque)
{
    refill_t *f = opaque;
    rf_wh_state_t st;
    if (!lane_room(f->l)) {
        f->full = true;
        return 1;
    }
    if (!rf__wh_state_decode(v, n, &st)) {
        rf_log(RF_LOG_ERROR, "webhooks: bad pending entry at seq %llu: skipped",
               (unsigned long long)seq);
        return 0;
    }
    f->l->v[f->l->n++] = (wh_item_t){.seq = seq,
                                     .key = st.order_key,
                                     .event_ms = st.event_ms,
                                     .first_ms = st.first_ms,
                                     .next_ms = st.next_ms,
                                     .attempts = st.attempts};
    f->l->last_loaded = seq;
    return 0;
}

void rf__wh_lane_refill(rf_wh_relay_t *r, int32_t p, int e)
{
    wh_lane_t *l = &r->parts[p]->lanes[e];
    if (l->complete) return;
    lane_compact(l);
    if (l->n > RF_WEBHOOK_WINDOW / 2) return;
    refill_t f = {l, false};
    rf__wh_scan(r->parts[p]->st, 'q', r->eps[e].cfg->id, l->n ? l->last_loaded + 1 : 0, refill_one,
                &f);
    l->complete = !f.full;
    l->changed = true;
}

static wh_item_t *lane_find(wh_lane_t *l, uint64_t seq)
{
    for (int i = 0; i < l->n; i++)
        if (l->v[i].seq == seq) return &l->v[i];
    return NULL;
}

/* ---- ordering: one message per key in flight, in seq order ---- */

#define KEYSET_SLOTS (2 * RF_WEBHOOK_WINDOW)
static _Thread_local uint64_t keyset_key[KEYSET_SLOTS];
static _Thread_local uint32_t keyset_gen[KEYSET_SLOTS], keyset_now;

/* Marks key as seen in this scan; returns whether it was seen already. */
static bool keyset_seen(uint64_t key)
{
    uint32_t i = (uint32_t)(key * 0x9e3779b97f4a7c15ULL >> 40) % KEYSET_SLOTS;
    for (;; i = (i + 1) % KEYSET_SLOTS) {
        if (keyset_gen[i] != keyset_now) {
            keyset_gen[i] = keyset_now, keyset_key[i] = key;
            return false;
        }
        if (keyset_key[i] == key) return true;
    }
}

/* ---- one attempt ---------------------------------------------------------- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *opaque)
{
    wh_xfer_t *x = opaque;
    size_t n = size * nmemb, room = RF_WEBHOOK_ERROR_MAX - x->resp_n;
    memcpy(x->resp + x->resp_n, ptr, n < room ? n : room);
    x->resp_n += n < room ? n : room;
    return n;
}

static wh_xfer_t *xfer_free_slot(rf_wh_relay_t *r)
{
    for (int i = 0; i < RF_WEBHOOK_IN_FLIGHT_TOTAL_MAX; i++)
        if (!r->xfers[i].busy) return &r->xfers[i];
    return NULL;
}

static struct curl_slist *add_header(struct curl_slist *h, const char *name, const char *value)
{
    char line[RF_WH_SIG_BUF + 64];
    snprintf(line, sizeof line, "%s: %s", name, value);
    struct curl_slist *n = curl_slist_append(h, line);
    RF_ASSERT(n != NULL); /* out of memory: nothing sensible to do mid-request */
    return n;
}

/* Starts the attempt of item (seq) of lane (p, e): signs the stored body
 * with every secret; false when it could not start (it stays due). */
static bool start(rf_wh_relay_t *r, int32_t p, int e, wh_item_t *it)
{
    wh_ep_t *ep = &r->eps[e];
    wh_xfer_t *x = xfer_free_slot(r);
    if (!x) return false;
    rf_errbuf_t eb = {{0}};
    rf_wh_hist_t h;
    char *val = NULL;
    if (rf__wh_hist_get(r->parts[p]->st, it->seq, &val, &h, &eb) != RF_OK) {
        rf_log(RF_LOG_ERROR, "webhooks: %s: %s", ep->cfg->id, eb.msg);
        return false;
    }
    char id[RF_WH_MSGID_BUF], ts[32], sig[RF_WH_SIG_BUF];
    rf_wh_msg_id(p, it->seq, id);
    int64_t now_s = rf_wall_ms() / 1000;
    snprintf(ts, sizeof ts, "%lld", (long long)now_s);
    RF_ASSERT(ep->cfg->nsecrets > 0); /* never an unsigned request */
    rf_wh_sign(ep->cfg->secrets, ep->cfg->nsecrets, id, now_s, h.body, h.body_len, sig);
    if (!x->h && !(x->h = curl_easy_init())) {
        rocksdb_free(val);
        return false;
    }
    CURL *c = x->h;
    curl_easy_reset(c);
    x->hdrs = add_header(NULL, "content-type", "application/json");
    x->hdrs = add_header(x->hdrs, "webhook-id", id);
    x->hdrs = add_header(x->hdrs, "webhook-timestamp", ts);
    x->hdrs = add_header(x->hdrs, "webhook-signature", sig);
    x->hdrs = add_header(x->hdrs, "user-agent", "refold-webhooks/1");
    x->hdrs = add_header(x->hdrs, "expect", ""); /* no 100-continue round trip */
    curl_easy_setopt(c, CURLOPT_URL, ep->cfg->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, ep->cfg->allow_http ? "http,https" : "https");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, x->hdrs);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, h.body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)h.body_len);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)ep->cfg->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect is a failure */
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_PRIVATE, x);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->cerr);
    x->cerr[0] = '\0';
    x->resp_n = 0;
    x->val = val;
    x->ep = e, x->part = p, x->seq = it->seq;
    x->t0_ns = rf_now_ns();
    if (curl_multi_add_handle(r->multi, c) != CURLM_OK) {
        curl_slist_free_all(x->hdrs);
        x->hdrs = NULL;
        rocksdb_free(val);
        return false;
    }
    x->busy = true;
    it->in_flight = true;
    ep->in_flight++;
    r->in_flight++;
    return true;
}

static int dispatch_lane(rf_wh_relay_t *r, int32_t p, int e, int64_t now)
{
    wh_ep_t *ep = &r->eps[e];
    wh_lane_t *l = &r->parts[p]->lanes[e];
    if (!l->changed && now < l->wake_ms) return 0;
    lane_compact(l);
    int started = 0;
    keyset_now++;
    int64_t wake = INT64_MAX;
    bool capped = false;
    for (int i = 0; i < l->n; i++) {
        wh_item_t *it = &l->v[i];
        if (keyset_seen(it->key)) continue; /* an earlier message of this user is pending */
        if (it->in_flight) continue;
        if (it->next_ms > now) {
            if (it->next_ms < wake) wake = it->next_ms;
            continue;
        }
        if (ep->in_flight >= ep->cfg->max_in_flight ||
            r->in_flight >= RF_WEBHOOK_IN_FLIGHT_TOTAL_MAX || !start(r, p, e, it)) {
            capped = true;
            break;
        }
        started++;
    }
    l->changed = capped; /* scan again when a slot frees up */
    l->wake_ms = wake;
    return started;
}

int rf__wh_dispatch(rf_wh_relay_t *r, int64_t now_ms)
{
    int started = 0;
    for (int e = 0; e < r->neps; e++) {
        if (r->eps[e].disabled) continue;
        for (int32_t p = 0; p < RF_PARTITIONS_MAX; p++) {
            if (!r->parts[p]) continue;
            wh_lane_t *l = &r->parts[p]->lanes[e];
            if (!l->complete && l->n <= RF_WEBHOOK_WINDOW / 2) rf__wh_lane_refill(r, p, e);
            started += dispatch_lane(r, p, e, now_ms);
        }
    }
    return started;
}

/* ---- outcomes ---------------------------------------------------------- */

static uint64_t rng_next(rf_wh_relay_t *r)
{
    uint64_t x = r->rng; /* xorshift64* */
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    r->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static int64_t jittered(rf_wh_relay_t *r, int64_t d)
{
    int64_t span = d * RF_WEBHOOK_RETRY_JITTER_PCT / 100;
    if (span <= 0) return d;
    return d - span + (int64_t)(rng_next(r) % (uint64_t)(2 * span + 1));
}

void rf__wh_disable(rf_wh_relay_t *r, int e, const char *reason)
{
    wh_ep_t *ep = &r->eps[e];
    if (ep->disabled) return;
    ep->disabled = true;
    rf_strlcpy(ep->reason, reason, sizeof ep->reason);
    int64_t now = rf_wall_ms();
    for (int32_t p = 0; p < RF_PARTITIONS_MAX; p++)
        if (r->parts[p]) rf__wh_disabled_stage(r->parts[p]->st, ep->cfg->id, now, reason);
    rf_log(RF_LOG_ERROR,
           "webhooks: endpoint '%s' disabled: %s (its messages stay pending; "
           "`refold webhooks enable --endpoint %s` resumes it)",
           ep->cfg->id, reason, ep->cfg->id);
    rf_metrics_gauge_set(RF_METRIC_WEBHOOK_DISABLED, ep->labels, 1);
}

static void count(wh_ep_t *ep, const char *outcome)
{
    char lab[192];
    snprintf(lab, sizeof lab, "%s,outcome=\"%s\"", ep->labels, outcome);
    rf_metrics_counter_add(RF_METRIC_WEBHOOK_DELIVERIES, lab, 1);
}

static void state_of(const wh_item_t *it, rf_wh_state_t *st)
{
    memset(st, 0, sizeof *st);
    st->order_key = it->key;
    st->event_ms = it->event_ms;
    st->attempts = it->attempts;
    st->first_ms = it->first_ms;
    st->next_ms = it->next_ms;
}

/* A failed attempt: schedule the next one, or park the message when the
 * attempts or the time are used up. */
static void failed(rf_wh_relay_t *r, wh_xfer_t *x, wh_item_t *it, int status, const char *why)
{
    wh_ep_t *ep = &r->eps[x->ep];
    wh_lane_t *l = &r->parts[x->part]->lanes[x->ep];
    rf_wh_part_t *st = r->parts[x->part]->st;
    int64_t now = rf_wall_ms();
    l->failed++;
    l->counters_dirty = true;
    ep->consecutive++;
    rf_wh_state_t s;
    state_of(it, &s);
    s.last_status = status;
    s.last_ms = now;
    rf_strlcpy(s.last_error, why, sizeof s.last_error);
    const rf_wh_retry_t *rp = &ep->cfg->retry;
    int64_t next = now + jittered(r, rf_wh_backoff_ms(rp, it->attempts));
    if (it->attempts >= rp->max_attempts || next - it->first_ms > rp->max_age_ms) {
        rf__wh_delete_stage(st, 'q', ep->cfg->id, it->seq);
        rf__wh_state_stage(st, 'd', ep->cfg->id, it->seq, &s);
        it->seq = 0;
        l->pending--;
        l->parked++;
        count(ep, "parked");
        rf_log(RF_LOG_WARN, "webhooks: %s: msg_%d_%llu parked after %d attempts: %s", ep->cfg->id,
               (int)x->part, (unsigned long long)x->seq, s.attempts, why);
    } else {
        it->next_ms = s.next_ms = next;
        rf__wh_state_stage(st, 'q', ep->cfg->id, it->seq, &s);
    }
    if (ep->consecutive >= (uint64_t)ep->cfg->disable_after_failures) {
        char reason[RF_WEBHOOK_ERROR_MAX + 1];
        snprintf(reason, sizeof reason, "%llu failed attempts in a row; last: %.140s",
                 (unsigned long long)ep->consecutive, why);
        rf__wh_disable(r, x->ep, reason);
    }
}

static void outcome(rf_wh_relay_t *r, wh_xfer_t *x, CURLcode rc)
{
    wh_ep_t *ep = &r->eps[x->ep];
    wh_lane_t *l = &r->parts[x->part]->lanes[x->ep];
    wh_item_t *it = lane_find(l, x->seq);
    RF_ASSERT(it && it->in_flight);
    it->in_flight = false;
    l->changed = true;
    long status = 0;
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
    rf_metrics_observe(RF_METRIC_WEBHOOK_ATTEMPT_SECONDS, ep->labels,
                       (double)(rf_now_ns() - x->t0_ns) / 1e9);
    int64_t now = rf_wall_ms();
    if (!it->first_ms) it->first_ms = now;
    it->attempts++;
    if (rc == CURLE_OK && status >= 200 && status < 300) {
        rf__wh_delete_stage(r->parts[x->part]->st, 'q', ep->cfg->id, x->seq);
        it->seq = 0;
        l->pending--;
        l->delivered++;
        l->counters_dirty = true;
        ep->consecutive = 0;
        count(ep, "delivered");
        return;
    }
    char why[RF_WEBHOOK_ERROR_MAX + 1];
    if (rc == CURLE_OK && status == 410) { /* the receiver asks to stop: disable, keep it */
        it->attempts--;
        count(ep, "gone");
        rf__wh_disable(r, x->ep, "410 Gone");
        return;
    }
    if (rc != CURLE_OK)
        rf_strlcpy(why, x->cerr[0] ? x->cerr : curl_easy_strerror(rc), sizeof why);
    else
        snprintf(why, sizeof why, "HTTP %ld: %.*s", status, (int)x->resp_n, x->resp);
    count(ep, rc == CURLE_OPERATION_TIMEDOUT ? "timeout" : "failed");
    failed(r, x, it, rc == CURLE_OK ? (int)status : 0, why);
}

static void release(rf_wh_relay_t *r, wh_xfer_t *x)
{
    curl_multi_remove_handle(r->multi, x->h);
    curl_slist_free_all(x->hdrs);
    x->hdrs = NULL;
    rocksdb_free(x->val);
    x->val = NULL;
    x->busy = false;
    r->eps[x->ep].in_flight--;
    r->in_flight--;
}

void rf__wh_perform(rf_wh_relay_t *r, int wait_ms)
{
    int running = 0;
    curl_multi_perform(r->multi, &running);
    if (wait_ms > 0) {
        curl_multi_poll(r->multi, NULL, 0, wait_ms, NULL);
        curl_multi_perform(r->multi, &running);
    }
    CURLMsg *m;
    int left = 0;
    while ((m = curl_multi_info_read(r->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        wh_xfer_t *x = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        RF_ASSERT(x && x->busy);
        outcome(r, x, m->data.result);
        release(r, x);
    }
}

void rf__wh_abort(rf_wh_relay_t *r, int32_t p, int e)
{
    for (int i = 0; i < RF_WEBHOOK_IN_FLIGHT_TOTAL_MAX; i++) {
        wh_xfer_t *x = &r->xfers[i];
        if (!x->busy || (p >= 0 && x->part != p) || (e >= 0 && x->ep != e)) continue;
        wh_item_t *it = lane_find(&r->parts[x->part]->lanes[x->ep], x->seq);
        if (it) it->in_flight = false;
        r->parts[x->part]->lanes[x->ep].changed = true;
        release(r, x);
    }
}

/* libcurl's global init is not thread safe: once per process. */
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

rf_err_t rf__wh_deliver_init(rf_wh_relay_t *r, rf_errbuf_t *eb)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, curl_init_once);
    if (!(r->multi = curl_multi_init()))
        return rf_errf(eb, RF_ERR_NOMEM, "cannot create curl multi");
    curl_multi_setopt(r->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                      (long)RF_WEBHOOK_IN_FLIGHT_TOTAL_MAX);
    r->rng = (rf_now_ns() ^ (uint64_t)rf_wall_ms() << 20) | 1;
    return RF_OK;
}

void rf__wh_deliver_fini(rf_wh_relay_t *r)
{
    for (int i = 0; i < RF_WEBHOOK_IN_FLIGHT_TOTAL_MAX; i++) {
        wh_xfer_t *x = &r->xfers[i];
        if (x->busy) {
            curl_multi_remove_handle(r->multi, x->h);
            curl_slist_free_all(x->hdrs);
            rocksdb_free(x->val);
            x->busy = false;
        }
        if (x->h) curl_easy_cleanup(x->h);
        x->h = NULL;
    }
    if (r->multi) curl_multi_cleanup(r->multi);
    r->multi = NULL;
}
