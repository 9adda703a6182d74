/**
 * A RESTRICTED unpickler for torch state dicts: it never runs code. It knows only the opcodes a
 * state dict needs and the few globals on {@link ALLOWED_GLOBALS} (resolved to markers, never
 * looked up); anything else is refused with a message naming the byte and the opcode. Tensors
 * come out as {@link TensorRef}s (strided views of named storages) for `pth.ts` to read.
 *
 * The opcode switch in `unpickle` is the one function in the project over ~100 lines: one case
 * per opcode reads best as one flat table, the way CPython's `pickle.py` has it.
 */
import { quoted } from './zip-reader.js';
import type { StoredDType } from './safetensors.js';

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
const ALLOWED_GLOBALS: ReadonlySet<string> = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  ...Object.keys(STORAGE_DTYPE),
]);

class PyGlobal {
  constructor(readonly path: string) {}
}
/** A storage named by a persistent id: ('storage', type, key, location, numel). */
export class StorageRef {
  constructor(
    readonly dtype: StoredDType,
    readonly key: string,
    readonly numel: number,
  ) {}
}
/** A tensor not yet read: a strided view of a storage. */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly size: number[],
    readonly stride: number[],
  ) {}
}
export type PyValue = null | boolean | number | bigint | string | PyValue[] | Map<PyValue, PyValue> | PyGlobal | StorageRef | TensorRef;

/** A pickle's bytes and read position; failures name the byte and opcode being read. */
class PickleBytes {
  pos = 0;
  op = 0;
  opAt = 0;
  private readonly view: DataView;
  private readonly text = new TextDecoder('utf-8', { fatal: true });

  constructor(
    readonly bytes: Uint8Array,
    private readonly fail: (msg: string) => never,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  bad(msg: string): never {
    return this.fail(`data.pkl byte ${this.opAt} (opcode 0x${this.op.toString(16).padStart(2, '0')}): ${msg}`);
  }
  /** Starts the next opcode and returns it. */
  next(): number {
    this.opAt = this.pos;
    this.op = this.u8();
    return this.op;
  }
  take(n: number): Uint8Array {
    if (this.pos + n > this.bytes.length) this.bad(`needs ${n} more bytes but the pickle ends at ${this.bytes.length} (truncated)`);
    this.pos += n;
    return this.bytes.subarray(this.pos - n, this.pos);
  }
  u8(): number {
    return this.take(1)[0]!;
  }
  u16(): number {
    this.take(2);
    return this.view.getUint16(this.pos - 2, true);
  }
  u32(): number {
    this.take(4);
    return this.view.getUint32(this.pos - 4, true);
  }
  i32(): number {
    this.take(4);
    return this.view.getInt32(this.pos - 4, true);
  }
  f64be(): number {
    this.take(8);
    return this.view.getFloat64(this.pos - 8, false);
  }
  str(n: number): string {
    const b = this.take(n);
    try {
      return this.text.decode(b);
    } catch {
      return this.bad('string is not valid UTF-8');
    }
  }
  line(): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) this.bad('unterminated GLOBAL name');
    return this.str(end - this.pos + 1).slice(0, -1);
  }
  /** LONG1/LONG4's little-endian two's complement, as a number when it is a safe integer. */
  long(n: number): number | bigint {
    if (n > 64) this.bad(`a ${n}-byte integer (a state dict's integers fit in 8)`);
    const b = this.take(n);
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b.length > 0 && b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }
}

/**
 * Unpickles a torch state-dict pickle without executing anything: only allow-listed globals
 * are resolved (to markers), tensors become {@link TensorRef}s, and OrderedDict's `_metadata`
 * (set through BUILD) is dropped.
 */
export function unpickle(bytes: Uint8Array, fail: (msg: string) => never): PyValue {
  const r = new PickleBytes(bytes, fail);
  const bad = (msg: string): never => r.bad(msg);
  const stack: PyValue[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PyValue>();
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
    if (!ALLOWED_GLOBALS.has(path)) fail(`refused pickle global ${quoted(path)}: a state dict only holds tensors`);
    return new PyGlobal(path);
  };

  for (;;) {
    const op = r.next();
    switch (op) {
      case 0x80:
        r.u8();
        break; // PROTO
      case 0x95:
        r.take(8);
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
        stack.push(r.i32());
        break; // BININT
      case 0x4b:
        stack.push(r.u8());
        break; // BININT1
      case 0x4d:
        stack.push(r.u16());
        break; // BININT2
      case 0x8a:
        stack.push(r.long(r.u8()));
        break; // LONG1
      case 0x8b:
        stack.push(r.long(r.u32()));
        break; // LONG4
      case 0x47:
        stack.push(r.f64be());
        break; // BINFLOAT (big-endian)
      case 0x58:
        stack.push(r.str(r.u32()));
        break; // BINUNICODE
      case 0x8c:
        stack.push(r.str(r.u8()));
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
        const l = list(top());
        for (const v of vs) l.push(v);
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
        memo.set(r.u8(), top());
        break; // BINPUT
      case 0x72:
        memo.set(r.u32(), top());
        break; // LONG_BINPUT
      case 0x94:
        memo.set(memo.size, top());
        break; // MEMOIZE
      case 0x68:
      case 0x6a: {
        // BINGET, LONG_BINGET
        const i = op === 0x68 ? r.u8() : r.u32();
        stack.push(memo.has(i) ? memo.get(i)! : bad(`memo ${i} was never stored`));
        break;
      }
      case 0x63: {
        const module = r.line();
        stack.push(global(module, r.line()));
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
  if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length !== 5) return bad(`unexpected persistent id ${show(pid)}`);
  const [, type, key, , n] = pid;
  if (!(type instanceof PyGlobal) || !Object.hasOwn(STORAGE_DTYPE, type.path))
    return bad(`persistent id names ${typeName(type ?? null)}, not a storage class`);
  if (typeof key !== 'string' || !isIndex(n))
    return bad(`malformed storage persistent id ${show(pid)}: expected a string key and a non-negative integer element count`);
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
        return bad(
          `_rebuild_tensor_v2 expects (storage, offset, size, stride) of non-negative integers, as many strides as sizes; found offset ${show(offset)}, size ${show(size)}, stride ${show(stride)}`,
        );
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

export function typeName(v: PyValue): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'a tuple/list';
  if (v instanceof Map) return 'a dict';
  if (v instanceof PyGlobal) return quoted(v.path);
  if (v instanceof StorageRef) return 'a storage';
  if (v instanceof TensorRef) return 'a tensor';
  return typeof v === 'bigint' ? 'a number' : `a ${typeof v}`;
}

/** A value from the pickle for a one-line message: numbers and strings as they are, one level of tuples. */
function show(v: PyValue | undefined): string {
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (typeof v === 'string') return quoted(v);
  if (!Array.isArray(v)) return typeName(v ?? null);
  const items = v.slice(0, 8).map((x) => (Array.isArray(x) ? typeName(x) : show(x)));
  return `(${items.join(', ')}${v.length > 8 ? `, … ${v.length} in all` : ''})`;
}
