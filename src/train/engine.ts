/**
 * The training engine: a compiled training step over a model's weights. Each step is one
 * `session.run` of the training graph (`train-graph.ts`: forward, loss, backward and the optimizer
 * update in one ONNX graph); this class feeds it and keeps the flat parameter, optimizer-state and
 * running-statistics vectors between steps.
 *
 *   const step = createTrainStep(model, { optimizer: { type: 'adam', lr: 1e-3 } });
 *   const { loss, correct } = await step.step(x, labels, { lr: schedule(i) });
 *   model.weights; // the trained values: the step writes them in when they are read
 */
import { ClosedError, describeValue, OptionError, WeightFormatError } from '../errors.js';
import type { Graph } from '../graph/ir.js';
import type { ConvGradOptions, LoweringOptions, MaxPoolGradMethod } from '../graph/ops/index.js';
import type { GoogLeNet } from '../models/model.js';
import { loweringFor } from '../runtime/device.js';
import { nchwcBlockSize } from '../runtime/probe.js';
import type { Session, SessionOptions } from '../runtime/engine.js';
import { checkTensor, type Tensor, type TensorArray } from '../tensor.js';
import { fmix32 } from '../rng.js';
import { resolveOptimizer, stateSlots, type OptimizerOptions, type ResolvedOptimizer } from './optim.js';
import { buildTrainGraph, estimateStepBytes, trainLayout, type TrainGraph, type TrainLayout } from './train-graph.js';
import { checkOption } from '../checks.js';
import { TRAIN_DEFAULTS, TRAIN_OPTIONS } from './options.js';

export interface TrainStepOptions {
  /** The optimizer and its hyper-parameters (PyTorch semantics). */
  optimizer: OptimizerOptions;
  /** Weight of each auxiliary head's loss: main + auxWeight·(aux1 + aux2). Default 0.3 (the paper). */
  auxWeight?: number;
  /** Label smoothing ε of every head's cross-entropy. Default 0. */
  labelSmoothing?: number;
  /** Clip the global gradient L2 norm to this value (PyTorch's `clip_grad_norm_`). Default: no clipping. */
  clipGradNorm?: number;
  /** Parameters that get no gradient and no update (fine-tuning the head only). Default: none frozen. */
  freeze?: (name: string) => boolean;
  /** Seed of the dropout masks: step t uses a seed derived from (seed, t) unless `step()` passes one. Default 0. */
  seed?: number;
  /** Intra-op threads of the step's session. Default: the engine's (all cores in Node). */
  threads?: number;
  /**
   * How convolution gradients are formed (the same values either way; see docs/PERFORMANCE.md):
   * `weightGrad` 'unfold' or 'shift', `inputGrad1x1` 'conv' or 'matmul'.
   * Default `{ weightGrad: 'unfold', inputGrad1x1: 'conv' }`.
   */
  convGrad?: ConvGradOptions;
  /**
   * How max-pool gradients are formed (the same routing, PyTorch's; shared windows may be added
   * in another order): 'indices' (MaxPool's Indices output and a scatter), 'masks' (first-maximum
   * masks, nothing kept from the forward; for ONNX Runtime's WebGPU providers, which have no
   * Indices output) or 'mixed' (masks for stride-1 pools, indices for strided ones: the fastest on
   * the CPU). Default: what the model's device needs (`runtime/device.ts`: 'mixed' on the CPU,
   * 'masks' on WebGPU, 'indices' on CUDA).
   */
  maxPoolGrad?: MaxPoolGradMethod;
  /**
   * Run stride-1 k×k convolutions (k > 1) and their input gradients on ONNX Runtime's blocked
   * NCHWc kernels, where the CPU provider has them (x86 with AVX2 or AVX-512; probed once), with
   * the weights reordered inside the graph (`LoweringOptions.nchwcBlock`). The same values up to
   * float rounding. Default true on the CPU; ignored elsewhere.
   */
  nchwc?: boolean;
}

export interface StepOptions {
  /** Learning rate of this step. Default: the optimizer's `lr`. */
  lr?: number;
  /** Dropout seed of this step (an integer in [0, 2³¹)). Default: derived from the trainer's seed and the step number. */
  seed?: number;
}

export interface StepResult {
  /** main + auxWeight·(aux1 + aux2), batch mean. */
  loss: number;
  /** Top-1 correct predictions of the main head in this batch. */
  correct: number;
  /** Per-head losses (unweighted). */
  losses: { main: number; aux1?: number; aux2?: number };
  /** Global gradient norm before clipping (with `clipGradNorm`). */
  gradNorm?: number;
  /** The optimizer step just taken (1 for the first). */
  step: number;
}

export interface GradientsResult {
  loss: number;
  losses: { main: number; aux1?: number; aux2?: number };
  /** ∂loss/∂p for every trainable, unfrozen parameter (PyTorch layouts). */
  grads: Map<string, Float32Array>;
  /** Batch-norm running statistics after this forward pass, keyed `running_mean.<bn>` / `running_var.<bn>`. */
  runningStats: Map<string, Float32Array>;
}

/** A checkpointable optimizer state. `state` is keyed `<slot>.<parameter>` (e.g. `exp_avg.fc.weight`). */
export interface OptimizerState {
  type: 'sgd' | 'adam';
  /** Optimizer steps taken. */
  step: number;
  state: Map<string, Float32Array>;
}

/**
 * Session options of a training step. `memoryPattern: false` turns off ONNX Runtime's
 * memory-pattern pre-allocation (`enableMemPattern`): measured on the cifar step at batch 64, peak
 * RSS 7.1 → 4.5 GiB at the same speed. `spinning: false` lets ONNX Runtime's idle intra-op threads
 * sleep instead of spinning between operators (PyTorch's OMP_WAIT_POLICY=PASSIVE, which the bench
 * gives it): a step's operators are milliseconds long, so waking a thread costs little, while
 * spinning threads take the cores from the working ones whenever other processes share them
 * (cifar step, 2 threads, load 9-16: 19-39 s → 21-26 s per step, CPU 10.6-11.5 → 8.5-9.5 s).
 */
function trainSessionOptions(threads?: number): SessionOptions {
  return { memoryPattern: false, spinning: false, ...(threads ? { threads } : {}) };
}

function check(ok: boolean, option: string, expected: string, got: unknown): void {
  if (!ok) throw new OptionError(`${option}: expected ${expected}, received ${JSON.stringify(got)}`, { option });
}

/** Checks a step option that is also a training option with that option's declared check. */
function checkValue<K extends 'auxWeight' | 'labelSmoothing' | 'clipGradNorm' | 'seed'>(k: K, v: unknown): number {
  return checkOption(TRAIN_OPTIONS[k].check, v, k);
}

function checkConvGrad(c: ConvGradOptions | undefined): void {
  if (c === undefined) return;
  check(c !== null && typeof c === 'object', 'convGrad', 'an object', c);
  if (c.weightGrad !== undefined)
    check(['unfold', 'shift'].includes(c.weightGrad), 'convGrad.weightGrad', "'unfold' or 'shift'", c.weightGrad);
  if (c.inputGrad1x1 !== undefined)
    check(['conv', 'matmul'].includes(c.inputGrad1x1), 'convGrad.inputGrad1x1', "'conv' or 'matmul'", c.inputGrad1x1);
}

/** A compiled training step over a model's weights. Create with {@link createTrainStep}. */
export class TrainStep {
  readonly optimizer: ResolvedOptimizer;
  readonly layout: TrainLayout;
  private readonly graph: Graph;
  private readonly opts: Required<
    Omit<TrainStepOptions, 'clipGradNorm' | 'freeze' | 'threads' | 'optimizer' | 'convGrad' | 'maxPoolGrad' | 'nchwc'>
  > &
    Pick<TrainStepOptions, 'clipGradNorm' | 'threads'> & { lowering: LoweringOptions; nchwc: boolean };
  private params: Float32Array;
  private frozen: Float32Array;
  private stats: Float32Array;
  private state: Record<string, Float32Array> = {};
  private counters: Map<string, bigint>;
  private steps = 0;
  private sessions = new Map<string, Promise<{ session: Session; graph: TrainGraph }>>();
  private disposed = false;
  /** Whether `model.weights` lag behind `params` (after a step, until {@link syncWeights}). */
  private stale = false;
  private readonly flush = (): void => this.syncWeights();

  constructor(
    readonly model: GoogLeNet,
    options: TrainStepOptions,
  ) {
    check(options !== null && typeof options === 'object', 'createTrainStep options', 'an object with an optimizer', options);
    this.optimizer = resolveOptimizer(options.optimizer);
    // The same checks and defaults as `train`'s options (one declaration each, `options.ts`).
    const auxWeight = checkValue('auxWeight', options.auxWeight ?? TRAIN_DEFAULTS.auxWeight);
    const labelSmoothing = checkValue('labelSmoothing', options.labelSmoothing ?? TRAIN_DEFAULTS.labelSmoothing);
    if (options.clipGradNorm !== undefined) checkValue('clipGradNorm', options.clipGradNorm);
    const seed = checkValue('seed', options.seed ?? TRAIN_DEFAULTS.seed);
    checkConvGrad(options.convGrad);
    if (options.nchwc !== undefined) check(typeof options.nchwc === 'boolean', 'nchwc', 'a boolean', options.nchwc);
    if (options.maxPoolGrad !== undefined)
      check(
        ['indices', 'masks', 'mixed'].includes(options.maxPoolGrad),
        'maxPoolGrad',
        "'indices', 'masks' or 'mixed'",
        options.maxPoolGrad,
      );
    this.opts = {
      auxWeight,
      labelSmoothing,
      seed,
      ...(options.clipGradNorm !== undefined ? { clipGradNorm: options.clipGradNorm } : {}),
      ...(options.threads ? { threads: options.threads } : {}),
      nchwc: options.nchwc ?? true,
      lowering: {
        ...(options.convGrad ? { convGrad: { ...options.convGrad } } : {}),
        ...(options.maxPoolGrad ? { maxPoolGrad: options.maxPoolGrad } : {}),
      },
    };
    this.graph = model.graph('train');
    const freeze = options.freeze ?? (() => false);
    this.layout = trainLayout(this.graph, freeze);
    if (this.layout.trainable.total === 0)
      throw new OptionError('freeze: every parameter is frozen, nothing to train', { option: 'freeze' });
    this.params = new Float32Array(0);
    this.frozen = new Float32Array(0);
    this.stats = new Float32Array(0);
    this.counters = new Map();
    this.reloadWeights();
    for (const s of stateSlots(this.optimizer)) this.state[s] = new Float32Array(this.layout.trainable.total);
  }

  /**
   * The model must still have the graph this step was built on: `resetClassifier` gives it
   * another classifier (other shapes), which this step's vectors and sessions do not know.
   */
  private checkModel(): void {
    if (this.model.graph('train') !== this.graph)
      throw new OptionError(
        'model: its classifier was replaced (resetClassifier) after this training step was created; create a new step with createTrainStep',
        { option: 'model' },
      );
  }

  /** Re-reads the weights from `model.weights` (after loading a checkpoint into the model). */
  reloadWeights(): void {
    this.checkModel();
    const w = this.model.weights;
    const get = (name: string): Float32Array => {
      const v = w.get(name);
      if (!(v instanceof Float32Array))
        throw new WeightFormatError(`model.weights has no float32 value for ${name}`, { file: '<model.weights>' });
      return v;
    };
    this.params = this.layout.trainable.pack(get);
    this.frozen = this.layout.frozen.pack(get);
    this.stats = this.layout.stats.pack(get);
    this.counters = new Map(this.layout.counters.map((c) => [c, (w.get(c) as BigInt64Array | undefined)?.[0] ?? 0n]));
  }

  /**
   * Refuses a batch of `batch` images whose step cannot fit in the memory the engine can use
   * ({@link Engine.memoryBytes}; no check where that is unknown, e.g. on a GPU), before anything
   * is allocated: ONNX Runtime would otherwise fail mid-step in its allocator. `step` and
   * `gradients` check their batch; a program can check its batch size before loading data.
   * `what` names the batch in the message (an option or a flag). The estimate is
   * {@link estimateStepBytes}.
   * @throws OptionError with the estimate and the limit.
   */
  checkMemory(batch: number, what = 'input'): void {
    const limit = this.model.engine.memoryBytes;
    if (limit === undefined) return;
    const need = estimateStepBytes(this.graph, this.layout, batch, stateSlots(this.optimizer).length);
    if (need <= limit) return;
    const gib = (b: number): string => (b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(1)} GiB` : `${Math.ceil(b / 2 ** 20)} MiB`);
    const [c, h, w] = this.graph.input.shape;
    throw new OptionError(
      `${what}: a training step on ${batch}×${c}×${h}×${w} needs about ${gib(need)} of memory (estimated), more than the ` +
        `${gib(limit)} ${this.model.engine.name} can use; use a smaller batch or input size`,
      { option: what },
    );
  }

  /** Optimizer steps taken so far. */
  get stepCount(): number {
    return this.steps;
  }

  private session(kind: 'step' | 'gradients'): Promise<{ session: Session; graph: TrainGraph }> {
    if (this.disposed) throw new ClosedError('this training step was disposed; create a new one with createTrainStep');
    this.checkModel();
    let s = this.sessions.get(kind);
    if (!s) {
      // The device decides some lowerings (WebGPU: max-pool gradients without `Indices`), so an
      // automatic engine picks its device before the graph is built.
      s = this.model.engine.resolve().then(async (engine) => {
        const device = engine.device === 'auto' ? 'cpu' : engine.device;
        const nchwcBlock = device === 'cpu' && this.opts.nchwc ? await nchwcBlockSize(engine) : 0;
        const graph = buildTrainGraph(this.graph, this.layout, {
          kind,
          numClasses: this.model.config.numClasses,
          auxWeight: this.opts.auxWeight,
          labelSmoothing: this.opts.labelSmoothing,
          optimizer: this.optimizer,
          ...(this.opts.clipGradNorm !== undefined ? { clipGradNorm: this.opts.clipGradNorm } : {}),
          lowering: { ...loweringFor(device), ...(nchwcBlock ? { nchwcBlock } : {}), ...this.opts.lowering },
        });
        const session = await this.model.engine.createSession(graph.bytes, trainSessionOptions(this.opts.threads));
        return { session, graph };
      });
      this.sessions.set(kind, s);
    }
    return s;
  }

  /** Checks a batch (for callers in plain JavaScript too) before any session is built; labels as int64. */
  private batch(x: Tensor, y: Int32Array | BigInt64Array | ArrayLike<number>): BigInt64Array {
    this.checkModel();
    const [c, size] = [this.graph.input.shape[0], this.graph.input.shape[1]];
    checkTensor(x, 'input');
    if (!Array.isArray(y) && !(y instanceof Int32Array || y instanceof BigInt64Array || y instanceof Uint8Array)) {
      throw new OptionError(`labels: expected an Int32Array, BigInt64Array or array of class indices, received ${describeValue(y)}`, {
        option: 'labels',
      });
    }
    if (x.dims.length !== 4 || x.dims[1] !== c || x.dims[2] !== size || x.dims[3] !== this.graph.input.shape[2]) {
      throw new OptionError(`input: expected N×${c}×${size}×${this.graph.input.shape[2]}, got [${x.dims.join('×')}]`, { option: 'input' });
    }
    const n = x.dims[0]!;
    if (y.length !== n) throw new OptionError(`labels: expected ${n} labels (one per image), got ${y.length}`, { option: 'labels' });
    const k = this.model.config.numClasses;
    const labels = new BigInt64Array(n);
    for (let i = 0; i < n; i++) {
      const v = Number(y[i]!);
      if (!Number.isInteger(v) || v < 0 || v >= k)
        throw new OptionError(`labels[${i}]: expected a class in [0, ${k}), got ${v}`, { option: 'labels' });
      labels[i] = BigInt(v);
    }
    return labels;
  }

  private feeds(graph: TrainGraph, x: Tensor, labels: BigInt64Array, seed: number): Record<string, Tensor<TensorArray>> {
    const n = x.dims[0]!;
    const f: Record<string, Tensor<TensorArray>> = {
      [this.graph.input.name]: x,
      labels: { dims: [n], data: labels },
      params: { dims: [this.params.length], data: this.params },
    };
    if (graph.inputs.has('frozen')) f.frozen = { dims: [this.frozen.length], data: this.frozen };
    if (graph.inputs.has('bn_stats')) f.bn_stats = { dims: [this.stats.length], data: this.stats };
    if (graph.usesSeed) f.seed = { dims: [], data: BigInt64Array.of(BigInt(seed)) };
    return f;
  }

  private stepSeed(t: number, seed?: number): number {
    if (seed !== undefined) {
      checkValue('seed', seed);
      return seed;
    }
    return fmix32(fmix32(this.opts.seed >>> 0) ^ fmix32(t)) & 0x7fffffff;
  }

  /** One training step: forward, backward, optimizer update, running statistics; all in one session run. */
  async step(x: Tensor, y: Int32Array | BigInt64Array | ArrayLike<number>, o: StepOptions = {}): Promise<StepResult> {
    const labels = this.batch(x, y);
    await this.model.engine.resolve();
    this.checkMemory(x.dims[0]!);
    const t = this.steps + 1;
    const lr = o.lr ?? this.optimizer.lr;
    check(Number.isFinite(lr) && lr >= 0, 'lr', 'a finite number ≥ 0', lr);
    const seed = this.stepSeed(t, o.seed);
    const { session, graph } = await this.session('step');
    const feeds = this.feeds(graph, x, labels, seed);
    feeds.lr = { dims: [], data: Float32Array.of(lr) };
    if (graph.inputs.has('step')) feeds.step = { dims: [], data: Float32Array.of(t) };
    for (const [s, v] of Object.entries(this.state)) feeds[s] = { dims: [v.length], data: v };
    const r = await session.run(feeds);
    this.params = r.params_out!.data as Float32Array;
    for (const s of Object.keys(this.state)) this.state[s] = r[`${s}_out`]!.data as Float32Array;
    if (r.bn_stats_out) this.stats = r.bn_stats_out.data as Float32Array;
    for (const [c, v] of this.counters) this.counters.set(c, v + 1n);
    this.steps = t;
    if (!this.stale) {
      this.stale = true;
      this.model.weightsChanged(this.flush);
    }
    const res: StepResult = { loss: r.loss!.data[0] as number, correct: Number(r.correct!.data[0]), losses: headLosses(r), step: t };
    if (r.grad_norm) res.gradNorm = r.grad_norm.data[0] as number;
    return res;
  }

  /** Forward and backward without an update: every gradient and the loss (tests, debugging). */
  async gradients(x: Tensor, y: Int32Array | BigInt64Array | ArrayLike<number>, o: { seed?: number } = {}): Promise<GradientsResult> {
    const labels = this.batch(x, y);
    const seed = this.stepSeed(this.steps + 1, o.seed);
    await this.model.engine.resolve();
    this.checkMemory(x.dims[0]!);
    const { session, graph } = await this.session('gradients');
    const r = await session.run(this.feeds(graph, x, labels, seed));
    const grads = new Map<string, Float32Array>();
    for (const s of this.layout.trainable.slots) grads.set(s.name, r[`grad.${s.name}`]!.data as Float32Array);
    const runningStats = new Map<string, Float32Array>();
    if (r.bn_stats_out) {
      for (const [key, p] of this.layout.statKeys) runningStats.set(key, this.layout.stats.unpack(r.bn_stats_out.data as Float32Array, p));
    }
    return { loss: r.loss!.data[0] as number, losses: headLosses(r), grads, runningStats };
  }

  /** The current weights of one parameter or running statistic (a copy). */
  weight(name: string): Float32Array {
    for (const [l, flat] of [
      [this.layout.trainable, this.params],
      [this.layout.frozen, this.frozen],
      [this.layout.stats, this.stats],
    ] as const) {
      if (l.byName.has(name)) return l.unpack(flat, name);
    }
    throw new OptionError(`no parameter ${name} in this model`, { option: 'name' });
  }

  /**
   * Writes the current weights, running statistics and batch counters into `model.weights` and
   * invalidates its sessions; nothing when they are there already. Reading `model.weights` does
   * this by itself, so no caller has to.
   */
  syncWeights(): void {
    if (!this.stale) return;
    this.stale = false;
    this.checkModel();
    const w = this.model.weights;
    for (const s of this.layout.trainable.slots) w.set(s.name, this.layout.trainable.unpack(this.params, s.name));
    for (const s of this.layout.stats.slots) w.set(s.name, this.layout.stats.unpack(this.stats, s.name));
    for (const [c, v] of this.counters) w.set(c, BigInt64Array.of(v));
    this.model.invalidate();
  }

  /** The optimizer's state (copies), for checkpoints. */
  optimizerState(): OptimizerState {
    const state = new Map<string, Float32Array>();
    for (const [slot, flat] of Object.entries(this.state)) {
      for (const s of this.layout.trainable.slots) state.set(`${slot}.${s.name}`, this.layout.trainable.unpack(flat, s.name));
    }
    return { type: this.optimizer.type, step: this.steps, state };
  }

  /** Restores a state from {@link optimizerState} (same optimizer type and parameters). */
  loadOptimizerState(s: OptimizerState): void {
    if (s.type !== this.optimizer.type)
      throw new OptionError(`optimizer state: expected type ${this.optimizer.type}, received ${s.type}`, { option: 'type' });
    check(Number.isInteger(s.step) && s.step >= 0, 'optimizer state step', 'an integer ≥ 0', s.step);
    const next: Record<string, Float32Array> = {};
    for (const slot of Object.keys(this.state)) {
      next[slot] = this.layout.trainable.pack((name) => {
        const v = s.state.get(`${slot}.${name}`);
        if (!v) throw new OptionError(`optimizer state: missing ${slot}.${name}`, { option: 'state' });
        return v;
      });
    }
    this.state = next;
    this.steps = s.step;
  }

  /** Releases the sessions. */
  async dispose(): Promise<void> {
    this.disposed = true;
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map(async (s) => (await s).session.release()));
  }
}

function headLosses(r: Record<string, Tensor<TensorArray>>): StepResult['losses'] {
  const l: StepResult['losses'] = { main: r['loss.main']!.data[0] as number };
  if (r['loss.aux1']) l.aux1 = r['loss.aux1'].data[0] as number;
  if (r['loss.aux2']) l.aux2 = r['loss.aux2'].data[0] as number;
  return l;
}

/** A training step for `model` (its sessions are created on the first call). */
export function createTrainStep(model: GoogLeNet, options: TrainStepOptions): TrainStep {
  return new TrainStep(model, options);
}
