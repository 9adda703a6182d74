/**
 * The folder cases of `npm run bench` (issue 13 §2): `googlenet predict DIR` over a folder of
 * JPEG files, against the same model's batch-16 forward on tensors already in memory (no
 * reading, decoding or preprocessing at all: the ceiling).
 *
 *   folder_fmnist  the shipped Fashion-MNIST model (28² greyscale) on 28×28 greyscale JPEGs
 *   folder_224     a torchvision-preset model at 224² (random weights: speed does not depend on
 *                  their values) on photo-sized colour JPEGs, 320–500 px a side (ImageNet-like)
 *
 * 10,000 files (2,000 with --quick) in 10 class folders, read with `--recursive`. The real CLI
 * runs in its own process, once per setting of `--threads` (ONNX Runtime) and `--workers` (the
 * decoder threads; 0 decodes on the main thread); its rate is the one it prints at the end
 * (model loading and the file count before the run left out), the whole command's wall time is
 * kept too. The batch-16 forward is measured in this process right before each CLI run, with the
 * same `--threads`, so that each ratio compares two figures taken a few seconds apart. Before the
 * runs, the decoder threads alone (no model) over the first 2,000 files, with 1 and 2 workers:
 * what reading, decoding and preprocessing cost on this machine.
 *
 * Both references also record CPU time per image (all threads of this process), which moves far
 * less with other processes' load than wall time does. On a machine of `cores` cores that predict
 * has to itself, the work adds up: predict img/s ≤ cores × 1000 / (forward CPU ms + decode CPU ms)
 * per image, the `ceiling` of each run.
 *
 * The folders are written under the system's temporary folder and removed at the end; with
 * GOOGLENET_BENCH_KEEP=1 they are kept and reused by the next run.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeJpegFolder } from './pipeline.js';

export const FOLDER_CASES = ['folder_fmnist', 'folder_224'] as const;

/** `--threads` × `--workers` settings, in the order run. */
const SETTINGS: { threads: number; workers: number }[] = [
  { threads: 2, workers: 0 },
  { threads: 2, workers: 1 },
  { threads: 2, workers: 2 },
  { threads: 1, workers: 1 },
];

export interface FolderRun {
  threads: number;
  workers: number;
  /** The rate the CLI prints (images over the time after the model loaded). */
  img_s: number;
  /** The whole command, start-up included. */
  wall_s: number;
  peak_rss_mib: number;
  /** The batch-16 forward on tensors just before, same thread count. */
  forward_img_s: number;
  /** Its CPU time per image (both of ORT's threads), ms. */
  forward_cpu_ms: number;
  /** cores × 1000 / (forward_cpu_ms + decode CPU ms of 2 workers): what predict could reach with the cores to itself. */
  ceiling_img_s: number;
  load_before: number;
  load_after: number;
}

export interface FolderResult {
  images: number;
  /** Decoder threads alone (read, decode, preprocess; no model), img/s by worker count. */
  decode_img_s: Record<string, number>;
  /** Their CPU time per image, ms, by worker count. */
  decode_cpu_ms: Record<string, number>;
  cores: number;
  side: [number, number];
  jpeg_bytes_mean: number;
  model: string;
  runs: FolderRun[];
}

const rssMib = (pid: number): number => {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
};

/** Runs `googlenet predict` (the real CLI under tsx); resolves to its printed rate, wall time and peak RSS. */
function predictCli(repo: string, args: string[]): Promise<{ img_s: number; wall_s: number; peak_rss_mib: number }> {
  const t = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', join(repo, 'src/cli/main.ts'), 'predict', ...args], {
    cwd: repo,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  let peak = 0;
  const poll = setInterval(() => (peak = Math.max(peak, rssMib(child.pid!))), 200);
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  return new Promise((resolve, reject) => {
    child.on('close', (code) => {
      clearInterval(poll);
      const m = /googlenet predict: \d+ images.*?, ([\d.]+) img\/s/.exec(err);
      if (code !== 0 || !m) reject(new Error(`predict exited ${code}:\n${err.slice(-2000)}`));
      else resolve({ img_s: Number(m[1]), wall_s: (performance.now() - t) / 1000, peak_rss_mib: peak });
    });
  });
}

/** Images/s of `run` and its CPU time (this process, all threads) per image in ms. */
async function rateAndCpu(run: () => Promise<number>): Promise<{ img_s: number; cpu_ms: number }> {
  const c0 = process.cpuUsage();
  const t = performance.now();
  const n = await run();
  const cpu = process.cpuUsage(c0);
  return { img_s: n / ((performance.now() - t) / 1000), cpu_ms: (cpu.user + cpu.system) / 1000 / n };
}

/** The batch-16 forward of the model in `dir` on random inputs. */
async function forward16(dir: string, threads: number, seconds: number): Promise<{ img_s: number; cpu_ms: number }> {
  const { load } = await import('../src/index.js');
  const net = await load(dir, { threads });
  const { inChannels: c, inputSize: s } = net.model.config;
  const data = new Float32Array(16 * c * s * s).map((_, i) => Math.sin(i) * 0.5);
  const x = { dims: [16, c, s, s], data };
  for (let i = 0; i < 2; i++) await net.model.forward(x);
  const r = await rateAndCpu(async () => {
    let n = 0;
    const t = performance.now();
    while (performance.now() - t < seconds * 1000) {
      await net.model.forward(x);
      n += 16;
    }
    return n;
  });
  await net.dispose();
  return r;
}

/** The decoder threads alone over `files`. */
async function decodeOnly(model: string, files: string[], workers: number): Promise<{ img_s: number; cpu_ms: number }> {
  const { load, DecodePool } = await import('../src/index.js');
  const net = await load(model, { threads: 1 });
  const pool = DecodePool.forClassifier(net, { workers });
  await net.dispose();
  try {
    await Promise.all(files.slice(0, workers).map((f) => pool.run(f))); // the threads start
    let next = 0;
    const drain = async () => {
      while (next < files.length) await pool.run(files[next++]!);
    };
    return await rateAndCpu(async () => {
      await Promise.all(Array.from({ length: 4 * workers }, drain));
      return files.length;
    });
  } finally {
    await pool.close();
  }
}

/** One folder case, every setting. */
export async function runFolderCase(repo: string, c: string, o: { quick: boolean }, log: (m: string) => void): Promise<FolderResult> {
  const fmnist = c === 'folder_fmnist';
  const images = o.quick ? 2000 : 10_000;
  const side: [number, number] = fmnist ? [28, 28] : [320, 500];
  const keep = process.env['GOOGLENET_BENCH_KEEP'] === '1';
  const photos = join(tmpdir(), `googlenet-bench-${c}-${images}`);
  const marker = join(photos, '.complete.json'); // a dot file: predict does not list it
  const tmp = mkdtempSync(join(tmpdir(), 'googlenet-bench-folder-'));
  try {
    let jpegBytes: number;
    if (existsSync(marker)) jpegBytes = (JSON.parse(readFileSync(marker, 'utf8')) as { bytes: number }).bytes;
    else {
      rmSync(photos, { recursive: true, force: true });
      const t = performance.now();
      jpegBytes = await makeJpegFolder(photos, images, side, { grey: fmnist });
      writeFileSync(marker, JSON.stringify({ bytes: jpegBytes }));
      log(
        `  wrote ${images} JPEGs (${side.join('–')} px, mean ${(jpegBytes / 1024).toFixed(1)} KiB) in ${((performance.now() - t) / 1000).toFixed(0)} s`,
      );
    }
    let model = join(repo, 'models', 'fashion-mnist');
    if (!fmnist) {
      await import('../src/runtime/engine-node.js');
      const { GoogLeNet } = await import('../src/models/model.js');
      const { saveModelDir } = await import('../src/weights/model-dir-node.js');
      model = join(tmp, 'torchvision224');
      saveModelDir(new GoogLeNet({ preset: 'torchvision' }, { seed: 1 }), model);
    }
    const { listImages } = await import('../src/index.js');
    const sample: string[] = [];
    for await (const f of listImages([photos], { recursive: true })) if (sample.push(f) >= 2000) break;
    const decode_img_s: Record<string, number> = {};
    const decode_cpu_ms: Record<string, number> = {};
    for (const w of [1, 2]) {
      const d = await decodeOnly(model, sample, w);
      decode_img_s[w] = d.img_s;
      decode_cpu_ms[w] = d.cpu_ms;
      log(
        `  decoder threads alone, --workers ${w}: ${d.img_s.toFixed(1)} img/s, ${d.cpu_ms.toFixed(2)} ms CPU per image (load ${loadavg()[0]!.toFixed(1)})`,
      );
    }
    const cores = availableParallelism();
    const runs: FolderRun[] = [];
    for (const s of SETTINGS) {
      const load_before = loadavg()[0]!;
      const fwd = await forward16(model, s.threads, fmnist ? 5 : 8);
      const forward_img_s = fwd.img_s;
      const ceiling_img_s = (cores * 1000) / (fwd.cpu_ms + decode_cpu_ms[2]!);
      const args = [photos, '--recursive', '--model', model, '--threads', String(s.threads), '--workers', String(s.workers)];
      const r = await predictCli(repo, [...args, '--out', join(tmp, 'results.jsonl')]);
      const run = { ...s, ...r, forward_img_s, forward_cpu_ms: fwd.cpu_ms, ceiling_img_s, load_before, load_after: loadavg()[0]! };
      const what = `--threads ${s.threads} --workers ${s.workers}: ${r.img_s.toFixed(1)} img/s (${r.wall_s.toFixed(1)} s in all, peak RSS ${r.peak_rss_mib.toFixed(0)} MiB)`;
      const ref = `batch-16 forward ${forward_img_s.toFixed(1)} img/s (${fwd.cpu_ms.toFixed(2)} ms CPU per image)`;
      const ratio = `ratio ${(r.img_s / forward_img_s).toFixed(2)} · ${cores}-core ceiling ${ceiling_img_s.toFixed(1)} img/s`;
      log(`  ${what} · ${ref} · ${ratio} · load ${load_before.toFixed(1)}–${run.load_after.toFixed(1)}`);
      runs.push(run);
    }
    return {
      images,
      decode_img_s,
      decode_cpu_ms,
      cores,
      side,
      jpeg_bytes_mean: jpegBytes,
      model: fmnist ? 'fashion-mnist' : 'torchvision-224 (random weights)',
      runs,
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    if (!keep) rmSync(photos, { recursive: true, force: true });
  }
}
