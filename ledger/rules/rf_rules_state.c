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

typedef struct slot {
    uint64_t tick; /* last use; 0 = empty */
    uint32_t hash;
    uint16_t klen, vlen;
    uint8_t absent; /* the key is known not to exist */
    uint8_t key[RF__KEY_MAX];
    uint8_t val[RF_RULES_STATE_VAL_MAX];
} slot_t;

struct rf__scache {
    uint64_t tick;
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

static uint32_t hash_key(const uint8_t *k, size_t kl)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < kl; i++)
        h = (h ^ k[i]) * 16777619u;
    return h;
}

static slot_t *find(rf__scache_t *sc, const uint8_t *k, size_t kl, uint32_t h)
{
    slot_t *set = sc->slots[h % NSETS];
    for (int i = 0; i < WAYS; i++)
        if (set[i].tick && set[i].hash == h && set[i].klen == kl && !memcmp(set[i].key, k, kl))
            return &set[i];
    return NULL;
}

/* The slot for k: its own, an empty one, or the least recently used. */
static slot_t *claim(rf__scache_t *sc, const uint8_t *k, size_t kl, uint32_t h)
{
    slot_t *s = find(sc, k, kl, h);
    if (s) return s;
    slot_t *set = sc->slots[h % NSETS], *victim = &set[0];
    for (int i = 1; i < WAYS; i++)
        if (set[i].tick < victim->tick) victim = &set[i];
    RF_ASSERT(kl <= RF__KEY_MAX);
    victim->hash = h;
    victim->klen = (uint16_t)kl;
    memcpy(victim->key, k, kl);
    return victim;
}

static void remember(rf__scache_t *sc, const uint8_t *k, size_t kl, const void *v, size_t vl,
                     bool absent)
{
    uint32_t h = hash_key(k, kl);
    if (!absent && vl > RF_RULES_STATE_VAL_MAX) { /* too big to cache: forget it */
        slot_t *s = find(sc, k, kl, h);
        if (s) s->tick = 0;
        return;
    }
    slot_t *s = claim(sc, k, kl, h);
    s->tick = ++sc->tick;
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
    slot_t *s = find(sc, k, klen, h);
    if (s) {
        s->tick = ++sc->tick;
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
