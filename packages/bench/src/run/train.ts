import * as tf from '@tensorflow/tfjs-core';
import type { Batch, ForwardContext } from '@fpt/backbone-vit';
import { AdamW, adamwStateDict, cosineSchedule, measureStep, trainStepAsync, type GpuAdapterReport, type TrainStepResult } from '@fpt/core';
import type { PreparedDataset } from '../data/prepare';
import type { Split } from '../data/image-folder';
import { evaluateLogits, LOGIT_AUC, type AucConvention, type LogitMetrics } from '../metrics/index';
import { guardMemory } from '../memory/guard';
import type { PaperShapeMemoryRecord, StepMemoryRecord } from '../memory/records';
import type { GridRun } from '../results/grid';
import { identityMismatch, type RunIdentity } from '../results/identity';
import type { RunResult } from '../results/schema';
import type { Progress } from '../terminal/progress';
import { DamagedCheckpointError, RunCheckpoints } from './checkpoint';
import type { LpmSpec } from './lpm';
import { microBatches } from './memory-plan';
import { Augmenter, epochOrder, splitEvalPixels, stackPixels } from './pipeline';
import { preloadRun } from './preload';
import { RECIPE, runRecord, type TrainingState } from './record';
import { deriveSeed } from './seeds';
import { selectEpoch } from './selection';
import type { Trainable } from './trainable';

/** Everything one run needs besides the method itself. */
export interface RunSpec {
  /** The grid entry. */
  run: GridRun;
  /** Preset name (recorded). */
  preset: string;
  /** Everything that changes the result: recorded in the result and the checkpoints, checked on resume. */
  identity: RunIdentity;
  /** The dataset, decoded. */
  data: PreparedDataset;
  /** Builds the method (a fresh LPM inside). */
  build: () => Trainable;
  /** The LPM's description. */
  lpm: LpmSpec;
  /** Base learning rate. */
  lr: number;
  /** Epochs. */
  epochs: number;
  /** Batch size. */
  batch: number;
  /**
   * Images per micro-batch (at most `batch`): a smaller value splits each step into micro-batches
   * whose gradients are accumulated into one update, the same update as the whole batch's.
   */
  microBatch: number;
  /**
   * The step memory of the whole batch (measured or extrapolated) when the run accumulates
   * micro-batches: the figure the memory columns report, as the paper does. Omit when `microBatch`
   * is the whole batch: the run then measures its own step.
   */
  wholeBatchMemory?: StepMemoryRecord;
  /** Bytes a step or an LPM pass may take on the backend (sizes the preload's batches). */
  budgetBytes: number;
  /** Key/value cache root. */
  cacheDir: string;
  /** This run's checkpoint folder. */
  checkpointDir: string;
  /** Full fine-tuning's step memory at the same shapes (PME reference). */
  fullFinetuneMemory: StepMemoryRecord;
  /** This method and full fine-tuning at the paper's shapes, or null with the reason. */
  paperMemory: { method: PaperShapeMemoryRecord; full: PaperShapeMemoryRecord } | { note: string };
  /** What the preset shrank. */
  shrunk: string[];
  /** The matrix-product kernels in use, for the result file. */
  kernels: string;
  /** The WebGPU adapter when the backend is `webgpu`, for the result file. */
  adapter?: GpuAdapterReport | null;
  /** Progress output. */
  progress: Progress;
  /** The AUC that selects the checkpoint and gives PPE/PME (default: the official code's, on logits). */
  auc?: AucConvention;
  /** Test hook: called after each committed epoch checkpoint. */
  afterEpoch?: (epoch: number) => void;
}

/** One run being trained: the method, its optimizer and data, and where training stands. */
interface Training {
  spec: RunSpec;
  t: Trainable;
  optimizer: AdamW;
  augmenter: Augmenter;
  ckpt: RunCheckpoints;
  auc: AucConvention;
  stepsPerEpoch: number;
  schedule: (step: number) => number;
  state: TrainingState;
}

/**
 * Trains and tests one method on one dataset with the paper's [recipe](../../../../docs/method.md#training-recipe): AdamW (weight decay 0.1),
 * half-cosine decay per iteration, global-norm clipping 1.0, drop last; validation every epoch;
 * the official code's checkpoint rule ({@link selectEpoch}); both the best-validation weights
 * (`test`) and the final weights (`testFinal`) are tested. Checkpoints after every epoch; a run
 * killed at any moment resumes from its last finished epoch with equal results.
 * @returns the result record (not yet written)
 */
export async function trainRun(spec: RunSpec): Promise<RunResult> {
  const started = performance.now();
  const t = spec.build();
  // Whether the run failed: its clean-up must not replace the error (see `freeing`).
  let failed = true;
  try {
    const preload = t.preload
      ? await preloadRun(t, {
          id: spec.run.id,
          data: spec.data,
          lpmInputSize: spec.lpm.inputSize,
          budgetBytes: spec.budgetBytes,
          cacheDir: spec.cacheDir,
          progress: spec.progress,
        })
      : null;
    const optimizer = new AdamW(t.trainableVariables(), { lr: spec.lr, weightDecay: RECIPE.weightDecay });
    const augmenter = new Augmenter(spec.data, t.pixelSize, spec.run.seed);
    try {
      const training = resume(spec, t, optimizer, augmenter);
      for (let epoch = training.startEpoch; epoch < spec.epochs; epoch++) await trainEpoch(training, epoch);
      const { test, testFinal } = await testRun(training);
      failed = false;
      return runRecord(spec, {
        t,
        counts: t.counts(),
        stepsPerEpoch: training.stepsPerEpoch,
        state: training.state,
        test,
        testFinal,
        preload,
        resumedFromEpoch: training.resumedFromEpoch,
        started,
      });
    } finally {
      await freeing(async () => {
        optimizer.dispose();
        await augmenter.dispose();
      }, failed);
    }
  } finally {
    await freeing(() => t.dispose(), failed);
  }
}

/**
 * The training of a run from its start, or from its checkpoint: the weights, AdamW's moments and
 * the history saved after the last finished epoch. A damaged checkpoint is never used (the run
 * starts over); one saved by another command, or selecting by another AUC, is refused.
 */
function resume(
  spec: RunSpec,
  t: Trainable,
  optimizer: AdamW,
  augmenter: Augmenter,
): Training & { startEpoch: number; resumedFromEpoch: number | null } {
  const { run, progress } = spec;
  const auc = spec.auc ?? LOGIT_AUC;
  const nTrain = spec.data.splits.train.length;
  const stepsPerEpoch = Math.floor(nTrain / spec.batch);
  if (stepsPerEpoch < 1) throw new Error(`${run.id}: ${nTrain} training images make no full batch of ${spec.batch} (drop last)`);
  const ckpt = new RunCheckpoints(spec.checkpointDir);
  const training = {
    spec,
    t,
    optimizer,
    augmenter,
    ckpt,
    auc,
    stepsPerEpoch,
    schedule: cosineSchedule(spec.lr, spec.epochs * stepsPerEpoch),
    // No epoch kept yet: the official rule starts from a best of 0.
    state: { history: [], best: { epoch: -1, valAuc: 0 }, seconds: { train: 0, eval: 0, steps: 0, stepCount: 0 } } as TrainingState,
    startEpoch: 0,
    resumedFromEpoch: null as number | null,
  };
  let saved: ReturnType<RunCheckpoints['load']>;
  try {
    saved = ckpt.load(t.trainableParams());
  } catch (err) {
    if (!(err instanceof DamagedCheckpointError)) throw err;
    // A damaged checkpoint is never used: the run starts over (the only intact state left).
    progress.log(`${run.id}: the checkpoint is damaged (${err.message}); starting this run over from epoch 1`);
    ckpt.remove();
    saved = undefined;
  }
  if (!saved) return training;
  const mismatch = identityMismatch(saved.state.identity, spec.identity, run.method);
  if (mismatch)
    throw new Error(
      `${spec.checkpointDir}: the checkpoint was saved by another command: ${mismatch}; rerun with the same options to resume, or delete ${spec.checkpointDir} to start this run over`,
    );
  const savedAuc = saved.state.auc ?? 'probabilities';
  if (savedAuc !== auc.name)
    throw new Error(
      `${spec.checkpointDir}: this checkpoint selected epochs by the AUC on ${savedAuc}, the run asks for ${auc.name}; rerun with --auc ${savedAuc}, or remove the folder to start over`,
    );
  t.loadState(saved.model);
  optimizer.loadState(saved.optimizer);
  const { history, best, memory, seconds } = saved.state;
  training.state = { history, best, memory, seconds };
  training.startEpoch = saved.state.epoch + 1;
  training.resumedFromEpoch = saved.state.epoch;
  progress.log(`${run.id}: resuming after epoch ${saved.state.epoch + 1}/${spec.epochs}`);
  return training;
}

/** One epoch: its training steps, then validation, the checkpoint rule and the epoch's checkpoint. */
async function trainEpoch(training: Training, epoch: number): Promise<void> {
  const { spec, augmenter, stepsPerEpoch, state } = training;
  const { run, data } = spec;
  const epochStart = performance.now();
  const order = epochOrder(data.splits.train.length, run.seed, epoch);
  const bar = spec.progress.bar(`${run.id} epoch ${epoch + 1}/${spec.epochs}`, stepsPerEpoch);
  let lossSum = 0;
  const indicesOf = (s: number) => order.slice(s * spec.batch, (s + 1) * spec.batch);
  // The next batch's pixels are made (in the worker thread) while this step runs.
  let next = augmenter.request(indicesOf(0), epoch);
  for (let s = 0; s < stepsPerEpoch; s++) {
    const items = indicesOf(s).map((i) => data.splits.train[i]!); // indices of the epoch's order over the split
    const arrays = await next;
    if (s + 1 < stepsPerEpoch) next = augmenter.request(indicesOf(s + 1), epoch);
    const result = await trainStep(training, epoch * stepsPerEpoch + s, items, arrays);
    lossSum += result.loss;
    bar.update(s + 1, `loss ${result.loss.toFixed(4)}`);
  }
  bar.stop();
  const trainSeconds = (performance.now() - epochStart) / 1000;
  const evalStart = performance.now();
  const val = await evaluate(training, 'val');
  state.seconds.eval += (performance.now() - evalStart) / 1000;
  state.seconds.train += trainSeconds;
  state.history.push({ epoch, trainLoss: lossSum / stepsPerEpoch, lr: training.optimizer.learningRate, val, trainSeconds });
  await endEpoch(training, epoch, val, lossSum / stepsPerEpoch);
}

/**
 * One optimizer step over a batch, in micro-batches: each micro-batch's tensors are made inside its
 * loss, so only one micro-batch's images, keys/values and activations are alive at a time; its
 * share weights its gradients. The second step (AdamW's moments exist, as in every later one) is
 * measured for the memory columns.
 */
async function trainStep(
  training: Training,
  step: number,
  items: PreparedDataset['splits']['train'],
  arrays: Float32Array[],
): Promise<TrainStepResult> {
  const { spec, t, optimizer, state } = training;
  optimizer.learningRate = training.schedule(step);
  const ctx: ForwardContext = { training: true, seed: deriveSeed(spec.run.seed, 'dropout', step), step };
  const parts = microBatches(items.length, spec.microBatch).map(([a, b]) => ({
    weight: (b - a) / items.length,
    loss: () => {
      const mb = items.slice(a, b);
      const batch: Batch = { pixels: stackPixels(arrays.slice(a, b), t.pixelSize), extras: t.extras?.(mb.map((it) => it.hash)) };
      const labels = tf.tensor1d(
        mb.map((it) => it.label),
        'int32',
      );
      return t.loss(batch, labels, { ...ctx, sampleOffset: a });
    },
  }));
  // Read back with await data(): every backend, WebGPU included; on a GPU the reads wait for the step's work.
  const [only, ...more] = parts;
  const doStep = () => trainStepAsync(only && more.length === 0 ? only.loss : parts, optimizer, { clipNorm: RECIPE.clipNorm });
  const stepStart = performance.now();
  let result: TrainStepResult;
  const what = `${spec.run.id}: a training step of ${items.length} images in micro-batches of ${spec.microBatch} at ${t.pixelSize}x${t.pixelSize}`;
  if (step === 1 && !state.memory) {
    const m = await guardMemory(what, spec.budgetBytes, () => measureStep(doStep));
    const excluded = t.excludedBytes();
    const measured = m.peakBufferBytes - excluded;
    state.memory = spec.wholeBatchMemory
      ? { ...spec.wholeBatchMemory, microBatch: { size: spec.microBatch, measuredPeakBytes: measured } }
      : { peakBytes: measured, excludedBytes: excluded, how: 'measured' };
    result = m.result;
  } else {
    result = await guardMemory(what, spec.budgetBytes, doStep);
  }
  if (step > 0) {
    state.seconds.steps += (performance.now() - stepStart) / 1000;
    state.seconds.stepCount++;
  }
  return result;
}

/** After an epoch's validation: the official checkpoint rule (a NaN AUC is never kept), the line, the epoch's checkpoint. */
async function endEpoch(training: Training, epoch: number, val: LogitMetrics, trainLoss: number): Promise<void> {
  const { spec, t, ckpt, auc, state } = training;
  const kept = selectEpoch(auc.of(val), state.best.valAuc);
  if (kept !== undefined) {
    state.best = { epoch, valAuc: kept };
    ckpt.saveBest(await t.saveState());
  }
  spec.progress.log(
    `${spec.run.id} epoch ${epoch + 1}/${spec.epochs}: train loss ${trainLoss.toFixed(4)}, val AUC ${auc.of(val).toFixed(4)} (${auc.name})${state.best.epoch === epoch ? ' (best)' : ''}`,
  );
  ckpt.save(
    {
      identity: spec.identity,
      epoch,
      history: state.history,
      best: state.best,
      memory: state.memory,
      seconds: state.seconds,
      auc: auc.name,
    },
    await t.saveState(),
    adamwStateDict(await training.optimizer.stateAsync(), t.trainableParams()),
  );
  spec.afterEpoch?.(epoch);
}

/**
 * The test split on the final weights and on the best-validation ones, as the official code tests
 * both (the table keeps the latter). With no epoch kept (no validation AUC above 0) both are the
 * final weights.
 * @throws when the validation AUC was NaN after every epoch: no checkpoint can be tested
 */
async function testRun(training: Training): Promise<{ test: LogitMetrics; testFinal: LogitMetrics }> {
  const { spec, t, ckpt, auc, state } = training;
  if (state.history.every((e) => Number.isNaN(auc.of(e.val))))
    throw new Error(
      `${spec.run.id}: the validation AUC was NaN after every epoch (the model's outputs are not finite); no checkpoint can be tested`,
    );
  const evalStart = performance.now();
  const testFinal = await evaluate(training, 'test');
  let test = testFinal;
  if (state.best.epoch >= 0) {
    t.loadState(ckpt.loadBest());
    test = await evaluate(training, 'test');
  }
  state.seconds.eval += (performance.now() - evalStart) / 1000;
  return { test, testFinal };
}

/** A split's metrics in batches of the micro-batch size, an out-of-memory error named. */
function evaluate(training: Training, split: Split): Promise<LogitMetrics> {
  const { spec, t } = training;
  return guardMemory(`${spec.run.id}: evaluation in batches of ${spec.microBatch} at ${t.pixelSize}x${t.pixelSize}`, spec.budgetBytes, () =>
    evaluateSplit(t, spec.data, split, spec.microBatch),
  );
}

/** The logits of a split, in split order, and their metrics (both AUC conventions). */
async function evaluateSplit(t: Trainable, data: PreparedDataset, split: Split, batch: number): Promise<LogitMetrics> {
  const items = data.splits[split];
  const pixels = splitEvalPixels(data, split, t.pixelSize);
  const C = data.classes.length;
  const logits = new Float32Array(items.length * C);
  for (let s = 0; s < items.length; s += batch) {
    const b: Batch = {
      pixels: stackPixels(pixels.slice(s, s + batch), t.pixelSize),
      extras: t.extras?.(items.slice(s, s + batch).map((it) => it.hash)),
    };
    const z = t.logits(b);
    logits.set((await z.data()) as Float32Array, s * C);
    tf.dispose([z, b.pixels, ...Object.values(b.extras ?? {})]);
  }
  return evaluateLogits(
    items.map((it) => it.label),
    logits,
    C,
  );
}

/**
 * Runs a clean-up in a `finally` block. After an out-of-memory error the WASM heap can be left
 * broken, and freeing then throws "memory access out of bounds" again, which would replace the
 * sentence that names the step: when the block failed (`failed`), a clean-up error is dropped so
 * that the block's own error comes out; on the normal path it is thrown.
 */
async function freeing(free: () => void | Promise<void>, failed: boolean): Promise<void> {
  try {
    await free();
  } catch (err) {
    if (!failed) throw err;
  }
}
