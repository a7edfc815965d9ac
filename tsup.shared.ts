import { defineConfig, type Options } from 'tsup';

/**
 * The build of every library package: ESM + CJS + declarations for the given entries (default
 * `src/index.ts`), targeting Node 20. Extra options override.
 */
export function library(entry: Record<string, string> = { index: 'src/index.ts' }, extra: Options = {}) {
  return defineConfig({ entry, format: ['esm', 'cjs'], dts: true, sourcemap: true, clean: true, target: 'node20', ...extra });
}
