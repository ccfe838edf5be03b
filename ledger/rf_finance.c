/* rf_finance.c: finance reads shared by the tools: event-time parsing, the
 * bounded account map, opening every partition, statements, point-in-time
 * balances and reward sums (rf_finance.h). */
#include "rf_finance.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rf_fold.h"

/* ---- time ---- */

/* Dates use rf_days_from_civil / rf_civil_from_days (common/). */

/* Reads exactly n digits at *p into *v. */
static int digits(const char **p, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i])) return 0;
        x = x * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *v = x;
    return 1;
}

static int parse_epoch_ms(const char *s, int64_t *ms)
{
    const char *q = s + (*s == '-');
    if (!*q) return 0;
    for (; *q; q++)
        if (!isdigit((unsigned char)*q)) return 0;
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno) return 0;
    *ms = v;
    return 1;
}

/* Fraction and zone after "HH:MM:SS": ".sss" (1-9 digits, ms kept), then
 * "Z" or "+hh:mm" / "-hh:mm". Returns the zone offset in ms through *off. */
static int parse_tail(const char *p, int *frac_ms, int64_t *off_ms)
{
    *frac_ms = 0;
    *off_ms = 0;
    if (*p == '.') {
        int n = 0, scale = 100;
        for (p++; isdigit((unsigned char)*p); p++, n++) {
            if (scale) *frac_ms += (*p - '0') * scale;
            scale /= 10;
        }
        if (n == 0 || n > 9) return 0;
    }
    if (*p == 'Z' || *p == 'z') return p[1] == 0;
    if (*p != '+' && *p != '-') return 0;
    int sign = *p == '-' ? -1 : 1, hh, mm;
    p++;
    if (!digits(&p, 2, &hh) || *p++ != ':' || !digits(&p, 2, &mm) || *p) return 0;
    if (hh > 23 || mm > 59) return 0;
    *off_ms = sign * ((int64_t)hh * 3600 + mm * 60) * 1000;
    return 1;
}

rf_err_t rf_finance_time_parse(const char *s, int64_t *ms, rf_errbuf_t *eb)
{
    RF_ASSERT(s != NULL && ms != NULL);
    if (parse_epoch_ms(s, ms)) return RF_OK;
    const char *p = s;
    int y, mo, d, h = 0, mi = 0, se = 0, frac = 0;
    int64_t off = 0;
    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
        !digits(&p, 2, &d))
        goto bad;
    if (*p) {
        if (*p != 'T' && *p != 't' && *p != ' ') goto bad;
        p++;
        if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' ||
            !digits(&p, 2, &se) || !parse_tail(p, &frac, &off))
            goto bad;
    }
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) goto bad;
    int64_t days = rf_days_from_civil(y, mo, d);
    int64_t y2;
    int m2, d2;
    rf_civil_from_days(days, &y2, &m2, &d2);
    if (m2 != mo || d2 != d) goto bad; /* 2026-02-30 */
    *ms = ((days * 24 + h) * 60 + mi) * 60000 + (int64_t)se * 1000 + frac - off;
    return RF_OK;
bad:
    return rf_errf(eb, RF_ERR_BAD_INPUT,
                   "bad time '%s' (want 2026-01-31, 2026-01-31T12:00:00Z or epoch milliseconds)",
                   s);
}

/* ---- account map: open addressing over an array that doubles ---- */

struct rf_acct_map {
    uint32_t cap; /* the bound (<= RF_FINANCE_ACCOUNTS_MAX) */
    uint32_t count;
    uint32_t nslots; /* power of two, >= 2 * entries allocated */
    uint32_t nalloc; /* entries allocated */
    uint32_t *slots; /* index + 1 into accts; 0 = empty */
    rf_acct_t *accts;
    bool sorted;
};

rf_acct_map_t *rf_acct_map_new(uint32_t cap)
{
    RF_ASSERT(cap > 0 && cap <= RF_FINANCE_ACCOUNTS_MAX);
    rf_acct_map_t *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->cap = cap;
    m->nalloc = cap < 64 ? cap : 64;
    m->nslots = 128;
    m->slots = calloc(m->nslots, sizeof *m->slots);
    m->accts = calloc(m->nalloc, sizeof *m->accts);
    if (!m->slots || !m->accts) {
        rf_acct_map_free(m);
        return NULL;
    }
    return m;
}

void rf_acct_map_free(rf_acct_map_t *m)
{
    if (!m) return;
    free(m->slots);
    free(m->accts);
    free(m);
}

static uint32_t acct_hash(const char *program, const char *owner, const char *asset)
{
    uint32_t h = 2166136261u; /* FNV-1a over the three strings and separators */
    const char *parts[3] = {program, owner, asset};
    for (int i = 0; i < 3; i++) {
        for (const char *p = parts[i]; *p; p++)
            h = (h ^ (uint8_t)*p) * 16777619u;
        h = (h ^ 0xff) * 16777619u;
    }
    return h;
}

static int acct_grow(rf_acct_map_t *m)
{
    uint32_t na = m->nalloc * 2 > m->cap ? m->cap : m->nalloc * 2;
    rf_acct_t *a = realloc(m->accts, (size_t)na * sizeof *a);
    if (!a) return 0;
    m->accts = a;
    m->nalloc = na;
    uint32_t ns = m->nslots;
    while (ns < 2 * na)
        ns *= 2;
    if (ns == m->nslots) return 1;
    uint32_t *s = calloc(ns, sizeof *s);
    if (!s) return 0;
    for (uint32_t i = 0; i < m->count; i++) {
        const rf_acct_t *x = &m->accts[i];
        uint32_t j = acct_hash(x->program, x->owner, x->asset) & (ns - 1);
        while (s[j])
            j = (j + 1) & (ns - 1);
        s[j] = i + 1;
    }
    free(m->slots);
    m->slots = s;
    m->nslots = ns;
    return 1;
}

rf_acct_t *rf_acct_map_get(rf_acct_map_t *m, const char *program, const char *owner,
                           const char *asset)
{
    RF_ASSERT(m != NULL && !m->sorted);
    uint32_t j = acct_hash(program, owner, asset) & (m->nslots - 1);
    for (; m->slots[j]; j = (j + 1) & (m->nslots - 1)) {
        rf_acct_t *a = &m->accts[m->slots[j] - 1];
        if (!strcmp(a->program, program) && !strcmp(a->owner, owner) && !strcmp(a->asset, asset))
            return a;
    }
    if (m->count == m->cap) return NULL;
    if (m->count == m->nalloc) {
        if (!acct_grow(m)) return NULL;
        return rf_acct_map_get(m, program, owner, asset); /* slots were rebuilt */
    }
    rf_acct_t *a = &m->accts[m->count];
    memset(a, 0, sizeof *a);
    if (rf_strlcpy(a->program, program, sizeof a->program) ||
        rf_strlcpy(a->owner, owner, sizeof a->owner) ||
        rf_strlcpy(a->asset, asset, sizeof a->asset))
        return NULL; /* longer than any stored id: not an account */
    m->slots[j] = ++m->count;
    RF_ASSERT(m->count <= m->nalloc && m->count * 2 <= m->nslots);
    return a;
}

uint32_t rf_acct_map_count(const rf_acct_map_t *m)
{
    return m->count;
}

static int acct_cmp(const void *x, const void *y)
{
    const rf_acct_t *a = x, *b = y;
    int c = strcmp(a->program, b->program);
    if (!c) c = strcmp(a->owner, b->owner);
    if (!c) c = strcmp(a->asset, b->asset);
    return c;
}

rf_acct_t *rf_acct_map_sort(rf_acct_map_t *m)
{
    RF_ASSERT(m != NULL);
    qsort(m->accts, m->count, sizeof *m->accts, acct_cmp);
    m->sorted = true;
    return m->accts;
}

/* ---- partitions ---- */

int rf_finance_open_all(const char *data_dir, rf_ledger_t **ls, int cap, rf_errbuf_t *eb)
{
    RF_ASSERT(data_dir != NULL && ls != NULL && cap > 0);
    int32_t parts[RF_PARTITIONS_MAX];
    int n = rf_ledger_list_partitions(data_dir, parts, RF_PARTITIONS_MAX);
    if (n < 0)
        return rf_errf(eb, RF_ERR_IO, "cannot read '%s/fold': %s", data_dir,
                       "no fold ledger there (is --data right?)");
    if (n > cap) n = cap;
    for (int i = 0; i < n; i++) {
        ls[i] = rf_ledger_open(data_dir, parts[i], RF_LEDGER_READONLY, eb);
        if (!ls[i]) {
            rf_finance_close_all(ls, i);
            return RF_ERR_STORAGE;
        }
    }
    return n;
}

void rf_finance_close_all(rf_ledger_t **ls, int n)
{
    for (int i = 0; i < n; i++) {
        rf_ledger_close(ls[i]);
        ls[i] = NULL;
    }
}

/* Runs cb over every record of every partition of data_dir, in order. */
static rf_err_t scan_all(const char *data_dir, rf_record_cb_t *cb, void *opaque, rf_errbuf_t *eb)
{
    rf_ledger_t *ls[RF_PARTITIONS_MAX];
    int n = rf_finance_open_all(data_dir, ls, RF_PARTITIONS_MAX, eb);
    if (n < 0) return (rf_err_t)n;
    rf_err_t err = RF_OK;
    for (int i = 0; i < n && !err; i++)
        err = rf_ledger_scan(ls[i], 1, 0, cb, opaque, eb);
    rf_finance_close_all(ls, n);
    return err;
}

/* ---- statements and point-in-time balances ---- */

typedef struct stmt_st {
    const char *user, *program;
    int64_t from_ms, to_ms; /* movements in [from, to); closing before to */
    bool movements;         /* collect movements (statement) or not (as-of) */
    rf_acct_map_t *opening, *closing;
    rf_movement_t *mv;
    size_t nmv, capmv;
    rf_err_t err;
    rf_errbuf_t *eb;
} stmt_st_t;

static int add_movement(stmt_st_t *st, const rf_record_t *rec, const rf_posting_t *p)
{
    if (st->nmv == st->capmv) {
        if (st->capmv >= RF_FINANCE_MOVEMENTS_MAX) {
            st->err = rf_errf(st->eb, RF_ERR_OVERSIZE,
                              "more than %u movements in the period (RF_FINANCE_MOVEMENTS_MAX): "
                              "ask for a shorter period",
                              RF_FINANCE_MOVEMENTS_MAX);
            return 1;
        }
        size_t nc = st->capmv ? st->capmv * 2 : 256;
        rf_movement_t *m = realloc(st->mv, nc * sizeof *m);
        if (!m) {
            st->err = rf_errf(st->eb, RF_ERR_NOMEM, "out of memory");
            return 1;
        }
        st->mv = m;
        st->capmv = nc;
    }
    rf_movement_t *m = &st->mv[st->nmv++];
    memset(m, 0, sizeof *m);
    m->partition = rec->partition;
    m->seq = rec->seq;
    m->occurred_at_ms = rec->occurred_at_ms;
    memcpy(m->program, rec->program_id, sizeof m->program);
    memcpy(m->kind, rec->kind, sizeof m->kind);
    m->bucket = p->bucket;
    memcpy(m->asset, p->asset, sizeof m->asset);
    m->amount_minor = p->amount_minor;
    memcpy(m->event_id, rec->event_id, sizeof m->event_id);
    const char *why = rf_record_get_fact(rec, RF_FACT_REASON);
    if (!why) why = rf_record_get_fact(rec, RF_FACT_TYPE);
    rf_strlcpy(m->reason, why ? why : "", sizeof m->reason);
    return 0;
}

static rf_acct_t *acct_of(stmt_st_t *st, rf_acct_map_t *m, const rf_record_t *rec,
                          const rf_posting_t *p)
{
    rf_acct_t *a = rf_acct_map_get(m, rec->program_id, st->user, p->asset);
    if (!a && !st->err)
        st->err = rf_errf(st->eb, RF_ERR_OVERSIZE, "more than %u accounts for one user",
                          RF_FINANCE_ACCOUNTS_MAX);
    return a;
}

static int stmt_record(const rf_record_t *rec, void *opaque)
{
    stmt_st_t *st = opaque;
    if (st->program && strcmp(rec->program_id, st->program)) return 0;
    for (uint32_t i = 0; i < rec->npostings; i++) {
        const rf_posting_t *p = &rec->postings[i];
        if (strcmp(p->owner, st->user) || p->bucket >= RF_BUCKET__COUNT) continue;
        /* every account is created in both maps, so opening and closing align */
        rf_acct_t *o = acct_of(st, st->opening, rec, p);
        rf_acct_t *c = o ? acct_of(st, st->closing, rec, p) : NULL;
        if (!c) return 1;
        int64_t t = rec->occurred_at_ms;
        if (t < st->from_ms) o->b[p->bucket] += p->amount_minor;
        if (t < st->to_ms) c->b[p->bucket] += p->amount_minor;
        if (st->movements && t >= st->from_ms && t < st->to_ms && add_movement(st, rec, p))
            return 1;
    }
    return 0;
}

static int movement_cmp(const void *x, const void *y)
{
    const rf_movement_t *a = x, *b = y;
    if (a->occurred_at_ms != b->occurred_at_ms)
        return a->occurred_at_ms < b->occurred_at_ms ? -1 : 1;
    if (a->partition != b->partition) return a->partition < b->partition ? -1 : 1;
    if (a->seq != b->seq) return a->seq < b->seq ? -1 : 1;
    return (a > b) - (a < b); /* postings of one record keep their order */
}

static rf_err_t stmt_run(const char *data_dir, stmt_st_t *st)
{
    st->opening = rf_acct_map_new(RF_FINANCE_ACCOUNTS_MAX);
    st->closing = rf_acct_map_new(RF_FINANCE_ACCOUNTS_MAX);
    if (!st->opening || !st->closing) return rf_errf(st->eb, RF_ERR_NOMEM, "out of memory");
    rf_err_t err = scan_all(data_dir, stmt_record, st, st->eb);
    if (!err) err = st->err;
    if (!err) RF_ASSERT(rf_acct_map_count(st->opening) == rf_acct_map_count(st->closing));
    return err;
}

static void stmt_cleanup(stmt_st_t *st)
{
    rf_acct_map_free(st->opening);
    rf_acct_map_free(st->closing);
    free(st->mv);
}

/* Copies a sorted map into a malloc'ed array (NULL with n 0 when empty). */
static rf_acct_t *accts_copy(rf_acct_map_t *m, int *n)
{
    *n = (int)rf_acct_map_count(m);
    if (*n == 0) return NULL;
    rf_acct_t *sorted = rf_acct_map_sort(m);
    rf_acct_t *a = malloc((size_t)*n * sizeof *a);
    if (a) memcpy(a, sorted, (size_t)*n * sizeof *a);
    return a;
}

rf_err_t rf_finance_statement(const char *data_dir, const char *user, const char *program,
                              int64_t from_ms, int64_t to_ms, rf_statement_t *out, rf_errbuf_t *eb)
{
    RF_ASSERT(data_dir != NULL && user != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    if (from_ms > to_ms) return rf_errf(eb, RF_ERR_BAD_INPUT, "--from is after --to");
    stmt_st_t st = {user, program, from_ms, to_ms, true, NULL, NULL, NULL, 0, 0, RF_OK, eb};
    rf_err_t err = stmt_run(data_dir, &st);
    if (!err) {
        int n2 = 0;
        out->opening = accts_copy(st.opening, &out->naccounts);
        out->closing = accts_copy(st.closing, &n2);
        RF_ASSERT(n2 == out->naccounts);
        if (out->naccounts && (!out->opening || !out->closing))
            err = rf_errf(eb, RF_ERR_NOMEM, "out of memory");
        qsort(st.mv, st.nmv, sizeof *st.mv, movement_cmp);
        out->movements = st.mv;
        out->nmovements = st.nmv;
        st.mv = NULL;
    }
    stmt_cleanup(&st);
    if (err) rf_statement_free(out);
    return err;
}

void rf_statement_free(rf_statement_t *s)
{
    if (!s) return;
    free(s->opening);
    free(s->closing);
    free(s->movements);
    memset(s, 0, sizeof *s);
}

rf_err_t rf_finance_balance_at(const char *data_dir, const char *user, const char *program,
                               int64_t as_of_ms, rf_acct_t **accts, int *n, rf_errbuf_t *eb)
{
    RF_ASSERT(data_dir != NULL && user != NULL && accts != NULL && n != NULL);
    *accts = NULL;
    *n = 0;
    /* closing balance of (-inf, as_of + 1): records with occurred_at <= as_of */
    int64_t to = as_of_ms == INT64_MAX ? INT64_MAX : as_of_ms + 1;
    stmt_st_t st = {user, program, INT64_MIN, to, false, NULL, NULL, NULL, 0, 0, RF_OK, eb};
    rf_err_t err = stmt_run(data_dir, &st);
    if (!err) {
        *accts = accts_copy(st.closing, n);
        if (*n && !*accts) err = rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    }
    stmt_cleanup(&st);
    return err;
}

/* ---- reward sums (what-if) ---- */

typedef struct rew_st {
    rf_acct_map_t *m;
    int slot;
    const int64_t *end_offsets;
    rf_err_t err;
    rf_errbuf_t *eb;
} rew_st_t;

static bool reward_kind(const char *kind)
{
    return !strcmp(kind, RF_KIND_REWARD) || !strcmp(kind, RF_KIND_MATURED) ||
           !strcmp(kind, RF_KIND_VOID) || !strcmp(kind, RF_KIND_CLAWBACK);
}

static int rew_record(const rf_record_t *rec, void *opaque)
{
    rew_st_t *st = opaque;
    if (!reward_kind(rec->kind)) return 0;
    RF_ASSERT(rec->partition >= 0 && rec->partition < RF_PARTITIONS_MAX);
    if (st->end_offsets && st->end_offsets[rec->partition] >= 0 &&
        rec->offset >= st->end_offsets[rec->partition])
        return 0;
    for (uint32_t i = 0; i < rec->npostings; i++) {
        const rf_posting_t *p = &rec->postings[i];
        if (p->owner[0] == '#') continue;
        rf_acct_t *a = rf_acct_map_get(st->m, rec->program_id, p->owner, p->asset);
        if (!a) {
            st->err = rf_errf(st->eb, RF_ERR_OVERSIZE, "more than %u rewarded accounts",
                              RF_FINANCE_ACCOUNTS_MAX);
            return 1;
        }
        a->aux[st->slot] += p->amount_minor;
    }
    return 0;
}

rf_err_t rf_finance_sum_rewards(const char *data_dir, rf_acct_map_t *m, int slot,
                                const int64_t *end_offsets, rf_errbuf_t *eb)
{
    RF_ASSERT(m != NULL && (slot == 0 || slot == 1));
    rew_st_t st = {m, slot, end_offsets, RF_OK, eb};
    rf_err_t err = scan_all(data_dir, rew_record, &st, eb);
    return err ? err : st.err;
}
