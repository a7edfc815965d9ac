import type { IJob } from 'kubernetes-models/batch/v1/Job';
import type { IPersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { stringify } from 'yaml';
import type { ClusterJob } from './job';

/** Where the PersistentVolumeClaim is mounted in every pod. */
export const SHARED_MOUNT = '/shared';

/** The repository inside the image built from the root Dockerfile. */
export const IMAGE_REPO = '/app';

/** Kubernetes-only options of {@link k8sManifest}. */
export interface K8sOptions {
  /** Container image built from the repository's Dockerfile. */
  image: string;
  /** PersistentVolumeClaim name (data, cache and results, mounted at {@link SHARED_MOUNT}). */
  pvc: string;
  /** Requested size of the claim (`50Gi`). */
  pvcSize: string;
  /** Storage class (undefined: the cluster's default); it must offer ReadWriteMany. */
  storageClass?: string;
  /** Namespace (undefined: kubectl's current one). */
  namespace?: string;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Kubernetes quantities from `16G` / `4000M` (binary units, as Slurm reads them). */
const quantity = (size: string) => `${size.slice(0, -1)}${size.endsWith('G') ? 'Gi' : 'Mi'}`;

/**
 * The grid as Kubernetes objects: a PersistentVolumeClaim (ReadWriteMany: every pod reads the data
 * and writes the cache and results there) and an Indexed Job (`completionMode: Indexed`, one
 * completion per shard; pod i gets JOB_COMPLETION_INDEX=i and runs `fpt-bench run --shard i/n`).
 * Deleting the Job and applying it again resumes: finished runs on the claim are skipped.
 * @throws naming the option when the job name or claim name is not a DNS label
 */
export function k8sObjects(job: ClusterJob, o: K8sOptions): [IPersistentVolumeClaim, IJob] {
  if (!DNS_LABEL.test(job.name) || job.name.length > 63)
    throw new Error(
      `--job-name "${job.name}": a Kubernetes Job name must be at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit`,
    );
  if (!DNS_LABEL.test(o.pvc) || o.pvc.length > 253)
    throw new Error(`--pvc "${o.pvc}": a claim name must be lowercase letters, digits and '-', starting and ending with a letter or digit`);
  if (!/^[1-9]\d*(Mi|Gi|Ti)$/.test(o.pvcSize)) throw new Error(`--pvc-size expects a size such as 50Gi, got "${o.pvcSize}"`);
  const namespace = o.namespace ? { namespace: o.namespace } : {};
  const labels = { 'app.kubernetes.io/name': 'fpt-bench', 'app.kubernetes.io/instance': job.name };
  const pvc: IPersistentVolumeClaim = {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: o.pvc, labels: { 'app.kubernetes.io/name': 'fpt-bench' }, ...namespace },
    spec: {
      accessModes: ['ReadWriteMany'],
      resources: { requests: { storage: o.pvcSize } },
      ...(o.storageClass ? { storageClassName: o.storageClass } : {}),
    },
  };
  const limits: Record<string, string> = {};
  const requests: Record<string, string> = {};
  if (job.gpus) limits['nvidia.com/gpu'] = String(job.gpus);
  if (job.cpus) requests.cpu = String(job.cpus);
  if (job.memory) {
    requests.memory = quantity(job.memory);
    limits.memory = quantity(job.memory);
  }
  const resources = { ...(Object.keys(requests).length ? { requests } : {}), ...(Object.keys(limits).length ? { limits } : {}) };
  const jobObject: IJob = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: job.name, labels, ...namespace },
    spec: {
      completionMode: 'Indexed',
      completions: job.shards,
      parallelism: job.parallel ?? job.shards,
      // A pod that fails (evicted, out of memory) is retried; the retry resumes from the checkpoints on the claim.
      backoffLimit: 2 * job.shards,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          containers: [
            {
              name: 'bench',
              image: o.image,
              // The image's entrypoint is the bench CLI; Kubernetes expands $(JOB_COMPLETION_INDEX) from env.
              args: ['run', ...job.runArgs, '--out', job.results, '--cache', job.cache, '--shard', `$(JOB_COMPLETION_INDEX)/${job.shards}`],
              env: [
                {
                  name: 'JOB_COMPLETION_INDEX',
                  valueFrom: { fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } },
                },
                // Hub downloads (--weights hf:REPO) land on the claim, shared by every pod.
                { name: 'HF_HOME', value: `${SHARED_MOUNT}/hf` },
                // WebGPU (Dawn) reaches the GPU through Vulkan, which the NVIDIA runtime mounts only with the graphics capability.
                ...(job.gpus ? [{ name: 'NVIDIA_DRIVER_CAPABILITIES', value: 'compute,utility,graphics' }] : []),
              ],
              ...(Object.keys(resources).length ? { resources } : {}),
              volumeMounts: [{ name: 'shared', mountPath: SHARED_MOUNT }],
            },
          ],
          volumes: [{ name: 'shared', persistentVolumeClaim: { claimName: o.pvc } }],
        },
      },
    },
  };
  return [pvc, jobObject];
}

/** The manifest of {@link k8sObjects} as YAML documents, with a header saying how to use it. */
export function k8sManifest(job: ClusterJob, o: K8sOptions): string {
  const [pvc, j] = k8sObjects(job, o);
  const header = [
    `# The fpt-bench grid (${job.gridSize} runs, preset ${job.preset}) as a Kubernetes Indexed Job: ${job.shards} completions, pod i runs shard i/${job.shards}.`,
    '# Written by `fpt-bench cluster k8s`. Build the image from the repository root: docker build -t IMAGE . (and push it);',
    '# then: kubectl apply -f THIS_FILE',
    `# Resume after failures: kubectl delete job ${job.name} --ignore-not-found && kubectl apply -f THIS_FILE (finished runs are skipped).`,
    `# Data, cache and results live on the claim "${o.pvc}" at ${SHARED_MOUNT}; the table and plots are written by the`,
    `# last pod to finish, into ${job.results}.`,
  ];
  return `${header.join('\n')}\n${stringify(pvc, { aliasDuplicateObjects: false })}---\n${stringify(j, { aliasDuplicateObjects: false })}`;
}
