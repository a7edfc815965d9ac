import * as tf from '@tensorflow/tfjs-core';
import { AdamW } from './adamw';
import { clipGradNorm } from './clip';
import { variableGradsFreeing } from './grads';

/** Options of {@link trainStep}. */
export interface TrainStepOptions {
  /** Global gradient-norm threshold; omit or 0 for none. DESIGN.md's recipe uses 1.0. */
  clipNorm?: number;
}

/** What one {@link trainStep} did. */
export interface TrainStepResult {
  /** The loss before the update. */
  loss: number;
  /** The global gradient norm before clipping. */
  gradNorm: number;
}

/**
 * One optimisation step: gradients of `lossFn` with respect to the optimizer's variables,
 * global-norm clipping, AdamW update. Everything it allocates is freed: the number of live
 * tensors is the same before and after (apart from the optimizer's moments on its first step).
 * @param lossFn - builds the scalar loss from the current variables
 * @param optimizer - the optimizer holding the variables to update
 * @param options - clipping
 */
export function trainStep(lossFn: () => tf.Scalar, optimizer: AdamW, options: TrainStepOptions = {}): TrainStepResult {
  const { value, grads } = variableGradsFreeing(lossFn, optimizer.variables);
  const gradMap = new Map<tf.Variable, tf.Tensor>();
  for (const v of optimizer.variables) {
    const g = grads[v.name];
    if (g) gradMap.set(v, g);
  }
  try {
    const clipped = options.clipNorm ? clipGradNorm(gradMap, options.clipNorm) : { grads: gradMap, totalNorm: NaN };
    optimizer.step(clipped.grads);
    if (clipped.grads !== gradMap) for (const g of clipped.grads.values()) g.dispose();
    const gradNorm = options.clipNorm ? clipped.totalNorm : NaN;
    return { loss: value.dataSync()[0], gradNorm };
  } finally {
    value.dispose();
    for (const g of Object.values(grads)) g.dispose();
  }
}
