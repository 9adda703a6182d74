/**
 * `googlenet serve` end to end: the real command on a free port, a classification over HTTP,
 * its metrics, SIGTERM with a request in flight (answered, then exit 0), and its bad flags (one
 * line each, exit 1).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as netServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import '../src/runtime/engine-node.js';
import { GoogLeNet } from '../src/models/model.js';
import { saveModelDir } from '../src/weights/model-dir-node.js';
import { cliAsync } from './cli-run.js';

let tmp: string;
let dir: string;
let png: Buffer;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'googlenet-serve-'));
  dir = join(tmp, 'tiny');
  saveModelDir(new GoogLeNet({ preset: 'cifar', width: 0.25, numClasses: 10 }, { seed: 2 }), dir);
  png = await sharp({ create: { width: 48, height: 40, channels: 3, background: { r: 200, g: 30, b: 90 } } })
    .png()
    .toBuffer();
});
after(() => rmSync(tmp, { recursive: true, force: true }));

test('serve: classify over HTTP, /metrics, then SIGTERM finishes the request in flight and exits 0', async () => {
  let base: Promise<string> | undefined;
  let resolveUrl: (u: string) => void = () => undefined;
  base = new Promise((r) => (resolveUrl = r));
  let kill: (s: NodeJS.Signals) => void = () => undefined;
  const run = cliAsync(['serve', '--model', dir, '--port', '0', '--name', 'tiny', '--max-delay-ms', '200'], (text, k) => {
    kill = k;
    const m = /listening on (http:\/\/\S+)/.exec(text);
    if (m) resolveUrl(m[1]!);
  });
  const url = await Promise.race([base, run.then((r) => assert.fail(`serve exited early:\n${r.stderr}`))]);
  base = undefined;
  const classify = () =>
    fetch(`${url}/v1/classify?top_k=2`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: new Uint8Array(png) });
  const r = await classify();
  assert.equal(r.status, 200);
  const j = (await r.json()) as { top: { index: number; probability: number }[]; model: string };
  assert.equal(j.model, 'tiny');
  assert.equal(j.top.length, 2);
  assert.match(
    await (await fetch(`${url}/metrics`)).text(),
    /googlenet_http_requests_total\{route="\/v1\/classify",method="POST",status="200"\} 1/,
  );
  // --max-delay-ms 200: this request is still waiting for its batch when SIGTERM arrives.
  const inflight = classify();
  // Wait until the server holds it in its queue (a fixed wait races on a loaded machine).
  for (let i = 0; i < 200; i++) {
    if (/^googlenet_queue_depth(\{[^}]*\})? [1-9]/m.test(await (await fetch(`${url}/metrics`)).text())) break;
    await new Promise((res) => setTimeout(res, 5));
  }
  kill('SIGTERM');
  assert.equal((await inflight).status, 200);
  const done = await run;
  assert.equal(done.status, 0, done.stderr);
  assert.match(done.stderr, /SIGTERM: finishing requests in flight/);
  assert.match(done.stderr, /stopped\n$/);
});

test('serve: bad flags and a busy port are one line each, exit 1', async () => {
  const busy = netServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const port = (busy.address() as { port: number }).port;
  const cases: [string[], RegExp][] = [
    [
      ['serve', '--model', dir, '--max-body', '20xb'],
      /^googlenet: --max-body expects a size such as 20mb, 512kb or 1048576, received "20xb"$/,
    ],
    [['serve', '--model', dir, '--max-batch', '0'], /^googlenet: --max-batch expects an integer ≥ 1, received "0"$/],
    [['serve', '--model', dir, '--port', '70000'], /^googlenet: --port expects 0 to 65535, received 70000$/],
    [['serve'], /^googlenet: no model: pass --model DIR/],
    [
      ['serve', '--model', dir, '--port', String(port)],
      new RegExp(`^googlenet: --host 127.0.0.1 --port ${port}: cannot listen there \\(EADDRINUSE\\)$`),
    ],
  ];
  const runs = await Promise.all(cases.map(([args]) => cliAsync(args)));
  busy.close();
  runs.forEach((r, i) => {
    const [args, re] = cases[i]!;
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.split('\n').length, 2, r.stderr);
    assert.match(r.stderr.trimEnd(), re);
  });
});
