/* rf_hex.c: hex and UUID text (rf_hex.h). */
#include "rf_hex.h"

#define HL(c, v) [c] = ((v) + 1) | RF_HEX_LOWER
#define HU(c, v) [c] = (v) + 1
const uint8_t rf_hex_class[256] = {
    HL('0', 0),  HL('1', 1),  HL('2', 2),  HL('3', 3),  HL('4', 4),  HL('5', 5),
    HL('6', 6),  HL('7', 7),  HL('8', 8),  HL('9', 9),  HL('a', 10), HL('b', 11),
    HL('c', 12), HL('d', 13), HL('e', 14), HL('f', 15), HU('A', 10), HU('B', 11),
    HU('C', 12), HU('D', 13), HU('E', 14), HU('F', 15),
};
#undef HL
#undef HU

static const char digits[] = "0123456789abcdef";

void rf_hex(const uint8_t *in, size_t n, char *out)
{
    RF_ASSERT(in != NULL || n == 0);
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Two digits at s into *out; 0 when either is not a hex digit (the string's
 * terminator included, so a short string stops here). */
static int byte_at(const char *s, uint8_t *out)
{
    unsigned hi = rf_hex_class[(uint8_t)s[0]];
    if (!hi) return 0;
    unsigned lo = rf_hex_class[(uint8_t)s[1]];
    if (!lo) return 0;
    *out = (uint8_t)(((hi & 0x1f) - 1) << 4 | ((lo & 0x1f) - 1));
    return 1;
}

rf_err_t rf_unhex(const char *hex, uint8_t *out, size_t n)
{
    RF_ASSERT(hex != NULL && (out != NULL || n == 0));
    for (size_t i = 0; i < n; i++)
        if (!byte_at(hex + 2 * i, &out[i])) return RF_ERR_BAD_INPUT;
    return hex[2 * n] == '\0' ? RF_OK : RF_ERR_BAD_INPUT;
}

/* 8-4-4-4-12: each group's offset in the text and in the bytes. */
static const uint8_t uuid_at[5] = {0, 9, 14, 19, 24}, uuid_to[5] = {0, 4, 6, 8, 10},
                     uuid_len[5] = {4, 2, 2, 2, 6};

void rf_uuid_format(const uint8_t u[16], char out[37])
{
    RF_ASSERT(u != NULL && out != NULL);
    for (int g = 0; g < 5; g++) {
        if (g > 0) out[uuid_at[g] - 1] = '-';
        for (int i = 0; i < uuid_len[g]; i++) {
            uint8_t b = u[uuid_to[g] + i];
            out[uuid_at[g] + 2 * i] = digits[b >> 4];
            out[uuid_at[g] + 2 * i + 1] = digits[b & 15];
        }
    }
    out[36] = '\0';
}

rf_err_t rf_uuid_parse(const char *s, uint8_t out[16])
{
    RF_ASSERT(s != NULL && out != NULL);
    for (int g = 0; g < 5; g++) {
        if (g > 0 && s[uuid_at[g] - 1] != '-') return RF_ERR_BAD_INPUT;
        for (int i = 0; i < uuid_len[g]; i++)
            if (!byte_at(s + uuid_at[g] + 2 * i, &out[uuid_to[g] + i])) return RF_ERR_BAD_INPUT;
    }
    return s[36] == '\0' ? RF_OK : RF_ERR_BAD_INPUT;
}
