/* rf_loadgen.h: deterministic synthetic referral traffic (`refold loadgen`).
 *
 * A discrete-event simulation over synthetic event time: per program a
 * ProgramConfigured event, referrers who get a code and share it over
 * channels, visitors who click, sign up (with the code or as the tracked
 * visitor), purchase, refund and redeem, review decisions, finance
 * adjustments, Clock heartbeats, and a share of fraud patterns. The same
 * configuration (seed included) gives the same events, byte for byte: the
 * generator has its own PRNG (xoshiro256** seeded by splitmix64), integer
 * arithmetic only, and never reads a clock. Events come out in event-time
 * order, so every program's events keep their causal order.
 *
 * Privileged events are signed (docs/security.md): each program's traffic
 * starts with a KeyRegistered of the generator's operator key, signed by its
 * trust root; ProgramConfigured, ReviewDecision, Adjustment and Clock are
 * signed by the operator key; half way, the first program rotates its key
 * (KeyRegistered of a second key, KeyRevoked of the first). Keys derive from
 * the seed (or the root given in the configuration), and Ed25519 signatures
 * are deterministic, so the bytes stay reproducible. The key events draw
 * nothing from the PRNG: the other events are those of a generator without
 * keys, but for the last few (the key events count in conf.events). A fold needs the root's
 * public key (rf_loadgen_root_key) as its trust root.
 *
 * Thread safety: one generator per thread. */
#ifndef RF_LOADGEN_H
#define RF_LOADGEN_H

#include <stdint.h>

#include "rf_event.h"
#include "rf_sign.h"

/* Probabilities are parts per million (1000000 = always). */
#define RF_PPM 1000000u

typedef struct rf_loadgen_conf {
    uint64_t seed;
    uint64_t events;           /* total events to generate, key events included */
    int programs;              /* 1..RF_LOADGEN_PROGRAMS_MAX */
    int referrers;             /* per program; programs * referrers <= RF_LOADGEN_REFERRERS_MAX */
    int64_t start_ms;          /* event time of the first event */
    char prefix[16];           /* program ids are "<prefix>-p<N>" */
    uint32_t share_rate_milli; /* shares per referrer per day, x1000 */
    uint32_t click_ppm;        /* each of up to 8 viewers of a share clicks */
    uint32_t signup_ppm;       /* a click leads to a signup */
    uint32_t purchase_ppm;     /* a signup leads to a first purchase */
    uint32_t repeat_ppm;       /* a purchase is followed by another one */
    uint32_t refund_ppm;       /* a purchase is refunded */
    uint32_t partial_ppm;      /* a refund is partial */
    uint32_t redemption_ppm;   /* a referrer redeems after a referred purchase */
    uint32_t review_ppm;       /* a suspicious referral gets a ReviewDecision */
    uint32_t adjustment_ppm;   /* per share: a finance adjustment */
    uint32_t organic_ppm;      /* per share: an unreferred signup journey */
    uint32_t fraud_ppm;        /* a share starts a fraud pattern instead */
    int64_t clock_ms;          /* Clock heartbeat interval per program */
    /* The trust root that registers the generator's operator keys: its 32-byte
     * Ed25519 seed when root_seed_set, else derived from seed. */
    bool root_seed_set;
    uint8_t root_seed[RF_SIGN_SEED_LEN];
} rf_loadgen_conf_t;

/* Defaults: seed 1, 1000000 events, 8 programs, 1000 referrers each, start
 * 2026-01-01T00:00:00Z, prefix "lg", 1 share per referrer per day, clicks
 * 0.3, signups 0.25, purchases 0.6, repeats 0.3, refunds 0.05 (half
 * partial), redemptions 0.3, reviews 0.5, adjustments 0.002, organic 0.3,
 * fraud 0.02, Clock every hour. */
void rf_loadgen_conf_init(rf_loadgen_conf_t *conf);

typedef struct rf_loadgen rf_loadgen_t;

/* RF_ERR_CONFIG with the reason when a value is out of range. */
rf_loadgen_t *rf_loadgen_new(const rf_loadgen_conf_t *conf, rf_errbuf_t *eb);
void rf_loadgen_destroy(rf_loadgen_t *g); /* NULL is a no-op */

/* Fills ev with the next event: RF_OK, or RF_ERR_NOT_FOUND after
 * conf.events events. ev needs no clearing. */
rf_err_t rf_loadgen_next(rf_loadgen_t *g, rf_event_t *ev);

typedef struct rf_loadgen_stats {
    uint64_t events;                /* generated so far */
    uint64_t by_type[RF_EV__COUNT]; /* per rf_event_type_t */
    uint64_t fraud_journeys;        /* fraud patterns started */
    uint64_t dropped;               /* follow-ups dropped: schedule full */
    uint64_t pending;               /* actions scheduled now */
} rf_loadgen_stats_t;
void rf_loadgen_stats(const rf_loadgen_t *g, rf_loadgen_stats_t *out);

/* The generator's trust root for conf (its seed or conf->root_seed): a new
 * key the caller destroys; its public half is what `refold fold
 * --trust-root` needs for this traffic. */
rf_sign_key_t *rf_loadgen_root_key(const rf_loadgen_conf_t *conf, rf_errbuf_t *eb);

/* Signs ev again with the generator's key that signed it (its auth_key_id),
 * after the caller changed a field (the demo moves events to its example
 * programs). RF_ERR_BAD_INPUT when no key of the generator signed ev. */
rf_err_t rf_loadgen_sign(rf_loadgen_t *g, rf_event_t *ev);

/* Parses a probability "0.25", "25%" or "1" into parts per million, exactly
 * (decimal digits, no floating point). RF_ERR_CONFIG unless 0..1. */
rf_err_t rf_loadgen_parse_ppm(const char *s, uint32_t *ppm, rf_errbuf_t *eb);

/* Parses a non-negative decimal ("1.5", "150%") into an integer scaled by
 * 10^decimals, exactly; digits beyond that are dropped. RF_ERR_CONFIG when it
 * is not a number or above max. */
rf_err_t rf_loadgen_parse_fixed(const char *s, int decimals, uint64_t max, uint64_t *out,
                                rf_errbuf_t *eb);

/* The rules JSON loadgen gives program index i (0-based) at a version (1, or
 * 2 for the mid-run change); used by the generator and by tests. Writes at
 * most cap bytes. RF_ERR_OVERSIZE when it does not fit. */
rf_err_t rf_loadgen_rules(const rf_loadgen_conf_t *conf, int i, int version, char *out, size_t cap,
                          rf_errbuf_t *eb);

#endif
