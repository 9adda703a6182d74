/**
 * Shared by the browser tests: builds the page once (scripts/web-assets.mjs + vite build into
 * web-dist/), serves it from 127.0.0.1 with COOP/COEP headers (plus extra folders mounted for
 * test models and pictures), and launches Debian's headless Chromium through playwright-core.
 */
import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, ConsoleMessage, Page } from 'playwright-core';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
const DIST = join(REPO, 'web-dist');
export const ARTIFACTS = join(REPO, 'test-artifacts', 'web');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** The skip reason when no browser is installed (tests pass `{ skip: noBrowser() }`). */
export function noBrowser(): string | false {
  return existsSync(CHROMIUM)
    ? false
    : `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium) to run the browser tests`;
}

function newest(dir: string): number {
  let t = 0;
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'public' || name.startsWith('.')) continue;
    const p = join(dir, name);
    const s = statSync(p);
    t = Math.max(t, s.isDirectory() ? newest(p) : s.mtimeMs);
  }
  return t;
}

let built = false;
/** Builds web-dist/ unless it is newer than every source file (or GOOGLENET_WEB_PREBUILT=1). */
export function ensureBuilt(): void {
  if (built) return;
  const run = (args: string[]): void => {
    const r = spawnSync(process.execPath, args, { cwd: REPO, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  };
  run(['scripts/web-assets.mjs', '--quiet']);
  const index = join(DIST, 'index.html');
  const stale =
    !existsSync(index) ||
    statSync(index).mtimeMs < Math.max(newest(join(REPO, 'web')), newest(join(REPO, 'src')), newest(join(REPO, 'web', 'public')));
  if (stale && process.env.GOOGLENET_WEB_PREBUILT !== '1') {
    run([join(REPO, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', 'web/vite.config.ts', '--logLevel', 'warn']);
  }
  built = true;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.txt': 'text/plain',
  '.safetensors': 'application/octet-stream',
  '.gz': 'application/gzip',
};

export interface StaticServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export interface ServeOptions {
  /** The folder served at `/`. Default `DIST`, the built page. */
  root?: string;
  /** Send COOP/COEP, which make the page cross-origin isolated (threaded WebAssembly). Default true. */
  isolated?: boolean;
  /** Answer other origins as a CDN does (`Access-Control-Allow-Origin: *`, CORP `cross-origin`). */
  cdn?: boolean;
}

/** Serves `root` at `/` and each `mounts[prefix]` folder (or file) at `/prefix/` (`/prefix`). */
export async function serve(mounts: Record<string, string> = {}, o: ServeOptions = {}): Promise<StaticServer> {
  const headers: Record<string, string> = { 'Cache-Control': 'no-store' };
  if (o.isolated ?? true) {
    headers['Cross-Origin-Opener-Policy'] = 'same-origin';
    headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
  }
  headers['Cross-Origin-Resource-Policy'] = o.cdn ? 'cross-origin' : 'same-origin';
  if (o.cdn) headers['Access-Control-Allow-Origin'] = '*';
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    let root = o.root ?? DIST;
    let rel = path;
    for (const [prefix, dir] of Object.entries(mounts)) {
      if (path.startsWith(`/${prefix}/`)) {
        root = dir;
        rel = path.slice(prefix.length + 1);
      } else if (path === `/${prefix}`) {
        root = dirname(dir);
        rel = `/${basename(dir)}`;
      }
    }
    const file = normalize(join(root, rel.endsWith('/') ? `${rel}index.html` : rel));
    if ((!file.startsWith(resolve(root) + sep) && file !== resolve(root)) || !existsSync(file) || statSync(file).isDirectory()) {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' });
      res.end('not found');
      return;
    }
    res.writeHead(200, {
      ...headers,
      'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
      'Content-Length': statSync(file).size,
    });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    server,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export async function launch(extraArgs: string[] = []): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      ...extraArgs,
    ],
  });
}

export interface Watched {
  page: Page;
  /** Console errors and uncaught exceptions so far. */
  errors: string[];
  /** Every request that left 127.0.0.1. */
  external: string[];
}

/** A new page that records console errors, page errors and requests to other hosts. */
export async function openPage(browser: Browser, url: string, initScript?: () => void): Promise<Watched> {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1360, height: 900 } });
  const page = await context.newPage();
  if (initScript) await page.addInitScript(initScript);
  const errors: string[] = [];
  const external: string[] = [];
  page.on('console', (m: ConsoleMessage) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (!['127.0.0.1', ''].includes(u.hostname) && !['data:', 'blob:'].includes(u.protocol)) external.push(r.url());
  });
  page.setDefaultTimeout(120_000);
  await page.goto(url);
  await page.waitForFunction(() => (window as unknown as { demo?: { ready?: unknown } }).demo?.ready !== undefined);
  await page.evaluate(() => (window as unknown as { demo: { ready: Promise<void> } }).demo.ready);
  return { page, errors, external };
}

/**
 * Loads a model in the page through "Load from URL…" (a model directory or a .pth/.safetensors
 * URL) and waits until the page has finished with it, loaded or failed.
 */
export async function loadModelUrl(page: Page, url: string, timeout = 300_000): Promise<void> {
  type Loads = { demo: { modelLoads: number } };
  const n = await page.evaluate(() => (window as unknown as Loads).demo.modelLoads);
  await page.evaluate(() => ((document.querySelector('details.advanced') as HTMLDetailsElement).open = true));
  await page.fill('#model-url', url);
  await page.click('#model-url-form button');
  await page.waitForFunction((k) => (window as unknown as Loads).demo.modelLoads > k, n, { timeout });
}
