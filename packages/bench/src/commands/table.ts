import { readGridFile } from '../results/grid-file';
import { renderResults, reportMissingRuns } from '../results/render';

/**
 * `fpt-bench table DIR`: re-renders `table.md`, `table.csv` and the plots of a results folder from
 * its result files alone, and prints the table. Runs of the grid recorded in `grid.json` that have
 * no result are listed (on the terminal and under the table) and make the exit code 1, as in
 * `fpt-bench merge`.
 * @returns the exit code
 */
export async function tableCommand(argv: string[], print: (line: string) => void = console.log): Promise<number> {
  const [dir, ...extra] = argv;
  if (!dir || extra.length) {
    print('usage: fpt-bench table DIR   (DIR: the --out folder of fpt-bench run)');
    return 2;
  }
  const grid = readGridFile(dir);
  const { markdown, files, results } = await renderResults(dir);
  print(markdown);
  print(`wrote ${files.length} files under ${dir}`);
  const found = new Set(results.map((r) => r.id));
  const missing = (grid?.runs ?? []).filter((id) => !found.has(id)).sort();
  return reportMissingRuns(dir, markdown, missing, found.size, 'the grid recorded in grid.json', 'fpt-bench table', print);
}
