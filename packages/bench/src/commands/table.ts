import { aucConvention } from '../metrics/convention';
import { renderResults } from '../results/render';
import { parseArgs } from './args';

/** `fpt-bench table` usage. */
export const TABLE_USAGE = 'fpt-bench table DIR [--auc logits|probabilities]';

/**
 * `fpt-bench table DIR [--auc logits|probabilities]`: re-renders `table.md`, `table.csv` and the
 * plots of a results folder from its result files alone, and prints the table. `--auc` picks the
 * AUC shown (default: the one the runs selected their checkpoints by).
 * @returns the exit code
 */
export async function tableCommand(argv: string[], print: (line: string) => void = console.log): Promise<number> {
  const args = parseArgs(argv, ['auc']);
  const [dir, ...extra] = args.positional;
  if (!dir || extra.length) {
    print(`usage: ${TABLE_USAGE}   (DIR: the --out folder of fpt-bench run)`);
    return 2;
  }
  const auc = args.options.auc === undefined ? undefined : aucConvention(args.options.auc);
  const { markdown, files } = await renderResults(dir, auc);
  print(markdown);
  print(`wrote ${files.length} files under ${dir}`);
  return 0;
}
