import * as tf from '@tensorflow/tfjs-core';

// Functional building blocks shared by every package. Weights keep PyTorch layouts
// (linear weight [out, in]) so checkpoints load without copies and names keep their meaning.

/**
 * y = x W^T + b for a PyTorch-layout weight.
 * @param x - input [..., in]
 * @param weight - [out, in]
 * @param bias - [out] or undefined
 */
export function linear(x: tf.Tensor, weight: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  const inDim = x.shape[x.rank - 1];
  const lead = x.shape.slice(0, -1);
  const flat = x.rank === 2 ? (x as tf.Tensor2D) : tf.reshape(x, [-1, inDim]) as tf.Tensor2D;
  let y: tf.Tensor = tf.matMul(flat, weight as tf.Tensor2D, false, true);
  if (bias) y = tf.add(y, bias);
  return x.rank === 2 ? y : tf.reshape(y, [...lead, weight.shape[0]]);
}

/**
 * Layer normalisation over the last axis, with PyTorch's biased variance.
 * @param x - input [..., D]
 * @param weight - scale [D]
 * @param bias - shift [D]
 * @param eps - added to the variance
 */
export function layerNorm(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor, eps: number): tf.Tensor {
  const axis = x.rank - 1;
  const mean = tf.mean(x, axis, true);
  const centered = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centered), axis, true);
  const normed = tf.mul(centered, tf.rsqrt(tf.add(variance, eps)));
  return tf.add(tf.mul(normed, weight), bias);
}

/** The exact GELU, 0.5 x (1 + erf(x / sqrt 2)), as in PyTorch's default `nn.GELU`. */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
}

/**
 * [B, N, H*d] -> [B, H, N, d]. Kept 4-D: 5-D transposes are very slow on the WASM backend.
 * @param x - tokens [B, N, D]
 * @param heads - number of heads H
 */
export function splitHeads(x: tf.Tensor, heads: number): tf.Tensor {
  const [b, n, d] = x.shape;
  return tf.transpose(tf.reshape(x, [b, n, heads, d / heads]), [0, 2, 1, 3]);
}

/**
 * [B, H, N, d] -> [B, N, H*d], the inverse of {@link splitHeads}.
 * @param x - per-head tokens [B, H, N, d]
 */
export function mergeHeads(x: tf.Tensor): tf.Tensor {
  const [b, h, n, d] = x.shape;
  return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [b, n, h * d]);
}

/**
 * Scaled dot-product attention over heads: softmax(Q K^T / sqrt(d)) V.
 * @param q - queries [B, H, Nq, d]
 * @param k - keys [B, H, Nk, d]
 * @param v - values [B, H, Nk, d]
 * @returns the attended values [B, H, Nq, d] and the probabilities [B, H, Nq, Nk]
 */
export function attention(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor): { out: tf.Tensor; probs: tf.Tensor } {
  const d = q.shape[q.rank - 1];
  const scores = tf.div(tf.matMul(q as tf.Tensor4D, k as tf.Tensor4D, false, true), Math.sqrt(d));
  const probs = tf.softmax(scores);
  return { out: tf.matMul(probs as tf.Tensor4D, v as tf.Tensor4D), probs };
}

/**
 * Inverted dropout: zero each element with probability `rate` and scale the rest by 1/(1-rate).
 * Identity when `rate` is 0 or `training` is false.
 */
export function dropout(x: tf.Tensor, rate: number, training: boolean, seed?: number): tf.Tensor {
  if (!training || rate <= 0) return x;
  const keep = tf.cast(tf.greaterEqual(tf.randomUniform(x.shape, 0, 1, 'float32', seed), rate), 'float32');
  return tf.mul(x, tf.mul(keep, 1 / (1 - rate)));
}

/**
 * Mean softmax cross-entropy of `logits` [B, C] against integer `labels` [B].
 * Uses a one-hot product rather than a gather, whose gradient has no WASM kernel.
 * The labels are checked first (they are small: reading them back costs nothing), because a
 * one-hot of an out-of-range label is all zeros and gives loss 0 and gradient 0, and a label
 * tensor of another shape broadcasts to a wrong loss: both would train silently on nothing.
 * @param logits - [B, C]
 * @param labels - int32 [B], each in [0, C)
 * @throws naming the shape, dtype or label at fault and what was expected
 */
export function crossEntropy(logits: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  checkLabels(logits, labels);
  const classes = logits.shape[1] as number;
  const oneHot = tf.oneHot(labels as tf.Tensor1D, classes);
  const logProbs = tf.logSoftmax(logits);
  return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, logProbs), -1))) as tf.Scalar;
}

/**
 * Throws unless `labels` are int32 of shape [B] with every value in [0, C) for `logits` [B, C].
 * @param logits - [B, C]
 * @param labels - the class indices to check
 */
export function checkLabels(logits: tf.Tensor, labels: tf.Tensor): void {
  if (logits.rank !== 2) throw new Error(`crossEntropy: logits have shape [${logits.shape}], expected [B, C]`);
  const [b, c] = logits.shape;
  if (labels.dtype !== 'int32') throw new Error(`crossEntropy: labels have dtype ${labels.dtype}, expected int32 class indices`);
  if (labels.rank !== 1 || labels.shape[0] !== b) {
    throw new Error(`crossEntropy: labels have shape [${labels.shape}], expected [${b}] (one class index per row of the logits [${b}, ${c}])`);
  }
  const values = labels.dataSync();
  for (let i = 0; i < values.length; i++) {
    if (values[i] < 0 || values[i] >= c) throw new Error(`crossEntropy: label ${values[i]} at index ${i} is outside [0, ${c}) for ${c} classes`);
  }
}
