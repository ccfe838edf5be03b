/* it_producer.c: the producer library against the in-process embedded
 * broker: N events of every type published, consumed back, decoded: all
 * identical, in order per program, keyed by program id, with one delivery
 * report each; delivery failures reach the callback. */
#include <stdlib.h>
#include <string.h>

#include "rf_codec.h"
#include "rf_jsonl.h"
#include "rf_producer.h"
#include "rf_testutil.h"

#define PROGRAMS 3
#define PER_TYPE 40 /* events of each type per program */
#define TOTAL    (PROGRAMS * PER_TYPE * RF_EV__COUNT)

typedef struct sent {
    char line[TOTAL][1024]; /* canonical JSON line of each sent event, in emit order */
    int program[TOTAL];
    int ndelivered, nfailed;
    int64_t offset[TOTAL]; /* from the delivery report */
    int32_t partition[TOTAL];
} sent_t;

static void on_dr(const rf_delivery_t *d, void *opaque)
{
    sent_t *s = opaque;
    int i = (int)(intptr_t)d->msg_opaque;
    assert_true(i >= 0 && i < TOTAL);
    if (d->err != RF_OK) {
        s->nfailed++;
        return;
    }
    s->ndelivered++;
    s->offset[i] = d->offset;
    s->partition[i] = d->partition;
    /* The report carries the event's id and key. */
    assert_non_null(strstr(s->line[i], d->event_id));
    char key[80];
    snprintf(key, sizeof key, "\"program_id\":\"%s\"", d->program_id);
    assert_non_null(strstr(s->line[i], key));
}

static void fill(rf_event_t *ev, rf_event_type_t t, const char *prog, int n)
{
    char id[32], hash[RF_HASH_HEX_LEN + 1];
    rf_errbuf_t eb;
    snprintf(id, sizeof id, "x%d", n);
    rf_pii_hash("secret", id, hash);
    switch (t) {
    case RF_EV_PROGRAM_CONFIGURED:
        assert_int_equal(
            rf_event_program_configured(ev, prog, n + 1, "{\"currency\":\"USD\"}", &eb), RF_OK);
        break;
    case RF_EV_CODE_ISSUED:
        rf_event_code_issued(ev, prog, id, "CODE", &eb);
        break;
    case RF_EV_SHARE:
        rf_event_share(ev, prog, id, "email", &eb);
        break;
    case RF_EV_CLICK:
        rf_event_click(ev, prog, "CODE", id, &eb);
        memcpy(ev->ip_hash, hash, sizeof hash);
        break;
    case RF_EV_SIGNUP:
        rf_event_signup(ev, prog, id, "CODE", "v1", &eb);
        memcpy(ev->email_hash, hash, sizeof hash);
        break;
    case RF_EV_PURCHASE:
        rf_event_purchase(ev, prog, id, "u1", 1000 + n, "USD", "", &eb);
        memcpy(ev->payment_hash, hash, sizeof hash);
        break;
    case RF_EV_REFUND:
        rf_event_refund(ev, prog, id, 1 + n, "USD", &eb);
        break;
    case RF_EV_REDEMPTION:
        rf_event_redemption(ev, prog, "u1", 1 + n, "POINTS", id, &eb);
        break;
    case RF_EV_REVIEW_DECISION:
        rf_event_review_decision(ev, prog, id, n % 2, "r", "why", &eb);
        break;
    case RF_EV_ADJUSTMENT:
        rf_event_adjustment(ev, prog, id, -1 - n, "USD", "fix", "fin", &eb);
        break;
    default:
        rf_event_clock(ev, prog, &eb);
        break;
    }
    snprintf(ev->source, sizeof ev->source, "it_producer");
}

typedef struct got {
    rf_codec_t *codec;
    rf_event_t *ev;
    sent_t *sent;
    int next_of_program[PROGRAMS]; /* index into the program's sent sequence */
    int n;
} got_t;

/* Each consumed message must be the next event its program sent. */
static void on_msg(const rd_kafka_message_t *m, void *opaque)
{
    got_t *g = opaque;
    rf_errbuf_t eb = {{0}};
    if (rf_codec_decode_event(g->codec, m->payload, m->len, g->ev, &eb) != RF_OK)
        fail_msg("decode: %s", eb.msg);
    assert_int_equal(m->key_len, strlen(g->ev->program_id));
    assert_memory_equal(m->key, g->ev->program_id, m->key_len);
    int prog = g->ev->program_id[1] - '0';
    assert_true(prog >= 0 && prog < PROGRAMS);
    int k = g->next_of_program[prog]++, i = k * PROGRAMS + prog; /* emit order: round robin */
    static char line[RF_JSONL_OUT_MAX];
    size_t len;
    assert_int_equal(rf_jsonl_format(g->ev, line, sizeof line, &len, &eb), RF_OK);
    assert_string_equal(line, g->sent->line[i]);
    assert_int_equal(m->partition, g->sent->partition[i]);
    assert_int_equal(m->offset, g->sent->offset[i]);
    g->n++;
}

static void test_every_type_round_trip(void **state)
{
    (void)state;
    rf_errbuf_t eb = {{0}};
    rf_broker_t *b = rf_broker_start(4, 1, &eb);
    assert_non_null(b);
    sent_t *s = calloc(1, sizeof *s);
    rf_producer_conf_t conf;
    rf_producer_conf_init(&conf);
    conf.kafka.brokers = rf_broker_bootstraps(b);
    conf.on_delivery = on_dr;
    conf.opaque = s;
    rf_producer_t *p = rf_producer_new(&conf, &eb);
    assert_non_null(p);
    rf_event_t *ev = malloc(sizeof *ev);
    char prog[PROGRAMS][8];
    for (int i = 0; i < TOTAL; i++) {
        int pr = i % PROGRAMS, n = i / PROGRAMS;
        snprintf(prog[pr], sizeof prog[pr], "p%d", pr);
        fill(ev, (rf_event_type_t)(n % RF_EV__COUNT), prog[pr], n);
        size_t len;
        assert_int_equal(rf_jsonl_format(ev, s->line[i], sizeof s->line[i], &len, &eb), RF_OK);
        s->program[i] = pr;
        if (rf_producer_emit(p, ev, (void *)(intptr_t)i, &eb) != RF_OK) fail_msg("%s", eb.msg);
    }
    assert_int_equal(rf_producer_flush(p, 30000, &eb), RF_OK);
    assert_int_equal(s->ndelivered, TOTAL);
    assert_int_equal(s->nfailed, 0);
    rf_producer_stats_t st;
    rf_producer_stats(p, &st);
    assert_int_equal(st.emitted, TOTAL);
    assert_int_equal(st.delivered, TOTAL);
    rf_producer_destroy(p);

    got_t g = {.codec = rf_codec_new(&eb), .ev = ev, .sent = s};
    assert_non_null(g.codec);
    long n = rf_test_consume_all(rf_broker_bootstraps(b), RF_TOPIC_EVENTS, on_msg, &g);
    assert_int_equal(n, TOTAL);
    assert_int_equal(g.n, TOTAL);
    rf_codec_destroy(g.codec);
    free(ev);
    free(s);
    rf_broker_stop(b);
}

static void on_dr_count(const rf_delivery_t *d, void *opaque)
{
    int *counts = opaque;
    counts[d->err == RF_OK ? 0 : 1]++;
    if (d->err != RF_OK) {
        assert_int_equal(d->err, RF_ERR_TIMEOUT);
        assert_int_equal(d->partition, -1);
    }
}

/* A broker that never answers: each event gets a failed report once its
 * message.timeout.ms (passed through with -X) expires. */
static void test_delivery_failure(void **state)
{
    (void)state;
    int counts[2] = {0, 0};
    rf_producer_conf_t conf;
    rf_producer_conf_init(&conf);
    conf.kafka.brokers = "127.0.0.1:1";
    rf_errbuf_t eb = {{0}};
    assert_int_equal(rf_kafka_opts_add_x(&conf.kafka, "message.timeout.ms=300", &eb), RF_OK);
    conf.on_delivery = on_dr_count;
    conf.opaque = counts;
    rf_producer_t *p = rf_producer_new(&conf, &eb);
    assert_non_null(p);
    rf_event_t *ev = malloc(sizeof *ev);
    for (int i = 0; i < 5; i++) {
        fill(ev, RF_EV_PURCHASE, "p0", i);
        assert_int_equal(rf_producer_emit(p, ev, NULL, &eb), RF_OK);
    }
    assert_int_equal(rf_producer_flush(p, 10000, &eb), RF_OK);
    assert_int_equal(counts[0], 0);
    assert_int_equal(counts[1], 5);
    rf_producer_destroy(p);
    free(ev);
}

/* The v1 writer schema still produces and decodes (schema id in the frame). */
static void test_schema_v1(void **state)
{
    (void)state;
    rf_errbuf_t eb = {{0}};
    rf_broker_t *b = rf_broker_start(1, 1, &eb);
    assert_non_null(b);
    rf_producer_conf_t conf;
    rf_producer_conf_init(&conf);
    conf.kafka.brokers = rf_broker_bootstraps(b);
    conf.schema_id = RF_SCHEMA_ID_EVENT_V1;
    rf_producer_t *p = rf_producer_new(&conf, &eb);
    assert_non_null(p);
    rf_event_t *ev = malloc(sizeof *ev);
    fill(ev, RF_EV_CLOCK, "p0", 0);
    assert_int_equal(rf_producer_emit(p, ev, NULL, &eb), RF_OK);
    assert_int_equal(rf_producer_flush(p, 10000, &eb), RF_OK);
    rf_producer_destroy(p);
    assert_int_equal(rf_test_topic_count(rf_broker_bootstraps(b), RF_TOPIC_EVENTS), 1);
    free(ev);
    rf_broker_stop(b);
}

/* event_time_stamps: each message's timestamp is the event's occurred_at
 * (synthetic history may run ahead of today; the fold bounds event time by
 * the message timestamp); without it, the time of producing. */
static void on_ts(const rd_kafka_message_t *m, void *opaque)
{
    int64_t *ts = opaque;
    rd_kafka_timestamp_type_t type;
    ts[m->offset] = rd_kafka_message_timestamp(m, &type);
    assert_int_equal(type, RD_KAFKA_TIMESTAMP_CREATE_TIME);
}

static void test_event_time_stamps(void **state)
{
    (void)state;
    rf_errbuf_t eb = {{0}};
    rf_broker_t *b = rf_broker_start(1, 1, &eb);
    assert_non_null(b);
    rf_event_t *ev = malloc(sizeof *ev);
    const int64_t future = 1893456000000LL; /* 2030-01-01 */
    for (int mode = 0; mode < 2; mode++) {
        rf_producer_conf_t conf;
        rf_producer_conf_init(&conf);
        conf.kafka.brokers = rf_broker_bootstraps(b);
        conf.event_time_stamps = mode == 1;
        rf_producer_t *p = rf_producer_new(&conf, &eb);
        assert_non_null(p);
        fill(ev, RF_EV_SHARE, "p0", mode);
        ev->occurred_at_ms = future;
        assert_int_equal(rf_producer_emit(p, ev, NULL, &eb), RF_OK);
        assert_int_equal(rf_producer_flush(p, 30000, &eb), RF_OK);
        rf_producer_destroy(p);
    }
    int64_t ts[2] = {0, 0};
    int64_t before = rf_wall_ms();
    assert_int_equal(rf_test_consume_all(rf_broker_bootstraps(b), RF_TOPIC_EVENTS, on_ts, ts), 2);
    assert_true(ts[0] <= before && ts[0] > before - 600000); /* produced just now */
    assert_int_equal(ts[1], future);
    free(ev);
    rf_broker_stop(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_type_round_trip),
        cmocka_unit_test(test_delivery_failure),
        cmocka_unit_test(test_schema_v1),
        cmocka_unit_test(test_event_time_stamps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
