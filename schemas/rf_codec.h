/* rf_codec.h: Avro encoding of events and ledger records with Confluent
 * framing (magic byte 0, 4-byte big-endian schema id, Avro binary body).
 *
 * Schemas come from a registry: the embedded default is schemas/manifest.txt
 * compiled into the binary; rf_codec_register_schema adds others (the hook for
 * a Confluent schema registry client). Bytes written under an older schema id
 * are resolved into the current reader schema (Avro schema resolution).
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

#define RF_SCHEMA_ID_EVENT_V1 1
#define RF_SCHEMA_ID_EVENT_V2 2 /* events before auth fields and key events */
#define RF_SCHEMA_ID_LEDGER   3 /* current writer schema of ledger records */
#define RF_SCHEMA_ID_EVENT    4 /* current writer schema of events (v3) */
#define RF_FRAME_HEADER       5 /* magic byte + schema id */

/* Creates a codec with the embedded manifest's schemas. NULL on failure
 * (message in eb). */
rf_codec_t *rf_codec_new(rf_errbuf_t *eb);
void rf_codec_destroy(rf_codec_t *c); /* NULL is a no-op */

/* Registers a writer schema (JSON text) under id for subject "events" or
 * "ledger"; readers resolve it to the current schema of that subject. */
rf_err_t rf_codec_register_schema(rf_codec_t *c, int32_t id, const char *subject, const char *json,
                                  rf_errbuf_t *eb);

/* Encodes ev (validated first) as framed Avro with schema_id (normally
 * RF_SCHEMA_ID_EVENT; RF_SCHEMA_ID_EVENT_V1 and _V2 write the older schemas, for
 * tests; they have no auth fields or key events).
 * Writes at most cap bytes into buf; *len gets the size. RF_ERR_OVERSIZE when
 * cap is too small. */
rf_err_t rf_codec_encode_event(rf_codec_t *c, const rf_event_t *ev, int32_t schema_id, uint8_t *buf,
                               size_t cap, size_t *len, rf_errbuf_t *eb);

/* Decodes framed bytes into ev and validates it. Errors: RF_ERR_OVERSIZE,
 * RF_ERR_TRUNCATED, RF_ERR_BAD_MAGIC, RF_ERR_UNKNOWN_SCHEMA, RF_ERR_DECODE,
 * RF_ERR_BAD_INPUT (invalid field); eb names what is wrong. */
rf_err_t rf_codec_decode_event(rf_codec_t *c, const uint8_t *buf, size_t len, rf_event_t *ev,
                               rf_errbuf_t *eb);

rf_err_t rf_codec_encode_record(rf_codec_t *c, const rf_record_t *rec, uint8_t *buf, size_t cap,
                                size_t *len, rf_errbuf_t *eb);
rf_err_t rf_codec_decode_record(rf_codec_t *c, const uint8_t *buf, size_t len, rf_record_t *rec,
                                rf_errbuf_t *eb);

/* The embedded schemas, for `refold schemas` and docs: the manifest text and
 * the JSON of a schema id (NULL when unknown). */
const char *rf_codec_manifest(void);
const char *rf_codec_schema_json(int32_t id);

#ifdef __cplusplus
}
#endif

#endif
