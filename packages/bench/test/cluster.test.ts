import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { benchGrid } from '../src/results/grid';

// The CLI as built (turbo builds the bench before its tests): the job files are what users get.
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const repo = fileURLToPath(new URL('../../../', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'fpt-cluster-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const GRID = ['--preset', 'tiny', '--datasets', 'toy,toy3', '--methods', 'lora,fpt-plus,linear', '--seeds', '0,1', '--epochs', '1'];
const gridIds = benchGrid(['toy', 'toy3'], ['lora', 'fpt-plus', 'linear'], [0, 1])
  .map((r) => r.id)
  .sort();
const bench = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
/** The run ids a `--dry-run` lists. */
const listed = (stdout: string) =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('  '))
    .map((l) => l.trim().split(' ', 1)[0]!); // split always gives a first field
const has = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8', timeout: 20_000 }).status === 0;

/** Every shard's dry-run together lists the grid, each run once. */
function expectShardsCoverGrid(perIndex: string[][]) {
  const all = perIndex.flat();
  expect(new Set(all).size).toBe(all.length);
  expect([...all].sort()).toEqual(gridIds);
  for (const ids of perIndex) expect(ids.length).toBeGreaterThan(0);
}

describe('fpt-bench cluster slurm', () => {
  const script = join(root, 'grid.sbatch');
  const results = join(root, 'shared', 'results');
  const gen = bench([
    'cluster',
    'slurm',
    ...GRID,
    '--data-root',
    join(root, 'data'),
    '--shards',
    '4',
    '--gpus',
    '1',
    '--cpus',
    '2',
    '--memory',
    '2G',
    '--time',
    '00:30:00',
    '--results',
    results,
    '--out',
    script,
  ]);

  it('writes an array script: one task per shard (--array=0-3), GPU, cache and results on the shared path', () => {
    expect(gen.status, gen.stderr).toBe(0);
    const text = readFileSync(script, 'utf8');
    for (const line of [
      '#SBATCH --array=0-3',
      '#SBATCH --gres=gpu:1',
      '#SBATCH --cpus-per-task=2',
      '#SBATCH --mem=2G',
      '#SBATCH --time=00:30:00',
      'N=4',
    ])
      expect(text).toContain(line);
    expect(text).toContain(`--out ${results} --cache ${join(results, 'kv-cache')} --shard "$SLURM_ARRAY_TASK_ID/$N"`);
    // --gpus selects WebGPU for the shards.
    expect(text).toContain(' --backend webgpu ');
  });

  it('passes bash -n', () => {
    const r = spawnSync('bash', ['-n', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });

  it('run as array task i (SLURM_ARRAY_TASK_ID=i, --dry-run), each task lists its shard and together they list the grid once', () => {
    const perIndex = [0, 1, 2, 3].map((i) => {
      const r = spawnSync('bash', [script, '--dry-run'], { encoding: 'utf8', env: { ...process.env, SLURM_ARRAY_TASK_ID: String(i) } });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain(`shard ${i}/4 (0-based)`);
      return listed(r.stdout);
    });
    expectShardsCoverGrid(perIndex);
  });

  it('outside an array job it stops with a message saying to submit it with sbatch', () => {
    const env = { ...process.env };
    delete env.SLURM_ARRAY_TASK_ID;
    const r = spawnSync('bash', [script, '--dry-run'], { encoding: 'utf8', env });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('submit this script with sbatch');
  });

  // Needs Slurm's sbatch and a reachable slurmctld (Debian's slurm-wlm runs one on localhost).
  const slurm = has('sbatch', ['--version']) && has('scontrol', ['ping']);
  if (!slurm) console.warn('cluster.test: sbatch --test-only skipped: no sbatch or no slurmctld answering `scontrol ping` on this machine');
  it.skipIf(!slurm)('sbatch --test-only accepts it (a slurmctld on this machine)', () => {
    // Without --gres (the test controller may have no GPU) but otherwise the same script.
    const cpuScript = join(root, 'cpu.sbatch');
    const g = bench(['cluster', 'slurm', ...GRID, '--shards', '3', '--cpus', '1', '--results', results, '--out', cpuScript]);
    expect(g.status, g.stderr).toBe(0);
    const r = spawnSync('sbatch', ['--test-only', cpuScript], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Job \d+ to start at/);
  });

  it('rejects options it sets itself and more shards than runs, naming them', () => {
    expect(bench(['cluster', 'slurm', ...GRID, '--shard', '0/2']).stderr).toContain('unknown option --shard');
    expect(bench(['cluster', 'slurm', ...GRID, '--shards', '13']).stderr).toContain('--shards 13: the grid has only 12 runs');
    expect(bench(['cluster', 'slurm', ...GRID, '--memory', '2GB']).stderr).toContain('--memory expects a size such as 16G');
    expect(bench(['cluster', 'slurm', ...GRID, '--image', 'x']).stderr).toContain('unknown option --image');
  });
});

describe('fpt-bench cluster k8s', () => {
  const manifest = join(root, 'grid.yaml');
  const gen = bench([
    'cluster',
    'k8s',
    ...GRID,
    '--shards',
    '3',
    '--parallel',
    '2',
    '--gpus',
    '1',
    '--memory',
    '4G',
    '--image',
    'registry.example/fpt-bench:1',
    '--set',
    'lora.rank=2',
    '--out',
    manifest,
  ]);
  const docs = () => parseAllDocuments(readFileSync(manifest, 'utf8')).map((d) => d.toJS());

  it('writes a PersistentVolumeClaim and an Indexed Job that pass the Kubernetes schema (kubernetes-models, ajv)', () => {
    expect(gen.status, gen.stderr).toBe(0);
    const [pvc, job] = docs();
    expect(pvc.kind).toBe('PersistentVolumeClaim');
    expect(job.kind).toBe('Job');
    new PersistentVolumeClaim(pvc).validate();
    new Job(job).validate();
    expect(job.spec).toMatchObject({ completionMode: 'Indexed', completions: 3, parallelism: 2 });
    expect(pvc.spec.accessModes).toEqual(['ReadWriteMany']);
  });

  it('the schema check is real: a broken Job fails it', () => {
    const [, job] = docs();
    expect(() => new Job({ ...job, spec: { ...job.spec, completionMode: 'indexed' } }).validate()).toThrow(/completionMode/);
    expect(() => new Job({ ...job, spec: { ...job.spec, completions: '3' } }).validate()).toThrow(/completions must be integer/);
  });

  it('the pod takes JOB_COMPLETION_INDEX as its shard and keeps data, cache and results on the claim', () => {
    const [pvc, job] = docs();
    const pod = job.spec.template.spec;
    const c = pod.containers[0];
    expect(c.image).toBe('registry.example/fpt-bench:1');
    expect(c.args.slice(-2)).toEqual(['--shard', '$(JOB_COMPLETION_INDEX)/3']);
    expect(c.env).toContainEqual({
      name: 'JOB_COMPLETION_INDEX',
      valueFrom: { fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } },
    });
    expect(pod.volumes).toEqual([{ name: 'shared', persistentVolumeClaim: { claimName: pvc.metadata.name } }]);
    const mount = c.volumeMounts[0].mountPath;
    const arg = (name: string) => c.args[c.args.indexOf(name) + 1] as string;
    for (const path of [arg('--out'), arg('--cache')]) expect(path.startsWith(`${mount}/`), path).toBe(true);
    expect(c.resources).toEqual({ requests: { memory: '4Gi' }, limits: { 'nvidia.com/gpu': '1', memory: '4Gi' } });
    // With GPUs: WebGPU, and the graphics capability the NVIDIA runtime needs to mount Vulkan.
    expect(arg('--backend')).toBe('webgpu');
    expect(c.env).toContainEqual({ name: 'NVIDIA_DRIVER_CAPABILITIES', value: 'compute,utility,graphics' });
  });

  it('run as pod i (the container args with JOB_COMPLETION_INDEX=i, --dry-run), the pods together list the grid once', () => {
    const [, job] = docs();
    const args = job.spec.template.spec.containers[0].args as string[];
    const perIndex = [0, 1, 2].map((i) => {
      const r = bench([...args.map((a) => a.replace('$(JOB_COMPLETION_INDEX)', String(i))), '--dry-run']);
      expect(r.status, r.stderr).toBe(0);
      return listed(r.stdout);
    });
    expectShardsCoverGrid(perIndex);
  });

  it('the image it names is built by the root Dockerfile: node:20, pnpm 10.34.9, frozen lockfile, the bench CLI as entrypoint at /app', () => {
    const dockerfile = readFileSync(join(repo, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^FROM node:20$/m);
    expect(dockerfile).toContain('npm install -g pnpm@10.34.9');
    expect(dockerfile).toContain('pnpm install --frozen-lockfile');
    expect(dockerfile).toMatch(/^WORKDIR \/app$/m);
    expect(dockerfile).toContain('ENTRYPOINT ["node", "/app/packages/bench/dist/cli.js"]');
    // What Dawn (WebGPU) needs on a GPU node: the Vulkan loader, and the graphics capability.
    expect(dockerfile).toContain('libvulkan1');
    expect(dockerfile).toContain('NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics');
    const [, job] = docs();
    expect(job.spec.template.spec.containers[0].args).toContain('/app/data');
  });

  it('rejects a Job name Kubernetes would refuse', () => {
    expect(bench(['cluster', 'k8s', ...GRID, '--job-name', 'Grid_1']).stderr).toContain(
      '--job-name "Grid_1": a Kubernetes Job name must be',
    );
  });

  // kubectl's client-side dry run still asks an API server for the schema and the resource kinds.
  const kubectl = has('kubectl', ['version', '--request-timeout=5s']);
  if (!kubectl) console.warn('cluster.test: kubectl apply --dry-run=client skipped: no kubectl or no reachable Kubernetes API server');
  it.skipIf(!kubectl)('kubectl apply --dry-run=client accepts it (a reachable API server)', () => {
    const r = spawnSync('kubectl', ['apply', '--dry-run=client', '-f', manifest], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('job.batch/fpt-bench-tiny created (dry run)');
  });
});
