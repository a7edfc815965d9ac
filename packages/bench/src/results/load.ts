import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateRunResult, type RunResult } from './schema';

/** The folder of per-run result files inside a results folder. */
export function runsDir(out: string): string {
  return join(out, 'runs');
}

/** Every run result of a results folder (`<dir>/runs/*.json`), validated, sorted by id. */
export function loadRunResults(dir: string): RunResult[] {
  const runs = runsDir(dir);
  if (!existsSync(runs)) throw new Error(`${dir}: no runs/ folder (expected the --out folder of fpt-bench run)`);
  const files = readdirSync(runs)
    .filter((f) => f.endsWith('.json'))
    .sort();
  if (files.length === 0) throw new Error(`${runs}: no result files (*.json)`);
  return files.map((f) => {
    const path = join(runs, f);
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new Error(`${path}: not valid JSON: ${(err as Error).message}`);
    }
    return validateRunResult(parsed, path);
  });
}
