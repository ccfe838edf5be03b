/* rf_project_keys.c: the projection's encodings: UTC periods (day, ISO week,
 * month), the leaderboard order key, metric names, meta value, RocksDB options. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_project_int.h"

/* Periods are computed for years 0..9999 only; event times outside are
 * clamped (the fold accepts any int64 time, a board key must stay sortable). */
#define MS_PER_DAY 86400000LL
#define MS_MIN     0LL
#define MS_MAX     253402300799999LL /* 9999-12-31T23:59:59.999Z */

static int64_t day_of_ms(int64_t ms)
{
    if (ms < MS_MIN) ms = MS_MIN;
    if (ms > MS_MAX) ms = MS_MAX;
    return ms / MS_PER_DAY;
}

int rf__pj_sum_index(uint8_t ptype)
{
    switch (ptype) {
    case RF__P_ALL:
        return 0;
    case RF__P_DAY:
        return 1;
    case RF__P_WEEK:
        return 2;
    default:
        RF_ASSERT(ptype == RF__P_MONTH);
        return 3;
    }
}

size_t rf__pj_sum_encode(const rf__pj_sum_t *s, size_t plen, uint8_t *out)
{
    RF_ASSERT(plen <= RF__SUM_PAYLOAD_MAX && (s->mask & ~0xFu) == 0);
    size_t n = 0;
    out[n++] = s->mask;
    for (int i = 0; i < 4; i++) {
        rf_be32_put(out + n, s->value[i]);
        memcpy(out + n + 4, s->payload[i], plen);
        n += 4 + plen;
    }
    RF_ASSERT(n == RF__SUM_LEN(plen));
    return n;
}

bool rf__pj_sum_decode(const uint8_t *v, size_t vl, size_t plen, rf__pj_sum_t *out)
{
    RF_ASSERT(plen <= RF__SUM_PAYLOAD_MAX);
    if (vl != RF__SUM_LEN(plen) || (v[0] & ~0xFu) != 0) return false;
    out->mask = v[0];
    for (int i = 0; i < 4; i++) {
        const uint8_t *e = v + 1 + (size_t)i * (4 + plen);
        out->value[i] = rf_be32_get(e);
        memcpy(out->payload[i], e + 4, plen);
    }
    return true;
}

rf__sum_where_t rf__pj_sum_where(const rf__pj_sum_t *s, rf__period_t per)
{
    int i = rf__pj_sum_index(per.type);
    if (!(s->mask & (1u << i)) || per.value > s->value[i]) return RF__SUM_ABSENT;
    return per.value == s->value[i] ? RF__SUM_HERE : RF__SUM_OLD;
}

rf__period_t rf__pj_period_of(rf__ptype_t type, int64_t ms)
{
    rf__period_t p = {(uint8_t)type, 0};
    int64_t days = day_of_ms(ms), y;
    int m, d;
    switch (type) {
    case RF__P_ALL:
        break;
    case RF__P_DAY:
        rf_civil_from_days(days, &y, &m, &d);
        p.value = (uint32_t)(y * 10000 + m * 100 + d);
        break;
    case RF__P_WEEK:
        rf_time_iso_week(days, &y, &m);
        p.value = (uint32_t)(y * 100 + m);
        break;
    case RF__P_MONTH:
        rf_civil_from_days(days, &y, &m, &d);
        p.value = (uint32_t)(y * 100 + m);
        break;
    default:
        RF_ASSERT(!"unknown period type");
    }
    return p;
}

void rf__pj_periods_of(int64_t ms, rf__period_t out[4])
{
    out[0] = rf__pj_period_of(RF__P_ALL, ms);
    out[1] = rf__pj_period_of(RF__P_DAY, ms);
    out[2] = rf__pj_period_of(RF__P_WEEK, ms);
    out[3] = rf__pj_period_of(RF__P_MONTH, ms);
}

void rf__pj_period_put(uint8_t *k, rf__period_t p)
{
    k[0] = p.type;
    rf_be32_put(k + 1, p.value);
}

/* Parses exactly `digits` decimal digits at s; -1 when not. */
static long parse_digits(const char *s, int digits)
{
    long v = 0;
    for (int i = 0; i < digits; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static rf_err_t parse_day(const char *s, rf__period_t *out)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') return RF_ERR_BAD_INPUT;
    long y = parse_digits(s, 4), m = parse_digits(s + 5, 2), d = parse_digits(s + 8, 2);
    if (y < 0 || m < 1 || m > 12 || d < 1 || d > 31) return RF_ERR_BAD_INPUT;
    int64_t days = rf_days_from_civil(y, (int)m, (int)d), yy;
    int mm, dd;
    rf_civil_from_days(days, &yy, &mm, &dd);
    if (yy != y || mm != m || dd != d) return RF_ERR_BAD_INPUT; /* Feb 30 */
    *out = rf__pj_period_of(RF__P_DAY, days * MS_PER_DAY);
    return RF_OK;
}

static rf_err_t parse_week(const char *s, rf__period_t *out)
{
    if (strlen(s) != 8 || s[4] != '-' || s[5] != 'W') return RF_ERR_BAD_INPUT;
    long y = parse_digits(s, 4), w = parse_digits(s + 6, 2);
    if (y < 1 || w < 1 || w > 53) return RF_ERR_BAD_INPUT;
    /* Monday of week 1 is the Monday of the week holding January 4th. */
    int64_t jan4 = rf_days_from_civil(y, 1, 4);
    int64_t monday = jan4 - ((jan4 + 3) % 7 + 7) % 7 + (w - 1) * 7, iy;
    int iw;
    rf_time_iso_week(monday, &iy, &iw);
    if (iy != y || iw != w) return RF_ERR_BAD_INPUT; /* no week 53 that year */
    *out = (rf__period_t){RF__P_WEEK, (uint32_t)(y * 100 + w)};
    return RF_OK;
}

static rf_err_t parse_month(const char *s, rf__period_t *out)
{
    if (strlen(s) != 7 || s[4] != '-') return RF_ERR_BAD_INPUT;
    long y = parse_digits(s, 4), m = parse_digits(s + 5, 2);
    if (y < 0 || m < 1 || m > 12) return RF_ERR_BAD_INPUT;
    *out = (rf__period_t){RF__P_MONTH, (uint32_t)(y * 100 + m)};
    return RF_OK;
}

rf_err_t rf__pj_period_parse(const char *s, int64_t now_ms, rf__period_t *out, rf_errbuf_t *eb)
{
    static const struct {
        const char *name;
        rf__ptype_t type;
        rf_err_t (*parse)(const char *, rf__period_t *);
    } kinds[] = {{"day", RF__P_DAY, parse_day},
                 {"week", RF__P_WEEK, parse_week},
                 {"month", RF__P_MONTH, parse_month}};
    if (!strcmp(s, "all")) {
        *out = (rf__period_t){RF__P_ALL, 0};
        return RF_OK;
    }
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t n = strlen(kinds[i].name);
        if (strncmp(s, kinds[i].name, n) != 0) continue;
        if (s[n] == '\0') {
            *out = rf__pj_period_of(kinds[i].type, now_ms);
            return RF_OK;
        }
        if (s[n] == ':' && kinds[i].parse(s + n + 1, out) == RF_OK) return RF_OK;
        break;
    }
    return rf_errf(eb, RF_ERR_BAD_INPUT,
                   "bad period '%.64s' (all, day:2026-01-05, week:2026-W02, month:2026-01)", s);
}

void rf__pj_period_format(rf__period_t p, char out[RF__PERIOD_TEXT_MAX])
{
    unsigned v = p.value;
    switch (p.type) {
    case RF__P_DAY:
        snprintf(out, RF__PERIOD_TEXT_MAX, "day:%04u-%02u-%02u", v / 10000, v / 100 % 100, v % 100);
        break;
    case RF__P_WEEK:
        snprintf(out, RF__PERIOD_TEXT_MAX, "week:%04u-W%02u", v / 100, v % 100);
        break;
    case RF__P_MONTH:
        snprintf(out, RF__PERIOD_TEXT_MAX, "month:%04u-%02u", v / 100, v % 100);
        break;
    default:
        snprintf(out, RF__PERIOD_TEXT_MAX, "all");
        break;
    }
}

static unsigned sig_bytes(uint64_t v)
{
    return v == 0 ? 0 : (unsigned)((64 - __builtin_clzll(v) + 7) / 8);
}

size_t rf__pj_sk_encode(int64_t score, uint64_t reached, uint8_t out[RF__SK_MAX])
{
    uint64_t s = score < 0 ? 0 : (uint64_t)score; /* boards clamp at zero */
    unsigned ns = sig_bytes(s), nr = sig_bytes(reached);
    size_t n = 0;
    out[n++] = (uint8_t)(8 - ns);
    for (unsigned i = ns; i-- > 0;)
        out[n++] = (uint8_t) ~(s >> (8 * i));
    out[n++] = (uint8_t)nr;
    for (unsigned i = nr; i-- > 0;)
        out[n++] = (uint8_t)(reached >> (8 * i));
    RF_ASSERT(n <= RF__SK_MAX && n == 2 + ns + nr);
    return n;
}

size_t rf__pj_sk_decode(const uint8_t *buf, size_t len, int64_t *score, uint64_t *reached)
{
    if (len < 1 || buf[0] > 8) return 0;
    unsigned ns = 8 - buf[0];
    if (len < 2 + ns || buf[1 + ns] > 8) return 0;
    unsigned nr = buf[1 + ns];
    if (len < 2 + ns + nr) return 0;
    uint64_t s = 0, r = 0;
    for (unsigned i = 0; i < ns; i++)
        s = (s << 8) | (uint8_t)~buf[1 + i];
    for (unsigned i = 0; i < nr; i++)
        r = (r << 8) | buf[2 + ns + i];
    *score = (int64_t)s;
    *reached = r;
    return 2 + ns + nr;
}

const char *rf__pj_metric_name(int m)
{
    static const char *names[RF__M__MAX] = {
        [RF__M_SHARES] = "shares",
        [RF__M_CLICKS] = "clicks",
        [RF__M_SIGNUPS] = "signups",
        [RF__M_ATTRIBUTED] = "attributed_signups",
        [RF__M_PURCHASES] = "purchases",
        [RF__M_REVENUE] = "revenue",
        [RF__M_REF_PURCHASES] = "referred_purchases",
        [RF__M_REF_REVENUE] = "referred_revenue",
        [RF__M_CUSTOMERS] = "customers",
        [RF__M_REF_CUSTOMERS] = "referred_customers",
        [RF__M_CUST_WITH_CODE] = "customers_with_code",
        [RF__M_CUST_REFERRING] = "customers_referring",
        [RF__M_REFERRERS] = "referrers",
        [RF__M_REPEAT_REFERRERS] = "repeat_referrers",
        [RF__M_REWARDS] = "rewards",
        [RF__M_REFERRER_REWARDS] = "successful_referrals",
        [RF__M_FRIEND_REWARDS] = "friend_rewards",
        [RF__M_BONUS_REWARDS] = "milestone_rewards",
        [RF__M_REWARD_COST] = "reward_cost",
        [RF__M_VOIDS] = "voids",
        [RF__M_CLAWBACKS] = "clawbacks",
        [RF__M_REJECTED] = "rejected",
        [RF__M_FRAUD_REJECT] = "fraud_rejections",
        [RF__M_FRAUD_REVIEW] = "fraud_reviews",
        [RF__M_CODES] = "codes_issued",
        [RF__M_REFUNDS] = "refunds",
        [RF__M_REDEMPTIONS] = "redemptions",
    };
    return m > 0 && m < RF__M__MAX && names[m] ? names[m] : NULL;
}

void rf__pj_meta_encode(const rf_projection_meta_t *m, uint32_t next_name_id,
                        uint8_t out[RF__META_LEN])
{
    out[0] = RF__META_VERSION;
    rf_be32_put(out + 1, (uint32_t)m->partition);
    rf_be64_put(out + 5, m->applied_seq);
    rf_be64_put(out + 13, (uint64_t)m->next_offset);
    rf_be64_put(out + 21, (uint64_t)m->high_watermark);
    rf_be64_put(out + 29, (uint64_t)m->event_time_ms);
    rf_be64_put(out + 37, m->records);
    rf_be64_put(out + 45, m->duplicates);
    rf_be64_put(out + 53, (uint64_t)m->committed_wall_ms);
    rf_be32_put(out + 61, next_name_id);
}

rf_err_t rf__pj_meta_decode(const uint8_t *v, size_t len, rf_projection_meta_t *m,
                            uint32_t *next_name_id)
{
    if (len != RF__META_LEN || v[0] != RF__META_VERSION) return RF_ERR_CORRUPT;
    m->partition = (int32_t)rf_be32_get(v + 1);
    m->applied_seq = rf_be64_get(v + 5);
    m->next_offset = (int64_t)rf_be64_get(v + 13);
    m->high_watermark = (int64_t)rf_be64_get(v + 21);
    m->event_time_ms = (int64_t)rf_be64_get(v + 29);
    m->records = rf_be64_get(v + 37);
    m->duplicates = rf_be64_get(v + 45);
    m->committed_wall_ms = (int64_t)rf_be64_get(v + 53);
    if (next_name_id) *next_name_id = rf_be32_get(v + 61);
    return RF_OK;
}

rf_err_t rf__project_part_path(const char *data_dir, int32_t partition, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/project/p-%04d", data_dir, (int)partition);
    return n > 0 && (size_t)n < cap ? RF_OK : RF_ERR_BAD_INPUT;
}

size_t rf__pj_name_program(char out[RF__NAME_MAX], const char *program)
{
    size_t pl = strnlen(program, RF_ID_MAX);
    out[0] = RF__NAME_PROGRAM;
    out[1] = '\0';
    memcpy(out + 2, program, pl);
    RF_ASSERT(2 + pl <= RF__NAME_MAX);
    return 2 + pl;
}

size_t rf__pj_name_series(char out[RF__NAME_MAX], const char *program, char metric,
                          const char *asset)
{
    size_t pl = strnlen(program, RF_ID_MAX), al = strnlen(asset, RF_ASSET_MAX), n = 0;
    out[n++] = RF__NAME_SERIES;
    out[n++] = '\0';
    memcpy(out + n, program, pl);
    n += pl;
    out[n++] = '\0';
    out[n++] = metric;
    out[n++] = '\0';
    memcpy(out + n, asset, al);
    n += al;
    RF_ASSERT(n <= RF__NAME_MAX);
    return n;
}
