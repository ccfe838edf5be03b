/* test_schema_ids.c: the codec's schema id space (docs/schema-registry.md):
 * refold frames with id_base + manifest id; an id from another registry is
 * unknown (dead-lettered, the reason naming the id), never read as one of
 * refold's schemas; the base and registry URL are checked; a value with
 * bytes left over never decodes; refold's own schemas are found by lookup;
 * an unreachable registry is retriable, not bad input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rf_codec.h"
#include "rf_producer.h"
#include "rf_testutil.h"

static uint8_t buf[RF_EVENT_BYTES_MAX];

static rf_codec_t *codec_with(int32_t base, const char *url)
{
    rf_errbuf_t eb = {{0}};
    rf_codec_conf_t conf = {.id_base = base, .registry_url = url};
    rf_codec_t *c = rf_codec_new_conf(&conf, &eb);
    if (!c) fail_msg("rf_codec_new_conf: %s", eb.msg);
    return c;
}

static size_t encode_share(rf_codec_t *c, int32_t id)
{
    static rf_event_t ev;
    rf_errbuf_t eb = {{0}};
    assert_int_equal(rf_event_share(&ev, "p1", "alice", "email", &eb), RF_OK);
    size_t len = 0;
    assert_int_equal(rf_codec_encode_event(c, &ev, id, buf, sizeof buf, &len, &eb), RF_OK);
    return len;
}

/* The default: refold's ids a billion up; the environment sets nothing. */
static void test_default_ids(void **state)
{
    (void)state;
    unsetenv(RF_SCHEMA_ID_BASE_ENV);
    unsetenv(RF_SCHEMA_REGISTRY_ENV);
    rf_errbuf_t eb = {{0}};
    rf_codec_t *c = rf_codec_new(&eb);
    assert_non_null(c);
    assert_int_equal(rf_codec_wire_id(c, RF_SCHEMA_ID_EVENT), 1000000004);
    size_t len = encode_share(c, RF_SCHEMA_ID_EVENT);
    assert_int_equal(rf_be32_get(buf + 1), 1000000004);
    static rf_event_t out;
    assert_int_equal(rf_codec_decode_event(c, buf, len, &out, &eb), RF_OK);
    assert_int_equal(out.schema_id, 1000000004);
    assert_string_equal(out.referrer, "alice");
    /* the same bytes framed by a registry that numbered the schema 1 or 2 */
    for (uint32_t foreign = 1; foreign <= 3; foreign++) {
        rf_be32_put(buf + 1, foreign);
        assert_int_equal(rf_codec_decode_event(c, buf, len, &out, &eb), RF_ERR_UNKNOWN_SCHEMA);
        char want[64];
        snprintf(want, sizeof want, "unknown schema id %u (refold's ids are 1000000000+n", foreign);
        if (!strstr(eb.msg, want)) fail_msg("reason '%s' lacks '%s'", eb.msg, want);
        assert_non_null(strstr(eb.msg, RF_SCHEMA_REGISTRY_ENV));
    }
    rf_codec_schema_info_t s[8];
    assert_int_equal(rf_codec_schemas(c, s, 8), 4);
    assert_int_equal(s[0].id, 1000000001);
    assert_string_equal(s[2].subject, "refold.ledger-value");
    rf_codec_destroy(c);
}

/* Base 0: the ids of refold before the base (data framed with them). */
static void test_base_zero(void **state)
{
    (void)state;
    rf_codec_t *c = codec_with(0, NULL);
    rf_errbuf_t eb = {{0}};
    size_t len = encode_share(c, RF_SCHEMA_ID_EVENT);
    assert_int_equal(rf_be32_get(buf + 1), RF_SCHEMA_ID_EVENT);
    static rf_event_t out;
    assert_int_equal(rf_codec_decode_event(c, buf, len, &out, &eb), RF_OK);
    /* a codec with another base does not read them */
    rf_codec_t *d = codec_with(5000, NULL);
    assert_int_equal(rf_codec_decode_event(d, buf, len, &out, &eb), RF_ERR_UNKNOWN_SCHEMA);
    rf_codec_destroy(d);
    rf_codec_destroy(c);
}

/* Bad configuration is refused loudly, naming what is wrong. */
static void test_bad_conf(void **state)
{
    (void)state;
    rf_errbuf_t eb = {{0}};
    setenv(RF_SCHEMA_ID_BASE_ENV, "1e9", 1);
    assert_null(rf_codec_new(&eb));
    assert_non_null(strstr(eb.msg, RF_SCHEMA_ID_BASE_ENV));
    setenv(RF_SCHEMA_ID_BASE_ENV, "2147483000", 1); /* no room for the manifest ids */
    assert_null(rf_codec_new(&eb));
    setenv(RF_SCHEMA_ID_BASE_ENV, "-1", 1);
    assert_null(rf_codec_new(&eb));
    unsetenv(RF_SCHEMA_ID_BASE_ENV);
    setenv(RF_SCHEMA_REGISTRY_ENV, "https://registry.example:8081", 1);
    assert_null(rf_codec_new(&eb));
    assert_non_null(strstr(eb.msg, "only http://"));
    unsetenv(RF_SCHEMA_REGISTRY_ENV);
    rf_codec_conf_t conf = {.id_base = -5};
    assert_null(rf_codec_new_conf(&conf, &eb));
}

/* A value with bytes after it is never decoded: whatever the type. */
static void test_trailing_bytes(void **state)
{
    (void)state;
    rf_codec_t *c = codec_with(RF_SCHEMA_ID_BASE_DEFAULT, NULL);
    static rf_event_t ev, out;
    rf_errbuf_t eb = {{0}};
    for (int t = 0; t < 3; t++) {
        if (t == 0) assert_int_equal(rf_event_share(&ev, "p1", "alice", "email", &eb), RF_OK);
        if (t == 1)
            assert_int_equal(rf_event_purchase(&ev, "p1", "o1", "bob", 4599, "USD", "", &eb),
                             RF_OK);
        if (t == 2) assert_int_equal(rf_event_clock(&ev, "p1", &eb), RF_OK);
        static const int32_t ids[] = {RF_SCHEMA_ID_EVENT_V1, RF_SCHEMA_ID_EVENT_V2,
                                      RF_SCHEMA_ID_EVENT};
        for (size_t k = 0; k < sizeof ids / sizeof ids[0]; k++) {
            int32_t id = ids[k];
            size_t len = 0;
            assert_int_equal(rf_codec_encode_event(c, &ev, id, buf, sizeof buf, &len, &eb), RF_OK);
            assert_int_equal(rf_codec_decode_event(c, buf, len, &out, &eb), RF_OK);
            for (int extra = 1; extra <= 3; extra++) {
                memset(buf + len, 0, (size_t)extra);
                assert_int_equal(rf_codec_decode_event(c, buf, len + (size_t)extra, &out, &eb),
                                 RF_ERR_DECODE);
                assert_non_null(strstr(eb.msg, "trailing bytes"));
            }
        }
    }
    rf_codec_destroy(c);
}

/* refold.ledger written before the id base (id 3) stays readable. */
static void test_ledger_legacy(void **state)
{
    (void)state;
    rf_codec_t *old = codec_with(0, NULL), *c = codec_with(RF_SCHEMA_ID_BASE_DEFAULT, NULL);
    static rf_record_t in, out;
    rf_errbuf_t eb = {{0}};
    rf_record_clear(&in);
    in.seq = 1, strcpy(in.program_id, "p"), strcpy(in.kind, "k");
    size_t len = 0;
    assert_int_equal(rf_codec_encode_record(old, &in, buf, sizeof buf, &len, &eb), RF_OK);
    assert_int_equal(rf_be32_get(buf + 1), RF_SCHEMA_ID_LEDGER);
    assert_int_equal(rf_codec_decode_record(c, buf, len, &out, &eb), RF_OK);
    assert_int_equal(rf_codec_encode_record(c, &in, buf, sizeof buf, &len, &eb), RF_OK);
    assert_int_equal(rf_be32_get(buf + 1), 1000000003);
    /* but not as an event */
    static rf_event_t ev;
    rf_be32_put(buf + 1, RF_SCHEMA_ID_LEDGER);
    assert_int_equal(rf_codec_decode_event(c, buf, len, &ev, &eb), RF_ERR_UNKNOWN_SCHEMA);
    rf_codec_destroy(c);
    rf_codec_destroy(old);
}

/* The registry's lookup: refold's schemas by content, whitespace aside. */
static void test_lookup(void **state)
{
    (void)state;
    rf_codec_t *c = codec_with(RF_SCHEMA_ID_BASE_DEFAULT, NULL);
    rf_codec_schema_info_t s;
    rf_errbuf_t eb = {{0}};
    const char *v2 = rf_codec_schema_json(RF_SCHEMA_ID_EVENT);
    assert_int_equal(rf_codec_lookup(c, "refold.events-value", v2, &s, &eb), RF_OK);
    assert_int_equal(s.id, 1000000004);
    assert_int_equal(s.version, 3);
    json_error_t jerr;
    json_t *j = json_loads(rf_codec_schema_json(RF_SCHEMA_ID_EVENT_V1), 0, &jerr);
    char *compact = json_dumps(j, JSON_COMPACT);
    assert_int_equal(rf_codec_lookup(c, "refold.events-value", compact, &s, &eb), RF_OK);
    assert_int_equal(s.id, 1000000001);
    assert_int_equal(rf_codec_lookup(c, "refold.ledger-value", compact, &s, &eb), RF_ERR_NOT_FOUND);
    free(compact);
    json_decref(j);
    assert_int_equal(rf_codec_lookup(c, "refold.events-value",
                                     "{\"type\":\"record\",\"name\":\"X\",\"fields\":[]}", &s, &eb),
                     RF_ERR_NOT_FOUND);
    assert_int_equal(rf_codec_lookup(c, "refold.events-value", "{not json", &s, &eb),
                     RF_ERR_BAD_INPUT);
    rf_codec_destroy(c);
}

/* A registry that cannot be reached is retriable: the fold waits, it never
 * dead-letters a message for it. refold's own ids need no registry. */
static void test_registry_unreachable(void **state)
{
    (void)state;
    rf_codec_t *c = codec_with(RF_SCHEMA_ID_BASE_DEFAULT, "http://127.0.0.1:1");
    rf_errbuf_t eb = {{0}};
    static rf_event_t out;
    size_t len = encode_share(c, RF_SCHEMA_ID_EVENT);
    assert_int_equal(rf_codec_decode_event(c, buf, len, &out, &eb), RF_OK);
    rf_be32_put(buf + 1, 7);
    assert_int_equal(rf_codec_decode_event(c, buf, len, &out, &eb), RF_ERR_RETRY);
    assert_int_equal(rf_err_class(RF_ERR_RETRY), RF_ERRCLASS_RETRIABLE);
    assert_non_null(strstr(eb.msg, "unreachable for schema id 7"));
    rf_codec_destroy(c);
}

/* legacy_ids: events framed with refold's ids from before the base (1, 2)
 * still read, so old topics and archives replay; the base ids too; a
 * registry beside them is refused (its ids would collide). */
static void test_legacy_ids(void **state)
{
    (void)state;
    rf_errbuf_t eb = {{0}};
    rf_codec_conf_t conf = {.id_base = RF_SCHEMA_ID_BASE_DEFAULT, .legacy_ids = true};
    rf_codec_t *c = rf_codec_new_conf(&conf, &eb);
    assert_non_null(c);
    static rf_event_t out;
    for (int32_t local = RF_SCHEMA_ID_EVENT_V1; local <= RF_SCHEMA_ID_EVENT_V2; local++) {
        size_t len = encode_share(c, local);
        assert_int_equal(rf_be32_get(buf + 1), RF_SCHEMA_ID_BASE_DEFAULT + local);
        assert_int_equal(rf_codec_decode_event(c, buf, len, &out, &eb), RF_OK);
        rf_be32_put(buf + 1, (uint32_t)local); /* as refold framed it before the base */
        assert_int_equal(rf_codec_decode_event(c, buf, len, &out, &eb), RF_OK);
        assert_string_equal(out.referrer, "alice");
    }
    size_t len = encode_share(c, RF_SCHEMA_ID_EVENT);
    rf_be32_put(buf + 1, 4); /* manifest 4 never went out unbased */
    assert_int_equal(rf_codec_decode_event(c, buf, len, &out, &eb), RF_ERR_UNKNOWN_SCHEMA);
    rf_codec_destroy(c);
    /* without it the old ids are refused, and the reason says what to set */
    conf.legacy_ids = false;
    c = rf_codec_new_conf(&conf, &eb);
    len = encode_share(c, RF_SCHEMA_ID_EVENT_V2);
    rf_be32_put(buf + 1, RF_SCHEMA_ID_EVENT_V2);
    assert_int_equal(rf_codec_decode_event(c, buf, len, &out, &eb), RF_ERR_UNKNOWN_SCHEMA);
    assert_non_null(strstr(eb.msg, RF_SCHEMA_LEGACY_ENV "=1"));
    rf_codec_destroy(c);
    conf.legacy_ids = true;
    conf.registry_url = "http://127.0.0.1:1";
    assert_null(rf_codec_new_conf(&conf, &eb));
    assert_non_null(strstr(eb.msg, "legacy schema ids"));
    setenv(RF_SCHEMA_LEGACY_ENV, "yes", 1);
    assert_int_equal(rf_codec_conf_env(&conf, &eb), RF_ERR_BAD_INPUT);
    assert_non_null(strstr(eb.msg, RF_SCHEMA_LEGACY_ENV));
    unsetenv(RF_SCHEMA_LEGACY_ENV);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_ids),   cmocka_unit_test(test_base_zero),
        cmocka_unit_test(test_bad_conf),      cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_ledger_legacy), cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_legacy_ids),    cmocka_unit_test(test_registry_unreachable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
