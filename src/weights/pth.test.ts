import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import { numel } from '../tensor.js';
import { loadPthFile, openZip, readPth } from './pth.js';
import type { StoredTensor } from './safetensors-node.js';

import { fixturePath, missingFixture } from '../../test/fixtures.js';
import { PYTHON, matchesSummary, python, refuses, withTmp, type TensorSummaries } from '../../test/weights-helpers.js';

const PTH = 'googlenet-tv-noaux10.pth';
const hasTorch = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
const NO_TORCH = `${PYTHON} cannot import torch (install python3-torch)`;

const isTrainable = (key: string): boolean => !/running_(mean|var)$|num_batches_tracked$/.test(key);

/** Plain numbers (or decimal strings for int64) of a tensor, for comparing with Python's JSON. */
function values(t: StoredTensor): (number | string)[] {
  return t.data instanceof BigInt64Array ? [...t.data].map(String) : [...(t.data as Exclude<StoredTensor['data'], BigInt64Array>)];
}

function sameTensor(a: StoredTensor | undefined, b: StoredTensor): boolean {
  return (
    a !== undefined &&
    a.dtype === b.dtype &&
    a.dims.join() === b.dims.join() &&
    a.data.constructor === b.data.constructor &&
    Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength).equals(
      Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength),
    )
  );
}

// ---------------------------------------------------------------------------------------------
// Hand-built archives and pickles, so the format's corners are tested without Python.

/** A zip archive of `entries`, stored or deflated, optionally in ZIP64 form. */
function makeZip(entries: [string, Uint8Array][], opts: { deflate?: boolean; zip64?: boolean } = {}): Uint8Array {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  const sat = opts.zip64 ? 0xffffffff : -1;
  for (const [name, data] of entries) {
    const body = opts.deflate ? deflateRawSync(data) : Buffer.from(data);
    const nameBytes = Buffer.from(name);
    const z64 = (...v: number[]): Buffer => {
      const b = Buffer.alloc(4 + 8 * v.length);
      b.writeUInt16LE(1, 0);
      b.writeUInt16LE(8 * v.length, 2);
      v.forEach((x, i) => b.writeBigUInt64LE(BigInt(x), 4 + 8 * i));
      return b;
    };
    const localExtra = opts.zip64 ? z64(data.length, body.length) : Buffer.alloc(0);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(45, 4);
    local.writeUInt16LE(opts.deflate ? 8 : 0, 8);
    local.writeUInt32LE(crc32(data), 14);
    local.writeUInt32LE(opts.zip64 ? sat : body.length, 18);
    local.writeUInt32LE(opts.zip64 ? sat : data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    local.writeUInt16LE(localExtra.length, 28);
    const centralExtra = opts.zip64 ? z64(data.length, body.length, offset) : Buffer.alloc(0);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(45, 4);
    c.writeUInt16LE(45, 6);
    c.writeUInt16LE(opts.deflate ? 8 : 0, 10);
    c.writeUInt32LE(crc32(data), 16);
    c.writeUInt32LE(opts.zip64 ? sat : body.length, 20);
    c.writeUInt32LE(opts.zip64 ? sat : data.length, 24);
    c.writeUInt16LE(nameBytes.length, 28);
    c.writeUInt16LE(centralExtra.length, 30);
    c.writeUInt32LE(opts.zip64 ? sat : offset, 42);
    central.push(c, nameBytes, centralExtra);
    parts.push(local, nameBytes, localExtra, body);
    offset += local.length + nameBytes.length + localExtra.length + body.length;
  }
  const cd = Buffer.concat(central);
  const tail: Buffer[] = [];
  if (opts.zip64) {
    const rec = Buffer.alloc(56);
    rec.writeUInt32LE(0x06064b50, 0);
    rec.writeBigUInt64LE(44n, 4);
    rec.writeBigUInt64LE(BigInt(entries.length), 24);
    rec.writeBigUInt64LE(BigInt(entries.length), 32);
    rec.writeBigUInt64LE(BigInt(cd.length), 40);
    rec.writeBigUInt64LE(BigInt(offset), 48);
    const loc = Buffer.alloc(20);
    loc.writeUInt32LE(0x07064b50, 0);
    loc.writeBigUInt64LE(BigInt(offset + cd.length), 8);
    loc.writeUInt32LE(1, 16);
    tail.push(rec, loc);
  }
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(opts.zip64 ? 0xffff : entries.length, 8);
  eocd.writeUInt16LE(opts.zip64 ? 0xffff : entries.length, 10);
  eocd.writeUInt32LE(opts.zip64 ? sat : cd.length, 12);
  eocd.writeUInt32LE(opts.zip64 ? sat : offset, 16);
  return new Uint8Array(Buffer.concat([...parts, cd, ...tail, eocd]));
}

/** Pickle opcodes as bytes (protocol 2, as torch.save writes them). */
const op = {
  proto2: [0x80, 2],
  mark: [0x28],
  tuple: [0x74],
  emptyTuple: [0x29],
  reduce: [0x52],
  setitems: [0x75],
  persid: [0x51],
  newfalse: [0x89],
  stop: [0x2e],
  emptyDict: [0x7d],
  str: (s: string): number[] => {
    const b = Buffer.from(s);
    return [0x58, ...u32(b.length), ...b];
  },
  int: (n: number): number[] => [0x4a, ...u32(n)],
  global: (module: string, name: string): number[] => [0x63, ...Buffer.from(`${module}\n${name}\n`)],
};
function u32(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}
const ints = (xs: number[]): number[] => [...op.mark, ...xs.flatMap(op.int), ...op.tuple];

/** `_rebuild_tensor_v2(storage(key, numel), offset, size, stride, False, OrderedDict())`. */
function tensorPickle(
  storage: string,
  storageNumel: number,
  offset: number,
  size: number[],
  stride: number[],
  type = 'FloatStorage',
): number[] {
  return [
    ...op.global('torch._utils', '_rebuild_tensor_v2'),
    ...op.mark,
    ...op.mark,
    ...op.str('storage'),
    ...op.global('torch', type),
    ...op.str(storage),
    ...op.str('cpu'),
    ...op.int(storageNumel),
    ...op.tuple,
    ...op.persid,
    ...op.int(offset),
    ...ints(size),
    ...ints(stride),
    ...op.newfalse,
    ...op.global('collections', 'OrderedDict'),
    ...op.emptyTuple,
    ...op.reduce,
    ...op.tuple,
    ...op.reduce,
  ];
}

/** An OrderedDict pickle of `items` (key, value-pickle). */
function dictPickle(items: [string, number[]][]): Uint8Array {
  return new Uint8Array([
    ...op.proto2,
    ...op.global('collections', 'OrderedDict'),
    ...op.emptyTuple,
    ...op.reduce,
    ...op.mark,
    ...items.flatMap(([k, v]) => [...op.str(k), ...v]),
    ...op.setitems,
    ...op.stop,
  ]);
}

const f32 = (xs: number[]): Uint8Array => new Uint8Array(new Float32Array(xs).buffer);
const pth = (pickle: Uint8Array, files: [string, Uint8Array][] = []): Uint8Array =>
  makeZip([
    ['archive/data.pkl', pickle],
    ...files.map(([n, d]): [string, Uint8Array] => [`archive/${n}`, d]),
    ['archive/version', Buffer.from('3\n')],
  ]);

// ---------------------------------------------------------------------------------------------
// The real torchvision file

test('reads the torchvision GoogLeNet .pth fixture: keys, dtypes, parameter count', (t) => {
  const path = fixturePath(PTH);
  if (!path) return t.skip(missingFixture(PTH));
  const sd = loadPthFile(path);
  assert.equal(sd.size, 344);
  let params = 0;
  for (const [key, v] of sd) {
    if (key.endsWith('num_batches_tracked')) {
      assert.deepEqual([v.dtype, v.dims, v.data.constructor], ['I64', [], BigInt64Array]);
    } else {
      assert.equal(v.dtype, 'F32', key);
      assert.ok(v.data instanceof Float32Array, key);
    }
    assert.equal(v.data.length, numel(v.dims), key);
    if (isTrainable(key)) params += v.data.length;
  }
  assert.equal(params, 5_610_154);
  assert.deepEqual(sd.get('conv1.conv.weight')?.dims, [64, 3, 7, 7]);
  assert.deepEqual(sd.get('fc.weight')?.dims, [10, 1024]);
  assert.ok(!sd.has('aux1.fc1.weight'), 'aux_logits=False has no aux heads');
});

test('the .pth fixture matches torch.load value for value', (t) => {
  const path = fixturePath(PTH);
  if (!path) return t.skip(missingFixture(PTH));
  if (!hasTorch) return t.skip(NO_TORCH);
  const ref = JSON.parse(
    python(
      `
import json, sys, torch
sd = torch.load(sys.argv[1])
print(json.dumps({k: [list(v.shape), v.double().sum().item(), v.double().abs().max().item(), v.flatten()[:3].tolist()] for k, v in sd.items()}))
`,
      path,
    ),
  ) as TensorSummaries;
  const sd = loadPthFile(path);
  matchesSummary(sd, ref);
});

// ---------------------------------------------------------------------------------------------
// Files written by torch.save

test('reads what torch.save writes: dtypes, views, offsets, strides, parameters, wrappers', (t) => {
  if (!hasTorch) return t.skip(NO_TORCH);
  withTmp((dir) => {
    const ref = JSON.parse(
      python(
        `
import json, sys, os, torch
torch.manual_seed(0)
base = torch.arange(20, dtype=torch.float32).reshape(4, 5)
sd = {
  'f32': torch.randn(3, 4),
  'f64': torch.randn(5, dtype=torch.float64),
  'i64': torch.tensor([-(2**62), -1, 0, 7, 2**40 + 1]),
  'i32': torch.tensor([-3, 2**31 - 1], dtype=torch.int32),
  'u8': torch.tensor([0, 255, 7], dtype=torch.uint8),
  'bool': torch.tensor([True, False, True]),
  'f16': torch.randn(2, 3).half(),
  'bf16': torch.randn(4).bfloat16(),
  'transposed': torch.randn(3, 5).t(),
  'base': base,
  'rows': base[1:3],
  'column': base[:, 2],
  'strided': base[::2, 1::2],
  'expanded': torch.randn(3, 1).expand(3, 4),
  'scalar': torch.tensor(3.5),
  'empty': torch.zeros(0, 3),
  'param': torch.nn.Parameter(torch.randn(2, 2)),
}
assert not sd['transposed'].is_contiguous() and sd['rows'].storage_offset() == 5
out = sys.argv[1]
torch.save(sd, os.path.join(out, 'plain.pth'))
model = torch.nn.Linear(3, 2)
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
model(torch.randn(4, 3)).sum().backward(); opt.step()
torch.save({'state_dict': model.state_dict(), 'epoch': 3, 'optimizer': opt.state_dict(), 'note': 'hi'}, os.path.join(out, 'ckpt.pth'))
torch.save({'model': model.state_dict(), 'best': 0.5}, os.path.join(out, 'model.pth'))
def vals(v):
  v = v.detach()
  if v.dtype in (torch.float16, torch.bfloat16): v = v.float()
  if v.dtype == torch.int64: return [str(x) for x in v.flatten().tolist()]
  return v.flatten().int().tolist() if v.dtype == torch.bool else v.flatten().tolist()
print(json.dumps({
  'plain': {k: [list(v.shape), vals(v)] for k, v in sd.items()},
  'linear': {k: [list(v.shape), vals(v)] for k, v in model.state_dict().items()},
}))
`,
        dir,
      ),
    ) as Record<'plain' | 'linear', Record<string, [number[], (number | string)[]]>>;

    const sd = loadPthFile(join(dir, 'plain.pth'));
    assert.deepEqual([...sd.keys()], Object.keys(ref.plain));
    for (const [key, [dims, xs]] of Object.entries(ref.plain)) {
      const v = sd.get(key)!;
      assert.deepEqual(v.dims, dims, key);
      assert.deepEqual(values(v), xs, key);
    }
    const dtypes = Object.fromEntries([...sd].map(([k, v]) => [k, v.dtype]));
    assert.deepEqual(dtypes, {
      f32: 'F32',
      f64: 'F64',
      i64: 'I64',
      i32: 'I32',
      u8: 'U8',
      bool: 'U8',
      f16: 'F32',
      bf16: 'F32',
      transposed: 'F32',
      base: 'F32',
      rows: 'F32',
      column: 'F32',
      strided: 'F32',
      expanded: 'F32',
      scalar: 'F32',
      empty: 'F32',
      param: 'F32',
    });
    for (const v of sd.values()) assert.equal(v.data.byteOffset % 8, 0);
    sd.get('rows')!.data[0] = -1; // views sharing a storage come back as independent arrays
    assert.equal(sd.get('base')!.data[5], 5);

    for (const name of ['ckpt.pth', 'model.pth']) {
      const inner = loadPthFile(join(dir, name));
      assert.deepEqual([...inner.keys()], ['weight', 'bias'], name);
      for (const [key, [dims, xs]] of Object.entries(ref.linear)) {
        assert.deepEqual(inner.get(key)!.dims, dims);
        assert.deepEqual(values(inner.get(key)!), xs);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Malicious pickles: refused by name, never run

test('refuses a pickle that would call os.system, without running it', (t) => {
  if (!hasTorch) return t.skip(NO_TORCH);
  withTmp((dir) => {
    const marker = join(dir, 'pwned');
    python(
      `
import os, sys, pickle, zipfile, torch
class Evil:
  def __reduce__(self): return (os.system, ('touch ' + sys.argv[2],))
torch.save({'fc.weight': torch.zeros(2), 'x': Evil()}, os.path.join(sys.argv[1], 'torch-evil.pth'))
with zipfile.ZipFile(os.path.join(sys.argv[1], 'evil.pth'), 'w') as z:
  z.writestr('evil/data.pkl', pickle.dumps(Evil(), protocol=2))
  z.writestr('evil/version', '3\\n')
`,
      dir,
      marker,
    );
    for (const name of ['evil.pth', 'torch-evil.pth']) {
      const path = join(dir, name);
      refuses(() => loadPthFile(path), `${path}: refused pickle global "posix.system": a state dict only holds tensors`);
    }
    assert.ok(!existsSync(marker), 'the payload must never run');
  });
});

test('refuses builtins.eval, __builtin__.getattr and STACK_GLOBAL lookups (hand-built pickles)', () => {
  const evalPickle = new Uint8Array([
    ...op.proto2,
    ...op.global('builtins', 'eval'),
    ...op.mark,
    ...op.str('1+1'),
    ...op.tuple,
    ...op.reduce,
    ...op.stop,
  ]);
  refuses(() => readPth(pth(evalPickle), 'evil.pth'), 'evil.pth: refused pickle global "builtins.eval": a state dict only holds tensors');
  const getattr = new Uint8Array([...op.proto2, ...op.global('__builtin__', 'getattr'), ...op.stop]);
  refuses(
    () => readPth(pth(getattr), 'evil.pth'),
    'evil.pth: refused pickle global "__builtin__.getattr": a state dict only holds tensors',
  );
  const stackGlobal = new Uint8Array([0x80, 4, ...op.str('subprocess'), ...op.str('Popen'), 0x93, ...op.stop]);
  refuses(
    () => readPth(pth(stackGlobal), 'evil.pth'),
    'evil.pth: refused pickle global "subprocess.Popen": a state dict only holds tensors',
  );
  // An allowed name used in a way a state dict never does is refused too.
  const callStorage = new Uint8Array([...op.proto2, ...op.global('torch', 'FloatStorage'), ...op.emptyTuple, ...op.reduce, ...op.stop]);
  refuses(
    () => readPth(pth(callStorage), 'evil.pth'),
    /^evil\.pth: data\.pkl byte \d+ \(opcode 0x52\): "torch\.FloatStorage" is not callable here$/,
  );
  const inst = new Uint8Array([...op.proto2, 0x69, ...Buffer.from('os\nsystem\n'), ...op.stop]); // INST
  refuses(
    () => readPth(pth(inst), 'evil.pth'),
    'evil.pth: data.pkl byte 2 (opcode 0x69): unsupported pickle opcode (a state dict never uses it)',
  );
});

// ---------------------------------------------------------------------------------------------
// Hand-built archives: layout corners and errors

test('rebuilds strided views of hand-built storages, little- and big-endian', () => {
  const pickle = dictPickle([
    ['row', tensorPickle('0', 6, 3, [3], [1])],
    ['t', tensorPickle('0', 6, 0, [3, 2], [1, 3])],
  ]);
  const sd = readPth(pth(pickle, [['data/0', f32([0, 1, 2, 3, 4, 5])]]));
  assert.deepEqual([...sd.get('row')!.data], [3, 4, 5]);
  assert.deepEqual(sd.get('t')!.dims, [3, 2]);
  assert.deepEqual([...sd.get('t')!.data], [0, 3, 1, 4, 2, 5]);

  const be = new Uint8Array(f32([1.5, -2, 3]));
  for (let i = 0; i < be.length; i += 4) be.subarray(i, i + 4).reverse();
  const big = readPth(
    pth(dictPickle([['x', tensorPickle('0', 3, 0, [3], [1])]]), [
      ['data/0', be],
      ['byteorder', Buffer.from('big')],
    ]),
  );
  assert.deepEqual([...big.get('x')!.data], [1.5, -2, 3]);
});

test('reads deflated and ZIP64 archives (the fixture repacked)', (t) => {
  const path = fixturePath(PTH);
  if (!path) return t.skip(missingFixture(PTH));
  const bytes = readFileSync(path);
  const zip = openZip(bytes, path);
  const entries = [...zip.entries.values()].map((e): [string, Uint8Array] => [e.name, zip.read(e)]);
  const want = readPth(bytes, path);
  for (const opts of [{ deflate: true }, { zip64: true }, { deflate: true, zip64: true }]) {
    const got = readPth(makeZip(entries, opts), 'repacked.pth');
    assert.deepEqual([...got.keys()], [...want.keys()], JSON.stringify(opts));
    for (const [k, v] of want) assert.ok(sameTensor(got.get(k), v), `${k} ${JSON.stringify(opts)}`);
  }
});

test('error: a truncated .pth file', (t) => {
  const path = fixturePath(PTH);
  if (!path) return t.skip(missingFixture(PTH));
  const bytes = readFileSync(path);
  refuses(
    () => readPth(bytes.subarray(0, bytes.length >> 1), 'half.pth'),
    'half.pth: zip end-of-central-directory record not found (truncated or not a zip archive)',
  );
  refuses(() => readPth(bytes.subarray(0, bytes.length - 10), 'short.pth'), /^short\.pth: zip end-of-central-directory record not found/);
});

test('error: corrupt storage bytes fail the CRC check', () => {
  const bytes = pth(dictPickle([['x', tensorPickle('0', 2, 0, [2], [1])]]), [['data/0', f32([1, 2])]]);
  const at = Buffer.from(bytes).indexOf(Buffer.from(f32([1, 2])));
  bytes[at + 1]! ^= 0xff;
  refuses(() => readPth(bytes, 'bad.pth'), 'bad.pth: zip entry "archive/data/0" fails its CRC-32 check (corrupt file)');
});

test('error: a zip without data.pkl, a missing or short storage, a non-tensor entry', () => {
  refuses(
    () => readPth(makeZip([['a/version', Buffer.from('3\n')]]), 'x.pth'),
    'x.pth: zip archive has no data.pkl: not a torch.save file',
  );
  const one = dictPickle([['fc.weight', tensorPickle('7', 4, 0, [2, 2], [2, 1])]]);
  refuses(() => readPth(pth(one), 'x.pth'), 'x.pth: storage "data/7" of tensor "fc.weight" is missing from the archive');
  refuses(
    () => readPth(pth(one, [['data/7', f32([1, 2, 3])]]), 'x.pth'),
    'x.pth: storage "data/7" of tensor "fc.weight" holds 12 bytes, its 4 F32 elements need 16',
  );
  const outside = dictPickle([['fc.weight', tensorPickle('7', 4, 1, [2, 2], [2, 1])]]);
  refuses(
    () => readPth(pth(outside, [['data/7', f32([1, 2, 3, 4])]]), 'x.pth'),
    'x.pth: tensor "fc.weight" (size [2, 2], stride [2, 1], offset 1) reaches element 4 of storage "data/7", which holds 4',
  );
  const notTensor = dictPickle([['epoch', op.int(3)]]);
  refuses(() => readPth(pth(notTensor), 'x.pth'), 'x.pth: entry "epoch" is a number, expected a tensor');
  const truncated = dictPickle([['fc.weight', tensorPickle('7', 4, 0, [4], [1])]]).subarray(0, 40);
  refuses(
    () => readPth(pth(truncated), 'x.pth'),
    /^x\.pth: data\.pkl byte \d+ \(opcode 0x[0-9a-f]{2}\): needs \d+ more bytes but the pickle ends at 40 \(truncated\)$/,
  );
  refuses(() => loadPthFile('/nonexistent/x.pth'), '/nonexistent/x.pth: no such file');
});
