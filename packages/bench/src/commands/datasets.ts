import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DATASET_PRESETS, defaultDataRoot } from '../data/presets';
import { scanDataset } from '../data/validate';
import { parseArgs } from './args';

/**
 * `fpt-bench datasets [--data-root DIR]`: the dataset presets (classes, learning rate) and what the
 * data root holds, with image counts per split or the problems found.
 * @returns the exit code
 */
export function datasetsCommand(argv: string[], print: (line: string) => void = console.log): number {
  const args = parseArgs(argv, ['data-root']);
  const root = args.options['data-root'] ?? defaultDataRoot();
  const present = existsSync(root)
    ? readdirSync(root)
        .filter((d) => statSync(join(root, d)).isDirectory())
        .sort()
    : [];
  print(`data root: ${root}${existsSync(root) ? '' : ' (not found)'}`);
  print('');
  print(`${'dataset'.padEnd(14)}${'classes'.padStart(8)}${'lr'.padStart(9)}  ${'modality'.padEnd(31)}found`);
  const describe = (name: string, classes?: number) => {
    if (!present.includes(name)) return 'not found';
    const scan = scanDataset(join(root, name), classes);
    const [first] = scan.problems;
    if (!scan.dataset) return `${scan.problems.length} problem(s)${first ? `: ${first.path}: ${first.problem}` : ''}`;
    const s = scan.dataset.splits;
    return `train ${s.train.length}, val ${s.val.length}, test ${s.test.length} [${scan.dataset.classes.join(', ')}]`;
  };
  for (const p of DATASET_PRESETS) {
    print(
      `${p.name.padEnd(14)}${String(p.classes).padStart(8)}${p.lr.toExponential(0).padStart(9)}  ${`${p.modality}${p.embedded ? ' (embedded)' : ''}`.padEnd(31)}${describe(p.name, p.classes)}`,
    );
  }
  const others = present.filter((d) => !DATASET_PRESETS.some((p) => p.name === d));
  for (const name of others) print(`${name.padEnd(14)}${'-'.padStart(8)}${'-'.padStart(9)}  ${'(no preset)'.padEnd(31)}${describe(name)}`);
  return 0;
}
