/**
 * googlenet-ts as other people consume it: packed (`npm pack`), installed with the README's
 * command (`ONNXRUNTIME_NODE_INSTALL=skip npm install`) into an app outside the repo, with the npm
 * registry as the only network, once at the lockfile's versions and once at the newest versions
 * the ranges allow (a new onnxruntime release that breaks us fails here, not in users' apps).
 * Each app: the CLI, ES-module and CommonJS use in Node, the declarations under TypeScript, and a
 * Vite and a webpack 5 build of `googlenet-ts/browser` run in headless Chromium, whose
 * classification must equal Node's. Skipped with a message when the registry is unreachable,
 * except in CI (CI=true), where that fails.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import type { Browser } from 'playwright-core';
import { launch, noBrowser, serve, type ServeOptions } from '../web/harness.js';
import { REPO, install, makeApp, pack, registryProblem, run, versions, type Mode } from './scratch.js';

interface Prediction {
  index: number;
  label: string;
  probability: number;
}
interface PageResult {
  backend?: { kind: string; threads: number; crossOriginIsolated: boolean };
  top?: Prediction[];
  error?: string;
}

const offline = registryProblem();
const inCI = Boolean(process.env['CI']);
/** The versions each app resolved, printed: what 'fresh' tested is in the log. */
const REPORTED = ['googlenet-ts', 'onnxruntime-node', 'onnxruntime-web', 'onnxruntime-common', 'sharp', 'fastify', 'vite', 'webpack'];
/** Seconds per step and mode, printed at the end: the CI budget watches these. */
const timings: string[] = [];

function timed<T extends { ms: number }>(what: string, r: T): T {
  timings.push(`${what} ${(r.ms / 1000).toFixed(1)} s`);
  return r;
}

function ok(r: { status: number | null; stdout: string; stderr: string }, what: string): void {
  assert.equal(r.status, 0, `${what} failed (exit ${r.status}):\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`);
}

/** Browser and Node give the same probabilities for every class (WebAssembly vs native kernels). */
function assertSameTop(browser: Prediction[] | undefined, node: Prediction[], where: string): void {
  assert.ok(browser, `${where}: no result`);
  assert.equal(browser.length, node.length, where);
  assert.equal(browser[0]?.index, node[0]?.index, `${where}: top-1 differs from Node's`);
  for (const p of browser) {
    const q = node.find((n) => n.index === p.index);
    assert.ok(
      q && Math.abs(p.probability - q.probability) <= 1e-5,
      `${where}: class ${p.index}: ${p.probability} vs Node's ${q?.probability}`,
    );
    assert.equal(p.label, q.label, where);
  }
}

const scratch = mkdtempSync(join(tmpdir(), 'googlenet-consumer-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

if (offline && inCI) {
  test('the npm registry is reachable (CI=true: the consumer tests must run)', () => assert.fail(offline));
}

describe('googlenet-ts as a dependency', { skip: offline && !inCI ? `the npm registry is unreachable (${offline})` : false }, () => {
  let tarball = '';
  before(() => {
    const t0 = performance.now();
    tarball = pack(scratch);
    timed('build + npm pack', { ms: performance.now() - t0 });
  });
  after(() => console.log(`# consumer timings: ${timings.join(', ')}`));

  for (const mode of ['locked', 'fresh'] as const) describe(mode, () => consumerApp(mode, () => tarball));
});

function consumerApp(mode: Mode, tarball: () => string): void {
  const app = join(scratch, mode);
  let nodeTop: Prediction[] = [];
  let nodeEngine: string | undefined;
  let browser: Browser | undefined;
  let warnings: string[] = [];

  before(async () => {
    assert.ok(!app.startsWith(REPO), 'the app lives outside the repo');
    await makeApp(app, tarball(), mode);
    const r = timed(`${mode}: npm install`, install(app, mode));
    ok(r, `${mode}: ONNXRUNTIME_NODE_INSTALL=skip npm install`);
    warnings = r.warnings;
    const v = versions(app, REPORTED);
    console.log(
      `# ${mode}: ${Object.entries(v)
        .map(([name, version]) => `${name}@${version}`)
        .join(' ')}`,
    );
  });
  after(async () => {
    await browser?.close();
    // Each app is about 600 MB: gone before the next one is installed.
    rmSync(app, { recursive: true, force: true });
  });

  test('npm install prints no warning of ours', () => {
    // cookie@2 (fastify's inject() helper, through light-my-request 6.8) asks for Node 22: the
    // repo overrides it, but a user's fresh resolve on Node 20 shows it (README: Install).
    const nodeMajor = Number(process.versions.node.split('.')[0]);
    const expected = (w: string): boolean => mode === 'fresh' && nodeMajor < 22 && w.startsWith('EBADENGINE cookie@2.');
    const rest = warnings.filter((w) => !expected(w));
    if (rest.length) console.log(`# ${mode}: npm warned: ${rest.join('; ')}`);
    // A fresh resolve may bring other packages' notices (deprecations): reported, not failed.
    if (mode === 'locked') assert.deepEqual(rest, [], 'the locked tree installs without a warning');
  });

  test('CLI: npx googlenet predict --weights fashion-mnist', () => {
    const r = timed(
      `${mode}: CLI`,
      run('npx', ['--no-install', 'googlenet', 'predict', '--weights', 'fashion-mnist', '--json', 'sample.png'], app),
    );
    ok(r, 'npx googlenet predict');
    const [first] = JSON.parse(r.stdout) as { file: string; top: Prediction[] }[];
    assert.equal(first?.top[0]?.label, 'Ankle boot');
  });

  test('Node, ES modules: load(), classify(), createTrainStep().step()', () => {
    const r = timed(`${mode}: node ESM`, run(process.execPath, ['node-esm.mjs'], app));
    ok(r, 'node node-esm.mjs');
    const out = JSON.parse(r.stdout) as { top: Prediction[]; step: { loss: number; correct: number } };
    assert.equal(out.top.length, 10);
    assert.equal(out.top[0]?.label, 'Ankle boot');
    assert.ok(Number.isFinite(out.step.loss) && out.step.loss > 0, `one step's loss: ${out.step.loss}`);
    nodeTop = out.top;
    nodeEngine = (out as { engine?: string }).engine;
  });

  test('googlenet-ts/advanced: the engine googlenet-ts installed (one copy of the modules)', () => {
    assert.match(nodeEngine ?? 'no result from node-esm.mjs', /^onnxruntime-node/);
  });

  test("Node, CommonJS: require('googlenet-ts')", () => {
    const r = timed(`${mode}: node CJS`, run(process.execPath, ['node-cjs.cjs'], app));
    ok(r, 'node node-cjs.cjs');
    const out = JSON.parse(r.stdout) as { top: Prediction[]; errorClass: string };
    assert.equal(out.errorClass, 'function');
    assert.deepEqual(out.top, nodeTop, 'require() and import give the same classifier');
  });

  test('TypeScript: the declarations type-check in the app (skipLibCheck off)', () => {
    const r = timed(
      `${mode}: tsc`,
      run(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], app),
    );
    ok(r, 'tsc -p tsconfig.json');
  });

  describe('web apps in headless Chromium', { skip: noBrowser() }, () => {
    before(async () => {
      browser = await launch();
    });

    test('Vite: vite build, no configuration', async (t) => {
      const r = timed(
        `${mode}: vite build`,
        run(process.execPath, [join(app, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--logLevel', 'warn'], join(app, 'vite')),
      );
      ok(r, 'vite build');
      await checkPage(t, join(app, 'vite', 'dist'), `${mode}/vite`);
    });

    test('webpack 5: webpack.config.mjs with nothing about ONNX Runtime', async (t) => {
      const r = timed(`${mode}: webpack`, run(process.execPath, ['build.mjs'], join(app, 'webpack')));
      ok(r, 'webpack');
      await checkPage(t, join(app, 'webpack'), `${mode}/webpack`);
      // wasmPaths: the runtime's files from another origin, as from a CDN (with CORS headers).
      const cdn = await serve({}, { root: join(app, 'node_modules', 'onnxruntime-web', 'dist'), cdn: true });
      try {
        await checkPage(t, join(app, 'webpack'), `${mode}/webpack, wasmPaths on another origin`, {
          query: `?wasmPaths=${encodeURIComponent(cdn.url)}`,
        });
      } finally {
        await cdn.close();
      }
    });
  });

  async function checkPage(t: TestContext, root: string, where: string, o: { query?: string } = {}): Promise<void> {
    assert.ok(browser, 'Chromium started');
    assert.ok(nodeTop.length, "Node's result comes first");
    for (const isolated of [true, false]) {
      const mounts = { models: join(app, 'node_modules', 'googlenet-ts', 'models'), 'sample.png': join(app, 'sample.png') };
      const server = await serve(mounts, { root, isolated } satisfies ServeOptions);
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(e.message));
      try {
        const t0 = performance.now();
        await page.goto(`${server.url}${o.query ?? ''}`);
        const label = `${where} (${isolated ? 'cross-origin isolated' : 'not isolated'})`;
        await page
          .waitForFunction(() => (window as unknown as { result?: unknown }).result !== undefined, null, { timeout: 120_000 })
          .catch((e: unknown) =>
            assert.fail(`${label}: no result in 120 s (${String(e)}); the page said: ${errors.join(' | ') || 'nothing'}`),
          );
        const r = await page.evaluate(() => (window as unknown as { result: PageResult }).result);
        assert.equal(r.error, undefined, `${label}: ${r.error}`);
        assertSameTop(r.top, nodeTop, label);
        assert.equal(r.backend?.crossOriginIsolated, isolated, label);
        if (isolated) assert.ok((r.backend?.threads ?? 0) >= 2, `${label}: ${r.backend?.threads} thread(s)`);
        else assert.equal(r.backend?.threads, 1, label);
        assert.deepEqual(errors, [], `${label}: console errors`);
        t.diagnostic(`${label}: ${r.backend?.kind}, ${r.backend?.threads} thread(s), ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      } finally {
        await page.close();
        await server.close();
      }
    }
  }
}
