/* rf_rules_auth.c: authority over privileged events (rf_rules.h,
 * docs/security.md): the trust configuration, each program's operator keys
 * ('x' 'K'), the check every privileged event passes before it is applied,
 * and the key events that register and revoke keys. Pure in (state, event,
 * trust roots): signatures are verified, never made, here. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rf_hex.h"
#include "rf_rules_int.h"

enum { KEY_ACTIVE = 1, KEY_REVOKED = 2 };
enum {
    SC_PROGRAM = 1,
    SC_ADJUST = 2,
    SC_REVIEW = 4,
    SC_CLOCK = 8,
};

static const struct {
    const char *name;
    uint8_t bit;
} scope_names[] = {
    {RF_SCOPE_PROGRAM, SC_PROGRAM},
    {RF_SCOPE_ADJUST, SC_ADJUST},
    {RF_SCOPE_REVIEW, SC_REVIEW},
    {RF_SCOPE_CLOCK, SC_CLOCK},
};

/* Set before folds start, read-only while they run (rf_rules.h). */
static rf_rules_trust_t trust;

void rf_rules_trust_set(const rf_rules_trust_t *t)
{
    if (!t) {
        memset(&trust, 0, sizeof trust);
        return;
    }
    RF_ASSERT(t->nroots <= RF_TRUST_ROOTS_MAX);
    trust = *t;
}

bool rf_rules_trust_enforced(void)
{
    return trust.enforce;
}

/* The scope a privileged type needs (0 for key events: roots only). */
static uint8_t scope_of(rf_event_type_t t)
{
    switch (t) {
    case RF_EV_PROGRAM_CONFIGURED:
        return SC_PROGRAM;
    case RF_EV_ADJUSTMENT:
        return SC_ADJUST;
    case RF_EV_REVIEW_DECISION:
        return SC_REVIEW;
    case RF_EV_CLOCK:
        return SC_CLOCK;
    default:
        return 0;
    }
}

static const char *scope_name(uint8_t bit)
{
    for (size_t i = 0; i < sizeof scope_names / sizeof scope_names[0]; i++)
        if (scope_names[i].bit == bit) return scope_names[i].name;
    return "?";
}

/* "adjust,review" -> bits; 0 when empty or a name is unknown. */
static uint8_t parse_scopes(const char *s)
{
    uint8_t bits = 0;
    while (*s) {
        size_t n = strcspn(s, ",");
        uint8_t bit = 0;
        for (size_t i = 0; i < sizeof scope_names / sizeof scope_names[0]; i++)
            if (strlen(scope_names[i].name) == n && strncmp(s, scope_names[i].name, n) == 0)
                bit = scope_names[i].bit;
        if (!bit) return 0;
        bits |= bit;
        s += n + (s[n] == ',');
    }
    return bits;
}

/* Index of the trust root with this key id, or -1. */
static int find_root(const char *key_id)
{
    for (size_t i = 0; i < trust.nroots; i++) {
        char id[RF_SIGN_KEY_ID_BUF];
        rf_sign_key_id(trust.roots[i], id);
        if (strcmp(id, key_id) == 0) return (int)i;
    }
    return -1;
}

static rf_err_t key_get(rf_fold_ctx_t *ctx, const char *prog, const char *key_id, rf__opkey_t *k,
                        bool *found)
{
    uint8_t kb[RF__KEY_MAX];
    size_t kl = rf__key(kb, RF__X_KEY, prog, key_id, NULL);
    return rf__get_fixed(ctx, kb, kl, k, sizeof *k, found);
}

static rf_err_t key_put(rf_fold_ctx_t *ctx, const char *prog, const char *key_id,
                        const rf__opkey_t *k)
{
    RF_ASSERT(k->fmt == RF__STATE_FMT && (k->status == KEY_ACTIVE || k->status == KEY_REVOKED));
    uint8_t kb[RF__KEY_MAX];
    size_t kl = rf__key(kb, RF__X_KEY, prog, key_id, NULL);
    return rf__sput(ctx, kb, kl, k, sizeof *k);
}

__attribute__((format(printf, 3, 4))) static rf_err_t refuse(char *reason, size_t cap,
                                                             const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, cap, fmt, ap);
    va_end(ap);
    return RF_ERR_BAD_INPUT;
}

/* The public key that must have signed ev, or a refusal. */
static rf_err_t signer_key(rf_fold_ctx_t *ctx, const rf_event_t *ev, const uint8_t **pub,
                           rf__opkey_t *k, char *reason, size_t cap)
{
    const char *id = ev->auth_key_id, *tname = rf_event_type_name(ev->type);
    int root = find_root(id);
    bool found = false;
    rf_err_t err = key_get(ctx, ev->program_id, id, k, &found);
    if (err) return err;
    uint8_t need = scope_of(ev->type);
    if (!need) { /* key events: a trust root the program has not revoked */
        if (root < 0)
            return refuse(reason, cap,
                          "unauthorized: %s must be signed by a trust root; key %s is not one",
                          tname, id);
        if (found && k->status == KEY_REVOKED)
            return refuse(reason, cap, "unauthorized: trust root %s was revoked in this program",
                          id);
        *pub = trust.roots[root];
        return RF_OK;
    }
    if (root >= 0)
        return refuse(reason, cap, "unauthorized: trust root %s signs key events only, not %s", id,
                      tname);
    if (!found)
        return refuse(reason, cap, "unauthorized: key %s is not registered in program %s", id,
                      ev->program_id);
    if (k->status == KEY_REVOKED)
        return refuse(reason, cap, "unauthorized: key %s was revoked", id);
    if (!(k->scopes & need))
        return refuse(reason, cap, "unauthorized: key %s lacks scope '%s'", id, scope_name(need));
    *pub = k->pub;
    return RF_OK;
}

rf_err_t rf__authorize(rf_fold_ctx_t *ctx, const rf_event_t *ev, char *reason, size_t cap)
{
    RF_ASSERT(ctx != NULL && ev != NULL && reason != NULL && cap > 0);
    reason[0] = '\0';
    if (!rf_event_privileged(ev->type) || !trust.enforce) return RF_OK;
    if (!ev->auth_key_id[0])
        return refuse(reason, cap,
                      "unauthorized: %s needs an operator signature (event has no auth)",
                      rf_event_type_name(ev->type));
    const uint8_t *pub = NULL;
    rf__opkey_t k;
    rf_err_t err = signer_key(ctx, ev, &pub, &k, reason, cap);
    if (err) return err;
    if (!rf_event_auth_verify(ev, pub))
        return refuse(reason, cap, "unauthorized: bad signature by key %s", ev->auth_key_id);
    return RF_OK;
}

/* The verdict the engine's time question computed, kept for the fold of
 * the same event that follows it on this thread: one signature check per
 * event instead of two (measured: about 70 us each). rf__authorize_once
 * consumes it for every event, so it never outlives the next fold. */
static _Thread_local struct {
    bool set;
    const rf_fold_ctx_t *ctx;
    const rf_event_t *ev;
    char event_id[RF_UUID_STR_LEN + 1];
    rf_err_t err;
    char reason[RF_FACT_VAL_MAX];
} last;

bool rf_rules_event_moves_time(rf_fold_ctx_t *ctx, const rf_event_t *ev)
{
    last.set = false;
    rf_err_t err = rf__authorize(ctx, ev, last.reason, sizeof last.reason);
    if ((err == RF_OK || err == RF_ERR_BAD_INPUT) && rf_event_privileged(ev->type) &&
        trust.enforce) {
        last.set = true;
        last.ctx = ctx;
        last.ev = ev;
        last.err = err;
        rf_strlcpy(last.event_id, ev->event_id, sizeof last.event_id);
    }
    return err != RF_ERR_BAD_INPUT;
}

rf_err_t rf__authorize_once(rf_fold_ctx_t *ctx, const rf_event_t *ev, char *reason, size_t cap)
{
    bool mine =
        last.set && last.ctx == ctx && last.ev == ev && !strcmp(last.event_id, ev->event_id);
    last.set = false;
    if (!mine) return rf__authorize(ctx, ev, reason, cap);
    rf_strlcpy(reason, last.reason, cap);
    return last.err;
}

/* ---- key events ---- */

static rf_err_t key_record(rf_fold_ctx_t *ctx, const rf_event_t *ev, const char *kind,
                           const char *scopes)
{
    rf_record_t *rec = rf__rec(ctx, kind);
    rf_record_fact(rec, RF_FACT_KEY_ID, ev->key_id);
    if (scopes) rf_record_fact(rec, RF_FACT_SCOPES, scopes);
    if (ev->actor[0]) rf_record_fact(rec, RF_FACT_ACTOR, ev->actor);
    if (ev->reason[0]) rf_record_fact(rec, RF_FACT_REASON, ev->reason);
    if (ev->auth_key_id[0]) rf_record_fact(rec, RF_FACT_SIGNED_BY, ev->auth_key_id);
    return rf_fold_record_append(ctx, rec);
}

rf_err_t rf__fold_key_registered(rf_fold_ctx_t *ctx, const rf_event_t *ev)
{
    RF_ASSERT(ev->type == RF_EV_KEY_REGISTERED);
    char reason[RF_FACT_VAL_MAX];
    uint8_t scopes = parse_scopes(ev->scopes);
    if (!scopes) {
        snprintf(reason, sizeof reason,
                 "scopes '%.40s' are not a list of program, adjust, review, clock", ev->scopes);
        return rf_fold_reject(ctx, reason);
    }
    rf__opkey_t k;
    memset(&k, 0, sizeof k);
    char id[RF_SIGN_KEY_ID_BUF];
    if (rf_unhex(ev->public_key, k.pub, sizeof k.pub) != RF_OK) /* validated on decode */
        return rf_fold_reject(ctx, "public_key is not 64 hex digits");
    rf_sign_key_id(k.pub, id);
    if (strcmp(id, ev->key_id) != 0) return rf_fold_reject(ctx, "key_id does not match public_key");
    if (find_root(id) >= 0) return rf_fold_reject(ctx, "a trust root cannot be an operator key");
    rf__opkey_t old;
    bool found = false;
    rf_err_t err = key_get(ctx, ev->program_id, id, &old, &found);
    if (err) return err;
    if (found && old.status == KEY_REVOKED) {
        snprintf(reason, sizeof reason, "key %s was revoked: register a new key", id);
        return rf_fold_reject(ctx, reason);
    }
    k.fmt = RF__STATE_FMT;
    k.status = KEY_ACTIVE;
    k.scopes = scopes;
    if ((err = key_put(ctx, ev->program_id, id, &k))) return err;
    return key_record(ctx, ev, RF_KIND_KEY_REGISTERED, ev->scopes);
}

rf_err_t rf__fold_key_revoked(rf_fold_ctx_t *ctx, const rf_event_t *ev)
{
    RF_ASSERT(ev->type == RF_EV_KEY_REVOKED);
    rf__opkey_t k;
    bool found = false;
    rf_err_t err = key_get(ctx, ev->program_id, ev->key_id, &k, &found);
    if (err) return err;
    int root = find_root(ev->key_id);
    if (!found && root < 0) return rf_fold_reject(ctx, "unknown key");
    if (found && k.status == KEY_REVOKED) return rf_fold_reject(ctx, "key already revoked");
    if (!found) { /* a trust root: revoked for this program from now on */
        memset(&k, 0, sizeof k);
        k.fmt = RF__STATE_FMT;
        k.root = 1;
        memcpy(k.pub, trust.roots[root], sizeof k.pub);
    }
    k.status = KEY_REVOKED;
    if ((err = key_put(ctx, ev->program_id, ev->key_id, &k))) return err;
    return key_record(ctx, ev, RF_KIND_KEY_REVOKED, NULL);
}
