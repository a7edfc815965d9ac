import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

/**
 * One module graph for tsc and vitest: `@fpt/*` resolves to the packages' TypeScript sources through
 * the `paths` of tsconfig.base.json, which both read (vite's `resolve.tsconfigPaths`). Neither the
 * type-check nor the tests need a build; only the bench's tests, which run its built CLI, do.
 */
export default defineConfig({
  resolve: { tsconfigPaths: true },
  test: {
    setupFiles: [fileURLToPath(new URL('./test-setup.ts', import.meta.url))],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // The JSON report lets `scripts/test-summary.mjs` print one closing line for the whole repo.
    reporters: ['default', ['json', { outputFile: 'test-results.json' }]],
  },
});
