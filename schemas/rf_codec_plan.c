/* rf_codec_plan.c: compiles Avro writer schemas against refold's structs (Avro
 * schema resolution by field name, reader defaults); rf_codec_plan_walk.c
 * walks Avro binary with the plans. */
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
    EV_STR("auth_key_id", auth_key_id),
    EV_STR("auth_signature", auth_sig),
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
static const rf__slot_t s_key_registered[] = {
    EV_STR("key_id", key_id),
    EV_STR("public_key", public_key),
    EV_STR("scopes", scopes),
    EV_STR("actor", actor),
};
static const rf__slot_t s_key_revoked[] = {EV_STR("key_id", key_id), EV_STR("reason", reason)};

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
    TDESC("KeyRegistered", "key_registered", RF_EV_KEY_REGISTERED, s_key_registered),
    TDESC("KeyRevoked", "key_revoked", RF_EV_KEY_REVOKED, s_key_revoked),
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

typedef struct cc {
    rf__arena_t *a;
    json_t *rjson; /* reader schema JSON (defaults); NULL in exact mode */
    int32_t id;
    rf_errbuf_t *eb;
} cc_t;

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

static bool type_ok(rf__kind_t k, avro_schema_t ws)
{
    if (!rf__union_scalar(k, ws)) return rf__type_ok_plain(k, ws);
    for (size_t i = 0; i < avro_schema_union_size(ws); i++)
        if (rf__type_ok_plain(k, rf__schema_deref(avro_schema_union_branch(ws, (int)i))))
            return true;
    return false;
}

static rf_err_t compile_record(cc_t *cc, avro_schema_t ws, const rf__tdesc_t *t,
                               const rf__plan_t **out);

static rf_err_t compile_union(cc_t *cc, avro_schema_t ws, const rf__wunion_t **out)
{
    rf__wunion_t *u = rf__arena_alloc(cc->a, sizeof *u);
    size_t n = avro_schema_union_size(ws);
    if (!u) return rf_errf(cc->eb, RF_ERR_NOMEM, "out of memory");
    u->n = n;
    u->branch = rf__arena_alloc(cc->a, (n ? n : 1) * sizeof *u->branch);
    u->wbranch = rf__arena_alloc(cc->a, (n ? n : 1) * sizeof *u->wbranch);
    if (!u->branch || !u->wbranch) return rf_errf(cc->eb, RF_ERR_NOMEM, "out of memory");
    for (int t = 0; t < RF_EV__COUNT; t++)
        u->by_type[t] = -1;
    for (size_t i = 0; i < n; i++) {
        avro_schema_t b = rf__schema_deref(avro_schema_union_branch(ws, (int)i));
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
    wf->item_ws = rf__schema_deref(avro_schema_array_items(wf->ws));
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
        wf->ws = rf__schema_deref(avro_schema_record_field_get_by_index(ws, (int)i));
        size_t si = 0;
        wf->slot = find_slot(t, wf->name, &si);
        if (!wf->slot) {
            p->writable = false; /* a writer field refold has nowhere to store */
            continue;
        }
        seen |= 1u << si;
        rf_err_t err = compile_field(cc, t, wf);
        if (err) return err;
        if ((wf->item && !wf->item->writable) || rf__union_scalar(wf->slot->kind, wf->ws))
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
    rf_err_t err = compile_record(&cc, rf__schema_deref(ws), t, &p);
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
