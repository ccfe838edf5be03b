/* rf_codec_plan.c: compiles Avro writer schemas against refold's structs (Avro
 * schema resolution by field name, reader defaults) and walks Avro binary
 * with every length bounded by the bytes left (see rf_codec.c for why). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "rf_codec.h"
#include "rf_codec_int.h"

/* ---- arena ---- */

struct rf__arena_block {
    rf__arena_block_t *next;
    size_t used, cap;
    max_align_t data[];
};

void *rf__arena_alloc(rf__arena_t *a, size_t n)
{
    RF_ASSERT(a != NULL);
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    rf__arena_block_t *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 8192 ? n : 8192;
        b = calloc(1, sizeof *b + cap);
        if (!b) return NULL;
        b->cap = cap;
        b->next = a->head;
        a->head = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    RF_ASSERT(b->used <= b->cap);
    return p;
}

void rf__arena_free(rf__arena_t *a)
{
    while (a && a->head) {
        rf__arena_block_t *b = a->head;
        a->head = b->next;
        free(b);
    }
}

rf__arena_mark_t rf__arena_mark(const rf__arena_t *a)
{
    rf__arena_mark_t m = {a->head, a->head ? a->head->used : 0};
    return m;
}

void rf__arena_rewind(rf__arena_t *a, rf__arena_mark_t m)
{
    while (a->head && a->head != m.head) {
        rf__arena_block_t *b = a->head;
        a->head = b->next;
        free(b);
    }
    RF_ASSERT(a->head == m.head);
    if (a->head) {
        RF_ASSERT(m.used <= a->head->used);
        /* Zero what is handed out again: rf__arena_alloc promises zeroed memory. */
        memset((char *)a->head->data + m.used, 0, a->head->used - m.used);
        a->head->used = m.used;
    }
}

/* ---- target descriptions ---- */

#define FSZ(S, f) ((uint32_t)sizeof(((S *)0)->f))
#define STR(n, S, f)                                                                               \
    {                                                                                              \
        n, RF__K_STR, offsetof(S, f), FSZ(S, f), NULL, 0, 0                                        \
    }
#define NUM(n, k, S, f)                                                                            \
    {                                                                                              \
        n, k, offsetof(S, f), FSZ(S, f), NULL, 0, 0                                                \
    }
#define EV_STR(n, f) STR(n, rf_event_t, f)
#define TDESC(name, label, type, slots)                                                            \
    {                                                                                              \
        name, label, type, slots, sizeof slots / sizeof slots[0]                                   \
    }

static const rf__slot_t s_envelope[] = {
    EV_STR("event_id", event_id),
    EV_STR("program_id", program_id),
    NUM("occurred_at", RF__K_LONG, rf_event_t, occurred_at_ms),
    EV_STR("source", source),
    {"body", RF__K_BODY, 0, 0, NULL, 0, 0},
};
static const rf__slot_t s_program[] = {
    NUM("version", RF__K_INT, rf_event_t, version),
    EV_STR("rules_json", rules_json),
};
static const rf__slot_t s_code[] = {EV_STR("referrer", referrer), EV_STR("code", code)};
static const rf__slot_t s_share[] = {EV_STR("referrer", referrer), EV_STR("channel", channel)};
static const rf__slot_t s_click[] = {EV_STR("code", code), EV_STR("visitor", visitor),
                                     EV_STR("ip_hash", ip_hash), EV_STR("agent_hash", agent_hash)};
static const rf__slot_t s_signup[] = {
    EV_STR("user", user),
    EV_STR("code", code),
    EV_STR("visitor", visitor),
    EV_STR("email_hash", email_hash),
    EV_STR("device_hash", device_hash),
    EV_STR("ip_hash", ip_hash),
};
static const rf__slot_t s_purchase[] = {
    EV_STR("order_id", order_id),
    EV_STR("user", user),
    NUM("amount_minor", RF__K_LONG, rf_event_t, amount_minor),
    EV_STR("currency", asset),
    EV_STR("code", code),
    EV_STR("payment_hash", payment_hash),
};
static const rf__slot_t s_refund[] = {
    EV_STR("order_id", order_id),
    NUM("amount_minor", RF__K_LONG, rf_event_t, amount_minor),
    EV_STR("currency", asset),
};
static const rf__slot_t s_redemption[] = {
    EV_STR("user", user),
    NUM("amount_minor", RF__K_LONG, rf_event_t, amount_minor),
    EV_STR("asset", asset),
    EV_STR("request_id", request_id),
};
static const rf__slot_t s_review[] = {
    EV_STR("user", user),
    NUM("approve", RF__K_BOOL, rf_event_t, approve),
    EV_STR("reviewer", reviewer),
    EV_STR("reason", reason),
};
static const rf__slot_t s_adjustment[] = {
    EV_STR("user", user),   NUM("amount_minor", RF__K_LONG, rf_event_t, amount_minor),
    EV_STR("asset", asset), EV_STR("reason", reason),
    EV_STR("actor", actor),
};

/* Indexed by rf_event_type_t (the union order of event.avsc). */
static const rf__tdesc_t body_tdesc[RF_EV__COUNT] = {
    TDESC("ProgramConfigured", "program_configured", RF_EV_PROGRAM_CONFIGURED, s_program),
    TDESC("CodeIssued", "code_issued", RF_EV_CODE_ISSUED, s_code),
    TDESC("Share", "share", RF_EV_SHARE, s_share),
    TDESC("Click", "click", RF_EV_CLICK, s_click),
    TDESC("Signup", "signup", RF_EV_SIGNUP, s_signup),
    TDESC("Purchase", "purchase", RF_EV_PURCHASE, s_purchase),
    TDESC("Refund", "refund", RF_EV_REFUND, s_refund),
    TDESC("Redemption", "redemption", RF_EV_REDEMPTION, s_redemption),
    TDESC("ReviewDecision", "review_decision", RF_EV_REVIEW_DECISION, s_review),
    TDESC("Adjustment", "adjustment", RF_EV_ADJUSTMENT, s_adjustment),
    {"Clock", "clock", RF_EV_CLOCK, NULL, 0},
};

const rf__tdesc_t rf__tdesc_event = TDESC("Event", "event", -1, s_envelope);

static const rf__slot_t s_posting[] = {
    STR("owner", rf_posting_t, owner),
    NUM("bucket", RF__K_BUCKET, rf_posting_t, bucket),
    STR("asset", rf_posting_t, asset),
    NUM("amount_minor", RF__K_LONG, rf_posting_t, amount_minor),
};
static const rf__slot_t s_fact[] = {STR("key", rf_fact_t, key), STR("value", rf_fact_t, value)};
static const rf__tdesc_t posting_tdesc = TDESC("Posting", "posting", -1, s_posting);
static const rf__tdesc_t fact_tdesc = TDESC("Fact", "fact", -1, s_fact);

static const rf__slot_t s_ledger[] = {
    NUM("seq", RF__K_ULONG, rf_record_t, seq),
    NUM("partition", RF__K_INT, rf_record_t, partition),
    NUM("offset", RF__K_LONG, rf_record_t, offset),
    STR("event_id", rf_record_t, event_id),
    STR("program_id", rf_record_t, program_id),
    NUM("occurred_at", RF__K_LONG, rf_record_t, occurred_at_ms),
    STR("kind", rf_record_t, kind),
    NUM("prev_hash", RF__K_HASH32, rf_record_t, prev_hash),
    NUM("hash", RF__K_HASH32, rf_record_t, hash),
    {"postings", RF__K_ARRAY, offsetof(rf_record_t, postings), RF_POSTINGS_MAX, &posting_tdesc,
     offsetof(rf_record_t, npostings), sizeof(rf_posting_t)},
    {"facts", RF__K_ARRAY, offsetof(rf_record_t, facts), RF_FACTS_MAX, &fact_tdesc,
     offsetof(rf_record_t, nfacts), sizeof(rf_fact_t)},
};
const rf__tdesc_t rf__tdesc_ledger = TDESC("LedgerRecord", "record", -1, s_ledger);

/* ---- plans ---- */

typedef struct rf__wunion {
    size_t n;
    const rf__plan_t **branch; /* NULL: a writer branch the reader does not know */
    avro_schema_t *wbranch;    /* writer branch schemas, for messages */
    int by_type[RF_EV__COUNT]; /* writer branch index of each event type, or -1 */
} wunion_t;

struct rf__wfield {
    const char *name;       /* writer field name (owned by the schema) */
    avro_schema_t ws;       /* writer field type, links resolved */
    const rf__slot_t *slot; /* NULL: not in the reader, skipped */
    const rf__plan_t *item; /* RF__K_ARRAY */
    avro_schema_t item_ws;  /* RF__K_ARRAY: writer item type */
    const wunion_t *u;      /* RF__K_BODY */
};

struct rf__dflt {
    const rf__slot_t *slot;
    int64_t num;
    const char *str;
};

typedef struct cc {
    rf__arena_t *a;
    json_t *rjson; /* reader schema JSON (defaults); NULL in exact mode */
    int32_t id;
    rf_errbuf_t *eb;
} cc_t;

static avro_schema_t deref(avro_schema_t s)
{
    for (int i = 0; i < 8 && s && is_avro_link(s); i++)
        s = avro_schema_link_target(s);
    return s;
}

static const char *base_name(const char *s)
{
    const char *dot = s ? strrchr(s, '.') : NULL;
    return dot ? dot + 1 : (s ? s : "");
}

static const rf__slot_t *find_slot(const rf__tdesc_t *t, const char *name, size_t *idx)
{
    for (size_t i = 0; i < t->nslots; i++)
        if (strcmp(t->slots[i].name, name) == 0) {
            *idx = i;
            return &t->slots[i];
        }
    return NULL;
}

static bool type_ok_plain(rf__kind_t k, avro_schema_t ws)
{
    switch (k) {
    case RF__K_STR:
    case RF__K_HASH32:
    case RF__K_BUCKET:
        return is_avro_string(ws) || is_avro_bytes(ws);
    case RF__K_LONG:
    case RF__K_ULONG:
        return is_avro_int64(ws) || is_avro_int32(ws);
    case RF__K_INT:
        return is_avro_int32(ws);
    case RF__K_BOOL:
        return is_avro_boolean(ws);
    case RF__K_BODY:
        return is_avro_union(ws);
    case RF__K_ARRAY:
        return is_avro_array(ws);
    }
    return false;
}

/* A scalar slot may also read a writer union (e.g. ["null", "string"]) with
 * at least one matching branch; Avro resolution then fails only for a
 * message whose branch does not match (checked when reading). */
static bool union_scalar(rf__kind_t k, avro_schema_t ws)
{
    return k != RF__K_BODY && k != RF__K_ARRAY && is_avro_union(ws);
}

static bool type_ok(rf__kind_t k, avro_schema_t ws)
{
    if (!union_scalar(k, ws)) return type_ok_plain(k, ws);
    for (size_t i = 0; i < avro_schema_union_size(ws); i++)
        if (type_ok_plain(k, deref(avro_schema_union_branch(ws, (int)i)))) return true;
    return false;
}

static rf_err_t compile_record(cc_t *cc, avro_schema_t ws, const rf__tdesc_t *t,
                               const rf__plan_t **out);

static rf_err_t compile_union(cc_t *cc, avro_schema_t ws, const wunion_t **out)
{
    wunion_t *u = rf__arena_alloc(cc->a, sizeof *u);
    size_t n = avro_schema_union_size(ws);
    if (!u) return rf_errf(cc->eb, RF_ERR_NOMEM, "out of memory");
    u->n = n;
    u->branch = rf__arena_alloc(cc->a, (n ? n : 1) * sizeof *u->branch);
    u->wbranch = rf__arena_alloc(cc->a, (n ? n : 1) * sizeof *u->wbranch);
    if (!u->branch || !u->wbranch) return rf_errf(cc->eb, RF_ERR_NOMEM, "out of memory");
    for (int t = 0; t < RF_EV__COUNT; t++)
        u->by_type[t] = -1;
    for (size_t i = 0; i < n; i++) {
        avro_schema_t b = deref(avro_schema_union_branch(ws, (int)i));
        u->wbranch[i] = b;
        if (!is_avro_record(b)) continue; /* unknown to the reader: an error if read */
        const char *name = base_name(avro_schema_name(b));
        for (int t = 0; t < RF_EV__COUNT; t++) {
            if (strcmp(name, body_tdesc[t].name) != 0 || u->by_type[t] >= 0) continue;
            rf_err_t err = compile_record(cc, b, &body_tdesc[t], &u->branch[i]);
            if (err) return err;
            u->by_type[t] = (int)i;
        }
    }
    *out = u;
    return RF_OK;
}

/* The default of reader field t.slot, from the reader schema's JSON. */
static json_t *find_record_json(json_t *node, const char *name, int depth)
{
    if (!node || depth > RF_AVRO_DEPTH_MAX) return NULL;
    if (json_is_object(node)) {
        const char *type = json_string_value(json_object_get(node, "type"));
        const char *n = json_string_value(json_object_get(node, "name"));
        if (type && n && strcmp(type, "record") == 0 && strcmp(base_name(n), name) == 0)
            return node;
        const char *key;
        json_t *v;
        json_object_foreach(node, key, v)
        {
            json_t *r = find_record_json(v, name, depth + 1);
            if (r) return r;
        }
    } else if (json_is_array(node)) {
        size_t i;
        json_t *v;
        json_array_foreach(node, i, v)
        {
            json_t *r = find_record_json(v, name, depth + 1);
            if (r) return r;
        }
    }
    return NULL;
}

static json_t *reader_default(cc_t *cc, const rf__tdesc_t *t, const char *field)
{
    json_t *rec = find_record_json(cc->rjson, t->name, 0);
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(rec, "fields"), i, f)
    {
        const char *n = json_string_value(json_object_get(f, "name"));
        if (n && strcmp(n, field) == 0) return json_object_get(f, "default");
    }
    return NULL;
}

static rf_err_t make_default(cc_t *cc, const rf__tdesc_t *t, const rf__slot_t *s,
                             struct rf__dflt *d)
{
    json_t *v = reader_default(cc, t, s->name);
    d->slot = s;
    if (!v)
        return rf_errf(cc->eb, RF_ERR_BAD_INPUT,
                       "schema %" PRId32 ": reader field '%s.%s' is not in the writer and has no "
                       "default",
                       cc->id, t->name, s->name);
    bool ok = false;
    if (s->kind == RF__K_STR && json_is_string(v) && json_string_length(v) < s->cap &&
        !memchr(json_string_value(v), '\0', json_string_length(v))) {
        char *str = rf__arena_alloc(cc->a, json_string_length(v) + 1);
        if (!str) return rf_errf(cc->eb, RF_ERR_NOMEM, "out of memory");
        memcpy(str, json_string_value(v), json_string_length(v));
        d->str = str;
        ok = true;
    } else if ((s->kind == RF__K_LONG || s->kind == RF__K_ULONG || s->kind == RF__K_INT) &&
               json_is_integer(v)) {
        d->num = json_integer_value(v);
        ok = s->kind == RF__K_LONG || (s->kind == RF__K_ULONG && d->num >= 0) ||
             (d->num >= INT32_MIN && d->num <= INT32_MAX);
    } else if (s->kind == RF__K_BOOL && json_is_boolean(v)) {
        d->num = json_is_true(v);
        ok = true;
    } else if (s->kind == RF__K_ARRAY && json_is_array(v) && json_array_size(v) == 0) {
        ok = true;
    }
    if (!ok)
        return rf_errf(cc->eb, RF_ERR_BAD_INPUT,
                       "schema %" PRId32 ": unsupported default of reader field '%s.%s'", cc->id,
                       t->name, s->name);
    return RF_OK;
}

static rf_err_t compile_field(cc_t *cc, const rf__tdesc_t *t, struct rf__wfield *wf)
{
    const rf__slot_t *s = wf->slot;
    if (!type_ok(s->kind, wf->ws))
        return rf_errf(cc->eb, RF_ERR_BAD_INPUT,
                       "schema %" PRId32 ": field '%s.%s' has writer type %s, which the reader "
                       "cannot resolve",
                       cc->id, t->name, s->name, avro_schema_type_name(wf->ws));
    if (s->kind == RF__K_BODY) return compile_union(cc, wf->ws, &wf->u);
    if (s->kind != RF__K_ARRAY) return RF_OK;
    wf->item_ws = deref(avro_schema_array_items(wf->ws));
    if (!is_avro_record(wf->item_ws))
        return rf_errf(cc->eb, RF_ERR_BAD_INPUT,
                       "schema %" PRId32 ": items of '%s.%s' are not records", cc->id, t->name,
                       s->name);
    return compile_record(cc, wf->item_ws, s->item, &wf->item);
}

static rf_err_t compile_record(cc_t *cc, avro_schema_t ws, const rf__tdesc_t *t,
                               const rf__plan_t **out)
{
    RF_ASSERT(t->nslots <= 32);
    const char *wname = is_avro_named_type(ws) ? avro_schema_name(ws) : NULL;
    if (!is_avro_record(ws) || strcmp(base_name(wname), t->name) != 0)
        return rf_errf(cc->eb, RF_ERR_BAD_INPUT,
                       "schema %" PRId32 ": expected record '%s', writer has %s '%s'", cc->id,
                       t->name, ws ? avro_schema_type_name(ws) : "nothing", wname ? wname : "");
    rf__plan_t *p = rf__arena_alloc(cc->a, sizeof *p);
    size_t n = avro_schema_record_size(ws);
    if (!p) return rf_errf(cc->eb, RF_ERR_NOMEM, "out of memory");
    p->t = t;
    p->writable = true;
    p->nfields = n;
    p->fields = rf__arena_alloc(cc->a, (n ? n : 1) * sizeof *p->fields);
    p->defaults = rf__arena_alloc(cc->a, (t->nslots ? t->nslots : 1) * sizeof *p->defaults);
    if (!p->fields || !p->defaults) return rf_errf(cc->eb, RF_ERR_NOMEM, "out of memory");
    uint32_t seen = 0;
    for (size_t i = 0; i < n; i++) {
        struct rf__wfield *wf = &p->fields[i];
        wf->name = avro_schema_record_field_name(ws, (int)i);
        wf->ws = deref(avro_schema_record_field_get_by_index(ws, (int)i));
        size_t si = 0;
        wf->slot = find_slot(t, wf->name, &si);
        if (!wf->slot) {
            p->writable = false; /* a writer field refold has nowhere to store */
            continue;
        }
        seen |= 1u << si;
        rf_err_t err = compile_field(cc, t, wf);
        if (err) return err;
        if ((wf->item && !wf->item->writable) || union_scalar(wf->slot->kind, wf->ws))
            p->writable = false; /* refold writes plain values only */
    }
    for (size_t si = 0; si < t->nslots; si++) {
        if (seen & (1u << si)) continue;
        rf_err_t err = make_default(cc, t, &t->slots[si], &p->defaults[p->ndefaults++]);
        if (err) return err;
    }
    *out = p;
    return RF_OK;
}

rf_err_t rf__plan_compile(rf__arena_t *a, avro_schema_t ws, json_t *reader_json,
                          const rf__tdesc_t *t, int32_t id, rf__plan_t **out, rf_errbuf_t *eb)
{
    RF_ASSERT(a != NULL && t != NULL && out != NULL);
    cc_t cc = {a, reader_json, id, eb};
    const rf__plan_t *p = NULL;
    rf_err_t err = compile_record(&cc, deref(ws), t, &p);
    if (err) return err;
    RF_ASSERT(p != NULL);
    *out = (rf__plan_t *)p;
    return RF_OK;
}

/* Exact: no skipped field, no default needed, every body type present. */
static rf_err_t plan_exact(const rf__plan_t *p, int32_t id, rf_errbuf_t *eb)
{
    if (!p->writable || p->ndefaults)
        return rf_errf(eb, RF_ERR_CONFIG,
                       "schema %" PRId32 ": record '%s' does not match the "
                       "struct",
                       id, p->t->name);
    for (size_t i = 0; i < p->nfields; i++) {
        const struct rf__wfield *wf = &p->fields[i];
        rf_err_t err = RF_OK;
        if (wf->item) err = plan_exact(wf->item, id, eb);
        for (size_t b = 0; !err && wf->u && b < wf->u->n; b++)
            err = wf->u->branch[b] ? plan_exact(wf->u->branch[b], id, eb)
                                   : rf_errf(eb, RF_ERR_CONFIG,
                                             "schema %" PRId32 ": body branch "
                                             "%zu is not an event",
                                             id, b);
        for (int t = 0; !err && wf->u && t < RF_EV__COUNT; t++)
            if (wf->u->by_type[t] != t)
                err = rf_errf(eb, RF_ERR_CONFIG, "schema %" PRId32 ": body branch %d is not %s", id,
                              t, rf_event_type_name((rf_event_type_t)t));
        if (err) return err;
    }
    return RF_OK;
}

rf_err_t rf__plan_check_exact(avro_schema_t s, const rf__tdesc_t *t, int32_t id, rf_errbuf_t *eb)
{
    rf__arena_t a = {NULL};
    rf__plan_t *p = NULL;
    rf_err_t err = rf__plan_compile(&a, s, NULL, t, id, &p, eb);
    if (!err) err = plan_exact(p, id, eb);
    rf__arena_free(&a);
    return err;
}

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

static rf_err_t rd_long(rd_t *r, int64_t *out, const char *what)
{
    uint64_t v = 0;
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
    s = deref(s);
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

static rf_err_t rd_body(rd_t *r, const wunion_t *u, char *base, int *type)
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
    *out = deref(avro_schema_union_branch(wf->ws, (int)v));
    if (!*out || is_avro_union(*out) || !type_ok_plain(wf->slot->kind, *out))
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
    if (union_scalar(s->kind, ws)) {
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
