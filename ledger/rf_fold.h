/* rf_fold.h: the seam between the fold engine (rf_ledger_fold.c) and the
 * referral rules (rules/): the only door the rules have to storage. The fold
 * is a pure function of (state, event): no wall clock, no randomness; time is
 * event time and derived ids are UUIDv5 of the input event id, so a replay
 * reproduces every record byte for byte.
 *
 * State is key/value in the partition's RocksDB, read through the open batch
 * (read-your-writes). Key spaces, by a key's first byte (docs/ledger.md, "Key
 * layout"):
 *   the engine's (rf_ledger_int.h RF__K_*; no rules code touches them):
 *     'm' meta row, 'r' records, 'a' archived events, 'd' dedup digests,
 *     'b' balances (written only by rf_fold_record_append), 'q' dead letters,
 *     'u' the mark of an unfinished bulk load;
 *     'p' retired: ledgers written before the rules owned programs hold each
 *     program's version and rules JSON there; nothing reads or writes it now,
 *     and the prefix stays reserved so those keys are never misread;
 *   the rules' (RF_FOLD_K_RULES 'x' + a tag, rules/rf_rules_int.h RF__X_*),
 *     programs included ('x' 'v' current rules, 'x' 'V' every version): the
 *     only keys rf_fold_put and rf_fold_del accept (asserted). The engine
 *     stores their values with zero runs collapsed; the rules see them plain.
 * Only records enter the hash chain; `refold verify` (rf_ledger_verify.c)
 * checks the records, the balances they imply ('b'), the archive ('a') and
 * the dead letters ('q') against the meta row, never the rules' keys.
 *
 * Records: rf_fold_record_begin gives a record with the source (partition,
 * offset, event id, program, time) filled in; the caller adds kind, postings
 * and facts and calls rf_fold_record_append (rf_fold_append.c), which assigns
 * seq and hashes, asserts postings balance, applies them to balances and
 * refuses (fatal RF_ERR_INTERNAL) any user bucket but receivable going
 * negative. */
#ifndef RF_FOLD_H
#define RF_FOLD_H

#include "rf_event.h"

typedef struct rf_fold_ctx rf_fold_ctx_t;

/* The first byte of every key the rules own. */
#define RF_FOLD_K_RULES 'x'

/* The event being folded (valid during the fold of one offset). */
const rf_event_t *rf_fold_event(const rf_fold_ctx_t *ctx);
/* The partition's event time after this event (max of occurred_at so far). */
int64_t rf_fold_now_ms(const rf_fold_ctx_t *ctx);
/* Rule cache slot for the rules module (one per partition ledger, lives as
 * long as the ledger; freed with rf_rules_cache_free). */
void **rf_fold_rules_cache(rf_fold_ctx_t *ctx);

/* State access. get: RF_ERR_NOT_FOUND when absent; RF_ERR_OVERSIZE when cap is
 * too small (*vlen then holds the size). put/del: the rules' 'x' keys only
 * (asserted). Reads see committed state plus this batch's state keys; the
 * batch's records ('r'), archive and dead letters are not visible until
 * committed. A scan's callback may put and del, but must not scan again. */
rf_err_t rf_fold_get(rf_fold_ctx_t *ctx, const void *key, size_t klen, void *val, size_t cap,
                     size_t *vlen);
rf_err_t rf_fold_put(rf_fold_ctx_t *ctx, const void *key, size_t klen, const void *val,
                     size_t vlen);
rf_err_t rf_fold_del(rf_fold_ctx_t *ctx, const void *key, size_t klen);
/* Whether rf_fold_get answers from memory alone (a bulk load that keeps its
 * whole state in the open batch): a cache in front of it then only costs.
 * Stays false once it has turned false for a handle. */
bool rf_fold_state_in_memory(const rf_fold_ctx_t *ctx);
/* Calls cb for keys in [start, end) (committed state merged with the open
 * batch) in key order; cb returns non-zero to stop. */
typedef int(rf_kv_cb_t)(const void *key, size_t klen, const void *val, size_t vlen, void *opaque);
rf_err_t rf_fold_scan(rf_fold_ctx_t *ctx, const void *start, size_t slen, const void *end,
                      size_t elen, rf_kv_cb_t *cb, void *opaque);

/* Records. Each begin takes one of RF_RECORDS_PER_EVENT_MAX slots of the
 * offset being folded (asserted), valid until the next offset; append it
 * or abandon it. begin also adds the fact event_type. */
rf_record_t *rf_fold_record_begin(rf_fold_ctx_t *ctx, const char *kind);
rf_err_t rf_fold_record_append(rf_fold_ctx_t *ctx, rf_record_t *rec);
/* Appends the event's refusal: a "rejected" record with the facts user and
 * request_id (when the event has them) and reason. */
rf_err_t rf_fold_reject(rf_fold_ctx_t *ctx, const char *reason);

/* Balance of (program, owner, asset) including this batch's postings. */
rf_err_t rf_fold_balance(rf_fold_ctx_t *ctx, const char *program, const char *owner,
                         const char *asset, int64_t buckets[RF_BUCKET__COUNT]);

/* Settles a user's receivable before crediting available: part of the append
 * step, used for credits (Adjustment) and at maturity. Given a credit of
 * amount to (program, owner, asset), adds postings to rec moving min(amount,
 * owed) to receivable and the rest to available, from the bucket `from`
 * (pending at maturity) or from counter account (owner_from, bucket_from)
 * when moving in new money. */
void rf_fold_credit_available(rf_record_t *rec, const int64_t buckets[RF_BUCKET__COUNT],
                              const char *owner, const char *asset, int64_t amount,
                              const char *from_owner, rf_bucket_t from_bucket);

/* UUIDv5 (SHA-1, RFC 4122) of the current event id and a label: derived ids
 * (reward ids, coupon codes) that replay reproduces. out: 37 bytes. */
void rf_fold_derive_id(const rf_fold_ctx_t *ctx, const char *label, char out[37]);

/* Outside a fold: the rules' read API on a ledger handle (`refold program`:
 * rf_rules_program_get, _list, _history) reads their keys through these, on
 * a writable or read-only handle. get: as rf_fold_get (committed state plus
 * the open batch). scan: committed keys in [start, end) of the rules' key
 * space, in key order, with their values plain (valid during the call); cb
 * returns non-zero to stop; RF_ERR_CORRUPT when a stored value is malformed,
 * RF_ERR_STORAGE, RF_ERR_NOMEM, each with a message in eb. */
struct rf_ledger;
int32_t rf_fold_ledger_partition(const struct rf_ledger *l);
rf_err_t rf_fold_ledger_get(struct rf_ledger *l, const void *key, size_t klen, void *val,
                            size_t cap, size_t *vlen);
rf_err_t rf_fold_ledger_scan(struct rf_ledger *l, const void *start, size_t slen, const void *end,
                             size_t elen, rf_kv_cb_t *cb, void *opaque, rf_errbuf_t *eb);

/* Record kinds and fact keys shared by the engine, the rules and the
 * projections (docs/ledger.md lists them with their postings). */
#define RF_KIND_PROGRAM    "program_configured"
#define RF_KIND_CODE       "code_issued"
#define RF_KIND_SHARE      "share"
#define RF_KIND_CLICK      "click"
#define RF_KIND_SIGNUP     "signup"         /* fact referrer set when attributed */
#define RF_KIND_PURCHASE   "purchase"       /* fact referred=1 when by a referred friend */
#define RF_KIND_REWARD     "reward"         /* pending reward posted */
#define RF_KIND_MATURED    "reward_matured" /* pending -> available */
#define RF_KIND_VOID       "reward_voided"  /* pending reversed (refund in hold, review reject) */
#define RF_KIND_CLAWBACK   "clawback" /* available reversed after hold; may create receivable */
#define RF_KIND_REVIEW     "review"   /* referral held for review / decided */
#define RF_KIND_REFUND     "refund"
#define RF_KIND_REDEMPTION "redemption"
#define RF_KIND_ADJUSTMENT "adjustment"
#define RF_KIND_CLOCK      "clock"
#define RF_KIND_REJECTED   "rejected" /* fact reason */
/* A repeat of an applied request (a Redemption's request_id): no postings,
 * facts request_id, duplicate_of (the applied record's seq) and reason; the
 * offset's outcome is RF_OUTCOME_DUPLICATE. */
#define RF_KIND_DUPLICATE "duplicate"

/* Fact keys. */
#define RF_FACT_TYPE         "event_type" /* every record: the source event's type */
#define RF_FACT_USER         "user"
#define RF_FACT_REFERRER     "referrer"
#define RF_FACT_FRIEND       "friend"
#define RF_FACT_CODE         "code"
#define RF_FACT_CHANNEL      "channel"
#define RF_FACT_ORDER        "order"
#define RF_FACT_AMOUNT       "order_amount" /* order value in minor units */
#define RF_FACT_CURRENCY     "currency"
#define RF_FACT_REWARD_ID    "reward_id"
#define RF_FACT_ROLE         "role"        /* referrer | friend | milestone */
#define RF_FACT_REWARD_TYPE  "reward_type" /* fixed | percent | coupon | product | points */
#define RF_FACT_COUPON       "coupon"
#define RF_FACT_SKU          "sku"
#define RF_FACT_HOLD_UNTIL   "hold_until"
#define RF_FACT_REVERSES     "reverses" /* seq of the record reversed */
#define RF_FACT_REASON       "reason"
#define RF_FACT_CHECKS       "checks" /* "self_referral=pass,ip_cluster=fail:reject,..." */
#define RF_FACT_CAP          "cap"    /* which cap reduced or refused the reward */
#define RF_FACT_RULE_VERSION "rule_version"
#define RF_FACT_TIER         "tier"
#define RF_FACT_MILESTONE    "milestone"
#define RF_FACT_REFERRED     "referred" /* "1" on purchases and signups of referred users */
#define RF_FACT_ACTOR        "actor"
#define RF_FACT_REQUEST      "request_id"
#define RF_FACT_SUCCESSFUL   "successful_referrals" /* referrer's count after this reward */
#define RF_FACT_DUPLICATE_OF "duplicate_of"         /* seq of the record a duplicate repeats */
#define RF_FACT_LANDING_URL  "landing_url"          /* program_configured: tracking links' target */
#define RF_FACT_ATTR_DAYS    "attribution_days"     /* program_configured, with landing_url */

#endif
