/**
 * Where a training step's time goes, per operation, next to PyTorch's (`npm run bench`, training
 * cases): our step under ONNX Runtime's profiler (each node's kernel time, the minimum over the
 * profiled steps), PyTorch's under `torch.profiler` (self CPU time per aten op, the faster of the
 * profiled steps; `torch_bench.py --profile`), both summed into the same operation categories.
 *
 * Our nodes are named after what emitted them (`fwd:conv:inception3a.branch2.1.conv/Conv_123`,
 * `bwd:maxpool:…`, `optimizer/…`: `OnnxGraphBuilder.scoped`); ONNX Runtime's own layout nodes
 * (`ReorderInput`, `…_nchwc`) wrap its vectorised pools. Also: the CPU the figures belong to.
 */
import { readFileSync, readdirSync, unlinkSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';

/** The categories both tables use, in display order. */
export const OP_CATEGORIES = [
  'conv forward',
  'conv backward',
  'max pool',
  'batch norm',
  'relu',
  'concat / split',
  'gradient sums',
  'optimizer',
  'other',
] as const;
export type OpCategory = (typeof OP_CATEGORIES)[number];

export interface StepProfile {
  /** Milliseconds per step by category. */
  ms: Record<OpCategory, number>;
  /** Sum of the categories. */
  total_ms: number;
  /** Wall time of the fastest profiled step (ours: ORT's model_run). */
  step_ms: number;
  load_before: number;
  load_after: number;
}

/** The category of one of our ONNX nodes, from its name (`phase:op:node/OpType_i`). */
export function ourCategory(nodeName: string): OpCategory {
  const scope = nodeName.includes('/') ? nodeName.slice(0, nodeName.lastIndexOf('/')) : '';
  const [phase, op] = scope.split(':');
  if (scope === 'optimizer' || scope === 'params') return 'optimizer';
  if (op === 'conv' || op === 'siblingconv') return phase === 'fwd' ? 'conv forward' : 'conv backward';
  if (op === 'maxpool' || /Reorder|_nchwc/.test(nodeName)) return 'max pool';
  if (op === 'batchnorm') return 'batch norm';
  if (op === 'relu') return 'relu';
  if (op === 'concat') return 'concat / split';
  if (op === 'fanout') return 'gradient sums';
  return 'other';
}

const empty = (): Record<OpCategory, number> => Object.fromEntries(OP_CATEGORIES.map((c) => [c, 0])) as Record<OpCategory, number>;

interface ProfileEvent {
  cat: string;
  name: string;
  ts: number;
  dur: number;
}

/** Sums an ONNX Runtime profile (JSON events) by category: per node, its minimum over the runs after the first. */
export function summarizeOrtProfile(events: ProfileEvent[]): Pick<StepProfile, 'ms' | 'total_ms' | 'step_ms'> {
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').slice(1);
  const inRun = (e: ProfileEvent): boolean => runs.some((r) => e.ts >= r.ts && e.ts <= r.ts + r.dur);
  const perNode = new Map<string, number>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || !inRun(e)) continue;
    const name = e.name.slice(0, -'_kernel_time'.length);
    perNode.set(name, Math.min(perNode.get(name) ?? Infinity, e.dur / 1000));
  }
  const ms = empty();
  for (const [name, t] of perNode) ms[ourCategory(name)] += t;
  const total_ms = Object.values(ms).reduce((a, b) => a + b, 0);
  return { ms, total_ms, step_ms: Math.min(...runs.map((r) => r.dur / 1000)) };
}

/**
 * Our training step of a bench case under ONNX Runtime's profiler (run in a child process): one
 * unprofiled warm-up inside the profile (dropped), then `steps` profiled steps.
 */
export async function profileOurStep(
  build: (engine: import('../src/runtime/engine.js').Engine) => Promise<{ step: () => Promise<unknown>; dispose: () => Promise<void> }>,
  steps: number,
): Promise<StepProfile> {
  const { ortEngine } = await import('../src/runtime/engine.js');
  type OrtModule = import('../src/runtime/engine.js').OrtModule;
  const prefix = join(tmpdir(), `googlenet-bench-profile-${process.pid}`);
  const profiled: OrtModule = {
    Tensor: ort.Tensor as unknown as OrtModule['Tensor'],
    InferenceSession: {
      create: (model, options) => ort.InferenceSession.create(model, { ...options, enableProfiling: true, profileFilePrefix: prefix }),
    },
  };
  const { nodeEngine } = await import('../src/runtime/engine-node.js');
  const engine = ortEngine(profiled, { name: nodeEngine.name, ...(nodeEngine.memoryBytes ? { memoryBytes: nodeEngine.memoryBytes } : {}) });
  const load_before = loadavg()[0]!;
  const run = await build(engine);
  for (let i = 0; i <= steps; i++) await run.step();
  await run.dispose(); // releasing the session writes the profile
  const load_after = loadavg()[0]!;
  const files = readdirSync(tmpdir()).filter((f) => f.startsWith(`googlenet-bench-profile-${process.pid}`));
  let best: Pick<StepProfile, 'ms' | 'total_ms' | 'step_ms'> | undefined;
  for (const f of files) {
    const path = join(tmpdir(), f);
    const s = summarizeOrtProfile(JSON.parse(readFileSync(path, 'utf8')) as ProfileEvent[]);
    unlinkSync(path);
    if (s.total_ms > (best?.total_ms ?? 0)) best = s; // the training session (not the probe's)
  }
  if (!best) throw new Error('profile: ONNX Runtime wrote no profile');
  return { ...best, load_before, load_after };
}

/** The CPU the figures belong to: its model name and the SIMD flags that pick MLAS's kernels. */
export function cpuInfo(): { model: string; flags: string[] } {
  try {
    const text = readFileSync('/proc/cpuinfo', 'utf8');
    const model = /^model name\s*:\s*(.*)$/m.exec(text)?.[1]?.trim() ?? 'unknown';
    const flags = (/^flags\s*:\s*(.*)$/m.exec(text)?.[1] ?? '').split(/\s+/);
    const wanted = ['avx2', 'fma', 'avx512f', 'avx512bw', 'avx512_vnni', 'avx_vnni', 'avx512_bf16', 'amx_tile', 'amx_int8'];
    return { model, flags: wanted.filter((f) => flags.includes(f)) };
  } catch {
    return { model: 'unknown (no /proc/cpuinfo)', flags: [] };
  }
}

/** The per-operation table of one case: ours next to PyTorch's, largest of ours first. */
export function profileRows(ours: StepProfile, torch?: StepProfile): string[][] {
  const rows = [['operation', 'ours ms', 'ours %', 'PyTorch ms', 'PyTorch %', 'ours / PyTorch']];
  const order = [...OP_CATEGORIES].sort((a, b) => ours.ms[b] - ours.ms[a]);
  const pct = (p: StepProfile, c: OpCategory): string => `${((100 * p.ms[c]) / p.total_ms).toFixed(1)}`;
  for (const c of order) {
    const t = torch?.ms[c];
    rows.push([
      c,
      ours.ms[c].toFixed(0),
      pct(ours, c),
      t === undefined ? '—' : t.toFixed(0),
      torch ? pct(torch, c) : '—',
      t ? `${(ours.ms[c] / t).toFixed(2)}×` : '—',
    ]);
  }
  rows.push([
    'total (kernels)',
    ours.total_ms.toFixed(0),
    '100',
    torch ? torch.total_ms.toFixed(0) : '—',
    torch ? '100' : '—',
    torch ? `${(ours.total_ms / torch.total_ms).toFixed(2)}×` : '—',
  ]);
  return rows;
}
