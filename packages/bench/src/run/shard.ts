import type { GridRun } from '../results/grid';

/** One slice of the grid: shard `index` of `count`, 0-based (`0/3`, `1/3`, `2/3`). */
export interface Shard {
  /** 0-based shard index, as Slurm's `--array=0-(n-1)` and Kubernetes' JOB_COMPLETION_INDEX give it. */
  index: number;
  /** Number of shards. */
  count: number;
}

/**
 * Parses `--shard i/n` (0-based: `0/3` is the first of three shards).
 * @throws naming the option and what was expected
 */
export function parseShard(raw: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(raw.trim());
  if (!m)
    throw new Error(
      `--shard expects i/n with 0 <= i < n (0-based, as SLURM_ARRAY_TASK_ID with --array=0-(n-1) and JOB_COMPLETION_INDEX), got "${raw}"`,
    );
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index >= count)
    throw new Error(`--shard ${raw}: the index must satisfy 0 <= i < n (0-based), got i=${index}, n=${count}`);
  return { index, count };
}

/** Code-unit order: the same on every machine and locale (localeCompare is not). */
const byId = (a: GridRun, b: GridRun) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * The runs of one shard: the grid sorted by run id (so the order of `--datasets`, `--methods` or
 * `--seeds` does not matter), then every run whose position p has p % n == i. Round-robin spreads
 * each dataset's expensive and cheap methods over the shards; the shards are disjoint and together
 * hold the whole grid, and the same grid and i/n always give the same runs.
 */
export function shardRuns(grid: GridRun[], shard: Shard): GridRun[] {
  return [...grid].sort(byId).filter((_, p) => p % shard.count === shard.index);
}
