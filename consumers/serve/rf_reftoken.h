/* rf_reftoken.h: the signed token that opens one referrer's referral page
 * (library refold_serve, room consumers/serve/; never Kafka). The app mints
 * it with a secret it shares with `refold serve --ref-secret`:
 *
 *   token = b64url(program) "." b64url(user) "." exp "." hex(HMAC-SHA256(
 *           secret, program "\n" user "\n" exp))
 *
 * b64url is RFC 4648 base64url without padding, exp is the expiry in Unix
 * seconds (decimal), hex is lower case. The page and its API read the
 * program and user from the token only, so a token opens its referrer's data
 * and nobody else's. docs/dashboard.md has minting examples. */
#ifndef RF_REFTOKEN_H
#define RF_REFTOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "rf_common.h"
#include "rf_event.h"
#include "rf_limits.h"

/* Writes the token for (program, user, exp_s) into out (RF_REFTOKEN_MAX + 1
 * bytes). RF_ERR_BAD_INPUT for an empty or over-long id or secret. */
rf_err_t rf_reftoken_mint(const char *secret, const char *program, const char *user, int64_t exp_s,
                          char out[RF_REFTOKEN_MAX + 1], rf_errbuf_t *eb);

/* Checks token against secret at now_s: RF_OK with program, user and expiry
 * filled in; RF_ERR_BAD_INPUT naming what is wrong (malformed, bad
 * signature, expired, expiry too far ahead). The signature is compared in
 * constant time and checked before the expiry, so an expired token is only
 * called expired when it is genuine. */
rf_err_t rf_reftoken_verify(const char *secret, const char *token, int64_t now_s,
                            char program[RF_ID_BUF], char user[RF_ID_BUF], int64_t *exp_s,
                            rf_errbuf_t *eb);

#endif
