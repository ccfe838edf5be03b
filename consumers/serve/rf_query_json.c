/* rf_query_json.c: the JSON reports over the projection queries (one shape
 * for `refold ... --json` and the HTTP API; docs/http-api.md shows them). */
#include <stdlib.h>
#include <string.h>

#include "rf_project_int.h"
#include "rf_query.h"

#define BALANCE_ROWS_MAX 256 /* a user's (program, asset) accounts in one answer */

static const char *const user_buckets[] = {"pending", "available", "redeemed", "receivable"};

static json_t *fail(rf_err_t *err, rf_err_t e)
{
    if (err) *err = e;
    return NULL;
}

static json_t *buckets_json(const rf_query_balance_t *b, bool with_program)
{
    json_t *o = json_object();
    if (with_program) json_object_set_new(o, "program", json_string(b->program));
    json_object_set_new(o, "asset", json_string(b->asset));
    for (int i = 0; i < 4; i++)
        json_object_set_new(o, user_buckets[i], json_integer(b->buckets[i]));
    return o;
}

json_t *rf_query_balance_json(rf_query_t *q, const char *user, const char *program, rf_err_t *err,
                              rf_errbuf_t *eb)
{
    rf_query_balance_t *rows = calloc(2 * BALANCE_ROWS_MAX, sizeof *rows);
    if (!rows) return fail(err, rf_errf(eb, RF_ERR_NOMEM, "out of memory"));
    rf_query_balance_t *tot = rows + BALANCE_ROWS_MAX;
    int n = rf_query_balances(q, user, program, rows, BALANCE_ROWS_MAX, eb);
    int nt = n >= 0 ? rf_query_balance_totals(rows, n, tot, BALANCE_ROWS_MAX) : n;
    if (n < 0 || nt < 0) {
        free(rows);
        return fail(err, (rf_err_t)(n < 0 ? n : nt));
    }
    json_t *o = json_object(), *a = json_array(), *t = json_array();
    json_object_set_new(o, "user", json_string(user));
    json_object_set_new(o, "program", program ? json_string(program) : json_null());
    for (int i = 0; i < n; i++)
        json_array_append_new(a, buckets_json(&rows[i], true));
    for (int i = 0; i < nt; i++)
        json_array_append_new(t, buckets_json(&tot[i], false));
    json_object_set_new(o, "balances", a);
    json_object_set_new(o, "totals", t);
    free(rows);
    if (err) *err = RF_OK;
    return o;
}

static json_t *board_head(const rf_board_sel_t *sel, const rf_board_info_t *info)
{
    json_t *o = json_object();
    json_object_set_new(o, "program", json_string(sel->program));
    json_object_set_new(o, "period", json_string(info->period));
    json_object_set_new(o, "by", json_string(sel->by == RF_BOARD_VALUE ? "value" : "referrals"));
    if (sel->by == RF_BOARD_VALUE) json_object_set_new(o, "asset", json_string(info->asset));
    json_object_set_new(o, "users", json_integer((json_int_t)info->users));
    return o;
}

static json_t *entry_json(const rf_board_entry_t *e)
{
    json_t *o = json_object();
    json_object_set_new(o, "rank", json_integer((json_int_t)e->rank));
    json_object_set_new(o, "user", json_string(e->user));
    json_object_set_new(o, "score", json_integer(e->score));
    json_object_set_new(o, "reached_seq", json_integer((json_int_t)e->reached_seq));
    return o;
}

json_t *rf_query_top_json(rf_query_t *q, const rf_board_sel_t *sel, int k, rf_err_t *err,
                          rf_errbuf_t *eb)
{
    if (k < 1 || k > RF_LEADERBOARD_TOP_MAX)
        return fail(err,
                    rf_errf(eb, RF_ERR_BAD_INPUT, "top must be 1..%d", RF_LEADERBOARD_TOP_MAX));
    rf_board_entry_t *es = calloc((size_t)k, sizeof *es);
    rf_board_info_t info;
    if (!es) return fail(err, rf_errf(eb, RF_ERR_NOMEM, "out of memory"));
    int n = rf_query_top(q, sel, k, es, &info, eb);
    if (n < 0) {
        free(es);
        return fail(err, (rf_err_t)n);
    }
    json_t *o = board_head(sel, &info), *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, entry_json(&es[i]));
    json_object_set_new(o, "entries", a);
    free(es);
    if (err) *err = RF_OK;
    return o;
}

json_t *rf_query_rank_json(rf_query_t *q, const rf_board_sel_t *sel, const char *user,
                           rf_err_t *err, rf_errbuf_t *eb)
{
    rf_board_entry_t e;
    rf_board_info_t info;
    rf_err_t r = rf_query_rank(q, sel, user, &e, &info, eb);
    if (r != RF_OK) return fail(err, r);
    json_t *o = board_head(sel, &info), *ej = entry_json(&e);
    json_object_update(o, ej);
    json_decref(ej);
    if (err) *err = RF_OK;
    return o;
}

json_t *rf_query_code_json(rf_query_t *q, const char *program, const char *user, rf_err_t *err,
                           rf_errbuf_t *eb)
{
    char code[RF_FACT_VAL_MAX + 1];
    rf_err_t r = rf_query_code(q, program, user, code, eb);
    if (r != RF_OK) return fail(err, r);
    if (err) *err = RF_OK;
    return json_pack("{s:s, s:s, s:s}", "program", program, "user", user, "code", code);
}

json_t *rf_query_health_json(rf_query_t *q)
{
    rf_projection_meta_t *m = calloc(RF_PARTITIONS_MAX, sizeof *m);
    if (!m) return NULL;
    int n = rf_query_progress(q, m, RF_PARTITIONS_MAX);
    json_t *o = json_object(), *a = json_array();
    int64_t total = 0;
    bool known = true;
    for (int i = 0; i < n; i++) {
        /* nothing applied yet (next_offset -1): every record below the high
         * watermark is still to apply, none for an empty partition */
        int64_t lag = -1, next = m[i].next_offset >= 0 ? m[i].next_offset : 0;
        if (m[i].high_watermark >= 0)
            lag = m[i].high_watermark > next ? m[i].high_watermark - next : 0;
        if (lag < 0)
            known = false;
        else
            total += lag;
        json_array_append_new(
            a, json_pack("{s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "partition",
                         (int)m[i].partition, "applied_seq", (json_int_t)m[i].applied_seq,
                         "next_offset", (json_int_t)m[i].next_offset, "high_watermark",
                         (json_int_t)m[i].high_watermark, "lag", (json_int_t)lag, "records",
                         (json_int_t)m[i].records, "event_time_ms", (json_int_t)m[i].event_time_ms,
                         "committed_at_ms", (json_int_t)m[i].committed_wall_ms));
    }
    json_object_set_new(o, "status", json_string("ok"));
    json_object_set_new(o, "lag", known ? json_integer(total) : json_null());
    json_object_set_new(o, "partitions", a);
    free(m);
    return o;
}

/* ---- stats ---------------------------------------------------------------- */

static int64_t iget(json_t *obj, const char *key)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static void set_ratio(json_t *o, const char *key, int64_t num, int64_t den, int decimals)
{
    char buf[48];
    rf_query_ratio(num, den, decimals, buf);
    json_object_set_new(o, key, buf[0] ? json_string(buf) : json_null());
}

/* obj[metric] = value, or obj[metric][tail] = value for per-asset metrics. */
static void put_metric(json_t *obj, const rf_stat_row_t *r)
{
    if (!r->tail[0]) {
        json_object_set_new(obj, r->metric, json_integer(r->value));
        return;
    }
    json_t *m = json_object_get(obj, r->metric);
    if (!m) {
        m = json_object();
        json_object_set_new(obj, r->metric, m);
    }
    json_object_set_new(m, r->tail, json_integer(r->value));
}

/* Ratios per currency (union of the revenue and cost assets). */
static json_t *per_currency(json_t *f)
{
    json_t *out = json_object(), *rev = json_object_get(f, "revenue");
    json_t *rrev = json_object_get(f, "referred_revenue"),
           *cost = json_object_get(f, "reward_cost");
    json_t *srcs[3] = {rev, rrev, cost};
    int64_t purchases = iget(f, "purchases"), rp = iget(f, "referred_purchases");
    int64_t customers = iget(f, "customers"), rc = iget(f, "referred_customers");
    for (int s = 0; s < 3; s++) {
        const char *cur;
        json_t *v;
        json_object_foreach(srcs[s], cur, v)
        {
            (void)v;
            if (json_object_get(out, cur)) continue;
            json_t *o = json_object();
            int64_t r = iget(rev, cur), rr = iget(rrev, cur), c = iget(cost, cur);
            set_ratio(o, "average_order_value", r, purchases, 2);
            set_ratio(o, "referred_average_order_value", rr, rp, 2);
            set_ratio(o, "not_referred_average_order_value", r - rr, purchases - rp, 2);
            set_ratio(o, "revenue_per_customer", r, customers, 2);
            set_ratio(o, "cac", c, rc, 2);
            set_ratio(o, "roi", rr, c, 4);
            json_object_set_new(out, cur, o);
        }
    }
    return out;
}

static json_t *referred_vs_not(json_t *f)
{
    json_t *ref = json_object(), *not = json_object(), *rv = json_object(), *nv = json_object();
    json_t *rev = json_object_get(f, "revenue"), *rrev = json_object_get(f, "referred_revenue");
    json_object_set_new(ref, "purchases", json_integer(iget(f, "referred_purchases")));
    json_object_set_new(ref, "customers", json_integer(iget(f, "referred_customers")));
    json_object_set_new(not, "purchases",
                        json_integer(iget(f, "purchases") - iget(f, "referred_purchases")));
    json_object_set_new(not, "customers",
                        json_integer(iget(f, "customers") - iget(f, "referred_customers")));
    const char *cur;
    json_t *v;
    json_object_foreach(rev, cur, v)
    {
        json_object_set_new(rv, cur, json_integer(iget(rrev, cur)));
        json_object_set_new(nv, cur,
                            json_integer((int64_t)json_integer_value(v) - iget(rrev, cur)));
    }
    json_object_set_new(ref, "revenue", rv);
    json_object_set_new(not, "revenue", nv);
    return json_pack("{s:o, s:o}", "referred", ref, "not_referred", not );
}

/* Every counter the report shows, so a zero prints as 0, not as absent. */
static const int shown_counters[] = {
    RF__M_SHARES,         RF__M_CLICKS,           RF__M_SIGNUPS,        RF__M_ATTRIBUTED,
    RF__M_PURCHASES,      RF__M_REF_PURCHASES,    RF__M_CUSTOMERS,      RF__M_REF_CUSTOMERS,
    RF__M_CUST_WITH_CODE, RF__M_CUST_REFERRING,   RF__M_REFERRERS,      RF__M_REPEAT_REFERRERS,
    RF__M_REWARDS,        RF__M_REFERRER_REWARDS, RF__M_FRIEND_REWARDS, RF__M_BONUS_REWARDS,
    RF__M_VOIDS,          RF__M_CLAWBACKS,        RF__M_REJECTED,       RF__M_CODES,
    RF__M_REFUNDS,        RF__M_REDEMPTIONS};
static const int shown_maps[] = {RF__M_REVENUE, RF__M_REF_REVENUE, RF__M_REWARD_COST};

static json_t *funnel_skeleton(void)
{
    json_t *f = json_object();
    for (size_t i = 0; i < sizeof shown_counters / sizeof shown_counters[0]; i++)
        json_object_set_new(f, rf__pj_metric_name(shown_counters[i]), json_integer(0));
    for (size_t i = 0; i < sizeof shown_maps / sizeof shown_maps[0]; i++)
        json_object_set_new(f, rf__pj_metric_name(shown_maps[i]), json_object());
    return f;
}

static void add_rates(json_t *o, json_t *f)
{
    json_t *r = json_object();
    set_ratio(r, "conversion_rate", iget(f, "referred_customers"), iget(f, "attributed_signups"),
              4);
    set_ratio(r, "referral_rate", iget(f, "customers_referring"), iget(f, "customers"), 4);
    set_ratio(r, "participation_rate", iget(f, "customers_with_code"), iget(f, "customers"), 4);
    set_ratio(r, "repeat_referrer_rate", iget(f, "repeat_referrers"), iget(f, "referrers"), 4);
    json_object_set_new(o, "rates", r);
}

static json_t *stats_build(const rf_stat_row_t *rows, int n)
{
    json_t *f = funnel_skeleton(), *ch = json_object();
    json_t *fraud = json_pack("{s:o, s:o}", "rejections", json_object(), "reviews", json_object());
    for (int i = 0; i < n; i++) {
        const rf_stat_row_t *r = &rows[i];
        if (!strcmp(r->metric, "fraud_rejections") || !strcmp(r->metric, "fraud_reviews")) {
            if (r->channel[0]) continue;
            json_t *m = json_object_get(fraud, !strcmp(r->metric, "fraud_rejections") ? "rejections"
                                                                                      : "reviews");
            json_object_set_new(m, r->tail, json_integer(r->value));
            continue;
        }
        if (!r->channel[0]) {
            put_metric(f, r);
            continue;
        }
        json_t *c = json_object_get(ch, r->channel);
        if (!c) {
            c = json_object();
            json_object_set_new(ch, r->channel, c);
        }
        put_metric(c, r);
    }
    const char *name;
    json_t *c;
    json_object_foreach(ch, name, c) set_ratio(c, "conversion_rate", iget(c, "referred_purchases"),
                                               iget(c, "attributed_signups"), 4);
    json_t *o = json_object();
    json_object_set_new(o, "funnel", f);
    add_rates(o, f);
    json_object_set_new(o, "per_currency", per_currency(f));
    json_object_set_new(o, "referred_vs_not", referred_vs_not(f));
    json_object_set_new(o, "fraud", fraud);
    json_object_set_new(o, "channels", ch);
    return o;
}

json_t *rf_query_stats_json(rf_query_t *q, const char *program, const char *period, rf_err_t *err,
                            rf_errbuf_t *eb)
{
    rf_stat_row_t *rows = calloc(RF_STATS_ROWS_MAX, sizeof *rows);
    if (!rows) return fail(err, rf_errf(eb, RF_ERR_NOMEM, "out of memory"));
    int n = rf_query_stat_rows(q, program, period, rows, RF_STATS_ROWS_MAX, eb);
    if (n < 0) {
        free(rows);
        return fail(err, (rf_err_t)n);
    }
    char ptext[32] = "";
    rf_err_t r = rf_query_period(q, program, period, ptext, eb);
    if (r != RF_OK) {
        free(rows);
        return fail(err, r);
    }
    json_t *o = stats_build(rows, n), *head = json_object();
    free(rows);
    json_object_set_new(head, "program", json_string(program));
    json_object_set_new(head, "period", json_string(ptext));
    json_object_update(head, o);
    json_decref(o);
    if (err) *err = RF_OK;
    return head;
}
