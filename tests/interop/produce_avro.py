#!/usr/bin/python3
# tests/interop/produce_avro.py: the Python example of docs/producing.md, as
# a shop would run it with Debian 12's packages only (python3-confluent-kafka
# 1.7, python3-avro 1.11, python3-requests; no fastavro): looks refold's event
# schema up in a Confluent-compatible registry, encodes a referral funnel and
# a Clock with python3-avro and produces it keyed by program id.
# Run by tests/it_python.c:
#   produce_avro.py BROKERS REGISTRY_URL PROGRAM T0_MS
import datetime
import io
import struct
import sys
import uuid

import avro.io
import avro.schema
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient


def encode(schema, schema_id, program, at_ms, branch, body):
    """Confluent frame + Avro binary of one refold.Event.

    python3-avro 1.11 picks the last union branch whose schema validates the
    value, and Clock (no fields) validates every dict: writing the body
    through the union would make every event a Clock. So the envelope fields
    are written one by one and the body's branch is chosen by name."""
    buf = io.BytesIO()
    buf.write(b"\x00" + struct.pack(">I", schema_id))
    enc = avro.io.BinaryEncoder(buf)
    w = avro.io.DatumWriter(schema)
    envelope = {
        "event_id": str(uuid.uuid4()),
        "program_id": program,
        # occurred_at is a timestamp-millis: python3-avro wants a datetime
        "occurred_at": datetime.datetime.fromtimestamp(at_ms / 1000, tz=datetime.timezone.utc),
        "source": "python",
        # app events are not signed (privileged ones need an operator key)
        "auth_key_id": "",
        "auth_signature": "",
    }
    for f in schema.fields:
        if f.name != "body":
            w.write_data(f.type, envelope.get(f.name, f.default), enc)
    branches = next(f for f in schema.fields if f.name == "body").type.schemas
    i = [b.name for b in branches].index(branch)
    enc.write_long(i)
    w.write_data(branches[i], body, enc)
    return buf.getvalue()


def main():
    brokers, registry, program, t0 = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    latest = SchemaRegistryClient({"url": registry}).get_latest_version("refold.events-value")
    schema = avro.schema.parse(latest.schema.schema_str)
    # murmur2_random: the partitioner of Kafka's Java client, which refold's
    # tools use; librdkafka's default (consistent_random) would put a program
    # in another partition than `refold program apply` did
    p = Producer({"bootstrap.servers": brokers, "partitioner": "murmur2_random",
                  "enable.idempotence": True, "acks": "all"})
    funnel = [
        (0, "CodeIssued", {"referrer": "alice", "code": "PY10"}),
        (1000, "Click", {"code": "PY10", "visitor": "v-1", "ip_hash": "", "agent_hash": ""}),
        (60000, "Signup", {"user": "bob", "code": "PY10", "visitor": "v-1", "email_hash": "",
                           "device_hash": "", "ip_hash": ""}),
        (120000, "Purchase", {"order_id": "o-1", "user": "bob", "amount_minor": 4999,
                              "currency": "USD", "code": "", "payment_hash": ""}),
        (180000, "Clock", {}),
    ]
    failed = []
    for dt, branch, body in funnel:
        value = encode(schema, latest.schema_id, program, t0 + dt, branch, body)
        p.produce("refold.events", key=program.encode(), value=value,
                  on_delivery=lambda err, msg: err and failed.append(str(err)))
    if p.flush(30) != 0 or failed:
        sys.exit("produce_avro: not delivered: %s" % (failed or "timeout"))
    print("sent %d events with schema id %d" % (len(funnel), latest.schema_id))


if __name__ == "__main__":
    main()
