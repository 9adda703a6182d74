/**
 * A bounded fuzz of the server over real sockets: 150 seeded requests with malformed bodies,
 * wrong or missing content types, flipped bits in images, truncated uploads (a Content-Length
 * larger than what is sent), non-HTTP bytes, deeply nested JSON and slow clients that trickle
 * their headers. No answer may be a 500, nothing may crash the process, and afterwards the
 * server still classifies.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import '../runtime/engine-node.js';
import { Classifier } from '../infer/classifier.js';
import { GoogLeNet } from '../models/model.js';
import { Rng } from '../rng.js';
import { createServer, type ModelServer } from './server-node.js';

let server: ModelServer;
let port: number;
let png: Buffer;

before(async () => {
  const classifier = new Classifier(new GoogLeNet({ preset: 'cifar', width: 0.25, numClasses: 10 }, { seed: 9 }));
  server = await createServer(classifier, { maxBatch: 4, maxDelayMs: 1, maxBody: 64 * 1024, maxPixels: 500_000, requestTimeoutMs: 2000 });
  const url = await server.listen({ port: 0, host: '127.0.0.1' });
  port = Number(new URL(url).port);
  png = await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 10, g: 200, b: 60 } } })
    .png()
    .toBuffer();
});
after(async () => {
  await server.close();
  await server.app.close();
});

/** Writes `data` on a fresh connection (optionally in slow pieces) and returns what comes back within `waitMs`. */
function raw(data: Buffer, { waitMs = 1500, trickleMs = 0 } = {}): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    const finish = () => {
      s.destroy();
      resolve(got);
    };
    s.on('data', (d) => (got += d.toString('latin1')));
    s.on('error', finish);
    s.on('close', finish);
    s.on('connect', async () => {
      if (!trickleMs) s.write(data);
      else
        for (let i = 0; i < data.length && !s.destroyed; i += 7, await new Promise((r) => setTimeout(r, trickleMs)))
          s.write(data.subarray(i, i + 7));
      setTimeout(finish, waitMs);
    });
  });
}

const PATHS = [
  '/v1/classify',
  '/v1/classify?top_k=3',
  '/v1/classify?top_k=-1',
  '/v2/models/googlenet/infer',
  '/v2/models/x/infer',
  '/metrics',
  '/v2/health/ready',
  '/%%%',
  '/v1/classify?top_k=1e9',
];
const TYPES = [
  'image/png',
  'image/jpeg',
  'image/webp',
  'application/json',
  'multipart/form-data; boundary=abc',
  'multipart/form-data',
  'text/plain',
  '',
  'x/\u0000y',
];

function body(rng: Rng): Buffer {
  switch (rng.int(7)) {
    case 0:
      return Buffer.from(Array.from({ length: rng.int(2000) }, () => rng.int(256)));
    case 1: {
      const b = Buffer.from(png); // flipped bits
      for (let i = 0; i < 8; i++) {
        const at = rng.int(b.length);
        b[at] = b[at]! ^ (1 << rng.int(8));
      }
      return b;
    }
    case 2:
      return png.subarray(0, rng.int(png.length));
    case 3:
      return Buffer.from('['.repeat(20000 + rng.int(1000)));
    case 4:
      return Buffer.from(JSON.stringify({ inputs: [{ datatype: 'FP32', shape: [1, 3, 32, 32], data: [[[[[[1]]]]]] }] }));
    case 5:
      return Buffer.from(
        `--abc\r\nContent-Disposition: form-data; name="f"; filename="a"\r\n\r\n${png.subarray(0, 50).toString('latin1')}`,
        'latin1',
      );
    default:
      return Buffer.from('{"inputs": [{"data": "');
  }
}

function request(rng: Rng): Buffer {
  const method = ['POST', 'POST', 'GET', 'PUT', 'BOGUS'][rng.int(5)]!;
  const b = body(rng);
  const type = TYPES[rng.int(TYPES.length)]!;
  const length = rng.int(4) === 0 ? b.length + 1 + rng.int(5000) : b.length; // a truncated upload
  const head = `${method} ${PATHS[rng.int(PATHS.length)]} HTTP/1.1\r\nHost: x\r\n${type ? `Content-Type: ${type}\r\n` : ''}Content-Length: ${length}\r\n\r\n`;
  return rng.int(15) === 0 ? Buffer.from(Array.from({ length: 100 }, () => rng.int(256))) : Buffer.concat([Buffer.from(head, 'latin1'), b]);
}

test('150 malformed, truncated and slow requests: no 500s, no crash, and the server still answers', async () => {
  const rng = new Rng(13);
  const slow = [0, 1, 2].map(() =>
    raw(Buffer.from(`POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n`), { trickleMs: 40, waitMs: 500 }),
  );
  const answers: string[] = [];
  for (let i = 0; i < 150; i += 10)
    answers.push(...(await Promise.all(Array.from({ length: 10 }, () => raw(request(rng), { waitMs: 400 })))));
  await Promise.all(slow);
  const statuses = answers.map((a) => /^HTTP\/1\.1 (\d{3})/.exec(a)?.[1] ?? 'none');
  assert.ok(!statuses.includes('500'), `500 answers: ${answers.filter((a) => a.startsWith('HTTP/1.1 500')).join('\n---\n')}`);
  assert.ok(statuses.filter((s) => s !== 'none').length > 100, statuses.join(','));
  const live = await fetch(`http://127.0.0.1:${port}/v2/health/live`);
  assert.equal(live.status, 200);
  const r = await fetch(`http://127.0.0.1:${port}/v1/classify`, {
    method: 'POST',
    headers: { 'content-type': 'image/png' },
    body: new Uint8Array(png),
  });
  assert.equal(r.status, 200);
  assert.equal(server.batcher.depth, 0);
});
