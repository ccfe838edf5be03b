/* rf_operator_int.h: what the operator commands that publish privileged
 * events share (`refold keys`, `adjust`, `review`, `program apply`;
 * docs/security.md): options common to all, signing with a key file, and
 * publishing one event with its delivery report. */
#ifndef RF_OPERATOR_INT_H
#define RF_OPERATOR_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "rf_cmd_opt.h"
#include "rf_event.h"
#include "rf_kafka.h"

typedef struct rf__op_opts {
    rf_kafka_opts_t kafka;
    const char *topic;
    const char *key_file; /* --key / --root-key: the signing key (PEM) */
    int64_t at_ms;        /* --at: event time; 0 = now */
    bool dry_run, json;
} rf__op_opts_t;

/* Option-table entries of rf__op_opts_t (brokers, -X, topic, at, dry-run,
 * json); the key option differs per command and is its own. */
#define RF__OP_OPTS(o)                                                                             \
    RF_OPT_STR(0, "brokers", &(o)->kafka.brokers, "HOST:PORT",                                     \
               "Kafka bootstrap servers (required unless --dry-run)"),                             \
        RF_CMD_OPT_X(&(o)->kafka), RF_OPT_STR(0, "topic", &(o)->topic, "T", "topic"),              \
        RF_CMD_OPT_TIME(0, "at", &(o)->at_ms,                                                      \
                        "the event time (occurred_at), e.g. 2026-01-31T12:00:00Z",                 \
                        .def = "now (the wall clock)"),                                            \
        RF_OPT_BOOL(0, "dry-run", &(o)->dry_run,                                                   \
                    "print the signed event as a JSON line ('refold emit'\n"                       \
                    "input); publish nothing"),                                                    \
        RF_OPT_BOOL(0, "json", &(o)->json,                                                         \
                    "one object: {type, program, event_id, key_id, topic,\n"                       \
                    "partition, offset}")

void rf__op_opts_init(rf__op_opts_t *o);
/* Checks brokers-or-dry-run; prints the error with prefix. Returns -1 to go
 * on, or the exit status. */
int rf__op_opts_check(const rf__op_opts_t *o, const char *prefix);

/* Sets --at (when given) as ev's event time, then signs ev with the key in
 * path (last: the signature covers every field). Prints the error with prefix;
 * returns 0 or an exit status. */
int rf__op_sign(rf_event_t *ev, const rf__op_opts_t *o, const char *path, const char *prefix);

/* The key id of the private key in path, into out. Prints the error with
 * prefix; returns 0 or an exit status. */
int rf__op_key_id(const char *path, char out[RF_SIGN_KEY_ID_BUF], const char *prefix);

/* Publishes ev (key = its program) and waits for the delivery report, or
 * with --dry-run prints it as a JSON line; then prints what was published.
 * Returns the exit status. */
int rf__op_publish(const rf__op_opts_t *o, const rf_event_t *ev, const char *prefix);

/* --trust-root FILE of the commands that fold (fold, replay): loads the
 * trust roots (one or more PEM public keys) into the rules' trust
 * configuration; without a file, says loudly on stderr that privileged
 * events are accepted from anyone (open mode). Returns 0 or an exit status. */
int rf__trust_root_install(const char *path, const char *prefix);
#define RF__OPT_TRUST_ROOT(v)                                                                      \
    RF_OPT_STR(0, "trust-root", v, "FILE",                                                         \
               "the trust roots' public keys (PEM, one or more): privileged\n"                     \
               "events are applied only when signed with authority from\n"                         \
               "them (docs/security.md); replays need the same file",                              \
               .def = "none: open mode, privileged events accepted from anyone")

#endif
