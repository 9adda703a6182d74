/**
 * The browser's engine: onnxruntime-web behind the same `Engine` adapter as Node
 * (`ortEngine`). Picks the best execution provider the browser offers — WebGPU when
 * `navigator.gpu` hands out an adapter and a probe model runs on it, else WebAssembly with SIMD,
 * multi-threaded when the page is cross-origin isolated (COOP/COEP headers) — and says which.
 *
 * The WebAssembly files are loaded from `wasmPaths` (default: `ort/` next to the page), never
 * from a CDN, so a page works offline once served.
 */
import * as ort from 'onnxruntime-web';
import { BackendError } from '../errors.js';
import { OnnxGraphBuilder } from '../graph/onnx.js';
import { ortEngine, setDefaultEngine, type Engine, type OrtModule, type Session } from '../runtime/engine.js';

// `runtime/engine.ts` reads `process.env.GOOGLENET_ORT_OPT`; browsers have no `process`. A bare
// `{ env: {} }` (no `versions`) keeps every Node-detection check (protobufjs, emscripten) false.
{
  const g = globalThis as { process?: { env?: Record<string, string | undefined> } };
  if (typeof g.process === 'undefined') g.process = { env: {} };
  else g.process.env ??= {};
}

export type BackendKind = 'webgpu' | 'wasm';

export interface BackendInfo {
  kind: BackendKind;
  /** e.g. `WebGPU (NVIDIA …)` or `WebAssembly (SIMD, 4 threads)`. */
  label: string;
  /** WebAssembly threads (1 without cross-origin isolation). */
  threads: number;
  crossOriginIsolated: boolean;
  /** Why a better backend was not used (e.g. `WebGPU: no adapter`), when one was tried. */
  fallbackReason?: string;
  /**
   * WebGPU only: the last graph that WebGPU could not run and that runs on WebAssembly instead,
   * with the reason (e.g. an operator attribute the WebGPU kernels lack).
   */
  sessionFallback?: string;
}

export interface BrowserEngineOptions {
  /** 'auto' (default): WebGPU if usable, else wasm. 'wasm' never tries WebGPU. */
  prefer?: 'auto' | 'webgpu' | 'wasm';
  /** Folder (URL) holding onnxruntime-web's `ort-wasm-simd-threaded*.{wasm,mjs}`. Default `ort/` relative to the page. */
  wasmPaths?: string;
  /** WebAssembly threads. Default: up to 8 (the cores) when cross-origin isolated, else 1. */
  numThreads?: number;
}

/** The smallest valid WebAssembly module using a SIMD instruction (`i32x4.splat`), from wasm-feature-detect. */
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
]);

export function wasmSimdSupported(): boolean {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}

/** A one-node model (Relu on 1×4) that every backend must run before it is trusted. */
function probeModel(): Uint8Array {
  const b = new OnnxGraphBuilder('probe');
  b.input({ name: 'x', dtype: 'float32', dims: [1, 4] });
  b.node('Relu', ['x'], ['y']);
  b.output({ name: 'y', dtype: 'float32', dims: [1, 4] });
  return b.encode();
}

async function probe(engine: Engine): Promise<void> {
  const s = await engine.createSession(probeModel());
  try {
    const r = await s.run({ x: { dims: [1, 4], data: Float32Array.of(-1, 0, 1, 2) } });
    const y = r.y?.data;
    if (!y || y[0] !== 0 || y[3] !== 2) throw new Error('the probe model gave a wrong result');
  } finally {
    await s.release();
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

interface GpuLike {
  requestAdapter(): Promise<{ info?: { vendor?: string; architecture?: string; description?: string } } | null>;
}

/**
 * WebGPU first, per graph: a graph whose session cannot be created (or first run) on WebGPU is
 * run on WebAssembly instead, and `info.sessionFallback` says why — so a model never fails just
 * because one of its operators lacks a WebGPU kernel.
 */
function withWasmFallback(gpu: Engine, wasm: Engine, info: BackendInfo): Engine {
  const note = (e: unknown): void => {
    info.sessionFallback = `ran on WebAssembly: ${message(e).split('\n')[0]}`;
  };
  return {
    name: gpu.name,
    async createSession(model, options) {
      let s: Session;
      try {
        s = await gpu.createSession(model, options);
      } catch (e) {
        note(e);
        return wasm.createSession(model, options);
      }
      let fallback: Session | undefined;
      let proven = false;
      return {
        inputNames: s.inputNames,
        outputNames: s.outputNames,
        async run(feeds, outputs) {
          if (fallback) return fallback.run(feeds, outputs);
          try {
            const r = await s.run(feeds, outputs);
            proven = true;
            return r;
          } catch (e) {
            if (proven) throw e;
            note(e);
            fallback = await wasm.createSession(model, options);
            void s.release().catch(() => undefined);
            return fallback.run(feeds, outputs);
          }
        },
        release: () => (fallback ?? s).release(),
      };
    },
  };
}

let current: { engine: Engine; info: BackendInfo } | undefined;
let pending: Promise<{ engine: Engine; info: BackendInfo }> | undefined;

/**
 * Picks and probes a backend, sets it as the default engine (so `new GoogLeNet()` uses it) and
 * returns it. Idempotent: later calls return the first result (pass `force` to pick again).
 * @throws BackendError when neither WebGPU nor WebAssembly (with SIMD) works here.
 */
export function initBrowserEngine(o: BrowserEngineOptions = {}, force = false): Promise<{ engine: Engine; info: BackendInfo }> {
  if (pending && !force) return pending;
  pending = pick(o).then(
    (r) => {
      current = r;
      setDefaultEngine(r.engine);
      return r;
    },
    (e: unknown) => {
      pending = undefined;
      throw e;
    },
  );
  return pending;
}

/** The engine chosen by {@link initBrowserEngine}, if it has finished. */
export function currentBackend(): BackendInfo | undefined {
  return current?.info;
}

async function pick(o: BrowserEngineOptions): Promise<{ engine: Engine; info: BackendInfo }> {
  if (typeof WebAssembly !== 'object') {
    throw new BackendError('This browser has no WebAssembly, which ONNX Runtime Web needs; try a current Chrome, Edge, Firefox or Safari.');
  }
  const isolated = typeof crossOriginIsolated === 'boolean' && crossOriginIsolated;
  const cores = typeof navigator !== 'undefined' ? navigator.hardwareConcurrency || 1 : 1;
  const threads = o.numThreads ?? (isolated ? Math.max(1, Math.min(8, cores)) : 1);
  const base = typeof document !== 'undefined' ? document.baseURI : ((globalThis as { location?: { href: string } }).location?.href ?? '');
  ort.env.wasm.wasmPaths = new URL(o.wasmPaths ?? 'ort/', base).href;
  ort.env.wasm.numThreads = threads;
  ort.env.logLevel = 'error';

  const ortModule = ort as unknown as OrtModule;
  let fallbackReason: string | undefined;
  const gpu = typeof navigator !== 'undefined' ? (navigator as { gpu?: GpuLike }).gpu : undefined;
  if (o.prefer !== 'wasm') {
    if (!gpu) fallbackReason = 'WebGPU: not available in this browser';
    else {
      try {
        const adapter = await gpu.requestAdapter();
        if (!adapter) fallbackReason = 'WebGPU: no adapter (no GPU, or it is disabled)';
        else {
          const gpuEngine = ortEngine(ortModule, { name: 'onnxruntime-web (webgpu)', executionProviders: ['webgpu', 'wasm'] });
          await probe(gpuEngine);
          const desc = [adapter.info?.vendor, adapter.info?.architecture || adapter.info?.description].filter(Boolean).join(' ');
          const info: BackendInfo = { kind: 'webgpu', label: `WebGPU${desc ? ` (${desc})` : ''}`, threads, crossOriginIsolated: isolated };
          const wasmEngine = ortEngine(ortModule, {
            name: `onnxruntime-web (wasm, ${threads} thread${threads === 1 ? '' : 's'})`,
            executionProviders: ['wasm'],
          });
          return { engine: withWasmFallback(gpuEngine, wasmEngine, info), info };
        }
      } catch (e) {
        fallbackReason = `WebGPU: ${message(e)}`;
      }
    }
    if (o.prefer === 'webgpu') throw new BackendError(`WebGPU was requested but cannot be used — ${fallbackReason}`);
  }

  if (!wasmSimdSupported()) {
    throw new BackendError("This browser's WebAssembly lacks SIMD, which ONNX Runtime Web needs; update the browser.");
  }
  const label = `WebAssembly (SIMD, ${threads} thread${threads === 1 ? '' : 's'}${isolated ? '' : ', not cross-origin isolated'})`;
  const engine = ortEngine(ortModule, {
    name: `onnxruntime-web (wasm, ${threads} thread${threads === 1 ? '' : 's'})`,
    executionProviders: ['wasm'],
  });
  try {
    await probe(engine);
  } catch (e) {
    throw new BackendError(
      `ONNX Runtime Web could not start its WebAssembly backend (files from ${String(ort.env.wasm.wasmPaths)}): ${message(e)}`,
    );
  }
  return {
    engine,
    info: { kind: 'wasm', label, threads, crossOriginIsolated: isolated, ...(fallbackReason ? { fallbackReason } : {}) },
  };
}
