/* rf_codec_plan_walk.c: encodes and decodes Avro binary by a compiled plan
 * (rf_codec_plan.c), every length bounded by the bytes left (see rf_codec.c
 * for why). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "rf_codec.h"
#include "rf_hex.h"
#include "rf_codec_int.h"

/* ---- encoding ---- */

typedef struct wr {
    uint8_t *p, *end;
    bool full; /* ran out of room: RF_ERR_OVERSIZE at the end */
    int32_t id;
    rf_errbuf_t *eb;
} wr_t;

static void wr_long(wr_t *w, int64_t v)
{
    uint64_t n = ((uint64_t)v << 1) ^ (0 - ((uint64_t)v >> 63)); /* zigzag */
    do {
        if (w->p == w->end) {
            w->full = true;
            return;
        }
        uint8_t b = (uint8_t)(n & 0x7f);
        n >>= 7;
        *w->p++ = (uint8_t)(b | (n ? 0x80 : 0));
    } while (n);
}

static void wr_byte(wr_t *w, uint8_t b)
{
    if (w->p == w->end) {
        w->full = true;
        return;
    }
    *w->p++ = b;
}

static void wr_bytes(wr_t *w, const void *s, size_t n)
{
    wr_long(w, (int64_t)n);
    if (w->full || (size_t)(w->end - w->p) < n) {
        w->full = true;
        return;
    }
    memcpy(w->p, s, n);
    w->p += n;
}

static rf_err_t enc_record(wr_t *w, const rf__plan_t *p, const char *base, int type);

static rf_err_t enc_array(wr_t *w, const struct rf__wfield *wf, const char *base)
{
    const rf__slot_t *s = wf->slot;
    uint32_t count = *(const uint32_t *)(base + s->count_off);
    RF_ASSERT(count <= s->cap); /* validated before encoding */
    if (count > 0) wr_long(w, count);
    for (uint32_t i = 0; i < count; i++) {
        rf_err_t err = enc_record(w, wf->item, base + s->off + (size_t)i * s->item_size, -1);
        if (err) return err;
    }
    wr_long(w, 0);
    return RF_OK;
}

static rf_err_t enc_number(wr_t *w, const struct rf__wfield *wf, const char *p)
{
    const rf__slot_t *s = wf->slot;
    int64_t v;
    switch (s->kind) {
    case RF__K_LONG:
        v = *(const int64_t *)p;
        break;
    case RF__K_INT:
        v = *(const int32_t *)p;
        break;
    case RF__K_ULONG:
        if (*(const uint64_t *)p > INT64_MAX)
            return rf_errf(w->eb, RF_ERR_BAD_INPUT, "field '%s' is out of range", s->name);
        v = (int64_t) * (const uint64_t *)p;
        break;
    default:
        RF_ASSERT(0 && "not a number");
        return RF_ERR_INTERNAL;
    }
    if (is_avro_int32(wf->ws) && (v < INT32_MIN || v > INT32_MAX))
        return rf_errf(w->eb, RF_ERR_BAD_INPUT,
                       "field '%s' (%" PRId64 ") does not fit the int of schema %" PRId32, s->name,
                       v, w->id);
    wr_long(w, v);
    return RF_OK;
}

static rf_err_t enc_field(wr_t *w, const struct rf__wfield *wf, const char *base, int type)
{
    const rf__slot_t *s = wf->slot;
    const char *p = base + s->off;
    char hex[2 * 32 + 1];
    switch (s->kind) {
    case RF__K_STR:
        wr_bytes(w, p, strnlen(p, s->cap));
        return RF_OK;
    case RF__K_BOOL:
        wr_byte(w, *(const bool *)p ? 1 : 0);
        return RF_OK;
    case RF__K_HASH32:
        rf_hex((const uint8_t *)p, 32, hex);
        wr_bytes(w, hex, 64);
        return RF_OK;
    case RF__K_BUCKET: {
        const char *name = rf_bucket_name((rf_bucket_t) * (const uint8_t *)p);
        wr_bytes(w, name, strlen(name));
        return RF_OK;
    }
    case RF__K_BODY: {
        int idx = type >= 0 && type < RF_EV__COUNT ? wf->u->by_type[type] : -1;
        if (idx < 0)
            return rf_errf(w->eb, RF_ERR_BAD_INPUT, "schema %" PRId32 " has no %s event", w->id,
                           rf_event_type_name((rf_event_type_t)type));
        wr_long(w, idx);
        return enc_record(w, wf->u->branch[idx], base, type);
    }
    case RF__K_ARRAY:
        return enc_array(w, wf, base);
    default:
        return enc_number(w, wf, p);
    }
}

static rf_err_t enc_record(wr_t *w, const rf__plan_t *p, const char *base, int type)
{
    RF_ASSERT(p->writable);
    for (size_t i = 0; i < p->nfields; i++) {
        rf_err_t err = enc_field(w, &p->fields[i], base, type);
        if (err) return err;
        if (w->full) return RF_OK; /* reported by the caller */
    }
    return RF_OK;
}

rf_err_t rf__plan_encode(const rf__plan_t *p, const void *base, int type, uint8_t *out, size_t cap,
                         size_t *len, rf_errbuf_t *eb)
{
    RF_ASSERT(p != NULL && base != NULL && out != NULL);
    wr_t w = {out, out + cap, false, 0, eb};
    rf_err_t err = enc_record(&w, p, base, type);
    if (err) return err;
    if (w.full)
        return rf_errf(eb, RF_ERR_OVERSIZE, "encoded message does not fit in %zu bytes",
                       cap + RF_FRAME_HEADER);
    *len = (size_t)(w.p - out);
    RF_ASSERT(*len <= cap);
    return RF_OK;
}

/* ---- decoding ---- */

typedef struct rd {
    const uint8_t *p, *end;
    size_t items;     /* array/map items so far (RF_AVRO_ITEMS_MAX) */
    rf_err_t ferr;    /* first field error (bad input), reported after the walk */
    rf_errbuf_t fmsg; /* its message */
    int32_t id;
    rf_errbuf_t *eb;
} rd_t;

/* Outputs are set on every path (0 on error), so no caller reads an
 * indeterminate value whatever the compiler proves about rf_errf. */
static rf_err_t rd_long(rd_t *r, int64_t *out, const char *what)
{
    uint64_t v = 0;
    *out = 0;
    for (int i = 0; i < 10; i++) {
        if (r->p == r->end) return rf_errf(r->eb, RF_ERR_TRUNCATED, "bytes end inside %s", what);
        uint8_t b = *r->p++;
        if (i == 9 && b > 1) break; /* more than 64 bits */
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = (int64_t)((v >> 1) ^ (0 - (v & 1)));
            return RF_OK;
        }
    }
    return rf_errf(r->eb, RF_ERR_DECODE, "varint of %s is longer than 64 bits", what);
}

/* A length prefix: never trusted beyond the bytes that are left. */
static rf_err_t rd_len(rd_t *r, size_t *n, const char *what)
{
    int64_t v;
    *n = 0;
    rf_err_t err = rd_long(r, &v, what);
    if (err) return err;
    if (v < 0) return rf_errf(r->eb, RF_ERR_DECODE, "negative length %" PRId64 " of %s", v, what);
    if ((uint64_t)v > (uint64_t)(r->end - r->p))
        return rf_errf(r->eb, RF_ERR_TRUNCATED,
                       "length %" PRId64 " of %s exceeds the %zu bytes "
                       "left",
                       v, what, (size_t)(r->end - r->p));
    *n = (size_t)v;
    return RF_OK;
}

static rf_err_t rd_skip_bytes(rd_t *r, size_t n, const char *what)
{
    if ((size_t)(r->end - r->p) < n)
        return rf_errf(r->eb, RF_ERR_TRUNCATED, "bytes end inside %s", what);
    r->p += n;
    return RF_OK;
}

static rf_err_t rd_bool(rd_t *r, bool *out, const char *what)
{
    if (r->p == r->end) return rf_errf(r->eb, RF_ERR_TRUNCATED, "bytes end inside %s", what);
    uint8_t b = *r->p++;
    if (b > 1) return rf_errf(r->eb, RF_ERR_DECODE, "boolean %s is 0x%02x, not 0 or 1", what, b);
    *out = b == 1;
    return RF_OK;
}

/* Next block count of an array or map (0 ends it); a negative count is
 * followed by the block's byte size, which is read and checked, not used. */
static rf_err_t rd_block(rd_t *r, int64_t *count, const char *what)
{
    rf_err_t err = rd_long(r, count, what);
    if (err || *count >= 0) return err;
    if (*count == INT64_MIN) return rf_errf(r->eb, RF_ERR_DECODE, "block count of %s", what);
    *count = -*count;
    size_t size;
    return rd_len(r, &size, what);
}

static rf_err_t rd_item(rd_t *r, const char *what)
{
    if (++r->items > RF_AVRO_ITEMS_MAX)
        return rf_errf(r->eb, RF_ERR_DECODE, "more than %d items in %s", RF_AVRO_ITEMS_MAX, what);
    return RF_OK;
}

static rf_err_t skip_value(rd_t *r, avro_schema_t s, int depth);

static rf_err_t skip_container(rd_t *r, avro_schema_t s, int depth)
{
    bool map = is_avro_map(s);
    avro_schema_t item = map ? avro_schema_map_values(s) : avro_schema_array_items(s);
    int64_t count;
    rf_err_t err;
    while (!(err = rd_block(r, &count, "a block count")) && count > 0) {
        for (int64_t i = 0; i < count; i++) {
            size_t klen;
            if ((err = rd_item(r, "a skipped field"))) return err;
            if (map && ((err = rd_len(r, &klen, "a map key")) ||
                        (err = rd_skip_bytes(r, klen, "a map key"))))
                return err;
            if ((err = skip_value(r, item, depth + 1))) return err;
        }
    }
    return err;
}

/* Skips a value of writer type s that the reader does not store. */
static rf_err_t skip_value(rd_t *r, avro_schema_t s, int depth)
{
    s = rf__schema_deref(s);
    if (depth > RF_AVRO_DEPTH_MAX)
        return rf_errf(r->eb, RF_ERR_DECODE, "value nested deeper than %d", RF_AVRO_DEPTH_MAX);
    int64_t v;
    size_t n;
    bool b;
    rf_err_t err;
    switch (s ? avro_typeof(s) : AVRO_LINK) {
    case AVRO_STRING:
    case AVRO_BYTES:
        if ((err = rd_len(r, &n, "a string"))) return err;
        return rd_skip_bytes(r, n, "a string");
    case AVRO_INT32:
        if ((err = rd_long(r, &v, "an int"))) return err;
        if (v < INT32_MIN || v > INT32_MAX)
            return rf_errf(r->eb, RF_ERR_DECODE, "int out of range (%" PRId64 ")", v);
        return RF_OK;
    case AVRO_INT64:
        return rd_long(r, &v, "a long");
    case AVRO_FLOAT:
        return rd_skip_bytes(r, 4, "a float");
    case AVRO_DOUBLE:
        return rd_skip_bytes(r, 8, "a double");
    case AVRO_BOOLEAN:
        return rd_bool(r, &b, "value");
    case AVRO_NULL:
        return RF_OK;
    case AVRO_FIXED:
        return rd_skip_bytes(r, (size_t)avro_schema_fixed_size(s), "a fixed");
    case AVRO_ENUM:
        if ((err = rd_long(r, &v, "an enum"))) return err;
        if (v < 0 || v >= avro_schema_enum_number_of_symbols(s))
            return rf_errf(r->eb, RF_ERR_DECODE, "enum index %" PRId64 " out of range", v);
        return RF_OK;
    case AVRO_RECORD:
        for (size_t i = 0; i < avro_schema_record_size(s); i++)
            if ((err = skip_value(r, avro_schema_record_field_get_by_index(s, (int)i), depth + 1)))
                return err;
        return RF_OK;
    case AVRO_MAP:
    case AVRO_ARRAY:
        return skip_container(r, s, depth);
    case AVRO_UNION:
        if ((err = rd_long(r, &v, "a union index"))) return err;
        if (v < 0 || (uint64_t)v >= avro_schema_union_size(s))
            return rf_errf(r->eb, RF_ERR_DECODE, "union index %" PRId64 " out of range", v);
        return skip_value(r, avro_schema_union_branch(s, (int)v), depth + 1);
    default:
        return rf_errf(r->eb, RF_ERR_DECODE, "unsupported writer type");
    }
}

/* Records the first bad-input field problem and goes on walking, so that a
 * structurally broken message is reported as such (decode/truncated). */
static void field_err(rd_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void field_err(rd_t *r, const char *fmt, ...)
{
    if (r->ferr) return;
    r->ferr = RF_ERR_BAD_INPUT;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->fmsg.msg, sizeof r->fmsg.msg, fmt, ap);
    va_end(ap);
}

static rf_err_t rd_string(rd_t *r, const rf__plan_t *p, const rf__slot_t *s, char *dst)
{
    size_t n;
    rf_err_t err = rd_len(r, &n, s->name);
    if (err) return err;
    const uint8_t *src = r->p;
    r->p += n;
    if (n >= s->cap) {
        field_err(r, "%s: field '%s' is too long (%zu bytes, max %u)", p->t->label, s->name, n,
                  s->cap - 1);
        return RF_OK;
    }
    if (memchr(src, '\0', n)) {
        field_err(r, "%s: field '%s' contains a NUL byte", p->t->label, s->name);
        return RF_OK;
    }
    if (!rf__utf8_valid(src, n)) {
        field_err(r, "%s: field '%s' is not valid UTF-8", p->t->label, s->name);
        return RF_OK;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
    return RF_OK;
}

static rf_err_t rd_hash(rd_t *r, const rf__plan_t *p, const rf__slot_t *s, uint8_t *dst)
{
    size_t n;
    rf_err_t err = rd_len(r, &n, s->name);
    if (err) return err;
    char hex[2 * 32 + 1];
    if (n == 64) {
        memcpy(hex, r->p, 64);
        hex[64] = '\0';
    }
    r->p += n;
    if (n != 64 || rf_unhex(hex, dst, 32) != RF_OK)
        field_err(r, "%s: field '%s' is not 64 hex digits", p->t->label, s->name);
    return RF_OK;
}

static rf_err_t rd_bucket(rd_t *r, const rf__plan_t *p, const rf__slot_t *s, uint8_t *dst)
{
    size_t n;
    rf_err_t err = rd_len(r, &n, s->name);
    if (err) return err;
    char name[16] = "";
    if (n < sizeof name) memcpy(name, r->p, n);
    r->p += n;
    int b = n < sizeof name && !memchr(name, '\0', n) ? rf_bucket_parse(name) : -1;
    if (b < 0)
        field_err(r, "%s: field '%s' is not a bucket name", p->t->label, s->name);
    else
        *dst = (uint8_t)b;
    return RF_OK;
}

static rf_err_t rd_number(rd_t *r, const rf__slot_t *s, avro_schema_t ws, const rf__plan_t *p,
                          char *dst)
{
    int64_t v;
    rf_err_t err = rd_long(r, &v, s->name);
    if (err) return err;
    bool is_int = is_avro_int32(ws) || s->kind == RF__K_INT;
    if (is_int && (v < INT32_MIN || v > INT32_MAX))
        return rf_errf(r->eb, RF_ERR_DECODE, "%s: int field '%s' out of range (%" PRId64 ")",
                       p->t->label, s->name, v);
    if (s->kind == RF__K_INT)
        *(int32_t *)dst = (int32_t)v;
    else if (s->kind == RF__K_LONG)
        *(int64_t *)dst = v;
    else if (v < 0)
        field_err(r, "%s: field '%s' is negative", p->t->label, s->name);
    else
        *(uint64_t *)dst = (uint64_t)v;
    return RF_OK;
}

static rf_err_t rd_record(rd_t *r, const rf__plan_t *p, char *base, int *type);

static rf_err_t rd_array(rd_t *r, const struct rf__wfield *wf, const rf__plan_t *p, char *base)
{
    const rf__slot_t *s = wf->slot;
    uint32_t *count = (uint32_t *)(base + s->count_off);
    int64_t block;
    rf_err_t err;
    while (!(err = rd_block(r, &block, s->name)) && block > 0) {
        for (int64_t i = 0; i < block; i++) {
            if ((err = rd_item(r, s->name))) return err;
            if (*count >= s->cap) {
                field_err(r, "%s: more than %u %s", p->t->label, s->cap, s->name);
                err = skip_value(r, wf->item_ws, 1);
            } else {
                err = rd_record(r, wf->item, base + s->off + (size_t)*count * s->item_size, NULL);
                (*count)++;
            }
            if (err) return err;
        }
    }
    return err;
}

static rf_err_t rd_body(rd_t *r, const rf__wunion_t *u, char *base, int *type)
{
    int64_t v;
    rf_err_t err = rd_long(r, &v, "the body union index");
    if (err) return err;
    if (v < 0 || (uint64_t)v >= u->n)
        return rf_errf(r->eb, RF_ERR_DECODE,
                       "body union index %" PRId64 " out of range (%zu "
                       "types)",
                       v, u->n);
    const rf__plan_t *b = u->branch[v];
    if (!b)
        return rf_errf(r->eb, RF_ERR_DECODE,
                       "body type '%s' of schema %" PRId32 " is unknown "
                       "to this reader",
                       avro_schema_type_name(u->wbranch[v]), r->id);
    RF_ASSERT(type != NULL && b->t->type >= 0);
    *type = b->t->type;
    return rd_record(r, b, base, type);
}

/* A scalar field written as a union: the chosen branch must resolve. */
static rf_err_t rd_union_branch(rd_t *r, const struct rf__wfield *wf, const rf__plan_t *p,
                                avro_schema_t *out)
{
    int64_t v;
    rf_err_t err = rd_long(r, &v, "a union index");
    if (err) return err;
    if (v < 0 || (uint64_t)v >= avro_schema_union_size(wf->ws))
        return rf_errf(r->eb, RF_ERR_DECODE,
                       "%s: union index %" PRId64 " of field '%s' out of "
                       "range",
                       p->t->label, v, wf->slot->name);
    *out = rf__schema_deref(avro_schema_union_branch(wf->ws, (int)v));
    if (!*out || is_avro_union(*out) || !rf__type_ok_plain(wf->slot->kind, *out))
        return rf_errf(r->eb, RF_ERR_DECODE,
                       "%s: field '%s' is written as %s, which the reader "
                       "cannot resolve",
                       p->t->label, wf->slot->name, *out ? avro_schema_type_name(*out) : "?");
    return RF_OK;
}

static rf_err_t rd_field(rd_t *r, const struct rf__wfield *wf, const rf__plan_t *p, char *base,
                         int *type)
{
    const rf__slot_t *s = wf->slot;
    if (!s) return skip_value(r, wf->ws, 1);
    char *dst = base + s->off;
    avro_schema_t ws = wf->ws;
    if (rf__union_scalar(s->kind, ws)) {
        rf_err_t err = rd_union_branch(r, wf, p, &ws);
        if (err) return err;
    }
    switch (s->kind) {
    case RF__K_STR:
        return rd_string(r, p, s, dst);
    case RF__K_HASH32:
        return rd_hash(r, p, s, (uint8_t *)dst);
    case RF__K_BUCKET:
        return rd_bucket(r, p, s, (uint8_t *)dst);
    case RF__K_BOOL:
        return rd_bool(r, (bool *)dst, s->name);
    case RF__K_BODY:
        return rd_body(r, wf->u, base, type);
    case RF__K_ARRAY:
        return rd_array(r, wf, p, base);
    default:
        return rd_number(r, s, ws, p, dst);
    }
}

static void apply_default(const struct rf__dflt *d, char *base)
{
    char *dst = base + d->slot->off;
    switch (d->slot->kind) {
    case RF__K_STR:
        memcpy(dst, d->str, strlen(d->str) + 1);
        break;
    case RF__K_LONG:
        *(int64_t *)dst = d->num;
        break;
    case RF__K_ULONG:
        *(uint64_t *)dst = (uint64_t)d->num;
        break;
    case RF__K_INT:
        *(int32_t *)dst = (int32_t)d->num;
        break;
    case RF__K_BOOL:
        *(bool *)dst = d->num != 0;
        break;
    default:
        break; /* arrays default to empty: the caller cleared them */
    }
}

static rf_err_t rd_record(rd_t *r, const rf__plan_t *p, char *base, int *type)
{
    RF_ASSERT(p != NULL && base != NULL);
    for (size_t i = 0; i < p->nfields; i++) {
        rf_err_t err = rd_field(r, &p->fields[i], p, base, type);
        if (err) return err;
    }
    for (size_t i = 0; i < p->ndefaults; i++)
        apply_default(&p->defaults[i], base);
    return RF_OK;
}

rf_err_t rf__plan_decode(const rf__plan_t *p, const uint8_t *in, size_t len, void *base, int *type,
                         int32_t id, rf_errbuf_t *eb)
{
    RF_ASSERT(p != NULL && base != NULL && type != NULL);
    rd_t r;
    r.p = in;
    r.end = in + len;
    r.items = 0;
    r.ferr = RF_OK;
    r.id = id;
    r.eb = eb;
    rf_err_t err = rd_record(&r, p, base, type);
    if (err) return err;
    if (r.p != r.end)
        return rf_errf(eb, RF_ERR_DECODE, "%zu trailing bytes after the value",
                       (size_t)(r.end - r.p));
    if (r.ferr) return rf_errf(eb, r.ferr, "%s", r.fmsg.msg);
    return RF_OK;
}
