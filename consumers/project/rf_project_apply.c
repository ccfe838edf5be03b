/* rf_project_apply.c: the read models' building blocks: keys, balances,
 * funnel counters, per-user summaries and profiles, leaderboards; what each
 * record kind does with them is rf_project_apply_kinds.c (docs/projections.md
 * has the rules and the key layout). */
#include <stdlib.h>
#include <string.h>

#include "rf_project_apply_int.h"

/* rf__pj_slot through the record's memo. */
static rf_err_t memo_slot(rf__actx_t *c, const rf__kbuf_t *k, rf__pj_slot_t **slot)
{
    for (int i = 0; i < c->nmemo; i++) {
        const rf__slot_memo_t *m = &c->memo[i];
        if (m->klen == k->n && memcmp(m->key, k->b, k->n) == 0) {
            *slot = m->slot;
            return RF_OK;
        }
    }
    rf_err_t err = rf__pj_slot(c->p, k->b, k->n, slot);
    if (err != RF_OK || k->n > RF__PA_SLOT_MEMO_KEY) return err;
    rf__slot_memo_t *m = &c->memo[c->next_memo];
    c->next_memo = (c->next_memo + 1) % RF__PA_SLOT_MEMO;
    if (c->nmemo < RF__PA_SLOT_MEMO) c->nmemo++;
    m->klen = k->n;
    memcpy(m->key, k->b, k->n);
    m->slot = *slot;
    RF_ASSERT(c->nmemo <= RF__PA_SLOT_MEMO);
    return RF_OK;
}

/* ---- balances ---------------------------------------------------------- */

rf_err_t rf__pa_apply_postings(rf__actx_t *c)
{
    const rf_record_t *rec = c->rec;
    for (uint32_t i = 0; i < rec->npostings; i++) {
        const rf_posting_t *po = &rec->postings[i];
        if (po->bucket >= RF_BUCKET__COUNT) return RF_ERR_CORRUPT;
        rf__kbuf_t k;
        rf__kb_init(&k, RF__PK_BAL);
        rf__kb_str(&k, po->owner);
        rf__kb_u8(&k, 0);
        rf__kb_str(&k, rec->program_id);
        rf__kb_u8(&k, 0);
        rf__kb_str(&k, po->asset);
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

/* Deferred adds (rf__pj_add_later): the funnel counters take ~60% of a
 * record's cache lookups (four periods, all channels and the record's) and
 * nothing reads them while applying, so their deltas gather in a small open
 * addressing table (a few thousand hot keys per batch: it stays in the CPU
 * caches) and each key goes through the cache once per commit. */
typedef struct dq_entry {
    uint32_t hash, koff; /* koff: the key's offset in keys */
    uint16_t klen;
    bool nonzero; /* a non-zero delta was added: the commit writes the key */
    int64_t delta;
} dq_entry_t;

struct rf__dq {
    dq_entry_t *tab;
    size_t cap, count; /* cap: power of two, at least twice count */
    uint8_t *keys;
    size_t kused, kcap;
};

static bool dq_grow(rf__dq_t *q)
{
    size_t nc = q->cap ? 2 * q->cap : 4096;
    dq_entry_t *t = calloc(nc, sizeof *t);
    if (!t) return false;
    for (size_t i = 0; i < q->cap; i++) {
        if (!q->tab[i].klen) continue;
        size_t j = q->tab[i].hash & (nc - 1);
        while (t[j].klen)
            j = (j + 1) & (nc - 1);
        t[j] = q->tab[i];
    }
    free(q->tab);
    q->tab = t;
    q->cap = nc;
    return true;
}

rf_err_t rf__pj_add_later(rf_projection_t *p, const uint8_t *k, size_t kl, int64_t delta)
{
    RF_ASSERT(kl > 0 && kl <= UINT16_MAX);
    if (delta == 0) return RF_OK; /* as rf__pj_add: nothing to write */
    /* failures are sticky, as rf__pj_add's: this record's other deltas are
     * in the batch already, so it must never be committed */
    if (!p->dq && !(p->dq = calloc(1, sizeof *p->dq)))
        return rf__pj_fail(p, "update", strdup("out of memory"));
    rf__dq_t *q = p->dq;
    if (2 * (q->count + 1) > q->cap && !dq_grow(q))
        return rf__pj_fail(p, "update", strdup("out of memory"));
    uint32_t h = rf__pj_key_hash(k, kl);
    size_t i = h & (q->cap - 1);
    for (; q->tab[i].klen; i = (i + 1) & (q->cap - 1)) {
        dq_entry_t *e = &q->tab[i];
        if (e->hash == h && e->klen == kl && memcmp(q->keys + e->koff, k, kl) == 0) {
            if (!rf__pj_add_ok(e->delta, delta, &e->delta)) /* ledger limits keep sums far */
                return rf__pj_fail(p, "update", strdup("int64 counter overflow"));
            p->dirty = true;
            return RF_OK;
        }
    }
    if (q->kused + kl > q->kcap) {
        size_t nk = q->kcap ? 2 * q->kcap : 65536;
        while (nk < q->kused + kl)
            nk *= 2;
        uint8_t *b = realloc(q->keys, nk);
        if (!b) return rf__pj_fail(p, "update", strdup("out of memory"));
        q->keys = b;
        q->kcap = nk;
    }
    memcpy(q->keys + q->kused, k, kl);
    q->tab[i] = (dq_entry_t){.hash = h,
                             .koff = (uint32_t)q->kused,
                             .klen = (uint16_t)kl,
                             .nonzero = true,
                             .delta = delta};
    q->kused += kl;
    q->count++;
    p->dirty = true;
    return RF_OK;
}

rf_err_t rf__pj_dq_flush(rf_projection_t *p)
{
    rf__dq_t *q = p->dq;
    if (!q || !q->count) return p->failed;
    for (size_t i = 0; i < q->cap && !p->failed; i++) {
        const dq_entry_t *e = &q->tab[i];
        if (!e->klen || !e->nonzero) continue;
        const uint8_t *k = q->keys + e->koff;
        rf__pj_slot_t *slot;
        /* the deltas' sum in one add; a sum of 0 still writes the key, as
         * the adds one by one would have */
        if (rf__pj_add(p, k, e->klen, e->delta, NULL) != RF_OK ||
            rf__pj_slot(p, k, e->klen, &slot) != RF_OK)
            break;
        rf__pj_slot_touch(p, slot);
    }
    memset(q->tab, 0, q->cap * sizeof *q->tab);
    q->count = 0;
    q->kused = 0;
    return p->failed;
}

size_t rf__pj_dq_count(const rf_projection_t *p)
{
    return p->dq ? p->dq->count : 0;
}

void rf__pj_dq_free(rf__dq_t *q)
{
    if (!q) return;
    free(q->tab);
    free(q->keys);
    free(q);
}

/* Adds delta to metric in one period, for all channels ("") and, when
 * channel is set, for that channel too. */
rf_err_t rf__pa_stat1(rf__actx_t *c, rf__period_t per, int metric, const char *channel,
                      const char *tail, int64_t delta)
{
    RF_ASSERT(rf__pj_metric_name(metric) != NULL);
    for (int pass = 0; pass < 2; pass++) {
        const char *ch = pass == 0 ? "" : channel;
        if (pass == 1 && (!channel || !*channel)) break;
        rf__kbuf_t k;
        rf__kb_init(&k, RF__PK_STAT);
        rf__kb_be32(&k, c->prog);
        rf__kb_period(&k, per);
        rf__kb_u8(&k, (uint8_t)metric);
        rf__kb_str(&k, ch);
        rf__kb_u8(&k, 0);
        rf__kb_str(&k, tail ? tail : "");
        rf_err_t err = rf__pj_add_later(c->p, k.b, k.n, delta);
        if (err != RF_OK) return err;
    }
    return RF_OK;
}

/* The same in the four periods of pers. */
rf_err_t rf__pa_stat4(rf__actx_t *c, const rf__period_t pers[4], int metric, const char *channel,
                      const char *tail, int64_t delta)
{
    for (int i = 0; i < 4; i++) {
        rf_err_t err = rf__pa_stat1(c, pers[i], metric, channel, tail, delta);
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

static rf_err_t sum_load(rf__actx_t *c, char prefix, char old_prefix, uint32_t id, const char *user,
                         size_t plen, sumref_t *s)
{
    RF_ASSERT(plen >= 1 && plen <= RF__SUM_PAYLOAD_MAX);
    rf__kbuf_t k;
    rf__kb_init(&k, prefix);
    rf__kb_be32(&k, id);
    rf__kb_str(&k, user);
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

static void sum_old_key(rf__kbuf_t *k, const sumref_t *s, rf__period_t per)
{
    rf__kb_init(k, s->old_prefix);
    rf__kb_put(k, s->id, 4);
    rf__kb_period(k, per);
    rf__kb_str(k, s->user);
}

/* The entry of period per into payload; *present is false when it has none. */
static rf_err_t sum_get(rf__actx_t *c, const sumref_t *s, rf__period_t per, uint8_t *payload,
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
    rf__kbuf_t k;
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
static void sum_set(rf__actx_t *c, sumref_t *s, rf__period_t per, const uint8_t *payload)
{
    int i = rf__pj_sum_index(per.type);
    rf__sum_where_t where = rf__pj_sum_where(&s->sum, per);
    rf__kbuf_t k;
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
rf_err_t rf__pa_flag_set(rf__actx_t *c, rf__period_t per, const char *user, uint8_t flag,
                         bool *was_new, uint8_t *flags_out)
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

static rf_err_t prof_load(rf__actx_t *c, const char *user, rf__pj_slot_t **slot, prof_t *pr)
{
    rf__kbuf_t k;
    rf__kb_init(&k, RF__PK_FLAGS);
    rf__kb_be32(&k, c->prog);
    rf__kb_str(&k, user);
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
rf_err_t rf__pa_prof_get(rf__actx_t *c, const char *user, int i, char *out, size_t cap)
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
rf_err_t rf__pa_prof_set(rf__actx_t *c, const char *user, int i, const char *val)
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
rf_err_t rf__pa_get_str(rf__actx_t *c, char prefix, const char *name, char *out, size_t cap)
{
    rf__kbuf_t k;
    rf__kb_init(&k, prefix);
    rf__kb_be32(&k, c->prog);
    rf__kb_str(&k, name);
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

void rf__pa_put_str(rf__actx_t *c, char prefix, const char *name, const char *val)
{
    rf__kbuf_t k;
    rf__kb_init(&k, prefix);
    rf__kb_be32(&k, c->prog);
    rf__kb_str(&k, name);
    rf__pj_put(c->p, k.b, k.n, val, strlen(val));
}

/* The channel of a record: its channel fact, else the referrer's last share
 * channel, else "direct" for referred activity without a share; "" when the
 * record has no referrer (organic). */
rf_err_t rf__pa_resolve_channel(rf__actx_t *c, const char *referrer, char out[RF_ID_BUF])
{
    const char *ch = rf__pa_fact(c->rec, RF_FACT_CHANNEL);
    out[0] = '\0';
    if (*ch) {
        rf_strlcpy(out, ch, RF_ID_BUF); /* a channel is an id: it fits */
        return RF_OK;
    }
    if (!*referrer) return RF_OK;
    rf_err_t err = rf__pa_prof_get(c, referrer, RF__PROF_CHANNEL, out, RF_ID_BUF);
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
static bool sk_prefix_unstored(const rf__actx_t *c, const uint8_t *sk, size_t d)
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
static rf_err_t rank_node_add(rf__actx_t *c, const uint8_t board[RF__BOARD_LEN], const uint8_t *sk,
                              size_t d, int64_t delta)
{
    RF_ASSERT(d >= 1 && delta != 0);
    rf__kbuf_t k;
    rf__kb_init(&k, RF__PK_RANK);
    rf__kb_put(&k, board, RF__BOARD_LEN);
    rf__kb_u8(&k, (uint8_t)d);
    rf__kb_put(&k, sk, d - 1);
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

static rf_err_t rank_counts(rf__actx_t *c, const uint8_t board[RF__BOARD_LEN], const uint8_t *sk,
                            size_t from, size_t len, int64_t delta)
{
    for (size_t d = from; d < len; d++) {
        rf_err_t err = rank_node_add(c, board, sk, d, delta);
        if (err != RF_OK) return err;
    }
    return RF_OK;
}

static void lb_key(rf__kbuf_t *k, const uint8_t board[RF__BOARD_LEN], const uint8_t *sk, size_t sl,
                   const char *user)
{
    rf__kb_init(k, RF__PK_LB);
    rf__kb_put(k, board, RF__BOARD_LEN);
    rf__kb_put(k, sk, sl);
    rf__kb_str(k, user);
}

/* Moves user's entry (U slot) from (old) to (score, reached) on board. */
static rf_err_t board_set(rf__actx_t *c, const uint8_t board[RF__BOARD_LEN], const char *user,
                          sumref_t *us, rf__period_t per, bool has_old, int64_t old_score,
                          uint64_t old_reached, int64_t score, uint64_t reached)
{
    uint8_t sk0[RF__SK_MAX], sk1[RF__SK_MAX];
    size_t l0 = 0, l1 = rf__pj_sk_encode(score, reached, sk1), common = 0;
    rf__kbuf_t k;
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
        rf__kb_init(&k, RF__PK_RANK);
        rf__kb_put(&k, board, RF__BOARD_LEN);
        rf__kb_u8(&k, 0);
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
rf_err_t rf__pa_board_bump(rf__actx_t *c, uint32_t series, rf__period_t per, const char *user,
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

rf_err_t rf__pa_series_id(rf__actx_t *c, char metric, const char *asset, uint32_t *id)
{
    char name[RF__NAME_MAX];
    size_t n = rf__pj_name_series(name, c->rec->program_id, metric, asset);
    return rf__pj_intern(c->p, name, n, true, id);
}
