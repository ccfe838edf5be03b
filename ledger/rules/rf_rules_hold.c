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
    k[0] = RF_FOLD_K_RULES;
    k[1] = RF__X_HOLD;
    rf__put_time(k + 2, r->hold_until_ms);
    memcpy(k + HOLD_PREFIX, tail + 2, n - 2);
    RF_ASSERT(HOLD_PREFIX + n - 2 <= RF__KEY_MAX);
    return HOLD_PREFIX + n - 2;
}

/* True when the window entry d sorts after key k in the index's (bytewise)
 * order: hold time first (big-endian in the key), then program, friend and
 * reward id. Holds due at the same millisecond mature in this order whether
 * the window was filled from the index (after an open, a rebalance, a
 * refill) or grew as the holds were made: the ledger must not depend on
 * which (found by it_faults, 500k events: two holds of one millisecond
 * matured in the order they were made live, in key order after a reopen). */
static bool key_after(const rf__due_t *d, const uint8_t *k, size_t kl)
{
    size_t n = d->klen < kl ? d->klen : kl;
    int c = memcmp(d->key, k, n);
    return c > 0 || (c == 0 && d->klen > kl);
}

/* Keeps the in-memory window exact: a hold below the horizon goes into it
 * in order; when full, the last one drops out and the horizon comes down. */
static void window_insert(rf__cache_t *c, const uint8_t *k, size_t kl, const rf__reward_t *r)
{
    int64_t t = r->hold_until_ms;
    if (!c->due_known || t >= c->due_horizon_ms) return; /* a later scan finds it */
    if (c->due_head > 0) {                               /* compact: room at the end */
        memmove(&c->due[0], &c->due[c->due_head], sizeof c->due[0] * (c->ndue - c->due_head));
        c->ndue -= c->due_head;
        c->due_head = 0;
    }
    if (c->ndue == RF_RULES_DUE_AHEAD) {
        rf__due_t *last = &c->due[--c->ndue];
        if (last->time_ms < c->due_horizon_ms) c->due_horizon_ms = last->time_ms;
        if (t >= c->due_horizon_ms) return;
    }
    uint32_t i = c->ndue;
    while (i > 0 && key_after(&c->due[i - 1], k, kl))
        i--;
    memmove(&c->due[i + 1], &c->due[i], sizeof c->due[0] * (c->ndue - i));
    c->due[i].time_ms = t;
    c->due[i].klen = (uint16_t)kl;
    memcpy(c->due[i].key, k, kl);
    c->due[i].r = *r;
    c->ndue++;
    RF_ASSERT(c->ndue <= RF_RULES_DUE_AHEAD);
}

/* The window's copy of a hold, or NULL. */
static rf__due_t *window_find(rf__cache_t *c, const uint8_t *k, size_t kl)
{
    for (uint32_t i = c->due_head; i < c->ndue; i++)
        if (c->due[i].klen == kl && !memcmp(c->due[i].key, k, kl)) return &c->due[i];
    return NULL;
}

rf_err_t rf__hold_add(rf_fold_ctx_t *ctx, const char *prog, const rf__reward_t *r)
{
    RF_ASSERT(r->status == RF__RS_PENDING && !r->review_wait);
    RF_ASSERT(r->hold_until_ms > rf_fold_now_ms(ctx)); /* due holds mature at once */
    rf__cache_t *c = rf__cache(ctx);
    if (!c) return RF_ERR_NOMEM;
    uint8_t k[RF__KEY_MAX];
    size_t kl = hold_key(k, prog, r);
    window_insert(c, k, kl, r);
    return rf_fold_put(ctx, k, kl, r, sizeof *r);
}

rf_err_t rf__hold_update(rf_fold_ctx_t *ctx, const char *prog, const rf__reward_t *r)
{
    RF_ASSERT(r->status == RF__RS_PENDING && !r->review_wait);
    rf__cache_t *c = rf__cache(ctx);
    if (!c) return RF_ERR_NOMEM;
    uint8_t k[RF__KEY_MAX];
    size_t kl = hold_key(k, prog, r);
    rf__due_t *d = window_find(c, k, kl);
    if (d) d->r = *r;
    return rf_fold_put(ctx, k, kl, r, sizeof *r);
}

rf_err_t rf__hold_del(rf_fold_ctx_t *ctx, const char *prog, const rf__reward_t *r)
{
    rf__cache_t *c = rf__cache(ctx);
    if (!c) return RF_ERR_NOMEM;
    uint8_t k[RF__KEY_MAX];
    size_t kl = hold_key(k, prog, r);
    rf__due_t *d = window_find(c, k, kl);
    if (d) d->klen = 0; /* dead: skipped when due */
    return rf_fold_del(ctx, k, kl);
}

typedef struct fill {
    rf__cache_t *c;
    bool corrupt;
} fill_t;

static int fill_cb(const void *key, size_t klen, const void *val, size_t vlen, void *opaque)
{
    rf__cache_t *c = ((fill_t *)opaque)->c;
    if (klen < HOLD_PREFIX + 4 || klen > RF__KEY_MAX) return 0; /* not ours: skip */
    int64_t t = rf__get_time((const uint8_t *)key + 2);
    if (c->ndue == RF_RULES_DUE_AHEAD) {
        c->due_horizon_ms = t; /* every key below t is in the window */
        return 1;
    }
    if (vlen != sizeof(rf__reward_t)) {
        ((fill_t *)opaque)->corrupt = true;
        return 1;
    }
    rf__due_t *d = &c->due[c->ndue++];
    d->time_ms = t;
    d->klen = (uint16_t)klen;
    memcpy(d->key, key, klen);
    memcpy(&d->r, val, vlen);
    return 0;
}

/* Reads the next RF_RULES_DUE_AHEAD holds from the index, from the horizon
 * on (from the start after open). Seeking from the horizon, not the start,
 * matters: matured holds leave tombstones below it until compaction. */
static rf_err_t window_fill(rf_fold_ctx_t *ctx, rf__cache_t *c)
{
    RF_ASSERT(c->due_head == c->ndue);
    uint8_t start[HOLD_PREFIX] = {RF_FOLD_K_RULES, RF__X_HOLD},
            end[2] = {RF_FOLD_K_RULES, RF__X_HOLD + 1};
    size_t sl = 2;
    if (c->due_known) {
        rf__put_time(start + 2, c->due_horizon_ms);
        sl = HOLD_PREFIX;
    }
    c->due_head = c->ndue = 0;
    c->due_horizon_ms = INT64_MAX;
    fill_t f = {c, false};
    rf_err_t err = rf_fold_scan(ctx, start, sl, end, 2, fill_cb, &f);
    if (!err && f.corrupt) err = RF_ERR_CORRUPT;
    c->due_known = err == RF_OK;
    return err;
}

/* The program id of a hold key ("prog \0 friend \0 id" after the time). */
static bool hold_program(const uint8_t *k, size_t kl, char prog[RF_ID_BUF])
{
    const char *p = (const char *)k + HOLD_PREFIX;
    const char *z = memchr(p, 0, kl - HOLD_PREFIX);
    if (!z || z - p > RF_ID_MAX) return false;
    memcpy(prog, p, (size_t)(z - p));
    prog[z - p] = 0;
    return true;
}

/* One due hold: mature it (no state read: the index holds the reward), or
 * park it while its referral is held for review. */
static rf_err_t due_one(rf_fold_ctx_t *ctx, rf__due_t *d)
{
    char prog[RF_ID_BUF];
    rf_err_t err = rf_fold_del(ctx, d->key, d->klen);
    if (err || !hold_program(d->key, d->klen, prog)) return err;
    rf__reward_t *r = &d->r;
    if (r->fmt != RF__STATE_FMT || r->status != RF__RS_PENDING) return RF_ERR_CORRUPT;
    if (r->held) {
        r->review_wait = 1; /* matures when the review approves */
        return rf__reward_put(ctx, prog, r);
    }
    return rf__mature(ctx, prog, r);
}

rf_err_t rf_rules_advance(rf_fold_ctx_t *ctx)
{
    RF_ASSERT(ctx != NULL);
    rf__cache_t *c = rf__cache(ctx);
    if (!c) return RF_ERR_NOMEM;
    int64_t now = rf_fold_now_ms(ctx);
    rf_err_t err = RF_OK;
    for (uint32_t done = 0; done < ADVANCE_MAX;) {
        if (c->due_head == c->ndue) { /* window empty: refill when its horizon is due */
            if (c->due_known && now < c->due_horizon_ms) break;
            if ((err = window_fill(ctx, c)) || c->ndue == 0) break;
        }
        rf__due_t *d = &c->due[c->due_head];
        if (d->time_ms > now) break;        /* the common case: nothing due */
        static _Thread_local rf__due_t cur; /* the window may move under due_one */
        cur = *d;
        c->due_head++;
        if (!cur.klen) continue; /* reversed since */
        if ((err = due_one(ctx, &cur))) break;
        done++;
    }
    return err;
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
    bool indexed = pending && !r->review_wait;
    if (r->reversed == r->amount) {
        if (indexed) err = rf__hold_del(ctx, prog, r);
        r->status = RF__RS_REVERSED;
    } else if (indexed) {
        err = rf__hold_update(ctx, prog, r);
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
