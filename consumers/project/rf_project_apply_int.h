/* rf_project_apply_int.h: internals of the read models shared by
 * rf_project_apply.c (keys, counters, summaries, profiles, leaderboards) and
 * rf_project_apply_kinds.c (what each record kind changes). */
#ifndef RF_PROJECT_APPLY_INT_H
#define RF_PROJECT_APPLY_INT_H

#include <stdlib.h>
#include <string.h>

#include "rf_fold.h"
#include "rf_project_int.h"

#define RF__PA_KEY_MAX 512

typedef struct rf__kbuf {
    uint8_t b[RF__PA_KEY_MAX];
    size_t n;
} rf__kbuf_t;

static inline void rf__kb_init(rf__kbuf_t *k, char prefix)
{
    k->b[0] = (uint8_t)prefix;
    k->n = 1;
}
static inline void rf__kb_put(rf__kbuf_t *k, const void *p, size_t n)
{
    RF_ASSERT(k->n + n <= RF__PA_KEY_MAX); /* ids are bounded by RF_ID_MAX */
    memcpy(k->b + k->n, p, n);
    k->n += n;
}
static inline void rf__kb_str(rf__kbuf_t *k, const char *s)
{
    rf__kb_put(k, s, strnlen(s, RF_FACT_VAL_MAX));
}
static inline void rf__kb_u8(rf__kbuf_t *k, uint8_t v)
{
    rf__kb_put(k, &v, 1);
}
static inline void rf__kb_be32(rf__kbuf_t *k, uint32_t v)
{
    uint8_t b[4];
    rf_be32_put(b, v);
    rf__kb_put(k, b, 4);
}
static inline void rf__kb_period(rf__kbuf_t *k, rf__period_t p)
{
    uint8_t b[RF__PERIOD_LEN];
    rf__pj_period_put(b, p);
    rf__kb_put(k, b, sizeof b);
}

/* The summary keys a record loaded (a purchase loads its user's 'F' key up
 * to ~15 times, a referral its 'U' keys once per period): later loads reuse
 * the slot without hashing and probing the cache again. A slot stays valid
 * until the next commit, and commits happen between records only. */
#define RF__PA_SLOT_MEMO     4
#define RF__PA_SLOT_MEMO_KEY (1 + 4 + RF_FACT_VAL_MAX) /* prefix, id, user */
typedef struct rf__slot_memo {
    uint8_t key[RF__PA_SLOT_MEMO_KEY];
    size_t klen;
    rf__pj_slot_t *slot;
} rf__slot_memo_t;

/* One record being applied. */
typedef struct rf__actx {
    rf_projection_t *p;
    const rf_record_t *rec;
    uint32_t prog;       /* interned program id */
    rf__period_t per[4]; /* all, day, week, month of the record's time */
    int nmemo, next_memo;
    rf__slot_memo_t memo[RF__PA_SLOT_MEMO];
} rf__actx_t;

/* A fact of the record, "" when it has none. */
static inline const char *rf__pa_fact(const rf_record_t *rec, const char *key)
{
    const char *v = rf_record_get_fact(rec, key);
    return v ? v : "";
}

/* Strict decimal int64 (facts are text); false when malformed. */
static inline bool rf__pa_parse_i64(const char *s, int64_t *out)
{
    if (!*s) return false;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (*end != '\0' || v < -RF_AMOUNT_MAX || v > RF_AMOUNT_MAX) return false;
    *out = v;
    return true;
}

/* The record's postings into the balances. */
rf_err_t rf__pa_apply_postings(rf__actx_t *c);
/* Adds delta to user's score on (series, per); *score gets the new score. */
rf_err_t rf__pa_board_bump(rf__actx_t *c, uint32_t series, rf__period_t per, const char *user,
                           int64_t delta, int64_t *score);
/* Per-user flags of a period: sets `flag` (0: read only), returns whether it
 * was new. */
rf_err_t rf__pa_flag_set(rf__actx_t *c, rf__period_t per, const char *user, uint8_t flag,
                         bool *was_new, uint8_t *flags_out);
/* Reads a string value of a (prefix, prog, name) key into out ("" if none). */
rf_err_t rf__pa_get_str(rf__actx_t *c, char prefix, const char *name, char *out, size_t cap);
/* Field i of user's profile into out ("" when unset). */
rf_err_t rf__pa_prof_get(rf__actx_t *c, const char *user, int i, char *out, size_t cap);
/* Sets field i of user's profile (val at most RF__PROF_FIELD_MAX bytes). */
rf_err_t rf__pa_prof_set(rf__actx_t *c, const char *user, int i, const char *val);
/* Writes a string value of a (prefix, prog, name) key. */
void rf__pa_put_str(rf__actx_t *c, char prefix, const char *name, const char *val);
/* The channel of a record: its channel fact, else the referrer's last share
 * channel, else "direct" for referred activity without a share; "" when the
 * record has no referrer (organic). */
rf_err_t rf__pa_resolve_channel(rf__actx_t *c, const char *referrer, char out[RF_ID_BUF]);
/* The interned id of the record program's leaderboard series (metric, asset). */
rf_err_t rf__pa_series_id(rf__actx_t *c, char metric, const char *asset, uint32_t *id);
/* Adds delta to metric in one period, for all channels ("") and, when
 * channel is set, for that channel too. */
rf_err_t rf__pa_stat1(rf__actx_t *c, rf__period_t per, int metric, const char *channel,
                      const char *tail, int64_t delta);
/* The same in the four periods of pers. */
rf_err_t rf__pa_stat4(rf__actx_t *c, const rf__period_t pers[4], int metric, const char *channel,
                      const char *tail, int64_t delta);

#endif
