import * as tf from '@tensorflow/tfjs-core';
import { AdamW, measureStep, parameterReport, trainStepAsync } from '@fpt/core';
import { adapt, createVit, trainingContext, type AdaptedModel, type Method, type VitConfig, type VitModel } from '@fpt/backbone-vit';

/** Peak live-tensor bytes of one steady-state training step, and what was measured. */
export interface StepMemory {
  /** Peak bytes of distinct live data buffers during the step (core's `measureStep`, `peakBufferBytes`: views and saved clones count once). */
  peakBytes: number;
  /** The peak of each phase of the step, the same way: the forward pass, the backward pass, the update (norm, clipping, AdamW). */
  phasePeakBytes: number[];
  /** Bytes of parameters that live through the step but are not the method's concern (excluded from `peakBytes`). */
  excludedBytes: number;
}

/**
 * Whether a method trains from precomputed inputs on a backbone of `config`: attached to a
 * zero-initialised copy, never run.
 * @param config - the backbone architecture
 * @param method - the method (consumed)
 * @param numClasses - classes of the head
 */
export function methodTrainsFromInputs(config: VitConfig, method: Method, numClasses: number): boolean {
  const backbone = createVit(config, { init: 'zeros' });
  const model = adapt(backbone, [method], { numClasses });
  try {
    return model.needsInputs !== undefined;
  } finally {
    model.dispose();
    backbone.dispose();
  }
}

/**
 * Bytes of backbone weights a training step never reads: all of them for a method that trains from
 * precomputed inputs (the `needsInputs` capability: FPT+, FPT), none otherwise. Memory figures leave them out and report them apart.
 * @param model - the adapted model
 * @param backbone - its backbone
 */
export function unreadWeightBytes(model: AdaptedModel, backbone: VitModel): number {
  return model.needsInputs ? 4 * parameterReport(backbone).total : 0;
}

/**
 * Peak memory of one training step of any method on a zero-initialised backbone of `config`, at
 * the method's own input shapes (FPT+: the side image and cached keys/values, so the backbone does
 * not run). For methods that train from precomputed inputs, the frozen backbone's weights, which
 * such a step never reads, are excluded from the figure and reported apart.
 * @param config - the backbone (LPM) architecture
 * @param method - the method
 * @param batch - images per step
 * @param numClasses - classes of the head
 * @param imageSize - side of the backbone's input for methods that run it (default: the config's
 *   `imageSize`; the position embeddings are resampled as in a run); methods that train from
 *   precomputed inputs read their own image size
 */
export async function methodStepMemory(
  config: VitConfig,
  method: Method,
  batch: number,
  numClasses = 5,
  imageSize = config.imageSize,
): Promise<StepMemory> {
  const backbone = createVit(config, { init: 'zeros' });
  const model = adapt(backbone, [method], { numClasses });
  const size = model.needsInputs ? model.imageSize : imageSize;
  const extras = Object.fromEntries(Object.entries(model.inputShapes(batch)).map(([k, shape]) => [k, tf.randomNormal(shape)]));
  const pixels = tf.randomNormal([batch, config.numChannels, size, size]);
  const labels = tf.zeros([batch], 'int32');
  const opt = new AdamW(model.trainableVariables(), { lr: 1e-4 });
  const step = (i: number, batchOf: { pixels: tf.Tensor; extras: Record<string, tf.Tensor>; labels: tf.Tensor }) =>
    trainStepAsync(() => model.loss({ pixels: batchOf.pixels, extras: batchOf.extras }, batchOf.labels, trainingContext(i)), opt, {
      clipNorm: 1,
    });
  // The first step only makes AdamW's moments exist, as they do in every later step; their size
  // does not depend on the batch, so it runs on the first image alone (a large share of the cost
  // of the extrapolation's real steps saved).
  const first = {
    pixels: tf.randomNormal([1, config.numChannels, size, size]),
    extras: Object.fromEntries(Object.entries(model.inputShapes(1)).map(([k, shape]) => [k, tf.randomNormal(shape)])),
    labels: tf.zeros([1], 'int32'),
  };
  const excludedBytes = unreadWeightBytes(model, backbone);
  try {
    await step(0, first);
    tf.dispose([first.pixels, first.labels, ...Object.values(first.extras)]);
    const m = await measureStep(() => step(1, { pixels, extras, labels }));
    return {
      peakBytes: m.peakBufferBytes - excludedBytes,
      phasePeakBytes: m.phasePeakBufferBytes.map((p) => p - excludedBytes),
      excludedBytes,
    };
  } finally {
    tf.dispose([pixels, labels, first.pixels, first.labels, ...Object.values(extras), ...Object.values(first.extras)]);
    opt.dispose();
    model.dispose();
    backbone.dispose();
  }
}
