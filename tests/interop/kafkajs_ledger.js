// tests/interop/kafkajs_ledger.js: reads refold.ledger with kafkajs (no
// compression plugin: the outbox's default gzip is what it reads natively)
// and decodes each record through refold's registry; prints one JSON line
// {"records": N, "kinds": {...}} once REFOLD_WANT records were read.
// env: REFOLD_BROKERS, REFOLD_REGISTRY, REFOLD_WANT. Run by tests/it_registry.c.
'use strict'
const { Kafka, logLevel } = require('kafkajs')
const { SchemaRegistry } = require('@kafkajs/confluent-schema-registry')

async function main() {
  const want = Number(process.env.REFOLD_WANT)
  const registry = new SchemaRegistry({ host: process.env.REFOLD_REGISTRY })
  const kafka = new Kafka({ clientId: 'refold-interop', brokers: process.env.REFOLD_BROKERS.split(','),
                            logLevel: logLevel.NOTHING })
  const consumer = kafka.consumer({ groupId: `interop-${process.pid}` })
  await consumer.connect()
  await consumer.subscribe({ topic: 'refold.ledger', fromBeginning: true })
  const kinds = {}
  let n = 0
  const done = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${n} of ${want} records in 60 s`)), 60000)
    consumer.run({
      eachMessage: async ({ message }) => {
        const rec = await registry.decode(message.value) // GET /schemas/ids/{id}
        kinds[rec.kind] = (kinds[rec.kind] || 0) + 1
        if (++n === want) {
          clearTimeout(timer)
          resolve()
        }
      },
    }).catch(reject)
  })
  await done
  await consumer.disconnect()
  console.log(JSON.stringify({ records: n, kinds }))
}

main().catch((e) => {
  console.error(`kafkajs_ledger: ${e.stack || e}`)
  process.exit(1)
})
