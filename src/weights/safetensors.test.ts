import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { numel } from '../tensor.js';
import {
  loadSafetensorsFile,
  parseSafetensors,
  readSafetensors,
  saveSafetensorsFile,
  writeSafetensors,
  type StoredTensor,
} from './safetensors-node.js';

import { fixturePath, missingFixture } from '../../test/fixtures.js';
import { PYTHON, matchesSummary, python, refuses, withTmp, type TensorSummaries } from '../../test/weights-helpers.js';

const ST = 'googlenet-tv-aux10.safetensors';
const hasNumpy = spawnSync(PYTHON, ['-c', 'import numpy, torch'], { stdio: 'ignore' }).status === 0;
const NO_NUMPY = `${PYTHON} cannot import numpy and torch (install python3-torch)`;

/** A safetensors file from a header object (unpadded) and data bytes. */
function craft(header: unknown, data: Uint8Array = new Uint8Array(0), headerText = JSON.stringify(header)): Uint8Array {
  const json = Buffer.from(headerText);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

test('reads the torchvision GoogLeNet safetensors fixture: keys, dtypes, parameter count', (t) => {
  const path = fixturePath(ST);
  if (!path) return t.skip(missingFixture(ST));
  const { tensors, metadata } = parseSafetensors(readFileSync(path), path);
  assert.equal(tensors.size, 364);
  let params = 0;
  let counters = 0;
  for (const [key, v] of tensors) {
    assert.equal(v.data.length, numel(v.dims), key);
    assert.equal(v.data.byteOffset, 0, `${key} owns an aligned buffer`);
    if (key.endsWith('num_batches_tracked')) {
      counters++;
      assert.deepEqual([v.dtype, v.dims, v.data.constructor], ['I64', [], BigInt64Array]);
    } else {
      assert.ok(v.dtype === 'F32' && v.data instanceof Float32Array, key);
      if (!/running_(mean|var)$/.test(key)) params += v.data.length;
    }
  }
  assert.equal(params, 9_960_638);
  assert.ok(counters > 0);
  assert.deepEqual(tensors.get('aux1.fc1.weight')?.dims, [1024, 2048]);
  assert.equal(typeof metadata, 'object');
});

test('the safetensors fixture matches an independent numpy reading', (t) => {
  const path = fixturePath(ST);
  if (!path) return t.skip(missingFixture(ST));
  if (!hasNumpy) return t.skip(NO_NUMPY);
  const ref = JSON.parse(
    python(
      `
import json, struct, sys, numpy as np
raw = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', raw[:8])[0]
header = json.loads(raw[8:8 + n])
types = {'F32': '<f4', 'I64': '<i8'}
out = {}
for k, v in header.items():
  if k == '__metadata__': continue
  b, e = v['data_offsets']
  a = np.frombuffer(raw[8 + n + b:8 + n + e], dtype=types[v['dtype']]).astype(np.float64)
  out[k] = [v['shape'], a.sum(), np.abs(a).max() if a.size else 0, a[:3].tolist()]
print(json.dumps(out))
`,
      path,
    ),
  ) as TensorSummaries;
  const sd = loadSafetensorsFile(path);
  matchesSummary(sd, ref);
});

test('round trip: every dtype, scalars, empty tensors and metadata survive write → read', () => {
  const tensors: Record<string, StoredTensor> = {
    f32: { dtype: 'F32', dims: [2, 3], data: Float32Array.of(1.5, -2, 3.25, 0, -0, 1e-30) },
    f64: { dtype: 'F64', dims: [2], data: Float64Array.of(Math.PI, -1e300) },
    i64: { dtype: 'I64', dims: [3], data: BigInt64Array.of(-(2n ** 62n), 0n, 2n ** 40n + 1n) },
    i32: { dtype: 'I32', dims: [1, 2], data: Int32Array.of(-3, 2 ** 31 - 1) },
    u8: { dtype: 'U8', dims: [3], data: Uint8Array.of(0, 7, 255) },
    scalar: { dtype: 'I64', dims: [], data: BigInt64Array.of(613n) },
    empty: { dtype: 'F32', dims: [0, 4], data: new Float32Array(0) },
    odd: { dtype: 'U8', dims: [5], data: Uint8Array.of(1, 2, 3, 4, 5) }, // unaligns what follows
    after: { dtype: 'F64', dims: [1], data: Float64Array.of(2.5) },
  };
  const meta = { format: 'pt', note: 'ünïcode ✓' };
  const bytes = writeSafetensors(tensors, meta);
  const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(headerLen % 8, 0, 'header padded to 8 bytes');
  const back = parseSafetensors(bytes);
  assert.deepEqual(back.metadata, meta);
  assert.deepEqual(Object.fromEntries(back.tensors), tensors);
  // A Map writes the same bytes as a Record.
  assert.deepEqual(writeSafetensors(new Map(Object.entries(tensors)), meta), bytes);
});

test('F16 and BF16: written rounded to nearest even, read back widened to F32', () => {
  const xs = Float32Array.of(0, -0, 1, -2.5, 65504, 1e6, -1e6, 2 ** -24, 2 ** -26, 1 + 2 ** -11, 1 + 3 * 2 ** -11, NaN, Infinity);
  const bytes = writeSafetensors({ h: { dtype: 'F16', dims: [xs.length], data: xs }, b: { dtype: 'BF16', dims: [xs.length], data: xs } });
  const sd = readSafetensors(bytes);
  assert.deepEqual(sd.get('h'), {
    dtype: 'F32',
    dims: [xs.length],
    data: Float32Array.of(0, -0, 1, -2.5, 65504, Infinity, -Infinity, 2 ** -24, 0, 1, 1 + 2 ** -9, NaN, Infinity),
  });
  const b = sd.get('b')!;
  assert.equal(b.dtype, 'F32');
  assert.deepEqual([...b.data].slice(0, 4), [0, -0, 1, -2.5]);
  assert.equal(b.data[4], 65536); // 65504 needs 11 significant bits; bfloat16 keeps 8
  assert.ok(Number.isNaN(b.data[11]));
});

test('F16/BF16 conversions agree bit for bit with numpy and torch', (t) => {
  if (!hasNumpy) return t.skip(NO_NUMPY);
  withTmp((dir) => {
    // Every half bit pattern read; random and edge float32 values written.
    const halves = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const rnd = new Float32Array(4096);
    const bits = new Uint32Array(rnd.buffer);
    for (let i = 0; i < bits.length; i += 2) bits[i] = (Math.random() * 2 ** 32) >>> 0; // any float32
    for (let i = 1; i < rnd.length; i += 2) rnd[i] = (Math.random() - 0.5) * 2 ** (Math.floor(Math.random() * 46) - 28); // half's range
    rnd.set([0, -0, 65504, 65519.99, 65520, 2 ** -25, 2 ** -25 * 1.0001, 3 * 2 ** -26, 1 + 2 ** -11, 1 + 2 ** -8]);
    writeFileSync(join(dir, 'f32.bin'), rnd);
    const out = JSON.parse(
      python(
        `
import json, sys, numpy as np, torch
d = sys.argv[1]
h = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32)
x = np.fromfile(d + '/f32.bin', dtype='<f4')
x = x[np.isfinite(x) | np.isinf(x)]
f16 = x.astype(np.float16).view(np.uint16)
bf16 = torch.from_numpy(x.copy()).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
print(json.dumps({'read': h.view(np.uint32).tolist(), 'f16': f16.tolist(), 'bf16': bf16.tolist()}))
`,
        dir,
      ),
    ) as { read: number[]; f16: number[]; bf16: number[] };

    const readBack = readSafetensors(
      craft({ h: { dtype: 'F16', shape: [65536], data_offsets: [0, 131072] } }, new Uint8Array(halves.buffer)),
    );
    const readBits = new Uint32Array((readBack.get('h')!.data as Float32Array).buffer);
    for (let i = 0; i < 65536; i++) {
      const nan = (i & 0x7c00) === 0x7c00 && (i & 0x3ff) !== 0;
      if (nan) assert.ok(Number.isNaN(readBack.get('h')!.data[i]), `half 0x${i.toString(16)}`);
      else assert.equal(readBits[i], out.read[i], `half 0x${i.toString(16)}`);
    }

    const finite = rnd.filter((v) => !Number.isNaN(v));
    const written = writeSafetensors({
      h: { dtype: 'F16', dims: [finite.length], data: finite },
      b: { dtype: 'BF16', dims: [finite.length], data: finite },
    });
    const start = 8 + Number(new DataView(written.buffer).getBigUint64(0, true));
    const h = new Uint16Array(written.slice(start, start + 2 * finite.length).buffer);
    const bf = new Uint16Array(written.slice(start + 2 * finite.length).buffer);
    assert.deepEqual([...h], out.f16);
    assert.deepEqual([...bf], out.bf16);
  });
});

test('returned arrays are aligned copies, never views of the file', () => {
  // An unpadded 3-byte-odd header puts the F32 data at an unaligned offset.
  const data = new Uint8Array(Float32Array.of(1, 2, 3).buffer);
  const bytes = craft(
    { x: { dtype: 'F32', shape: [3], data_offsets: [0, 12] }, z: { dtype: 'U8', shape: [0], data_offsets: [12, 12] } },
    data,
  );
  assert.notEqual((bytes.length - 12) % 4, 0, 'data starts unaligned');
  const x = readSafetensors(bytes).get('x')!;
  assert.deepEqual([...x.data], [1, 2, 3]);
  assert.equal(x.data.byteOffset, 0);
  bytes.fill(0);
  assert.deepEqual([...x.data], [1, 2, 3]);
});

test('errors: truncated, corrupt header, bad entries, out-of-range and overlapping offsets', () => {
  const f = 'model.safetensors';
  refuses(
    () => readSafetensors(new Uint8Array(5), f),
    'model.safetensors: truncated: 5 bytes, a safetensors file starts with an 8-byte header length',
  );
  const good = writeSafetensors({ 'fc.weight': { dtype: 'F32', dims: [2, 2], data: new Float32Array(4) } });
  refuses(
    () => readSafetensors(good.subarray(0, 40), f),
    /^model\.safetensors: header length \d+ runs past the end of the file \(40 bytes\): truncated or not safetensors$/,
  );
  refuses(() => readSafetensors(craft(null, undefined, '{"a": [1, 2'), f), /^model\.safetensors: header is not valid JSON \(.+\)$/);
  refuses(() => readSafetensors(craft([1, 2]), f), 'model.safetensors: header is an array, expected a JSON object');
  refuses(
    () => readSafetensors(craft({ __metadata__: { step: 3 } }), f),
    'model.safetensors: "__metadata__" entry "step" is a number, expected a string',
  );

  const zeros = new Uint8Array(4096);
  const entry = (e: object): Uint8Array => craft({ 'fc.weight': e }, zeros);
  refuses(
    () => readSafetensors(entry({ dtype: 'F32', shape: [10, 1024], data_offsets: [0, 4096] }), f),
    'model.safetensors: tensor "fc.weight" needs 40960 bytes (F32 [10, 1024]) but its offsets span 4096',
  );
  refuses(
    () => readSafetensors(entry({ dtype: 'I16', shape: [2], data_offsets: [0, 4] }), f),
    'model.safetensors: tensor "fc.weight" has unsupported dtype "I16" (expected one of F64, I64, F32, I32, F16, BF16, U8, I8, BOOL)',
  );
  refuses(
    () => readSafetensors(entry({ dtype: 'F32', shape: [2, -1], data_offsets: [0, 4] }), f),
    'model.safetensors: tensor "fc.weight" shape [2,-1] is not a list of non-negative integers',
  );
  refuses(
    () => readSafetensors(entry({ dtype: 'F32', shape: [2] }), f),
    'model.safetensors: tensor "fc.weight" data_offsets undefined is not a pair [begin, end] of non-negative integers',
  );
  refuses(
    () => readSafetensors(entry({ dtype: 'F32', shape: [2], data_offsets: [4096, 4104] }), f),
    'model.safetensors: tensor "fc.weight" data_offsets [4096, 4104] lie outside the 4096 data bytes',
  );
  refuses(
    () => readSafetensors(craft({ 'fc.weight': 7 }, zeros), f),
    'model.safetensors: tensor "fc.weight" is a number, expected { dtype, shape, data_offsets }',
  );
  refuses(
    () =>
      readSafetensors(
        craft(
          {
            'fc.weight': { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
            'fc.bias': { dtype: 'F32', shape: [2], data_offsets: [8, 16] },
          },
          zeros,
        ),
        f,
      ),
    'model.safetensors: tensors "fc.weight" [0, 16] and "fc.bias" [8, 16] overlap',
  );
});

test('writer errors name the tensor and what was expected', () => {
  refuses(
    () => writeSafetensors({ w: { dtype: 'F32', dims: [2, 3], data: new Float32Array(5) } }),
    '<memory>: tensor "w" dims [2, 3] need 6 values but data has 5',
  );
  refuses(
    () => writeSafetensors({ w: { dtype: 'I64', dims: [2], data: new Float32Array(2) } }),
    '<memory>: tensor "w" is I64 but its data is a Float32Array, expected a BigInt64Array',
  );
  refuses(
    () => writeSafetensors({ __metadata__: { dtype: 'U8', dims: [0], data: new Uint8Array(0) } }),
    '<memory>: "__metadata__" is reserved and cannot name a tensor',
  );
});

test('saveSafetensorsFile writes atomically and loadSafetensorsFile reads it back', () => {
  withTmp((dir) => {
    const path = join(dir, 'w.safetensors');
    const t1 = { a: { dtype: 'F32' as const, dims: [2], data: Float32Array.of(1, 2) } };
    saveSafetensorsFile(path, t1, { step: '1' });
    saveSafetensorsFile(path, new Map([['b', { dtype: 'I32' as const, dims: [1], data: Int32Array.of(9) }]]));
    assert.deepEqual(readdirSync(dir), ['w.safetensors'], 'no temporary file left behind');
    assert.deepEqual(Object.fromEntries(loadSafetensorsFile(path)), { b: { dtype: 'I32', dims: [1], data: Int32Array.of(9) } });
    assert.throws(() => saveSafetensorsFile(join(dir, 'missing', 'x.safetensors'), t1), /ENOENT/);
    assert.deepEqual(readdirSync(dir), ['w.safetensors']);
    refuses(() => loadSafetensorsFile(join(dir, 'nope.safetensors')), `${join(dir, 'nope.safetensors')}: no such file`);
  });
});

test('refuses duplicate keys, holes and trailing bytes, as the safetensors format requires (issue 12)', () => {
  const four = new Uint8Array(8);
  const entry = (a: number, b: number): unknown => ({ dtype: 'F32', shape: [1], data_offsets: [a, b] });
  // JSON.parse keeps the last "w" silently; the header's text has it twice.
  const dupText = `{"w":${JSON.stringify(entry(0, 4))},"w":${JSON.stringify(entry(4, 8))}}`;
  assert.throws(() => parseSafetensors(craft(null, four, dupText), 'dup.st'), /dup\.st: header names tensor "w" twice/);
  assert.throws(() => parseSafetensors(craft({ w: entry(0, 4) }, four), 'tail.st'), /4 trailing bytes after the last tensor's data/);
  assert.throws(() => parseSafetensors(craft({ w: entry(4, 8) }, four), 'hole.st'), /data bytes \[0, 4\) belong to no tensor/);
  // Keys that only look alike, and nested objects, are not duplicates.
  const ok = craft({ __metadata__: { w: 'x' }, w: entry(0, 4), 'w\u0000': entry(4, 8) }, four);
  assert.equal(parseSafetensors(ok, 'ok.st').tensors.size, 2);
});

test('a CRC-32 of the tensor data: written on request, verified on read; files without one still load (issue 12)', () => {
  const tensors = new Map<string, StoredTensor>([['w', { dtype: 'F32', dims: [4], data: Float32Array.of(1, 2, 3, 4) }]]);
  const bytes = writeSafetensors(tensors, { producer: 'test' }, { checksum: true });
  const { metadata } = parseSafetensors(bytes, 'ok.st');
  assert.match(metadata['googlenet-ts.crc32']!, /^[0-9a-f]{8}$/);
  assert.equal(metadata['producer'], 'test');
  const flipped = bytes.slice();
  flipped[flipped.length - 3]! ^= 0x10; // one bit of the last float
  assert.throws(
    () => parseSafetensors(flipped, 'flip.st'),
    /flip\.st: checksum mismatch \(CRC-32 of the tensor data is [0-9a-f]{8}, the header says [0-9a-f]{8}\): the file is damaged/,
  );
  const old = writeSafetensors(tensors, { producer: 'test' });
  assert.deepEqual(parseSafetensors(old, 'old.st').tensors.get('w')!.data, Float32Array.of(1, 2, 3, 4));
});
