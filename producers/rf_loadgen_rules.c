/* rf_loadgen_rules.c: the programs loadgen configures: four rule shapes
 * (double-sided fixed; percent with max, tiers and coupons; points with
 * milestones and a count cap; store credit with a budget and every fraud
 * check), amounts varied by the seed. The rules format is in
 * docs/programs.md. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "rf_loadgen_int.h"

static const char *const currencies[] = {"USD", "EUR", "GBP", "CAD"};

void rf__loadgen_program(const rf_loadgen_conf_t *conf, int i, int version, rf__lg_program_t *out)
{
    RF_ASSERT(conf && out && i >= 0);
    RF_ASSERT(version == 1 || version == 2);
    uint64_t x = conf->seed ^ (0x70726f67ull << 32) ^ (uint64_t)i;
    rf__rng_t r;
    rf__rng_seed(&r, rf__splitmix64(&x));
    memset(out, 0, sizeof *out);
    out->variant = i % RF__LG_VARIANTS;
    snprintf(out->currency, sizeof out->currency, "%s", currencies[(i / RF__LG_VARIANTS + i) % 4]);
    snprintf(out->ref_asset, sizeof out->ref_asset, "%s", out->currency);
    out->min_order_minor = 100 * rf__rng_range(&r, 0, 40);
    out->hold_days = (int)rf__rng_range(&r, 0, 3) * 7;
    switch (out->variant) {
    case 0:
        out->ref_fixed_minor = 100 * rf__rng_range(&r, 5, 20);
        break;
    case 1:
        out->ref_percent_bp = (uint32_t)(100 * rf__rng_range(&r, 5, 15));
        out->ref_max_minor = 100 * rf__rng_range(&r, 20, 80);
        break;
    case 2:
        out->ref_fixed_minor = 50 * rf__rng_range(&r, 5, 20);
        snprintf(out->ref_asset, sizeof out->ref_asset, "POINTS");
        break;
    default:
        out->ref_fixed_minor = 100 * rf__rng_range(&r, 10, 25);
        snprintf(out->ref_asset, sizeof out->ref_asset, "CREDIT_%s", out->currency);
        break;
    }
    if (version == 2) { /* the mid-run change: a 50% richer referrer reward */
        out->ref_fixed_minor += out->ref_fixed_minor / 2;
        out->ref_percent_bp += out->ref_percent_bp / 2;
    }
}

static json_t *reward(const rf__lg_program_t *p)
{
    if (p->ref_percent_bp)
        return json_pack("{s:s, s:i, s:I}", "type", "percent", "percent_bp", (int)p->ref_percent_bp,
                         "max_minor", (json_int_t)p->ref_max_minor);
    return json_pack("{s:s, s:I, s:s}", "type", "fixed", "amount_minor",
                     (json_int_t)p->ref_fixed_minor, "asset", p->ref_asset);
}

static json_t *check(const char *action)
{
    return json_pack("{s:s}", "action", action);
}

/* The shape of each variant beyond the common fields. */
static void add_variant(json_t *o, const rf__lg_program_t *p)
{
    switch (p->variant) {
    case 0:
        json_object_set_new(
            o, "friend_reward",
            json_pack("{s:s, s:I}", "type", "fixed", "amount_minor", (json_int_t)500));
        json_object_set_new(o, "caps",
                            json_pack("{s:s, s:I, s:s}", "period", "year", "max_value_minor",
                                      (json_int_t)30000, "on_exceed", "reduce"));
        json_object_set_new(o, "fraud",
                            json_pack("{s:o, s:o, s:{s:i, s:s}}", "self_referral", check("reject"),
                                      "duplicate_order", check("reject"), "fast_signup",
                                      "min_seconds", 5, "action", "reject"));
        break;
    case 1:
        json_object_set_new(
            o, "friend_reward",
            json_pack("{s:s, s:I}", "type", "coupon", "amount_minor", (json_int_t)1000));
        json_object_set_new(o, "tiers",
                            json_pack("[{s:i, s:{s:s, s:i, s:I}}, {s:i, s:{s:s, s:I}}]",
                                      "min_referrals", 5, "referrer_reward", "type", "percent",
                                      "percent_bp", (int)(p->ref_percent_bp + 500), "max_minor",
                                      (json_int_t)(p->ref_max_minor * 3 / 2), "min_referrals", 10,
                                      "referrer_reward", "type", "fixed", "amount_minor",
                                      (json_int_t)10000));
        json_object_set_new(o, "fraud",
                            json_pack("{s:o, s:{s:i, s:i, s:s}, s:{s:i, s:i, s:s}}",
                                      "self_referral", check("review"), "ip_cluster", "max_signups",
                                      3, "window_hours", 24, "action", "review", "velocity",
                                      "max_referrals", 10, "window_hours", 24, "action", "review"));
        break;
    case 2:
        json_object_set_new(o, "friend_reward",
                            json_pack("{s:s, s:s}", "type", "product", "sku", "FREE-TOTE"));
        json_object_set_new(o, "milestones",
                            json_pack("[{s:i, s:{s:s, s:I, s:s}}, {s:i, s:{s:s, s:I, s:s}}]",
                                      "referrals", 5, "bonus", "type", "fixed", "amount_minor",
                                      (json_int_t)2500, "asset", "POINTS", "referrals", 10, "bonus",
                                      "type", "fixed", "amount_minor", (json_int_t)10000, "asset",
                                      "POINTS"));
        json_object_set_new(o, "caps",
                            json_pack("{s:s, s:i, s:s}", "period", "month", "max_count", 20,
                                      "on_exceed", "refuse"));
        json_object_set_new(o, "fraud",
                            json_pack("{s:o, s:{s:i, s:s}, s:o}", "self_referral", check("reject"),
                                      "fast_signup", "min_seconds", 10, "action", "reject",
                                      "duplicate_order", check("reject")));
        break;
    default:
        json_object_set_new(o, "friend_reward",
                            json_pack("{s:s, s:i, s:I, s:s}", "type", "percent", "percent_bp", 1000,
                                      "max_minor", (json_int_t)2000, "asset", p->ref_asset));
        json_object_set_new(o, "caps",
                            json_pack("{s:s, s:I, s:s}", "period", "all", "max_value_minor",
                                      (json_int_t)50000, "on_exceed", "reduce"));
        json_object_set_new(o, "budget_minor", json_integer(5000000));
        json_object_set_new(
            o, "fraud",
            json_pack("{s:o, s:{s:i, s:i, s:s}, s:{s:i, s:i, s:s}, s:{s:i, s:s}, s:o}",
                      "self_referral", check("reject"), "ip_cluster", "max_signups", 3,
                      "window_hours", 24, "action", "review", "velocity", "max_referrals", 10,
                      "window_hours", 24, "action", "review", "fast_signup", "min_seconds", 5,
                      "action", "reject", "duplicate_order", check("reject")));
        break;
    }
}

static const char *const variant_names[RF__LG_VARIANTS] = {
    "double-sided fixed", "percent with tiers", "points with milestones", "store credit"};

rf_err_t rf_loadgen_rules(const rf_loadgen_conf_t *conf, int i, int version, char *out, size_t cap,
                          rf_errbuf_t *eb)
{
    rf__lg_program_t p;
    rf__loadgen_program(conf, i, version, &p);
    char name[96];
    snprintf(name, sizeof name, "%s p%d: %s%s", conf->prefix, i + 1, variant_names[p.variant],
             version > 1 ? " (boost)" : "");
    json_t *o = json_pack(
        "{s:s, s:s, s:{s:s, s:i}, s:{s:b, s:I, s:i}, s:o}", "name", name, "currency", p.currency,
        "attribution", "model", p.variant == 1 ? "first_touch" : "last_touch", "window_days",
        p.variant == 1 ? 14 : 30, "qualification", "first_purchase_only", 1, "min_order_minor",
        (json_int_t)p.min_order_minor, "window_days", 60, "referrer_reward", reward(&p));
    RF_ASSERT(o);
    add_variant(o, &p);
    json_object_set_new(o, "hold_days", json_integer(p.hold_days));
    size_t n = json_dumpb(o, out, cap, JSON_COMPACT);
    json_decref(o);
    if (n == 0 || n >= cap)
        return rf_errf(eb, RF_ERR_OVERSIZE, "rules of program %d do not fit %zu bytes", i + 1, cap);
    out[n] = '\0';
    return RF_OK;
}
