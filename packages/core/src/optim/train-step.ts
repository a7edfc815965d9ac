import * as tf from '@tensorflow/tfjs-core';
import { AdamW } from './adamw';
import { globalGradNorm } from './clip';
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
    let gradNorm = NaN;
    if (options.clipNorm) {
      // Clipped one parameter at a time, each original freed at once: gradients never take twice their size.
      gradNorm = globalGradNorm([...gradMap.values()]);
      const coef = Math.min(1, options.clipNorm / (gradNorm + 1e-6));
      if (coef < 1) {
        for (const [v, g] of gradMap) {
          gradMap.set(v, tf.mul(g, coef));
          g.dispose();
        }
      }
    }
    optimizer.step(gradMap);
    return { loss: value.dataSync()[0], gradNorm };
  } finally {
    value.dispose();
    for (const g of Object.values(grads)) g.dispose();
    for (const g of gradMap.values()) g.dispose();
  }
}
