/* rf_rules_int.h: internals shared by the rules' source files: the compiled
 * program, the per-ledger cache, and the fixed-size state values under 'x'. */
#ifndef RF_RULES_INT_H
#define RF_RULES_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "rf_rules.h"

/* ---- compiled program (rf_rules_config.c) ---- */

typedef enum rf__reward_type {
    RF__RW_NONE = 0,
    RF__RW_FIXED,
    RF__RW_PERCENT,
    RF__RW_COUPON,
    RF__RW_PRODUCT,
} rf__reward_type_t;

typedef struct rf__reward_rule {
    uint8_t type;         /* rf__reward_type_t */
    int64_t amount_minor; /* fixed; coupon/product face value */
    int64_t percent_bp;   /* percent */
    int64_t max_minor;    /* percent: upper bound; -1 = none */
    char asset[RF_ASSET_MAX + 1];
    char sku[RF_ID_BUF];
} rf__reward_rule_t;

typedef enum rf__action {
    RF__ACT_OFF = 0,
    RF__ACT_REJECT,
    RF__ACT_REVIEW,
} rf__action_t;

typedef struct rf__check {
    uint8_t action;    /* rf__action_t */
    int64_t max;       /* ip_cluster max_signups, velocity max_referrals */
    int64_t window_ms; /* ip_cluster, velocity window; fast_signup minimum */
} rf__check_t;

typedef enum rf__period {
    RF__PERIOD_MONTH = 0,
    RF__PERIOD_YEAR,
    RF__PERIOD_ALL,
} rf__period_t;

typedef struct rf__tier {
    int64_t min_referrals;
    rf__reward_rule_t reward;
} rf__tier_t;

typedef struct rf__milestone {
    int64_t referrals;
    rf__reward_rule_t bonus;
} rf__milestone_t;

typedef struct rf__prog {
    char id[RF_ID_BUF];
    int32_t version;
    char name[RF_TEXT_MAX + 1];
    char currency[RF_ASSET_MAX + 1];
    bool first_touch;
    int64_t attr_window_ms;
    bool first_purchase_only;
    int64_t min_order_minor;
    int64_t qual_window_ms;
    rf__reward_rule_t referrer;
    rf__reward_rule_t friend_;
    uint32_t ntiers; /* sorted by min_referrals ascending */
    rf__tier_t tiers[RF_RULES_TIERS_MAX];
    uint32_t nmilestones;
    rf__milestone_t milestones[RF_RULES_MILESTONES_MAX];
    uint8_t cap_period;   /* rf__period_t */
    int64_t cap_count;    /* 0 = no cap */
    int64_t cap_value;    /* 0 = no cap */
    bool cap_reduce;      /* on_exceed reduce (else refuse) */
    int64_t budget_minor; /* 0 = unlimited */
    int64_t hold_ms;
    rf__check_t self_ref, ip_cluster, velocity, fast_signup, dup_order;
} rf__prog_t;

/* Parses and validates rules JSON into p (id and version set by caller). */
rf_err_t rf__prog_parse(const char *json, rf__prog_t *p, rf_errbuf_t *eb);
const char *rf__reward_type_name(uint8_t type);
const char *rf__action_name(uint8_t action);

/* ---- state keys and values ---- */

typedef struct rf__scache rf__scache_t; /* rf_rules_state.c */

/* The longest state key: 'x' tag and three ids, a time, a reward id. */
#define RF__KEY_MAX (2 + 3 * RF_ID_BUF + 8 + RF_UUID_STR_LEN + 1)

/* Tags after 'x' (docs/programs.md, "State"). A program is stored twice, by
 * fold_program (rf_rules.c) only: its current version (what the fold reads
 * on a cache miss, one get; `refold program show` lists them with one range
 * scan) and every version (`--history`); the current one cannot be found
 * among the versions without a backward seek, which rf_fold.h has not. */
#define RF__X_VERSION  'v' /* prog -> be32 version || rules json (current) */
#define RF__X_HISTORY  'V' /* prog \0 be32 version -> rules json */
#define RF__X_CODE     'c' /* prog \0 code -> referrer */
#define RF__X_REFCODE  'r' /* prog \0 referrer -> code */
#define RF__X_CLICKS   'k' /* prog \0 visitor -> rf__click_t (the last click) */
#define RF__X_FIRST    'f' /* prog \0 visitor \0 be64 time -> code (first_touch programs) */
#define RF__X_USER     'u' /* prog \0 user -> rf__user_t */
#define RF__X_ORDER    'o' /* prog \0 order -> rf__order_t */
#define RF__X_REWARD   'w' /* prog \0 friend \0 reward id -> rf__reward_t */
#define RF__X_HOLD     'H' /* be64 hold_until || prog \0 friend \0 reward id -> "" */
#define RF__X_CAP      'C' /* prog \0 referrer \0 be32 period -> rf__capstate_t */
#define RF__X_BUDGET   'B' /* prog \0 asset -> int64 granted */
#define RF__X_IP       'i' /* prog \0 ip hash -> rf__ring_t */
#define RF__X_VELOCITY 'e' /* prog \0 referrer -> rf__ring_t */
#define RF__X_COUPON   'Q' /* prog \0 coupon code -> reward id */
#define RF__X_REQUEST  'R' /* prog \0 user \0 request id -> rf__request_t (applied redemptions) */

#define RF__STATE_FMT 1

/* State access through the write-through cache (rf_rules_state.c): the
 * same contract as rf_fold_get/put/del. Every read and write of an 'x' value
 * goes through these, but for the hold index (read only by scans) and the
 * programs ('v', 'V': read once into the compiled-rules cache, rf__prog_get),
 * which bypass them, always both ways.
 * The engine frees the whole rules cache when it drops a batch. */
rf_err_t rf__sget(rf_fold_ctx_t *ctx, const uint8_t *k, size_t klen, void *val, size_t cap,
                  size_t *vlen);
rf_err_t rf__sput(rf_fold_ctx_t *ctx, const uint8_t *k, size_t klen, const void *val, size_t vlen);
rf_err_t rf__sdel(rf_fold_ctx_t *ctx, const uint8_t *k, size_t klen);
void rf__scache_free(rf__scache_t *sc);

/* 'x' tag a [\0 b [\0 c]] (b, c may be NULL); returns the length. */
size_t rf__key(uint8_t *k, char tag, const char *a, const char *b, const char *c);

/* Signed event times in keys: big-endian with the sign bit flipped, so they
 * sort numerically. */
static inline void rf__put_time(uint8_t *p, int64_t t)
{
    rf_be64_put(p, (uint64_t)t ^ (1ULL << 63));
}
static inline int64_t rf__get_time(const uint8_t *p)
{
    return (int64_t)(rf_be64_get(p) ^ (1ULL << 63));
}

/* Reads a fixed-size value: *found false when absent; RF_ERR_CORRUPT when the
 * stored size differs. */
rf_err_t rf__get_fixed(rf_fold_ctx_t *ctx, const uint8_t *k, size_t klen, void *val, size_t size,
                       bool *found);

enum {
    RF__U_SIGNED_UP = 1, /* a Signup (or a guest purchase with a code) was folded */
    RF__U_EMAIL = 2,
    RF__U_DEVICE = 4,
    RF__U_QUALIFIED = 8,   /* the referral qualified (counted as successful) */
    RF__U_ATTRIBUTED = 16, /* attribution decided (referred, refused or rejected) */
};

typedef enum rf__status {
    RF__ST_NONE = 0, /* not referred */
    RF__ST_OK,       /* referred, rewards flow */
    RF__ST_REVIEW,   /* referred, held for review */
    RF__ST_REJECTED, /* referral rejected (fraud check or review) */
} rf__status_t;

/* One user of a program, in both roles (friend and referrer). */
typedef struct rf__user {
    uint8_t fmt;
    uint8_t flags;
    uint8_t status;      /* rf__status_t of this user's own referral */
    uint8_t npay;        /* payment hashes stored (ring) */
    uint8_t nqual;       /* rewarded purchases of this referral */
    uint8_t nmilestones; /* milestones paid to this user as referrer */
    uint8_t pad[2];
    int64_t signup_ms;
    int64_t click_ms;   /* attributed click time; -1 none */
    int64_t purchases;  /* purchases folded for this user */
    int64_t successful; /* as referrer: successful referrals */
    char referrer[RF_ID_BUF];
    char qual_order[RF_ID_BUF]; /* the first rewarded order (un-qualified by its full refund) */
    uint8_t email[32];
    uint8_t device[32];
    uint8_t pay[RF_RULES_PAYMENT_HASHES][32];
    int64_t milestones_paid[RF_RULES_MILESTONES_MAX];
    char review_reason[48];
} rf__user_t;

typedef enum rf__role {
    RF__ROLE_REFERRER = 0,
    RF__ROLE_FRIEND,
    RF__ROLE_MILESTONE,
} rf__role_t;
const char *rf__role_name(uint8_t role);

typedef enum rf__rstatus {
    RF__RS_PENDING = 0,
    RF__RS_MATURED,
    RF__RS_REVERSED, /* fully voided or clawed back */
} rf__rstatus_t;

/* One posted reward. */
typedef struct rf__reward {
    uint8_t fmt;
    uint8_t status;      /* rf__rstatus_t */
    uint8_t role;        /* rf__role_t */
    uint8_t review_wait; /* parked: its hold passed while held for review (not indexed) */
    uint8_t held;        /* posted or flagged while the referral is in review */
    uint8_t pad[3];
    int32_t rule_version;
    int64_t amount;   /* posted */
    int64_t reversed; /* voided or clawed back so far */
    int64_t hold_until_ms;
    int64_t milestone; /* role milestone: its referrals count */
    uint64_t seq;      /* the reward record */
    char owner[RF_ID_BUF];
    char asset[RF_ASSET_MAX + 1];
    char friend_[RF_ID_BUF];
    char referrer[RF_ID_BUF];
    char order[RF_ID_BUF];
    char id[RF_UUID_STR_LEN + 1];
} rf__reward_t;

#define RF__ORDER_REWARDS 3
typedef struct rf__order {
    uint8_t fmt;
    uint8_t nrewards;
    uint8_t qualifying; /* this order made the referral successful */
    uint8_t pad[5];
    int64_t amount;
    int64_t refunded;
    int64_t time_ms;
    char user[RF_ID_BUF];
    char currency[RF_ASSET_MAX + 1];
    char rewards[RF__ORDER_REWARDS][RF_UUID_STR_LEN + 1];
} rf__order_t;

/* A visitor's last click (written blind: a click costs no read). */
typedef struct rf__click {
    uint8_t fmt;
    uint8_t pad[7];
    int64_t time_ms;
    char code[RF_ID_BUF]; /* its referrer: the code's owner (codes never move) */
} rf__click_t;

/* An applied Redemption's request id (its idempotency key): what it
 * redeemed and its record, to tell a retry (duplicate) from a conflict. */
typedef struct rf__request {
    uint8_t fmt;
    uint8_t pad[7];
    int64_t amount;
    uint64_t seq; /* the redemption record */
    char asset[RF_ASSET_MAX + 1];
} rf__request_t;

typedef struct rf__capstate {
    uint8_t fmt;
    uint8_t pad[7];
    int64_t count;
    int64_t value;
} rf__capstate_t;

/* ---- per-ledger cache (rf_rules.c) ---- */

/* One hold in memory (rf_rules_hold.c): its index key and the reward as
 * stored in the index (klen 0: deleted since). */
typedef struct rf__due {
    int64_t time_ms;
    uint16_t klen;
    uint8_t key[RF__KEY_MAX];
    rf__reward_t r;
} rf__due_t;

typedef struct rf__cache {
    /* The next holds, sorted: every index key with time < due_horizon_ms is
     * in due[due_head..ndue) (stale ones, reversed since, are skipped). */
    bool due_known;         /* read from the index since open */
    int64_t due_horizon_ms; /* INT64_MAX: the whole index is in memory */
    uint32_t due_head, ndue;
    rf__due_t due[RF_RULES_DUE_AHEAD];
    rf__prog_t *slots[RF_RULES_CACHE_PROGRAMS];
    rf__scache_t *state; /* write-through cache of 'x' values */
} rf__cache_t;

rf__cache_t *rf__cache(rf_fold_ctx_t *ctx);
/* The program's current compiled rules (cached; loaded on a miss). NULL with
 * RF_ERR_NOT_FOUND when the program has no rules. */
rf_err_t rf__prog_get(rf_fold_ctx_t *ctx, const char *program, const rf__prog_t **out);

/* ---- shared helpers ---- */

/* Record with the event_type fact set. */
rf_record_t *rf__rec(rf_fold_ctx_t *ctx, const char *kind);
/* The program's derived code (Crockford base32 + check symbol). */
void rf__derive_code(const char *program, const char *referrer, char out[RF_RULES_CODE_BUF]);
/* Reward key tail "prog \0 friend \0 id" for the hold index. */
size_t rf__reward_key(uint8_t *k, const char *prog, const char *friend_, const char *id);
rf_err_t rf__user_get(rf_fold_ctx_t *ctx, const char *prog, const char *user, rf__user_t *u,
                      bool *found);
rf_err_t rf__user_put(rf_fold_ctx_t *ctx, const char *prog, const char *user, const rf__user_t *u);
void rf__user_init(rf__user_t *u);
rf_err_t rf__reward_get(rf_fold_ctx_t *ctx, const char *prog, const char *friend_, const char *id,
                        rf__reward_t *r, bool *found);
rf_err_t rf__reward_put(rf_fold_ctx_t *ctx, const char *prog, const rf__reward_t *r);

/* Event handlers. */
rf_err_t rf__fold_code(rf_fold_ctx_t *ctx, const rf__prog_t *p, const rf_event_t *ev);
rf_err_t rf__fold_click(rf_fold_ctx_t *ctx, const rf__prog_t *p, const rf_event_t *ev);
rf_err_t rf__fold_signup(rf_fold_ctx_t *ctx, const rf__prog_t *p, const rf_event_t *ev);
rf_err_t rf__fold_purchase(rf_fold_ctx_t *ctx, const rf__prog_t *p, const rf_event_t *ev);
rf_err_t rf__fold_refund(rf_fold_ctx_t *ctx, const rf__prog_t *p, const rf_event_t *ev);
rf_err_t rf__fold_review(rf_fold_ctx_t *ctx, const rf__prog_t *p, const rf_event_t *ev);
/* Balance operations (rf_rules_balance.c): no program rules involved. */
rf_err_t rf__fold_adjustment(rf_fold_ctx_t *ctx, const rf_event_t *ev);
rf_err_t rf__fold_redemption(rf_fold_ctx_t *ctx, const rf_event_t *ev);

/* Attribution decision shared by Signup and a guest Purchase with a code
 * (rf_rules_attrib.c). */
typedef struct rf__attrib {
    char referrer[RF_ID_BUF];  /* "" when not referred */
    char candidate[RF_ID_BUF]; /* refused or rejected referrer */
    char code[RF_ID_BUF];
    const char *reason; /* why not referred / rejected; NULL when referred */
    char reason_buf[64];
    char checks[RF_FACT_VAL_MAX + 1];
    const char *how;  /* code | first_touch | last_touch; NULL */
    int64_t click_ms; /* -1: no click */
    uint8_t status;   /* rf__status_t */
} rf__attrib_t;

/* Fraud checks (rf_rules_fraud.c). The checks string accumulates
 * "name=pass|fail:action|skip" entries. */
typedef struct rf__checks {
    char text[RF_FACT_VAL_MAX + 1];
    uint8_t worst;       /* rf__action_t of the strongest failed check */
    char first_fail[48]; /* "self_referral:email" */
} rf__checks_t;
void rf__checks_init(rf__checks_t *c);
/* Signup checks: self_referral (email, device), ip_cluster, velocity,
 * fast_signup; updates the windows' state. R: the referrer's state. */
rf_err_t rf__checks_signup(rf_fold_ctx_t *ctx, const rf__prog_t *p, const rf_event_t *ev,
                           const char *referrer, const rf__user_t *R, int64_t click_ms,
                           rf__checks_t *c);
/* Purchase checks: self_referral (payment hash), duplicate_order. */
void rf__checks_purchase(const rf__prog_t *p, const rf_event_t *ev, const rf__user_t *R,
                         bool duplicate, rf__checks_t *c);
/* Self-referral by hashes of the referrer's stored state. */
bool rf__hash_eq_hex(const uint8_t raw[32], const char *hex);
void rf__hash_from_hex(const char *hex, uint8_t raw[32]);

/* Attributes user (code, else the visitor's clicks), refuses
 * self-attribution, runs the signup checks and decides the status. */
rf_err_t rf__attribute(rf_fold_ctx_t *ctx, const rf__prog_t *p, const rf_event_t *ev,
                       const char *user, rf__attrib_t *a);
/* Adds the attribution facts to a signup or purchase record. */
void rf__attrib_facts(rf_record_t *rec, const rf__attrib_t *a);
/* Appends a "review" record: held | approved | rejected. */
rf_err_t rf__review_record(rf_fold_ctx_t *ctx, const char *user, const char *referrer,
                           const char *status, const char *reason, const char *checks);

/* Rewards (rf_rules_reward.c): grants the rewards of one qualifying purchase;
 * the friend's state is updated in place (caller stores it). */
rf_err_t rf__grant(rf_fold_ctx_t *ctx, const rf__prog_t *p, const rf_event_t *ev,
                   rf__user_t *friend_, rf__user_t *R, rf__order_t *order, bool first_qual);

/* Holds (rf_rules_hold.c). */
rf_err_t rf__hold_add(rf_fold_ctx_t *ctx, const char *prog, const rf__reward_t *r);
/* The hold index holds the pending reward itself (so maturing reads
 * nothing): hold_update rewrites it after a change to a pending reward. */
rf_err_t rf__hold_update(rf_fold_ctx_t *ctx, const char *prog, const rf__reward_t *r);
rf_err_t rf__hold_del(rf_fold_ctx_t *ctx, const char *prog, const rf__reward_t *r);
/* A referral went into review: its pending rewards are held (they will not
 * mature before the decision). */
rf_err_t rf__hold_for_review(rf_fold_ctx_t *ctx, const char *prog, const char *friend_);
/* Matures one reward now (reward_matured record); r updated and stored. */
rf_err_t rf__mature(rf_fold_ctx_t *ctx, const char *prog, rf__reward_t *r);
/* Reverses `amount` of r (void when pending, clawback when matured); r
 * updated and stored. reason goes into the record. */
rf_err_t rf__reverse(rf_fold_ctx_t *ctx, const char *prog, rf__reward_t *r, int64_t amount,
                     const char *reason);
/* The rewards of a referral (prefix scan; review decisions only). */
rf_err_t rf__friend_rewards(rf_fold_ctx_t *ctx, const char *prog, const char *friend_,
                            rf__reward_t *out, uint32_t cap, uint32_t *n);
/* Un-qualifies a referral (full refund or review rejection): the referrer's
 * successful count - 1 and the milestone it triggered (0: none) un-paid so
 * that reaching it again pays it again (net once). */
rf_err_t rf__unqualify(rf_fold_ctx_t *ctx, const char *prog, rf__user_t *friend_,
                       int64_t milestone);

/* Integer math: floor(a * b / c) and ceil(a * b / c) without overflow. */
int64_t rf__muldiv_floor(int64_t a, int64_t b, int64_t c);
int64_t rf__muldiv_ceil(int64_t a, int64_t b, int64_t c);

#endif
