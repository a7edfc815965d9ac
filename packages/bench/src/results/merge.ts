import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { atomicWriteFile } from '@fpt/core/node';
import { firstDifference } from '../files/difference';
import { readGridFile, writeGridFile } from './grid-file';
import { readRunResult, runsDir } from './load';
import type { RunResult } from './schema';

/** One result file found in an input folder. */
interface Found {
  path: string;
  bytes: string;
  result: RunResult;
}

/** What {@link mergeResultFolders} did. */
export interface MergeReport {
  /** Run ids copied into the output folder, sorted. */
  runs: string[];
  /** Run ids of the grid (from the inputs' grid.json, else every dataset × method × seed found) with no result. */
  missing: string[];
  /** Whether `missing` comes from grid.json files (`grid`) or from the results alone (`inferred`). */
  expectedFrom: 'grid' | 'inferred';
  /** Runs found in several folders with equal results: `[kept, ...ignored]` paths. */
  duplicates: string[][];
}

/**
 * What must agree between two result files of the same run for them to count as the same result:
 * everything but the timings, the place and the moment of the run, and the preload's cache hits
 * (which depend on what other runs had cached already).
 */
function outcome(r: RunResult): unknown {
  const { timing: _t, finishedAt: _f, environment: _e, resumedFromEpoch: _r, preload, epochs, ...rest } = r;
  return {
    ...rest,
    preloadImages: preload?.images ?? null,
    epochs: epochs.map(({ trainSeconds: _s, ...e }) => e),
  };
}

function readFolder(dir: string): Found[] {
  const runs = runsDir(dir);
  if (!existsSync(runs)) throw new Error(`${dir}: no runs/ folder (expected the --out folder of fpt-bench run)`);
  return readdirSync(runs)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const path = join(runs, f);
      const bytes = readFileSync(path, 'utf8');
      const result = readRunResult(path);
      return { path, bytes, result };
    });
}

/**
 * Combines result folders (shards of a grid, or runs done on several machines) into `out`: every
 * run's file is copied unchanged into `<out>/runs/`, and the grid is recorded in `<out>/grid.json`.
 * A run found in several folders must have the same outcome in each (timings may differ); the
 * first folder's file is kept. Nothing is written when a conflict is found.
 * @throws naming both files and the first field that differs when a run has two different results
 */
export function mergeResultFolders(dirs: string[], out: string): MergeReport {
  if (dirs.length === 0) throw new Error('fpt-bench merge: give at least one results folder');
  const byId = new Map<string, [Found, ...Found[]]>();
  for (const dir of dirs)
    for (const f of readFolder(dir)) {
      const seen = byId.get(f.result.id);
      if (seen) seen.push(f);
      else byId.set(f.result.id, [f]);
    }
  const duplicates: string[][] = [];
  for (const [id, found] of byId) {
    if (found.length < 2) continue;
    const [first, ...others] = found;
    for (const o of others) {
      if (o.bytes === first.bytes) continue;
      const d = firstDifference(outcome(first.result), outcome(o.result));
      if (d !== undefined)
        throw new Error(
          `run ${id} has two different results: ${first.path} and ${o.path} differ at "${d}"; remove the wrong one and merge again`,
        );
    }
    // The same file seen twice (a folder given twice, or --out among the inputs) is no duplicate.
    const paths = [...new Set(found.map((f) => resolve(f.path)))];
    if (paths.length > 1) duplicates.push(found.map((f) => f.path));
  }
  const grids = dirs.map(readGridFile);
  const results = [...byId.values()].map((f) => f[0].result);
  let expected: string[];
  let expectedFrom: MergeReport['expectedFrom'];
  if (grids.some((g) => g)) {
    expected = [...new Set(grids.flatMap((g) => g?.runs ?? []))];
    expectedFrom = 'grid';
  } else {
    const datasets = [...new Set(results.map((r) => r.dataset.name))];
    const methods = [...new Set(results.map((r) => r.method.name))];
    const seeds = [...new Set(results.map((r) => r.seed))];
    expected = datasets.flatMap((d) => methods.flatMap((m) => seeds.map((s) => `${d}__${m}__seed${s}`)));
    expectedFrom = 'inferred';
  }
  const runs = [...byId.keys()].sort();
  // Results already in `out` that no input holds would enter the table unseen.
  const inOut = existsSync(runsDir(out)) ? readdirSync(runsDir(out)).filter((f) => f.endsWith('.json')) : [];
  const strays = inOut.filter((f) => !byId.has(f.slice(0, -'.json'.length)));
  if (strays.length)
    throw new Error(
      `${out} already holds results that none of the folders merged has (${strays.slice(0, 3).join(', ')}${strays.length > 3 ? `, ... ${strays.length} in all` : ''}); give ${out} as an input too, or merge into an empty folder`,
    );
  const missing = expected.filter((id) => !byId.has(id)).sort();
  mkdirSync(runsDir(out), { recursive: true });
  for (const id of runs) {
    const target = join(runsDir(out), `${id}.json`);
    const { bytes } = byId.get(id)![0];
    if (!existsSync(target) || readFileSync(target, 'utf8') !== bytes) atomicWriteFile(target, bytes);
  }
  const presets = [...new Set(grids.map((g) => g?.preset).filter((p): p is string => !!p))];
  writeGridFile(out, presets.length ? presets.join('+') : [...new Set(results.map((r) => r.preset))].sort().join('+'), [
    ...new Set([...expected, ...runs]),
  ]);
  return { runs, missing, expectedFrom, duplicates };
}
