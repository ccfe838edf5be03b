/* rf_finance_reconcile.c: the reconcile report (rf_finance.h): trial
 * balance, offsets accounted per partition, fold against projection balances
 * and an external payout file against the ledger's redemptions. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rf_finance.h"
#include "rf_fold.h"

const char *rf_payout_issue_name(rf_payout_issue_kind_t k)
{
    switch (k) {
    case RF_PAYOUT_MISSING:
        return "missing";
    case RF_PAYOUT_UNEXPECTED:
        return "unexpected";
    case RF_PAYOUT_MISMATCH:
        return "mismatch";
    }
    return "unknown";
}

/* ---- trial balance ---- */

typedef struct tb_st {
    rf_acct_map_t *m;
    rf_err_t err;
    rf_errbuf_t *eb;
} tb_st_t;

static int tb_balance(const char *program, const char *owner, const char *asset,
                      const int64_t b[RF_BUCKET__COUNT], void *opaque)
{
    tb_st_t *st = opaque;
    (void)owner;
    rf_acct_t *a = rf_acct_map_get(st->m, program, "", asset);
    if (!a) {
        st->err = rf_errf(st->eb, RF_ERR_OVERSIZE, "more than %u (program, asset) pairs",
                          RF_FINANCE_ACCOUNTS_MAX);
        return 1;
    }
    for (int i = 0; i < RF_BUCKET__COUNT; i++)
        a->b[i] += b[i];
    a->aux[0]++;
    return 0;
}

static rf_err_t trial_balance(rf_ledger_t **ls, int n, rf_reconcile_t *out, rf_errbuf_t *eb)
{
    tb_st_t st = {rf_acct_map_new(RF_FINANCE_ACCOUNTS_MAX), RF_OK, eb};
    if (!st.m) return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    rf_err_t err = RF_OK;
    for (int i = 0; i < n && !err; i++)
        err = rf_ledger_scan_balances(ls[i], tb_balance, &st, eb);
    if (!err) err = st.err;
    uint32_t cnt = rf_acct_map_count(st.m);
    if (!err && cnt && !(out->tb = calloc(cnt, sizeof *out->tb)))
        err = rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    if (!err) {
        const rf_acct_t *a = rf_acct_map_sort(st.m);
        for (uint32_t i = 0; i < cnt; i++) {
            rf_tb_row_t *r = &out->tb[i];
            memcpy(r->program, a[i].program, sizeof r->program);
            memcpy(r->asset, a[i].asset, sizeof r->asset);
            for (int k = 0; k < RF_BUCKET__COUNT; k++) {
                r->b[k] = a[i].b[k];
                r->total += a[i].b[k];
            }
            r->accounts = (uint64_t)a[i].aux[0];
            if (r->total != 0) out->ok = false;
        }
        out->ntb = (int)cnt;
    }
    rf_acct_map_free(st.m);
    return err;
}

/* ---- offsets accounted ---- */

typedef struct arch_st {
    rf_offsets_row_t *row;
    int64_t expect;
} arch_st_t;

static int arch_offset(int64_t offset, int64_t clock_ms, const uint8_t *bytes, size_t len,
                       void *opaque)
{
    arch_st_t *st = opaque;
    (void)clock_ms, (void)bytes, (void)len;
    if (st->row->archived == 0)
        st->row->first_offset = offset;
    else if (offset != st->expect && st->row->first_gap < 0)
        st->row->first_gap = st->expect;
    st->expect = offset + 1;
    st->row->archived++;
    return 0;
}

static rf_err_t offsets_row(rf_ledger_t *l, rf_offsets_row_t *r, rf_errbuf_t *eb)
{
    rf_ledger_head_t h;
    rf_err_t err = rf_ledger_head(l, &h, eb);
    if (err) return err;
    memset(r, 0, sizeof *r);
    r->partition = h.partition;
    r->next_offset = h.next_offset;
    r->first_offset = -1;
    r->first_gap = -1;
    r->head_seq = h.seq;
    memcpy(r->head_hash, h.hash, 32);
    for (int i = 0; i < RF_OUTCOME__COUNT; i++) {
        r->counts[i] = h.counts[i];
        r->accounted += h.counts[i];
    }
    /* the archive holds every consumed offset: its first key is the first
     * offset ever folded, and a hole in it is an offset never accounted */
    arch_st_t st = {r, 0};
    err = rf_ledger_archive_scan(l, 0, arch_offset, &st, eb);
    if (err) return err;
    if (r->archived && st.expect != h.next_offset && r->first_gap < 0)
        r->first_gap = st.expect < h.next_offset ? st.expect : h.next_offset;
    if (h.next_offset >= 0 && r->first_offset >= 0)
        r->consumed = (uint64_t)(h.next_offset - r->first_offset);
    r->ok = r->accounted == r->consumed && r->archived == r->consumed && r->first_gap < 0 &&
            (h.next_offset >= 0 || r->accounted == 0);
    return RF_OK;
}

/* ---- fold against projection balances ----
 * The projection is read first, from one snapshot (balances and applied seq
 * per partition), and the ledgers are opened after it, so each fold head is
 * at or past what the projection applied. The fold's balances are then taken
 * back to the projection's applied seq by subtracting the postings of the
 * records after it (an account belongs to one program, hence to one
 * partition): on a live system the comparison is exact, and what remains is
 * drift at rest, never records in flight. */

typedef struct drift_st {
    rf_acct_map_t *fold, *proj;
    uint64_t applied[RF_PARTITIONS_MAX];
    rf_reconcile_t *out;
    rf_err_t err;
    rf_errbuf_t *eb;
} drift_st_t;

static rf_acct_t *acct(drift_st_t *st, rf_acct_map_t *m, const char *program, const char *owner,
                       const char *asset)
{
    rf_acct_t *a = rf_acct_map_get(m, program, owner, asset);
    if (!a && !st->err)
        st->err =
            rf_errf(st->eb, RF_ERR_OVERSIZE, "more than %u accounts", RF_FINANCE_ACCOUNTS_MAX);
    return a;
}

static int put_balance(drift_st_t *st, rf_acct_map_t *m, const char *program, const char *owner,
                       const char *asset, const int64_t b[RF_BUCKET__COUNT])
{
    rf_acct_t *a = acct(st, m, program, owner, asset);
    if (!a) return 1;
    memcpy(a->b, b, sizeof a->b);
    return 0;
}

static int fold_balance(const char *program, const char *owner, const char *asset,
                        const int64_t b[RF_BUCKET__COUNT], void *opaque)
{
    drift_st_t *st = opaque;
    return put_balance(st, st->fold, program, owner, asset, b);
}

static int proj_balance(const char *program, const char *owner, const char *asset,
                        const int64_t b[RF_BUCKET__COUNT], void *opaque)
{
    drift_st_t *st = opaque;
    return put_balance(st, st->proj, program, owner, asset, b);
}

/* A record after the projection's applied seq: its postings undone. */
static int unpost(const rf_record_t *rec, void *opaque)
{
    drift_st_t *st = opaque;
    for (uint32_t i = 0; i < rec->npostings; i++) {
        const rf_posting_t *p = &rec->postings[i];
        RF_ASSERT(p->bucket < RF_BUCKET__COUNT);
        rf_acct_t *a = acct(st, st->fold, rec->program_id, p->owner, p->asset);
        if (!a) return 1;
        a->b[p->bucket] -= p->amount_minor;
    }
    return 0;
}

/* Takes the projection's snapshot (before the ledgers are opened). */
static rf_err_t drift_snapshot(const rf_reconcile_opts_t *o, drift_st_t *st, rf_reconcile_t *out,
                               rf_errbuf_t *eb)
{
    st->fold = rf_acct_map_new(RF_FINANCE_ACCOUNTS_MAX);
    st->proj = rf_acct_map_new(RF_FINANCE_ACCOUNTS_MAX);
    out->drift = calloc(RF_FINANCE_ISSUES_MAX, sizeof *out->drift);
    if (!st->fold || !st->proj || !out->drift) return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    st->out = out;
    st->eb = eb;
    rf_errbuf_t peb = {{0}};
    rf_err_t err = o->projection(o->data_dir, proj_balance, st, st->applied, &peb);
    if (err == RF_ERR_NOT_FOUND) {
        snprintf(out->projection_note, sizeof out->projection_note, "%s", peb.msg);
        return RF_OK;
    }
    if (st->err) return st->err;
    if (err) return rf_errf(eb, err, "projection store: %s", peb.msg);
    out->projection_checked = true;
    return RF_OK;
}

static void drift_note(rf_reconcile_t *r, const rf_acct_t *a, int bucket, int64_t fold,
                       int64_t proj)
{
    r->drift_count++;
    r->ok = false;
    if (r->ndrift >= RF_FINANCE_ISSUES_MAX) return;
    rf_drift_row_t *d = &r->drift[r->ndrift++];
    rf_strlcpy(d->program, a->program, sizeof d->program);
    rf_strlcpy(d->owner, a->owner, sizeof d->owner);
    rf_strlcpy(d->asset, a->asset, sizeof d->asset);
    d->bucket = bucket;
    d->fold_minor = fold;
    d->projection_minor = proj;
}

/* Compares every account either side knows; one missing on a side counts
 * as zero there. */
static rf_err_t drift_compare(drift_st_t *st)
{
    rf_reconcile_t *r = st->out;
    uint32_t np = rf_acct_map_count(st->proj);
    const rf_acct_t *pa = rf_acct_map_sort(st->proj);
    for (uint32_t i = 0; i < np; i++) {
        rf_acct_t *f = acct(st, st->fold, pa[i].program, pa[i].owner, pa[i].asset);
        if (!f) return st->err;
        f->aux[0] = 1; /* seen by the projection */
        r->drift_accounts_compared++;
        for (int k = 0; k < RF_BUCKET__COUNT; k++)
            if (f->b[k] != pa[i].b[k]) drift_note(r, &pa[i], k, f->b[k], pa[i].b[k]);
    }
    uint32_t nf = rf_acct_map_count(st->fold);
    const rf_acct_t *fa = rf_acct_map_sort(st->fold);
    for (uint32_t i = 0; i < nf; i++)
        for (int k = 0; k < RF_BUCKET__COUNT && !fa[i].aux[0]; k++)
            if (fa[i].b[k]) drift_note(r, &fa[i], k, fa[i].b[k], 0);
    return RF_OK;
}

static rf_err_t drift(drift_st_t *st, rf_ledger_t **ls, int n, rf_errbuf_t *eb)
{
    rf_reconcile_t *r = st->out;
    rf_err_t err = RF_OK;
    for (int i = 0; i < n && !err; i++) {
        rf_offsets_row_t *row = &r->parts[i];
        uint64_t a = st->applied[row->partition];
        err = rf_ledger_scan_balances(ls[i], fold_balance, st, eb);
        if (!err) err = st->err;
        row->projection_seq = a < row->head_seq ? a : row->head_seq;
        if (a > row->head_seq) r->projection_ahead = true;
        if (!err && a < row->head_seq)
            err = rf_ledger_scan(ls[i], a + 1, row->head_seq, unpost, st, eb);
        if (!err) err = st->err;
    }
    return err ? err : drift_compare(st);
}

/* ---- payouts ---- */

typedef struct pay_vec {
    rf_payout_t *v;
    size_t n, cap;
} pay_vec_t;

static rf_err_t pay_push(pay_vec_t *pv, const rf_payout_t *p, rf_errbuf_t *eb)
{
    if (pv->n == pv->cap) {
        if (pv->cap >= RF_FINANCE_PAYOUTS_MAX)
            return rf_errf(eb, RF_ERR_OVERSIZE,
                           "more than %u payouts or redemptions (RF_FINANCE_PAYOUTS_MAX): "
                           "reconcile a shorter period",
                           RF_FINANCE_PAYOUTS_MAX);
        size_t nc = pv->cap ? pv->cap * 2 : 1024;
        rf_payout_t *v = realloc(pv->v, nc * sizeof *v);
        if (!v) return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
        pv->v = v;
        pv->cap = nc;
    }
    pv->v[pv->n++] = *p;
    return RF_OK;
}

typedef struct red_st {
    pay_vec_t *pv;
    int64_t from_ms, to_ms;
    rf_err_t err;
    rf_errbuf_t *eb;
} red_st_t;

static int red_record(const rf_record_t *rec, void *opaque)
{
    red_st_t *st = opaque;
    if (strcmp(rec->kind, RF_KIND_REDEMPTION) || rec->occurred_at_ms < st->from_ms ||
        rec->occurred_at_ms >= st->to_ms)
        return 0;
    rf_payout_t p;
    memset(&p, 0, sizeof p);
    const char *user = rf_record_get_fact(rec, RF_FACT_USER);
    const char *req = rf_record_get_fact(rec, RF_FACT_REQUEST);
    rf_strlcpy(p.user, user ? user : "", sizeof p.user);
    rf_strlcpy(p.request_id, req ? req : "", sizeof p.request_id);
    memcpy(p.program, rec->program_id, sizeof p.program);
    for (uint32_t i = 0; i < rec->npostings; i++) {
        const rf_posting_t *q = &rec->postings[i];
        if (q->bucket != RF_BUCKET_REDEEMED || strcmp(q->owner, p.user)) continue;
        memcpy(p.asset, q->asset, sizeof p.asset);
        p.amount_minor += q->amount_minor;
    }
    p.partition = rec->partition;
    p.seq = rec->seq;
    st->err = pay_push(st->pv, &p, st->eb);
    return st->err != RF_OK;
}

static int file_payout(const rf_payout_t *p, void *opaque)
{
    red_st_t *st = opaque;
    st->err = pay_push(st->pv, p, st->eb);
    return st->err != RF_OK;
}

static int pay_cmp(const void *x, const void *y)
{
    const rf_payout_t *a = x, *b = y;
    int c = strcmp(a->program, b->program);
    if (!c) c = strcmp(a->user, b->user);
    if (!c) c = strcmp(a->request_id, b->request_id);
    if (!c && a->partition != b->partition) c = a->partition < b->partition ? -1 : 1;
    if (!c && a->seq != b->seq) c = a->seq < b->seq ? -1 : 1;
    if (!c && a->line != b->line) c = a->line < b->line ? -1 : 1;
    return c;
}

static void pay_issue(rf_reconcile_t *r, rf_payout_issue_kind_t kind, const rf_payout_t *led,
                      const rf_payout_t *file)
{
    if (kind == RF_PAYOUT_MISSING)
        r->missing++;
    else if (kind == RF_PAYOUT_UNEXPECTED)
        r->unexpected++;
    else
        r->mismatched++;
    r->ok = false;
    if (r->nissues >= RF_FINANCE_ISSUES_MAX) return;
    rf_payout_issue_t *is = &r->issues[r->nissues++];
    memset(is, 0, sizeof *is);
    is->kind = kind;
    if (led) is->ledger = *led;
    if (file) is->file = *file;
}

/* Merges the two sorted lists by (program, user, request_id), the fold's
 * idempotency key of a redemption (a repeated request is a "duplicate"
 * record, never a second redemption). Within one key the i-th redemption
 * pairs with the i-th payout line; the rest are missing or unexpected (a
 * request paid twice is one match and one unexpected). A redemption without
 * request id can never match: it is missing. */
static void pay_merge(pay_vec_t *led, pay_vec_t *file, rf_reconcile_t *r)
{
    size_t i = 0, j = 0;
    while (i < led->n || j < file->n) {
        int c = i == led->n ? 1 : j == file->n ? -1 : 0;
        if (c == 0) {
            c = strcmp(led->v[i].program, file->v[j].program);
            if (!c) c = strcmp(led->v[i].user, file->v[j].user);
            if (!c) c = strcmp(led->v[i].request_id, file->v[j].request_id);
            if (!c && !led->v[i].request_id[0]) c = -1;
        }
        if (c < 0) {
            pay_issue(r, RF_PAYOUT_MISSING, &led->v[i++], NULL);
        } else if (c > 0) {
            pay_issue(r, RF_PAYOUT_UNEXPECTED, NULL, &file->v[j++]);
        } else {
            const rf_payout_t *a = &led->v[i++], *b = &file->v[j++];
            if (strcmp(a->asset, b->asset) || a->amount_minor != b->amount_minor)
                pay_issue(r, RF_PAYOUT_MISMATCH, a, b);
            else
                r->matched++;
        }
    }
}

static rf_err_t payouts(const rf_reconcile_opts_t *o, rf_ledger_t **ls, int n, rf_reconcile_t *out,
                        rf_errbuf_t *eb)
{
    pay_vec_t led = {0}, file = {0};
    red_st_t st = {&led, o->from_ms, o->to_ms, RF_OK, eb};
    rf_err_t err = RF_OK;
    for (int i = 0; i < n && !err; i++) {
        err = rf_ledger_scan(ls[i], 1, 0, red_record, &st, eb);
        if (!err) err = st.err;
    }
    st.pv = &file;
    if (!err) err = rf_finance_read_payouts(o->payouts_csv, file_payout, &st, eb);
    if (!err) err = st.err;
    if (!err && !(out->issues = calloc(RF_FINANCE_ISSUES_MAX, sizeof *out->issues)))
        err = rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    if (!err) {
        qsort(led.v, led.n, sizeof *led.v, pay_cmp);
        qsort(file.v, file.n, sizeof *file.v, pay_cmp);
        out->ledger_redemptions = led.n;
        out->file_payouts = file.n;
        pay_merge(&led, &file, out);
        out->payouts_checked = true;
        RF_ASSERT(out->matched + out->mismatched + out->missing == led.n);
        RF_ASSERT(out->matched + out->mismatched + out->unexpected == file.n);
    }
    free(led.v);
    free(file.v);
    return err;
}

/* ---- the report ---- */

rf_err_t rf_finance_reconcile(const rf_reconcile_opts_t *o, rf_reconcile_t *out, rf_errbuf_t *eb)
{
    RF_ASSERT(o != NULL && o->data_dir != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    out->ok = true;
    snprintf(out->projection_note, sizeof out->projection_note, "not checked");
    drift_st_t *st = calloc(1, sizeof *st);
    if (!st) return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    rf_err_t err = o->projection ? drift_snapshot(o, st, out, eb) : RF_OK;
    rf_ledger_t *ls[RF_PARTITIONS_MAX];
    int n = err ? 0 : rf_finance_open_all(o->data_dir, ls, RF_PARTITIONS_MAX, eb);
    if (n < 0) err = (rf_err_t)n, n = 0;
    if (!err) err = trial_balance(ls, n, out, eb);
    for (int i = 0; i < n && !err; i++) {
        err = offsets_row(ls[i], &out->parts[i], eb);
        if (!err && !out->parts[i].ok) out->ok = false;
    }
    out->nparts = err ? 0 : n;
    if (!err && out->projection_checked) err = drift(st, ls, n, eb);
    if (!err && o->payouts_csv) err = payouts(o, ls, n, out, eb);
    rf_finance_close_all(ls, n);
    rf_acct_map_free(st->fold);
    rf_acct_map_free(st->proj);
    free(st);
    RF_ASSERT(out->nparts <= RF_PARTITIONS_MAX);
    if (err) rf_reconcile_free(out);
    return err;
}

void rf_reconcile_free(rf_reconcile_t *r)
{
    if (!r) return;
    free(r->tb);
    free(r->drift);
    free(r->issues);
    r->tb = NULL;
    r->drift = NULL;
    r->issues = NULL;
    r->ntb = r->ndrift = r->nissues = 0;
}

/* ---- payout CSV ---- */

#define CSV_FIELDS_MAX 32

/* Splits one CSV line (RFC 4180 quoting, no newline inside quotes) in place.
 * Returns the number of fields, or -1 when a quote is unbalanced. */
static int csv_split(char *line, char **f, int maxf)
{
    int n = 0;
    char *p = line;
    for (;;) {
        if (n == maxf) return -1;
        char *w = p;
        f[n++] = w;
        if (*p == '"') {
            for (p++;; p++) {
                if (!*p) return -1;
                if (*p == '"' && p[1] == '"')
                    *w++ = '"', p++;
                else if (*p == '"')
                    break;
                else
                    *w++ = *p;
            }
            p++;
            if (*p && *p != ',') return -1;
        } else {
            while (*p && *p != ',')
                *w++ = *p++;
        }
        char sep = *p;
        *w = 0;
        if (!sep) return n;
        p++;
    }
}

static const char *const csv_cols[5] = {"user", "program", "asset", "amount_minor", "request_id"};

static rf_err_t csv_header(char **f, int nf, int idx[5], const char *path, rf_errbuf_t *eb)
{
    for (int c = 0; c < 5; c++) {
        idx[c] = -1;
        for (int i = 0; i < nf; i++)
            if (!strcmp(f[i], csv_cols[c])) idx[c] = i;
        if (idx[c] < 0)
            return rf_errf(eb, RF_ERR_BAD_INPUT,
                           "'%s': header has no column '%s' (want user,program,asset,"
                           "amount_minor,request_id)",
                           path, csv_cols[c]);
    }
    return RF_OK;
}

static rf_err_t csv_row(char **f, int nf, const int idx[5], long lineno, rf_payout_t *p,
                        rf_errbuf_t *eb)
{
    memset(p, 0, sizeof *p);
    p->line = lineno;
    p->partition = -1;
    for (int c = 0; c < 5; c++)
        if (idx[c] >= nf) return rf_errf(eb, RF_ERR_BAD_INPUT, "line %ld: too few columns", lineno);
    char *end = NULL;
    errno = 0;
    long long amt = strtoll(f[idx[3]], &end, 10);
    if (errno || !*f[idx[3]] || *end || amt < -RF_AMOUNT_MAX || amt > RF_AMOUNT_MAX)
        return rf_errf(eb, RF_ERR_BAD_INPUT,
                       "line %ld: amount_minor '%s' is not an integer "
                       "amount in minor units",
                       lineno, f[idx[3]]);
    p->amount_minor = amt;
    if (rf_strlcpy(p->user, f[idx[0]], sizeof p->user) ||
        rf_strlcpy(p->program, f[idx[1]], sizeof p->program) ||
        rf_strlcpy(p->asset, f[idx[2]], sizeof p->asset) ||
        rf_strlcpy(p->request_id, f[idx[4]], sizeof p->request_id))
        return rf_errf(eb, RF_ERR_BAD_INPUT, "line %ld: a field is longer than refold allows",
                       lineno);
    return RF_OK;
}

rf_err_t rf_finance_read_payouts(const char *path, rf_payout_cb_t *cb, void *opaque,
                                 rf_errbuf_t *eb)
{
    RF_ASSERT(path != NULL && cb != NULL);
    FILE *fp = fopen(path, "r");
    if (!fp) return rf_errf(eb, RF_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    char line[RF_FINANCE_CSV_LINE_MAX + 2], *f[CSV_FIELDS_MAX];
    int idx[5], have_header = 0;
    long lineno = 0;
    rf_err_t err = RF_OK;
    while (!err && fgets(line, sizeof line, fp)) {
        lineno++;
        size_t len = strlen(line);
        if (len && line[len - 1] != '\n' && !feof(fp)) {
            err = rf_errf(eb, RF_ERR_BAD_INPUT, "'%s' line %ld: longer than %d bytes", path, lineno,
                          RF_FINANCE_CSV_LINE_MAX);
            break;
        }
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (!len) continue;
        int nf = csv_split(line, f, CSV_FIELDS_MAX);
        if (nf < 0) {
            err = rf_errf(eb, RF_ERR_BAD_INPUT,
                          "'%s' line %ld: unbalanced quote or too many "
                          "columns",
                          path, lineno);
        } else if (!have_header) {
            err = csv_header(f, nf, idx, path, eb);
            have_header = 1;
        } else {
            rf_payout_t p;
            err = csv_row(f, nf, idx, lineno, &p, eb);
            if (!err && cb(&p, opaque)) break;
        }
    }
    if (!err && ferror(fp)) err = rf_errf(eb, RF_ERR_IO, "cannot read '%s'", path);
    if (!err && !have_header)
        err = rf_errf(eb, RF_ERR_BAD_INPUT, "'%s' is empty (no header)", path);
    fclose(fp);
    return err;
}
