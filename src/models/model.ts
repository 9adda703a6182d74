/**
 * The GoogLeNet model: a resolved config, its weights (torchvision names and layouts), and
 * ONNX Runtime sessions compiled from the graph on demand and cached until the weights change.
 *
 * Contract (timm's): `forwardFeatures(x)` → N×1024 pool5 features, `forwardHead(f)` → logits,
 * `forward(x)` → `{ logits, aux1?, aux2? }` in every mode; `resetClassifier(n)`; named taps.
 */
import { WeightFormatError } from '../errors.js';
import type { Graph, ParamSpec } from '../graph/ir.js';
import { isTrainable } from '../graph/ir.js';
import { lowerToOnnx, type Weights } from '../graph/lower.js';
import { getDefaultEngine, type Engine, type Session } from '../runtime/engine.js';
import { numel, type Tensor, type TensorArray } from '../tensor.js';
import { Rng } from '../rng.js';
import { resolveConfig, type GoogLeNetConfig, type GoogLeNetOptions } from './config.js';
import { buildGoogLeNet } from './googlenet.js';

export interface ForwardOutput {
  logits: Tensor;
  /** Present only in training mode with `auxLogits`. */
  aux1?: Tensor;
  aux2?: Tensor;
}

export interface ForwardOptions {
  /** Training mode: batch statistics, live dropout, aux heads. Default false. */
  training?: boolean;
}

/** A state-dict entry as read from a weight file. */
export interface StateTensor {
  dims: readonly number[];
  data: TensorArray;
}

/** How images are turned into the model's input (saved with a model directory). */
export interface PreprocessConfig {
  /** Shorter side resized to this before cropping. */
  resize: number;
  /** Centre crop size (the model's input size). */
  crop: number;
  /** Per-channel mean and std of the normalization (one value per input channel). */
  mean: number[];
  std: number[];
}

export interface CreateOptions {
  /** Seed for weight initialization. Default 0. */
  seed?: number;
  /** Default: the engine of the entry point (onnxruntime-node in Node). */
  engine?: Engine;
  /** Intra-op threads for this model's sessions. */
  threads?: number;
}

/**
 * Initial values, torchvision's scheme: conv and linear weights N(0, 0.01²) truncated to ±2,
 * batch norm γ = 1, β = 0, running mean 0, variance 1; biases U(±1/√fan_in) as PyTorch's default.
 * Without batch norm (the paper preset) conv weights use He initialization so that 22 layers train.
 */
export function initWeights(params: Iterable<ParamSpec>, cfg: GoogLeNetConfig, rng: Rng): Weights {
  const specs = [...params];
  const w: Weights = new Map();
  const fanIn = new Map<string, number>();
  for (const p of specs) if (p.role === 'conv.weight' || p.role === 'linear.weight') fanIn.set(p.name.replace(/\.weight$/, ''), numel(p.shape.slice(1)));
  for (const p of specs) {
    const n = numel(p.shape);
    if (p.role === 'bn.num_batches_tracked') {
      w.set(p.name, new BigInt64Array(1));
      continue;
    }
    const a = new Float32Array(n);
    switch (p.role) {
      case 'conv.weight':
      case 'linear.weight': {
        const std = cfg.norm === 'none' && p.role === 'conv.weight' ? Math.sqrt(2 / numel(p.shape.slice(1))) : 0.01;
        for (let i = 0; i < n; i++) a[i] = Math.max(-2, Math.min(2, rng.normal() * std));
        break;
      }
      case 'conv.bias':
      case 'linear.bias': {
        const bound = 1 / Math.sqrt(fanIn.get(p.name.replace(/\.bias$/, '')) ?? 1);
        for (let i = 0; i < n; i++) a[i] = (rng.float() * 2 - 1) * bound;
        break;
      }
      case 'bn.weight':
      case 'bn.running_var':
        a.fill(1);
        break;
      default:
        break; // bn.bias, bn.running_mean: zeros
    }
    w.set(p.name, a);
  }
  return w;
}

export class GoogLeNet {
  readonly config: GoogLeNetConfig;
  /** Parameters and batch-norm buffers by torchvision name. Call `invalidate()` after editing in place. */
  readonly weights: Weights;
  readonly engine: Engine;
  /** Class names, when known (ImageNet, Fashion-MNIST, …). */
  labels?: string[];
  /** Image preprocessing, when known (model directories carry it). */
  preprocess?: PreprocessConfig;
  private readonly threads: number | undefined;
  private sessions = new Map<string, Promise<Session>>();
  private trainGraph: Graph;
  private evalGraph: Graph;

  constructor(options: GoogLeNetOptions = {}, create: CreateOptions = {}, weights?: Weights) {
    this.config = resolveConfig(options);
    this.engine = create.engine ?? getDefaultEngine();
    this.threads = create.threads;
    this.trainGraph = buildGoogLeNet(this.config, { mode: 'train' });
    this.evalGraph = buildGoogLeNet(this.config, { mode: 'eval' });
    this.weights = weights ?? initWeights(this.trainGraph.params.values(), this.config, new Rng(create.seed ?? 0));
  }

  /** The graph of a mode (train includes the aux heads when `auxLogits`). */
  graph(mode: 'eval' | 'train'): Graph {
    return mode === 'train' ? this.trainGraph : this.evalGraph;
  }

  /** Every parameter and buffer of the full model (aux heads included when `auxLogits`). */
  paramSpecs(): ParamSpec[] {
    return [...this.trainGraph.params.values()];
  }

  /** Trainable parameter count (batch-norm statistics excluded), as torchinfo reports it. */
  numParams(): number {
    return this.paramSpecs().filter(isTrainable).reduce((s, p) => s + numel(p.shape), 0);
  }

  /** Drops compiled sessions so that the next call sees the current weights. */
  invalidate(): void {
    const old = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of old) void s.then((x) => x.release()).catch(() => undefined);
  }

  async dispose(): Promise<void> {
    const old = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(old.map(async (s) => (await s).release()));
  }

  private session(key: string, make: () => Uint8Array): Promise<Session> {
    let s = this.sessions.get(key);
    if (!s) {
      s = this.engine.createSession(make(), this.threads ? { threads: this.threads } : {});
      this.sessions.set(key, s);
    }
    return s;
  }

  private checkInput(x: Tensor): void {
    const [c] = this.evalGraph.input.shape;
    if (x.dims.length !== 4 || x.dims[1] !== c) {
      throw new Error(`input: expected N×${c}×H×W, got [${x.dims.join('×')}]`);
    }
    if (x.dims[2] !== this.config.inputSize || x.dims[3] !== this.config.inputSize) {
      throw new Error(`input: this model was built for ${this.config.inputSize}×${this.config.inputSize} images, got ${x.dims[2]}×${x.dims[3]}`);
    }
  }

  /** Runs the eval graph and returns the named values (outputs or taps). */
  private async runEval(x: Tensor, names: string[]): Promise<Record<string, Tensor>> {
    this.checkInput(x);
    const g = this.evalGraph;
    const outputs: Record<string, string> = {};
    for (const n of names) {
      const v = g.outputs[n] ?? g.taps[n];
      if (!v) throw new Error(`unknown tap "${n}"; known: ${[...Object.keys(g.outputs), ...Object.keys(g.taps)].join(', ')}`);
      outputs[n] = v;
    }
    const s = await this.session(`eval:${names.join(',')}`, () => lowerToOnnx(g, { mode: 'eval', weights: this.weights, outputs }).bytes);
    return (await s.run({ [g.input.name]: x })) as Record<string, Tensor>;
  }

  /**
   * Inference (default) or a train-mode forward pass. Train mode normalizes with the batch's
   * statistics and updates the running statistics in `weights` as PyTorch does.
   */
  async forward(x: Tensor, { training = false }: ForwardOptions = {}): Promise<ForwardOutput> {
    if (!training) {
      const r = await this.runEval(x, ['logits']);
      return { logits: r.logits! };
    }
    this.checkInput(x);
    const g = this.trainGraph;
    const lowered = lowerToOnnx(g, { mode: 'train', weights: this.weights });
    const s = await this.session('train-forward', () => lowered.bytes);
    const r = (await s.run({ [g.input.name]: x })) as Record<string, Tensor>;
    // Running statistics, and PyTorch's num_batches_tracked counter.
    for (const [k, t] of Object.entries(r)) {
      const m = /^running_(mean|var)\.(.+)$/.exec(k);
      if (!m) continue;
      this.weights.set(`${m[2]}.running_${m[1]}`, t.data);
    }
    for (const p of g.params.values()) {
      if (p.role === 'bn.num_batches_tracked') (this.weights.get(p.name) as BigInt64Array)[0]! += 1n;
    }
    this.invalidate();
    const out: ForwardOutput = { logits: r.logits! };
    if (r.aux1) out.aux1 = r.aux1;
    if (r.aux2) out.aux2 = r.aux2;
    return out;
  }

  /** The N×1024 global-average-pooled features (pool5), before dropout and the classifier. */
  async forwardFeatures(x: Tensor): Promise<Tensor> {
    return (await this.runEval(x, ['pool5'])).pool5!;
  }

  /** The classifier on pool5 features: N×F → N×numClasses (eval mode, dropout off). */
  forwardHead(features: Tensor): Tensor {
    const W = this.weights.get('fc.weight') as Float32Array;
    const bias = this.weights.get('fc.bias') as Float32Array;
    const [n, f] = features.dims as [number, number];
    const k = this.config.numClasses;
    const out = new Float32Array(n * k);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < k; j++) {
        let s = bias[j]!;
        for (let t = 0; t < f; t++) s += features.data[i * f + t]! * W[j * f + t]!;
        out[i * k + j] = s;
      }
    }
    return { dims: [n, k], data: out };
  }

  /** Logits plus any named taps (`inception4a`, `pool5`, …) in one pass. */
  async infer(x: Tensor, { taps = [] }: { taps?: string[] } = {}): Promise<Record<string, Tensor>> {
    return this.runEval(x, ['logits', ...taps]);
  }

  /** Replaces the classifier (and aux classifiers) for `numClasses`, freshly initialized. */
  resetClassifier(numClasses: number, seed = 0): void {
    const cfg = resolveConfig({ ...this.config, numClasses });
    const fresh = new GoogLeNet(cfg, { engine: this.engine }, new Map());
    const heads = fresh.paramSpecs().filter((p) => /^(fc|aux[12]\.fc2)\./.test(p.name));
    const init = initWeights(heads, cfg, new Rng(seed));
    (this as { config: GoogLeNetConfig }).config = cfg;
    this.trainGraph = fresh.trainGraph;
    this.evalGraph = fresh.evalGraph;
    for (const [k, v] of init) this.weights.set(k, v);
    delete this.labels;
    this.invalidate();
  }

  /**
   * Loads a torchvision state dict. Keys and shapes must match this model exactly; aux-head keys
   * in the file are ignored when `auxLogits` is off (torchvision's own loader does the same).
   */
  loadStateDict(sd: Map<string, StateTensor>, file = '<state dict>'): void {
    const specs = this.paramSpecs();
    const want = new Map(specs.map((p) => [p.name, p]));
    const missing = specs.filter((p) => !sd.has(p.name)).map((p) => p.name);
    const extra = [...sd.keys()].filter((k) => !want.has(k) && !(!this.config.auxLogits && /^aux[12]\./.test(k)));
    if (missing.length) throw new WeightFormatError(`${file}: missing ${missing.length} key(s) for preset ${this.config.preset}: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`);
    if (extra.length) throw new WeightFormatError(`${file}: unexpected ${extra.length} key(s): ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', …' : ''}`);
    const next: Weights = new Map();
    for (const p of specs) {
      const t = sd.get(p.name)!;
      if (t.dims.join(',') !== p.shape.join(',')) {
        throw new WeightFormatError(`${file}: "${p.name}" has shape [${t.dims.join(', ')}], the model expects [${p.shape.join(', ')}]`);
      }
      if (p.role === 'bn.num_batches_tracked') {
        next.set(p.name, t.data instanceof BigInt64Array ? BigInt64Array.from(t.data) : BigInt64Array.of(BigInt(Math.round(Number(t.data[0] ?? 0)))));
      } else if (t.data instanceof BigInt64Array) {
        throw new WeightFormatError(`${file}: "${p.name}" holds integers, expected floating point`);
      } else {
        next.set(p.name, Float32Array.from(t.data as ArrayLike<number>));
      }
    }
    for (const [k, v] of next) this.weights.set(k, v);
    this.invalidate();
  }

  /** The weights under torchvision's names, ready for `load_state_dict(strict=True)`. */
  stateDict(): Map<string, StateTensor> {
    const out = new Map<string, StateTensor>();
    for (const p of this.paramSpecs()) out.set(p.name, { dims: [...p.shape], data: this.weights.get(p.name)! });
    return out;
  }
}
