// `fpt-bench run` carried out: a plan (commands/run.ts) becomes result files, a table and plots.
// The steps, in order: list the runs (--dry-run), check the folders, set up the backend, resolve
// the LPM, build every method once, read the data, refuse runs another command made, then train
// each run of the shard and, when the grid is complete, render the table.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { atomicWriteFile } from '@fpt/core/node';
import { backendBanner, setUpBackend, type BackendSetup } from '../backend/setup';
import { datasetPreset } from '../data/presets';
import type { PreparedDataset } from '../data/prepare';
import { ensureWritableFolder } from '../files/folder';
import { budgetLine, stepMemoryBudget } from '../memory/paper';
import type { GridRun } from '../results/grid';
import { writeGridFile } from '../results/grid-file';
import { fileDigest, identityMismatch, imagesDigest, runIdentity, type RunIdentity } from '../results/identity';
import { readRunResult, runsDir } from '../results/load';
import { renderResults } from '../results/render';
import { createProgress, type Progress } from '../terminal/progress';
import { RunCheckpoints } from './checkpoint';
import { RunClaims } from './claims';
import { prepareDatasets } from './datasets';
import { createLpm, resolveLpm, type LpmSpec } from './lpm';
import { MemoryFigures } from './memory-figures';
import { planRuns, type RunHooks, type RunPlan } from './plan';
import { checkBatch, checkMethods } from './preflight';
import { trainRun } from './train';
import { buildTrainable } from './trainable';

/** What every run of the grid shares once the data is read. */
interface Bench {
  plan: RunPlan;
  lpm: LpmSpec;
  /** The sha256 of the LPM's weights file (null: a random LPM). */
  lpmWeights: string | null;
  data: Map<string, PreparedDataset>;
  /** What the preset (and the options) shrink relative to the paper. */
  shrunk: string[];
  backend: BackendSetup;
  budgetBytes: number;
  progress: Progress;
  print: (line: string) => void;
}

/**
 * Carries out a `fpt-bench run` plan: trains and tests every (dataset, method, seed) of its grid
 * (or shard) with the paper's recipe, one result file per run in `<out>/runs/`, then writes and
 * prints the comparison table and the plots. Finished runs are skipped; an interrupted run resumes
 * from its last epoch.
 * @returns the exit code
 */
export async function runBench(plan: RunPlan, print: (line: string) => void, hooks: RunHooks = {}): Promise<number> {
  const { grid, runs, note } = planRuns(plan);
  if (plan.dryRun) return listRuns(plan, runs, note, print);
  // The folders written are checked first: a read-only --out is one sentence now, not an error later.
  ensureWritableFolder(plan.out, '--out');
  ensureWritableFolder(plan.cacheDir, '--cache');
  const progress = createProgress(undefined, print);
  const started = performance.now();
  const backend = await setUpBackend(plan.backend);
  for (const line of backendBanner(backend, `fpt-bench run --preset ${plan.preset.name}: backend `)) print(line);
  const lpm = await resolveLpm(plan.weights, plan.preset, progress);
  const shrunk = describePlan(plan, note, print);

  // Every method of the grid is built once before any data is read: an option error or a size
  // the backend cannot hold surfaces now, not after other methods have trained.
  const budgetBytes = stepMemoryBudget(backend.heapLimitBytes, plan.memoryBudget);
  print(budgetLine(backend.backend, budgetBytes, plan.memoryBudget !== undefined));
  checkMethods({
    methods: [...new Set(runs.map((r) => r.method))],
    options: (m) => optionsOf(plan, m),
    make: plan.makeMethod,
    lpm,
    numClasses: plan.classes ?? 2,
    budgetBytes,
  });

  // Only the datasets this shard trains on are read and decoded.
  const data = await prepareDatasets(
    plan,
    plan.datasets.filter((d) => runs.some((r) => r.dataset === d)),
    progress,
    print,
  );
  if (!data) return 1;
  checkBatch(plan.batch, data.values());

  const lpmWeights = lpm.weightsPath ? fileDigest(lpm.weightsPath) : null;
  const bench: Bench = { plan, lpm, lpmWeights, data, shrunk, backend, budgetBytes, progress, print };
  const conflicts = identityConflicts(bench, runs);
  if (conflicts.length) {
    print(
      `fpt-bench run: ${conflicts.length} run(s) in ${plan.out} were made with other options; nothing was trained:\n${conflicts.map((c) => `  - ${c}`).join('\n')}`,
    );
    return 1;
  }
  mkdirSync(runsDir(plan.out), { recursive: true });
  writeGridFile(
    plan.out,
    plan.preset.name,
    grid.map((r) => r.id),
  );
  const heldElsewhere = await trainRuns(bench, runs, hooks);
  return finish(plan, grid, runs, heldElsewhere, started, print);
}

/** `--dry-run`: the runs this process would train, and which are finished. */
function listRuns(plan: RunPlan, runs: GridRun[], note: string, print: (line: string) => void): number {
  print(`fpt-bench run --dry-run --preset ${plan.preset.name}: ${note}; results in ${plan.out}, cache in ${plan.cacheDir}`);
  for (const run of runs) print(`  ${run.id}${existsSync(resultPath(plan, run)) ? ' (finished, would be skipped)' : ''}`);
  return 0;
}

/** Prints how the plan differs from the paper and what it runs; returns the differences, which every result records. */
function describePlan(plan: RunPlan, note: string, print: (line: string) => void): string[] {
  const { preset } = plan;
  const shrunk = [...preset.shrunk];
  if (!plan.paperMemory) shrunk.push('memory at the paper shapes: not measured (--paper-memory off)');
  if (plan.epochs !== preset.epochs) shrunk.push(`epochs set to ${plan.epochs} by --epochs`);
  if (shrunk.length) print(`the ${preset.name} preset differs from the paper:\n${shrunk.map((s) => `  - ${s}`).join('\n')}`);
  print(
    `datasets: ${plan.datasets.join(', ')} (data root ${plan.dataRoot}); methods: ${plan.methods.join(', ')}; seeds: ${plan.seeds.join(', ')}; ${plan.epochs} epochs, batch ${plan.batch}; ${note}`,
  );
  return shrunk;
}

/** A method's options: the preset's, then `--set`. */
function optionsOf(plan: RunPlan, method: string): Record<string, string> {
  return { ...plan.preset.methodOptions[method], ...plan.sets[method] };
}

/** The base learning rate on a dataset: the preset's, else the dataset preset's, else 1e-4. */
function lrOf(plan: RunPlan, dataset: string): number {
  return plan.preset.lr ?? datasetPreset(dataset)?.lr ?? 1e-4;
}

const resultPath = (plan: RunPlan, run: GridRun) => join(runsDir(plan.out), `${run.id}.json`);
const checkpointDir = (plan: RunPlan, run: GridRun) => join(plan.out, 'checkpoints', run.id);

/** Everything that changes a run's result; a finished run or a checkpoint is reused only with an equal one. */
function identityOf(b: Bench, run: GridRun): RunIdentity {
  const { plan, lpm } = b;
  const d = b.data.get(run.dataset)!;
  return runIdentity({
    preset: plan.preset.name,
    recipe: { epochs: plan.epochs, batch: plan.batch, lr: lrOf(plan, run.dataset) },
    options: optionsOf(plan, run.method),
    data: { classes: d.classes, maxSide: plan.preset.maxSide ?? null, decoder: plan.decoder, images: imagesDigest(d) },
    lpm: { config: { ...lpm.config }, inputSize: lpm.inputSize, initSeed: lpm.weightsPath ? null : lpm.initSeed, weights: b.lpmWeights },
    shrunk: b.shrunk,
  });
}

/** Runs whose result or checkpoint another command (another identity) made, each named with the option at fault. */
function identityConflicts(b: Bench, runs: GridRun[]): string[] {
  const conflicts: string[] = [];
  for (const run of runs) {
    const identity = identityOf(b, run);
    const result = resultPath(b.plan, run);
    const ckptDir = checkpointDir(b.plan, run);
    if (existsSync(result)) {
      const why = identityMismatch(readRunResult(result).identity, identity, run.method);
      if (why)
        conflicts.push(
          `${result}: finished by another command: ${why}; use another --out for these options, or delete the file to run it again`,
        );
    } else {
      const why = new RunCheckpoints(ckptDir).identityMismatch(identity, run.method);
      if (why)
        conflicts.push(
          `${ckptDir}: a checkpoint of another command: ${why}; rerun with the same options to resume, or delete the folder to start over`,
        );
    }
  }
  return conflicts;
}

/**
 * Trains each run that has no result, claiming it first: processes sharing `--out` (with or
 * without `--shard`) never run one at once; runs other processes hold are left to them.
 * @returns the runs left to other processes, in words
 */
async function trainRuns(b: Bench, runs: GridRun[], hooks: RunHooks): Promise<string[]> {
  const { plan, print } = b;
  const memory = new MemoryFigures({
    plan,
    lpm: b.lpm,
    backend: b.backend.backend,
    budgetBytes: b.budgetBytes,
    print,
    paperShapes: hooks.paperShapes,
  });
  const claims = new RunClaims(join(plan.out, 'checkpoints'));
  const heldElsewhere: string[] = [];
  let done = 0;
  for (const run of runs) {
    const head = `[${++done}/${runs.length}] ${run.id}`;
    if (existsSync(resultPath(plan, run))) {
      print(`${head}: finished earlier, skipped`);
      continue;
    }
    const holder = claims.acquire(run.id);
    if (holder) {
      heldElsewhere.push(`${run.id} (host ${holder.host}, pid ${holder.pid})`);
      print(`${head}: being run by another process (host ${holder.host}, pid ${holder.pid}), left to it`);
      continue;
    }
    if (existsSync(resultPath(plan, run))) {
      claims.release(run.id); // finished by another process since we looked
      print(`${head}: finished by another process, skipped`);
      continue;
    }
    await trainOne(b, run, memory, head, identityOf(b, run), hooks);
    claims.release(run.id);
  }
  claims.close();
  return heldElsewhere;
}

/** One run: its memory figures, its training and test, its result file; its checkpoints are removed once that is written. */
async function trainOne(
  b: Bench,
  run: GridRun,
  memory: MemoryFigures,
  head: string,
  identity: RunIdentity,
  hooks: RunHooks,
): Promise<void> {
  const { plan, lpm, print } = b;
  const d = b.data.get(run.dataset)!;
  const numClasses = d.classes.length;
  const fullFinetuneMemory = await memory.fullFinetune(numClasses);
  const paperMemory = await memory.paperFigures(run.method, numClasses);
  const options = optionsOf(plan, run.method);
  const microBatch = await memory.microBatch(run, options, numClasses);
  print(head);
  const result = await trainRun({
    run,
    preset: plan.preset.name,
    identity,
    data: d,
    build: () =>
      buildTrainable({
        method: run.method,
        options,
        make: plan.makeMethod,
        numClasses,
        seed: run.seed,
        lpm: createLpm(lpm),
        lpmInputSize: lpm.inputSize,
      }),
    lpm,
    lr: lrOf(plan, run.dataset),
    epochs: plan.epochs,
    batch: plan.batch,
    microBatch: microBatch.size,
    wholeBatchMemory: microBatch.wholeBatch,
    budgetBytes: b.budgetBytes,
    cacheDir: plan.cacheDir,
    checkpointDir: checkpointDir(plan, run),
    fullFinetuneMemory,
    paperMemory,
    shrunk: b.shrunk,
    kernels: b.backend.kernelsLine,
    adapter: b.backend.adapter,
    progress: b.progress,
    auc: plan.auc,
    afterEpoch: hooks.afterEpoch && ((epoch) => hooks.afterEpoch!(run.id, epoch)),
  });
  atomicWriteFile(resultPath(plan, run), `${JSON.stringify(result, null, 1)}\n`);
  new RunCheckpoints(checkpointDir(plan, run)).remove();
  print(
    `${run.id}: test AUC ${plan.auc.of(result.test).toFixed(4)} (${plan.auc.name}; best epoch ${result.best.epoch + 1}), ${result.timing.stepSeconds.toFixed(2)} s/step, ${(result.memory.runShapes.peakBytes / 2 ** 20).toFixed(1)} MiB`,
  );
}

/**
 * With a shared results folder, the process that finishes last (every run of the grid has its
 * result) writes the table; before that a table would silently leave runs out.
 */
async function finish(
  plan: RunPlan,
  grid: GridRun[],
  runs: GridRun[],
  heldElsewhere: string[],
  started: number,
  print: (line: string) => void,
): Promise<number> {
  const { out, shard } = plan;
  const minutes = () => ((performance.now() - started) / 1000 / 60).toFixed(1);
  const unfinished = grid.filter((r) => !existsSync(resultPath(plan, r))).length;
  if (heldElsewhere.length && unfinished > 0) {
    print(
      `${heldElsewhere.length} run(s) were left to other processes working on ${out}: ${heldElsewhere.join(', ')}; the last to finish writes the table (or run fpt-bench table ${out} then)`,
    );
    return 0;
  }
  if (shard && shard.count > 1 && unfinished > 0) {
    print(`${unfinished} run(s) of the grid have no result in ${out} yet (other shards).`);
    print(
      `shard ${shard.index}/${shard.count} finished: ${runs.length} runs in ${minutes()} min; when every shard has finished: fpt-bench merge ${out} (or the shards' folders)`,
    );
    return 0;
  }
  const { markdown, files } = await renderResults(out, plan.auc);
  print('');
  print(markdown);
  print(`wrote ${files.length} files under ${out} (table.md, table.csv, plots/); ${runs.length} runs in ${minutes()} min`);
  return 0;
}
