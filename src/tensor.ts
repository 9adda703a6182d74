/**
 * The one tensor type the library passes around: a dense row-major array with its dimensions.
 * Images and activations are NCHW, conv weights OIHW and linear weights [out, in] — PyTorch's
 * (and ONNX's) layouts, so torchvision weights need no transposition.
 */
import { describeValue, OptionError, WeightFormatError } from './errors.js';
export type TensorArray = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array | Int8Array;
export type DType = 'float32' | 'float64' | 'int64' | 'int32' | 'uint8';

export interface Tensor<A extends TensorArray = Float32Array> {
  dims: number[];
  data: A;
}

export function numel(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

function isDims(dims: unknown): dims is number[] {
  return Array.isArray(dims) && dims.every((d) => Number.isSafeInteger(d) && d >= 0);
}

export function tensor(dims: number[], data?: Float32Array): Tensor {
  if (!isDims(dims))
    throw new OptionError(`tensor: dims must be a list of non-negative integers, received ${describeValue(dims)}`, { option: 'dims' });
  if (data !== undefined && !(data instanceof Float32Array)) {
    throw new OptionError(`tensor: data must be a Float32Array, received ${describeValue(data)}`, { option: 'data' });
  }
  const n = numel(dims);
  if (data && data.length !== n)
    throw new OptionError(`tensor: ${data.length} values do not fill dims [${dims.join(', ')}] (${n})`, { option: 'data' });
  return { dims: [...dims], data: data ?? new Float32Array(n) };
}

/**
 * Checks, for callers in plain JavaScript, that `x` is a float32 {@link Tensor} whose `data`
 * fills its `dims`: an OptionError naming `name` otherwise, instead of a TypeError from deep inside.
 */
export function checkTensor(x: unknown, name: string): asserts x is Tensor {
  const fail = (what: string): never => {
    throw new OptionError(`${name}: expected a tensor { dims, data }${what}`, { option: name });
  };
  if (typeof x !== 'object' || x === null || ArrayBuffer.isView(x) || Array.isArray(x)) return fail(`, received ${describeValue(x)}`);
  const { dims, data } = x as Partial<Tensor>;
  if (!isDims(dims)) return fail(` with dims a list of non-negative integers, received dims ${describeValue(dims)}`);
  if (!(data instanceof Float32Array)) return fail(` with data a Float32Array, received data ${describeValue(data)}`);
  if (data.length !== numel(dims)) fail(`: ${data.length} values do not fill dims [${dims.join(', ')}] (${numel(dims)})`);
}

/**
 * Refuses logits that hold NaN or ±Infinity: a model whose weights or batch-norm statistics went
 * non-finite (a diverged run) would otherwise score 100 % (NaN compares false with everything, so
 * no class ranks above the label) and print "NaN%".
 * @throws WeightFormatError naming the first bad row.
 */
export function checkFiniteLogits(logits: ArrayLike<number>, n: number, k: number, where = 'the model'): void {
  for (let i = 0; i < n * k; i++) {
    if (!Number.isFinite(logits[i] as number)) {
      throw new WeightFormatError(
        `${where} produced a non-finite logit (${String(logits[i])}) for image ${Math.floor(i / k) + 1}: its weights or batch-norm statistics hold NaN or Infinity (a diverged training run?)`,
        { file: where },
      );
    }
  }
}

/** ‖a − b‖ / ‖b‖, the parity metric used against torchvision. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new OptionError(`relativeError: lengths differ (${a.length} vs ${b.length})`, { option: 'b' });
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] as number) - (b[i] as number);
    num += d * d;
    den += (b[i] as number) * (b[i] as number);
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
}
