/* rf_rules_state.c: a write-through cache of the rules' state values (keys
 * under 'x'), so hot keys (referrers, codes, recent visitors and users,
 * windows) cost no RocksDB read. Absent keys are cached too. Coherent because
 * only the rules write 'x' keys, always through here, and the engine frees
 * the cache whenever it drops a batch. */
#include <stdlib.h>
#include <string.h>

#include "rf_rules_int.h"

#define WAYS  4 /* set-associative: a lookup compares at most 4 keys */
#define NSETS (RF_RULES_STATE_CACHE / WAYS)

/* A slot's key and value; its use tick and hash live apart in the set's
 * tags, so a lookup reads the set's 48 bytes of tags and then only the slot
 * whose hash matches (the slots are ~1 KiB each: scanning four of them cost
 * four cache misses per lookup). */
typedef struct slot {
    uint16_t klen, vlen;
    uint8_t absent; /* the key is known not to exist */
    uint8_t key[RF__KEY_MAX];
    uint8_t val[RF_RULES_STATE_VAL_MAX];
} slot_t;

typedef struct tags {
    uint64_t tick[WAYS]; /* last use; 0 = empty */
    uint32_t hash[WAYS];
} tags_t;

struct rf__scache {
    uint64_t tick;
    tags_t tags[NSETS];
    slot_t slots[NSETS][WAYS];
};

static rf__scache_t *scache(rf_fold_ctx_t *ctx)
{
    rf__cache_t *c = rf__cache(ctx);
    if (c && !c->state) c->state = calloc(1, sizeof *c->state); /* once per open */
    return c ? c->state : NULL;
}

void rf__scache_free(rf__scache_t *sc)
{
    free(sc);
}

/* Spreads keys over the sets (rf_hash64 folded to 32 bits); never stored. */
static uint32_t hash_key(const uint8_t *k, size_t kl)
{
    uint64_t h = rf_hash64(k, kl);
    return (uint32_t)(h ^ (h >> 32));
}

/* The way of k in its set, or -1. */
static int find(const rf__scache_t *sc, const uint8_t *k, size_t kl, uint32_t h)
{
    const tags_t *t = &sc->tags[h % NSETS];
    for (int i = 0; i < WAYS; i++) {
        if (!t->tick[i] || t->hash[i] != h) continue;
        const slot_t *s = &sc->slots[h % NSETS][i];
        if (s->klen == kl && !memcmp(s->key, k, kl)) return i;
    }
    return -1;
}

/* The way for k: its own, an empty one, or the least recently used. */
static int claim(rf__scache_t *sc, const uint8_t *k, size_t kl, uint32_t h)
{
    int i = find(sc, k, kl, h);
    if (i >= 0) return i;
    tags_t *t = &sc->tags[h % NSETS];
    int victim = 0;
    for (int j = 1; j < WAYS; j++)
        if (t->tick[j] < t->tick[victim]) victim = j;
    RF_ASSERT(kl <= RF__KEY_MAX);
    slot_t *s = &sc->slots[h % NSETS][victim];
    t->hash[victim] = h;
    s->klen = (uint16_t)kl;
    memcpy(s->key, k, kl);
    return victim;
}

static void remember(rf__scache_t *sc, const uint8_t *k, size_t kl, const void *v, size_t vl,
                     bool absent)
{
    uint32_t h = hash_key(k, kl);
    tags_t *t = &sc->tags[h % NSETS];
    if (!absent && vl > RF_RULES_STATE_VAL_MAX) { /* too big to cache: forget it */
        int i = find(sc, k, kl, h);
        if (i >= 0) t->tick[i] = 0;
        return;
    }
    int i = claim(sc, k, kl, h);
    slot_t *s = &sc->slots[h % NSETS][i];
    t->tick[i] = ++sc->tick;
    s->absent = absent;
    s->vlen = (uint16_t)(absent ? 0 : vl);
    if (!absent && vl) memcpy(s->val, v, vl);
}

rf_err_t rf__sget(rf_fold_ctx_t *ctx, const uint8_t *k, size_t klen, void *val, size_t cap,
                  size_t *vlen)
{
    RF_ASSERT(klen >= 2 && k[0] == 'x');
    rf__scache_t *sc = scache(ctx);
    if (!sc) return RF_ERR_NOMEM;
    uint32_t h = hash_key(k, klen);
    int i = find(sc, k, klen, h);
    if (i >= 0) {
        const slot_t *s = &sc->slots[h % NSETS][i];
        sc->tags[h % NSETS].tick[i] = ++sc->tick;
        if (s->absent) return RF_ERR_NOT_FOUND;
        *vlen = s->vlen;
        if (s->vlen > cap) return RF_ERR_OVERSIZE;
        memcpy(val, s->val, s->vlen);
        return RF_OK;
    }
    rf_err_t err = rf_fold_get(ctx, k, klen, val, cap, vlen);
    if (err == RF_OK)
        remember(sc, k, klen, val, *vlen, false);
    else if (err == RF_ERR_NOT_FOUND)
        remember(sc, k, klen, NULL, 0, true);
    return err;
}

rf_err_t rf__sput(rf_fold_ctx_t *ctx, const uint8_t *k, size_t klen, const void *val, size_t vlen)
{
    rf__scache_t *sc = scache(ctx);
    if (!sc) return RF_ERR_NOMEM;
    remember(sc, k, klen, val, vlen, false);
    return rf_fold_put(ctx, k, klen, val, vlen);
}

rf_err_t rf__sdel(rf_fold_ctx_t *ctx, const uint8_t *k, size_t klen)
{
    rf__scache_t *sc = scache(ctx);
    if (!sc) return RF_ERR_NOMEM;
    remember(sc, k, klen, NULL, 0, true);
    return rf_fold_del(ctx, k, klen);
}
