import { defineConfig, mergeConfig } from 'vitest/config';
import shared from '../../vitest.shared.ts';

// The browser tests: Node drives Debian's chromium against the built app (run `vite build` first;
// turbo's `test` task depends on `build`).
export default mergeConfig(shared, defineConfig({ test: { testTimeout: 300_000, hookTimeout: 120_000 } }));
