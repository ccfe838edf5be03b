/* rf_query_pages.c: the JSON answers behind the dashboard and the referral
 * page that rf_query_json.c does not give: programs, rewards over time,
 * operations, one referrer's page. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rf_explain.h"
#include "rf_ledger.h"
#include "rf_query_pages.h"
#include "rf_time.h"

static json_t *fail(rf_err_t *err, rf_err_t e)
{
    if (err) *err = e;
    return NULL;
}

static json_t *ok(rf_err_t *err, json_t *j)
{
    if (err) *err = RF_OK;
    return j;
}

json_t *rf_query_programs_json(rf_query_t *q, rf_err_t *err, rf_errbuf_t *eb)
{
    char(*ps)[RF_ID_BUF] = calloc(RF_PROGRAMS_LIST_MAX, sizeof *ps);
    if (!ps) return fail(err, rf_errf(eb, RF_ERR_NOMEM, "out of memory"));
    int n = rf_query_programs(q, ps, RF_PROGRAMS_LIST_MAX, eb);
    if (n < 0) {
        free(ps);
        return fail(err, (rf_err_t)n);
    }
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_string(ps[i]));
    free(ps);
    return ok(err, json_pack("{s:o}", "programs", a));
}

/* ---- series ---------------------------------------------------------------- */

/* The i-th period of unit before the one holding day (i = 0: that one). */
static void period_back(const char *unit, int64_t day, int i, char out[32])
{
    int64_t y;
    int m, d;
    if (unit[0] == 'd') {
        rf_civil_from_days(day - i, &y, &m, &d);
        snprintf(out, 32, "day:%04lld-%02d-%02d", (long long)y, m, d);
    } else if (unit[0] == 'w') {
        int w;
        rf_time_iso_week(day - 7LL * i, &y, &w);
        snprintf(out, 32, "week:%04lld-W%02d", (long long)y, w);
    } else {
        rf_civil_from_days(day, &y, &m, &d);
        int64_t months = y * 12 + (m - 1) - i;
        snprintf(out, 32, "month:%04lld-%02d", (long long)(months / 12), (int)(months % 12) + 1);
    }
}

static json_t *series_point(const char *period, const rf_stat_row_t *rows, int n)
{
    json_t *o = json_pack("{s:s, s:i, s:i, s:i, s:{}}", "period", period, "rewards", 0, "voids", 0,
                          "clawbacks", 0, "reward_cost");
    for (int i = 0; i < n; i++) {
        const rf_stat_row_t *r = &rows[i];
        if (r->channel[0]) continue;
        if (!strcmp(r->metric, "reward_cost") && r->tail[0])
            json_object_set_new(json_object_get(o, "reward_cost"), r->tail, json_integer(r->value));
        else if (!r->tail[0] && (!strcmp(r->metric, "rewards") || !strcmp(r->metric, "voids") ||
                                 !strcmp(r->metric, "clawbacks")))
            json_object_set_new(o, r->metric, json_integer(r->value));
    }
    return o;
}

json_t *rf_query_series_json(rf_query_t *q, const char *program, const char *unit, int n,
                             rf_err_t *err, rf_errbuf_t *eb)
{
    if (!unit || (strcmp(unit, "day") && strcmp(unit, "week") && strcmp(unit, "month")))
        return fail(err, rf_errf(eb, RF_ERR_BAD_INPUT, "unit must be day, week or month"));
    if (n < 1 || n > RF_SERIES_MAX)
        return fail(err, rf_errf(eb, RF_ERR_BAD_INPUT, "n must be 1..%d", RF_SERIES_MAX));
    char latest[32], period[32];
    rf_err_t r = rf_query_period(q, program, "day", latest, eb);
    if (r != RF_OK) return fail(err, r);
    int64_t y = 0;
    int m = 0, d = 0;
    if (sscanf(latest, "day:%lld-%d-%d", (long long *)&y, &m, &d) != 3)
        return fail(err, rf_errf(eb, RF_ERR_INTERNAL, "unexpected period '%s'", latest));
    int64_t day = rf_days_from_civil(y, m, d);
    rf_stat_row_t *rows = calloc(RF_STATS_ROWS_MAX, sizeof *rows);
    if (!rows) return fail(err, rf_errf(eb, RF_ERR_NOMEM, "out of memory"));
    json_t *a = json_array();
    for (int i = n - 1; i >= 0; i--) {
        period_back(unit, day, i, period);
        int k = rf_query_stat_rows(q, program, period, rows, RF_STATS_ROWS_MAX, eb);
        if (k < 0) {
            free(rows);
            json_decref(a);
            return fail(err, (rf_err_t)k);
        }
        json_array_append_new(a, series_point(period, rows, k));
    }
    free(rows);
    return ok(err, json_pack("{s:s, s:s, s:o}", "program", program, "unit", unit, "periods", a));
}

/* ---- review queue ---------------------------------------------------------- */

json_t *rf_query_reviews_json(rf_query_t *q, const char *program, int limit, rf_err_t *err,
                              rf_errbuf_t *eb)
{
    if (limit < 1 || limit > RF_REVIEWS_MAX)
        return fail(err, rf_errf(eb, RF_ERR_BAD_INPUT, "limit must be 1..%d", RF_REVIEWS_MAX));
    rf_review_row_t *rows = calloc((size_t)limit, sizeof *rows);
    if (!rows) return fail(err, rf_errf(eb, RF_ERR_NOMEM, "out of memory"));
    bool more = false;
    int n = rf_query_reviews(q, program, rows, limit, &more, eb);
    if (n < 0) {
        free(rows);
        return fail(err, (rf_err_t)n);
    }
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        const rf_review_row_t *r = &rows[i];
        json_t *held = json_array();
        for (int h = 0; h < r->nheld; h++)
            json_array_append_new(held, json_pack("{s:s, s:I}", "asset", r->held[h].asset, "amount",
                                                  (json_int_t)r->held[h].amount));
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:I, s:o, s:I, s:I}", "friend",
                                           r->friend_, "referrer", r->referrer, "reason", r->reason,
                                           "checks", r->checks, "rewards", (json_int_t)r->rewards,
                                           "held", held, "held_at_ms", (json_int_t)r->held_at_ms,
                                           "seq", (json_int_t)r->seq));
    }
    free(rows);
    return ok(err, json_pack("{s:s, s:i, s:b, s:o}", "program", program, "limit", limit, "more",
                             more, "reviews", a));
}

/* ---- operations ------------------------------------------------------------ */

static json_t *fold_partition(const char *data_dir, int32_t p)
{
    rf_errbuf_t eb = {{0}};
    rf_ledger_head_t h;
    json_t *o = json_pack("{s:i}", "partition", (int)p);
    rf_ledger_t *l = rf_ledger_open(data_dir, p, RF_LEDGER_READONLY, &eb);
    if (!l || rf_ledger_head(l, &h, &eb) != RF_OK) {
        rf_ledger_close(l);
        json_object_set_new(o, "error", json_string(eb.msg));
        return o;
    }
    rf_ledger_close(l);
    json_object_set_new(o, "fold_head_seq", json_integer((json_int_t)h.seq));
    json_object_set_new(o, "fold_next_offset", json_integer(h.next_offset));
    json_object_set_new(o, "dead_letters",
                        json_integer((json_int_t)h.counts[RF_OUTCOME_DEAD_LETTER]));
    return o;
}

/* data_dir/verify.json (written by `refold verify --data`): null when there
 * is none, {"error": ...} when it cannot be read as the object verify writes. */
static json_t *last_verify(const char *data_dir)
{
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/" RF_VERIFY_RESULT_FILE, data_dir);
    if (stat(path, &st) != 0) return json_null();
    json_t *j = NULL;
    if (S_ISREG(st.st_mode) && st.st_size <= RF_VERIFY_RESULT_MAX)
        j = json_load_file(path, JSON_REJECT_DUPLICATES, NULL);
    if (j && json_is_object(j) && json_is_boolean(json_object_get(j, "ok")) &&
        json_is_string(json_object_get(j, "at")))
        return j;
    json_decref(j);
    return json_pack("{s:s}", "error",
                     "cannot read " RF_VERIFY_RESULT_FILE " in the data directory");
}

json_t *rf_ops_fold_snapshot(const char *data_dir, rf_errbuf_t *eb)
{
    int32_t parts[RF_PARTITIONS_MAX];
    char fold[4200];
    struct stat st;
    snprintf(fold, sizeof fold, "%s/fold", data_dir);
    bool here = stat(fold, &st) == 0; /* serve may run on a host without the fold */
    int n = here ? rf_ledger_list_partitions(data_dir, parts, RF_PARTITIONS_MAX) : 0;
    if (n < 0) {
        rf_errf(eb, RF_ERR_IO, "cannot list the fold ledgers in '%s'", fold);
        return NULL;
    }
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, fold_partition(data_dir, parts[i]));
    return json_pack("{s:b, s:I, s:o, s:o}", "here", here, "at_ms", (json_int_t)rf_wall_ms(),
                     "partitions", a, "last_verify", last_verify(data_dir));
}

json_t *rf_query_ops_json(rf_query_t *q, const json_t *snap, rf_err_t *err, rf_errbuf_t *eb)
{
    uint64_t applied[RF_PARTITIONS_MAX];
    char when[RF_TIME_BUF];
    (void)eb;
    rf_query_applied_seqs(q, applied);
    json_t *a = json_array(), *fp = json_object_get(snap, "partitions"), *f;
    int64_t dead = 0, lag = 0, head = 0;
    bool known = json_is_true(json_object_get(snap, "here"));
    size_t i;
    json_array_foreach(fp, i, f)
    {
        json_t *o = json_deep_copy(f);
        int p = (int)json_integer_value(json_object_get(f, "partition"));
        json_t *hs = json_object_get(f, "fold_head_seq");
        if (!hs || p < 0 || p >= RF_PARTITIONS_MAX) {
            known = false;
            json_array_append_new(a, o);
            continue;
        }
        uint64_t h = (uint64_t)json_integer_value(hs), ap = applied[p];
        json_object_set_new(o, "projection_applied_seq", json_integer((json_int_t)ap));
        json_object_set_new(o, "lag", json_integer(h > ap ? (json_int_t)(h - ap) : 0));
        head += (int64_t)h;
        lag += h > ap ? (int64_t)(h - ap) : 0;
        dead += json_integer_value(json_object_get(f, "dead_letters"));
        json_array_append_new(a, o);
    }
    json_t *o = json_object();
    rf_time_format(json_integer_value(json_object_get(snap, "at_ms")), when);
    json_object_set_new(o, "fold_partitions", json_integer((json_int_t)json_array_size(fp)));
    json_object_set_new(o, "fold_read_at", json_string(when));
    json_object_set_new(o, "fold_records", known ? json_integer(head) : json_null());
    json_object_set_new(o, "lag", known ? json_integer(lag) : json_null());
    json_object_set_new(o, "dead_letters", known ? json_integer(dead) : json_null());
    json_t *lv = json_object_get(snap, "last_verify");
    json_object_set_new(o, "last_verify", lv ? json_deep_copy(lv) : json_null());
    json_object_set_new(o, "partitions", a);
    return ok(err, o);
}

/* ---- referral page --------------------------------------------------------- */

/* A path segment: unreserved bytes as they are, the rest %XX (RFC 3986). */
static size_t pct_seg(const char *in, char *out)
{
    static const char hx[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p)) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hx[*p >> 4];
            out[o++] = hx[*p & 15];
        }
    }
    return o;
}

/* {"friends_total", "friends": [...]}: the referrer's most recent friends. */
static json_t *friends_json(rf_query_t *q, const char *program, const char *user, rf_err_t *err,
                            rf_errbuf_t *eb)
{
    static _Thread_local rf_friend_row_t rows[RF_REFERRAL_FRIENDS_MAX];
    int64_t total = 0;
    int n = rf_query_friends(q, program, user, rows, &total, eb);
    if (n < 0) return fail(err, (rf_err_t)n);
    json_t *a = json_array();
    char when[RF_TIME_BUF];
    for (int i = 0; i < n; i++) {
        const rf_friend_row_t *r = &rows[i];
        rf_time_format(r->signed_up_ms, when);
        json_t *f = json_pack("{s:s, s:s, s:b, s:s}", "friend", r->friend_, "status", r->status,
                              "in_review", r->in_review, "since", when);
        bool reward = strcmp(r->status, "signed_up") != 0 && strcmp(r->status, "purchased") != 0;
        if (!strcmp(r->status, "pending") && r->hold_until_ms > 0) {
            rf_time_format(r->hold_until_ms, when);
            json_object_set_new(f, "pending_until", json_string(when));
        } else {
            json_object_set_new(f, "pending_until", json_null());
        }
        json_object_set_new(f, "reward",
                            reward && r->asset[0] ? json_pack("{s:s, s:I}", "asset", r->asset,
                                                              "amount", (json_int_t)r->amount)
                                                  : json_null());
        json_array_append_new(a, f);
    }
    return ok(err, json_pack("{s:I, s:i, s:o}", "friends_total", (json_int_t)total, "friends_max",
                             RF_REFERRAL_FRIENDS_MAX, "friends", a));
}

json_t *rf_query_referral_json(rf_query_t *q, const char *program, const char *user,
                               const char *link_base, int64_t exp_s, rf_err_t *err, rf_errbuf_t *eb)
{
    char code[RF_FACT_VAL_MAX + 1], when[RF_TIME_BUF], period[32];
    rf_err_t r = rf_query_period(q, program, "all", period, eb); /* an unknown program: 404 */
    if (r != RF_OK) return fail(err, r);
    r = rf_query_code(q, program, user, code, eb);
    if (r != RF_OK && r != RF_ERR_NOT_FOUND) return fail(err, r);
    bool has_code = r == RF_OK;
    json_t *bal = rf_query_balance_json(q, user, program, &r, eb);
    if (!bal) return fail(err, r);
    rf_board_sel_t sel = {.program = program, .by = RF_BOARD_REFERRALS};
    rf_errbuf_t reb = {{0}};
    json_t *rank = rf_query_rank_json(q, &sel, user, &r, &reb);
    if (!rank && r != RF_ERR_NOT_FOUND) {
        json_decref(bal);
        return fail(err, rf_errf(eb, r, "%s", reb.msg));
    }
    json_t *o = json_object();
    json_object_set_new(o, "program", json_string(program));
    json_object_set_new(o, "user", json_string(user));
    json_object_set_new(o, "code", has_code ? json_string(code) : json_null());
    json_t *link = json_null();
    if (has_code && link_base) {
        size_t bl = strlen(link_base), cap = bl + 4 + 3 * (strlen(program) + strlen(code)) + 1;
        char *s = malloc(cap);
        if (s) {
            memcpy(s, link_base, bl);
            size_t o = bl;
            memcpy(s + o, "/r/", 3);
            o = pct_seg(program, s + o + 3) + o + 3;
            s[o++] = '/';
            o += pct_seg(code, s + o);
            s[o] = '\0';
            link = json_string(s);
            free(s);
        }
    }
    json_object_set_new(o, "link", link);
    json_object_set_new(o, "balances", json_incref(json_object_get(bal, "balances")));
    json_decref(bal);
    json_object_set_new(o, "rank", rank ? rank : json_null());
    json_t *fr = friends_json(q, program, user, &r, eb);
    if (!fr) {
        json_decref(o);
        return fail(err, r);
    }
    json_object_update_new(o, fr);
    rf_time_format(exp_s * 1000, when);
    json_object_set_new(o, "expires_at", json_string(when));
    return ok(err, o);
}

/* ---- explain ----------------------------------------------------------------- */

typedef struct explain_acc {
    json_t *records;
    bool truncated;
} explain_acc_t;

static int explain_record(const rf_record_t *rec, const char *text, void *opaque)
{
    explain_acc_t *a = opaque;
    if (json_array_size(a->records) >= RF_EXPLAIN_HTTP_RECORDS)
        a->truncated = true;
    else
        json_array_append_new(a->records, rf_explain_record_json(rec, text));
    return 0;
}

json_t *rf_query_explain_json(rf_query_t *q, const char *data_dir, const char *program,
                              const char *user, rf_err_t *err, rf_errbuf_t *eb)
{
    char period[32];
    rf_err_t r = rf_query_period(q, program, "all", period, eb); /* an unknown program: 404 */
    if (r != RF_OK) return fail(err, r);
    rf_explain_t *x = calloc(1, sizeof *x);
    if (!x) return fail(err, rf_errf(eb, RF_ERR_NOMEM, "out of memory"));
    x->program = program;
    x->user = user;
    explain_acc_t acc = {json_array(), false};
    json_t *bal = json_array();
    r = rf_explain_scan(data_dir, x, explain_record, &acc, bal, eb);
    if (r != RF_OK) {
        free(x);
        json_decref(acc.records);
        json_decref(bal);
        return fail(err, r == RF_ERR_IO ? RF_ERR_NOT_FOUND : r);
    }
    json_t *o = json_pack("{s:s, s:s, s:o, s:b, s:o}", "program", program, "user", user, "records",
                          acc.records, "truncated", acc.truncated, "summary",
                          rf_explain_summary_json(x, bal));
    free(x);
    return ok(err, o);
}
