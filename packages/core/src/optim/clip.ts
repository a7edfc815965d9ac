import * as tf from '@tensorflow/tfjs-core';

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
  const list = [...grads.values()];
  let totalNorm = 0;
  if (list.length > 0) {
    const norm = tf.tidy(() => tf.sqrt(tf.addN(list.map((g) => tf.sum(tf.square(g))))));
    totalNorm = norm.dataSync()[0];
    norm.dispose();
  }
  const coef = Math.min(1, maxNorm / (totalNorm + 1e-6));
  const out = new Map<tf.Variable, tf.Tensor>();
  for (const [v, g] of grads) out.set(v, coef < 1 ? tf.mul(g, coef) : tf.clone(g));
  return { grads: out, totalNorm };
}
