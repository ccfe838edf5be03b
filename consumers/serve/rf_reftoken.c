/* rf_reftoken.c: mints and checks referral-page tokens (HMAC-SHA256 over
 * program, user and expiry; format in rf_reftoken.h). */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "rf_hex.h"
#include "rf_reftoken.h"

#define SIG_LEN 32 /* SHA-256 */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t b64_encode(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(uint8_t)s[i] << 16;
        if (i + 1 < n) v |= (uint32_t)(uint8_t)s[i + 1] << 8;
        if (i + 2 < n) v |= (uint8_t)s[i + 2];
        out[o++] = b64url[(v >> 18) & 63];
        out[o++] = b64url[(v >> 12) & 63];
        if (i + 1 < n) out[o++] = b64url[(v >> 6) & 63];
        if (i + 2 < n) out[o++] = b64url[v & 63];
    }
    out[o] = '\0';
    return o;
}

static int b64_val(char c)
{
    const char *p = c ? strchr(b64url, c) : NULL;
    return p ? (int)(p - b64url) : -1;
}

/* Decodes s[0..n) into out (cap bytes incl. NUL); false when malformed,
 * too long or holding a control byte (ids never do). */
static bool b64_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    if (n % 4 == 1) return false;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = 0;
        size_t k = n - i < 4 ? n - i : 4;
        for (size_t j = 0; j < 4; j++) {
            int d = j < k ? b64_val(s[i + j]) : 0;
            if (d < 0) return false;
            v = v << 6 | (uint32_t)d;
        }
        for (size_t j = 0; j + 1 < k; j++) {
            if (o + 1 >= cap) return false;
            unsigned char ch = (unsigned char)(v >> (16 - 8 * j));
            if (ch < 0x20 || ch == 0x7f) return false;
            out[o++] = (char)ch;
        }
    }
    out[o] = '\0';
    return o > 0;
}

static void sign(const char *secret, const char *program, const char *user, int64_t exp_s,
                 uint8_t sig[SIG_LEN])
{
    char msg[2 * RF_ID_BUF + 32];
    int n = snprintf(msg, sizeof msg, "%s\n%s\n%lld", program, user, (long long)exp_s);
    unsigned len = SIG_LEN;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const uint8_t *)msg, (size_t)n, sig, &len);
}

static bool id_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > RF_ID_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return false;
    return true;
}

static bool secret_ok(const char *secret)
{
    size_t n = secret ? strlen(secret) : 0;
    return n >= RF_REFTOKEN_SECRET_MIN && n <= RF_REFTOKEN_SECRET_MAX;
}

rf_err_t rf_reftoken_mint(const char *secret, const char *program, const char *user, int64_t exp_s,
                          char out[RF_REFTOKEN_MAX + 1], rf_errbuf_t *eb)
{
    if (!secret_ok(secret))
        return rf_errf(eb, RF_ERR_BAD_INPUT, "the referral secret must be %d..%d bytes",
                       RF_REFTOKEN_SECRET_MIN, RF_REFTOKEN_SECRET_MAX);
    if (!id_ok(program) || !id_ok(user))
        return rf_errf(eb, RF_ERR_BAD_INPUT, "bad program or user id");
    if (exp_s < 0) return rf_errf(eb, RF_ERR_BAD_INPUT, "the expiry must not be negative");
    uint8_t sig[SIG_LEN];
    sign(secret, program, user, exp_s, sig);
    size_t o = b64_encode(program, strlen(program), out);
    out[o++] = '.';
    o += b64_encode(user, strlen(user), out + o);
    o += (size_t)snprintf(out + o, RF_REFTOKEN_MAX + 1 - o, ".%lld.", (long long)exp_s);
    rf_hex(sig, SIG_LEN, out + o);
    out[o + 2 * SIG_LEN] = '\0';
    return RF_OK;
}

rf_err_t rf_reftoken_verify(const char *secret, const char *token, int64_t now_s,
                            char program[RF_ID_BUF], char user[RF_ID_BUF], int64_t *exp_s,
                            rf_errbuf_t *eb)
{
    if (!secret_ok(secret))
        return rf_errf(eb, RF_ERR_CONFIG, "no referral secret configured (--ref-secret)");
    size_t n = token ? strlen(token) : 0;
    if (!n || n > RF_REFTOKEN_MAX) return rf_errf(eb, RF_ERR_BAD_INPUT, "malformed referral token");
    const char *d1 = strchr(token, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    const char *d3 = d2 ? strchr(d2 + 1, '.') : NULL;
    if (!d3 || strchr(d3 + 1, '.') || strlen(d3 + 1) != 2 * SIG_LEN)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "malformed referral token");
    int64_t exp = 0;
    if (d3 == d2 + 1 || d3 - d2 - 1 > 12)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "malformed referral token");
    for (const char *p = d2 + 1; p < d3; p++) {
        if (*p < '0' || *p > '9') return rf_errf(eb, RF_ERR_BAD_INPUT, "malformed referral token");
        exp = exp * 10 + (*p - '0');
    }
    uint8_t got[SIG_LEN], want[SIG_LEN];
    if (!b64_decode(token, (size_t)(d1 - token), program, RF_ID_BUF) ||
        !b64_decode(d1 + 1, (size_t)(d2 - d1 - 1), user, RF_ID_BUF) ||
        rf_unhex(d3 + 1, got, SIG_LEN) != RF_OK)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "malformed referral token");
    sign(secret, program, user, exp, want);
    if (CRYPTO_memcmp(got, want, SIG_LEN) != 0)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "referral token has a bad signature");
    if (exp <= now_s) return rf_errf(eb, RF_ERR_BAD_INPUT, "referral token expired");
    if (exp - now_s > RF_REFTOKEN_TTL_MAX_S)
        return rf_errf(eb, RF_ERR_BAD_INPUT,
                       "referral token expires too far ahead (over %lld days)",
                       RF_REFTOKEN_TTL_MAX_S / 86400);
    if (exp_s) *exp_s = exp;
    return RF_OK;
}
