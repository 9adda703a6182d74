/**
 * `googlenet serve`'s HTTP server, on fastify: image classification (`POST /v1/classify`), the
 * Open Inference Protocol for tensors (`/v2/…`, see `kserve.ts`), Prometheus metrics
 * (`/metrics`), all through one dynamic batcher (`batcher.ts`) in front of one reused ONNX
 * Runtime session.
 *
 * Why fastify rather than `node:http`: body limits (413), content-type routing (415), multipart
 * (`@fastify/multipart`, streamed with a size cap), JSON parsing errors as 400, request timeouts
 * and a graceful `close()` that answers 503 to new requests while in-flight ones finish are all
 * maintained there; on `node:http` each would be code of ours to get right against hostile
 * clients. Its overhead per request is a few tens of microseconds, well under one model call.
 *
 * Every failure a request can cause is an answer, never a crash: 400 (bad image, bad tensor, bad
 * `top_k`), 404, 413 (body over `maxBody`), 415 (content type), 503 with `Retry-After` (queue
 * full, shutting down), 504 (waited past `timeoutMs`). The library installs no signal handler:
 * the CLI calls `close()` on SIGTERM.
 */
import multipart from '@fastify/multipart';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { ClosedError, GoogLeNetError, ImageError, OptionError, OverloadedError, TimeoutError } from '../errors.js';
import { decodeImageBuffer } from '../infer/decode-node.js';
import { topK, type Classifier } from '../infer/classifier.js';
import { Batcher, type BatcherOptions } from './batcher.js';
import { inferResponse, modelMetadata, parseInferRequest, type ServedModel } from './kserve.js';
import { createMetrics, type ServeMetrics } from './metrics-node.js';

/** Options of {@link createServer}; the batching options are {@link BatcherOptions}'. */
export interface ServeOptions extends Omit<BatcherOptions, 'onBatch'> {
  /** The model's name in `/v2/models/{name}` and in answers. Default `'googlenet'`. */
  name?: string;
  /** Largest request body in bytes (413 above it). Default 20 MiB. */
  maxBody?: number;
  /** Largest image in pixels, width × height (400 above it). Default 40 000 000. */
  maxPixels?: number;
  /** Time a client has to send a whole request, in ms (slow clients are cut off). Default 30000. */
  requestTimeoutMs?: number;
}

export const SERVE_DEFAULTS = { name: 'googlenet', maxBody: 20 * 1024 * 1024, maxPixels: 40_000_000, requestTimeoutMs: 30_000 } as const;

/** A running (or ready to listen) model server. */
export interface ModelServer {
  /** The fastify instance: `app.inject()` in tests, more routes if you like. */
  readonly app: FastifyInstance;
  readonly batcher: Batcher;
  readonly metrics: ServeMetrics;
  /** Starts listening; resolves to the address, e.g. `http://127.0.0.1:8080`. */
  listen(o: { port: number; host: string }): Promise<string>;
  /** Stops accepting, finishes what is in flight, then resolves. The model is left to the caller. */
  close(): Promise<void>;
}

/** The HTTP status and message of an error a request caused. */
function answerOf(err: unknown): { status: number; message: string } {
  if (err instanceof OverloadedError || err instanceof ClosedError) return { status: 503, message: err.message };
  if (err instanceof TimeoutError) return { status: 504, message: err.message };
  if (err instanceof ImageError || err instanceof OptionError) return { status: 400, message: err.message };
  const status = (err as FastifyError).statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) return { status, message: (err as Error).message };
  if (err instanceof GoogLeNetError) return { status: 500, message: err.message };
  return { status: 500, message: 'internal error' };
}

function parseTopK(v: unknown, numClasses: number): number {
  if (v === undefined) return 5;
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isInteger(n) || n < 1 || n > numClasses)
    throw new OptionError(`top_k must be an integer from 1 to ${numClasses}, received ${JSON.stringify(v)}`, { option: 'top_k' });
  return n;
}

/** The uploaded image's bytes: a raw body (image/jpeg|png|webp) or the first file of a multipart form. */
async function readUpload(req: FastifyRequest): Promise<Buffer | undefined> {
  if (req.isMultipart()) {
    try {
      const part = await req.file();
      if (!part) throw new OptionError('the multipart form holds no file', { option: 'file' });
      return await part.toBuffer(); // a file over the limit throws with statusCode 413
    } catch (e) {
      // busboy's own errors (no boundary, unexpected end of form) carry no status: the client's fault.
      if (e instanceof GoogLeNetError || typeof (e as FastifyError).statusCode === 'number') throw e;
      throw new OptionError(`a malformed multipart form (${(e as Error).message})`, { option: 'file' });
    }
  }
  return Buffer.isBuffer(req.body) ? req.body : undefined;
}

/** Routes of `/v1/classify` and the KServe v2 protocol. */
function addRoutes(
  app: FastifyInstance,
  classifier: Classifier,
  batcher: Batcher,
  m: ServedModel,
  o: Required<ServeOptions>,
  state: { ready: boolean; closing: boolean },
): void {
  const model = classifier.model;
  // Admission: at most a full queue plus one running batch of requests between arrival and
  // answer, so that under overload a request is refused before it costs a decode. A client that
  // goes away aborts its request, which then leaves the queue unrun.
  let admitted = 0;
  const signals = new WeakMap<FastifyRequest, AbortSignal>();
  app.addHook('onRequest', async (req, reply) => {
    if (req.method !== 'POST') return;
    if (admitted >= batcher.maxQueue + batcher.maxBatch)
      throw new OverloadedError(`the server is full (${admitted} requests in progress); try again later`);
    admitted++;
    const ac = new AbortController();
    signals.set(req, ac.signal);
    reply.raw.once('close', () => {
      admitted--;
      if (!reply.raw.writableFinished) ac.abort();
    });
  });
  const run = (req: FastifyRequest, x: Parameters<Batcher['submit']>[0]) => batcher.submit(x, signals.get(req));
  app.post('/v1/classify', async (req: FastifyRequest<{ Querystring: { top_k?: string } }>, reply: FastifyReply) => {
    const t0 = performance.now();
    const k = parseTopK(req.query.top_k, m.numClasses);
    const bytes = await readUpload(req);
    if (!bytes)
      return reply.code(415).send({
        error: `send the image as the body (image/jpeg, image/png, image/webp) or as multipart/form-data, received ${req.headers['content-type'] ?? 'no content type'}`,
      });
    const img = await decodeImageBuffer(bytes, 'the image', { maxPixels: o.maxPixels });
    const logits = await run(req, classifier.toInput(img));
    return { top: topK(logits, k, model.labels)[0]!, model: m.name, ms: Math.round((performance.now() - t0) * 100) / 100 };
  });
  app.get('/v2/health/live', async () => ({ live: true }));
  app.get('/v2/health/ready', async (_req, reply) => reply.code(state.ready ? 200 : 503).send({ ready: state.ready }));
  app.get('/v2', async () => ({ name: 'googlenet-ts', version: '1', extensions: [] }));
  const known = (req: FastifyRequest<{ Params: { name: string } }>, reply: FastifyReply): boolean => {
    if (req.params.name === m.name) return true;
    void reply.code(404).send({ error: `no model named "${req.params.name}"; this server has "${m.name}"` });
    return false;
  };
  app.get('/v2/models/:name', async (req: FastifyRequest<{ Params: { name: string } }>, reply) =>
    known(req, reply) ? modelMetadata(m) : reply,
  );
  app.get('/v2/models/:name/ready', async (req: FastifyRequest<{ Params: { name: string } }>, reply) =>
    known(req, reply) ? reply.code(state.ready ? 200 : 503).send({ name: m.name, ready: state.ready }) : reply,
  );
  app.post('/v2/models/:name/infer', async (req: FastifyRequest<{ Params: { name: string } }>, reply) => {
    if (!known(req, reply)) return reply;
    const { input, id } = parseInferRequest(req.body, m, batcher.maxBatch);
    return inferResponse(m, await run(req, input), id);
  });
}

/**
 * A server for `classifier`'s model: compiles and warms its session with one batch, then returns
 * ready to `listen()`.
 */
export async function createServer(classifier: Classifier, options: ServeOptions = {}): Promise<ModelServer> {
  const o = { ...SERVE_DEFAULTS, maxBatch: 16, maxDelayMs: 5, maxQueue: 256, timeoutMs: 30_000, ...options } as Required<ServeOptions>;
  const cfg = classifier.model.config;
  const m: ServedModel = { name: o.name, inChannels: cfg.inChannels, inputSize: cfg.inputSize, numClasses: cfg.numClasses };
  // Read at scrape time, once the batcher below exists.
  const metrics = createMetrics(() => batcher.depth, o.maxBatch);
  const batcher = new Batcher(async (x) => (await classifier.model.forward(x)).logits, {
    ...o,
    onBatch: (rows, ms) => {
      metrics.batchSize.observe(rows);
      metrics.batchSeconds.observe(ms / 1000);
    },
  });
  const state = { ready: false, closing: false };
  const app = Fastify({
    bodyLimit: o.maxBody,
    requestTimeout: o.requestTimeoutMs,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });
  await app.register(multipart, { limits: { fileSize: o.maxBody, files: 1, fields: 16, parts: 32, headerPairs: 64 } });
  app.addContentTypeParser(['image/jpeg', 'image/png', 'image/webp'], { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  // While closing, answers end their connection: a client's keep-alive socket would otherwise hold
  // close() open until the server's keep-alive timeout (72 s in fastify).
  app.addHook('onSend', async (_req, reply) => {
    if (state.closing) void reply.header('connection', 'close');
  });
  app.addHook('onResponse', (req, reply, done) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ route, method: req.method, status: String(reply.statusCode) });
    metrics.latency.observe({ route }, reply.elapsedTime / 1000);
    done();
  });
  app.setErrorHandler((err, req, reply) => {
    const { status, message } = answerOf(err);
    if (status === 503) void reply.header('Retry-After', '1');
    if (status === 500) req.log.error(err);
    void reply.code(status).send({ error: message });
  });
  app.setNotFoundHandler((req, reply) => void reply.code(404).send({ error: `no route ${req.method} ${req.url.split('?')[0]}` }));
  app.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  addRoutes(app, classifier, batcher, m, o, state);
  // Compile the session and run it once, so that the first request does not pay for it.
  await classifier.model.forward({
    dims: [1, m.inChannels, m.inputSize, m.inputSize],
    data: new Float32Array(m.inChannels * m.inputSize ** 2),
  });
  state.ready = true;
  return {
    app,
    batcher,
    metrics,
    listen: (l) => app.listen({ port: l.port, host: l.host }),
    async close() {
      state.ready = false;
      state.closing = true;
      await app.close();
      await batcher.close();
    },
  };
}
