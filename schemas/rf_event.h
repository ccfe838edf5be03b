/* rf_event.h: the decoded forms of refold's events and ledger records, and
 * event ids. Library refold_schemas (room schemas/) owns the wire: the .avsc
 * files, their ids, the codec (rf_codec.h) and the JSON lines form
 * (rf_jsonl.h); it knows nothing of Kafka.
 * Plain fixed-size structs the caller owns: decoding never allocates, so the
 * fold can reuse one rf_event_t for every message. */
#ifndef RF_EVENT_H
#define RF_EVENT_H

#include <stdbool.h>
#include <stdint.h>

#include "rf_common.h"
#include "rf_limits.h"
#include "rf_sign.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Event types, in the order of the Avro body union (schemas/event.avsc). */
typedef enum rf_event_type {
    RF_EV_PROGRAM_CONFIGURED = 0,
    RF_EV_CODE_ISSUED,
    RF_EV_SHARE,
    RF_EV_CLICK,
    RF_EV_SIGNUP,
    RF_EV_PURCHASE,
    RF_EV_REFUND,
    RF_EV_REDEMPTION,
    RF_EV_REVIEW_DECISION,
    RF_EV_ADJUSTMENT,
    RF_EV_CLOCK,
    RF_EV_KEY_REGISTERED, /* schema v3 (id 4) on */
    RF_EV_KEY_REVOKED,
    RF_EV__COUNT
} rf_event_type_t;

/* "ProgramConfigured", "CodeIssued", ... (the Avro record names). */
const char *rf_event_type_name(rf_event_type_t t);
/* Inverse of rf_event_type_name; also accepts snake_case ("code_issued").
 * Returns -1 when unknown. */
int rf_event_type_parse(const char *name);

#define RF_ID_BUF   (RF_ID_MAX + 1)
#define RF_HASH_BUF (RF_HASH_HEX_LEN + 1)

/* One event: the envelope and the fields of its body. The body's fields are
 * flattened: each type uses the subset listed in schemas/event.avsc, the rest
 * stay empty/zero. Strings are NUL-terminated; "" means absent. */
typedef struct rf_event {
    rf_event_type_t type;
    int32_t schema_id;                  /* writer schema id it was decoded from */
    char event_id[RF_UUID_STR_LEN + 1]; /* UUID text form */
    char program_id[RF_ID_BUF];
    int64_t occurred_at_ms; /* event time, ms since the epoch */
    char source[RF_TEXT_MAX + 1];
    /* Authority (schema v3): the signing key's id and the Ed25519 signature
     * of rf_event_auth_message, in hex; both empty when unsigned. */
    char auth_key_id[RF_ID_BUF];
    char auth_sig[RF_SIGN_SIG_HEX_BUF];

    char user[RF_ID_BUF];           /* Signup, Purchase, Redemption, ReviewDecision, Adjustment */
    char referrer[RF_ID_BUF];       /* CodeIssued, Share */
    char code[RF_ID_BUF];           /* CodeIssued, Click, Signup, Purchase */
    char visitor[RF_ID_BUF];        /* Click, Signup */
    char channel[RF_ID_BUF];        /* Share */
    char order_id[RF_ID_BUF];       /* Purchase, Refund */
    char request_id[RF_ID_BUF];     /* Redemption */
    char asset[RF_ASSET_MAX + 1];   /* Purchase/Refund currency, Redemption/Adjustment asset */
    int64_t amount_minor;           /* Purchase, Refund, Redemption, Adjustment */
    char ip_hash[RF_HASH_BUF];      /* Click, Signup */
    char agent_hash[RF_HASH_BUF];   /* Click */
    char email_hash[RF_HASH_BUF];   /* Signup */
    char device_hash[RF_HASH_BUF];  /* Signup */
    char payment_hash[RF_HASH_BUF]; /* Purchase */
    bool approve;                   /* ReviewDecision */
    char reviewer[RF_ID_BUF];       /* ReviewDecision (Adjustment uses actor) */
    char actor[RF_ID_BUF];          /* Adjustment */
    char reason[RF_TEXT_MAX + 1];   /* ReviewDecision, Adjustment */
    int32_t version;                /* ProgramConfigured */
    char key_id[RF_ID_BUF];         /* KeyRegistered, KeyRevoked */
    char public_key[RF_SIGN_PUB_HEX_BUF]; /* KeyRegistered: 64 hex digits */
    char scopes[RF_ID_BUF];               /* KeyRegistered: "program,adjust,..." */
    char rules_json[RF_RULES_MAX + 1];    /* ProgramConfigured */
} rf_event_t;

/* Resets every field (cheap: only the string heads and scalars). */
void rf_event_clear(rf_event_t *ev);

/* Checks the fields this event's type requires: present, within limits,
 * amounts non-negative (Adjustment: non-zero), event_id a UUID, hashes hex.
 * Returns RF_ERR_BAD_INPUT with a message naming the field. Encoding and
 * decoding both call it, so nothing invalid is written or read. */
rf_err_t rf_event_validate(const rf_event_t *ev, rf_errbuf_t *eb);

/* Privileged events: what only an operator key may publish (ProgramConfigured,
 * ReviewDecision, Adjustment, Clock, KeyRegistered, KeyRevoked), see
 * docs/security.md. */
bool rf_event_privileged(rf_event_type_t t);

/* The signing string of an event (docs/security.md, "What is signed"): a
 * fixed header, then each signed field as "name=<length>:<bytes>\n" in a
 * fixed order: type, event_id, program_id, occurred_at, source, auth_key_id,
 * then the body's fields. The signature itself is never part of it. Writes at
 * most cap bytes (RF_EVENT_AUTH_MSG_MAX of rf_limits.h always fits a valid
 * event); *len gets the size. RF_ERR_OVERSIZE when it does not fit. */
rf_err_t rf_event_auth_message(const rf_event_t *ev, char *buf, size_t cap, size_t *len);
/* Sets ev's auth_key_id to k's id and auth_sig to k's signature of the
 * signing string. Call it last: any later change to a signed field voids the
 * signature. */
rf_err_t rf_event_sign(rf_event_t *ev, const rf_sign_key_t *k, rf_errbuf_t *eb);
/* Whether ev carries a valid signature by pub (its auth_key_id must be pub's
 * id). */
bool rf_event_auth_verify(const rf_event_t *ev, const uint8_t pub[RF_SIGN_PUB_LEN]);

/* Ledger record buckets. User accounts use the first four; program accounts
 * (owner "#expense", "#adjustment") use the last two. */
typedef enum rf_bucket {
    RF_BUCKET_PENDING = 0,
    RF_BUCKET_AVAILABLE,
    RF_BUCKET_REDEEMED,
    RF_BUCKET_RECEIVABLE,
    RF_BUCKET_EXPENSE,
    RF_BUCKET_ADJUSTMENT,
    RF_BUCKET__COUNT
} rf_bucket_t;
const char *rf_bucket_name(rf_bucket_t b);
int rf_bucket_parse(const char *name); /* -1 when unknown */

typedef struct rf_posting {
    char owner[RF_ID_BUF];
    uint8_t bucket; /* rf_bucket_t */
    char asset[RF_ASSET_MAX + 1];
    int64_t amount_minor;
} rf_posting_t;

typedef struct rf_fact {
    char key[RF_FACT_KEY_MAX + 1];
    char value[RF_FACT_VAL_MAX + 1];
} rf_fact_t;

/* One ledger record (see docs/ledger.md for kinds, facts and the canonical
 * encoding that the hash covers). */
typedef struct rf_record {
    uint64_t seq; /* gapless per partition, from 1 */
    uint8_t prev_hash[32];
    uint8_t hash[32];
    int32_t partition;
    int64_t offset;
    char event_id[RF_UUID_STR_LEN + 1];
    char program_id[RF_ID_BUF];
    int64_t occurred_at_ms;
    char kind[RF_ID_BUF]; /* "reward", "redemption", "rejected", ... */
    uint32_t npostings;
    rf_posting_t postings[RF_POSTINGS_MAX];
    uint32_t nfacts;
    rf_fact_t facts[RF_FACTS_MAX];
} rf_record_t;

void rf_record_clear(rf_record_t *rec);
/* Appends a fact (value truncated to RF_FACT_VAL_MAX); asserts capacity. */
void rf_record_fact(rf_record_t *rec, const char *key, const char *value);
void rf_record_factf(rf_record_t *rec, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Returns the value of the first fact with this key, or NULL. */
const char *rf_record_get_fact(const rf_record_t *rec, const char *key);
/* Appends a posting; asserts capacity. */
void rf_record_post(rf_record_t *rec, const char *owner, rf_bucket_t bucket, const char *asset,
                    int64_t amount_minor);
/* True when postings sum to zero per asset (the double-entry invariant). */
bool rf_record_balanced(const rf_record_t *rec);

/* A new event id: a UUIDv7 (48-bit Unix milliseconds, then random bits from
 * libuuid) in lowercase text form, so ids sort by creation time as strings.
 * Monotonic within the process (thread safe): within one millisecond, or if
 * the clock steps back, the 12-bit rand_a field counts up. out gets 36
 * characters and a NUL. */
void rf_event_id_new(char out[RF_UUID_STR_LEN + 1]);

/* Formats a UUIDv7 from a millisecond timestamp and 10 random bytes
 * (deterministic: used by loadgen with its own PRNG). */
void rf_event_id_v7(int64_t unix_ms, const uint8_t rnd[10], char out[RF_UUID_STR_LEN + 1]);

#ifdef __cplusplus
}
#endif

#endif
