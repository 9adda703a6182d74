/**
 * `npm run bench`: this project's inference and training speed next to PyTorch's (same machine,
 * same thread count, channels-last) and next to onnxruntime-node running PyTorch's own ONNX
 * export. A benchmark, never a test.
 *
 *   npm run bench                   # the full run (~5–10 min on 2 cores)
 *   npm run bench -- --quick        # fewer repetitions, no bn-224 training
 *   npm run bench -- --json         # …and one JSON object on the last line
 *   npm run bench -- --threads 4 --cases infer_b16,train_cifar
 *   npm run bench -- --no-profile   # without the per-operation profile of the training cases
 *   npm run bench -- --device webgpu  # inference (batch 1, 16, 64) and training on the GPU, next to
 *                                     # PyTorch CUDA (fp32) when torch sees a GPU, else PyTorch on the CPU
 *   npm run bench -- --device cuda    # the same on onnxruntime-node's CUDA provider (installed with
 *                                     # ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node --ignore-scripts=false)
 *
 * Cases: infer_b1 / infer_b16 (torchvision preset, 224×224, eval), train_cifar (cifar preset,
 * 32×32, batch 64, SGD with momentum and weight decay), train_bn224 (bn preset, 224×224, batch 16),
 * and the data-pipeline cases (`pipeline.ts`): training from a JPEG folder through the DataLoader
 * against training on tensors in memory, in one process; `serve` (`serve.ts`): a load test of
 * `googlenet serve` with autocannon at concurrency 1/8/32 and an overload run; and the folder cases
 * (`folder.ts`): `googlenet predict DIR` over 10,000 JPEGs against the batch-16 forward.
 * Every case runs in its own process (so peak RSS is that case's), ours and the references
 * alternate case by case (inference: three rounds of all engines, repetitions pooled), and each
 * records the 1-minute load average around it: the machine may
 * be shared, and only ratios measured in the same run are comparable. PyTorch runs with
 * OMP_WAIT_POLICY=PASSIVE unless set (its spinning default collapses under shared load).
 *
 * Results: a table on stdout, and bench/results/<date>.json (plus latest.json).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PIPELINE_CASES, runPipelineCase, type PipelineResult } from './pipeline.js';
import { runServeCase, SERVE_CASES, type ServeResult } from './serve.js';
import { FOLDER_CASES, runFolderCase, type FolderResult } from './folder.js';
import { cpuInfo, profileOurStep, profileRows, type StepProfile } from './profile.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..');

interface Options {
  json: boolean;
  quick: boolean;
  threads: number;
  /** Where our cases (and ORT on PyTorch's export) run: cpu, webgpu, cuda or auto. */
  device: 'auto' | 'cpu' | 'webgpu' | 'cuda';
  cases: string[];
  /** Training cases: profile this many steps of ours and of PyTorch's, per operation (0: no profile). */
  profile: number;
  /** Internal: run one case of ours in this process and print its JSON. */
  child?: string;
  python?: string;
}

const ALL_CASES: string[] = [
  'infer_b1',
  'infer_b16',
  'infer_b64',
  'train_cifar',
  'train_bn224',
  ...PIPELINE_CASES,
  ...SERVE_CASES,
  ...FOLDER_CASES,
];
/** Cases left out of `--quick`. */
const SLOW_CASES = new Set(['train_bn224', 'pipeline_bn224', 'folder_224']);
/** The default cases on a GPU: the model's own speed (the data pipeline and serving are CPU-bound). */
const GPU_CASES = ['infer_b1', 'infer_b16', 'infer_b64', 'train_cifar', 'train_bn224'];

function parseArgs(argv: string[]): Options {
  const o: Options = { json: false, quick: false, threads: 2, device: 'cpu', cases: [], profile: 2 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a}: expected a value`);
      return v;
    };
    if (a === '--json') o.json = true;
    else if (a === '--quick') o.quick = true;
    else if (a === '--threads') o.threads = Number(value());
    else if (a === '--cases') o.cases = value().split(',');
    else if (a === '--device') o.device = value() as Options['device'];
    else if (a === '--child') o.child = value();
    else if (a === '--python') o.python = value();
    else if (a === '--no-profile') o.profile = 0;
    else throw new Error(`unknown flag ${a}; known: --json --quick --threads N --device D --cases a,b --python PATH --no-profile`);
  }
  if (!Number.isInteger(o.threads) || o.threads < 1) throw new Error(`--threads: expected a positive integer, received ${o.threads}`);
  if (!['auto', 'cpu', 'webgpu', 'cuda'].includes(o.device))
    throw new Error(`--device: expected auto, cpu, webgpu or cuda, received ${o.device}`);
  const defaults = o.device === 'cpu' ? ALL_CASES.filter((c) => c !== 'infer_b64') : GPU_CASES;
  if (o.cases.length === 0) o.cases = o.quick ? defaults.filter((c) => !SLOW_CASES.has(c)) : defaults;
  for (const c of o.cases) if (!ALL_CASES.includes(c)) throw new Error(`--cases: unknown case ${c}; known: ${ALL_CASES.join(', ')}`);
  return o;
}

/** Repetitions per case (full, quick). */
const REPS: Record<string, [number, number]> = {
  infer_b1: [20, 8],
  infer_b16: [6, 3],
  infer_b64: [4, 2],
  train_cifar: [4, 2],
  train_bn224: [3, 2],
};
const WARMUP: Record<string, number> = { infer_b1: 3, infer_b16: 1, infer_b64: 1, train_cifar: 2, train_bn224: 1 };
/** Rounds of alternating engines for the inference cases (full run). */
const INFER_ROUNDS = 3;

interface CaseResult {
  engine: string;
  /** Training cases: the step per operation (ORT's profiler / torch.profiler). */
  profile?: StepProfile;
  batch: number;
  median_s: number;
  times_s: number[];
  /**
   * CPU seconds of each repetition, all threads (training cases): less sensitive than wall time to
   * other processes on the cores, with ONNX Runtime's threads not spinning (training sessions) and
   * PyTorch's OpenMP passive.
   */
  cpu_s?: number[];
  peak_rss_mib: number;
  /** Forward multiply-adds per image of the case's network (for GFLOP/s). */
  macs_per_image?: number;
  load_before: number;
  load_after: number;
  setup_s?: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Wall seconds of each repetition, and CPU seconds (all threads of this process). */
async function timeit(fn: () => Promise<unknown>, reps: number, warmup: number): Promise<number[] & { cpu: number[] }> {
  for (let i = 0; i < warmup; i++) await fn();
  const times = Object.assign([] as number[], { cpu: [] as number[] });
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    const c = process.cpuUsage();
    await fn();
    const u = process.cpuUsage(c);
    times.push((performance.now() - t) / 1000);
    times.cpu.push((u.user + u.system) / 1e6);
  }
  return times;
}

/** Deterministic pseudo-random inputs (the values do not matter for speed). */
function randomInput(n: number): Float32Array {
  const a = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    a[i] = s / 2 ** 32 - 0.5;
  }
  return a;
}

/** A training case's network and batch. */
function trainSpec(c: string): { preset: 'cifar' | 'bn'; batch: number; size: number; classes: number } {
  const cifar = c === 'train_cifar';
  return { preset: cifar ? 'cifar' : 'bn', batch: cifar ? 64 : 16, size: cifar ? 32 : 224, classes: cifar ? 10 : 1000 };
}

/** Our training step of a case under ONNX Runtime's profiler (run in a child process; the CPU only). */
async function runOursProfile(c: string, o: Options): Promise<StepProfile> {
  const { GoogLeNet } = await import('../src/models/model.js');
  const { createTrainStep } = await import('../src/train/engine.js');
  const { preset, batch, size, classes } = trainSpec(c);
  return profileOurStep(async (engine) => {
    const m = new GoogLeNet({ preset, numClasses: classes }, { threads: o.threads, engine });
    const step = createTrainStep(m, { optimizer: { type: 'sgd', lr: 0.01, momentum: 0.9, weightDecay: 5e-4 }, threads: o.threads });
    const x = { dims: [batch, 3, size, size], data: randomInput(batch * 3 * size * size) };
    const y = Array.from({ length: batch }, (_, i) => (i * 7) % classes);
    return { step: () => step.step(x, y), dispose: () => step.dispose() };
  }, o.profile);
}

/** One case of ours (run in a child process). */
async function runOurs(c: string, o: Options): Promise<CaseResult> {
  const { selectDevice } = await import('../src/runtime/engine-node.js');
  const { device } = await selectDevice(o.device);
  const { GoogLeNet } = await import('../src/models/model.js');
  const { nodeMacs } = await import('../src/graph/ops/index.js');
  const { createTrainStep } = await import('../src/train/engine.js');
  const [reps, quickReps] = REPS[c]!;
  const n = o.quick ? quickReps : reps;
  const load_before = loadavg()[0]!;
  const t0 = performance.now();
  let times: number[] & { cpu: number[] };
  let batch: number;
  let macs: number;
  let setup = 0;
  if (c.startsWith('infer_b')) {
    batch = Number(c.slice('infer_b'.length));
    const m = new GoogLeNet({ preset: 'torchvision' }, { threads: o.threads, device });
    macs = m.graph('eval').nodes.reduce((s, nd) => s + nodeMacs(nd, m.graph('eval')), 0);
    const x = { dims: [batch, 3, 224, 224], data: randomInput(batch * 3 * 224 * 224) };
    await m.forward(x);
    setup = (performance.now() - t0) / 1000;
    times = await timeit(() => m.forward(x), n, WARMUP[c]!);
    await m.dispose();
  } else {
    const spec = trainSpec(c);
    batch = spec.batch;
    const { size, classes } = spec;
    const m = new GoogLeNet({ preset: spec.preset, numClasses: classes }, { threads: o.threads, device });
    macs = m.graph('train').nodes.reduce((s, nd) => s + nodeMacs(nd, m.graph('train')), 0);
    const step = createTrainStep(m, { optimizer: { type: 'sgd', lr: 0.01, momentum: 0.9, weightDecay: 5e-4 }, threads: o.threads });
    const x = { dims: [batch, 3, size, size], data: randomInput(batch * 3 * size * size) };
    const y = Array.from({ length: batch }, (_, i) => (i * 7) % classes);
    await step.step(x, y);
    setup = (performance.now() - t0) / 1000;
    times = await timeit(() => step.step(x, y), n, WARMUP[c]! - 1);
    await step.dispose();
  }
  return {
    engine: `googlenet-ts (onnxruntime-node, ${device})`,
    batch,
    median_s: median(times),
    times_s: [...times],
    ...(c.startsWith('train') ? { cpu_s: times.cpu } : {}),
    peak_rss_mib: process.resourceUsage().maxRSS / 1024,
    macs_per_image: macs,
    load_before,
    load_after: loadavg()[0]!,
    setup_s: setup,
  };
}

/** onnxruntime-node on PyTorch's own ONNX export (inference cases), in a child process. */
async function runOrtExport(c: string, o: Options, onnxPath: string): Promise<CaseResult> {
  const { selectDevice } = await import('../src/runtime/engine-node.js');
  const { engine, device } = await selectDevice(o.device);
  const batch = Number(c.slice('infer_b'.length));
  const [reps, quickReps] = REPS[c]!;
  const load_before = loadavg()[0]!;
  const t0 = performance.now();
  const s = await engine.createSession(readFileSync(onnxPath), { threads: o.threads });
  const x = { dims: [batch, 3, 224, 224], data: randomInput(batch * 3 * 224 * 224) };
  await s.run({ [s.inputNames[0]!]: x });
  const setup = (performance.now() - t0) / 1000;
  const times = await timeit(() => s.run({ [s.inputNames[0]!]: x }), o.quick ? quickReps : reps, WARMUP[c]!);
  await s.release();
  return {
    engine: `onnxruntime-node (${device}) on torch.onnx.export`,
    batch,
    median_s: median(times),
    times_s: times,
    peak_rss_mib: process.resourceUsage().maxRSS / 1024,
    load_before,
    load_after: loadavg()[0]!,
    setup_s: setup,
  };
}

/** The first Python with torch and torchvision: --python, $GOOGLENET_PYTHON, python3, Debian's. */
function findPython(o: Options): string | undefined {
  for (const p of [o.python, process.env['GOOGLENET_PYTHON'], 'python3', '/usr/bin/python3']) {
    if (!p) continue;
    const r = spawnSync(p, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
    if (r.status === 0) return p;
  }
  return undefined;
}

function lastJson(stdout: string, what: string): Record<string, unknown> {
  const line = stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new Error(`${what}: expected a JSON line at the end of its output, got: ${line.slice(0, 200)}`);
  }
}

function childJson(args: string[], what: string): Record<string, unknown> {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, 'run.ts'), ...args], {
    encoding: 'utf8',
    cwd: repo,
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}):\n${r.stderr.slice(-2000)}`);
  return lastJson(r.stdout, what);
}

function child(args: string[], what: string): CaseResult {
  return childJson(args, what) as unknown as CaseResult;
}

/** Where the PyTorch reference runs: CUDA when our cases run on a GPU and torch sees one. */
let torchDevice: 'cpu' | 'cuda' = 'cpu';

function torchCase(python: string, c: string, o: Options): CaseResult {
  const [reps, quickReps] = REPS[c]!;
  const n = o.quick ? quickReps : reps;
  const load_before = loadavg()[0]!;
  const args = [join(here, 'torch_bench.py'), '--threads', String(o.threads), '--cases', c, '--warmup', String(WARMUP[c]!)];
  if (torchDevice === 'cuda') args.push('--device', 'cuda');
  args.push(c.startsWith('train') ? '--train-reps' : '--reps', String(c === 'infer_b1' ? Math.ceil(n / 4) : n));
  if (c.startsWith('train') && o.profile) args.push('--profile', String(o.profile));
  const r = spawnSync(python, args, { encoding: 'utf8', cwd: repo, maxBuffer: 1 << 26, env: torchEnv() });
  if (r.status !== 0) throw new Error(`torch_bench.py ${c} failed (exit ${r.status}):\n${r.stderr.slice(-2000)}`);
  const out = lastJson(r.stdout, `torch_bench.py ${c}`) as {
    cases: Record<
      string,
      {
        median_s: number;
        times_s: number[];
        cpu_s: number[];
        batch: number;
        peak_rss_mib: number;
        profile?: Omit<StepProfile, 'load_before' | 'load_after'>;
      }
    >;
    torch: string;
  };
  const res = out.cases[c]!;
  return {
    engine: `PyTorch ${out.torch} (channels-last${torchDevice === 'cuda' ? ', CUDA fp32' : ''})`,
    ...(res.profile ? { profile: { ...res.profile, load_before, load_after: loadavg()[0]! } } : {}),
    batch: res.batch,
    median_s: res.median_s,
    times_s: res.times_s,
    ...(c.startsWith('train') ? { cpu_s: res.cpu_s } : {}),
    peak_rss_mib: res.peak_rss_mib,
    load_before,
    load_after: loadavg()[0]!,
  };
}

/**
 * PyTorch's environment: OpenMP threads wait passively unless the user chose otherwise. With the
 * default (spinning) wait policy PyTorch collapses when another process shares the cores
 * (measured: batch-1 inference 1.68 s → 0.12 s per image at load 4 on 2 cores), which would
 * flatter our ratios.
 */
function torchEnv(): NodeJS.ProcessEnv {
  return { ...process.env, OMP_WAIT_POLICY: process.env['OMP_WAIT_POLICY'] ?? 'PASSIVE' };
}

/** One result from several rounds: all repetitions pooled, the median over them, the largest peak RSS. */
function pool(rs: CaseResult[]): CaseResult | undefined {
  if (rs.length === 0) return undefined;
  const times = rs.flatMap((r) => r.times_s);
  const cpu = rs.flatMap((r) => r.cpu_s ?? []);
  return {
    ...rs[0]!,
    times_s: times,
    ...(cpu.length ? { cpu_s: cpu } : {}),
    median_s: median(times),
    peak_rss_mib: Math.max(...rs.map((r) => r.peak_rss_mib)),
    load_before: Math.min(...rs.map((r) => r.load_before)),
    load_after: Math.max(...rs.map((r) => r.load_after)),
  };
}

function fmt(x: number | undefined, digits = 1): string {
  return x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits);
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (o.child) {
    const [kind, c, onnx] = o.child.split(':') as [string, string, string?];
    const r =
      kind === 'ours'
        ? await runOurs(c, o)
        : kind === 'prof'
          ? await runOursProfile(c, o)
          : kind === 'pipe'
            ? await runPipelineCase(c, o)
            : await runOrtExport(c, o, onnx!);
    console.log(JSON.stringify(r));
    return;
  }
  const log = (s: string): void => {
    if (!o.json) console.log(s);
    else console.error(s);
  };
  const python = findPython(o);
  if (!python) log('PyTorch not found (python3 with torch and torchvision): reference columns will be empty');
  const common = ['--threads', String(o.threads), '--device', o.device, ...(o.quick ? ['--quick'] : [])];
  if (python && o.device !== 'cpu') {
    const r = spawnSync(python, ['-c', 'import torch; print(torch.cuda.is_available())'], { encoding: 'utf8' });
    torchDevice = r.stdout.trim() === 'True' ? 'cuda' : 'cpu';
    log(`our cases on ${o.device}; PyTorch on ${torchDevice === 'cuda' ? 'CUDA (fp32, TF32 off)' : 'the CPU (torch sees no GPU)'}`);
  }
  const results: Record<string, { ours?: CaseResult; torch?: CaseResult; ort?: CaseResult }> = {};
  const pipelines: Record<string, PipelineResult> = {};
  let serve: ServeResult | undefined;
  const folders: Record<string, FolderResult> = {};

  let onnxPath: string | undefined;
  if (python && o.cases.some((c) => c.startsWith('infer'))) {
    onnxPath = join(tmpdir(), `googlenet-torch-export-${process.pid}.onnx`);
    const r = spawnSync(python, [join(here, 'torch_bench.py'), '--threads', String(o.threads), '--cases', '', '--export-onnx', onnxPath], {
      encoding: 'utf8',
      env: torchEnv(),
    });
    if (r.status !== 0) {
      log(`torch.onnx.export failed; no ORT-on-export column:\n${r.stderr.slice(-1000)}`);
      onnxPath = undefined;
    }
  }

  for (const c of o.cases) {
    log(`${c} …`);
    if (c === 'serve') {
      serve = await runServeCase(repo, o.quick);
      continue;
    }
    if (c.startsWith('folder')) {
      folders[c] = await runFolderCase(repo, c, o, log);
      continue;
    }
    if (c.startsWith('pipeline')) {
      const p = childJson(['--child', `pipe:${c}`, ...common], `our ${c}`) as unknown as PipelineResult;
      pipelines[c] = p;
      log(
        `  JPEG folder ${fmt(p.folder.img_s)} img/s · tensors ${fmt(p.tensors.img_s)} img/s · ratio ${fmt(p.folder.img_s / p.tensors.img_s, 3)}`,
      );
      continue;
    }
    // Inference is cheap: alternate the engines over several rounds and pool the repetitions, so
    // that load from other processes falls on all of them alike.
    const rounds = c.startsWith('infer') && !o.quick ? INFER_ROUNDS : 1;
    const runs: { ours: CaseResult[]; torch: CaseResult[]; ort: CaseResult[] } = { ours: [], torch: [], ort: [] };
    for (let r = 0; r < rounds; r++) {
      runs.ours.push(child(['--child', `ours:${c}`, ...common], `our ${c}`));
      if (python) runs.torch.push(torchCase(python, c, o));
      if (onnxPath && c.startsWith('infer')) runs.ort.push(child(['--child', `ort:${c}:${onnxPath}`, ...common], `ORT-on-export ${c}`));
    }
    const entry: (typeof results)[string] = {};
    for (const k of ['ours', 'torch', 'ort'] as const) {
      const p = pool(runs[k]);
      if (p) entry[k] = p;
    }
    // Where the step's time goes: ours under ONNX Runtime's profiler, in its own process after the
    // timed runs (PyTorch's profile came with its timed run above).
    if (c.startsWith('train') && o.profile && o.device === 'cpu' && entry.ours) {
      entry.ours.profile = childJson(['--child', `prof:${c}`, ...common], `our ${c} profile`) as unknown as StepProfile;
    }
    results[c] = entry;
    const ips = (r?: CaseResult): string => (r ? `${fmt(r.batch / r.median_s)} img/s` : '—');
    log(`  ours ${ips(entry.ours)} · PyTorch ${ips(entry.torch)}${entry.ort ? ` · ORT-on-export ${ips(entry.ort)}` : ''}`);
  }

  // Summary: img/s, GFLOP/s, peak memory and ratios.
  const summary: Record<string, number | string | null> = {
    date: new Date().toISOString(),
    threads: o.threads,
    cpu: cpuInfo().model,
    cpu_flags: cpuInfo().flags.join(' '),
    quick: o.quick ? 'yes' : 'no',
    device: o.device,
    torch_device: torchDevice,
    torch_omp_wait_policy: torchEnv()['OMP_WAIT_POLICY'] ?? null,
  };
  const rows: string[][] = [
    [
      'case',
      'ours img/s',
      'PyTorch img/s',
      'ORT-on-export img/s',
      'ours/PyTorch',
      'by CPU time',
      'ours/ORT',
      'ours GFLOP/s',
      'peak RSS ours / PyTorch (MiB)',
      'load (1-min avg)',
    ],
  ];
  for (const [c, e] of Object.entries(results)) {
    const ips = (r?: CaseResult): number | undefined => (r ? r.batch / r.median_s : undefined);
    const ours = ips(e.ours);
    const torch = ips(e.torch);
    const ort = ips(e.ort);
    // Training does the forward plus about twice its work backwards: 3× forward FLOPs.
    const flopsPerImage = e.ours?.macs_per_image ? 2 * e.ours.macs_per_image * (c.startsWith('train') ? 3 : 1) : undefined;
    summary[`${c}_img_s`] = ours ?? null;
    summary[`${c}_torch_img_s`] = torch ?? null;
    if (c.startsWith('infer')) summary[`${c}_ort_img_s`] = ort ?? null;
    summary[`${c}_ratio_torch`] = ours && torch ? ours / torch : null;
    if (c.startsWith('infer')) summary[`${c}_ratio_ort`] = ours && ort ? ours / ort : null;
    summary[`${c}_gflop_s`] = ours && flopsPerImage ? (ours * flopsPerImage) / 1e9 : null;
    summary[`${c}_peak_rss_mib`] = e.ours?.peak_rss_mib ?? null;
    summary[`${c}_torch_peak_rss_mib`] = e.torch?.peak_rss_mib ?? null;
    summary[`${c}_ratio_rss_torch`] = e.ours && e.torch ? e.ours.peak_rss_mib / e.torch.peak_rss_mib : null;
    // Speed by CPU seconds per step (training): PyTorch's CPU time over ours.
    const cpuRatio = e.ours?.cpu_s?.length && e.torch?.cpu_s?.length ? median(e.torch.cpu_s) / median(e.ours.cpu_s) : undefined;
    if (c.startsWith('train')) {
      summary[`${c}_cpu_s`] = e.ours?.cpu_s?.length ? median(e.ours.cpu_s) : null;
      summary[`${c}_torch_cpu_s`] = e.torch?.cpu_s?.length ? median(e.torch.cpu_s) : null;
      summary[`${c}_ratio_torch_cpu`] = cpuRatio ?? null;
    }
    const loads = [e.ours, e.torch, e.ort].filter((r): r is CaseResult => !!r).flatMap((r) => [r.load_before, r.load_after]);
    rows.push([
      c,
      fmt(ours),
      fmt(torch),
      c.startsWith('infer') ? fmt(ort) : 'n/a',
      ours && torch ? `${fmt(ours / torch, 2)}×` : '—',
      cpuRatio ? `${fmt(cpuRatio, 2)}×` : c.startsWith('train') ? '—' : 'n/a',
      ours && ort ? `${fmt(ours / ort, 2)}×` : c.startsWith('infer') ? '—' : 'n/a',
      fmt(ours && flopsPerImage ? (ours * flopsPerImage) / 1e9 : undefined),
      `${fmt(e.ours?.peak_rss_mib, 0)} / ${fmt(e.torch?.peak_rss_mib, 0)}`,
      loads.length ? `${fmt(Math.min(...loads), 2)}–${fmt(Math.max(...loads), 2)}` : '—',
    ]);
  }
  const prows: string[][] = [
    ['case', 'JPEG folder img/s', 'tensors img/s', 'folder/tensors', 'steps per mode', 'worker threads, prefetch', 'load (1-min avg)'],
  ];
  for (const [c, p] of Object.entries(pipelines)) {
    const ratio = p.folder.img_s / p.tensors.img_s;
    summary[`${c}_img_s`] = p.folder.img_s;
    summary[`${c}_tensors_img_s`] = p.tensors.img_s;
    summary[`${c}_ratio_tensors`] = ratio;
    prows.push([
      c,
      fmt(p.folder.img_s),
      fmt(p.tensors.img_s),
      `${fmt(ratio, 3)}×`,
      String(p.folder.steps),
      `${p.workers}, ${p.prefetch}`,
      `${fmt(p.load_before, 2)}–${fmt(p.load_after, 2)}`,
    ]);
  }
  const srows = serveRows(serve, summary);
  const frows = folderRows(folders, summary);
  const render = (rs: string[][]): string => {
    const widths = rs[0]!.map((_, i) => Math.max(...rs.map((r) => r[i]!.length)));
    return rs
      .map(
        (r, k) =>
          `| ${r.map((v, i) => v.padEnd(widths[i]!)).join(' | ')} |${k === 0 ? `\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|` : ''}`,
      )
      .join('\n');
  };
  log(`\n${o.threads} thread(s), CPU: ${summary.cpu} (${summary.cpu_flags || 'no AVX2'})`);
  if (rows.length > 1) log(render(rows));
  for (const [c, e] of Object.entries(results)) {
    const p = e.ours?.profile;
    if (!p) continue;
    const t = e.torch?.profile;
    log(
      `\n${c}: one step by operation, ms (ours: ONNX Runtime's profiler, kernel time, best of ${o.profile} steps, load ${fmt(p.load_before, 1)}–${fmt(p.load_after, 1)}; ` +
        `PyTorch: torch.profiler, self CPU time${t ? `, load ${fmt(t.load_before, 1)}–${fmt(t.load_after, 1)}` : ''})`,
    );
    log(render(profileRows(p, t)));
    for (const [k, v] of Object.entries(p.ms)) summary[`${c}_profile_${k.replace(/\W+/g, '_')}_ms`] = v;
    if (t) for (const [k, v] of Object.entries(t.ms)) summary[`${c}_torch_profile_${k.replace(/\W+/g, '_')}_ms`] = v;
  }
  if (prows.length > 1) log(`\n${render(prows)}`);
  if (srows.length > 1) log(`\n${render(srows)}`);
  if (frows.length > 1) log(`\n${render(frows)}`);

  const dir = join(here, 'results');
  mkdirSync(dir, { recursive: true });
  const payload = JSON.stringify({ summary, results, pipelines, serve, folders }, null, 1);
  const file = join(dir, `${(summary.date as string).replace(/[:.]/g, '-')}.json`);
  writeFileSync(`${file}.tmp`, payload);
  renameSync(`${file}.tmp`, file);
  writeFileSync(join(dir, 'latest.json'), payload);
  log(`saved ${file}`);
  if (o.json) console.log(JSON.stringify(summary));
}

/** The serve case's table (and its summary figures). */
function serveRows(serve: ServeResult | undefined, summary: Record<string, number | string | null>): string[][] {
  const rows = [['model', 'concurrency', 'req/s', 'p50 ms', 'p99 ms', 'statuses', 'req/s ÷ batch-16 img/s', 'load (1-min avg)']];
  for (const m of serve?.models ?? []) {
    for (const l of [...m.loads, ...(m.overload ? [m.overload] : [])]) {
      const over =
        l === m.overload
          ? ` (overload, --max-queue ${m.overload.max_queue}, RSS ${fmt(m.overload.rss_before_mib, 0)}→${fmt(m.overload.rss_after_mib, 0)} MiB)`
          : '';
      rows.push([
        m.model,
        `${l.concurrency}${over}`,
        fmt(l.req_s),
        fmt(l.p50_ms),
        fmt(l.p99_ms),
        JSON.stringify(l.statuses),
        `${fmt(l.req_s / m.batch16_img_s, 2)}× of ${fmt(m.batch16_img_s)}`,
        `${fmt(serve!.load_before, 2)}–${fmt(serve!.load_after, 2)}`,
      ]);
      summary[`serve_${m.model}_c${l.concurrency}_req_s`] = l.req_s;
    }
    summary[`serve_${m.model}_batch16_img_s`] = m.batch16_img_s;
  }
  return rows;
}

/** The folder cases' table (and their summary figures). */
function folderRows(folders: Record<string, FolderResult>, summary: Record<string, number | string | null>): string[][] {
  const rows = [
    [
      'case',
      'images',
      '--threads',
      '--workers',
      'predict img/s',
      'batch-16 forward img/s',
      'ratio',
      'ceiling img/s (ratio)',
      'wall s',
      'peak RSS MiB',
      'load (1-min avg)',
    ],
  ];
  for (const [c, f] of Object.entries(folders)) {
    for (const r of f.runs) {
      rows.push([
        `${c} (${f.side.join('–')} px JPEGs, ${fmt(f.jpeg_bytes_mean / 1024)} KiB)`,
        String(f.images),
        String(r.threads),
        String(r.workers),
        fmt(r.img_s),
        fmt(r.forward_img_s),
        `${fmt(r.img_s / r.forward_img_s, 2)}×`,
        `${fmt(r.ceiling_img_s)} (${fmt(r.ceiling_img_s / r.forward_img_s, 2)}×)`,
        fmt(r.wall_s),
        fmt(r.peak_rss_mib, 0),
        `${fmt(r.load_before, 2)}–${fmt(r.load_after, 2)}`,
      ]);
      summary[`${c}_t${r.threads}_w${r.workers}_img_s`] = r.img_s;
      summary[`${c}_t${r.threads}_w${r.workers}_ratio_forward`] = r.img_s / r.forward_img_s;
    }
    for (const [w, v] of Object.entries(f.decode_img_s)) summary[`${c}_decode_only_w${w}_img_s`] = v;
    for (const [w, v] of Object.entries(f.decode_cpu_ms)) summary[`${c}_decode_only_w${w}_cpu_ms`] = v;
  }
  return rows;
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
