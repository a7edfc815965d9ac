import * as tf from '@tensorflow/tfjs-core';
import { AdamW, trainStep, type AdamWOptions, type TrainStepResult } from '@fpt/core';
import type { FptModel, KeyValues } from './model';

/** A training batch on cached keys and values. */
export interface CachedBatch {
  /** Selected LPM keys and values [L, B, H, n, d]. */
  kv: KeyValues;
  /** Augmented low-resolution pixels [B, 3, h, w]. */
  pixelsLr: tf.Tensor;
  /** Labels [B] (int32). */
  labels: tf.Tensor;
}

/** A training batch for the online mode, which runs the frozen LPM inside the step. */
export interface OnlineBatch {
  /** Un-augmented high-resolution pixels [B, 3, H, W]. */
  pixelsHr: tf.Tensor;
  /** Augmented low-resolution pixels [B, 3, h, w]. */
  pixelsLr: tf.Tensor;
  /** Labels [B] (int32). */
  labels: tf.Tensor;
}

/**
 * AdamW over the learnable part (fusion module and side network), DESIGN.md §4 defaults
 * (betas 0.9/0.999, weight decay 0.1).
 * @param model - the model
 * @param options - learning rate and overrides
 */
export function createFptOptimizer(model: FptModel, options: AdamWOptions): AdamW {
  return new AdamW(model.learnable.trainableVariables(), options);
}

/** Options of {@link fptTrainStep}. */
export interface FptStepOptions {
  /** Global gradient-norm clipping (DESIGN.md §4: 1.0). Default 1. */
  clipNorm?: number;
  /** Seed of the dropout mask of this step. */
  seed?: number;
  /** Skip (rather than throw on) a step whose loss or gradient norm is not finite; see `trainStep`. */
  skipNonFinite?: boolean;
}

/**
 * One training step on cached keys and values: the LPM does not run at all. Leaks no tensors, also
 * when it throws (bad labels, say); a step whose loss or gradient norm is not finite changes nothing
 * and throws `NonFiniteStepError` naming the step (or is skipped with `skipNonFinite`).
 * @param model - the model
 * @param optimizer - from {@link createFptOptimizer}
 * @param batch - cached keys/values, pixels, labels (the caller keeps ownership)
 * @param options - clipping and dropout seed
 */
export function fptTrainStep(model: FptModel, optimizer: AdamW, batch: CachedBatch, options: FptStepOptions = {}): TrainStepResult {
  return trainStep(() => model.loss(batch.kv, batch.pixelsLr, batch.labels, { training: true, seed: options.seed }), optimizer, {
    clipNorm: options.clipNorm ?? 1,
    skipNonFinite: options.skipNonFinite,
  });
}

/**
 * One training step in the online mode: the frozen LPM runs first, outside the gradient tape, and
 * its keys and values are freed after the step. Gives the same numbers as {@link fptTrainStep} on
 * float32 cached keys and values.
 */
export function fptOnlineTrainStep(model: FptModel, optimizer: AdamW, batch: OnlineBatch, options: FptStepOptions = {}): TrainStepResult {
  const kv = model.extractKeyValues(batch.pixelsHr);
  try {
    return fptTrainStep(model, optimizer, { kv, pixelsLr: batch.pixelsLr, labels: batch.labels }, options);
  } finally {
    tf.dispose([kv.keys, kv.values]);
  }
}
