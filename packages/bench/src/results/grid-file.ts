import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { atomicWriteFile } from '@fpt/core/node';
import { JsonChecker } from '../files/check';
import { readJsonFile } from '../files/json';

/** The grid-file format tag. */
export const GRID_SCHEMA = 'fpt-bench-grid/1';

/**
 * `<out>/grid.json`: the whole grid a run (or any shard of it) belongs to, so that `fpt-bench
 * merge` can list the runs that are missing rather than leave them out silently.
 */
export interface GridFile {
  /** {@link GRID_SCHEMA}. */
  schema: typeof GRID_SCHEMA;
  /** Preset name. */
  preset: string;
  /** Every run id of the whole grid (all shards), sorted. */
  runs: string[];
}

/** The grid file of a results folder. */
export function gridFilePath(dir: string): string {
  return join(dir, 'grid.json');
}

/**
 * Records the grid of a results folder. Shards of one grid sharing a folder write the same bytes
 * (atomic writes, so concurrent writers are safe); a later run of another grid in the same folder
 * adds its runs to the ones already recorded.
 */
export function writeGridFile(dir: string, preset: string, runIds: string[]): void {
  const previous = readGridFile(dir);
  const runs = [...new Set([...(previous?.runs ?? []), ...runIds])].sort();
  const file: GridFile = { schema: GRID_SCHEMA, preset, runs };
  atomicWriteFile(gridFilePath(dir), `${JSON.stringify(file, null, 1)}\n`);
}

/**
 * Reads `<dir>/grid.json`, or undefined when the folder has none (results of an older runner).
 * @throws naming the file when it is not a grid file of this schema
 */
export function readGridFile(dir: string): GridFile | undefined {
  const path = gridFilePath(dir);
  if (!existsSync(path)) return undefined;
  const c = new JsonChecker(path);
  const parsed = c.obj(readJsonFile(path, `a grid file (${GRID_SCHEMA})`), '(root)');
  if (parsed.schema !== GRID_SCHEMA) c.fail('schema', `is ${JSON.stringify(parsed.schema)}, expected "${GRID_SCHEMA}"`);
  c.str(parsed.preset, 'preset');
  c.strings(parsed.runs, 'runs');
  return parsed as unknown as GridFile;
}
