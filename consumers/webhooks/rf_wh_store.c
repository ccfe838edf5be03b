/* rf_wh_store.c: the webhook relay's store per ledger partition (keys and
 * values in rf_wh_int.h): opened through rf_store.h, written one synced
 * WriteBatch per poll cycle. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rf_wh_int.h"

void rf__wh_dir(const char *data_dir, char *out, size_t cap)
{
    snprintf(out, cap, "%s/webhooks", data_dir);
}

static rf_err_t mkdir_p(const char *dir, rf_errbuf_t *eb)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return rf_errf(eb, RF_ERR_IO, "cannot create '%s': %s", dir, strerror(errno));
    return RF_OK;
}

bool rf__wh_is_lock_error(const rf_errbuf_t *eb)
{
    return strstr(eb->msg, "lock") || strstr(eb->msg, "LOCK");
}

rf_err_t rf__wh_part_open(rf_store_env_t *env, const char *data_dir, int32_t p,
                          rf_store_mode_t mode, bool nosync, rf_wh_part_t **out, rf_errbuf_t *eb)
{
    *out = NULL;
    char dir[4096], path[4200];
    rf__wh_dir(data_dir, dir, sizeof dir);
    rf_err_t err;
    if (mode == RF_STORE_WRITE &&
        ((err = mkdir_p(data_dir, eb)) != RF_OK || (err = mkdir_p(dir, eb)) != RF_OK))
        return err;
    snprintf(path, sizeof path, "%s/p-%04d", dir, (int)p);
    rf_wh_part_t *w = calloc(1, sizeof *w);
    if (!w) return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    rf_store_open_conf_t c = {
        .kind = RF_STORE_WEBHOOKS, .mode = mode, .create = mode == RF_STORE_WRITE};
    if (!(w->store = rf_store_open(env, path, &c, eb))) {
        free(w);
        return RF_ERR_STORAGE;
    }
    w->partition = p;
    w->db = rf_store_db(w->store);
    w->wb = rocksdb_writebatch_create();
    w->wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(w->wopts, nosync ? 0 : 1);
    w->ropts = rocksdb_readoptions_create();
    w->next_offset = -1;
    char *e = NULL;
    size_t n = 0;
    char *v = rocksdb_get(w->db, w->ropts, "m", 1, &n, &e);
    if (e) {
        rf__wh_part_close(w);
        return rf_store_err(eb, e, "cannot read the meta of '%s'", path);
    }
    if (v && n == 16) {
        w->next_offset = (int64_t)rf_be64_get((const uint8_t *)v);
        w->last_seq = rf_be64_get((const uint8_t *)v + 8);
    } else if (v) {
        rocksdb_free(v);
        rf__wh_part_close(w);
        return rf_errf(eb, RF_ERR_CORRUPT, "'%s': meta of %zu bytes, not 16", path, n);
    }
    rocksdb_free(v);
    *out = w;
    return RF_OK;
}

void rf__wh_part_close(rf_wh_part_t *p)
{
    if (!p) return;
    if (p->wb) rocksdb_writebatch_destroy(p->wb);
    if (p->wopts) rocksdb_writeoptions_destroy(p->wopts);
    if (p->ropts) rocksdb_readoptions_destroy(p->ropts);
    rf_store_close(p->store);
    free(p);
}

rf_err_t rf__wh_part_commit(rf_wh_part_t *p, rf_errbuf_t *eb)
{
    if (!p->dirty) return RF_OK;
    char *e = NULL;
    rocksdb_write(p->db, p->wopts, p->wb, &e);
    if (e) return rf_store_err(eb, e, "webhook store p-%04d: cannot commit", (int)p->partition);
    rocksdb_writebatch_clear(p->wb);
    p->dirty = false;
    return RF_OK;
}

int rf__wh_parts_list(const char *data_dir, int32_t *out, int cap)
{
    char dir[4096];
    rf__wh_dir(data_dir, dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d) return 0;
    bool seen[RF_PARTITIONS_MAX] = {false};
    struct dirent *de;
    while ((de = readdir(d))) {
        int64_t p;
        if (strncmp(de->d_name, "p-", 2) != 0 ||
            rf_parse_i64(de->d_name + 2, 0, RF_PARTITIONS_MAX - 1, &p, "partition", NULL) != RF_OK)
            continue;
        seen[p] = true;
    }
    closedir(d);
    int n = 0;
    for (int i = 0; i < RF_PARTITIONS_MAX && n < cap; i++)
        if (seen[i]) out[n++] = i;
    return n;
}

/* ---- keys and values ---- */

size_t rf__wh_key(uint8_t *k, char space, const char *eid, uint64_t seq, bool with_seq)
{
    size_t n = 0;
    k[n++] = (uint8_t)space;
    if (eid) {
        size_t l = strlen(eid);
        RF_ASSERT(l <= RF_WEBHOOK_ID_MAX);
        k[n++] = (uint8_t)l;
        memcpy(k + n, eid, l);
        n += l;
    }
    if (with_seq) {
        rf_be64_put(k + n, seq);
        n += 8;
    }
    return n;
}

static void stage_put(rf_wh_part_t *p, const uint8_t *k, size_t kl, const void *v, size_t vl)
{
    rocksdb_writebatch_put(p->wb, (const char *)k, kl, v, vl);
    p->dirty = true;
}

void rf__wh_meta_stage(rf_wh_part_t *p)
{
    uint8_t v[16];
    rf_be64_put(v, (uint64_t)p->next_offset);
    rf_be64_put(v + 8, p->last_seq);
    stage_put(p, (const uint8_t *)"m", 1, v, sizeof v);
}

void rf__wh_hist_stage(rf_wh_part_t *p, uint64_t seq, int type, int64_t event_ms,
                       uint64_t order_key, const char *program, const char *body, size_t len)
{
    static _Thread_local char v[1 + 8 + 8 + 1 + RF_ID_MAX + RF_WEBHOOK_BODY_MAX];
    size_t pl = strlen(program);
    RF_ASSERT(pl <= RF_ID_MAX && len <= RF_WEBHOOK_BODY_MAX);
    v[0] = (char)type;
    rf_be64_put((uint8_t *)v + 1, (uint64_t)event_ms);
    rf_be64_put((uint8_t *)v + 9, order_key);
    v[17] = (char)pl;
    memcpy(v + 18, program, pl);
    memcpy(v + 18 + pl, body, len);
    uint8_t k[RF_WH_KEY_MAX];
    stage_put(p, k, rf__wh_key(k, 'h', NULL, seq, true), v, 18 + pl + len);
}

bool rf__wh_hist_decode(const char *v, size_t n, rf_wh_hist_t *h)
{
    if (n < 18) return false;
    size_t pl = (uint8_t)v[17];
    if (n < 18 + pl || pl > RF_ID_MAX || (uint8_t)v[0] >= RF_WH__TYPES) return false;
    h->type = (uint8_t)v[0];
    h->event_ms = (int64_t)rf_be64_get((const uint8_t *)v + 1);
    h->order_key = rf_be64_get((const uint8_t *)v + 9);
    memcpy(h->program, v + 18, pl);
    h->program[pl] = '\0';
    h->body = v + 18 + pl;
    h->body_len = n - 18 - pl;
    return true;
}

rf_err_t rf__wh_hist_get(rf_wh_part_t *p, uint64_t seq, char **val, rf_wh_hist_t *h,
                         rf_errbuf_t *eb)
{
    uint8_t k[RF_WH_KEY_MAX];
    size_t kl = rf__wh_key(k, 'h', NULL, seq, true), n = 0;
    char *e = NULL;
    *val = rocksdb_get(p->db, p->ropts, (const char *)k, kl, &n, &e);
    if (e) return rf_store_err(eb, e, "webhook store p-%04d: history", (int)p->partition);
    if (!*val)
        return rf_errf(eb, RF_ERR_NOT_FOUND, "p-%04d: no history of seq %llu", (int)p->partition,
                       (unsigned long long)seq);
    if (!rf__wh_hist_decode(*val, n, h)) {
        rocksdb_free(*val);
        *val = NULL;
        return rf_errf(eb, RF_ERR_CORRUPT, "p-%04d: bad history entry at seq %llu",
                       (int)p->partition, (unsigned long long)seq);
    }
    return RF_OK;
}

#define STATE_FIXED (8 + 4 + 4 + 8 + 8 + 8 + 8 + 1)

void rf__wh_state_stage(rf_wh_part_t *p, char space, const char *eid, uint64_t seq,
                        const rf_wh_state_t *st)
{
    uint8_t v[STATE_FIXED + RF_WEBHOOK_ERROR_MAX];
    size_t el = strnlen(st->last_error, RF_WEBHOOK_ERROR_MAX);
    rf_be64_put(v, st->order_key);
    rf_be32_put(v + 8, (uint32_t)st->attempts);
    rf_be32_put(v + 12, (uint32_t)st->last_status);
    rf_be64_put(v + 16, (uint64_t)st->first_ms);
    rf_be64_put(v + 24, (uint64_t)st->next_ms);
    rf_be64_put(v + 32, (uint64_t)st->last_ms);
    rf_be64_put(v + 40, (uint64_t)st->event_ms);
    v[48] = (uint8_t)el;
    memcpy(v + STATE_FIXED, st->last_error, el);
    uint8_t k[RF_WH_KEY_MAX];
    stage_put(p, k, rf__wh_key(k, space, eid, seq, true), v, STATE_FIXED + el);
}

bool rf__wh_state_decode(const char *v, size_t n, rf_wh_state_t *st)
{
    const uint8_t *u = (const uint8_t *)v;
    if (n < STATE_FIXED || n != (size_t)STATE_FIXED + u[48] || u[48] > RF_WEBHOOK_ERROR_MAX)
        return false;
    st->order_key = rf_be64_get(u);
    st->attempts = (int32_t)rf_be32_get(u + 8);
    st->last_status = (int32_t)rf_be32_get(u + 12);
    st->first_ms = (int64_t)rf_be64_get(u + 16);
    st->next_ms = (int64_t)rf_be64_get(u + 24);
    st->last_ms = (int64_t)rf_be64_get(u + 32);
    st->event_ms = (int64_t)rf_be64_get(u + 40);
    memcpy(st->last_error, u + STATE_FIXED, u[48]);
    st->last_error[u[48]] = '\0';
    return true;
}

void rf__wh_delete_stage(rf_wh_part_t *p, char space, const char *eid, uint64_t seq)
{
    uint8_t k[RF_WH_KEY_MAX];
    rocksdb_writebatch_delete(p->wb, (const char *)k, rf__wh_key(k, space, eid, seq, true));
    p->dirty = true;
}

void rf__wh_counters_stage(rf_wh_part_t *p, const char *eid, uint64_t delivered, uint64_t failed)
{
    uint8_t k[RF_WH_KEY_MAX], v[16];
    rf_be64_put(v, delivered);
    rf_be64_put(v + 8, failed);
    stage_put(p, k, rf__wh_key(k, 'c', eid, 0, false), v, sizeof v);
}

/* A small value of the store (NULL when missing or on a read error: these
 * are counters and flags, read at assignment and by operators). */
static char *get_small(rf_wh_part_t *p, char space, const char *eid, size_t *n)
{
    uint8_t k[RF_WH_KEY_MAX];
    char *e = NULL;
    char *v =
        rocksdb_get(p->db, p->ropts, (const char *)k, rf__wh_key(k, space, eid, 0, false), n, &e);
    if (e) {
        rf_log(RF_LOG_WARN, "webhooks: p-%04d: %s", (int)p->partition, e);
        rocksdb_free(e);
        return NULL;
    }
    return v;
}

void rf__wh_counters_get(rf_wh_part_t *p, const char *eid, uint64_t *delivered, uint64_t *failed)
{
    size_t n = 0;
    char *v = get_small(p, 'c', eid, &n);
    *delivered = *failed = 0;
    if (v && n == 16) {
        *delivered = rf_be64_get((const uint8_t *)v);
        *failed = rf_be64_get((const uint8_t *)v + 8);
    }
    rocksdb_free(v);
}

void rf__wh_disabled_stage(rf_wh_part_t *p, const char *eid, int64_t since_ms, const char *reason)
{
    uint8_t k[RF_WH_KEY_MAX];
    size_t kl = rf__wh_key(k, 'x', eid, 0, false);
    if (!reason) {
        rocksdb_writebatch_delete(p->wb, (const char *)k, kl);
        p->dirty = true;
        return;
    }
    char v[8 + RF_WEBHOOK_ERROR_MAX];
    size_t rl = strnlen(reason, RF_WEBHOOK_ERROR_MAX);
    rf_be64_put((uint8_t *)v, (uint64_t)since_ms);
    memcpy(v + 8, reason, rl);
    stage_put(p, k, kl, v, 8 + rl);
}

bool rf__wh_disabled_get(rf_wh_part_t *p, const char *eid, char *reason, size_t cap)
{
    size_t n = 0;
    char *v = get_small(p, 'x', eid, &n);
    if (!v) return false;
    if (n >= 8 && cap > 0) {
        size_t rl = n - 8 < cap - 1 ? n - 8 : cap - 1;
        memcpy(reason, v + 8, rl);
        reason[rl] = '\0';
    }
    rocksdb_free(v);
    return true;
}

void rf__wh_scan(rf_wh_part_t *p, char space, const char *eid, uint64_t from_seq,
                 rf__wh_scan_cb_t *cb, void *opaque)
{
    uint8_t k[RF_WH_KEY_MAX];
    size_t pl = rf__wh_key(k, space, eid, 0, false);
    size_t kl = rf__wh_key(k, space, eid, from_seq, true);
    rocksdb_iterator_t *it = rocksdb_create_iterator(p->db, p->ropts);
    for (rocksdb_iter_seek(it, (const char *)k, kl); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t n = 0, vl = 0;
        const char *key = rocksdb_iter_key(it, &n);
        if (n != pl + 8 || memcmp(key, k, pl) != 0) break;
        const char *v = rocksdb_iter_value(it, &vl);
        if (cb(rf_be64_get((const uint8_t *)key + pl), v, vl, opaque)) break;
    }
    char *e = NULL;
    rocksdb_iter_get_error(it, &e);
    if (e) {
        rf_log(RF_LOG_ERROR, "webhooks: p-%04d: scan: %s", (int)p->partition, e);
        rocksdb_free(e);
    }
    rocksdb_iter_destroy(it);
}
