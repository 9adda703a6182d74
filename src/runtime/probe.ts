/**
 * The check every engine passes before it is trusted (Node's devices, the page's backends): a
 * one-node model (Relu on 1×4) must run and give the right numbers.
 */
import { BackendError } from '../errors.js';
import { OnnxGraphBuilder } from '../graph/onnx.js';
import type { Engine } from './engine.js';

function probeModel(): Uint8Array {
  const b = new OnnxGraphBuilder('probe');
  b.input({ name: 'x', dtype: 'float32', dims: [1, 4] });
  b.node('Relu', ['x'], ['y']);
  b.output({ name: 'y', dtype: 'float32', dims: [1, 4] });
  return b.encode();
}

/** Runs the probe model on `engine`; throws the device's error (what is missing) when it cannot. */
export async function probeEngine(engine: Engine): Promise<void> {
  const s = await engine.createSession(probeModel(), { threads: 1 });
  try {
    const y = (await s.run({ x: { dims: [1, 4], data: Float32Array.of(-1, 0, 1, 2) } })).y?.data;
    if (!y || y[0] !== 0 || y[3] !== 2) throw new BackendError(`device ${engine.device}: the probe model gave a wrong result`);
  } finally {
    await s.release();
  }
}

const blockSizes = new WeakMap<Engine, Promise<number>>();

/**
 * ONNX Runtime's NCHWc block size on `engine` (8 with AVX2, 16 with AVX-512: how many channels its
 * blocked kernels interleave), or 0 where it has no NCHWc kernels (other CPUs, WebAssembly, GPUs):
 * a one-node ReorderInput of 4 channels pads them to one block. Probed once per engine.
 */
export function nchwcBlockSize(engine: Engine): Promise<number> {
  let p = blockSizes.get(engine);
  if (!p) {
    p = (async () => {
      const b = new OnnxGraphBuilder('nchwc_probe');
      b.input({ name: 'x', dtype: 'float32', dims: [1, 4, 1, 1] });
      b.node('ReorderInput', ['x'], ['y'], undefined, 'com.microsoft.nchwc');
      b.output({ name: 'y', dtype: 'float32', dims: [1, 'C', 1, 1] });
      try {
        const s = await engine.createSession(b.encode(), { threads: 1 });
        try {
          const c = (await s.run({ x: { dims: [1, 4, 1, 1], data: new Float32Array(4) } })).y?.dims[1] ?? 0;
          return c >= 4 && (c & (c - 1)) === 0 ? c : 0;
        } finally {
          await s.release();
        }
      } catch {
        return 0;
      }
    })();
    blockSizes.set(engine, p);
  }
  return p;
}
