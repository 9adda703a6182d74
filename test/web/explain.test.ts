/**
 * Explanations in the page against Node: the Grad-CAM map the page computes (onnxruntime-web) is
 * Node's (onnxruntime-node) within 1e-4, for the top class and for a clicked one; the overlay on
 * the screen, read back from a screenshot of the preview, is `overlayExplanation` of Node's map
 * over the same picture; the branch panel's shares and the Architecture view's module click give
 * Node's branch shares. Screenshots go to test-artifacts/web/.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import sharp from 'sharp';
import { IMAGENET_MEAN, IMAGENET_STD } from '../../src/image/normalize.js';
import { decodeImageFile, load, overlayExplanation, type Explanation, type NodeClassifier } from '../../src/index.js';
import { ARTIFACTS, ensureBuilt, launch, loadModelUrl, noBrowser, openPage, serve, type StaticServer, type Watched } from './harness.js';
import { colourPicture, exportWeb, makeModelDir, relErr } from './fixtures.js';

const skip = noBrowser();
if (skip) console.log(`skipping the browser tests: ${skip}`);

interface PageExplanation {
  classIndex: number;
  layer: string;
  cam: number[];
  camWidth: number;
  camHeight: number;
  overlay?: { x: number; y: number; width: number; height: number };
  branches?: { module: string; names: string[]; shares: number[] };
  ms: number;
}
type Demo = {
  demo: {
    classifications: number;
    lastClassification?: { ms: { inference: number } };
    lastExplanation?: PageExplanation;
    lastBranches?: { module: string; names: string[]; shares: number[]; ms: number };
  };
};
const PRE = { resize: 36, crop: 32 };

describe('explanations in the page', { skip, timeout: 900_000 }, () => {
  let server: StaticServer;
  let browser: Browser;
  let w: Watched;
  let tmp: string;
  let pic: string;
  let node: NodeClassifier;

  before(async () => {
    ensureBuilt();
    mkdirSync(ARTIFACTS, { recursive: true });
    tmp = mkdtempSync(join(tmpdir(), 'googlenet-web-explain-'));
    makeModelDir(
      join(tmp, 'src'),
      { preset: 'cifar', numClasses: 10, inChannels: 3, inputSize: 32, width: 0.25 },
      {
        ...PRE,
        mean: [...IMAGENET_MEAN],
        std: [...IMAGENET_STD],
      },
    );
    exportWeb(join(tmp, 'src'), join(tmp, 'www', 'rgb'));
    pic = join(tmp, 'colour.png');
    await colourPicture(pic);
    node = await load(join(tmp, 'src'));
    server = await serve({ fixtures: join(tmp, 'www') });
    browser = await launch();
    w = await openPage(browser, server.url);
    await w.page.waitForFunction(() => (window as unknown as { demo: { modelLoads: number } }).demo.modelLoads > 0);
    await loadModelUrl(w.page, '/fixtures/rgb/', 60_000);
  });
  after(async () => {
    await node?.dispose();
    await browser?.close();
    await server?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** Runs `act` and waits for the page's next classification; returns its explanation. */
  async function next(act: () => Promise<unknown>): Promise<PageExplanation | undefined> {
    const n = await w.page.evaluate(() => (window as unknown as Demo).demo.classifications);
    await act();
    await w.page.waitForFunction((k) => (window as unknown as Demo).demo.classifications > k, n, { timeout: 60_000 });
    return w.page.evaluate(() => (window as unknown as Demo).demo.lastExplanation);
  }

  const nodeExplain = async (options: Parameters<NodeClassifier['explain']>[1]): Promise<Explanation> =>
    (await node.explain(pic, options))[0]!;

  test('the Grad-CAM toggle: the map of Node, drawn on screen as overlayExplanation draws it (screenshot)', async () => {
    // One picture without explanation (the forward pass alone), then the same picture explained, twice (the second is warm).
    await next(() => w.page.setInputFiles('#file-input', pic));
    assert.equal(await next(() => w.page.setInputFiles('#file-input', pic)), undefined, 'no explanation until asked');
    const forwardMs = await w.page.evaluate(() => (window as unknown as Demo).demo.lastClassification!.ms.inference);
    await next(() => w.page.click('#cam-toggle'));
    const e = (await next(() => w.page.setInputFiles('#file-input', pic)))!;
    const ref = await nodeExplain({});
    assert.equal(e.layer, 'inception5b');
    assert.equal(e.classIndex, ref.classIndex);
    assert.deepEqual([e.camWidth, e.camHeight], [ref.cam.width, ref.cam.height]);
    const err = relErr(e.cam, [...ref.cam.data]);
    console.log(
      `Grad-CAM ${e.camWidth}×${e.camHeight}: relative error ${err.toExponential(2)} against Node; ${e.ms.toFixed(1)} ms (the forward pass alone ${forwardMs.toFixed(1)} ms)`,
    );
    assert.ok(
      ref.cam.data.some((v) => v > 0),
      'a map with some evidence',
    );
    assert.ok(err <= 1e-4, `relative error ${err}`);
    // A screenshot around the preview canvas, aligned to its pixels (the layout may put the canvas
    // at a fractional position, which the compositor snaps), against Node's overlay.
    const o = e.overlay!;
    const want = overlayExplanation(await decodeImageFile(pic), ref.cam, PRE, { width: o.width, height: o.height });
    const box = (await w.page.locator('#preview').boundingBox())!;
    const clip = { x: Math.floor(box.x), y: Math.floor(box.y), width: o.width + 6, height: o.height + 6 };
    const shot = await sharp(await w.page.screenshot({ clip }))
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    // Every pixel but the four corners that the canvas' 8 px rounded border clips.
    const corner = (v: number, size: number): boolean => v < 8 || v >= size - 8;
    const compare = (dx: number, dy: number): { max: number; mean: number } => {
      let [max, sum, count] = [0, 0, 0];
      for (let y = 0; y < o.height; y++) {
        for (let x = 0; x < o.width; x++) {
          if (corner(x, o.width) && corner(y, o.height)) continue;
          count++;
          for (let k = 0; k < 3; k++) {
            const d = Math.abs(
              shot.data[((y + o.y + dy) * shot.info.width + x + o.x + dx) * 3 + k]! - want.data[(y * o.width + x) * 3 + k]!,
            );
            max = Math.max(max, d);
            sum += d;
          }
        }
      }
      return { max, mean: sum / (count * 3) };
    };
    const best = [0, 1, 2, 3, 4, 5, 6]
      .flatMap((dx) => [0, 1, 2, 3, 4, 5, 6].map((dy) => compare(dx, dy)))
      .reduce((a, b) => (b.mean < a.mean ? b : a));
    console.log(`overlay on screen against Node's: max difference ${best.max}, mean ${best.mean.toFixed(3)} (of 255)`);
    assert.ok(best.max <= 2 && best.mean <= 0.05, `max ${best.max}, mean ${best.mean}`);
    await w.page.screenshot({ path: join(ARTIFACTS, 'explain-classify.png'), fullPage: true });
    assert.match((await w.page.textContent('#cam-info')) ?? '', /Grad-CAM of “class \d” \(\d+\.\d%\) at inception5b \(8×8\)/);
    assert.deepEqual(w.errors, []);
  });

  test('a clicked class, another layer, and the branch panel: Node’s map and shares', async () => {
    const other = await w.page.evaluate(() => Number(document.querySelectorAll<HTMLElement>('#top5 li[data-index]')[2]!.dataset.index));
    const clicked = (await next(() => w.page.click('#top5 li:nth-child(3)')))!;
    assert.equal(clicked.classIndex, other);
    assert.ok(relErr(clicked.cam, [...(await nodeExplain({ classIndex: other })).cam.data]) <= 1e-4);
    const layered = (await next(() => w.page.selectOption('#cam-layer', 'inception4c')))!;
    assert.equal(layered.layer, 'inception4c');
    assert.ok(relErr(layered.cam, [...(await nodeExplain({ classIndex: other, layer: 'inception4c' })).cam.data]) <= 1e-4);
    const withBranches = (await next(() => w.page.click('#branch-details summary')))!;
    const ref = (await nodeExplain({ classIndex: other, layer: 'inception4c', branches: 'inception4a' })).branches!;
    assert.equal(withBranches.branches!.module, 'inception4a');
    assert.deepEqual(withBranches.branches!.names, ['branch1', 'branch2', 'branch3', 'branch4']);
    assert.ok(
      relErr(
        withBranches.branches!.shares,
        ref.branches.map((b) => b.share),
      ) <= 1e-4,
    );
    assert.equal(await w.page.locator('#branch-bars .bbar').count(), 4);
    await w.page.screenshot({ path: join(ARTIFACTS, 'explain-branches.png'), fullPage: true });
    // The panel alone (Grad-CAM off): the same shares, the picture without an overlay.
    const panelOnly = (await next(() => w.page.click('#cam-toggle')))!;
    assert.equal(panelOnly.overlay, undefined);
    assert.ok(
      relErr(
        panelOnly.branches!.shares,
        ref.branches.map((b) => b.share),
      ) <= 1e-4,
    );
    assert.doesNotMatch((await w.page.textContent('#cam-info')) ?? '', /Grad-CAM of/);
    assert.deepEqual(w.errors, []);
  });

  test('Architecture view: clicking a module shows its branches for the current picture (Node’s shares; screenshot)', async () => {
    await w.page.click('#tab-architecture');
    await w.page.click('.inception[data-layer="inception3b"] .ihead');
    await w.page.waitForFunction(() => (window as unknown as Demo).demo.lastBranches?.module === 'inception3b', undefined, {
      timeout: 60_000,
    });
    const b = (await w.page.evaluate(() => (window as unknown as Demo).demo.lastBranches))!;
    const ref = (await nodeExplain({ branches: 'inception3b' })).branches!;
    assert.ok(
      relErr(
        b.shares,
        ref.branches.map((x) => x.share),
      ) <= 1e-4,
    );
    assert.equal(await w.page.locator('.inception[data-layer="inception3b"] .branch-acts .bbar').count(), 4);
    console.log(
      `inception3b branches for the picture in ${b.ms.toFixed(1)} ms: ${b.shares.map((s) => `${(100 * s).toFixed(1)}%`).join(' ')}`,
    );
    await w.page.locator('.inception[data-layer="inception3b"]').screenshot({ path: join(ARTIFACTS, 'explain-architecture.png') });
    assert.deepEqual(w.errors, []);
  });
});
