import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', node: 'src/node.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  // tfjs-core's gradient registrations are ESM files with extension-less imports that Node cannot
  // load directly; bundling them here makes the import work from ESM and CJS alike. They register
  // into tfjs's global registry, so the copy is shared with the user's tfjs-core.
  noExternal: [/@tensorflow\/tfjs-core\/dist\/register_all_gradients/],
});
