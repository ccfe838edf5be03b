/* rf_sign.h: Ed25519 keys and signatures (OpenSSL 3), the one place refold
 * signs and verifies: operator keys that authorize privileged events
 * (docs/security.md). Library refold_common (room common/).
 *
 * Keys are opaque handles over an OpenSSL EVP_PKEY; public keys also travel
 * as their 32 raw bytes (RFC 8032), which is what the ledger stores. A key id
 * is the first 8 bytes of SHA-256 of the raw public key, as 16 lowercase hex
 * digits: derived, so an id names exactly one key. Signatures are
 * deterministic (RFC 8032): the same key and message give the same bytes, so
 * signed synthetic traffic (loadgen) replays byte for byte.
 * Thread safety: a key handle is used by one thread at a time; rf_sign_verify
 * is thread safe. */
#ifndef RF_SIGN_H
#define RF_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rf_common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RF_SIGN_PUB_LEN     32 /* raw Ed25519 public key */
#define RF_SIGN_SEED_LEN    32 /* raw Ed25519 private key (the seed) */
#define RF_SIGN_SIG_LEN     64
#define RF_SIGN_KEY_ID_LEN  16 /* hex digits */
#define RF_SIGN_KEY_ID_BUF  (RF_SIGN_KEY_ID_LEN + 1)
#define RF_SIGN_SIG_HEX_BUF (2 * RF_SIGN_SIG_LEN + 1)
#define RF_SIGN_PUB_HEX_BUF (2 * RF_SIGN_PUB_LEN + 1)

typedef struct rf_sign_key rf_sign_key_t; /* a private key (signs) */

/* A new random key pair (OpenSSL's RNG). NULL with a message on failure. */
rf_sign_key_t *rf_sign_key_generate(rf_errbuf_t *eb);
/* The key pair of a 32-byte seed: deterministic (loadgen derives its keys
 * from its --seed). */
rf_sign_key_t *rf_sign_key_from_seed(const uint8_t seed[RF_SIGN_SEED_LEN], rf_errbuf_t *eb);
/* Reads a PEM private key file (PKCS#8, as `refold keys generate` and
 * `openssl genpkey -algorithm ed25519` write); refuses other algorithms. */
rf_sign_key_t *rf_sign_key_load(const char *path, rf_errbuf_t *eb);
void rf_sign_key_destroy(rf_sign_key_t *k); /* NULL is a no-op */

/* The key's raw public key, seed, and id. */
void rf_sign_key_public(const rf_sign_key_t *k, uint8_t pub[RF_SIGN_PUB_LEN]);
void rf_sign_key_seed(const rf_sign_key_t *k, uint8_t seed[RF_SIGN_SEED_LEN]);
void rf_sign_key_id(const uint8_t pub[RF_SIGN_PUB_LEN], char out[RF_SIGN_KEY_ID_BUF]);

/* Writes the private key (PEM PKCS#8, created with mode 0600, refused when the
 * file exists) and the public key (PEM SubjectPublicKeyInfo, mode 0644). */
rf_err_t rf_sign_key_write(const rf_sign_key_t *k, const char *private_path,
                           const char *public_path, rf_errbuf_t *eb);

/* Reads one or more PEM public keys (concatenated) from path into pubs:
 * *n gets the count (1..max). RF_ERR_CONFIG when the file has none, more
 * than max, or a key that is not Ed25519. */
rf_err_t rf_sign_pubkeys_load(const char *path, uint8_t pubs[][RF_SIGN_PUB_LEN], size_t max,
                              size_t *n, rf_errbuf_t *eb);

/* Signs msg: 64 bytes into sig. */
rf_err_t rf_sign(const rf_sign_key_t *k, const void *msg, size_t len, uint8_t sig[RF_SIGN_SIG_LEN],
                 rf_errbuf_t *eb);
/* True when sig is pub's signature of msg. */
bool rf_sign_verify(const uint8_t pub[RF_SIGN_PUB_LEN], const void *msg, size_t len,
                    const uint8_t sig[RF_SIGN_SIG_LEN]);

#ifdef __cplusplus
}
#endif

#endif
