/**
 * Post-training static int8 quantization of an eval graph (batch norm already folded), lowered as
 * standard ONNX QDQ: every quantized value is followed by a QuantizeLinear → DequantizeLinear
 * pair, every convolution and linear weight is an int8 initializer read through a
 * DequantizeLinear, and biases are int32 (scale = input scale × weight scale). ONNX Runtime's
 * graph optimizer (CPU and wasm) fuses DQ → Conv → (Relu) → Q into QLinearConv, DQ → Concat → Q
 * into QLinearConcat, drops the pairs around MaxPool, and so runs integer kernels.
 *
 * - Weights: per output channel, symmetric, int8 in [−127, 127] (zero point 0); on engines whose
 *   int8 kernels saturate, in [−63, 63] (see {@link saturationSafe}).
 * - Activations: per tensor, asymmetric uint8 (ONNX Runtime's fast x86 path is uint8 × int8).
 *   Values after a ReLU have zero point 0, which lets ONNX Runtime drop the ReLU into the Q.
 *   Max pooling and flattening keep their input's parameters (they do not change the range, and
 *   ONNX Runtime only removes the pair around MaxPool when both sides agree).
 */
import { InternalError } from '../errors.js';
import type { Graph, OpNode } from './ir.js';
import { nodeInputs } from './ir.js';
import type { LowerCtx } from './ops/types.js';

/** uint8 affine parameters of one activation tensor: x ≈ (q − zeroPoint)·scale. */
export interface ActivationQuant {
  scale: number;
  zeroPoint: number;
}

/** A symmetric per-output-channel int8 weight: w ≈ q·scale[o]. */
export interface QuantizedWeight {
  dims: readonly number[];
  q: Int8Array;
  scale: Float32Array;
}

/** What a quantized lowering needs: int8 weights by (folded) parameter name, uint8 activations by value. */
export interface Quantization {
  weights: Map<string, QuantizedWeight>;
  activations: Map<string, ActivationQuant>;
}

/** Calibration methods: the observed min/max, or the given percentile of |x| (outliers clipped). */
export type CalibrationMethod = 'minmax' | 'percentile';
export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ['minmax', 'percentile'];

/** Operations that pass their input's range through unchanged: they reuse its parameters. */
const RANGE_PRESERVING = new Set<OpNode['op']>(['maxpool', 'flatten', 'dropout']);

/**
 * Which values of a (folded) eval graph get a Q/DQ pair: `calibrate` lists the values whose
 * ranges are measured (the graph input first), `shared` maps a range-preserving op's value to the
 * value whose parameters it reuses. Convolutions read only by ReLUs are left to the ReLU; linear
 * layers (the logits) stay float.
 */
export function quantPoints(g: Graph): { calibrate: string[]; shared: Map<string, string> } {
  const readers = new Map<string, OpNode[]>();
  for (const n of g.nodes) for (const v of nodeInputs(n)) readers.set(v, [...(readers.get(v) ?? []), n]);
  const calibrate: string[] = [g.input.name];
  const shared = new Map<string, string>();
  const quantized = new Set([g.input.name]);
  for (const n of g.nodes) {
    if (n.op === 'linear' || n.op === 'siblingconv' || n.op === 'batchnorm') continue;
    const rs = readers.get(n.id) ?? [];
    if (rs.length === 0) continue;
    if (n.op === 'conv' && rs.every((r) => r.op === 'relu')) continue;
    if (RANGE_PRESERVING.has(n.op)) {
      const src = nodeInputs(n)[0]!;
      if (quantized.has(src)) {
        shared.set(n.id, shared.get(src) ?? src);
        quantized.add(n.id);
      }
      continue;
    }
    calibrate.push(n.id);
    quantized.add(n.id);
  }
  return { calibrate, shared };
}

/** uint8 parameters covering [lo, hi] (widened to include 0, so zero is exact). */
function uint8Params(lo: number, hi: number): ActivationQuant {
  const a = Math.min(lo, 0);
  const b = Math.max(hi, 0);
  if (!(b > a)) return { scale: 1, zeroPoint: 0 };
  const scale = Math.fround((b - a) / 255);
  return { scale, zeroPoint: Math.max(0, Math.min(255, Math.round(-a / scale))) };
}

/** The largest int8 weight magnitude as quantized and stored: 127 (8 bits, symmetric). */
export const WEIGHT_QMAX = 127;

/**
 * The largest weight magnitude no pair of which can saturate: 63 (7 bits, the "reduce range" of
 * ONNX Runtime's own quantizer). On x86 CPUs without AVX-512 VNNI or AVX-VNNI, ONNX Runtime
 * multiplies uint8 activations by int8 weights with `vpmaddubsw`, which adds two products into a
 * saturating int16: 255·(|w₁| + |w₂|) must stay ≤ 32767, i.e. |w₁| + |w₂| ≤ 128. With ±127 weights
 * the shipped Fashion-MNIST model lost 1.2 points there (93.39 → 92.21 %); with ±63, none
 * (93.40 %). VNNI, ARM and WebAssembly accumulate in int32 and keep the 8 bits.
 * Measured per CPU: docs/RESULTS.md#int8-and-fp16.
 */
export const SAFE_WEIGHT_QMAX = 63;

/** Per-output-channel symmetric int8 quantization of a weight in PyTorch layout (output channels first), to ±`qmax`. */
export function quantizeWeight(data: Float32Array, dims: readonly number[], qmax = WEIGHT_QMAX): QuantizedWeight {
  if (!Number.isInteger(qmax) || qmax < 1 || qmax > 127) throw new InternalError(`quantizeWeight: qmax ${qmax} is not in 1…127`);
  const oc = dims[0]!;
  const per = data.length / oc;
  const q = new Int8Array(data.length);
  const scale = new Float32Array(oc);
  for (let o = 0; o < oc; o++) {
    let m = 0;
    for (let i = 0; i < per; i++) m = Math.max(m, Math.abs(data[o * per + i]!));
    const s = m > 0 ? Math.fround(m / qmax) : 1;
    scale[o] = s;
    for (let i = 0; i < per; i++) q[o * per + i] = Math.max(-qmax, Math.min(qmax, Math.round(data[o * per + i]! / s)));
  }
  return { dims, q, scale };
}

/**
 * Whether `vpmaddubsw` (x86 without VNNI) can saturate on this weight: some output channel whose
 * two largest |q| sum to more than 128, so that two of them multiplied by uint8 activations of 255
 * and added exceed int16 — whichever pairs the kernel packs together.
 */
export function canSaturate(w: QuantizedWeight): boolean {
  const oc = w.dims[0]!;
  const per = w.q.length / oc;
  for (let o = 0; o < oc; o++) {
    let [a, b] = [0, 0]; // the two largest |q| of the channel
    for (let i = 0; i < per; i++) {
      const v = Math.abs(w.q[o * per + i]!);
      if (v > a) [a, b] = [v, a];
      else if (v > b) b = v;
    }
    if (a + b > 128) return true;
  }
  return false;
}

const safe = new WeakMap<Quantization, Quantization>();

/**
 * `q` for engines whose int8 kernels saturate (`Engine.int8Saturates`): every weight that
 * {@link canSaturate} requantized to ±{@link SAFE_WEIGHT_QMAX} from the values it stands for
 * (activations unchanged). `q` itself when no weight can saturate; computed once per `q`.
 */
export function saturationSafe(q: Quantization): Quantization {
  let s = safe.get(q);
  if (!s) {
    const requantized = [...q.weights].map(([k, w]): [string, QuantizedWeight] => [
      k,
      canSaturate(w) ? quantizeWeight(dequantizeWeight(w), w.dims, SAFE_WEIGHT_QMAX) : w,
    ]);
    s = requantized.some(([k, w]) => w !== q.weights.get(k)) ? { weights: new Map(requantized), activations: q.activations } : q;
    safe.set(q, s);
  }
  return s;
}

/** The float weight an int8 one stands for: q·scale per output channel. */
export function dequantizeWeight(w: QuantizedWeight): Float32Array {
  const oc = w.dims[0]!;
  const per = w.q.length / oc;
  const out = new Float32Array(w.q.length);
  for (let o = 0; o < oc; o++) for (let i = 0; i < per; i++) out[o * per + i] = w.q[o * per + i]! * w.scale[o]!;
  return out;
}

/**
 * Running statistics of one activation: min and max, and a histogram of |x| (2048 bins whose
 * range doubles, merging neighbours, when a larger value arrives) for the percentile method.
 */
export class RangeObserver {
  min = Infinity;
  max = -Infinity;
  private readonly bins = new Float64Array(2048);
  private top = 0;

  observe(x: ArrayLike<number>): void {
    let lo = this.min;
    let hi = this.max;
    let amax = 0;
    for (let i = 0; i < x.length; i++) {
      const v = x[i]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
      const a = Math.abs(v);
      if (a > amax) amax = a;
    }
    this.min = lo;
    this.max = hi;
    if (this.top === 0) this.top = amax > 0 ? amax : 0;
    while (amax > this.top) this.grow();
    if (this.top === 0) {
      this.bins[0]! += x.length;
      return;
    }
    const k = this.bins.length / this.top;
    for (let i = 0; i < x.length; i++) this.bins[Math.min(this.bins.length - 1, Math.floor(Math.abs(x[i]!) * k))]! += 1;
  }

  private grow(): void {
    const n = this.bins.length;
    for (let i = 0; i < n / 2; i++) this.bins[i] = this.bins[2 * i]! + this.bins[2 * i + 1]!;
    this.bins.fill(0, n / 2);
    this.top *= 2;
  }

  /** The |x| below which a fraction `p` (e.g. 0.9999) of the observed values fall. */
  absPercentile(p: number): number {
    let total = 0;
    for (const c of this.bins) total += c;
    let acc = 0;
    for (let i = 0; i < this.bins.length; i++) {
      acc += this.bins[i]!;
      if (acc >= p * total) return ((i + 1) / this.bins.length) * this.top;
    }
    return this.top;
  }

  /** uint8 parameters by `method` (`percentile`: min/max clipped to ±the `p` percentile of |x|). */
  params(method: CalibrationMethod, p = 0.9999): ActivationQuant {
    if (this.min > this.max) throw new InternalError('calibration: a value was never observed');
    if (method === 'minmax') return uint8Params(this.min, this.max);
    const clip = this.absPercentile(p);
    return uint8Params(Math.max(this.min, -clip), Math.min(this.max, clip));
  }
}

/** Every convolution and linear weight of a folded eval graph, quantized (biases stay float). */
export function quantizeGraphWeights(g: Graph, weights: Map<string, Float32Array | BigInt64Array>): Map<string, QuantizedWeight> {
  const out = new Map<string, QuantizedWeight>();
  for (const n of g.nodes) {
    if (n.op !== 'conv' && n.op !== 'linear') continue;
    const w = weights.get(n.weight);
    const spec = g.params.get(n.weight);
    if (!(w instanceof Float32Array) || !spec) throw new InternalError(`quantize: no float weight ${n.weight}`);
    out.set(n.weight, quantizeWeight(w, spec.shape));
  }
  return out;
}

const DQ = ':dq';

/**
 * Wraps a lowering context so that the graph lowers as QDQ: returns the graph's nodes with their
 * inputs renamed to the dequantized values, a context whose `param` emits int8 weights and int32
 * biases behind DequantizeLinear, and `after(n)`, which emits the Q/DQ pair of `n`'s value.
 */
export function quantizedLowering(
  g: Graph,
  q: Quantization,
  ctx: LowerCtx,
  floatWeight: (name: string) => Float32Array,
): { nodes: OpNode[]; ctx: LowerCtx; input(): void; after(n: OpNode): void } {
  const { b } = ctx;
  const { shared } = quantPoints(g);
  const act = (v: string): ActivationQuant | undefined => q.activations.get(shared.get(v) ?? v);
  const rename = (v: string): string => (act(v) ? v + DQ : v);
  // Bias name → the scale of the input of the layer that adds it (int32 biases need it).
  const biasOf = new Map<string, { input: ActivationQuant; weight: string }>();
  const nodes = g.nodes.map((n): OpNode => {
    if ((n.op === 'conv' || n.op === 'linear') && n.bias && act(n.input) && q.weights.has(n.weight)) {
      biasOf.set(n.bias, { input: act(n.input)!, weight: n.weight });
    }
    if (n.op === 'concat') return { ...n, inputs: n.inputs.map(rename) };
    if (n.op === 'siblingconv') throw new InternalError('quantize: fused sibling convolutions are a training-graph rewrite');
    return { ...n, input: rename(n.input) } as OpNode;
  });
  const scalar = (hint: string, a: ActivationQuant): [string, string] => [
    b.constFloats(`${hint}.scale`, [], [a.scale]),
    b.constant(`${hint}.zero_point`, { dims: [], dtype: 'uint8', data: Uint8Array.of(a.zeroPoint) }),
  ];
  const pair = (v: string): void => {
    const a = act(v);
    if (!a) return;
    const [s, z] = scalar(v, a);
    b.node('QuantizeLinear', [v, s, z], [`${v}:q`]);
    b.node('DequantizeLinear', [`${v}:q`, s, z], [v + DQ]);
  };
  const done = new Set<string>();
  const param = (name: string): string => {
    const w = q.weights.get(name);
    const bias = biasOf.get(name);
    if ((!w && !bias) || done.has(name)) return done.has(name) ? name + DQ : ctx.param(name);
    done.add(name);
    if (w) {
      const oc = w.dims[0]!;
      const qn = b.initializer(`${name}:int8`, { dims: w.dims, dtype: 'int8', data: w.q });
      const s = b.constFloats(`${name}.scale`, [oc], w.scale);
      const z = b.constant(`${name}.zero_point`, { dims: [oc], dtype: 'int8', data: new Int8Array(oc) });
      b.node('DequantizeLinear', [qn, s, z], [name + DQ], { axis: 0 });
      return name + DQ;
    }
    const ws = q.weights.get(bias!.weight)!.scale;
    const f = floatWeight(name);
    const scale = Float32Array.from(ws, (x) => x * bias!.input.scale);
    // A bias too large for int32 at this scale (vanishing activations) stays float: exact, unfused.
    if (f.some((x, i) => !(Math.abs(x / scale[i]!) < 2 ** 31 - 1))) {
      done.delete(name);
      return ctx.param(name);
    }
    const qb = Int32Array.from(f, (x, i) => Math.round(x / scale[i]!));
    const qn = b.initializer(`${name}:int32`, { dims: [f.length], dtype: 'int32', data: qb });
    const s = b.constFloats(`${name}.scale`, [f.length], scale);
    const z = b.constant(`${name}.zero_point`, { dims: [f.length], dtype: 'int32', data: new Int32Array(f.length) });
    b.node('DequantizeLinear', [qn, s, z], [name + DQ], { axis: 0 });
    return name + DQ;
  };
  const shape = (v: string): ReturnType<LowerCtx['shape']> => ctx.shape(v.endsWith(DQ) ? v.slice(0, -DQ.length) : v);
  return { nodes, ctx: { ...ctx, param, shape }, input: () => pair(g.input.name), after: (n) => pair(n.id) };
}
