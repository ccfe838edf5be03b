/* rf_project_apply.c: the read models: how one ledger record changes the
 * balances, the code index, the leaderboards and the funnel counters
 * (docs/projections.md has the rules and the key layout). */
#include <stdlib.h>
#include <string.h>

#include "rf_fold.h"
#include "rf_project_int.h"

#define KEY_MAX 512

typedef struct kbuf {
    uint8_t b[KEY_MAX];
    size_t n;
} kbuf_t;

static void kb_init(kbuf_t *k, char prefix)
{
    k->b[0] = (uint8_t)prefix;
    k->n = 1;
}
static void kb_put(kbuf_t *k, const void *p, size_t n)
{
    RF_ASSERT(k->n + n <= KEY_MAX); /* ids are bounded by RF_ID_MAX */
    memcpy(k->b + k->n, p, n);
    k->n += n;
}
static void kb_str(kbuf_t *k, const char *s)
{
    kb_put(k, s, strnlen(s, RF_FACT_VAL_MAX));
}
static void kb_u8(kbuf_t *k, uint8_t v)
{
    kb_put(k, &v, 1);
}
static void kb_be32(kbuf_t *k, uint32_t v)
{
    uint8_t b[4];
    rf_be32_put(b, v);
    kb_put(k, b, 4);
}
static void kb_period(kbuf_t *k, rf__period_t p)
{
    uint8_t b[RF__PERIOD_LEN];
    rf__pj_period_put(b, p);
    kb_put(k, b, sizeof b);
}

/* The summary keys a record loaded (a purchase loads its user's 'F' key up
 * to ~15 times, a referral its 'U' keys once per period): later loads reuse
 * the slot without hashing and probing the cache again. A slot stays valid
 * until the next commit, and commits happen between records only. */
#define SLOT_MEMO     4
#define SLOT_MEMO_KEY (1 + 4 + RF_FACT_VAL_MAX) /* prefix, id, user */
typedef struct slot_memo {
    uint8_t key[SLOT_MEMO_KEY];
    size_t klen;
    rf__pj_slot_t *slot;
} slot_memo_t;

/* One record being applied. */
typedef struct actx {
    rf_projection_t *p;
    const rf_record_t *rec;
    uint32_t prog;       /* interned program id */
    rf__period_t per[4]; /* all, day, week, month of the record's time */
    int nmemo, next_memo;
    slot_memo_t memo[SLOT_MEMO];
} actx_t;

/* rf__pj_slot through the record's memo. */
static rf_err_t memo_slot(actx_t *c, const kbuf_t *k, rf__pj_slot_t **slot)
{
    for (int i = 0; i < c->nmemo; i++) {
        const slot_memo_t *m = &c->memo[i];
        if (m->klen == k->n && memcmp(m->key, k->b, k->n) == 0) {
            *slot = m->slot;
            return RF_OK;
        }
    }
    rf_err_t err = rf__pj_slot(c->p, k->b, k->n, slot);
    if (err != RF_OK || k->n > SLOT_MEMO_KEY) return err;
    slot_memo_t *m = &c->memo[c->next_memo];
    c->next_memo = (c->next_memo + 1) % SLOT_MEMO;
    if (c->nmemo < SLOT_MEMO) c->nmemo++;
    m->klen = k->n;
    memcpy(m->key, k->b, k->n);
    m->slot = *slot;
    RF_ASSERT(c->nmemo <= SLOT_MEMO);
    return RF_OK;
}

static const char *fact(const rf_record_t *rec, const char *key)
{
    const char *v = rf_record_get_fact(rec, key);
    return v ? v : "";
}

/* Strict decimal int64 (facts are text); false when malformed. */
static bool parse_i64(const char *s, int64_t *out)
{
    if (!*s) return false;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (*end != '\0' || v < -RF_AMOUNT_MAX || v > RF_AMOUNT_MAX) return false;
    *out = v;
    return true;
}

/* ---- balances ---------------------------------------------------------- */

static rf_err_t apply_postings(actx_t *c)
{
    const rf_record_t *rec = c->rec;
    for (uint32_t i = 0; i < rec->npostings; i++) {
        const rf_posting_t *po = &rec->postings[i];
        if (po->bucket >= RF_BUCKET__COUNT) return RF_ERR_CORRUPT;
        kbuf_t k;
        kb_init(&k, RF__PK_BAL);
        kb_str(&k, po->owner);
        kb_u8(&k, 0);
        kb_str(&k, rec->program_id);
        kb_u8(&k, 0);
        kb_str(&k, po->asset);
        uint8_t v[RF__BAL_VAL_LEN] = {0};
        const uint8_t *cur;
        size_t vl;
        rf__pj_slot_t *slot;
        rf_err_t err = rf__pj_slot(c->p, k.b, k.n, &slot);
        if (err != RF_OK) return err;
        if (rf__pj_slot_value(slot, &cur, &vl)) {
            if (vl != sizeof v) return RF_ERR_CORRUPT;
            memcpy(v, cur, sizeof v);
        }
        int64_t b = (int64_t)rf_be64_get(v + 8 * po->bucket);
        if (!rf__pj_add_ok(b, po->amount_minor, &b)) return RF_ERR_CORRUPT;
        rf_be64_put(v + 8 * po->bucket, (uint64_t)b);
        rf__pj_slot_set(c->p, slot, v, sizeof v);
    }
    return RF_OK;
}

/* ---- funnel counters --------------------------------------------------- */

/* Adds delta to metric in one period, for all channels ("") and, when
 * channel is set, for that channel too. */
static rf_err_t stat1(actx_t *c, rf__period_t per, int metric, const char *channel,
                      const char *tail, int64_t delta)
{
    RF_ASSERT(rf__pj_metric_name(metric) != NULL);
    for (int pass = 0; pass < 2; pass++) {
        const char *ch = pass == 0 ? "" : channel;
        if (pass == 1 && (!channel || !*channel)) break;
        kbuf_t k;
        kb_init(&k, RF__PK_STAT);
        kb_be32(&k, c->prog);
        kb_period(&k, per);
        kb_u8(&k, (uint8_t)metric);
        kb_str(&k, ch);
        kb_u8(&k, 0);
        kb_str(&k, tail ? tail : "");
        rf_err_t err = rf__pj_add(c->p, k.b, k.n, delta, NULL);
        if (err != RF_OK) return err;
    }
    return RF_OK;
}

/* The same in the four periods of pers. */
static rf_err_t stat4(actx_t *c, const rf__period_t pers[4], int metric, const char *channel,
                      const char *tail, int64_t delta)
{
    for (int i = 0; i < 4; i++) {
        rf_err_t err = stat1(c, pers[i], metric, channel, tail, delta);
        if (err != RF_OK) return err;
    }
    return RF_OK;
}

/* ---- per-user period summaries (rf_project_int.h) ----------------------- */

/* A user's summary key, loaded into the cache and decoded. Load it again
 * after anything else may have changed the same key. */
typedef struct sumref {
    rf__pj_slot_t *slot;
    rf__pj_sum_t sum;
    uint8_t id[4]; /* program or series id */
    const char *user;
    char old_prefix;
    uint8_t plen;
    bool zero_is_absent; /* flags: a zero entry need not be spilled */
    bool has_tail;       /* flags: the user's profile follows the summary */
} sumref_t;

static rf_err_t sum_load(actx_t *c, char prefix, char old_prefix, uint32_t id, const char *user,
                         size_t plen, sumref_t *s)
{
    RF_ASSERT(plen >= 1 && plen <= RF__SUM_PAYLOAD_MAX);
    kbuf_t k;
    kb_init(&k, prefix);
    kb_be32(&k, id);
    kb_str(&k, user);
    memset(s, 0, sizeof *s);
    rf_be32_put(s->id, id);
    s->user = user;
    s->old_prefix = old_prefix;
    s->plen = (uint8_t)plen;
    s->zero_is_absent = s->has_tail = prefix == RF__PK_FLAGS;
    rf_err_t err = memo_slot(c, &k, &s->slot);
    if (err != RF_OK) return err;
    const uint8_t *v;
    size_t vl;
    if (!rf__pj_slot_value(s->slot, &v, &vl)) return RF_OK;
    if (s->has_tail && vl > RF__SUM_LEN(plen)) vl = RF__SUM_LEN(plen); /* profile: prof_* */
    return rf__pj_sum_decode(v, vl, plen, &s->sum) ? RF_OK : RF_ERR_CORRUPT;
}

static void sum_old_key(kbuf_t *k, const sumref_t *s, rf__period_t per)
{
    kb_init(k, s->old_prefix);
    kb_put(k, s->id, 4);
    kb_period(k, per);
    kb_str(k, s->user);
}

/* The entry of period per into payload; *present is false when it has none. */
static rf_err_t sum_get(actx_t *c, const sumref_t *s, rf__period_t per, uint8_t *payload,
                        bool *present)
{
    *present = false;
    rf__sum_where_t where = rf__pj_sum_where(&s->sum, per);
    if (where == RF__SUM_ABSENT) return RF_OK;
    if (where == RF__SUM_HERE) {
        memcpy(payload, s->sum.payload[rf__pj_sum_index(per.type)], s->plen);
        *present = true;
        return RF_OK;
    }
    kbuf_t k;
    sum_old_key(&k, s, per);
    const uint8_t *v;
    size_t vl;
    rf_err_t err = rf__pj_get(c->p, k.b, k.n, &v, &vl);
    if (err == RF_ERR_NOT_FOUND) return RF_OK;
    if (err != RF_OK) return err;
    if (vl != s->plen) return RF_ERR_CORRUPT;
    memcpy(payload, v, vl);
    *present = true;
    return RF_OK;
}

/* Sets the entry of period per. A later period takes the slot, spilling the
 * slot's entry to its old key first; an earlier one goes to its old key. */
static void sum_set(actx_t *c, sumref_t *s, rf__period_t per, const uint8_t *payload)
{
    int i = rf__pj_sum_index(per.type);
    rf__sum_where_t where = rf__pj_sum_where(&s->sum, per);
    kbuf_t k;
    if (where == RF__SUM_OLD) {
        sum_old_key(&k, s, per);
        rf__pj_put(c->p, k.b, k.n, payload, s->plen);
        return;
    }
    if (where == RF__SUM_ABSENT && (s->sum.mask & (1u << i))) {
        bool zero = s->zero_is_absent && s->plen == 1 && s->sum.payload[i][0] == 0;
        if (!zero) {
            sum_old_key(&k, s, (rf__period_t){per.type, s->sum.value[i]});
            rf__pj_put(c->p, k.b, k.n, s->sum.payload[i], s->plen);
        }
    }
    s->sum.mask |= (uint8_t)(1u << i);
    s->sum.value[i] = per.value;
    memcpy(s->sum.payload[i], payload, s->plen);
    uint8_t v[RF__SUM_LEN(RF__SUM_PAYLOAD_MAX) + RF__PROF_TAIL_MAX];
    size_t n = rf__pj_sum_encode(&s->sum, s->plen, v);
    const uint8_t *cur;
    size_t cl;
    if (s->has_tail && rf__pj_slot_value(s->slot, &cur, &cl) && cl > n) { /* keep the profile */
        RF_ASSERT(cl - n <= RF__PROF_TAIL_MAX);
        memcpy(v + n, cur + n, cl - n);
        n = cl;
    }
    rf__pj_slot_set(c->p, s->slot, v, n);
    RF_ASSERT(rf__pj_sum_where(&s->sum, per) == RF__SUM_HERE);
}

/* Per-user flags of a period: sets `flag` (0: read only), returns whether it
 * was new. */
static rf_err_t flag_set(actx_t *c, rf__period_t per, const char *user, uint8_t flag, bool *was_new,
                         uint8_t *flags_out)
{
    sumref_t s;
    uint8_t f = 0;
    bool present;
    rf_err_t err = sum_load(c, RF__PK_FLAGS, RF__PK_FLAGS_OLD, c->prog, user, 1, &s);
    if (err == RF_OK) err = sum_get(c, &s, per, &f, &present);
    if (err != RF_OK) return err;
    *was_new = (f & flag) == 0;
    if (*was_new && flag) {
        f |= flag;
        sum_set(c, &s, per, &f);
    }
    if (flags_out) *flags_out = f;
    return RF_OK;
}

/* ---- per-user profile (the tail of the 'F' key) --------------------------
 * Two strings the funnel needs about a user live after the user's flags
 * summary (rf_project_int.h): the channel of the user's last share and the
 * referrer of the user's attributed signup. The stories that set them write
 * the user's 'F' key anyway, so they cost no key of their own per commit. */
_Static_assert(RF__PROF_FIELD_MAX <= 255, "a profile field's length is one byte");
typedef struct prof {
    const uint8_t *val; /* the whole 'F' value (NULL: absent) */
    size_t vl;
    const uint8_t *field[RF__PROF_FIELDS];
    size_t flen[RF__PROF_FIELDS];
} prof_t;

static rf_err_t prof_load(actx_t *c, const char *user, rf__pj_slot_t **slot, prof_t *pr)
{
    kbuf_t k;
    kb_init(&k, RF__PK_FLAGS);
    kb_be32(&k, c->prog);
    kb_str(&k, user);
    memset(pr, 0, sizeof *pr);
    rf_err_t err = memo_slot(c, &k, slot);
    if (err != RF_OK || !rf__pj_slot_value(*slot, &pr->val, &pr->vl)) {
        pr->val = NULL;
        return err;
    }
    if (pr->vl < RF__SUM_LEN(1)) return RF_ERR_CORRUPT;
    size_t at = RF__SUM_LEN(1);
    for (int i = 0; i < RF__PROF_FIELDS && at < pr->vl; i++) {
        size_t n = pr->val[at];
        if (at + 1 + n > pr->vl) return RF_ERR_CORRUPT;
        pr->field[i] = pr->val + at + 1;
        pr->flen[i] = n;
        at += 1 + n;
    }
    return at == pr->vl || at == RF__SUM_LEN(1) ? RF_OK : RF_ERR_CORRUPT;
}

/* Field i of user's profile into out ("" when unset). */
static rf_err_t prof_get(actx_t *c, const char *user, int i, char *out, size_t cap)
{
    rf__pj_slot_t *slot;
    prof_t pr;
    out[0] = '\0';
    rf_err_t err = prof_load(c, user, &slot, &pr);
    if (err != RF_OK || !pr.flen[i]) return err;
    if (pr.flen[i] >= cap) return RF_ERR_CORRUPT;
    memcpy(out, pr.field[i], pr.flen[i]);
    out[pr.flen[i]] = '\0';
    return RF_OK;
}

/* Sets field i of user's profile (val at most RF__PROF_FIELD_MAX bytes). */
static rf_err_t prof_set(actx_t *c, const char *user, int i, const char *val)
{
    rf__pj_slot_t *slot;
    prof_t pr;
    rf_err_t err = prof_load(c, user, &slot, &pr);
    if (err != RF_OK) return err;
    uint8_t v[RF__SUM_LEN(1) + RF__PROF_TAIL_MAX] = {0}; /* no summary yet: no flags */
    size_t n = RF__SUM_LEN(1);
    if (pr.val) memcpy(v, pr.val, n);
    for (int f = 0; f < RF__PROF_FIELDS; f++) {
        const uint8_t *src = f == i ? (const uint8_t *)val : pr.field[f];
        size_t len = f == i ? strnlen(val, RF__PROF_FIELD_MAX) : pr.flen[f];
        v[n++] = (uint8_t)len;
        if (len) memcpy(v + n, src, len);
        n += len;
    }
    RF_ASSERT(n <= sizeof v);
    rf__pj_slot_set(c->p, slot, v, n);
    return RF_OK;
}

/* Reads a string value of a (prefix, prog, name) key into out ("" if none). */
static rf_err_t get_str(actx_t *c, char prefix, const char *name, char *out, size_t cap)
{
    kbuf_t k;
    kb_init(&k, prefix);
    kb_be32(&k, c->prog);
    kb_str(&k, name);
    const uint8_t *v;
    size_t vl;
    out[0] = '\0';
    rf_err_t err = rf__pj_get(c->p, k.b, k.n, &v, &vl);
    if (err == RF_ERR_NOT_FOUND) return RF_OK;
    if (err != RF_OK) return err;
    if (vl >= cap) return RF_ERR_CORRUPT;
    memcpy(out, v, vl);
    out[vl] = '\0';
    return RF_OK;
}

static void put_str(actx_t *c, char prefix, const char *name, const char *val)
{
    kbuf_t k;
    kb_init(&k, prefix);
    kb_be32(&k, c->prog);
    kb_str(&k, name);
    rf__pj_put(c->p, k.b, k.n, val, strlen(val));
}

/* The channel of a record: its channel fact, else the referrer's last share
 * channel, else "direct" for referred activity without a share; "" when the
 * record has no referrer (organic). */
static rf_err_t resolve_channel(actx_t *c, const char *referrer, char out[RF_ID_BUF])
{
    const char *ch = fact(c->rec, RF_FACT_CHANNEL);
    out[0] = '\0';
    if (*ch) {
        rf_strlcpy(out, ch, RF_ID_BUF); /* a channel is an id: it fits */
        return RF_OK;
    }
    if (!*referrer) return RF_OK;
    rf_err_t err = prof_get(c, referrer, RF__PROF_CHANNEL, out, RF_ID_BUF);
    if (err == RF_OK && !out[0]) rf_strlcpy(out, "direct", RF_ID_BUF);
    return err;
}

/* ---- leaderboards --------------------------------------------------------
 * A board is (series, period); a user's entry is U -> (score, reached) and an
 * L key ordered by SK(score, reached). Rank nodes (R board d SK[0..d-1), for
 * 1 <= d < len) count, per next byte, the entries under each SK prefix, so a
 * rank is a sum over <= len-1 node reads (rf_query.c); R board 0 counts the
 * board's users. One node holds up to 256 prefix counts: the deep ones
 * (reached-seq bytes, a new prefix every 256 records) share a node per 65,536
 * records instead of a key each, so a commit writes a board's deep counts
 * once, not ~64 keys per 16,384 records. */

/* True when no stored board entry can have an order key starting with
 * sk[0..d): its reached-seq bytes put every such entry above the last
 * commit's applied seq (entries are stored with reached <= applied seq). New
 * entries get reached = the record's seq, so their deep prefixes are mostly
 * new keys: skipping their RocksDB reads saves a miss per board and depth. */
static bool sk_prefix_unstored(const actx_t *c, const uint8_t *sk, size_t d)
{
    size_t sl = 1 + (size_t)(8 - sk[0]); /* desc(score) */
    if (d <= sl + 1) return false;       /* no reached bytes in the prefix */
    unsigned nr = sk[sl], m = (unsigned)(d - sl - 1);
    RF_ASSERT(m < nr && nr <= 8);
    uint64_t lo = 0;
    for (unsigned i = 0; i < m; i++)
        lo = (lo << 8) | sk[sl + 1 + i];
    lo <<= 8 * (nr - m); /* the smallest reached seq under the prefix */
    return lo > c->p->stored.applied_seq;
}

/* Adds delta to the count of prefix sk[0..d) in its node (R board d
 * sk[0..d-1): sorted (byte, be32 count) pairs; a zero count is dropped, an
 * empty node deleted). */
static rf_err_t rank_node_add(actx_t *c, const uint8_t board[RF__BOARD_LEN], const uint8_t *sk,
                              size_t d, int64_t delta)
{
    RF_ASSERT(d >= 1 && delta != 0);
    kbuf_t k;
    kb_init(&k, RF__PK_RANK);
    kb_put(&k, board, RF__BOARD_LEN);
    kb_u8(&k, (uint8_t)d);
    kb_put(&k, sk, d - 1);
    rf__pj_slot_t *slot;
    rf_err_t err = sk_prefix_unstored(c, sk, d - 1) ? rf__pj_slot_new(c->p, k.b, k.n, &slot)
                                                    : rf__pj_slot(c->p, k.b, k.n, &slot);
    if (err != RF_OK) return err;
    uint8_t v[RF__RNODE_MAX];
    size_t n = 0, i = 0;
    const uint8_t *cur;
    if (rf__pj_slot_value(slot, &cur, &n)) {
        if (n % RF__RNODE_ENTRY || n > sizeof v) return RF_ERR_CORRUPT;
        memcpy(v, cur, n);
    }
    uint8_t b = sk[d - 1];
    while (i < n && v[i] < b)
        i += RF__RNODE_ENTRY;
    bool found = i < n && v[i] == b;
    int64_t cnt = (found ? (int64_t)rf_be32_get(v + i + 1) : 0) + delta;
    if (cnt < 0 || cnt > (int64_t)UINT32_MAX || (cnt == 0 && !found)) return RF_ERR_CORRUPT;
    if (cnt == 0) {
        memmove(v + i, v + i + RF__RNODE_ENTRY, n - i - RF__RNODE_ENTRY);
        n -= RF__RNODE_ENTRY;
    } else if (!found) {
        memmove(v + i + RF__RNODE_ENTRY, v + i, n - i);
        n += RF__RNODE_ENTRY;
        v[i] = b;
    }
    if (cnt > 0) rf_be32_put(v + i + 1, (uint32_t)cnt);
    if (n == 0)
        rf__pj_slot_del(c->p, slot);
    else
        rf__pj_slot_set(c->p, slot, v, n);
    RF_ASSERT(n <= sizeof v);
    return RF_OK;
}

static rf_err_t rank_counts(actx_t *c, const uint8_t board[RF__BOARD_LEN], const uint8_t *sk,
                            size_t from, size_t len, int64_t delta)
{
    for (size_t d = from; d < len; d++) {
        rf_err_t err = rank_node_add(c, board, sk, d, delta);
        if (err != RF_OK) return err;
    }
    return RF_OK;
}

static void lb_key(kbuf_t *k, const uint8_t board[RF__BOARD_LEN], const uint8_t *sk, size_t sl,
                   const char *user)
{
    kb_init(k, RF__PK_LB);
    kb_put(k, board, RF__BOARD_LEN);
    kb_put(k, sk, sl);
    kb_str(k, user);
}

/* Moves user's entry (U slot) from (old) to (score, reached) on board. */
static rf_err_t board_set(actx_t *c, const uint8_t board[RF__BOARD_LEN], const char *user,
                          sumref_t *us, rf__period_t per, bool has_old, int64_t old_score,
                          uint64_t old_reached, int64_t score, uint64_t reached)
{
    uint8_t sk0[RF__SK_MAX], sk1[RF__SK_MAX];
    size_t l0 = 0, l1 = rf__pj_sk_encode(score, reached, sk1), common = 0;
    kbuf_t k;
    rf_err_t err = RF_OK;
    if (has_old) {
        l0 = rf__pj_sk_encode(old_score, old_reached, sk0);
        while (common < l0 && common < l1 && sk0[common] == sk1[common])
            common++;
        lb_key(&k, board, sk0, l0, user);
        rf__pj_del(c->p, k.b, k.n);
        /* prefixes of length <= common are shared: their counts do not change */
        err = rank_counts(c, board, sk0, common + 1, l0, -1);
    } else {
        kb_init(&k, RF__PK_RANK);
        kb_put(&k, board, RF__BOARD_LEN);
        kb_u8(&k, 0);
        err = rf__pj_add(c->p, k.b, k.n, 1, NULL);
    }
    if (err == RF_OK) err = rank_counts(c, board, sk1, has_old ? common + 1 : 1, l1, +1);
    if (err != RF_OK) return err;
    lb_key(&k, board, sk1, l1, user);
    rf__pj_put(c->p, k.b, k.n, "", 0);
    uint8_t v[16];
    rf_be64_put(v, (uint64_t)score);
    rf_be64_put(v + 8, reached);
    sum_set(c, us, per, v);
    return RF_OK;
}

/* Adds delta to user's score on (series, per); *score gets the new score. */
static rf_err_t board_bump(actx_t *c, uint32_t series, rf__period_t per, const char *user,
                           int64_t delta, int64_t *score)
{
    uint8_t board[RF__BOARD_LEN], v[16];
    rf_be32_put(board, series);
    rf__pj_period_put(board + 4, per);
    int64_t old = 0;
    uint64_t old_reached = 0;
    sumref_t us;
    bool has_old;
    rf_err_t err = sum_load(c, RF__PK_USER, RF__PK_USER_OLD, series, user, 16, &us);
    if (err == RF_OK) err = sum_get(c, &us, per, v, &has_old);
    if (err != RF_OK) return err;
    if (has_old) {
        old = (int64_t)rf_be64_get(v);
        old_reached = rf_be64_get(v + 8);
    }
    if (!rf__pj_add_ok(old, delta, score)) return RF_ERR_CORRUPT;
    if (has_old && *score == old) return RF_OK; /* nothing moves: keep who was first */
    RF_ASSERT(c->rec->seq > 0); /* SK needs reached >= 1 to stay prefix-free per score */
    return board_set(c, board, user, &us, per, has_old, old, old_reached, *score, c->rec->seq);
}

static rf_err_t series_id(actx_t *c, char metric, const char *asset, uint32_t *id)
{
    char name[RF__NAME_MAX];
    size_t n = rf__pj_name_series(name, c->rec->program_id, metric, asset);
    return rf__pj_intern(c->p, name, n, true, id);
}

/* ---- per kind ------------------------------------------------------------ */

static rf_err_t on_code(actx_t *c)
{
    const char *user = fact(c->rec, RF_FACT_REFERRER), *code = fact(c->rec, RF_FACT_CODE);
    if (!*user) user = fact(c->rec, RF_FACT_USER);
    if (!*user || !*code) return RF_OK;
    char old[RF_FACT_VAL_MAX + 1];
    rf_err_t err = get_str(c, RF__PK_CODE, user, old, sizeof old);
    if (err != RF_OK || old[0]) return err; /* issued once per program */
    put_str(c, RF__PK_CODE, user, code);
    put_str(c, RF__PK_CODEREV, code, user);
    bool fresh;
    err = flag_set(c, c->per[0], user, RF__F_USER_HAS_CODE, &fresh, NULL);
    if (err == RF_OK) err = stat4(c, c->per, RF__M_CODES, NULL, NULL, 1);
    for (int i = 0; err == RF_OK && i < 4; i++) {
        uint8_t f;
        err = flag_set(c, c->per[i], user, 0, &fresh, &f); /* read only */
        if (err != RF_OK || !(f & RF__F_CUSTOMER) || (f & RF__F_CODE_COUNTED)) continue;
        err = flag_set(c, c->per[i], user, RF__F_CODE_COUNTED, &fresh, NULL);
        if (err == RF_OK) err = stat1(c, c->per[i], RF__M_CUST_WITH_CODE, NULL, NULL, 1);
    }
    return err;
}

static rf_err_t on_share(actx_t *c)
{
    const char *referrer = fact(c->rec, RF_FACT_REFERRER), *ch = fact(c->rec, RF_FACT_CHANNEL);
    char chid[RF_ID_BUF];
    rf_strlcpy(chid, ch, sizeof chid); /* a channel is an id (resolve_channel) */
    rf_err_t err = *referrer && *ch ? prof_set(c, referrer, RF__PROF_CHANNEL, chid) : RF_OK;
    return err == RF_OK ? stat4(c, c->per, RF__M_SHARES, *ch ? ch : NULL, NULL, 1) : err;
}

static rf_err_t on_click(actx_t *c)
{
    char referrer[RF_FACT_VAL_MAX + 1], ch[RF_ID_BUF];
    rf_strlcpy(referrer, fact(c->rec, RF_FACT_REFERRER), sizeof referrer);
    rf_err_t err = RF_OK;
    if (!referrer[0] && *fact(c->rec, RF_FACT_CODE))
        err = get_str(c, RF__PK_CODEREV, fact(c->rec, RF_FACT_CODE), referrer, sizeof referrer);
    if (err == RF_OK) err = resolve_channel(c, referrer, ch);
    if (err == RF_OK) err = stat4(c, c->per, RF__M_CLICKS, ch, NULL, 1);
    return err;
}

static bool signup_attributed(const rf_record_t *rec)
{
    const char *referred = rf_record_get_fact(rec, RF_FACT_REFERRED);
    if (referred) return strcmp(referred, "1") == 0;
    return *fact(rec, RF_FACT_REFERRER) && !rf_record_get_fact(rec, RF_FACT_REASON);
}

static rf_err_t on_signup(actx_t *c)
{
    const char *user = fact(c->rec, RF_FACT_USER), *referrer = fact(c->rec, RF_FACT_REFERRER);
    rf_err_t err = stat4(c, c->per, RF__M_SIGNUPS, NULL, NULL, 1);
    if (err != RF_OK || !signup_attributed(c->rec) || !*referrer) return err;
    char ch[RF_ID_BUF];
    if (*user) err = prof_set(c, user, RF__PROF_REFERRER, referrer);
    if (err == RF_OK) err = resolve_channel(c, referrer, ch);
    if (err == RF_OK) err = stat4(c, c->per, RF__M_ATTRIBUTED, ch, NULL, 1);
    return err;
}

/* Distinct-customer counters of one period for a purchase by user; user_f
 * holds the user's all-time flags (RF__F_USER_*). */
static rf_err_t purchase_flags(actx_t *c, rf__period_t per, const char *user, bool referred,
                               uint8_t user_f)
{
    bool fresh;
    uint8_t f;
    rf_err_t err = flag_set(c, per, user, RF__F_CUSTOMER, &fresh, &f);
    if (err == RF_OK && fresh) {
        err = stat1(c, per, RF__M_CUSTOMERS, NULL, NULL, 1);
        if (err == RF_OK && (user_f & RF__F_USER_HAS_CODE) && !(f & RF__F_CODE_COUNTED)) {
            err = flag_set(c, per, user, RF__F_CODE_COUNTED, &fresh, NULL);
            if (err == RF_OK) err = stat1(c, per, RF__M_CUST_WITH_CODE, NULL, NULL, 1);
        }
        if (err == RF_OK && (user_f & RF__F_USER_REFERRED) && !(f & RF__F_REFERRING_COUNTED)) {
            err = flag_set(c, per, user, RF__F_REFERRING_COUNTED, &fresh, NULL);
            if (err == RF_OK) err = stat1(c, per, RF__M_CUST_REFERRING, NULL, NULL, 1);
        }
    }
    if (err == RF_OK && referred) {
        err = flag_set(c, per, user, RF__F_REF_CUSTOMER, &fresh, NULL);
        if (err == RF_OK && fresh) err = stat1(c, per, RF__M_REF_CUSTOMERS, NULL, NULL, 1);
    }
    return err;
}

static rf_err_t on_purchase(actx_t *c)
{
    const char *user = fact(c->rec, RF_FACT_USER), *cur = fact(c->rec, RF_FACT_CURRENCY);
    int64_t amount = 0;
    if (!parse_i64(fact(c->rec, RF_FACT_AMOUNT), &amount) || amount < 0) amount = 0;
    bool referred = strcmp(fact(c->rec, RF_FACT_REFERRED), "1") == 0;
    rf_err_t err = stat4(c, c->per, RF__M_PURCHASES, NULL, NULL, 1);
    if (err == RF_OK && amount) err = stat4(c, c->per, RF__M_REVENUE, NULL, cur, amount);
    if (err == RF_OK && referred) {
        char referrer[RF_FACT_VAL_MAX + 1], ch[RF_ID_BUF];
        rf_strlcpy(referrer, fact(c->rec, RF_FACT_REFERRER), sizeof referrer);
        if (!referrer[0] && *user)
            err = prof_get(c, user, RF__PROF_REFERRER, referrer, sizeof referrer);
        if (err == RF_OK) err = resolve_channel(c, referrer, ch);
        if (err == RF_OK) err = stat4(c, c->per, RF__M_REF_PURCHASES, ch, NULL, 1);
        if (err == RF_OK && amount) err = stat4(c, c->per, RF__M_REF_REVENUE, ch, cur, amount);
    }
    uint8_t user_f = 0;
    bool fresh;
    if (err == RF_OK && *user) err = flag_set(c, c->per[0], user, 0, &fresh, &user_f);
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

static void memo_key(kbuf_t *k, uint64_t seq)
{
    uint8_t b[8];
    rf_be64_put(b, seq / RF__MEMO_BLOCK);
    kb_init(k, RF__PK_REWARD);
    kb_put(k, b, 8);
}

static rf_err_t memo_put(actx_t *c, const memo_t *m)
{
    _Static_assert(MEMO_MAX <= 255, "a memo's length is one byte");
    uint64_t seq = c->rec->seq, first = seq - seq % RF__MEMO_BLOCK;
    uint8_t v[RF__MEMO_BLOCK_MAX];
    size_t rl = strlen(m->referrer), cl = strlen(m->channel), n = 0;
    RF_ASSERT(rl < RF_ID_BUF && cl <= RF_ID_MAX);
    kbuf_t k;
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

static rf_err_t memo_get(actx_t *c, uint64_t seq, memo_t *m)
{
    kbuf_t k;
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
static rf_err_t value_boards(actx_t *c, const char *referrer, const rf__period_t pers[4])
{
    char assets[ASSETS_MAX][RF_ASSET_MAX + 1];
    int64_t amounts[ASSETS_MAX], score;
    int n = net_by_asset(c->rec, referrer, assets, amounts);
    for (int i = 0; i < n; i++) {
        if (amounts[i] == 0) continue;
        uint32_t sid;
        rf_err_t err = series_id(c, RF__METRIC_VALUE, assets[i], &sid);
        for (int j = 0; err == RF_OK && j < 4; j++)
            err = board_bump(c, sid, pers[j], referrer, amounts[i], &score);
        if (err != RF_OK) return err;
    }
    return RF_OK;
}

/* Reward cost (net to users) by asset, booked in pers under channel. */
static rf_err_t reward_cost(actx_t *c, const rf__period_t pers[4], const char *ch)
{
    char assets[ASSETS_MAX][RF_ASSET_MAX + 1];
    int64_t amounts[ASSETS_MAX];
    int n = net_by_asset(c->rec, NULL, assets, amounts);
    for (int i = 0; i < n; i++) {
        rf_err_t err =
            amounts[i] ? stat4(c, pers, RF__M_REWARD_COST, ch, assets[i], amounts[i]) : RF_OK;
        if (err != RF_OK) return err;
    }
    return RF_OK;
}

/* A successful referral: referral boards, active/repeat referrers and the
 * referral-rate flag, in each period of the record. */
static rf_err_t referral_boards(actx_t *c, const char *referrer)
{
    uint32_t sid;
    bool fresh;
    rf_err_t err = series_id(c, RF__METRIC_REFERRALS, "", &sid);
    if (err == RF_OK) err = flag_set(c, c->per[0], referrer, RF__F_USER_REFERRED, &fresh, NULL);
    for (int i = 0; err == RF_OK && i < 4; i++) {
        int64_t score;
        uint8_t f;
        err = board_bump(c, sid, c->per[i], referrer, 1, &score);
        if (err == RF_OK && score == 1) err = stat1(c, c->per[i], RF__M_REFERRERS, NULL, NULL, 1);
        if (err == RF_OK && score == 2)
            err = stat1(c, c->per[i], RF__M_REPEAT_REFERRERS, NULL, NULL, 1);
        if (err == RF_OK) err = flag_set(c, c->per[i], referrer, 0, &fresh, &f);
        if (err != RF_OK || !(f & RF__F_CUSTOMER) || (f & RF__F_REFERRING_COUNTED)) continue;
        err = flag_set(c, c->per[i], referrer, RF__F_REFERRING_COUNTED, &fresh, NULL);
        if (err == RF_OK) err = stat1(c, c->per[i], RF__M_CUST_REFERRING, NULL, NULL, 1);
    }
    return err;
}

static rf_err_t on_reward(actx_t *c)
{
    memo_t m = {.role = role_code(fact(c->rec, RF_FACT_ROLE)), .time_ms = c->rec->occurred_at_ms};
    rf_strlcpy(m.referrer, fact(c->rec, RF_FACT_REFERRER), sizeof m.referrer);
    rf_err_t err = resolve_channel(c, m.referrer, m.channel);
    if (err == RF_OK) err = stat4(c, c->per, RF__M_REWARDS, m.channel, NULL, 1);
    int role_metric = m.role == 'r'   ? RF__M_REFERRER_REWARDS
                      : m.role == 'f' ? RF__M_FRIEND_REWARDS
                      : m.role == 'm' ? RF__M_BONUS_REWARDS
                                      : 0;
    if (err == RF_OK && role_metric) err = stat4(c, c->per, role_metric, m.channel, NULL, 1);
    if (err == RF_OK) err = reward_cost(c, c->per, m.channel);
    if (err == RF_OK && m.referrer[0] && m.role == 'r') err = referral_boards(c, m.referrer);
    if (err == RF_OK && m.referrer[0] && (m.role == 'r' || m.role == 'm'))
        err = value_boards(c, m.referrer, c->per);
    if (err == RF_OK) err = memo_put(c, &m);
    return err;
}

/* Void or clawback: undone in the reward's own periods and channel, so a
 * period's reward cost and value boards are net of later reversals. */
static rf_err_t on_reversal(actx_t *c, int metric)
{
    memo_t m = {0};
    int64_t rseq = 0;
    rf_err_t err = RF_ERR_NOT_FOUND;
    if (parse_i64(fact(c->rec, RF_FACT_REVERSES), &rseq) && rseq > 0)
        err = memo_get(c, (uint64_t)rseq, &m);
    if (err == RF_ERR_NOT_FOUND) { /* no memo: book it now, from its own facts */
        m.role = role_code(fact(c->rec, RF_FACT_ROLE));
        m.time_ms = c->rec->occurred_at_ms;
        rf_strlcpy(m.referrer, fact(c->rec, RF_FACT_REFERRER), sizeof m.referrer);
        err = resolve_channel(c, m.referrer, m.channel);
    }
    if (err != RF_OK) return err;
    rf__period_t pers[4];
    rf__pj_periods_of(m.time_ms, pers);
    err = stat4(c, pers, metric, m.channel, NULL, 1);
    if (err == RF_OK) err = reward_cost(c, pers, m.channel);
    if (err == RF_OK && m.referrer[0] && (m.role == 'r' || m.role == 'm'))
        err = value_boards(c, m.referrer, pers);
    return err;
}

/* Fraud: "name=result[:action],..." from the checks fact; a failed check
 * counts as a rejection or a review by its action. */
static rf_err_t on_checks(actx_t *c, const char *checks)
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
        rf_err_t err = stat4(c, c->per, metric, NULL, item, 1);
        if (err != RF_OK) return err;
    }
    return RF_OK;
}

static rf_err_t apply_kind(actx_t *c)
{
    const char *kind = c->rec->kind;
    if (!strcmp(kind, RF_KIND_CODE)) return on_code(c);
    if (!strcmp(kind, RF_KIND_SHARE)) return on_share(c);
    if (!strcmp(kind, RF_KIND_CLICK)) return on_click(c);
    if (!strcmp(kind, RF_KIND_SIGNUP)) return on_signup(c);
    if (!strcmp(kind, RF_KIND_PURCHASE)) return on_purchase(c);
    if (!strcmp(kind, RF_KIND_REWARD)) return on_reward(c);
    if (!strcmp(kind, RF_KIND_VOID)) return on_reversal(c, RF__M_VOIDS);
    if (!strcmp(kind, RF_KIND_CLAWBACK)) return on_reversal(c, RF__M_CLAWBACKS);
    if (!strcmp(kind, RF_KIND_REJECTED)) return stat4(c, c->per, RF__M_REJECTED, NULL, NULL, 1);
    if (!strcmp(kind, RF_KIND_REFUND)) return stat4(c, c->per, RF__M_REFUNDS, NULL, NULL, 1);
    if (!strcmp(kind, RF_KIND_REDEMPTION))
        return stat4(c, c->per, RF__M_REDEMPTIONS, NULL, NULL, 1);
    return RF_OK; /* program_configured, reward_matured, review, adjustment, clock */
}

rf_err_t rf__project_apply_models(rf_projection_t *p, const rf_record_t *rec, rf_errbuf_t *eb)
{
    actx_t c = {.p = p, .rec = rec};
    rf__pj_periods_of(rec->occurred_at_ms, c.per);
    rf_err_t err = apply_postings(&c);
    char name[RF__NAME_MAX];
    if (err == RF_OK && rec->program_id[0])
        err = rf__pj_intern(p, name, rf__pj_name_program(name, rec->program_id), true, &c.prog);
    if (err == RF_OK && rec->program_id[0]) err = apply_kind(&c);
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
