/* rf_rules_state.c: a write-through cache of the rules' state values (keys
 * under 'x'), so hot keys (referrers, codes, recent visitors and users,
 * windows) cost no RocksDB read. Absent keys are cached too. Coherent because
 * only the rules write 'x' keys, always through here, and the engine frees
 * the cache whenever it drops a batch. Bypassed while the engine answers
 * every read from memory (rf_fold_state_in_memory: a bulk load); that only
 * ever turns off, and the cache is untouched until then, so it holds nothing
 * stale when it starts. */
#include <stdlib.h>
#include <string.h>

#include "rf_rules_int.h"

#define WAYS 4 /* set-associative: a lookup compares at most 4 keys */

/* A slot's key and value; its use tick and hash live apart in the set's
 * tags, so a lookup reads the set's 48 bytes of tags and then only the slot
 * whose hash matches (the slots are ~1 KiB each: scanning four of them cost
 * four cache misses per lookup). The value's bytes follow the slot; a code
 * table's slots hold a referrer id, the main table's any state value. */
typedef struct slot {
    uint16_t klen, vlen;
    uint8_t absent; /* the key is known not to exist */
    uint8_t key[RF__KEY_MAX];
    uint8_t val[];
} slot_t;

#define STRIDE(val_max) ((sizeof(slot_t) + (val_max) + 7) & ~(size_t)7)

typedef struct tags {
    uint64_t tick[WAYS]; /* last use; 0 = empty */
    uint32_t hash[WAYS];
} tags_t;

/* One set-associative table; slots are `stride` bytes, laid out set by set.
 * nsets is a power of two: a set is the hash's low bits (a mask, not a
 * division, on every lookup). */
typedef struct table {
    tags_t *tags;
    uint8_t *slots;
    uint32_t nsets;
    size_t stride, val_max;
} table_t;

_Static_assert((RF_RULES_STATE_CACHE / WAYS & (RF_RULES_STATE_CACHE / WAYS - 1)) == 0,
               "RF_RULES_STATE_CACHE / WAYS is a power of two");
_Static_assert((RF_RULES_CODE_CACHE / WAYS & (RF_RULES_CODE_CACHE / WAYS - 1)) == 0,
               "RF_RULES_CODE_CACHE / WAYS is a power of two");

/* Two tables, so the many one-off keys (new users, visitors, orders) cannot
 * evict the codes every click and signup reads: in loadgen traffic 30% of
 * code reads missed a shared table. */
struct rf__scache {
    uint64_t tick;
    table_t main, codes;
    tags_t main_tags[RF_RULES_STATE_CACHE / WAYS];
    tags_t code_tags[RF_RULES_CODE_CACHE / WAYS];
    _Alignas(8) uint8_t main_slots[RF_RULES_STATE_CACHE * STRIDE(RF_RULES_STATE_VAL_MAX)];
    _Alignas(8) uint8_t code_slots[RF_RULES_CODE_CACHE * STRIDE(RF_ID_BUF)];
};

static rf__scache_t *scache(rf_fold_ctx_t *ctx)
{
    rf__cache_t *c = rf__cache(ctx);
    if (c && !c->state && (c->state = calloc(1, sizeof *c->state))) { /* once per open */
        rf__scache_t *sc = c->state;
        sc->main = (table_t){sc->main_tags, sc->main_slots, RF_RULES_STATE_CACHE / WAYS,
                             STRIDE(RF_RULES_STATE_VAL_MAX), RF_RULES_STATE_VAL_MAX};
        sc->codes = (table_t){sc->code_tags, sc->code_slots, RF_RULES_CODE_CACHE / WAYS,
                              STRIDE(RF_ID_BUF), RF_ID_BUF};
    }
    return c ? c->state : NULL;
}

void rf__scache_free(rf__scache_t *sc)
{
    free(sc);
}

static table_t *table_of(rf__scache_t *sc, const uint8_t *k)
{
    return k[1] == RF__X_CODE ? &sc->codes : &sc->main;
}

static slot_t *slot(const table_t *t, uint32_t set, int way)
{
    return (slot_t *)(t->slots + ((size_t)set * WAYS + (size_t)way) * t->stride);
}

/* Spreads keys over the sets (rf_hash64 folded to 32 bits); never stored. */
static uint32_t hash_key(const uint8_t *k, size_t kl)
{
    uint64_t h = rf_hash64(k, kl);
    return (uint32_t)(h ^ (h >> 32));
}

static uint32_t set_of(const table_t *t, uint32_t h)
{
    return h & (t->nsets - 1);
}

/* The way of k in its set, or -1. */
static int find(const table_t *t, const uint8_t *k, size_t kl, uint32_t h)
{
    uint32_t set = set_of(t, h);
    const tags_t *tg = &t->tags[set];
    for (int i = 0; i < WAYS; i++) {
        if (!tg->tick[i] || tg->hash[i] != h) continue;
        const slot_t *s = slot(t, set, i);
        if (s->klen == kl && !memcmp(s->key, k, kl)) return i;
    }
    return -1;
}

/* The way for k: its own, an empty one, or the least recently used. */
static int claim(table_t *t, const uint8_t *k, size_t kl, uint32_t h)
{
    int i = find(t, k, kl, h);
    if (i >= 0) return i;
    tags_t *tg = &t->tags[set_of(t, h)];
    int victim = 0;
    for (int j = 1; j < WAYS; j++)
        if (tg->tick[j] < tg->tick[victim]) victim = j;
    RF_ASSERT(kl <= RF__KEY_MAX);
    slot_t *s = slot(t, set_of(t, h), victim);
    tg->hash[victim] = h;
    s->klen = (uint16_t)kl;
    memcpy(s->key, k, kl);
    return victim;
}

/* Caches k's value (or its absence); h is hash_key(k). */
static void remember(rf__scache_t *sc, const uint8_t *k, size_t kl, uint32_t h, const void *v,
                     size_t vl, bool absent)
{
    table_t *t = table_of(sc, k);
    tags_t *tg = &t->tags[set_of(t, h)];
    if (!absent && vl > t->val_max) { /* too big to cache: forget it */
        int i = find(t, k, kl, h);
        if (i >= 0) tg->tick[i] = 0;
        return;
    }
    int i = claim(t, k, kl, h);
    slot_t *s = slot(t, set_of(t, h), i);
    tg->tick[i] = ++sc->tick;
    s->absent = absent;
    s->vlen = (uint16_t)(absent ? 0 : vl);
    if (!absent && vl) memcpy(s->val, v, vl);
}

rf_err_t rf__sget(rf_fold_ctx_t *ctx, const uint8_t *k, size_t klen, void *val, size_t cap,
                  size_t *vlen)
{
    RF_ASSERT(klen >= 2 && k[0] == RF_FOLD_K_RULES);
    if (rf_fold_state_in_memory(ctx)) return rf_fold_get(ctx, k, klen, val, cap, vlen);
    rf__scache_t *sc = scache(ctx);
    if (!sc) return RF_ERR_NOMEM;
    table_t *t = table_of(sc, k);
    uint32_t h = hash_key(k, klen);
    int i = find(t, k, klen, h);
    if (i >= 0) {
        const slot_t *s = slot(t, set_of(t, h), i);
        t->tags[set_of(t, h)].tick[i] = ++sc->tick;
        if (s->absent) return RF_ERR_NOT_FOUND;
        *vlen = s->vlen;
        if (s->vlen > cap) return RF_ERR_OVERSIZE;
        memcpy(val, s->val, s->vlen);
        return RF_OK;
    }
    rf_err_t err = rf_fold_get(ctx, k, klen, val, cap, vlen);
    if (err == RF_OK)
        remember(sc, k, klen, h, val, *vlen, false);
    else if (err == RF_ERR_NOT_FOUND)
        remember(sc, k, klen, h, NULL, 0, true);
    return err;
}

rf_err_t rf__sput(rf_fold_ctx_t *ctx, const uint8_t *k, size_t klen, const void *val, size_t vlen)
{
    if (rf_fold_state_in_memory(ctx)) return rf_fold_put(ctx, k, klen, val, vlen);
    rf__scache_t *sc = scache(ctx);
    if (!sc) return RF_ERR_NOMEM;
    remember(sc, k, klen, hash_key(k, klen), val, vlen, false);
    return rf_fold_put(ctx, k, klen, val, vlen);
}

rf_err_t rf__sdel(rf_fold_ctx_t *ctx, const uint8_t *k, size_t klen)
{
    if (rf_fold_state_in_memory(ctx)) return rf_fold_del(ctx, k, klen);
    rf__scache_t *sc = scache(ctx);
    if (!sc) return RF_ERR_NOMEM;
    remember(sc, k, klen, hash_key(k, klen), NULL, 0, true);
    return rf_fold_del(ctx, k, klen);
}
