/* rf_rules_config.c: parses and validates a program's rules JSON (the format
 * of docs/programs.md) into the fixed-size compiled form the fold uses. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rf_rules_int.h"

#define DAY_MS  (86400LL * 1000)
#define HOUR_MS (3600LL * 1000)
/* Windows and holds: ten years is longer than any program runs. */
#define DAYS_MAX  3650
#define HOURS_MAX (DAYS_MAX * 24)

const char *rf__reward_type_name(uint8_t type)
{
    static const char *names[] = {"none", "fixed", "percent", "coupon", "product"};
    return type <= RF__RW_PRODUCT ? names[type] : "?";
}

const char *rf__action_name(uint8_t action)
{
    static const char *names[] = {"off", "reject", "review"};
    return action <= RF__ACT_REVIEW ? names[action] : "?";
}

/* Every member of o must be in allowed (NULL-terminated): typos are errors. */
static rf_err_t check_keys(json_t *o, const char *const *allowed, const char *path, rf_errbuf_t *eb)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, key) == 0;
        if (!ok) return rf_errf(eb, RF_ERR_BAD_INPUT, "unknown field '%s%s'", path, key);
    }
    return RF_OK;
}

static rf_err_t get_int(json_t *o, const char *key, int64_t lo, int64_t hi, int64_t def,
                        int64_t *out, const char *path, rf_errbuf_t *eb)
{
    json_t *v = json_object_get(o, key);
    if (!v) {
        *out = def;
        return RF_OK;
    }
    if (!json_is_integer(v))
        return rf_errf(eb, RF_ERR_BAD_INPUT, "field '%s%s' must be an integer", path, key);
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "field '%s%s' must be in [%lld, %lld]", path, key,
                       (long long)lo, (long long)hi);
    *out = (int64_t)x;
    return RF_OK;
}

static rf_err_t get_bool(json_t *o, const char *key, bool def, bool *out, const char *path,
                         rf_errbuf_t *eb)
{
    json_t *v = json_object_get(o, key);
    if (!v) {
        *out = def;
        return RF_OK;
    }
    if (!json_is_boolean(v))
        return rf_errf(eb, RF_ERR_BAD_INPUT, "field '%s%s' must be true or false", path, key);
    *out = json_is_true(v);
    return RF_OK;
}

/* String field: *out NULL when absent. */
static rf_err_t get_str(json_t *o, const char *key, size_t maxlen, const char **out,
                        const char *path, rf_errbuf_t *eb)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v) return RF_OK;
    if (!json_is_string(v))
        return rf_errf(eb, RF_ERR_BAD_INPUT, "field '%s%s' must be a string", path, key);
    size_t n = json_string_length(v);
    if (n == 0 || n > maxlen || memchr(json_string_value(v), 0, n))
        return rf_errf(eb, RF_ERR_BAD_INPUT, "field '%s%s' must have 1 to %zu characters", path,
                       key, maxlen);
    *out = json_string_value(v);
    return RF_OK;
}

/* Assets are upper-case letters, digits and '_' (they key balances). */
static rf_err_t check_asset(const char *a, const char *path, rf_errbuf_t *eb)
{
    for (const char *c = a; *c; c++)
        if (!(isupper((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '_'))
            return rf_errf(eb, RF_ERR_BAD_INPUT, "'%s' must be upper-case letters, digits or _",
                           path);
    return RF_OK;
}

static int parse_enum(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

/* The default asset of a reward: coupons "COUPON_<CUR>", products "PRODUCT",
 * cash-like rewards the program currency. */
static rf_err_t default_asset(rf__reward_rule_t *r, const char *currency, const char *path,
                              rf_errbuf_t *eb)
{
    if (r->asset[0]) return RF_OK;
    if (r->type == RF__RW_COUPON) {
        if (strlen(currency) + 7 > RF_ASSET_MAX)
            return rf_errf(eb, RF_ERR_BAD_INPUT, "'%sasset' is required: COUPON_%s is too long",
                           path, currency);
        snprintf(r->asset, sizeof r->asset, "COUPON_%s", currency);
    } else if (r->type == RF__RW_PRODUCT) {
        snprintf(r->asset, sizeof r->asset, "PRODUCT");
    } else {
        snprintf(r->asset, sizeof r->asset, "%s", currency);
    }
    return RF_OK;
}

static rf_err_t parse_reward(json_t *o, const char *currency, const char *path,
                             rf__reward_rule_t *r, rf_errbuf_t *eb)
{
    static const char *const keys[] = {"type",  "amount_minor", "percent_bp", "max_minor",
                                       "asset", "sku",          NULL};
    static const char *const types[] = {"none", "fixed", "percent", "coupon", "product"};
    memset(r, 0, sizeof *r);
    r->max_minor = -1;
    if (!json_is_object(o)) return rf_errf(eb, RF_ERR_BAD_INPUT, "'%s' must be an object", path);
    rf_err_t err = check_keys(o, keys, path, eb);
    const char *s;
    if (!err) err = get_str(o, "type", 16, &s, path, eb);
    if (err) return err;
    if (!s) return rf_errf(eb, RF_ERR_BAD_INPUT, "field '%stype' is required", path);
    int t = parse_enum(s, types, 5);
    if (t < 0)
        return rf_errf(eb, RF_ERR_BAD_INPUT,
                       "'%stype' must be one of none, fixed, "
                       "percent, coupon, product",
                       path);
    r->type = (uint8_t)t;
    int64_t mx = -1; /* -O3 cannot see that an error return leaves it unread */
    err = get_int(o, "amount_minor", 0, RF_AMOUNT_MAX, 0, &r->amount_minor, path, eb);
    if (!err) err = get_int(o, "percent_bp", 0, 10000, 0, &r->percent_bp, path, eb);
    if (!err) err = get_int(o, "max_minor", 0, RF_AMOUNT_MAX, -1, &mx, path, eb);
    if (!err) err = get_str(o, "asset", RF_ASSET_MAX, &s, path, eb);
    if (err) return err;
    r->max_minor = mx;
    if (s) {
        snprintf(r->asset, sizeof r->asset, "%s", s);
        if ((err = check_asset(r->asset, path, eb))) return err;
    }
    if ((err = get_str(o, "sku", RF_ID_MAX, &s, path, eb))) return err;
    if (s) snprintf(r->sku, sizeof r->sku, "%s", s);
    if ((r->type == RF__RW_FIXED || r->type == RF__RW_COUPON) && r->amount_minor <= 0)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "'%samount_minor' must be > 0 for type %s", path,
                       types[t]);
    if (r->type == RF__RW_PERCENT && r->percent_bp <= 0)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "'%spercent_bp' must be > 0 for type percent", path);
    if (r->type == RF__RW_PRODUCT && !r->sku[0])
        return rf_errf(eb, RF_ERR_BAD_INPUT, "'%ssku' is required for type product", path);
    return default_asset(r, currency, path, eb);
}

static rf_err_t parse_attr_qual(json_t *root, rf__prog_t *p, rf_errbuf_t *eb)
{
    static const char *const akeys[] = {"model", "window_days", NULL};
    static const char *const qkeys[] = {"first_purchase_only", "min_order_minor", "window_days",
                                        NULL};
    static const char *const models[] = {"first_touch", "last_touch"};
    json_t *a = json_object_get(root, "attribution");
    json_t *q = json_object_get(root, "qualification");
    int64_t days = 30;
    rf_err_t err = RF_OK;
    p->first_touch = false;
    if (a) {
        if (!json_is_object(a))
            return rf_errf(eb, RF_ERR_BAD_INPUT, "'attribution' must be an object");
        const char *m;
        if ((err = check_keys(a, akeys, "attribution.", eb))) return err;
        if ((err = get_str(a, "model", 16, &m, "attribution.", eb))) return err;
        if (m) {
            int x = parse_enum(m, models, 2);
            if (x < 0)
                return rf_errf(eb, RF_ERR_BAD_INPUT,
                               "'attribution.model' must be "
                               "first_touch or last_touch");
            p->first_touch = x == 0;
        }
        err = get_int(a, "window_days", 0, DAYS_MAX, 30, &days, "attribution.", eb);
    }
    p->attr_window_ms = days * DAY_MS;
    p->first_purchase_only = true;
    days = 60;
    if (!err && q) {
        if (!json_is_object(q))
            return rf_errf(eb, RF_ERR_BAD_INPUT, "'qualification' must be an object");
        err = check_keys(q, qkeys, "qualification.", eb);
        if (!err)
            err = get_bool(q, "first_purchase_only", true, &p->first_purchase_only,
                           "qualification.", eb);
        if (!err)
            err = get_int(q, "min_order_minor", 0, RF_AMOUNT_MAX, 0, &p->min_order_minor,
                          "qualification.", eb);
        if (!err) err = get_int(q, "window_days", 0, DAYS_MAX, 60, &days, "qualification.", eb);
    }
    p->qual_window_ms = days * DAY_MS;
    return err;
}

static int tier_cmp(const void *a, const void *b)
{
    int64_t x = ((const rf__tier_t *)a)->min_referrals, y = ((const rf__tier_t *)b)->min_referrals;
    return x < y ? -1 : x > y;
}

static int milestone_cmp(const void *a, const void *b)
{
    int64_t x = ((const rf__milestone_t *)a)->referrals;
    int64_t y = ((const rf__milestone_t *)b)->referrals;
    return x < y ? -1 : x > y;
}

static rf_err_t parse_tiers(json_t *root, rf__prog_t *p, rf_errbuf_t *eb)
{
    static const char *const keys[] = {"min_referrals", "referrer_reward", NULL};
    json_t *arr = json_object_get(root, "tiers");
    if (!arr) return RF_OK;
    if (!json_is_array(arr) || json_array_size(arr) > RF_RULES_TIERS_MAX)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "'tiers' must be an array of at most %d tiers",
                       RF_RULES_TIERS_MAX);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *t = json_array_get(arr, i);
        char path[48];
        snprintf(path, sizeof path, "tiers[%zu].", i);
        if (!json_is_object(t))
            return rf_errf(eb, RF_ERR_BAD_INPUT, "'%s' must be an object", path);
        rf__tier_t *tier = &p->tiers[p->ntiers++];
        rf_err_t err = check_keys(t, keys, path, eb);
        if (!err)
            err = get_int(t, "min_referrals", 1, 1000000000, -1, &tier->min_referrals, path, eb);
        if (err) return err;
        json_t *r = json_object_get(t, "referrer_reward");
        if (tier->min_referrals < 0 || !r)
            return rf_errf(eb, RF_ERR_BAD_INPUT, "'%s' needs min_referrals and referrer_reward",
                           path);
        char rpath[64];
        snprintf(rpath, sizeof rpath, "%sreferrer_reward.", path);
        if ((err = parse_reward(r, p->currency, rpath, &tier->reward, eb))) return err;
    }
    qsort(p->tiers, p->ntiers, sizeof p->tiers[0], tier_cmp);
    for (uint32_t i = 1; i < p->ntiers; i++)
        if (p->tiers[i].min_referrals == p->tiers[i - 1].min_referrals)
            return rf_errf(eb, RF_ERR_BAD_INPUT, "two tiers with min_referrals %lld",
                           (long long)p->tiers[i].min_referrals);
    return RF_OK;
}

static rf_err_t parse_milestones(json_t *root, rf__prog_t *p, rf_errbuf_t *eb)
{
    static const char *const keys[] = {"referrals", "bonus", NULL};
    json_t *arr = json_object_get(root, "milestones");
    if (!arr) return RF_OK;
    if (!json_is_array(arr) || json_array_size(arr) > RF_RULES_MILESTONES_MAX)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "'milestones' must be an array of at most %d",
                       RF_RULES_MILESTONES_MAX);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *m = json_array_get(arr, i);
        char path[48];
        snprintf(path, sizeof path, "milestones[%zu].", i);
        if (!json_is_object(m))
            return rf_errf(eb, RF_ERR_BAD_INPUT, "'%s' must be an object", path);
        rf__milestone_t *ms = &p->milestones[p->nmilestones++];
        rf_err_t err = check_keys(m, keys, path, eb);
        if (!err) err = get_int(m, "referrals", 1, 1000000000, -1, &ms->referrals, path, eb);
        if (err) return err;
        json_t *b = json_object_get(m, "bonus");
        if (ms->referrals < 0 || !b)
            return rf_errf(eb, RF_ERR_BAD_INPUT, "'%s' needs referrals and bonus", path);
        char bpath[64];
        snprintf(bpath, sizeof bpath, "%sbonus.", path);
        if ((err = parse_reward(b, p->currency, bpath, &ms->bonus, eb))) return err;
        if (ms->bonus.type == RF__RW_PERCENT)
            return rf_errf(eb, RF_ERR_BAD_INPUT, "'%stype' percent has no order to apply to",
                           bpath);
    }
    qsort(p->milestones, p->nmilestones, sizeof p->milestones[0], milestone_cmp);
    for (uint32_t i = 1; i < p->nmilestones; i++)
        if (p->milestones[i].referrals == p->milestones[i - 1].referrals)
            return rf_errf(eb, RF_ERR_BAD_INPUT, "two milestones at %lld referrals",
                           (long long)p->milestones[i].referrals);
    return RF_OK;
}

static rf_err_t parse_caps(json_t *root, rf__prog_t *p, rf_errbuf_t *eb)
{
    static const char *const keys[] = {"period", "max_count", "max_value_minor", "on_exceed", NULL};
    static const char *const periods[] = {"month", "year", "all"};
    static const char *const exceed[] = {"reduce", "refuse"};
    json_t *c = json_object_get(root, "caps");
    p->cap_period = RF__PERIOD_YEAR;
    p->cap_reduce = true;
    if (!c) return RF_OK;
    if (!json_is_object(c)) return rf_errf(eb, RF_ERR_BAD_INPUT, "'caps' must be an object");
    const char *s;
    rf_err_t err = check_keys(c, keys, "caps.", eb);
    if (!err) err = get_int(c, "max_count", 0, 1000000000, 0, &p->cap_count, "caps.", eb);
    if (!err) err = get_int(c, "max_value_minor", 0, RF_AMOUNT_MAX, 0, &p->cap_value, "caps.", eb);
    if (!err) err = get_str(c, "period", 8, &s, "caps.", eb);
    if (err) return err;
    if (s) {
        int x = parse_enum(s, periods, 3);
        if (x < 0) return rf_errf(eb, RF_ERR_BAD_INPUT, "'caps.period' must be month, year or all");
        p->cap_period = (uint8_t)x;
    }
    if ((err = get_str(c, "on_exceed", 8, &s, "caps.", eb))) return err;
    if (s) {
        int x = parse_enum(s, exceed, 2);
        if (x < 0)
            return rf_errf(eb, RF_ERR_BAD_INPUT, "'caps.on_exceed' must be reduce or refuse");
        p->cap_reduce = x == 0;
    }
    return RF_OK;
}

/* One fraud check: {"action": ..., params}. def_action when "action" absent. */
static rf_err_t parse_check(json_t *f, const char *name, const char *const *keys,
                            uint8_t def_action, rf__check_t *c, rf_errbuf_t *eb)
{
    static const char *const actions[] = {"off", "reject", "review"};
    json_t *o = json_object_get(f, name);
    char path[48];
    snprintf(path, sizeof path, "fraud.%s.", name);
    if (!o) return RF_OK;
    if (!json_is_object(o))
        return rf_errf(eb, RF_ERR_BAD_INPUT, "'fraud.%s' must be an object", name);
    const char *s;
    rf_err_t err = check_keys(o, keys, path, eb);
    if (!err) err = get_str(o, "action", 8, &s, path, eb);
    if (err) return err;
    c->action = def_action;
    if (s) {
        int x = parse_enum(s, actions, 3);
        if (x < 0)
            return rf_errf(eb, RF_ERR_BAD_INPUT, "'%saction' must be reject, review or off", path);
        c->action = (uint8_t)x;
    }
    return RF_OK;
}

/* A required integer parameter of a check that is on. */
static rf_err_t check_param(json_t *f, const char *name, const char *key, int64_t lo, int64_t hi,
                            int64_t *out, rf_errbuf_t *eb)
{
    char path[48];
    snprintf(path, sizeof path, "fraud.%s.", name);
    json_t *o = json_object_get(f, name);
    if (!json_object_get(o, key))
        return rf_errf(eb, RF_ERR_BAD_INPUT, "field '%s%s' is required", path, key);
    return get_int(o, key, lo, hi, 0, out, path, eb);
}

static rf_err_t parse_fraud(json_t *root, rf__prog_t *p, rf_errbuf_t *eb)
{
    static const char *const keys[] = {"self_referral", "ip_cluster",      "velocity",
                                       "fast_signup",   "duplicate_order", NULL};
    static const char *const k_action[] = {"action", NULL};
    static const char *const k_ip[] = {"max_signups", "window_hours", "action", NULL};
    static const char *const k_vel[] = {"max_referrals", "window_hours", "action", NULL};
    static const char *const k_fast[] = {"min_seconds", "action", NULL};
    json_t *f = json_object_get(root, "fraud");
    p->self_ref.action = RF__ACT_REJECT; /* on unless turned off */
    if (!f) return RF_OK;
    if (!json_is_object(f)) return rf_errf(eb, RF_ERR_BAD_INPUT, "'fraud' must be an object");
    int64_t h = 0;
    rf_err_t err = check_keys(f, keys, "fraud.", eb);
    if (!err) err = parse_check(f, "self_referral", k_action, RF__ACT_REJECT, &p->self_ref, eb);
    if (!err) err = parse_check(f, "ip_cluster", k_ip, RF__ACT_REVIEW, &p->ip_cluster, eb);
    if (!err && json_object_get(f, "ip_cluster")) {
        err = check_param(f, "ip_cluster", "max_signups", 1, RF_RULES_WINDOW_MAX,
                          &p->ip_cluster.max, eb);
        if (!err) err = check_param(f, "ip_cluster", "window_hours", 1, HOURS_MAX, &h, eb);
        p->ip_cluster.window_ms = h * HOUR_MS;
    }
    if (!err) err = parse_check(f, "velocity", k_vel, RF__ACT_REVIEW, &p->velocity, eb);
    if (!err && json_object_get(f, "velocity")) {
        err = check_param(f, "velocity", "max_referrals", 1, RF_RULES_WINDOW_MAX, &p->velocity.max,
                          eb);
        if (!err) err = check_param(f, "velocity", "window_hours", 1, HOURS_MAX, &h, eb);
        p->velocity.window_ms = h * HOUR_MS;
    }
    if (!err) err = parse_check(f, "fast_signup", k_fast, RF__ACT_REJECT, &p->fast_signup, eb);
    if (!err && json_object_get(f, "fast_signup")) {
        err = check_param(f, "fast_signup", "min_seconds", 1, 86400, &h, eb);
        p->fast_signup.window_ms = h * 1000;
    }
    if (!err) err = parse_check(f, "duplicate_order", k_action, RF__ACT_REJECT, &p->dup_order, eb);
    return err;
}

/* landing_url: where a tracking link redirects (`refold gateway` appends
 * ?ref=CODE). https only (the visitor cookie is Secure behind TLS and a
 * referral link must not downgrade), a host without userinfo (no
 * "https://shop.example.com@evil.example" look-alikes), no fragment (the
 * code is appended to the query), printable ASCII only (already encoded). */
static rf_err_t parse_landing(json_t *root, rf__prog_t *p, rf_errbuf_t *eb)
{
    static const char scheme[] = "https://";
    const char *s;
    rf_err_t err = get_str(root, "landing_url", RF_LANDING_URL_MAX, &s, "", eb);
    if (err || !s) return err;
    if (strncmp(s, scheme, sizeof scheme - 1) != 0)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "field 'landing_url' must start with https://");
    const char *host = s + sizeof scheme - 1;
    size_t hl = strcspn(host, "/?#");
    if (hl == 0) return rf_errf(eb, RF_ERR_BAD_INPUT, "field 'landing_url' has no host");
    for (size_t i = 0; i < hl; i++)
        if (!isalnum((unsigned char)host[i]) && !strchr(".-:[]", host[i]))
            return rf_errf(eb, RF_ERR_BAD_INPUT,
                           "field 'landing_url': the host may hold letters, digits, '.', '-', "
                           "':' and '[]' only");
    for (const char *c = s; *c; c++) {
        if (*c == '#')
            return rf_errf(eb, RF_ERR_BAD_INPUT, "field 'landing_url' must not have a fragment");
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
            return rf_errf(eb, RF_ERR_BAD_INPUT,
                           "field 'landing_url' must be printable ASCII (percent-encode the "
                           "rest)");
    }
    snprintf(p->landing_url, sizeof p->landing_url, "%s", s);
    return RF_OK;
}

void rf__prog_record_facts(const rf__prog_t *p, rf_record_t *rec)
{
    RF_ASSERT(p != NULL && rec != NULL);
    if (!p->landing_url[0]) return;
    rf_record_fact(rec, RF_FACT_LANDING_URL, p->landing_url);
    rf_record_factf(rec, RF_FACT_ATTR_DAYS, "%lld", (long long)(p->attr_window_ms / DAY_MS));
}

static rf_err_t parse_root(json_t *root, rf__prog_t *p, rf_errbuf_t *eb)
{
    static const char *const keys[] = {"name",
                                       "currency",
                                       "attribution",
                                       "qualification",
                                       "referrer_reward",
                                       "friend_reward",
                                       "tiers",
                                       "milestones",
                                       "caps",
                                       "budget_minor",
                                       "hold_days",
                                       "fraud",
                                       "landing_url",
                                       NULL};
    const char *s;
    int64_t hold_days = 0;
    rf_err_t err = check_keys(root, keys, "", eb);
    if (!err) err = get_str(root, "name", RF_TEXT_MAX, &s, "", eb);
    if (err) return err;
    if (s) snprintf(p->name, sizeof p->name, "%s", s);
    if ((err = get_str(root, "currency", RF_ASSET_MAX, &s, "", eb))) return err;
    if (!s) return rf_errf(eb, RF_ERR_BAD_INPUT, "field 'currency' is required");
    snprintf(p->currency, sizeof p->currency, "%s", s);
    if ((err = check_asset(p->currency, "currency", eb))) return err;
    if ((err = parse_attr_qual(root, p, eb))) return err;
    p->referrer.type = p->friend_.type = RF__RW_NONE;
    json_t *r = json_object_get(root, "referrer_reward");
    if (r && (err = parse_reward(r, p->currency, "referrer_reward.", &p->referrer, eb))) return err;
    r = json_object_get(root, "friend_reward");
    if (r && (err = parse_reward(r, p->currency, "friend_reward.", &p->friend_, eb))) return err;
    if ((err = parse_tiers(root, p, eb)) || (err = parse_milestones(root, p, eb))) return err;
    if ((err = parse_caps(root, p, eb))) return err;
    err = get_int(root, "budget_minor", 0, RF_AMOUNT_MAX, 0, &p->budget_minor, "", eb);
    if (!err) err = get_int(root, "hold_days", 0, DAYS_MAX, 0, &hold_days, "", eb);
    p->hold_ms = hold_days * DAY_MS;
    if (!err) err = parse_fraud(root, p, eb);
    if (!err) err = parse_landing(root, p, eb);
    return err;
}

rf_err_t rf__prog_parse(const char *json, rf__prog_t *p, rf_errbuf_t *eb)
{
    RF_ASSERT(json != NULL && p != NULL);
    char id[RF_ID_BUF];
    int32_t version = p->version;
    memcpy(id, p->id, sizeof id);
    memset(p, 0, sizeof *p);
    memcpy(p->id, id, sizeof id);
    p->version = version;
    json_error_t jerr;
    json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "rules_json is not valid JSON: %s (line %d)",
                       jerr.text, jerr.line);
    rf_err_t err = json_is_object(root)
                       ? parse_root(root, p, eb)
                       : rf_errf(eb, RF_ERR_BAD_INPUT, "rules_json must be a JSON object");
    json_decref(root);
    RF_ASSERT(err != RF_OK || p->currency[0]);
    return err;
}

rf_err_t rf_rules_validate_json(const char *json, rf_errbuf_t *eb)
{
    if (!json) return rf_errf(eb, RF_ERR_BAD_INPUT, "rules_json is missing");
    rf__prog_t *p = calloc(1, sizeof *p);
    if (!p) return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    rf_err_t err = rf__prog_parse(json, p, eb);
    free(p);
    return err;
}
