/* rf_registry.h: a Confluent Schema Registry compatible subset serving
 * refold's own schemas (docs/schema-registry.md), so producers with Confluent
 * serializers (Java, Go, Python, kafkajs) frame events with refold's ids.
 * Library refold_serve (room consumers/serve/): Kafka-free.
 *
 * Read-only: GET /schemas/ids/{id}, /subjects, /subjects/{s}/versions,
 * /subjects/{s}/versions/{v}, the lookup POST /subjects/{s}; a registration
 * (POST /subjects/{s}/versions) succeeds only for a schema refold already has
 * (its id is returned), anything else is refused with Confluent's error body.
 * Subjects follow TopicNameStrategy: refold.events-value, refold.ledger-value.
 * Ids are the codec's wire ids (rf_codec.h: REFOLD_SCHEMA_ID_BASE + manifest
 * id). No authentication: the schemas are public (they ship with refold).
 *
 * Its own libmicrohttpd daemon (internal thread), independent of the query
 * API's; the handle is used by one thread (start, stop). */
#ifndef RF_REGISTRY_H
#define RF_REGISTRY_H

#include <stdint.h>

#include "rf_common.h"

typedef struct rf_registry rf_registry_t;

/* Listens on "host:port" (port 0: any free one). NULL with a message when the
 * address is bad or taken, or the codec's configuration is invalid. */
rf_registry_t *rf_registry_start(const char *listen, rf_errbuf_t *eb);
uint16_t rf_registry_port(const rf_registry_t *r);
/* Stops serving and frees. NULL is a no-op. */
void rf_registry_stop(rf_registry_t *r);

#endif
