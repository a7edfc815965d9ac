import { defineConfig } from 'vite';

// COOP/COEP make the page cross-origin isolated (what WASM threads need, see src/backend.ts for
// why they are off for now); they also forbid loading anything cross-origin that does not opt in.
const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

export default defineConfig({
  server: { headers: isolation },
  preview: { headers: isolation },
  build: { target: 'es2022', chunkSizeWarningLimit: 4096 },
});
