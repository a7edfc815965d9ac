// What `fpt-bench run` was asked to do, as plain typed data: `commands/run.ts` makes it from the
// command line, `runBench` carries it out. Method names reach this folder with the factory that
// turns them into methods, so nothing here knows the command line.
import type { Method } from '@fpt/backbone-vit';
import type { AucConvention } from '../metrics/convention';
import type { PaperShapes } from '../paper/paper';
import { benchGrid, type GridRun } from '../results/grid';
import type { BenchPreset } from './presets';
import { shardRuns, type Shard } from './shard';

/**
 * Makes a method from its name and `--set` strings, configured for an LPM seen at `lpmInputSize`
 * (a fresh method per call: every real step and every run builds its own).
 * @throws naming the method and option when the name or an option is unknown or malformed
 */
export type MethodFactory = (name: string, options: Record<string, string>, lpmInputSize: number) => Method;

/** A parsed `fpt-bench run` command: the grid, the recipe, where things are read and written. */
export interface RunPlan {
  /** The preset, with `--limit` applied to its image counts and shrinking notes. */
  preset: BenchPreset;
  /** Methods of the grid, by name. */
  methods: string[];
  /** `--set method.key=value`, by method (the preset's options come first, these override them). */
  sets: Record<string, Record<string, string>>;
  /** Makes the methods. */
  makeMethod: MethodFactory;
  /** Dataset folder names under {@link RunPlan.dataRoot}. */
  datasets: string[];
  /** Run seeds. */
  seeds: number[];
  /** Epochs. */
  epochs: number;
  /** Images per step. */
  batch: number;
  /** `--micro-batch`: images per micro-batch (undefined: planned from the backend's memory). */
  microBatch?: number;
  /** `--memory-budget`: bytes a real step may take (undefined: from the backend, see `stepMemoryBudget`). */
  memoryBudget?: number;
  /** `--classes`: classes each dataset must have (undefined: the dataset preset's, else any). */
  classes?: number;
  /** Image decoder. */
  decoder: 'sharp' | 'js';
  /** Whether runs take the paper-shape memory figures (`--paper-memory on`). */
  paperMemory: boolean;
  /** The AUC that selects checkpoints and heads the table. */
  auc: AucConvention;
  /** Where the datasets are. */
  dataRoot: string;
  /** Results folder (`--out`). */
  out: string;
  /** Key/value cache folder (`--cache`). */
  cacheDir: string;
  /** The slice of the grid this process runs (undefined: all of it). */
  shard?: Shard;
  /** `--weights`: a safetensors path or `hf:REPO[@REV]` (undefined: a randomly initialised LPM). */
  weights?: string;
  /** `--backend` (`auto`, or a backend's name). */
  backend: string;
  /** `--dry-run`: list the runs, train nothing. */
  dryRun: boolean;
}

/** Hooks of a run for tests. */
export interface RunHooks {
  /** Shapes of the paper-shape memory figures for a run of C classes (default: the paper's with a C-class head, `vitB16At512`). */
  paperShapes?: (numClasses: number) => PaperShapes;
  /** Called after each committed epoch checkpoint of a run (a test can throw here to simulate a crash). */
  afterEpoch?: (runId: string, epoch: number) => void;
}

/** The plan's whole grid, the runs of its shard, and the shard in words. */
export function planRuns(plan: RunPlan): { grid: GridRun[]; runs: GridRun[]; note: string } {
  const grid = benchGrid(plan.datasets, plan.methods, plan.seeds);
  const runs = plan.shard ? shardRuns(grid, plan.shard) : grid;
  const note = plan.shard
    ? `shard ${plan.shard.index}/${plan.shard.count} (0-based): ${runs.length} of the grid's ${grid.length} runs`
    : `${grid.length} runs`;
  return { grid, runs, note };
}
