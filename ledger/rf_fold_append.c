/* rf_fold_append.c: the fold's append step (rf_fold.h): a record gets its
 * seq, prev_hash and hash, its postings must sum to zero per asset and are
 * applied to the balances ('b'), all or none; and the balance reads the rules
 * decide on. The seam's accessors are in rf_fold_ctx.c. */
#include <string.h>

#include "rf_ledger_int.h"

/* ---- balances ---- */

static rf_err_t balance_get(rf_ledger_t *l, const uint8_t *key, size_t klen,
                            int64_t b[RF_BUCKET__COUNT])
{
    uint8_t v[RF__BALANCE_VAL_LEN];
    size_t vlen = 0;
    rf_err_t err = rf_fold_get(&l->ctx, key, klen, v, sizeof v, &vlen);
    memset(b, 0, sizeof(int64_t) * RF_BUCKET__COUNT);
    if (err == RF_ERR_NOT_FOUND) return RF_OK;
    if (err == RF_OK && vlen != RF__BALANCE_VAL_LEN) err = RF_ERR_CORRUPT;
    if (err == RF_ERR_OVERSIZE) err = RF_ERR_CORRUPT;
    if (err) {
        rf_log(RF_LOG_ERROR, "ledger partition %d: bad balance value (%s)", (int)l->partition,
               rf_err_str(err));
        return err;
    }
    rf__balance_decode(v, b);
    return RF_OK;
}

rf_err_t rf_fold_balance(rf_fold_ctx_t *ctx, const char *program, const char *owner,
                         const char *asset, int64_t buckets[RF_BUCKET__COUNT])
{
    RF_ASSERT(program != NULL && owner != NULL && asset != NULL);
    uint8_t key[RF__BALANCE_KEY_MAX];
    size_t klen = rf__balance_key(key, program, owner, asset);
    return balance_get(ctx->l, key, klen, buckets);
}

void rf_fold_credit_available(rf_record_t *rec, const int64_t buckets[RF_BUCKET__COUNT],
                              const char *owner, const char *asset, int64_t amount,
                              const char *from_owner, rf_bucket_t from_bucket)
{
    RF_ASSERT(amount > 0 && amount <= RF_AMOUNT_MAX);
    RF_ASSERT(from_bucket < RF_BUCKET__COUNT);
    int64_t owed = buckets[RF_BUCKET_RECEIVABLE] < 0 ? -buckets[RF_BUCKET_RECEIVABLE] : 0;
    int64_t settle = owed < amount ? owed : amount;
    rf_record_post(rec, from_owner, from_bucket, asset, -amount);
    if (settle > 0) rf_record_post(rec, owner, RF_BUCKET_RECEIVABLE, asset, settle);
    if (amount - settle > 0)
        rf_record_post(rec, owner, RF_BUCKET_AVAILABLE, asset, amount - settle);
}

/* ---- records ---- */

rf_record_t *rf_fold_record_begin(rf_fold_ctx_t *ctx, const char *kind)
{
    rf_ledger_t *l = ctx->l;
    /* bound: the rules produce at most RF_RECORDS_PER_EVENT_MAX per offset */
    RF_ASSERT(ctx->nbegun < RF_RECORDS_PER_EVENT_MAX);
    RF_ASSERT(kind != NULL && strlen(kind) < RF_ID_BUF);
    rf_record_t *rec = &l->recs[ctx->nbegun++];
    const rf_event_t *ev = ctx->ev;
    rf_record_clear(rec);
    rec->partition = l->partition;
    rec->offset = ctx->offset;
    memcpy(rec->event_id, ev->event_id, sizeof rec->event_id);
    memcpy(rec->program_id, ev->program_id, sizeof rec->program_id);
    rec->occurred_at_ms = ev->occurred_at_ms;
    memcpy(rec->kind, kind, strlen(kind) + 1);
    rf_record_fact(rec, RF_FACT_TYPE, rf_event_type_name(ev->type));
    return rec;
}

typedef struct acct {
    const char *owner, *asset;
    uint8_t key[RF__BALANCE_KEY_MAX];
    size_t klen;
    int64_t b[RF_BUCKET__COUNT];
} acct_t;

static acct_t *acct_find(rf_ledger_t *l, const char *program, acct_t *accts, uint32_t *n,
                         const rf_posting_t *p, rf_err_t *err)
{
    for (uint32_t i = 0; i < *n; i++)
        if (!strcmp(accts[i].owner, p->owner) && !strcmp(accts[i].asset, p->asset))
            return &accts[i];
    RF_ASSERT(*n < RF_POSTINGS_MAX);
    acct_t *a = &accts[(*n)++];
    a->owner = p->owner;
    a->asset = p->asset;
    a->klen = rf__balance_key(a->key, program, p->owner, p->asset);
    *err = balance_get(l, a->key, a->klen, a->b);
    return a;
}

/* Applies a record's postings to its accounts' balances: all or nothing, so
 * a refused record leaves the batch as it was. */
static rf_err_t apply_postings(rf_ledger_t *l, const rf_record_t *rec)
{
    acct_t accts[RF_POSTINGS_MAX];
    uint32_t n = 0;
    for (uint32_t i = 0; i < rec->npostings; i++) {
        const rf_posting_t *p = &rec->postings[i];
        RF_ASSERT(p->owner[0] && p->asset[0] && p->bucket < RF_BUCKET__COUNT);
        RF_ASSERT(p->amount_minor >= -RF_AMOUNT_MAX && p->amount_minor <= RF_AMOUNT_MAX);
        rf_err_t err = RF_OK;
        acct_t *a = acct_find(l, rec->program_id, accts, &n, p, &err);
        if (err) return err;
        if (__builtin_add_overflow(a->b[p->bucket], p->amount_minor, &a->b[p->bucket])) {
            rf_log(RF_LOG_ERROR, "ledger: balance of '%s' %s overflows", p->owner, p->asset);
            return RF_ERR_INTERNAL;
        }
    }
    for (uint32_t i = 0; i < n; i++)
        for (int bk = 0; bk < RF_BUCKET__COUNT; bk++)
            if (rf__bucket_nonneg(accts[i].owner, bk) && accts[i].b[bk] < 0) {
                rf_log(RF_LOG_ERROR, "ledger: %s record of event %s makes '%s' %s %s negative",
                       rec->kind, rec->event_id, accts[i].owner, rf_bucket_name(bk),
                       accts[i].asset);
                return RF_ERR_INTERNAL;
            }
    for (uint32_t i = 0; i < n; i++) {
        uint8_t v[RF__BALANCE_VAL_LEN];
        rf__balance_encode(accts[i].b, v);
        rf_err_t err = rf__batch_put(l, accts[i].key, accts[i].klen, v, sizeof v);
        if (err) return err;
    }
    return RF_OK;
}

static void note_rejection(rf_fold_ctx_t *ctx, const rf_record_t *rec)
{
    if (ctx->own && strcmp(rec->kind, RF_KIND_DUPLICATE) == 0) ctx->duplicate = 1;
    if (!ctx->own || ctx->rejected || strcmp(rec->kind, RF_KIND_REJECTED) != 0) return;
    const char *reason = rf_record_get_fact(rec, RF_FACT_REASON);
    ctx->rejected = 1;
    rf_strlcpy(ctx->reject_reason, reason ? reason : "rejected", sizeof ctx->reject_reason);
}

rf_err_t rf_fold_record_append(rf_fold_ctx_t *ctx, rf_record_t *rec)
{
    rf_ledger_t *l = ctx->l;
    RF_ASSERT(rec >= l->recs && rec < l->recs + ctx->nbegun);
    RF_ASSERT(rec->partition == l->partition && rec->offset == ctx->offset);
    RF_ASSERT(rec->npostings <= RF_POSTINGS_MAX && rf_record_balanced(rec));
    rf_err_t err = apply_postings(l, rec);
    if (err) return err;
    rec->seq = l->staged.head_seq + 1;
    memcpy(rec->prev_hash, l->staged.head_hash, 32);
    uint8_t *val = l->scratch;
    size_t n = rf_record_canonical(rec, val + RF__RECORD_HDR, sizeof l->scratch - RF__RECORD_HDR);
    RF_ASSERT(n > 0);
    memcpy(val + 32, rec->prev_hash, 32);
    rf__sha256(l->sha, val + 32, 32 + n, NULL, 0, val);
    memcpy(rec->hash, val, 32);
    if ((err = rf__batch_record(l, val, RF__RECORD_HDR + n))) return err;
    l->staged.head_seq = rec->seq;
    memcpy(l->staged.head_hash, rec->hash, 32);
    ctx->nappended++;
    note_rejection(ctx, rec);
    return RF_OK;
}

rf_err_t rf_fold_reject(rf_fold_ctx_t *ctx, const char *reason)
{
    RF_ASSERT(reason != NULL);
    rf_record_t *rec = rf_fold_record_begin(ctx, RF_KIND_REJECTED);
    if (ctx->ev->user[0]) rf_record_fact(rec, RF_FACT_USER, ctx->ev->user);
    if (ctx->ev->request_id[0]) rf_record_fact(rec, RF_FACT_REQUEST, ctx->ev->request_id);
    rf_record_fact(rec, RF_FACT_REASON, reason);
    return rf_fold_record_append(ctx, rec);
}
