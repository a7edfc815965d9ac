import { library } from '../../tsup.shared';

export default library({ index: 'src/index.ts', node: 'src/node.ts' });
