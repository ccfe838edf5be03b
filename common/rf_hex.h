/* rf_hex.h: hex and UUID text, the one place refold turns bytes into hex and
 * back (event ids, PII hashes, record hashes, URL escapes). Table-driven:
 * ids are random hex, and per-character branches on digit-or-letter
 * mispredict about half the time (measured: the UUID check was a fifth of
 * decoding, hex parsing 2% of the fold's CPU). Pure functions, thread safe. */
#ifndef RF_HEX_H
#define RF_HEX_H

#include <stddef.h>
#include <stdint.h>

#include "rf_common.h"

/* Per byte: 0 when not a hex digit, else (value + 1) | RF_HEX_LOWER for
 * 0-9 a-f, (value + 1) for A-F. */
#define RF_HEX_LOWER 0x20
extern const uint8_t rf_hex_class[256];

/* The digit's value 0..15, or -1 when c is not a hex digit. */
static inline int rf_hex_digit(char c)
{
    unsigned t = rf_hex_class[(uint8_t)c];
    return t ? (int)(t & 0x1f) - 1 : -1;
}
/* 1 when c is 0-9 or a-f (the form refold writes), else 0: branch-free. */
static inline unsigned rf_hex_is_lower(char c)
{
    return rf_hex_class[(uint8_t)c] >> 5;
}
/* 1 when c is a hex digit of either case, else 0. */
static inline unsigned rf_hex_is_digit(char c)
{
    return rf_hex_class[(uint8_t)c] != 0;
}

/* n bytes as 2n lowercase hex digits and a NUL (out holds 2n + 1). */
void rf_hex(const uint8_t *in, size_t n, char *out);
/* Exactly 2n hex digits (either case) then the end of the string into n
 * bytes; RF_ERR_BAD_INPUT otherwise (out may be partly written). */
rf_err_t rf_unhex(const char *hex, uint8_t *out, size_t n);

/* 16 bytes as 8-4-4-4-12 lowercase text and a NUL (out holds 37). */
void rf_uuid_format(const uint8_t u[16], char out[37]);
/* 8-4-4-4-12 hex text (either case) then the end of the string into 16
 * bytes; RF_ERR_BAD_INPUT otherwise. */
rf_err_t rf_uuid_parse(const char *s, uint8_t out[16]);

#endif
