/**
 * The only place that talks to ONNX Runtime. Model code sees an `Engine` (create sessions from
 * ONNX bytes) and `Session`s (run with named tensors); `onnxruntime-node` and `onnxruntime-web`
 * share one API, so one adapter serves both, and another runtime would be another adapter.
 */
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-common';
import type { Tensor, TensorArray } from '../tensor.js';
import { BackendError, OptionError } from '../errors.js';
import { deviceError, executionProviders, WASM_MEMORY_BYTES, type ComputeDevice, type Device } from './device.js';

export interface SessionOptions {
  /** Intra-op threads. Default: the engine's default (all cores in Node). */
  threads?: number;
  /**
   * ONNX Runtime's memory-pattern pre-allocation. Default true; training steps turn it off
   * (measured on the cifar step: 7.1 → 4.5 GiB peak at the same speed).
   */
  memoryPattern?: boolean;
  /**
   * Whether ONNX Runtime's intra-op threads spin while waiting for work between operators
   * (`session.intra_op.allow_spinning`). Default true (ONNX Runtime's); training steps turn it off
   * (see `trainSessionOptions` in train/engine.ts).
   */
  spinning?: boolean;
}

export interface Session {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Runs the model; returns only the requested outputs (all by default). */
  run(feeds: Record<string, Tensor<TensorArray>>, outputs?: readonly string[]): Promise<Record<string, Tensor<TensorArray>>>;
  release(): Promise<void>;
}

export interface Engine {
  /** e.g. `onnxruntime-node (cpu)` or `onnxruntime-web (wasm)`. */
  readonly name: string;
  /** The device its sessions run on; 'auto' until an automatic engine has picked one. */
  readonly device: Device;
  /**
   * Bytes of memory its sessions can use, where known: the machine's RAM for the CPU (or the
   * process's cgroup limit), wasm32's 4 GiB in the browser; undefined on a GPU or before an
   * automatic engine has picked. Training steps larger than this are refused before they run.
   */
  readonly memoryBytes?: number | undefined;
  createSession(model: Uint8Array, options?: SessionOptions): Promise<Session>;
  /** The engine that runs the sessions: itself, or the one an automatic engine picked (probing once). */
  resolve(): Promise<Engine>;
  /**
   * Whether its int8 kernels add pairs of uint8×int8 products in a saturating int16 (ONNX Runtime's
   * `vpmaddubsw` on x86 CPUs without AVX-512 VNNI or AVX-VNNI): int8 inference then runs with
   * weights requantized to ±63 (`saturationSafe`). Default false (VNNI, ARM, WebAssembly).
   */
  readonly int8Saturates?: boolean;
}

/** The subset of the `onnxruntime-*` module namespace the adapter needs. */
export interface OrtModule {
  InferenceSession: { create(model: Uint8Array, options?: InferenceSession.SessionOptions): Promise<InferenceSession> };
  Tensor: new (type: OrtTensor.Type, data: OrtTensor.DataType, dims: readonly number[]) => OrtTensor;
}

const ORT_TYPE: Record<string, OrtTensor.Type> = {
  Float32Array: 'float32',
  Float64Array: 'float64',
  BigInt64Array: 'int64',
  Int32Array: 'int32',
  Uint8Array: 'bool',
};

export interface OrtEngineOptions {
  name: string;
  /** The device; its execution providers come from `runtime/device.ts` unless given. Default 'cpu'. */
  device?: ComputeDevice;
  executionProviders?: InferenceSession.SessionOptions['executionProviders'];
  defaultThreads?: number;
  /** More threads than this is refused (thousands of threads crash or hang ONNX Runtime). Default: no bound. */
  maxThreads?: number;
  /** See {@link Engine.memoryBytes}. Default: 4 GiB for wasm, else unknown. */
  memoryBytes?: number;
  /** See {@link Engine.int8Saturates}. Default false. */
  int8Saturates?: boolean;
}

/** `GOOGLENET_ORT_OPT` (disabled, basic, extended, all) overrides ORT's graph optimizations, for debugging. */
type OptLevel = NonNullable<InferenceSession.SessionOptions['graphOptimizationLevel']>;

function ortOptLevel(): OptLevel {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.GOOGLENET_ORT_OPT;
  return (env as OptLevel | undefined) ?? 'all';
}

export function ortEngine(ort: OrtModule, o: OrtEngineOptions): Engine {
  const device = o.device ?? 'cpu';
  const providers = o.executionProviders ?? (device === 'cpu' ? undefined : executionProviders(device));
  const memoryBytes = o.memoryBytes ?? (device === 'wasm' ? WASM_MEMORY_BYTES : undefined);
  // A GPU's missing driver or provider shows at session creation (or first run): say what it needs.
  const onDevice = async <T>(f: () => Promise<T>): Promise<T> => {
    if (device === 'cpu') return f();
    try {
      return await f();
    } catch (e) {
      throw e instanceof OptionError ? e : deviceError(device, e);
    }
  };
  const engine: Engine = {
    name: o.name,
    device,
    ...(memoryBytes !== undefined ? { memoryBytes } : {}),
    int8Saturates: o.int8Saturates ?? false,
    resolve: () => Promise.resolve(engine),
    async createSession(model, options = {}) {
      const threads = options.threads ?? o.defaultThreads;
      if (threads !== undefined && (!Number.isInteger(threads) || threads < 1 || threads > (o.maxThreads ?? Infinity))) {
        const range = o.maxThreads ? `an integer in [1, ${o.maxThreads}] (twice the cores)` : 'a positive integer';
        throw new OptionError(`threads: expected ${range}, received ${String(threads)}`, { option: 'threads' });
      }
      const session = await onDevice(() =>
        ort.InferenceSession.create(model, {
          graphOptimizationLevel: ortOptLevel(),
          executionMode: 'sequential',
          // Errors only: on a GPU every training session otherwise warns that ORT keeps shape
          // arithmetic on the CPU (expected; docs/PERFORMANCE.md#gpu lists those nodes).
          logSeverityLevel: 3,
          ...(threads ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {}),
          ...(options.memoryPattern === false ? { enableMemPattern: false } : {}),
          ...(options.spinning === false ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}),
          ...(providers ? { executionProviders: providers } : {}),
        }),
      );
      return {
        inputNames: session.inputNames,
        outputNames: session.outputNames,
        async run(feeds, outputs) {
          const ortFeeds: Record<string, OrtTensor> = {};
          for (const [k, t] of Object.entries(feeds)) {
            const type = ORT_TYPE[t.data.constructor.name];
            if (!type) throw new OptionError(`session input ${k}: unsupported array type ${t.data.constructor.name}`, { option: k });
            ortFeeds[k] = new ort.Tensor(type, t.data as OrtTensor.DataType, t.dims);
          }
          const res = await onDevice(() => (outputs ? session.run(ortFeeds, outputs as string[]) : session.run(ortFeeds)));
          const out: Record<string, Tensor<TensorArray>> = {};
          for (const [k, v] of Object.entries(res)) {
            out[k] = { dims: [...v.dims], data: v.data as TensorArray };
            v.dispose?.();
          }
          return out;
        },
        release: () => session.release(),
      };
    },
  };
  return engine;
}

/**
 * An engine whose device is picked on first use (`device: 'auto'`): `pick` probes and returns the
 * engine to use; until then `device` is 'auto'. A failed pick is retried on the next use.
 */
export function lazyEngine(pick: () => Promise<Engine>, name = 'auto (not yet picked)', int8Saturates = false): Engine {
  let picking: Promise<Engine> | undefined;
  let picked: Engine | undefined;
  const resolve = (): Promise<Engine> =>
    (picking ??= pick().then(
      (e) => (picked = e),
      (e: unknown) => {
        picking = undefined;
        throw e;
      },
    ));
  return {
    get name() {
      return picked?.name ?? name;
    },
    get device() {
      return picked?.device ?? 'auto';
    },
    get memoryBytes() {
      return picked?.memoryBytes;
    },
    get int8Saturates() {
      return picked?.int8Saturates ?? int8Saturates;
    },
    resolve,
    createSession: async (model, options) => (await resolve()).createSession(model, options),
  };
}

let defaultEngine: Engine | undefined;
let deviceEngines: ((device: Device) => Engine) | undefined;

/** Sets how a device name becomes an engine (each entry sets its own: Node's or the browser's devices). */
export function setDeviceEngines(f: (device: Device) => Engine): void {
  deviceEngines = f;
}

/** The engine of `device` (the entry's default engine when none is named). */
export function engineForDevice(device?: Device): Engine {
  if (device === undefined) return getDefaultEngine();
  if (!deviceEngines) throw new BackendError('no ONNX Runtime engine set: import googlenet-ts (Node) or googlenet-ts/browser first');
  return deviceEngines(device);
}

/** Sets the engine used when none is passed (the Node and browser entries set theirs). */
export function setDefaultEngine(e: Engine): void {
  defaultEngine = e;
}

export function getDefaultEngine(): Engine {
  if (!defaultEngine) throw new BackendError('no ONNX Runtime engine set: import googlenet-ts (Node) or googlenet-ts/browser first');
  return defaultEngine;
}
