import { join } from 'node:path';
import { mergeResultFolders } from '../results/merge';
import { renderResults, reportMissingRuns } from '../results/render';
import { parseArgs } from './args';

/** `fpt-bench merge` usage. */
export const MERGE_USAGE = 'fpt-bench merge DIR... [--out DIR]';

/**
 * `fpt-bench merge DIR... [--out DIR]`: combines result folders (the shards of a grid) into one
 * folder and renders its table and plots. Missing runs are listed (on the terminal and under the
 * table) and make the exit code 1; a run with two different results is an error naming both files.
 * @returns the exit code
 */
export async function mergeCommand(argv: string[], print: (line: string) => void = console.log): Promise<number> {
  const args = parseArgs(argv, ['out']);
  if (args.positional.length === 0) {
    print(`usage: ${MERGE_USAGE}   (DIR: --out folders of fpt-bench run; default --out bench-results/merged)`);
    return 2;
  }
  const out = args.options.out ?? join('bench-results', 'merged');
  const report = mergeResultFolders(args.positional, out);
  for (const d of report.duplicates) print(`${d[0]}: also in ${d.slice(1).join(', ')} with the same result; kept the first`);
  const { markdown, files } = await renderResults(out);
  print(markdown);
  print(`merged ${report.runs.length} runs from ${args.positional.length} folder(s) into ${out}; wrote ${files.length} files`);
  if (report.missing.length === 0) return 0;
  const how =
    report.expectedFrom === 'grid' ? 'the grid recorded in grid.json' : 'every dataset × method × seed found (no grid.json in the inputs)';
  return reportMissingRuns(out, markdown, report.missing, report.runs.length, how, 'fpt-bench merge', print);
}
