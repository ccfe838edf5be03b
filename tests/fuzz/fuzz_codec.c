/* fuzz_codec.c: libFuzzer target for the Avro fc_codec with Confluent framing:
 * the input is a whole Kafka message value (magic byte, schema id, body) as
 * the fold receives it. Adopted from the fc_codec helper's harness. */
#include <stdint.h>
#include <string.h>

#include "rf_codec.h"

/* A writer schema resolved into the current one: maps, arrays, fixed, enums,
 * float/double/boolean branches, bytes for a string field and a body union
 * with an unknown branch, so schema resolution's skip paths are reached
 * (framed under schema id 100 = 0x64). */
static const char *const fc_v3 =
    "{\"type\":\"record\",\"name\":\"Event\",\"namespace\":\"refold\",\"fields\":["
    "{\"name\":\"trace\",\"type\":{\"type\":\"map\",\"values\":[\"null\",{\"type\":\"array\","
    "\"items\":\"double\"},{\"type\":\"fixed\",\"name\":\"F\",\"size\":3},{\"type\":\"enum\","
    "\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}]}},"
    "{\"name\":\"event_id\",\"type\":\"string\"},{\"name\":\"program_id\",\"type\":\"bytes\"},"
    "{\"name\":\"occurred_at\",\"type\":\"long\"},{\"name\":\"source\",\"type\":\"string\"},"
    "{\"name\":\"body\",\"type\":[{\"type\":\"record\",\"name\":\"Gift\",\"fields\":["
    "{\"name\":\"to\",\"type\":\"string\"}]},"
    "{\"type\":\"record\",\"name\":\"Purchase\",\"fields\":["
    "{\"name\":\"note\",\"type\":[\"null\",\"string\",\"float\",\"boolean\"]},"
    "{\"name\":\"amount_minor\",\"type\":\"int\"},{\"name\":\"currency\",\"type\":\"string\"},"
    "{\"name\":\"user\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"order_id\",\"type\":\"string\"}]}]}]}";

/* loadgen's first operator key for seed 1 (gen_seeds' traffic): the signed
 * seeds verify, so mutations reach the signature check with a real key. */
static const uint8_t fc_pub[32] = {0xd9, 0x05, 0x3c, 0x4b, 0x18, 0xae, 0x36, 0x72, 0x95, 0x0d, 0x2c,
                                   0x9e, 0x7e, 0x06, 0x46, 0xea, 0xff, 0x8e, 0x18, 0x22, 0x55, 0x07,
                                   0x49, 0xa1, 0xba, 0xf3, 0x9f, 0x70, 0x22, 0x5a, 0x65, 0x8a};
static char fc_msg[RF_EVENT_AUTH_MSG_MAX];

static rf_codec_t *fc_codec;
static rf_event_t fc_ev, fc_ev2;
static rf_record_t fc_rec, fc_rec2;
static uint8_t fc_out[RF_EVENT_BYTES_MAX + 64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

static void fc_check_event(const uint8_t *data, size_t n)
{
    rf_errbuf_t eb = {{0}};
    size_t len = 0;
    rf_err_t e = rf_codec_decode_event(fc_codec, data, n, &fc_ev, &eb);
    if (e != RF_OK) {
        /* undecodable bytes are bad input with a reason, never anything else */
        if (rf_err_class(e) != RF_ERRCLASS_BAD_INPUT || !eb.msg[0]) __builtin_trap();
        return;
    }
    /* what decodes is valid, so it encodes under the current schema and reads
     * back to the same event */
    if (rf_codec_encode_event(fc_codec, &fc_ev, RF_SCHEMA_ID_EVENT, fc_out, sizeof fc_out, &len,
                              &eb))
        __builtin_trap();
    if (rf_codec_decode_event(fc_codec, fc_out, len, &fc_ev2, &eb)) __builtin_trap();
    fc_ev2.schema_id = fc_ev.schema_id;
    if (strcmp(fc_ev.event_id, fc_ev2.event_id) || fc_ev.type != fc_ev2.type ||
        fc_ev.amount_minor != fc_ev2.amount_minor || strcmp(fc_ev.rules_json, fc_ev2.rules_json) ||
        strcmp(fc_ev.auth_key_id, fc_ev2.auth_key_id) || strcmp(fc_ev.auth_sig, fc_ev2.auth_sig) ||
        strcmp(fc_ev.public_key, fc_ev2.public_key) || strcmp(fc_ev.scopes, fc_ev2.scopes))
        __builtin_trap();
    /* a valid event always has a signing string; its signature checks out
     * the same on the re-decoded copy */
    if (rf_event_auth_message(&fc_ev, fc_msg, sizeof fc_msg, &len) != RF_OK) __builtin_trap();
    if (rf_event_auth_verify(&fc_ev, fc_pub) != rf_event_auth_verify(&fc_ev2, fc_pub))
        __builtin_trap();
}

static void fc_check_record(const uint8_t *data, size_t n)
{
    rf_errbuf_t eb = {{0}};
    size_t len = 0;
    rf_err_t e = rf_codec_decode_record(fc_codec, data, n, &fc_rec, &eb);
    if (e != RF_OK) {
        if (rf_err_class(e) != RF_ERRCLASS_BAD_INPUT) __builtin_trap();
        return;
    }
    if (rf_codec_encode_record(fc_codec, &fc_rec, fc_out, sizeof fc_out, &len, &eb))
        __builtin_trap();
    /* re-encoding may differ (array blocks) but must decode to the same record */
    if (len != n || memcmp(fc_out, data, len)) {
        if (rf_codec_decode_record(fc_codec, fc_out, len, &fc_rec2, &eb)) __builtin_trap();
        if (memcmp(&fc_rec2, &fc_rec, sizeof fc_rec)) __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (!fc_codec) {
        rf_errbuf_t eb = {{0}};
        /* the seed corpus is framed with the manifest ids (1..3) */
        rf_codec_conf_t conf = {.id_base = 0};
        fc_codec = rf_codec_new_conf(&conf, &eb);
        if (!fc_codec || rf_codec_register_schema(fc_codec, 100, "events", fc_v3, &eb))
            __builtin_trap();
    }
    if (n > RF_EVENT_BYTES_MAX + 16) return 0;
    fc_check_event(data, n);
    fc_check_record(data, n);
    return 0;
}
