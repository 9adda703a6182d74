/**
 * The model server through fastify's `inject` (no sockets): every endpoint's answer, each error
 * status with its reason, batching and metrics, against a small random model whose outputs we
 * also compute directly. Overload, timeouts and graceful close use a slow stand-in model.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import '../runtime/engine-node.js';
import { Classifier, topK } from '../infer/classifier.js';
import { decodeImageBuffer } from '../image/decode-node.js';
import { GoogLeNet } from '../models/model.js';
import type { Tensor } from '../tensor.js';
import { createServer, type ModelServer, type ServeOptions } from './server-node.js';

let classifier: Classifier;
let server: ModelServer;
let png: Buffer;

async function image(w: number, h: number, format: 'png' | 'jpeg' | 'webp' = 'png'): Promise<Buffer> {
  const px = Buffer.alloc(w * h * 3);
  for (let i = 0; i < px.length; i++) px[i] = (i * 7) & 255;
  return sharp(px, { raw: { width: w, height: h, channels: 3 } })
    .toFormat(format)
    .toBuffer();
}

function multipart(bytes: Buffer, type = 'image/png'): { body: Buffer; type: string } {
  const b = 'XyZboundary';
  const head = `--${b}\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: ${type}\r\n\r\n`;
  return { body: Buffer.concat([Buffer.from(head), bytes, Buffer.from(`\r\n--${b}--\r\n`)]), type: `multipart/form-data; boundary=${b}` };
}

before(async () => {
  const model = new GoogLeNet({ preset: 'cifar', width: 0.25, numClasses: 10 }, { seed: 5 });
  model.labels = Array.from({ length: 10 }, (_, i) => `class${i}`);
  classifier = new Classifier(model);
  server = await createServer(classifier, { name: 'tiny', maxBatch: 4, maxDelayMs: 2, maxBody: 100_000, maxPixels: 1_000_000 });
  png = await image(40, 36);
});
after(async () => {
  await server.close();
  await classifier.dispose();
});

test('POST /v1/classify: raw PNG, JPEG, WebP and multipart give the model top-k', async () => {
  const want = topK(
    (await classifier.model.forward(classifier.toInput(await decodeImageBuffer(png, 'x')))).logits,
    3,
    classifier.model.labels,
  )[0]!;
  const r = await server.app.inject({
    method: 'POST',
    url: '/v1/classify?top_k=3',
    headers: { 'content-type': 'image/png' },
    payload: png,
  });
  assert.equal(r.statusCode, 200, r.body);
  const j = r.json<{ top: { index: number; label: string; probability: number }[]; model: string; ms: number }>();
  assert.equal(j.model, 'tiny');
  assert.equal(j.top.length, 3);
  assert.deepEqual(
    j.top.map((t) => [t.index, t.label]),
    want.map((t) => [t.index, t.label]),
  );
  j.top.forEach((t, i) => assert.ok(Math.abs(t.probability - want[i]!.probability) < 1e-5));
  assert.ok(j.ms >= 0);
  for (const f of ['jpeg', 'webp'] as const) {
    const s = await server.app.inject({
      method: 'POST',
      url: '/v1/classify',
      headers: { 'content-type': `image/${f}` },
      payload: await image(30, 30, f),
    });
    assert.equal(s.statusCode, 200, s.body);
    assert.equal(s.json<{ top: unknown[] }>().top.length, 5);
  }
  const mp = multipart(png);
  const m = await server.app.inject({
    method: 'POST',
    url: '/v1/classify?top_k=3',
    headers: { 'content-type': mp.type },
    payload: mp.body,
  });
  assert.equal(m.statusCode, 200, m.body);
  assert.deepEqual(m.json<{ top: unknown[] }>().top, j.top);
});

test('/v1/classify errors: 415 type, 413 size, 400 undecodable, huge-pixel and bad top_k, each with its reason', async () => {
  const post = (payload: Buffer | string, type: string, url = '/v1/classify') =>
    server.app.inject({ method: 'POST', url, headers: { 'content-type': type }, payload });
  const cases: [Promise<{ statusCode: number; body: string }>, number, RegExp][] = [
    [post('hello', 'text/plain'), 415, /image\/jpeg, image\/png, image\/webp/],
    [post('{"a":1}', 'application/json'), 415, /multipart/],
    [post(png, 'image/gif'), 415, /Unsupported Media Type/i],
    [post(Buffer.alloc(200_000, 1), 'image/png'), 413, /too large/i],
    [post(multipart(Buffer.alloc(150_000, 1)).body, multipart(png).type), 413, /too large/i],
    [post(Buffer.from('not a png at all'), 'image/png'), 400, /not a decodable image/],
    [post(Buffer.alloc(0), 'image/png'), 400, /empty file/],
    [post(png.subarray(0, 60), 'image/png'), 400, /not a decodable image/],
    [post(await image(1200, 1000), 'image/png'), 400, /pixel limit/],
    [post(png, 'image/png', '/v1/classify?top_k=0'), 400, /top_k must be an integer from 1 to 10, received "0"/],
    [post(png, 'image/png', '/v1/classify?top_k=11'), 400, /top_k/],
    [post('--XyZboundary--\r\n', multipart(png).type), 400, /no file/],
    [post('x', 'multipart/form-data'), 400, /a malformed multipart form \(Multipart: Boundary not found\)/],
  ];
  for (const [p, status, reason] of cases) {
    const r = await p;
    assert.equal(r.statusCode, status, r.body);
    assert.match(JSON.parse(r.body).error as string, reason);
  }
});

test('KServe v2: health, metadata, infer with a batch dimension equal to the model, and its errors', async () => {
  const get = (url: string) => server.app.inject({ method: 'GET', url });
  assert.equal((await get('/v2/health/live')).statusCode, 200);
  assert.equal((await get('/v2/health/ready')).statusCode, 200);
  assert.equal((await get('/v2/models/tiny/ready')).statusCode, 200);
  assert.deepEqual((await get('/v2/models/tiny')).json<{ inputs: unknown }>().inputs, [
    { name: 'input', datatype: 'FP32', shape: [-1, 3, 32, 32] },
  ]);
  assert.equal((await get('/v2/models/other')).statusCode, 404);
  const data = Array.from({ length: 2 * 3 * 32 * 32 }, (_, i) => Math.round(Math.sin(i) * 100) / 100);
  const want = (await classifier.model.forward({ dims: [2, 3, 32, 32], data: Float32Array.from(data) })).logits;
  const infer = (body: unknown, name = 'tiny') =>
    server.app.inject({ method: 'POST', url: `/v2/models/${name}/infer`, payload: body as object });
  const r = await infer({ id: 'q1', inputs: [{ name: 'input', shape: [2, 3, 32, 32], datatype: 'FP32', data }] });
  assert.equal(r.statusCode, 200, r.body);
  const out = r.json<{ id: string; model_name: string; outputs: { name: string; shape: number[]; data: number[] }[] }>();
  assert.equal(out.id, 'q1');
  assert.deepEqual(out.outputs[0]!.shape, [2, 10]);
  out.outputs[0]!.data.forEach((v, i) => assert.ok(Math.abs(v - want.data[i]!) < 1e-5));
  const bad: [unknown, RegExp][] = [
    [[], /JSON object/],
    [{ inputs: [] }, /array of one tensor/],
    [{ inputs: [{ shape: [1, 3, 32, 32], datatype: 'INT8', data: [] }] }, /FP32/],
    [{ inputs: [{ shape: [1, 3, 16, 16], datatype: 'FP32', data: [] }] }, /shape must be \[N, 3, 32, 32\], received \[1, 3, 16, 16\]/],
    [{ inputs: [{ shape: [5, 3, 32, 32], datatype: 'FP32', data: [] }] }, /batch dimension 5: expected 1 to 4/],
    [{ inputs: [{ shape: [1, 3, 32, 32], datatype: 'FP32', data: [1, 2] }] }, /needs 3072 values, data holds 2/],
    [{ inputs: [{ shape: [1, 3, 32, 32], datatype: 'FP32', data: ['x'] }] }, /must be numbers/],
  ];
  for (const [body, reason] of bad) {
    const s = await infer(body);
    assert.equal(s.statusCode, 400, s.body);
    assert.match(s.json<{ error: string }>().error, reason);
  }
  const malformed = await server.app.inject({
    method: 'POST',
    url: '/v2/models/tiny/infer',
    headers: { 'content-type': 'application/json' },
    payload: '{"inputs": [',
  });
  assert.equal(malformed.statusCode, 400);
  assert.equal((await infer({}, 'nope')).statusCode, 404);
});

test('GET /metrics: requests by route and status, latency and batch-size histograms, queue depth', async () => {
  await server.app.inject({ method: 'POST', url: '/v1/classify', headers: { 'content-type': 'image/png' }, payload: png });
  const text = (await server.app.inject({ method: 'GET', url: '/metrics' })).body;
  assert.match(text, /googlenet_http_requests_total\{route="\/v1\/classify",method="POST",status="200"\} \d+/);
  assert.match(text, /googlenet_http_requests_total\{route="\/v1\/classify",method="POST",status="415"\} \d+/);
  assert.match(text, /googlenet_http_request_duration_seconds_bucket\{le="0.5",route="\/v1\/classify"\}/);
  assert.match(text, /googlenet_batch_size_bucket\{le="4"\} \d+/);
  assert.match(text, /googlenet_queue_depth 0/);
});

/** A server on a stand-in model whose every call takes `ms`. */
async function slowServer(ms: number, o: ServeOptions, onForward?: () => void): Promise<ModelServer> {
  const model = {
    config: { inChannels: 3, inputSize: 2, numClasses: 2 },
    forward: async (x: Tensor) => {
      onForward?.();
      await new Promise((r) => setTimeout(r, ms));
      return { logits: { dims: [x.dims[0]!, 2], data: new Float32Array(2 * x.dims[0]!) } };
    },
  };
  return createServer({ model } as unknown as Classifier, o);
}
const tensorBody = { inputs: [{ name: 'input', shape: [1, 3, 2, 2], datatype: 'FP32', data: new Array(12).fill(0) }] };

test('overload: a full queue answers 503 with Retry-After, a long wait 504, and the server keeps answering', async () => {
  const s = await slowServer(40, { maxBatch: 2, maxDelayMs: 1, maxQueue: 4, timeoutMs: 10_000 });
  const rs = await Promise.all(
    Array.from({ length: 30 }, () => s.app.inject({ method: 'POST', url: '/v2/models/googlenet/infer', payload: tensorBody })),
  );
  const codes = rs.map((r) => r.statusCode);
  assert.ok(
    codes.every((c) => c === 200 || c === 503),
    codes.join(','),
  );
  assert.ok(codes.includes(503) && codes.includes(200), codes.join(','));
  assert.equal(rs.find((r) => r.statusCode === 503)!.headers['retry-after'], '1');
  assert.equal((await s.app.inject({ method: 'POST', url: '/v2/models/googlenet/infer', payload: tensorBody })).statusCode, 200);
  await s.close();
  const t = await slowServer(80, { maxBatch: 1, maxDelayMs: 0, timeoutMs: 20 });
  const [a, b] = await Promise.all(
    [0, 1].map(() => t.app.inject({ method: 'POST', url: '/v2/models/googlenet/infer', payload: tensorBody })),
  );
  assert.equal(a!.statusCode, 200);
  assert.equal(b!.statusCode, 504);
  assert.match(b!.json<{ error: string }>().error, /waited 20 ms/);
  await t.close();
});

test('close(): requests in flight finish with 200, then the server is not ready and takes no more', async () => {
  let onForward: (() => void) | undefined; // set after the server's own warm-up forward
  const s = await slowServer(60, { maxBatch: 4, maxDelayMs: 1 }, () => onForward?.());
  const inModel = new Promise<void>((r) => (onForward = r));
  const url = await s.listen({ port: 0, host: '127.0.0.1' });
  const inflight = fetch(`${url}/v2/models/googlenet/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(tensorBody),
  });
  await inModel; // the request is running in the model, not merely on its way (a fixed wait raced on a loaded CI machine)
  const closing = s.close();
  const r = await inflight;
  assert.equal(r.status, 200);
  await closing;
  await assert.rejects(fetch(`${url}/v2/health/live`));
});
