/* rf_project_apply_kinds.c: the read models per record kind: how one ledger
 * record changes the balances, the code index, the leaderboards and the
 * funnel counters (docs/projections.md has the rules and the key layout). */
#include <stdio.h>

#include "rf_project_apply_int.h"

/* ---- per kind ------------------------------------------------------------ */

static rf_err_t on_code(rf__actx_t *c)
{
    const char *user = rf__pa_fact(c->rec, RF_FACT_REFERRER),
               *code = rf__pa_fact(c->rec, RF_FACT_CODE);
    if (!*user) user = rf__pa_fact(c->rec, RF_FACT_USER);
    if (!*user || !*code) return RF_OK;
    char old[RF_FACT_VAL_MAX + 1];
    rf_err_t err = rf__pa_get_str(c, RF__PK_CODE, user, old, sizeof old);
    if (err != RF_OK || old[0]) return err; /* issued once per program */
    rf__pa_put_str(c, RF__PK_CODE, user, code);
    rf__pa_put_str(c, RF__PK_CODEREV, code, user);
    bool fresh;
    err = rf__pa_flag_set(c, c->per[0], user, RF__F_USER_HAS_CODE, &fresh, NULL);
    if (err == RF_OK) err = rf__pa_stat4(c, c->per, RF__M_CODES, NULL, NULL, 1);
    for (int i = 0; err == RF_OK && i < 4; i++) {
        uint8_t f;
        err = rf__pa_flag_set(c, c->per[i], user, 0, &fresh, &f); /* read only */
        if (err != RF_OK || !(f & RF__F_CUSTOMER) || (f & RF__F_CODE_COUNTED)) continue;
        err = rf__pa_flag_set(c, c->per[i], user, RF__F_CODE_COUNTED, &fresh, NULL);
        if (err == RF_OK) err = rf__pa_stat1(c, c->per[i], RF__M_CUST_WITH_CODE, NULL, NULL, 1);
    }
    return err;
}

/* The tracking links' target of the program's current rules (`refold
 * gateway`): rules without a landing URL clear it. */
static rf_err_t on_program(rf__actx_t *c)
{
    const char *url = rf__pa_fact(c->rec, RF_FACT_LANDING_URL),
               *days = rf__pa_fact(c->rec, RF_FACT_ATTR_DAYS);
    char v[RF_FACT_VAL_MAX * 2 + 2] = "";
    if (*url && *days) snprintf(v, sizeof v, "%s %s", days, url);
    rf__pa_put_str(c, RF__PK_LANDING, "", v);
    return RF_OK;
}

static rf_err_t on_share(rf__actx_t *c)
{
    const char *referrer = rf__pa_fact(c->rec, RF_FACT_REFERRER),
               *ch = rf__pa_fact(c->rec, RF_FACT_CHANNEL);
    char chid[RF_ID_BUF];
    rf_strlcpy(chid, ch, sizeof chid); /* a channel is an id (rf__pa_resolve_channel) */
    rf_err_t err = *referrer && *ch ? rf__pa_prof_set(c, referrer, RF__PROF_CHANNEL, chid) : RF_OK;
    return err == RF_OK ? rf__pa_stat4(c, c->per, RF__M_SHARES, *ch ? ch : NULL, NULL, 1) : err;
}

static rf_err_t on_click(rf__actx_t *c)
{
    char referrer[RF_FACT_VAL_MAX + 1], ch[RF_ID_BUF];
    rf_strlcpy(referrer, rf__pa_fact(c->rec, RF_FACT_REFERRER), sizeof referrer);
    rf_err_t err = RF_OK;
    if (!referrer[0] && *rf__pa_fact(c->rec, RF_FACT_CODE))
        err = rf__pa_get_str(c, RF__PK_CODEREV, rf__pa_fact(c->rec, RF_FACT_CODE), referrer,
                             sizeof referrer);
    if (err == RF_OK) err = rf__pa_resolve_channel(c, referrer, ch);
    if (err == RF_OK) err = rf__pa_stat4(c, c->per, RF__M_CLICKS, ch, NULL, 1);
    return err;
}

static bool signup_attributed(const rf_record_t *rec)
{
    const char *referred = rf_record_get_fact(rec, RF_FACT_REFERRED);
    if (referred) return strcmp(referred, "1") == 0;
    return *rf__pa_fact(rec, RF_FACT_REFERRER) && !rf_record_get_fact(rec, RF_FACT_REASON);
}

static rf_err_t on_signup(rf__actx_t *c)
{
    const char *user = rf__pa_fact(c->rec, RF_FACT_USER),
               *referrer = rf__pa_fact(c->rec, RF_FACT_REFERRER);
    rf_err_t err = rf__pa_stat4(c, c->per, RF__M_SIGNUPS, NULL, NULL, 1);
    if (err != RF_OK || !signup_attributed(c->rec) || !*referrer) return err;
    char ch[RF_ID_BUF];
    if (*user) err = rf__pa_prof_set(c, user, RF__PROF_REFERRER, referrer);
    if (err == RF_OK) err = rf__pa_resolve_channel(c, referrer, ch);
    if (err == RF_OK) err = rf__pa_stat4(c, c->per, RF__M_ATTRIBUTED, ch, NULL, 1);
    return err;
}

/* Distinct-customer counters of one period for a purchase by user; user_f
 * holds the user's all-time flags (RF__F_USER_*). */
static rf_err_t purchase_flags(rf__actx_t *c, rf__period_t per, const char *user, bool referred,
                               uint8_t user_f)
{
    bool fresh;
    uint8_t f;
    rf_err_t err = rf__pa_flag_set(c, per, user, RF__F_CUSTOMER, &fresh, &f);
    if (err == RF_OK && fresh) {
        err = rf__pa_stat1(c, per, RF__M_CUSTOMERS, NULL, NULL, 1);
        if (err == RF_OK && (user_f & RF__F_USER_HAS_CODE) && !(f & RF__F_CODE_COUNTED)) {
            err = rf__pa_flag_set(c, per, user, RF__F_CODE_COUNTED, &fresh, NULL);
            if (err == RF_OK) err = rf__pa_stat1(c, per, RF__M_CUST_WITH_CODE, NULL, NULL, 1);
        }
        if (err == RF_OK && (user_f & RF__F_USER_REFERRED) && !(f & RF__F_REFERRING_COUNTED)) {
            err = rf__pa_flag_set(c, per, user, RF__F_REFERRING_COUNTED, &fresh, NULL);
            if (err == RF_OK) err = rf__pa_stat1(c, per, RF__M_CUST_REFERRING, NULL, NULL, 1);
        }
    }
    if (err == RF_OK && referred) {
        err = rf__pa_flag_set(c, per, user, RF__F_REF_CUSTOMER, &fresh, NULL);
        if (err == RF_OK && fresh) err = rf__pa_stat1(c, per, RF__M_REF_CUSTOMERS, NULL, NULL, 1);
    }
    return err;
}

static rf_err_t on_purchase(rf__actx_t *c)
{
    const char *user = rf__pa_fact(c->rec, RF_FACT_USER),
               *cur = rf__pa_fact(c->rec, RF_FACT_CURRENCY);
    int64_t amount = 0;
    if (!rf__pa_parse_i64(rf__pa_fact(c->rec, RF_FACT_AMOUNT), &amount) || amount < 0) amount = 0;
    bool referred = strcmp(rf__pa_fact(c->rec, RF_FACT_REFERRED), "1") == 0;
    rf_err_t err = rf__pa_stat4(c, c->per, RF__M_PURCHASES, NULL, NULL, 1);
    if (err == RF_OK && amount) err = rf__pa_stat4(c, c->per, RF__M_REVENUE, NULL, cur, amount);
    if (err == RF_OK && referred) {
        char referrer[RF_FACT_VAL_MAX + 1], ch[RF_ID_BUF];
        rf_strlcpy(referrer, rf__pa_fact(c->rec, RF_FACT_REFERRER), sizeof referrer);
        if (!referrer[0] && *user)
            err = rf__pa_prof_get(c, user, RF__PROF_REFERRER, referrer, sizeof referrer);
        if (err == RF_OK) err = rf__pa_resolve_channel(c, referrer, ch);
        if (err == RF_OK) err = rf__pa_stat4(c, c->per, RF__M_REF_PURCHASES, ch, NULL, 1);
        if (err == RF_OK && amount)
            err = rf__pa_stat4(c, c->per, RF__M_REF_REVENUE, ch, cur, amount);
    }
    uint8_t user_f = 0;
    bool fresh;
    if (err == RF_OK && *user) err = rf__pa_flag_set(c, c->per[0], user, 0, &fresh, &user_f);
    for (int i = 0; err == RF_OK && *user && i < 4; i++)
        err = purchase_flags(c, c->per[i], user, referred, user_f);
    return err;
}

/* Net amount per asset of the postings to owner (NULL: to every user, i.e.
 * every owner not starting with '#'). Returns the number of assets. */
#define ASSETS_MAX RF_POSTINGS_MAX
static int net_by_asset(const rf_record_t *rec, const char *owner,
                        char assets[ASSETS_MAX][RF_ASSET_MAX + 1], int64_t amounts[ASSETS_MAX])
{
    int n = 0;
    for (uint32_t i = 0; i < rec->npostings; i++) {
        const rf_posting_t *po = &rec->postings[i];
        if (owner ? strcmp(po->owner, owner) != 0 : po->owner[0] == '#') continue;
        int j = 0;
        while (j < n && strcmp(assets[j], po->asset) != 0)
            j++;
        if (j == n) {
            rf_strlcpy(assets[n], po->asset, RF_ASSET_MAX + 1);
            amounts[n++] = 0;
        }
        amounts[j] += po->amount_minor; /* |amount| <= RF_AMOUNT_MAX: no overflow */
    }
    return n;
}

/* A reward's memo (in a 'W' block): what a later void or clawback must undo. */
typedef struct memo {
    char role; /* 'r' referrer, 'f' friend, 'm' milestone, '?' */
    int64_t time_ms;
    char referrer[RF_ID_BUF];
    char channel[RF_ID_BUF];
} memo_t;

static char role_code(const char *role)
{
    if (!strcmp(role, "referrer")) return 'r';
    if (!strcmp(role, "friend")) return 'f';
    if (!strcmp(role, "milestone")) return 'm';
    return '?';
}

/* Memos live in blocks of RF__MEMO_BLOCK seqs ('W' be64(seq / RF__MEMO_BLOCK)):
 * a commit writes a block once instead of a key per reward. An entry is
 * [seq % RF__MEMO_BLOCK][length][role, be64 time, referrer \0, channel]. */
#define MEMO_MAX (1 + 8 + RF_ID_BUF + RF_ID_MAX)

static void memo_key(rf__kbuf_t *k, uint64_t seq)
{
    uint8_t b[8];
    rf_be64_put(b, seq / RF__MEMO_BLOCK);
    rf__kb_init(k, RF__PK_REWARD);
    rf__kb_put(k, b, 8);
}

static rf_err_t memo_put(rf__actx_t *c, const memo_t *m)
{
    _Static_assert(MEMO_MAX <= 255, "a memo's length is one byte");
    uint64_t seq = c->rec->seq, first = seq - seq % RF__MEMO_BLOCK;
    uint8_t v[RF__MEMO_BLOCK_MAX];
    size_t rl = strlen(m->referrer), cl = strlen(m->channel), n = 0;
    RF_ASSERT(rl < RF_ID_BUF && cl <= RF_ID_MAX);
    rf__kbuf_t k;
    memo_key(&k, seq);
    rf__pj_slot_t *slot; /* a block starting above the stored seq is not stored */
    rf_err_t err = first > c->p->stored.applied_seq ? rf__pj_slot_new(c->p, k.b, k.n, &slot)
                                                    : rf__pj_slot(c->p, k.b, k.n, &slot);
    const uint8_t *cur;
    if (err == RF_OK && rf__pj_slot_value(slot, &cur, &n)) {
        if (n + 2 + MEMO_MAX > sizeof v) return RF_ERR_CORRUPT; /* more than a block */
        memcpy(v, cur, n);
    }
    if (err != RF_OK) return err;
    v[n++] = (uint8_t)(seq % RF__MEMO_BLOCK);
    v[n++] = (uint8_t)(1 + 8 + rl + 1 + cl);
    v[n++] = (uint8_t)m->role;
    rf_be64_put(v + n, (uint64_t)m->time_ms);
    n += 8;
    memcpy(v + n, m->referrer, rl + 1);
    n += rl + 1;
    memcpy(v + n, m->channel, cl);
    n += cl;
    rf__pj_slot_set(c->p, slot, v, n);
    return RF_OK;
}

/* Decodes the memo bytes v[0..vl). */
static rf_err_t memo_decode(const uint8_t *v, size_t vl, memo_t *m)
{
    const uint8_t *nul = vl > 9 ? memchr(v + 9, 0, vl - 9) : NULL;
    if (!nul || (size_t)(nul - (v + 9)) >= RF_ID_BUF || (size_t)(v + vl - nul - 1) >= RF_ID_BUF)
        return RF_ERR_CORRUPT;
    m->role = (char)v[0];
    m->time_ms = (int64_t)rf_be64_get(v + 1);
    memcpy(m->referrer, v + 9, (size_t)(nul - (v + 9)) + 1);
    memcpy(m->channel, nul + 1, (size_t)(v + vl - nul - 1));
    m->channel[v + vl - nul - 1] = '\0';
    return RF_OK;
}

static rf_err_t memo_get(rf__actx_t *c, uint64_t seq, memo_t *m)
{
    rf__kbuf_t k;
    memo_key(&k, seq);
    const uint8_t *v;
    size_t vl;
    rf_err_t err = rf__pj_get(c->p, k.b, k.n, &v, &vl);
    if (err != RF_OK) return err;
    for (size_t at = 0; at + 2 <= vl; at += 2 + (size_t)v[at + 1]) {
        if (at + 2 + v[at + 1] > vl) return RF_ERR_CORRUPT;
        if (v[at] == seq % RF__MEMO_BLOCK) return memo_decode(v + at + 2, v[at + 1], m);
    }
    return RF_ERR_NOT_FOUND;
}

/* Moves the referrer's value boards by the referrer's net postings of this
 * record, in the periods pers (the reward's). */
static rf_err_t value_boards(rf__actx_t *c, const char *referrer, const rf__period_t pers[4])
{
    char assets[ASSETS_MAX][RF_ASSET_MAX + 1];
    int64_t amounts[ASSETS_MAX], score;
    int n = net_by_asset(c->rec, referrer, assets, amounts);
    for (int i = 0; i < n; i++) {
        if (amounts[i] == 0) continue;
        uint32_t sid;
        rf_err_t err = rf__pa_series_id(c, RF__METRIC_VALUE, assets[i], &sid);
        for (int j = 0; err == RF_OK && j < 4; j++)
            err = rf__pa_board_bump(c, sid, pers[j], referrer, amounts[i], &score);
        if (err != RF_OK) return err;
    }
    return RF_OK;
}

/* Reward cost (net to users) by asset, booked in pers under channel. */
static rf_err_t reward_cost(rf__actx_t *c, const rf__period_t pers[4], const char *ch)
{
    char assets[ASSETS_MAX][RF_ASSET_MAX + 1];
    int64_t amounts[ASSETS_MAX];
    int n = net_by_asset(c->rec, NULL, assets, amounts);
    for (int i = 0; i < n; i++) {
        rf_err_t err = amounts[i]
                           ? rf__pa_stat4(c, pers, RF__M_REWARD_COST, ch, assets[i], amounts[i])
                           : RF_OK;
        if (err != RF_OK) return err;
    }
    return RF_OK;
}

/* A successful referral: referral boards, active/repeat referrers and the
 * referral-rate flag, in each period of the record. */
static rf_err_t referral_boards(rf__actx_t *c, const char *referrer)
{
    uint32_t sid;
    bool fresh;
    rf_err_t err = rf__pa_series_id(c, RF__METRIC_REFERRALS, "", &sid);
    if (err == RF_OK)
        err = rf__pa_flag_set(c, c->per[0], referrer, RF__F_USER_REFERRED, &fresh, NULL);
    for (int i = 0; err == RF_OK && i < 4; i++) {
        int64_t score;
        uint8_t f;
        err = rf__pa_board_bump(c, sid, c->per[i], referrer, 1, &score);
        if (err == RF_OK && score == 1)
            err = rf__pa_stat1(c, c->per[i], RF__M_REFERRERS, NULL, NULL, 1);
        if (err == RF_OK && score == 2)
            err = rf__pa_stat1(c, c->per[i], RF__M_REPEAT_REFERRERS, NULL, NULL, 1);
        if (err == RF_OK) err = rf__pa_flag_set(c, c->per[i], referrer, 0, &fresh, &f);
        if (err != RF_OK || !(f & RF__F_CUSTOMER) || (f & RF__F_REFERRING_COUNTED)) continue;
        err = rf__pa_flag_set(c, c->per[i], referrer, RF__F_REFERRING_COUNTED, &fresh, NULL);
        if (err == RF_OK) err = rf__pa_stat1(c, c->per[i], RF__M_CUST_REFERRING, NULL, NULL, 1);
    }
    return err;
}

static rf_err_t on_reward(rf__actx_t *c)
{
    memo_t m = {.role = role_code(rf__pa_fact(c->rec, RF_FACT_ROLE)),
                .time_ms = c->rec->occurred_at_ms};
    rf_strlcpy(m.referrer, rf__pa_fact(c->rec, RF_FACT_REFERRER), sizeof m.referrer);
    rf_err_t err = rf__pa_resolve_channel(c, m.referrer, m.channel);
    if (err == RF_OK) err = rf__pa_stat4(c, c->per, RF__M_REWARDS, m.channel, NULL, 1);
    int role_metric = m.role == 'r'   ? RF__M_REFERRER_REWARDS
                      : m.role == 'f' ? RF__M_FRIEND_REWARDS
                      : m.role == 'm' ? RF__M_BONUS_REWARDS
                                      : 0;
    if (err == RF_OK && role_metric) err = rf__pa_stat4(c, c->per, role_metric, m.channel, NULL, 1);
    if (err == RF_OK) err = reward_cost(c, c->per, m.channel);
    if (err == RF_OK && m.referrer[0] && m.role == 'r') err = referral_boards(c, m.referrer);
    if (err == RF_OK && m.referrer[0] && (m.role == 'r' || m.role == 'm'))
        err = value_boards(c, m.referrer, c->per);
    if (err == RF_OK) err = memo_put(c, &m);
    return err;
}

/* Void or clawback: undone in the reward's own periods and channel, so a
 * period's reward cost and value boards are net of later reversals. */
static rf_err_t on_reversal(rf__actx_t *c, int metric)
{
    memo_t m = {0};
    int64_t rseq = 0;
    rf_err_t err = RF_ERR_NOT_FOUND;
    if (rf__pa_parse_i64(rf__pa_fact(c->rec, RF_FACT_REVERSES), &rseq) && rseq > 0)
        err = memo_get(c, (uint64_t)rseq, &m);
    if (err == RF_ERR_NOT_FOUND) { /* no memo: book it now, from its own facts */
        m.role = role_code(rf__pa_fact(c->rec, RF_FACT_ROLE));
        m.time_ms = c->rec->occurred_at_ms;
        rf_strlcpy(m.referrer, rf__pa_fact(c->rec, RF_FACT_REFERRER), sizeof m.referrer);
        err = rf__pa_resolve_channel(c, m.referrer, m.channel);
    }
    if (err != RF_OK) return err;
    rf__period_t pers[4];
    rf__pj_periods_of(m.time_ms, pers);
    err = rf__pa_stat4(c, pers, metric, m.channel, NULL, 1);
    if (err == RF_OK) err = reward_cost(c, pers, m.channel);
    if (err == RF_OK && m.referrer[0] && (m.role == 'r' || m.role == 'm'))
        err = value_boards(c, m.referrer, pers);
    return err;
}

/* Fraud: "name=result[:action],..." from the checks fact; a failed check
 * counts as a rejection or a review by its action. */
static rf_err_t on_checks(rf__actx_t *c, const char *checks)
{
    char buf[RF_FACT_VAL_MAX + 1];
    rf_strlcpy(buf, checks, sizeof buf);
    char *save = NULL;
    for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (!eq || eq == item) continue;
        *eq = '\0';
        const char *res = eq + 1;
        int metric = strstr(res, "reject")   ? RF__M_FRAUD_REJECT
                     : strstr(res, "review") ? RF__M_FRAUD_REVIEW
                                             : 0;
        if (!metric) continue;
        rf_err_t err = rf__pa_stat4(c, c->per, metric, NULL, item, 1);
        if (err != RF_OK) return err;
    }
    return RF_OK;
}

/* Facts the rules add (ledger/rules/rf_rules.h, outside this room). */
#define FACT_STATUS      "status"      /* review: held | approved | rejected */
#define FACT_REVIEW      "review"      /* reward: "held" while the referral is in review */
#define FACT_ATTRIBUTION "attribution" /* how a signup or a guest's purchase was attributed */

/* ---- review queue ('Q', 'q') ----------------------------------------------
 * A review record "held" puts the friend in the program's queue, keyed by the
 * hold's event time and seq (oldest first); its decision (approved or
 * rejected) takes it out. Rewards posted while the friend is held add their
 * amount to the entry. 'q' finds the entry from the friend. */
static void review_index_key(rf__actx_t *c, const char *friend_, rf__kbuf_t *k)
{
    rf__kb_init(k, RF__PK_REVIDX);
    rf__kb_be32(k, c->prog);
    rf__kb_str(k, friend_);
}

/* The 'Q' key of the queue entry the friend's 'q' key points at. */
static rf_err_t review_entry_key(rf__actx_t *c, const char *friend_, rf__kbuf_t *idx, rf__kbuf_t *k)
{
    const uint8_t *v;
    size_t vl;
    review_index_key(c, friend_, idx);
    rf_err_t err = rf__pj_get(c->p, idx->b, idx->n, &v, &vl);
    if (err != RF_OK) return err;
    if (vl != 16) return RF_ERR_CORRUPT;
    rf__kb_init(k, RF__PK_REVIEW);
    rf__kb_be32(k, c->prog);
    rf__kb_put(k, v, 16);
    return RF_OK;
}

static rf_err_t on_review(rf__actx_t *c)
{
    const char *friend_ = rf__pa_fact(c->rec, RF_FACT_FRIEND);
    const char *status = rf__pa_fact(c->rec, FACT_STATUS);
    if (!*friend_) return RF_OK;
    rf__kbuf_t idx, k;
    rf_err_t err = review_entry_key(c, friend_, &idx, &k);
    if (err == RF_OK) { /* a decision, or a new hold replacing an older one */
        rf__pj_del(c->p, k.b, k.n);
        rf__pj_del(c->p, idx.b, idx.n);
    } else if (err != RF_ERR_NOT_FOUND) {
        return err;
    }
    if (strcmp(status, "held") != 0) return RF_OK;
    uint8_t ts[16];
    int64_t t = c->rec->occurred_at_ms > 0 ? c->rec->occurred_at_ms : 0;
    rf_be64_put(ts, (uint64_t)t);
    rf_be64_put(ts + 8, c->rec->seq);
    rf__kb_init(&k, RF__PK_REVIEW);
    rf__kb_be32(&k, c->prog);
    rf__kb_put(&k, ts, 16);
    rf__pj_put(c->p, idx.b, idx.n, ts, 16);
    uint8_t v[RF__REVIEW_VAL_MAX];
    size_t n = 0;
    const char *fields[4] = {friend_, rf__pa_fact(c->rec, RF_FACT_REFERRER),
                             rf__pa_fact(c->rec, RF_FACT_REASON),
                             rf__pa_fact(c->rec, RF_FACT_CHECKS)};
    for (int i = 0; i < 4; i++) {
        size_t l = strnlen(fields[i], RF_FACT_VAL_MAX);
        memcpy(v + n, fields[i], l);
        n += l;
        v[n++] = '\0';
    }
    memset(v + n, 0, 4); /* be32 rewards; no asset yet */
    rf__pj_put(c->p, k.b, k.n, v, n + 4);
    return RF_OK;
}

/* A reward posted while its friend is held: its amount joins the entry's sum
 * for its asset. */
static rf_err_t review_reward(rf__actx_t *c)
{
    rf__kbuf_t idx, k;
    rf_err_t err = review_entry_key(c, rf__pa_fact(c->rec, RF_FACT_FRIEND), &idx, &k);
    if (err == RF_ERR_NOT_FOUND) return RF_OK;
    const uint8_t *cv;
    size_t vl;
    if (err == RF_OK) err = rf__pj_get(c->p, k.b, k.n, &cv, &vl);
    if (err != RF_OK) return err;
    uint8_t v[RF__REVIEW_VAL_MAX];
    if (vl > sizeof v || vl < 4 + 4) return RF_ERR_CORRUPT;
    memcpy(v, cv, vl);
    size_t off = 0;
    for (int i = 0; i < 4 && off < vl; i++)
        off += strnlen((const char *)v + off, vl - off) + 1;
    if (off + 4 > vl) return RF_ERR_CORRUPT;
    rf_be32_put(v + off, rf_be32_get(v + off) + 1);
    char assets[ASSETS_MAX][RF_ASSET_MAX + 1];
    int64_t amounts[ASSETS_MAX];
    int na = net_by_asset(c->rec, NULL, assets, amounts);
    for (int i = 0; i < na; i++) {
        if (!amounts[i]) continue;
        size_t p = off + 4, al = strlen(assets[i]);
        int held = 0;
        while (p < vl) { /* this asset's sum, or the end */
            size_t l = strnlen((const char *)v + p, vl - p);
            if (p + l + 1 + 8 > vl) return RF_ERR_CORRUPT;
            if (l == al && !memcmp(v + p, assets[i], al)) break;
            p += l + 1 + 8;
            held++;
        }
        if (p == vl) {
            if (held == RF_REVIEW_ASSETS_MAX) continue; /* counted, not summed */
            memcpy(v + p, assets[i], al + 1);
            memset(v + p + al + 1, 0, 8);
            vl += al + 1 + 8;
        }
        int64_t sum = (int64_t)rf_be64_get(v + p + al + 1);
        if (!rf__pj_add_ok(sum, amounts[i], &sum)) return RF_ERR_CORRUPT;
        rf_be64_put(v + p + al + 1, (uint64_t)sum);
    }
    rf__pj_put(c->p, k.b, k.n, v, vl);
    return RF_OK;
}

/* ---- a referrer's friends ('P', 'p') ---------------------------------------- */

typedef struct friend_ent {
    uint64_t n;
    int64_t signed_ms, hold_ms, amount;
    uint8_t status, flags;
    char asset[RF_ASSET_MAX + 1];
    char friend_[RF_FACT_VAL_MAX + 1];
} friend_ent_t;

static size_t friend_encode(const friend_ent_t *e, uint8_t *v)
{
    rf_be64_put(v, e->n);
    rf_be64_put(v + 8, (uint64_t)e->signed_ms);
    rf_be64_put(v + 16, (uint64_t)e->hold_ms);
    rf_be64_put(v + 24, (uint64_t)e->amount);
    v[32] = e->status;
    v[33] = e->flags;
    size_t al = strlen(e->asset), fl = strlen(e->friend_);
    memcpy(v + RF__FRIEND_FIXED, e->asset, al + 1);
    memcpy(v + RF__FRIEND_FIXED + al + 1, e->friend_, fl);
    return RF__FRIEND_FIXED + al + 1 + fl;
}

static bool friend_decode(const uint8_t *v, size_t vl, friend_ent_t *e)
{
    if (vl < RF__FRIEND_FIXED + 1 || vl > RF__FRIEND_VAL_MAX) return false;
    e->n = rf_be64_get(v);
    e->signed_ms = (int64_t)rf_be64_get(v + 8);
    e->hold_ms = (int64_t)rf_be64_get(v + 16);
    e->amount = (int64_t)rf_be64_get(v + 24);
    e->status = v[32];
    e->flags = v[33];
    size_t al = strnlen((const char *)v + RF__FRIEND_FIXED, vl - RF__FRIEND_FIXED);
    if (RF__FRIEND_FIXED + al >= vl || al > RF_ASSET_MAX) return false;
    memcpy(e->asset, v + RF__FRIEND_FIXED, al + 1);
    size_t fl = vl - RF__FRIEND_FIXED - al - 1;
    memcpy(e->friend_, v + RF__FRIEND_FIXED + al + 1, fl);
    e->friend_[fl] = '\0';
    return true;
}

static void friend_key(rf__actx_t *c, const char *referrer, rf__kbuf_t *k)
{
    rf__kb_init(k, RF__PK_FRIEND);
    rf__kb_be32(k, c->prog);
    rf__kb_str(k, referrer);
    rf__kb_u8(k, 0);
}

static void friend_slot_key(rf__actx_t *c, const char *referrer, uint64_t n, rf__kbuf_t *k)
{
    friend_key(c, referrer, k);
    uint16_t slot = (uint16_t)(n % RF_REFERRAL_FRIENDS_MAX);
    uint8_t b[2] = {(uint8_t)(slot >> 8), (uint8_t)slot};
    rf__kb_put(k, b, 2);
}

static void friend_idx_key(rf__actx_t *c, const char *friend_, rf__kbuf_t *k)
{
    rf__kb_init(k, RF__PK_FRIENDIX);
    rf__kb_be32(k, c->prog);
    rf__kb_str(k, friend_);
}

/* Loads friend_'s entry: RF_ERR_NOT_FOUND when the friend has none (not
 * attributed, or dropped out of its referrer's ring). */
static rf_err_t friend_get(rf__actx_t *c, const char *friend_, rf__kbuf_t *k, friend_ent_t *e)
{
    rf__kbuf_t ik;
    const uint8_t *v;
    size_t vl;
    friend_idx_key(c, friend_, &ik);
    rf_err_t err = rf__pj_get(c->p, ik.b, ik.n, &v, &vl);
    if (err != RF_OK) return err;
    if (vl < 9 || vl > 8 + RF_FACT_VAL_MAX) return RF_ERR_CORRUPT;
    char referrer[RF_FACT_VAL_MAX + 1];
    uint64_t n = rf_be64_get(v);
    memcpy(referrer, v + 8, vl - 8);
    referrer[vl - 8] = '\0';
    friend_slot_key(c, referrer, n, k);
    if ((err = rf__pj_get(c->p, k->b, k->n, &v, &vl)) != RF_OK) return err;
    if (!friend_decode(v, vl, e)) return RF_ERR_CORRUPT;
    return e->n == n && !strcmp(e->friend_, friend_) ? RF_OK : RF_ERR_NOT_FOUND;
}

static void friend_put(rf__actx_t *c, const rf__kbuf_t *k, const friend_ent_t *e)
{
    uint8_t v[RF__FRIEND_VAL_MAX];
    rf__pj_put(c->p, k->b, k->n, v, friend_encode(e, v));
}

/* An attributed signup (or a guest's referred purchase): the friend joins
 * its referrer's ring, replacing the oldest when full. */
static rf_err_t friend_add(rf__actx_t *c, const char *friend_, const char *referrer, uint8_t status)
{
    rf__kbuf_t k, ck, ik;
    friend_ent_t e;
    rf_err_t err = friend_get(c, friend_, &k, &e);
    if (err != RF_ERR_NOT_FOUND) return err; /* already there (a repeat signup) */
    int64_t total = 0;
    friend_key(c, referrer, &ck);
    if ((err = rf__pj_add(c->p, ck.b, ck.n, 1, &total)) != RF_OK) return err;
    uint64_t n = (uint64_t)total - 1;
    friend_slot_key(c, referrer, n, &k);
    const uint8_t *v;
    size_t vl;
    err = rf__pj_get(c->p, k.b, k.n, &v, &vl);
    if (err == RF_OK) { /* the slot's friend drops out of the ring */
        if (!friend_decode(v, vl, &e)) return RF_ERR_CORRUPT;
        friend_idx_key(c, e.friend_, &ik);
        rf__pj_del(c->p, ik.b, ik.n);
    } else if (err != RF_ERR_NOT_FOUND) {
        return err;
    }
    memset(&e, 0, sizeof e);
    e.n = n;
    e.signed_ms = c->rec->occurred_at_ms;
    e.status = status;
    rf_strlcpy(e.friend_, friend_, sizeof e.friend_);
    friend_put(c, &k, &e);
    uint8_t iv[8 + RF_FACT_VAL_MAX];
    size_t rl = strnlen(referrer, RF_FACT_VAL_MAX);
    rf_be64_put(iv, n);
    memcpy(iv + 8, referrer, rl);
    friend_idx_key(c, friend_, &ik);
    rf__pj_put(c->p, ik.b, ik.n, iv, 8 + rl);
    return RF_OK;
}

/* What a record of friend_ changes in its entry. */
static rf_err_t friend_update(rf__actx_t *c, const char *friend_)
{
    if (!*friend_) return RF_OK;
    rf__kbuf_t k;
    friend_ent_t e;
    rf_err_t err = friend_get(c, friend_, &k, &e);
    if (err == RF_ERR_NOT_FOUND) return RF_OK;
    if (err != RF_OK) return err;
    const rf_record_t *r = c->rec;
    const char *kind = r->kind, *role = rf__pa_fact(r, RF_FACT_ROLE);
    bool referrer_reward = !strcmp(role, "referrer");
    if (!strcmp(kind, RF_KIND_PURCHASE)) {
        if (e.status < RF__FS_PURCHASED) e.status = RF__FS_PURCHASED;
    } else if (!strcmp(kind, RF_KIND_REWARD) && referrer_reward) {
        char assets[ASSETS_MAX][RF_ASSET_MAX + 1];
        int64_t amounts[ASSETS_MAX], hold = 0;
        int na = net_by_asset(r, NULL, assets, amounts);
        e.status = RF__FS_PENDING;
        e.amount = 0;
        e.asset[0] = '\0';
        for (int i = 0; i < na && !e.asset[0]; i++)
            if (amounts[i]) {
                rf_strlcpy(e.asset, assets[i], sizeof e.asset);
                e.amount = amounts[i];
            }
        if (rf__pa_parse_i64(rf__pa_fact(r, RF_FACT_HOLD_UNTIL), &hold)) e.hold_ms = hold;
    } else if (!strcmp(kind, RF_KIND_MATURED) && referrer_reward) {
        e.status = RF__FS_AVAILABLE;
    } else if ((!strcmp(kind, RF_KIND_VOID) || !strcmp(kind, RF_KIND_CLAWBACK)) &&
               referrer_reward) {
        e.status = RF__FS_REVERSED;
    } else if (!strcmp(kind, RF_KIND_REVIEW)) {
        if (!strcmp(rf__pa_fact(r, FACT_STATUS), "held"))
            e.flags |= RF__FF_IN_REVIEW;
        else
            e.flags &= (uint8_t)~RF__FF_IN_REVIEW;
    } else {
        return RF_OK;
    }
    friend_put(c, &k, &e);
    return RF_OK;
}

/* The friends model for one record: signups and guest purchases add a
 * friend; purchases, the referrer's rewards and reviews move its status. */
static rf_err_t friends_apply(rf__actx_t *c)
{
    const rf_record_t *r = c->rec;
    const char *kind = r->kind, *user = rf__pa_fact(r, RF_FACT_USER),
               *referrer = rf__pa_fact(r, RF_FACT_REFERRER);
    if (!strcmp(kind, RF_KIND_SIGNUP)) {
        if (!*user || !*referrer || !signup_attributed(r) || !strcmp(user, referrer)) return RF_OK;
        return friend_add(c, user, referrer, RF__FS_SIGNED_UP);
    }
    if (!strcmp(kind, RF_KIND_PURCHASE)) {
        if (!*user || strcmp(rf__pa_fact(r, RF_FACT_REFERRED), "1") != 0) return RF_OK;
        bool guest = rf_record_get_fact(r, FACT_ATTRIBUTION) != NULL; /* no signup before */
        rf_err_t err = guest && *referrer && strcmp(user, referrer)
                           ? friend_add(c, user, referrer, RF__FS_PURCHASED)
                           : RF_OK;
        return err != RF_OK ? err : friend_update(c, user);
    }
    if (!strcmp(kind, RF_KIND_REWARD) || !strcmp(kind, RF_KIND_MATURED) ||
        !strcmp(kind, RF_KIND_VOID) || !strcmp(kind, RF_KIND_CLAWBACK) ||
        !strcmp(kind, RF_KIND_REVIEW))
        return friend_update(c, rf__pa_fact(r, RF_FACT_FRIEND));
    return RF_OK;
}

static rf_err_t apply_kind(rf__actx_t *c)
{
    const char *kind = c->rec->kind;
    if (!strcmp(kind, RF_KIND_CODE)) return on_code(c);
    if (!strcmp(kind, RF_KIND_SHARE)) return on_share(c);
    if (!strcmp(kind, RF_KIND_PROGRAM)) return on_program(c);
    if (!strcmp(kind, RF_KIND_CLICK)) return on_click(c);
    if (!strcmp(kind, RF_KIND_SIGNUP)) return on_signup(c);
    if (!strcmp(kind, RF_KIND_PURCHASE)) return on_purchase(c);
    if (!strcmp(kind, RF_KIND_REWARD)) {
        rf_err_t err = on_reward(c);
        if (err == RF_OK && !strcmp(rf__pa_fact(c->rec, FACT_REVIEW), "held"))
            err = review_reward(c);
        return err;
    }
    if (!strcmp(kind, RF_KIND_REVIEW)) return on_review(c);
    if (!strcmp(kind, RF_KIND_VOID)) return on_reversal(c, RF__M_VOIDS);
    if (!strcmp(kind, RF_KIND_CLAWBACK)) return on_reversal(c, RF__M_CLAWBACKS);
    if (!strcmp(kind, RF_KIND_REJECTED))
        return rf__pa_stat4(c, c->per, RF__M_REJECTED, NULL, NULL, 1);
    if (!strcmp(kind, RF_KIND_REFUND)) return rf__pa_stat4(c, c->per, RF__M_REFUNDS, NULL, NULL, 1);
    if (!strcmp(kind, RF_KIND_REDEMPTION))
        return rf__pa_stat4(c, c->per, RF__M_REDEMPTIONS, NULL, NULL, 1);
    return RF_OK; /* reward_matured, adjustment, clock */
}

rf_err_t rf__project_apply_models(rf_projection_t *p, const rf_record_t *rec, rf_errbuf_t *eb)
{
    rf__actx_t c = {.p = p, .rec = rec};
    rf__pj_periods_of(rec->occurred_at_ms, c.per);
    rf_err_t err = rf__pa_apply_postings(&c);
    char name[RF__NAME_MAX];
    if (err == RF_OK && rec->program_id[0])
        err = rf__pj_intern(p, name, rf__pj_name_program(name, rec->program_id), true, &c.prog);
    if (err == RF_OK && rec->program_id[0]) err = apply_kind(&c);
    if (err == RF_OK && rec->program_id[0]) err = friends_apply(&c);
    /* a review record repeats the checks of its event's signup or purchase:
     * count each decision once, where it was made */
    const char *checks = rf_record_get_fact(rec, RF_FACT_CHECKS);
    if (err == RF_OK && checks && rec->program_id[0] && strcmp(rec->kind, RF_KIND_REVIEW) != 0)
        err = on_checks(&c, checks);
    if (err != RF_OK && !p->failed)
        return rf_errf(eb, err, "ledger partition %d seq %llu (%s): inconsistent read model state",
                       (int)p->partition, (unsigned long long)rec->seq, rec->kind);
    return err;
}
