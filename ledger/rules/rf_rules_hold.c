/* rf_rules_hold.c: holds and maturity in event time (an index of pending
 * rewards by hold_until), and reversals: void in the hold, clawback after. */
#include <stdio.h>
#include <string.h>

#include "rf_rules_int.h"

/* Rewards matured per event: half the record budget, the rest waits for the
 * next event (rf_rules.h). */
#define ADVANCE_MAX (RF_RECORDS_PER_EVENT_MAX / 2)
#define HOLD_PREFIX 10 /* 'x' 'H' be64(time) */

static size_t hold_key(uint8_t *k, const char *prog, const rf__reward_t *r)
{
    uint8_t tail[RF__KEY_MAX];
    size_t n = rf__reward_key(tail, prog, r->friend_, r->id);
    k[0] = 'x';
    k[1] = RF__X_HOLD;
    rf__put_time(k + 2, r->hold_until_ms);
    memcpy(k + HOLD_PREFIX, tail + 2, n - 2);
    RF_ASSERT(HOLD_PREFIX + n - 2 <= RF__KEY_MAX);
    return HOLD_PREFIX + n - 2;
}

rf_err_t rf__hold_add(rf_fold_ctx_t *ctx, const char *prog, const rf__reward_t *r)
{
    RF_ASSERT(r->status == RF__RS_PENDING);
    uint8_t k[RF__KEY_MAX];
    size_t kl = hold_key(k, prog, r);
    rf__cache_note_due(ctx, r->hold_until_ms);
    return rf_fold_put(ctx, k, kl, "", 0);
}

rf_err_t rf__hold_del(rf_fold_ctx_t *ctx, const char *prog, const rf__reward_t *r)
{
    uint8_t k[RF__KEY_MAX];
    size_t kl = hold_key(k, prog, r);
    return rf_fold_del(ctx, k, kl);
}

void rf__cache_note_due(rf_fold_ctx_t *ctx, int64_t hold_until_ms)
{
    rf__cache_t *c = rf__cache(ctx);
    RF_ASSERT(c != NULL); /* created by rf__prog_get before any hold */
    if (hold_until_ms < c->min_due_ms) c->min_due_ms = hold_until_ms;
}

typedef struct due {
    int64_t now_ms;
    int64_t next_ms; /* first hold after the due ones (INT64_MAX: none) */
    uint32_t n;
    uint8_t keys[ADVANCE_MAX][RF__KEY_MAX];
    size_t klen[ADVANCE_MAX];
} due_t;

static int due_cb(const void *key, size_t klen, const void *val, size_t vlen, void *opaque)
{
    (void)val;
    (void)vlen;
    due_t *d = opaque;
    if (klen < HOLD_PREFIX + 4 || klen > RF__KEY_MAX) return 0; /* not ours: skip */
    int64_t t = rf__get_time((const uint8_t *)key + 2);
    if (t > d->now_ms || d->n == ADVANCE_MAX) {
        d->next_ms = t;
        return 1;
    }
    memcpy(d->keys[d->n], key, klen);
    d->klen[d->n++] = klen;
    return 0;
}

/* Splits "prog \0 friend \0 id" of a hold key. */
static bool parse_hold(const uint8_t *k, size_t kl, char *prog, char *friend_, char *id)
{
    const char *p = (const char *)k + HOLD_PREFIX, *end = (const char *)k + kl;
    const char *z1 = memchr(p, 0, (size_t)(end - p));
    if (!z1 || z1 - p > RF_ID_MAX) return false;
    const char *z2 = memchr(z1 + 1, 0, (size_t)(end - z1 - 1));
    if (!z2 || z2 - z1 - 1 > RF_ID_MAX || end - z2 - 1 > RF_UUID_STR_LEN) return false;
    memcpy(prog, p, (size_t)(z1 - p));
    prog[z1 - p] = 0;
    memcpy(friend_, z1 + 1, (size_t)(z2 - z1 - 1));
    friend_[z2 - z1 - 1] = 0;
    memcpy(id, z2 + 1, (size_t)(end - z2 - 1));
    id[end - z2 - 1] = 0;
    return true;
}

/* One due hold: mature it, or park it while its referral is in review. */
static rf_err_t due_one(rf_fold_ctx_t *ctx, const uint8_t *k, size_t kl)
{
    char prog[RF_ID_BUF], friend_[RF_ID_BUF], id[RF_UUID_STR_LEN + 1];
    rf_err_t err = rf_fold_del(ctx, k, kl);
    if (err || !parse_hold(k, kl, prog, friend_, id)) return err;
    rf__reward_t r;
    bool found = false;
    if ((err = rf__reward_get(ctx, prog, friend_, id, &r, &found))) return err;
    if (!found || r.status != RF__RS_PENDING) return RF_OK; /* reversed since: stale entry */
    rf__user_t u;
    if ((err = rf__user_get(ctx, prog, friend_, &u, &found))) return err;
    if (u.status == RF__ST_REVIEW) {
        r.review_wait = 1; /* matures when the review approves */
        return rf__reward_put(ctx, prog, &r);
    }
    return rf__mature(ctx, prog, &r);
}

rf_err_t rf_rules_advance(rf_fold_ctx_t *ctx)
{
    RF_ASSERT(ctx != NULL);
    rf__cache_t *c = rf__cache(ctx);
    if (!c) return RF_ERR_NOMEM;
    int64_t now = rf_fold_now_ms(ctx);
    if (c->due_known && now < c->min_due_ms) return RF_OK; /* the common case: nothing due */
    static _Thread_local due_t d; /* 8 KiB: off the stack; one fold per thread */
    d.now_ms = now;
    d.next_ms = INT64_MAX;
    d.n = 0;
    const uint8_t start[2] = {'x', RF__X_HOLD}, end[2] = {'x', RF__X_HOLD + 1};
    rf_err_t err = rf_fold_scan(ctx, start, 2, end, 2, due_cb, &d);
    for (uint32_t i = 0; !err && i < d.n; i++)
        err = due_one(ctx, d.keys[i], d.klen[i]);
    if (err) return err;
    c->min_due_ms = d.next_ms;
    c->due_known = true;
    return RF_OK;
}

rf_err_t rf__mature(rf_fold_ctx_t *ctx, const char *prog, rf__reward_t *r)
{
    RF_ASSERT(r->status == RF__RS_PENDING && r->reversed < r->amount + (r->amount == 0));
    int64_t amt = r->amount - r->reversed;
    rf_record_t *rec = rf__rec(ctx, RF_KIND_MATURED);
    rf_strlcpy(rec->program_id, prog, sizeof rec->program_id);
    rf_record_fact(rec, RF_FACT_USER, r->owner);
    rf_record_fact(rec, RF_FACT_ROLE, rf__role_name(r->role));
    rf_record_fact(rec, RF_FACT_REWARD_ID, r->id);
    rf_record_fact(rec, RF_FACT_FRIEND, r->friend_);
    rf_record_fact(rec, RF_FACT_REFERRER, r->referrer);
    rf_record_factf(rec, RF_FACT_AMOUNT_MINOR, "%lld", (long long)amt);
    rf_record_fact(rec, RF_FACT_ASSET, r->asset);
    rf_record_factf(rec, RF_FACT_HOLD_UNTIL, "%lld", (long long)r->hold_until_ms);
    if (amt > 0) {
        int64_t b[RF_BUCKET__COUNT];
        rf_err_t err = rf_fold_balance(ctx, prog, r->owner, r->asset, b);
        if (err) return err;
        rf_fold_credit_available(rec, b, r->owner, r->asset, amt, r->owner, RF_BUCKET_PENDING);
    }
    r->status = RF__RS_MATURED;
    r->review_wait = 0;
    rf_err_t err = rf__reward_put(ctx, prog, r);
    return err ? err : rf_fold_record_append(ctx, rec);
}

rf_err_t rf__reverse(rf_fold_ctx_t *ctx, const char *prog, rf__reward_t *r, int64_t amount,
                     const char *reason)
{
    RF_ASSERT(amount > 0 && amount <= r->amount - r->reversed);
    RF_ASSERT(r->status == RF__RS_PENDING || r->status == RF__RS_MATURED);
    bool pending = r->status == RF__RS_PENDING;
    rf_record_t *rec = rf__rec(ctx, pending ? RF_KIND_VOID : RF_KIND_CLAWBACK);
    rf_strlcpy(rec->program_id, prog, sizeof rec->program_id);
    rf_record_fact(rec, RF_FACT_USER, r->owner);
    rf_record_fact(rec, RF_FACT_ROLE, rf__role_name(r->role));
    rf_record_fact(rec, RF_FACT_REWARD_ID, r->id);
    rf_record_factf(rec, RF_FACT_REVERSES, "%llu", (unsigned long long)r->seq);
    rf_record_fact(rec, RF_FACT_REASON, reason);
    rf_record_fact(rec, RF_FACT_FRIEND, r->friend_);
    rf_record_fact(rec, RF_FACT_REFERRER, r->referrer);
    if (r->order[0]) rf_record_fact(rec, RF_FACT_ORDER, r->order);
    rf_record_factf(rec, RF_FACT_AMOUNT_MINOR, "%lld", (long long)amount);
    rf_record_fact(rec, RF_FACT_ASSET, r->asset);
    if (pending) {
        rf_record_post(rec, r->owner, RF_BUCKET_PENDING, r->asset, -amount);
    } else {
        int64_t b[RF_BUCKET__COUNT];
        rf_err_t err = rf_fold_balance(ctx, prog, r->owner, r->asset, b);
        if (err) return err;
        int64_t avail = b[RF_BUCKET_AVAILABLE] > 0 ? b[RF_BUCKET_AVAILABLE] : 0;
        int64_t take = avail < amount ? avail : amount;
        if (take > 0) rf_record_post(rec, r->owner, RF_BUCKET_AVAILABLE, r->asset, -take);
        if (amount - take > 0) {
            rf_record_post(rec, r->owner, RF_BUCKET_RECEIVABLE, r->asset, -(amount - take));
            rf_record_factf(rec, "receivable", "%lld", (long long)(amount - take));
        }
    }
    rf_record_post(rec, "#expense", RF_BUCKET_EXPENSE, r->asset, amount);
    r->reversed += amount;
    rf_err_t err = RF_OK;
    if (r->reversed == r->amount) {
        if (pending) err = rf__hold_del(ctx, prog, r);
        r->status = RF__RS_REVERSED;
    }
    if (!err) err = rf__reward_put(ctx, prog, r);
    return err ? err : rf_fold_record_append(ctx, rec);
}

typedef struct collect {
    rf__reward_t *out;
    uint32_t cap, n;
    bool corrupt;
} collect_t;

static int collect_cb(const void *key, size_t klen, const void *val, size_t vlen, void *opaque)
{
    (void)key;
    (void)klen;
    collect_t *c = opaque;
    if (vlen != sizeof(rf__reward_t)) {
        c->corrupt = true;
        return 1;
    }
    if (c->n == c->cap) return 1;
    memcpy(&c->out[c->n++], val, vlen);
    return 0;
}

rf_err_t rf__friend_rewards(rf_fold_ctx_t *ctx, const char *prog, const char *friend_,
                            rf__reward_t *out, uint32_t cap, uint32_t *n)
{
    uint8_t start[RF__KEY_MAX], end[RF__KEY_MAX];
    size_t sl = rf__key(start, RF__X_REWARD, prog, friend_, "");
    memcpy(end, start, sl);
    end[sl - 1] = 1; /* just past the "\0" that ends friend */
    collect_t c = {out, cap, 0, false};
    rf_err_t err = rf_fold_scan(ctx, start, sl, end, sl, collect_cb, &c);
    *n = c.n;
    if (!err && c.corrupt) err = RF_ERR_CORRUPT;
    return err;
}
