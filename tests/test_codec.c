/* test_codec.c: the Avro codec (schemas/): round trips of every event type and
 * of ledger records, schema evolution, interop with Avro-C, runtime schema
 * registration, and bad bytes of every kind (never a crash, leak or huge
 * allocation). RF_BENCH=1 also prints encode/decode rates of a Purchase. */
#include <avro.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_codec.h"
#include "rf_testutil.h"

static rf_codec_t *codec;

static int setup(void **state)
{
    (void)state;
    rf_errbuf_t eb = {{0}};
    codec = rf_codec_new(&eb);
    if (!codec) fprintf(stderr, "rf_codec_new: %s\n", eb.msg);
    return codec ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    rf_codec_destroy(codec);
    codec = NULL;
    return 0;
}

/* ---- events ---- */

#define UUID1  "123e4567-e89b-12d3-a456-426614174000"
#define HASH_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HASH_B "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HASH_C "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

/* Fills every field the type carries (schemas/event.avsc), distinct values. */
static void fill_event(rf_event_t *ev, rf_event_type_t t)
{
    rf_event_clear(ev);
    ev->type = t;
    strcpy(ev->event_id, UUID1);
    strcpy(ev->program_id, "prog-1");
    ev->occurred_at_ms = 1700000000123LL;
    strcpy(ev->source, "shop-backend");
    switch (t) {
    case RF_EV_PROGRAM_CONFIGURED:
        ev->version = 3;
        strcpy(ev->rules_json, "{\"reward\":{\"referrer\":500},\"name\":\"caf\xc3\xa9\"}");
        break;
    case RF_EV_CODE_ISSUED:
        strcpy(ev->referrer, "alice"), strcpy(ev->code, "ALICE10");
        break;
    case RF_EV_SHARE:
        strcpy(ev->referrer, "alice"), strcpy(ev->channel, "whatsapp");
        break;
    case RF_EV_CLICK:
        strcpy(ev->code, "ALICE10"), strcpy(ev->visitor, "v-77");
        strcpy(ev->ip_hash, HASH_A), strcpy(ev->agent_hash, HASH_B);
        break;
    case RF_EV_SIGNUP:
        strcpy(ev->user, "bob"), strcpy(ev->code, "ALICE10"), strcpy(ev->visitor, "v-77");
        strcpy(ev->email_hash, HASH_A), strcpy(ev->device_hash, HASH_B);
        strcpy(ev->ip_hash, HASH_C);
        break;
    case RF_EV_PURCHASE:
        strcpy(ev->order_id, "order-9"), strcpy(ev->user, "bob");
        ev->amount_minor = 129900;
        strcpy(ev->asset, "USD"), strcpy(ev->code, "ALICE10");
        strcpy(ev->payment_hash, HASH_C);
        break;
    case RF_EV_REFUND:
        strcpy(ev->order_id, "order-9"), ev->amount_minor = 500, strcpy(ev->asset, "EUR");
        break;
    case RF_EV_REDEMPTION:
        strcpy(ev->user, "alice"), ev->amount_minor = 1000, strcpy(ev->asset, "POINTS");
        strcpy(ev->request_id, "req-1");
        break;
    case RF_EV_REVIEW_DECISION:
        strcpy(ev->user, "bob"), ev->approve = true, strcpy(ev->reviewer, "ops-ann");
        strcpy(ev->reason, "looks fine");
        break;
    case RF_EV_ADJUSTMENT:
        strcpy(ev->user, "alice"), ev->amount_minor = -250, strcpy(ev->asset, "CREDIT_USD");
        strcpy(ev->reason, "goodwill"), strcpy(ev->actor, "fin-joe");
        break;
    case RF_EV_KEY_REGISTERED:
        strcpy(ev->key_id, "0123456789abcdef"), strcpy(ev->public_key, HASH_B);
        strcpy(ev->scopes, "adjust,review"), strcpy(ev->actor, "fin-joe");
        break;
    case RF_EV_KEY_REVOKED:
        strcpy(ev->key_id, "0123456789abcdef"), strcpy(ev->reason, "left the team");
        break;
    case RF_EV_CLOCK:
    case RF_EV__COUNT:
        break;
    }
    if (rf_event_privileged(t) && t >= RF_EV_KEY_REGISTERED) { /* v3 only: signed */
        strcpy(ev->auth_key_id, "fedcba9876543210");
        strcpy(ev->auth_sig, HASH_A), strcat(ev->auth_sig, HASH_C);
    }
}

static void assert_event_equal(const rf_event_t *a, const rf_event_t *b)
{
    assert_int_equal(a->type, b->type);
    assert_string_equal(a->event_id, b->event_id);
    assert_string_equal(a->program_id, b->program_id);
    assert_true(a->occurred_at_ms == b->occurred_at_ms);
    assert_string_equal(a->source, b->source);
#define S(f) assert_string_equal(a->f, b->f)
    S(user), S(referrer), S(code), S(visitor), S(channel), S(order_id), S(request_id), S(asset);
    S(ip_hash), S(agent_hash), S(email_hash), S(device_hash), S(payment_hash);
    S(reviewer), S(actor), S(reason), S(rules_json);
    S(auth_key_id), S(auth_sig), S(key_id), S(public_key), S(scopes);
#undef S
    assert_true(a->amount_minor == b->amount_minor);
    assert_int_equal(a->approve, b->approve);
    assert_int_equal(a->version, b->version);
}

static uint8_t buf[RF_EVENT_BYTES_MAX + 16];

static void test_names(void **state)
{
    (void)state;
    for (int t = 0; t < RF_EV__COUNT; t++) {
        assert_int_equal(rf_event_type_parse(rf_event_type_name((rf_event_type_t)t)), t);
    }
    assert_int_equal(rf_event_type_parse("code_issued"), RF_EV_CODE_ISSUED);
    assert_int_equal(rf_event_type_parse("review_decision"), RF_EV_REVIEW_DECISION);
    assert_int_equal(rf_event_type_parse("Nope"), -1);
    assert_int_equal(rf_event_type_parse(NULL), -1);
    for (int b = 0; b < RF_BUCKET__COUNT; b++)
        assert_int_equal(rf_bucket_parse(rf_bucket_name((rf_bucket_t)b)), b);
    assert_int_equal(rf_bucket_parse("Pending"), -1);
}

static void test_roundtrip_every_type(void **state)
{
    (void)state;
    rf_event_t in, out;
    rf_errbuf_t eb = {{0}};
    for (int t = 0; t < RF_EV__COUNT; t++) {
        fill_event(&in, (rf_event_type_t)t);
        size_t len = 0;
        assert_int_equal(
            rf_codec_encode_event(codec, &in, RF_SCHEMA_ID_EVENT, buf, sizeof buf, &len, &eb),
            RF_OK);
        assert_true(len > RF_FRAME_HEADER);
        assert_int_equal(buf[0], 0);
        assert_int_equal(rf_be32_get(buf + 1), RF_SCHEMA_ID_EVENT);
        memset(&out, 0x5a, sizeof out); /* stale bytes must not survive */
        rf_err_t err = rf_codec_decode_event(codec, buf, len, &out, &eb);
        if (err) fail_msg("%s: %s", rf_event_type_name((rf_event_type_t)t), eb.msg);
        assert_event_equal(&in, &out);
        assert_int_equal(out.schema_id, RF_SCHEMA_ID_EVENT);
    }
}

/* Every string at its longest; one byte more is refused, never truncated. */
static void test_roundtrip_limits(void **state)
{
    (void)state;
    static rf_event_t in, out;
    rf_errbuf_t eb = {{0}};
    fill_event(&in, RF_EV_PROGRAM_CONFIGURED);
    memset(in.program_id, 'p', RF_ID_MAX), in.program_id[RF_ID_MAX] = '\0';
    memset(in.source, 's', RF_TEXT_MAX), in.source[RF_TEXT_MAX] = '\0';
    memset(in.rules_json, ' ', RF_RULES_MAX), in.rules_json[RF_RULES_MAX] = '\0';
    in.rules_json[0] = '{', in.rules_json[RF_RULES_MAX - 1] = '}';
    in.version = INT32_MAX;
    size_t len;
    assert_int_equal(rf_codec_encode_event(codec, &in, 2, buf, sizeof buf, &len, &eb), RF_OK);
    assert_int_equal(rf_codec_decode_event(codec, buf, len, &out, &eb), RF_OK);
    assert_event_equal(&in, &out);

    fill_event(&in, RF_EV_ADJUSTMENT);
    in.amount_minor = -RF_AMOUNT_MAX;
    memset(in.user, 'u', RF_ID_MAX), in.user[RF_ID_MAX] = '\0';
    memset(in.asset, 'A', RF_ASSET_MAX), in.asset[RF_ASSET_MAX] = '\0';
    assert_int_equal(rf_codec_encode_event(codec, &in, 2, buf, sizeof buf, &len, &eb), RF_OK);
    assert_int_equal(rf_codec_decode_event(codec, buf, len, &out, &eb), RF_OK);
    assert_event_equal(&in, &out);
    /* A struct whose string fills its buffer without a NUL is refused. */
    memset(in.user, 'u', sizeof in.user);
    assert_int_equal(rf_codec_encode_event(codec, &in, 2, buf, sizeof buf, &len, &eb),
                     RF_ERR_BAD_INPUT);
    assert_non_null(strstr(eb.msg, "'user' is too long"));
}

static void test_encode_errors(void **state)
{
    (void)state;
    rf_event_t ev;
    rf_errbuf_t eb = {{0}};
    size_t len = 99, full;
    fill_event(&ev, RF_EV_PURCHASE);
    assert_int_equal(rf_codec_encode_event(codec, &ev, 2, buf, sizeof buf, &full, &eb), RF_OK);
    for (size_t cap = 0; cap < full; cap++) {
        assert_int_equal(rf_codec_encode_event(codec, &ev, 2, buf, cap, &len, &eb),
                         RF_ERR_OVERSIZE);
        assert_int_equal(len, 0);
    }
    assert_int_equal(rf_codec_encode_event(codec, &ev, 2, buf, full, &len, &eb), RF_OK);
    assert_int_equal(len, full);
    assert_int_equal(rf_codec_encode_event(codec, &ev, 42, buf, sizeof buf, &len, &eb),
                     RF_ERR_UNKNOWN_SCHEMA);
    assert_int_equal(
        rf_codec_encode_event(codec, &ev, RF_SCHEMA_ID_LEDGER, buf, sizeof buf, &len, &eb),
        RF_ERR_UNKNOWN_SCHEMA);
    ev.amount_minor = -5;
    assert_int_equal(rf_codec_encode_event(codec, &ev, 2, buf, sizeof buf, &len, &eb),
                     RF_ERR_BAD_INPUT);
    assert_string_equal(eb.msg, "purchase: field 'amount_minor' is negative (-5)");
}

/* The string field of ev named name (the validate cases below). */
static char *field_ptr(rf_event_t *ev, const char *f)
{
    return !strcmp(f, "event_id")       ? ev->event_id
           : !strcmp(f, "program_id")   ? ev->program_id
           : !strcmp(f, "asset")        ? ev->asset
           : !strcmp(f, "ip_hash")      ? ev->ip_hash
           : !strcmp(f, "email_hash")   ? ev->email_hash
           : !strcmp(f, "payment_hash") ? ev->payment_hash
           : !strcmp(f, "code")         ? ev->code
           : !strcmp(f, "channel")      ? ev->channel
           : !strcmp(f, "user")         ? ev->user
           : !strcmp(f, "reviewer")     ? ev->reviewer
           : !strcmp(f, "actor")        ? ev->actor
           : !strcmp(f, "rules_json")   ? ev->rules_json
           : !strcmp(f, "referrer")     ? ev->referrer
                                        : NULL;
}

/* Validation rules, each case naming its field. */
static void test_validate(void **state)
{
    (void)state;
    static const struct {
        rf_event_type_t type;
        const char *field; /* field to set */
        const char *value;
        int64_t amount; /* used when field is "amount_minor" */
        const char *want;
    } cases[] = {
        {RF_EV_PURCHASE, "amount_minor", NULL, -5, "field 'amount_minor' is negative (-5)"},
        {RF_EV_PURCHASE, "amount_minor", NULL, RF_AMOUNT_MAX + 1, "'amount_minor' is out of range"},
        {RF_EV_REFUND, "amount_minor", NULL, 0, "refund: field 'amount_minor' must be positive"},
        {RF_EV_REDEMPTION, "amount_minor", NULL, -1, "'amount_minor' must be positive"},
        {RF_EV_ADJUSTMENT, "amount_minor", NULL, 0, "'amount_minor' must not be zero"},
        {RF_EV_ADJUSTMENT, "amount_minor", NULL, -RF_AMOUNT_MAX - 1, "out of range"},
        {RF_EV_PURCHASE, "event_id", "not-a-uuid", 0, "field 'event_id' is not a UUID"},
        {RF_EV_PURCHASE, "event_id", "123e4567-e89b-12d3-a456-42661417400g", 0, "not a UUID"},
        {RF_EV_PURCHASE, "event_id", "", 0, "field 'event_id' is missing"},
        {RF_EV_CLICK, "program_id", "", 0, "click: field 'program_id' is missing"},
        {RF_EV_PURCHASE, "asset", "usd", 0, "field 'currency' is not an asset code"},
        {RF_EV_PURCHASE, "asset", "", 0, "field 'currency' is missing"},
        {RF_EV_REDEMPTION, "asset", "US D", 0, "field 'asset' is not an asset code"},
        {RF_EV_CLICK, "ip_hash", "abc", 0, "field 'ip_hash' is not 64 lowercase hex"},
        {RF_EV_SIGNUP, "email_hash", HASH_A "0", 0, "'email_hash' is too long"},
        {RF_EV_PURCHASE, "payment_hash",
         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 0,
         "'payment_hash' is not 64 lowercase hex"},
        {RF_EV_CODE_ISSUED, "referrer", "", 0, "code_issued: field 'referrer' is missing"},
        {RF_EV_SHARE, "channel", "", 0, "share: field 'channel' is missing"},
        {RF_EV_SIGNUP, "user", "", 0, "signup: field 'user' is missing"},
        {RF_EV_REVIEW_DECISION, "reviewer", "", 0, "field 'reviewer' is missing"},
        {RF_EV_ADJUSTMENT, "actor", "", 0, "adjustment: field 'actor' is missing"},
        {RF_EV_PROGRAM_CONFIGURED, "rules_json", "", 0, "field 'rules_json' is missing"},
        {RF_EV_SHARE, "referrer", "bad\xff", 0, "field 'referrer' is not valid UTF-8"},
        {RF_EV_SHARE, "referrer", "\xed\xa0\x80", 0, "not valid UTF-8"}, /* surrogate */
        {RF_EV_SHARE, "referrer", "\xc0\xaf", 0, "not valid UTF-8"},     /* overlong */
    };
    rf_errbuf_t eb = {{0}};
    rf_event_t ev;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fill_event(&ev, cases[i].type);
        assert_int_equal(rf_event_validate(&ev, &eb), RF_OK);
        const char *f = cases[i].field;
        char *dst = field_ptr(&ev, f);
        if (cases[i].value) {
            assert_non_null(dst);
            if (!strcmp(f, "email_hash")) /* overfill without a NUL */
                memset(dst, 'a', RF_HASH_BUF);
            else
                strcpy(dst, cases[i].value);
        } else {
            ev.amount_minor = cases[i].amount;
        }
        eb.msg[0] = '\0';
        assert_int_equal(rf_event_validate(&ev, &eb), RF_ERR_BAD_INPUT);
        if (!strstr(eb.msg, cases[i].want)) fail_msg("case %zu: got '%s'", i, eb.msg);
    }
    fill_event(&ev, RF_EV_PROGRAM_CONFIGURED);
    ev.version = 0;
    assert_int_equal(rf_event_validate(&ev, &eb), RF_ERR_BAD_INPUT);
    assert_non_null(strstr(eb.msg, "'version' must be >= 1"));
    fill_event(&ev, RF_EV_CLOCK);
    ev.occurred_at_ms = 0;
    assert_int_equal(rf_event_validate(&ev, &eb), RF_ERR_BAD_INPUT);
    assert_non_null(strstr(eb.msg, "clock: field 'occurred_at'"));
    fill_event(&ev, RF_EV_PURCHASE);
    ev.amount_minor = 0; /* a free order is a purchase */
    assert_int_equal(rf_event_validate(&ev, &eb), RF_OK);
    ev.type = RF_EV__COUNT;
    assert_int_equal(rf_event_validate(&ev, &eb), RF_ERR_BAD_INPUT);
}

/* ---- evolution ---- */

static void test_evolution_v1(void **state)
{
    (void)state;
    rf_event_t in, out;
    rf_errbuf_t eb = {{0}};
    for (int t = 0; t < RF_EV_KEY_REGISTERED; t++) { /* the types v1 and v2 know */
        fill_event(&in, (rf_event_type_t)t);
        size_t len1, len2;
        assert_int_equal(
            rf_codec_encode_event(codec, &in, RF_SCHEMA_ID_EVENT_V1, buf, sizeof buf, &len1, &eb),
            RF_OK);
        assert_int_equal(rf_be32_get(buf + 1), RF_SCHEMA_ID_EVENT_V1);
        rf_err_t err = rf_codec_decode_event(codec, buf, len1, &out, &eb);
        if (err) fail_msg("%s: %s", rf_event_type_name((rf_event_type_t)t), eb.msg);
        assert_int_equal(out.schema_id, RF_SCHEMA_ID_EVENT_V1);
        /* v1 has no Purchase.payment_hash and no ReviewDecision.reason: the
         * reader's defaults ("") fill them. */
        assert_string_equal(out.payment_hash, "");
        assert_string_equal(out.reason, t == RF_EV_ADJUSTMENT ? in.reason : "");
        strcpy(in.payment_hash, "");
        if (t != RF_EV_ADJUSTMENT) strcpy(in.reason, "");
        assert_event_equal(&in, &out);
        /* The same event under v2 is longer exactly where v2 added fields. */
        assert_int_equal(rf_codec_encode_event(codec, &in, 2, buf, sizeof buf, &len2, &eb), RF_OK);
        assert_int_equal(len1 + ((t == RF_EV_PURCHASE || t == RF_EV_REVIEW_DECISION) ? 1 : 0),
                         len2);
    }
}

/* ---- interop with Avro-C ---- */

static avro_value_t *field(avro_value_t *rec, const char *name, avro_value_t *out)
{
    assert_int_equal(avro_value_get_by_name(rec, name, out, NULL), 0);
    return out;
}

/* Writes a Purchase with Avro-C's generic value API under schema json
 * (v1 or v2) and frames it with id. */
static size_t avroc_purchase(const char *json, int32_t id, uint8_t *out, size_t cap)
{
    avro_schema_t s;
    assert_int_equal(avro_schema_from_json_length(json, strlen(json), &s), 0);
    avro_value_iface_t *cls = avro_generic_class_from_schema(s);
    avro_value_t v, f, body, br;
    assert_int_equal(avro_generic_value_new(cls, &v), 0);
    avro_value_set_string(field(&v, "event_id", &f), UUID1);
    avro_value_set_string(field(&v, "program_id", &f), "prog-1");
    avro_value_set_long(field(&v, "occurred_at", &f), 1700000000123LL);
    avro_value_set_string(field(&v, "source", &f), "shop-backend");
    assert_int_equal(avro_value_set_branch(field(&v, "body", &body), RF_EV_PURCHASE, &br), 0);
    avro_value_set_string(field(&br, "order_id", &f), "order-9");
    avro_value_set_string(field(&br, "user", &f), "bob");
    avro_value_set_long(field(&br, "amount_minor", &f), 129900);
    avro_value_set_string(field(&br, "currency", &f), "USD");
    avro_value_set_string(field(&br, "code", &f), "ALICE10");
    if (avro_value_get_by_name(&br, "payment_hash", &f, NULL) == 0)
        avro_value_set_string(&f, HASH_C);
    avro_writer_t w =
        avro_writer_memory((char *)out + RF_FRAME_HEADER, (int64_t)(cap - RF_FRAME_HEADER));
    assert_int_equal(avro_value_write(w, &v), 0);
    size_t len = RF_FRAME_HEADER + (size_t)avro_writer_tell(w);
    out[0] = 0;
    rf_be32_put(out + 1, (uint32_t)id);
    avro_writer_free(w);
    avro_value_decref(&v);
    avro_value_iface_decref(cls);
    avro_schema_decref(s);
    return len;
}

static void test_interop_avro_c(void **state)
{
    (void)state;
    rf_event_t want, out;
    rf_errbuf_t eb = {{0}};
    fill_event(&want, RF_EV_PURCHASE);
    /* Avro-C writes, refold reads (v2 and v1). */
    size_t len = avroc_purchase(rf_codec_schema_json(2), 2, buf, sizeof buf);
    assert_int_equal(rf_codec_decode_event(codec, buf, len, &out, &eb), RF_OK);
    assert_event_equal(&want, &out);
    size_t ours;
    static uint8_t mine[512];
    assert_int_equal(rf_codec_encode_event(codec, &want, 2, mine, sizeof mine, &ours, &eb), RF_OK);
    assert_int_equal(ours, len);
    assert_memory_equal(mine, buf, len); /* byte for byte the same encoding */
    len = avroc_purchase(rf_codec_schema_json(1), 1, buf, sizeof buf);
    assert_int_equal(rf_codec_decode_event(codec, buf, len, &out, &eb), RF_OK);
    strcpy(want.payment_hash, "");
    assert_event_equal(&want, &out);

    /* refold writes, Avro-C reads. */
    fill_event(&want, RF_EV_REVIEW_DECISION);
    assert_int_equal(rf_codec_encode_event(codec, &want, 2, buf, sizeof buf, &len, &eb), RF_OK);
    const char *json = rf_codec_schema_json(2);
    avro_schema_t s;
    assert_int_equal(avro_schema_from_json_length(json, strlen(json), &s), 0);
    avro_value_iface_t *cls = avro_generic_class_from_schema(s);
    avro_value_t v, f, body, br;
    avro_generic_value_new(cls, &v);
    avro_reader_t r = avro_reader_memory((const char *)buf + 5, (int64_t)len - 5);
    assert_int_equal(avro_value_read(r, &v), 0);
    int disc;
    const char *str;
    size_t sz;
    int b;
    avro_value_get_discriminant(field(&v, "body", &body), &disc);
    assert_int_equal(disc, RF_EV_REVIEW_DECISION);
    avro_value_get_current_branch(&body, &br);
    avro_value_get_string(field(&br, "reviewer", &f), &str, &sz);
    assert_string_equal(str, "ops-ann");
    avro_value_get_boolean(field(&br, "approve", &f), &b);
    assert_true(b);
    avro_value_get_string(field(&v, "event_id", &f), &str, &sz);
    assert_string_equal(str, UUID1);
    avro_reader_free(r);
    avro_value_decref(&v);
    avro_value_iface_decref(cls);
    avro_schema_decref(s);
}

/* ---- runtime registration (schema registry hook) ---- */

/* A later writer: envelope field added (trace), Purchase fields reordered,
 * amount_minor written as int (promoted to long), user made nullable, an
 * extra field in Purchase, and a new event type "Gift" the reader does not
 * know. */
static const char *v3_json =
    "{\"type\":\"record\",\"name\":\"Event\",\"namespace\":\"refold\",\"fields\":["
    "{\"name\":\"trace\",\"type\":{\"type\":\"array\",\"items\":\"long\"}},"
    "{\"name\":\"event_id\",\"type\":\"string\"},{\"name\":\"program_id\",\"type\":\"string\"},"
    "{\"name\":\"occurred_at\",\"type\":\"long\"},{\"name\":\"source\",\"type\":\"string\"},"
    "{\"name\":\"body\",\"type\":[{\"type\":\"record\",\"name\":\"Gift\",\"fields\":["
    "{\"name\":\"to\",\"type\":\"string\"}]},"
    "{\"type\":\"record\",\"name\":\"Purchase\",\"fields\":["
    "{\"name\":\"note\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"amount_minor\",\"type\":\"int\"},{\"name\":\"currency\",\"type\":\"string\"},"
    "{\"name\":\"user\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"order_id\",\"type\":\"string\"}]}]}]}";

static void put_long(uint8_t **p, int64_t v)
{
    uint64_t n = ((uint64_t)v << 1) ^ (0 - ((uint64_t)v >> 63));
    do {
        uint8_t b = n & 0x7f;
        n >>= 7;
        *(*p)++ = b | (n ? 0x80 : 0);
    } while (n);
}

static void put_str(uint8_t **p, const char *s)
{
    put_long(p, (int64_t)strlen(s));
    memcpy(*p, s, strlen(s));
    *p += strlen(s);
}

static void test_register_schema(void **state)
{
    (void)state;
    rf_errbuf_t eb = {{0}};
    rf_event_t out;
    assert_int_equal(rf_codec_register_schema(codec, 100, "events", v3_json, &eb), RF_OK);
    assert_int_equal(rf_codec_register_schema(codec, 100, "refold.events-value", v3_json, &eb),
                     RF_OK); /* the same again is fine */
    assert_int_equal(rf_codec_register_schema(codec, 100, "events", rf_codec_schema_json(2), &eb),
                     RF_ERR_CONFLICT);
    uint8_t *p = buf;
    *p++ = 0;
    rf_be32_put(p, 100), p += 4;
    put_long(&p, 2), put_long(&p, 7), put_long(&p, 8), put_long(&p, 0); /* trace [7, 8] */
    put_str(&p, UUID1), put_str(&p, "prog-1"), put_long(&p, 1700000000123LL), put_str(&p, "app");
    put_long(&p, 1);                       /* Purchase */
    put_long(&p, 1), put_str(&p, "gift!"); /* note: string branch */
    put_long(&p, 4200), put_str(&p, "USD"), put_long(&p, 1), put_str(&p, "bob");
    put_str(&p, "o-1");
    assert_int_equal(rf_codec_decode_event(codec, buf, (size_t)(p - buf), &out, &eb), RF_OK);
    assert_int_equal(out.type, RF_EV_PURCHASE);
    assert_int_equal(out.schema_id, 100);
    assert_true(out.amount_minor == 4200);
    assert_string_equal(out.order_id, "o-1");
    assert_string_equal(out.user, "bob");
    assert_string_equal(out.code, ""); /* reader default */
    assert_string_equal(out.source, "app");
    /* user written as null: the reader's string cannot take it. */
    p = buf + 5;
    put_long(&p, 0), put_str(&p, UUID1), put_str(&p, "prog-1"), put_long(&p, 5), put_str(&p, "");
    put_long(&p, 1), put_long(&p, 0), put_long(&p, 1), put_str(&p, "USD"), put_long(&p, 0);
    put_str(&p, "o-1");
    assert_int_equal(rf_codec_decode_event(codec, buf, (size_t)(p - buf), &out, &eb),
                     RF_ERR_DECODE);
    assert_non_null(strstr(eb.msg, "field 'user' is written as null"));
    /* The Gift branch is unknown to the reader: a decode error, not a crash. */
    p = buf + 5;
    put_long(&p, 0), put_str(&p, UUID1), put_str(&p, "prog-1"), put_long(&p, 5);
    put_str(&p, ""), put_long(&p, 0), put_str(&p, "carol");
    assert_int_equal(rf_codec_decode_event(codec, buf, (size_t)(p - buf), &out, &eb),
                     RF_ERR_DECODE);
    assert_non_null(strstr(eb.msg, "unknown to this reader"));
    /* refold cannot write a schema with fields it does not know. */
    rf_event_t ev;
    size_t len;
    fill_event(&ev, RF_EV_PURCHASE);
    assert_int_equal(rf_codec_encode_event(codec, &ev, 100, buf, sizeof buf, &len, &eb),
                     RF_ERR_CONFIG);

    /* Unresolvable writers are refused at registration. */
    static const char *bad[] = {
        "{\"type\":\"record\",\"name\":\"Event\",\"fields\":[{\"name\":\"event_id\",\"type\":"
        "\"string\"},{\"name\":\"program_id\",\"type\":\"string\"},{\"name\":\"occurred_at\","
        "\"type\":\"long\"},{\"name\":\"body\",\"type\":[{\"type\":\"record\",\"name\":"
        "\"Purchase\",\"fields\":[{\"name\":\"amount_minor\",\"type\":\"string\"}]}]}]}",
        "{\"type\":\"record\",\"name\":\"Event\",\"fields\":[{\"name\":\"event_id\",\"type\":"
        "\"string\"}]}",
        "{\"type\":\"record\",\"name\":\"Other\",\"fields\":[]}",
        "{\"type\":\"record\",\"name\":",
        "\"string\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        eb.msg[0] = '\0';
        assert_int_equal(rf_codec_register_schema(codec, 200 + (int32_t)i, "events", bad[i], &eb),
                         RF_ERR_BAD_INPUT);
        assert_true(eb.msg[0] != '\0');
        assert_int_equal(
            rf_codec_decode_event(codec, (const uint8_t *)"\0\0\0\0\xc8\0", 6, &out, &eb),
            RF_ERR_UNKNOWN_SCHEMA);
    }
    assert_int_equal(rf_codec_register_schema(codec, 300, "nope", v3_json, &eb), RF_ERR_CONFIG);
    assert_int_equal(rf_codec_register_schema(codec, 1, "events", v3_json, &eb), RF_ERR_CONFLICT);
}

/* Registrations are bounded, and failed ones leave nothing behind (checked
 * by the leak sanitizer and by the count that still fits afterwards). */
static void test_register_limits(void **state)
{
    (void)state;
    rf_errbuf_t eb = {{0}};
    rf_codec_t *c = rf_codec_new(&eb);
    assert_non_null(c);
    static const char *incompatible =
        "{\"type\":\"record\",\"name\":\"Event\",\"fields\":[{\"name\":\"event_id\","
        "\"type\":\"long\"}]}";
    for (int32_t i = 0; i < 1000; i++)
        assert_int_equal(rf_codec_register_schema(c, 5000 + i, "events", incompatible, &eb),
                         RF_ERR_BAD_INPUT);
    int ok = 0;
    for (int32_t i = 0; i < RF_CODEC_SCHEMAS_MAX; i++) {
        rf_err_t err = rf_codec_register_schema(c, 1000 + i, "events", v3_json, &eb);
        if (err) {
            assert_int_equal(err, RF_ERR_CONFIG);
            break;
        }
        ok++;
    }
    assert_int_equal(ok, RF_CODEC_SCHEMAS_MAX - 4); /* 4 embedded */
    rf_codec_destroy(c);
    rf_codec_destroy(NULL);
}

/* ---- bad bytes ---- */

static rf_err_t decode(const uint8_t *b, size_t n, rf_errbuf_t *eb)
{
    static rf_event_t ev;
    eb->msg[0] = '\0';
    rf_err_t err = rf_codec_decode_event(codec, b, n, &ev, eb);
    if (err) assert_true(eb->msg[0] != '\0'); /* every error says what is wrong */
    return err;
}

static void test_bad_frames(void **state)
{
    (void)state;
    rf_errbuf_t eb;
    uint8_t b[8] = {0, 0, 0, 0, 2, 0, 0, 0};
    assert_int_equal(decode(NULL, 0, &eb), RF_ERR_TRUNCATED);
    for (size_t n = 1; n < 5; n++)
        assert_int_equal(decode(b, n, &eb), RF_ERR_TRUNCATED);
    assert_int_equal(decode(b, 5, &eb), RF_ERR_TRUNCATED); /* header, no body */
    b[0] = 1;
    assert_int_equal(decode(b, 8, &eb), RF_ERR_BAD_MAGIC);
    b[0] = 0, b[4] = 99;
    assert_int_equal(decode(b, 8, &eb), RF_ERR_UNKNOWN_SCHEMA);
    assert_non_null(strstr(eb.msg, "99"));
    b[1] = 0x80, b[4] = 2; /* id 2^31 + 2 */
    assert_int_equal(decode(b, 8, &eb), RF_ERR_UNKNOWN_SCHEMA);
    b[1] = 0, b[4] = RF_SCHEMA_ID_LEDGER; /* a ledger record is not an event */
    assert_int_equal(decode(b, 8, &eb), RF_ERR_UNKNOWN_SCHEMA);
    static uint8_t big[RF_EVENT_BYTES_MAX + 1];
    big[0] = 7; /* oversize is checked first */
    assert_int_equal(decode(big, sizeof big, &eb), RF_ERR_OVERSIZE);
    assert_int_equal(decode(big, RF_EVENT_BYTES_MAX, &eb), RF_ERR_BAD_MAGIC);
}

static void test_truncated_every_length(void **state)
{
    (void)state;
    rf_event_t ev;
    rf_errbuf_t eb;
    for (int id = 1; id <= RF_SCHEMA_ID_EVENT; id++)
        for (int t = 0; t < RF_EV__COUNT; t++) {
            if (id == RF_SCHEMA_ID_LEDGER ||
                (id < RF_SCHEMA_ID_LEDGER && t >= RF_EV_KEY_REGISTERED))
                continue; /* not an events schema; key events are v3 only */
            fill_event(&ev, (rf_event_type_t)t);
            size_t len;
            assert_int_equal(rf_codec_encode_event(codec, &ev, id, buf, sizeof buf, &len, &eb),
                             RF_OK);
            for (size_t n = 0; n < len; n++)
                if (decode(buf, n, &eb) != RF_ERR_TRUNCATED)
                    fail_msg("%s v%d cut at %zu/%zu: %s", rf_event_type_name(ev.type), id, n, len,
                             eb.msg);
            assert_int_equal(decode(buf, len, &eb), RF_OK);
            buf[len] = 0;
            assert_int_equal(decode(buf, len + 1, &eb), RF_ERR_DECODE); /* trailing byte */
            assert_non_null(strstr(eb.msg, "trailing"));
        }
}

/* Hand-made envelopes with hostile numbers where lengths and indexes go. */
static void test_hostile_lengths(void **state)
{
    (void)state;
    rf_errbuf_t eb;
    static const int64_t lens[] = {INT64_MAX,    INT64_MAX / 2,      1LL << 62, 1LL << 40,
                                   4294967296LL, RF_EVENT_BYTES_MAX, 100};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        uint8_t *p = buf;
        *p++ = 0, rf_be32_put(p, 2), p += 4;
        put_long(&p, lens[i]); /* event_id length */
        put_str(&p, "x");
        assert_int_equal(decode(buf, (size_t)(p - buf), &eb), RF_ERR_TRUNCATED);
        assert_non_null(strstr(eb.msg, "exceeds"));
        p = buf + 5;
        put_long(&p, -lens[i]);
        assert_int_equal(decode(buf, (size_t)(p - buf), &eb), RF_ERR_DECODE);
    }
    /* A varint longer than 64 bits. */
    uint8_t *p = buf + 5;
    for (int i = 0; i < 11; i++)
        *p++ = 0xff;
    *p++ = 0;
    assert_int_equal(decode(buf, (size_t)(p - buf), &eb), RF_ERR_DECODE);
    /* Union index out of range, negative and huge. */
    static const int64_t idx[] = {11, -1, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++) {
        p = buf + 5;
        put_str(&p, UUID1), put_str(&p, "prog"), put_long(&p, 5), put_str(&p, "");
        put_long(&p, idx[i]);
        assert_int_equal(decode(buf, (size_t)(p - buf), &eb), RF_ERR_DECODE);
    }
    /* A boolean that is neither 0 nor 1. */
    p = buf + 5;
    put_str(&p, UUID1), put_str(&p, "prog"), put_long(&p, 5), put_str(&p, "");
    put_long(&p, RF_EV_REVIEW_DECISION), put_str(&p, "bob");
    *p++ = 2;
    put_str(&p, "ann"), put_str(&p, "");
    assert_int_equal(decode(buf, (size_t)(p - buf), &eb), RF_ERR_DECODE);
    /* An int (ProgramConfigured.version) beyond 32 bits. */
    p = buf + 5;
    put_str(&p, UUID1), put_str(&p, "prog"), put_long(&p, 5), put_str(&p, "");
    put_long(&p, RF_EV_PROGRAM_CONFIGURED), put_long(&p, 1LL << 33), put_str(&p, "{}");
    assert_int_equal(decode(buf, (size_t)(p - buf), &eb), RF_ERR_DECODE);
}

/* Structurally valid bytes with invalid fields: bad input naming the field. */
static size_t raw_event(const char *eid, const char *prog, int64_t at, int type)
{
    uint8_t *p = buf;
    *p++ = 0, rf_be32_put(p, 2), p += 4;
    put_str(&p, eid), put_str(&p, prog), put_long(&p, at), put_str(&p, "src");
    put_long(&p, type);
    return (size_t)(p - buf);
}

static size_t raw_purchase(const char *user, int64_t amount, const char *cur)
{
    uint8_t *p = buf + raw_event(UUID1, "prog", 5, RF_EV_PURCHASE);
    put_str(&p, "o-1"), put_str(&p, user), put_long(&p, amount), put_str(&p, cur);
    put_str(&p, ""), put_str(&p, "");
    return (size_t)(p - buf);
}

static void test_invalid_fields(void **state)
{
    (void)state;
    rf_errbuf_t eb;
    assert_int_equal(decode(buf, raw_purchase("bob", 100, "USD"), &eb), RF_OK);
    assert_int_equal(decode(buf, raw_purchase("bob", -5, "USD"), &eb), RF_ERR_BAD_INPUT);
    assert_string_equal(eb.msg, "purchase: field 'amount_minor' is negative (-5)");
    assert_int_equal(decode(buf, raw_purchase("bob", 5, "usd"), &eb), RF_ERR_BAD_INPUT);
    assert_non_null(strstr(eb.msg, "'currency'"));
    assert_int_equal(decode(buf, raw_purchase("", 5, "USD"), &eb), RF_ERR_BAD_INPUT);
    assert_non_null(strstr(eb.msg, "field 'user' is missing"));
    char longid[RF_ID_MAX + 2];
    memset(longid, 'x', RF_ID_MAX + 1), longid[RF_ID_MAX + 1] = '\0';
    assert_int_equal(decode(buf, raw_purchase(longid, 5, "USD"), &eb), RF_ERR_BAD_INPUT);
    assert_string_equal(eb.msg, "purchase: field 'user' is too long (65 bytes, max 64)");
    longid[RF_ID_MAX] = '\0'; /* exactly the limit is fine */
    assert_int_equal(decode(buf, raw_purchase(longid, 5, "USD"), &eb), RF_OK);
    static const char nul_user[] = {'b', 0, 'b'};
    uint8_t *p = buf + raw_event(UUID1, "prog", 5, RF_EV_PURCHASE);
    put_str(&p, "o-1"), put_long(&p, 3), memcpy(p, nul_user, 3), p += 3;
    put_long(&p, 1), put_str(&p, "USD"), put_str(&p, ""), put_str(&p, "");
    assert_int_equal(decode(buf, (size_t)(p - buf), &eb), RF_ERR_BAD_INPUT);
    assert_non_null(strstr(eb.msg, "NUL"));

    size_t n = raw_event("nope", "prog", 5, RF_EV_CLOCK);
    assert_int_equal(decode(buf, n, &eb), RF_ERR_BAD_INPUT);
    assert_non_null(strstr(eb.msg, "'event_id' is not a UUID"));
    n = raw_event(UUID1, "", 5, RF_EV_CLOCK);
    assert_int_equal(decode(buf, n, &eb), RF_ERR_BAD_INPUT);
    assert_non_null(strstr(eb.msg, "'program_id' is missing"));
    n = raw_event(UUID1, "prog", -1, RF_EV_CLOCK);
    assert_int_equal(decode(buf, n, &eb), RF_ERR_BAD_INPUT);
    assert_non_null(strstr(eb.msg, "occurred_at"));
    /* A too-long field in a message that is also truncated: truncated wins. */
    memset(longid, 'x', RF_ID_MAX + 1);
    size_t full = raw_purchase(longid, 5, "USD");
    assert_int_equal(decode(buf, full - 1, &eb), RF_ERR_TRUNCATED);
}

/* xorshift64*: a fixed seed, so failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static void assert_bad_input_class(rf_err_t err, const char *what, size_t i)
{
    if (err == RF_OK) return; /* garbage may happen to be a valid event */
    if (rf_err_class(err) != RF_ERRCLASS_BAD_INPUT)
        fail_msg("%s %zu: error %s is not bad input", what, i, rf_err_str(err));
}

static void test_garbage(void **state)
{
    (void)state;
    rf_errbuf_t eb;
    static rf_record_t rec;
    size_t ok = 0;
    for (size_t i = 0; i < 20000; i++) { /* random bodies behind a valid header */
        size_t n = 5 + rng() % 200;
        buf[0] = 0;
        rf_be32_put(buf + 1, (uint32_t)(1 + rng() % 3));
        for (size_t k = 5; k < n; k++)
            buf[k] = (uint8_t)rng();
        if (i % 2) buf[5] = (uint8_t)(2 * (rng() % 40)); /* a plausible first length */
        rf_err_t err = decode(buf, n, &eb);
        assert_bad_input_class(err, "garbage", i);
        ok += err == RF_OK;
        assert_bad_input_class(rf_codec_decode_record(codec, buf, n, &rec, &eb), "record", i);
    }
    rf_event_t ev;
    for (size_t i = 0; i < 20000; i++) { /* valid messages with a few bytes mutated */
        fill_event(&ev, (rf_event_type_t)(i % RF_EV__COUNT));
        size_t len;
        int id =
            ev.type >= RF_EV_KEY_REGISTERED || i % 3 == 2 ? RF_SCHEMA_ID_EVENT : 1 + (int)(i % 3);
        assert_int_equal(rf_codec_encode_event(codec, &ev, id, buf, sizeof buf, &len, &eb), RF_OK);
        for (int m = 1 + (int)(rng() % 4); m > 0; m--) {
            size_t at = 5 + rng() % (len - 5);
            buf[at] = (rng() % 3) ? (uint8_t)rng() : buf[at] ^ 0x80;
        }
        if (rng() % 4 == 0) len -= rng() % (len - 5);
        assert_bad_input_class(decode(buf, len, &eb), "mutation", i);
    }
    print_message("garbage: %zu of 20000 random bodies happened to decode\n", ok);
}

/* ---- ledger records ---- */

static void fill_record(rf_record_t *rec)
{
    rf_record_clear(rec);
    rec->seq = 42;
    for (int i = 0; i < 32; i++)
        rec->prev_hash[i] = (uint8_t)i, rec->hash[i] = (uint8_t)(255 - i);
    rec->partition = 7;
    rec->offset = 123456789012LL;
    strcpy(rec->event_id, UUID1);
    strcpy(rec->program_id, "prog-1");
    rec->occurred_at_ms = 1700000000123LL;
    strcpy(rec->kind, "reward");
    rf_record_post(rec, "#expense", RF_BUCKET_EXPENSE, "USD", -1500);
    rf_record_post(rec, "alice", RF_BUCKET_PENDING, "USD", 1000);
    rf_record_post(rec, "bob", RF_BUCKET_PENDING, "USD", 500);
    rf_record_post(rec, "alice", RF_BUCKET_RECEIVABLE, "POINTS", 10);
    rf_record_post(rec, "#adjustment", RF_BUCKET_ADJUSTMENT, "POINTS", -10);
    rf_record_fact(rec, "referrer", "alice");
    rf_record_factf(rec, "rule_version", "%d", 3);
    rf_record_fact(rec, "check.self_referral", "pass");
}

static void test_record_roundtrip(void **state)
{
    (void)state;
    static rf_record_t in, out;
    rf_errbuf_t eb = {{0}};
    fill_record(&in);
    assert_true(rf_record_balanced(&in));
    assert_string_equal(rf_record_get_fact(&in, "rule_version"), "3");
    assert_null(rf_record_get_fact(&in, "nope"));
    size_t len;
    assert_int_equal(rf_codec_encode_record(codec, &in, buf, sizeof buf, &len, &eb), RF_OK);
    assert_int_equal(rf_be32_get(buf + 1), RF_SCHEMA_ID_LEDGER);
    memset(&out, 0x5a, sizeof out);
    assert_int_equal(rf_codec_decode_record(codec, buf, len, &out, &eb), RF_OK);
    assert_memory_equal(&in, &out, sizeof in);
    for (size_t n = 0; n < len; n++) /* truncated at every length */
        assert_int_equal(rf_codec_decode_record(codec, buf, n, &out, &eb), RF_ERR_TRUNCATED);
    /* Full capacity round trips; an event frame is not a record. */
    rf_record_clear(&in);
    in.seq = 1;
    strcpy(in.program_id, "p"), strcpy(in.kind, "k");
    for (int i = 0; i < RF_POSTINGS_MAX; i++)
        rf_record_post(&in, "u", (rf_bucket_t)(i % RF_BUCKET__COUNT), "USD", i % 2 ? 1 : -1);
    for (int i = 0; i < RF_FACTS_MAX; i++)
        rf_record_factf(&in, "k", "%0128d", i);
    assert_true(rf_record_balanced(&in));
    assert_int_equal(rf_codec_encode_record(codec, &in, buf, sizeof buf, &len, &eb), RF_OK);
    assert_int_equal(rf_codec_decode_record(codec, buf, len, &out, &eb), RF_OK);
    assert_memory_equal(&in, &out, sizeof in);
    rf_event_t ev;
    fill_event(&ev, RF_EV_CLOCK);
    assert_int_equal(rf_codec_encode_event(codec, &ev, 2, buf, sizeof buf, &len, &eb), RF_OK);
    assert_int_equal(rf_codec_decode_record(codec, buf, len, &out, &eb), RF_ERR_UNKNOWN_SCHEMA);
}

static void test_record_balance(void **state)
{
    (void)state;
    static rf_record_t rec;
    rf_record_clear(&rec);
    assert_true(rf_record_balanced(&rec)); /* no postings */
    rf_record_post(&rec, "a", RF_BUCKET_PENDING, "USD", 5);
    assert_false(rf_record_balanced(&rec));
    rf_record_post(&rec, "b", RF_BUCKET_EXPENSE, "EUR", -5); /* other asset */
    assert_false(rf_record_balanced(&rec));
    rf_record_post(&rec, "b", RF_BUCKET_EXPENSE, "USD", -5);
    rf_record_post(&rec, "a", RF_BUCKET_PENDING, "EUR", 5);
    assert_true(rf_record_balanced(&rec));
    rf_record_post(&rec, "a", RF_BUCKET_PENDING, "X", INT64_MAX);
    rf_record_post(&rec, "a", RF_BUCKET_PENDING, "X", INT64_MAX); /* overflow: not balanced */
    assert_false(rf_record_balanced(&rec));
    /* A long fact value is truncated (documented), not refused. */
    char longv[RF_FACT_VAL_MAX + 50];
    memset(longv, 'v', sizeof longv - 1), longv[sizeof longv - 1] = '\0';
    rf_record_fact(&rec, "k", longv);
    assert_int_equal(strlen(rf_record_get_fact(&rec, "k")), RF_FACT_VAL_MAX);
    /* ... at a character boundary, so the record stays encodable. */
    rf_record_clear(&rec);
    rec.seq = 1, strcpy(rec.program_id, "p"), strcpy(rec.kind, "k");
    memset(longv, 'v', sizeof longv - 1);
    memcpy(longv + RF_FACT_VAL_MAX - 1, "\xc3\xa9", 2); /* 'é' across the limit */
    rf_record_factf(&rec, "k", "%s", longv);
    assert_int_equal(strlen(rf_record_get_fact(&rec, "k")), RF_FACT_VAL_MAX - 1);
    size_t len;
    rf_errbuf_t eb;
    assert_int_equal(rf_codec_encode_record(codec, &rec, buf, sizeof buf, &len, &eb), RF_OK);
}

/* Record bytes written by hand, for the checks encode would never let by. */
static size_t raw_record(int npostings, const char *bucket, const char *hash)
{
    uint8_t *p = buf;
    *p++ = 0, rf_be32_put(p, 3), p += 4;
    put_long(&p, 1), put_long(&p, 0), put_long(&p, 0), put_str(&p, UUID1), put_str(&p, "prog");
    put_long(&p, 5), put_str(&p, "reward"), put_str(&p, hash), put_str(&p, HASH_A);
    if (npostings) put_long(&p, npostings);
    for (int i = 0; i < npostings; i++)
        put_str(&p, "u"), put_str(&p, bucket), put_str(&p, "USD"), put_long(&p, 0);
    put_long(&p, 0);
    put_long(&p, -1), put_long(&p, 4), put_str(&p, "k"), put_str(&p, "v"), put_long(&p, 0);
    return (size_t)(p - buf);
}

static void test_record_bad(void **state)
{
    (void)state;
    static rf_record_t rec;
    rf_errbuf_t eb = {{0}};
    size_t n = raw_record(2, "pending", HASH_B);
    assert_int_equal(rf_codec_decode_record(codec, buf, n, &rec, &eb), RF_OK);
    assert_int_equal(rec.npostings, 2);
    assert_int_equal(rec.nfacts, 1); /* negative block count with byte size */
    assert_string_equal(rec.facts[0].value, "v");
    n = raw_record(RF_POSTINGS_MAX + 1, "pending", HASH_B);
    assert_int_equal(rf_codec_decode_record(codec, buf, n, &rec, &eb), RF_ERR_BAD_INPUT);
    assert_non_null(strstr(eb.msg, "more than 16 postings"));
    n = raw_record(1, "wallet", HASH_B);
    assert_int_equal(rf_codec_decode_record(codec, buf, n, &rec, &eb), RF_ERR_BAD_INPUT);
    assert_non_null(strstr(eb.msg, "'bucket'"));
    n = raw_record(1, "pending", "xyz");
    assert_int_equal(rf_codec_decode_record(codec, buf, n, &rec, &eb), RF_ERR_BAD_INPUT);
    assert_non_null(strstr(eb.msg, "'prev_hash'"));
    /* A huge posting count with no items behind it. */
    uint8_t *p = buf + raw_record(0, "pending", HASH_B) - 8;
    put_long(&p, INT64_MAX);
    assert_int_equal(rf_codec_decode_record(codec, buf, (size_t)(p - buf), &rec, &eb),
                     RF_ERR_TRUNCATED);
    rf_record_clear(&rec);
    assert_int_equal(rf_codec_encode_record(codec, &rec, buf, sizeof buf, &n, &eb),
                     RF_ERR_BAD_INPUT); /* seq 0, no kind */
}

/* ---- manifest and command ---- */

static void test_manifest(void **state)
{
    (void)state;
    assert_non_null(strstr(rf_codec_manifest(), "refold.events-value"));
    for (int32_t id = 1; id <= 4; id++) {
        const char *json = rf_codec_schema_json(id);
        assert_non_null(json);
        avro_schema_t s;
        assert_int_equal(avro_schema_from_json_length(json, strlen(json), &s), 0);
        avro_schema_decref(s);
    }
    assert_null(rf_codec_schema_json(5));
    assert_null(rf_codec_schema_json(-1));
}

static void test_cmd_schemas(void **state)
{
    (void)state;
    static char out[65536];
    assert_int_equal(rf_test_refold(out, sizeof out, 0, "schemas"), 0);
    assert_non_null(strstr(out, "refold.events-value"));
    assert_non_null(strstr(out, "event.avsc"));
    assert_int_equal(rf_test_refold(out, sizeof out, 0, "schemas --json"), 0);
    assert_non_null(strstr(out, "\"current\": true"));
    assert_int_equal(rf_test_refold(out, sizeof out, 0, "schemas show 2"), 0);
    assert_non_null(strstr(out, "payment_hash"));
    assert_int_equal(rf_test_refold(out, sizeof out, 1, "schemas show 9"), 1);
    assert_non_null(strstr(out, "refold schemas: no schema with id '9'"));
    assert_int_equal(rf_test_refold(out, sizeof out, 0, "schemas --help"), 0);
    assert_non_null(strstr(out, "usage: refold schemas"));
}

/* ---- optional rates (RF_BENCH=1; no assertions on time) ---- */

/* The same Purchase through Avro-C's value API (one reused value, one reused
 * memory reader/writer): DESIGN.md's reference figures. */
static void bench_avro_c(const uint8_t *msg, size_t len, int n)
{
    const char *json = rf_codec_schema_json(2);
    avro_schema_t s;
    assert_int_equal(avro_schema_from_json_length(json, strlen(json), &s), 0);
    avro_value_iface_t *cls = avro_generic_class_from_schema(s);
    avro_value_t v;
    avro_generic_value_new(cls, &v);
    avro_reader_t r = avro_reader_memory((const char *)msg + 5, (int64_t)len - 5);
    static char out[512];
    avro_writer_t w = avro_writer_memory(out, sizeof out);
    uint64_t t0 = rf_now_ns();
    for (int i = 0; i < n; i++) {
        avro_reader_memory_set_source(r, (const char *)msg + 5, (int64_t)len - 5);
        if (avro_value_read(r, &v) != 0) fail();
    }
    uint64_t t1 = rf_now_ns();
    for (int i = 0; i < n; i++) {
        avro_writer_memory_set_dest(w, out, sizeof out);
        if (avro_value_write(w, &v) != 0) fail();
    }
    uint64_t t2 = rf_now_ns();
    printf("bench: Avro-C value API, same bytes: encode %.2f M/s, decode %.2f M/s\n",
           n / ((double)(t2 - t1) / 1e9) / 1e6, n / ((double)(t1 - t0) / 1e9) / 1e6);
    avro_reader_free(r);
    avro_writer_free(w);
    avro_value_decref(&v);
    avro_value_iface_decref(cls);
    avro_schema_decref(s);
}

static void test_bench(void **state)
{
    (void)state;
    const char *env = getenv("RF_BENCH");
    if (!env || strcmp(env, "1") != 0) skip();
    rf_event_t ev;
    static rf_event_t out;
    rf_errbuf_t eb;
    fill_event(&ev, RF_EV_PURCHASE);
    size_t len = 0;
    const int n = 2000000;
    uint64_t t0 = rf_now_ns();
    for (int i = 0; i < n; i++) {
        ev.amount_minor = i;
        if (rf_codec_encode_event(codec, &ev, 2, buf, sizeof buf, &len, &eb) != RF_OK) fail();
    }
    uint64_t t1 = rf_now_ns();
    for (int i = 0; i < n; i++)
        if (rf_codec_decode_event(codec, buf, len, &out, &eb) != RF_OK) fail();
    uint64_t t2 = rf_now_ns();
    printf("bench: refold codec, Purchase of %zu bytes (validated): encode %.2f M/s, decode "
           "%.2f M/s\n",
           len, n / ((double)(t1 - t0) / 1e9) / 1e6, n / ((double)(t2 - t1) / 1e9) / 1e6);
    bench_avro_c(buf, len, n / 2);
}

int main(void)
{
    /* These tests frame bytes by hand with the manifest ids (1..3): the ids
     * of refold before the id base. test_schema_ids checks the id space. */
    setenv(RF_SCHEMA_ID_BASE_ENV, "0", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_roundtrip_every_type),
        cmocka_unit_test(test_roundtrip_limits),
        cmocka_unit_test(test_encode_errors),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_evolution_v1),
        cmocka_unit_test(test_interop_avro_c),
        cmocka_unit_test(test_register_schema),
        cmocka_unit_test(test_register_limits),
        cmocka_unit_test(test_bad_frames),
        cmocka_unit_test(test_truncated_every_length),
        cmocka_unit_test(test_hostile_lengths),
        cmocka_unit_test(test_invalid_fields),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_record_roundtrip),
        cmocka_unit_test(test_record_balance),
        cmocka_unit_test(test_record_bad),
        cmocka_unit_test(test_manifest),
        cmocka_unit_test(test_cmd_schemas),
        cmocka_unit_test(test_bench),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
