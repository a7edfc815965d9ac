import { join } from 'node:path';
import type { ClusterJob } from './job';
import { shellQuote } from './shell';

/** Slurm-only options of {@link slurmScript}. */
export interface SlurmOptions {
  /** The repository checkout the compute nodes run (built: packages/bench/dist/cli.js), on the shared filesystem. */
  repo: string;
  /** `--partition`. */
  partition?: string;
  /** `--time` limit per task (`HH:MM:SS`, `D-HH:MM:SS`). */
  time?: string;
  /** `--account`. */
  account?: string;
  /** Shell lines run before the bench (`module load nodejs/20`, activating an environment). */
  setup?: string;
}

/**
 * A Slurm array script for the grid: one array task per shard (`--array=0-(n-1)`, so
 * `SLURM_ARRAY_TASK_ID` is the 0-based shard index), each running `fpt-bench run --shard
 * $SLURM_ARRAY_TASK_ID/$N` with the results and the key/value cache on the shared filesystem.
 * Arguments given to the script (`sbatch job.sbatch --dry-run`) are passed on to `fpt-bench run`.
 * Submitting it again resumes: finished runs are skipped, unfinished ones restart from their last epoch.
 */
export function slurmScript(job: ClusterJob, o: SlurmOptions): string {
  const cli = join(o.repo, 'packages', 'bench', 'dist', 'cli.js');
  const q = shellQuote;
  const directives = [
    `--job-name=${job.name}`,
    `--array=0-${job.shards - 1}${job.parallel ? `%${job.parallel}` : ''}`,
    // Slurm's default place for logs: the folder sbatch was called from (%x job name, %A job, %a task).
    '--output=%x-%A_%a.out',
    ...(job.gpus ? [`--gres=gpu:${job.gpus}`] : []),
    ...(job.cpus ? [`--cpus-per-task=${job.cpus}`] : []),
    ...(job.memory ? [`--mem=${job.memory}`] : []),
    ...(o.time ? [`--time=${o.time}`] : []),
    ...(o.partition ? [`--partition=${o.partition}`] : []),
    ...(o.account ? [`--account=${o.account}`] : []),
  ];
  for (const d of directives) if (/\s/.test(d)) throw new Error(`Slurm directive "${d}" holds white space; give the option without spaces`);
  const command = [
    'node',
    q(cli),
    'run',
    ...job.runArgs.map(q),
    '--out',
    q(job.results),
    '--cache',
    q(job.cache),
    '--shard',
    '"$SLURM_ARRAY_TASK_ID/$N"',
    '"$@"',
  ];
  return [
    '#!/bin/bash',
    `# The fpt-bench grid (${job.gridSize} runs, preset ${job.preset}) as a Slurm array: ${job.shards} tasks, task i runs shard i/${job.shards}.`,
    '# Written by `fpt-bench cluster slurm`. Submit: sbatch THIS_FILE. Resume after a failure or a',
    '# time limit: submit it again (finished runs are skipped; an unfinished one restarts from its',
    '# last finished epoch); `sbatch --array=3,7 THIS_FILE` reruns only tasks 3 and 7.',
    `# See what a task runs without running it: SLURM_ARRAY_TASK_ID=0 bash THIS_FILE --dry-run`,
    `# The table and plots are written by the last task to finish, into ${job.results};`,
    `# or at any time: node ${q(cli)} merge ${q(job.results)} --out ${q(job.results)}`,
    ...directives.map((d) => `#SBATCH ${d}`),
    'set -euo pipefail',
    `N=${job.shards}`,
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a bash parameter expansion, not a template
    'if [ -z "${SLURM_ARRAY_TASK_ID:-}" ]; then',
    '  echo "fpt-bench: SLURM_ARRAY_TASK_ID is not set: submit this script with sbatch (it is an array job, one task per shard)" >&2',
    '  exit 2',
    'fi',
    ...(o.setup ? ['# Set up by --setup:', ...o.setup.split('\n')] : []),
    `exec ${command.join(' ')}`,
    '',
  ].join('\n');
}
