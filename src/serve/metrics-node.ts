/**
 * The server's Prometheus metrics (prom-client), in a registry of its own so that two servers in
 * one process never share counters: requests by route and status, request latency, batch sizes,
 * model-call time and the queue depth, read when scraped.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface ServeMetrics {
  registry: Registry;
  requests: Counter<'route' | 'method' | 'status'>;
  latency: Histogram<'route'>;
  batchSize: Histogram;
  batchSeconds: Histogram;
}

/** Metrics for one server; `queueDepth()` is read on each scrape. */
export function createMetrics(queueDepth: () => number, maxBatch: number): ServeMetrics {
  const registry = new Registry();
  const requests = new Counter({
    name: 'googlenet_http_requests_total',
    help: 'HTTP requests answered, by route, method and status code',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'googlenet_http_request_duration_seconds',
    help: 'Time from request to response, by route',
    labelNames: ['route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const sizes: number[] = [];
  for (let b = 1; b < maxBatch; b *= 2) sizes.push(b);
  const batchSize = new Histogram({
    name: 'googlenet_batch_size',
    help: 'Rows per model call (dynamic batching)',
    buckets: [...sizes, maxBatch],
    registers: [registry],
  });
  const batchSeconds = new Histogram({
    name: 'googlenet_batch_duration_seconds',
    help: 'Time of one model call',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  new Gauge({
    name: 'googlenet_queue_depth',
    help: 'Rows waiting for a model call',
    registers: [registry],
    collect() {
      this.set(queueDepth());
    },
  });
  return { registry, requests, latency, batchSize, batchSeconds };
}
