/* rf_codec_int.h: internals of the codec shared by rf_codec.c (manifest,
 * registry, framing), rf_codec_plan.c (schema plans), rf_codec_plan_walk.c
 * (binary walk) and rf_cmd_schemas.c. Not part of the public API. */
#ifndef RF_CODEC_INT_H
#define RF_CODEC_INT_H

#include <avro.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rf_event.h"

enum { RF__SUBJ_EVENTS = 0, RF__SUBJ_LEDGER = 1, RF__SUBJ_COUNT = 2 };
/* "events" / "refold.events-value" -> RF__SUBJ_EVENTS, ...; -1 when unknown. */
int rf__subject_parse(const char *name);

typedef struct rf__manifest_entry {
    int32_t id;
    char subject[64];
    int version;
    char file[64];
    const char *json; /* embedded text */
} rf__manifest_entry_t;
typedef rf_err_t(rf__manifest_cb_t)(const rf__manifest_entry_t *e, void *opaque, rf_errbuf_t *eb);
rf_err_t rf__manifest_each(rf__manifest_cb_t *cb, void *opaque, rf_errbuf_t *eb);

/* GET {url}/schemas/ids/{id} of a Confluent-compatible registry
 * (rf_codec_registry.c): *json gets the schema text (caller frees).
 * RF_ERR_UNKNOWN_SCHEMA when the registry answers that it has no such Avro
 * schema, RF_ERR_RETRY when it cannot be reached after RF_REGISTRY_ATTEMPTS,
 * RF_ERR_CONFIG for a malformed URL. Blocks for up to RF_REGISTRY_ATTEMPTS x
 * RF_REGISTRY_TIMEOUT_MS plus the backoff (~3 s when connections are refused). */
rf_err_t rf__registry_schema(const char *url, int32_t id, char **json, rf_errbuf_t *eb);

/* Bump allocator for plans: freed all at once with the codec. */
typedef struct rf__arena_block rf__arena_block_t;
typedef struct rf__arena {
    rf__arena_block_t *head;
} rf__arena_t;
void *rf__arena_alloc(rf__arena_t *a, size_t n); /* zeroed; NULL when out of memory */
void rf__arena_free(rf__arena_t *a);
/* Rewinding to a mark frees what was allocated since (a failed registration
 * must not grow the codec). */
typedef struct rf__arena_mark {
    rf__arena_block_t *head;
    size_t used;
} rf__arena_mark_t;
rf__arena_mark_t rf__arena_mark(const rf__arena_t *a);
void rf__arena_rewind(rf__arena_t *a, rf__arena_mark_t m);

/* Target descriptions: the reader's view, i.e. where each Avro field of the
 * current schema lives in rf_event_t / rf_record_t. */
typedef enum rf__kind {
    RF__K_STR,    /* string -> char[cap] */
    RF__K_LONG,   /* long (or int) -> int64_t */
    RF__K_ULONG,  /* long >= 0 -> uint64_t */
    RF__K_INT,    /* int -> int32_t */
    RF__K_BOOL,   /* boolean -> bool */
    RF__K_HASH32, /* 64 hex digits -> uint8_t[32] */
    RF__K_BUCKET, /* bucket name -> uint8_t */
    RF__K_BODY,   /* union of event body records; the struct is flattened */
    RF__K_ARRAY,  /* array of records -> fixed array + uint32_t count */
} rf__kind_t;

typedef struct rf__tdesc rf__tdesc_t;
typedef struct rf__slot {
    const char *name; /* Avro field name */
    rf__kind_t kind;
    uint32_t off;            /* offset in the struct */
    uint32_t cap;            /* string buffer size / array capacity */
    const rf__tdesc_t *item; /* RF__K_ARRAY: items; RF__K_BODY: unused */
    uint32_t count_off;      /* RF__K_ARRAY: offset of the uint32_t count */
    uint32_t item_size;      /* RF__K_ARRAY: sizeof one item */
} rf__slot_t;

struct rf__tdesc {
    const char *name;  /* Avro record name (unqualified) */
    const char *label; /* in messages: "purchase", "record", ... */
    int type;          /* rf_event_type_t of a body record, else -1 */
    const rf__slot_t *slots;
    size_t nslots;
};
extern const rf__tdesc_t rf__tdesc_event;  /* refold.Event */
extern const rf__tdesc_t rf__tdesc_ledger; /* refold.LedgerRecord */

/* A writer schema compiled against a target description. */
typedef struct rf__plan rf__plan_t;
struct rf__plan {
    bool writable; /* every writer field has a slot: refold can encode with it */
    const rf__tdesc_t *t;
    /* opaque to rf_codec.c */
    size_t nfields;
    struct rf__wfield *fields;
    size_t ndefaults;
    struct rf__dflt *defaults;
};

/* Compiles writer schema ws against t (reader defaults from reader_json).
 * RF_ERR_BAD_INPUT when the writer cannot be resolved to the reader. */
rf_err_t rf__plan_compile(rf__arena_t *a, avro_schema_t ws, json_t *reader_json,
                          const rf__tdesc_t *t, int32_t id, rf__plan_t **out, rf_errbuf_t *eb);
/* Checks that schema s has exactly the fields of t, with compatible types. */
rf_err_t rf__plan_check_exact(avro_schema_t s, const rf__tdesc_t *t, int32_t id, rf_errbuf_t *eb);

/* Encodes base (rf_event_t or rf_record_t; type = event type or -1) into
 * out[0..cap); RF_ERR_OVERSIZE when it does not fit. */
rf_err_t rf__plan_encode(const rf__plan_t *p, const void *base, int type, uint8_t *out, size_t cap,
                         size_t *len, rf_errbuf_t *eb);
/* Decodes exactly len bytes into base (cleared by the caller); *type gets the
 * body union's event type (events only). */
rf_err_t rf__plan_decode(const rf__plan_t *p, const uint8_t *in, size_t len, void *base, int *type,
                         int32_t id, rf_errbuf_t *eb);

/* ---- plan internals: rf_codec_plan.c compiles them, rf_codec_plan_walk.c
 * walks Avro binary with them ---- */

typedef struct rf__wunion {
    size_t n;
    const rf__plan_t **branch; /* NULL: a writer branch the reader does not know */
    avro_schema_t *wbranch;    /* writer branch schemas, for messages */
    int by_type[RF_EV__COUNT]; /* writer branch index of each event type, or -1 */
} rf__wunion_t;

struct rf__wfield {
    const char *name;       /* writer field name (owned by the schema) */
    avro_schema_t ws;       /* writer field type, links resolved */
    const rf__slot_t *slot; /* NULL: not in the reader, skipped */
    const rf__plan_t *item; /* RF__K_ARRAY */
    avro_schema_t item_ws;  /* RF__K_ARRAY: writer item type */
    const rf__wunion_t *u;  /* RF__K_BODY */
};

struct rf__dflt {
    const rf__slot_t *slot;
    int64_t num;
    const char *str;
};

/* A schema with named-type links followed (bounded: links may not cycle). */
static inline avro_schema_t rf__schema_deref(avro_schema_t s)
{
    for (int i = 0; i < 8 && s && is_avro_link(s); i++)
        s = avro_schema_link_target(s);
    return s;
}

/* Whether a slot of kind k can read writer type ws (no union). Inline: the
 * decoder asks per field. */
static inline bool rf__type_ok_plain(rf__kind_t k, avro_schema_t ws)
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
static inline bool rf__union_scalar(rf__kind_t k, avro_schema_t ws)
{
    return k != RF__K_BODY && k != RF__K_ARRAY && is_avro_union(ws);
}

/* Strict UTF-8 check (rf_event.c). */
bool rf__utf8_valid(const uint8_t *s, size_t n);
/* rf_event_validate for an event the decoder filled: its strings are known
 * to be terminated and UTF-8, so they are not scanned again. */
rf_err_t rf__event_validate_decoded(const rf_event_t *ev, rf_errbuf_t *eb);

/* Structural checks of a record before it is written or after it is read:
 * strings terminated and UTF-8, counts within capacity, buckets known. */
rf_err_t rf__record_validate(const rf_record_t *rec, rf_errbuf_t *eb);

#endif
