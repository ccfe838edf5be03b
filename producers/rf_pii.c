/* rf_pii.c: HMAC-SHA256 hashing of PII for producers (see rf_producer.h):
 * only these hashes of emails, devices, IPs and payment means travel. */
#include <ctype.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "rf_producer.h"
#include "rf_hex.h"

void rf_pii_hash(const char *secret, const char *value, char out[RF_HASH_HEX_LEN + 1])
{
    RF_ASSERT(secret && value);
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    uint8_t *ok = HMAC(EVP_sha256(), secret, (int)strlen(secret), (const uint8_t *)value,
                       strlen(value), md, &mdlen);
    RF_ASSERT(ok && mdlen * 2 == RF_HASH_HEX_LEN);
    rf_hex(md, mdlen, out);
}

rf_err_t rf_pii_hash_email(const char *secret, const char *email, char out[RF_HASH_HEX_LEN + 1],
                           rf_errbuf_t *eb)
{
    enum { EMAIL_MAX = 320 }; /* RFC 5321: 64 local + @ + 255 domain */
    char norm[EMAIL_MAX + 1];
    RF_ASSERT(secret && email);
    while (isspace((unsigned char)*email))
        email++;
    size_t n = strlen(email);
    while (n > 0 && isspace((unsigned char)email[n - 1]))
        n--;
    if (n > EMAIL_MAX)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "email longer than %d bytes", EMAIL_MAX);
    for (size_t i = 0; i < n; i++)
        norm[i] = (char)tolower((unsigned char)email[i]);
    norm[n] = '\0';
    rf_pii_hash(secret, norm, out);
    return RF_OK;
}
