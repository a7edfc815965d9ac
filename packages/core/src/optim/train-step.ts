import * as tf from '@tensorflow/tfjs-core';
import type { AdamW } from './adamw';
import { checkClipNorm, globalGradNorm } from './clip';
import { variableGradsFreeing } from './grads';

/** Options of {@link trainStep}. */
export interface TrainStepOptions {
  /** Global gradient-norm threshold, a positive number; omit for none. DESIGN.md's recipe uses 1.0. */
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
 * One optimisation step: gradients of `lossFn` with respect to the optimizer's variables,
 * global-norm clipping, AdamW update. Everything it allocates is freed on every path, success or
 * failure: the number of live tensors is the same before and after (apart from the optimizer's
 * moments on its first step), also when `lossFn` throws. A step whose loss or gradient norm is not
 * finite changes nothing and throws {@link NonFiniteStepError} (or is skipped, see
 * {@link TrainStepOptions.skipNonFinite}).
 * @param lossFn - builds the scalar loss from the current variables
 * @param optimizer - the optimizer holding the variables to update
 * @param options - clipping, non-finite handling
 * @throws what `lossFn` throws; NonFiniteStepError; when `clipNorm` is not a positive number
 */
export function trainStep(lossFn: () => tf.Scalar, optimizer: AdamW, options: TrainStepOptions = {}): TrainStepResult {
  if (options.clipNorm !== undefined) checkClipNorm(options.clipNorm, 'trainStep: option "clipNorm"');
  const step = optimizer.iterations + 1;
  // An error thrown inside tfjs's gradient function leaves the tape's saved activations alive
  // (hundreds of tensors per call). So the error is caught inside, a harmless loss connected to a
  // variable is returned instead, tfjs finishes and frees its tape, and the error is rethrown after.
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
      return (anchor ? tf.mul(tf.sum(anchor), 0) : tf.scalar(0)) as tf.Scalar;
    }
  };
  // variableGradsFreeing frees each node's saved tensors as back-propagation passes it (tfjs's
  // variableGrads keeps them all to the end): same signature and results, a lower peak.
  const { value, grads } = variableGradsFreeing(guarded, optimizer.variables);
  try {
    if (failure) throw failure.error;
    const gradMap = new Map<tf.Variable, tf.Tensor>();
    for (const v of optimizer.variables) {
      const g = grads[v.name];
      if (g) gradMap.set(v, g);
    }
    const loss = value.dataSync()[0];
    const gradNorm = globalGradNorm(gradMap.values());
    if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
      if (options.skipNonFinite) return { loss, gradNorm, skipped: true };
      throw new NonFiniteStepError(step, loss, gradNorm);
    }
    if (options.clipNorm !== undefined) {
      // As clip_grad_norm_, one parameter at a time, each original freed at once: gradients never
      // take twice their size.
      const coef = Math.min(1, options.clipNorm / (gradNorm + 1e-6));
      if (coef < 1) {
        for (const [v, g] of gradMap) {
          gradMap.set(v, tf.mul(g, coef));
          g.dispose();
        }
      }
    }
    try {
      optimizer.step(gradMap);
    } finally {
      for (const g of gradMap.values()) g.dispose();
    }
    return { loss, gradNorm, skipped: false };
  } finally {
    value.dispose();
    for (const g of Object.values(grads)) g.dispose();
  }
}
