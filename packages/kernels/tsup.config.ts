import { library } from '../../tsup.shared';

// shims: import.meta.url in the CJS build, to find the native addon beside dist/.
export default library({ index: 'src/index.ts' }, { shims: true });
