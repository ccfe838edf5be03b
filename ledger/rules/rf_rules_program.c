/* rf_rules_program.c: for `refold program`: a program's current rules from a
 * partition ledger's stored state ('x' 'v', read-only, through rf_fold.h),
 * and the rules as the fold compiles them (defaults filled in) back as JSON. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rf_rules_int.h"

rf_err_t rf_rules_program_get(struct rf_ledger *l, const char *program, int32_t *version,
                              char *rules_json, size_t cap, rf_errbuf_t *eb)
{
    RF_ASSERT(l != NULL && program != NULL && version != NULL);
    RF_ASSERT(rules_json == NULL || cap > 0);
    size_t n = strnlen(program, RF_ID_MAX + 1);
    if (n == 0 || n > RF_ID_MAX)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "program id must have 1 to %d characters", RF_ID_MAX);
    uint8_t k[RF__KEY_MAX];
    size_t kl = rf__key(k, RF__X_VERSION, program, NULL, NULL), vlen = 0;
    uint8_t *buf = malloc(4 + RF_RULES_MAX); /* an operator's query: not the hot path */
    if (!buf) return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    rf_err_t err = rf_fold_ledger_get(l, k, kl, buf, 4 + RF_RULES_MAX, &vlen);
    if (err == RF_ERR_NOT_FOUND) {
        rf_errf(eb, err, "program '%s' has no rules in partition %d", program,
                (int)rf_fold_ledger_partition(l));
    } else if (err == RF_ERR_OVERSIZE || (err == RF_OK && vlen < 4)) {
        err = rf_errf(eb, RF_ERR_CORRUPT, "stored rules of program '%s' are malformed", program);
    } else if (err) {
        rf_errf(eb, err, "cannot read the rules of program '%s'", program);
    } else {
        *version = (int32_t)rf_be32_get(buf);
        size_t jl = vlen - 4;
        if (rules_json && jl >= cap)
            err = rf_errf(eb, RF_ERR_OVERSIZE, "rules of program '%s' need %zu bytes", program,
                          jl + 1);
        else if (rules_json) {
            memcpy(rules_json, buf + 4, jl);
            rules_json[jl] = '\0';
        }
        RF_ASSERT(err != RF_OK || *version >= 1); /* the fold accepts versions >= 1 only */
    }
    free(buf);
    return err;
}

/* ---- every program, every version: range scans of the committed state ---- */

typedef struct scan {
    const char *program; /* history: the program; list: NULL (taken from the key) */
    rf_rules_program_cb_t *cb;
    void *opaque;
    rf_err_t err;
    uint8_t buf[4 + RF_RULES_MAX + 1];
} scan_t;

/* Copies a value into s->buf (cap bytes at most): RF_OK or RF_ERR_OVERSIZE. */
static rf_err_t take(scan_t *s, const void *v, size_t vl, size_t cap, size_t *n)
{
    *n = vl;
    if (vl > cap) return RF_ERR_OVERSIZE;
    memcpy(s->buf, v, vl);
    return RF_OK;
}

/* One 'x' 'v' (list) or 'x' 'V' (history) entry: checks it, calls back. */
static int scan_one(const void *key, size_t kl, const void *v, size_t vl, void *opaque)
{
    scan_t *s = opaque;
    const uint8_t *k = key;
    char program[RF_ID_BUF];
    size_t n = 0, pl = kl - 2;
    int32_t version = 0;
    if (s->program) { /* 'x' 'V' prog \0 be32 version -> rules json */
        s->err =
            kl == 2 + strlen(s->program) + 5 ? take(s, v, vl, RF_RULES_MAX, &n) : RF_ERR_CORRUPT;
        if (!s->err) version = (int32_t)rf_be32_get(k + kl - 4);
    } else { /* 'x' 'v' prog -> be32 version || rules json */
        s->err = pl >= 1 && pl <= RF_ID_MAX ? take(s, v, vl, 4 + RF_RULES_MAX, &n) : RF_ERR_CORRUPT;
        if (!s->err && n < 4) s->err = RF_ERR_CORRUPT;
        if (!s->err) {
            memcpy(program, k + 2, pl);
            program[pl] = '\0';
            version = (int32_t)rf_be32_get(s->buf);
        }
    }
    if (s->err) return 1;
    uint8_t *json = s->program ? s->buf : s->buf + 4;
    size_t jl = s->program ? n : n - 4;
    json[jl] = '\0';
    RF_ASSERT(jl <= RF_RULES_MAX);
    return s->cb(s->program ? s->program : program, version, (const char *)json, s->opaque);
}

static rf_err_t scan_range(struct rf_ledger *l, const uint8_t *start, size_t sl, const uint8_t *end,
                           size_t el, scan_t *s, rf_errbuf_t *eb)
{
    int partition = (int)rf_fold_ledger_partition(l);
    rf_err_t err = rf_fold_ledger_scan(l, start, sl, end, el, scan_one, s, eb);
    if (err == RF_ERR_CORRUPT || (!err && s->err == RF_ERR_CORRUPT))
        err = rf_errf(eb, RF_ERR_CORRUPT, "partition %d: malformed stored rules", partition);
    else if (!err && s->err)
        err = rf_errf(eb, s->err, "partition %d: stored rules too large", partition);
    return err;
}

rf_err_t rf_rules_program_list(struct rf_ledger *l, rf_rules_program_cb_t *cb, void *opaque,
                               rf_errbuf_t *eb)
{
    RF_ASSERT(l != NULL && cb != NULL);
    scan_t *s = calloc(1, sizeof *s); /* 16 KiB: an operator's query, not the hot path */
    if (!s) return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    s->cb = cb;
    s->opaque = opaque;
    const uint8_t start[2] = {RF_FOLD_K_RULES, RF__X_VERSION};
    const uint8_t end[2] = {RF_FOLD_K_RULES, RF__X_VERSION + 1};
    rf_err_t err = scan_range(l, start, 2, end, 2, s, eb);
    free(s);
    return err;
}

rf_err_t rf_rules_program_history(struct rf_ledger *l, const char *program,
                                  rf_rules_program_cb_t *cb, void *opaque, rf_errbuf_t *eb)
{
    RF_ASSERT(l != NULL && program != NULL && cb != NULL);
    size_t pl = strnlen(program, RF_ID_MAX + 1);
    if (pl == 0 || pl > RF_ID_MAX)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "program id must have 1 to %d characters", RF_ID_MAX);
    scan_t *s = calloc(1, sizeof *s);
    if (!s) return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    s->program = program;
    s->cb = cb;
    s->opaque = opaque;
    uint8_t start[RF__KEY_MAX], end[RF__KEY_MAX];
    size_t sl = rf__key(start, RF__X_HISTORY, program, "", NULL); /* ends in prog \0 */
    memcpy(end, start, sl);
    end[sl - 1] = 1; /* prog \1: just past every version */
    rf_err_t err = scan_range(l, start, sl, end, sl, s, eb);
    free(s);
    return err;
}

/* ---- effective rules: the compiled program back as rules JSON ---- */

#define DAY_MS  (86400LL * 1000)
#define HOUR_MS (3600LL * 1000)

static json_t *reward_json(const rf__reward_rule_t *r)
{
    json_t *o = json_pack("{s:s}", "type", rf__reward_type_name(r->type));
    if (!o || r->type == RF__RW_NONE) return o;
    if (r->type == RF__RW_PERCENT) {
        json_object_set_new(o, "percent_bp", json_integer(r->percent_bp));
        if (r->max_minor >= 0) json_object_set_new(o, "max_minor", json_integer(r->max_minor));
    } else {
        json_object_set_new(o, "amount_minor", json_integer(r->amount_minor));
    }
    json_object_set_new(o, "asset", json_string(r->asset));
    if (r->type == RF__RW_PRODUCT) json_object_set_new(o, "sku", json_string(r->sku));
    return o;
}

static json_t *ladders_json(const rf__prog_t *p, json_t *root)
{
    json_t *tiers = json_array(), *ms = json_array();
    for (uint32_t i = 0; i < p->ntiers; i++)
        json_array_append_new(
            tiers, json_pack("{s:I, s:o}", "min_referrals", (json_int_t)p->tiers[i].min_referrals,
                             "referrer_reward", reward_json(&p->tiers[i].reward)));
    for (uint32_t i = 0; i < p->nmilestones; i++)
        json_array_append_new(ms, json_pack("{s:I, s:o}", "referrals",
                                            (json_int_t)p->milestones[i].referrals, "bonus",
                                            reward_json(&p->milestones[i].bonus)));
    json_object_set_new(root, "tiers", tiers);
    json_object_set_new(root, "milestones", ms);
    return root;
}

/* Checks that are off are left out (absent means off), except self_referral,
 * which is on unless turned off: so the output parses back to the same rules. */
static json_t *fraud_json(const rf__prog_t *p)
{
    json_t *f =
        json_pack("{s:{s:s}}", "self_referral", "action", rf__action_name(p->self_ref.action));
    if (p->ip_cluster.action)
        json_object_set_new(f, "ip_cluster",
                            json_pack("{s:I, s:I, s:s}", "max_signups",
                                      (json_int_t)p->ip_cluster.max, "window_hours",
                                      (json_int_t)(p->ip_cluster.window_ms / HOUR_MS), "action",
                                      rf__action_name(p->ip_cluster.action)));
    if (p->velocity.action)
        json_object_set_new(f, "velocity",
                            json_pack("{s:I, s:I, s:s}", "max_referrals",
                                      (json_int_t)p->velocity.max, "window_hours",
                                      (json_int_t)(p->velocity.window_ms / HOUR_MS), "action",
                                      rf__action_name(p->velocity.action)));
    if (p->fast_signup.action)
        json_object_set_new(f, "fast_signup",
                            json_pack("{s:I, s:s}", "min_seconds",
                                      (json_int_t)(p->fast_signup.window_ms / 1000), "action",
                                      rf__action_name(p->fast_signup.action)));
    if (p->dup_order.action)
        json_object_set_new(f, "duplicate_order",
                            json_pack("{s:s}", "action", rf__action_name(p->dup_order.action)));
    return f;
}

static json_t *prog_json(const rf__prog_t *p)
{
    static const char *const periods[] = {"month", "year", "all"};
    RF_ASSERT(p->cap_period <= RF__PERIOD_ALL);
    json_t *root = json_pack(
        "{s:s, s:s, s:{s:s, s:I}, s:{s:b, s:I, s:I}, s:o, s:o}", "name", p->name, "currency",
        p->currency, "attribution", "model", p->first_touch ? "first_touch" : "last_touch",
        "window_days", (json_int_t)(p->attr_window_ms / DAY_MS), "qualification",
        "first_purchase_only", (int)p->first_purchase_only, "min_order_minor",
        (json_int_t)p->min_order_minor, "window_days", (json_int_t)(p->qual_window_ms / DAY_MS),
        "referrer_reward", reward_json(&p->referrer), "friend_reward", reward_json(&p->friend_));
    if (!root) return NULL;
    if (!p->name[0]) json_object_del(root, "name");
    ladders_json(p, root);
    json_object_set_new(root, "caps",
                        json_pack("{s:s, s:I, s:I, s:s}", "period", periods[p->cap_period],
                                  "max_count", (json_int_t)p->cap_count, "max_value_minor",
                                  (json_int_t)p->cap_value, "on_exceed",
                                  p->cap_reduce ? "reduce" : "refuse"));
    json_object_set_new(root, "budget_minor", json_integer(p->budget_minor));
    json_object_set_new(root, "hold_days", json_integer(p->hold_ms / DAY_MS));
    json_object_set_new(root, "fraud", fraud_json(p));
    return root;
}

rf_err_t rf_rules_effective_json(const char *rules_json, char **out, rf_errbuf_t *eb)
{
    RF_ASSERT(rules_json != NULL && out != NULL);
    *out = NULL;
    rf__prog_t *p = calloc(1, sizeof *p);
    if (!p) return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    rf_err_t err = rf__prog_parse(rules_json, p, eb);
    json_t *root = err ? NULL : prog_json(p);
    if (!err && root) *out = json_dumps(root, JSON_COMPACT);
    if (!err && !*out) err = rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    json_decref(root);
    free(p);
    RF_ASSERT(err != RF_OK || (*out)[0] == '{');
    return err;
}
