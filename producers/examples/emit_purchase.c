/* emit_purchase.c: an app publishing one referral purchase with librefold
 * (docs/c-library.md). Builds the event, hashes the card fingerprint, encodes
 * it once to show the wire form, then produces it and waits for the broker's
 * acknowledgement. With no argument it starts refold's embedded broker (in
 * memory), so it runs anywhere; give "host:port" to use a real Kafka.
 *
 *     cc emit_purchase.c $(pkg-config --cflags --libs refold) -o emit_purchase
 *     ./emit_purchase [brokers]
 *
 * Exits 0 only when the event was delivered (and decoded back unchanged). */
#include <stdio.h>
#include <string.h>

#include <refold/rf_broker.h>
#include <refold/rf_codec.h>
#include <refold/rf_producer.h>

static void on_delivery(const rf_delivery_t *d, void *opaque)
{
    int *delivered = opaque;
    if (d->err == RF_OK) {
        printf("delivered %s: partition %d offset %lld\n", d->event_id, (int)d->partition,
               (long long)d->offset);
        (*delivered)++;
    } else {
        fprintf(stderr, "not delivered %s: %s: %s\n", d->event_id, rf_err_str(d->err), d->errmsg);
    }
}

/* Encodes ev with the codec and decodes it back: the bytes any Kafka client
 * could send (Confluent framing: magic byte 0, schema id, Avro body). */
static int show_wire_form(const rf_event_t *ev, rf_errbuf_t *eb)
{
    rf_codec_t *codec = rf_codec_new(eb);
    if (!codec) return -1;
    static uint8_t buf[RF_EVENT_BYTES_MAX];
    static rf_event_t back;
    size_t len = 0;
    int ok =
        rf_codec_encode_event(codec, ev, RF_SCHEMA_ID_EVENT, buf, sizeof buf, &len, eb) == RF_OK &&
        rf_codec_decode_event(codec, buf, len, &back, eb) == RF_OK &&
        strcmp(back.order_id, ev->order_id) == 0 && back.amount_minor == ev->amount_minor;
    if (ok)
        printf("encoded %zu bytes (schema id %d), decoded back unchanged\n", len,
               RF_SCHEMA_ID_EVENT);
    rf_codec_destroy(codec);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    rf_errbuf_t eb = {{0}};
    rf_broker_t *broker = NULL;
    const char *brokers = argc > 1 ? argv[1] : NULL;
    if (!brokers) {
        broker = rf_broker_start(4, 1, &eb);
        if (!broker) return fprintf(stderr, "emit_purchase: %s\n", eb.msg), 1;
        brokers = rf_broker_bootstraps(broker);
    }

    static rf_event_t ev; /* about 18 KiB: not on the stack */
    int rc = 1, delivered = 0;
    if (rf_event_purchase(&ev, "spring", "order-17", "user-9", 4599, "USD", "ALICE10", &eb) !=
        RF_OK)
        goto out;
    /* PII travels as HMAC-SHA256 with the app's secret, never in clear */
    rf_pii_hash("app-secret", "card-fingerprint-4242", ev.payment_hash);
    if (show_wire_form(&ev, &eb) != 0) goto out;

    rf_producer_conf_t conf;
    rf_producer_conf_init(&conf);
    conf.kafka.brokers = brokers;
    conf.on_delivery = on_delivery;
    conf.opaque = &delivered;
    rf_producer_t *p = rf_producer_new(&conf, &eb);
    if (!p) goto out;
    if (rf_producer_emit(p, &ev, NULL, &eb) == RF_OK && rf_producer_flush(p, 10000, &eb) == RF_OK &&
        delivered == 1)
        rc = 0;
    rf_producer_destroy(p);
out:
    if (rc != 0) fprintf(stderr, "emit_purchase: %s\n", eb.msg[0] ? eb.msg : "not delivered");
    rf_broker_stop(broker);
    return rc;
}
