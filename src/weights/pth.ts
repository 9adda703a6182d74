/**
 * PyTorch `.pth` files as written by `torch.save(model.state_dict())` since torch 1.6 (the
 * format of torchvision's `googlenet-1378be20.pth`): a zip archive holding
 *
 *   <prefix>/data.pkl      the state dict, pickled (protocol 2) with tensors as persistent ids
 *   <prefix>/data/<key>    one raw storage per key, little-endian unless `byteorder` says "big"
 *   <prefix>/version       the serialization version
 *
 * The pickle is read by a RESTRICTED unpickler that never runs code: it knows only the opcodes
 * a state dict needs and the few globals on its allow-list; anything else is refused (`pickle.ts`).
 * The zip container is read by `zip-reader.ts`. No Node imports, so browsers bundle it: bytes
 * in, tensors out (`pth-node.ts` reads files).
 */
import { WeightFormatError } from '../errors.js';
import { getLimits, raiseHint } from '../limits.js';
import { numel, type TensorArray } from '../tensor.js';
import { DTYPE_BYTES, decodeTensorBytes, widenedDType, type StoredDType, type StoredTensor } from './safetensors.js';
import { StorageRef, TensorRef, typeName, unpickle } from './pickle.js';
import { ZIP_LIMITS, openZip, quoted, type ZipEntry, type ZipLimits } from './zip-reader.js';

/** Caps on what a `.pth` file may make the reader do (see {@link ZipLimits} for the archive's). */
export interface PthReadOptions extends ZipLimits {
  /**
   * Most bytes the tensors read may take, all together, once gathered into contiguous arrays
   * (a view with stride 0 can claim far more elements than its storage holds). Default: the
   * `maxWeightBytes` limit (src/limits.ts), which also sets `maxInflatedBytes`.
   */
  maxTensorBytes?: number;
}

const PTH_LIMITS: Readonly<Required<PthReadOptions>> = { ...ZIP_LIMITS, maxTensorBytes: 2 ** 31 };

// ---------------------------------------------------------------------------------------------
// State dicts

/**
 * Reads the tensors of a `torch.save` zip file. The pickled object must be a dict of tensors
 * (a state dict) or a checkpoint dict holding one under `state_dict` or, failing that, `model`
 * (other entries, such as `epoch` or `optimizer`, are ignored). Tensors are gathered into
 * contiguous row-major arrays (storage offset and strides honoured); half and bfloat16 are
 * widened to Float32Array and reported as `F32`, bool reads as `U8`.
 * @throws WeightFormatError naming `file` for anything malformed or over `options`' limits.
 */
export function readPth(bytes: Uint8Array, file = '<memory>', options: PthReadOptions = {}): Map<string, StoredTensor> {
  const limit = getLimits().maxWeightBytes;
  const max = {
    ...PTH_LIMITS,
    maxTensorBytes: limit,
    maxInflatedBytes: limit,
    ...(options.maxInflatedBytes === undefined ? { inflatedHint: raiseHint('maxWeightBytes') } : {}),
    ...options,
  };
  const fail = (msg: string): never => {
    throw new WeightFormatError(`${file}: ${msg}`, { file });
  };
  const zip = openZip(bytes, file, max);
  const pkl = [...zip.entries.keys()]
    .filter((n) => n === 'data.pkl' || n.endsWith('/data.pkl'))
    .sort((a, b) => a.split('/').length - b.split('/').length)[0];
  if (pkl === undefined) return fail('zip archive has no data.pkl: not a torch.save file');
  const prefix = pkl.slice(0, -'data.pkl'.length);
  const entry = (name: string): ZipEntry | undefined => zip.entries.get(prefix + name);

  const order = entry('byteorder');
  const byteorder = order ? new TextDecoder().decode(zip.read(order)).trim() : 'little';
  if (byteorder !== 'little' && byteorder !== 'big') fail(`byteorder is ${quoted(byteorder)}, expected "little" or "big"`);

  const root = unpickle(zip.read(entry('data.pkl')!), fail);
  if (!(root instanceof Map)) return fail(`data.pkl holds ${typeName(root)}, expected a state dict`);
  const wrapped = root.get('state_dict') ?? root.get('model');
  const dict = wrapped instanceof Map ? wrapped : root;

  const storages = new Map<string, Storage>();
  const storage = (s: StorageRef, key: string): Storage => {
    const name = quoted(`data/${s.key}`);
    let st = storages.get(s.key);
    if (!st) {
      const e = entry(`data/${s.key}`);
      if (!e) return fail(`storage ${name} of tensor ${quoted(key)} is missing from the archive`);
      st = { bytes: zip.read(e), dtype: s.dtype, bigEndian: byteorder === 'big' };
      storages.set(s.key, st);
    }
    if (st.dtype !== s.dtype) fail(`storage ${name} is read as ${st.dtype} by one tensor and as ${s.dtype} by tensor ${quoted(key)}`);
    const need = s.numel * DTYPE_BYTES[s.dtype];
    if (st.bytes.length < need)
      fail(`storage ${name} of tensor ${quoted(key)} holds ${st.bytes.length} bytes, its ${s.numel} ${s.dtype} elements need ${need}`);
    return st;
  };

  const out = new Map<string, StoredTensor>();
  let total = 0;
  for (const [key, value] of dict) {
    if (typeof key !== 'string') return fail(`state dict has a non-string key (${typeName(key)})`);
    if (!(value instanceof TensorRef)) return fail(`entry ${quoted(key)} is ${typeName(value)}, expected a tensor`);
    total += numel(value.size) * DTYPE_BYTES[widenedDType(value.storage.dtype)];
    if (total > max.maxTensorBytes) {
      fail(
        `tensor ${quoted(key)} (size [${value.size.join(', ')}], stride [${value.stride.join(', ')}]) brings the tensors read to ${total} bytes, ` +
          (options.maxTensorBytes === undefined
            ? `more than ${raiseHint('maxWeightBytes')}`
            : `over the limit of ${max.maxTensorBytes} (option maxTensorBytes)`),
      );
    }
    out.set(key, materialize(key, value, storage(value.storage, key), fail));
  }
  return out;
}

/** A storage's bytes, and its elements once decoded (kept for the views that gather from it). */
interface Storage {
  bytes: Uint8Array;
  dtype: StoredDType;
  bigEndian: boolean;
  decoded?: TensorArray;
}

/** Copies a strided view of a storage into a contiguous tensor. */
function materialize(key: string, t: TensorRef, storage: Storage, fail: (msg: string) => never): StoredTensor {
  const { dtype, numel: available } = t.storage;
  const size = DTYPE_BYTES[dtype];
  const n = numel(t.size);
  const dims = [...t.size];
  if (n === 0) return { dtype: widenedDType(dtype), dims, data: decodeTensorBytes(new Uint8Array(0), dtype) };
  let last = t.offset; // the farthest element the view reaches
  for (let d = 0; d < dims.length; d++) last += (dims[d]! - 1) * t.stride[d]!;
  if (last >= available) {
    fail(
      `tensor ${quoted(key)} (size [${dims.join(', ')}], stride [${t.stride.join(', ')}], ` +
        `offset ${t.offset}) reaches element ${last} of storage ${quoted(`data/${t.storage.key}`)}, which holds ${available}`,
    );
  }
  let contiguous = true;
  for (let d = dims.length - 1, expect = 1; d >= 0; expect *= dims[d]!, d--) {
    if (dims[d] !== 1 && t.stride[d] !== expect) contiguous = false;
  }
  if (contiguous) {
    return {
      dtype: widenedDType(dtype),
      dims,
      data: decodeTensorBytes(storage.bytes.subarray(t.offset * size, (t.offset + n) * size), dtype, storage.bigEndian),
    };
  }
  storage.decoded ??= decodeTensorBytes(
    storage.bytes.subarray(0, storage.bytes.length - (storage.bytes.length % size)),
    dtype,
    storage.bigEndian,
  );
  return { dtype: widenedDType(dtype), dims, data: gather(storage.decoded, dims, t.stride, t.offset) };
}

/** out[i₀,…,iₖ] = src[offset + Σ iⱼ·strideⱼ], row-major. */
function gather<A extends TensorArray>(src: A, dims: number[], stride: number[], offset: number): A {
  const out = new (src.constructor as new (n: number) => A)(numel(dims));
  const index = dims.map(() => 0);
  let at = offset;
  for (let i = 0; i < out.length; i++) {
    out[i] = src[at]!;
    for (let d = dims.length - 1; d >= 0; d--) {
      // odometer step over the multi-index
      at += stride[d]!;
      if (++index[d]! < dims[d]!) break;
      at -= stride[d]! * dims[d]!;
      index[d] = 0;
    }
  }
  return out;
}
