import { defineConfig } from 'vite';

// Cross-origin isolation (COOP + COEP) lets the page share memory with workers: llama.cpp's
// WebAssembly build then runs on several threads. Without these headers the app still works,
// on one thread. Production hosting must send the same two headers (see README.md).
const crossOriginIsolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  // Relative asset URLs: the built site works from any sub-path of a static host.
  base: './',
  server: { host: '127.0.0.1', port: 5173, strictPort: true, headers: crossOriginIsolation },
  preview: { host: '127.0.0.1', port: 4173, strictPort: true, headers: crossOriginIsolation },
  build: {
    target: 'es2022',
    // Never inline the runtime's WebAssembly (or anything else) into the JavaScript bundle.
    assetsInlineLimit: 0,
  },
});
