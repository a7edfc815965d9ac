import * as tf from '@tensorflow/tfjs-core';
import type { AdamW } from './adamw';
import { checkClipNorm, globalGradNormTensor } from './clip';
import { variableGradsFreeing } from './grads';
import { markBufferPhase } from '../memory';
import { runReads, runReadsAsync, type Reads } from '../reads';

/** Options of {@link trainStep}. */
export interface TrainStepOptions {
  /** Global gradient-norm threshold, a positive number; omit for none. The paper's [recipe](../../../../docs/method.md#training-recipe) uses 1.0. */
  clipNorm?: number;
  /**
   * What a step whose loss or gradient norm is NaN or infinite does. Default false: it throws a
   * {@link NonFiniteStepError}. When true it returns with `skipped: true` instead, so a loop can
   * count such steps. Either way nothing is updated.
   */
  skipNonFinite?: boolean;
}

/** What one {@link trainStep} did. */
export interface TrainStepResult {
  /** The loss before the update. */
  loss: number;
  /** The global gradient norm before clipping. */
  gradNorm: number;
  /** True when the step was not applied because its loss or gradient norm was not finite (only with `skipNonFinite`). */
  skipped: boolean;
  /** Micro-batches whose gradients the step accumulated (1: the whole batch at once). */
  microBatches: number;
}

/**
 * A training step whose loss or gradient norm was NaN or infinite: it was not applied, and the
 * parameters and optimizer state are as before it.
 */
export class NonFiniteStepError extends Error {
  /** The 1-based number of the step that was refused (the optimizer's iterations + 1). */
  readonly step: number;
  /** The loss of that step. */
  readonly loss: number;
  /** The global gradient norm of that step. */
  readonly gradNorm: number;

  /**
   * @param step - the refused step's number
   * @param loss - its loss
   * @param gradNorm - its gradient norm
   */
  constructor(step: number, loss: number, gradNorm: number) {
    const bad = [!Number.isFinite(loss) ? `loss is ${loss}` : '', !Number.isFinite(gradNorm) ? `gradient norm is ${gradNorm}` : ''].filter(
      Boolean,
    );
    super(
      `trainStep: step ${step}: ${bad.join(' and ')}; the step was not applied (parameters and optimizer state unchanged). ` +
        'Check the inputs for NaN/Inf, lower the learning rate, or pass skipNonFinite to skip such steps',
    );
    this.name = 'NonFiniteStepError';
    this.step = step;
    this.loss = loss;
    this.gradNorm = gradNorm;
  }
}

/**
 * One micro-batch of a step that accumulates gradients: the mean loss over its images and its share
 * of the whole batch (its images / the batch's images). The shares weight the micro-batches'
 * gradients, so that their sum is the gradient of the whole batch's mean loss.
 */
export interface MicroBatchLoss {
  /** Builds this micro-batch's mean loss from the current variables. */
  loss: () => tf.Scalar;
  /** Its share of the batch, a positive number (the shares of a step add up to 1). */
  weight: number;
}

/** The loss of a step: one function for the whole batch, or its micro-batches. */
export type StepLoss = (() => tf.Scalar) | readonly MicroBatchLoss[];

/**
 * Gradients of one loss function, with every error of `lossFn` caught inside the tape so that tfjs
 * frees its saved activations, and rethrown after (an error thrown inside tfjs's gradient function
 * leaves hundreds of tensors alive per call).
 */
function lossAndGrads(lossFn: () => tf.Scalar, optimizer: AdamW): { value: tf.Scalar; grads: Record<string, tf.Tensor> } {
  let failure: { error: unknown } | undefined;
  const anchor = optimizer.variables.find((v) => v.trainable);
  const guarded = (): tf.Scalar => {
    try {
      const loss = lossFn();
      if (!(loss instanceof tf.Tensor) || loss.rank !== 0) {
        throw new Error(
          `trainStep: the loss function must return a scalar tensor, got ${loss instanceof tf.Tensor ? `shape [${loss.shape}]` : typeof loss}`,
        );
      }
      return loss;
    } catch (error) {
      failure = { error };
      // A harmless loss connected to a variable: tfjs finishes and frees its tape.
      return (anchor ? tf.mul(tf.sum(anchor), 0) : tf.scalar(0)) as tf.Scalar;
    }
  };
  // variableGradsFreeing frees each node's saved tensors as back-propagation passes it (tfjs's
  // variableGrads keeps them all to the end): same signature and results, a lower peak.
  const r = variableGradsFreeing(guarded, optimizer.variables);
  if (failure) {
    r.value.dispose();
    for (const g of Object.values(r.grads)) g.dispose();
    throw failure.error;
  }
  return r;
}

/** Checks the micro-batches' shares: a non-empty list of positive finite numbers. */
function checkMicroBatches(parts: readonly MicroBatchLoss[]): void {
  if (parts.length === 0) throw new Error('trainStep: the list of micro-batches is empty; pass at least one');
  parts.forEach((p, i) => {
    if (typeof p?.loss !== 'function') throw new Error(`trainStep: micro-batch ${i} has no loss function`);
    if (!(typeof p.weight === 'number' && Number.isFinite(p.weight) && p.weight > 0))
      throw new Error(`trainStep: micro-batch ${i} has weight ${p.weight}; expected its share of the batch, a positive number`);
  });
}

/**
 * One optimisation step: gradients of the loss with respect to the optimizer's variables,
 * global-norm clipping, AdamW update. With a list of micro-batches the step accumulates: each
 * micro-batch's gradients are computed in turn (only one micro-batch's activations are alive at a
 * time), weighted by its share and summed, and one update is applied with the sum, the same update
 * as one step on the whole batch (the loss is the batch mean; ViTs have no layer that couples the
 * images of a batch, and dropout draws per image, see `ForwardContext.sampleOffset`).
 * Everything it allocates is freed on every path, success or failure: the number of live tensors
 * is the same before and after (apart from the optimizer's moments on its first step), also when
 * a loss function throws. A step whose loss or gradient norm is not finite changes nothing and
 * throws {@link NonFiniteStepError} (or is skipped, see {@link TrainStepOptions.skipNonFinite}).
 * @param lossFn - builds the scalar loss from the current variables, or the micro-batches' losses and shares
 * @param optimizer - the optimizer holding the variables to update
 * @param options - clipping, non-finite handling
 * @throws what a loss function throws; NonFiniteStepError; when `clipNorm` is not a positive
 *   number or a micro-batch's share is not a positive number
 */
export function trainStep(lossFn: StepLoss, optimizer: AdamW, options: TrainStepOptions = {}): TrainStepResult {
  return runReads(stepBody(lossFn, optimizer, options));
}

/**
 * {@link trainStep} with the losses and the gradient norm read back asynchronously (`await
 * data()`): the same computation, the same result, and the form every backend supports, WebGPU
 * included (whose synchronous reads need `OffscreenCanvas`, absent in Node). On a GPU the reads
 * also wait for the work queued before them.
 * @param lossFn - builds the scalar loss from the current variables, or the micro-batches' losses and shares
 * @param optimizer - the optimizer holding the variables to update
 * @param options - clipping, non-finite handling
 * @throws as {@link trainStep}
 */
export function trainStepAsync(lossFn: StepLoss, optimizer: AdamW, options: TrainStepOptions = {}): Promise<TrainStepResult> {
  return runReadsAsync(stepBody(lossFn, optimizer, options));
}

/**
 * The step itself, shared by the synchronous and asynchronous forms: it yields each scalar tensor
 * whose value it needs (each micro-batch's loss, then the gradient norm) and is resumed with it.
 */
function* stepBody(lossFn: StepLoss, optimizer: AdamW, options: TrainStepOptions): Reads<TrainStepResult> {
  if (options.clipNorm !== undefined) checkClipNorm(options.clipNorm, 'trainStep: option "clipNorm"');
  const parts: readonly MicroBatchLoss[] = typeof lossFn === 'function' ? [{ loss: lossFn, weight: 1 }] : lossFn;
  if (typeof lossFn !== 'function') checkMicroBatches(parts);
  const step = optimizer.iterations + 1;
  const gradMap = new Map<tf.Variable, tf.Tensor>();
  const byName = new Map(optimizer.variables.map((v) => [v.name, v]));
  try {
    let loss = 0;
    for (const part of parts) {
      const { value, grads } = lossAndGrads(part.loss, optimizer);
      let read = false;
      try {
        loss += part.weight * ((yield value)[0] as number);
        read = true;
      } finally {
        value.dispose();
        // Closed during the read (it failed): this micro-batch's gradients are not in gradMap yet.
        if (!read) for (const g of Object.values(grads)) g.dispose();
      }
      for (const [name, g] of Object.entries(grads)) {
        const v = byName.get(name)!;
        const weighted = part.weight === 1 ? g : tf.mul(g, part.weight);
        if (weighted !== g) g.dispose();
        const prev = gradMap.get(v);
        if (prev) {
          gradMap.set(v, tf.add(prev, weighted));
          prev.dispose();
          weighted.dispose();
        } else {
          gradMap.set(v, weighted);
        }
      }
    }
    // Every gradient is complete: the update (norm, clipping, AdamW) is a phase of its own for
    // memory measurements. Its peak (weights, moments, gradients and one parameter's new values)
    // grows with depth alone, the backward pass's with depth and batch; which is larger changes
    // with the shapes, so a model fitted to their maximum would not be bilinear.
    markBufferPhase();
    // The optimizer's order, as a single step's gradients come (a Map iterates in insertion order).
    for (const v of optimizer.variables) {
      const g = gradMap.get(v);
      if (g) {
        gradMap.delete(v);
        gradMap.set(v, g);
      }
    }
    const normTensor = globalGradNormTensor(gradMap.values());
    let gradNorm: number;
    try {
      gradNorm = (yield normTensor)[0] as number;
    } finally {
      normTensor.dispose();
    }
    if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
      if (options.skipNonFinite) return { loss, gradNorm, skipped: true, microBatches: parts.length };
      throw new NonFiniteStepError(step, loss, gradNorm);
    }
    // As clip_grad_norm_: every gradient times the same coefficient (float32), which the optimizer
    // applies as it reads each gradient (no pass over them of its own, no scaled copies).
    const coef = options.clipNorm === undefined ? 1 : Math.min(1, options.clipNorm / (gradNorm + 1e-6));
    optimizer.step(gradMap, { gradScale: coef });
    return { loss, gradNorm, skipped: false, microBatches: parts.length };
  } finally {
    for (const g of gradMap.values()) g.dispose();
  }
}
