import { join } from 'node:path';
import { atomicWriteFile } from '@fpt/core/node';
import { mergeResultFolders } from '../results/merge';
import { renderResults } from '../results/render';
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
  const list = report.missing.map((id) => `- ${id}`).join('\n');
  // The table says it is incomplete, where a reader of table.md will see it.
  atomicWriteFile(
    join(out, 'table.md'),
    `${markdown}\n### Missing runs (${report.missing.length} of ${report.missing.length + report.runs.length}, from ${how}): not in this table\n\n${list}\n`,
  );
  print(`fpt-bench merge: ${report.missing.length} run(s) of ${how} have no result (the table leaves them out):\n${list}`);
  return 1;
}
