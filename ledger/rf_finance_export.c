/* rf_finance_export.c: streams ledger records as CSV or JSON lines, one row
 * per posting, with stable documented columns (rf_finance.h, docs/finance.md). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "rf_finance.h"
#include "rf_fold.h"
#include "rf_time.h"
#include "rf_hex.h"

/* A row is built in a fixed buffer: every field is bounded (RF_FACTS_MAX
 * facts of RF_FACT_VAL_MAX bytes, escaped at most 6x), so 64 KiB holds the
 * largest row whatever the record. */
#define ROW_MAX 65536

typedef struct row {
    char buf[ROW_MAX];
    size_t n;
} row_t;

static void put(row_t *r, const char *s, size_t len)
{
    RF_ASSERT(r->n + len < ROW_MAX);
    memcpy(r->buf + r->n, s, len);
    r->n += len;
}
static void puts_(row_t *r, const char *s)
{
    put(r, s, strlen(s));
}
static void putf(row_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(row_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(r->buf + r->n, ROW_MAX - r->n, fmt, ap);
    va_end(ap);
    RF_ASSERT(k >= 0 && r->n + (size_t)k < ROW_MAX);
    r->n += (size_t)k;
}

/* JSON string with quotes; control characters as \u00XX. */
static void put_json_str(row_t *r, const char *s)
{
    put(r, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            put(r, e, 2);
        } else if (*p < 0x20) {
            putf(r, "\\u%04x", *p);
        } else {
            put(r, (const char *)p, 1);
        }
    }
    put(r, "\"", 1);
}

/* A fact's value as exported: hold_until, epoch ms in the ledger (hashed as
 * it is), in RFC 3339 like every other time of the export. */
static const char *fact_shown(const rf_fact_t *f, char when[RF_TIME_BUF])
{
    int64_t ms = 0;
    if (strcmp(f->key, RF_FACT_HOLD_UNTIL) != 0 ||
        rf_parse_i64(f->value, INT64_MIN, INT64_MAX, &ms, NULL, NULL) != RF_OK)
        return f->value;
    rf_time_format(ms, when);
    return when;
}

/* facts as one JSON object in record order; a repeated key gets "#2", "#3"
 * appended so no value is lost and keys stay unique. */
static void put_facts(row_t *r, const rf_record_t *rec)
{
    char when[RF_TIME_BUF];
    put(r, "{", 1);
    for (uint32_t i = 0; i < rec->nfacts; i++) {
        int dup = 1;
        for (uint32_t j = 0; j < i; j++)
            dup += !strcmp(rec->facts[j].key, rec->facts[i].key);
        if (i) put(r, ",", 1);
        if (dup == 1) {
            put_json_str(r, rec->facts[i].key);
        } else {
            char k[RF_FACT_KEY_MAX + 16];
            snprintf(k, sizeof k, "%s#%d", rec->facts[i].key, dup);
            put_json_str(r, k);
        }
        put(r, ":", 1);
        put_json_str(r, fact_shown(&rec->facts[i], when));
    }
    put(r, "}", 1);
}

/* A CSV field: quoted (quotes doubled) when it holds a comma, quote or
 * line break. */
static void put_csv(row_t *r, const char *s, size_t len)
{
    if (!memchr(s, ',', len) && !memchr(s, '"', len) && !memchr(s, '\n', len) &&
        !memchr(s, '\r', len)) {
        put(r, s, len);
        return;
    }
    put(r, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"') put(r, "\"", 1);
        put(r, s + i, 1);
    }
    put(r, "\"", 1);
}

typedef struct exp_st {
    int64_t from_ms, to_ms;
    rf_export_format_t format;
    FILE *out;
    uint64_t rows;
    row_t *row, *facts;
    rf_err_t err;
    rf_errbuf_t *eb;
} exp_st_t;

static void row_csv(exp_st_t *st, const rf_record_t *rec, const rf_posting_t *p, const char *hash,
                    const char *prev, const char *when)
{
    row_t *r = st->row;
    putf(r, "%d,%llu,%s,%s,%lld,", (int)rec->partition, (unsigned long long)rec->seq, hash, prev,
         (long long)rec->offset);
    put_csv(r, rec->event_id, strlen(rec->event_id));
    put(r, ",", 1);
    put_csv(r, rec->program_id, strlen(rec->program_id));
    putf(r, ",%s,", when);
    put_csv(r, rec->kind, strlen(rec->kind));
    put(r, ",", 1);
    if (p) {
        put_csv(r, p->owner, strlen(p->owner));
        putf(r, ",%s,", rf_bucket_name((rf_bucket_t)p->bucket));
        put_csv(r, p->asset, strlen(p->asset));
        putf(r, ",%lld,", (long long)p->amount_minor);
    } else {
        puts_(r, ",,,,");
    }
    put_csv(r, st->facts->buf, st->facts->n);
    put(r, "\n", 1);
}

static void row_jsonl(exp_st_t *st, const rf_record_t *rec, const rf_posting_t *p, const char *hash,
                      const char *prev, const char *when)
{
    row_t *r = st->row;
    putf(r, "{\"partition\":%d,\"seq\":%llu,\"hash\":\"%s\",\"prev_hash\":\"%s\",\"offset\":%lld,",
         (int)rec->partition, (unsigned long long)rec->seq, hash, prev, (long long)rec->offset);
    puts_(r, "\"event_id\":");
    put_json_str(r, rec->event_id);
    puts_(r, ",\"program_id\":");
    put_json_str(r, rec->program_id);
    putf(r, ",\"occurred_at\":\"%s\",\"kind\":", when);
    put_json_str(r, rec->kind);
    if (p) {
        puts_(r, ",\"owner\":");
        put_json_str(r, p->owner);
        putf(r, ",\"bucket\":\"%s\",\"asset\":", rf_bucket_name((rf_bucket_t)p->bucket));
        put_json_str(r, p->asset);
        putf(r, ",\"amount_minor\":%lld", (long long)p->amount_minor);
    } else {
        puts_(r, ",\"owner\":null,\"bucket\":null,\"asset\":null,\"amount_minor\":null");
    }
    puts_(r, ",\"facts\":");
    put(r, st->facts->buf, st->facts->n);
    puts_(r, "}\n");
}

static int exp_record(const rf_record_t *rec, void *opaque)
{
    exp_st_t *st = opaque;
    if (rec->occurred_at_ms < st->from_ms || rec->occurred_at_ms >= st->to_ms) return 0;
    char hash[65], prev[65], when[RF_TIME_BUF];
    rf_hex(rec->hash, 32, hash);
    rf_hex(rec->prev_hash, 32, prev);
    rf_time_format(rec->occurred_at_ms, when);
    st->facts->n = 0;
    put_facts(st->facts, rec);
    uint32_t nrows = rec->npostings ? rec->npostings : 1;
    for (uint32_t i = 0; i < nrows; i++) {
        const rf_posting_t *p = rec->npostings ? &rec->postings[i] : NULL;
        st->row->n = 0;
        if (st->format == RF_EXPORT_CSV)
            row_csv(st, rec, p, hash, prev, when);
        else
            row_jsonl(st, rec, p, hash, prev, when);
        if (fwrite(st->row->buf, 1, st->row->n, st->out) != st->row->n) {
            st->err = rf_errf(st->eb, RF_ERR_IO, "cannot write the export");
            return 1;
        }
        st->rows++;
    }
    return 0;
}

static const char csv_header[] = "partition,seq,hash,prev_hash,offset,event_id,program_id,"
                                 "occurred_at,kind,owner,bucket,asset,amount_minor,facts\n";

rf_err_t rf_finance_export(const char *data_dir, int64_t from_ms, int64_t to_ms,
                           rf_export_format_t format, FILE *out, uint64_t *rows, rf_errbuf_t *eb)
{
    RF_ASSERT(data_dir != NULL && out != NULL);
    RF_ASSERT(format == RF_EXPORT_CSV || format == RF_EXPORT_JSONL);
    if (rows) *rows = 0;
    rf_ledger_t *ls[RF_PARTITIONS_MAX];
    int n = rf_finance_open_all(data_dir, ls, RF_PARTITIONS_MAX, eb);
    if (n < 0) return (rf_err_t)n;
    exp_st_t st = {from_ms, to_ms, format, out, 0, malloc(sizeof(row_t)), malloc(sizeof(row_t)),
                   RF_OK,   eb};
    rf_err_t err = RF_OK;
    if (!st.row || !st.facts) err = rf_errf(eb, RF_ERR_NOMEM, "out of memory");
    if (!err && format == RF_EXPORT_CSV && fputs(csv_header, out) == EOF)
        err = rf_errf(eb, RF_ERR_IO, "cannot write the export");
    for (int i = 0; i < n && !err; i++) {
        err = rf_ledger_scan(ls[i], 1, 0, exp_record, &st, eb);
        if (!err) err = st.err;
    }
    if (!err && fflush(out) != 0) err = rf_errf(eb, RF_ERR_IO, "cannot write the export");
    rf_finance_close_all(ls, n);
    free(st.row);
    free(st.facts);
    if (rows) *rows = st.rows;
    return err;
}
