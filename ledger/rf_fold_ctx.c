/* rf_fold_ctx.c: the fold context the engine hands to the rules (rf_fold.h):
 * state through the open batch, record append with seq, hash chain and
 * balances, derived ids. */
#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

#include "rf_ledger_int.h"

/* The refold UUIDv5 namespace (docs/ledger.md): derived ids are
 * UUIDv5(this, event_id + "/" + label). Never change it: replays would differ. */
static const uint8_t refold_ns[16] = {0x4d, 0xbd, 0x4b, 0x57, 0x70, 0x51, 0x41, 0xb0,
                                      0xba, 0x0e, 0x9c, 0xfb, 0xf9, 0xd4, 0x8c, 0xbb};

void rf__ctx_reset(rf_ledger_t *l, const rf_event_t *ev, int64_t offset)
{
    rf_fold_ctx_t *ctx = &l->ctx;
    ctx->l = l;
    ctx->ev = ev;
    ctx->offset = offset;
    ctx->own = 0;
    ctx->nbegun = 0;
    ctx->nappended = 0;
    ctx->rejected = 0;
    ctx->reject_reason[0] = 0;
}

const rf_event_t *rf_fold_event(const rf_fold_ctx_t *ctx)
{
    return ctx->ev;
}

int64_t rf_fold_now_ms(const rf_fold_ctx_t *ctx)
{
    return ctx->l->staged.event_time_ms;
}

void **rf_fold_rules_cache(rf_fold_ctx_t *ctx)
{
    return &ctx->l->rules_cache;
}

/* ---- state through the batch (read-your-writes) ---- */

rf_err_t rf_fold_get(rf_fold_ctx_t *ctx, const void *key, size_t klen, void *val, size_t cap,
                     size_t *vlen)
{
    RF_ASSERT(klen > 0 && vlen != NULL);
    return rf__batch_get(ctx->l, key, klen, val, cap, vlen);
}

bool rf_fold_state_in_memory(const rf_fold_ctx_t *ctx)
{
    return ctx->l->ov_only != 0;
}

/* The rules write only their own key space ('x'): a write elsewhere would
 * corrupt the engine's state, so it is an invariant, not input. */
rf_err_t rf_fold_put(rf_fold_ctx_t *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    RF_ASSERT(klen > 0 && ((const uint8_t *)key)[0] == 'x');
    return rf__batch_put(ctx->l, key, klen, val, vlen);
}

rf_err_t rf_fold_del(rf_fold_ctx_t *ctx, const void *key, size_t klen)
{
    RF_ASSERT(klen > 0 && ((const uint8_t *)key)[0] == 'x');
    return rf__batch_del(ctx->l, key, klen);
}

rf_err_t rf_fold_scan(rf_fold_ctx_t *ctx, const void *start, size_t slen, const void *end,
                      size_t elen, rf_kv_cb_t *cb, void *opaque)
{
    RF_ASSERT(cb != NULL && (start != NULL || slen == 0));
    rf_ledger_t *l = ctx->l;
    if (l->ov_only) return rf__ov_scan(l->ov, NULL, start, slen, end, elen, cb, opaque);
    rocksdb_readoptions_t *ro = NULL;
    if (end) {
        /* lets RocksDB stop at the range's end instead of reading on */
        ro = rocksdb_readoptions_create();
        rocksdb_readoptions_set_iterate_upper_bound(ro, end, elen);
    }
    rocksdb_iterator_t *it =
        rocksdb_create_iterator_cf(l->db, ro ? ro : l->ro, l->cf[RF__CF_STATE]);
    rf_err_t err = rf__ov_scan(l->ov, it, start, slen, end, elen, cb, opaque);
    char *errptr = NULL;
    rocksdb_iter_get_error(it, &errptr);
    rocksdb_iter_destroy(it);
    if (ro) rocksdb_readoptions_destroy(ro);
    if (errptr) {
        rf_log(RF_LOG_ERROR, "ledger partition %d: rocksdb scan: %s", (int)l->partition, errptr);
        rocksdb_free(errptr);
        return RF_ERR_STORAGE;
    }
    return err;
}

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

void rf_fold_derive_id(const rf_fold_ctx_t *ctx, const char *label, char out[37])
{
    RF_ASSERT(label != NULL);
    uint8_t name[16 + RF_UUID_STR_LEN + 1 + RF_TEXT_MAX + 1], h[SHA_DIGEST_LENGTH];
    size_t el = strlen(ctx->ev->event_id), ll = strnlen(label, RF_TEXT_MAX);
    RF_ASSERT(el <= RF_UUID_STR_LEN);
    memcpy(name, refold_ns, 16);
    memcpy(name + 16, ctx->ev->event_id, el);
    name[16 + el] = '/';
    memcpy(name + 17 + el, label, ll);
    SHA1(name, 17 + el + ll, h);
    h[6] = (uint8_t)((h[6] & 0x0f) | 0x50); /* version 5 */
    h[8] = (uint8_t)((h[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", h[0],
             h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13],
             h[14], h[15]);
}
