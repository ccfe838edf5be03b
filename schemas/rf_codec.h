/* rf_codec.h: Avro encoding of events and ledger records with Confluent
 * framing (magic byte 0, 4-byte big-endian schema id, Avro binary body).
 *
 * Schemas come from a registry: the embedded default is schemas/manifest.txt
 * compiled into the binary; rf_codec_register_schema adds others, and with a
 * registry URL configured the codec fetches an id it does not know from that
 * Confluent-compatible registry (GET /schemas/ids/{id}). Bytes written under
 * any known writer schema are resolved into the current reader schema (Avro
 * schema resolution).
 *
 * Schema ids (docs/schema-registry.md): refold's own schemas are framed with
 * id_base + manifest id (default 1000000001..), far above the ids a registry
 * hands out from 1, so a message framed by a producer's own registry never
 * reads as one of refold's schemas: it is resolved through that registry when
 * one is configured, else it is unknown (RF_ERR_UNKNOWN_SCHEMA, dead-lettered).
 *
 * Thread safety: an rf_codec_t is used by one thread at a time; create one per
 * thread. Decoding never allocates per message after the first message of
 * each writer schema. */
#ifndef RF_CODEC_H
#define RF_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "rf_event.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rf_codec rf_codec_t;

/* Manifest ids (schemas/manifest.txt); on the wire each is id_base + id. */
#define RF_SCHEMA_ID_EVENT_V1 1
#define RF_SCHEMA_ID_EVENT_V2 2 /* events before auth fields and key events */
#define RF_SCHEMA_ID_LEDGER   3 /* current writer schema of ledger records */
#define RF_SCHEMA_ID_EVENT    4 /* current writer schema of events (v3) */
#define RF_FRAME_HEADER       5 /* magic byte + schema id */

/* The default id base: Confluent registries number schemas from 1 (Confluent
 * Cloud from 100001), so refold's ids sit a billion above any of theirs. 0
 * gives the ids of refold before 2026-12 (1..3), for data framed with them. */
#define RF_SCHEMA_ID_BASE_DEFAULT 1000000000
/* Manifest ids are below this; id_base may be at most INT32_MAX minus it. */
#define RF_SCHEMA_ID_LOCAL_MAX 1000
/* Environment variables every command's codecs read (rf_codec_conf_env). */
#define RF_SCHEMA_ID_BASE_ENV  "REFOLD_SCHEMA_ID_BASE"
#define RF_SCHEMA_REGISTRY_ENV "REFOLD_SCHEMA_REGISTRY"
#define RF_SCHEMA_LEGACY_ENV   "REFOLD_SCHEMA_LEGACY_IDS"
/* The manifest ids refold framed events with before the id base (2026-12):
 * with legacy_ids, wire ids 1..RF_SCHEMA_ID_LEGACY_MAX read as those schemas. */
#define RF_SCHEMA_ID_LEGACY_MAX 2

typedef struct rf_codec_conf {
    int32_t id_base; /* wire id of manifest id n is id_base + n */
    /* http://host[:port][/path] of a Confluent-compatible registry the
     * producers use; NULL or "": none. Events framed with an id that is not
     * refold's are fetched from it (events only; ledger records are refold's). */
    const char *registry_url;
    /* Also read events framed with the ids refold used before the base (1 and
     * 2): for topics and archives written by earlier versions, so they replay
     * to the same ledger. A producer's registry ids then collide with them:
     * refused together with registry_url. New events are always framed
     * id_base + n. */
    bool legacy_ids;
} rf_codec_conf_t;

/* The configuration from the environment: REFOLD_SCHEMA_ID_BASE (default
 * RF_SCHEMA_ID_BASE_DEFAULT), REFOLD_SCHEMA_REGISTRY (default none) and
 * REFOLD_SCHEMA_LEGACY_IDS (0 or 1, default 0).
 * RF_ERR_CONFIG naming the variable when a value is invalid. registry_url
 * points into the environment: valid until it changes. */
rf_err_t rf_codec_conf_env(rf_codec_conf_t *conf, rf_errbuf_t *eb);

/* Creates a codec with the embedded manifest's schemas, configured from the
 * environment (rf_codec_conf_env). NULL on failure (message in eb). */
rf_codec_t *rf_codec_new(rf_errbuf_t *eb);
/* The same with an explicit configuration. */
rf_codec_t *rf_codec_new_conf(const rf_codec_conf_t *conf, rf_errbuf_t *eb);
void rf_codec_destroy(rf_codec_t *c); /* NULL is a no-op */

/* The wire id of manifest id local (id_base + local). */
int32_t rf_codec_wire_id(const rf_codec_t *c, int32_t local);

/* Refold's own schemas as a registry serves them: manifest order. */
typedef struct rf_codec_schema_info {
    int32_t id;          /* wire id */
    const char *subject; /* "refold.events-value" / "refold.ledger-value" */
    int version;         /* version within the subject, from 1 */
    const char *json;    /* the schema text (embedded, static) */
} rf_codec_schema_info_t;
/* Fills out[0..cap) and returns how many there are (may exceed cap). */
int rf_codec_schemas(const rf_codec_t *c, rf_codec_schema_info_t *out, int cap);
/* Which of refold's own schemas of subject (a registry subject name) json is
 * (Avro-equal: same types and names, whitespace and docs aside): *info
 * filled. RF_ERR_NOT_FOUND when none, RF_ERR_BAD_INPUT when json is not an
 * Avro schema (eb says why). */
rf_err_t rf_codec_lookup(const rf_codec_t *c, const char *subject, const char *json,
                         rf_codec_schema_info_t *info, rf_errbuf_t *eb);

/* Registers a writer schema (JSON text) under id for subject "events" or
 * "ledger"; readers resolve it to the current schema of that subject. */
rf_err_t rf_codec_register_schema(rf_codec_t *c, int32_t id, const char *subject, const char *json,
                                  rf_errbuf_t *eb);

/* Encodes ev (validated first) as framed Avro with schema_id: a manifest id
 * (normally RF_SCHEMA_ID_EVENT; RF_SCHEMA_ID_EVENT_V1 and _V2 write the older
 * schemas, for tests; they have no auth fields or key events), framed as its
 * wire id; else the id of a registered schema.
 * Writes at most cap bytes into buf; *len gets the size. RF_ERR_OVERSIZE when
 * cap is too small. */
rf_err_t rf_codec_encode_event(rf_codec_t *c, const rf_event_t *ev, int32_t schema_id, uint8_t *buf,
                               size_t cap, size_t *len, rf_errbuf_t *eb);

/* Decodes framed bytes into ev and validates it; ev->schema_id gets the wire
 * id. The body must end exactly where the value does (bytes left over are
 * RF_ERR_DECODE). Errors: RF_ERR_OVERSIZE, RF_ERR_TRUNCATED, RF_ERR_BAD_MAGIC,
 * RF_ERR_UNKNOWN_SCHEMA, RF_ERR_DECODE, RF_ERR_BAD_INPUT (invalid field); eb
 * names what is wrong. With a registry configured, RF_ERR_RETRY when it
 * cannot be reached (never bad input: the message is not at fault). */
rf_err_t rf_codec_decode_event(rf_codec_t *c, const uint8_t *buf, size_t len, rf_event_t *ev,
                               rf_errbuf_t *eb);

rf_err_t rf_codec_encode_record(rf_codec_t *c, const rf_record_t *rec, uint8_t *buf, size_t cap,
                                size_t *len, rf_errbuf_t *eb);
rf_err_t rf_codec_decode_record(rf_codec_t *c, const uint8_t *buf, size_t len, rf_record_t *rec,
                                rf_errbuf_t *eb);

/* The embedded schemas, for `refold schemas` and docs: the manifest text and
 * the JSON of a manifest id (NULL when unknown). */
const char *rf_codec_manifest(void);
const char *rf_codec_schema_json(int32_t id);

#ifdef __cplusplus
}
#endif

#endif
