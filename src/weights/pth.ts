/**
 * PyTorch `.pth` files as written by `torch.save(model.state_dict())` since torch 1.6 (the
 * format of torchvision's `googlenet-1378be20.pth`): a zip archive holding
 *
 *   <prefix>/data.pkl      the state dict, pickled (protocol 2) with tensors as persistent ids
 *   <prefix>/data/<key>    one raw storage per key, little-endian unless `byteorder` says "big"
 *   <prefix>/version       the serialization version
 *
 * The pickle is read by a RESTRICTED unpickler that never runs code: it knows only the opcodes
 * a state dict needs and the few globals on {@link ALLOWED_GLOBALS}; anything else is refused.
 */
import * as zlib from 'node:zlib';
import { WeightFormatError } from '../errors.js';
import { numel, type TensorArray } from '../tensor.js';
import { DTYPE_BYTES, decodeTensorBytes, readWeightBytes, widenedDType, type StoredDType, type StoredTensor } from './safetensors-node.js';

// ---------------------------------------------------------------------------------------------
// Zip

/** One file of a zip archive, from its central directory record. */
export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

/** A zip archive read from memory: its entries by name, and their contents. */
export interface ZipArchive {
  entries: Map<string, ZipEntry>;
  /** The uncompressed, CRC-checked contents of an entry (a view of the file when stored). */
  read(entry: ZipEntry): Uint8Array;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;

/**
 * Reads a zip archive's central directory (ZIP64 included). Entries may be stored or deflated;
 * encrypted entries, multi-disk archives and other methods are refused.
 */
export function openZip(bytes: Uint8Array, file = '<memory>'): ZipArchive {
  const fail = (msg: string): never => {
    throw new WeightFormatError(`${file}: ${msg}`);
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u64 = (at: number, what: string): number => {
    const v = view.getBigUint64(at, true);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? fail(`zip ${what} ${v} is too large`) : Number(v);
  };

  // The end-of-central-directory record: 22 bytes plus a comment of up to 65535 bytes.
  let eocd = -1;
  for (let at = bytes.length - 22; at >= Math.max(0, bytes.length - 22 - 0xffff); at--) {
    if (view.getUint32(at, true) === SIG_EOCD) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) fail('zip end-of-central-directory record not found (truncated or not a zip archive)');
  let count = view.getUint16(eocd + 10, true);
  let cdSize = view.getUint32(eocd + 12, true);
  let cdOffset = view.getUint32(eocd + 16, true);
  if (view.getUint16(eocd + 4, true) !== 0 || view.getUint16(eocd + 6, true) !== 0) fail('multi-disk zip archives are not supported');
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || view.getUint32(loc, true) !== SIG_ZIP64_LOCATOR) fail('ZIP64 end-of-central-directory locator not found');
    const z = u64(loc + 8, 'ZIP64 record offset');
    if (z + 56 > bytes.length || view.getUint32(z, true) !== SIG_ZIP64_EOCD)
      fail(`ZIP64 end-of-central-directory record not found at byte ${z}`);
    count = u64(z + 32, 'entry count');
    cdSize = u64(z + 40, 'central directory size');
    cdOffset = u64(z + 48, 'central directory offset');
  }
  if (cdOffset + cdSize > bytes.length)
    fail(`zip central directory [${cdOffset}, ${cdOffset + cdSize}) runs past the end of the file (${bytes.length} bytes): truncated?`);

  const entries = new Map<string, ZipEntry>();
  const names = new TextDecoder();
  let at = cdOffset;
  for (let i = 0; i < count; i++) {
    if (at + 46 > cdOffset + cdSize || view.getUint32(at, true) !== SIG_CENTRAL)
      fail(`zip central directory entry ${i} is corrupt (at byte ${at})`);
    const flags = view.getUint16(at + 8, true);
    const nameLen = view.getUint16(at + 28, true);
    const extraLen = view.getUint16(at + 30, true);
    const commentLen = view.getUint16(at + 32, true);
    const name = names.decode(bytes.subarray(at + 46, at + 46 + nameLen));
    const entry: ZipEntry = {
      name,
      method: view.getUint16(at + 10, true),
      crc32: view.getUint32(at + 16, true),
      compressedSize: view.getUint32(at + 20, true),
      size: view.getUint32(at + 24, true),
      localHeaderOffset: view.getUint32(at + 42, true),
    };
    if (flags & 1) fail(`zip entry "${name}" is encrypted`);
    // ZIP64 extra field (id 1): 64-bit values for exactly the fields saturated at 0xffffffff.
    for (let x = at + 46 + nameLen, end = x + extraLen; x + 4 <= end;) {
      const id = view.getUint16(x, true);
      const len = view.getUint16(x + 2, true);
      if (id === 1) {
        let f = x + 4;
        const next = (what: string): number => {
          if (f + 8 > x + 4 + len) fail(`zip entry "${name}" has a short ZIP64 extra field (no ${what})`);
          const v = u64(f, what);
          f += 8;
          return v;
        };
        if (entry.size === 0xffffffff) entry.size = next('size');
        if (entry.compressedSize === 0xffffffff) entry.compressedSize = next('compressed size');
        if (entry.localHeaderOffset === 0xffffffff) entry.localHeaderOffset = next('header offset');
      }
      x += 4 + len;
    }
    entries.set(name, entry);
    at += 46 + nameLen + extraLen + commentLen;
  }

  const read = (e: ZipEntry): Uint8Array => {
    const h = e.localHeaderOffset;
    if (h + 30 > bytes.length || view.getUint32(h, true) !== SIG_LOCAL) fail(`zip entry "${e.name}" has no local header at byte ${h}`);
    const start = h + 30 + view.getUint16(h + 26, true) + view.getUint16(h + 28, true);
    if (start + e.compressedSize > bytes.length) {
      fail(`zip entry "${e.name}" needs bytes [${start}, ${start + e.compressedSize}) but the file has ${bytes.length}: truncated?`);
    }
    const raw = bytes.subarray(start, start + e.compressedSize);
    let data: Uint8Array;
    if (e.method === 0) data = raw;
    else if (e.method === 8) {
      try {
        data = zlib.inflateRawSync(raw);
      } catch (err) {
        return fail(`zip entry "${e.name}" does not inflate (${(err as Error).message})`);
      }
    } else return fail(`zip entry "${e.name}" uses compression method ${e.method} (expected 0 = stored or 8 = deflate)`);
    if (data.length !== e.size) fail(`zip entry "${e.name}" holds ${data.length} bytes, its directory says ${e.size}`);
    if (crc32(data) !== e.crc32) fail(`zip entry "${e.name}" fails its CRC-32 check (corrupt file)`);
    return data;
  };
  return { entries, read };
}

let crcTable: Uint32Array | undefined;
/** CRC-32: zlib's where this Node has it (≥ 20.15), else a table-driven one. */
function crc32(data: Uint8Array): number {
  if (typeof zlib.crc32 === 'function') return zlib.crc32(data);
  crcTable ??= Uint32Array.from({ length: 256 }, (_, n) => {
    for (let k = 0; k < 8; k++) n = n & 1 ? 0xedb88320 ^ (n >>> 1) : n >>> 1;
    return n;
  });
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Restricted unpickler

/** Storage classes → the dtype of their elements (BoolStorage holds 0/1 bytes). */
const STORAGE_DTYPE: Readonly<Record<string, StoredDType>> = {
  'torch.FloatStorage': 'F32',
  'torch.DoubleStorage': 'F64',
  'torch.HalfStorage': 'F16',
  'torch.BFloat16Storage': 'BF16',
  'torch.LongStorage': 'I64',
  'torch.IntStorage': 'I32',
  'torch.ByteStorage': 'U8',
  'torch.BoolStorage': 'U8',
};

/** The globals the unpickler will name; nothing outside this list is ever looked up. */
export const ALLOWED_GLOBALS: ReadonlySet<string> = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  ...Object.keys(STORAGE_DTYPE),
]);

class PyGlobal {
  constructor(readonly path: string) {}
}
/** A storage named by a persistent id: ('storage', type, key, location, numel). */
class StorageRef {
  constructor(
    readonly dtype: StoredDType,
    readonly key: string,
    readonly numel: number,
  ) {}
}
/** A tensor not yet read: a strided view of a storage. */
class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly size: number[],
    readonly stride: number[],
  ) {}
}
type PyValue = null | boolean | number | bigint | string | PyValue[] | Map<PyValue, PyValue> | PyGlobal | StorageRef | TensorRef;

/**
 * Unpickles a torch state-dict pickle without executing anything: only allow-listed globals
 * are resolved (to markers), tensors become {@link TensorRef}s, and OrderedDict's `_metadata`
 * (set through BUILD) is dropped.
 */
function unpickle(bytes: Uint8Array, fail: (msg: string) => never): PyValue {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: PyValue[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PyValue>();
  const text = new TextDecoder('utf-8', { fatal: true });
  let pos = 0;
  let op = 0;
  let opAt = 0;

  const bad = (msg: string): never => fail(`data.pkl byte ${opAt} (opcode 0x${op.toString(16).padStart(2, '0')}): ${msg}`);
  const take = (n: number): Uint8Array => {
    if (pos + n > bytes.length) bad(`needs ${n} more bytes but the pickle ends at ${bytes.length} (truncated)`);
    pos += n;
    return bytes.subarray(pos - n, pos);
  };
  const u8 = (): number => take(1)[0]!;
  const u16 = (): number => {
    take(2);
    return view.getUint16(pos - 2, true);
  };
  const u32 = (): number => {
    take(4);
    return view.getUint32(pos - 4, true);
  };
  const str = (n: number): string => {
    const b = take(n);
    try {
      return text.decode(b);
    } catch {
      return bad('string is not valid UTF-8');
    }
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) bad('unterminated GLOBAL name');
    return str(end - pos + 1).slice(0, -1);
  };
  const pop = (): PyValue => (stack.length > 0 ? stack.pop()! : bad('pops an empty stack'));
  const top = (): PyValue => (stack.length > 0 ? stack[stack.length - 1]! : bad('reads an empty stack'));
  const popMark = (): PyValue[] => {
    const m = marks.pop();
    return m === undefined ? bad('no MARK to pop to') : stack.splice(m);
  };
  const dict = (v: PyValue): Map<PyValue, PyValue> => (v instanceof Map ? v : bad(`expected a dict, found ${typeName(v)}`));
  const list = (v: PyValue): PyValue[] => (Array.isArray(v) ? v : bad(`expected a list, found ${typeName(v)}`));
  const global = (module: string, name: string): PyGlobal => {
    const path = `${module}.${name}`;
    if (!ALLOWED_GLOBALS.has(path)) fail(`refused pickle global "${path}": a state dict only holds tensors`);
    return new PyGlobal(path);
  };
  const long = (b: Uint8Array): number | bigint => {
    if (b.length > 64) bad(`a ${b.length}-byte integer (a state dict's integers fit in 8)`);
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b.length > 0 && b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  for (;;) {
    opAt = pos;
    op = u8();
    switch (op) {
      case 0x80:
        u8();
        break; // PROTO
      case 0x95:
        take(8);
        break; // FRAME: frames are only a read-ahead hint
      case 0x2e:
        return pop(); // STOP
      case 0x28:
        marks.push(stack.length);
        break; // MARK
      case 0x30:
        pop();
        break; // POP
      case 0x31:
        popMark();
        break; // POP_MARK
      case 0x32:
        stack.push(top());
        break; // DUP
      case 0x4e:
        stack.push(null);
        break; // NONE
      case 0x88:
        stack.push(true);
        break; // NEWTRUE
      case 0x89:
        stack.push(false);
        break; // NEWFALSE
      case 0x4a:
        take(4);
        stack.push(view.getInt32(pos - 4, true));
        break; // BININT
      case 0x4b:
        stack.push(u8());
        break; // BININT1
      case 0x4d:
        stack.push(u16());
        break; // BININT2
      case 0x8a:
        stack.push(long(take(u8())));
        break; // LONG1
      case 0x8b:
        stack.push(long(take(u32())));
        break; // LONG4
      case 0x47:
        take(8);
        stack.push(view.getFloat64(pos - 8, false));
        break; // BINFLOAT (big-endian)
      case 0x58:
        stack.push(str(u32()));
        break; // BINUNICODE
      case 0x8c:
        stack.push(str(u8()));
        break; // SHORT_BINUNICODE
      case 0x7d:
        stack.push(new Map());
        break; // EMPTY_DICT
      case 0x5d:
        stack.push([]);
        break; // EMPTY_LIST
      case 0x29:
        stack.push([]);
        break; // EMPTY_TUPLE
      case 0x74:
        stack.push(popMark());
        break; // TUPLE
      case 0x85:
        stack.push([pop()]);
        break; // TUPLE1
      case 0x86: {
        const b = pop();
        stack.push([pop(), b]);
        break;
      } // TUPLE2
      case 0x87: {
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      } // TUPLE3
      case 0x6c:
        stack.push(popMark());
        break; // LIST
      case 0x64: {
        // DICT
        const items = popMark();
        const d = new Map<PyValue, PyValue>();
        for (let i = 0; i + 1 < items.length; i += 2) d.set(items[i]!, items[i + 1]!);
        stack.push(d);
        break;
      }
      case 0x61: {
        const v = pop();
        list(top()).push(v);
        break;
      } // APPEND
      case 0x65: {
        const vs = popMark();
        list(top()).push(...vs);
        break;
      } // APPENDS
      case 0x73: {
        const v = pop();
        const k = pop();
        dict(top()).set(k, v);
        break;
      } // SETITEM
      case 0x75: {
        // SETITEMS
        const items = popMark();
        if (items.length % 2) bad('SETITEMS with an odd number of values');
        const d = dict(top());
        for (let i = 0; i < items.length; i += 2) d.set(items[i]!, items[i + 1]!);
        break;
      }
      case 0x71:
        memo.set(u8(), top());
        break; // BINPUT
      case 0x72:
        memo.set(u32(), top());
        break; // LONG_BINPUT
      case 0x94:
        memo.set(memo.size, top());
        break; // MEMOIZE
      case 0x68:
      case 0x6a: {
        // BINGET, LONG_BINGET
        const i = op === 0x68 ? u8() : u32();
        stack.push(memo.has(i) ? memo.get(i)! : bad(`memo ${i} was never stored`));
        break;
      }
      case 0x63: {
        const module = line();
        stack.push(global(module, line()));
        break;
      } // GLOBAL
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') bad('STACK_GLOBAL needs two strings');
        stack.push(global(module as string, name as string));
        break;
      }
      case 0x51:
        stack.push(persistentLoad(pop(), bad));
        break; // BINPERSID
      case 0x52: {
        // REDUCE
        const args = list(pop());
        const fn = pop();
        stack.push(fn instanceof PyGlobal ? call(fn.path, args, bad) : bad(`calls ${typeName(fn)}`));
        break;
      }
      case 0x62: {
        // BUILD: only OrderedDict's `_metadata` attribute reaches here; it is dropped
        pop();
        if (!(top() instanceof Map)) bad(`BUILD on ${typeName(top())}: only a state dict's metadata is expected`);
        break;
      }
      default:
        bad(`unsupported pickle opcode (a state dict never uses it)`);
    }
  }
}

/** ('storage', <storage class>, key, location, numel) → a StorageRef. */
function persistentLoad(pid: PyValue, bad: (msg: string) => never): StorageRef {
  if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length !== 5) return bad(`unexpected persistent id ${describePid(pid)}`);
  const [, type, key, , n] = pid;
  if (!(type instanceof PyGlobal) || !Object.hasOwn(STORAGE_DTYPE, type.path))
    return bad(`persistent id names ${typeName(type ?? null)}, not a storage class`);
  if (typeof key !== 'string' || typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0)
    return bad(`malformed storage persistent id ${describePid(pid)}`);
  return new StorageRef(STORAGE_DTYPE[type.path]!, key, n);
}

/** The only calls a state dict makes. */
function call(path: string, args: PyValue[], bad: (msg: string) => never): PyValue {
  switch (path) {
    case 'collections.OrderedDict':
      return args.length === 0 ? new Map() : bad('OrderedDict called with arguments');
    case 'torch._utils._rebuild_tensor_v2': {
      // (storage, offset, size, stride, requires_grad, hooks[, metadata])
      const [storage, offset, size, stride] = args;
      if (!(storage instanceof StorageRef)) return bad(`_rebuild_tensor_v2 expects a storage, found ${typeName(storage ?? null)}`);
      if (!isIndex(offset) || !isIndexList(size) || !isIndexList(stride) || size.length !== stride.length) {
        return bad('_rebuild_tensor_v2 expects (storage, offset, size, stride) with matching size and stride');
      }
      return new TensorRef(storage, offset, size, stride);
    }
    case 'torch._utils._rebuild_parameter': // (data, requires_grad, hooks)
      return args[0] instanceof TensorRef ? args[0] : bad('_rebuild_parameter expects a tensor');
    default:
      return bad(`"${path}" is not callable here`);
  }
}

const isIndex = (v: PyValue | undefined): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isIndexList = (v: PyValue | undefined): v is number[] => Array.isArray(v) && v.every(isIndex);

function typeName(v: PyValue): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'a tuple/list';
  if (v instanceof Map) return 'a dict';
  if (v instanceof PyGlobal) return `"${v.path}"`;
  if (v instanceof StorageRef) return 'a storage';
  if (v instanceof TensorRef) return 'a tensor';
  return typeof v === 'bigint' ? 'a number' : `a ${typeof v}`;
}

function describePid(pid: PyValue): string {
  return Array.isArray(pid) ? `(${pid.map((v) => (typeof v === 'string' ? JSON.stringify(v) : typeName(v))).join(', ')})` : typeName(pid);
}

// ---------------------------------------------------------------------------------------------
// State dicts

/**
 * Reads the tensors of a `torch.save` zip file. The pickled object must be a dict of tensors
 * (a state dict) or a checkpoint dict holding one under `state_dict` or, failing that, `model`
 * (other entries, such as `epoch` or `optimizer`, are ignored). Tensors are gathered into
 * contiguous row-major arrays (storage offset and strides honoured); half and bfloat16 are
 * widened to Float32Array and reported as `F32`, bool reads as `U8`.
 */
export function readPth(bytes: Uint8Array, file = '<memory>'): Map<string, StoredTensor> {
  const fail = (msg: string): never => {
    throw new WeightFormatError(`${file}: ${msg}`);
  };
  const zip = openZip(bytes, file);
  const pkl = [...zip.entries.keys()]
    .filter((n) => n === 'data.pkl' || n.endsWith('/data.pkl'))
    .sort((a, b) => a.split('/').length - b.split('/').length)[0];
  if (pkl === undefined) return fail('zip archive has no data.pkl: not a torch.save file');
  const prefix = pkl.slice(0, -'data.pkl'.length);
  const entry = (name: string): ZipEntry | undefined => zip.entries.get(prefix + name);

  const order = entry('byteorder');
  const byteorder = order ? new TextDecoder().decode(zip.read(order)).trim() : 'little';
  if (byteorder !== 'little' && byteorder !== 'big') fail(`byteorder is "${byteorder}", expected "little" or "big"`);

  const root = unpickle(zip.read(entry('data.pkl')!), fail);
  if (!(root instanceof Map)) return fail(`data.pkl holds ${typeName(root)}, expected a state dict`);
  const wrapped = root.get('state_dict') ?? root.get('model');
  const dict = wrapped instanceof Map ? wrapped : root;

  const storages = new Map<string, Uint8Array>();
  const storageBytes = (s: StorageRef, key: string): Uint8Array => {
    let b = storages.get(s.key);
    if (!b) {
      const e = entry(`data/${s.key}`);
      if (!e) return fail(`storage "data/${s.key}" of tensor "${key}" is missing from the archive`);
      b = zip.read(e);
      const need = s.numel * DTYPE_BYTES[s.dtype];
      if (b.length < need)
        fail(`storage "data/${s.key}" of tensor "${key}" holds ${b.length} bytes, its ${s.numel} ${s.dtype} elements need ${need}`);
      storages.set(s.key, b);
    }
    return b;
  };

  const out = new Map<string, StoredTensor>();
  for (const [key, value] of dict) {
    if (typeof key !== 'string') return fail(`state dict has a non-string key (${typeName(key)})`);
    if (!(value instanceof TensorRef)) return fail(`entry "${key}" is ${typeName(value)}, expected a tensor`);
    out.set(key, materialize(key, value, storageBytes(value.storage, key), byteorder === 'big', fail));
  }
  return out;
}

/** Reads a `.pth` file from disk (see {@link readPth}). */
export function loadPthFile(path: string): Map<string, StoredTensor> {
  return readPth(readWeightBytes(path), path);
}

/** Copies a strided view of a storage into a contiguous tensor. */
function materialize(key: string, t: TensorRef, storage: Uint8Array, bigEndian: boolean, fail: (msg: string) => never): StoredTensor {
  const { dtype, numel: available } = t.storage;
  const size = DTYPE_BYTES[dtype];
  const n = numel(t.size);
  const dims = [...t.size];
  if (n === 0) return { dtype: widenedDType(dtype), dims, data: decodeTensorBytes(new Uint8Array(0), dtype) };
  let last = t.offset; // the farthest element the view reaches
  for (let d = 0; d < dims.length; d++) last += (dims[d]! - 1) * t.stride[d]!;
  if (last >= available) {
    fail(
      `tensor "${key}" (size [${dims.join(', ')}], stride [${t.stride.join(', ')}], offset ${t.offset}) reaches element ${last} of storage "data/${t.storage.key}", which holds ${available}`,
    );
  }
  let contiguous = true;
  for (let d = dims.length - 1, expect = 1; d >= 0; expect *= dims[d]!, d--) {
    if (dims[d] !== 1 && t.stride[d] !== expect) contiguous = false;
  }
  const data = contiguous
    ? decodeTensorBytes(storage.subarray(t.offset * size, (t.offset + n) * size), dtype, bigEndian)
    : gather(decodeTensorBytes(storage.subarray(0, available * size), dtype, bigEndian), dims, t.stride, t.offset);
  return { dtype: widenedDType(dtype), dims, data };
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
