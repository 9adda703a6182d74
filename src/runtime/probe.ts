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
