/* rf_rules.h: the referral program rules, plugged into the fold engine.
 *
 * The engine (rf_ledger_fold.c) decodes, validates and dedups; it asks
 * rf_rules_program_known before an event of a program changes anything, then
 * calls rf_rules_advance so holds mature in event time, then rf_rules_fold
 * for every event. The rules own programs: their versions and rules JSON live
 * in the rules' keys only ('x' 'v', 'x' 'V'; rf_fold.h). They reach storage
 * through rf_fold.h alone. All functions are pure in (state, event): no wall
 * clock. */
#ifndef RF_RULES_H
#define RF_RULES_H

#include "rf_fold.h"
#include "rf_sign.h"

/* Called once per event, before the event's own records, after the
 * partition's event time advanced to rf_fold_now_ms(ctx): matures pending
 * rewards whose hold_until <= now (records of kind reward_matured), at most
 * RF_RECORDS_PER_EVENT_MAX / 2 per call (the rest on the next event). */
rf_err_t rf_rules_advance(rf_fold_ctx_t *ctx);

/* Whether program has rules in this partition (a valid ProgramConfigured
 * was folded, this batch included): RF_OK, RF_ERR_NOT_FOUND (the engine
 * dead-letters the event), or a fatal error (storage, stored rules that do
 * not load). Key events (KeyRegistered, KeyRevoked) are RF_OK for any
 * program: a program's keys come before its first rules. */
rf_err_t rf_rules_program_known(rf_fold_ctx_t *ctx, const char *program);

/* Folds one event of a known program, or a ProgramConfigured, and appends
 * its records: at least one record per event. A ProgramConfigured is stored
 * when its version is greater than the stored one and its rules valid, else
 * refused with a "rejected" record. Adjustment and Redemption post to the
 * user's available balance (rf_rules_balance.c). A business refusal
 * (self-referral, second attribution...) is a record of its kind with a
 * reason fact, or a "rejected" record; never an error. Errors are only
 * fatal ones (storage, invariants). */
rf_err_t rf_rules_fold(rf_fold_ctx_t *ctx, const rf_event_t *ev);

/* ---- authority over privileged events (rf_rules_auth.c, docs/security.md) ----
 *
 * Privileged events (rf_event_privileged) change money, rules or time; the
 * fold applies one only when it is signed by a key with the authority for
 * it: key events (KeyRegistered, KeyRevoked) by a trust root not revoked in
 * the program, the others by an operator key the program's ledger has
 * registered (by a root) and not revoked, with the event's scope. Anything
 * else is a "rejected" record whose reason starts with "unauthorized:", and
 * does not move the partition's event time.
 *
 * The trust configuration is process-wide: set it once, before any fold
 * starts (the fold workers, replay and the demo fold on several threads and
 * only read it). Not enforced (the default, and what NULL sets) is open mode:
 * every privileged event is applied unchecked, as before authority existed;
 * `refold fold` and `refold replay` say so loudly. A replay must use the
 * trust roots the ledger was folded with to give the same head. */
typedef struct rf_rules_trust {
    bool enforce;
    size_t nroots; /* 0..RF_TRUST_ROOTS_MAX; with none, no key can be registered */
    uint8_t roots[RF_TRUST_ROOTS_MAX][RF_SIGN_PUB_LEN];
} rf_rules_trust_t;
void rf_rules_trust_set(const rf_rules_trust_t *t);
bool rf_rules_trust_enforced(void);

/* The engine asks before an event advances the partition's event time:
 * false for a privileged event the trust configuration refuses (its
 * rejection must not mature holds). True on a storage error: the fold then
 * meets the same error and stops. */
bool rf_rules_event_moves_time(rf_fold_ctx_t *ctx, const rf_event_t *ev);

/* Scope names of operator keys (KeyRegistered.scopes, comma-separated). */
#define RF_SCOPE_PROGRAM "program" /* ProgramConfigured */
#define RF_SCOPE_ADJUST  "adjust"  /* Adjustment */
#define RF_SCOPE_REVIEW  "review"  /* ReviewDecision */
#define RF_SCOPE_CLOCK   "clock"   /* Clock */

/* Frees the per-ledger rules cache (rf_fold_rules_cache). NULL is a no-op. */
void rf_rules_cache_free(void *cache);

/* Validates a program's rules JSON (docs/programs.md) without a ledger: for
 * `refold program`, loadgen and tests. RF_OK or RF_ERR_BAD_INPUT with the
 * reason (the first problem found, naming the field). */
rf_err_t rf_rules_validate_json(const char *json, rf_errbuf_t *eb);

/* The current version and rules JSON of program in a partition ledger's
 * stored state: what the fold applies to the program's next event. For
 * `refold program`; a read-only handle (RF_LEDGER_READONLY) sees the state as
 * of its open. rules_json may be NULL; else it gets the JSON and a NUL
 * (RF_RULES_MAX + 1 bytes always fit). RF_ERR_NOT_FOUND when the partition has
 * no rules for program; RF_ERR_CORRUPT when the stored value is malformed. */
struct rf_ledger;
rf_err_t rf_rules_program_get(struct rf_ledger *l, const char *program, int32_t *version,
                              char *rules_json, size_t cap, rf_errbuf_t *eb);
/* Every program with rules in a partition ledger (list, in program id order),
 * or every version the fold accepted for one program (history, ascending),
 * from the committed state. cb returns non-zero to stop; its strings are
 * valid during the call. RF_ERR_CORRUPT when a stored value is malformed. */
typedef int(rf_rules_program_cb_t)(const char *program, int32_t version, const char *rules_json,
                                   void *opaque);
rf_err_t rf_rules_program_list(struct rf_ledger *l, rf_rules_program_cb_t *cb, void *opaque,
                               rf_errbuf_t *eb);
rf_err_t rf_rules_program_history(struct rf_ledger *l, const char *program,
                                  rf_rules_program_cb_t *cb, void *opaque, rf_errbuf_t *eb);
/* The rules as the fold applies them: rules_json parsed by the fold's parser
 * and written back with every default filled in (checks that are off left
 * out, as absent means off), so the output parses to the same rules. *out is
 * malloc'ed compact JSON the caller frees. RF_ERR_BAD_INPUT as
 * rf_rules_validate_json. */
rf_err_t rf_rules_effective_json(const char *rules_json, char **out, rf_errbuf_t *eb);

/* The derived referral code of (program, referrer): 10 Crockford base32
 * symbols (0-9 A-Z without I L O U) of SHA-256(program \0 referrer), then a
 * Crockford check symbol (mod 37: one of 0-9 A-Z * ~ $ = U minus I L O).
 * Stable forever: `refold code` prints it and the fold assigns it when a
 * CodeIssued event has an empty code. */
#define RF_RULES_CODE_LEN 11
#define RF_RULES_CODE_BUF (RF_RULES_CODE_LEN + 1)
void rf_rules_derive_code(const char *program, const char *referrer, char out[RF_RULES_CODE_BUF]);
/* True when code has the derived form and its check symbol matches (input
 * is case-insensitive; hyphens are ignored). */
int rf_rules_code_valid(const char *code);

/* Record kinds and facts the rules add to rf_fold.h's (docs/programs.md). */
#define RF_KIND_REWARD_REFUSED   "reward_refused"   /* a reward refused by a cap or the budget */
#define RF_FACT_REFUSED_REFERRER "refused_referrer" /* attribution refused or rejected */
#define RF_FACT_STATUS           "status"           /* review: held | approved | rejected */
#define RF_FACT_AMOUNT_MINOR     "amount"           /* reward amount (or the refused amount) */
#define RF_FACT_ASSET            "asset"
#define RF_FACT_QUALIFIED        "qualified"   /* purchase: 1 when it qualified the referral */
#define RF_FACT_REVIEW           "review"      /* reward: "held" while the referral is in review */
#define RF_FACT_REFUNDED         "refunded"    /* refund: cumulative refunded amount of the order */
#define RF_FACT_DERIVED          "derived"     /* code_issued: 1 when the fold derived the code */
#define RF_FACT_ATTRIBUTION      "attribution" /* signup: code | first_touch | last_touch */
#define RF_KIND_KEY_REGISTERED   "key_registered"
#define RF_KIND_KEY_REVOKED      "key_revoked"
#define RF_FACT_KEY_ID           "key_id"
#define RF_FACT_SCOPES           "scopes"
#define RF_FACT_SIGNED_BY        "signed_by" /* key events: the signing root's key id (if signed) */

#endif
