import { join } from 'node:path';
import { atomicWriteFile } from '@fpt/core/node';
import { loadRunResults } from './load';
import { writePlots } from './plots';
import type { AucConvention } from '../metrics/convention';
import { buildTable, tableCsv, tableMarkdown, type ComparisonTable } from './table';

/**
 * Re-renders `table.md`, `table.csv` and the plots of a results folder from its result files alone.
 * @param auc - the AUC shown (default: the convention the runs were selected by)
 * @returns the table and the Markdown text
 */
export async function renderResults(
  dir: string,
  auc?: AucConvention,
): Promise<{ table: ComparisonTable; markdown: string; files: string[] }> {
  const results = loadRunResults(dir);
  const table = buildTable(results, auc);
  const markdown = tableMarkdown(table);
  atomicWriteFile(join(dir, 'table.md'), markdown);
  atomicWriteFile(join(dir, 'table.csv'), tableCsv(table));
  const files = await writePlots(join(dir, 'plots'), results, table);
  return { table, markdown, files: [join(dir, 'table.md'), join(dir, 'table.csv'), ...files] };
}
