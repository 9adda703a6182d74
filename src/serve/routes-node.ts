/**
 * A model's HTTP routes as a fastify plugin: image classification (`POST /v1/classify`), the Open
 * Inference Protocol for tensors (`/v2/…`, see `kserve.ts`) and Prometheus metrics (`/metrics`),
 * all through one dynamic batcher (`batcher.ts`) in front of one reused ONNX Runtime session.
 * Register it in any fastify app, under a prefix if you like; `server-node.ts` (what
 * `googlenet serve` runs) is one user of it.
 *
 *   const routes = modelRoutes(await load(dir), { maxBatch: 16 });
 *   await app.register(routes, { prefix: '/ml' });   // warms the session; POST /ml/v1/classify …
 *
 * Everything it sets up stays inside the plugin's own context (fastify's encapsulation): the
 * multipart and image body parsers, the admission and metrics hooks, and the error handler that
 * answers every failure a request can cause as `{ "error": "one line" }`: 400 (bad image, bad
 * tensor, bad `top_k`, each checked against the route's JSON schema), 404 (another model's name),
 * 413 (body over `maxBody`), 415 (content type), 503 with `Retry-After` (queue full, shutting
 * down), 504 (waited past `timeoutMs`). When the app closes, requests in flight finish, then the
 * batcher drains.
 */
import multipart from '@fastify/multipart';
import type { FastifyError, FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { checkOption, int, text } from '../checks.js';
import { ClosedError, GoogLeNetError, ImageError, OptionError, OverloadedError, TimeoutError } from '../errors.js';
import { decodeImageBuffer } from '../image/decode-node.js';
import { topK, type Classifier } from '../infer/classifier.js';
import { Batcher, type BatcherOptions } from './batcher.js';
import { inferRequestSchema, inferResponse, modelMetadata, parseInferRequest, type ServedModel } from './kserve.js';
import { createMetrics, type ServeMetrics } from './metrics-node.js';
import { validationMessage, type JsonSchema, type SchemaFailure } from './validation.js';

/** Options of {@link modelRoutes}; the batching options are {@link BatcherOptions}' (defaults `BATCHER_DEFAULTS`). */
export interface ModelRoutesOptions extends Omit<BatcherOptions, 'onBatch'> {
  /** The model's name in `/v2/models/{name}` and in answers. Default `'googlenet'`. */
  name?: string;
  /** Largest request body in bytes (413 above it). Default 20 MiB. */
  maxBody?: number;
  /** Largest image in pixels, width × height (400 above it). Default 40 000 000. */
  maxPixels?: number;
}

/** The defaults of the serving options that are not the batcher's (those are `BATCHER_DEFAULTS`). */
export const SERVE_DEFAULTS = { name: 'googlenet', maxBody: 20 * 1024 * 1024, maxPixels: 40_000_000, requestTimeoutMs: 30_000 } as const;

/** A fastify plugin of one model's routes, with the batcher and metrics it serves through. */
export interface ModelRoutes extends FastifyPluginAsync {
  readonly batcher: Batcher;
  readonly metrics: ServeMetrics;
}

/** What each route's error handler needs to word a failed schema check. */
interface RouteConfig {
  /** The message's prefix (`infer`), if any. */
  what?: string;
  schemas: { querystring?: JsonSchema; body?: JsonSchema };
}

/** The HTTP status and message of an error a request caused. */
function answerOf(err: unknown, req: FastifyRequest): { status: number; message: string } {
  if (err instanceof OverloadedError || err instanceof ClosedError) return { status: 503, message: err.message };
  if (err instanceof TimeoutError) return { status: 504, message: err.message };
  if (err instanceof ImageError || err instanceof OptionError) return { status: 400, message: err.message };
  const failure = (err as FastifyError).validation?.[0] as SchemaFailure | undefined;
  const part = (err as FastifyError).validationContext;
  const cfg = req.routeOptions.config as Partial<RouteConfig>;
  const schema = part === 'querystring' || part === 'body' ? cfg.schemas?.[part] : undefined;
  if (failure && schema) {
    // The query as the client wrote it: fastify has converted `top_k=0` to the number 0 by now.
    const query = new URL(req.url, 'http://x').searchParams;
    const rawOf = (path: readonly string[]) => {
      const values = query.getAll(path[0] ?? '');
      return values.length > 0 ? values.join(',') : undefined;
    };
    const raw = part === 'querystring' ? rawOf : undefined;
    const line = validationMessage(schema, failure, part === 'body' ? req.body : req.query, raw);
    return { status: 400, message: cfg.what ? `${cfg.what}: ${line}` : line };
  }
  const status = (err as FastifyError).statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) return { status, message: (err as Error).message };
  if (err instanceof GoogLeNetError) return { status: 500, message: err.message };
  return { status: 500, message: 'internal error' };
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

/**
 * Admission: at most a full queue plus one running batch of requests between arrival and answer,
 * so that under overload a request is refused before it costs a decode. A client that goes away
 * aborts its request, which then leaves the queue unrun.
 */
function admission(app: FastifyInstance, batcher: Batcher): (req: FastifyRequest) => AbortSignal | undefined {
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
  return (req) => signals.get(req);
}

/**
 * The routes of one model, as a fastify plugin: `app.register(modelRoutes(net, options), { prefix })`.
 * Registering it compiles and warms the model's session with one batch.
 * @throws OptionError for a bad option, naming it.
 */
export function modelRoutes(classifier: Classifier, options: ModelRoutesOptions = {}): ModelRoutes {
  const name = checkOption(text(), options.name ?? SERVE_DEFAULTS.name, 'name');
  const maxBody = checkOption(int(1), options.maxBody ?? SERVE_DEFAULTS.maxBody, 'maxBody');
  const maxPixels = checkOption(int(1), options.maxPixels ?? SERVE_DEFAULTS.maxPixels, 'maxPixels');
  const cfg = classifier.model.config;
  const m: ServedModel = { name, inChannels: cfg.inChannels, inputSize: cfg.inputSize, numClasses: cfg.numClasses };
  const { name: _name, maxBody: _maxBody, maxPixels: _maxPixels, ...batching } = options;
  const batcher = new Batcher(async (x) => (await classifier.model.forward(x)).logits, {
    ...batching,
    // Called after a batch has run, by when `metrics` exists.
    onBatch: (rows, ms) => {
      metrics.batchSize.observe(rows);
      metrics.batchSeconds.observe(ms / 1000);
    },
  });
  const metrics = createMetrics(() => batcher.depth, batcher.maxBatch);
  const state = { ready: false, closing: false };

  const plugin = async (app: FastifyInstance): Promise<void> => {
    await app.register(multipart, { limits: { fileSize: maxBody, files: 1, fields: 16, parts: 32, headerPairs: 64 } });
    app.addContentTypeParser(['image/jpeg', 'image/png', 'image/webp'], { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    app.addHook('preClose', async () => {
      state.ready = false;
      state.closing = true;
    });
    // Runs once the server has let the requests in flight finish.
    app.addHook('onClose', async () => batcher.close());
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
      const { status, message } = answerOf(err, req);
      if (status === 503) void reply.header('Retry-After', '1');
      if (status === 500) req.log.error(err);
      void reply.code(status).send({ error: message });
    });
    addRoutes(app, classifier, batcher, metrics, m, { maxBody, maxPixels }, state);
    // Compile the session and run it once, so that the first request does not pay for it.
    await classifier.model.forward({
      dims: [1, m.inChannels, m.inputSize, m.inputSize],
      data: new Float32Array(m.inChannels * m.inputSize ** 2),
    });
    state.ready = true;
  };
  return Object.assign(plugin, { batcher, metrics });
}

/** Routes of `/v1/classify`, the KServe v2 protocol and `/metrics`. */
function addRoutes(
  app: FastifyInstance,
  classifier: Classifier,
  batcher: Batcher,
  metrics: ServeMetrics,
  m: ServedModel,
  o: { maxBody: number; maxPixels: number },
  state: { ready: boolean },
): void {
  const model = classifier.model;
  const signalOf = admission(app, batcher);
  const run = (req: FastifyRequest, x: Parameters<Batcher['submit']>[0]) => batcher.submit(x, signalOf(req));
  // A request for another model's name is a 404, before its body is checked.
  const known = async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const { name } = req.params as { name: string };
    return name === m.name ? undefined : reply.code(404).send({ error: `no model named "${name}"; this server has "${m.name}"` });
  };

  const classifyQuery: JsonSchema = {
    type: 'object',
    properties: {
      top_k: { title: 'top_k', description: `an integer from 1 to ${m.numClasses}`, type: 'integer', minimum: 1, maximum: m.numClasses },
    },
  };
  app.post<{ Querystring: { top_k?: number } }, RouteConfig>(
    '/v1/classify',
    { bodyLimit: o.maxBody, schema: { querystring: classifyQuery }, config: { schemas: { querystring: classifyQuery } } },
    async (req, reply) => {
      const t0 = performance.now();
      const bytes = await readUpload(req);
      if (!bytes)
        return reply.code(415).send({
          error: `send the image as the body (image/jpeg, image/png, image/webp) or as multipart/form-data, received ${req.headers['content-type'] ?? 'no content type'}`,
        });
      const img = await decodeImageBuffer(bytes, 'the image', { maxPixels: o.maxPixels });
      const logits = await run(req, classifier.toInput(img));
      const top = topK(logits, req.query.top_k ?? 5, model.labels)[0]!;
      return { top, model: m.name, ms: Math.round((performance.now() - t0) * 100) / 100 };
    },
  );

  app.get('/v2/health/live', async () => ({ live: true }));
  app.get('/v2/health/ready', async (_req, reply) => reply.code(state.ready ? 200 : 503).send({ ready: state.ready }));
  app.get('/v2', async () => ({ name: 'googlenet-ts', version: '1', extensions: [] }));
  app.get('/v2/models/:name', { preValidation: known }, async () => modelMetadata(m));
  app.get('/v2/models/:name/ready', { preValidation: known }, async (_req, reply) =>
    reply.code(state.ready ? 200 : 503).send({ name: m.name, ready: state.ready }),
  );
  // Tensors come as JSON: an image or a form sent here is a 415, not a malformed tensor.
  const json = async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> =>
    /^application\/json\b/i.test(req.headers['content-type'] ?? '')
      ? undefined
      : reply
          .code(415)
          .send({ error: `infer: send the tensors as application/json, received ${req.headers['content-type'] ?? 'no content type'}` });
  const inferBody = inferRequestSchema(m);
  app.post<{ Params: { name: string } }, RouteConfig>(
    '/v2/models/:name/infer',
    {
      bodyLimit: o.maxBody,
      preValidation: [known, json],
      schema: { body: inferBody },
      config: { what: 'infer', schemas: { body: inferBody } },
    },
    async (req) => {
      const { input, id } = parseInferRequest(req.body as Parameters<typeof parseInferRequest>[0], m, batcher.maxBatch);
      return inferResponse(m, await run(req, input), id);
    },
  );
  app.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
}
