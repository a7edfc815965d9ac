import { join } from 'node:path';
import { atomicWriteFile } from '@fpt/core/node';
import { absolute, CLUSTER_OPTIONS, clusterJob, PASSED_RUN_OPTIONS, repoRoot } from '../cluster/job';
import { IMAGE_REPO, k8sManifest, SHARED_MOUNT } from '../cluster/k8s';
import { slurmScript } from '../cluster/slurm';
import { parseArgs } from './args';

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
