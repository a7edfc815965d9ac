import { aucConvention } from '../metrics/convention';
import { readGridFile } from '../results/grid-file';
import { renderResults, reportMissingRuns } from '../results/render';
import { parseArgs } from './args';

/** `fpt-bench table` usage. */
export const TABLE_USAGE = 'fpt-bench table DIR [--auc logits|probabilities]';

/**
 * `fpt-bench table DIR [--auc logits|probabilities]`: re-renders `table.md`, `table.csv` and the
 * plots of a results folder from its result files alone, and prints the table. `--auc` picks the
 * AUC shown (default: the one the runs selected their checkpoints by). Runs of the grid recorded
 * in `grid.json` that have no result are listed (on the terminal and under the table) and make
 * the exit code 1, as in `fpt-bench merge`.
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
  const grid = readGridFile(dir);
  const { markdown, files, results } = await renderResults(dir, auc);
  print(markdown);
  print(`wrote ${files.length} files under ${dir}`);
  const found = new Set(results.map((r) => r.id));
  const missing = (grid?.runs ?? []).filter((id) => !found.has(id)).sort();
  return reportMissingRuns(dir, markdown, missing, found.size, 'the grid recorded in grid.json', 'fpt-bench table', print);
}
