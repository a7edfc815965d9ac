import { join } from 'node:path';
import { atomicWriteFile } from '@fpt/core/node';
import { absolute, repoRoot, type ClusterJob } from '../cluster/job';
import { IMAGE_REPO, k8sManifest, SHARED_MOUNT } from '../cluster/k8s';
import { slurmScript } from '../cluster/slurm';
import { benchGrid } from '../results/grid';
import { benchPreset } from '../run/presets';
import { parseArgs, type ParsedArgs } from './args';
import { methodSets, parseDatasets, parseMethods, parseSeeds, RUN_OPTIONS } from './run';

/** Options of `fpt-bench cluster` besides the run options passed on to every shard. */
export const CLUSTER_OPTIONS = ['shards', 'parallel', 'results', 'job-name', 'gpus', 'cpus', 'memory'];

/** Run options the cluster command sets itself (or names differently: `--results`). */
const NOT_PASSED = new Set(['out', 'shard', 'cache']);

/** The run options `fpt-bench cluster` accepts and passes on. */
export const PASSED_RUN_OPTIONS = RUN_OPTIONS.filter((o) => !NOT_PASSED.has(o));

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
  const preset = benchPreset(presetName);
  const methods = parseMethods(args.options.methods, preset.methods);
  methodSets(args.sets, methods);
  const datasets = parseDatasets(args.options.datasets, preset.datasets);
  const gridSize = benchGrid(datasets, methods, parseSeeds(args.options.seeds, preset.seeds)).length;
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

const SLURM_OPTIONS = ['out', 'cache', 'repo', 'partition', 'time', 'account', 'setup'];
const K8S_OPTIONS = ['out', 'cache', 'image', 'pvc', 'pvc-size', 'storage-class', 'namespace'];

/** `fpt-bench cluster` usage. */
export const CLUSTER_USAGE = `fpt-bench cluster slurm|k8s [run options] [--shards N] [--parallel N] [--out FILE] [--results DIR] [--cache DIR]
              [--gpus N] [--cpus N] [--memory 16G] [--job-name NAME]
      slurm: [--repo DIR] [--partition P] [--time T] [--account A] [--setup 'module load nodejs/20']
      k8s:   [--image IMAGE] [--pvc NAME] [--pvc-size 50Gi] [--storage-class C] [--namespace NS]`;

/**
 * `fpt-bench cluster slurm|k8s [run options]`: writes a ready job for the grid those run options
 * describe: a Slurm array script or a Kubernetes Indexed Job manifest (with its
 * PersistentVolumeClaim), one task or pod per shard, results and cache on shared storage. The job
 * goes to `--out FILE`, or to standard output.
 * @returns the exit code
 */
export async function clusterCommand(argv: string[], print: (line: string) => void = console.log): Promise<number> {
  const [scheduler, ...rest] = argv;
  if (scheduler !== 'slurm' && scheduler !== 'k8s') {
    print(`usage: ${CLUSTER_USAGE}`);
    return 2;
  }
  const own = scheduler === 'slurm' ? SLURM_OPTIONS : K8S_OPTIONS;
  const args = parseArgs(rest, [...PASSED_RUN_OPTIONS, ...CLUSTER_OPTIONS, ...own]);
  if (args.positional.length)
    throw new Error(`fpt-bench cluster ${scheduler} takes no positional arguments after the scheduler (got ${args.positional.join(' ')})`);
  let text: string;
  if (scheduler === 'slurm') {
    // Paths as this (login) node sees them: the shared filesystem shows them the same on compute nodes.
    const job = clusterJob(args, { results: (p) => absolute(join('bench-results', p)), cache: (r) => join(r, 'kv-cache'), path: absolute });
    text = slurmScript(job, {
      repo: absolute(args.options.repo ?? repoRoot()),
      partition: args.options.partition,
      time: args.options.time,
      account: args.options.account,
      setup: args.options.setup,
    });
  } else {
    // Paths inside the container: the claim at /shared, the repository (and its embedded data) at /app.
    const job = clusterJob(args, {
      results: (p) => `${SHARED_MOUNT}/results/${p}`,
      cache: () => `${SHARED_MOUNT}/kv-cache`,
      path: (p) => p,
    });
    if (!job.runArgs.includes('--data-root')) job.runArgs.push('--data-root', `${IMAGE_REPO}/data`);
    text = k8sManifest(job, {
      image: args.options.image ?? 'fpt-bench:latest',
      pvc: args.options.pvc ?? 'fpt-bench',
      pvcSize: args.options['pvc-size'] ?? '50Gi',
      storageClass: args.options['storage-class'],
      namespace: args.options.namespace,
    });
  }
  const out = args.options.out;
  if (!out) {
    process.stdout.write(text);
    return 0;
  }
  atomicWriteFile(out, text);
  print(`wrote ${out}: ${scheduler === 'slurm' ? `sbatch ${out}` : `kubectl apply -f ${out}`}`);
  return 0;
}
