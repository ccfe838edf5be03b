// emit_purchase.cpp: librefold from C++ (docs/c-library.md): the same C API,
// its handles held by std::unique_ptr, a captureless lambda as the delivery
// callback. With no argument it starts refold's embedded broker (in memory);
// give "host:port" to use a real Kafka.
//
//     c++ emit_purchase.cpp $(pkg-config --cflags --libs refold) -o emit_purchase_cpp
//     ./emit_purchase_cpp [brokers]
//
// Exits 0 only when both events were delivered.
#include <cstdio>
#include <memory>
#include <string>

#include <refold/rf_broker.h>
#include <refold/rf_producer.h>

namespace {

struct broker_stop {
    void operator()(rf_broker_t *b) const { rf_broker_stop(b); }
};
struct producer_destroy {
    void operator()(rf_producer_t *p) const { rf_producer_destroy(p); }
};

int fail(const rf_errbuf_t &eb)
{
    std::fprintf(stderr, "emit_purchase_cpp: %s\n", eb.msg);
    return 1;
}

} // namespace

int main(int argc, char **argv)
{
    rf_errbuf_t eb{};
    std::unique_ptr<rf_broker_t, broker_stop> broker;
    std::string brokers = argc > 1 ? argv[1] : "";
    if (brokers.empty()) {
        broker.reset(rf_broker_start(4, 1, &eb));
        if (!broker) return fail(eb);
        brokers = rf_broker_bootstraps(broker.get());
    }

    int delivered = 0;
    rf_producer_conf_t conf;
    rf_producer_conf_init(&conf);
    conf.kafka.brokers = brokers.c_str();
    conf.opaque = &delivered;
    conf.on_delivery = [](const rf_delivery_t *d, void *opaque) {
        if (d->err == RF_OK) ++*static_cast<int *>(opaque);
        std::printf("%s %s: partition %d offset %lld\n", d->err == RF_OK ? "delivered" : "failed",
                    d->event_id, int(d->partition), static_cast<long long>(d->offset));
    };
    std::unique_ptr<rf_producer_t, producer_destroy> producer(rf_producer_new(&conf, &eb));
    if (!producer) return fail(eb);

    std::unique_ptr<rf_event_t> ev(new rf_event_t()); // about 18 KiB: on the heap
    if (rf_event_signup(ev.get(), "spring", "user-9", "ALICE10", "visitor-3", &eb) != RF_OK)
        return fail(eb);
    if (rf_pii_hash_email("app-secret", " User9@Example.com", ev->email_hash, &eb) != RF_OK)
        return fail(eb);
    if (rf_producer_emit(producer.get(), ev.get(), nullptr, &eb) != RF_OK) return fail(eb);

    if (rf_event_purchase(ev.get(), "spring", "order-17", "user-9", 4599, "USD", "ALICE10", &eb) !=
        RF_OK)
        return fail(eb);
    if (rf_producer_emit(producer.get(), ev.get(), nullptr, &eb) != RF_OK) return fail(eb);
    if (rf_producer_flush(producer.get(), 10000, &eb) != RF_OK) return fail(eb);

    rf_producer_stats_t st;
    rf_producer_stats(producer.get(), &st);
    std::printf("emitted %llu, delivered %llu\n", static_cast<unsigned long long>(st.emitted),
                static_cast<unsigned long long>(st.delivered));
    return delivered == 2 && st.delivered == 2 ? 0 : 1;
}
