/* rf_ledger_verify.c: rf_ledger_verify, the tamper check: walks the whole
 * chain and recomputes every balance from the postings in bounded memory
 * (docs/ledger.md, "Verify"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_ledger_int.h"

size_t rf__verify_slots_max = RF_VERIFY_ACCOUNTS_MAX;

/* One account's recomputed balance. h == 0 marks an empty slot. */
typedef struct vacct {
    uint64_t h;
    uint64_t last_seq; /* last record that posted to it (named in a fault) */
    int64_t b[RF_BUCKET__COUNT];
    uint16_t klen;
    uint8_t seen; /* a stored balance entry matched it */
    uint8_t key[RF__BALANCE_KEY_MAX];
} vacct_t;

typedef struct vmap {
    vacct_t *slots;
    size_t nslots, count;
} vmap_t;

typedef struct vst {
    rf_ledger_t *l;
    rf_errbuf_t *eb;
    rf_record_t *rec;
    vmap_t map;
    uint32_t pass, passes;
    uint64_t expect_seq;
    int64_t last_offset;
    uint8_t prev[32];
    int overflow; /* the map outgrew RF_VERIFY_ACCOUNTS_MAX: more passes */
    rf_err_t err;
    uint64_t bad_seq;
} vst_t;

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h | 1; /* never 0: 0 marks empty slots */
}

static vacct_t *map_slot(vmap_t *m, uint64_t h, const uint8_t *key, size_t klen)
{
    size_t mask = m->nslots - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        vacct_t *a = &m->slots[i];
        if (!a->h || (a->h == h && a->klen == klen && !memcmp(a->key, key, klen))) return a;
    }
}

/* Doubles the table up to RF_VERIFY_ACCOUNTS_MAX slots; 0 when at the bound. */
static int map_grow(vmap_t *m)
{
    size_t n = m->nslots ? m->nslots * 2 : 1024;
    if (n > rf__verify_slots_max) return 0;
    vacct_t *s = calloc(n, sizeof *s);
    if (!s) return 0;
    vmap_t nm = {s, n, 0};
    for (size_t i = 0; i < m->nslots; i++)
        if (m->slots[i].h) {
            *map_slot(&nm, m->slots[i].h, m->slots[i].key, m->slots[i].klen) = m->slots[i];
            nm.count++;
        }
    free(m->slots);
    *m = nm;
    return 1;
}

/* Room for n more accounts without a rehash, so that the slot pointers a
 * record's postings hold stay valid while it is added; 0 (overflow) when
 * the map is at its bound. */
static int map_reserve(vst_t *st, size_t n)
{
    vmap_t *m = &st->map;
    while ((m->count + n) * 4 > m->nslots * 3)
        if (!map_grow(m)) {
            st->overflow = 1;
            return 0;
        }
    return 1;
}

static vacct_t *map_get(vst_t *st, const uint8_t *key, size_t klen, uint64_t h)
{
    vmap_t *m = &st->map;
    RF_ASSERT((m->count + 1) * 4 <= m->nslots * 3); /* map_reserve made room */
    vacct_t *a = map_slot(m, h, key, klen);
    if (!a->h) {
        a->h = h;
        a->klen = (uint16_t)klen;
        memcpy(a->key, key, klen);
        m->count++;
    }
    return a;
}

static int fault(vst_t *st, uint64_t seq, rf_err_t err, const char *fmt, const char *detail)
{
    st->err = rf_errf(st->eb, err, fmt, (unsigned long long)seq, detail);
    st->bad_seq = seq;
    return 1;
}

/* The chain checks (first pass only): seq, link, hash, postings, source. */
static int check_chain(vst_t *st, const uint8_t *v, size_t vl, uint64_t seq)
{
    rf_errbuf_t reb;
    rf_record_t *rec = st->rec;
    if (rf__record_load(st->l, v, vl, rec, &reb) != RF_OK)
        return fault(st, seq, RF_ERR_CORRUPT, "record %llu: %s", reb.msg);
    if (rec->seq != seq) return fault(st, seq, RF_ERR_CORRUPT, "record %llu: %s", "wrong seq");
    if (memcmp(rec->prev_hash, st->prev, 32))
        return fault(st, seq, RF_ERR_CORRUPT, "record %llu: %s",
                     "prev_hash does not link to the previous record");
    const rf__meta_t *m = &st->l->committed;
    if (rec->partition != st->l->partition || rec->offset < st->last_offset ||
        rec->offset < m->first_offset || rec->offset >= m->next_offset)
        return fault(st, seq, RF_ERR_CORRUPT, "record %llu: %s",
                     "source partition or offset out of order");
    memcpy(st->prev, rec->hash, 32);
    st->last_offset = rec->offset;
    return 0;
}

/* Adds the record's postings of this pass's accounts, then checks that no
 * user bucket but receivable went negative (as rf_fold_record_append does). */
static int add_postings(vst_t *st, uint64_t seq)
{
    rf_record_t *rec = st->rec;
    vacct_t *touched[RF_POSTINGS_MAX];
    const char *owners[RF_POSTINGS_MAX];
    uint32_t nt = 0;
    if (!map_reserve(st, rec->npostings)) return 1;
    for (uint32_t i = 0; i < rec->npostings; i++) {
        const rf_posting_t *p = &rec->postings[i];
        uint8_t key[RF__BALANCE_KEY_MAX];
        size_t klen = rf__balance_key(key, rec->program_id, p->owner, p->asset);
        uint64_t h = fnv1a(key, klen);
        if ((h >> 32) % st->passes != st->pass) continue;
        vacct_t *a = map_get(st, key, klen, h);
        if (__builtin_add_overflow(a->b[p->bucket], p->amount_minor, &a->b[p->bucket]))
            return fault(st, seq, RF_ERR_CORRUPT, "record %llu: %s", "balance overflows");
        a->last_seq = seq;
        touched[nt] = a;
        owners[nt++] = p->owner;
    }
    for (uint32_t i = 0; i < nt; i++)
        for (int b = 0; b < RF_BUCKET__COUNT; b++)
            if (rf__bucket_nonneg(owners[i], b) && touched[i]->b[b] < 0)
                return fault(st, seq, RF_ERR_CORRUPT, "record %llu: %s",
                             "a user bucket other than receivable goes negative");
    return 0;
}

static int verify_record(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *opaque)
{
    vst_t *st = opaque;
    uint64_t seq = kl == 9 ? rf_be64_get(k + 1) : 0;
    if (seq != st->expect_seq) {
        char d[64];
        snprintf(d, sizeof d, "missing (next stored is %llu)", (unsigned long long)seq);
        return fault(st, st->expect_seq, RF_ERR_CORRUPT, "record %llu: %s", d);
    }
    if (seq > st->l->committed.head_seq)
        return fault(st, seq, RF_ERR_CORRUPT, "record %llu: %s", "beyond the stored head");
    if (st->pass == 0) {
        if (check_chain(st, v, vl, seq)) return 1;
    } else if (vl <= RF__RECORD_HDR ||
               rf__record_decode_canonical(v + RF__RECORD_HDR, vl - RF__RECORD_HDR, st->rec,
                                           NULL)) {
        return fault(st, seq, RF_ERR_CORRUPT, "record %llu: %s", "malformed");
    }
    st->expect_seq++;
    return add_postings(st, seq);
}

static int verify_balance(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *opaque)
{
    vst_t *st = opaque;
    uint64_t h = fnv1a(k, kl);
    if ((h >> 32) % st->passes != st->pass) return 0;
    char p[RF_ID_BUF], o[RF_ID_BUF], a[RF_ASSET_MAX + 1], d[RF_ERRMSG_MAX];
    if (kl > RF__BALANCE_KEY_MAX || vl != RF__BALANCE_VAL_LEN ||
        rf__balance_key_parse(k, kl, p, o, a))
        return fault(st, 0, RF_ERR_CORRUPT, "balance entry (seq %llu): %s", "malformed");
    int64_t b[RF_BUCKET__COUNT], zero[RF_BUCKET__COUNT] = {0};
    rf__balance_decode(v, b);
    vacct_t *acct = map_slot(&st->map, h, k, kl);
    const int64_t *sum = acct->h ? acct->b : zero;
    if (acct->h) acct->seen = 1;
    if (memcmp(b, sum, sizeof b) == 0) return 0;
    for (int i = 0; i < RF_BUCKET__COUNT; i++)
        if (b[i] != sum[i]) {
            snprintf(d, sizeof d, "balance %s/%s/%s %s is %lld but its postings sum to %lld", p, o,
                     a, rf_bucket_name(i), (long long)b[i], (long long)sum[i]);
            break;
        }
    return fault(st, acct->h ? acct->last_seq : 0, RF_ERR_CORRUPT, "last record %llu: %s", d);
}

/* Accounts with postings but no stored balance entry. */
static void check_unseen(vst_t *st)
{
    for (size_t i = 0; i < st->map.nslots && !st->err; i++) {
        vacct_t *a = &st->map.slots[i];
        int64_t zero[RF_BUCKET__COUNT] = {0};
        if (a->h && !a->seen && memcmp(a->b, zero, sizeof zero))
            fault(st, a->last_seq, RF_ERR_CORRUPT, "last record %llu: %s",
                  "postings to an account with no stored balance");
    }
}

static int count_key(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *opaque)
{
    (void)k, (void)kl, (void)v, (void)vl;
    (*(uint64_t *)opaque)++;
    return 0;
}

/* Archived events: chunks of consecutive offsets from the first offset on. */
typedef struct arch_count {
    int64_t expect;
    uint64_t n;
    int bad;
} arch_count_t;

static int count_chunk(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *opaque)
{
    arch_count_t *c = opaque;
    uint64_t n = 0;
    int stopped = 0;
    if (kl != 9 || (int64_t)rf_be64_get(k + 1) != c->expect ||
        rf__archive_chunk_each(c->expect, v, vl, NULL, NULL, &n, &stopped)) {
        c->bad = 1;
        return 1;
    }
    c->expect += (int64_t)n;
    c->n += n;
    return 0;
}

static rf_err_t count_range(rf_ledger_t *l, char prefix, uint64_t *n, rf_errbuf_t *eb)
{
    uint8_t s = (uint8_t)prefix, e = (uint8_t)(prefix + 1);
    *n = 0;
    return rf__db_range(l, &s, 1, &e, 1, count_key, n, eb);
}

/* One pass: the records (all of them), then the stored balances of this
 * pass's accounts. Returns storage errors; faults land in st->err. */
static rf_err_t verify_pass(vst_t *st)
{
    uint8_t rs = RF__K_RECORD, re = RF__K_RECORD + 1, bs = RF__K_BALANCE, be = RF__K_BALANCE + 1;
    free(st->map.slots);
    memset(&st->map, 0, sizeof st->map);
    if (!map_grow(&st->map)) return rf_errf(st->eb, RF_ERR_NOMEM, "out of memory");
    st->expect_seq = 1;
    st->last_offset = st->l->committed.first_offset;
    memset(st->prev, 0, 32);
    rf_err_t err = rf__db_range(st->l, &rs, 1, &re, 1, verify_record, st, st->eb);
    if (err || st->err || st->overflow) return err;
    if (st->expect_seq != st->l->committed.head_seq + 1) {
        fault(st, st->expect_seq, RF_ERR_CORRUPT, "record %llu: %s", "missing (head is beyond)");
        return RF_OK;
    }
    err = rf__db_range(st->l, &bs, 1, &be, 1, verify_balance, st, st->eb);
    if (!err && !st->err) check_unseen(st);
    return err;
}

/* Every consumed offset has one outcome, one archived event, and each dead
 * letter one 'q' entry. */
static void verify_counts(vst_t *st)
{
    const rf__meta_t *m = &st->l->committed;
    uint64_t total = 0, narch = 0, ndl = 0;
    for (int i = 0; i < RF_OUTCOME__COUNT; i++)
        total += m->counts[i];
    uint64_t consumed = m->next_offset < 0 ? 0 : (uint64_t)(m->next_offset - m->first_offset);
    char d[RF_ERRMSG_MAX];
    if (memcmp(m->head_hash, st->prev, 32)) {
        fault(st, m->head_seq, RF_ERR_CORRUPT, "head %llu: %s", "stored head hash differs");
        return;
    }
    if (total != consumed) {
        snprintf(d, sizeof d, "outcome counts sum to %llu, offsets consumed %llu",
                 (unsigned long long)total, (unsigned long long)consumed);
        fault(st, 0, RF_ERR_CORRUPT, "meta (seq %llu): %s", d);
        return;
    }
    uint8_t as = RF__K_ARCHIVE, ae = RF__K_ARCHIVE + 1;
    arch_count_t ac = {m->first_offset, 0, 0};
    if (rf__db_range(st->l, &as, 1, &ae, 1, count_chunk, &ac, st->eb) ||
        count_range(st->l, RF__K_DEADLETTER, &ndl, st->eb)) {
        st->err = RF_ERR_STORAGE;
        return;
    }
    if (ac.bad) {
        snprintf(d, sizeof d, "archive chunk malformed or not at offset %lld",
                 (long long)ac.expect);
        fault(st, 0, RF_ERR_CORRUPT, "archive (seq %llu): %s", d);
        return;
    }
    narch = ac.n;
    if (narch != consumed || ndl != m->counts[RF_OUTCOME_DEAD_LETTER]) {
        snprintf(d, sizeof d,
                 "%llu archived events and %llu dead letters for %llu offsets, %llu "
                 "dead-lettered",
                 (unsigned long long)narch, (unsigned long long)ndl, (unsigned long long)consumed,
                 (unsigned long long)m->counts[RF_OUTCOME_DEAD_LETTER]);
        fault(st, 0, RF_ERR_CORRUPT, "meta (seq %llu): %s", d);
    }
}

rf_err_t rf_ledger_verify(rf_ledger_t *l, uint64_t *bad_seq, rf_errbuf_t *eb)
{
    RF_ASSERT(l != NULL && bad_seq != NULL);
    *bad_seq = 0;
    uint64_t nbal = 0;
    rf_err_t err = count_range(l, RF__K_BALANCE, &nbal, eb);
    if (err) return err;
    vst_t st = {.l = l, .eb = eb, .rec = malloc(sizeof(rf_record_t))};
    if (!st.rec) return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    /* enough passes that each one's accounts fit half the bounded map */
    st.passes = (uint32_t)(nbal / (rf__verify_slots_max / 2) + 1);
    for (st.pass = 0; st.pass < st.passes && !err && !st.err; st.pass++) {
        err = verify_pass(&st);
        if (st.overflow && !err) {
            /* accounts not in the stored balances filled the map: start over
             * with twice the passes (bounded: each pass holds fewer accounts) */
            st.overflow = 0;
            st.passes *= 2;
            st.pass = (uint32_t)-1;
            if (st.passes > (1u << 16)) err = rf_errf(eb, RF_ERR_NOMEM, "too many accounts");
        }
    }
    if (!err && !st.err) {
        if (l->committed.head_seq == 0)
            memset(st.prev, 0, 32);
        else {
            /* st.prev holds the last hash of pass 0 only when passes == 1 */
            rf_record_t *r = st.rec;
            err = rf_ledger_get_record(l, l->committed.head_seq, r, eb);
            if (!err) memcpy(st.prev, r->hash, 32);
        }
        if (!err) verify_counts(&st);
    }
    free(st.map.slots);
    free(st.rec);
    if (err) return err;
    *bad_seq = st.bad_seq;
    return st.err;
}
