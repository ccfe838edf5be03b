/* rf_rules_reward.c: purchases, qualification and rewards: referrer (tiers)
 * and friend rewards, milestone bonuses, caps per referrer and period, the
 * program budget, coupons and products. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_rules_int.h"
#include "rf_hex.h"
#include "rf_time.h"

static int64_t reward_amount(const rf__reward_rule_t *rule, int64_t order_minor)
{
    switch (rule->type) {
    case RF__RW_FIXED:
    case RF__RW_COUPON:
    case RF__RW_PRODUCT:
        return rule->amount_minor;
    case RF__RW_PERCENT: {
        /* rounds down: never in the user's favour */
        int64_t a = rf__muldiv_floor(order_minor, rule->percent_bp, 10000);
        return rule->max_minor >= 0 && a > rule->max_minor ? rule->max_minor : a;
    }
    default:
        return 0;
    }
}

/* The cap period of an event time: UTC calendar month or year, or 0. */
static uint32_t period_of(uint8_t period, int64_t t_ms)
{
    if (period == RF__PERIOD_ALL) return 0;
    rf_utc_t u = rf_time_utc(t_ms);
    uint32_t year = (uint32_t)u.year;
    return period == RF__PERIOD_YEAR ? year : year * 12 + (uint32_t)(u.month - 1);
}

typedef struct limits {
    uint8_t ck[RF__KEY_MAX], bk[RF__KEY_MAX];
    size_t ckl, bkl;
    rf__capstate_t cap, budget;
    bool capped; /* the reward counts against the referrer's caps */
} limits_t;

/* Applies the referrer's caps (when capped) and the program budget to
 * *amount: reduces or refuses. cap gets the limit that acted ("" none). */
static rf_err_t apply_limits(rf_fold_ctx_t *ctx, const rf__prog_t *p, const char *referrer,
                             const char *asset, int64_t t_ms, int64_t *amount, limits_t *l,
                             char cap[32], bool *refused)
{
    bool found;
    rf_err_t err = RF_OK;
    cap[0] = 0;
    *refused = false;
    memset(&l->cap, 0, sizeof l->cap);
    memset(&l->budget, 0, sizeof l->budget);
    if (l->capped && (p->cap_count || p->cap_value)) {
        l->ckl = rf__key(l->ck, RF__X_CAP, p->id, referrer, "");
        rf_be32_put(l->ck + l->ckl, period_of(p->cap_period, t_ms));
        l->ckl += 4;
        if ((err = rf__get_fixed(ctx, l->ck, l->ckl, &l->cap, sizeof l->cap, &found))) return err;
        if (p->cap_count && l->cap.count >= p->cap_count) {
            snprintf(cap, 32, "max_count");
            *refused = true;
            return RF_OK;
        }
        if (p->cap_value && l->cap.value + *amount > p->cap_value) {
            int64_t room = p->cap_value - l->cap.value;
            snprintf(cap, 32, "max_value_minor");
            if (!p->cap_reduce || room <= 0) {
                *refused = true;
                return RF_OK;
            }
            *amount = room;
        }
    }
    if (p->budget_minor) {
        l->bkl = rf__key(l->bk, RF__X_BUDGET, p->id, asset, NULL);
        if ((err = rf__get_fixed(ctx, l->bk, l->bkl, &l->budget, sizeof l->budget, &found)))
            return err;
        if (l->budget.value + *amount > p->budget_minor) {
            int64_t room = p->budget_minor - l->budget.value;
            snprintf(cap, 32, "budget");
            if (!p->cap_reduce || room <= 0) {
                *refused = true;
                return RF_OK;
            }
            *amount = room;
        }
    }
    return RF_OK;
}

/* Counts a granted reward against the caps and budget read by apply_limits. */
static rf_err_t use_limits(rf_fold_ctx_t *ctx, const rf__prog_t *p, limits_t *l, int64_t amount)
{
    rf_err_t err = RF_OK;
    if (l->capped && (p->cap_count || p->cap_value)) {
        l->cap.fmt = RF__STATE_FMT;
        l->cap.count++;
        l->cap.value += amount;
        err = rf__sput(ctx, l->ck, l->ckl, &l->cap, sizeof l->cap);
    }
    if (!err && p->budget_minor) {
        l->budget.fmt = RF__STATE_FMT;
        l->budget.count++;
        l->budget.value += amount;
        RF_ASSERT(l->budget.value <= p->budget_minor);
        err = rf__sput(ctx, l->bk, l->bkl, &l->budget, sizeof l->budget);
    }
    return err;
}

/* A unique coupon code: "CPN-" and 16 Crockford symbols of a derived UUID;
 * registered under 'xQ' so a (2^-80) collision derives another. */
static rf_err_t coupon_code(rf_fold_ctx_t *ctx, const char *prog, const char *role,
                            const char *reward_id, char out[RF_ID_BUF])
{
    static const char sym[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    for (int attempt = 0; attempt < 4; attempt++) {
        char label[64], uuid[37], hex[33];
        snprintf(label, sizeof label, "coupon/%s/%d", role, attempt);
        rf_fold_derive_id(ctx, label, uuid);
        int h = 0;
        for (const char *c = uuid; *c; c++)
            if (*c != '-') hex[h++] = *c;
        hex[h] = 0;
        memcpy(out, "CPN-", 4);
        for (int i = 0; i < 4; i++) { /* 4 groups of 20 bits -> 4 symbols each */
            unsigned v = 0;           /* the derived id is lowercase hex: every digit valid */
            for (int j = 0; j < 5; j++)
                v = v << 4 | (unsigned)rf_hex_digit(hex[5 * i + j]);
            for (int j = 3; j >= 0; j--, v >>= 5)
                out[4 + 4 * i + j] = sym[v & 31];
        }
        out[20] = 0;
        uint8_t k[RF__KEY_MAX];
        size_t kl = rf__key(k, RF__X_COUPON, prog, out, NULL), vlen = 0;
        char tmp[RF_UUID_STR_LEN + 1];
        rf_err_t err = rf__sget(ctx, k, kl, tmp, sizeof tmp, &vlen);
        if (err == RF_ERR_NOT_FOUND) return rf__sput(ctx, k, kl, reward_id, strlen(reward_id));
        if (err && err != RF_ERR_OVERSIZE) return err;
    }
    return RF_ERR_INTERNAL;
}

/* One reward to decide and post. */
typedef struct rw_req {
    uint8_t role; /* rf__role_t */
    const rf__reward_rule_t *rule;
    const char *owner;
    int64_t tier;       /* referrer: the tier's min_referrals (0: base) */
    int64_t milestone;  /* milestone: its referrals count */
    int64_t successful; /* referrer's successful referrals after this one */
} rw_req_t;

static void reward_facts(rf_record_t *rec, const rf__prog_t *p, const rf_event_t *ev,
                         const rw_req_t *q, const rf__user_t *U, int64_t amount)
{
    rf_record_fact(rec, RF_FACT_USER, q->owner);
    rf_record_fact(rec, RF_FACT_ROLE, rf__role_name(q->role));
    rf_record_fact(rec, RF_FACT_REFERRER, U->referrer);
    rf_record_fact(rec, RF_FACT_FRIEND, ev->user);
    rf_record_fact(rec, RF_FACT_ORDER, ev->order_id);
    rf_record_fact(rec, RF_FACT_REWARD_TYPE, rf__reward_type_name(q->rule->type));
    rf_record_factf(rec, RF_FACT_AMOUNT_MINOR, "%lld", (long long)amount);
    rf_record_fact(rec, RF_FACT_ASSET, q->rule->asset);
    rf_record_factf(rec, RF_FACT_RULE_VERSION, "%d", (int)p->version);
    if (q->role == RF__ROLE_REFERRER)
        rf_record_factf(rec, RF_FACT_TIER, "%lld", (long long)q->tier);
    if (q->role == RF__ROLE_MILESTONE)
        rf_record_factf(rec, RF_FACT_MILESTONE, "%lld", (long long)q->milestone);
    if (q->role != RF__ROLE_FRIEND)
        rf_record_factf(rec, RF_FACT_SUCCESSFUL, "%lld", (long long)q->successful);
    if (q->rule->sku[0]) rf_record_fact(rec, RF_FACT_SKU, q->rule->sku);
}

static rf_err_t refused(rf_fold_ctx_t *ctx, const rf__prog_t *p, const rf_event_t *ev,
                        const rw_req_t *q, const rf__user_t *U, int64_t amount, const char *cap)
{
    rf_record_t *rec = rf__rec(ctx, RF_KIND_REWARD_REFUSED);
    reward_facts(rec, p, ev, q, U, amount);
    rf_record_fact(rec, RF_FACT_REASON,
                   cap[0] ? (strcmp(cap, "budget") ? "cap" : "budget") : "zero_amount");
    if (cap[0]) rf_record_fact(rec, RF_FACT_CAP, cap);
    return rf_fold_record_append(ctx, rec);
}

/* Posts the pending reward record, stores the reward, holds or matures it.
 * *posted: false when refused (zero, cap, budget). */
static rf_err_t post_reward(rf_fold_ctx_t *ctx, const rf__prog_t *p, const rf_event_t *ev,
                            const rw_req_t *q, const rf__user_t *U, rf__order_t *O, bool *posted)
{
    *posted = false;
    int64_t amount = reward_amount(q->rule, ev->amount_minor);
    char cap[32] = "";
    bool refuse = amount <= 0 && q->rule->type != RF__RW_PRODUCT;
    limits_t l;
    l.capped = q->role != RF__ROLE_FRIEND;
    rf_err_t err = RF_OK;
    if (!refuse)
        err = apply_limits(ctx, p, U->referrer, q->rule->asset, ev->occurred_at_ms, &amount, &l,
                           cap, &refuse);
    if (err || refuse) return err ? err : refused(ctx, p, ev, q, U, amount, cap);
    static _Thread_local rf__reward_t r;
    memset(&r, 0, sizeof r);
    r.fmt = RF__STATE_FMT;
    r.role = q->role;
    r.rule_version = p->version;
    r.amount = amount;
    r.hold_until_ms = ev->occurred_at_ms + p->hold_ms;
    r.milestone = q->milestone;
    rf_strlcpy(r.owner, q->owner, sizeof r.owner);
    rf_strlcpy(r.asset, q->rule->asset, sizeof r.asset);
    rf_strlcpy(r.friend_, ev->user, sizeof r.friend_);
    rf_strlcpy(r.referrer, U->referrer, sizeof r.referrer);
    rf_strlcpy(r.order, ev->order_id, sizeof r.order);
    r.held = U->status == RF__ST_REVIEW;
    char label[32], coupon[RF_ID_BUF];
    snprintf(label, sizeof label, "reward/%s", rf__role_name(q->role));
    rf_fold_derive_id(ctx, label, r.id);
    if (q->rule->type == RF__RW_COUPON &&
        (err = coupon_code(ctx, p->id, rf__role_name(q->role), r.id, coupon)))
        return err;
    if ((err = use_limits(ctx, p, &l, amount))) return err;
    rf_record_t *rec = rf__rec(ctx, RF_KIND_REWARD);
    reward_facts(rec, p, ev, q, U, amount);
    rf_record_fact(rec, RF_FACT_REWARD_ID, r.id);
    rf_record_factf(rec, RF_FACT_HOLD_UNTIL, "%lld", (long long)r.hold_until_ms);
    if (q->rule->type == RF__RW_COUPON) rf_record_fact(rec, RF_FACT_COUPON, coupon);
    if (cap[0]) rf_record_fact(rec, RF_FACT_CAP, cap);
    if (U->status == RF__ST_REVIEW) rf_record_fact(rec, RF_FACT_REVIEW, "held");
    if (amount > 0) {
        rf_record_post(rec, q->owner, RF_BUCKET_PENDING, r.asset, amount);
        rf_record_post(rec, "#expense", RF_BUCKET_EXPENSE, r.asset, -amount);
    }
    if ((err = rf_fold_record_append(ctx, rec))) return err;
    r.seq = rec->seq;
    RF_ASSERT(r.seq > 0 && O->nrewards < RF__ORDER_REWARDS);
    memcpy(O->rewards[O->nrewards++], r.id, sizeof r.id);
    *posted = true;
    if (r.hold_until_ms > rf_fold_now_ms(ctx)) {
        err = rf__hold_add(ctx, p->id, &r);
        return err ? err : rf__reward_put(ctx, p->id, &r);
    }
    if (r.held) { /* due, but held until the review approves */
        r.review_wait = 1;
        return rf__reward_put(ctx, p->id, &r);
    }
    return rf__mature(ctx, p->id, &r);
}

static bool milestone_paid(const rf__user_t *R, int64_t n)
{
    for (uint32_t i = 0; i < R->nmilestones && i < RF_RULES_MILESTONES_MAX; i++)
        if (R->milestones_paid[i] == n) return true;
    return false;
}

rf_err_t rf__grant(rf_fold_ctx_t *ctx, const rf__prog_t *p, const rf_event_t *ev, rf__user_t *U,
                   rf__user_t *R, rf__order_t *O, bool first_qual)
{
    RF_ASSERT(U->referrer[0] && (U->status == RF__ST_OK || U->status == RF__ST_REVIEW));
    int64_t before = first_qual ? R->successful : (R->successful > 0 ? R->successful - 1 : 0);
    if (first_qual) {
        R->successful++;
        U->flags |= RF__U_QUALIFIED;
        rf_strlcpy(U->qual_order, ev->order_id, sizeof U->qual_order);
        O->qualifying = 1;
    }
    U->nqual++;
    rw_req_t q = {RF__ROLE_REFERRER, &p->referrer, U->referrer, 0, 0, R->successful};
    for (uint32_t i = 0; i < p->ntiers; i++)
        if (before >= p->tiers[i].min_referrals) {
            q.rule = &p->tiers[i].reward;
            q.tier = p->tiers[i].min_referrals;
        }
    bool posted;
    rf_err_t err = RF_OK;
    if (q.rule->type != RF__RW_NONE) err = post_reward(ctx, p, ev, &q, U, O, &posted);
    if (!err && p->friend_.type != RF__RW_NONE) {
        rw_req_t f = {RF__ROLE_FRIEND, &p->friend_, ev->user, 0, 0, 0};
        err = post_reward(ctx, p, ev, &f, U, O, &posted);
    }
    for (uint32_t i = 0; !err && first_qual && i < p->nmilestones; i++) {
        const rf__milestone_t *m = &p->milestones[i];
        if (m->referrals != R->successful || milestone_paid(R, m->referrals)) continue;
        if (R->nmilestones >= RF_RULES_MILESTONES_MAX) break; /* bounded: see docs */
        rw_req_t b = {RF__ROLE_MILESTONE, &m->bonus, U->referrer, 0, m->referrals, R->successful};
        err = post_reward(ctx, p, ev, &b, U, O, &posted);
        if (!err && posted) R->milestones_paid[R->nmilestones++] = m->referrals;
    }
    return err;
}

/* Why a referred friend's purchase does not qualify (NULL: it does). */
static const char *not_qualified(const rf__prog_t *p, const rf_event_t *ev, const rf__user_t *U,
                                 bool first, bool dup)
{
    if (dup) return "duplicate_order";
    if (ev->asset[0] && strcmp(ev->asset, p->currency) != 0) return "currency_mismatch";
    if (ev->amount_minor < p->min_order_minor) return "below_min_order";
    if (p->first_purchase_only && !first) return "not_first_purchase";
    if (U->nqual >= RF_RULES_QUALIFYING_MAX) return "qualifying_limit";
    if (ev->occurred_at_ms > U->signup_ms + p->qual_window_ms) return "outside_window";
    return NULL;
}

static void keep_payment(rf__user_t *U, const char *hex)
{
    if (!hex[0]) return;
    for (uint32_t i = 0; i < U->npay && i < RF_RULES_PAYMENT_HASHES; i++)
        if (rf__hash_eq_hex(U->pay[i], hex)) return;
    if (U->npay == RF_RULES_PAYMENT_HASHES) { /* keep the newest */
        memmove(U->pay[0], U->pay[1], 32 * (RF_RULES_PAYMENT_HASHES - 1));
        U->npay--;
    }
    rf__hash_from_hex(hex, U->pay[U->npay++]);
}

/* The decisions about one purchase, made before its record is written. */
typedef struct pdec {
    bool dup, first, referred, qualifies, new_review, guest;
    const char *why;
    char why_buf[64];
    rf__checks_t checks;
    rf__attrib_t a;
} pdec_t;

/* A guest's purchase with a code (no Signup folded): attribution happens here. */
static rf_err_t guest_attribution(rf_fold_ctx_t *ctx, const rf__prog_t *p, const rf_event_t *ev,
                                  rf__user_t *U, pdec_t *d)
{
    rf_err_t err = rf__attribute(ctx, p, ev, ev->user, &d->a);
    if (err) return err;
    d->guest = true;
    d->a.how = "purchase_code";
    U->flags |= RF__U_ATTRIBUTED;
    U->status = d->a.status;
    U->signup_ms = ev->occurred_at_ms;
    rf_strlcpy(U->referrer, d->a.referrer[0] ? d->a.referrer : d->a.candidate, sizeof U->referrer);
    if (d->a.status == RF__ST_REVIEW) {
        d->new_review = true;
        rf_strlcpy(U->review_reason, d->a.reason ? d->a.reason : "", sizeof U->review_reason);
    }
    return RF_OK;
}

static rf_err_t decide_purchase(rf_fold_ctx_t *ctx, const rf__prog_t *p, const rf_event_t *ev,
                                rf__user_t *U, rf__user_t *R, pdec_t *d)
{
    rf_err_t err = RF_OK;
    if (!(U->flags & (RF__U_ATTRIBUTED | RF__U_SIGNED_UP)) && ev->code[0] &&
        (err = guest_attribution(ctx, p, ev, U, d)))
        return err;
    d->first = U->purchases == 0;
    U->purchases++;
    keep_payment(U, ev->payment_hash);
    d->referred = (U->status == RF__ST_OK || U->status == RF__ST_REVIEW) && U->referrer[0];
    if (!d->referred) {
        d->why = U->status == RF__ST_REJECTED ? "referral_rejected" : "not_referred";
        if (d->guest && d->a.reason) d->why = d->a.reason;
        return RF_OK;
    }
    bool found;
    if ((err = rf__user_get(ctx, p->id, U->referrer, R, &found))) return err;
    rf__checks_purchase(p, ev, R, d->dup, &d->checks);
    if (d->checks.worst != RF__ACT_OFF) {
        snprintf(d->why_buf, sizeof d->why_buf, "fraud:%s", d->checks.first_fail);
        d->why = d->why_buf;
    }
    if (d->checks.worst == RF__ACT_REJECT) {
        U->status = RF__ST_REJECTED;
        return RF_OK;
    }
    if (d->checks.worst == RF__ACT_REVIEW && U->status == RF__ST_OK) {
        U->status = RF__ST_REVIEW;
        d->new_review = true;
        rf_strlcpy(U->review_reason, d->why, sizeof U->review_reason);
    }
    const char *nq = not_qualified(p, ev, U, d->first, d->dup);
    d->qualifies = nq == NULL;
    if (nq) d->why = nq;
    return RF_OK;
}

static void purchase_facts(rf_record_t *rec, const rf_event_t *ev, const rf__user_t *U,
                           const pdec_t *d)
{
    rf_record_fact(rec, RF_FACT_USER, ev->user);
    rf_record_fact(rec, RF_FACT_ORDER, ev->order_id);
    rf_record_factf(rec, RF_FACT_AMOUNT, "%lld", (long long)ev->amount_minor);
    if (ev->asset[0]) rf_record_fact(rec, RF_FACT_CURRENCY, ev->asset);
    rf_record_fact(rec, RF_FACT_REFERRED, d->referred ? "1" : "0");
    if (d->referred) rf_record_fact(rec, RF_FACT_REFERRER, U->referrer);
    if (d->guest) {
        rf_record_fact(rec, RF_FACT_ATTRIBUTION, d->a.how);
        if (d->a.candidate[0]) rf_record_fact(rec, RF_FACT_REFUSED_REFERRER, d->a.candidate);
        if (d->a.code[0]) rf_record_fact(rec, RF_FACT_CODE, d->a.code);
        if (d->a.checks[0]) rf_record_fact(rec, "signup_checks", d->a.checks);
    }
    if (d->checks.text[0]) rf_record_fact(rec, RF_FACT_CHECKS, d->checks.text);
    if (d->dup) rf_record_fact(rec, "duplicate_order", "1");
    rf_record_fact(rec, RF_FACT_QUALIFIED, d->qualifies ? "1" : "0");
    if (d->why) rf_record_fact(rec, RF_FACT_REASON, d->why);
}

static void order_init(rf__order_t *O, const rf_event_t *ev)
{
    memset(O, 0, sizeof *O);
    O->fmt = RF__STATE_FMT;
    O->amount = ev->amount_minor;
    O->time_ms = ev->occurred_at_ms;
    rf_strlcpy(O->user, ev->user, sizeof O->user);
    rf_strlcpy(O->currency, ev->asset, sizeof O->currency);
}

static rf_err_t reject_duplicate(rf_fold_ctx_t *ctx, const rf_event_t *ev)
{
    rf_record_t *rec = rf__rec(ctx, RF_KIND_REJECTED);
    rf_record_fact(rec, RF_FACT_USER, ev->user);
    rf_record_fact(rec, RF_FACT_ORDER, ev->order_id);
    rf_record_fact(rec, RF_FACT_CHECKS, "duplicate_order=fail:reject");
    rf_record_fact(rec, RF_FACT_REASON, "fraud:duplicate_order");
    return rf_fold_record_append(ctx, rec);
}

rf_err_t rf__fold_purchase(rf_fold_ctx_t *ctx, const rf__prog_t *p, const rf_event_t *ev)
{
    static _Thread_local rf__user_t U, R;
    static _Thread_local rf__order_t O;
    static _Thread_local pdec_t d;
    memset(&d, 0, sizeof d);
    rf__checks_init(&d.checks);
    bool found;
    uint8_t ok[RF__KEY_MAX];
    size_t okl = rf__key(ok, RF__X_ORDER, p->id, ev->order_id, NULL);
    rf_err_t err = rf__get_fixed(ctx, ok, okl, &O, sizeof O, &d.dup);
    if (err) return err;
    if (d.dup && p->dup_order.action == RF__ACT_REJECT) return reject_duplicate(ctx, ev);
    if ((err = rf__user_get(ctx, p->id, ev->user, &U, &found))) return err;
    if ((err = decide_purchase(ctx, p, ev, &U, &R, &d))) return err;
    rf_record_t *rec = rf__rec(ctx, RF_KIND_PURCHASE);
    purchase_facts(rec, ev, &U, &d);
    if ((err = rf_fold_record_append(ctx, rec))) return err;
    if (d.new_review && (err = rf__review_record(ctx, ev->user, U.referrer, "held", U.review_reason,
                                                 d.guest ? d.a.checks : d.checks.text)))
        return err;
    /* rewards of earlier purchases wait for the decision too */
    if (d.new_review && !d.guest && (err = rf__hold_for_review(ctx, p->id, ev->user))) return err;
    if (!d.dup) order_init(&O, ev);
    if (d.qualifies) {
        err = rf__grant(ctx, p, ev, &U, &R, &O, !(U.flags & RF__U_QUALIFIED));
        if (!err) err = rf__user_put(ctx, p->id, U.referrer, &R);
    }
    if (!err && !d.dup) err = rf__sput(ctx, ok, okl, &O, sizeof O);
    if (!err) err = rf__user_put(ctx, p->id, ev->user, &U);
    return err;
}
