// tests/interop/wh_receiver.mjs: a webhook receiver for tests/it_webhooks.c
// and tests/bench/bench_webhooks.c that verifies every request with npm's
// standardwebhooks (the reference implementation of the specification, not
// refold's code), deduplicates by webhook-id and misbehaves on purpose.
//   node wh_receiver.mjs --modules DIR --secret whsec_... --port N --port-file F
//        --log F [--fail-rate 0.2] [--hang-rate 0.05] [--hang-ms 3000] [--quiet-log]
// Every path verifies with the one secret. Accepted (verified, first time
// seen on that path): a line "path id" appended to --log before the 2xx.
// Refused signatures: a line "path id reason" in --log + ".rejected", 401.
// Paths starting with /gone answer 410 Gone (after verifying).
import { createRequire } from 'node:module';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const require = createRequire(path.join(args.modules, 'node_modules', 'x.js'));
const { Webhook } = require('standardwebhooks');
// the library takes the base64 key without the whsec_ prefix
const wh = new Webhook(args.secret.replace(/^whsec_/, ''));
const failRate = Number(args['fail-rate'] || 0), hangRate = Number(args['hang-rate'] || 0);
const hangMs = Number(args['hang-ms'] || 3000);
const log = args.log, rejLog = log + '.rejected';
const seen = new Set();
if (fs.existsSync(log)) for (const l of fs.readFileSync(log, 'utf8').split('\n')) if (l) seen.add(l);
const logFd = fs.openSync(log, 'a'), rejFd = fs.openSync(rejLog, 'a');
let accepted = 0, dups = 0, refused = 0;

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    const id = req.headers['webhook-id'] || '-';
    let payload;
    try {
      payload = wh.verify(body, req.headers);
    } catch (e) {
      refused++;
      fs.writeSync(rejFd, `${req.url} ${id} ${String(e.message).replace(/\s+/g, '_')}\n`);
      res.writeHead(401).end('bad signature');
      return;
    }
    const want = `msg_${payload.ledger.partition}_${payload.ledger.seq}`;
    if (id !== want) {
      fs.writeSync(rejFd, `${req.url} ${id} id_does_not_match_${want}\n`);
      res.writeHead(400).end('id mismatch');
      return;
    }
    if (req.url.startsWith('/gone')) { res.writeHead(410).end('gone'); return; } // verified, then 410
    const r = Math.random();
    if (r < hangRate) { setTimeout(() => res.destroy(), hangMs); return; } // the relay times out
    if (r < hangRate + failRate) { res.writeHead(500).end('injected failure'); return; }
    const line = `${req.url} ${id}`;
    if (seen.has(line)) { dups++; res.writeHead(200).end('duplicate'); return; }
    seen.add(line);
    fs.writeSync(logFd, line + '\n'); // before the 2xx: a kill after it loses nothing
    accepted++;
    res.writeHead(204).end();
  });
});
server.keepAliveTimeout = 30000;
server.listen(Number(args.port || 0), '127.0.0.1', () => {
  if (args['port-file']) fs.writeFileSync(args['port-file'] + '.tmp', String(server.address().port));
  if (args['port-file']) fs.renameSync(args['port-file'] + '.tmp', args['port-file']);
});
process.on('SIGTERM', () => {
  process.stderr.write(`receiver: accepted ${accepted}, duplicates ${dups}, refused ${refused}\n`);
  process.exit(0);
});
