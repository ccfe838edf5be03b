/* rf_sign.c: Ed25519 keys, PEM files and signatures over OpenSSL 3's EVP
 * interface (rf_sign.h). */
#include "rf_sign.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "rf_hex.h"

struct rf_sign_key {
    EVP_PKEY *pkey;
};

static rf_err_t ossl_err(rf_errbuf_t *eb, rf_err_t err, const char *what)
{
    unsigned long e = ERR_get_error();
    char msg[160] = "unknown error";
    if (e) ERR_error_string_n(e, msg, sizeof msg);
    ERR_clear_error();
    return rf_errf(eb, err, "%s: %s", what, msg);
}

static rf_sign_key_t *wrap(EVP_PKEY *pkey, rf_errbuf_t *eb)
{
    rf_sign_key_t *k = pkey ? malloc(sizeof *k) : NULL;
    if (!k) {
        EVP_PKEY_free(pkey);
        if (pkey) rf_errf(eb, RF_ERR_NOMEM, "out of memory");
        return NULL;
    }
    k->pkey = pkey;
    return k;
}

rf_sign_key_t *rf_sign_key_generate(rf_errbuf_t *eb)
{
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!pkey) ossl_err(eb, RF_ERR_INTERNAL, "cannot generate an Ed25519 key");
    return wrap(pkey, eb);
}

rf_sign_key_t *rf_sign_key_from_seed(const uint8_t seed[RF_SIGN_SEED_LEN], rf_errbuf_t *eb)
{
    EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, RF_SIGN_SEED_LEN);
    if (!pkey) ossl_err(eb, RF_ERR_INTERNAL, "cannot make an Ed25519 key");
    return wrap(pkey, eb);
}

rf_sign_key_t *rf_sign_key_load(const char *path, rf_errbuf_t *eb)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        rf_errf(eb, RF_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    EVP_PKEY *pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!pkey) {
        ERR_clear_error();
        rf_errf(eb, RF_ERR_CONFIG, "'%s' is not a PEM private key", path);
        return NULL;
    }
    if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(pkey);
        rf_errf(eb, RF_ERR_CONFIG, "'%s' is not an Ed25519 key", path);
        return NULL;
    }
    return wrap(pkey, eb);
}

void rf_sign_key_destroy(rf_sign_key_t *k)
{
    if (!k) return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

void rf_sign_key_public(const rf_sign_key_t *k, uint8_t pub[RF_SIGN_PUB_LEN])
{
    RF_ASSERT(k != NULL);
    size_t n = RF_SIGN_PUB_LEN;
    int ok = EVP_PKEY_get_raw_public_key(k->pkey, pub, &n);
    RF_ASSERT(ok == 1 && n == RF_SIGN_PUB_LEN);
}

void rf_sign_key_seed(const rf_sign_key_t *k, uint8_t seed[RF_SIGN_SEED_LEN])
{
    RF_ASSERT(k != NULL);
    size_t n = RF_SIGN_SEED_LEN;
    int ok = EVP_PKEY_get_raw_private_key(k->pkey, seed, &n);
    RF_ASSERT(ok == 1 && n == RF_SIGN_SEED_LEN);
}

void rf_sign_key_id(const uint8_t pub[RF_SIGN_PUB_LEN], char out[RF_SIGN_KEY_ID_BUF])
{
    uint8_t h[SHA256_DIGEST_LENGTH];
    SHA256(pub, RF_SIGN_PUB_LEN, h);
    rf_hex(h, RF_SIGN_KEY_ID_LEN / 2, out);
}

static rf_err_t write_pem(const char *path, int mode, int excl, const rf_sign_key_t *k,
                          int private_, rf_errbuf_t *eb)
{
    int fd = open(path, O_WRONLY | O_CREAT | (excl ? O_EXCL : O_TRUNC), mode);
    if (fd < 0) return rf_errf(eb, RF_ERR_IO, "cannot create '%s': %s", path, strerror(errno));
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        return rf_errf(eb, RF_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    }
    int ok = private_ ? PEM_write_PrivateKey(f, k->pkey, NULL, NULL, 0, NULL, NULL)
                      : PEM_write_PUBKEY(f, k->pkey);
    if (fclose(f) != 0) ok = 0;
    if (!ok) return ossl_err(eb, RF_ERR_IO, "cannot write a PEM key");
    return RF_OK;
}

rf_err_t rf_sign_key_write(const rf_sign_key_t *k, const char *private_path,
                           const char *public_path, rf_errbuf_t *eb)
{
    RF_ASSERT(k != NULL);
    rf_err_t err = RF_OK;
    if (private_path) err = write_pem(private_path, 0600, 1, k, 1, eb);
    if (!err && public_path) err = write_pem(public_path, 0644, 0, k, 0, eb);
    return err;
}

rf_err_t rf_sign_pubkeys_load(const char *path, uint8_t pubs[][RF_SIGN_PUB_LEN], size_t max,
                              size_t *n, rf_errbuf_t *eb)
{
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f) return rf_errf(eb, RF_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    rf_err_t err = RF_OK;
    EVP_PKEY *pkey;
    while (!err && (pkey = PEM_read_PUBKEY(f, NULL, NULL, NULL)) != NULL) {
        size_t len = RF_SIGN_PUB_LEN;
        if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519)
            err = rf_errf(eb, RF_ERR_CONFIG, "'%s': key %zu is not Ed25519", path, *n + 1);
        else if (*n >= max)
            err = rf_errf(eb, RF_ERR_CONFIG, "'%s' has more than %zu keys", path, max);
        else if (EVP_PKEY_get_raw_public_key(pkey, pubs[*n], &len) != 1 || len != RF_SIGN_PUB_LEN)
            err = rf_errf(eb, RF_ERR_CONFIG, "'%s': key %zu has no raw form", path, *n + 1);
        else
            (*n)++;
        EVP_PKEY_free(pkey);
    }
    ERR_clear_error(); /* the read that ended the loop: end of file */
    fclose(f);
    if (!err && *n == 0) err = rf_errf(eb, RF_ERR_CONFIG, "'%s' holds no PEM public key", path);
    return err;
}

rf_err_t rf_sign(const rf_sign_key_t *k, const void *msg, size_t len, uint8_t sig[RF_SIGN_SIG_LEN],
                 rf_errbuf_t *eb)
{
    RF_ASSERT(k != NULL && sig != NULL);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    size_t slen = RF_SIGN_SIG_LEN;
    int ok = md && EVP_DigestSignInit(md, NULL, NULL, NULL, k->pkey) == 1 &&
             EVP_DigestSign(md, sig, &slen, msg, len) == 1 && slen == RF_SIGN_SIG_LEN;
    EVP_MD_CTX_free(md);
    return ok ? RF_OK : ossl_err(eb, RF_ERR_INTERNAL, "cannot sign");
}

bool rf_sign_verify(const uint8_t pub[RF_SIGN_PUB_LEN], const void *msg, size_t len,
                    const uint8_t sig[RF_SIGN_SIG_LEN])
{
    EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, RF_SIGN_PUB_LEN);
    EVP_MD_CTX *md = pkey ? EVP_MD_CTX_new() : NULL;
    bool ok = md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pkey) == 1 &&
              EVP_DigestVerify(md, sig, RF_SIGN_SIG_LEN, msg, len) == 1;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pkey);
    ERR_clear_error(); /* a bad signature or key is an answer, not an error */
    return ok;
}
