/* rf_event_auth.c: which events are privileged, and their signing string,
 * signature and verification (rf_event.h; the format is in docs/security.md,
 * "What is signed"). The signing string is built from the decoded fields,
 * not from the Avro bytes, so it is the same whichever schema version
 * carried the event and any operator tool can build it. */
#include "rf_event.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "rf_hex.h"

/* Names the format version: a change to the layout changes this line. */
#define AUTH_HEADER "refold-event-auth-v1\n"

bool rf_event_privileged(rf_event_type_t t)
{
    switch (t) {
    case RF_EV_PROGRAM_CONFIGURED:
    case RF_EV_REVIEW_DECISION:
    case RF_EV_ADJUSTMENT:
    case RF_EV_CLOCK:
    case RF_EV_KEY_REGISTERED:
    case RF_EV_KEY_REVOKED:
        return true;
    default:
        return false;
    }
}

typedef struct w {
    char *buf;
    size_t cap, n;
    bool over;
} w_t;

static void put(w_t *w, const char *name, const char *val, size_t vlen)
{
    char head[64];
    int hn = snprintf(head, sizeof head, "%s=%zu:", name, vlen);
    RF_ASSERT(hn > 0 && (size_t)hn < sizeof head);
    if (w->over || w->cap - w->n < (size_t)hn + vlen + 1) {
        w->over = true;
        return;
    }
    memcpy(w->buf + w->n, head, (size_t)hn);
    memcpy(w->buf + w->n + hn, val, vlen);
    w->n += (size_t)hn + vlen;
    w->buf[w->n++] = '\n';
}

static void put_s(w_t *w, const char *name, const char *val)
{
    put(w, name, val, strlen(val));
}

static void put_i(w_t *w, const char *name, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%" PRId64, v);
    put(w, name, num, (size_t)n);
}

static void put_body(w_t *w, const rf_event_t *ev)
{
    switch (ev->type) {
    case RF_EV_PROGRAM_CONFIGURED:
        put_i(w, "version", ev->version);
        put_s(w, "rules_json", ev->rules_json);
        break;
    case RF_EV_REVIEW_DECISION:
        put_s(w, "user", ev->user);
        put_s(w, "approve", ev->approve ? "true" : "false");
        put_s(w, "reviewer", ev->reviewer);
        put_s(w, "reason", ev->reason);
        break;
    case RF_EV_ADJUSTMENT:
        put_s(w, "user", ev->user);
        put_i(w, "amount_minor", ev->amount_minor);
        put_s(w, "asset", ev->asset);
        put_s(w, "reason", ev->reason);
        put_s(w, "actor", ev->actor);
        break;
    case RF_EV_KEY_REGISTERED:
        put_s(w, "key_id", ev->key_id);
        put_s(w, "public_key", ev->public_key);
        put_s(w, "scopes", ev->scopes);
        put_s(w, "actor", ev->actor);
        break;
    case RF_EV_KEY_REVOKED:
        put_s(w, "key_id", ev->key_id);
        put_s(w, "reason", ev->reason);
        break;
    default: /* Clock has no body; the other types are not privileged, and
              * their signature (if any) covers the envelope only */
        break;
    }
}

rf_err_t rf_event_auth_message(const rf_event_t *ev, char *buf, size_t cap, size_t *len)
{
    RF_ASSERT(ev != NULL && buf != NULL && len != NULL);
    RF_ASSERT((unsigned)ev->type < RF_EV__COUNT);
    w_t w = {buf, cap, 0, false};
    size_t hl = strlen(AUTH_HEADER);
    if (cap < hl) return RF_ERR_OVERSIZE;
    memcpy(buf, AUTH_HEADER, hl);
    w.n = hl;
    put_s(&w, "type", rf_event_type_name(ev->type));
    put_s(&w, "event_id", ev->event_id);
    put_s(&w, "program_id", ev->program_id);
    put_i(&w, "occurred_at", ev->occurred_at_ms);
    put_s(&w, "source", ev->source);
    put_s(&w, "auth_key_id", ev->auth_key_id);
    put_body(&w, ev);
    if (w.over) return RF_ERR_OVERSIZE;
    *len = w.n;
    return RF_OK;
}

rf_err_t rf_event_sign(rf_event_t *ev, const rf_sign_key_t *k, rf_errbuf_t *eb)
{
    RF_ASSERT(ev != NULL && k != NULL);
    static _Thread_local char msg[RF_EVENT_AUTH_MSG_MAX];
    uint8_t pub[RF_SIGN_PUB_LEN], sig[RF_SIGN_SIG_LEN];
    rf_sign_key_public(k, pub);
    rf_sign_key_id(pub, ev->auth_key_id);
    size_t n = 0;
    if (rf_event_auth_message(ev, msg, sizeof msg, &n) != RF_OK)
        return rf_errf(eb, RF_ERR_OVERSIZE, "event too large to sign");
    rf_err_t err = rf_sign(k, msg, n, sig, eb);
    if (err) return err;
    rf_hex(sig, sizeof sig, ev->auth_sig);
    return RF_OK;
}

bool rf_event_auth_verify(const rf_event_t *ev, const uint8_t pub[RF_SIGN_PUB_LEN])
{
    RF_ASSERT(ev != NULL && pub != NULL);
    static _Thread_local char msg[RF_EVENT_AUTH_MSG_MAX];
    char id[RF_SIGN_KEY_ID_BUF];
    uint8_t sig[RF_SIGN_SIG_LEN];
    rf_sign_key_id(pub, id);
    if (strcmp(id, ev->auth_key_id) != 0) return false;
    if (rf_unhex(ev->auth_sig, sig, sizeof sig) != RF_OK) return false;
    size_t n = 0;
    if (rf_event_auth_message(ev, msg, sizeof msg, &n) != RF_OK) return false;
    return rf_sign_verify(pub, msg, n, sig);
}
