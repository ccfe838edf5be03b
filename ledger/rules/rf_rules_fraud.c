/* rf_rules_fraud.c: the fraud checks (self-referral, ip cluster, velocity,
 * fast signup, duplicate order) and the "checks" fact that records them. */
#include <stdio.h>
#include <string.h>

#include "rf_rules_int.h"
#include "rf_hex.h"

void rf__checks_init(rf__checks_t *c)
{
    memset(c, 0, sizeof *c);
    c->worst = RF__ACT_OFF;
}

/* Appends "name=result" and keeps the strongest failure (reject > review). */
static void note(rf__checks_t *c, const char *name, uint8_t action, int result, const char *detail)
{
    static const char *const results[] = {"pass", "fail", "skip"};
    size_t n = strlen(c->text);
    const char *sep = n ? "," : "";
    if (result == 1)
        snprintf(c->text + n, sizeof c->text - n, "%s%s=fail:%s", sep, name,
                 rf__action_name(action));
    else
        snprintf(c->text + n, sizeof c->text - n, "%s%s=%s", sep, name, results[result]);
    if (result != 1 || action <= c->worst) return;
    c->worst = action;
    snprintf(c->first_fail, sizeof c->first_fail, "%s%s%s", name, detail ? ":" : "",
             detail ? detail : "");
}

bool rf__hash_eq_hex(const uint8_t raw[32], const char *hex)
{
    uint8_t h[32];
    return hex[0] && rf_unhex(hex, h, 32) == RF_OK && memcmp(h, raw, 32) == 0;
}

void rf__hash_from_hex(const char *hex, uint8_t raw[32])
{
    if (rf_unhex(hex, raw, 32) != RF_OK) memset(raw, 0, 32);
}

/* Sliding window: the last `max` event times of a key (oldest first). */
typedef struct ring {
    uint8_t fmt;
    uint8_t pad[3];
    uint32_t n;
    int64_t t[RF_RULES_WINDOW_MAX];
} ring_t;
#define RING_HDR 8

/* Counts the stored times within window of now, then records now. Returns
 * the count including this event. */
static rf_err_t window_hit(rf_fold_ctx_t *ctx, char tag, const char *prog, const char *id,
                           const rf__check_t *chk, int64_t now, int64_t *count)
{
    static _Thread_local ring_t r;
    uint8_t k[RF__KEY_MAX];
    size_t kl = rf__key(k, tag, prog, id, NULL), vlen = 0;
    rf_err_t err = rf__sget(ctx, k, kl, &r, sizeof r, &vlen);
    if (err == RF_ERR_NOT_FOUND) {
        r.n = 0;
        err = RF_OK;
    } else if (!err && (vlen < RING_HDR || r.fmt != RF__STATE_FMT || r.n > RF_RULES_WINDOW_MAX ||
                        vlen != RING_HDR + 8 * (size_t)r.n)) {
        err = RF_ERR_CORRUPT;
    }
    if (err) return err == RF_ERR_OVERSIZE ? RF_ERR_CORRUPT : err;
    int64_t in = 1;
    for (uint32_t i = 0; i < r.n; i++)
        in += r.t[i] >= now - chk->window_ms && r.t[i] <= now;
    *count = in;
    /* keep the newest max times: enough to decide "more than max" next time */
    uint32_t keep = (uint32_t)chk->max;
    RF_ASSERT(keep >= 1 && keep <= RF_RULES_WINDOW_MAX);
    if (r.n >= keep) {
        memmove(r.t, r.t + (r.n - keep + 1), sizeof r.t[0] * (keep - 1));
        r.n = keep - 1;
    }
    r.t[r.n++] = now;
    r.fmt = RF__STATE_FMT;
    memset(r.pad, 0, sizeof r.pad);
    return rf__sput(ctx, k, kl, &r, RING_HDR + 8 * (size_t)r.n);
}

static void self_referral_signup(const rf__prog_t *p, const rf_event_t *ev, const rf__user_t *R,
                                 rf__checks_t *c)
{
    if (p->self_ref.action == RF__ACT_OFF) return;
    const char *by = NULL;
    if ((R->flags & RF__U_EMAIL) && rf__hash_eq_hex(R->email, ev->email_hash))
        by = "email";
    else if ((R->flags & RF__U_DEVICE) && rf__hash_eq_hex(R->device, ev->device_hash))
        by = "device";
    note(c, "self_referral", p->self_ref.action, by ? 1 : 0, by);
}

rf_err_t rf__checks_signup(rf_fold_ctx_t *ctx, const rf__prog_t *p, const rf_event_t *ev,
                           const char *referrer, const rf__user_t *R, int64_t click_ms,
                           rf__checks_t *c)
{
    RF_ASSERT(referrer[0] && R != NULL);
    int64_t now = ev->occurred_at_ms, n = 0;
    rf_err_t err = RF_OK;
    self_referral_signup(p, ev, R, c);
    if (p->ip_cluster.action != RF__ACT_OFF) {
        if (!ev->ip_hash[0]) {
            note(c, "ip_cluster", p->ip_cluster.action, 2, NULL);
        } else {
            err = window_hit(ctx, RF__X_IP, p->id, ev->ip_hash, &p->ip_cluster, now, &n);
            if (err) return err;
            note(c, "ip_cluster", p->ip_cluster.action, n > p->ip_cluster.max, NULL);
        }
    }
    if (p->velocity.action != RF__ACT_OFF) {
        err = window_hit(ctx, RF__X_VELOCITY, p->id, referrer, &p->velocity, now, &n);
        if (err) return err;
        note(c, "velocity", p->velocity.action, n > p->velocity.max, NULL);
    }
    if (p->fast_signup.action != RF__ACT_OFF) {
        int r = click_ms < 0 || click_ms > now ? 2 : now - click_ms < p->fast_signup.window_ms;
        note(c, "fast_signup", p->fast_signup.action, r, NULL);
    }
    return RF_OK;
}

void rf__checks_purchase(const rf__prog_t *p, const rf_event_t *ev, const rf__user_t *R,
                         bool duplicate, rf__checks_t *c)
{
    if (p->self_ref.action != RF__ACT_OFF) {
        bool hit = false;
        for (uint32_t i = 0; i < R->npay && i < RF_RULES_PAYMENT_HASHES && !hit; i++)
            hit = rf__hash_eq_hex(R->pay[i], ev->payment_hash);
        note(c, "self_referral", p->self_ref.action, hit, hit ? "payment" : NULL);
    }
    if (p->dup_order.action != RF__ACT_OFF)
        note(c, "duplicate_order", p->dup_order.action, duplicate, NULL);
}
