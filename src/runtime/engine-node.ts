/**
 * The Node.js engines: onnxruntime-node's CPU execution provider on all cores (the default), its
 * built-in WebGPU provider (Dawn: Vulkan, Metal or Direct3D 12), and its CUDA provider where it was
 * installed. What each device means for ONNX Runtime is decided in `device.ts`; this file builds,
 * probes and caches one engine per device.
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { BackendError } from '../errors.js';
import { DEVICE_HELP, NODE_DEVICES, parseDevice, type ComputeDevice, type Device } from './device.js';
import { cpuInt8Saturates } from './cpu-node.js';
import { probeEngine } from './probe.js';
import { lazyEngine, ortEngine, setDefaultEngine, setDeviceEngines, type Engine, type OrtModule } from './engine.js';

const common = {
  defaultThreads: Number(process.env.GOOGLENET_THREADS) || availableParallelism(),
  maxThreads: 2 * availableParallelism(),
  // Every device's engine: on a GPU, ONNX Runtime still runs integer kernels it lacks on the CPU.
  int8Saturates: cpuInt8Saturates(),
};

/** The memory this process can use: the machine's RAM, or its cgroup's limit where that is lower. */
function hostMemoryBytes(): number {
  const constrained = process.constrainedMemory?.() ?? 0;
  return constrained > 0 ? Math.min(constrained, totalmem()) : totalmem();
}

export const nodeEngine: Engine = ortEngine(ort as unknown as OrtModule, {
  name: 'onnxruntime-node (cpu)',
  memoryBytes: hostMemoryBytes(),
  ...common,
});

const engines = new Map<Device, Engine>([['cpu', nodeEngine]]);

/** The engine of a device (one per device per process). 'auto' picks on first use; see {@link selectDevice}. */
export function nodeEngineFor(device: Device): Engine {
  const d = parseDevice(device, 'device', NODE_DEVICES);
  let e = engines.get(d);
  if (!e) {
    e =
      d === 'auto'
        ? lazyEngine(async () => (await pickAuto()).engine, 'onnxruntime-node (auto, not yet picked)', common.int8Saturates)
        : ortEngine(ort as unknown as OrtModule, { name: `onnxruntime-node (${d})`, device: d, ...common });
    if (d === 'cuda') e = checkedCuda(e);
    engines.set(d, e);
  }
  return e;
}

/** The CUDA engine, failing with how to install it (rather than ONNX Runtime's log line) when its provider is absent. */
function checkedCuda(e: Engine): Engine {
  const checked: Engine = {
    name: e.name,
    device: 'cuda',
    int8Saturates: e.int8Saturates ?? false,
    resolve: () => Promise.resolve(checked),
    createSession(model, options) {
      if (!cudaProviderInstalled())
        return Promise.reject(new BackendError(`device cuda: not installed; it needs ${DEVICE_HELP.cuda}`, { option: 'device' }));
      return e.createSession(model, options);
    },
  };
  return checked;
}

/**
 * Whether this machine's WebGPU adapter would be a GPU, without creating one: Dawn in Node gives no
 * adapter description, so `auto` skips WebGPU when Vulkan is pointed at a software driver
 * (SwiftShader, lavapipe: slower than the CPU provider) or, on Linux, when no GPU device node exists.
 */
function likelyHardwareWebgpu(): boolean {
  if (/swiftshader|lvp|lavapipe|llvmpipe/i.test(process.env.VK_ICD_FILENAMES ?? process.env.VK_DRIVER_FILES ?? '')) return false;
  if (process.platform !== 'linux') return true;
  const nodes = (dir: string, re: RegExp): boolean => existsSync(dir) && readdirSync(dir).some((n) => re.test(n));
  return nodes('/dev/dri', /^renderD\d+$/) || nodes('/dev', /^nvidia\d+$/);
}

/**
 * Whether onnxruntime-node's CUDA provider library was installed next to its binding (it is
 * downloaded only with the install flag in DEVICE_HELP). Checked before asking ONNX Runtime, whose
 * failed attempt would print its own log line.
 */
export function cudaProviderInstalled(): boolean {
  try {
    const dir = join(
      dirname(createRequire(import.meta.url).resolve('onnxruntime-node')),
      '..',
      'bin',
      'napi-v6',
      process.platform,
      process.arch,
    );
    return readdirSync(dir).some((n) => /providers_cuda\.(so|dll)$/.test(n));
  } catch {
    return false;
  }
}

export interface DeviceChoice {
  engine: Engine;
  device: ComputeDevice;
  /** Why better devices were passed over ('auto' only), e.g. `cuda: not installed`. */
  skipped: string[];
}

let auto: Promise<DeviceChoice> | undefined;

/** 'auto': CUDA if installed and working, else WebGPU on a GPU, else the CPU; probed once per process. */
function pickAuto(): Promise<DeviceChoice> {
  return (auto ??= (async () => {
    const skipped: string[] = [];
    for (const d of ['cuda', 'webgpu'] as const) {
      if (d === 'cuda' && !cudaProviderInstalled()) {
        skipped.push('cuda: not installed');
        continue;
      }
      if (d === 'webgpu' && !likelyHardwareWebgpu()) {
        skipped.push('webgpu: no GPU adapter (or only a software one)');
        continue;
      }
      const engine = nodeEngineFor(d);
      try {
        await probeEngine(engine);
        return { engine, device: d, skipped };
      } catch (e) {
        skipped.push((e instanceof Error ? e.message : String(e)).replace(/^device /, '').replace(/;.*$/, ''));
      }
    }
    return { engine: nodeEngine, device: 'cpu', skipped };
  })());
}

/**
 * The engine for `device`, checked: a named device runs the probe model (so a missing driver or
 * provider is one clear error here, not at the first image); 'auto' picks the best that works.
 * @throws BackendError naming what is missing and how to get it.
 */
export async function selectDevice(device: Device = 'cpu'): Promise<DeviceChoice> {
  const d = parseDevice(device, 'device', NODE_DEVICES);
  if (d === 'auto') return pickAuto();
  const engine = nodeEngineFor(d);
  if (d !== 'cpu') await probeEngine(engine);
  return { engine, device: d, skipped: [] };
}

setDefaultEngine(nodeEngine);
setDeviceEngines(nodeEngineFor);
