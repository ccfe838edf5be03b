/* rf_rules_balance.c: Adjustment (an operator credits or debits a user) and
 * Redemption (a user spends what is available, once per request id):
 * postings on a user's available balance, the same under every program's
 * referral rules. */
#include <stdio.h>
#include <string.h>

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

/* A repeat of an applied request: no postings, the applied record named. */
static rf_err_t fold_repeat(rf_fold_ctx_t *ctx, const rf_event_t *ev, const rf__request_t *q)
{
    rf_record_t *rec = rf__rec(ctx, RF_KIND_DUPLICATE);
    rf_record_fact(rec, RF_FACT_USER, ev->user);
    rf_record_fact(rec, RF_FACT_REQUEST, ev->request_id);
    rf_record_factf(rec, RF_FACT_DUPLICATE_OF, "%llu", (unsigned long long)q->seq);
    rf_record_factf(rec, RF_FACT_REASON, "request_id already redeemed (seq %llu)",
                    (unsigned long long)q->seq);
    return rf_fold_record_append(ctx, rec);
}

/* Redemptions are idempotent by (program, user, request_id): the app's
 * retry of an applied request (same amount and asset) is a duplicate, the
 * same id with another amount a conflict (rejected); a rejected request
 * holds no key, so it may be sent again. *done: the event was answered. */
static rf_err_t check_request(rf_fold_ctx_t *ctx, const rf_event_t *ev, uint8_t *k, size_t *kl,
                              bool *done)
{
    *done = false;
    *kl = 0;
    if (!ev->request_id[0]) return RF_OK; /* no key: nothing to repeat (docs/events.md) */
    *kl = rf__key(k, RF__X_REQUEST, ev->program_id, ev->user, ev->request_id);
    rf__request_t q;
    bool found;
    rf_err_t err = rf__get_fixed(ctx, k, *kl, &q, sizeof q, &found);
    if (err || !found) return err;
    *done = true;
    if (q.amount == ev->amount_minor && strcmp(q.asset, ev->asset) == 0)
        return fold_repeat(ctx, ev, &q);
    char reason[RF_FACT_VAL_MAX];
    snprintf(reason, sizeof reason,
             "request_id conflict: already redeemed %lld %s (seq %llu), now %lld %s",
             (long long)q.amount, q.asset, (unsigned long long)q.seq, (long long)ev->amount_minor,
             ev->asset);
    return rf_fold_reject(ctx, reason);
}

/* Stores the applied request under its key (kl 0: it has none). */
static rf_err_t keep_request(rf_fold_ctx_t *ctx, const rf_event_t *ev, const uint8_t *k, size_t kl,
                             uint64_t seq)
{
    if (!kl) return RF_OK;
    rf__request_t q;
    memset(&q, 0, sizeof q); /* padding included: stored bytes are replayed bytes */
    q.fmt = RF__STATE_FMT;
    q.amount = ev->amount_minor;
    q.seq = seq;
    rf_strlcpy(q.asset, ev->asset, sizeof q.asset);
    return rf__sput(ctx, k, kl, &q, sizeof q);
}

rf_err_t rf__fold_redemption(rf_fold_ctx_t *ctx, const rf_event_t *ev)
{
    RF_ASSERT(ev->type == RF_EV_REDEMPTION);
    if (ev->user[0] == '#') return rf_fold_reject(ctx, RESERVED_ID);
    uint8_t k[RF__KEY_MAX];
    size_t kl = 0;
    bool done;
    rf_err_t err = check_request(ctx, ev, k, &kl, &done);
    if (err || done) return err;
    int64_t b[RF_BUCKET__COUNT];
    err = rf_fold_balance(ctx, ev->program_id, ev->user, ev->asset, b);
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
    if ((err = rf_fold_record_append(ctx, rec))) return err;
    return keep_request(ctx, ev, k, kl, rec->seq);
}
