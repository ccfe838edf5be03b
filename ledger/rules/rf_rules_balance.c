/* rf_rules_balance.c: Adjustment (an operator credits or debits a user) and
 * Redemption (a user spends what is available): postings on a user's
 * available balance, the same under every program's referral rules. */
#include <stdio.h>

#include "rf_rules_int.h"

/* '#' owners are program accounts (#expense, #adjustment): no event may
 * address one as a user (rf_rules_fold refuses them the same way). */
#define RESERVED_ID "reserved_id"

rf_err_t rf__fold_adjustment(rf_fold_ctx_t *ctx, const rf_event_t *ev)
{
    RF_ASSERT(ev->type == RF_EV_ADJUSTMENT);
    if (ev->user[0] == '#') return rf_fold_reject(ctx, RESERVED_ID);
    int64_t b[RF_BUCKET__COUNT];
    rf_err_t err = rf_fold_balance(ctx, ev->program_id, ev->user, ev->asset, b);
    if (err) return err;
    int64_t amount = ev->amount_minor;
    RF_ASSERT(amount != 0 && amount >= -RF_AMOUNT_MAX && amount <= RF_AMOUNT_MAX);
    if (amount < 0 && b[RF_BUCKET_AVAILABLE] < -amount) {
        char reason[RF_FACT_VAL_MAX];
        snprintf(reason, sizeof reason,
                 "insufficient available balance: debit %lld, available %lld", (long long)-amount,
                 (long long)b[RF_BUCKET_AVAILABLE]);
        return rf_fold_reject(ctx, reason);
    }
    rf_record_t *rec = rf_fold_record_begin(ctx, RF_KIND_ADJUSTMENT);
    rf_record_fact(rec, RF_FACT_USER, ev->user);
    rf_record_fact(rec, RF_FACT_REASON, ev->reason);
    rf_record_fact(rec, RF_FACT_ACTOR, ev->actor);
    if (amount > 0) {
        rf_fold_credit_available(rec, b, ev->user, ev->asset, amount, "#adjustment",
                                 RF_BUCKET_ADJUSTMENT);
    } else {
        rf_record_post(rec, ev->user, RF_BUCKET_AVAILABLE, ev->asset, amount);
        rf_record_post(rec, "#adjustment", RF_BUCKET_ADJUSTMENT, ev->asset, -amount);
    }
    return rf_fold_record_append(ctx, rec);
}

rf_err_t rf__fold_redemption(rf_fold_ctx_t *ctx, const rf_event_t *ev)
{
    RF_ASSERT(ev->type == RF_EV_REDEMPTION);
    if (ev->user[0] == '#') return rf_fold_reject(ctx, RESERVED_ID);
    int64_t b[RF_BUCKET__COUNT];
    rf_err_t err = rf_fold_balance(ctx, ev->program_id, ev->user, ev->asset, b);
    if (err) return err;
    int64_t amount = ev->amount_minor;
    RF_ASSERT(amount >= 0 && amount <= RF_AMOUNT_MAX);
    if (b[RF_BUCKET_AVAILABLE] < amount) {
        char reason[RF_FACT_VAL_MAX];
        snprintf(reason, sizeof reason,
                 "insufficient available balance: requested %lld, available %lld",
                 (long long)amount, (long long)b[RF_BUCKET_AVAILABLE]);
        return rf_fold_reject(ctx, reason);
    }
    rf_record_t *rec = rf_fold_record_begin(ctx, RF_KIND_REDEMPTION);
    rf_record_fact(rec, RF_FACT_USER, ev->user);
    if (ev->request_id[0]) rf_record_fact(rec, RF_FACT_REQUEST, ev->request_id);
    if (amount > 0) {
        rf_record_post(rec, ev->user, RF_BUCKET_AVAILABLE, ev->asset, -amount);
        rf_record_post(rec, ev->user, RF_BUCKET_REDEEMED, ev->asset, amount);
    }
    return rf_fold_record_append(ctx, rec);
}
