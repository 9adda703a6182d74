/**
 * The demo page: `npm run web` (dev server), `npm run build:web` (static files in web-dist/).
 * COOP/COEP make the page cross-origin isolated, which multi-threaded WebAssembly needs
 * (SharedArrayBuffer); every asset is served from the page's own origin.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

const repo = fileURLToPath(new URL('..', import.meta.url));

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  publicDir: 'public',
  build: {
    outDir: fileURLToPath(new URL('../web-dist', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 2048,
    reportCompressedSize: false,
  },
  // onnxruntime-web finds its .wasm next to its own module (`new URL(…, import.meta.url)`), which
  // `vite build` follows; the dev server's pre-bundling would move the module away from its files.
  optimizeDeps: { exclude: ['onnxruntime-web', 'onnxruntime-web/webgpu'] },
  server: { headers: isolation, fs: { allow: [repo] }, host: '127.0.0.1' },
  preview: { headers: isolation, host: '127.0.0.1' },
});
