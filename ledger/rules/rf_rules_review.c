/* rf_rules_review.c: ReviewDecision on a referral held for review: approve
 * (held rewards proceed: mature when their hold passed) or reject (every
 * reward of the referral reversed, the referral un-qualified). */
#include <stdio.h>
#include <string.h>

#include "rf_rules_int.h"

/* Rewards of one referral: at most RF_RULES_QUALIFYING_MAX rewarded
 * purchases of up to three rewards each (referrer, friend, milestone). */
#define REFERRAL_REWARDS_MAX (3 * RF_RULES_QUALIFYING_MAX)

static rf_err_t reject(rf_fold_ctx_t *ctx, const rf_event_t *ev, const char *reason)
{
    rf_record_t *rec = rf__rec(ctx, RF_KIND_REJECTED);
    rf_record_fact(rec, RF_FACT_USER, ev->user);
    rf_record_fact(rec, RF_FACT_REASON, reason);
    return rf_fold_record_append(ctx, rec);
}

static rf_err_t approve(rf_fold_ctx_t *ctx, const rf__prog_t *p, rf__reward_t *rw, uint32_t n)
{
    int64_t now = rf_fold_now_ms(ctx);
    for (uint32_t i = 0; i < n; i++) {
        rf__reward_t *r = &rw[i];
        if (r->status != RF__RS_PENDING || !r->held) continue;
        r->held = 0;
        rf_err_t err;
        if (!r->review_wait) { /* still in the index: matures at its hold's end */
            err = rf__hold_update(ctx, p->id, r);
            if (!err) err = rf__reward_put(ctx, p->id, r);
        } else if (r->hold_until_ms <= now) { /* parked: due, matures now */
            err = rf__mature(ctx, p->id, r);
        } else {
            r->review_wait = 0;
            err = rf__hold_add(ctx, p->id, r);
            if (!err) err = rf__reward_put(ctx, p->id, r);
        }
        if (err) return err;
    }
    return RF_OK;
}

rf_err_t rf__hold_for_review(rf_fold_ctx_t *ctx, const char *prog, const char *friend_)
{
    static _Thread_local rf__reward_t rw[REFERRAL_REWARDS_MAX];
    uint32_t n = 0;
    rf_err_t err = rf__friend_rewards(ctx, prog, friend_, rw, REFERRAL_REWARDS_MAX, &n);
    for (uint32_t i = 0; !err && i < n; i++) {
        rf__reward_t *r = &rw[i];
        if (r->status != RF__RS_PENDING || r->held) continue;
        r->held = 1;
        if (!r->review_wait) err = rf__hold_update(ctx, prog, r);
        if (!err) err = rf__reward_put(ctx, prog, r);
    }
    return err;
}

static rf_err_t reject_rewards(rf_fold_ctx_t *ctx, const rf__prog_t *p, rf__user_t *U,
                               rf__reward_t *rw, uint32_t n)
{
    int64_t milestone = 0;
    for (uint32_t i = 0; i < n; i++) {
        rf__reward_t *r = &rw[i];
        if (r->role == RF__ROLE_MILESTONE && r->status != RF__RS_REVERSED) milestone = r->milestone;
        if (r->status == RF__RS_REVERSED || r->amount == r->reversed) continue;
        rf_err_t err = rf__reverse(ctx, p->id, r, r->amount - r->reversed, "review_rejected");
        if (err) return err;
    }
    if (!(U->flags & RF__U_QUALIFIED)) return RF_OK;
    return rf__unqualify(ctx, p->id, U, milestone);
}

rf_err_t rf__fold_review(rf_fold_ctx_t *ctx, const rf__prog_t *p, const rf_event_t *ev)
{
    static _Thread_local rf__user_t U;
    static _Thread_local rf__reward_t rw[REFERRAL_REWARDS_MAX];
    bool found;
    rf_err_t err = rf__user_get(ctx, p->id, ev->user, &U, &found);
    if (err) return err;
    if (!found) return reject(ctx, ev, "unknown_user");
    if (U.status != RF__ST_REVIEW) return reject(ctx, ev, "not_in_review");
    uint32_t n = 0;
    if ((err = rf__friend_rewards(ctx, p->id, ev->user, rw, REFERRAL_REWARDS_MAX, &n))) return err;
    U.status = ev->approve ? RF__ST_OK : RF__ST_REJECTED;
    rf_record_t *rec = rf__rec(ctx, RF_KIND_REVIEW);
    rf_record_fact(rec, RF_FACT_USER, ev->user);
    rf_record_fact(rec, RF_FACT_FRIEND, ev->user);
    rf_record_fact(rec, RF_FACT_REFERRER, U.referrer);
    rf_record_fact(rec, RF_FACT_STATUS, ev->approve ? "approved" : "rejected");
    if (ev->reviewer[0]) rf_record_fact(rec, RF_FACT_ACTOR, ev->reviewer);
    if (ev->reason[0]) rf_record_fact(rec, RF_FACT_REASON, ev->reason);
    if (U.review_reason[0]) rf_record_fact(rec, "held_for", U.review_reason);
    if ((err = rf_fold_record_append(ctx, rec))) return err;
    err = ev->approve ? approve(ctx, p, rw, n) : reject_rewards(ctx, p, &U, rw, n);
    return err ? err : rf__user_put(ctx, p->id, ev->user, &U);
}
