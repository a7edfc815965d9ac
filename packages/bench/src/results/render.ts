import { join } from 'node:path';
import { atomicWriteFile } from '@fpt/core/node';
import { loadRunResults } from './load';
import type { RunResult } from './schema';
import { writePlots } from './plots';
import type { AucConvention } from '../metrics/convention';
import { buildTable, tableCsv, tableMarkdown, type ComparisonTable } from './table';

/**
 * Re-renders `table.md`, `table.csv` and the plots of a results folder from its result files alone.
 * @param auc - the AUC shown (default: the convention the runs were selected by)
 * @returns the table, the Markdown text, the files written and the results read
 */
export async function renderResults(
  dir: string,
  auc?: AucConvention,
): Promise<{ table: ComparisonTable; markdown: string; files: string[]; results: RunResult[] }> {
  const results = loadRunResults(dir);
  const table = buildTable(results, auc);
  const markdown = tableMarkdown(table);
  atomicWriteFile(join(dir, 'table.md'), markdown);
  atomicWriteFile(join(dir, 'table.csv'), tableCsv(table));
  const files = await writePlots(join(dir, 'plots'), results, table);
  return { table, markdown, files: [join(dir, 'table.md'), join(dir, 'table.csv'), ...files], results };
}

/**
 * Says which runs of the grid a table leaves out: on the terminal and under the table in
 * `table.md`, where a reader of the table will see it.
 * @param out - the results folder
 * @param markdown - the table as rendered
 * @param missing - run ids with no result
 * @param found - how many runs have a result
 * @param how - where the expected runs come from, in words
 * @param command - the command, for the message
 * @param print - where the list goes
 * @returns the exit code: 1 when runs are missing, else 0
 */
export function reportMissingRuns(
  out: string,
  markdown: string,
  missing: string[],
  found: number,
  how: string,
  command: string,
  print: (line: string) => void,
): number {
  if (missing.length === 0) return 0;
  const list = missing.map((id) => `- ${id}`).join('\n');
  atomicWriteFile(
    join(out, 'table.md'),
    `${markdown}\n### Missing runs (${missing.length} of ${missing.length + found}, from ${how}): not in this table\n\n${list}\n`,
  );
  print(`${command}: ${missing.length} run(s) of ${how} have no result (the table leaves them out):\n${list}`);
  return 1;
}
