import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { methodSets, parseDatasets, parseMethods, parseSeeds, RUN_OPTIONS } from '../commands/run';
import type { ParsedArgs } from '../commands/args';
import { benchGrid } from '../run/grid';
import { BENCH_PRESETS } from '../run/presets';

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

/** Options of `fpt-bench cluster` besides the run options passed on to every shard. */
export const CLUSTER_OPTIONS = ['shards', 'parallel', 'results', 'job-name', 'gpus', 'cpus', 'memory'];

/** Run options the cluster command sets itself (or names differently: `--results`). */
const NOT_PASSED = new Set(['out', 'shard', 'cache']);

/** The run options `fpt-bench cluster` accepts and passes on. */
export const PASSED_RUN_OPTIONS = RUN_OPTIONS.filter((o) => !NOT_PASSED.has(o));

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

const positiveInt = (args: ParsedArgs, name: string): number | undefined => {
  const raw = args.options[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} expects a positive integer, got "${raw}"`);
  return n;
};

/**
 * The job of a parsed `fpt-bench cluster` command line.
 * @param args - parsed with {@link PASSED_RUN_OPTIONS}, {@link CLUSTER_OPTIONS} and the scheduler's own options
 * @param defaults - where results and cache go when `--results` / `--cache` are not given, and how
 *   to turn a path given on the command line into one the job sees
 * @throws naming the option at fault (an unknown preset or method, more shards than runs, a bad size)
 */
export function clusterJob(
  args: ParsedArgs,
  defaults: { results: (preset: string) => string; cache: (results: string) => string; path: (p: string) => string },
): ClusterJob {
  const presetName = args.options.preset ?? 'quick';
  const preset = BENCH_PRESETS[presetName];
  if (!preset) throw new Error(`--preset: unknown preset "${presetName}"; known: ${Object.keys(BENCH_PRESETS).join(', ')}`);
  const methods = parseMethods(args.options.methods, preset.methods);
  methodSets(args.sets, methods);
  const datasets = parseDatasets(args.options.datasets, preset.datasets);
  const gridSize = benchGrid(datasets, methods, parseSeeds(args.options.seeds)).length;
  const shards = positiveInt(args, 'shards') ?? gridSize;
  if (shards > gridSize)
    throw new Error(
      `--shards ${shards}: the grid has only ${gridSize} runs (${datasets.length} datasets × ${methods.length} methods × seeds); at most one shard per run`,
    );
  const parallel = positiveInt(args, 'parallel');
  const memory = args.options.memory;
  if (memory !== undefined && !/^[1-9]\d*[MG]$/.test(memory))
    throw new Error(`--memory expects a size such as 16G or 4000M, got "${memory}"`);
  const results = args.options.results ? defaults.path(args.options.results) : defaults.results(preset.name);
  const cache = args.options.cache ? defaults.path(args.options.cache) : defaults.cache(results);
  const runArgs: string[] = ['--preset', preset.name];
  for (const o of PASSED_RUN_OPTIONS) {
    const v = args.options[o];
    if (v === undefined || o === 'preset') continue;
    runArgs.push(`--${o}`, o === 'data-root' || (o === 'weights' && !v.startsWith('hf:')) ? defaults.path(v) : v);
  }
  for (const [k, v] of Object.entries(args.sets)) runArgs.push('--set', `${k}=${v}`);
  const gpus = positiveInt(args, 'gpus');
  // A shard given GPUs trains on one through WebGPU (Dawn on the node's Vulkan driver) unless --backend says otherwise.
  if (gpus && args.options.backend === undefined) runArgs.push('--backend', 'webgpu');
  return {
    name: args.options['job-name'] ?? `fpt-bench-${preset.name}`,
    preset: preset.name,
    runArgs,
    gridSize,
    shards,
    parallel,
    results,
    cache,
    gpus,
    cpus: positiveInt(args, 'cpus'),
    memory,
  };
}

/** `resolve` for Slurm (paths as the login node sees them, which the shared filesystem keeps). */
export const absolute = (p: string): string => resolve(p);
