/* rf_project_int.h: internals shared by the projection's files (store, read
 * models, worker) and the query side: key layout, periods, score encoding.
 * Not a public header. The layout is documented in docs/projections.md. */
#ifndef RF_PROJECT_INT_H
#define RF_PROJECT_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rocksdb/c.h>

#include "rf_project.h"
#include "rf_store.h"
#include "rf_time.h"

/* Key prefixes (first byte of every key). */
#define RF__PK_META      'm' /* 'm' -> meta value (RF__META_LEN) */
#define RF__PK_NAME      'N' /* 'N' name -> be32 id: interned program and series names */
#define RF__PK_BAL       'B' /* 'B' owner \0 program \0 asset -> RF_BUCKET__COUNT x be64 */
#define RF__PK_CODE      'K' /* 'K' prog(4) user -> code */
#define RF__PK_CODEREV   'k' /* 'k' prog(4) code -> user (clicks name a code) */
#define RF__PK_REWARD    'W' /* 'W' be64(seq / 16) -> reward memos of 16 seqs (voids, clawbacks) */
#define RF__PK_USER      'U' /* 'U' series(4) user -> summary of 16-byte entries (below) */
#define RF__PK_USER_OLD  'u' /* 'u' board(9) user -> be64 score, be64 reached (older periods) */
#define RF__PK_LB        'L' /* 'L' board(9) SK user -> "" (board order) */
#define RF__PK_RANK      'R' /* 'R' board(9) d(1) SK[0..d-1) -> rank node (below); d = 0: users */
#define RF__PK_STAT      'S' /* 'S' prog(4) period(5) metric(1) channel \0 tail -> be64 */
#define RF__PK_FLAGS     'F' /* 'F' prog(4) user -> summary of 1-byte flags, profile (below) */
#define RF__PK_FLAGS_OLD 'f' /* 'f' prog(4) period(5) user -> flags(1) (older periods) */
#define RF__PK_LANDING   'C' /* 'C' prog(4) -> "<attribution days> <landing url>"; "" when none */
#define RF__PK_REVIEW    'Q' /* 'Q' prog(4) be64(held ms) be64(seq) -> review entry (below) */
#define RF__PK_REVIDX    'q' /* 'q' prog(4) friend -> be64(held ms) be64(seq) of its 'Q' key */
#define RF__PK_FRIEND    'P' /* 'P' prog(4) referrer \0 be16(slot) -> friend entry (below) */
#define RF__PK_FRIENDIX  'p' /* 'p' prog(4) friend -> be64 n, referrer: its 'P' entry */

/* A review queue entry: friend, referrer, reason and checks, each
 * NUL-terminated, be32 rewards held (posted while the friend was held), then
 * per asset (at most RF_REVIEW_ASSETS_MAX) asset NUL-terminated and be64
 * amount held. */
#define RF__REVIEW_VAL_MAX                                                                         \
    (4 * (RF_FACT_VAL_MAX + 1) + 4 + RF_REVIEW_ASSETS_MAX * (RF_ASSET_MAX + 1 + 8))

/* A referrer's friends: 'P' prog(4) referrer \0 -> be64 friends ever
 * attributed to the referrer; the n-th friend attributed to a referrer (n from 0)
 * lives in slot n % RF_REFERRAL_FRIENDS_MAX, replacing friend n - MAX. Entry:
 * be64 n, be64 signed up ms, be64 hold until ms, be64 amount, status (below),
 * flags, asset \0, friend. The referrer's reward for the friend sets hold,
 * amount and asset. */
enum {
    RF__FS_SIGNED_UP = 1,
    RF__FS_PURCHASED = 2,
    RF__FS_PENDING = 3,   /* the referrer's reward is pending until its hold */
    RF__FS_AVAILABLE = 4, /* ... matured */
    RF__FS_REVERSED = 5,  /* ... voided or clawed back */
};
#define RF__FF_IN_REVIEW   1 /* the friend is held for fraud review */
#define RF__FRIEND_FIXED   34
#define RF__FRIEND_VAL_MAX (RF__FRIEND_FIXED + RF_ASSET_MAX + 1 + RF_FACT_VAL_MAX)

/* 2: per-user period summaries ('U', 'F'); 3: rank nodes, the user profile in
 * 'F' (no more 'H' and 'A' keys), reward memos in blocks; 4: the review queue
 * ('Q', 'q') and a referrer's friends ('P', 'p'): a store of layout 3 would
 * miss the holds and signups it applied before */
#define RF__META_VERSION 4
#define RF__META_LEN     65 /* version 1, partition 4, 7 x 8, name id 4 */
#define RF__BAL_VAL_LEN  (8 * RF_BUCKET__COUNT)

/* Names interned to 4-byte ids ("p\0<program>", "s\0<program>\0<metric>\0<asset>"). */
#define RF__NAME_MAX     (2 + RF_ID_BUF + 2 + 2 + RF_ASSET_MAX + 1)
#define RF__NAME_PROGRAM 'p'
#define RF__NAME_SERIES  's'

/* Leaderboard metrics (a series is program x metric x asset). */
#define RF__METRIC_REFERRALS 'r'
#define RF__METRIC_VALUE     'v'

/* ---- periods (UTC, from event time) -------------------------------------- */
typedef enum rf__ptype {
    RF__P_ALL = 'a',
    RF__P_DAY = 'd',   /* value yyyymmdd */
    RF__P_WEEK = 'w',  /* value isoyear * 100 + isoweek */
    RF__P_MONTH = 'm', /* value yyyy * 100 + mm */
} rf__ptype_t;

typedef struct rf__period {
    uint8_t type;   /* rf__ptype_t */
    uint32_t value; /* 0 for all */
} rf__period_t;
#define RF__PERIOD_LEN      5
#define RF__PERIOD_TEXT_MAX 24

/* The period of type containing event time ms. */
rf__period_t rf__pj_period_of(rf__ptype_t type, int64_t ms);
/* The four periods of ms: all, day, week, month. */
void rf__pj_periods_of(int64_t ms, rf__period_t out[4]);
/* Parses "all", "day:2026-01-05", "week:2026-W02", "month:2026-01"; "day",
 * "week", "month" alone mean the period holding now_ms. RF_ERR_BAD_INPUT. */
rf_err_t rf__pj_period_parse(const char *s, int64_t now_ms, rf__period_t *out, rf_errbuf_t *eb);
/* Inverse of parse ("all", "day:2026-01-05", ...). */
void rf__pj_period_format(rf__period_t p, char out[RF__PERIOD_TEXT_MAX]);
void rf__pj_period_put(uint8_t *k, rf__period_t p);

/* ---- leaderboard order key (SK) ------------------------------------------
 * SK = desc(score) || asc(reached): byte-wise order = higher score first, then
 * earlier reached seq. desc(s) = [8 - n] then the n significant bytes of s
 * inverted; asc(r) = [n] then the n significant bytes of r (n = 0..8). Both
 * are prefix-free, so SK is too; typical length 5-8 bytes. */
#define RF__SK_MAX    18
#define RF__BOARD_LEN 9 /* series(4) period(5) */
size_t rf__pj_sk_encode(int64_t score, uint64_t reached, uint8_t out[RF__SK_MAX]);
/* Decodes the SK at the start of buf; returns its length or 0 if malformed. */
size_t rf__pj_sk_decode(const uint8_t *buf, size_t len, int64_t *score, uint64_t *reached);

/* Rank node 'R' board d SK[0..d-1) (1 <= d < len(SK)): for each byte b that
 * follows SK[0..d-1) in an entry's order key, the number of entries whose key
 * starts with SK[0..d-1) b, as (b, be32 count) pairs sorted by b (no zero
 * counts). 'R' board 0 -> be64: the board's users. */
#define RF__RNODE_ENTRY 5
#define RF__RNODE_MAX   (256 * RF__RNODE_ENTRY)

/* Reward memos: one 'W' key per block of RF__MEMO_BLOCK seqs, entries of at
 * most 2 + 1 + 8 + RF_ID_BUF + RF_ID_MAX bytes each. */
#define RF__MEMO_BLOCK     16
#define RF__MEMO_BLOCK_MAX (RF__MEMO_BLOCK * (2 + 1 + 8 + RF_ID_BUF + RF_ID_MAX))

/* ---- funnel metrics (stable ids: they are stored in keys) ----------------- */
typedef enum rf__metric {
    RF__M_SHARES = 1,
    RF__M_CLICKS = 2,
    RF__M_SIGNUPS = 3,
    RF__M_ATTRIBUTED = 4, /* attributed signups */
    RF__M_PURCHASES = 5,
    RF__M_REVENUE = 6, /* tail: currency */
    RF__M_REF_PURCHASES = 7,
    RF__M_REF_REVENUE = 8,       /* tail: currency */
    RF__M_CUSTOMERS = 9,         /* distinct purchasers */
    RF__M_REF_CUSTOMERS = 10,    /* distinct referred purchasers */
    RF__M_CUST_WITH_CODE = 11,   /* customers holding a code */
    RF__M_CUST_REFERRING = 12,   /* customers who referred someone */
    RF__M_REFERRERS = 13,        /* distinct referrers with >= 1 successful referral */
    RF__M_REPEAT_REFERRERS = 14, /* ... with >= 2 */
    RF__M_REWARDS = 15,          /* reward records */
    RF__M_REFERRER_REWARDS = 16, /* successful referrals */
    RF__M_FRIEND_REWARDS = 17,
    RF__M_BONUS_REWARDS = 18, /* milestones */
    RF__M_REWARD_COST = 19,   /* tail: asset; net of voids and clawbacks */
    RF__M_VOIDS = 20,
    RF__M_CLAWBACKS = 21,
    RF__M_REJECTED = 22,     /* records of kind rejected */
    RF__M_FRAUD_REJECT = 23, /* tail: check */
    RF__M_FRAUD_REVIEW = 24, /* tail: check */
    RF__M_CODES = 25,        /* codes issued */
    RF__M_REFUNDS = 26,
    RF__M_REDEMPTIONS = 27,
    RF__M__MAX = 28,
} rf__metric_t;
const char *rf__pj_metric_name(int m);

/* ---- per-user period summaries ('U' boards, 'F' flags) --------------------
 * A user's entries of the four periods of a record (all, day, week, month) live
 * in ONE key: the all-time entry and the latest day, week and month seen for
 * the user. An entry of an older period (time is not monotonic: reversals are
 * booked in the reward's periods, events arrive late) lives in a per-period
 * "old" key: when a slot moves to a later period, its previous entry is
 * spilled there first. So a period's entry is in the summary when the slot
 * holds that period, absent when the slot is empty or holds an earlier
 * period, else in the old key. Value: mask(1), then 4 x (be32 period value,
 * payload); bit i of mask = slot i (rf__pj_sum_index) holds an entry. */
#define RF__SUM_PAYLOAD_MAX 16
typedef struct rf__pj_sum {
    uint8_t mask;
    uint32_t value[4];
    uint8_t payload[4][RF__SUM_PAYLOAD_MAX];
} rf__pj_sum_t;
#define RF__SUM_LEN(plen) (1 + 4 * (4 + (plen)))
/* Slot of a period type: all 0, day 1, week 2, month 3. */
int rf__pj_sum_index(uint8_t ptype);
size_t rf__pj_sum_encode(const rf__pj_sum_t *s, size_t plen, uint8_t *out);
/* False when v is not a summary of plen-byte payloads. */
bool rf__pj_sum_decode(const uint8_t *v, size_t vl, size_t plen, rf__pj_sum_t *out);
typedef enum rf__sum_where {
    RF__SUM_ABSENT, /* no entry (and none in the old key) */
    RF__SUM_HERE,   /* in the summary's slot */
    RF__SUM_OLD,    /* in (or for) the per-period old key */
} rf__sum_where_t;
/* Where the entry of period per is. */
rf__sum_where_t rf__pj_sum_where(const rf__pj_sum_t *s, rf__period_t per);

/* Per-user flags of a period ('F'): distinct counts count the first time only. */
#define RF__F_CUSTOMER          1
#define RF__F_REF_CUSTOMER      2
#define RF__F_CODE_COUNTED      4
#define RF__F_REFERRING_COUNTED 8
/* All-time flags only: facts about the user that a purchase needs, kept in the
 * key the purchase reads anyway instead of probing 'K' and 'U' keys that
 * mostly do not exist (new customers). */
#define RF__F_USER_HAS_CODE 16 /* the user holds a code ('K' was written) */
#define RF__F_USER_REFERRED 32 /* the user has had a successful referral */

/* The user's profile: after the 'F' summary, for each field in order, a
 * length byte and the bytes (no tail: every field empty). The referrer
 * fields are read with the flags of the same stories, so they add no key. */
#define RF__PROF_CHANNEL   0 /* channel of the user's last share (as a referrer) */
#define RF__PROF_REFERRER  1 /* referrer of the user's attributed signup */
#define RF__PROF_FIELDS    2
#define RF__PROF_FIELD_MAX RF_FACT_VAL_MAX /* fits the length byte */
#define RF__PROF_TAIL_MAX  (RF__PROF_FIELDS * (1 + RF__PROF_FIELD_MAX))

/* ---- where the stores live ------------------------------------------------ */
/* Every open (writer, read-only, secondary) goes through common/rf_store.h
 * with RF_STORE_PROJECTION: one profile of options, one cache per env. */
/* "<data>/project/p-NNNN"; RF_ERR_BAD_INPUT when it does not fit. */
rf_err_t rf__project_part_path(const char *data_dir, int32_t partition, char *out, size_t cap);
/* Meta value <-> struct. */
void rf__pj_meta_encode(const rf_projection_meta_t *m, uint32_t next_name_id,
                        uint8_t out[RF__META_LEN]);
rf_err_t rf__pj_meta_decode(const uint8_t *v, size_t len, rf_projection_meta_t *m,
                            uint32_t *next_name_id);

/* Checked int64 add (counters, balances): false on overflow. */
static inline bool rf__pj_add_ok(int64_t a, int64_t b, int64_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

/* ---- the store (rf_project_store.c), used by the read models ------------- */
typedef struct rf__pc rf__pc_t; /* write-back cache */

/* The background writer of a projection (rf_projection_commit_start): one
 * batch in flight at a time, written and synced by its own thread while the
 * owner applies the next records. */
typedef struct rf__pj_writer {
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    rocksdb_writebatch_t *wb; /* the batch in flight */
    bool busy;                /* wb is being written */
    bool stop;
    char *err; /* the last write's error (RocksDB's message), taken by the owner */
} rf__pj_writer_t;

/* Deferred counter adds (rf_project_apply.c): the funnel counters' deltas of
 * the open batch, keyed by their 'S' key; they reach the cache at commit. */
typedef struct rf__dq rf__dq_t;

struct rf_projection {
    rf_store_t *store; /* owns db and its options */
    rocksdb_t *db;     /* the store's, valid while it is open */
    rocksdb_writeoptions_t *wopts;
    rocksdb_readoptions_t *ropts;
    rocksdb_writebatch_t *wb; /* the batch being built */
    rf__pj_writer_t writer;
    rf__pc_t *cache;
    rf__dq_t *dq; /* NULL until the first deferred add */
    int32_t partition;
    rf_projection_meta_t meta;   /* staged (in memory, includes the open batch) */
    rf_projection_meta_t stored; /* as of the last batch handed to the writer */
    uint32_t next_name_id;       /* staged */
    uint32_t stored_name_id;
    bool dirty;      /* the open batch has changes */
    rf_err_t failed; /* sticky storage error inside the batch */
    char failmsg[RF_ERRMSG_MAX];
};

/* A key's place in the cache (loaded from RocksDB on a miss): read-modify-
 * write costs one lookup. Valid until the next commit. */
typedef struct pc_entry rf__pj_slot_t;
rf_err_t rf__pj_slot(rf_projection_t *p, const uint8_t *k, size_t kl, rf__pj_slot_t **slot);
/* The same for a key the caller knows is not in RocksDB (it implies a seq
 * above the last commit's applied seq): no read on a cache miss. Builds
 * without NDEBUG check the claim. */
rf_err_t rf__pj_slot_new(rf_projection_t *p, const uint8_t *k, size_t kl, rf__pj_slot_t **slot);
/* False when the key is absent. *val is valid until the slot changes. */
bool rf__pj_slot_value(const rf__pj_slot_t *s, const uint8_t **val, size_t *vl);
void rf__pj_slot_set(rf_projection_t *p, rf__pj_slot_t *s, const void *v, size_t vl);
void rf__pj_slot_del(rf_projection_t *p, rf__pj_slot_t *s);

/* Point operations through the cache (read-your-writes). get returns
 * RF_ERR_NOT_FOUND when absent; *val is valid until the next put/del/commit. */
rf_err_t rf__pj_get(rf_projection_t *p, const uint8_t *k, size_t kl, const uint8_t **val,
                    size_t *vl);
void rf__pj_put(rf_projection_t *p, const uint8_t *k, size_t kl, const void *v, size_t vl);
void rf__pj_del(rf_projection_t *p, const uint8_t *k, size_t kl);
/* Adds delta to a be64 counter (absent = 0); a counter reaching 0 is deleted. */
rf_err_t rf__pj_add(rf_projection_t *p, const uint8_t *k, size_t kl, int64_t delta, int64_t *after);
/* Records a storage failure (sticky: the open batch is lost, the owner must
 * close); err (malloc'ed, may be NULL) is freed. Returns RF_ERR_STORAGE. */
rf_err_t rf__pj_fail(rf_projection_t *p, const char *what, char *err);
/* Marks a slot dirty as it is: the commit writes its value (a delete when
 * absent) even when no change of the batch is left in it. */
void rf__pj_slot_touch(rf_projection_t *p, rf__pj_slot_t *s);
/* A counter add (as rf__pj_add) that no read of the open batch needs: it
 * gathers with the key's other adds and reaches the cache at commit
 * (rf__pj_dq_flush). The key must never be read while applying. */
rf_err_t rf__pj_add_later(rf_projection_t *p, const uint8_t *k, size_t kl, int64_t delta);
/* Applies the gathered adds to the cache, each key once: the stored result is
 * that of rf__pj_add per delta (a key with a non-zero delta is written, a
 * counter reaching 0 deleted). Called by the commit before it builds the batch. */
rf_err_t rf__pj_dq_flush(rf_projection_t *p);
/* Keys gathered in the open batch (they count toward the cache's bound). */
size_t rf__pj_dq_count(const rf_projection_t *p);
void rf__pj_dq_free(rf__dq_t *dq);

/* The id of an interned name, creating it when create. RF_ERR_NOT_FOUND. */
rf_err_t rf__pj_intern(rf_projection_t *p, const char *name, size_t nlen, bool create,
                       uint32_t *id);

/* The read models (rf_project_apply.c): stage one record's changes. */
rf_err_t rf__project_apply_models(rf_projection_t *p, const rf_record_t *rec, rf_errbuf_t *eb);

/* Name builders (return the length). */
size_t rf__pj_name_program(char out[RF__NAME_MAX], const char *program);
size_t rf__pj_name_series(char out[RF__NAME_MAX], const char *program, char metric,
                          const char *asset);

/* A hash of a store key for the in-memory tables (rf_project_store.c). */
uint32_t rf__pj_key_hash(const uint8_t *k, size_t n);

#endif
