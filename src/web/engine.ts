/**
 * The browser's engine: onnxruntime-web behind the same `Engine` adapter as Node
 * (`ortEngine`), with devices decided in `runtime/device.ts`. Picks the best execution provider
 * the browser offers — WebGPU when `navigator.gpu` hands out a hardware adapter and a probe model
 * runs on it, else WebAssembly with SIMD, multi-threaded when the page is cross-origin isolated
 * (COOP/COEP headers) — and says which. A software adapter (SwiftShader, WARP) is used only when
 * WebGPU is asked for by name: it is slower than WebAssembly.
 *
 * This is ONNX Runtime's native WebGPU provider (`onnxruntime-web/webgpu`, the same C++ kernels
 * as onnxruntime-node's), not the JavaScript one of the default bundle, which rejects ceil-mode
 * max pools and, after one failed run, every later WebGPU session of the page.
 *
 * onnxruntime-web finds its WebAssembly by itself, next to its own module
 * (`new URL('ort-wasm-simd-threaded.asyncify.wasm', import.meta.url)`), which Vite and webpack 5
 * follow: they emit the file with the app, so a bundled app needs no copying and no CDN.
 * `wasmPaths` points it at another folder or a CDN instead.
 */
import type * as OrtWeb from 'onnxruntime-web/webgpu';
import { BackendError } from '../errors.js';
import { DEVICE_HELP, parseDevice, BROWSER_DEVICES, type Device } from '../runtime/device.js';
import { probeEngine } from '../runtime/probe.js';
import { lazyEngine, ortEngine, setDefaultEngine, setDeviceEngines, type Engine, type OrtModule, type Session } from '../runtime/engine.js';

// `runtime/engine.ts` reads `process.env.GOOGLENET_ORT_OPT`; browsers have no `process`. A bare
// `{ env: {} }` (no `versions`) keeps every Node-detection check (protobufjs, emscripten) false.
{
  const g = globalThis as { process?: { env?: Record<string, string | undefined> } };
  if (typeof g.process === 'undefined') g.process = { env: {} };
  else g.process.env ??= {};
}

type BackendKind = 'webgpu' | 'wasm';

export interface BackendInfo {
  kind: BackendKind;
  /** e.g. `WebGPU (nvidia ampere)` or `WebAssembly (SIMD, 4 threads)`. */
  label: string;
  /** WebAssembly threads (1 without cross-origin isolation). */
  threads: number;
  crossOriginIsolated: boolean;
  /** WebGPU: the adapter is a software one (SwiftShader, WARP): correct, but slower than WebAssembly. */
  softwareAdapter?: boolean;
  /** Why a better backend was not used (e.g. `WebGPU: no adapter`), when one was tried. */
  fallbackReason?: string;
  /**
   * WebGPU picked by 'auto' only: the last graph that WebGPU could not run and that runs on
   * WebAssembly instead, with the reason.
   */
  sessionFallback?: string;
}

export interface BrowserEngineOptions {
  /**
   * 'auto' (default): WebGPU on a hardware adapter, else wasm. 'webgpu': WebGPU on any adapter
   * (software ones too), or an error. 'wasm' (or 'cpu'): never tries WebGPU.
   */
  prefer?: Device;
  /**
   * Folder (URL, relative to the page) holding onnxruntime-web's
   * `ort-wasm-simd-threaded.asyncify.{wasm,mjs}`, e.g. a CDN's copy of the installed version.
   * Default: where the bundler put them, next to onnxruntime-web's own module.
   */
  wasmPaths?: string;
  /** WebAssembly threads. Default: up to 8 (the cores) when cross-origin isolated, else 1. */
  numThreads?: number;
}

/** The smallest valid WebAssembly module using a SIMD instruction (`i32x4.splat`), from wasm-feature-detect. */
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
]);

function wasmSimdSupported(): boolean {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}
interface GpuLike {
  requestAdapter(): Promise<{ info?: AdapterInfoLike; isFallbackAdapter?: boolean } | null>;
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
  const engine: Engine = {
    name: gpu.name,
    device: 'webgpu',
    int8Saturates: gpu.int8Saturates === true || wasm.int8Saturates === true,
    resolve: () => Promise.resolve(engine),
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
  return engine;
}

type Picked = { engine: Engine; info: BackendInfo };

let current: Picked | undefined;
let pending: Promise<Picked> | undefined;
/** Options of the first {@link initBrowserEngine} (wasm files, threads), for engines asked for by device later. */
let setup: Omit<BrowserEngineOptions, 'prefer'> = {};
/** One pick per device asked for ('auto', 'webgpu', 'wasm'), shared by every model. */
const picks = new Map<Device, Promise<Picked>>();

function pickOnce(device: Device): Promise<Picked> {
  const d = device === 'cpu' ? 'wasm' : device;
  let p = picks.get(d);
  if (!p) {
    p = pick({ ...setup, prefer: d });
    p.catch(() => picks.delete(d));
    picks.set(d, p);
  }
  return p;
}

setDeviceEngines((device) => {
  const d = parseDevice(device, 'device', [...BROWSER_DEVICES, 'cpu']);
  return lazyEngine(async () => (await pickOnce(d)).engine, `onnxruntime-web (${d}, not yet picked)`);
});

/**
 * Picks and probes a backend, sets it as the default engine (so `new GoogLeNet()` uses it) and
 * returns it. Idempotent: later calls return the first result (pass `force` to pick again).
 * @throws BackendError when the device asked for (or, for 'auto', even WebAssembly) cannot be used.
 */
export function initBrowserEngine(o: BrowserEngineOptions = {}, force = false): Promise<Picked> {
  if (pending && !force) return pending;
  const { prefer = 'auto', ...rest } = o;
  setup = rest;
  if (force) picks.clear();
  pending = pickOnce(parseDevice(prefer, 'device', [...BROWSER_DEVICES, 'cpu'])).then(
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

/** A software adapter: Chrome's SwiftShader, Windows' WARP (or any the browser calls a fallback). */
function isSoftware(adapter: { info?: AdapterInfoLike; isFallbackAdapter?: boolean }): boolean {
  const i = adapter.info ?? {};
  return (
    !!(i.isFallbackAdapter ?? adapter.isFallbackAdapter) ||
    /swiftshader|warp|llvmpipe|lavapipe/i.test(`${i.architecture} ${i.description} ${i.vendor}`)
  );
}

let ortWeb: Promise<typeof OrtWeb> | undefined;
/**
 * onnxruntime-web, imported on first use. Dynamically, so that a bundler gives it a chunk of its
 * own: its threaded WebAssembly starts each worker from `import.meta.url`, the chunk holding it,
 * and a worker that loaded the app's entry chunk would run the app itself (and fail on `document`).
 */
async function loadOrt(): Promise<typeof OrtWeb> {
  ortWeb ??= import('onnxruntime-web/webgpu');
  try {
    return await ortWeb;
  } catch (e) {
    ortWeb = undefined;
    throw new BackendError(`ONNX Runtime Web could not be loaded: ${message(e)}`);
  }
}

/** Where onnxruntime-web fetches its WebAssembly from, for messages. */
function wasmFrom(ort: typeof OrtWeb): string {
  const p = ort.env.wasm.wasmPaths;
  if (p === undefined) return "onnxruntime-web's own folder, as the bundler emitted it; set wasmPaths to serve them elsewhere";
  return typeof p === 'string' ? p : (p.wasm?.toString() ?? JSON.stringify(p));
}

async function pick(o: BrowserEngineOptions): Promise<Picked> {
  if (typeof WebAssembly !== 'object') {
    throw new BackendError('This browser has no WebAssembly, which ONNX Runtime Web needs; try a current Chrome, Edge, Firefox or Safari.');
  }
  const isolated = typeof crossOriginIsolated === 'boolean' && crossOriginIsolated;
  const cores = typeof navigator !== 'undefined' ? navigator.hardwareConcurrency || 1 : 1;
  const threads = o.numThreads ?? (isolated ? Math.max(1, Math.min(8, cores)) : 1);
  const ort = await loadOrt();
  if (o.wasmPaths !== undefined) {
    const base =
      typeof document !== 'undefined' ? document.baseURI : ((globalThis as { location?: { href: string } }).location?.href ?? '');
    ort.env.wasm.wasmPaths = new URL(o.wasmPaths, base).href;
  }
  ort.env.wasm.numThreads = threads;
  ort.env.logLevel = 'error';

  const ortModule = ort as unknown as OrtModule;
  const wasmName = `onnxruntime-web (wasm, ${threads} thread${threads === 1 ? '' : 's'})`;
  let fallbackReason: string | undefined;
  const gpu = typeof navigator !== 'undefined' ? (navigator as { gpu?: GpuLike }).gpu : undefined;
  if (o.prefer === 'auto' || o.prefer === 'webgpu' || o.prefer === undefined) {
    if (!gpu) fallbackReason = 'WebGPU: not available in this browser';
    else {
      try {
        const adapter = await gpu.requestAdapter();
        if (!adapter) fallbackReason = 'WebGPU: no adapter (no GPU, or it is disabled)';
        else if (o.prefer !== 'webgpu' && isSoftware(adapter)) fallbackReason = 'WebGPU: only a software adapter, slower than WebAssembly';
        else {
          const gpuEngine = ortEngine(ortModule, { name: 'onnxruntime-web (webgpu)', device: 'webgpu' });
          await probeEngine(gpuEngine);
          const i = adapter.info ?? {};
          const desc = [i.vendor, i.architecture || i.description].filter(Boolean).join(' ');
          const info: BackendInfo = {
            kind: 'webgpu',
            label: `WebGPU${desc ? ` (${desc})` : ''}`,
            threads,
            crossOriginIsolated: isolated,
            softwareAdapter: isSoftware(adapter),
          };
          if (o.prefer === 'webgpu') return { engine: gpuEngine, info };
          const wasmEngine = ortEngine(ortModule, { name: wasmName, device: 'wasm' });
          return { engine: withWasmFallback(gpuEngine, wasmEngine, info), info };
        }
      } catch (e) {
        fallbackReason = `WebGPU: ${message(e)}`;
      }
    }
    if (o.prefer === 'webgpu') throw new BackendError(`device webgpu: ${fallbackReason}; it needs ${DEVICE_HELP.browserWebgpu}`);
  }

  if (!wasmSimdSupported()) {
    throw new BackendError("This browser's WebAssembly lacks SIMD, which ONNX Runtime Web needs; update the browser.");
  }
  const label = `WebAssembly (SIMD, ${threads} thread${threads === 1 ? '' : 's'}${isolated ? '' : ', not cross-origin isolated'})`;
  const engine = ortEngine(ortModule, { name: wasmName, device: 'wasm' });
  try {
    await probeEngine(engine);
  } catch (e) {
    throw new BackendError(`ONNX Runtime Web could not start its WebAssembly backend (files from ${wasmFrom(ort)}): ${message(e)}`);
  }
  return {
    engine,
    info: { kind: 'wasm', label, threads, crossOriginIsolated: isolated, ...(fallbackReason ? { fallbackReason } : {}) },
  };
}
