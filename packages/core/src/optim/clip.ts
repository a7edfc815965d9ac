import * as tf from '@tensorflow/tfjs-core';

/**
 * The L2 norm over all the given gradients (0 for none), as `clip_grad_norm_` computes it.
 * @param grads - gradients
 */
export function globalGradNorm(grads: tf.Tensor[]): number {
  if (grads.length === 0) return 0;
  const norm = tf.tidy(() => tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g))))));
  const value = norm.dataSync()[0];
  norm.dispose();
  return value;
}

/**
 * Global-norm gradient clipping, as `torch.nn.utils.clip_grad_norm_`: when the L2 norm over all
 * gradients exceeds `maxNorm`, every gradient is scaled by maxNorm / (norm + 1e-6).
 * @param grads - gradients; the returned map holds new tensors, the caller disposes both
 * @param maxNorm - the threshold
 * @returns the clipped gradients and the norm before clipping
 */
export function clipGradNorm(
  grads: Map<tf.Variable, tf.Tensor>,
  maxNorm: number,
): { grads: Map<tf.Variable, tf.Tensor>; totalNorm: number } {
  const totalNorm = globalGradNorm([...grads.values()]);
  const coef = Math.min(1, maxNorm / (totalNorm + 1e-6));
  const out = new Map<tf.Variable, tf.Tensor>();
  for (const [v, g] of grads) out.set(v, coef < 1 ? tf.mul(g, coef) : tf.clone(g));
  return { grads: out, totalNorm };
}
