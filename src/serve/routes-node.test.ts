/**
 * The routes as a plugin in a fastify app of the user's own, under a prefix: they answer there
 * and nowhere else, their parsers and error handler stay inside the plugin (the app's own routes
 * keep fastify's behaviour), and closing the app drains their batcher.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import sharp from 'sharp';
import '../runtime/engine-node.js';
import { ClosedError, OptionError } from '../errors.js';
import { Classifier, topK } from '../infer/classifier.js';
import { decodeImageBuffer } from '../image/decode-node.js';
import { GoogLeNet } from '../models/model.js';
import { modelRoutes, type ModelRoutes } from './routes-node.js';

let classifier: Classifier;
let app: FastifyInstance;
let routes: ModelRoutes;
let png: Buffer;

before(async () => {
  classifier = new Classifier(new GoogLeNet({ preset: 'cifar', width: 0.25, numClasses: 10 }, { seed: 3 }));
  png = await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 10, g: 200, b: 60 } } })
    .png()
    .toBuffer();
  app = Fastify();
  app.get('/hello', async () => ({ hello: 'world' }));
  app.post('/echo', async (req) => ({ got: req.body }));
  app.get('/boom', async () => {
    throw Object.assign(new Error('the app’s own failure'), { statusCode: 418 });
  });
  routes = modelRoutes(classifier, { name: 'tiny', maxBatch: 2, maxDelayMs: 1 });
  await app.register(routes, { prefix: '/ml' });
});
after(async () => {
  await app.close();
  await classifier.dispose();
});

test('under its prefix: classify, KServe v2 and /metrics answer there, and not at the root', async () => {
  const want = topK((await classifier.model.forward(classifier.toInput(await decodeImageBuffer(png, 'x')))).logits, 2)[0]!;
  const r = await app.inject({ method: 'POST', url: '/ml/v1/classify?top_k=2', headers: { 'content-type': 'image/png' }, payload: png });
  assert.equal(r.statusCode, 200, r.body);
  const j = r.json<{ top: { index: number }[]; model: string }>();
  assert.equal(j.model, 'tiny');
  assert.deepEqual(
    j.top.map((t) => t.index),
    want.map((t) => t.index),
  );
  assert.equal((await app.inject({ method: 'GET', url: '/ml/v2/models/tiny' })).statusCode, 200);
  assert.equal((await app.inject({ method: 'GET', url: '/ml/v2/health/ready' })).statusCode, 200);
  assert.equal(
    (await app.inject({ method: 'POST', url: '/v1/classify', headers: { 'content-type': 'image/png' }, payload: png })).statusCode,
    404,
  );
  const metrics = (await app.inject({ method: 'GET', url: '/ml/metrics' })).body;
  assert.match(metrics, /googlenet_http_requests_total\{route="\/ml\/v1\/classify",method="POST",status="200"\} 1/);
  assert.equal(routes.batcher.maxBatch, 2);
});

test('failures are one line from the route’s JSON schema, under the prefix too', async () => {
  const infer = (body: unknown, name = 'tiny') =>
    app.inject({ method: 'POST', url: `/ml/v2/models/${name}/infer`, payload: body as object });
  const cases: [Promise<{ statusCode: number; body: string }>, number, string][] = [
    [
      app.inject({ method: 'POST', url: '/ml/v1/classify?top_k=11', headers: { 'content-type': 'image/png' }, payload: png }),
      400,
      'top_k must be an integer from 1 to 10, received "11"',
    ],
    [infer({ inputs: [{ shape: [1, 3, 32, 32], datatype: 'FP16', data: [] }] }), 400, 'infer: datatype must be "FP32", received "FP16"'],
    [
      infer({ inputs: [{ shape: [1, 3, 8, 8], datatype: 'FP32', data: [] }] }),
      400,
      'infer: shape must be [N, 3, 32, 32], received [1, 3, 8, 8]',
    ],
    [
      infer({ inputs: [{ shape: [3, 3, 32, 32], datatype: 'FP32', data: [] }] }),
      400,
      'infer: batch dimension 3: expected 1 to 2 (--max-batch)',
    ],
    [infer({ inputs: [1, 2] }), 400, 'infer: "inputs" must be an array of one tensor, received [1, 2]'],
    [infer({ inputs: [7] }), 400, 'infer: inputs[0] must be an object, received number 7'],
    [infer({}, 'other'), 404, 'no model named "other"; this server has "tiny"'],
    [
      app.inject({ method: 'POST', url: '/ml/v2/models/tiny/infer', headers: { 'content-type': 'image/png' }, payload: png }),
      415,
      'infer: send the tensors as application/json, received image/png',
    ],
  ];
  for (const [p, status, error] of cases) {
    const r = await p;
    assert.equal(r.statusCode, status, r.body);
    assert.deepEqual(JSON.parse(r.body), { error });
  }
});

test('the app’s own routes keep fastify’s parsers and error answers: nothing of the plugin leaks out', async () => {
  assert.deepEqual((await app.inject({ method: 'GET', url: '/hello' })).json(), { hello: 'world' });
  const boom = await app.inject({ method: 'GET', url: '/boom' });
  assert.equal(boom.statusCode, 418);
  assert.equal(boom.json<{ message: string }>().message, 'the app’s own failure');
  // The plugin's image parser is its own: the app still refuses image bodies it has no parser for.
  const echo = await app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'image/png' }, payload: png });
  assert.equal(echo.statusCode, 415);
});

test('bad options are OptionErrors naming them; closing the app drains and closes the batcher', async () => {
  assert.throws(
    () => modelRoutes(classifier, { maxBody: 0 }),
    (e: unknown) => e instanceof OptionError && e.option === 'maxBody' && /maxBody: expected an integer ≥ 1, received 0/.test(e.message),
  );
  assert.throws(
    () => modelRoutes(classifier, { name: '' }),
    (e: unknown) => e instanceof OptionError && e.option === 'name',
  );
  const own = Fastify();
  const r = modelRoutes(classifier, { maxBatch: 1 });
  await own.register(r);
  await own.close();
  await assert.rejects(r.batcher.submit({ dims: [1, 3, 32, 32], data: new Float32Array(3 * 32 * 32) }), ClosedError);
});
