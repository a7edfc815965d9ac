// The result file of one run (`runs/<id>.json`, schema `RUN_SCHEMA`), made from what the run
// measured: everything the table, the plots and `fpt-bench merge` read.
import type { ParameterCounts } from '@fpt/backbone-vit';
import { LOGIT_AUC, ppe, pme, type LogitMetrics } from '../metrics/index';
import type { StepMemoryRecord } from '../memory/records';
import { methodLabel } from '../paper/paper';
import { RUN_SCHEMA, type RunResult } from '../results/schema';
import { environment } from './environment';
import { isPretrained } from './lpm';
import { SELECTION_RULE } from './selection';
import type { RunSpec } from './train';
import type { Trainable } from './trainable';

/** The optimizer and its settings: the paper's [recipe](../../../../docs/method.md#training-recipe). */
export const RECIPE = { weightDecay: 0.1, betas: [0.9, 0.999] as [number, number], clipNorm: 1 };

/** What a run measured, besides its spec. */
export interface RunOutcome {
  /** The method as built. */
  t: Trainable;
  /** Its parameter counts. */
  counts: ParameterCounts;
  /** Steps per epoch (drop last). */
  stepsPerEpoch: number;
  /** The training's history, best epoch, step memory and time. */
  state: TrainingState;
  /** Test metrics of the best-validation weights. */
  test: LogitMetrics;
  /** Test metrics of the final weights. */
  testFinal: LogitMetrics;
  /** The preload's record (null: the method does not preload). */
  preload: RunResult['preload'];
  /** The epoch resumed after (0-based), or null. */
  resumedFromEpoch: number | null;
  /** `performance.now()` when the run started. */
  started: number;
}

/** Where training stands: what a checkpoint keeps besides the tensors. */
export interface TrainingState {
  /** Every finished epoch. */
  history: RunResult['epochs'];
  /** The kept epoch and its rounded validation AUC (-1 and 0 before any is kept). */
  best: { epoch: number; valAuc: number };
  /** The step memory, once measured (the second step). */
  memory?: StepMemoryRecord;
  /** Seconds of training and evaluation, and of the timed steps (every step but the first). */
  seconds: { train: number; eval: number; steps: number; stepCount: number };
}

/** The result record of a finished run. */
export function runRecord(spec: RunSpec, o: RunOutcome): RunResult {
  const { run, data } = spec;
  const auc = spec.auc ?? LOGIT_AUC;
  const { t, counts, state } = o;
  const runMemory = state.memory ?? { peakBytes: NaN, excludedBytes: 0, how: 'measured' as const };
  const stepSeconds = state.seconds.stepCount ? state.seconds.steps / state.seconds.stepCount : NaN;
  return {
    schema: RUN_SCHEMA,
    id: run.id,
    preset: spec.preset,
    seed: run.seed,
    identity: spec.identity,
    dataset: {
      name: data.name,
      classes: data.classes,
      found: data.found,
      used: { train: data.splits.train.length, val: data.splits.val.length, test: data.splits.test.length },
      normalisation: { mean: data.stats.mean, std: data.stats.std, from: data.statsFrom },
      checksums: data.checksums,
    },
    method: { name: run.method, label: methodLabel(run.method), options: t.options, pixelSize: t.pixelSize },
    lpm: { source: spec.lpm.source, pretrained: isPretrained(spec.lpm), inputSize: spec.lpm.inputSize, config: { ...spec.lpm.config } },
    recipe: {
      optimizer: 'AdamW',
      lr: spec.lr,
      betas: RECIPE.betas,
      weightDecay: RECIPE.weightDecay,
      schedule: 'cosine per iteration, no warm-up',
      clipNorm: RECIPE.clipNorm,
      epochs: spec.epochs,
      batch: spec.batch,
      microBatch: spec.microBatch,
      stepsPerEpoch: o.stepsPerEpoch,
      dropLast: true,
      auc: auc.name,
      selection: SELECTION_RULE,
    },
    shrunk: spec.shrunk,
    environment: environment(spec.kernels, spec.adapter ?? null),
    parameters: counts,
    memory: {
      runShapes: runMemory,
      fullFinetuneRunShapes: spec.fullFinetuneMemory,
      ...('note' in spec.paperMemory
        ? { paperShapes: null, fullFinetunePaperShapes: null, paperShapesNote: spec.paperMemory.note }
        : { paperShapes: spec.paperMemory.method, fullFinetunePaperShapes: spec.paperMemory.full }),
    },
    preload: o.preload,
    timing: {
      stepSeconds,
      imagesPerSecond: spec.batch / stepSeconds,
      trainSeconds: state.seconds.train,
      evalSeconds: state.seconds.eval,
      totalSeconds: (performance.now() - o.started) / 1000,
    },
    epochs: state.history,
    best: state.best,
    test: o.test,
    testFinal: o.testFinal,
    efficiency: {
      auc: auc.name,
      ppe: ppe(auc.of(o.test), counts.sharePercent),
      pme: pme(auc.of(o.test), runMemory.peakBytes, spec.fullFinetuneMemory.peakBytes),
    },
    resumedFromEpoch: o.resumedFromEpoch,
    finishedAt: new Date().toISOString(),
  };
}
