/**
 * Every operation's gradient against central finite differences of its own ONNX forward, on
 * small random shapes. The objective is L = Σ r ⊙ op(x; θ) for a random cotangent r, so the
 * analytic gradients are exactly the backward pass seeded with r.
 *
 * Float64 where ONNX Runtime's CPU kernels have it (MatMul, Gemm, Relu, MaxPool, ScatterElements,
 * Gather, the reductions, Where, LogSoftmax …). Conv, ConvTranspose, AveragePool,
 * GlobalAveragePool and LRN are float32-only in ONNX Runtime: a float64 lowering computes conv as
 * Gather (im2col) + MatMul, so conv is checked in float64 on that path; the production float32
 * conv gradients (flipped-kernel Conv, ConvTranspose, unfold/shift weight gradients) are checked
 * against direct float64 loops, and by finite differences in float32 with a larger step and a
 * looser tolerance. Pooling with AveragePool/ConvTranspose and LRN run in float32 (noted per case).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { existsSync, readFileSync } from 'node:fs';
import '../runtime/engine-node.js';
import { getDefaultEngine } from '../runtime/engine.js';
import { GraphBuilder, type Sym } from './builder.js';
import type { Graph } from './ir.js';
import { OptionError } from '../errors.js';
import { backward, lowerForward } from './autodiff.js';
import { fuseSiblingConvs } from './fuse.js';
import { OnnxGraphBuilder } from './onnx.js';
import { nchwcBlockSize } from '../runtime/probe.js';
import { softmaxCrossEntropy, type ConvGradOptions, type ConvWeightGradMethod, type FloatType, type LoweringOptions } from './ops/index.js';
import * as L from '../layers/index.js';
import { numel, relativeError, type TensorArray } from '../tensor.js';
import { float64Conv } from '../../test/float64-ops.js';

/** A small deterministic generator (tests only): uniform in [-1, 1). */
function rand(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) / 2 ** 32) * 2 - 1;
  };
}

interface Case {
  name: string;
  /** Per-sample input shape. */
  input: number[];
  build: (x: Sym) => Sym;
  dtype: FloatType;
  batch?: number;
  /** Finite-difference step. Default 1e-6 (float64), 1e-2 (float32). */
  eps?: number;
  /** Bound on ‖fd − analytic‖ / ‖analytic‖ per tensor. Default 1e-6 (float64), 2e-3 (float32). */
  tol?: number;
  /** Input values: random in [-1, 1) unless given (e.g. positive for some ops). */
  inputScale?: number;
  /** Parameter initial values per role. */
  init?: (name: string, i: number, r: () => number) => number;
  /** Lowering mode: 'train' (default) or 'eval' (running statistics, no dropout: what Grad-CAM differentiates). */
  mode?: 'train' | 'eval';
}

type FArray = Float32Array | Float64Array;

function alloc(dtype: FloatType, n: number): FArray {
  return dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
}

/** Float64 graphs lower convolutions as im2col + MatMul (ONNX Runtime's Conv is float32-only). */
const loweringFor = (dtype: FloatType): LoweringOptions => (dtype === 'float64' ? { conv: float64Conv } : {});

function singleOp(c: Case): Graph {
  const gb = new GraphBuilder();
  const x = gb.input('x', c.input);
  gb.output('y', c.build(x));
  return gb.build();
}

async function checkCase(c: Case): Promise<Record<string, number>> {
  // Sibling 1×1 convolutions fused, as training graphs lower them.
  const g = fuseSiblingConvs(singleOp(c)).graph;
  const dtype = c.dtype;
  const batch = c.batch ?? 2;
  const r = rand(numel(c.input) * 7919 + c.name.length);
  const outValue = g.outputs.y!;
  const outShape = [batch, ...g.shapes.get(outValue)!];
  const trainable = [...g.params.values()].filter((p) => !p.role.startsWith('bn.running') && p.role !== 'bn.num_batches_tracked');
  const buffers = [...g.params.values()].filter((p) => p.role.startsWith('bn.running'));

  const b = new OnnxGraphBuilder('fd');
  b.input({ name: 'x', dtype, dims: [batch, ...c.input] });
  b.input({ name: 'dy', dtype, dims: outShape });
  for (const p of [...trainable, ...buffers]) b.input({ name: p.name, dtype, dims: [...p.shape] });
  const hasDropout = g.nodes.some((n) => n.op === 'dropout');
  const seed = hasDropout ? b.constant('seed', { dims: [], dtype: 'int64', data: BigInt64Array.of(12345n) }) : undefined;
  const fwd = lowerForward({
    b,
    graph: g,
    param: (n) => n,
    dtype,
    lowering: loweringFor(dtype),
    ...(seed ? { seed } : {}),
    ...(c.mode ? { mode: c.mode } : {}),
  });
  const grads = backward(fwd, { seeds: { [outValue]: 'dy' }, inputGrad: true });
  b.node('Identity', [outValue], ['y_out']);
  b.output({ name: 'y_out', dtype, dims: outShape });
  const gradOuts: [string, string][] = [['x', grads.input!]];
  for (const p of trainable) gradOuts.push([p.name, grads.params.get(p.name)!]);
  for (const [name, v] of gradOuts) {
    assert.ok(v, `${c.name}: no gradient for ${name}`);
    b.node('Identity', [v], [`grad:${name}`]);
    b.output({ name: `grad:${name}`, dtype, dims: name === 'x' ? [batch, ...c.input] : [...g.params.get(name)!.shape] });
  }
  const session = await getDefaultEngine().createSession(b.encode(), { threads: 1 });

  const values = new Map<string, { dims: number[]; data: FArray }>();
  const xs = alloc(dtype, batch * numel(c.input));
  for (let i = 0; i < xs.length; i++) xs[i] = r() * (c.inputScale ?? 1);
  values.set('x', { dims: [batch, ...c.input], data: xs });
  for (const p of [...trainable, ...buffers]) {
    const a = alloc(dtype, numel(p.shape));
    for (let i = 0; i < a.length; i++)
      a[i] = c.init
        ? c.init(p.name, i, r)
        : p.role === 'bn.running_var'
          ? 1 + Math.abs(r())
          : p.role === 'bn.weight'
            ? 1 + 0.3 * r()
            : r() * 0.5;
    values.set(p.name, { dims: [...p.shape], data: a });
  }
  const dy = alloc(dtype, numel(outShape));
  for (let i = 0; i < dy.length; i++) dy[i] = r();
  values.set('dy', { dims: outShape, data: dy });

  const feeds = (): Record<string, { dims: number[]; data: TensorArray }> => Object.fromEntries(values);
  const base = await session.run(feeds());
  const objective = async (): Promise<number> => {
    const y = (await session.run(feeds(), ['y_out'])).y_out!.data as FArray;
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i]! * dy[i]!;
    return s;
  };
  const eps = c.eps ?? (dtype === 'float64' ? 1e-6 : 1e-2);
  const errors: Record<string, number> = {};
  for (const [name] of gradOuts) {
    const analytic = base[`grad:${name}`]!.data as FArray;
    const data = values.get(name)!.data;
    let num = 0;
    let den = 0;
    for (let i = 0; i < data.length; i++) {
      const keep = data[i]!;
      data[i] = keep + eps;
      const plus = await objective();
      data[i] = keep - eps;
      const minus = await objective();
      data[i] = keep;
      const fd = (plus - minus) / (2 * eps);
      num += (fd - analytic[i]!) ** 2;
      den += analytic[i]! ** 2;
    }
    assert.ok(den > 0, `${c.name}: gradient of ${name} is all zeros`);
    errors[name] = Math.sqrt(num / den);
  }
  await session.release();
  const tol = c.tol ?? (dtype === 'float64' ? 1e-6 : 2e-3);
  for (const [name, e] of Object.entries(errors))
    assert.ok(e <= tol, `${c.name}: ∂L/∂${name} relative error ${e.toExponential(2)} > ${tol}`);
  return errors;
}

const f32 = 'float32' as const;
const f64 = 'float64' as const;

// Shapes are small (≤ 2×4×7×7) so that per-element central differences stay fast.
const CASES: Case[] = [
  // Conv in float64 runs the Gather + MatMul lowering; in float32 the production one.
  { name: 'conv 3×3 pad 1', dtype: f64, input: [3, 6, 6], build: (x) => L.conv2d(x, 'c', { out: 4, kernel: 3, pad: 1, bias: true }) },
  {
    name: 'conv 7×7 stride 2 pad 3 (stem)',
    dtype: f64,
    input: [3, 9, 9],
    build: (x) => L.conv2d(x, 'c', { out: 2, kernel: 7, stride: 2, pad: 3 }),
  },
  { name: 'conv 3×3 pad 1', dtype: f32, input: [3, 6, 6], build: (x) => L.conv2d(x, 'c', { out: 4, kernel: 3, pad: 1, bias: true }) },
  { name: 'conv 1×1', dtype: f32, input: [5, 4, 4], build: (x) => L.conv2d(x, 'c', { out: 3, kernel: 1, bias: true }) },
  { name: 'conv 5×5 pad 2', dtype: f32, input: [2, 6, 6], build: (x) => L.conv2d(x, 'c', { out: 3, kernel: 5, pad: 2 }) },
  {
    name: 'conv 7×7 stride 2 pad 3 (stem)',
    dtype: f32,
    input: [3, 9, 9],
    build: (x) => L.conv2d(x, 'c', { out: 2, kernel: 7, stride: 2, pad: 3 }),
  },
  {
    name: 'conv 3×3 stride 2 no pad (floor drops a row)',
    dtype: f32,
    input: [2, 8, 8],
    build: (x) => L.conv2d(x, 'c', { out: 3, kernel: 3, stride: 2 }),
  },
  { name: 'conv 1×1 stride 2', dtype: f32, input: [3, 5, 5], build: (x) => L.conv2d(x, 'c', { out: 2, kernel: 1, stride: 2 }) },
  { name: 'batchnorm (train mode)', dtype: f64, input: [3, 4, 4], build: (x) => L.batchNorm(x, 'bn') },
  // float32 runs the production lowering (fused BatchNormalization kernels for the affine passes).
  { name: 'batchnorm (train mode)', dtype: f32, input: [3, 4, 4], build: (x) => L.batchNorm(x, 'bn'), eps: 3e-3, tol: 3e-3 },
  {
    name: 'conv → batchnorm → relu (BasicConv2d)',
    dtype: f32,
    input: [3, 5, 5],
    build: (x) => L.basicConv(x, 'b', { out: 4, kernel: 3, pad: 1 }),
    eps: 3e-3,
    tol: 1e-2,
  },
  // Eval mode: the running statistics normalize (an affine map per channel), dropout is the identity.
  { name: 'batchnorm (eval mode)', dtype: f64, input: [3, 4, 4], build: (x) => L.batchNorm(x, 'bn'), mode: 'eval' },
  {
    name: 'conv → batchnorm → relu → dropout 0.5 (eval mode)',
    dtype: f64,
    input: [2, 5, 5],
    build: (x) => L.dropout(L.basicConv(x, 'b', { out: 3, kernel: 3, pad: 1 }), 'd', 0.5),
    mode: 'eval',
  },
  { name: 'relu', dtype: f64, input: [3, 4, 4], build: (x) => L.relu(x, 'r') },
  // float32: ONNX Runtime has no double LRN or AveragePool (and its LRN takes odd sizes only).
  {
    name: 'lrn size 5 (paper)',
    dtype: f32,
    input: [7, 3, 3],
    build: (x) => L.lrn(x, 'n', { size: 5, alpha: 0.5, beta: 0.75, k: 1 }),
    inputScale: 2,
    tol: 3e-3,
  },
  {
    name: 'lrn size 3',
    dtype: f32,
    input: [5, 2, 2],
    build: (x) => L.lrn(x, 'n', { size: 3, alpha: 0.8, beta: 0.6, k: 2 }),
    inputScale: 2,
    tol: 3e-3,
  },
  {
    name: 'maxpool 3×3/2 ceil (overlapping windows)',
    dtype: f64,
    input: [2, 7, 7],
    build: (x) => L.maxPool(x, 'p', { kernel: 3, stride: 2, ceil: true }),
  },
  {
    name: 'maxpool 3×3/1 pad 1 (inception branch 4)',
    dtype: f64,
    input: [2, 5, 5],
    build: (x) => L.maxPool(x, 'p', { kernel: 3, stride: 1, pad: 1, ceil: true }),
  },
  { name: 'maxpool 2×2/2 ceil', dtype: f64, input: [2, 5, 5], build: (x) => L.maxPool(x, 'p', { kernel: 2, stride: 2, ceil: true }) },
  {
    name: 'avgpool 5×5/3 (paper aux)',
    dtype: f32,
    input: [2, 14, 14],
    build: (x) => L.avgPool(x, 'p', { kernel: 5, stride: 3 }),
    eps: 0.1,
  },
  // Inception v3's pools, in float64 (window sums; the gradient spread with Pad, not ConvTranspose).
  { name: 'avgpool 5×5/3 (Inception v3 aux)', dtype: f64, input: [2, 11, 11], build: (x) => L.avgPool(x, 'p', { kernel: 5, stride: 3 }) },
  {
    name: 'avgpool 3×3/1 pad 1 (Inception v3 branch_pool)',
    dtype: f64,
    input: [2, 5, 5],
    build: (x) => L.avgPool(x, 'p', { kernel: 3, stride: 1, pad: 1 }),
  },
  { name: 'global max pool (Keras pooling max)', dtype: f64, input: [3, 4, 3], build: (x) => L.globalMaxPool(x, 'p') },
  // Inception v3's factored convolutions: 1×7 and 7×1 with (0, 3) and (3, 0) padding, 1×3 stride 2.
  { name: 'conv 1×7 pad (0, 3)', dtype: f64, input: [2, 4, 8], build: (x) => L.conv2d(x, 'c', { out: 3, kernel: [1, 7], pad: [0, 3] }) },
  { name: 'conv 7×1 pad (3, 0)', dtype: f32, input: [2, 8, 4], build: (x) => L.conv2d(x, 'c', { out: 3, kernel: [7, 1], pad: [3, 0] }) },
  { name: 'conv 1×3 stride 2', dtype: f32, input: [2, 5, 7], build: (x) => L.conv2d(x, 'c', { out: 2, kernel: [1, 3], stride: 2 }) },
  {
    name: 'avgpool 3×3/2 pad 1 ceil count_include_pad',
    dtype: f32,
    input: [2, 6, 6],
    build: (x) =>
      x.builder.add('p', {
        op: 'avgpool',
        input: x.id,
        kernel: [3, 3],
        stride: [2, 2],
        pads: [1, 1, 1, 1],
        ceil: true,
        countIncludePad: true,
      }),
    eps: 0.1,
  },
  {
    name: 'avgpool 3×3/2 pad 1 ceil, padding excluded',
    dtype: f32,
    input: [2, 6, 6],
    build: (x) =>
      x.builder.add('p', {
        op: 'avgpool',
        input: x.id,
        kernel: [3, 3],
        stride: [2, 2],
        pads: [1, 1, 1, 1],
        ceil: true,
        countIncludePad: false,
      }),
    eps: 0.1,
  },
  { name: 'adaptive avgpool 6→4 (uneven bins, MatMul form)', dtype: f64, input: [2, 6, 6], build: (x) => L.adaptiveAvgPool(x, 'p', 4) },
  { name: 'adaptive avgpool 8→4 (AveragePool form)', dtype: f32, input: [2, 8, 8], build: (x) => L.adaptiveAvgPool(x, 'p', 4), eps: 0.1 },
  { name: 'global avgpool (GlobalAveragePool)', dtype: f32, input: [3, 4, 4], build: (x) => L.globalAvgPool(x, 'p'), eps: 0.1 },
  { name: 'global avgpool (ReduceMean)', dtype: f64, input: [3, 4, 4], build: (x) => L.globalAvgPool(x, 'p') },
  {
    name: 'concat (fan-out: one value read by three branches)',
    dtype: f64,
    input: [2, 3, 3],
    build: (x) => L.concat([L.relu(x, 'a'), x, L.maxPool(x, 'm', { kernel: 3, stride: 1, pad: 1 })], 'cat'),
  },
  { name: 'flatten + linear', dtype: f64, input: [2, 3, 3], build: (x) => L.linear(L.flatten(x, 'f'), 'fc', { out: 4 }) },
  { name: 'dropout 0.5 (seeded mask)', dtype: f64, input: [12], build: (x) => L.dropout(x, 'd', 0.5) },
  {
    name: 'affine (transform_input)',
    dtype: f64,
    input: [3, 2, 2],
    build: (x) => x.builder.add('t', { op: 'affine', input: x.id, scale: [0.9, 1.1, 1.3], shift: [0.1, -0.2, 0.3] }),
  },
  {
    name: 'inception module (conv-bn-relu branches, max pool, concat)',
    dtype: f64,
    input: [4, 5, 5],
    build: (x) => L.inception(x, { name: 'i', ch1x1: 2, ch3x3red: 2, ch3x3: 3, ch5x5red: 2, ch5x5: 2, poolProj: 2 }),
  },
  {
    name: 'auxiliary head (adaptive pool, conv-bn-relu, fc, relu, fc)',
    dtype: f64,
    input: [3, 6, 6],
    build: (x) => L.inceptionAux(x, { name: 'aux', numClasses: 3, pool: 'adaptive', convChannels: 4, hidden: 5, dropout: 0 }),
  },
];

describe('op gradients against finite differences', () => {
  for (const c of CASES) {
    it(`${c.name} [${c.dtype}${c.mode ? `, ${c.mode}` : ''}]`, async () => {
      await checkCase(c);
    });
  }
});

/** Direct float64 loops: dx and dW of a convolution for dy (stride, padding). */
function convGradsRef(
  x: Float32Array,
  w: Float32Array,
  dy: Float32Array,
  n: number,
  cin: number,
  h: number,
  cout: number,
  k: number,
  s: number,
  p: number,
): { y: Float64Array; dx: Float64Array; dw: Float64Array } {
  const ho = Math.floor((h + 2 * p - k) / s) + 1;
  const out = new Float64Array(n * cout * ho * ho);
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(w.length);
  for (let b = 0; b < n; b++) {
    for (let o = 0; o < cout; o++) {
      for (let y = 0; y < ho; y++) {
        for (let xx = 0; xx < ho; xx++) {
          const d = dy[((b * cout + o) * ho + y) * ho + xx]!;
          for (let i = 0; i < cin; i++) {
            for (let ky = 0; ky < k; ky++) {
              for (let kx = 0; kx < k; kx++) {
                const iy = y * s + ky - p;
                const ix = xx * s + kx - p;
                if (iy < 0 || iy >= h || ix < 0 || ix >= h) continue;
                const xi = ((b * cin + i) * h + iy) * h + ix;
                const wi = ((o * cin + i) * k + ky) * k + kx;
                const yi = ((b * cout + o) * ho + y) * ho + xx;
                out[yi] = out[yi]! + x[xi]! * w[wi]!;
                dx[xi] = dx[xi]! + d * w[wi]!;
                dw[wi] = dw[wi]! + d * x[xi]!;
              }
            }
          }
        }
      }
    }
  }
  return { y: out, dx, dw };
}

interface ConvCase {
  cin: number;
  cout: number;
  h: number;
  k: number;
  s: number;
  p: number;
}

/** Our float32 dx and dW of one convolution against {@link convGradsRef} (relative error < 1e-6). */
async function checkConvAgainstLoops(c: ConvCase, convGrad: ConvGradOptions = {}, nchwcBlock?: number): Promise<void> {
  const n = 3;
  const gb = new GraphBuilder();
  const x = gb.input('x', [c.cin, c.h, c.h]);
  const y = L.conv2d(x, 'c', { out: c.cout, kernel: c.k, stride: c.s, pad: c.p });
  gb.output('y', y);
  const g = gb.build();
  const ho = y.shape[1]!;
  const b = new OnnxGraphBuilder('conv');
  b.input({ name: 'x', dtype: 'float32', dims: [n, c.cin, c.h, c.h] });
  b.input({ name: 'dy', dtype: 'float32', dims: [n, c.cout, ho, ho] });
  b.input({ name: 'c.weight', dtype: 'float32', dims: [c.cout, c.cin, c.k, c.k] });
  const fwd = lowerForward({ b, graph: g, param: (p) => p, lowering: { convGrad, ...(nchwcBlock ? { nchwcBlock } : {}) } });
  const gr = backward(fwd, { seeds: { [y.id]: 'dy' }, inputGrad: true });
  b.node('Identity', [y.id], ['y']);
  b.node('Identity', [gr.input!], ['dx']);
  b.node('Identity', [gr.params.get('c.weight')!], ['dw']);
  b.output({ name: 'y', dtype: 'float32', dims: [n, c.cout, ho, ho] });
  b.output({ name: 'dx', dtype: 'float32', dims: [n, c.cin, c.h, c.h] });
  b.output({ name: 'dw', dtype: 'float32', dims: [c.cout, c.cin, c.k, c.k] });
  const session = await getDefaultEngine().createSession(b.encode(), { threads: 1 });
  const r = rand(c.cin * 31 + c.k);
  const xs = Float32Array.from({ length: n * c.cin * c.h * c.h }, r);
  const ws = Float32Array.from({ length: c.cout * c.cin * c.k * c.k }, r);
  const dys = Float32Array.from({ length: n * c.cout * ho * ho }, r);
  const out = await session.run({
    x: { dims: [n, c.cin, c.h, c.h], data: xs },
    dy: { dims: [n, c.cout, ho, ho], data: dys },
    'c.weight': { dims: [c.cout, c.cin, c.k, c.k], data: ws },
  });
  await session.release();
  const ref = convGradsRef(xs, ws, dys, n, c.cin, c.h, c.cout, c.k, c.s, c.p);
  const ey = relativeError(out.y!.data as Float32Array, ref.y);
  const ex = relativeError(out.dx!.data as Float32Array, ref.dx);
  const ew = relativeError(out.dw!.data as Float32Array, ref.dw);
  assert.ok(ey < 1e-6, `y relative error ${ey}`);
  assert.ok(ex < 1e-6, `dx relative error ${ex}`);
  assert.ok(ew < 1e-6, `dW relative error ${ew}`);
  if (nchwcBlock) {
    const blocked = b.nodes.filter((nd) => nd.domain === 'com.microsoft.nchwc' && nd.opType === 'Conv').length;
    const expected = c.k > 1 && c.s === 1 ? Number(c.cin % 4 === 0) + Number(c.cout % 4 === 0) : 0;
    assert.equal(blocked, expected, 'NCHWc convolutions (forward, input gradient)');
  }
}

describe('float32 conv gradients against direct float64 loops', () => {
  const configs: ConvCase[] = [
    { cin: 16, cout: 24, h: 9, k: 3, s: 1, p: 1 },
    { cin: 8, cout: 12, h: 8, k: 5, s: 1, p: 2 },
    { cin: 3, cout: 8, h: 15, k: 7, s: 2, p: 3 },
    { cin: 24, cout: 16, h: 6, k: 1, s: 1, p: 0 },
    { cin: 6, cout: 5, h: 9, k: 3, s: 2, p: 0 },
  ];
  for (const method of ['unfold', 'shift'] as ConvWeightGradMethod[]) {
    for (const c of configs) {
      it(`${c.k}×${c.k}/${c.s} pad ${c.p}, ${c.cin}→${c.cout} on ${c.h}×${c.h}, weight gradient '${method}'`, () =>
        checkConvAgainstLoops(c, { weightGrad: method }));
    }
  }
  it("1×1 input gradient as a MatMul ('matmul')", () =>
    checkConvAgainstLoops({ cin: 24, cout: 16, h: 6, k: 1, s: 1, p: 0 }, { inputGrad1x1: 'matmul' }));
});

describe("ONNX Runtime's blocked NCHWc convolutions (LoweringOptions.nchwcBlock)", () => {
  it("the probe finds the block size the CPU's flags imply (16 with AVX-512, 8 with AVX2), or none", async () => {
    const block = await nchwcBlockSize(getDefaultEngine());
    const flags = existsSync('/proc/cpuinfo') ? (/^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '') : '';
    if (process.arch === 'x64' && / avx512f( |$)/.test(flags)) assert.equal(block, 16);
    else if (process.arch === 'x64' && / avx2( |$)/.test(flags)) assert.equal(block, 8);
    else assert.ok(block === 0 || [4, 8, 16].includes(block), `block ${block}`);
  });
  // Channels padded to whole blocks (12, 20, 24 are not multiples of 8 or 16), odd sizes, 5×5,
  // a stride-2 and a 1×1 convolution (not blocked), an input gradient with 6 channels (not a
  // multiple of 4: ReorderInput refuses it, so that gradient stays ONNX's Conv).
  const configs: ConvCase[] = [
    { cin: 16, cout: 24, h: 9, k: 3, s: 1, p: 1 },
    { cin: 20, cout: 12, h: 7, k: 5, s: 1, p: 2 },
    { cin: 8, cout: 6, h: 6, k: 3, s: 1, p: 0 },
    { cin: 16, cout: 8, h: 9, k: 3, s: 2, p: 1 },
    { cin: 24, cout: 16, h: 6, k: 1, s: 1, p: 0 },
  ];
  for (const c of configs) {
    it(`${c.k}×${c.k}/${c.s} pad ${c.p}, ${c.cin}→${c.cout} on ${c.h}×${c.h}: output and gradients of the float64 loops`, async (t) => {
      const block = await nchwcBlockSize(getDefaultEngine());
      if (!block) return t.skip('ONNX Runtime has no NCHWc kernels on this CPU');
      await checkConvAgainstLoops(c, {}, block);
    });
  }
});

describe('softmax cross-entropy gradient against finite differences [float64]', () => {
  for (const smoothing of [0, 0.1]) {
    it(`label smoothing ${smoothing}`, async () => {
      const [n, k] = [3, 5];
      const b = new OnnxGraphBuilder('ce');
      b.input({ name: 'z', dtype: 'float64', dims: [n, k] });
      b.input({ name: 'y', dtype: 'int64', dims: [n] });
      const ce = softmaxCrossEntropy(b, 'z', 'y', 'ce', {
        numClasses: k,
        labelSmoothing: smoothing,
        weight: 0.7,
        dtype: 'float64',
        accuracy: true,
      });
      b.node('Identity', [ce.loss], ['loss']);
      b.node('Identity', [ce.grad], ['grad']);
      b.node('Identity', [ce.correct!], ['correct']);
      b.output({ name: 'loss', dtype: 'float64', dims: [] });
      b.output({ name: 'grad', dtype: 'float64', dims: [n, k] });
      b.output({ name: 'correct', dtype: 'int64', dims: [] });
      const s = await getDefaultEngine().createSession(b.encode(), { threads: 1 });
      const r = rand(99);
      const z = Float64Array.from({ length: n * k }, () => 3 * r());
      const y = BigInt64Array.of(1n, 4n, 0n);
      const run = async (): Promise<Record<string, { data: TensorArray }>> =>
        s.run({ z: { dims: [n, k], data: z }, y: { dims: [n], data: y } });
      const base = await run();
      const grad = base.grad!.data as Float64Array;
      let expectCorrect = 0;
      for (let i = 0; i < n; i++) {
        const row = Array.from(z.subarray(i * k, i * k + k));
        if (row.indexOf(Math.max(...row)) === Number(y[i])) expectCorrect++;
      }
      assert.equal(Number(base.correct!.data[0]), expectCorrect);
      const eps = 1e-6;
      for (let i = 0; i < z.length; i++) {
        const keep = z[i]!;
        z[i] = keep + eps;
        const plus = (await run()).loss!.data[0] as number;
        z[i] = keep - eps;
        const minus = (await run()).loss!.data[0] as number;
        z[i] = keep;
        assert.ok(Math.abs((0.7 * (plus - minus)) / (2 * eps) - grad[i]!) < 1e-8, `∂loss/∂z[${i}]`);
      }
      await s.release();
    });
  }
});

describe('max-pool gradient with ties (ReLU zeros, repeated values)', () => {
  for (const maxPoolGrad of ['indices', 'masks', 'mixed'] as const)
    it(`routes each window's gradient to its first maximum in row-major order, as PyTorch does (maxPoolGrad '${maxPoolGrad}')`, async () => {
      const [n, c, h] = [2, 3, 7];
      const gb = new GraphBuilder();
      const x = gb.input('x', [c, h, h]);
      const pools = [
        L.maxPool(x, 'p1', { kernel: 3, stride: 1, pad: 1, ceil: true }),
        L.maxPool(x, 'p2', { kernel: 3, stride: 2, ceil: true }),
      ];
      for (const p of pools) gb.output(p.id, p);
      const g = gb.build();
      const b = new OnnxGraphBuilder('ties');
      b.input({ name: 'x', dtype: 'float64', dims: [n, c, h, h] });
      const fwd = lowerForward({ b, graph: g, param: (p) => p, dtype: 'float64', lowering: { maxPoolGrad } });
      const seeds: Record<string, string> = {};
      for (const p of pools) {
        seeds[p.id] = b.constant(`dy_${p.id}`, {
          dims: [n, ...p.shape],
          dtype: 'float64',
          data: Float64Array.from({ length: n * numel(p.shape) }, (_, i) => 1 + (i % 5)),
        });
      }
      // One pool at a time, so each gradient is checked on its own.
      const outs: string[] = [];
      for (const p of pools) {
        const gr = backward(fwd, { seeds: { [p.id]: seeds[p.id]! }, inputGrad: true });
        b.node('Identity', [gr.input!], [`dx_${p.id}`]);
        b.output({ name: `dx_${p.id}`, dtype: 'float64', dims: [n, c, h, h] });
        outs.push(`dx_${p.id}`);
      }
      const session = await getDefaultEngine().createSession(b.encode(), { threads: 1 });
      // Many ties: zeros (as after a ReLU) and a few repeated positive values.
      const xs = Float64Array.from({ length: n * c * h * h }, (_, i) => (i % 3 === 0 ? 0 : i % 7 === 1 ? 2 : i % 11 === 2 ? 2 : 0));
      const r = await session.run({ x: { dims: [n, c, h, h], data: xs } });
      await session.release();
      pools.forEach((p, k) => {
        const node = g.nodes.find((nd) => nd.id === p.id)!;
        if (node.op !== 'maxpool') throw new Error('expected a max pool');
        const [, ho, wo] = p.shape as [number, number, number];
        const expected = new Float64Array(xs.length);
        const dy = b.initializers.get(seeds[p.id]!)!.data as Float64Array;
        for (let plane = 0; plane < n * c; plane++) {
          for (let oy = 0; oy < ho; oy++) {
            for (let ox = 0; ox < wo; ox++) {
              let best = -Infinity;
              let at = -1;
              for (let ky = 0; ky < node.kernel[0]; ky++) {
                for (let kx = 0; kx < node.kernel[1]; kx++) {
                  const iy = oy * node.stride[0] - node.pads[0] + ky;
                  const ix = ox * node.stride[1] - node.pads[1] + kx;
                  if (iy < 0 || iy >= h || ix < 0 || ix >= h) continue;
                  const v = xs[plane * h * h + iy * h + ix]!;
                  if (v > best) {
                    best = v;
                    at = plane * h * h + iy * h + ix;
                  }
                }
              }
              expected[at] = expected[at]! + dy[plane * ho * wo + oy * wo + ox]!;
            }
          }
        }
        assert.deepEqual(Array.from(r[outs[k]!]!.data as Float64Array), Array.from(expected), `${p.id}`);
      });
    });
});

describe('fused sibling 1×1 convolutions', () => {
  it('give the same gradients as separate convolutions (an Inception module, float64)', async () => {
    const gb = new GraphBuilder();
    const x = gb.input('x', [6, 5, 5]);
    const y = L.inception(x, { name: 'i', ch1x1: 3, ch3x3red: 2, ch3x3: 4, ch5x5red: 2, ch5x5: 3, poolProj: 2 });
    gb.output('y', y);
    const g = gb.build();
    const results: Record<string, Float64Array>[] = [];
    for (const fuse of [true, false]) {
      const b = new OnnxGraphBuilder('fuse');
      b.input({ name: 'x', dtype: 'float64', dims: [2, 6, 5, 5] });
      const params = [...g.params.values()].filter((p) => p.role !== 'bn.num_batches_tracked');
      for (const p of params)
        b.initializer(p.name, {
          dims: [...p.shape],
          dtype: 'float64',
          data: Float64Array.from({ length: numel(p.shape) }, (_, i) => (p.role === 'bn.running_var' ? 1 : Math.sin(i + p.name.length))),
        });
      const { graph, groups } = fuse ? fuseSiblingConvs(g) : { graph: g, groups: new Map() };
      const fwd = lowerForward({ b, graph, param: (p) => p, dtype: 'float64', lowering: { conv: float64Conv } });
      assert.equal(groups.size, fuse ? 3 : 0);
      const dy = b.constant('dy', {
        dims: [2, ...y.shape],
        dtype: 'float64',
        data: Float64Array.from({ length: 2 * numel(y.shape) }, (_, i) => Math.cos(i)),
      });
      const gr = backward(fwd, { seeds: { [y.id]: dy }, inputGrad: true });
      const names = ['x', ...gr.params.keys()];
      for (const k of names) {
        b.node('Identity', [k === 'x' ? gr.input! : gr.params.get(k)!], [`g:${k}`]);
        b.output({ name: `g:${k}`, dtype: 'float64', dims: k === 'x' ? [2, 6, 5, 5] : [...g.params.get(k)!.shape] });
      }
      const s = await getDefaultEngine().createSession(b.encode(), { threads: 1 });
      const xs = Float64Array.from({ length: 2 * 6 * 25 }, (_, i) => Math.sin(3 * i));
      const r = await s.run({ x: { dims: [2, 6, 5, 5], data: xs } });
      await s.release();
      results.push(Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v.data as Float64Array])));
    }
    assert.deepEqual(Object.keys(results[0]!).sort(), Object.keys(results[1]!).sort());
    for (const k of Object.keys(results[0]!)) assert.ok(relativeError(results[0]![k]!, results[1]![k]!) < 1e-12, k);
  });
});

describe('fused sibling 1×1 convolutions, some frozen', () => {
  /** Parameter gradients of an Inception module, fused or not, for the trainable parameters `wrt` picks (float64). */
  async function moduleGrads(fuse: boolean, wrt: (name: string) => boolean): Promise<Map<string, Float64Array>> {
    const gb = new GraphBuilder();
    const x = gb.input('x', [6, 5, 5]);
    const y = L.inception(x, { name: 'i', ch1x1: 3, ch3x3red: 2, ch3x3: 4, ch5x5red: 2, ch5x5: 3, poolProj: 2 });
    gb.output('y', y);
    const g = gb.build();
    const b = new OnnxGraphBuilder('fuse');
    b.input({ name: 'x', dtype: 'float64', dims: [2, 6, 5, 5] });
    for (const p of [...g.params.values()].filter((q) => q.role !== 'bn.num_batches_tracked')) {
      b.initializer(p.name, {
        dims: [...p.shape],
        dtype: 'float64',
        data: Float64Array.from({ length: numel(p.shape) }, (_, i) => (p.role === 'bn.running_var' ? 1 : Math.sin(i + p.name.length))),
      });
    }
    const fwd = lowerForward({
      b,
      graph: fuse ? fuseSiblingConvs(g).graph : g,
      param: (p) => p,
      dtype: 'float64',
      lowering: { conv: float64Conv },
    });
    const dy = b.constant('dy', {
      dims: [2, ...y.shape],
      dtype: 'float64',
      data: Float64Array.from({ length: 2 * numel(y.shape) }, (_, i) => Math.cos(i)),
    });
    const gr = backward(fwd, { seeds: { [y.id]: dy }, wrt: (p) => wrt(p.name) });
    for (const [k, v] of gr.params) {
      b.node('Identity', [v], [`g:${k}`]);
      b.output({ name: `g:${k}`, dtype: 'float64', dims: [...g.params.get(k)!.shape] });
    }
    const s = await getDefaultEngine().createSession(b.encode(), { threads: 1 });
    const r = await s.run({ x: { dims: [2, 6, 5, 5], data: Float64Array.from({ length: 2 * 6 * 25 }, (_, i) => Math.sin(3 * i)) } });
    await s.release();
    return new Map(Object.entries(r).map(([k, v]) => [k.slice(2), v.data as Float64Array]));
  }

  for (const [what, frozen] of [
    ['the first sibling frozen, the input needing no gradient', 'i.branch1.'],
    ['a later sibling frozen', 'i.branch2.0.'],
  ] as const) {
    it(`give the trainable siblings the same gradients as separate convolutions (${what})`, async () => {
      const wrt = (name: string): boolean => !name.startsWith(frozen);
      const [fused, separate] = [await moduleGrads(true, wrt), await moduleGrads(false, wrt)];
      assert.deepEqual([...fused.keys()].sort(), [...separate.keys()].sort());
      assert.ok(!fused.has(`${frozen}conv.weight`), `${frozen}conv.weight is frozen`);
      for (const name of ['i.branch1.conv.weight', 'i.branch2.0.conv.weight', 'i.branch3.0.conv.weight'].filter(
        (n) => !n.startsWith(frozen),
      )) {
        assert.ok(
          fused.get(name)!.some((v) => v !== 0),
          `${name}: all zeros`,
        );
      }
      for (const [k, v] of fused) assert.ok(relativeError(v, separate.get(k)!) < 1e-12, k);
    });
  }
});

describe('gradients of intermediate values (what Grad-CAM asks for)', () => {
  /**
   * x → identity affine `a` → Inception module `i` → global pool → fc, in eval mode (float64): the
   * gradient of `a` is the input's gradient (finite-difference checked above), and that of `i` is
   * the head's alone; asking for `i` emits nothing below it.
   */
  async function grads(values: string[], inputGrad: boolean): Promise<{ out: Record<string, Float64Array>; ops: string[] }> {
    const gb = new GraphBuilder();
    const x = gb.input('x', [4, 5, 5]);
    const a = gb.add('a', { op: 'affine', input: x.id, scale: [1, 1, 1, 1], shift: [0, 0, 0, 0] });
    const i = L.inception(a, { name: 'i', ch1x1: 2, ch3x3red: 2, ch3x3: 3, ch5x5red: 2, ch5x5: 2, poolProj: 2 });
    gb.output('y', L.linear(L.flatten(L.globalAvgPool(i, 'p'), 'f'), 'fc', { out: 3 }));
    const g = gb.build();
    const b = new OnnxGraphBuilder('values');
    b.input({ name: 'x', dtype: 'float64', dims: [2, 4, 5, 5] });
    for (const p of g.params.values()) {
      if (p.role === 'bn.num_batches_tracked') continue;
      const data = Float64Array.from({ length: numel(p.shape) }, (_, k) =>
        p.role === 'bn.running_var' ? 1.5 : Math.sin(k + p.name.length),
      );
      b.initializer(p.name, { dims: [...p.shape], dtype: 'float64', data });
    }
    const fwd = lowerForward({ b, graph: g, param: (p) => p, dtype: 'float64', lowering: { conv: float64Conv }, mode: 'eval' });
    const before = b.nodes.length;
    const dy = b.constant('dy', { dims: [2, 3], dtype: 'float64', data: Float64Array.of(1, 0, 0, 0, 0, 1) });
    const gr = backward(fwd, { seeds: { [g.outputs.y!]: dy }, values, inputGrad, wrt: () => false });
    const ops = b.nodes.slice(before).map((n) => n.opType);
    const outs: [string, string][] = [...gr.values].map(([v, gv]) => [`g:${v}`, gv]);
    if (gr.input) outs.push(['g:x', gr.input]);
    for (const [name, v] of outs) {
      b.node('Identity', [v], [name]);
      b.output({ name, dtype: 'float64', dims: [2, ...g.shapes.get(name === 'g:x' ? 'x' : name.slice(2))!] });
    }
    const s = await getDefaultEngine().createSession(b.encode(), { threads: 1 });
    const r = await s.run({ x: { dims: [2, 4, 5, 5], data: Float64Array.from({ length: 200 }, (_, k) => Math.cos(0.7 * k)) } });
    await s.release();
    return { out: Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v.data as Float64Array])), ops };
  }

  it("a value's gradient equals the input's gradient through an identity, per sample", async () => {
    const { out } = await grads(['a'], true);
    assert.ok(out['g:x']!.some((v) => v !== 0));
    assert.ok(relativeError(out['g:a']!, out['g:x']!) < 1e-12);
  });

  it('the gradient of a late value walks only the nodes after it, and matches the head in closed form', async () => {
    const { out, ops } = await grads(['i'], false);
    // fc → flatten → global average pool: ∂y_c/∂i[k, h, w] = W[c, k]/25 for the seeded class c.
    assert.ok(!ops.includes('ConvTranspose') && !ops.includes('Split'), `walked below the value: ${ops.join(' ')}`);
    const gi = out['g:i']!;
    assert.equal(gi.length, 2 * 9 * 25);
    const w = (c: number, k: number): number => Math.sin(c * 9 + k + 'fc.weight'.length);
    for (const [n, c] of [
      [0, 0],
      [1, 2],
    ] as const)
      for (let k = 0; k < 9; k++) assert.ok(Math.abs(gi[(n * 9 + k) * 25 + 7]! - w(c, k) / 25) < 1e-12, `sample ${n}, channel ${k}`);
  });
});

describe('lowering options', () => {
  it('a float64 convolution without LoweringOptions.conv is an OptionError that says why', () => {
    const gb = new GraphBuilder();
    gb.output('y', L.conv2d(gb.input('x', [2, 4, 4]), 'c', { out: 2, kernel: 3 }));
    const g = gb.build();
    const b = new OnnxGraphBuilder('f64');
    assert.throws(
      () => lowerForward({ b, graph: g, param: (p) => p, dtype: 'float64' }),
      (e: unknown) => e instanceof OptionError && /c: a float64 convolution needs LoweringOptions.conv/.test(e.message),
    );
  });
});
