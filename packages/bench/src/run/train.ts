import * as tf from '@tensorflow/tfjs-core';
import { AdamW, adamwStateDict, cosineSchedule, measureStep, trainStepAsync, type GpuAdapterReport, type TrainStepResult } from '@fpt/core';
import type { PreparedDataset } from '../data/prepare';
import type { Split } from '../data/image-folder';
import { evaluateLogits, LOGIT_AUC, ppe, pme, type AucConvention, type LogitMetrics } from '../metrics/index';
import type { EpochRecord, PaperShapeMemoryRecord, RunResult, StepMemoryRecord } from '../results/schema';
import { RUN_SCHEMA } from '../results/schema';
import { DamagedCheckpointError, RunCheckpoints } from './checkpoint';
import { environment } from './environment';
import type { GridRun } from './grid';
import { identityMismatch, type RunIdentity } from './identity';
import { methodLabel } from './labels';
import { isPretrained, type LpmSpec } from './lpm';
import { Augmenter, epochOrder, splitEvalPixels, stackPixels } from './pipeline';
import type { Progress } from './progress';
import { deriveSeed } from './seeds';
import { guardMemory } from '../memory/guard';
import { microBatches } from './memory-plan';
import { SELECTION_RULE, selectEpoch } from './selection';
import type { Batch, Trainable } from './trainable';

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

const WEIGHT_DECAY = 0.1;

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
const CLIP_NORM = 1;

/** The logits of a split, in split order, and their metrics (both AUC conventions). */
async function evaluateSplit(t: Trainable, data: PreparedDataset, split: Split, batch: number): Promise<LogitMetrics> {
  const items = data.splits[split];
  const pixels = splitEvalPixels(data, split, t.pixelSize);
  const C = data.classes.length;
  const logits = new Float32Array(items.length * C);
  for (let s = 0; s < items.length; s += batch) {
    const idx = Array.from({ length: Math.min(batch, items.length - s) }, (_, i) => s + i);
    const b: Batch = {
      pixels: stackPixels(
        idx.map((i) => pixels[i]),
        t.pixelSize,
      ),
      extras: t.extras?.(idx.map((i) => items[i].hash)),
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
 * Trains and tests one method on one dataset with the paper's [recipe](../../../../docs/method.md#training-recipe): AdamW (weight decay 0.1),
 * half-cosine decay per iteration, global-norm clipping 1.0, drop last; validation every epoch;
 * the official code's checkpoint rule ({@link selectEpoch}); both the best-validation weights
 * (`test`) and the final weights (`testFinal`) are tested. Checkpoints after every epoch; a run
 * killed at any moment resumes from its last finished epoch with equal results.
 * @returns the result record (not yet written)
 */
export async function trainRun(spec: RunSpec): Promise<RunResult> {
  const started = performance.now();
  const { data, run, progress } = spec;
  const auc = spec.auc ?? LOGIT_AUC;
  const t = spec.build();
  // Whether the run failed: its clean-up must not replace the error (see `freeing`).
  let failed = true;
  const ckpt = new RunCheckpoints(spec.checkpointDir);
  try {
    // Preloading (FPT+/FPT): the LPM runs once per image, un-augmented, apart from training.
    let preloadRecord: RunResult['preload'] = null;
    if (t.preload) {
      const splits: Split[] = ['train', 'val', 'test'];
      const items = splits.flatMap((s) =>
        data.splits[s].map((p, i) => ({
          hash: p.hash,
          pixels: () => tf.tensor(splitEvalPixels(data, s, spec.lpm.inputSize)[i], [3, spec.lpm.inputSize, spec.lpm.inputSize]),
        })),
      );
      const bar = progress.bar(`${run.id} preload`, items.length);
      const seen = new Set<string>();
      const onEvent = (e: { imageHash: string }) => {
        seen.add(e.imageHash);
        bar.update(Math.min(seen.size, items.length));
      };
      // One image at a time until one is computed (not a cache hit): its peak sizes the LPM batches
      // to the backend's budget (the peak grows by the same amount with every image of a batch; at
      // the paper's 1,025 tokens one image's attention alone takes ~200 MiB, so 16 at once overflow
      // WASM's heap). The last call covers every image (those done already are hits) and keys them.
      const what = `${run.id}: the LPM's forward pass for the key/value cache at ${spec.lpm.inputSize}x${spec.lpm.inputSize}`;
      let probed = 0;
      let probe: { computed: number; invalid: number; seconds: number; peakBytes: number | null } = {
        computed: 0,
        invalid: 0,
        seconds: 0,
        peakBytes: null,
      };
      let batchSize = 16;
      while (probed < items.length && probe.peakBytes === null) {
        const one = items.slice(probed, ++probed);
        const m = await guardMemory(`${what}, batch 1`, spec.budgetBytes, () =>
          measureStep(() => t.preload!(one, spec.cacheDir, data.stats, onEvent, 1)),
        );
        probe = {
          computed: probe.computed + m.result.computed,
          invalid: probe.invalid + m.result.invalid,
          seconds: probe.seconds + m.result.seconds,
          peakBytes: m.result.computed ? m.peakBufferBytes : null,
        };
        const perImage = Math.max(1, m.peakBufferBytes - m.baselineBytes);
        // Half the budget's room: the WASM kernels' scratch and the allocator's fragmentation are not
        // in the buffer count (measured at ViT-B/16, 512 px: 198 MiB per image counted; 16 images,
        // 3.5 GB counted, overflow a fresh 4 GiB heap, 8 images, 1.9 GB, pass).
        if (m.result.computed) batchSize = Math.max(1, Math.min(16, Math.floor((spec.budgetBytes - m.baselineBytes) / (2 * perImage))));
      }
      if (probe.peakBytes !== null)
        progress.log(
          `${run.id}: the LPM's pass over one image peaks at ${(probe.peakBytes / 2 ** 20).toFixed(0)} MiB: preloading ${batchSize} images per pass`,
        );
      const rest = await guardMemory(`${what}, batch ${batchSize}`, spec.budgetBytes, () =>
        t.preload!(items, spec.cacheDir, data.stats, onEvent, batchSize),
      );
      bar.update(items.length, `${rest.computed + probe.computed} computed`);
      bar.stop();
      preloadRecord = {
        images: rest.images,
        computed: probe.computed + rest.computed,
        hits: rest.hits - probe.computed,
        invalid: probe.invalid + rest.invalid,
        seconds: probe.seconds + rest.seconds,
        peakBytes: probe.peakBytes,
        // Null only when no image needed the LPM: every entry was cached by an earlier run.
        peakHow: probe.peakBytes === null ? ('cache hit' as const) : ('measured' as const),
        batchSize,
      };
    }
    const optimizer = new AdamW(t.trainableVariables(), { lr: spec.lr, weightDecay: WEIGHT_DECAY });
    const augmenter = new Augmenter(data, t.pixelSize, run.seed);
    const nTrain = data.splits.train.length;
    const stepsPerEpoch = Math.floor(nTrain / spec.batch);
    if (stepsPerEpoch < 1) throw new Error(`${run.id}: ${nTrain} training images make no full batch of ${spec.batch} (drop last)`);
    const schedule = cosineSchedule(spec.lr, spec.epochs * stepsPerEpoch);
    let history: EpochRecord[] = [];
    // No epoch kept yet: the official rule starts from a best of 0.
    let best = { epoch: -1, valAuc: 0 };
    let memory: StepMemoryRecord | undefined;
    let seconds = { train: 0, eval: 0, steps: 0, stepCount: 0 };
    let startEpoch = 0;
    let resumedFromEpoch: number | null = null;
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
    const mismatch = saved && identityMismatch(saved.state.identity, spec.identity, run.method);
    if (mismatch)
      throw new Error(
        `${spec.checkpointDir}: the checkpoint was saved by another command: ${mismatch}; rerun with the same options to resume, or delete ${spec.checkpointDir} to start this run over`,
      );
    if (saved) {
      const savedAuc = saved.state.auc ?? 'probabilities';
      if (savedAuc !== auc.name)
        throw new Error(
          `${spec.checkpointDir}: this checkpoint selected epochs by the AUC on ${savedAuc}, the run asks for ${auc.name}; rerun with --auc ${savedAuc}, or remove the folder to start over`,
        );
      t.loadState(saved.model);
      optimizer.loadState(saved.optimizer);
      ({ history, best, memory, seconds } = saved.state);
      startEpoch = saved.state.epoch + 1;
      resumedFromEpoch = saved.state.epoch;
      progress.log(`${run.id}: resuming after epoch ${saved.state.epoch + 1}/${spec.epochs}`);
    }
    try {
      for (let epoch = startEpoch; epoch < spec.epochs; epoch++) {
        const epochStart = performance.now();
        const order = epochOrder(nTrain, run.seed, epoch);
        const bar = progress.bar(`${run.id} epoch ${epoch + 1}/${spec.epochs}`, stepsPerEpoch);
        let lossSum = 0;
        const indicesOf = (s: number) => order.slice(s * spec.batch, (s + 1) * spec.batch);
        // The next batch's pixels are made (in the worker thread) while this step runs.
        let next = augmenter.request(indicesOf(0), epoch);
        for (let s = 0; s < stepsPerEpoch; s++) {
          const step = epoch * stepsPerEpoch + s;
          const idx = indicesOf(s);
          const items = idx.map((i) => data.splits.train[i]);
          const arrays = await next;
          if (s + 1 < stepsPerEpoch) next = augmenter.request(indicesOf(s + 1), epoch);
          optimizer.learningRate = schedule(step);
          const ctx = { training: true, seed: deriveSeed(run.seed, 'dropout', step), step };
          // Each micro-batch's tensors are made inside its loss, so only one micro-batch's images,
          // keys/values and activations are alive at a time; its share weights its gradients.
          const parts = microBatches(items.length, spec.microBatch).map(([a, b]) => ({
            weight: (b - a) / items.length,
            loss: () => {
              const mb = items.slice(a, b);
              const batch: Batch = {
                pixels: stackPixels(arrays.slice(a, b), t.pixelSize),
                extras: t.extras?.(mb.map((it) => it.hash)),
              };
              const labels = tf.tensor1d(
                mb.map((it) => it.label),
                'int32',
              );
              return t.loss(batch, labels, { ...ctx, sampleOffset: a });
            },
          }));
          // Read back with await data(): every backend, WebGPU included; on a GPU the reads wait for the step's work.
          const doStep = () => trainStepAsync(parts.length === 1 ? parts[0].loss : parts, optimizer, { clipNorm: CLIP_NORM });
          const stepStart = performance.now();
          let result: TrainStepResult;
          // Memory: the second step, when AdamW's moments exist as in every later step.
          const what = `${run.id}: a training step of ${items.length} images in micro-batches of ${spec.microBatch} at ${t.pixelSize}x${t.pixelSize}`;
          if (step === 1 && !memory) {
            const m = await guardMemory(what, spec.budgetBytes, () => measureStep(doStep));
            const excluded = t.excludedBytes();
            const measured = m.peakBufferBytes - excluded;
            memory = spec.wholeBatchMemory
              ? { ...spec.wholeBatchMemory, microBatch: { size: spec.microBatch, measuredPeakBytes: measured } }
              : { peakBytes: measured, excludedBytes: excluded, how: 'measured' };
            result = m.result;
          } else {
            result = await guardMemory(what, spec.budgetBytes, doStep);
          }
          if (step > 0) {
            seconds.steps += (performance.now() - stepStart) / 1000;
            seconds.stepCount++;
          }
          lossSum += result.loss;
          bar.update(s + 1, `loss ${result.loss.toFixed(4)}`);
        }
        bar.stop();
        const trainSeconds = (performance.now() - epochStart) / 1000;
        const evalStart = performance.now();
        const val = await guardMemory(
          `${run.id}: evaluation in batches of ${spec.microBatch} at ${t.pixelSize}x${t.pixelSize}`,
          spec.budgetBytes,
          () => evaluateSplit(t, data, 'val', spec.microBatch),
        );
        seconds.eval += (performance.now() - evalStart) / 1000;
        seconds.train += trainSeconds;
        history.push({ epoch, trainLoss: lossSum / stepsPerEpoch, lr: optimizer.learningRate, val, trainSeconds });
        // The official rule; a NaN AUC (outputs not finite) is never kept.
        const kept = selectEpoch(auc.of(val), best.valAuc);
        if (kept !== undefined) {
          best = { epoch, valAuc: kept };
          ckpt.saveBest(await t.saveState());
        }
        progress.log(
          `${run.id} epoch ${epoch + 1}/${spec.epochs}: train loss ${(lossSum / stepsPerEpoch).toFixed(4)}, val AUC ${auc.of(val).toFixed(4)} (${auc.name})${best.epoch === epoch ? ' (best)' : ''}`,
        );
        ckpt.save(
          { identity: spec.identity, epoch, history, best, memory, seconds, auc: auc.name },
          await t.saveState(),
          adamwStateDict(await optimizer.stateAsync(), t.trainableParams()),
        );
        spec.afterEpoch?.(epoch);
      }
      if (history.every((e) => Number.isNaN(auc.of(e.val))))
        throw new Error(
          `${run.id}: the validation AUC was NaN after every epoch (the model's outputs are not finite); no checkpoint can be tested`,
        );
      // The official code tests the final weights and the best-validation ones; the table keeps the
      // latter. With no epoch kept (no validation AUC above 0) both are the final weights.
      const evalStart = performance.now();
      const evaluateTest = () =>
        guardMemory(`${run.id}: evaluation in batches of ${spec.microBatch} at ${t.pixelSize}x${t.pixelSize}`, spec.budgetBytes, () =>
          evaluateSplit(t, data, 'test', spec.microBatch),
        );
      const testFinal = await evaluateTest();
      let test = testFinal;
      if (best.epoch >= 0) {
        t.loadState(ckpt.loadBest());
        test = await evaluateTest();
      }
      seconds.eval += (performance.now() - evalStart) / 1000;
      const counts = t.counts();
      const runMemory = memory ?? { peakBytes: NaN, excludedBytes: 0, how: 'measured' as const };
      const stepSeconds = seconds.stepCount ? seconds.steps / seconds.stepCount : NaN;
      failed = false;
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
          betas: [0.9, 0.999],
          weightDecay: WEIGHT_DECAY,
          schedule: 'cosine per iteration, no warm-up',
          clipNorm: CLIP_NORM,
          epochs: spec.epochs,
          batch: spec.batch,
          microBatch: spec.microBatch,
          stepsPerEpoch,
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
        preload: preloadRecord,
        timing: {
          stepSeconds,
          imagesPerSecond: spec.batch / stepSeconds,
          trainSeconds: seconds.train,
          evalSeconds: seconds.eval,
          totalSeconds: (performance.now() - started) / 1000,
        },
        epochs: history,
        best,
        test,
        testFinal,
        efficiency: {
          auc: auc.name,
          ppe: ppe(auc.of(test), counts.sharePercent),
          pme: pme(auc.of(test), runMemory.peakBytes, spec.fullFinetuneMemory.peakBytes),
        },
        resumedFromEpoch,
        finishedAt: new Date().toISOString(),
      };
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
