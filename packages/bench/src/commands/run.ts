import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describeAdapter, selectBackend, type BackendName } from '@fpt/core';
import { describeKernels, enableFastKernels } from '@fpt/kernels';
import { atomicWriteFile, readSafetensorsFile } from '@fpt/core/node';
import type { VitConfig } from '@fpt/backbone-vit';
import { datasetPreset, defaultDataRoot } from '../data/presets';
import { prepareDataset, type PreparedDataset } from '../data/prepare';
import { formatProblems, scanDataset, type DataProblem } from '../data/validate';
import { resolveWeights } from '../hub/weights';
import { aucConvention, LOGIT_AUC } from '../metrics/convention';
import { renderResults } from '../results/render';
import { ensureWritableFolder } from '../files/folder';
import { readRunResult, runsDir } from '../results/load';
import { checkPaperShapeMemory, checkStepMemory, type PaperShapeMemoryRecord, type StepMemoryRecord } from '../results/schema';
import { PAPER_SHAPES, paperShapeMemory, stepMemoryBudget, vitB16At512, type PaperShapes } from '../memory/paper';
import { cliMethod, setsForLpm } from '../methods';
import { RunCheckpoints } from '../run/checkpoint';
import { RunClaims } from '../run/claims';
import { benchGrid, type GridRun } from '../run/grid';
import { fileDigest, identityMismatch, imagesDigest, runIdentity, type RunIdentity } from '../run/identity';
import { parseShard, shardRuns, type Shard } from '../run/shard';
import { writeGridFile } from '../results/grid-file';
import { createLpm, vitConfigFromCheckpoint, type LpmSpec } from '../run/lpm';
import { BENCH_PRESETS, PAPER_METHODS, type BenchPreset } from '../run/presets';
import { checkBatch, checkMethods } from '../run/preflight';
import { createProgress, type Progress } from '../run/progress';
import { StepMemoryFits, planMicroBatch } from '../run/memory-plan';
import { MeasurementFile } from '../run/measurements';
import { trainRun } from '../run/train';
import { buildTrainable, trainableMethods } from '../run/trainable';
import { intOption, parseArgs } from './args';

const OPTIONS = [
  'preset',
  'methods',
  'datasets',
  'data-root',
  'weights',
  'epochs',
  'batch',
  'seeds',
  'backend',
  'out',
  'classes',
  'decoder',
  'shard',
  'cache',
  'paper-memory',
  'limit',
  'micro-batch',
  'auc',
];

/** `fpt-bench run` options that take a value (`fpt-bench cluster` passes them on). */
export const RUN_OPTIONS: readonly string[] = OPTIONS;

/** `fpt-bench run` usage. */
export const RUN_USAGE = `fpt-bench run [--preset quick|paper] [--methods a,b|paper|all] [--datasets a,b] [--data-root DIR]
              [--weights PATH|hf:REPO[@REV]] [--epochs N] [--batch N] [--seeds 0,1,2] [--backend auto|wasm|cpu|tensorflow]
              [--out DIR] [--classes N] [--decoder sharp|js] [--set method.key=value]...
              [--shard i/n] [--cache DIR] [--paper-memory on|off] [--limit N] [--micro-batch N] [--auc logits|probabilities] [--dry-run]`;

/** Parses `--methods`: a list, `paper` (the paper table's rows) or `all`. */
export function parseMethods(raw: string | undefined, fallback: string[]): string[] {
  if (raw === undefined) return fallback;
  const known = trainableMethods();
  const out = raw.split(',').flatMap((m) => (m === 'paper' ? [...PAPER_METHODS] : m === 'all' ? known : [m.trim()]));
  for (const m of out) if (!known.includes(m)) throw new Error(`--methods: unknown method "${m}"; known: paper, all, ${known.join(', ')}`);
  return [...new Set(out)];
}

/** Parses `--seeds 0,1,2`: non-negative integers in plain decimal digits, as strictly as `--epochs`, each once. */
export function parseSeeds(raw: string | undefined): number[] {
  if (raw === undefined) return [0];
  const seeds = raw.split(',').map((s) => {
    const n = Number(s);
    if (!/^[0-9]+$/.test(s) || !Number.isSafeInteger(n))
      throw new Error(
        `--seeds expects comma-separated non-negative integers in plain decimal digits (at most ${Number.MAX_SAFE_INTEGER}), got "${raw}"`,
      );
    return n;
  });
  return unique(seeds, '--seeds');
}

/**
 * Parses `--datasets a,b`: dataset folder names under `--data-root`, each once. A name is a folder
 * name, not a path: no separators, `.` or `..`, so that results stay inside `--out`.
 */
export function parseDatasets(raw: string | undefined, fallback: string[]): string[] {
  if (raw === undefined) return fallback;
  const names = raw.split(',').map((d) => d.trim());
  for (const name of names) {
    if (name === '') throw new Error(`--datasets expects comma-separated dataset folder names, got "${raw}" (an empty name)`);
    if (/[/\\]/.test(name) || name === '.' || name === '..' || name.includes('\0'))
      throw new Error(`--datasets: "${name}" is not a folder name (no "/", "\\", "." or ".."); a dataset is a folder of --data-root`);
  }
  return unique(names, '--datasets');
}

/** The values given, refusing one given twice (it would put a run twice in the grid). */
function unique<T>(values: T[], option: string): T[] {
  const twice = values.find((v, i) => values.indexOf(v) !== i);
  if (twice !== undefined) throw new Error(`${option} lists ${JSON.stringify(twice)} twice; give each once`);
  return values;
}

/** `--set method.key=value` pairs, grouped by method. */
export function methodSets(sets: Record<string, string>, methods: string[]): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const [k, v] of Object.entries(sets)) {
    const dot = k.indexOf('.');
    if (dot <= 0) throw new Error(`--set expects method.key=value (for example lora.rank=8), got "${k}=${v}"`);
    const method = k.slice(0, dot);
    if (!trainableMethods().includes(method))
      throw new Error(`--set ${k}: unknown method "${method}"; known: ${trainableMethods().join(', ')}`);
    out[method] ??= {};
    out[method][k.slice(dot + 1)] = v;
  }
  for (const m of Object.keys(out))
    if (!methods.includes(m)) throw new Error(`--set ${m}.*: method "${m}" is not among --methods (${methods.join(', ')})`);
  return out;
}

/**
 * Loads, validates and decodes every dataset of the run up front; returns them, or every problem
 * found (with paths) so that bad data fails before any training.
 */
async function prepareAll(
  names: string[],
  dataRoot: string,
  classes: number | undefined,
  preset: BenchPreset,
  decoder: 'sharp' | 'js',
  progress: Progress,
): Promise<{ data: Map<string, PreparedDataset>; problems: DataProblem[] }> {
  const problems: DataProblem[] = [];
  const data = new Map<string, PreparedDataset>();
  for (const name of names) {
    const scan = scanDataset(join(dataRoot, name), classes ?? datasetPreset(name)?.classes);
    problems.push(...scan.problems);
    // Images are decoded even when the layout has problems: every problem is reported in one pass.
    if (!scan.found) continue;
    const total = scan.found.splits.train.length + scan.found.splits.val.length + scan.found.splits.test.length;
    const bar = progress.bar(`${name}: verify + decode`, total);
    const fixed = datasetPreset(name)?.normalisation;
    const r = await prepareDataset(scan.found, scan.checksums, {
      normalisation: fixed && { stats: fixed, from: `preset ${name} (the official config's mean and std)` },
      decoder,
      maxSide: preset.maxSide,
      limit: preset.limit,
      onProgress: (d) => bar.update(d),
    });
    bar.stop();
    problems.push(...r.problems);
    if (r.prepared && scan.dataset) data.set(name, r.prepared);
  }
  return { data, problems };
}

/** Hooks of {@link runCommand} for tests. */
export interface RunCommandHooks {
  /** Shapes of the paper-shape memory figures for a run of C classes (default: the paper's with a C-class head, {@link vitB16At512}). */
  paperShapes?: (numClasses: number) => PaperShapes;
  /** Called after each committed epoch checkpoint of a run (a test can throw here to simulate a crash). */
  afterEpoch?: (runId: string, epoch: number) => void;
}

/**
 * `fpt-bench run`: trains and tests every (dataset, method, seed) of the grid with the paper's
 * recipe, one result file per run in `<out>/runs/`, then writes and prints the comparison table
 * and the plots. Finished runs are skipped; an interrupted run resumes from its last epoch.
 * @returns the exit code
 */
export async function runCommand(
  argv: string[],
  print: (line: string) => void = console.log,
  hooks: RunCommandHooks = {},
): Promise<number> {
  const args = parseArgs(argv, OPTIONS, ['dry-run']);
  if (args.positional.length)
    throw new Error(`fpt-bench run takes no positional arguments (got ${args.positional.join(' ')})\nusage: ${RUN_USAGE}`);
  const presetName = args.options.preset ?? 'quick';
  const named = BENCH_PRESETS[presetName];
  if (!named) throw new Error(`--preset: unknown preset "${presetName}"; known: ${Object.keys(BENCH_PRESETS).join(', ')}`);
  // --limit N: at most N images per split, the stratified subset the quick preset uses (the paper's
  // settings on a few images: every shape as in the paper, in minutes per method instead of hours).
  const limit = args.options.limit === undefined ? undefined : intOption(args, 'limit', 1);
  const preset: BenchPreset =
    limit === undefined
      ? named
      : {
          ...named,
          limit: {
            train: Math.min(limit, named.limit.train ?? limit),
            val: Math.min(limit, named.limit.val ?? limit),
            test: Math.min(limit, named.limit.test ?? limit),
          },
          shrunk: [...named.shrunk, `images per split: at most ${limit}, a stratified subset (--limit; paper: all)`],
        };
  const methods = parseMethods(args.options.methods, preset.methods);
  const sets = methodSets(args.sets, methods);
  const datasets = parseDatasets(args.options.datasets, preset.datasets);
  const seeds = parseSeeds(args.options.seeds);
  const epochs = intOption(args, 'epochs', preset.epochs);
  const batch = intOption(args, 'batch', preset.batch);
  const microBatchOption = args.options['micro-batch'] === undefined ? undefined : intOption(args, 'micro-batch', batch);
  if (microBatchOption !== undefined && microBatchOption > batch)
    throw new Error(`--micro-batch is ${microBatchOption}, larger than the batch of ${batch}: a micro-batch is a part of a batch`);
  const classes = args.options.classes === undefined ? undefined : intOption(args, 'classes', 2);
  const decoder = (args.options.decoder ?? 'sharp') as 'sharp' | 'js';
  const paperMemoryOption = args.options['paper-memory'] ?? (preset.paperMemory ? 'on' : 'off');
  if (paperMemoryOption !== 'on' && paperMemoryOption !== 'off')
    throw new Error(`--paper-memory must be on or off, got "${paperMemoryOption}"`);
  // The paper's shapes with the run's head: one figure per (method, classes).
  const paperShapesOf = hooks.paperShapes ?? ((numClasses: number) => vitB16At512(PAPER_SHAPES.batch, numClasses));
  // The AUC that selects checkpoints and heads the table: the official code's (logits) unless --auc says otherwise.
  const auc = aucConvention(args.options.auc ?? LOGIT_AUC.name);
  if (decoder !== 'sharp' && decoder !== 'js') throw new Error(`--decoder must be sharp or js, got "${decoder}"`);
  const dataRoot = args.options['data-root'] ?? defaultDataRoot();
  const out = args.options.out ?? join('bench-results', preset.name);
  // The key/value cache: per dataset and method configuration (entries keyed by fingerprint), so
  // shards on a shared filesystem can point --cache at one folder and compute each entry once.
  const cacheDir = args.options.cache ?? join(out, 'kv-cache');
  const shard: Shard | undefined = args.options.shard === undefined ? undefined : parseShard(args.options.shard);
  const grid = benchGrid(datasets, methods, seeds);
  const runs: GridRun[] = shard ? shardRuns(grid, shard) : grid;
  const shardNote = shard
    ? `shard ${shard.index}/${shard.count} (0-based): ${runs.length} of the grid's ${grid.length} runs`
    : `${grid.length} runs`;
  if (args.flags.has('dry-run')) {
    print(`fpt-bench run --dry-run --preset ${preset.name}: ${shardNote}; results in ${out}, cache in ${cacheDir}`);
    for (const run of runs) print(`  ${run.id}${existsSync(join(runsDir(out), `${run.id}.json`)) ? ' (finished, would be skipped)' : ''}`);
    return 0;
  }
  // The folders written are checked first: a read-only --out is one sentence now, not an error later.
  ensureWritableFolder(out, '--out');
  ensureWritableFolder(cacheDir, '--cache');
  const progress = createProgress(undefined, print);
  const started = performance.now();

  const backend = await selectBackend((args.options.backend ?? 'auto') as BackendName | 'auto', (p) => import(p));
  print(
    `fpt-bench run --preset ${preset.name}: backend ${backend.backend}${backend.attempts
      .filter((a) => !a.ok)
      .map((a) => ` (skipped ${a.backend}: ${a.reason})`)
      .join('')}`,
  );
  // The native SGEMM addon (or the portable WASM fallback) for matrix products; FPT_KERNELS=stock keeps tfjs's own.
  const kernels = describeKernels(enableFastKernels(backend.active));
  print(`kernels: ${kernels}`);
  if (backend.adapter) print(`adapter: ${describeAdapter(backend.adapter)}`);

  // The LPM: a checkpoint (its architecture read from it) or a random one of the preset's shape.
  let lpm: LpmSpec;
  if (args.options.weights) {
    const w = await resolveWeights(args.options.weights, { progress });
    const config: VitConfig = vitConfigFromCheckpoint(w.path, readSafetensorsFile(w.path));
    lpm = { config, inputSize: preset.lpmInputSize, weightsPath: w.path, source: w.source, initSeed: 0 };
    print(
      `LPM: ${w.source} (${w.path}), width ${config.hiddenSize}, ${config.numLayers} layers, ${config.posEmbedResample} naming, run at ${lpm.inputSize}x${lpm.inputSize}`,
    );
  } else {
    lpm = { config: preset.lpm, inputSize: preset.lpmInputSize, source: 'random', initSeed: 1234 };
    print(`LPM: randomly initialised (no --weights): accuracies are NOT comparable with the paper's`);
  }
  const shrunk = [...preset.shrunk];
  if (paperMemoryOption === 'off') shrunk.push('memory at the paper shapes: not measured (--paper-memory off)');
  if (epochs !== preset.epochs) shrunk.push(`epochs set to ${epochs} by --epochs`);
  if (shrunk.length) print(`the ${preset.name} preset differs from the paper:\n${shrunk.map((s) => `  - ${s}`).join('\n')}`);
  print(
    `datasets: ${datasets.join(', ')} (data root ${dataRoot}); methods: ${methods.join(', ')}; seeds: ${seeds.join(', ')}; ${epochs} epochs, batch ${batch}; ${shardNote}`,
  );

  // Every method of the grid is built once before any data is read: an option error or a size
  // the backend cannot hold surfaces now, not after other methods have trained.
  const budgetBytes = stepMemoryBudget(backend.heapLimitBytes);
  checkMethods({
    methods: [...new Set(runs.map((r) => r.method))],
    options: (m) => ({ ...preset.methodOptions[m], ...sets[m] }),
    lpm,
    numClasses: classes ?? 2,
    budgetBytes,
  });

  // Only the datasets this shard trains on are read and decoded.
  const needed = datasets.filter((d) => runs.some((r) => r.dataset === d));
  const { data, problems } = await prepareAll(needed, dataRoot, classes, preset, decoder, progress);
  if (problems.length) {
    print(`fpt-bench run: the data has ${problems.length} problem(s); nothing was trained:\n${formatProblems(problems)}`);
    return 1;
  }
  for (const d of data.values()) {
    print(
      `${d.name}: ${d.classes.length} classes [${d.classes.join(', ')}], images used train ${d.splits.train.length}/${d.found.train}, val ${d.splits.val.length}/${d.found.val}, test ${d.splits.test.length}/${d.found.test}; checksums ${d.checksums}; mean [${d.stats.mean.map((x) => x.toFixed(4))}] std [${d.stats.std.map((x) => x.toFixed(4))}] from ${d.statsFrom}; decoded in ${d.decodeSeconds.toFixed(1)} s`,
    );
  }

  checkBatch(batch, data.values());

  // A finished run or a checkpoint is reused only by a command with the same identity; every
  // conflict is named before anything is trained.
  const lpmWeights = lpm.weightsPath ? fileDigest(lpm.weightsPath) : null;
  const lrOf = (dataset: string) => preset.lr ?? datasetPreset(dataset)?.lr ?? 1e-4;
  const identityOf = (run: GridRun): RunIdentity => {
    const d = data.get(run.dataset)!;
    return runIdentity({
      preset: preset.name,
      recipe: { epochs, batch, lr: lrOf(run.dataset) },
      options: { ...preset.methodOptions[run.method], ...sets[run.method] },
      data: { classes: d.classes, maxSide: preset.maxSide ?? null, decoder, images: imagesDigest(d) },
      lpm: { config: { ...lpm.config }, inputSize: lpm.inputSize, initSeed: lpm.weightsPath ? null : lpm.initSeed, weights: lpmWeights },
      shrunk,
    });
  };
  const conflicts: string[] = [];
  for (const run of runs) {
    const identity = identityOf(run);
    const resultPath = join(runsDir(out), `${run.id}.json`);
    const ckptDir = join(out, 'checkpoints', run.id);
    if (existsSync(resultPath)) {
      const why = identityMismatch(readRunResult(resultPath).identity, identity, run.method);
      if (why)
        conflicts.push(
          `${resultPath}: finished by another command: ${why}; use another --out for these options, or delete the file to run it again`,
        );
    } else {
      const why = new RunCheckpoints(ckptDir).identityMismatch(identity, run.method);
      if (why)
        conflicts.push(
          `${ckptDir}: a checkpoint of another command: ${why}; rerun with the same options to resume, or delete the folder to start over`,
        );
    }
  }
  if (conflicts.length) {
    print(
      `fpt-bench run: ${conflicts.length} run(s) in ${out} were made with other options; nothing was trained:\n${conflicts.map((c) => `  - ${c}`).join('\n')}`,
    );
    return 1;
  }

  mkdirSync(runsDir(out), { recursive: true });
  writeGridFile(
    out,
    preset.name,
    grid.map((r) => r.id),
  );
  const reference = new MeasurementFile<StepMemoryRecord>(join(out, 'memory-reference.json'), checkStepMemory);
  // Paper-shape memory: per method configuration, shared by every dataset and seed, kept in the
  // output folder so that a resumed run does not measure again.
  const paper = new MeasurementFile<PaperShapeMemoryRecord>(join(out, 'paper-memory.json'), checkPaperShapeMemory);
  // Every step-memory figure (the run-shape reference, each run's micro-batch plan, the paper-shape
  // figures) starts from the method's fit at its shapes, made once and kept in the folder; a real
  // step is taken only where the fit says it fits the budget.
  const fits = new StepMemoryFits(join(out, 'memory-fits.json'), backend.backend, budgetBytes, print);
  const stepMemory = async (method: string, options: Record<string, string>, shapes: PaperShapes) => {
    const make = () => cliMethod(method).make(setsForLpm(method, options, shapes.imageSize));
    const fit = await fits.fit(method, options, make, shapes);
    return paperShapeMemory(make, { options, budgetBytes, backend: backend.backend, shapes, log: print, fit });
  };
  const paperMemory = async (method: string, numClasses: number): Promise<PaperShapeMemoryRecord> => {
    const paperShapes = paperShapesOf(numClasses);
    const options = sets[method] ?? {};
    const key = `v2|${paperShapes.label}|${method}|${JSON.stringify(options)}|${backend.backend}`;
    const known = paper.get(key);
    if (known) return known;
    print(`${method}: step memory at the paper's shapes (${paperShapes.label})`);
    const r = await stepMemory(method, options, paperShapes);
    print(`${method}: ${(r.peakBytes / 2 ** 20).toFixed(1)} MiB at the paper's shapes (${r.how}, ${r.seconds.toFixed(0)} s)`);
    paper.set(key, r);
    return r;
  };
  // The run's own shapes: its LPM at its input size, its batch and classes.
  const c = lpm.config;
  const runShapes = (numClasses: number): PaperShapes => ({
    lpm: c,
    imageSize: lpm.inputSize,
    batch,
    numClasses,
    label: `LPM width ${c.hiddenSize}, ${c.numLayers} layers at ${lpm.inputSize}x${lpm.inputSize}, batch ${batch}, ${numClasses}-class head`,
  });
  const asStepRecord = (r: PaperShapeMemoryRecord): StepMemoryRecord => ({
    peakBytes: r.peakBytes,
    excludedBytes: r.excludedBytes,
    how: r.how,
    extrapolation: r.extrapolation,
  });
  let done = 0;
  // Each run is claimed before it trains: processes sharing --out (with or without --shard) never
  // run one at once; runs other processes hold are left to them.
  const claims = new RunClaims(join(out, 'checkpoints'));
  const heldElsewhere: string[] = [];
  for (const run of runs) {
    const resultPath = join(runsDir(out), `${run.id}.json`);
    done++;
    if (existsSync(resultPath)) {
      print(`[${done}/${runs.length}] ${run.id}: finished earlier, skipped`);
      continue;
    }
    const holder = claims.acquire(run.id);
    if (holder) {
      heldElsewhere.push(`${run.id} (host ${holder.host}, pid ${holder.pid})`);
      print(`[${done}/${runs.length}] ${run.id}: being run by another process (host ${holder.host}, pid ${holder.pid}), left to it`);
      continue;
    }
    if (existsSync(resultPath)) {
      claims.release(run.id); // finished by another process since we looked
      print(`[${done}/${runs.length}] ${run.id}: finished by another process, skipped`);
      continue;
    }
    const d = data.get(run.dataset)!;
    const numClasses = d.classes.length;
    const shapes = runShapes(numClasses);
    const refKey = `v2|${lpm.source}|${shapes.label}|${backend.backend}`;
    let fullFinetuneMemory = reference.get(refKey);
    if (!fullFinetuneMemory) {
      fullFinetuneMemory = asStepRecord(await stepMemory('full', {}, shapes));
      reference.set(refKey, fullFinetuneMemory);
    }
    const paperRecords =
      paperMemoryOption === 'off'
        ? { note: 'not measured: --paper-memory off' }
        : { method: await paperMemory(run.method, numClasses), full: await paperMemory('full', numClasses) };
    // Micro-batches: as --micro-batch says, else the whole batch where the method's step fits the
    // backend's budget, else the largest micro-batch that does. The memory columns keep the whole
    // batch's figure (a real step where it fits, else the fit's prediction), as the paper reports it.
    const runOptions = { ...preset.methodOptions[run.method], ...sets[run.method] };
    const make = () => cliMethod(run.method).make(setsForLpm(run.method, runOptions, lpm.inputSize));
    const microBatch =
      microBatchOption ??
      planMicroBatch(await fits.fit(run.method, runOptions, make, shapes), c.numLayers, batch, budgetBytes, `${run.id} at ${shapes.label}`);
    const wholeBatchMemory = microBatch < batch ? asStepRecord(await stepMemory(run.method, runOptions, shapes)) : undefined;
    if (microBatch < batch)
      print(
        `${run.id}: ${batch} images per step in micro-batches of ${microBatch} (${microBatchOption ? '--micro-batch' : `the whole batch needs about ${(wholeBatchMemory!.peakBytes / 2 ** 20).toFixed(0)} MiB, over the budget of ${(budgetBytes / 2 ** 20).toFixed(0)} MiB`}): gradients accumulated, one update per batch`,
      );
    print(`[${done}/${runs.length}] ${run.id}`);
    const lr = lrOf(run.dataset);
    const result = await trainRun({
      run,
      preset: preset.name,
      identity: identityOf(run),
      data: d,
      build: () =>
        buildTrainable({
          method: run.method,
          options: runOptions,
          numClasses,
          seed: run.seed,
          lpm: createLpm(lpm),
          lpmInputSize: lpm.inputSize,
        }),
      lpm,
      lr,
      epochs,
      batch,
      microBatch,
      wholeBatchMemory,
      budgetBytes,
      cacheDir,
      checkpointDir: join(out, 'checkpoints', run.id),
      fullFinetuneMemory,
      paperMemory: paperRecords,
      shrunk,
      kernels,
      adapter: backend.adapter,
      progress,
      auc,
      afterEpoch: hooks.afterEpoch && ((epoch) => hooks.afterEpoch!(run.id, epoch)),
    });
    atomicWriteFile(resultPath, `${JSON.stringify(result, null, 1)}\n`);
    new RunCheckpoints(join(out, 'checkpoints', run.id)).remove();
    claims.release(run.id);
    print(
      `${run.id}: test AUC ${auc.of(result.test).toFixed(4)} (${auc.name}; best epoch ${result.best.epoch + 1}), ${result.timing.stepSeconds.toFixed(2)} s/step, ${(result.memory.runShapes.peakBytes / 2 ** 20).toFixed(1)} MiB`,
    );
  }
  // With a shared results folder, the shard that finishes last (every run of the grid has its
  // result) writes the table; before that a table would silently leave runs out.
  claims.close();
  const unfinished = grid.filter((r) => !existsSync(join(runsDir(out), `${r.id}.json`))).length;
  if (heldElsewhere.length && unfinished > 0) {
    print(
      `${heldElsewhere.length} run(s) were left to other processes working on ${out}: ${heldElsewhere.join(', ')}; the last to finish writes the table (or run fpt-bench table ${out} then)`,
    );
    return 0;
  }
  if (shard && shard.count > 1 && unfinished > 0) {
    print(`${unfinished} run(s) of the grid have no result in ${out} yet (other shards).`);
    print(
      `shard ${shard.index}/${shard.count} finished: ${runs.length} runs in ${((performance.now() - started) / 1000 / 60).toFixed(1)} min; when every shard has finished: fpt-bench merge ${out} (or the shards' folders)`,
    );
    return 0;
  }
  const { markdown, files } = await renderResults(out, auc);
  print('');
  print(markdown);
  print(
    `wrote ${files.length} files under ${out} (table.md, table.csv, plots/); ${runs.length} runs in ${((performance.now() - started) / 1000 / 60).toFixed(1)} min`,
  );
  return 0;
}
