// tests/interop/kafkajs_registry.js: a Node producer as a shop would write one
// (kafkajs + @kafkajs/confluent-schema-registry from npm, nothing of refold's)
// against `refold broker --registry`: looks refold's schema up in the
// registry, encodes a referral funnel with it and produces it keyed by
// program id; also one message framed with a foreign registry's id 1 and one
// with a byte left over after the value. Prints one JSON line per finding;
// exits non-zero on any failure. Run by tests/it_registry.c.
//
// env: REFOLD_BROKERS, REFOLD_REGISTRY (http://host:port), REFOLD_SCHEMA_FILE
// (schemas/event.avsc), REFOLD_PROGRAM, REFOLD_T0 (event time of the first
// event, ms), REFOLD_FOREIGN_ID (the id of the foreign-framed message; 1)
'use strict'
const fs = require('fs')
const crypto = require('crypto')
const { Kafka, logLevel } = require('kafkajs')
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry')

const env = (k) => {
  const v = process.env[k]
  if (!v) throw new Error(`${k} is not set`)
  return v
}
const say = (o) => console.log(JSON.stringify(o))

async function main() {
  const program = env('REFOLD_PROGRAM')
  const t0 = Number(env('REFOLD_T0'))
  const subject = 'refold.events-value' // TopicNameStrategy of refold.events
  // body is a union of records: avsc wants each value wrapped in its branch name
  const registry = new SchemaRegistry({ host: env('REFOLD_REGISTRY') },
                                      { [SchemaType.AVRO]: { wrapUnions: true } })

  const latest = await registry.getLatestSchemaId(subject) // GET .../versions/latest
  const avsc = fs.readFileSync(env('REFOLD_SCHEMA_FILE'), 'utf8')
  const looked = await registry.getRegistryIdBySchema(subject, // POST /subjects/{s}
                                                      { type: SchemaType.AVRO, schema: avsc })
  const registered = await registry.register({ type: SchemaType.AVRO, schema: avsc }, { subject })
  say({ latest, looked, registered: registered.id })
  let refused = null
  try {
    await registry.register({ type: SchemaType.AVRO,
                              schema: '{"type":"record","name":"Foreign","fields":[]}' },
                            { subject })
  } catch (e) {
    refused = { status: e.status, message: e.message }
  }
  say({ refused })

  const ev = (dt, branch, body) => ({
    event_id: crypto.randomUUID(), program_id: program, occurred_at: t0 + dt,
    source: 'kafkajs', body: { [`refold.${branch}`]: body },
  })
  const funnel = [
    ev(0, 'CodeIssued', { referrer: 'r1', code: 'KJS1' }),
    ev(1000, 'Share', { referrer: 'r1', channel: 'email' }),
    ev(2000, 'Click', { code: 'KJS1', visitor: 'v1', ip_hash: '', agent_hash: '' }),
    ev(60000, 'Signup', { user: 'u1', code: 'KJS1', visitor: 'v1', email_hash: '',
                          device_hash: '', ip_hash: '' }),
    ev(120000, 'Purchase', { order_id: 'o1', user: 'u1', amount_minor: 5000, currency: 'USD',
                             code: '', payment_hash: '' }),
  ]
  const values = []
  for (const e of funnel) values.push(await registry.encode(latest, e)) // GET /schemas/ids/{id}
  const share = await registry.encode(latest, ev(3000, 'Share', { referrer: 'r2', channel: 'sms' }))
  const foreignId = Buffer.alloc(4)
  foreignId.writeUInt32BE(Number(process.env.REFOLD_FOREIGN_ID || 1))
  const foreign = Buffer.concat([Buffer.from([0]), foreignId, share.subarray(5)])
  const share2 = await registry.encode(latest, ev(4000, 'Share', { referrer: 'r3', channel: 'x' }))
  const trailing = Buffer.concat([share2, Buffer.from([0])])
  values.push(foreign, trailing)

  // idempotent: false: the embedded broker (librdkafka 2.0.2's mock) reports
  // controller id 0, which is none of its brokers, and kafkajs asks the
  // controller for a producer id (docs/schema-registry.md); one request in
  // flight keeps a partition's order without it
  const kafka = new Kafka({ clientId: 'refold-interop', brokers: env('REFOLD_BROKERS').split(','),
                            logLevel: logLevel.NOTHING })
  const producer = kafka.producer({ idempotent: false, maxInFlightRequests: 1,
                                    allowAutoTopicCreation: false })
  await producer.connect()
  const res = await producer.send({ topic: 'refold.events', acks: -1,
                                    messages: values.map((value) => ({ key: program, value })) })
  await producer.disconnect()
  say({ sent: values.length, partition: res[0].partition })
}

main().catch((e) => {
  console.error(`kafkajs_registry: ${e.stack || e}`)
  process.exit(1)
})
