import { library } from '../../tsup.shared';

// tfjs-core's gradient registrations are ESM files with extension-less imports that Node cannot
// load directly; bundling them here makes the import work from ESM and CJS alike. They register
// into tfjs's global registry, so the copy is shared with the user's tfjs-core.
export default library(
  { index: 'src/index.ts', node: 'src/node.ts' },
  { noExternal: [/@tensorflow\/tfjs-core\/dist\/register_all_gradients/] },
);
