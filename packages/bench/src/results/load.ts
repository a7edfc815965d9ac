import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonFile } from '../files/json';
import { runId } from './grid';
import { validateRunResult, type RunResult } from './schema';

/** The folder of per-run result files inside a results folder. */
export function runsDir(out: string): string {
  return join(out, 'runs');
}

/**
 * Reads one result file `<id>.json`: valid JSON, this schema, and holding the run its name says
 * (id, dataset, method and seed), so a file copied over another run's is never counted as it.
 * @throws naming the file and the first thing at fault
 */
export function readRunResult(path: string): RunResult {
  const r = validateRunResult(readJsonFile(path, 'a run result (runs/<id>.json)'), path);
  const name = path.split(/[\\/]/).pop()!;
  const id = runId(r.dataset.name, r.method.name, r.seed);
  if (r.id !== id)
    throw new Error(`${path}: "id" is "${r.id}" but its dataset, method and seed make "${id}"; the file is not a result of one run`);
  if (name !== `${r.id}.json`) throw new Error(`${path}: holds run "${r.id}", expected the file to be named ${r.id}.json`);
  return r;
}

/** Every run result of a results folder (`<dir>/runs/*.json`), validated, sorted by id. */
export function loadRunResults(dir: string): RunResult[] {
  const runs = runsDir(dir);
  if (!existsSync(runs)) throw new Error(`${dir}: no runs/ folder (expected the --out folder of fpt-bench run)`);
  const files = readdirSync(runs)
    .filter((f) => f.endsWith('.json'))
    .sort();
  if (files.length === 0) throw new Error(`${runs}: no result files (*.json)`);
  return files.map((f) => readRunResult(join(runs, f)));
}
