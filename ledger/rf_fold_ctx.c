/* rf_fold_ctx.c: the seam's accessors (rf_fold.h): the event and its time,
 * the rules' state through the open batch (their 'x' keys only), derived ids,
 * and the rules' state of a ledger read outside a fold. The append step
 * (records, hash chain, balances) is rf_fold_append.c. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

#include "rf_ledger_int.h"
#include "rf_hex.h"

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
    ctx->duplicate = 0;
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
    RF_ASSERT(klen > 0 && ((const uint8_t *)key)[0] == RF_FOLD_K_RULES);
    return rf__batch_put(ctx->l, key, klen, val, vlen);
}

rf_err_t rf_fold_del(rf_fold_ctx_t *ctx, const void *key, size_t klen)
{
    RF_ASSERT(klen > 0 && ((const uint8_t *)key)[0] == RF_FOLD_K_RULES);
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

/* SHA-1 fetched once, as SHA-256 is (rf_ledger_codec.c): OpenSSL 3's
 * one-shot SHA1() fetches the algorithm on every call (360 against 125 ns
 * for a derived id's 70 bytes through the ledger's reused context). */
static EVP_MD *sha1_md;
static pthread_once_t sha1_once = PTHREAD_ONCE_INIT;

static void sha1_fetch(void)
{
    sha1_md = EVP_MD_fetch(NULL, "SHA1", NULL);
}

static void sha1(EVP_MD_CTX *c, const uint8_t *p, size_t n, uint8_t out[SHA_DIGEST_LENGTH])
{
    pthread_once(&sha1_once, sha1_fetch);
    /* the ledger's SHA-256 context: rf__sha256 re-initializes it every time */
    int ok = sha1_md && c && EVP_DigestInit_ex2(c, sha1_md, NULL) && EVP_DigestUpdate(c, p, n) &&
             EVP_DigestFinal_ex(c, out, NULL);
    if (!ok) SHA1(p, n, out); /* no context or algorithm: the one-shot (same digest) */
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
    sha1(ctx->l ? ctx->l->sha : NULL, name, 17 + el + ll, h); /* an id needs only the event */
    h[6] = (uint8_t)((h[6] & 0x0f) | 0x50);                   /* version 5 */
    h[8] = (uint8_t)((h[8] & 0x3f) | 0x80);                   /* RFC 4122 variant */
    rf_uuid_format(h, out);
}

/* ---- outside a fold: the rules' state of a ledger handle ---- */

int32_t rf_fold_ledger_partition(const struct rf_ledger *l)
{
    return l->partition;
}

rf_err_t rf_fold_ledger_get(struct rf_ledger *l, const void *key, size_t klen, void *val,
                            size_t cap, size_t *vlen)
{
    RF_ASSERT(l != NULL && klen > 0 && ((const uint8_t *)key)[0] == RF_FOLD_K_RULES);
    return rf__batch_get(l, key, klen, val, cap, vlen);
}

typedef struct ledger_scan {
    rf_kv_cb_t *cb;
    void *opaque;
    rf__buf_t val; /* the value being decoded: grows to the largest */
    rf_err_t err;
} ledger_scan_t;

/* Decodes one stored value (zero runs expanded) and hands it on. */
static int ledger_scan_one(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *opaque)
{
    ledger_scan_t *s = opaque;
    size_t n = 0;
    s->err = rf__zr_decode(v, vl, s->val.p, s->val.cap, &n);
    if (s->err == RF_ERR_OVERSIZE)
        s->err = rf__buf_reserve(&s->val, n) ? RF_ERR_NOMEM
                                             : rf__zr_decode(v, vl, s->val.p, s->val.cap, &n);
    if (s->err) return 1;
    return s->cb(k, kl, s->val.p, n, s->opaque);
}

rf_err_t rf_fold_ledger_scan(struct rf_ledger *l, const void *start, size_t slen, const void *end,
                             size_t elen, rf_kv_cb_t *cb, void *opaque, rf_errbuf_t *eb)
{
    RF_ASSERT(l != NULL && cb != NULL && slen > 0 && elen > 0);
    RF_ASSERT(((const uint8_t *)start)[0] == RF_FOLD_K_RULES);
    ledger_scan_t s = {cb, opaque, {NULL, 0, 0}, RF_OK};
    /* an operator's query (`refold program`), not the hot path */
    if (rf__buf_reserve(&s.val, 4096)) return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    rf_err_t err = rf__db_range(l, start, slen, end, elen, ledger_scan_one, &s, eb);
    rf__buf_free(&s.val);
    if (err) return err;
    if (s.err == RF_ERR_NOMEM) return rf_errf(eb, s.err, "out of memory");
    if (s.err)
        return rf_errf(eb, s.err, "partition %d: malformed rules state value", (int)l->partition);
    return RF_OK;
}
