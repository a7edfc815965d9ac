import * as tf from '@tensorflow/tfjs-core';

// Kernels that run a fused op's forward or backward in one pass over memory. No tfjs backend has
// them: a backend gets them from a package that registers them (`@fpt/kernels` does on WASM with
// its native addon); where none is registered the ops compose tfjs's own kernels, with the same
// results to float32 rounding.

/** Names of the fused kernels the ops of this package run when the active backend has them. */
export const FusedKernel = {
  /**
   * A linear layer, act(x W^T + b), with the bias and activation applied as the product is stored.
   * Inputs `{ x, weight, bias }`: x [M, K], weight [N, K] (PyTorch's layout), bias [N]; attrs
   * `{ activation }`: `linear` (the identity) or `gelu` (the exact, erf form); output [M, N].
   */
  linear: 'FptLinear',
  /** GELU(x), the exact erf form. Inputs `{ x }`; output like x. */
  gelu: 'FptGelu',
  /** dy * GELU'(x). Inputs `{ x, dy }`; output like x. */
  geluGrad: 'FptGeluGrad',
  /** softmax(scale * x) over the last axis. Inputs `{ x }`, attrs `{ scale }` (positive). */
  scaledSoftmax: 'FptScaledSoftmax',
  /**
   * Layer normalisation over the last axis, biased variance. Inputs `{ x, weight, bias }`, attrs
   * `{ eps }`; outputs `[y, normed, rstd]`: normed like x, rstd with the last axis 1.
   */
  layerNorm: 'FptLayerNorm',
  /** Its backward. Inputs `{ dy, normed, rstd, weight }`; outputs `[dx, dweight, dbias]`. */
  layerNormGrad: 'FptLayerNormGrad',
  /**
   * One AdamW update. Inputs `{ param, m, v, g }` (one shape); attrs `{ decay, beta1, beta2, eps,
   * sqrtBc2, step, gradScale }`; outputs `[param, m, v]` updated, with g' = gradScale g (float32;
   * gradient clipping's scale, 1 when absent): m' = beta1 m + (1 - beta1) g',
   * v' = beta2 v + (1 - beta2) g'^2, param' = decay param - step m' / (sqrt(v') / sqrtBc2 + eps).
   */
  adamw: 'FptAdamW',
  /** scale * p * (dp - sum(dp * p, -1)): softmax's backward, then a scale. Inputs `{ p, dp }`, attrs `{ scale }`. */
  softmaxGrad: 'FptSoftmaxGrad',
} as const;

/** One of {@link FusedKernel}'s names. */
export type FusedKernelName = (typeof FusedKernel)[keyof typeof FusedKernel];

/**
 * Whether the active backend has that fused kernel registered, and the inputs are float32 (the
 * fused kernels take float32 only).
 */
export function hasFusedKernel(name: FusedKernelName, ...inputs: tf.Tensor[]): boolean {
  return inputs.every((t) => t.dtype === 'float32') && tf.getKernel(name, tf.getBackend()) !== undefined;
}

/** Runs a fused kernel of the active backend with one output (check {@link hasFusedKernel} first). */
export function runFusedKernel(name: FusedKernelName, inputs: tf.NamedTensorMap, attrs: tf.NamedAttrMap = {}): tf.Tensor {
  return tf.engine().runKernel(name, inputs, attrs) as tf.Tensor;
}

/** Runs a fused kernel of the active backend with several outputs (check {@link hasFusedKernel} first). */
export function runFusedKernelOutputs(name: FusedKernelName, inputs: tf.NamedTensorMap, attrs: tf.NamedAttrMap = {}): tf.Tensor[] {
  return tf.engine().runKernel(name, inputs, attrs) as tf.Tensor[];
}
