/**
 * Torchvision state dicts by URL in the page (no internet: the test's own server on 127.0.0.1).
 * A real torchvision .pth (torch.save of torchvision's googlenet, 10 classes, random O(1)
 * weights) named with its own SHA-256 prefix is loaded through the page's "Load from URL…":
 * progress reported, logits equal to Node's `load({ weights: FILE })` for the same picture, a
 * second load from the Cache API while the server refuses the file, a corrupted copy refused with
 * the expected and received hash and not cached, and the mirror option.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { load } from '../../src/index.js';
import { ensureBuilt, loadModelUrl, launch, noBrowser, openPage, serve, type StaticServer, type Watched } from './harness.js';
import { colourPicture, relErr } from './fixtures.js';

const PYTHON = '/usr/bin/python3';

// torchvision's googlenet with weights that keep activations near unit scale (so that logit
// parity means something): He-normal convs, random batch-norm affine parameters and statistics.
const MAKE_PTH = `
import sys, math, torch, torchvision
torch.manual_seed(0)
m = torchvision.models.googlenet(num_classes=10, aux_logits=False, init_weights=True)
with torch.no_grad():
    for mod in m.modules():
        if isinstance(mod, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(mod.weight, nonlinearity='relu')
        elif isinstance(mod, torch.nn.BatchNorm2d):
            mod.weight.uniform_(0.5, 1.5); mod.bias.normal_(0, 0.1)
            mod.running_mean.normal_(0, 0.1); mod.running_var.uniform_(0.5, 1.5)
        elif isinstance(mod, torch.nn.Linear):
            mod.weight.normal_(0, 1 / math.sqrt(mod.in_features)); mod.bias.normal_(0, 0.1)
torch.save(m.state_dict(), sys.argv[1])
`;

const skip =
  noBrowser() ||
  (spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { encoding: 'utf8' }).status === 0
    ? false
    : `needs python3-torch and python3-torchvision at ${PYTHON}`);
if (skip) console.log(`skipping the browser weights tests: ${skip}`);

type Demo = {
  demo: {
    modelLoads: number;
    modelProgress: [number, number][];
    classifications: number;
    model?: { name: string; url: string; params: number; config: { numClasses: number } };
    lastClassification?: { logits: number[] };
    backend?: { kind: string; label: string };
  };
};

describe('torchvision weights by URL in the page', { skip, timeout: 900_000 }, () => {
  let server: StaticServer;
  let browser: Browser;
  let w: Watched;
  let tmp: string;
  let name: string;
  let sha: string;
  let bytes: Buffer;
  let picture: string;
  let nodeLogits: number[];
  const weightRequests: string[] = [];

  before(async () => {
    ensureBuilt();
    tmp = mkdtempSync(join(tmpdir(), 'googlenet-web-weights-'));
    const raw = join(tmp, 'raw.pth');
    const py = spawnSync(PYTHON, ['-c', MAKE_PTH, raw], { encoding: 'utf8' });
    assert.equal(py.status, 0, py.stderr);
    bytes = readFileSync(raw);
    sha = createHash('sha256').update(bytes).digest('hex');
    name = `googlenet-tv10-${sha.slice(0, 8)}.pth`;
    mkdirSync(join(tmp, 'files'));
    renameSync(raw, join(tmp, 'files', name));
    // The same name with one byte flipped: its hash no longer matches the prefix in its name.
    mkdirSync(join(tmp, 'corrupt'));
    writeFileSync(join(tmp, 'corrupt', name), Buffer.from(bytes.map((b, i) => (i === 1000 ? b ^ 0xff : b))));
    picture = join(tmp, 'colour.png');
    await colourPicture(picture, 301, 233);
    // Node's answer for the same file and picture.
    const net = await load({ weights: join(tmp, 'files', name), numClasses: 10 });
    nodeLogits = Array.from((await net.infer(picture)).logits!.data as Float32Array);
    await net.dispose();
    server = await serve({ files: join(tmp, 'files'), corrupt: join(tmp, 'corrupt'), mirror: join(tmp, 'files') });
    browser = await launch();
    w = await openPage(browser, server.url);
    w.page.on('request', (r) => {
      if (r.url().endsWith('.pth')) weightRequests.push(r.url());
    });
    await w.page.waitForFunction(() => (window as unknown as Demo).demo.modelLoads > 0);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const loadUrl = (page: Watched['page'], url: string): Promise<void> => loadModelUrl(page, url);

  async function classify(): Promise<number[]> {
    const n = await w.page.evaluate(() => (window as unknown as Demo).demo.classifications);
    await w.page.setInputFiles('#file-input', picture);
    await w.page.waitForFunction((k) => (window as unknown as Demo).demo.classifications > k, n, { timeout: 300_000 });
    return w.page.evaluate(() => (window as unknown as Demo).demo.lastClassification!.logits);
  }

  const cachedUrls = (): Promise<string[]> =>
    w.page.evaluate(async () => (await (await caches.open('googlenet-ts-weights')).keys()).map((r) => r.url));

  test('a .pth URL loads with progress and gives the logits of Node’s load({ weights: FILE })', async () => {
    await loadUrl(w.page, `files/${name}`);
    assert.equal(await w.page.isHidden('#model-error'), true, (await w.page.textContent('#model-error')) ?? '');
    const d = await w.page.evaluate(() => (window as unknown as Demo).demo);
    assert.equal(d.model!.config.numClasses, 10, 'the classes are read from the file');
    assert.ok(d.modelProgress.length > 1, `progress reports: ${JSON.stringify(d.modelProgress)}`);
    assert.deepEqual(d.modelProgress.at(-1), [bytes.length, bytes.length]);
    assert.ok(d.modelProgress.every(([a, b], i) => b === bytes.length && (i === 0 || a >= d.modelProgress[i - 1]![0])));
    const page = await classify();
    const err = relErr(page, nodeLogits);
    console.log(
      `${name}: page vs Node relative error ${err.toExponential(2)} on ${d.backend?.label} (logits ‖·‖ ${Math.hypot(...nodeLogits).toFixed(3)})`,
    );
    assert.equal(page.length, 10);
    assert.ok(err <= 1e-5, `relative error ${err}`);
    assert.deepEqual(await cachedUrls(), [`${server.url}files/${name}`]);
    assert.deepEqual(weightRequests, [`${server.url}files/${name}`]);
    assert.deepEqual(w.errors, []);
  });

  test('a second load reads the Cache API while the server refuses the file', async () => {
    renameSync(join(tmp, 'files', name), join(tmp, 'moved.pth'));
    const status = await w.page.evaluate(async (u) => (await fetch(u)).status, `files/${name}`);
    assert.equal(status, 404, 'the server no longer has the file');
    weightRequests.length = 0;
    w.errors.length = 0; // the browser logs the 404 just provoked
    await loadUrl(w.page, `files/${name}`);
    assert.equal(await w.page.isHidden('#model-error'), true, (await w.page.textContent('#model-error')) ?? '');
    assert.deepEqual(weightRequests, [], 'no request for the weights');
    const d = await w.page.evaluate(() => (window as unknown as Demo).demo.modelProgress);
    assert.deepEqual(d, [[bytes.length, bytes.length]]);
    assert.ok(relErr(await classify(), nodeLogits) <= 1e-5);
    renameSync(join(tmp, 'moved.pth'), join(tmp, 'files', name));
    assert.deepEqual(w.errors, []);
  });

  test('a corrupted file is refused with the expected and received hash, and not cached', async () => {
    const before = await w.page.evaluate(() => (window as unknown as Demo).demo.model!.url);
    await loadUrl(w.page, `corrupt/${name}`);
    const msg = (await w.page.textContent('#model-error')) ?? '';
    assert.equal(await w.page.isVisible('#model-error'), true);
    const bad = createHash('sha256')
      .update(readFileSync(join(tmp, 'corrupt', name)))
      .digest('hex');
    assert.match(msg, new RegExp(`${name}: SHA-256 mismatch: expected ${sha.slice(0, 8)}…, received ${bad}`));
    assert.match(msg, /not cached/);
    assert.deepEqual(await cachedUrls(), [`${server.url}files/${name}`]);
    assert.equal(await w.page.evaluate(() => (window as unknown as Demo).demo.model!.url), before, 'the previous model stays');
    assert.deepEqual(w.errors, []);
  });

  test('?mirror= serves an unreachable origin’s file name from this site, with the hash check', async () => {
    const m = await openPage(browser, `${server.url}?mirror=${encodeURIComponent(`${server.url}mirror/`)}`);
    try {
      await m.page.waitForFunction(() => (window as unknown as Demo).demo.modelLoads > 0);
      await loadUrl(m.page, `https://weights.invalid/models/${name}`);
      assert.equal(await m.page.isHidden('#model-error'), true, (await m.page.textContent('#model-error')) ?? '');
      assert.equal(await m.page.evaluate(() => (window as unknown as Demo).demo.model!.config.numClasses), 10);
      assert.deepEqual(m.external, [], 'nothing fetched from the origin');
      assert.deepEqual(m.errors, []);
    } finally {
      await m.page.context().close();
    }
  });

  test('a .pth URL that 404s says so and keeps the previous model', async () => {
    await loadUrl(w.page, 'files/googlenet-missing-12345678.pth');
    const msg = (await w.page.textContent('#model-error')) ?? '';
    assert.match(msg, /googlenet-missing-12345678\.pth: HTTP 404( Not Found)? while fetching the weights/);
    assert.ok(
      w.errors.every((e) => /404/.test(e)),
      w.errors.join('\n'),
    );
    assert.deepEqual(w.external, []);
  });
});
