/**
 * The `serve` case of `npm run bench`: a load test of `googlenet serve` on 127.0.0.1 with
 * autocannon, for the shipped Fashion-MNIST model (28×28 greyscale PNGs) and a torchvision-preset
 * model at 224² (random weights: speed does not depend on their values; 256×256 JPEGs).
 *
 * For each model: requests/s and p50/p99 latency at concurrency 1, 8 and 32 (POST /v1/classify,
 * raw image bodies), next to the same model's batch-16 throughput in this process (decode,
 * preprocess and forward of 16 images, as `predict` does them); then, for Fashion-MNIST, an
 * overload run far above `--max-queue` that must end with only 200s and 503s, and the server's
 * RSS before and after 10,000 requests. The server runs in its own process (the real CLI), and
 * autocannon shares the machine with it: the figures are for one machine doing both.
 */
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';

export const SERVE_CASES = ['serve'];

export interface ServeLoad {
  concurrency: number;
  req_s: number;
  p50_ms: number;
  p99_ms: number;
  statuses: Record<string, number>;
}
export interface ServeModelResult {
  model: string;
  batch16_img_s: number;
  loads: ServeLoad[];
  overload?: ServeLoad & { max_queue: number; rss_before_mib: number; rss_after_mib: number; requests: number };
}
export interface ServeResult {
  models: ServeModelResult[];
  load_before: number;
  load_after: number;
}

const rssMib = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

/** Starts `googlenet serve` and resolves with its URL once it listens. */
function startServer(repo: string, args: string[]): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(repo, 'src/cli/main.ts'), 'serve', '--port', '0', ...args], { cwd: repo });
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      const m = /listening on (http:\/\/\S+)/.exec(err);
      if (m) resolve({ url: m[1]!, child });
    });
    child.on('close', (code) => reject(new Error(`serve exited (${code}):\n${err}`)));
  });
}

async function load(
  url: string,
  body: Buffer,
  type: string,
  o: { connections: number; duration?: number; amount?: number },
): Promise<ServeLoad> {
  const r = await autocannon({
    url: `${url}/v1/classify`,
    method: 'POST',
    headers: { 'content-type': type },
    body,
    connections: o.connections,
    ...(o.amount ? { amount: o.amount } : { duration: o.duration ?? 10 }),
  });
  const statuses: Record<string, number> = {};
  for (const [k, v] of Object.entries(r.statusCodeStats ?? {})) statuses[k] = v.count ?? 0;
  if (r.errors) statuses['socket errors'] = r.errors;
  if (r.timeouts) statuses['timeouts'] = r.timeouts;
  return { concurrency: o.connections, req_s: r.requests.average, p50_ms: r.latency.p50, p99_ms: r.latency.p99, statuses };
}

/** decode + preprocess + forward of 16 images per call, as `predict` does them, in images/s. */
async function batch16(dir: string, img: Buffer, reps: number): Promise<number> {
  const { load: loadNet, decodeImageBuffer, stackBatch } = await import('../src/index.js');
  const net = await loadNet(dir);
  const once = async () => {
    const imgs = await Promise.all(Array.from({ length: 16 }, () => decodeImageBuffer(img, 'x')));
    await net.model.forward(stackBatch(imgs.map((i) => net.toInput(i))));
  };
  await once();
  const t = performance.now();
  for (let i = 0; i < reps; i++) await once();
  const s = (performance.now() - t) / 1000;
  await net.dispose();
  return (16 * reps) / s;
}

async function benchModel(
  repo: string,
  name: string,
  dir: string,
  img: Buffer,
  type: string,
  quick: boolean,
  overload: boolean,
): Promise<ServeModelResult> {
  const log = (m: string) => process.stderr.write(`  ${name}: ${m}\n`);
  const b16 = await batch16(dir, img, quick ? 2 : 5);
  log(`batch-16 decode+forward ${b16.toFixed(1)} img/s`);
  const loads: ServeLoad[] = [];
  const { url, child } = await startServer(repo, ['--model', dir, '--max-batch', '16', '--max-delay-ms', '5']);
  try {
    for (const c of [1, 8, 32]) {
      await load(url, img, type, { connections: c, duration: 2 }); // warm-up
      const r = await load(url, img, type, { connections: c, duration: quick ? 5 : 15 });
      log(`c=${c}: ${r.req_s.toFixed(1)} req/s, p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms ${JSON.stringify(r.statuses)}`);
      loads.push(r);
    }
  } finally {
    child.kill('SIGTERM');
  }
  const result: ServeModelResult = { model: name, batch16_img_s: b16, loads };
  if (overload) {
    const q = 32;
    const s = await startServer(repo, ['--model', dir, '--max-batch', '16', '--max-queue', String(q)]);
    try {
      await load(s.url, img, type, { connections: 256, amount: 1000 });
      const before = rssMib(s.child.pid!);
      const n = quick ? 3000 : 10_000;
      const r = await load(s.url, img, type, { connections: 256, amount: n });
      const after = rssMib(s.child.pid!);
      log(
        `overload c=256, --max-queue ${q}: ${JSON.stringify(r.statuses)}, RSS ${before.toFixed(0)} → ${after.toFixed(0)} MiB over ${n} requests`,
      );
      result.overload = { ...r, max_queue: q, rss_before_mib: before, rss_after_mib: after, requests: n };
    } finally {
      s.child.kill('SIGTERM');
    }
  }
  return result;
}

/** The whole case. */
export async function runServeCase(repo: string, quick: boolean): Promise<ServeResult> {
  const load_before = loadavg()[0]!;
  const tmp = mkdtempSync(join(tmpdir(), 'googlenet-bench-serve-'));
  try {
    await import('../src/runtime/engine-node.js');
    const { GoogLeNet } = await import('../src/models/model.js');
    const { saveModelDir } = await import('../src/weights/model-dir-node.js');
    const tv = join(tmp, 'torchvision224');
    saveModelDir(new GoogLeNet({ preset: 'torchvision' }, { seed: 1 }), tv);
    const grey = await sharp({ create: { width: 28, height: 28, channels: 3, background: { r: 90, g: 90, b: 90 } } })
      .greyscale()
      .png()
      .toBuffer();
    const jpeg = await sharp({ create: { width: 256, height: 256, channels: 3, background: { r: 200, g: 120, b: 40 } } })
      .jpeg()
      .toBuffer();
    const models = [await benchModel(repo, 'fashion-mnist', join(repo, 'models/fashion-mnist'), grey, 'image/png', quick, true)];
    models.push(await benchModel(repo, 'torchvision-224', tv, jpeg, 'image/jpeg', quick, false));
    return { models, load_before, load_after: loadavg()[0]! };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
