/**
 * Hostile `.pth` files: zips and pickles built to break the reader (truncations, lengths that run
 * past the end, CRC mismatches, a deflate bomb, phantom entries, huge declared sizes, views that
 * claim 10¹⁰ elements, NaN where an integer belongs) and a seeded fuzzer. Each is refused with a
 * one-line WeightFormatError that names the file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateRawSync } from 'node:zlib';
import { WeightFormatError } from '../errors.js';
import { Rng } from '../rng.js';
import { readPth } from './pth.js';
import { refuses } from '../../test/weights-helpers.js';
import { dictPickle, f32, ints, makeZip, op, pth, rebuildPickle, tensorPickle } from '../../test/pth-builders.js';

/** One tensor "x" = [1, 2] over storage data/0: entries data.pkl, data/0, version. */
const onePickle = (): Uint8Array => dictPickle([['x', tensorPickle('0', 2, 0, [2], [1])]]);
const good = (): Uint8Array => pth(onePickle(), [['data/0', f32([1, 2])]]);

/** Byte offsets in an archive from makeZip: the end record, and each entry's central record and local header. */
function layout(z: Uint8Array): { b: Buffer; eocd: number; central: number[]; local: number[] } {
  const b = Buffer.from(z.buffer, z.byteOffset, z.byteLength); // patches write through to z
  const eocd = b.length - 22;
  const zip64 = b.readUInt16LE(eocd + 10) === 0xffff ? Number(b.readBigUInt64LE(eocd - 20 + 8)) : -1; // makeZip's ZIP64 record
  const count = zip64 < 0 ? b.readUInt16LE(eocd + 10) : Number(b.readBigUInt64LE(zip64 + 32));
  const central: number[] = [];
  const local: number[] = [];
  for (let i = 0, at = zip64 < 0 ? b.readUInt32LE(eocd + 16) : Number(b.readBigUInt64LE(zip64 + 48)); i < count; i++) {
    central.push(at);
    const nameLen = b.readUInt16LE(at + 28);
    local.push(zip64 < 0 ? b.readUInt32LE(at + 42) : Number(b.readBigUInt64LE(at + 46 + nameLen + 4 + 16))); // ZIP64 extra: size, compressed size, offset
    at += 46 + nameLen + b.readUInt16LE(at + 30) + b.readUInt16LE(at + 32);
  }
  return { b, eocd, central, local };
}

/** `good()` with `edit` applied to its bytes. */
function patched(edit: (l: ReturnType<typeof layout>) => void, z = good()): Uint8Array {
  edit(layout(z));
  return z;
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** A message from the unpickler: `FILE: data.pkl byte N (opcode 0xOP): REST`. */
const pickleError = (opcode: string, rest: string): RegExp =>
  new RegExp(`^x\\.pth: data\\.pkl byte \\d+ \\(opcode 0x${opcode}\\): ${escape(rest)}$`);

test('the base archive reads (the hostile ones below differ from it in one place)', () => {
  assert.deepEqual([...readPth(good(), 'x.pth').get('x')!.data], [1, 2]);
  assert.deepEqual(
    [
      ...readPth(
        makeZip(
          [
            ['archive/data.pkl', onePickle()],
            ['archive/data/0', f32([1, 2])],
          ],
          { deflate: true },
        ),
      ).get('x')!.data,
    ],
    [1, 2],
  );
});

test('truncated archives: every prefix is refused with a one-line WeightFormatError', () => {
  const z = good();
  for (let n = 0; n < z.length; n++) {
    assert.throws(
      () => readPth(z.subarray(0, n), 'cut.pth'),
      (e: unknown) => e instanceof WeightFormatError && /^cut\.pth: [^\n]+$/.test(e.message),
      `prefix of ${n} bytes`,
    );
  }
  refuses(
    () => readPth(z.subarray(0, 100), 'x.pth'),
    'x.pth: zip end-of-central-directory record not found (truncated or not a zip archive)',
  );
  const { local } = layout(z);
  const holed = new Uint8Array([...z.subarray(0, local[1]! + 30), ...z.subarray(local[1]! + 38)]); // 8 bytes gone from the middle
  refuses(() => readPth(holed, 'x.pth'), /^x\.pth: zip central directory \[\d+, \d+\) runs past its end record at byte \d+: truncated\?$/);
  refuses(
    () =>
      readPth(
        patched(({ b, eocd }) => b.writeUInt32LE(b.readUInt32LE(eocd + 16) + 1000, eocd + 16)),
        'x.pth',
      ),
    /^x\.pth: zip central directory \[\d+, \d+\) runs past its end record at byte \d+: truncated\?$/,
  );
});

test('lengths that run past the end: extra fields, names', () => {
  refuses(
    () =>
      readPth(
        patched(({ b, central }) => b.writeUInt16LE(0xffff, central[1]! + 30)),
        'x.pth',
      ),
    'x.pth: zip entry "archive/data/0": its extra field and comment (65535 + 0 bytes) run past the end of the central directory',
  );
  refuses(
    () =>
      readPth(
        patched(({ b, central }) => b.writeUInt16LE(0xffff, central[2]! + 28)),
        'x.pth',
      ),
    'x.pth: zip central directory entry 2: its 65535-byte name runs past the end of the directory',
  );
  refuses(
    () =>
      readPth(
        patched(({ b, local }) => b.writeUInt16LE(0xffff, local[1]! + 28)),
        'x.pth',
      ),
    /^x\.pth: zip entry "archive\/data\/0": its local header's name and extra field \(14 \+ 65535 bytes\) run into the central directory at byte \d+$/,
  );
  refuses(
    () =>
      readPth(
        patched(({ b, local }) => b.writeUInt16LE(0xfff0, local[2]! + 26)),
        'x.pth',
      ),
    /^x\.pth: zip entry "archive\/version": its local header's name and extra field \(65520 \+ 0 bytes\) run into the central directory/,
  );
  // A ZIP64 extra field whose own length runs past the extra data, or stops short of a value it must hold.
  const zip64 = (): Uint8Array =>
    makeZip(
      [
        ['archive/data.pkl', onePickle()],
        ['archive/data/0', f32([1, 2])],
      ],
      { zip64: true },
    );
  refuses(
    () =>
      readPth(
        patched(({ b, central }) => b.writeUInt16LE(200, central[1]! + 46 + 14 + 2), zip64()),
        'x.pth',
      ),
    'x.pth: zip entry "archive/data/0": extra field 0x0001 (200 bytes) runs past the end of its extra data',
  );
  refuses(
    () =>
      readPth(
        patched(({ b, central }) => b.writeUInt16LE(8, central[1]! + 46 + 14 + 2), zip64()),
        'x.pth',
      ),
    'x.pth: zip entry "archive/data/0" has a short ZIP64 extra field (no compressed size)',
  );
  refuses(
    () =>
      readPth(
        patched(({ b, central }) => b.writeUInt16LE(0, central[1]! + 30), zip64()),
        'x.pth',
      ),
    'x.pth: zip entry "archive/data/0" has ZIP64 placeholders (0xffffffff) but no ZIP64 extra field',
  );
});

test('CRC mismatches: in the data, and between the local header and the central directory', () => {
  const crcBoth = (z: Uint8Array): Uint8Array =>
    patched(({ b, central, local }) => {
      b.writeUInt32LE(b.readUInt32LE(central[1]! + 16) ^ 1, central[1]! + 16);
      b.writeUInt32LE(b.readUInt32LE(local[1]! + 14) ^ 1, local[1]! + 14);
    }, z);
  refuses(() => readPth(crcBoth(good()), 'x.pth'), 'x.pth: zip entry "archive/data/0" fails its CRC-32 check (corrupt file)');
  const deflated = makeZip(
    [
      ['archive/data.pkl', onePickle()],
      ['archive/data/0', f32([1, 2])],
    ],
    { deflate: true },
  );
  refuses(() => readPth(crcBoth(deflated), 'x.pth'), 'x.pth: zip entry "archive/data/0" fails its CRC-32 check (corrupt file)');
  refuses(
    () =>
      readPth(
        patched(({ b, local }) => b.writeUInt32LE(b.readUInt32LE(local[1]! + 14) ^ 1, local[1]! + 14)),
        'x.pth',
      ),
    'x.pth: zip entry "archive/data/0": its local header\'s CRC-32 differs from the central directory\'s',
  );
  refuses(
    () =>
      readPth(
        patched(({ b, local }) => b.writeUInt32LE(7, local[1]! + 22)),
        'x.pth',
      ),
    'x.pth: zip entry "archive/data/0": its local header\'s sizes differ from the central directory\'s',
  );
});

test('a deflate bomb is stopped at its declared size; sizes past the limit or past what DEFLATE can give are refused unread', () => {
  const zeros = new Uint8Array(20_000_000);
  const bomb = (): Uint8Array =>
    makeZip(
      [
        ['archive/data.pkl', onePickle()],
        ['archive/data/0', zeros],
      ],
      { deflate: true },
    );
  const small = patched(({ b, central, local }) => {
    b.writeUInt32LE(1000, central[1]! + 24);
    b.writeUInt32LE(1000, local[1]! + 22);
  }, bomb());
  refuses(
    () => readPth(small, 'bomb.pth'),
    'bomb.pth: zip entry "archive/data/0" inflates to more than the 1000 bytes its directory declares (a zip bomb?)',
  );
  refuses(
    () => readPth(bomb(), 'bomb.pth', { maxInflatedBytes: 1 << 20 }),
    /^bomb\.pth: zip entry "archive\/data\/0" brings the archive's inflated size to \d+ bytes, over the limit of 1048576$/,
  );
  const huge = patched(
    ({ b, central, local }) => {
      b.writeUInt32LE(0xfffffff0, central[1]! + 24);
      b.writeUInt32LE(0xfffffff0, local[1]! + 22);
    },
    makeZip(
      [
        ['archive/data.pkl', onePickle()],
        ['archive/data/0', f32([1, 2])],
      ],
      { deflate: true },
    ),
  );
  refuses(
    () => readPth(huge, 'x.pth'),
    /^x\.pth: zip entry "archive\/data\/0" declares 4294967280 bytes inflated from \d+, more than DEFLATE's 1032:1 can give$/,
  );
  const short = makeZip(
    [
      ['archive/data.pkl', onePickle()],
      ['archive/data/0', f32([1, 2])],
    ],
    { deflate: true },
  );
  const shortened = patched(({ b, central, local }) => {
    b.writeUInt32LE(9, central[1]! + 24);
    b.writeUInt32LE(9, local[1]! + 22);
  }, short);
  refuses(() => readPth(shortened, 'x.pth'), 'x.pth: zip entry "archive/data/0" inflates to 8 bytes, its directory says 9');
  const raw = deflateRawSync(f32([1, 2]));
  refuses(
    () =>
      readPth(
        makeZip(
          [
            ['archive/data.pkl', onePickle()],
            ['archive/data/0', f32([1, 2])],
          ],
          { deflate: true },
        ).map((v, i, a) => {
          const at = Buffer.from(a).indexOf(raw);
          return i >= at && i < at + raw.length ? 0xff : v;
        }),
        'x.pth',
      ),
    /^x\.pth: zip entry "archive\/data\/0" does not inflate \(.+\)$/,
  );
});

test('huge declared sizes and counts are refused before anything is allocated', () => {
  refuses(
    () =>
      readPth(
        patched(({ b, central, local }) => {
          b.writeUInt32LE(0x7ffffff0, central[1]! + 20);
          b.writeUInt32LE(0x7ffffff0, central[1]! + 24);
          b.writeUInt32LE(0x7ffffff0, local[1]! + 18);
          b.writeUInt32LE(0x7ffffff0, local[1]! + 22);
        }),
        'x.pth',
      ),
    /^x\.pth: zip entry "archive\/data\/0" needs bytes \[\d+, \d+\) but the central directory starts at byte \d+: truncated\?$/,
  );
  refuses(
    () =>
      readPth(
        patched(({ b, eocd }) => {
          b.writeUInt16LE(0xfffe, eocd + 8);
          b.writeUInt16LE(0xfffe, eocd + 10);
        }),
        'x.pth',
      ),
    /^x\.pth: zip central directory of \d+ bytes cannot hold the 65534 entries it claims$/,
  );
  refuses(() => readPth(good(), 'x.pth', { maxEntries: 2 }), 'x.pth: zip archive lists 3 entries, over the limit of 2');
  const zip64 = makeZip([['archive/data.pkl', onePickle()]], { zip64: true });
  const rec = zip64.length - 22 - 20 - 56;
  refuses(
    () =>
      readPth(
        patched(({ b }) => b.writeBigUInt64LE(1n << 60n, rec + 32), zip64),
        'x.pth',
      ),
    'x.pth: zip entry count 1152921504606846976 is too large',
  );
  refuses(
    () =>
      readPth(
        patched(({ b, central }) => b.writeUInt16LE(12, central[1]! + 10)),
        'x.pth',
      ),
    'x.pth: zip entry "archive/data/0" uses compression method 12 (expected 0 = stored or 8 = deflate)',
  );
  refuses(
    () =>
      readPth(
        patched(({ b, central }) => b.writeUInt16LE(1, central[1]! + 8)),
        'x.pth',
      ),
    'x.pth: zip entry "archive/data/0" is encrypted',
  );
  refuses(
    () =>
      readPth(
        patched(({ b, eocd }) => b.writeUInt16LE(1, eocd + 4)),
        'x.pth',
      ),
    'x.pth: multi-disk zip archives are not supported',
  );
  refuses(
    () =>
      readPth(
        patched(({ b, eocd }) => b.writeUInt16LE(0xffff, eocd + 10)),
        'x.pth',
      ),
    'x.pth: multi-disk zip archives are not supported',
  );
  refuses(
    () =>
      readPth(
        patched(({ b, eocd }) => {
          b.writeUInt16LE(0xffff, eocd + 8);
          b.writeUInt16LE(0xffff, eocd + 10);
        }),
        'x.pth',
      ),
    'x.pth: ZIP64 end-of-central-directory locator not found',
  );
});

test('phantom entries: a name listed twice, a record pointing at another entry or inside its data', () => {
  const twice = makeZip([
    ['archive/data.pkl', onePickle()],
    ['archive/data/0', f32([1, 2])],
    ['archive/data/0', f32([3, 4])],
  ]);
  refuses(() => readPth(twice, 'x.pth'), 'x.pth: zip archive lists entry "archive/data/0" twice');
  refuses(
    () =>
      readPth(
        patched(({ b, central, local }) => b.writeUInt32LE(local[1]!, central[2]! + 42)),
        'x.pth',
      ),
    /^x\.pth: zip entry "archive\/version": its local header at byte \d+ names "archive\/data\/0"$/,
  );
  // A forged local header for data/0 hidden inside the data of another entry, and data/0's record pointing there.
  const storage = f32([1, 2]);
  const forged = makeZip([['archive/data/0', storage]]);
  const inner = forged.subarray(0, 30 + 'archive/data/0'.length + storage.length);
  const z = makeZip([
    ['archive/data.pkl', onePickle()],
    ['archive/pad', inner],
    ['archive/data/0', storage],
  ]);
  const { b, central, local } = layout(z);
  b.writeUInt32LE(local[1]! + 30 + 'archive/pad'.length, central[2]! + 42);
  refuses(
    () => readPth(z, 'x.pth'),
    /^x\.pth: zip entry "archive\/data\/0" starts at byte \d+, inside entry "archive\/pad" \(bytes \[\d+, \d+\)\): overlapping entries are refused$/,
  );
  refuses(
    () =>
      readPth(
        patched(({ b: p, eocd }) => {
          p.writeUInt16LE(2, eocd + 8);
          p.writeUInt16LE(2, eocd + 10);
        }),
        'x.pth',
      ),
    /^x\.pth: zip central directory has \d+ bytes left over after its 2 entries$/,
  );
});

test('a [100000, 100000] view with stride [0, 0] is refused by size, not by the typed-array constructor', () => {
  const big = dictPickle([['big', tensorPickle('0', 1, 0, [100000, 100000], [0, 0])]]);
  refuses(
    () => readPth(pth(big, [['data/0', f32([1])]]), 'x.pth'),
    'x.pth: tensor "big" (size [100000, 100000], stride [0, 0]) brings the tensors read to 40000000000 bytes, ' +
      'more than the limit maxWeightBytes is 268,435,456; raise it with GOOGLENET_MAX_WEIGHT_BYTES=N or setLimits({ maxWeightBytes: N })',
  );
  const small = dictPickle([['e', tensorPickle('0', 1, 0, [3, 4], [0, 0])]]);
  assert.deepEqual(
    [...readPth(pth(small, [['data/0', f32([7])]])).get('e')!.data],
    Array(12).fill(7),
    'a small broadcast view still reads',
  );
  refuses(
    () => readPth(pth(small, [['data/0', f32([7])]]), 'x.pth', { maxTensorBytes: 40 }),
    'x.pth: tensor "e" (size [3, 4], stride [0, 0]) brings the tensors read to 48 bytes, over the limit of 40 (option maxTensorBytes)',
  );
});

test('NaN, strings and negative numbers where the pickle needs a non-negative integer', () => {
  const read = (p: Parameters<typeof rebuildPickle>[0]): unknown =>
    readPth(pth(dictPickle([['x', rebuildPickle(p)]]), [['data/0', f32([1, 2])]]), 'x.pth');
  const base = { storage: '0', numel: op.int(2), offset: op.int(0), size: ints([2]), stride: ints([1]) };
  const rebuild = 'found offset';
  refuses(
    () => read({ ...base, offset: op.float(NaN) }),
    pickleError(
      '52',
      `_rebuild_tensor_v2 expects (storage, offset, size, stride) of non-negative integers, as many strides as sizes; ${rebuild} NaN, size (2), stride (1)`,
    ),
  );
  refuses(
    () => read({ ...base, size: [...op.mark, ...op.float(NaN), ...op.tuple] }),
    pickleError(
      '52',
      `_rebuild_tensor_v2 expects (storage, offset, size, stride) of non-negative integers, as many strides as sizes; ${rebuild} 0, size (NaN), stride (1)`,
    ),
  );
  refuses(
    () => read({ ...base, stride: [...op.mark, ...op.str('1'), ...op.tuple] }),
    pickleError(
      '52',
      `_rebuild_tensor_v2 expects (storage, offset, size, stride) of non-negative integers, as many strides as sizes; ${rebuild} 0, size (2), stride ("1")`,
    ),
  );
  refuses(
    () => read({ ...base, offset: op.int(-1) }),
    pickleError(
      '52',
      `_rebuild_tensor_v2 expects (storage, offset, size, stride) of non-negative integers, as many strides as sizes; ${rebuild} -1, size (2), stride (1)`,
    ),
  );
  refuses(
    () => read({ ...base, numel: op.float(NaN) }),
    pickleError(
      '51',
      'malformed storage persistent id ("storage", "torch.FloatStorage", "0", "cpu", NaN): expected a string key and a non-negative integer element count',
    ),
  );
  refuses(
    () => read({ ...base, numel: op.float(Infinity) }),
    pickleError(
      '51',
      'malformed storage persistent id ("storage", "torch.FloatStorage", "0", "cpu", Infinity): expected a string key and a non-negative integer element count',
    ),
  );
  // One storage read as two dtypes, and a second view claiming more of a storage than it holds.
  const twoTypes = dictPickle([
    ['a', tensorPickle('0', 2, 0, [2], [1])],
    ['b', tensorPickle('0', 2, 0, [2], [1], 'IntStorage')],
  ]);
  refuses(
    () => readPth(pth(twoTypes, [['data/0', f32([1, 2])]]), 'x.pth'),
    'x.pth: storage "data/0" is read as F32 by one tensor and as I32 by tensor "b"',
  );
  const longer = dictPickle([
    ['a', tensorPickle('0', 2, 0, [2], [1])],
    ['b', tensorPickle('0', 4, 0, [4], [1])],
  ]);
  refuses(
    () => readPth(pth(longer, [['data/0', f32([1, 2])]]), 'x.pth'),
    'x.pth: storage "data/0" of tensor "b" holds 8 bytes, its 4 F32 elements need 16',
  );
  // A name with a newline stays on one line.
  const newline = dictPickle([['evil\nname', op.int(3)]]);
  refuses(() => readPth(pth(newline), 'x.pth'), 'x.pth: entry "evil\\nname" is a number, expected a tensor');
});

test('fuzz: 4000 seeded mutations of stored, deflated and ZIP64 archives throw only one-line WeightFormatErrors', () => {
  const pickle = dictPickle([
    ['x', tensorPickle('0', 6, 1, [2, 2], [1, 2])],
    ['y', tensorPickle('1', 2, 0, [2], [1], 'LongStorage')],
  ]);
  const files: [string, Uint8Array][] = [
    ['archive/data.pkl', pickle],
    ['archive/data/0', f32([0, 1, 2, 3, 4, 5])],
    ['archive/data/1', new Uint8Array(16)],
  ];
  const bases = [
    makeZip(files),
    makeZip(files, { deflate: true }),
    makeZip(files, { zip64: true }),
    makeZip(files, { deflate: true, zip64: true }),
  ];
  for (const base of bases) assert.equal(readPth(base).size, 2);
  const rng = new Rng(9);
  const int = (n: number): number => Math.floor(rng.float() * n);
  let refused = 0;
  for (let i = 0; i < 4000; i++) {
    let z = new Uint8Array(bases[i % bases.length]!);
    for (let k = 1 + int(4); k > 0; k--) {
      const at = int(z.length);
      const r = int(10);
      if (r < 5) z[at] = int(256);
      else if (r < 7) z[at] = z[at]! ^ (1 << int(8));
      else if (r < 8) z = z.subarray(0, at);
      else if (r < 9) z = new Uint8Array([...z.subarray(0, at), ...z.subarray(at + 1 + int(8))]);
      else z = new Uint8Array([...z.subarray(0, at), 0xff, 0xff, 0xff, 0xff, ...z.subarray(at)]);
    }
    try {
      readPth(z, 'fuzz.pth', { maxTensorBytes: 1 << 20 });
    } catch (e) {
      assert.ok(e instanceof WeightFormatError, `mutation ${i}: ${String((e as Error).stack)}`);
      assert.match(e.message, /^fuzz\.pth: [^\n]+$/, `mutation ${i}`);
      assert.equal(e.file, 'fuzz.pth');
      refused++;
    }
  }
  assert.ok(refused > 2000, `${refused} of 4000 mutations refused`);
});
