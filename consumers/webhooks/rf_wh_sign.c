/* rf_wh_sign.c: Standard Webhooks signing: whsec_ secrets and the
 * webhook-signature header (HMAC-SHA256 over id.timestamp.body, base64). */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "rf_webhooks.h"

#define SECRET_PREFIX "whsec_"

static bool b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

rf_err_t rf_wh_secret_parse(const char *text, rf_wh_secret_t *out, rf_errbuf_t *eb)
{
    memset(out, 0, sizeof *out);
    size_t pl = strlen(SECRET_PREFIX);
    if (strncmp(text, SECRET_PREFIX, pl) != 0)
        return rf_errf(eb, RF_ERR_CONFIG, "a secret starts with '" SECRET_PREFIX "'");
    const char *b = text + pl;
    size_t n = strlen(b), pad = 0;
    while (pad < n && pad < 2 && b[n - 1 - pad] == '=')
        pad++;
    for (size_t i = 0; i < n - pad; i++)
        if (!b64_char(b[i]))
            return rf_errf(eb, RF_ERR_CONFIG,
                           "the secret after '" SECRET_PREFIX "' is not base64 (character %zu)",
                           i + 1);
    if (n == 0 || n % 4 != 0)
        return rf_errf(eb, RF_ERR_CONFIG, "the secret's base64 length is not a multiple of 4");
    size_t bytes = n / 4 * 3 - pad;
    if (bytes < RF_WEBHOOK_SECRET_BYTES_MIN || bytes > RF_WEBHOOK_SECRET_BYTES_MAX)
        return rf_errf(eb, RF_ERR_CONFIG, "a secret's key is %d to %d bytes, not %zu",
                       RF_WEBHOOK_SECRET_BYTES_MIN, RF_WEBHOOK_SECRET_BYTES_MAX, bytes);
    unsigned char tmp[RF_WEBHOOK_SECRET_BYTES_MAX + 3];
    int k = EVP_DecodeBlock(tmp, (const unsigned char *)b, (int)n);
    if (k < 0 || (size_t)k < bytes)
        return rf_errf(eb, RF_ERR_CONFIG, "the secret is not valid base64");
    memcpy(out->key, tmp, bytes);
    out->len = bytes;
    OPENSSL_cleanse(tmp, sizeof tmp);
    return RF_OK;
}

size_t rf_wh_sign(const rf_wh_secret_t *secrets, int nsecrets, const char *msg_id,
                  int64_t timestamp_s, const char *body, size_t body_len, char *out)
{
    RF_ASSERT(nsecrets > 0 && nsecrets <= RF_WEBHOOK_SECRETS_MAX);
    char head[RF_WH_MSGID_BUF + 32];
    int hl = snprintf(head, sizeof head, "%s.%lld.", msg_id, (long long)timestamp_s);
    RF_ASSERT(hl > 0 && (size_t)hl < sizeof head);
    /* HMAC() one-shot (HMAC_CTX is deprecated in OpenSSL 3): the signed
     * content in one buffer, at most RF_WEBHOOK_BODY_MAX of body */
    RF_ASSERT(body_len <= RF_WEBHOOK_BODY_MAX);
    static _Thread_local unsigned char content[RF_WH_MSGID_BUF + 32 + RF_WEBHOOK_BODY_MAX];
    memcpy(content, head, (size_t)hl);
    memcpy(content + hl, body, body_len);
    size_t n = 0;
    for (int i = 0; i < nsecrets; i++) {
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int ml = 0;
        RF_ASSERT(HMAC(EVP_sha256(), secrets[i].key, (int)secrets[i].len, content,
                       (size_t)hl + body_len, mac, &ml) != NULL);
        RF_ASSERT(ml == 32);
        if (i) out[n++] = ' ';
        memcpy(out + n, "v1,", 3);
        n += 3;
        n += (size_t)EVP_EncodeBlock((unsigned char *)out + n, mac, (int)ml); /* 44 chars */
    }
    RF_ASSERT(n < RF_WH_SIG_BUF);
    out[n] = '\0';
    return n;
}
