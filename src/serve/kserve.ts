/**
 * The Open Inference Protocol (KServe v2, also spoken by Triton and Seldon) for one GoogLeNet:
 * model metadata, and the JSON tensor request and response of `POST /v2/models/{name}/infer`.
 * Only FP32 in JSON (no binary extension); one input `input` of N×C×S×S, one output `logits`
 * of N×K. Platform-free: objects in, objects out. The request's form is a JSON schema (fastify
 * checks it); every malformed request is an `OptionError` whose message says what was expected and
 * what was received.
 */
import { describeValue, OptionError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import type { JsonSchema } from './validation.js';

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

/**
 * The JSON schema of an infer request for `m` (fastify validates the body with it). Each node a
 * message may name has a `title` (what it is called) and a `description` (what it must be), so a
 * failure reads `infer: shape must be [N, 3, 224, 224], received [1, 3, 16, 16]` (`validation.ts`).
 * What a schema cannot say well (the batch size, the count and nesting of the values) is checked
 * by {@link parseInferRequest}.
 */
export function inferRequestSchema(m: ServedModel): JsonSchema {
  const dims = [m.inChannels, m.inputSize, m.inputSize];
  return {
    title: 'the body',
    description: 'a JSON object with "inputs"',
    type: 'object',
    required: ['inputs'],
    properties: {
      id: { title: '"id"', description: 'a string', type: 'string' },
      inputs: {
        title: '"inputs"',
        description: 'an array of one tensor',
        type: 'array',
        minItems: 1,
        maxItems: 1,
        items: {
          title: 'inputs[0]',
          description: 'an object',
          type: 'object',
          required: ['datatype', 'shape', 'data'],
          properties: {
            name: { title: 'name', description: 'a string', type: 'string' },
            datatype: { title: 'datatype', description: '"FP32"', const: 'FP32' },
            shape: {
              title: 'shape',
              description: `[N, ${dims.join(', ')}]`,
              type: 'array',
              minItems: 4,
              maxItems: 4,
              items: [{ type: 'integer' }, ...dims.map((d) => ({ const: d }))],
              additionalItems: false,
            },
            data: { title: 'data', description: 'numbers (flat or nested as the shape)', type: 'array' },
          },
        },
      },
    },
  };
}

/** An infer request as {@link inferRequestSchema} lets it through. */
interface InferRequest {
  id?: string;
  inputs: [{ shape: [number, number, number, number]; datatype: 'FP32'; data: unknown[] }];
}

/**
 * Returns a request's input as an N×C×S×S tensor (1 ≤ N ≤ maxBatch), once {@link inferRequestSchema}
 * has checked its form: the batch size, and the values (finite numbers, as many as the shape needs).
 */
export function parseInferRequest(body: InferRequest, m: ServedModel, maxBatch: number): { input: Tensor; id?: string } {
  const { shape, data } = body.inputs[0];
  const n = shape[0];
  if (n < 1 || n > maxBatch)
    throw new OptionError(`infer: batch dimension ${n}: expected 1 to ${maxBatch} (--max-batch)`, { option: 'shape' });
  const size = n * m.inChannels * m.inputSize * m.inputSize;
  const values: number[] = [];
  flatten(data, values, 0, size);
  if (values.length !== size)
    throw new OptionError(`infer: shape [${shape.join(', ')}] needs ${size} values, data holds ${values.length}`, { option: 'shape' });
  return {
    input: { dims: [n, m.inChannels, m.inputSize, m.inputSize], data: Float32Array.from(values) },
    ...(body.id !== undefined ? { id: body.id } : {}),
  };
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
