/**
 * Pooling lowerings that every ONNX Runtime provider runs:
 *
 * - ceil mode without `ceil_mode` 1 (max pools: extra end padding; average pools: window sums
 *   over PyTorch's divisors, which with `count_include_pad` count the real padding and not ceil
 *   mode's overhang) gives PyTorch's outputs bit for bit, and ONNX's own `ceil_mode` 1 outputs
 *   (bit for bit where ONNX Runtime, too, adds each window row by row);
 * - the max-pool gradient without Indices (`maxPoolGrad: 'masks'`) routes every window's dy to
 *   the same position as the Indices + ScatterElements one, in float32 and float64, on inputs full
 *   of ties: bit for bit with cotangents whose sums are exact in any order, and within float
 *   rounding with any cotangent (the two add shared windows in different orders); and both equal
 *   PyTorch's `max_pool2d` backward (its first maximum in row-major order takes dy).
 *
 * The PyTorch references come from Debian's python3-torch; without it those tests are skipped
 * with a message.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import '../../runtime/engine-node.js';
import { getDefaultEngine } from '../../runtime/engine.js';
import { numel } from '../../tensor.js';
import { backward, lowerForward } from '../autodiff.js';
import { GraphBuilder } from '../builder.js';
import type { Graph, PoolNode } from '../ir.js';
import { lowerToOnnx } from '../lower.js';
import { OnnxGraphBuilder } from '../onnx.js';
import type { FloatType, MaxPoolGradMethod } from './index.js';

/** One pooling layer: kernel k, stride s, padding p on every side, over a C×H×W input. */
interface PoolCase {
  k: number;
  s: number;
  p: number;
  ceil: boolean;
  c: number;
  h: number;
  w: number;
}

const tag = (pc: PoolCase): string => `${pc.k}×${pc.k}/${pc.s} pad ${pc.p}${pc.ceil ? ' ceil' : ''} on ${pc.h}×${pc.w}`;

// GoogLeNet's pools, then odd sizes, strides 2 and 3, padding, a kernel smaller than its stride,
// and floor mode leaving the input's last rows unread.
const CASES: PoolCase[] = [
  { k: 3, s: 2, p: 0, ceil: true, c: 2, h: 7, w: 8 },
  { k: 3, s: 1, p: 1, ceil: true, c: 2, h: 5, w: 6 },
  { k: 2, s: 2, p: 0, ceil: true, c: 2, h: 5, w: 7 },
  { k: 3, s: 2, p: 1, ceil: true, c: 2, h: 6, w: 9 },
  { k: 3, s: 3, p: 1, ceil: true, c: 2, h: 8, w: 10 },
  { k: 2, s: 3, p: 0, ceil: true, c: 2, h: 7, w: 11 },
  { k: 5, s: 3, p: 2, ceil: true, c: 2, h: 9, w: 13 },
  { k: 3, s: 2, p: 0, ceil: false, c: 2, h: 8, w: 7 },
  { k: 2, s: 3, p: 1, ceil: false, c: 2, h: 7, w: 9 },
];

const BATCH = 2;

function poolGraph(pc: PoolCase, op: 'maxpool' | 'avgpool', countIncludePad = true): { graph: Graph; node: PoolNode } {
  const gb = new GraphBuilder();
  const x = gb.input('x', [pc.c, pc.h, pc.w]);
  const base = { input: x.id, kernel: [pc.k, pc.k], stride: [pc.s, pc.s], pads: [pc.p, pc.p, pc.p, pc.p], ceil: pc.ceil } as const;
  const y = gb.add('pool', op === 'maxpool' ? { op, ...base } : { op, ...base, countIncludePad });
  gb.output('y', y);
  const graph = gb.build();
  return { graph, node: graph.nodes.find((n) => n.id === y.id) as PoolNode };
}

/** A small deterministic generator (tests only): integers in [lo, hi]. */
function ints(seed: number, lo: number, hi: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return lo + ((s >>> 0) % (hi - lo + 1));
  };
}

/** Values full of ties: ReLU'd small integers (about half of them zeros). */
function tieHeavy(n: number, seed: number, dtype: FloatType): Float32Array | Float64Array {
  const r = ints(seed, -4, 3);
  const out = dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.max(r(), 0);
  return out;
}

/** Random values with many bits, so that sums in different orders would round differently. */
function noisy(n: number, seed: number, dtype: FloatType): Float32Array | Float64Array {
  const r = ints(seed, -1_000_000, 1_000_000);
  const out = dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = r() / 7_777.77 + r() * 1e-9;
  return out;
}

/**
 * Cotangents whose sums are exact in any order in float32 and float64: multiples of 1/64 below
 * 16 in magnitude (a sum of a few dozen of them needs far fewer than float32's 24 bits).
 */
function dyadic(n: number, seed: number, dtype: FloatType): Float32Array | Float64Array {
  const r = ints(seed, -1000, 1000);
  const out = dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = r() / 64;
  return out;
}

/** Whether two arrays are equal element for element (−0 and +0 alike), and where they first differ. */
function firstDiff(a: ArrayLike<number>, b: ArrayLike<number>): string | undefined {
  if (a.length !== b.length) return `lengths ${a.length} and ${b.length}`;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `at ${i}: ${a[i]} vs ${b[i]}`;
  return undefined;
}

/**
 * Averages of the same window added in another order: apart by a few float32 roundings of the
 * partial sums, so by at most 16·2⁻²⁴ times the largest input magnitude.
 */
function assertClose(ours: ArrayLike<number>, ref: ArrayLike<number>, x: ArrayLike<number>, what: string): void {
  assert.equal(ours.length, ref.length, `${what}: sizes`);
  let scale = 0;
  for (let k = 0; k < x.length; k++) scale = Math.max(scale, Math.abs(x[k]!));
  for (let k = 0; k < ref.length; k++) {
    assert.ok(Math.abs(ours[k]! - ref[k]!) <= 16 * 2 ** -24 * scale, `${what}: value ${k} is ${ours[k]} vs ${ref[k]}`);
  }
}

/** ONNX's own ceil mode, as the pools were lowered before: one node with `ceil_mode` 1. */
function ceilModeReference(pc: PoolCase, op: 'maxpool' | 'avgpool', countIncludePad: boolean): Uint8Array {
  const b = new OnnxGraphBuilder('ceil_reference');
  b.input({ name: 'x', dtype: 'float32', dims: ['N', pc.c, pc.h, pc.w] });
  const attrs = { kernel_shape: [pc.k, pc.k], strides: [pc.s, pc.s], pads: [pc.p, pc.p, pc.p, pc.p], ceil_mode: pc.ceil ? 1 : 0 };
  if (op === 'maxpool') b.node('MaxPool', ['x'], ['y'], attrs);
  else b.node('AveragePool', ['x'], ['y'], { ...attrs, count_include_pad: countIncludePad ? 1 : 0 });
  // Sizes left open: ONNX's shape inference ignores ceil mode's rule that a window starts inside.
  b.output({ name: 'y', dtype: 'float32', dims: ['N', pc.c, 'Ho', 'Wo'] });
  return b.encode();
}

async function runOnce(bytes: Uint8Array, x: Float32Array | Float64Array, dims: number[]): Promise<{ dims: number[]; data: Float32Array }> {
  const s = await getDefaultEngine().createSession(bytes, { threads: 1 });
  try {
    const r = await s.run({ x: { dims, data: x } });
    const y = Object.values(r)[0]!;
    return { dims: [...y.dims], data: y.data as Float32Array };
  } finally {
    await s.release();
  }
}

describe('ceil mode without ceil_mode 1', () => {
  const variants = [
    ['maxpool', true],
    ['avgpool', true],
    ['avgpool', false],
  ] as const;
  for (const pc of CASES) {
    for (const [op, cip] of variants) {
      const name = `${op} ${tag(pc)}${op === 'avgpool' ? ` count_include_pad=${cip}` : ''}`;
      // ONNX Runtime's own ceil mode adds a window row by row (as PyTorch, and as our ceil-mode
      // average pools), except for an average without padding at strides ≤ 2 (column by column).
      const exact = op === 'maxpool' || cip || !pc.ceil || pc.s > 2;
      it(`${name}: the outputs of ONNX's ceil_mode 1, ${exact ? 'bit for bit' : "within float32's last bits"}`, async () => {
        const { graph } = poolGraph(pc, op, cip);
        const outShape = graph.shapes.get(graph.outputs.y!)!;
        const ours = lowerToOnnx(graph, { mode: 'eval', weights: new Map() }).bytes;
        const dims = [BATCH, pc.c, pc.h, pc.w];
        const x = noisy(numel(dims), pc.k * 100 + pc.h, 'float32') as Float32Array;
        const a = await runOnce(ours, x, dims);
        const b = await runOnce(ceilModeReference(pc, op, cip), x, dims);
        assert.deepEqual(a.dims, [BATCH, ...outShape]);
        assert.deepEqual(b.dims, a.dims, 'ONNX Runtime ceil mode gives the same output size');
        if (exact) {
          const d = firstDiff(a.data, b.data);
          assert.equal(d, undefined, `differs ${d}`);
        } else {
          assertClose(a.data, b.data, x, name);
        }
      });
    }
  }
});

interface GradRun {
  y: Float32Array | Float64Array;
  dx: Float32Array | Float64Array;
  /** The ONNX nodes of the lowered forward and backward. */
  ops: { opType: string; outputs: number }[];
}

/** The max pool's output and input gradient for the cotangent dy, lowered with `method`. */
async function maxPoolGrad(
  pc: PoolCase,
  method: MaxPoolGradMethod,
  dtype: FloatType,
  x: Float32Array | Float64Array,
  dy: Float32Array | Float64Array,
): Promise<GradRun> {
  const { graph } = poolGraph(pc, 'maxpool');
  const yv = graph.outputs.y!;
  const outDims = [BATCH, ...graph.shapes.get(yv)!];
  const inDims = [BATCH, pc.c, pc.h, pc.w];
  const b = new OnnxGraphBuilder('maxpool_grad');
  b.input({ name: 'x', dtype, dims: inDims });
  b.input({ name: 'dy', dtype, dims: outDims });
  const fwd = lowerForward({ b, graph, param: (p) => p, dtype, lowering: { maxPoolGrad: method } });
  const gr = backward(fwd, { seeds: { [yv]: 'dy' }, inputGrad: true });
  b.node('Identity', [yv], ['y_out']);
  b.node('Identity', [gr.input!], ['dx']);
  b.output({ name: 'y_out', dtype, dims: outDims });
  b.output({ name: 'dx', dtype, dims: inDims });
  const s = await getDefaultEngine().createSession(b.encode(), { threads: 1 });
  try {
    const r = await s.run({ x: { dims: inDims, data: x }, dy: { dims: outDims, data: dy } });
    return {
      y: r.y_out!.data as Float32Array | Float64Array,
      dx: r.dx!.data as Float32Array | Float64Array,
      ops: b.nodes.map((n) => ({ opType: n.opType, outputs: n.outputs.length })),
    };
  } finally {
    await s.release();
  }
}

/** A tie-heavy input and a cotangent: `exact` sums exactly in any order, else many-bit noise. */
function gradInputs(
  pc: PoolCase,
  dtype: FloatType,
  seed: number,
  cotangent: 'exact' | 'noisy',
): { x: Float32Array | Float64Array; dy: Float32Array | Float64Array } {
  const { graph } = poolGraph(pc, 'maxpool');
  const n = BATCH * numel(graph.shapes.get(graph.outputs.y!)!);
  return {
    x: tieHeavy(BATCH * pc.c * pc.h * pc.w, seed, dtype),
    dy: cotangent === 'exact' ? dyadic(n, seed + 1, dtype) : noisy(n, seed + 1, dtype),
  };
}

/** Sums of the same terms in another order: within a few roundings of the largest partial sum. */
function assertSameSums(ours: ArrayLike<number>, ref: ArrayLike<number>, dy: ArrayLike<number>, dtype: FloatType, what: string): void {
  let total = 0;
  for (let k = 0; k < dy.length; k++) total += Math.abs(dy[k]!);
  const eps = (dtype === 'float64' ? 2 ** -52 : 2 ** -23) * 8 * total;
  for (let k = 0; k < ref.length; k++) assert.ok(Math.abs(ours[k]! - ref[k]!) <= eps, `${what}: dx[${k}] is ${ours[k]} vs ${ref[k]}`);
}

describe("max-pool gradient without Indices (maxPoolGrad 'masks')", () => {
  for (const dtype of ['float32', 'float64'] as const) {
    for (const pc of CASES) {
      it(`${tag(pc)} [${dtype}]: routes dy as the Indices gradient, on ReLU'd integers (many ties, all-zero windows)`, async () => {
        const seed = pc.k * 31 + pc.s * 7 + pc.h;
        const { x, dy } = gradInputs(pc, dtype, seed, 'exact');
        const masks = await maxPoolGrad(pc, 'masks', dtype, x, dy);
        const indices = await maxPoolGrad(pc, 'indices', dtype, x, dy);
        assert.equal(firstDiff(masks.y, indices.y), undefined, 'the same forward');
        const d = firstDiff(masks.dx, indices.dx);
        assert.equal(d, undefined, `dx differs ${d}`);
        assert.ok(
          masks.dx.some((v) => v !== 0),
          'a nonzero gradient',
        );
        // Nothing the WebGPU providers lack: no Indices output, no scatter.
        for (const op of masks.ops) {
          assert.ok(!['ScatterElements', 'MaxUnpool', 'ConstantOfShape'].includes(op.opType), `masks lowering uses ${op.opType}`);
          if (op.opType === 'MaxPool') assert.equal(op.outputs, 1, 'MaxPool without Indices');
        }
        assert.ok(indices.ops.some((op) => op.opType === 'MaxPool' && op.outputs === 2));
        // Many-bit cotangents: the same sums, added in another order.
        const noisy = gradInputs(pc, dtype, seed, 'noisy');
        const a = await maxPoolGrad(pc, 'masks', dtype, noisy.x, noisy.dy);
        const b = await maxPoolGrad(pc, 'indices', dtype, noisy.x, noisy.dy);
        assertSameSums(a.dx, b.dx, noisy.dy, dtype, tag(pc));
      });
    }
  }

  it('a window of equal maxima and a window of zeros each give all of dy to their first tap (row-major)', async () => {
    const pc: PoolCase = { k: 3, s: 2, p: 1, ceil: true, c: 1, h: 5, w: 5 };
    // Rows 0–1 all 7 (ties across overlapping windows), the rest zeros.
    const x = Float64Array.from({ length: BATCH * 25 }, (_, i) => (i % 25 < 10 ? 7 : 0));
    const dy = Float64Array.from({ length: BATCH * 9 }, (_, i) => 1 + i);
    for (const method of ['masks', 'indices'] as const) {
      const { dx } = await maxPoolGrad(pc, method, 'float64', x, dy);
      // Output (0, ox) covers input rows −1…1, columns 2·ox−1…2·ox+1: its first maximum is (0, max(2·ox−1, 0)).
      // Output (1, ox) covers rows 1…3: first maximum at (1, max(2·ox−1, 0)); output (2, ox) covers rows 3…5: zeros, first (3, …).
      const expected = new Float64Array(25);
      for (let oy = 0; oy < 3; oy++) {
        for (let ox = 0; ox < 3; ox++) {
          const row = oy === 0 ? 0 : oy === 1 ? 1 : 3;
          const col = Math.max(2 * ox - 1, 0);
          expected[row * 5 + col]! += dy[oy * 3 + ox]!;
        }
      }
      assert.deepEqual(Array.from(dx.subarray(0, 25)), Array.from(expected), method);
    }
  });
});

const PYTHON = '/usr/bin/python3';
const torchCheck = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' });
const torchSkip =
  torchCheck.status === 0
    ? false
    : `needs ${PYTHON} with torch and numpy (python3-torch): ${(torchCheck.error?.message ?? torchCheck.stderr.trim().split('\n').pop()) || 'import failed'}`;

/** PyTorch's forward (and, with `dy`, `max_pool2d`'s input gradient) of one pooling case. */
interface TorchJob {
  op: 'maxpool' | 'avgpool';
  pc: PoolCase;
  countIncludePad: boolean;
  x: Float32Array | Float64Array;
  dy?: Float64Array;
}

const TORCH_SCRIPT = `
import json, sys
import numpy as np, torch
torch.set_num_threads(1)
d = sys.argv[1]
F = torch.nn.functional
for i, j in enumerate(json.load(open(d + '/jobs.json'))):
    p = j['pc']
    dt = np.float64 if j['dtype'] == 'float64' else np.float32
    x = torch.from_numpy(np.fromfile(f'{d}/x_{i}.raw', dtype=dt).reshape(j['dims'])).requires_grad_(j['grad'])
    if j['op'] == 'maxpool':
        y = F.max_pool2d(x, p['k'], p['s'], p['p'], ceil_mode=p['ceil'])
    else:
        y = F.avg_pool2d(x, p['k'], p['s'], p['p'], ceil_mode=p['ceil'], count_include_pad=j['cip'])
    y.detach().numpy().astype(dt).tofile(f'{d}/y_{i}.raw')
    if j['grad']:
        dy = torch.from_numpy(np.fromfile(f'{d}/dy_{i}.raw', dtype=np.float64).reshape(y.shape))
        y.backward(dy)
        x.grad.numpy().tofile(f'{d}/dx_{i}.raw')
`;

/** Runs every job in one python process: [y, dx?] per job. */
function torchRun(jobs: TorchJob[]): { y: Float32Array | Float64Array; dx?: Float64Array }[] {
  const dir = mkdtempSync(join(tmpdir(), 'googlenet-pool-torch-'));
  try {
    const spec = jobs.map((j, i) => {
      writeFileSync(join(dir, `x_${i}.raw`), j.x);
      if (j.dy) writeFileSync(join(dir, `dy_${i}.raw`), j.dy);
      const dtype = j.x instanceof Float64Array ? 'float64' : 'float32';
      return { op: j.op, pc: j.pc, cip: j.countIncludePad, dtype, dims: [BATCH, j.pc.c, j.pc.h, j.pc.w], grad: j.dy !== undefined };
    });
    writeFileSync(join(dir, 'jobs.json'), JSON.stringify(spec));
    const r = spawnSync(PYTHON, ['-c', TORCH_SCRIPT, dir], { encoding: 'utf8', timeout: 300_000 });
    assert.equal(r.status, 0, `python failed: ${r.stderr}`);
    const read = (f: string, f64: boolean): Float32Array | Float64Array => {
      const b = readFileSync(join(dir, f));
      const buf = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
      return f64 ? new Float64Array(buf) : new Float32Array(buf);
    };
    return jobs.map((j, i) => ({
      y: read(`y_${i}.raw`, j.x instanceof Float64Array),
      ...(j.dy ? { dx: read(`dx_${i}.raw`, true) as Float64Array } : {}),
    }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('pooling against PyTorch', { skip: torchSkip }, () => {
  it("forward: bit for bit, except average pools without ceil mode at strides ≤ 2 (ONNX Runtime's AveragePool): within float32's last bits", async () => {
    const jobs: TorchJob[] = [];
    for (const pc of CASES) {
      const x = noisy(BATCH * pc.c * pc.h * pc.w, pc.k * 100 + pc.h, 'float32');
      jobs.push({ op: 'maxpool', pc, countIncludePad: true, x });
      for (const cip of [true, false]) jobs.push({ op: 'avgpool', pc, countIncludePad: cip, x });
    }
    const ref = torchRun(jobs);
    for (const [i, j] of jobs.entries()) {
      const name = `${j.op} ${tag(j.pc)}${j.op === 'avgpool' ? ` count_include_pad=${j.countIncludePad}` : ''}`;
      const { graph } = poolGraph(j.pc, j.op, j.countIncludePad);
      const ours = await runOnce(lowerToOnnx(graph, { mode: 'eval', weights: new Map() }).bytes, j.x, [BATCH, j.pc.c, j.pc.h, j.pc.w]);
      const theirs = ref[i]!.y;
      assert.equal(ours.data.length, theirs.length, `${name}: output size`);
      if (j.op === 'maxpool' || j.pc.ceil || j.pc.s > 2) {
        const d = firstDiff(ours.data, theirs);
        assert.equal(d, undefined, `${name}: differs ${d}`);
      } else {
        assertClose(ours.data, theirs, j.x, name);
      }
    }
  });

  it("max_pool2d backward on ReLU'd integers (ties, zero windows): equal to PyTorch's float64 gradient, both formulations", async () => {
    const jobs: TorchJob[] = CASES.map((pc) => {
      const { x, dy } = gradInputs(pc, 'float64', pc.k * 17 + pc.w, 'exact');
      return { op: 'maxpool', pc, countIncludePad: true, x, dy: dy as Float64Array };
    });
    const ref = torchRun(jobs);
    for (const [i, j] of jobs.entries()) {
      for (const method of ['masks', 'indices'] as const) {
        const ours = await maxPoolGrad(j.pc, method, 'float64', j.x, j.dy!);
        const d = firstDiff(ours.dx, ref[i]!.dx!);
        assert.equal(d, undefined, `${tag(j.pc)} ${method}: dx differs from PyTorch ${d}`);
        assert.equal(firstDiff(ours.y, ref[i]!.y), undefined, `${tag(j.pc)}: forward`);
      }
    }
  });
});
