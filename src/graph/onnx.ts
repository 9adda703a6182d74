/**
 * A minimal ONNX model writer over protobufjs and ONNX's own schema (`onnx-proto.ts`).
 * Lowerings emit `OnnxNode`s into an `OnnxGraphBuilder`; `encode()` returns the model bytes that
 * ONNX Runtime (onnxruntime-node or onnxruntime-web) loads.
 */
import protobuf from 'protobufjs';
import { InternalError } from '../errors.js';
import { ONNX_PROTO } from './onnx-proto.js';

type AttrValue = number | number[] | string | { float: number } | { floats: number[] } | { tensor: OnnxTensor };
export type Attrs = Record<string, AttrValue>;

type OnnxElem = 'float32' | 'float64' | 'int64' | 'int32' | 'bool' | 'uint8' | 'int8';
export interface OnnxTensor {
  dims: readonly number[];
  dtype: OnnxElem;
  data: Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array | Int8Array;
}
/** A dimension: a number, or a symbolic name such as `N` (the batch). */
type Dim = number | string;
export interface ValueInfo {
  name: string;
  dtype: OnnxElem;
  dims: Dim[];
}
export interface OnnxNode {
  opType: string;
  inputs: string[];
  outputs: string[];
  attrs?: Attrs;
  /**
   * What emitted the node, e.g. `bwd:maxpool:inception3a.branch4.0` (see `OnnxGraphBuilder.scoped`);
   * the node's ONNX name is this plus `/OpType_index`, which ONNX Runtime's profiler reports.
   */
  scope?: string;
  domain?: string;
}

const ELEM_TYPE: Record<OnnxElem, number> = { float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float64: 11 };
/** The opset every graph targets (ReduceMean takes axes as an input from 18 on). */
const OPSET = 18;

let schema: protobuf.Type | undefined;
function modelType(): protobuf.Type {
  schema ??= protobuf.parse(ONNX_PROTO, { keepCase: true }).root.lookupType('onnx.ModelProto');
  return schema;
}

function tensorProto(name: string, t: OnnxTensor): object {
  const d = t.data;
  return {
    name,
    dims: t.dims.map((x) => x),
    data_type: ELEM_TYPE[t.dtype],
    raw_data: new Uint8Array(d.buffer, d.byteOffset, d.byteLength),
  };
}

function attrProto(name: string, v: AttrValue): object {
  // AttributeType: FLOAT=1 INT=2 STRING=3 TENSOR=4 FLOATS=6 INTS=7
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new InternalError(`attribute ${name}: ${v} is not an integer; wrap floats as { float }`);
    return { name, type: 2, i: v };
  }
  if (typeof v === 'string') return { name, type: 3, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: 7, ints: v };
  if ('float' in v) return { name, type: 1, f: v.float };
  if ('floats' in v) return { name, type: 6, floats: v.floats };
  return { name, type: 4, t: tensorProto(name, v.tensor) };
}

function valueInfo(v: ValueInfo): object {
  return {
    name: v.name,
    type: {
      tensor_type: {
        elem_type: ELEM_TYPE[v.dtype],
        shape: { dim: v.dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
      },
    },
  };
}

/** Collects nodes, initializers and I/O, then encodes one ModelProto. */
export class OnnxGraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly inputs: ValueInfo[] = [];
  readonly outputs: ValueInfo[] = [];
  readonly initializers = new Map<string, OnnxTensor>();
  private counter = 0;

  constructor(readonly name = 'googlenet') {}

  /** Adds a node; `domain` names an operator set other than ONNX's (it is imported at version 1). */
  node(opType: string, inputs: string[], outputs: string[], attrs?: Attrs, domain?: string): void {
    this.nodes.push({ opType, inputs, outputs, ...(attrs ? { attrs } : {}), ...(domain ? { domain } : {}) });
  }

  /**
   * Runs `emit` and marks every node it adds with `scope` (unless already marked), so a profile
   * of the model can be read per operation of the network and per pass (forward, backward).
   */
  scoped<T>(scope: string, emit: () => T): T {
    const start = this.nodes.length;
    const r = emit();
    for (let i = start; i < this.nodes.length; i++) this.nodes[i]!.scope ??= scope;
    return r;
  }

  /** A unique value name derived from `hint`. */
  fresh(hint: string): string {
    return `${hint}__${this.counter++}`;
  }

  initializer(name: string, t: OnnxTensor): string {
    this.initializers.set(name, t);
    return name;
  }

  /** A new constant initializer with a fresh name. */
  constant(hint: string, t: OnnxTensor): string {
    return this.initializer(this.fresh(hint), t);
  }

  constFloats(hint: string, dims: readonly number[], values: ArrayLike<number>): string {
    return this.constant(hint, { dims, dtype: 'float32', data: Float32Array.from(values) });
  }

  constInts(hint: string, values: readonly number[]): string {
    return this.constant(hint, { dims: [values.length], dtype: 'int64', data: BigInt64Array.from(values.map(BigInt)) });
  }

  input(v: ValueInfo): void {
    this.inputs.push(v);
  }

  output(v: ValueInfo): void {
    this.outputs.push(v);
  }

  encode(): Uint8Array {
    const T = modelType();
    const msg = T.fromObject({
      ir_version: 8,
      producer_name: 'googlenet-ts',
      opset_import: [
        { domain: '', version: OPSET },
        ...[...new Set(this.nodes.flatMap((n) => (n.domain ? [n.domain] : [])))].map((domain) => ({ domain, version: 1 })),
      ],
      graph: {
        name: this.name,
        node: this.nodes.map((n, i) => ({
          name: n.scope ? `${n.scope}/${n.opType}_${i}` : `${n.opType}_${i}`,
          op_type: n.opType,
          domain: n.domain ?? '',
          input: n.inputs,
          output: n.outputs,
          attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attrProto(k, v)),
        })),
        initializer: [...this.initializers].map(([k, t]) => tensorProto(k, t)),
        input: this.inputs.map(valueInfo),
        output: this.outputs.map(valueInfo),
      },
    });
    return T.encode(msg).finish();
  }
}
