/* rf_query.c: read-only access to the projection stores (opened and
 * followed by rf_query_follow.c): balances, codes, leaderboards with the
 * rank algorithm, funnel counters, friends, the review queue, programs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_query_int.h"

/* ---- point reads and scans -------------------------------------------------- */

static rf_err_t qget(rf_query_t *q, qpart_t *qp, const uint8_t *k, size_t kl, uint8_t *out,
                     size_t cap, size_t *vl, rf_errbuf_t *eb)
{
    char *err = NULL;
    rocksdb_pinnableslice_t *ps = rocksdb_get_pinned(qp->db, q->ropts, (const char *)k, kl, &err);
    if (err) return rf_store_err(eb, err, "partition %d: read", (int)qp->partition);
    if (!ps) return RF_ERR_NOT_FOUND;
    size_t n;
    const char *v = rocksdb_pinnableslice_value(ps, &n);
    rf_err_t r = RF_OK;
    if (n > cap)
        r = rf_errf(eb, RF_ERR_CORRUPT, "partition %d: value too large", qp->partition);
    else
        memcpy(out, v, n);
    *vl = n;
    rocksdb_pinnableslice_destroy(ps);
    return r;
}

/* Calls cb for every key starting with prefix (in order) until cb returns
 * non-zero. */
typedef int(scan_cb_t)(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *opaque);
static rf_err_t qscan(rf_query_t *q, qpart_t *qp, const uint8_t *prefix, size_t pl, scan_cb_t *cb,
                      void *opaque, rf_errbuf_t *eb)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator(qp->db, q->ropts);
    for (rocksdb_iter_seek(it, (const char *)prefix, pl); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t kl, vl;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
        if (kl < pl || memcmp(k, prefix, pl) != 0) break;
        const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);
        if (cb(k, kl, v, vl, opaque)) break;
    }
    char *err = NULL;
    rocksdb_iter_get_error(it, &err);
    rocksdb_iter_destroy(it);
    return err ? rf_store_err(eb, err, "partition %d: scan", (int)qp->partition) : RF_OK;
}

static rf_err_t read_meta(rf_query_t *q, qpart_t *qp, rf_projection_meta_t *m, rf_errbuf_t *eb)
{
    uint8_t v[RF__META_LEN], k = RF__PK_META;
    size_t vl = 0; /* -O3 cannot see that an error return leaves it unread */
    memset(m, 0, sizeof *m);
    m->partition = qp->partition;
    m->next_offset = m->high_watermark = -1;
    rf_err_t err = qget(q, qp, &k, 1, v, sizeof v, &vl, eb);
    if (err == RF_ERR_NOT_FOUND) return RF_OK; /* nothing committed yet */
    if (err == RF_OK && rf__pj_meta_decode(v, vl, m, NULL) != RF_OK)
        err = rf_errf(eb, RF_ERR_CORRUPT, "partition %d: corrupt meta", (int)qp->partition);
    return err;
}

int rf_query_progress(rf_query_t *q, rf_projection_meta_t *out, int cap)
{
    int n = 0;
    for (int i = 0; i < RF_PARTITIONS_MAX && n < cap; i++) {
        qpart_t *qp = rf__q_part(q, i);
        if (qp && read_meta(q, qp, &out[n], NULL) == RF_OK) n++;
    }
    return n;
}

/* The partition holding program and its interned id. */
static rf_err_t find_program(rf_query_t *q, const char *program, qpart_t **qpo, uint32_t *no,
                             rf_errbuf_t *eb)
{
    uint8_t k[1 + RF__NAME_MAX], v[8];
    size_t nl = rf__pj_name_program((char *)k + 1, program), vl;
    k[0] = RF__PK_NAME;
    uint32_t slot = 0;
    for (size_t i = 0; i < nl; i++)
        slot = slot * 31 + k[1 + i];
    prog_slot_t *s = &q->cache[slot % PROGRAM_CACHE];
    pthread_mutex_lock(&q->mu);
    bool hit = strcmp(s->program, program) == 0 && s->program[0];
    int32_t part = s->partition;
    uint32_t id = s->no;
    pthread_mutex_unlock(&q->mu);
    if (hit && rf__q_part(q, part)) {
        *qpo = rf__q_part(q, part);
        *no = id;
        return RF_OK;
    }
    for (int i = 0; i < RF_PARTITIONS_MAX; i++) {
        qpart_t *qp = rf__q_part(q, i);
        if (!qp) continue;
        rf_err_t err = qget(q, qp, k, 1 + nl, v, sizeof v, &vl, eb);
        if (err == RF_ERR_NOT_FOUND) continue;
        if (err != RF_OK) return err;
        if (vl != 4) return rf_errf(eb, RF_ERR_CORRUPT, "partition %d: bad program id", i);
        *qpo = qp;
        *no = rf_be32_get(v);
        pthread_mutex_lock(&q->mu); /* a program never moves: cache hits only */
        rf_strlcpy(s->program, program, sizeof s->program);
        s->partition = i;
        s->no = *no;
        pthread_mutex_unlock(&q->mu);
        return RF_OK;
    }
    return rf_errf(eb, RF_ERR_NOT_FOUND, "unknown program '%.64s'", program);
}

rf_err_t rf_query_program(rf_query_t *q, const char *program, rf_errbuf_t *eb)
{
    qpart_t *qp;
    uint32_t no;
    return find_program(q, program, &qp, &no, eb);
}

/* ---- balances -------------------------------------------------------------- */

typedef struct bal_scan {
    rf_query_balance_t *out;
    int cap, n;
    size_t skip; /* bytes of the prefix before "program \0 asset" */
    bool overflow, bad;
    rf_query_balance_cb_t *cb;
    void *opaque;
} bal_scan_t;

/* Splits "owner \0 program \0 asset" (after 'B') into its three strings. */
static bool split_bal_key(const uint8_t *k, size_t kl, char owner[RF_ID_BUF],
                          char program[RF_ID_BUF], char asset[RF_ASSET_MAX + 1])
{
    const uint8_t *p = k + 1, *end = k + kl;
    const uint8_t *z1 = memchr(p, 0, (size_t)(end - p));
    const uint8_t *z2 = z1 ? memchr(z1 + 1, 0, (size_t)(end - z1 - 1)) : NULL;
    if (!z2 || z1 - p >= RF_ID_BUF || z2 - z1 - 1 >= RF_ID_BUF || end - z2 - 1 > RF_ASSET_MAX)
        return false;
    memcpy(owner, p, (size_t)(z1 - p));
    owner[z1 - p] = '\0';
    memcpy(program, z1 + 1, (size_t)(z2 - z1 - 1));
    program[z2 - z1 - 1] = '\0';
    memcpy(asset, z2 + 1, (size_t)(end - z2 - 1));
    asset[end - z2 - 1] = '\0';
    return true;
}

static int bal_row(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *opaque)
{
    bal_scan_t *s = opaque;
    char owner[RF_ID_BUF], program[RF_ID_BUF], asset[RF_ASSET_MAX + 1];
    int64_t b[RF_BUCKET__COUNT];
    if (vl != RF__BAL_VAL_LEN || !split_bal_key(k, kl, owner, program, asset)) {
        s->bad = true;
        return 1;
    }
    for (int i = 0; i < RF_BUCKET__COUNT; i++)
        b[i] = (int64_t)rf_be64_get(v + 8 * i);
    if (s->cb) return s->cb(program, owner, asset, b, s->opaque);
    if (s->n >= s->cap) {
        s->overflow = true;
        return 1;
    }
    rf_query_balance_t *o = &s->out[s->n++];
    memcpy(o->program, program, sizeof o->program);
    memcpy(o->asset, asset, sizeof o->asset);
    memcpy(o->buckets, b, sizeof b);
    return 0;
}

int rf_query_balances(rf_query_t *q, const char *user, const char *program, rf_query_balance_t *out,
                      int cap, rf_errbuf_t *eb)
{
    uint8_t prefix[QKEY_MAX];
    size_t ul = strlen(user), pl = program ? strlen(program) : 0, n = 0;
    if (!*user || ul > RF_ID_MAX || pl > RF_ID_MAX)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "bad user or program id");
    prefix[n++] = RF__PK_BAL;
    memcpy(prefix + n, user, ul + 1); /* the \0 ends the owner */
    n += ul + 1;
    if (program) {
        memcpy(prefix + n, program, pl + 1);
        n += pl + 1;
    }
    bal_scan_t s = {.out = out, .cap = cap};
    for (int i = 0; i < RF_PARTITIONS_MAX; i++) {
        qpart_t *qp = rf__q_part(q, i);
        if (!qp) continue;
        rf_err_t err = qscan(q, qp, prefix, n, bal_row, &s, eb);
        if (err != RF_OK) return err;
        if (s.bad) return rf_errf(eb, RF_ERR_CORRUPT, "partition %d: bad balance row", i);
        if (s.overflow) return rf_errf(eb, RF_ERR_OVERSIZE, "more than %d balance rows", cap);
    }
    return s.n;
}

int rf_query_balance_totals(const rf_query_balance_t *rows, int n, rf_query_balance_t *out, int cap)
{
    int m = 0;
    for (int i = 0; i < n; i++) {
        int j = 0;
        while (j < m && strcmp(out[j].asset, rows[i].asset) != 0)
            j++;
        if (j == m) {
            if (m >= cap) return RF_ERR_OVERSIZE;
            memset(&out[m], 0, sizeof out[m]);
            memcpy(out[m].asset, rows[i].asset, sizeof out[m].asset);
            m++;
        }
        for (int b = 0; b < RF_BUCKET__COUNT; b++)
            out[j].buckets[b] += rows[i].buckets[b]; /* ledger limits keep sums in range */
    }
    return m;
}

rf_err_t rf_query_scan_balances(rf_query_t *q, rf_query_balance_cb_t *cb, void *opaque,
                                rf_errbuf_t *eb)
{
    uint8_t prefix = RF__PK_BAL;
    bal_scan_t s = {.cb = cb, .opaque = opaque};
    for (int i = 0; i < RF_PARTITIONS_MAX; i++) {
        qpart_t *qp = rf__q_part(q, i);
        if (!qp) continue;
        rf_err_t err = qscan(q, qp, &prefix, 1, bal_row, &s, eb);
        if (err != RF_OK) return err;
        if (s.bad) return rf_errf(eb, RF_ERR_CORRUPT, "partition %d: bad balance row", i);
    }
    return RF_OK;
}

/* ---- codes --------------------------------------------------------------- */

rf_err_t rf_query_code(rf_query_t *q, const char *program, const char *user,
                       char out[RF_FACT_VAL_MAX + 1], rf_errbuf_t *eb)
{
    qpart_t *qp;
    uint32_t no;
    size_t ul = strlen(user), vl;
    if (!*user || ul > RF_ID_MAX) return rf_errf(eb, RF_ERR_BAD_INPUT, "bad user id");
    rf_err_t err = find_program(q, program, &qp, &no, eb);
    if (err != RF_OK) return err;
    uint8_t k[QKEY_MAX];
    k[0] = RF__PK_CODE;
    rf_be32_put(k + 1, no);
    memcpy(k + 5, user, ul);
    err = qget(q, qp, k, 5 + ul, (uint8_t *)out, RF_FACT_VAL_MAX, &vl, eb);
    if (err == RF_ERR_NOT_FOUND)
        return rf_errf(eb, RF_ERR_NOT_FOUND, "user '%.64s' holds no code in '%.64s'", user,
                       program);
    if (err == RF_OK) out[vl] = '\0';
    return err;
}

rf_err_t rf_query_code_owner(rf_query_t *q, const char *program, const char *code,
                             char user[RF_ID_BUF], rf_errbuf_t *eb)
{
    qpart_t *qp;
    uint32_t no;
    size_t cl = strlen(code), vl;
    if (!*code || cl > RF_ID_MAX) return rf_errf(eb, RF_ERR_BAD_INPUT, "bad code");
    rf_err_t err = find_program(q, program, &qp, &no, eb);
    if (err != RF_OK) return err;
    uint8_t k[QKEY_MAX];
    k[0] = RF__PK_CODEREV;
    rf_be32_put(k + 1, no);
    memcpy(k + 5, code, cl);
    err = qget(q, qp, k, 5 + cl, (uint8_t *)user, RF_ID_MAX, &vl, eb);
    if (err == RF_ERR_NOT_FOUND)
        return rf_errf(eb, RF_ERR_NOT_FOUND, "no code '%.64s' in '%.64s'", code, program);
    if (err == RF_OK) user[vl] = '\0';
    return err;
}

rf_err_t rf_query_landing(rf_query_t *q, const char *program, rf_query_landing_t *out,
                          rf_errbuf_t *eb)
{
    qpart_t *qp;
    uint32_t no;
    size_t vl;
    char v[2 * RF_FACT_VAL_MAX + 2];
    rf_err_t err = find_program(q, program, &qp, &no, eb);
    if (err != RF_OK) return err;
    uint8_t k[5] = {RF__PK_LANDING};
    rf_be32_put(k + 1, no);
    err = qget(q, qp, k, sizeof k, (uint8_t *)v, sizeof v - 1, &vl, eb);
    if (err == RF_OK) v[vl] = '\0';
    char *sp = err == RF_OK ? strchr(v, ' ') : NULL;
    if (err == RF_ERR_NOT_FOUND || (err == RF_OK && vl == 0))
        return rf_errf(eb, RF_ERR_NOT_FOUND, "program '%.64s' has no landing_url", program);
    if (err != RF_OK) return err;
    if (!sp) return rf_errf(eb, RF_ERR_CORRUPT, "program '%.64s': bad landing key", program);
    *sp = '\0';
    if (rf_parse_i64(v, 0, INT32_MAX, &out->attribution_days, "attribution days", eb) != RF_OK ||
        rf_strlcpy(out->url, sp + 1, sizeof out->url) != RF_OK)
        return rf_errf(eb, RF_ERR_CORRUPT, "program '%.64s': bad landing key", program);
    return RF_OK;
}

/* ---- leaderboards ------------------------------------------------------------ */

typedef struct assets_scan {
    char asset[RF_ASSET_MAX + 1];
    uint32_t id;
    int n;
    char list[96];
} assets_scan_t;

static int asset_row(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *opaque)
{
    assets_scan_t *s = opaque;
    const uint8_t *z = k + kl;
    while (z > k && z[-1] != 0)
        z--; /* the asset is after the last \0 */
    size_t al = (size_t)(k + kl - z);
    if (vl != 4 || al > RF_ASSET_MAX) return 0;
    if (s->n++ == 0) {
        memcpy(s->asset, z, al);
        s->asset[al] = '\0';
        s->id = rf_be32_get(v);
    }
    size_t used = strlen(s->list);
    snprintf(s->list + used, sizeof s->list - used, "%s%.*s", used ? ", " : "", (int)al, z);
    return 0;
}

/* Finds the series id of sel (0 when the board does not exist yet: an empty board). */
static rf_err_t series_of(rf_query_t *q, qpart_t *qp, const rf_board_sel_t *sel, uint32_t *id,
                          rf_board_info_t *info, rf_errbuf_t *eb)
{
    uint8_t k[1 + RF__NAME_MAX], v[8];
    size_t vl, n;
    char metric = sel->by == RF_BOARD_VALUE ? RF__METRIC_VALUE : RF__METRIC_REFERRALS;
    const char *asset = sel->by == RF_BOARD_VALUE && sel->asset ? sel->asset : "";
    if (strlen(asset) > RF_ASSET_MAX) return rf_errf(eb, RF_ERR_BAD_INPUT, "bad asset");
    k[0] = RF__PK_NAME;
    n = 1 + rf__pj_name_series((char *)k + 1, sel->program, metric, asset);
    *id = 0;
    if (sel->by == RF_BOARD_VALUE && !sel->asset) { /* the program's only reward asset */
        assets_scan_t s = {{0}, 0, 0, {0}};
        rf_err_t err = qscan(q, qp, k, n, asset_row, &s, eb);
        if (err != RF_OK) return err;
        if (s.n > 1)
            return rf_errf(eb, RF_ERR_BAD_INPUT, "rewards in several assets (%s): pick one",
                           s.list);
        rf_strlcpy(info->asset, s.asset, sizeof info->asset);
        *id = s.id;
        return RF_OK;
    }
    rf_strlcpy(info->asset, asset, sizeof info->asset);
    rf_err_t err = qget(q, qp, k, n, v, sizeof v, &vl, eb);
    if (err == RF_ERR_NOT_FOUND) return RF_OK;
    if (err == RF_OK && vl == 4) *id = rf_be32_get(v);
    return err == RF_OK && vl != 4 ? RF_ERR_CORRUPT : err;
}

static rf_err_t resolve_board(rf_query_t *q, const rf_board_sel_t *sel, qpart_t **qp,
                              uint8_t board[RF__BOARD_LEN], rf_board_info_t *info, rf_errbuf_t *eb)
{
    uint32_t no, sid;
    rf_projection_meta_t m;
    rf__period_t per;
    memset(info, 0, sizeof *info);
    if (!sel->program || !*sel->program || strlen(sel->program) > RF_ID_MAX)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "bad program id");
    rf_err_t err = find_program(q, sel->program, qp, &no, eb);
    if (err == RF_OK) err = read_meta(q, *qp, &m, eb);
    if (err == RF_OK)
        err = rf__pj_period_parse(sel->period ? sel->period : "all", m.event_time_ms, &per, eb);
    if (err == RF_OK) err = series_of(q, *qp, sel, &sid, info, eb);
    if (err != RF_OK) return err;
    rf__pj_period_format(per, info->period);
    info->partition = (*qp)->partition;
    rf_be32_put(board, sid);
    rf__pj_period_put(board + 4, per);
    uint8_t k[1 + RF__BOARD_LEN + 1], v[8];
    size_t vl;
    k[0] = RF__PK_RANK;
    memcpy(k + 1, board, RF__BOARD_LEN);
    k[1 + RF__BOARD_LEN] = 0;
    err = qget(q, *qp, k, sizeof k, v, sizeof v, &vl, eb);
    if (err == RF_OK && vl == 8) info->users = rf_be64_get(v);
    return err == RF_ERR_NOT_FOUND ? RF_OK : err;
}

typedef struct top_scan {
    rf_board_entry_t *out;
    int k, n;
    bool bad;
} top_scan_t;

static int top_row(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *opaque)
{
    top_scan_t *s = opaque;
    (void)v;
    (void)vl;
    const size_t off = 1 + RF__BOARD_LEN;
    rf_board_entry_t *e = &s->out[s->n];
    size_t sl = rf__pj_sk_decode(k + off, kl - off, &e->score, &e->reached_seq);
    size_t ul = kl - off - sl;
    if (!sl || ul == 0 || ul > RF_ID_MAX) {
        s->bad = true;
        return 1;
    }
    memcpy(e->user, k + off + sl, ul);
    e->user[ul] = '\0';
    e->rank = (uint64_t)++s->n;
    return s->n >= s->k;
}

int rf_query_top(rf_query_t *q, const rf_board_sel_t *sel, int k, rf_board_entry_t *out,
                 rf_board_info_t *info, rf_errbuf_t *eb)
{
    rf_board_info_t tmp;
    qpart_t *qp;
    uint8_t board[RF__BOARD_LEN], prefix[1 + RF__BOARD_LEN];
    if (!info) info = &tmp;
    if (k < 1 || k > RF_LEADERBOARD_TOP_MAX)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "top must be 1..%d", RF_LEADERBOARD_TOP_MAX);
    rf_err_t err = resolve_board(q, sel, &qp, board, info, eb);
    if (err != RF_OK) return err;
    prefix[0] = RF__PK_LB;
    memcpy(prefix + 1, board, RF__BOARD_LEN);
    top_scan_t s = {.out = out, .k = k};
    err = qscan(q, qp, prefix, sizeof prefix, top_row, &s, eb);
    if (err == RF_OK && s.bad) err = rf_errf(eb, RF_ERR_CORRUPT, "bad leaderboard key");
    return err != RF_OK ? err : s.n;
}

/* Entries before sk (rank - 1): for each depth d < len, the counts in the
 * rank node of sk[0..d-1) of the bytes below sk[d-1] (one point read each),
 * then the board keys that share sk[0..len-1) and sort before (sk, user): at
 * most 255 keys, usually a few. */
static rf_err_t count_before(rf_query_t *q, qpart_t *qp, const uint8_t board[RF__BOARD_LEN],
                             const uint8_t *sk, size_t len, const char *user, uint64_t *before,
                             rf_errbuf_t *eb)
{
    uint8_t lo[QKEY_MAX], hi[QKEY_MAX], node[RF__RNODE_MAX];
    *before = 0;
    for (size_t d = 1; d < len; d++) { /* 'R' board d sk[0..d-1) */
        size_t nl;
        lo[0] = RF__PK_RANK;
        memcpy(lo + 1, board, RF__BOARD_LEN);
        lo[1 + RF__BOARD_LEN] = (uint8_t)d;
        memcpy(lo + 2 + RF__BOARD_LEN, sk, d - 1);
        rf_err_t err = qget(q, qp, lo, 2 + RF__BOARD_LEN + d - 1, node, sizeof node, &nl, eb);
        if (err == RF_ERR_NOT_FOUND) continue; /* only while a commit moves the entry */
        if (err != RF_OK) return err;
        if (nl % RF__RNODE_ENTRY) return rf_errf(eb, RF_ERR_CORRUPT, "bad rank node");
        for (size_t i = 0; i < nl && node[i] < sk[d - 1]; i += RF__RNODE_ENTRY)
            *before += rf_be32_get(node + i + 1);
    }
    /* 'L' board sk[0..len-1) .. 'L' board sk user */
    size_t ul = strlen(user), ll = 1 + RF__BOARD_LEN + len - 1, hl = ll + 1 + ul;
    RF_ASSERT(hl <= QKEY_MAX);
    lo[0] = RF__PK_LB;
    memcpy(lo + 1, board, RF__BOARD_LEN);
    memcpy(lo + 1 + RF__BOARD_LEN, sk, len - 1);
    memcpy(hi, lo, ll);
    hi[ll] = sk[len - 1];
    memcpy(hi + ll + 1, user, ul);
    rocksdb_iterator_t *it = rocksdb_create_iterator(qp->db, q->ropts);
    for (rocksdb_iter_seek(it, (const char *)lo, ll); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t kl;
        const uint8_t *key = (const uint8_t *)rocksdb_iter_key(it, &kl);
        size_t m = kl < hl ? kl : hl;
        int c = memcmp(key, hi, m);
        if (c > 0 || (c == 0 && kl >= hl)) break; /* reached (sk, user) */
        (*before)++;
    }
    char *err = NULL;
    rocksdb_iter_get_error(it, &err);
    rocksdb_iter_destroy(it);
    return err ? rf_store_err(eb, err, "rank scan") : RF_OK;
}

/* A user's entry (be64 score, be64 reached) on board: in the user's series
 * summary ('U') when it holds the board's period, else in the per-period old
 * key ('u'); see "per-user period summaries" in rf_project_int.h. */
static rf_err_t user_entry(rf_query_t *q, qpart_t *qp, const uint8_t board[RF__BOARD_LEN],
                           const char *user, uint8_t out[16], rf_errbuf_t *eb)
{
    uint8_t k[QKEY_MAX], v[RF__SUM_LEN(16)];
    size_t ul = strlen(user), vl;
    RF_ASSERT(ul <= RF_ID_MAX && 1 + RF__BOARD_LEN + ul <= QKEY_MAX);
    rf__period_t per = {board[4], rf_be32_get(board + 5)};
    rf__pj_sum_t sum;
    k[0] = RF__PK_USER;
    memcpy(k + 1, board, 4);
    memcpy(k + 5, user, ul);
    rf_err_t err = qget(q, qp, k, 5 + ul, v, sizeof v, &vl, eb);
    if (err == RF_OK && !rf__pj_sum_decode(v, vl, 16, &sum))
        err = rf_errf(eb, RF_ERR_CORRUPT, "bad leaderboard entry");
    rf__sum_where_t where = err == RF_OK ? rf__pj_sum_where(&sum, per) : RF__SUM_ABSENT;
    if (err == RF_OK && where == RF__SUM_HERE)
        memcpy(out, sum.payload[rf__pj_sum_index(per.type)], 16);
    if (err == RF_OK && where == RF__SUM_OLD) {
        k[0] = RF__PK_USER_OLD;
        memcpy(k + 1, board, RF__BOARD_LEN);
        memcpy(k + 1 + RF__BOARD_LEN, user, ul);
        err = qget(q, qp, k, 1 + RF__BOARD_LEN + ul, out, 16, &vl, eb);
        if (err == RF_OK && vl != 16) err = rf_errf(eb, RF_ERR_CORRUPT, "bad leaderboard entry");
    }
    if (err == RF_ERR_NOT_FOUND || (err == RF_OK && where == RF__SUM_ABSENT))
        return rf_errf(eb, RF_ERR_NOT_FOUND, "user '%.64s' is not on this leaderboard", user);
    return err;
}

rf_err_t rf_query_rank(rf_query_t *q, const rf_board_sel_t *sel, const char *user,
                       rf_board_entry_t *out, rf_board_info_t *info, rf_errbuf_t *eb)
{
    rf_board_info_t tmp;
    qpart_t *qp;
    uint8_t board[RF__BOARD_LEN], v[16], sk[RF__SK_MAX];
    size_t ul = strlen(user);
    if (!info) info = &tmp;
    if (!*user || ul > RF_ID_MAX) return rf_errf(eb, RF_ERR_BAD_INPUT, "bad user id");
    rf_err_t err = resolve_board(q, sel, &qp, board, info, eb);
    if (err != RF_OK) return err;
    err = user_entry(q, qp, board, user, v, eb);
    if (err != RF_OK) return err;
    memset(out, 0, sizeof *out);
    memcpy(out->user, user, ul + 1);
    out->score = (int64_t)rf_be64_get(v);
    out->reached_seq = rf_be64_get(v + 8);
    size_t len = rf__pj_sk_encode(out->score, out->reached_seq, sk);
    uint64_t before;
    err = count_before(q, qp, board, sk, len, user, &before, eb);
    out->rank = before + 1;
    return err;
}

/* ---- stats ------------------------------------------------------------------- */

typedef struct stat_scan {
    rf_stat_row_t *out;
    int cap, n;
    bool overflow;
} stat_scan_t;

static int stat_row(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *opaque)
{
    stat_scan_t *s = opaque;
    const size_t off = 1 + 4 + RF__PERIOD_LEN;
    const char *name = kl > off ? rf__pj_metric_name(k[off]) : NULL;
    const uint8_t *ch = k + off + 1, *end = k + kl;
    const uint8_t *z = name ? memchr(ch, 0, (size_t)(end - ch)) : NULL;
    if (!z || vl != 8 || z - ch >= RF_ID_BUF || end - z - 1 >= RF_ID_BUF) return 0; /* skip */
    if (s->n >= s->cap) {
        s->overflow = true;
        return 1;
    }
    rf_stat_row_t *r = &s->out[s->n++];
    rf_strlcpy(r->metric, name, sizeof r->metric);
    memcpy(r->channel, ch, (size_t)(z - ch));
    r->channel[z - ch] = '\0';
    memcpy(r->tail, z + 1, (size_t)(end - z - 1));
    r->tail[end - z - 1] = '\0';
    r->value = (int64_t)rf_be64_get(v);
    return 0;
}

int rf_query_stat_rows(rf_query_t *q, const char *program, const char *period, rf_stat_row_t *out,
                       int cap, rf_errbuf_t *eb)
{
    qpart_t *qp;
    uint32_t no;
    rf_projection_meta_t m;
    rf__period_t per;
    if (!program || !*program || strlen(program) > RF_ID_MAX)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "bad program id");
    rf_err_t err = find_program(q, program, &qp, &no, eb);
    if (err == RF_OK) err = read_meta(q, qp, &m, eb);
    if (err == RF_OK) err = rf__pj_period_parse(period ? period : "all", m.event_time_ms, &per, eb);
    if (err != RF_OK) return err;
    uint8_t prefix[1 + 4 + RF__PERIOD_LEN];
    prefix[0] = RF__PK_STAT;
    rf_be32_put(prefix + 1, no);
    rf__pj_period_put(prefix + 5, per);
    stat_scan_t s = {.out = out, .cap = cap};
    err = qscan(q, qp, prefix, sizeof prefix, stat_row, &s, eb);
    if (err == RF_OK && s.overflow)
        err = rf_errf(eb, RF_ERR_OVERSIZE, "more than %d stats rows", cap);
    return err != RF_OK ? err : s.n;
}

/* ---- a referrer's friends --------------------------------------------------- */

typedef struct friend_scan {
    rf_friend_row_t *out;
    int n;
    size_t plen; /* the prefix 'P' prog referrer \0 */
    int64_t total;
    bool bad;
} friend_scan_t;

static const char *friend_status(uint8_t s)
{
    static const char *names[] = {[RF__FS_SIGNED_UP] = "signed_up",
                                  [RF__FS_PURCHASED] = "purchased",
                                  [RF__FS_PENDING] = "pending",
                                  [RF__FS_AVAILABLE] = "available",
                                  [RF__FS_REVERSED] = "reversed"};
    return s < sizeof names / sizeof *names ? names[s] : NULL;
}

static int friend_row(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *opaque)
{
    friend_scan_t *s = opaque;
    (void)k;             /* the scan's prefix: only its length tells the count from an entry */
    if (kl == s->plen) { /* the referrer's count */
        if (vl != 8) goto bad;
        s->total = (int64_t)rf_be64_get(v);
        return 0;
    }
    if (kl != s->plen + 2 || s->n == RF_REFERRAL_FRIENDS_MAX) goto bad;
    if (vl < RF__FRIEND_FIXED + 1 || vl > RF__FRIEND_VAL_MAX) goto bad;
    rf_friend_row_t *r = &s->out[s->n];
    memset(r, 0, sizeof *r);
    r->n = rf_be64_get(v);
    r->signed_up_ms = (int64_t)rf_be64_get(v + 8);
    r->hold_until_ms = (int64_t)rf_be64_get(v + 16);
    r->amount = (int64_t)rf_be64_get(v + 24);
    r->status = friend_status(v[32]);
    r->in_review = v[33] & RF__FF_IN_REVIEW;
    size_t al = strnlen((const char *)v + RF__FRIEND_FIXED, vl - RF__FRIEND_FIXED);
    size_t fl = vl - RF__FRIEND_FIXED - al - 1;
    if (!r->status || RF__FRIEND_FIXED + al >= vl || al >= sizeof r->asset ||
        fl >= sizeof r->friend_)
        goto bad;
    memcpy(r->asset, v + RF__FRIEND_FIXED, al + 1);
    memcpy(r->friend_, v + RF__FRIEND_FIXED + al + 1, fl);
    r->friend_[fl] = '\0';
    s->n++;
    return 0;
bad:
    s->bad = true;
    return 1;
}

static int friend_cmp(const void *a, const void *b)
{
    uint64_t x = ((const rf_friend_row_t *)a)->n, y = ((const rf_friend_row_t *)b)->n;
    return x < y ? 1 : x > y ? -1 : 0; /* newest first */
}

int rf_query_friends(rf_query_t *q, const char *program, const char *referrer,
                     rf_friend_row_t out[RF_REFERRAL_FRIENDS_MAX], int64_t *total, rf_errbuf_t *eb)
{
    qpart_t *qp;
    uint32_t no;
    *total = 0;
    size_t rl = referrer ? strlen(referrer) : 0;
    if (!rl || rl > RF_ID_MAX) return rf_errf(eb, RF_ERR_BAD_INPUT, "bad user id");
    rf_err_t err = find_program(q, program, &qp, &no, eb);
    if (err != RF_OK) return err;
    uint8_t prefix[QKEY_MAX];
    prefix[0] = RF__PK_FRIEND;
    rf_be32_put(prefix + 1, no);
    memcpy(prefix + 5, referrer, rl);
    prefix[5 + rl] = 0;
    friend_scan_t s = {.out = out, .plen = 6 + rl};
    err = qscan(q, qp, prefix, s.plen, friend_row, &s, eb);
    if (err == RF_OK && s.bad)
        err = rf_errf(eb, RF_ERR_CORRUPT, "partition %d: corrupt friend entry", (int)qp->partition);
    if (err != RF_OK) return err;
    qsort(out, (size_t)s.n, sizeof *out, friend_cmp);
    *total = s.total;
    return s.n;
}

/* ---- review queue ---------------------------------------------------------- */

typedef struct review_scan {
    rf_review_row_t *out;
    int cap, n;
    bool more, bad;
} review_scan_t;

/* Copies the NUL-terminated field at *off of v into out (cap bytes). */
static bool review_field(const uint8_t *v, size_t vl, size_t *off, char *out, size_t cap)
{
    size_t l = strnlen((const char *)v + *off, vl - *off);
    if (*off + l >= vl || l >= cap) return false;
    memcpy(out, v + *off, l);
    out[l] = '\0';
    *off += l + 1;
    return true;
}

static int review_row(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *opaque)
{
    review_scan_t *s = opaque;
    if (s->n == s->cap) {
        s->more = true;
        return 1;
    }
    rf_review_row_t *r = &s->out[s->n];
    size_t off = 0;
    memset(r, 0, sizeof *r);
    if (kl != 1 + 4 + 16 || vl < 4 + 4 || vl > RF__REVIEW_VAL_MAX) goto bad;
    if (!review_field(v, vl, &off, r->friend_, sizeof r->friend_) ||
        !review_field(v, vl, &off, r->referrer, sizeof r->referrer) ||
        !review_field(v, vl, &off, r->reason, sizeof r->reason) ||
        !review_field(v, vl, &off, r->checks, sizeof r->checks) || off + 4 > vl)
        goto bad;
    r->rewards = rf_be32_get(v + off);
    off += 4;
    while (off < vl) {
        if (r->nheld == RF_REVIEW_ASSETS_MAX ||
            !review_field(v, vl, &off, r->held[r->nheld].asset, sizeof r->held[0].asset) ||
            off + 8 > vl)
            goto bad;
        r->held[r->nheld++].amount = (int64_t)rf_be64_get(v + off);
        off += 8;
    }
    r->held_at_ms = (int64_t)rf_be64_get(k + 5);
    r->seq = rf_be64_get(k + 13);
    s->n++;
    return 0;
bad:
    s->bad = true;
    return 1;
}

int rf_query_reviews(rf_query_t *q, const char *program, rf_review_row_t *out, int cap, bool *more,
                     rf_errbuf_t *eb)
{
    qpart_t *qp;
    uint32_t no;
    *more = false;
    if (!program || !*program || strlen(program) > RF_ID_MAX)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "bad program id");
    rf_err_t err = find_program(q, program, &qp, &no, eb);
    if (err != RF_OK) return err;
    uint8_t prefix[1 + 4];
    prefix[0] = RF__PK_REVIEW;
    rf_be32_put(prefix + 1, no);
    review_scan_t s = {.out = out, .cap = cap};
    err = qscan(q, qp, prefix, sizeof prefix, review_row, &s, eb);
    if (err == RF_OK && s.bad)
        err = rf_errf(eb, RF_ERR_CORRUPT, "partition %d: corrupt review queue entry",
                      (int)qp->partition);
    *more = s.more;
    return err != RF_OK ? err : s.n;
}

rf_err_t rf_query_period(rf_query_t *q, const char *program, const char *period, char out[32],
                         rf_errbuf_t *eb)
{
    qpart_t *qp;
    uint32_t no;
    rf_projection_meta_t m;
    rf__period_t per;
    if (!program || !*program || strlen(program) > RF_ID_MAX)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "bad program id");
    rf_err_t err = find_program(q, program, &qp, &no, eb);
    if (err == RF_OK) err = read_meta(q, qp, &m, eb);
    if (err == RF_OK) err = rf__pj_period_parse(period ? period : "all", m.event_time_ms, &per, eb);
    if (err == RF_OK) rf__pj_period_format(per, out);
    return err;
}

void rf_query_ratio(int64_t num, int64_t den, int decimals, char out[48])
{
    RF_ASSERT(decimals >= 0 && decimals <= 6);
    if (den == 0) {
        out[0] = '\0';
        return;
    }
    __extension__ __int128 scale = 1, n = num, d = den;
    for (int i = 0; i < decimals; i++)
        scale *= 10;
    bool neg = (n < 0) != (d < 0);
    if (n < 0) n = -n;
    if (d < 0) d = -d;
    __extension__ __int128 v = (n * scale * 2 + d) / (2 * d); /* half away from zero */
    long long ip = (long long)(v / scale), fp = (long long)(v % scale);
    if (decimals == 0)
        snprintf(out, 48, "%s%lld", neg && v ? "-" : "", ip);
    else
        snprintf(out, 48, "%s%lld.%0*lld", neg && v ? "-" : "", ip, decimals, fp);
}

void rf_query_applied_seqs(rf_query_t *q, uint64_t applied[RF_PARTITIONS_MAX])
{
    rf_projection_meta_t meta[RF_PARTITIONS_MAX];
    memset(applied, 0, RF_PARTITIONS_MAX * sizeof applied[0]);
    int n = rf_query_progress(q, meta, RF_PARTITIONS_MAX);
    for (int i = 0; i < n; i++)
        if (meta[i].partition >= 0 && meta[i].partition < RF_PARTITIONS_MAX)
            applied[meta[i].partition] = meta[i].applied_seq;
}

/* ---- programs ------------------------------------------------------------- */

typedef struct prog_scan {
    char (*out)[RF_ID_BUF];
    int cap, n;
} prog_scan_t;

static int prog_row(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *opaque)
{
    prog_scan_t *s = opaque;
    size_t nl = kl - 3; /* 'N' 'p' '\0' program */
    (void)v;
    (void)vl;
    if (nl == 0 || nl > RF_ID_MAX) return 0;
    if (s->n >= s->cap) return 1;
    memcpy(s->out[s->n], k + 3, nl);
    s->out[s->n++][nl] = '\0';
    return 0;
}

static int prog_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

int rf_query_programs(rf_query_t *q, char (*out)[RF_ID_BUF], int cap, rf_errbuf_t *eb)
{
    const uint8_t prefix[3] = {RF__PK_NAME, RF__NAME_PROGRAM, 0};
    prog_scan_t s = {out, cap, 0};
    for (int i = 0; i < RF_PARTITIONS_MAX; i++) {
        qpart_t *qp = rf__q_part(q, i);
        if (!qp) continue;
        rf_err_t err = qscan(q, qp, prefix, sizeof prefix, prog_row, &s, eb);
        if (err != RF_OK) return err;
    }
    qsort(out, (size_t)s.n, sizeof *out, prog_cmp);
    return s.n;
}
