/* rf_wh_ops.c: the operator side of the relay's stores: listing endpoints
 * and parked messages (read-only opens, beside a running relay), and the
 * requests that write (redeliver, replay, enable): applied directly when no
 * relay holds the stores, else through a request file the relay applies. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rf_wh_int.h"

/* ---- applying a request to open stores ------------------------------------- */

typedef struct apply {
    rf_wh_part_t *p;
    const rf_wh_endpoint_t *ep;
    const rf_wh_request_t *req;
    uint64_t count;
} apply_t;

static int redeliver_one(uint64_t seq, const char *v, size_t n, void *opaque)
{
    apply_t *a = opaque;
    rf_wh_state_t st;
    if (a->req->seq && seq != a->req->seq) return seq > a->req->seq;
    if (!rf__wh_state_decode(v, n, &st)) return 0;
    /* a fresh schedule: the attempts and age bounds count again */
    st.attempts = 0, st.first_ms = 0, st.next_ms = 0;
    rf__wh_delete_stage(a->p, 'd', a->ep->id, seq);
    rf__wh_state_stage(a->p, 'q', a->ep->id, seq, &st);
    a->count++;
    return 0;
}

static int replay_one(uint64_t seq, const char *v, size_t n, void *opaque)
{
    apply_t *a = opaque;
    rf_wh_hist_t h;
    if (!rf__wh_hist_decode(v, n, &h)) return 0;
    if (a->req->from_ms >= 0 && h.event_ms < a->req->from_ms) return 0;
    if (!rf_wh_endpoint_wants(a->ep, h.program, (rf_wh_type_t)h.type)) return 0;
    rf_wh_state_t st = {.order_key = h.order_key, .event_ms = h.event_ms};
    rf__wh_delete_stage(a->p, 'd', a->ep->id, seq); /* a parked copy goes again */
    rf__wh_state_stage(a->p, 'q', a->ep->id, seq, &st);
    a->count++;
    return 0;
}

rf_err_t rf__wh_request_apply(rf_wh_part_t **parts, int nparts, const rf_wh_config_t *cfg,
                              const rf_wh_request_t *req, uint64_t *count, rf_errbuf_t *eb)
{
    *count = 0;
    const rf_wh_endpoint_t *ep = NULL;
    for (int i = 0; i < cfg->nendpoints; i++)
        if (strcmp(cfg->endpoints[i].id, req->endpoint) == 0) ep = &cfg->endpoints[i];
    if (!ep) return rf_errf(eb, RF_ERR_CONFIG, "no endpoint '%s' in the config", req->endpoint);
    for (int i = 0; i < nparts; i++) {
        rf_wh_part_t *p = parts[i];
        if (req->partition >= 0 && p->partition != req->partition) continue;
        apply_t a = {p, ep, req, 0};
        switch (req->kind) {
        case RF_WH_REQ_REDELIVER:
            rf__wh_scan(p, 'd', ep->id, req->seq, redeliver_one, &a);
            break;
        case RF_WH_REQ_REPLAY:
            rf__wh_scan(p, 'h', NULL, req->from_ms >= 0 ? 0 : req->seq, replay_one, &a);
            break;
        case RF_WH_REQ_ENABLE:
            rf__wh_disabled_stage(p, ep->id, 0, NULL);
            a.count = 0;
            break;
        }
        *count += a.count;
    }
    return RF_OK;
}

/* ---- request files ------------------------------------------------------------ */

static void req_dir(const char *data_dir, char *out, size_t cap)
{
    snprintf(out, cap, "%s/webhooks/requests", data_dir);
}

bool rf__wh_request_next(const char *data_dir, rf_wh_request_t *req, char *name, size_t cap)
{
    char dir[4200], path[4500];
    req_dir(data_dir, dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d) return false;
    struct dirent *de;
    char best[256] = "";
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n < 5 || strcmp(de->d_name + n - 4, ".req") != 0) continue;
        if (!best[0] || strcmp(de->d_name, best) < 0) rf_strlcpy(best, de->d_name, sizeof best);
    }
    closedir(d);
    if (!best[0]) return false;
    rf_strlcpy(name, best, cap);
    snprintf(path, sizeof path, "%s/%s", dir, best);
    FILE *f = fopen(path, "r");
    int kind = -1, ok = 0;
    long long part = -1, from = -1;
    unsigned long long seq = 0;
    memset(req, 0, sizeof *req);
    if (f) {
        ok = fscanf(f, "%d %64s %lld %llu %lld", &kind, req->endpoint, &part, &seq, &from) == 5;
        fclose(f);
    }
    if (!ok || kind < RF_WH_REQ_REDELIVER || kind > RF_WH_REQ_ENABLE) {
        rf__wh_request_done(data_dir, name, RF_ERR_BAD_INPUT, 0, "unreadable request");
        return rf__wh_request_next(data_dir, req, name, cap);
    }
    req->kind = (rf_wh_req_kind_t)kind;
    req->partition = (int32_t)part;
    req->seq = seq;
    req->from_ms = from;
    return true;
}

void rf__wh_request_done(const char *data_dir, const char *name, rf_err_t err, uint64_t count,
                         const char *msg)
{
    char dir[4200], path[4500], done[4600], tmp[4700];
    req_dir(data_dir, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(done, sizeof done, "%.*s.done", (int)(strlen(path) - 4), path);
    snprintf(tmp, sizeof tmp, "%s.tmp", done);
    FILE *f = fopen(tmp, "w");
    if (f) {
        fprintf(f, "%d %llu %s\n", (int)err, (unsigned long long)count, err ? msg : "ok");
        fclose(f);
        rename(tmp, done);
    }
    unlink(path);
}

/* Hands req to the running relay and waits for its answer. */
static rf_err_t request_via_file(const char *data_dir, const rf_wh_request_t *req, uint64_t *count,
                                 rf_errbuf_t *eb)
{
    char dir[4200], tmp[4500], path[4500], done[4600];
    req_dir(data_dir, dir, sizeof dir);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return rf_errf(eb, RF_ERR_IO, "cannot create '%s': %s", dir, strerror(errno));
    char name[96];
    snprintf(name, sizeof name, "%lld-%d", (long long)rf_wall_ms(), (int)getpid());
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, name);
    snprintf(path, sizeof path, "%s/%s.req", dir, name);
    snprintf(done, sizeof done, "%s/%s.done", dir, name);
    FILE *f = fopen(tmp, "w");
    if (!f) return rf_errf(eb, RF_ERR_IO, "cannot write '%s'", tmp);
    fprintf(f, "%d %s %d %llu %lld\n", (int)req->kind, req->endpoint, (int)req->partition,
            (unsigned long long)req->seq, (long long)req->from_ms);
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        return rf_errf(eb, RF_ERR_IO, "cannot write '%s'", path);
    for (int waited = 0; waited < RF_WEBHOOK_REQUEST_WAIT_MS; waited += 50) {
        FILE *d = fopen(done, "r");
        if (d) {
            int err = 0;
            unsigned long long n = 0;
            char msg[RF_ERRMSG_MAX] = "";
            int k = fscanf(d, "%d %llu %255[^\n]", &err, &n, msg);
            fclose(d);
            unlink(done);
            if (k < 2) return rf_errf(eb, RF_ERR_IO, "unreadable answer '%s'", done);
            *count = n;
            return err ? rf_errf(eb, (rf_err_t)err, "the relay: %s", msg) : RF_OK;
        }
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    unlink(path);
    return rf_errf(eb, RF_ERR_TIMEOUT,
                   "a relay holds the stores but did not apply the request within %d s",
                   RF_WEBHOOK_REQUEST_WAIT_MS / 1000);
}

rf_err_t rf_wh_request(const char *data_dir, const rf_wh_config_t *cfg, const rf_wh_request_t *req,
                       uint64_t *count, rf_errbuf_t *eb)
{
    *count = 0;
    int32_t ids[RF_PARTITIONS_MAX];
    int n = rf__wh_parts_list(data_dir, ids, RF_PARTITIONS_MAX);
    if (n == 0)
        return rf_errf(eb, RF_ERR_NOT_FOUND, "no webhook stores under '%s/webhooks'", data_dir);
    rf_wh_part_t *parts[RF_PARTITIONS_MAX];
    int open = 0;
    rf_err_t err = RF_OK;
    rf_store_env_t *env = rf_store_env_default();
    for (int i = 0; i < n && !err; i++) {
        err = rf__wh_part_open(env, data_dir, ids[i], RF_STORE_WRITE, false, &parts[open], eb);
        if (!err) open++;
    }
    if (err) {
        for (int i = 0; i < open; i++)
            rf__wh_part_close(parts[i]);
        if (!rf__wh_is_lock_error(eb)) return err;
        memset(eb, 0, sizeof *eb);
        return request_via_file(data_dir, req, count, eb); /* a relay runs */
    }
    err = rf__wh_request_apply(parts, open, cfg, req, count, eb);
    for (int i = 0; i < open && !err; i++)
        err = rf__wh_part_commit(parts[i], eb);
    for (int i = 0; i < open; i++)
        rf__wh_part_close(parts[i]);
    return err;
}

/* ---- reading ---------------------------------------------------------------- */

static int oldest_one(uint64_t seq, const char *v, size_t n, void *opaque)
{
    (void)seq;
    rf_wh_state_t st;
    int64_t *oldest = opaque;
    if (rf__wh_state_decode(v, n, &st) && (*oldest < 0 || st.event_ms < *oldest))
        *oldest = st.event_ms;
    return 1; /* the first pending message is the oldest of its partition */
}

static int count_one(uint64_t seq, const char *v, size_t n, void *opaque)
{
    (void)seq, (void)v, (void)n;
    ++*(uint64_t *)opaque;
    return 0;
}

rf_err_t rf_wh_store_stats(const char *data_dir, const rf_wh_config_t *cfg, rf_wh_stats_t *out,
                           rf_errbuf_t *eb)
{
    memset(out, 0, sizeof *out);
    out->lag = -1;
    out->nendpoints = cfg->nendpoints;
    for (int e = 0; e < cfg->nendpoints; e++) {
        rf_strlcpy(out->endpoints[e].id, cfg->endpoints[e].id, sizeof out->endpoints[e].id);
        out->endpoints[e].oldest_pending_ms = -1;
    }
    int32_t ids[RF_PARTITIONS_MAX];
    int n = rf__wh_parts_list(data_dir, ids, RF_PARTITIONS_MAX);
    for (int i = 0; i < n; i++) {
        rf_wh_part_t *p = NULL;
        rf_err_t err = rf__wh_part_open(rf_store_env_default(), data_dir, ids[i], RF_STORE_READONLY,
                                        false, &p, eb);
        if (err) return err;
        for (int e = 0; e < cfg->nendpoints; e++) {
            rf_wh_endpoint_stats_t *es = &out->endpoints[e];
            const char *id = cfg->endpoints[e].id;
            uint64_t d = 0, f = 0;
            rf__wh_counters_get(p, id, &d, &f);
            es->delivered += d;
            es->failed += f;
            rf__wh_scan(p, 'q', id, 0, count_one, &es->pending);
            rf__wh_scan(p, 'd', id, 0, count_one, &es->parked);
            rf__wh_scan(p, 'q', id, 0, oldest_one, &es->oldest_pending_ms);
            if (!es->disabled)
                es->disabled =
                    rf__wh_disabled_get(p, id, es->disabled_reason, sizeof es->disabled_reason);
        }
        rf__wh_part_close(p);
    }
    return RF_OK;
}

typedef struct parked_ctx {
    rf_wh_part_t *p;
    rf_wh_message_cb_t *cb;
    void *opaque;
    int stop;
} parked_ctx_t;

static int parked_one(uint64_t seq, const char *v, size_t n, void *opaque)
{
    parked_ctx_t *c = opaque;
    rf_wh_state_t st;
    if (!rf__wh_state_decode(v, n, &st)) return 0;
    rf_wh_message_info_t m = {0};
    m.partition = c->p->partition;
    m.seq = seq;
    rf_wh_msg_id(m.partition, seq, m.msg_id);
    m.event_time_ms = st.event_ms;
    m.attempts = st.attempts;
    m.first_attempt_ms = st.first_ms;
    m.last_attempt_ms = st.last_ms;
    m.last_status = st.last_status;
    rf_strlcpy(m.last_error, st.last_error, sizeof m.last_error);
    char *val = NULL, body[RF_WEBHOOK_BODY_MAX + 1] = "";
    rf_wh_hist_t h;
    rf_errbuf_t eb = {{0}};
    if (rf__wh_hist_get(c->p, seq, &val, &h, &eb) == RF_OK) {
        rf_strlcpy(m.type, rf_wh_type_name((rf_wh_type_t)h.type), sizeof m.type);
        memcpy(body, h.body, h.body_len);
        body[h.body_len] = '\0';
    }
    rocksdb_free(val);
    c->stop = c->cb(&m, body, c->opaque);
    return c->stop;
}

rf_err_t rf_wh_parked_scan(const char *data_dir, const char *endpoint, int32_t partition,
                           rf_wh_message_cb_t *cb, void *opaque, rf_errbuf_t *eb)
{
    int32_t ids[RF_PARTITIONS_MAX];
    int n = rf__wh_parts_list(data_dir, ids, RF_PARTITIONS_MAX);
    for (int i = 0; i < n; i++) {
        if (partition >= 0 && ids[i] != partition) continue;
        rf_wh_part_t *p = NULL;
        rf_err_t err = rf__wh_part_open(rf_store_env_default(), data_dir, ids[i], RF_STORE_READONLY,
                                        false, &p, eb);
        if (err) return err;
        parked_ctx_t c = {p, cb, opaque, 0};
        rf__wh_scan(p, 'd', endpoint, 0, parked_one, &c);
        rf__wh_part_close(p);
        if (c.stop) break;
    }
    return RF_OK;
}
