/* rf_rules_attrib.c: referral codes, clicks and attribution of signups
 * (code, or the visitor's clicks first/last touch within the window). */
#include <stdio.h>
#include <string.h>

#include "rf_rules_int.h"

static rf_err_t get_str_value(rf_fold_ctx_t *ctx, const uint8_t *k, size_t kl, char *out,
                              size_t cap, bool *found)
{
    size_t vlen = 0;
    rf_err_t err = rf__sget(ctx, k, kl, out, cap - 1, &vlen);
    *found = err == RF_OK;
    if (err == RF_ERR_NOT_FOUND) err = RF_OK;
    if (err == RF_ERR_OVERSIZE) err = RF_ERR_CORRUPT;
    out[*found ? vlen : 0] = 0;
    return err;
}

/* The referrer owning code in the program ("" when unknown). */
static rf_err_t code_owner(rf_fold_ctx_t *ctx, const char *prog, const char *code, char *out)
{
    uint8_t k[RF__KEY_MAX];
    size_t kl = rf__key(k, RF__X_CODE, prog, code, NULL);
    bool found;
    return get_str_value(ctx, k, kl, out, RF_ID_BUF, &found);
}

static rf_err_t reject(rf_fold_ctx_t *ctx, const rf_event_t *ev, const char *reason)
{
    rf_record_t *rec = rf__rec(ctx, RF_KIND_REJECTED);
    if (ev->user[0]) rf_record_fact(rec, RF_FACT_USER, ev->user);
    if (ev->referrer[0]) rf_record_fact(rec, RF_FACT_REFERRER, ev->referrer);
    if (ev->code[0]) rf_record_fact(rec, RF_FACT_CODE, ev->code);
    rf_record_fact(rec, RF_FACT_REASON, reason);
    return rf_fold_record_append(ctx, rec);
}

rf_err_t rf__fold_code(rf_fold_ctx_t *ctx, const rf__prog_t *p, const rf_event_t *ev)
{
    char code[RF_ID_BUF], owner[RF_ID_BUF], mine[RF_ID_BUF];
    bool derived = !ev->code[0], found = false;
    if (derived)
        rf_rules_derive_code(p->id, ev->referrer, code);
    else
        rf_strlcpy(code, ev->code, sizeof code);
    uint8_t kc[RF__KEY_MAX], kr[RF__KEY_MAX];
    size_t kcl = rf__key(kc, RF__X_CODE, p->id, code, NULL);
    size_t krl = rf__key(kr, RF__X_REFCODE, p->id, ev->referrer, NULL);
    rf_err_t err = get_str_value(ctx, kc, kcl, owner, sizeof owner, &found);
    if (err) return err;
    if (found && strcmp(owner, ev->referrer) != 0) return reject(ctx, ev, "code_taken");
    if ((err = get_str_value(ctx, kr, krl, mine, sizeof mine, &found))) return err;
    if (found && strcmp(mine, code) != 0) {
        char reason[RF_FACT_VAL_MAX];
        snprintf(reason, sizeof reason, "referrer_has_code:%s", mine);
        return reject(ctx, ev, reason);
    }
    rf_record_t *rec = rf__rec(ctx, RF_KIND_CODE);
    rf_record_fact(rec, RF_FACT_REFERRER, ev->referrer);
    rf_record_fact(rec, RF_FACT_CODE, code);
    if (derived) rf_record_fact(rec, RF_FACT_DERIVED, "1");
    if (found) rf_record_fact(rec, RF_FACT_REASON, "already_issued");
    if (!found) {
        err = rf__sput(ctx, kc, kcl, ev->referrer, strlen(ev->referrer));
        if (!err) err = rf__sput(ctx, kr, krl, code, strlen(code));
        if (err) return err;
    }
    return rf_fold_record_append(ctx, rec);
}

/* first_touch: one key per click, ordered by time, so a signup finds the
 * earliest click in its window with one seek. */
static size_t first_key(uint8_t *k, const char *prog, const char *visitor, int64_t t)
{
    size_t kl = rf__key(k, RF__X_FIRST, prog, visitor, "");
    rf__put_time(k + kl, t);
    return kl + 8;
}

rf_err_t rf__fold_click(rf_fold_ctx_t *ctx, const rf__prog_t *p, const rf_event_t *ev)
{
    char referrer[RF_ID_BUF];
    rf_err_t err = code_owner(ctx, p->id, ev->code, referrer);
    if (err) return err;
    rf_record_t *rec = rf__rec(ctx, RF_KIND_CLICK);
    rf_record_fact(rec, RF_FACT_CODE, ev->code);
    if (ev->visitor[0]) rf_record_fact(rec, "visitor", ev->visitor);
    if (!referrer[0]) {
        rf_record_fact(rec, RF_FACT_REASON, "unknown_code");
        return rf_fold_record_append(ctx, rec);
    }
    rf_record_fact(rec, RF_FACT_REFERRER, referrer);
    if (ev->visitor[0]) { /* blind writes: a click reads nothing but the (cached) code */
        uint8_t k[RF__KEY_MAX];
        rf__click_t c;
        memset(&c, 0, sizeof c);
        c.fmt = RF__STATE_FMT;
        c.time_ms = ev->occurred_at_ms;
        rf_strlcpy(c.code, ev->code, sizeof c.code);
        size_t kl = rf__key(k, RF__X_CLICKS, p->id, ev->visitor, NULL);
        if ((err = rf__sput(ctx, k, kl, &c, sizeof c))) return err;
        if (p->first_touch) {
            kl = first_key(k, p->id, ev->visitor, ev->occurred_at_ms);
            if ((err = rf_fold_put(ctx, k, kl, ev->code, strlen(ev->code)))) return err;
        }
    }
    return rf_fold_record_append(ctx, rec);
}

/* The visitor's last click, if within the window before t. */
static rf_err_t last_click(rf_fold_ctx_t *ctx, const rf__prog_t *p, const char *visitor, int64_t t,
                           rf__click_t *c, bool *found)
{
    uint8_t k[RF__KEY_MAX];
    size_t kl = rf__key(k, RF__X_CLICKS, p->id, visitor, NULL);
    rf_err_t err = rf__get_fixed(ctx, k, kl, c, sizeof *c, found);
    if (!err && *found) *found = c->time_ms <= t && c->time_ms >= t - p->attr_window_ms;
    return err;
}

typedef struct first_hit {
    bool found;
    int64_t time_ms;
    char code[RF_ID_BUF];
} first_hit_t;

static int first_cb(const void *key, size_t klen, const void *val, size_t vlen, void *opaque)
{
    first_hit_t *h = opaque;
    if (klen < 8 || vlen == 0 || vlen > RF_ID_MAX) return 0; /* not a click: skip */
    h->found = true;
    h->time_ms = rf__get_time((const uint8_t *)key + klen - 8);
    memcpy(h->code, val, vlen);
    h->code[vlen] = 0;
    return 1;
}

/* Attribution by the visitor's clicks within the window before t: the
 * earliest (first touch, one seek) or the last one (last touch). */
static rf_err_t from_clicks(rf_fold_ctx_t *ctx, const rf__prog_t *p, const char *visitor, int64_t t,
                            rf__attrib_t *a)
{
    first_hit_t h = {false, 0, ""};
    rf_err_t err;
    if (p->first_touch) {
        uint8_t start[RF__KEY_MAX], end[RF__KEY_MAX];
        size_t sl = first_key(start, p->id, visitor, t - p->attr_window_ms);
        size_t el = first_key(end, p->id, visitor, t + 1);
        if ((err = rf_fold_scan(ctx, start, sl, end, el, first_cb, &h))) return err;
    } else {
        rf__click_t c;
        if ((err = last_click(ctx, p, visitor, t, &c, &h.found))) return err;
        h.time_ms = c.time_ms;
        rf_strlcpy(h.code, c.code, sizeof h.code);
    }
    if (!h.found) return RF_OK;
    if ((err = code_owner(ctx, p->id, h.code, a->referrer))) return err;
    rf_strlcpy(a->code, h.code, sizeof a->code);
    a->click_ms = h.time_ms;
    return RF_OK;
}

/* The time of the visitor's last click, when it was on this code within the
 * window before t (-1 otherwise): what fast_signup measures. */
static rf_err_t code_click(rf_fold_ctx_t *ctx, const rf__prog_t *p, const char *visitor,
                           const char *code, int64_t t, int64_t *click_ms)
{
    *click_ms = -1;
    if (!visitor[0]) return RF_OK;
    rf__click_t c;
    bool found;
    rf_err_t err = last_click(ctx, p, visitor, t, &c, &found);
    if (!err && found && strcmp(c.code, code) == 0) *click_ms = c.time_ms;
    return err;
}

static rf_err_t find_referrer(rf_fold_ctx_t *ctx, const rf__prog_t *p, const rf_event_t *ev,
                              rf__attrib_t *a)
{
    int64_t t = ev->occurred_at_ms;
    rf_err_t err = RF_OK;
    if (ev->code[0]) {
        if ((err = code_owner(ctx, p->id, ev->code, a->referrer))) return err;
        if (a->referrer[0]) {
            rf_strlcpy(a->code, ev->code, sizeof a->code);
            a->how = "code";
            return code_click(ctx, p, ev->visitor, ev->code, t, &a->click_ms);
        }
        a->reason = "unknown_code";
    }
    if (ev->visitor[0]) {
        if ((err = from_clicks(ctx, p, ev->visitor, t, a))) return err;
        if (a->referrer[0]) {
            a->how = p->first_touch ? "first_touch" : "last_touch";
            a->reason = NULL;
        }
    }
    return RF_OK;
}

rf_err_t rf__attribute(rf_fold_ctx_t *ctx, const rf__prog_t *p, const rf_event_t *ev,
                       const char *user, rf__attrib_t *a)
{
    memset(a, 0, sizeof *a);
    a->click_ms = -1;
    a->status = RF__ST_NONE;
    rf_err_t err = find_referrer(ctx, p, ev, a);
    if (err || !a->referrer[0]) return err;
    if (strcmp(a->referrer, user) == 0) {
        rf_strlcpy(a->candidate, a->referrer, sizeof a->candidate);
        a->referrer[0] = 0;
        a->reason = "self_attribution";
        return RF_OK;
    }
    static _Thread_local rf__user_t R;
    bool found;
    if ((err = rf__user_get(ctx, p->id, a->referrer, &R, &found))) return err;
    rf__checks_t c;
    rf__checks_init(&c);
    if ((err = rf__checks_signup(ctx, p, ev, a->referrer, &R, a->click_ms, &c))) return err;
    memcpy(a->checks, c.text, sizeof a->checks);
    a->status = RF__ST_OK;
    if (c.worst == RF__ACT_REJECT) {
        a->status = RF__ST_REJECTED;
        rf_strlcpy(a->candidate, a->referrer, sizeof a->candidate);
        a->referrer[0] = 0;
    } else if (c.worst == RF__ACT_REVIEW) {
        a->status = RF__ST_REVIEW;
    }
    if (c.worst != RF__ACT_OFF) {
        snprintf(a->reason_buf, sizeof a->reason_buf, "fraud:%s", c.first_fail);
        a->reason = a->reason_buf;
    }
    RF_ASSERT(a->status != RF__ST_OK || a->reason == NULL);
    return RF_OK;
}

void rf__attrib_facts(rf_record_t *rec, const rf__attrib_t *a)
{
    bool referred = a->status == RF__ST_OK || a->status == RF__ST_REVIEW;
    rf_record_fact(rec, RF_FACT_REFERRED, referred ? "1" : "0");
    if (referred) rf_record_fact(rec, RF_FACT_REFERRER, a->referrer);
    if (a->candidate[0]) rf_record_fact(rec, RF_FACT_REFUSED_REFERRER, a->candidate);
    if (a->code[0]) rf_record_fact(rec, RF_FACT_CODE, a->code);
    if (a->how) rf_record_fact(rec, RF_FACT_ATTRIBUTION, a->how);
    if (a->checks[0]) rf_record_fact(rec, RF_FACT_CHECKS, a->checks);
    if (a->reason) rf_record_fact(rec, RF_FACT_REASON, a->reason);
}

rf_err_t rf__review_record(rf_fold_ctx_t *ctx, const char *user, const char *referrer,
                           const char *status, const char *reason, const char *checks)
{
    rf_record_t *rec = rf__rec(ctx, RF_KIND_REVIEW);
    rf_record_fact(rec, RF_FACT_USER, user);
    rf_record_fact(rec, RF_FACT_FRIEND, user);
    if (referrer && referrer[0]) rf_record_fact(rec, RF_FACT_REFERRER, referrer);
    rf_record_fact(rec, RF_FACT_STATUS, status);
    if (reason && reason[0]) rf_record_fact(rec, RF_FACT_REASON, reason);
    if (checks && checks[0]) rf_record_fact(rec, RF_FACT_CHECKS, checks);
    return rf_fold_record_append(ctx, rec);
}

/* Stores what the checks of later events compare against. */
static void keep_hashes(rf__user_t *u, const rf_event_t *ev)
{
    if (ev->email_hash[0]) {
        rf__hash_from_hex(ev->email_hash, u->email);
        u->flags |= RF__U_EMAIL;
    }
    if (ev->device_hash[0]) {
        rf__hash_from_hex(ev->device_hash, u->device);
        u->flags |= RF__U_DEVICE;
    }
}

rf_err_t rf__fold_signup(rf_fold_ctx_t *ctx, const rf__prog_t *p, const rf_event_t *ev)
{
    static _Thread_local rf__user_t u;
    bool found;
    rf_err_t err = rf__user_get(ctx, p->id, ev->user, &u, &found);
    if (err) return err;
    if (u.flags & RF__U_SIGNED_UP)
        return reject(ctx, ev,
                      u.status != RF__ST_NONE ? "already_attributed" : "already_signed_up");
    rf__attrib_t a;
    memset(&a, 0, sizeof a);
    rf_record_t *rec;
    if (u.flags & RF__U_ATTRIBUTED) { /* a guest purchase attributed this user already */
        rec = rf__rec(ctx, RF_KIND_SIGNUP);
        rf_record_fact(rec, RF_FACT_USER, ev->user);
        bool referred = u.status == RF__ST_OK || u.status == RF__ST_REVIEW;
        rf_record_fact(rec, RF_FACT_REFERRED, referred ? "1" : "0");
        if (referred) rf_record_fact(rec, RF_FACT_REFERRER, u.referrer);
        rf_record_fact(rec, RF_FACT_ATTRIBUTION, "existing");
    } else {
        if ((err = rf__attribute(ctx, p, ev, ev->user, &a))) return err;
        rec = rf__rec(ctx, RF_KIND_SIGNUP);
        rf_record_fact(rec, RF_FACT_USER, ev->user);
        rf__attrib_facts(rec, &a);
        u.status = a.status;
        u.click_ms = a.click_ms;
        u.signup_ms = ev->occurred_at_ms;
        rf_strlcpy(u.referrer, a.referrer[0] ? a.referrer : a.candidate, sizeof u.referrer);
        if (a.status == RF__ST_REVIEW)
            rf_strlcpy(u.review_reason, a.reason ? a.reason : "", sizeof u.review_reason);
    }
    u.flags |= RF__U_SIGNED_UP | RF__U_ATTRIBUTED;
    keep_hashes(&u, ev);
    if ((err = rf__user_put(ctx, p->id, ev->user, &u))) return err;
    if ((err = rf_fold_record_append(ctx, rec))) return err;
    if (a.status != RF__ST_REVIEW) return RF_OK;
    return rf__review_record(ctx, ev->user, a.referrer, "held", a.reason, a.checks);
}
