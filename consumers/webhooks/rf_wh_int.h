/* rf_wh_int.h: the webhook relay's internals shared by its files: the
 * partition store (keys and values), operator requests. Not installed. */
#ifndef RF_WH_INT_H
#define RF_WH_INT_H

#include <rocksdb/c.h>

#include "rf_store.h"
#include "rf_webhooks.h"

/* A relay store per ledger partition, DATA/webhooks/p-NNNN:
 *   "m"                    meta: next offset (i64), last seq seen (u64)
 *   "h" seq                history of every record that maps to a type:
 *                          type u8, event time i64, order key u64,
 *                          program (u8 length + bytes), then the body
 *   "q" eid seq            pending message of endpoint eid (state below)
 *   "d" eid seq            parked message (dead letter) of endpoint eid
 *   "c" eid                counters: delivered u64, failed attempts u64
 *   "x" eid                disabled: since ms i64, then the reason
 * eid is u8 length + the endpoint id; integers big-endian, so keys sort by
 * seq. Everything of a poll cycle (new messages, outcomes, the offset) is
 * one WriteBatch per store, synced. */
typedef struct rf_wh_part {
    int32_t partition;
    rf_store_t *store;
    rocksdb_t *db;
    rocksdb_writebatch_t *wb;
    rocksdb_writeoptions_t *wopts;
    rocksdb_readoptions_t *ropts;
    bool dirty;
    int64_t next_offset; /* -1: nothing consumed yet */
    uint64_t last_seq;
} rf_wh_part_t;

/* A message's delivery state ("q" and "d" values). */
typedef struct rf_wh_state {
    uint64_t order_key;
    int64_t event_ms; /* the record's event time */
    int32_t attempts;
    int32_t last_status;
    int64_t first_ms; /* first attempt (0: none yet) */
    int64_t next_ms;  /* next attempt due (pending) */
    int64_t last_ms;  /* last attempt */
    char last_error[RF_WEBHOOK_ERROR_MAX + 1];
} rf_wh_state_t;

/* A history entry's header ("h" values, before the body). */
typedef struct rf_wh_hist {
    int type;
    int64_t event_ms;
    uint64_t order_key;
    char program[RF_ID_BUF];
    const char *body; /* into the value read */
    size_t body_len;
} rf_wh_hist_t;

#define RF_WH_KEY_MAX (2 + RF_WEBHOOK_ID_MAX + 8)

/* rf_wh_store.c */
rf_err_t rf__wh_part_open(rf_store_env_t *env, const char *data_dir, int32_t p,
                          rf_store_mode_t mode, bool nosync, rf_wh_part_t **out, rf_errbuf_t *eb);
void rf__wh_part_close(rf_wh_part_t *p); /* drops what is not committed; NULL: no-op */
rf_err_t rf__wh_part_commit(rf_wh_part_t *p, rf_errbuf_t *eb);
/* The partitions that have a store under data_dir (ascending); count. */
int rf__wh_parts_list(const char *data_dir, int32_t *out, int cap);
/* True when eb holds RocksDB's "lock held by another process" error. */
bool rf__wh_is_lock_error(const rf_errbuf_t *eb);
void rf__wh_dir(const char *data_dir, char *out, size_t cap); /* DATA/webhooks */

size_t rf__wh_key(uint8_t *k, char space, const char *eid, uint64_t seq, bool with_seq);
void rf__wh_meta_stage(rf_wh_part_t *p);
void rf__wh_hist_stage(rf_wh_part_t *p, uint64_t seq, int type, int64_t event_ms,
                       uint64_t order_key, const char *program, const char *body, size_t len);
/* Reads a history entry; *val is RocksDB's (free with rocksdb_free); the
 * hist points into it. RF_ERR_NOT_FOUND when missing. */
rf_err_t rf__wh_hist_get(rf_wh_part_t *p, uint64_t seq, char **val, rf_wh_hist_t *h,
                         rf_errbuf_t *eb);
bool rf__wh_hist_decode(const char *v, size_t n, rf_wh_hist_t *h);
void rf__wh_state_stage(rf_wh_part_t *p, char space, const char *eid, uint64_t seq,
                        const rf_wh_state_t *st);
void rf__wh_delete_stage(rf_wh_part_t *p, char space, const char *eid, uint64_t seq);
bool rf__wh_state_decode(const char *v, size_t n, rf_wh_state_t *st);
void rf__wh_counters_stage(rf_wh_part_t *p, const char *eid, uint64_t delivered, uint64_t failed);
void rf__wh_counters_get(rf_wh_part_t *p, const char *eid, uint64_t *delivered, uint64_t *failed);
void rf__wh_disabled_stage(rf_wh_part_t *p, const char *eid, int64_t since_ms, const char *reason);
/* Whether the store says eid is disabled (reason into out, cap bytes). */
bool rf__wh_disabled_get(rf_wh_part_t *p, const char *eid, char *reason, size_t cap);

/* Calls cb for each key of space (and eid) from seq on, in seq order;
 * cb returning non-zero stops. */
typedef int(rf__wh_scan_cb_t)(uint64_t seq, const char *val, size_t len, void *opaque);
void rf__wh_scan(rf_wh_part_t *p, char space, const char *eid, uint64_t from_seq,
                 rf__wh_scan_cb_t *cb, void *opaque);

/* rf_wh_ops.c: applies a request to the open stores (staged, not
 * committed). */
rf_err_t rf__wh_request_apply(rf_wh_part_t **parts, int nparts, const rf_wh_config_t *cfg,
                              const rf_wh_request_t *req, uint64_t *count, rf_errbuf_t *eb);
/* Request files in DATA/webhooks/requests: the relay's side. Reads the
 * oldest pending request into req (its file name into name); false: none. */
bool rf__wh_request_next(const char *data_dir, rf_wh_request_t *req, char *name, size_t cap);
void rf__wh_request_done(const char *data_dir, const char *name, rf_err_t err, uint64_t count,
                         const char *msg);

#endif
