/**
 * The only place that talks to ONNX Runtime. Model code sees an `Engine` (create sessions from
 * ONNX bytes) and `Session`s (run with named tensors); `onnxruntime-node` and `onnxruntime-web`
 * share one API, so one adapter serves both, and another runtime would be another adapter.
 */
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-common';
import type { Tensor, TensorArray } from '../tensor.js';
import { BackendError, OptionError } from '../errors.js';

export interface SessionOptions {
  /** Intra-op threads. Default: the engine's default (all cores in Node). */
  threads?: number;
  /**
   * ONNX Runtime's memory-pattern pre-allocation. Default true; training steps turn it off
   * (measured on the cifar step: 7.1 → 4.5 GiB peak at the same speed).
   */
  memoryPattern?: boolean;
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
  createSession(model: Uint8Array, options?: SessionOptions): Promise<Session>;
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
  executionProviders?: InferenceSession.SessionOptions['executionProviders'];
  defaultThreads?: number;
  /** More threads than this is refused (thousands of threads crash or hang ONNX Runtime). Default: no bound. */
  maxThreads?: number;
}

/** `GOOGLENET_ORT_OPT` (disabled, basic, extended, all) overrides ORT's graph optimizations, for debugging. */
type OptLevel = NonNullable<InferenceSession.SessionOptions['graphOptimizationLevel']>;

function ortOptLevel(): OptLevel {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.GOOGLENET_ORT_OPT;
  return (env as OptLevel | undefined) ?? 'all';
}

export function ortEngine(ort: OrtModule, o: OrtEngineOptions): Engine {
  return {
    name: o.name,
    async createSession(model, options = {}) {
      const threads = options.threads ?? o.defaultThreads;
      if (threads !== undefined && (!Number.isInteger(threads) || threads < 1 || threads > (o.maxThreads ?? Infinity))) {
        const range = o.maxThreads ? `an integer in [1, ${o.maxThreads}] (twice the cores)` : 'a positive integer';
        throw new OptionError(`threads: expected ${range}, received ${String(threads)}`, { option: 'threads' });
      }
      const session = await ort.InferenceSession.create(model, {
        graphOptimizationLevel: ortOptLevel(),
        executionMode: 'sequential',
        ...(threads ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {}),
        ...(options.memoryPattern === false ? { enableMemPattern: false } : {}),
        ...(o.executionProviders ? { executionProviders: o.executionProviders } : {}),
      });
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
          const res = outputs ? await session.run(ortFeeds, outputs as string[]) : await session.run(ortFeeds);
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
}

let defaultEngine: Engine | undefined;

/** Sets the engine used when none is passed (the Node and browser entries set theirs). */
export function setDefaultEngine(e: Engine): void {
  defaultEngine = e;
}

export function getDefaultEngine(): Engine {
  if (!defaultEngine) throw new BackendError('no ONNX Runtime engine set: import googlenet-ts (Node) or googlenet-ts/browser first');
  return defaultEngine;
}
