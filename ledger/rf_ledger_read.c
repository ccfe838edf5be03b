/* rf_ledger_read.c: the ledger's read API over committed state: head,
 * records (checked on read), balances, archive, dead letters, outbox ack,
 * partitions on disk, checkpoints. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_ledger_int.h"

rf_err_t rf_ledger_head(rf_ledger_t *l, rf_ledger_head_t *head, rf_errbuf_t *eb)
{
    RF_ASSERT(l != NULL && head != NULL);
    (void)eb;
    const rf__meta_t *m = &l->committed;
    memset(head, 0, sizeof *head);
    head->partition = l->partition;
    head->seq = m->head_seq;
    memcpy(head->hash, m->head_hash, 32);
    head->next_offset = m->next_offset;
    head->event_time_ms = m->event_time_ms;
    memcpy(head->counts, m->counts, sizeof head->counts);
    head->outbox_seq = m->outbox_seq;
    return RF_OK;
}

rf_err_t rf__db_range(rf_ledger_t *l, const uint8_t *start, size_t slen, const uint8_t *end,
                      size_t elen, rf__kv_cb_t *cb, void *opaque, rf_errbuf_t *eb)
{
    RF_ASSERT(l != NULL && cb != NULL && end != NULL && elen > 0);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    /* the upper bound lets RocksDB stop at the range's end without reading on */
    rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)end, elen);
    /* a range lies in one column family: the one of its start key */
    RF_ASSERT(slen > 0);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(l->db, ro, rf__cf(l, start[0]));
    for (rocksdb_iter_seek(it, (const char *)start, slen); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t kl = 0, vl = 0;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *v = rocksdb_iter_value(it, &vl);
        if (cb((const uint8_t *)k, kl, (const uint8_t *)v, vl, opaque)) break;
    }
    char *errptr = NULL;
    rocksdb_iter_get_error(it, &errptr);
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    return errptr ? rf__rocks_err(eb, errptr, "cannot scan ledger") : RF_OK;
}

rf_err_t rf_ledger_get_record(rf_ledger_t *l, uint64_t seq, rf_record_t *rec, rf_errbuf_t *eb)
{
    RF_ASSERT(l != NULL && rec != NULL);
    uint8_t key[9];
    rf__key_u64(key, RF__K_RECORD, seq);
    char *val = NULL;
    size_t vlen = 0;
    rf_err_t err = rf__db_get(l, key, sizeof key, &val, &vlen, eb);
    if (err == RF_ERR_NOT_FOUND)
        return rf_errf(eb, err, "partition %d has no record %llu", (int)l->partition,
                       (unsigned long long)seq);
    if (err) return err;
    err = rf__record_load(l, (const uint8_t *)val, vlen, rec, eb);
    rocksdb_free(val);
    if (!err && rec->seq != seq)
        err = rf_errf(eb, RF_ERR_CORRUPT, "record under key %llu says seq %llu",
                      (unsigned long long)seq, (unsigned long long)rec->seq);
    return err;
}

typedef struct scan_st {
    rf_ledger_t *l;
    rf_record_cb_t *cb;
    void *opaque;
    rf_record_t *rec;
    uint64_t expect;
    uint8_t prev[32];
    int have_prev;
    int stopped; /* cb asked to stop */
    rf_err_t err;
    rf_errbuf_t *eb;
} scan_st_t;

static int scan_one(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *opaque)
{
    scan_st_t *st = opaque;
    uint64_t seq = kl == 9 ? rf_be64_get(k + 1) : 0;
    if (seq != st->expect) {
        st->err = rf_errf(st->eb, RF_ERR_GAP, "record %llu missing (found %llu)",
                          (unsigned long long)st->expect, (unsigned long long)seq);
        return 1;
    }
    st->err = rf__record_load(st->l, v, vl, st->rec, st->eb);
    if (!st->err && st->rec->seq != seq)
        st->err = rf_errf(st->eb, RF_ERR_CORRUPT, "record %llu says seq %llu",
                          (unsigned long long)seq, (unsigned long long)st->rec->seq);
    if (!st->err && st->have_prev && memcmp(st->prev, st->rec->prev_hash, 32))
        st->err = rf_errf(st->eb, RF_ERR_CORRUPT, "record %llu does not link to record %llu",
                          (unsigned long long)seq, (unsigned long long)seq - 1);
    if (st->err) return 1;
    memcpy(st->prev, st->rec->hash, 32);
    st->have_prev = 1;
    st->expect++;
    st->stopped = st->cb(st->rec, st->opaque) != 0;
    return st->stopped;
}

/* ---- the committed-records tail: what the outbox publishes next ---- */

void rf__tail_free(rf_ledger_t *l)
{
    rf__buf_free(&l->tail_buf);
    rf__buf_free(&l->tail_len);
    l->tail_first = 0;
}

static void tail_clear(rf_ledger_t *l)
{
    l->tail_buf.len = l->tail_len.len = 0;
    l->tail_first = l->committed.head_seq + 1;
}

/* Drops the records the outbox acknowledged (seq <= ack) from the front. */
static void tail_trim(rf_ledger_t *l, uint64_t ack)
{
    size_t n = l->tail_len.len / 4, i = 0, bytes = 0;
    for (; i < n && l->tail_first + i <= ack; i++) {
        uint32_t vl;
        memcpy(&vl, l->tail_len.p + 4 * i, 4);
        bytes += vl;
    }
    if (i == 0) return;
    RF_ASSERT(bytes <= l->tail_buf.len);
    memmove(l->tail_buf.p, l->tail_buf.p + bytes, l->tail_buf.len - bytes);
    memmove(l->tail_len.p, l->tail_len.p + 4 * i, l->tail_len.len - 4 * i);
    l->tail_buf.len -= bytes;
    l->tail_len.len -= 4 * i;
    l->tail_first += i;
}

/* Called by a successful commit, committed already advanced and the batch's
 * records still in recs_buf: appends them to the tail (once an outbox ack or
 * a scan turned it on), after dropping the acknowledged ones. Over
 * RF_LEDGER_TAIL_BYTES the outbox lags: the tail restarts, and reads older
 * than it go to RocksDB. */
void rf__tail_commit(rf_ledger_t *l)
{
    if (!l->tail_on) return;
    size_t nnew = l->recs_len.len / 4;
    uint64_t first = l->committed.head_seq + 1 - nnew;
    if (l->tail_len.len == 0) l->tail_first = first;
    RF_ASSERT(l->tail_first + l->tail_len.len / 4 == first);
    tail_trim(l, l->committed.outbox_seq);
    if (nnew == 0) return; /* only dead letters: memcpy from a NULL buffer is undefined */
    if (l->tail_buf.len + l->recs_buf.len > RF_LEDGER_TAIL_BYTES) {
        l->tail_buf.len = l->tail_len.len = 0;
        l->tail_first = first;
    }
    if (l->recs_buf.len > RF_LEDGER_TAIL_BYTES || rf__buf_reserve(&l->tail_buf, l->recs_buf.len) ||
        rf__buf_reserve(&l->tail_len, l->recs_len.len)) {
        tail_clear(l);
        return;
    }
    if (l->recs_buf.len == 0) return; /* nothing new (and memcpy of NULL is undefined) */
    memcpy(l->tail_buf.p + l->tail_buf.len, l->recs_buf.p, l->recs_buf.len);
    memcpy(l->tail_len.p + l->tail_len.len, l->recs_len.p, l->recs_len.len);
    l->tail_buf.len += l->recs_buf.len;
    l->tail_len.len += l->recs_len.len;
}

/* Scans [from, to] from the tail. The records are the fold's own, never
 * read back from storage: their hashes are not recomputed. */
static rf_err_t tail_scan(rf_ledger_t *l, uint64_t from, uint64_t to, rf_record_cb_t *cb,
                          void *opaque, rf_errbuf_t *eb)
{
    RF_ASSERT(from >= l->tail_first && to <= l->committed.head_seq);
    rf_record_t *rec = malloc(sizeof *rec);
    if (!rec) return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    size_t n = l->tail_len.len / 4, pos = 0;
    rf_err_t err = RF_OK;
    for (size_t i = 0; i < n; i++) {
        uint64_t seq = l->tail_first + i;
        uint32_t vl;
        memcpy(&vl, l->tail_len.p + 4 * i, 4);
        const uint8_t *v = l->tail_buf.p + pos;
        pos += vl;
        if (seq < from) continue;
        if (seq > to) break;
        RF_ASSERT(vl > RF__RECORD_HDR);
        err = rf__record_decode_canonical(v + RF__RECORD_HDR, vl - RF__RECORD_HDR, rec, eb);
        if (err) break;
        RF_ASSERT(rec->seq == seq);
        memcpy(rec->hash, v, 32);
        memcpy(rec->prev_hash, v + 32, 32);
        if (cb(rec, opaque)) break;
    }
    free(rec);
    return err;
}

rf_err_t rf_ledger_scan(rf_ledger_t *l, uint64_t from_seq, uint64_t to_seq, rf_record_cb_t *cb,
                        void *opaque, rf_errbuf_t *eb)
{
    RF_ASSERT(l != NULL && cb != NULL);
    uint64_t head = l->committed.head_seq;
    if (from_seq == 0) from_seq = 1;
    if (to_seq == 0 || to_seq > head) to_seq = head;
    if (from_seq > to_seq) return RF_OK;
    if (l->tail_len.len > 0 && from_seq >= l->tail_first)
        return tail_scan(l, from_seq, to_seq, cb, opaque, eb);
    /* a writable handle that scans is an outbox: keep what it reads next */
    if (!(l->flags & RF_LEDGER_READONLY)) l->tail_on = 1;
    rf_record_t *rec = malloc(sizeof *rec);
    if (!rec) return rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    uint8_t start[9], end[9];
    rf__key_u64(start, RF__K_RECORD, from_seq);
    rf__key_u64(end, RF__K_RECORD, to_seq + 1);
    scan_st_t st = {l, cb, opaque, rec, from_seq, {0}, 0, 0, RF_OK, eb};
    rf_err_t err = rf__db_range(l, start, 9, end, 9, scan_one, &st, eb);
    free(rec);
    if (err) return err;
    if (st.err) return st.err;
    /* the range ended before to_seq without cb stopping: a missing tail */
    if (!st.stopped && st.expect <= to_seq)
        return rf_errf(eb, RF_ERR_GAP, "record %llu missing (head %llu)",
                       (unsigned long long)st.expect, (unsigned long long)head);
    return RF_OK;
}

rf_err_t rf_ledger_balance(rf_ledger_t *l, const char *program, const char *owner,
                           const char *asset, int64_t buckets[RF_BUCKET__COUNT], rf_errbuf_t *eb)
{
    RF_ASSERT(l != NULL && buckets != NULL);
    memset(buckets, 0, sizeof(int64_t) * RF_BUCKET__COUNT);
    if (strlen(program) >= RF_ID_BUF || strlen(owner) >= RF_ID_BUF || strlen(asset) > RF_ASSET_MAX)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "program, owner or asset too long");
    uint8_t key[RF__BALANCE_KEY_MAX];
    size_t klen = rf__balance_key(key, program, owner, asset);
    char *val = NULL;
    size_t vlen = 0;
    rf_err_t err = rf__db_get(l, key, klen, &val, &vlen, eb);
    if (err == RF_ERR_NOT_FOUND) return RF_OK;
    if (err) return err;
    if (vlen == RF__BALANCE_VAL_LEN)
        rf__balance_decode((const uint8_t *)val, buckets);
    else
        err = rf_errf(eb, RF_ERR_CORRUPT, "balance value of %zu bytes", vlen);
    rocksdb_free(val);
    return err;
}

typedef struct bal_st {
    rf_balance_cb_t *cb;
    void *opaque;
    rf_err_t err;
    rf_errbuf_t *eb;
} bal_st_t;

static int balance_one(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *opaque)
{
    bal_st_t *st = opaque;
    char program[RF_ID_BUF], owner[RF_ID_BUF], asset[RF_ASSET_MAX + 1];
    int64_t b[RF_BUCKET__COUNT];
    if (rf__balance_key_parse(k, kl, program, owner, asset) || vl != RF__BALANCE_VAL_LEN) {
        st->err = rf_errf(st->eb, RF_ERR_CORRUPT, "malformed balance entry");
        return 1;
    }
    rf__balance_decode(v, b);
    return st->cb(program, owner, asset, b, st->opaque);
}

rf_err_t rf_ledger_scan_balances(rf_ledger_t *l, rf_balance_cb_t *cb, void *opaque, rf_errbuf_t *eb)
{
    RF_ASSERT(l != NULL && cb != NULL);
    uint8_t start = RF__K_BALANCE, end = RF__K_BALANCE + 1;
    bal_st_t st = {cb, opaque, RF_OK, eb};
    rf_err_t err = rf__db_range(l, &start, 1, &end, 1, balance_one, &st, eb);
    return err ? err : st.err;
}

/* ---- the archive: chunks of consecutive offsets (docs/ledger.md) ---- */

rf_err_t rf__archive_chunk_each(int64_t first, const uint8_t *v, size_t vl, rf_archive_cb_t *cb,
                                void *opaque, uint64_t *count, int *stopped)
{
    RF_ASSERT(count != NULL && stopped != NULL);
    *count = 0;
    *stopped = 0;
    if (vl < 1 || (v[0] != RF__ARCHIVE_FMT && v[0] != RF__ARCHIVE_FMT_V1)) return RF_ERR_CORRUPT;
    /* format 1 (before the trusted clock): no clock, replayed unbounded as it folded */
    size_t hdr = v[0] == RF__ARCHIVE_FMT ? 4 + RF__ARCHIVE_CLOCK : 4, pos = 1;
    /* bounded: each step consumes at least the 4-byte length */
    while (pos < vl) {
        if (vl - pos < hdr) return RF_ERR_CORRUPT;
        const uint8_t *p = v + pos;
        size_t n = (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 | (size_t)p[3] << 24;
        if (n > vl - pos - hdr) return RF_ERR_CORRUPT;
        int64_t clock = RF_LEDGER_CLOCK_NONE;
        if (hdr > 4) {
            uint64_t c = 0;
            for (int i = RF__ARCHIVE_CLOCK - 1; i >= 0; i--)
                c = c << 8 | p[4 + i];
            clock = (int64_t)c;
        }
        if (cb && cb(first + (int64_t)*count, clock, p + hdr, n, opaque)) {
            (*count)++;
            *stopped = 1;
            return RF_OK;
        }
        (*count)++;
        pos += hdr + n;
    }
    return *count ? RF_OK : RF_ERR_CORRUPT; /* a chunk holds at least one event */
}

/* The archive key at or before offset (the chunk that may hold it) as the
 * start of a forward scan; 'a' alone when none is. */
static rf_err_t chunk_start(rf_ledger_t *l, int64_t offset, uint8_t key[9], size_t *klen,
                            rf_errbuf_t *eb)
{
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    uint8_t lower = RF__K_ARCHIVE;
    rocksdb_readoptions_set_iterate_lower_bound(ro, (const char *)&lower, 1);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(l->db, ro, l->cf[RF__CF_ARCHIVE]);
    rf__key_u64(key, RF__K_ARCHIVE, (uint64_t)offset);
    rocksdb_iter_seek_for_prev(it, (const char *)key, 9);
    *klen = 1;
    if (rocksdb_iter_valid(it)) {
        size_t kl = 0;
        const char *k = rocksdb_iter_key(it, &kl);
        if (kl == 9 && k[0] == RF__K_ARCHIVE) {
            memcpy(key, k, 9);
            *klen = 9;
        }
    }
    char *errptr = NULL;
    rocksdb_iter_get_error(it, &errptr);
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    return errptr ? rf__rocks_err(eb, errptr, "cannot read archive") : RF_OK;
}

typedef struct arch_st {
    rf_archive_cb_t *cb;
    void *opaque;
    int64_t from;
    int64_t expect; /* first offset of the next chunk (-1: not known yet) */
    rf_err_t err;
    rf_errbuf_t *eb;
} arch_st_t;

static int archive_from(int64_t offset, int64_t clock_ms, const uint8_t *bytes, size_t len,
                        void *opaque)
{
    arch_st_t *st = opaque;
    return offset < st->from ? 0 : st->cb(offset, clock_ms, bytes, len, st->opaque);
}

static int archive_chunk(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *opaque)
{
    arch_st_t *st = opaque;
    int64_t first = kl == 9 ? (int64_t)rf_be64_get(k + 1) : -1;
    if (first < 0 || (st->expect >= 0 && first != st->expect)) {
        st->err = rf_errf(st->eb, RF_ERR_CORRUPT, "archive chunk at offset %lld out of order",
                          (long long)first);
        return 1;
    }
    uint64_t n = 0;
    int stopped = 0;
    if (rf__archive_chunk_each(first, v, vl, archive_from, st, &n, &stopped)) {
        st->err = rf_errf(st->eb, RF_ERR_CORRUPT, "archive chunk at offset %lld is malformed",
                          (long long)first);
        return 1;
    }
    st->expect = first + (int64_t)n;
    return stopped;
}

typedef struct get_st {
    int64_t offset;
    uint8_t *buf;
    size_t cap, *len;
    int64_t *clock_ms;
    rf_err_t err;
} get_st_t;

static int archive_copy(int64_t offset, int64_t clock_ms, const uint8_t *bytes, size_t len,
                        void *opaque)
{
    get_st_t *g = opaque;
    if (offset != g->offset) return 0;
    *g->len = len;
    if (g->clock_ms) *g->clock_ms = clock_ms;
    if (len > g->cap)
        g->err = RF_ERR_OVERSIZE;
    else {
        if (len) memcpy(g->buf, bytes, len);
        g->err = RF_OK;
    }
    return 1;
}

rf_err_t rf_ledger_archive_get(rf_ledger_t *l, int64_t offset, uint8_t *buf, size_t cap,
                               size_t *len, int64_t *clock_ms, rf_errbuf_t *eb)
{
    RF_ASSERT(l != NULL && len != NULL);
    get_st_t g = {offset, buf, cap, len, clock_ms, RF_ERR_NOT_FOUND};
    uint8_t key[9];
    size_t kl = 0;
    rf_err_t err = offset < 0 ? RF_OK : chunk_start(l, offset, key, &kl, eb);
    if (err) return err;
    if (offset >= 0 && kl == 9) {
        char *val = NULL;
        size_t vl = 0;
        if ((err = rf__db_get(l, key, kl, &val, &vl, eb)) != RF_OK) return err;
        uint64_t n = 0;
        int stopped = 0;
        err = rf__archive_chunk_each((int64_t)rf_be64_get(key + 1), (const uint8_t *)val, vl,
                                     archive_copy, &g, &n, &stopped);
        rocksdb_free(val);
        if (err)
            return rf_errf(eb, RF_ERR_CORRUPT, "archive chunk of offset %lld is malformed",
                           (long long)offset);
    }
    if (g.err == RF_ERR_NOT_FOUND)
        return rf_errf(eb, g.err, "offset %lld is not archived", (long long)offset);
    if (g.err == RF_ERR_OVERSIZE) return rf_errf(eb, g.err, "archived event of %zu bytes", *len);
    return RF_OK;
}

rf_err_t rf_ledger_archive_scan(rf_ledger_t *l, int64_t from_offset, rf_archive_cb_t *cb,
                                void *opaque, rf_errbuf_t *eb)
{
    RF_ASSERT(l != NULL && cb != NULL);
    if (from_offset < 0) from_offset = 0;
    uint8_t start[9], end = RF__K_ARCHIVE + 1;
    size_t sl = 0;
    rf_err_t err = chunk_start(l, from_offset, start, &sl, eb);
    if (err) return err;
    arch_st_t st = {cb, opaque, from_offset, -1, RF_OK, eb};
    err = rf__db_range(l, start, sl, &end, 1, archive_chunk, &st, eb);
    return err ? err : st.err;
}

typedef struct dl_st {
    rf_deadletter_cb_t *cb;
    void *opaque;
} dl_st_t;

static int deadletter_one(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *opaque)
{
    dl_st_t *st = opaque;
    char reason[RF_ERRMSG_MAX];
    if (kl != 9 || vl < 4) return 0; /* verify reports malformed entries */
    size_t n = vl - 4 < sizeof reason - 1 ? vl - 4 : sizeof reason - 1;
    memcpy(reason, v + 4, n);
    reason[n] = 0;
    rf_err_t err = (rf_err_t)(-(int32_t)rf_be32_get(v));
    return st->cb((int64_t)rf_be64_get(k + 1), err, reason, st->opaque);
}

rf_err_t rf_ledger_deadletter_scan(rf_ledger_t *l, rf_deadletter_cb_t *cb, void *opaque,
                                   rf_errbuf_t *eb)
{
    RF_ASSERT(l != NULL && cb != NULL);
    uint8_t start = RF__K_DEADLETTER, end = RF__K_DEADLETTER + 1;
    dl_st_t st = {cb, opaque};
    return rf__db_range(l, &start, 1, &end, 1, deadletter_one, &st, eb);
}

rf_err_t rf_ledger_outbox_ack(rf_ledger_t *l, uint64_t seq, rf_errbuf_t *eb)
{
    RF_ASSERT(l != NULL);
    if (l->flags & RF_LEDGER_READONLY)
        return rf_errf(eb, RF_ERR_CONFIG, "ledger is open read-only");
    if (seq > l->staged.head_seq)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "ack of seq %llu beyond head %llu",
                       (unsigned long long)seq, (unsigned long long)l->staged.head_seq);
    l->tail_on = 1;                                /* an outbox: keep what it reads next */
    if (seq <= l->staged.outbox_seq) return RF_OK; /* acks never go back */
    l->staged.outbox_seq = seq;
    if (rf__batch_open(l)) return RF_OK;
    /* no batch open: staged == committed but for the ack; write it alone */
    RF_ASSERT(l->staged.next_offset == l->committed.next_offset);
    uint8_t key = RF__K_META, meta[RF__META_LEN];
    rf__meta_encode(&l->staged, meta);
    char *errptr = NULL;
    rocksdb_put(l->db, l->wo_async, (const char *)&key, 1, (const char *)meta, sizeof meta,
                &errptr);
    if (errptr) {
        l->staged.outbox_seq = l->committed.outbox_seq;
        return rf__rocks_err(eb, errptr, "cannot store outbox ack");
    }
    l->committed.outbox_seq = seq;
    return RF_OK;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int rf_ledger_list_partitions(const char *data_dir, int32_t *parts, int cap)
{
    RF_ASSERT(data_dir != NULL && (parts != NULL || cap == 0));
    char path[4096];
    snprintf(path, sizeof path, "%s/fold", data_dir);
    DIR *d = opendir(path);
    if (!d) return RF_ERR_IO;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < cap) {
        const char *s = e->d_name;
        if (strncmp(s, "p-", 2) || strlen(s) != 6) continue;
        char *endp = NULL;
        long p = strtol(s + 2, &endp, 10);
        if (*endp || p < 0 || p >= RF_PARTITIONS_MAX) continue;
        parts[n++] = (int32_t)p;
    }
    closedir(d);
    qsort(parts, (size_t)n, sizeof *parts, cmp_i32);
    return n;
}

rf_err_t rf_ledger_checkpoint(rf_ledger_t *l, const char *dir, rf_errbuf_t *eb)
{
    RF_ASSERT(l != NULL && dir != NULL);
    /* A read-only instance lists the files of its own (older) version but
     * links the WAL as it is now: with a writer running it could miss a
     * table the writer flushed since, so only the writer checkpoints. */
    if (l->flags & RF_LEDGER_READONLY)
        return rf_errf(eb, RF_ERR_CONFIG, "checkpoint needs the writable ledger handle");
    char *errptr = NULL;
    rocksdb_checkpoint_t *cp = rocksdb_checkpoint_object_create(l->db, &errptr);
    if (errptr) return rf__rocks_err(eb, errptr, "cannot create checkpoint object");
    /* log_size_for_flush 0: flush the memtable so the checkpoint is SST only */
    rocksdb_checkpoint_create(cp, dir, 0, &errptr);
    rocksdb_checkpoint_object_destroy(cp);
    if (errptr) {
        char what[4200];
        snprintf(what, sizeof what, "cannot write checkpoint '%s'", dir);
        return rf__rocks_err(eb, errptr, what);
    }
    return RF_OK;
}

rf_err_t rf_ledger_checkpoint_fn(void *ledger, const char *dir, rf_errbuf_t *eb)
{
    RF_ASSERT(ledger != NULL && dir != NULL);
    return rf_ledger_checkpoint(ledger, dir, eb);
}
