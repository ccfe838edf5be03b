/* rf_codec.c: Avro binary encoding of events and ledger records with Confluent
 * framing, resolving any registered writer schema into refold's structs.
 *
 * Why not avro_value_read: Avro-C 1.11.1 (Debian) allocates a string's length
 * prefix before checking the bytes left (a 5-byte garbage message makes it
 * malloc 2^62 bytes), leaks the buffer when the read then fails, allocates
 * twice per string per message, and its resolved writer cannot fill reader
 * fields from defaults ("Writer union branch 5 is incompatible"), so a v1
 * Purchase could not be read by the v2 reader. So Avro-C parses and checks the
 * schemas, and this file compiles each writer schema into a plan (writer field
 * -> struct slot, or skip; reader defaults for fields the writer lacks) and
 * walks the bytes with bounds checks: no allocation per message, every length
 * checked against the bytes left, nesting and item counts bounded. */
#include "rf_codec.h"

#include <avro.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_codec_int.h"

extern const char rf__manifest_txt[];
extern const char rf__schema_event_v1_avsc[];
extern const char rf__schema_event_v2_avsc[];
extern const char rf__schema_event_avsc[];
extern const char rf__schema_ledger_record_avsc[];

/* ---- manifest ---- */

static const struct {
    const char *file;
    const char *text;
} embedded[] = {
    {"event.v1.avsc", rf__schema_event_v1_avsc},
    {"event.v2.avsc", rf__schema_event_v2_avsc},
    {"event.avsc", rf__schema_event_avsc},
    {"ledger_record.avsc", rf__schema_ledger_record_avsc},
};

const char *rf_codec_manifest(void)
{
    return rf__manifest_txt;
}

int rf__subject_parse(const char *name)
{
    if (!name) return -1;
    if (strcmp(name, "events") == 0 || strcmp(name, "refold.events-value") == 0)
        return RF__SUBJ_EVENTS;
    if (strcmp(name, "ledger") == 0 || strcmp(name, "refold.ledger-value") == 0)
        return RF__SUBJ_LEDGER;
    return -1;
}

static const char *embedded_text(const char *file)
{
    for (size_t i = 0; i < sizeof embedded / sizeof embedded[0]; i++)
        if (strcmp(file, embedded[i].file) == 0) return embedded[i].text;
    return NULL;
}

/* Calls cb for each entry line of the manifest; stops at the first error. */
rf_err_t rf__manifest_each(rf__manifest_cb_t *cb, void *opaque, rf_errbuf_t *eb)
{
    const char *p = rf__manifest_txt;
    int lineno = 0;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char line[256];
        lineno++;
        if (n >= sizeof line)
            return rf_errf(eb, RF_ERR_CONFIG, "manifest line %d too long", lineno);
        memcpy(line, p, n);
        line[n] = '\0';
        p += n + (nl ? 1 : 0);
        const char *s = line + strspn(line, " \t\r");
        if (*s == '\0' || *s == '#') continue;
        rf__manifest_entry_t e;
        memset(&e, 0, sizeof e);
        if (sscanf(s, "%" SCNd32 " %63s %d %63s", &e.id, e.subject, &e.version, e.file) != 4 ||
            e.id < 0 || e.version < 1)
            return rf_errf(eb, RF_ERR_CONFIG,
                           "manifest line %d: expected 'id subject version file'", lineno);
        e.json = embedded_text(e.file);
        if (!e.json)
            return rf_errf(eb, RF_ERR_CONFIG, "manifest line %d: '%s' is not embedded", lineno,
                           e.file);
        rf_err_t err = cb(&e, opaque, eb);
        if (err) return err;
    }
    return RF_OK;
}

typedef struct json_find {
    int32_t id;
    const char *json;
} json_find_t;

static rf_err_t find_json_cb(const rf__manifest_entry_t *e, void *opaque, rf_errbuf_t *eb)
{
    (void)eb;
    json_find_t *f = opaque;
    if (e->id == f->id) f->json = e->json;
    return RF_OK;
}

const char *rf_codec_schema_json(int32_t id)
{
    json_find_t f = {id, NULL};
    if (rf__manifest_each(find_json_cb, &f, NULL) != RF_OK) return NULL;
    return f.json;
}

/* ---- the codec ---- */

typedef struct sch {
    int32_t id;    /* wire id */
    int32_t local; /* manifest id; 0 for schemas registered or fetched at runtime */
    int subject;
    int version;          /* manifest version; 0 for schemas registered at runtime */
    avro_schema_t schema; /* owned reference */
    json_t *json;         /* parsed text: reader defaults come from it */
    rf__plan_t *plan;     /* in the codec's arena */
} sch_t;

struct rf_codec {
    int32_t base;              /* wire id = base + manifest id */
    char registry[RF_URL_MAX]; /* "" when none */
    size_t n;
    sch_t sch[RF_CODEC_SCHEMAS_MAX];
    const sch_t *reader[RF__SUBJ_COUNT]; /* current schema of each subject */
    rf__arena_t arena;                   /* plans and default values */
    bool legacy;                         /* read events framed 1..RF_SCHEMA_ID_LEGACY_MAX */
};

static sch_t *find_sch(rf_codec_t *c, int32_t id)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->sch[i].id == id) return &c->sch[i];
    return NULL;
}

/* Parses json into a new slot (not yet counted in c->n). */
static rf_err_t load_schema(rf_codec_t *c, int32_t id, int subject, int version, const char *json,
                            rf_errbuf_t *eb)
{
    RF_ASSERT(subject >= 0 && subject < RF__SUBJ_COUNT);
    if (c->n >= RF_CODEC_SCHEMAS_MAX)
        return rf_errf(eb, RF_ERR_CONFIG, "too many schemas (max %d)", RF_CODEC_SCHEMAS_MAX);
    if (find_sch(c, id)) return rf_errf(eb, RF_ERR_CONFLICT, "schema id %" PRId32 " twice", id);
    sch_t *s = &c->sch[c->n];
    memset(s, 0, sizeof *s);
    s->id = id;
    s->subject = subject;
    s->version = version;
    if (avro_schema_from_json_length(json, strlen(json), &s->schema) != 0)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "schema %" PRId32 ": %s", id, avro_strerror());
    json_error_t jerr;
    s->json = json_loads(json, 0, &jerr);
    if (!s->json) {
        avro_schema_decref(s->schema);
        return rf_errf(eb, RF_ERR_BAD_INPUT, "schema %" PRId32 ": %s", id, jerr.text);
    }
    return RF_OK;
}

static void unload_schema(sch_t *s)
{
    if (s->schema) avro_schema_decref(s->schema);
    if (s->json) json_decref(s->json);
    memset(s, 0, sizeof *s);
}

static rf_err_t manifest_load_cb(const rf__manifest_entry_t *e, void *opaque, rf_errbuf_t *eb)
{
    rf_codec_t *c = opaque;
    int subject = rf__subject_parse(e->subject);
    if (subject < 0)
        return rf_errf(eb, RF_ERR_CONFIG, "manifest: unknown subject '%s'", e->subject);
    if (e->id < 1 || e->id >= RF_SCHEMA_ID_LOCAL_MAX)
        return rf_errf(eb, RF_ERR_CONFIG, "manifest: id %" PRId32 " is not in 1..%d", e->id,
                       RF_SCHEMA_ID_LOCAL_MAX - 1);
    rf_err_t err = load_schema(c, c->base + e->id, subject, e->version, e->json, eb);
    if (err) return err;
    sch_t *s = &c->sch[c->n++];
    s->local = e->id;
    if (!c->reader[subject] || c->reader[subject]->version < s->version) c->reader[subject] = s;
    return RF_OK;
}

static const rf__tdesc_t *subject_tdesc(int subject)
{
    return subject == RF__SUBJ_EVENTS ? &rf__tdesc_event : &rf__tdesc_ledger;
}

rf_err_t rf_codec_conf_env(rf_codec_conf_t *conf, rf_errbuf_t *eb)
{
    RF_ASSERT(conf != NULL);
    conf->id_base = RF_SCHEMA_ID_BASE_DEFAULT;
    conf->registry_url = NULL;
    const char *b = getenv(RF_SCHEMA_ID_BASE_ENV);
    if (b && *b) {
        int64_t v;
        rf_err_t err =
            rf_parse_i64(b, 0, INT32_MAX - RF_SCHEMA_ID_LOCAL_MAX, &v, RF_SCHEMA_ID_BASE_ENV, eb);
        if (err) return err;
        conf->id_base = (int32_t)v;
    }
    const char *u = getenv(RF_SCHEMA_REGISTRY_ENV);
    if (u && *u) conf->registry_url = u;
    conf->legacy_ids = false;
    const char *l = getenv(RF_SCHEMA_LEGACY_ENV);
    if (l && *l) {
        int64_t v;
        rf_err_t err = rf_parse_i64(l, 0, 1, &v, RF_SCHEMA_LEGACY_ENV, eb);
        if (err) return err;
        conf->legacy_ids = v == 1;
    }
    return RF_OK;
}

rf_codec_t *rf_codec_new(rf_errbuf_t *eb)
{
    rf_codec_conf_t conf;
    if (rf_codec_conf_env(&conf, eb) != RF_OK) return NULL;
    return rf_codec_new_conf(&conf, eb);
}

static rf_err_t conf_apply(rf_codec_t *c, const rf_codec_conf_t *conf, rf_errbuf_t *eb)
{
    if (conf->id_base < 0 || conf->id_base > INT32_MAX - RF_SCHEMA_ID_LOCAL_MAX)
        return rf_errf(eb, RF_ERR_CONFIG, "schema id base %" PRId32 " is not in 0..%d",
                       conf->id_base, INT32_MAX - RF_SCHEMA_ID_LOCAL_MAX);
    c->base = conf->id_base;
    const char *u = conf->registry_url ? conf->registry_url : "";
    if (strlen(u) >= sizeof c->registry)
        return rf_errf(eb, RF_ERR_CONFIG, "schema registry URL longer than %d bytes",
                       RF_URL_MAX - 1);
    if (*u && strncmp(u, "http://", 7) != 0)
        return rf_errf(eb, RF_ERR_CONFIG,
                       "schema registry URL '%s': only http:// is supported (put a TLS proxy "
                       "in front of an https registry)",
                       u);
    rf_strlcpy(c->registry, u, sizeof c->registry);
    if (conf->legacy_ids && *u)
        return rf_errf(eb, RF_ERR_CONFIG,
                       "legacy schema ids (1..%d) and a schema registry together: the "
                       "registry's ids would read as refold's (docs/schema-registry.md)",
                       RF_SCHEMA_ID_LEGACY_MAX);
    c->legacy = conf->legacy_ids && conf->id_base > 0;
    return RF_OK;
}

rf_codec_t *rf_codec_new_conf(const rf_codec_conf_t *conf, rf_errbuf_t *eb)
{
    RF_ASSERT(conf != NULL);
    rf_codec_t *c = calloc(1, sizeof *c);
    if (!c) {
        rf_errf(eb, RF_ERR_NOMEM, "out of memory");
        return NULL;
    }
    rf_err_t err = conf_apply(c, conf, eb);
    if (!err) err = rf__manifest_each(manifest_load_cb, c, eb);
    for (int s = 0; !err && s < RF__SUBJ_COUNT; s++)
        if (!c->reader[s]) err = rf_errf(eb, RF_ERR_CONFIG, "manifest: a subject has no schema");
    /* The current reader must match the structs exactly (a field added to an
     * .avsc without code to store it is a build error, caught here). */
    for (int s = 0; !err && s < RF__SUBJ_COUNT; s++) {
        const sch_t *r = c->reader[s];
        err = rf__plan_check_exact(r->schema, subject_tdesc(s), r->id, eb);
    }
    for (size_t i = 0; !err && i < c->n; i++) {
        sch_t *s = &c->sch[i];
        const sch_t *r = c->reader[s->subject];
        err = rf__plan_compile(&c->arena, s->schema, r->json, subject_tdesc(s->subject), s->id,
                               &s->plan, eb);
    }
    if (err) {
        rf_codec_destroy(c);
        return NULL;
    }
    return c;
}

int32_t rf_codec_wire_id(const rf_codec_t *c, int32_t local)
{
    RF_ASSERT(c != NULL && local > 0 && local < RF_SCHEMA_ID_LOCAL_MAX);
    return c->base + local;
}

int rf_codec_schemas(const rf_codec_t *c, rf_codec_schema_info_t *out, int cap)
{
    static const char *const subj_name[RF__SUBJ_COUNT] = {"refold.events-value",
                                                          "refold.ledger-value"};
    int n = 0;
    for (size_t i = 0; i < c->n; i++) {
        const sch_t *s = &c->sch[i];
        if (!s->local) continue;
        if (n < cap)
            out[n] = (rf_codec_schema_info_t){s->id, subj_name[s->subject], s->version,
                                              rf_codec_schema_json(s->local)};
        n++;
    }
    return n;
}

rf_err_t rf_codec_lookup(const rf_codec_t *c, const char *subject, const char *json,
                         rf_codec_schema_info_t *info, rf_errbuf_t *eb)
{
    RF_ASSERT(c != NULL && subject != NULL && json != NULL && info != NULL);
    avro_schema_t s;
    if (avro_schema_from_json_length(json, strlen(json), &s) != 0)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "invalid Avro schema: %s", avro_strerror());
    rf_codec_schema_info_t all[RF_CODEC_SCHEMAS_MAX];
    int n = rf_codec_schemas(c, all, RF_CODEC_SCHEMAS_MAX);
    rf_err_t err = RF_ERR_NOT_FOUND;
    for (int i = 0; i < n && i < RF_CODEC_SCHEMAS_MAX && err; i++) {
        const sch_t *own = find_sch((rf_codec_t *)c, all[i].id);
        if (strcmp(all[i].subject, subject) == 0 && own && avro_schema_equal(own->schema, s)) {
            *info = all[i];
            err = RF_OK;
        }
    }
    avro_schema_decref(s);
    return err;
}

void rf_codec_destroy(rf_codec_t *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->n; i++)
        unload_schema(&c->sch[i]);
    rf__arena_free(&c->arena);
    free(c);
}

static rf_err_t add_schema(rf_codec_t *c, int32_t id, int subj, const char *json, rf_errbuf_t *eb);

rf_err_t rf_codec_register_schema(rf_codec_t *c, int32_t id, const char *subject, const char *json,
                                  rf_errbuf_t *eb)
{
    RF_ASSERT(c != NULL);
    int subj = rf__subject_parse(subject);
    if (subj < 0)
        return rf_errf(eb, RF_ERR_CONFIG, "unknown subject '%s' (events or ledger)",
                       subject ? subject : "(null)");
    if (!json || id < 0) return rf_errf(eb, RF_ERR_CONFIG, "schema id or JSON missing");
    sch_t *old = find_sch(c, id);
    if (old) {
        /* Registry clients may hand the same schema twice; a different schema
         * under a known id would silently change what bytes mean. */
        avro_schema_t s;
        if (avro_schema_from_json_length(json, strlen(json), &s) != 0)
            return rf_errf(eb, RF_ERR_BAD_INPUT, "schema %" PRId32 ": %s", id, avro_strerror());
        int same = old->subject == subj && avro_schema_equal(old->schema, s);
        avro_schema_decref(s);
        return same ? RF_OK
                    : rf_errf(eb, RF_ERR_CONFLICT,
                              "schema id %" PRId32 " is already registered "
                              "with a different schema",
                              id);
    }
    return add_schema(c, id, subj, json, eb);
}

/* Loads and compiles json as writer schema id of subject subj (id unknown). */
static rf_err_t add_schema(rf_codec_t *c, int32_t id, int subj, const char *json, rf_errbuf_t *eb)
{
    rf_err_t err = load_schema(c, id, subj, 0, json, eb);
    if (err) return err;
    sch_t *s = &c->sch[c->n];
    rf__arena_mark_t mark = rf__arena_mark(&c->arena);
    err = rf__plan_compile(&c->arena, s->schema, c->reader[subj]->json, subject_tdesc(subj), id,
                           &s->plan, eb);
    if (err) {
        rf__arena_rewind(&c->arena, mark);
        unload_schema(s);
        return err;
    }
    c->n++;
    return RF_OK;
}

/* ---- ids ---- */

static const sch_t *find_local(const rf_codec_t *c, int32_t local)
{
    for (size_t i = 0; local > 0 && i < c->n; i++)
        if (c->sch[i].local == local) return &c->sch[i];
    return NULL;
}

/* The reason names the id and, where it helps, the likely cause. */
static rf_err_t unknown_id(const rf_codec_t *c, uint32_t id, rf_errbuf_t *eb)
{
    if (!c->registry[0] && c->base > 0 && id > 0 && id < (uint32_t)c->base)
        return rf_errf(eb, RF_ERR_UNKNOWN_SCHEMA,
                       "unknown schema id %" PRIu32 " (refold's ids are %" PRId32
                       "+n; an id from the producers' own schema registry needs "
                       "REFOLD_SCHEMA_REGISTRY%s: docs/schema-registry.md)",
                       id, c->base,
                       id <= RF_SCHEMA_ID_LEGACY_MAX
                           ? "; an event framed by refold before 2026-12 needs "
                             "REFOLD_SCHEMA_LEGACY_IDS=1"
                           : "");
    return rf_errf(eb, RF_ERR_UNKNOWN_SCHEMA, "unknown schema id %" PRIu32, id);
}

/* Fetches writer schema id from the configured registry and compiles it
 * against the events reader. Unreachable: RF_ERR_RETRY (the message is not
 * at fault); not there, not Avro or not readable as a refold event:
 * RF_ERR_UNKNOWN_SCHEMA naming why. */
static rf_err_t fetch_schema(rf_codec_t *c, int32_t id, const sch_t **out, rf_errbuf_t *eb)
{
    char *json = NULL;
    rf_err_t err = rf__registry_schema(c->registry, id, &json, eb);
    if (err) return err;
    rf_errbuf_t aeb = {{0}};
    err = add_schema(c, id, RF__SUBJ_EVENTS, json, &aeb);
    free(json);
    if (err == RF_ERR_CONFIG && c->n >= RF_CODEC_SCHEMAS_MAX)
        return rf_errf(eb, RF_ERR_UNKNOWN_SCHEMA, "schema id %" PRId32 ": %s", id, aeb.msg);
    if (err)
        return rf_errf(eb, RF_ERR_UNKNOWN_SCHEMA,
                       "schema id %" PRId32 " of registry %s is not readable as a refold "
                       "event: %s",
                       id, c->registry, aeb.msg);
    *out = find_sch(c, id);
    RF_ASSERT(*out != NULL);
    return RF_OK;
}

/* ---- framing ---- */

static rf_err_t frame_check(rf_codec_t *c, const uint8_t *buf, size_t len, int subject,
                            const sch_t **out, rf_errbuf_t *eb)
{
    if (len > RF_EVENT_BYTES_MAX)
        return rf_errf(eb, RF_ERR_OVERSIZE, "message of %zu bytes exceeds %d", len,
                       RF_EVENT_BYTES_MAX);
    if (len < RF_FRAME_HEADER)
        return rf_errf(eb, RF_ERR_TRUNCATED,
                       "message of %zu bytes is shorter than the %d-byte "
                       "frame header",
                       len, RF_FRAME_HEADER);
    RF_ASSERT(buf != NULL);
    if (buf[0] != 0) return rf_errf(eb, RF_ERR_BAD_MAGIC, "magic byte is 0x%02x, not 0x00", buf[0]);
    uint32_t id = rf_be32_get(buf + 1);
    const sch_t *s = id <= INT32_MAX ? find_sch(c, (int32_t)id) : NULL;
    /* refold.ledger is written by refold alone: records framed before the id
     * base existed (id 3) stay readable */
    if (!s && subject == RF__SUBJ_LEDGER && id == RF_SCHEMA_ID_LEDGER)
        s = find_local(c, RF_SCHEMA_ID_LEDGER);
    /* events framed before the base, read only when asked (legacy_ids) */
    if (!s && subject == RF__SUBJ_EVENTS && c->legacy && id >= 1 && id <= RF_SCHEMA_ID_LEGACY_MAX)
        s = find_local(c, (int32_t)id);
    if (!s && subject == RF__SUBJ_EVENTS && c->registry[0] && id <= INT32_MAX) {
        rf_err_t err = fetch_schema(c, (int32_t)id, &s, eb);
        if (err) return err;
    }
    if (!s) return unknown_id(c, id, eb);
    if (s->subject != subject)
        return rf_errf(eb, RF_ERR_UNKNOWN_SCHEMA, "schema id %" PRIu32 " is not a%s schema", id,
                       subject == RF__SUBJ_EVENTS ? "n events" : " ledger");
    *out = s;
    return RF_OK;
}

static rf_err_t frame_schema(rf_codec_t *c, int32_t id, int subject, size_t cap, const sch_t **out,
                             rf_errbuf_t *eb)
{
    const sch_t *s = find_local(c, id);
    if (!s) s = find_sch(c, id);
    if (!s || s->subject != subject)
        return rf_errf(eb, RF_ERR_UNKNOWN_SCHEMA, "no %s schema with id %" PRId32,
                       subject == RF__SUBJ_EVENTS ? "events" : "ledger", id);
    if (!s->plan->writable)
        return rf_errf(eb, RF_ERR_CONFIG, "schema %" PRId32 " has fields refold cannot write", id);
    if (cap < RF_FRAME_HEADER)
        return rf_errf(eb, RF_ERR_OVERSIZE, "buffer of %zu bytes is too small", cap);
    *out = s;
    return RF_OK;
}

rf_err_t rf_codec_encode_event(rf_codec_t *c, const rf_event_t *ev, int32_t schema_id, uint8_t *buf,
                               size_t cap, size_t *len, rf_errbuf_t *eb)
{
    RF_ASSERT(c != NULL && ev != NULL && buf != NULL && len != NULL);
    *len = 0;
    rf_err_t err = rf_event_validate(ev, eb);
    if (err) return err;
    const sch_t *s = NULL; /* set when err is RF_OK */
    if ((err = frame_schema(c, schema_id, RF__SUBJ_EVENTS, cap, &s, eb))) return err;
    size_t limit = cap < RF_EVENT_BYTES_MAX ? cap : RF_EVENT_BYTES_MAX;
    buf[0] = 0;
    rf_be32_put(buf + 1, (uint32_t)s->id);
    size_t n = 0;
    err = rf__plan_encode(s->plan, ev, ev->type, buf + RF_FRAME_HEADER, limit - RF_FRAME_HEADER, &n,
                          eb);
    if (err) return err;
    *len = RF_FRAME_HEADER + n;
    RF_ASSERT(*len <= cap);
    return RF_OK;
}

rf_err_t rf_codec_decode_event(rf_codec_t *c, const uint8_t *buf, size_t len, rf_event_t *ev,
                               rf_errbuf_t *eb)
{
    RF_ASSERT(c != NULL && ev != NULL);
    rf_event_clear(ev);
    const sch_t *s = NULL; /* set when err is RF_OK */
    rf_err_t err = frame_check(c, buf, len, RF__SUBJ_EVENTS, &s, eb);
    if (err) return err;
    int type = -1;
    err = rf__plan_decode(s->plan, buf + RF_FRAME_HEADER, len - RF_FRAME_HEADER, ev, &type, s->id,
                          eb);
    if (err) return err;
    RF_ASSERT(type >= 0 && type < RF_EV__COUNT);
    ev->type = (rf_event_type_t)type;
    ev->schema_id = s->id;
    return rf__event_validate_decoded(ev, eb);
}

rf_err_t rf_codec_encode_record(rf_codec_t *c, const rf_record_t *rec, uint8_t *buf, size_t cap,
                                size_t *len, rf_errbuf_t *eb)
{
    RF_ASSERT(c != NULL && rec != NULL && buf != NULL && len != NULL);
    *len = 0;
    rf_err_t err = rf__record_validate(rec, eb);
    if (err) return err;
    const sch_t *s = NULL; /* set when err is RF_OK */
    if ((err = frame_schema(c, RF_SCHEMA_ID_LEDGER, RF__SUBJ_LEDGER, cap, &s, eb))) return err;
    size_t limit = cap < RF_EVENT_BYTES_MAX ? cap : RF_EVENT_BYTES_MAX;
    buf[0] = 0;
    rf_be32_put(buf + 1, (uint32_t)s->id);
    size_t n = 0;
    err = rf__plan_encode(s->plan, rec, -1, buf + RF_FRAME_HEADER, limit - RF_FRAME_HEADER, &n, eb);
    if (err) return err;
    *len = RF_FRAME_HEADER + n;
    return RF_OK;
}

rf_err_t rf_codec_decode_record(rf_codec_t *c, const uint8_t *buf, size_t len, rf_record_t *rec,
                                rf_errbuf_t *eb)
{
    RF_ASSERT(c != NULL && rec != NULL);
    rf_record_clear(rec);
    const sch_t *s = NULL; /* set when err is RF_OK */
    rf_err_t err = frame_check(c, buf, len, RF__SUBJ_LEDGER, &s, eb);
    if (err) return err;
    int type = -1;
    err = rf__plan_decode(s->plan, buf + RF_FRAME_HEADER, len - RF_FRAME_HEADER, rec, &type, s->id,
                          eb);
    if (err) return err;
    return rf__record_validate(rec, eb);
}
