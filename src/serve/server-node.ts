/**
 * `googlenet serve`'s HTTP server: a fastify app holding one model's routes (`routes-node.ts`,
 * the plugin a user can also register in an app of their own), with the server-wide settings a
 * plugin cannot choose: request timeouts, 503 while closing, idle connections cut on close, and
 * `{ "error": … }` for a path no route knows.
 *
 * Why fastify rather than `node:http`: body limits (413), content-type routing (415), multipart
 * (`@fastify/multipart`, streamed with a size cap), JSON-schema validation of queries and bodies,
 * JSON parsing errors as 400, request timeouts and a graceful `close()` that answers 503 to new
 * requests while in-flight ones finish are all maintained there; on `node:http` each would be
 * code of ours to get right against hostile clients. Its overhead per request is a few tens of
 * microseconds, well under one model call. The library installs no signal handler: the CLI calls
 * `close()` on SIGTERM.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { checkOption, int } from '../checks.js';
import type { Classifier } from '../infer/classifier.js';
import type { Batcher } from './batcher.js';
import type { ServeMetrics } from './metrics-node.js';
import { modelRoutes, SERVE_DEFAULTS, type ModelRoutesOptions } from './routes-node.js';

/** Options of {@link createServer}: the routes' ({@link ModelRoutesOptions}), and the server's own. */
export interface ServeOptions extends ModelRoutesOptions {
  /** Time a client has to send a whole request, in ms (slow clients are cut off). Default 30000. */
  requestTimeoutMs?: number;
}

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

/**
 * A server for `classifier`'s model: compiles and warms its session with one batch, then returns
 * ready to `listen()`.
 * @throws OptionError for a bad option, naming it.
 */
export async function createServer(classifier: Classifier, options: ServeOptions = {}): Promise<ModelServer> {
  const { requestTimeoutMs = SERVE_DEFAULTS.requestTimeoutMs, ...routeOptions } = options;
  const routes = modelRoutes(classifier, routeOptions);
  const app = Fastify({
    requestTimeout: checkOption(int(1), requestTimeoutMs, 'requestTimeoutMs'),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });
  app.setNotFoundHandler((req, reply) => void reply.code(404).send({ error: `no route ${req.method} ${req.url.split('?')[0]}` }));
  await app.register(routes);
  return {
    app,
    batcher: routes.batcher,
    metrics: routes.metrics,
    listen: (l) => app.listen({ port: l.port, host: l.host }),
    close: () => app.close(),
  };
}
