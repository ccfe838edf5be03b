/* rf_rules.h: the referral program rules, plugged into the fold engine.
 *
 * The engine (rf_ledger.c) decodes, validates, dedups and handles
 * Adjustment and Redemption itself; for every other event it calls
 * rf_rules_fold. Before any event it calls rf_rules_advance so holds mature
 * in event time. All functions are pure in (state, event): no wall clock. */
#ifndef RF_RULES_H
#define RF_RULES_H

#include "rf_fold.h"

/* Called once per event, before the event's own records, after the
 * partition's event time advanced to rf_fold_now_ms(ctx): matures pending
 * rewards whose hold_until <= now (records of kind reward_matured), at most
 * RF_RECORDS_PER_EVENT_MAX / 2 per call (the rest on the next event). */
rf_err_t rf_rules_advance(rf_fold_ctx_t *ctx);

/* Validates a ProgramConfigured event's rules_json and version (greater than
 * the stored version). RF_OK, or RF_ERR_BAD_INPUT with the reason (the engine
 * then appends a "rejected" record). On success the engine stores the program
 * under 'p' and calls rf_rules_fold to record it. */
rf_err_t rf_rules_check_config(rf_fold_ctx_t *ctx, const rf_event_t *ev, rf_errbuf_t *eb);

/* Folds one event of a known program (every type except Adjustment and
 * Redemption) and appends its records: at least one record per event.
 * A business refusal (self-referral, second attribution...) is a record of
 * its kind with a reason fact, or a "rejected" record; never an error.
 * Errors are only fatal ones (storage, invariants). */
rf_err_t rf_rules_fold(rf_fold_ctx_t *ctx, const rf_event_t *ev);

/* Frees the per-ledger rules cache (rf_fold_rules_cache). NULL is a no-op. */
void rf_rules_cache_free(void *cache);

/* Validates a program's rules JSON (docs/programs.md) without a ledger: for
 * `refold program`, loadgen and tests. RF_OK or RF_ERR_BAD_INPUT with the
 * reason (the first problem found, naming the field). */
rf_err_t rf_rules_validate_json(const char *json, rf_errbuf_t *eb);

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

#endif
