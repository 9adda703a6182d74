/**
 * What an explanation costs next to a prediction. A benchmark, never a test.
 *
 *   npx tsx bench/explain.ts [--threads 2] [--reps 10] [--page] [--json]
 *
 * Node (onnxruntime-node, CPU): the 224² torchvision network (1000 classes, random weights, batch
 * 1): the forward pass, and Grad-CAM (`gradCam`: the forward pass, then the gradient of the top
 * logit back to the tap) at inception5b, inception4c and inception3a, each alternating with the
 * forward pass in one process; next to PyTorch doing the same (bench/explain_torch.py: forward under no_grad, Grad-CAM
 * with a forward hook and torch.autograd.grad) on the same threads. With `--page`: the demo page in
 * headless Chromium on WebAssembly, a picture classified with the Grad-CAM toggle off (the forward
 * pass) and on (one explain pass), alternating, for the shipped Fashion-MNIST model (28²) and the
 * 224² network; the times are the page's own (`demo.lastClassification.ms.inference`).
 * Only ratios measured in the same run are comparable; the 1-minute load average is printed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GoogLeNet, data, type Tensor } from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const arg = (name: string, d: number): number => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const threads = arg('--threads', 2);
const reps = arg('--reps', 10);
const LAYERS = ['inception5b', 'inception4c', 'inception3a'];

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function ours(): Promise<Record<string, number[]>> {
  const model = new GoogLeNet({ preset: 'torchvision' }, { seed: 0, threads });
  const rng = new data.Rng(1);
  const x: Tensor = { dims: [1, 3, 224, 224], data: Float32Array.from({ length: 3 * 224 * 224 }, () => rng.normal()) };
  const times: Record<string, number[]> = { forward: [] };
  const time = async (k: string, f: () => Promise<unknown>): Promise<void> => {
    const t0 = performance.now();
    await f();
    (times[k] ??= []).push((performance.now() - t0) / 1000);
  };
  // One tap at a time, its Grad-CAM alternating with the forward pass (the model keeps the two
  // most recently used Grad-CAM sessions: cycling through three taps would time their compilation).
  await model.forward(x);
  for (const l of LAYERS) {
    await model.gradCam(x, { layer: l }); // warm-up: the session compiled
    for (let r = 0; r < reps; r++) {
      await time('forward', () => model.forward(x));
      await time(`gradcam_${l}`, () => model.gradCam(x, { layer: l }));
    }
  }
  await model.dispose();
  return times;
}

function torch(): Record<string, { median_s: number }> | undefined {
  const r = spawnSync(
    '/usr/bin/python3',
    [join(here, 'explain_torch.py'), '--threads', String(threads), '--reps', String(reps), '--layers', LAYERS.join(',')],
    { encoding: 'utf8', env: { ...process.env, OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE' } },
  );
  if (r.status !== 0) {
    console.error(`PyTorch reference skipped: ${r.stderr.trim().split('\n').at(-1) ?? r.error?.message}`);
    return undefined;
  }
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, { median_s: number }>;
}

/** The page on WebAssembly: the inference time of the Grad-CAM toggle off and on, alternating. */
async function page(): Promise<Record<string, Record<string, number[]>>> {
  const { ensureBuilt, serve, launch, openPage, loadModelUrl } = await import('../test/web/harness.js');
  const { colourPicture, exportWeb, makeModelDir } = await import('../test/web/fixtures.js');
  ensureBuilt();
  const tmp = mkdtempSync(join(tmpdir(), 'googlenet-bench-explain-'));
  const out: Record<string, Record<string, number[]>> = {};
  try {
    makeModelDir(
      join(tmp, 'src'),
      { preset: 'torchvision', numClasses: 1000 },
      { resize: 256, crop: 224, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
    );
    exportWeb(join(tmp, 'src'), join(tmp, 'www', 'tv224'));
    const pic = join(tmp, 'picture.png');
    await colourPicture(pic, 320, 240);
    const server = await serve({ fixtures: join(tmp, 'www') });
    const browser = await launch();
    try {
      const w = await openPage(browser, `${server.url}?device=wasm`);
      type Demo = { demo: { modelLoads: number; classifications: number; lastClassification?: { ms: { inference: number } } } };
      await w.page.waitForFunction(() => (window as unknown as Demo).demo.modelLoads > 0);
      for (const [name, url] of [
        ['fashion-mnist (28²)', undefined],
        ['torchvision (224²)', '/fixtures/tv224/'],
      ] as const) {
        if (url) await loadModelUrl(w.page, url);
        const once = async (cam: boolean): Promise<number> => {
          if ((await w.page.isChecked('#cam-toggle')) !== cam) await w.page.click('#cam-toggle');
          const n = await w.page.evaluate(() => (window as unknown as Demo).demo.classifications);
          await w.page.setInputFiles('#file-input', pic);
          await w.page.waitForFunction((k) => (window as unknown as Demo).demo.classifications > k, n, { timeout: 120_000 });
          return w.page.evaluate(() => (window as unknown as Demo).demo.lastClassification!.ms.inference / 1000);
        };
        await once(false);
        await once(true); // warm-up: both sessions compiled
        const t: Record<string, number[]> = { forward: [], gradcam: [] };
        for (let r = 0; r < reps; r++) {
          t.forward!.push(await once(false));
          t.gradcam!.push(await once(true));
        }
        out[name] = t;
      }
    } finally {
      await browser.close();
      await server.close();
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return out;
}

async function main(): Promise<void> {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const load0 = loadavg()[0]!;
  const mine = await ours();
  const ref = torch();
  const pageTimes = process.argv.includes('--page') ? await page() : undefined;
  const load1 = loadavg()[0]!;
  const fwd = median(mine.forward!);
  console.log(`${cpu}, ${threads} threads, ${reps} rounds; 1-minute load ${load0.toFixed(1)} → ${load1.toFixed(1)}`);
  console.log('case                   ours ms   × forward   PyTorch ms   × forward   ours / PyTorch');
  for (const [k, v] of Object.entries(mine)) {
    const m = median(v);
    const t = ref?.[k]?.median_s;
    const tf = ref?.forward?.median_s;
    const cols = [
      k.padEnd(22),
      (1000 * m).toFixed(1).padStart(7),
      (m / fwd).toFixed(2).padStart(9),
      t ? (1000 * t).toFixed(1).padStart(10) : '—'.padStart(10),
      t && tf ? (t / tf).toFixed(2).padStart(9) : '—'.padStart(9),
      t ? (m / t).toFixed(2).padStart(14) : '',
    ];
    console.log(cols.join('   '));
  }
  for (const [name, t] of Object.entries(pageTimes ?? {})) {
    const [f, g] = [median(t.forward!), median(t.gradcam!)];
    console.log(
      `page, WebAssembly, ${name}: forward ${(1000 * f).toFixed(1)} ms, Grad-CAM ${(1000 * g).toFixed(1)} ms (× ${(g / f).toFixed(2)})`,
    );
  }
  if (process.argv.includes('--json'))
    console.log(JSON.stringify({ cpu, threads, reps, load: [load0, load1], ours: mine, torch: ref, page: pageTimes }));
}

await main();
