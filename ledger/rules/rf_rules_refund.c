/* rf_rules_refund.c: refunds of rewarded orders: in proportion, voids inside
 * the hold, clawbacks (and receivables) after it; un-qualification. */
#include <stdio.h>
#include <string.h>

#include "rf_rules_int.h"

rf_err_t rf__unqualify(rf_fold_ctx_t *ctx, const char *prog, rf__user_t *friend_, int64_t milestone)
{
    RF_ASSERT(friend_->flags & RF__U_QUALIFIED);
    RF_ASSERT(friend_->referrer[0]);
    static _Thread_local rf__user_t R;
    bool found;
    rf_err_t err = rf__user_get(ctx, prog, friend_->referrer, &R, &found);
    if (err) return err;
    if (R.successful > 0) R.successful--;
    for (uint32_t i = 0; milestone && i < R.nmilestones; i++)
        if (R.milestones_paid[i] == milestone) {
            R.milestones_paid[i] = R.milestones_paid[--R.nmilestones];
            R.milestones_paid[R.nmilestones] = 0;
            break;
        }
    friend_->flags &= (uint8_t)~RF__U_QUALIFIED;
    return rf__user_put(ctx, prog, friend_->referrer, &R);
}

static rf_err_t reject(rf_fold_ctx_t *ctx, const rf_event_t *ev, const char *reason)
{
    rf_record_t *rec = rf__rec(ctx, RF_KIND_REJECTED);
    rf_record_fact(rec, RF_FACT_ORDER, ev->order_id);
    rf_record_factf(rec, RF_FACT_AMOUNT_MINOR, "%lld", (long long)ev->amount_minor);
    rf_record_fact(rec, RF_FACT_REASON, reason);
    return rf_fold_record_append(ctx, rec);
}

/* How much more of reward r a refund reverses: the cumulative target is
 * ceil(amount * refunded / order), so the user never keeps more than the
 * exact proportion and the total is exact when fully refunded. Milestone
 * bonuses go only with the qualification (full refund). */
static int64_t reverse_more(const rf__reward_t *r, const rf__order_t *O, bool unqualifies)
{
    if (r->status == RF__RS_REVERSED) return 0;
    int64_t target;
    if (r->role == RF__ROLE_MILESTONE)
        target = unqualifies ? r->amount : 0;
    else if (O->amount == 0 || O->refunded >= O->amount)
        target = r->amount;
    else
        target = rf__muldiv_ceil(r->amount, O->refunded, O->amount);
    RF_ASSERT(target <= r->amount);
    return target > r->reversed ? target - r->reversed : 0;
}

static rf_err_t refund_rewards(rf_fold_ctx_t *ctx, const rf__prog_t *p, rf__order_t *O,
                               bool unqualifies, int64_t *milestone)
{
    static _Thread_local rf__reward_t r;
    for (uint32_t i = 0; i < O->nrewards && i < RF__ORDER_REWARDS; i++) {
        bool found;
        rf_err_t err = rf__reward_get(ctx, p->id, O->user, O->rewards[i], &r, &found);
        if (err) return err;
        if (!found) return RF_ERR_CORRUPT; /* the order lists it: it was stored */
        if (r.role == RF__ROLE_MILESTONE && unqualifies) *milestone = r.milestone;
        int64_t x = reverse_more(&r, O, unqualifies);
        if (x > 0 && (err = rf__reverse(ctx, p->id, &r, x, "refund"))) return err;
    }
    return RF_OK;
}

rf_err_t rf__fold_refund(rf_fold_ctx_t *ctx, const rf__prog_t *p, const rf_event_t *ev)
{
    static _Thread_local rf__order_t O;
    uint8_t k[RF__KEY_MAX];
    size_t kl = rf__key(k, RF__X_ORDER, p->id, ev->order_id, NULL);
    bool found;
    rf_err_t err = rf__get_fixed(ctx, k, kl, &O, sizeof O, &found);
    if (err) return err;
    if (!found) return reject(ctx, ev, "unknown_order");
    if (ev->asset[0] && O.currency[0] && strcmp(ev->asset, O.currency) != 0)
        return reject(ctx, ev, "currency_mismatch");
    if (ev->amount_minor > O.amount - O.refunded) return reject(ctx, ev, "refund_exceeds_order");
    O.refunded += ev->amount_minor;
    bool full = O.refunded == O.amount;
    static _Thread_local rf__user_t U;
    if ((err = rf__user_get(ctx, p->id, O.user, &U, &found))) return err;
    bool unqualifies = full && O.qualifying && (U.flags & RF__U_QUALIFIED);
    rf_record_t *rec = rf__rec(ctx, RF_KIND_REFUND);
    rf_record_fact(rec, RF_FACT_USER, O.user);
    rf_record_fact(rec, RF_FACT_ORDER, ev->order_id);
    rf_record_factf(rec, RF_FACT_AMOUNT_MINOR, "%lld", (long long)ev->amount_minor);
    rf_record_factf(rec, RF_FACT_REFUNDED, "%lld", (long long)O.refunded);
    rf_record_factf(rec, RF_FACT_AMOUNT, "%lld", (long long)O.amount);
    if (U.referrer[0] && U.status != RF__ST_NONE) rf_record_fact(rec, RF_FACT_REFERRER, U.referrer);
    if (full) rf_record_fact(rec, "full", "1");
    if (unqualifies) rf_record_fact(rec, RF_FACT_QUALIFIED, "0");
    if ((err = rf_fold_record_append(ctx, rec))) return err;
    int64_t milestone = 0;
    if ((err = refund_rewards(ctx, p, &O, unqualifies, &milestone))) return err;
    if (unqualifies) {
        O.qualifying = 0;
        if ((err = rf__unqualify(ctx, p->id, &U, milestone))) return err;
        if ((err = rf__user_put(ctx, p->id, O.user, &U))) return err;
    }
    return rf__sput(ctx, k, kl, &O, sizeof O);
}
