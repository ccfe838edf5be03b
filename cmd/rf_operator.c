/* rf_operator.c: signing and publishing for the operator commands
 * (rf_operator_int.h): one privileged event, signed with a key file,
 * published and confirmed by the broker's delivery report. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "rf_jsonl.h"
#include "rf_operator_int.h"
#include "rf_producer.h"
#include "rf_rules.h"

void rf__op_opts_init(rf__op_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->topic = RF_TOPIC_EVENTS;
}

int rf__op_opts_check(const rf__op_opts_t *o, const char *prefix)
{
    if (!o->dry_run && !o->kafka.brokers) {
        fprintf(stderr, "%sno brokers given (use --brokers host:port, or --dry-run)\n", prefix);
        return 2;
    }
    return -1;
}

int rf__op_sign(rf_event_t *ev, const rf__op_opts_t *o, const char *path, const char *prefix)
{
    rf_errbuf_t eb = {{0}};
    if (o->at_ms) ev->occurred_at_ms = o->at_ms;
    rf_sign_key_t *k = rf_sign_key_load(path, &eb);
    rf_err_t err = k ? rf_event_sign(ev, k, &eb) : RF_ERR_CONFIG;
    rf_sign_key_destroy(k);
    if (!err) err = rf_event_validate(ev, &eb);
    if (err) {
        fprintf(stderr, "%s%s\n", prefix, eb.msg);
        return 1;
    }
    return 0;
}

int rf__op_key_id(const char *path, char out[RF_SIGN_KEY_ID_BUF], const char *prefix)
{
    rf_errbuf_t eb = {{0}};
    rf_sign_key_t *k = rf_sign_key_load(path, &eb);
    if (!k) {
        fprintf(stderr, "%s%s\n", prefix, eb.msg);
        return 1;
    }
    uint8_t pub[RF_SIGN_PUB_LEN];
    rf_sign_key_public(k, pub);
    rf_sign_key_id(pub, out);
    rf_sign_key_destroy(k);
    return 0;
}

typedef struct dr {
    bool got;
    rf_err_t err;
    int32_t partition;
    int64_t offset;
    char errmsg[RF_ERRMSG_MAX];
} dr_t;

static void on_delivery(const rf_delivery_t *d, void *opaque)
{
    dr_t *r = opaque;
    r->got = true;
    r->err = d->err;
    r->partition = d->partition;
    r->offset = d->offset;
    snprintf(r->errmsg, sizeof r->errmsg, "%s", d->errmsg ? d->errmsg : "");
}

/* Emits and waits for the report (as `refold emit` does: at most
 * RF_PRODUCER_RETRY_MAX x 1 s). */
static int send_one(const rf__op_opts_t *o, const rf_event_t *ev, dr_t *r, const char *prefix)
{
    rf_producer_conf_t pc;
    rf_producer_conf_init(&pc);
    pc.kafka = o->kafka;
    pc.topic = o->topic;
    pc.on_delivery = on_delivery;
    pc.opaque = r;
    rf_errbuf_t eb = {{0}};
    rf_producer_t *p = rf_producer_new(&pc, &eb);
    if (!p) {
        fprintf(stderr, "%s%s\n", prefix, eb.msg);
        return 1;
    }
    rf_err_t err = RF_ERR_RETRY;
    for (int i = 0; i < RF_PRODUCER_RETRY_MAX && err == RF_ERR_RETRY; i++)
        err = rf_producer_emit(p, ev, NULL, &eb);
    if (!err) err = RF_ERR_TIMEOUT;
    for (int i = 0; i < RF_PRODUCER_RETRY_MAX && err == RF_ERR_TIMEOUT && !r->got; i++)
        err = rf_producer_flush(p, 1000, &eb);
    rf_producer_destroy(p);
    if (!r->got) {
        fprintf(stderr, "%s%s\n", prefix, eb.msg[0] ? eb.msg : "no delivery report");
        return 1;
    }
    if (r->err) {
        fprintf(stderr, "%s%s %s not delivered: %s\n", prefix, rf_event_type_name(ev->type),
                ev->event_id, r->errmsg);
        return 1;
    }
    return 0;
}

int rf__op_publish(const rf__op_opts_t *o, const rf_event_t *ev, const char *prefix)
{
    rf_errbuf_t eb = {{0}};
    if (o->dry_run) return rf_jsonl_write(stdout, ev, &eb) == RF_OK ? 0 : 1;
    dr_t r = {0};
    int rc = send_one(o, ev, &r, prefix);
    if (rc) return rc;
    if (o->json) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:I}", "type",
                              rf_jsonl_type_name(ev->type), "program", ev->program_id, "event_id",
                              ev->event_id, "key_id", ev->auth_key_id, "topic", o->topic,
                              "partition", (int)r.partition, "offset", (json_int_t)r.offset);
        json_dumpf(j, stdout, JSON_COMPACT);
        fputc('\n', stdout);
        json_decref(j);
        return 0;
    }
    printf("%s %s: signed by key %s, published to %s partition %d offset %" PRId64 " (event %s)\n",
           rf_jsonl_type_name(ev->type), ev->program_id, ev->auth_key_id, o->topic,
           (int)r.partition, r.offset, ev->event_id);
    return 0;
}

int rf__trust_root_install(const char *path, const char *prefix)
{
    if (!path) {
        rf_rules_trust_set(NULL);
        fprintf(stderr,
                "%swarning: no --trust-root: open mode, privileged events (rules, adjustments,\n"
                "  review decisions, clock, keys) are applied from ANY producer of the events\n"
                "  topic; for development only (docs/security.md)\n",
                prefix);
        return 0;
    }
    static rf_rules_trust_t t; /* 264 bytes; installed once per process */
    memset(&t, 0, sizeof t);
    t.enforce = true;
    rf_errbuf_t eb = {{0}};
    if (rf_sign_pubkeys_load(path, t.roots, RF_TRUST_ROOTS_MAX, &t.nroots, &eb) != RF_OK) {
        fprintf(stderr, "%s--trust-root: %s\n", prefix, eb.msg);
        return 2;
    }
    rf_rules_trust_set(&t);
    return 0;
}
