/* rf_loadgen_keys.c: the load generator's keys (rf_loadgen.h): a trust root
 * and operator keys derived from the seed, so signed traffic is
 * reproducible, and the bodies of its key events. */
#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

#include "rf_hex.h"
#include "rf_loadgen.h"
#include "rf_loadgen_int.h"

/* SHA-256(label || seed, little-endian): a 32-byte Ed25519 seed. */
static void derive(const char *label, uint64_t seed, uint8_t out[RF_SIGN_SEED_LEN])
{
    uint8_t buf[64];
    size_t n = strlen(label);
    RF_ASSERT(n + 8 <= sizeof buf);
    memcpy(buf, label, n);
    for (int i = 0; i < 8; i++)
        buf[n + i] = (uint8_t)(seed >> (8 * i));
    SHA256(buf, n + 8, out);
}

rf_sign_key_t *rf_loadgen_root_key(const rf_loadgen_conf_t *conf, rf_errbuf_t *eb)
{
    RF_ASSERT(conf != NULL);
    uint8_t s[RF_SIGN_SEED_LEN];
    if (conf->root_seed_set)
        memcpy(s, conf->root_seed, sizeof s);
    else
        derive("refold-loadgen-root", conf->seed, s);
    return rf_sign_key_from_seed(s, eb);
}

rf_err_t rf__lg_keys_init(rf__lg_keys_t *k, const rf_loadgen_conf_t *conf, rf_errbuf_t *eb)
{
    memset(k, 0, sizeof *k);
    uint8_t s[RF_SIGN_SEED_LEN];
    if (!(k->root = rf_loadgen_root_key(conf, eb))) return RF_ERR_INTERNAL;
    for (int i = 0; i < 2; i++) {
        derive(i ? "refold-loadgen-operator-2" : "refold-loadgen-operator-1", conf->seed, s);
        if (!(k->op[i] = rf_sign_key_from_seed(s, eb))) {
            rf__lg_keys_free(k);
            return RF_ERR_INTERNAL;
        }
    }
    return RF_OK;
}

void rf__lg_keys_free(rf__lg_keys_t *k)
{
    rf_sign_key_destroy(k->root);
    rf_sign_key_destroy(k->op[0]);
    rf_sign_key_destroy(k->op[1]);
    memset(k, 0, sizeof *k);
}

void rf__lg_key_body(const rf__lg_keys_t *k, int i, bool revoke, rf_event_t *ev)
{
    RF_ASSERT(i == 0 || i == 1);
    uint8_t pub[RF_SIGN_PUB_LEN];
    rf_sign_key_public(k->op[i], pub);
    rf_sign_key_id(pub, ev->key_id);
    if (revoke) {
        snprintf(ev->reason, sizeof ev->reason, "rotated");
        return;
    }
    rf_hex(pub, sizeof pub, ev->public_key);
    snprintf(ev->scopes, sizeof ev->scopes, "program,adjust,review,clock"); /* every scope */
    snprintf(ev->actor, sizeof ev->actor, "loadgen");
}
