/**
 * The Open Inference Protocol (KServe v2, also spoken by Triton and Seldon) for one GoogLeNet:
 * model metadata, and the JSON tensor request and response of `POST /v2/models/{name}/infer`.
 * Only FP32 in JSON (no binary extension); one input `input` of N×C×S×S, one output `logits`
 * of N×K. Platform-free: objects in, objects out; every malformed request is an `OptionError`
 * whose message says what was expected and what was received.
 */
import { describeValue, OptionError } from '../errors.js';
import type { Tensor } from '../tensor.js';

/** What the protocol needs to know of the model. */
export interface ServedModel {
  name: string;
  inChannels: number;
  inputSize: number;
  numClasses: number;
}

interface TensorMetadata {
  name: string;
  datatype: 'FP32';
  shape: number[];
}

/** `GET /v2/models/{name}`: inputs and outputs with -1 for the batch dimension. */
export function modelMetadata(m: ServedModel): {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
} {
  return {
    name: m.name,
    versions: ['1'],
    platform: 'onnxruntime_onnx',
    inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, m.inChannels, m.inputSize, m.inputSize] }],
    outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, m.numClasses] }],
  };
}

/** Flattens row-major nested arrays of numbers into `out`; nesting at most 5 deep, as an N×C×H×W tensor. */
function flatten(v: unknown, out: number[], depth: number, limit: number): void {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new OptionError(`infer: input data holds ${v}, expected finite numbers`, { option: 'inputs' });
    out.push(v);
    return;
  }
  if (!Array.isArray(v) || depth > 4)
    throw new OptionError(`infer: input data must be numbers (flat or nested as the shape), found ${describeValue(v)}`, {
      option: 'inputs',
    });
  for (const x of v) {
    if (out.length >= limit)
      throw new OptionError(`infer: input data holds more than the ${limit} values its shape needs`, { option: 'inputs' });
    flatten(x, out, depth + 1, limit);
  }
}

/** Validates an infer request's body and returns its input as an N×C×S×S tensor (1 ≤ N ≤ maxBatch). */
export function parseInferRequest(body: unknown, m: ServedModel, maxBatch: number): { input: Tensor; id?: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new OptionError(`infer: the body must be a JSON object with "inputs", received ${describeValue(body)}`, { option: 'body' });
  const { inputs, id } = body as { inputs?: unknown; id?: unknown };
  if (!Array.isArray(inputs) || inputs.length !== 1)
    throw new OptionError(`infer: "inputs" must be an array of one tensor, received ${describeValue(inputs)}`, { option: 'inputs' });
  const t = inputs[0] as { name?: unknown; shape?: unknown; datatype?: unknown; data?: unknown } | null;
  if (typeof t !== 'object' || t === null)
    throw new OptionError(`infer: inputs[0] must be an object, received ${describeValue(t)}`, { option: 'inputs' });
  if (t.datatype !== 'FP32')
    throw new OptionError(`infer: datatype must be "FP32", received ${describeValue(t.datatype)}`, { option: 'datatype' });
  const want = [m.inChannels, m.inputSize, m.inputSize];
  const shape = t.shape;
  const shapeOk =
    Array.isArray(shape) && shape.length === 4 && shape.every((d) => Number.isInteger(d)) && want.every((d, i) => shape[i + 1] === d);
  if (!shapeOk)
    throw new OptionError(
      `infer: shape must be [N, ${want.join(', ')}], received ${Array.isArray(shape) ? `[${shape.slice(0, 8).join(', ')}]` : describeValue(shape)}`,
      { option: 'shape' },
    );
  const n = shape[0] as number;
  if (n < 1 || n > maxBatch)
    throw new OptionError(`infer: batch dimension ${n}: expected 1 to ${maxBatch} (--max-batch)`, { option: 'shape' });
  const size = n * want[0]! * want[1]! * want[2]!;
  const values: number[] = [];
  flatten(t.data, values, 0, size);
  if (values.length !== size)
    throw new OptionError(`infer: shape [${shape.join(', ')}] needs ${size} values, data holds ${values.length}`, { option: 'shape' });
  return { input: { dims: [n, ...want], data: Float32Array.from(values) }, ...(typeof id === 'string' ? { id } : {}) };
}

/** The infer response: logits as one FP32 output of N×K. */
export function inferResponse(m: ServedModel, logits: Tensor, id?: string): object {
  return {
    model_name: m.name,
    model_version: '1',
    ...(id !== undefined ? { id } : {}),
    outputs: [{ name: 'logits', datatype: 'FP32', shape: logits.dims, data: Array.from(logits.data) }],
  };
}
