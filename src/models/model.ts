/**
 * The model of either architecture (GoogLeNet, or Inception v3 with `arch: 'inception_v3'`): a
 * resolved config, its weights (torchvision names and layouts), and ONNX Runtime sessions
 * compiled from the graph, one per mode, cached and reused.
 *
 * Contract (timm's): `forwardFeatures(x)` → the unpooled feature map (GoogLeNet's N×1024×7×7
 * inception5b, Inception v3's N×2048×8×8 Mixed_7c), `forwardHead(f, { preLogits })` → pooled
 * features or logits, both inside ONNX graphs; `forward(x)` → `{ logits, aux1?, aux2? }` in every
 * mode; `resetClassifier(n)`; named taps. Without the top (Keras' `include_top=False`),
 * `features(x)` is what the model computes.
 */
import { OptionError, WeightFormatError } from '../errors.js';
import type { Graph, ParamSpec, Shape } from '../graph/ir.js';
import { isTrainable, pruneGraph } from '../graph/ir.js';
import { lowerToOnnx, type Weights } from '../graph/lower.js';
import { saturationSafe, type Quantization } from '../graph/quantize.js';
import { loweringFor, type Device } from '../runtime/device.js';
import { engineForDevice, type Engine, type Session } from '../runtime/engine.js';
import { checkTensor, numel, type Tensor, type TensorArray } from '../tensor.js';
import { Rng } from '../rng.js';
import { architectureOf, buildNetwork } from './arch.js';
import { initWeights } from './init.js';
import { archLabel, resolveConfig, type ModelConfig, type ModelOptions, type Pooling } from './config.js';
import { buildHead } from './parts.js';
import {
  buildGradCamGraph,
  classMask,
  maskClasses,
  resolveGradCamMethod,
  resolveGradCamTarget,
  type GradCamOptions,
  type GradCamResult,
} from './gradcam.js';
import { lowerTrainForward, SessionCache, type TrainForwardModel } from './sessions.js';

export interface ForwardOutput {
  logits: Tensor;
  /** Present only in training mode with `auxLogits`: GoogLeNet's head after inception4a, Inception v3's only one (`AuxLogits`). */
  aux1?: Tensor;
  /** GoogLeNet's head after inception4d (training mode with `auxLogits`). */
  aux2?: Tensor;
}

export interface ForwardOptions {
  /** Training mode: batch statistics, live dropout, aux heads. Default false. */
  training?: boolean;
}

export interface HeadOptions {
  /** Return the pooled N×C features (after dropout, identity here) instead of the logits. Default false. */
  preLogits?: boolean;
}

export interface FeaturesOptions {
  /**
   * How the feature map is pooled: 'avg' (N×C), 'max' (N×C) or 'none' (N×C×H×W), as Keras'
   * `pooling`. Default: the model's `pooling` without the top, 'avg' with it.
   */
  pooling?: Pooling;
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

/** PyTorch's `num_batches_tracked` as our int64 counter; a float one must hold a whole, finite number. */
function batchCounter(data: StateTensor['data'], name: string, file: string): BigInt64Array {
  if (data instanceof BigInt64Array) return BigInt64Array.from(data);
  const v = Number(data[0] ?? 0);
  if (!Number.isSafeInteger(Math.round(v)) || v < 0)
    throw new WeightFormatError(`${file}: "${name}" is ${String(v)}, expected a count of batches (a non-negative integer)`, { file });
  return BigInt64Array.of(BigInt(Math.round(v)));
}

export interface CreateOptions {
  /** Seed for weight initialization. Default 0. */
  seed?: number;
  /** Default: the engine of `device`, else the entry point's (onnxruntime-node's CPU provider in Node). */
  engine?: Engine;
  /**
   * Where the model runs (see `runtime/device.ts`). Node: 'cpu' (default), 'webgpu', 'cuda' or
   * 'auto'; browser: 'auto' (default), 'webgpu' or 'wasm'. A device that is not there fails at
   * the first session with a BackendError saying what it needs.
   */
  device?: Device;
  /** Intra-op threads for this model's sessions. */
  threads?: number;
}

export class GoogLeNet {
  private readonly store: Weights;
  /** Writes newer weights held elsewhere (a training step's) into `store`; see {@link weightsChanged}. */
  private pending: (() => void) | undefined;
  readonly engine: Engine;
  /** Class names, when known (ImageNet, Fashion-MNIST, …). */
  labels?: string[];
  /** Image preprocessing, when known (model directories carry it). */
  preprocess?: PreprocessConfig;
  private cfg: ModelConfig;
  private trainGraph: Graph;
  private evalGraph: Graph;
  /** `forwardHead`'s graph: the feature map in, `logits` and `avg_pool` out (without the top: `features`). */
  private headGraph: Graph;
  private trainForward?: TrainForwardModel;
  private readonly sessions: SessionCache;
  private quant: Quantization | undefined;

  constructor(options: ModelOptions = {}, create: CreateOptions = {}, weights?: Weights) {
    this.cfg = resolveConfig(options);
    this.engine = create.engine ?? engineForDevice(create.device);
    this.sessions = new SessionCache(this.engine, create.threads ? { threads: create.threads } : {});
    this.trainGraph = buildNetwork(this.cfg, { mode: 'train' });
    this.evalGraph = buildNetwork(this.cfg, { mode: 'eval' });
    this.headGraph = buildHead(this.cfg, this.featureShape);
    this.store = weights ?? initWeights(this.trainGraph.params.values(), this.cfg, new Rng(create.seed ?? 0));
  }

  /**
   * Parameters and batch-norm buffers by torchvision name, always current: newer values held by
   * a training step are copied in before they are returned. Call `invalidate()` after editing in place.
   */
  get weights(): Weights {
    const flush = this.pending;
    this.pending = undefined;
    flush?.();
    return this.store;
  }

  /**
   * Says that newer weights are held elsewhere (a training step's flat vectors): sessions that
   * baked the old ones are dropped now, and the next read of {@link weights} (a forward pass, a
   * save, a copy) first calls `flush` to write them in. Another source's pending weights are
   * written in first.
   */
  weightsChanged(flush: () => void): void {
    const other = this.pending;
    this.pending = undefined;
    if (other && other !== flush) other();
    this.pending = flush;
    this.invalidate();
  }

  /** The resolved configuration (changed only by `resetClassifier`). */
  get config(): ModelConfig {
    return this.cfg;
  }

  /** Per-sample shape of `forwardFeatures`' output: GoogLeNet's `[1024, 7, 7]` at 224², Inception v3's `[2048, 8, 8]` at 299² (scaled by `width`). */
  get featureShape(): Shape {
    return this.evalGraph.shapes.get(this.evalGraph.taps[architectureOf(this.cfg).featureStage]!)!;
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

  /**
   * Replaces the sessions that hold weights as constants, so that the next call sees the current
   * weights: all of them, or only those that read one of `names`.
   */
  invalidate(names?: Iterable<string>): void {
    this.sessions.invalidate(names);
    this.setQuantization(undefined);
  }

  /** The int8 parameters inference runs with (`calibrate`, int8 model directories), if any. */
  get quantization(): Quantization | undefined {
    return this.quant;
  }

  /**
   * Runs inference as int8 QDQ with `q` (or float32 again with `undefined`). A change to the
   * weights (`invalidate`, training) makes the model float32 again: int8 values are not recomputed.
   */
  setQuantization(q: Quantization | undefined): void {
    if (q === this.quant) return;
    this.quant = q;
    this.sessions.invalidate();
  }

  /** Releases every session. The model stays usable: the next call compiles again. */
  async dispose(): Promise<void> {
    await this.sessions.clear();
  }

  private checkInput(x: Tensor): void {
    checkTensor(x, 'input');
    const [c] = this.evalGraph.input.shape;
    const size = this.cfg.inputSize;
    if (x.dims.length !== 4 || x.dims[1] !== c) {
      throw new OptionError(`input: expected N×${c}×H×W, got [${x.dims.join('×')}]`, { option: 'input' });
    }
    if (x.dims[2] !== size || x.dims[3] !== size) {
      throw new OptionError(`input: this model was built for ${size}×${size} images, got ${x.dims[2]}×${x.dims[3]}`, { option: 'input' });
    }
  }

  /**
   * The int8 parameters this model's sessions run with: its quantization, with saturation-safe
   * weights where the engine's int8 kernels saturate (x86 without VNNI).
   */
  get effectiveQuantization(): Quantization | undefined {
    return this.quant && this.engine.int8Saturates ? saturationSafe(this.quant) : this.quant;
  }

  /** An eval-mode session of `graph` computing `outputs` (name → value), weights folded in as constants. */
  private evalSession(key: string, graph: Graph, outputs: Record<string, string>): Promise<Session> {
    const q = this.effectiveQuantization;
    return this.sessions.get(key, () => ({
      bytes: lowerToOnnx(graph, { mode: 'eval', weights: this.weights, outputs, ...(q ? { quantization: q } : {}) }).bytes,
      baked: pruneGraph(graph, outputs).params.keys(),
    }));
  }

  /** Runs the eval graph and returns the named values (outputs or taps). */
  private async runEval(x: Tensor, names: string[]): Promise<Record<string, Tensor>> {
    this.checkInput(x);
    const g = this.evalGraph;
    const outputs: Record<string, string> = {};
    for (const n of names) {
      const v = g.outputs[n] ?? g.taps[n];
      if (!v) throw new OptionError(`taps: unknown tap "${n}"; known: ${[...Object.keys(g.outputs), ...Object.keys(g.taps)].join(', ')}`, { option: 'taps' });
      outputs[n] = v;
    }
    const s = await this.evalSession(`eval:${names.join(',')}`, g, outputs);
    return (await s.run({ [g.input.name]: x })) as Record<string, Tensor>;
  }

  /**
   * Inference (default) or a train-mode forward pass. Train mode normalizes with the batch's
   * statistics and updates the running statistics in `weights` as PyTorch does (eval sessions,
   * which fold them in, are then replaced on their next use).
   */
  async forward(x: Tensor, { training = false }: ForwardOptions = {}): Promise<ForwardOutput> {
    if (!this.cfg.includeTop)
      throw new OptionError('forward: this model has no classifier (includeTop: false); features(x) gives what it computes', {
        option: 'includeTop',
      });
    if (!training) {
      const r = await this.runEval(x, ['logits']);
      return { logits: r.logits! };
    }
    const r = await this.runTrain(x);
    const out: ForwardOutput = { logits: r.logits! };
    if (r.aux1) out.aux1 = r.aux1;
    if (r.aux2) out.aux2 = r.aux2;
    return out;
  }

  /** One train-mode pass through the weights-fed session; writes back the running statistics. */
  private async runTrain(x: Tensor): Promise<Record<string, Tensor>> {
    this.checkInput(x);
    const g = this.trainGraph;
    const lowered = (this.trainForward ??= lowerTrainForward(g));
    const s = await this.sessions.get('train', () => ({ bytes: lowered.bytes, baked: [] }));
    const feeds: Record<string, Tensor<TensorArray>> = { [g.input.name]: x };
    for (const p of lowered.fed) {
      const data = this.weights.get(p.name);
      if (!data) throw new OptionError(`weights: no value for ${p.name}`, { option: 'weights' });
      feeds[p.name] = { dims: [...p.shape], data };
    }
    const r = (await s.run(feeds)) as Record<string, Tensor>;
    // Running statistics, and PyTorch's num_batches_tracked counter.
    const changed: string[] = [];
    for (const [k, t] of Object.entries(r)) {
      const m = /^running_(mean|var)\.(.+)$/.exec(k);
      if (!m) continue;
      const name = `${m[2]}.running_${m[1]}`;
      this.weights.set(name, t.data);
      changed.push(name);
    }
    for (const p of g.params.values()) {
      if (p.role === 'bn.num_batches_tracked') (this.weights.get(p.name) as BigInt64Array)[0]! += 1n;
    }
    this.sessions.invalidate(changed);
    this.setQuantization(undefined);
    return r;
  }

  /** The unpooled feature map, the last Inception stage's output: N×1024×7×7 (GoogLeNet, 224²), N×2048×8×8 (Inception v3, 299²) (timm's `forward_features`). */
  async forwardFeatures(x: Tensor): Promise<Tensor> {
    const stage = architectureOf(this.cfg).featureStage;
    return (await this.runEval(x, [stage]))[stage]!;
  }

  /**
   * The features Keras' `model.predict(x)` gives for a model built without its top
   * (`include_top=False`): the feature map pooled as `pooling` says — the 2048-vector of
   * TF-Hub's `inception_v3/feature_vector` with 'avg'. On a model with its top, the pooled
   * features the classifier reads ('avg', the default) or the map pooled otherwise.
   */
  async features(x: Tensor, { pooling }: FeaturesOptions = {}): Promise<Tensor> {
    const own = this.cfg.includeTop ? 'avg' : this.cfg.pooling;
    const p = pooling ?? own;
    if (p === own) {
      const name = this.cfg.includeTop ? 'avg_pool' : 'features';
      return (await this.runEval(x, [name]))[name]!;
    }
    const map = await this.forwardFeatures(x);
    return p === 'none' ? map : globalPool(map, p);
  }

  /**
   * The head on a feature map from `forwardFeatures`, in eval mode (timm's `forward_head`):
   * global average pool → N×1024, dropout (identity) and the classifier → N×numClasses; with
   * `preLogits`, the pooled N×1024 features.
   */
  async forwardHead(features: Tensor, { preLogits = false }: HeadOptions = {}): Promise<Tensor> {
    const want = this.featureShape;
    checkTensor(features, 'features');
    if (features.dims.length !== 4 || features.dims.slice(1).join() !== want.join()) {
      throw new OptionError(`features: expected N×${want.join('×')} (forwardFeatures' output), got [${features.dims.join('×')}]`, { option: 'features' });
    }
    // Without the top the head is Keras' pooling only; 'none' leaves the map as it is.
    if (!this.cfg.includeTop && this.cfg.pooling === 'none') return features;
    const g = this.headGraph;
    const name = !this.cfg.includeTop ? 'features' : preLogits ? 'avg_pool' : 'logits';
    const s = await this.evalSession(`head:${name}`, g, { [name]: g.outputs[name]! });
    return (await s.run({ [g.input.name]: features }))[name] as Tensor;
  }

  /** Logits (without the top: `features`) plus any named taps (`inception4a`, `Mixed_6e`, `avg_pool`, …) in one pass. */
  async infer(x: Tensor, { taps = [] }: { taps?: string[] } = {}): Promise<Record<string, Tensor>> {
    return this.runEval(x, [this.cfg.includeTop ? 'logits' : 'features', ...taps.filter((t) => t !== 'logits' && t !== 'features')]);
  }

  /**
   * Grad-CAM (Selvaraju et al. 2017, see `gradcam.ts`): where in each image the evidence for a class
   * lies, at a tap's resolution, from one eval-mode pass that runs forward and then differentiates
   * the class score back to the tap. Also returns every head's logits (the aux heads' too, with
   * `auxLogits`) and the activations of `taps`. Float32 weights even when int8 is set.
   * @throws OptionError naming `layer`, `head`, `classIndex` or `taps`.
   */
  async gradCam(x: Tensor, options: GradCamOptions = {}): Promise<GradCamResult> {
    this.checkInput(x);
    const g = this.trainGraph; // the eval graph plus the aux heads, lowered in eval mode
    const target = resolveGradCamTarget(g, options);
    const method = resolveGradCamMethod(options.method);
    const taps = [...(options.taps ?? [])];
    for (const t of taps)
      if (typeof t !== 'string' || g.taps[t] === undefined)
        throw new OptionError(`taps: unknown tap ${JSON.stringify(t)}; known: ${Object.keys(g.taps).join(', ')}`, { option: 'taps' });
    const n = x.dims[0]!;
    const classes = g.shapes.get(g.outputs[target.head]!)![0]!;
    const mask = classMask(n, classes, target.head, options.classIndex);
    // The device decides the lowering (WebGPU: max-pool gradients without `Indices`).
    const device = (await this.engine.resolve()).device;
    const lowering = loweringFor(device === 'auto' ? 'cpu' : device);
    const key = `explain:${method}:${target.head}:${target.layer}:${taps.join(',')}`;
    const held = this.sessions.hold(key, () => buildGradCamGraph(g, this.weights, { ...target, method, taps, lowering }));
    // Each tap, head and method is its own graph with its own copy of the weights: keep the last
    // two (and any that another call is running).
    this.sessions.trim('explain:', 2);
    let r: Record<string, Tensor>;
    try {
      r = (await (await held.session).run({ [g.input.name]: x, class_mask: { dims: [n, classes], data: mask } })) as Record<string, Tensor>;
    } finally {
      held.done();
    }
    const pick = (prefix: string): Record<string, Tensor> =>
      Object.fromEntries(Object.entries(r).flatMap(([k, v]) => (k.startsWith(prefix) ? [[k.slice(prefix.length), v]] : [])));
    const heads = pick('head.');
    return { ...target, method, cam: r.cam!, alpha: r.alpha!, classIndex: maskClasses(mask, heads[target.head]!), heads, activations: pick('activation.') };
  }

  /**
   * Replaces the classifier (and aux classifiers) for `numClasses`, freshly initialized, in place
   * (timm's `reset_classifier`); every other weight is kept. Forgets `labels`.
   */
  resetClassifier(numClasses: number, seed = 0): void {
    if (!this.cfg.includeTop)
      throw new OptionError('resetClassifier: this model has no classifier (includeTop: false)', { option: 'includeTop' });
    const cfg = resolveConfig({ ...this.cfg, numClasses });
    const trainGraph = buildNetwork(cfg, { mode: 'train' });
    const classifier = architectureOf(cfg).classifier;
    const heads = [...trainGraph.params.values()].filter((p) => classifier.test(p.name));
    for (const [k, v] of initWeights(heads, cfg, new Rng(seed))) this.weights.set(k, v);
    this.cfg = cfg;
    this.trainGraph = trainGraph;
    this.evalGraph = buildNetwork(cfg, { mode: 'eval' });
    this.headGraph = buildHead(cfg, this.featureShape);
    delete this.trainForward;
    delete this.labels;
    void this.sessions.clear().catch(() => undefined);
  }

  /**
   * Loads a torchvision state dict. Keys and shapes must match this model exactly; aux-head keys
   * in the file are ignored when `auxLogits` is off (torchvision's own loader does the same), and
   * the classifier's without the top (Keras loads `include_top=False` from the full weights too).
   */
  loadStateDict(sd: Map<string, StateTensor>, file = '<state dict>'): void {
    const specs = this.paramSpecs();
    const want = new Map(specs.map((p) => [p.name, p]));
    const arch = architectureOf(this.cfg);
    const ignored = (k: string): boolean => (!this.cfg.auxLogits && arch.aux.test(k)) || (!this.cfg.includeTop && arch.heads.test(k));
    const missing = specs.filter((p) => !sd.has(p.name)).map((p) => p.name);
    const extra = [...sd.keys()].filter((k) => !want.has(k) && !ignored(k));
    if (missing.length) {
      const some = `${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`;
      throw new WeightFormatError(`${file}: missing ${missing.length} key(s) for ${archLabel(this.cfg)}: ${some}`, { file });
    }
    if (extra.length) throw new WeightFormatError(`${file}: unexpected ${extra.length} key(s): ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', …' : ''}`, { file });
    const next: Weights = new Map();
    for (const p of specs) {
      const t = sd.get(p.name)!;
      if (t.dims.join(',') !== p.shape.join(',')) {
        throw new WeightFormatError(`${file}: "${p.name}" has shape [${t.dims.join(', ')}], the model expects [${p.shape.join(', ')}]`, { file });
      }
      if (p.role === 'bn.num_batches_tracked') {
        next.set(p.name, batchCounter(t.data, p.name, file));
      } else if (!(t.data instanceof Float32Array || t.data instanceof Float64Array)) {
        // I32/U8 data under a float weight's name is a damaged or wrong file, not a weight.
        throw new WeightFormatError(`${file}: "${p.name}" holds integers (${t.data.constructor.name}), expected floating point`, { file });
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

/** Global average or maximum of an N×C×H×W map over space: N×C (Keras' pooling, in JavaScript). */
function globalPool(map: Tensor, pooling: 'avg' | 'max'): Tensor {
  const [n, c, h, w] = map.dims as [number, number, number, number];
  const hw = h * w;
  const out = new Float32Array(n * c);
  for (let i = 0; i < n * c; i++) {
    const row = map.data.subarray(i * hw, (i + 1) * hw) as Float32Array;
    let acc = pooling === 'max' ? -Infinity : 0;
    for (let j = 0; j < hw; j++) acc = pooling === 'max' ? Math.max(acc, row[j]!) : acc + row[j]!;
    out[i] = pooling === 'max' ? acc : acc / hw;
  }
  return { dims: [n, c], data: out };
}
