// What a cluster job is (made from the command line by `commands/cluster.ts`), and where it runs.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What a generated cluster job runs: the grid, how it is split, and what it asks the scheduler for. */
export interface ClusterJob {
  /** Job name (Slurm `--job-name`, Kubernetes `metadata.name`). */
  name: string;
  /** Preset name. */
  preset: string;
  /** `fpt-bench run` arguments every shard gets, without `--out`, `--cache` and `--shard`. */
  runArgs: string[];
  /** Runs in the whole grid. */
  gridSize: number;
  /** Shards (array tasks, Indexed Job completions). */
  shards: number;
  /** Shards running at once (undefined: all). */
  parallel?: number;
  /** Results folder on the shared filesystem (the shards' `--out`). */
  results: string;
  /** Key/value cache folder on the shared filesystem (the shards' `--cache`). */
  cache: string;
  /** GPUs per shard (undefined: none requested); with GPUs the shards run `--backend webgpu` unless `--backend` is given. */
  gpus?: number;
  /** CPUs per shard (undefined: the scheduler's default). */
  cpus?: number;
  /** Memory per shard, as `<n>M` or `<n>G` (undefined: the scheduler's default). */
  memory?: string;
}

/** The repository root (where pnpm-workspace.yaml is), from this module's location. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the repository root (pnpm-workspace.yaml) above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** `resolve` for Slurm (paths as the login node sees them, which the shared filesystem keeps). */
export const absolute = (p: string): string => resolve(p);
