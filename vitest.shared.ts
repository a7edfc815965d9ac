import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';
import { readdirSync } from 'node:fs';

const packagesDir = fileURLToPath(new URL('./packages/', import.meta.url));

/**
 * Tests run against each package's TypeScript sources, not its build: `@fpt/<name>` and
 * `@fpt/<name>/node` resolve to `packages/<name>/src/{index,node}.ts`.
 */
const alias = readdirSync(packagesDir).flatMap((name) => [
  { find: new RegExp(`^@fpt/${name}/node$`), replacement: `${packagesDir}${name}/src/node.ts` },
  { find: new RegExp(`^@fpt/${name}$`), replacement: `${packagesDir}${name}/src/index.ts` },
]);

export default defineConfig({
  resolve: { alias },
  test: {
    setupFiles: [fileURLToPath(new URL('./test-setup.ts', import.meta.url))],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // The JSON report lets `scripts/test-summary.mjs` print one closing line for the whole repo.
    reporters: ['default', ['json', { outputFile: 'test-results.json' }]],
  },
});
