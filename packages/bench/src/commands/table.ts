import { renderResults } from '../results/render';

/**
 * `fpt-bench table DIR`: re-renders `table.md`, `table.csv` and the plots of a results folder from
 * its result files alone, and prints the table.
 * @returns the exit code
 */
export async function tableCommand(argv: string[], print: (line: string) => void = console.log): Promise<number> {
  const [dir, ...extra] = argv;
  if (!dir || extra.length) {
    print('usage: fpt-bench table DIR   (DIR: the --out folder of fpt-bench run)');
    return 2;
  }
  const { markdown, files } = await renderResults(dir);
  print(markdown);
  print(`wrote ${files.length} files under ${dir}`);
  return 0;
}
