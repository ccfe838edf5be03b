/* rf_loadgen_int.h: loadgen internals shared by its files: the PRNG and the
 * per-program parameters behind the generated rules. Not a public API. */
#ifndef RF_LOADGEN_INT_H
#define RF_LOADGEN_INT_H

#include <stdint.h>

#include "rf_loadgen.h"

/* splitmix64 (Steele, Lea, Flood): seeds xoshiro and derives stable
 * per-entity values (hashes, codes) from (seed, entity). */
static inline uint64_t rf__splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* xoshiro256** (Blackman, Vigna). */
typedef struct rf__rng {
    uint64_t s[4];
} rf__rng_t;

static inline void rf__rng_seed(rf__rng_t *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = rf__splitmix64(&seed);
}

static inline uint64_t rf__rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t rf__rng_next(rf__rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t result = rf__rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rf__rotl(s[3], 45);
    return result;
}

/* Uniform in [lo, hi] (modulo bias below 2^-40 for our ranges). */
static inline int64_t rf__rng_range(rf__rng_t *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rf__rng_next(r) % (uint64_t)(hi - lo + 1));
}

static inline bool rf__rng_chance(rf__rng_t *r, uint32_t ppm)
{
    return rf__rng_next(r) % RF_PPM < ppm;
}

/* What the generator needs to know of a program's rules to make plausible
 * traffic (redemptions of about what was earned, orders around the minimum). */
typedef struct rf__lg_program {
    int variant;                      /* 0..RF__LG_VARIANTS-1 */
    char currency[4];                 /* order currency */
    char ref_asset[RF_ASSET_MAX + 1]; /* asset of the referrer reward */
    int64_t ref_fixed_minor;          /* fixed referrer reward, or 0 */
    uint32_t ref_percent_bp;          /* percent referrer reward, or 0 */
    int64_t ref_max_minor;            /* percent: upper bound */
    int64_t min_order_minor;
    int hold_days;
} rf__lg_program_t;

#define RF__LG_VARIANTS 4

/* The parameters of program index i (deterministic in conf->seed and i). */
void rf__loadgen_program(const rf_loadgen_conf_t *conf, int i, int version, rf__lg_program_t *out);

/* The generator's keys (rf_loadgen_keys.c): a trust root and two operator
 * keys (the second replaces the first in the mid-run key rotation). */
typedef struct rf__lg_keys {
    rf_sign_key_t *root;
    rf_sign_key_t *op[2];
} rf__lg_keys_t;
rf_err_t rf__lg_keys_init(rf__lg_keys_t *k, const rf_loadgen_conf_t *conf, rf_errbuf_t *eb);
void rf__lg_keys_free(rf__lg_keys_t *k);
/* Fills the body of a KeyRegistered (every scope) or KeyRevoked of op[i]. */
void rf__lg_key_body(const rf__lg_keys_t *k, int i, bool revoke, rf_event_t *ev);

#endif
