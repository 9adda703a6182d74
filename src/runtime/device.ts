/**
 * Devices: the one place that decides how a device maps onto ONNX Runtime (execution providers,
 * provider options, the graph lowerings a provider needs) and what a missing device's error says,
 * for Node and the browser alike. The entries (`engine-node.ts`, `web/engine.ts`) only probe and
 * cache.
 *
 *   Node:    'cpu' (default) · 'webgpu' (Dawn: Vulkan, Metal or D3D12) · 'cuda' (NVIDIA, an install flag) · 'auto'
 *   Browser: 'auto' (default) · 'webgpu' · 'wasm' ('cpu' means 'wasm')
 */
import type { InferenceSession } from 'onnxruntime-common';
import { BackendError, OptionError } from '../errors.js';
import type { LoweringOptions } from '../graph/ops/types.js';

/** A device a caller may ask for. */
export type Device = 'auto' | 'cpu' | 'webgpu' | 'cuda' | 'wasm';
/** A device sessions actually run on ('auto' resolved). */
export type ComputeDevice = Exclude<Device, 'auto'>;

export const NODE_DEVICES = ['auto', 'cpu', 'webgpu', 'cuda'] as const;
export const BROWSER_DEVICES = ['auto', 'webgpu', 'wasm'] as const;
const ALL: readonly string[] = ['auto', 'cpu', 'webgpu', 'cuda', 'wasm'];

/** Checks a device name (from a flag, a URL or an option). `where` names it in the error, e.g. `--device`. */
export function parseDevice(v: unknown, where = 'device', allowed: readonly Device[] = ALL as Device[]): Device {
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as Device;
  throw new OptionError(`${where}: expected one of ${allowed.join(', ')}, received ${JSON.stringify(v)}`, { option: where });
}

/**
 * ONNX Runtime's execution providers for a device.
 *
 * WebGPU runs layout-sensitive operators in NCHW: the provider's default NHWC path computes some
 * convolutions wrongly (input channels a multiple of 3 but not of 4 and above 3, output channels a
 * multiple of 4: ORT 1.30's `conv2d_mm` reads channel `xCh/4` on its 3-wide vector path; our
 * width-0.1875 models hit it, logits off by 3.5). `test/device.test.ts` has a guard that fails
 * once NHWC becomes correct, so this can be dropped then.
 */
export function executionProviders(device: ComputeDevice): InferenceSession.ExecutionProviderConfig[] {
  switch (device) {
    case 'webgpu':
      return [{ name: 'webgpu', preferredLayout: 'NCHW' }];
    case 'cuda':
      return ['cuda'];
    case 'wasm':
      return ['wasm'];
    case 'cpu':
      return ['cpu'];
  }
}

/**
 * The graph lowerings a device needs. WebGPU has no `Indices` output on MaxPool ("not supported
 * yet" at run()), so its training graphs take the max-pool gradient from first-maximum masks. The
 * CPU (and the browser's wasm) mixes them: masks for stride-1 pools, where they take about half
 * the time of ONNX Runtime's scalar MaxPool-with-Indices and scatter, the indices for strided
 * pools (docs/PERFORMANCE.md). CUDA keeps the indices (not measured there).
 */
export function loweringFor(device: ComputeDevice): Pick<LoweringOptions, 'maxPoolGrad'> {
  return { maxPoolGrad: device === 'webgpu' ? 'masks' : device === 'cuda' ? 'indices' : 'mixed' };
}

/**
 * The memory ONNX Runtime Web's WebAssembly build can address (wasm32: 4 GiB, less where a browser
 * caps it): the most a training step in the page can use.
 */
export const WASM_MEMORY_BYTES = 4 * 2 ** 30;

/** How to get each device, for the errors and the README. */
export const DEVICE_HELP = {
  webgpu:
    "a WebGPU adapter: ONNX Runtime's WebGPU (Dawn) needs a GPU driver — Vulkan on Linux (the GPU vendor's driver, or Mesa's mesa-vulkan-drivers), Metal on macOS, Direct3D 12 on Windows",
  cuda: "ONNX Runtime's CUDA provider: `ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node` downloads it (needs an NVIDIA driver, CUDA 12 and cuDNN 9)",
  browserWebgpu: 'a browser with WebGPU and a GPU adapter (Chrome or Edge 113+, Safari 26, Firefox 141+ on Windows)',
} as const;

function message(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
}

/**
 * The error for a session that could not be created or run on `device`: what is missing and how to
 * get it when ONNX Runtime's message says the device is absent, else ONNX Runtime's own line.
 */
export function deviceError(device: ComputeDevice, e: unknown): BackendError {
  const m = message(e);
  if (device === 'webgpu' && /adapter|webgpu.*(not (available|supported))/i.test(m))
    return new BackendError(`device webgpu: no WebGPU adapter found; it needs ${DEVICE_HELP.webgpu}`, { cause: e });
  if (device === 'cuda' && /(load|find|open).*(shared library|\.so|\.dll)|providers_cuda|cuda.*not (available|enabled)/i.test(m))
    return new BackendError(`device cuda: not installed; it needs ${DEVICE_HELP.cuda}`, { cause: e });
  return new BackendError(`device ${device}: ${m.replace(/^.*?\] /, '')}`, { cause: e });
}
