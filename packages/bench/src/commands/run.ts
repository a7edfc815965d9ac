import { join } from 'node:path';
import { defaultDataRoot } from '../data/presets';
import { aucConvention, LOGIT_AUC } from '../metrics/convention';
import { PAPER_METHODS } from '../paper/paper';
import { runBench } from '../run/bench';
import type { RunHooks, RunPlan } from '../run/plan';
import { benchPreset, type BenchPreset } from '../run/presets';
import { parseShard } from '../run/shard';
import { intOption, parseArgs, sizeOption, type ParsedArgs } from './args';
import { makeMethod, trainableMethods } from './methods';

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
  'memory-budget',
  'auc',
];

/** `fpt-bench run` options that take a value (`fpt-bench cluster` passes them on). */
export const RUN_OPTIONS: readonly string[] = OPTIONS;

/** `fpt-bench run` usage. */
export const RUN_USAGE = `fpt-bench run [--preset quick|paper] [--methods a,b|paper|all] [--datasets a,b] [--data-root DIR]
              [--weights PATH|hf:REPO[@REV]] [--epochs N] [--batch N] [--seeds 0,1,2] [--backend auto|wasm|cpu|tensorflow]
              [--out DIR] [--classes N] [--decoder sharp|js] [--set method.key=value]...
              [--shard i/n] [--cache DIR] [--paper-memory on|off] [--limit N] [--micro-batch N] [--memory-budget SIZE] [--auc logits|probabilities] [--dry-run]`;

/** Parses `--methods`: a list, `paper` (the paper table's rows) or `all`. */
export function parseMethods(raw: string | undefined, fallback: string[]): string[] {
  if (raw === undefined) return fallback;
  const known = trainableMethods();
  const out = raw.split(',').flatMap((m) => (m === 'paper' ? [...PAPER_METHODS] : m === 'all' ? known : [m.trim()]));
  for (const m of out) if (!known.includes(m)) throw new Error(`--methods: unknown method "${m}"; known: paper, all, ${known.join(', ')}`);
  return [...new Set(out)];
}

/**
 * Parses `--seeds 0,1,2`: non-negative integers in plain decimal digits, as strictly as `--epochs`, each once.
 * @param fallback - the seeds when the option is absent (the preset's)
 */
export function parseSeeds(raw: string | undefined, fallback: number[]): number[] {
  if (raw === undefined) return [...fallback];
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

/** `--preset`, with `--limit N` applied: at most N images per split, the stratified subset the quick preset uses. */
function presetOption(args: ParsedArgs): BenchPreset {
  const presetName = args.options.preset ?? 'quick';
  const named = benchPreset(presetName);
  // The paper's settings on a few images: every shape as in the paper, in minutes per method instead of hours.
  const limit = args.options.limit === undefined ? undefined : intOption(args, 'limit', 1);
  if (limit === undefined) return named;
  return {
    ...named,
    limit: {
      train: Math.min(limit, named.limit.train ?? limit),
      val: Math.min(limit, named.limit.val ?? limit),
      test: Math.min(limit, named.limit.test ?? limit),
    },
    shrunk: [...named.shrunk, `images per split: at most ${limit}, a stratified subset (--limit; paper: all)`],
  };
}

/**
 * Parses a `fpt-bench run` command line into its plan; nothing is read or written.
 * @throws naming the option at fault and what it accepts
 */
export function parseRunArgs(argv: string[]): RunPlan {
  const args = parseArgs(argv, OPTIONS, ['dry-run']);
  if (args.positional.length)
    throw new Error(`fpt-bench run takes no positional arguments (got ${args.positional.join(' ')})\nusage: ${RUN_USAGE}`);
  const preset = presetOption(args);
  const methods = parseMethods(args.options.methods, preset.methods);
  const sets = methodSets(args.sets, methods);
  const datasets = parseDatasets(args.options.datasets, preset.datasets);
  const seeds = parseSeeds(args.options.seeds, preset.seeds);
  const epochs = intOption(args, 'epochs', preset.epochs);
  const batch = intOption(args, 'batch', preset.batch);
  const microBatch = args.options['micro-batch'] === undefined ? undefined : intOption(args, 'micro-batch', batch);
  if (microBatch !== undefined && microBatch > batch)
    throw new Error(`--micro-batch is ${microBatch}, larger than the batch of ${batch}: a micro-batch is a part of a batch`);
  const memoryBudget = sizeOption(args, 'memory-budget');
  const classes = args.options.classes === undefined ? undefined : intOption(args, 'classes', 2);
  const decoder = args.options.decoder ?? 'sharp';
  const paperMemory = args.options['paper-memory'] ?? (preset.paperMemory ? 'on' : 'off');
  if (paperMemory !== 'on' && paperMemory !== 'off') throw new Error(`--paper-memory must be on or off, got "${paperMemory}"`);
  // The AUC that selects checkpoints and heads the table: the official code's (logits) unless --auc says otherwise.
  const auc = aucConvention(args.options.auc ?? LOGIT_AUC.name);
  if (decoder !== 'sharp' && decoder !== 'js') throw new Error(`--decoder must be sharp or js, got "${decoder}"`);
  const out = args.options.out ?? join('bench-results', preset.name);
  return {
    preset,
    methods,
    sets,
    makeMethod,
    datasets,
    seeds,
    epochs,
    batch,
    microBatch,
    memoryBudget,
    classes,
    decoder,
    paperMemory: paperMemory === 'on',
    auc,
    dataRoot: args.options['data-root'] ?? defaultDataRoot(),
    out,
    // The key/value cache: per dataset and method configuration (entries keyed by fingerprint), so
    // shards on a shared filesystem can point --cache at one folder and compute each entry once.
    cacheDir: args.options.cache ?? join(out, 'kv-cache'),
    shard: args.options.shard === undefined ? undefined : parseShard(args.options.shard),
    weights: args.options.weights || undefined,
    backend: args.options.backend ?? 'auto',
    dryRun: args.flags.has('dry-run'),
  };
}

/**
 * `fpt-bench run`: parses the command line into a plan and carries it out (`runBench`): trains and
 * tests every (dataset, method, seed) of the grid with the paper's recipe, one result file per run
 * in `<out>/runs/`, then writes and prints the comparison table and the plots. Finished runs are
 * skipped; an interrupted run resumes from its last epoch.
 * @returns the exit code
 */
export async function runCommand(argv: string[], print: (line: string) => void = console.log, hooks: RunHooks = {}): Promise<number> {
  return runBench(parseRunArgs(argv), print, hooks);
}
