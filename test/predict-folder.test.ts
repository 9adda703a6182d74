/**
 * `googlenet predict DIR…` end to end: JSON Lines equal to predicting the files one by one (and
 * byte for byte the same whether decoder threads or the main thread decode, `--workers 0`),
 * --recursive, an unreadable file skipped with a warning (or the end with --on-error stop),
 * --resume after a run cut short mid-line (no file redone or duplicated), --features to
 * safetensors, and the one-line errors of a folder with no images and an unwritable output.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import '../src/runtime/engine-node.js';
import { GoogLeNet } from '../src/models/model.js';
import { loadSafetensorsFile } from '../src/weights/safetensors-node.js';
import { saveModelDir } from '../src/weights/model-dir-node.js';
import { cliAsync, type Run } from './cli-run.js';

let tmp: string;
let model: string;
let dir: string;
interface Line {
  file: string;
  top: { index: number; probability: number }[];
  logits?: number[];
}
const lines = (text: string): Line[] =>
  text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Line);

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'googlenet-folder-'));
  model = join(tmp, 'model');
  saveModelDir(new GoogLeNet({ preset: 'cifar', width: 0.25, numClasses: 10 }, { seed: 4 }), model);
  dir = join(tmp, 'photos');
  mkdirSync(join(dir, 'sub'), { recursive: true });
  mkdirSync(join(tmp, 'empty'));
  for (let i = 0; i < 23; i++) {
    const where = i < 20 ? dir : join(dir, 'sub');
    await sharp({
      create: { width: 30 + i, height: 28, channels: 3, background: { r: (i * 37) % 256, g: (i * 91) % 256, b: (i * 53) % 256 } },
    })
      .toFormat(i % 2 ? 'png' : 'jpeg')
      .toFile(join(where, `img${String(i).padStart(2, '0')}.${i % 2 ? 'png' : 'jpg'}`));
  }
  writeFileSync(join(dir, 'broken.jpg'), 'not a jpeg');
  writeFileSync(join(dir, 'notes.txt'), 'not an image, not listed');
});
after(() => rmSync(tmp, { recursive: true, force: true }));

function ok(r: Run, what: string): void {
  assert.equal(r.status, 0, `${what}:\n${r.stderr}`);
}

test('predict DIR: JSON Lines in file order, equal to per-file predict; --recursive; unreadable skipped with a warning', async () => {
  const out = join(tmp, 'a.jsonl');
  const onMain = join(tmp, 'a-main.jsonl');
  const [folder, rec, single, main] = await Promise.all([
    cliAsync(['predict', dir, '--model', model, '--out', out, '--batch', '4', '--logits', '--top-k', '2', '--workers', '2']),
    cliAsync(['predict', dir, '--model', model, '--recursive', '--batch', '16']),
    cliAsync(['predict', join(dir, 'img00.jpg'), join(dir, 'img07.png'), '--model', model, '--json', '--logits', '--top-k', '2']),
    cliAsync(['predict', dir, '--model', model, '--out', onMain, '--batch', '4', '--logits', '--top-k', '2', '--workers', '0']),
  ]);
  ok(folder, 'folder');
  ok(main, 'decoding on the main thread');
  // Decoder threads and the main thread give the same bytes.
  assert.equal(readFileSync(out, 'utf8'), readFileSync(onMain, 'utf8'));
  assert.equal(main.stderr.replace(/[\d.]+ img\/s/, ''), folder.stderr.replace(/[\d.]+ img\/s/, '').replace(out, onMain));
  ok(rec, 'recursive');
  ok(single, 'single');
  const got = lines(readFileSync(out, 'utf8'));
  assert.deepEqual(
    got.map((l) => l.file),
    Array.from({ length: 20 }, (_, i) => join(dir, `img${String(i).padStart(2, '0')}.${i % 2 ? 'png' : 'jpg'}`)),
  );
  assert.match(folder.stderr, /googlenet: warning: skipped .*broken\.jpg: not a decodable image/);
  assert.match(folder.stderr, /googlenet predict: 20 images \(1 unreadable skipped\)/);
  const want = JSON.parse(single.stdout) as Line[];
  for (const w of want) {
    const g = got.find((l) => l.file === w.file)!;
    assert.deepEqual(
      g.top.map((t) => t.index),
      w.top.map((t) => t.index),
    );
    g.logits!.forEach((v, i) => assert.ok(Math.abs(v - w.logits![i]!) < 1e-5, `${w.file} logit ${i}`));
  }
  const all = lines(rec.stdout);
  assert.equal(all.length, 23);
  assert.ok(all.slice(20).every((l) => l.file.includes(`${join(dir, 'sub')}`)));
});

test('--resume after a run cut short mid-line finishes without redoing or duplicating files', async () => {
  const full = join(tmp, 'full.jsonl');
  ok(await cliAsync(['predict', dir, '--model', model, '--out', full]), 'full');
  const text = readFileSync(full, 'utf8');
  const partial = join(tmp, 'partial.jsonl');
  const cut = text.split('\n').slice(0, 7).join('\n') + '\n' + text.split('\n')[7]!.slice(0, 25);
  writeFileSync(partial, cut);
  const r = await cliAsync(['predict', dir, '--model', model, '--out', partial, '--resume']);
  ok(r, 'resume');
  assert.match(r.stderr, /13 images \(1 unreadable skipped, 7 already done\)/);
  assert.deepEqual(
    lines(readFileSync(partial, 'utf8')).map((l) => [l.file, l.top[0]!.index]),
    lines(text).map((l) => [l.file, l.top[0]!.index]),
  );
});

test('--features pool5 writes one row per image to safetensors, with the file names', async () => {
  const out = join(tmp, 'emb.safetensors');
  ok(await cliAsync(['predict', dir, '--model', model, '--features', 'pool5', '--out', out]), 'features');
  const t = loadSafetensorsFile(out).get('pool5')!;
  assert.equal(t.dims[0], 20);
  assert.equal(t.dims.length, 2);
  const bytes = readFileSync(out);
  const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8')) as {
    __metadata__: { files: string };
  };
  assert.deepEqual((JSON.parse(header.__metadata__.files) as string[]).slice(0, 2), [join(dir, 'img00.jpg'), join(dir, 'img01.png')]);
});

test('predict folders: bad input is one line and exit 1', async () => {
  const cases: [string[], RegExp][] = [
    [['predict', join(tmp, 'empty'), '--model', model], /^googlenet: no images in .*empty \(sub-folders are read with --recursive\)$/],
    [
      ['predict', dir, '--model', model, '--out', join(tmp, 'nope', 'r.jsonl')],
      /^googlenet: .*nope\/r\.jsonl: cannot write the results \(ENOENT\)$/,
    ],
    [
      ['predict', dir, '--model', model, '--on-error', 'stop', '--out', join(tmp, 's.jsonl')],
      /^googlenet: .*broken\.jpg: not a decodable image/,
    ],
    [['predict', dir, '--model', model, '--on-error', 'maybe'], /^googlenet: --on-error expects skip or stop, received "maybe"$/],
    [
      ['predict', dir, '--model', model, '--workers', 'many'],
      /^googlenet: --workers expects an integer in \[0, \d+\] \(at most four per core\), received "many"$/,
    ],
    [['predict', dir, '--model', model, '--features', 'pool5'], /^googlenet: --features: give --out FILE\.safetensors/],
    [['predict', join(tmp, 'missing'), '--model', model, '--recursive'], /^googlenet: .*missing: no such file or folder$/],
  ];
  const runs: Run[] = [];
  for (let i = 0; i < cases.length; i += 3) runs.push(...(await Promise.all(cases.slice(i, i + 3).map(([a]) => cliAsync(a)))));
  runs.forEach((r, i) => {
    assert.equal(r.status, 1, `${cases[i]![0].join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.split('\n').length, 2, r.stderr);
    assert.match(r.stderr.trimEnd(), cases[i]![1]);
  });
});
