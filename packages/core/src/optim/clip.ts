import * as tf from '@tensorflow/tfjs-core';

/**
 * The global L2 norm over all gradients, as one number (NaN or Infinity when a gradient is).
 * @param grads - the gradients; not disposed
 */
export function globalGradNorm(grads: Iterable<tf.Tensor>): number {
  const norm = globalGradNormTensor(grads);
  const value = norm.arraySync();
  norm.dispose();
  return value;
}

/** Inputs per addN: WebGPU's smallest storage-buffer limit (8) less the output's. */
const ADD_CHUNK = 7;

/**
 * The global L2 norm over all gradients as a scalar tensor, for callers that read it themselves
 * (asynchronously on WebGPU). Zero for no gradients.
 * @param grads - the gradients; not disposed
 */
export function globalGradNormTensor(grads: Iterable<tf.Tensor>): tf.Scalar {
  const list = [...grads];
  if (list.length === 0) return tf.scalar(0);
  return tf.tidy(() => {
    // Summed in order, a few at a time: the same sum as one addN (which adds in order on every
    // backend), without a kernel binding one buffer per gradient (WebGPU allows 8 to 12).
    const squares = list.map((g) => tf.sum(tf.square(g)));
    let total = squares.length === 1 ? squares[0]! : tf.addN(squares.slice(0, ADD_CHUNK));
    for (let i = ADD_CHUNK; i < squares.length; i += ADD_CHUNK - 1) total = tf.addN([total, ...squares.slice(i, i + ADD_CHUNK - 1)]);
    return tf.sqrt(total);
  }) as tf.Scalar;
}

/**
 * Throws unless `maxNorm` is a usable clipping threshold: a positive finite number.
 * @param maxNorm - the threshold
 * @param where - names the function and option in the message
 */
export function checkClipNorm(maxNorm: number, where: string): void {
  if (!(typeof maxNorm === 'number' && maxNorm > 0 && Number.isFinite(maxNorm))) {
    throw new Error(`${where} must be a positive finite number, got ${maxNorm}`);
  }
}

/**
 * Global-norm gradient clipping, as `torch.nn.utils.clip_grad_norm_`: when the L2 norm over all
 * gradients exceeds `maxNorm`, every gradient is scaled by maxNorm / (norm + 1e-6).
 * @param grads - gradients; the returned map holds new tensors, the caller disposes both
 * @param maxNorm - the threshold, a positive finite number
 * @param totalNorm - the gradients' global norm when already known (from {@link globalGradNorm})
 * @returns the clipped gradients and the norm before clipping
 * @throws when `maxNorm` is not a positive finite number
 */
export function clipGradNorm(
  grads: Map<tf.Variable, tf.Tensor>,
  maxNorm: number,
  totalNorm: number = globalGradNorm(grads.values()),
): { grads: Map<tf.Variable, tf.Tensor>; totalNorm: number } {
  checkClipNorm(maxNorm, 'clipGradNorm: "maxNorm"');
  const coef = Math.min(1, maxNorm / (totalNorm + 1e-6));
  const out = new Map<tf.Variable, tf.Tensor>();
  for (const [v, g] of grads) out.set(v, coef < 1 ? tf.mul(g, coef) : tf.clone(g));
  return { grads: out, totalNorm };
}
