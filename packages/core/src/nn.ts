import * as tf from '@tensorflow/tfjs-core';
import { FusedKernel, hasFusedKernel, runFusedKernel, runFusedKernelOutputs } from './fused-kernels';
import { fusedOp, type T } from './fused-op';
import { dims, lastDim } from './shape';
import { hostValues } from './webgpu';
import { recordingGradients } from './optim/grads';

// Functional building blocks shared by every package. Weights keep PyTorch layouts
// (linear weight [out, in]) so checkpoints load without copies and names keep their meaning.

/**
 * y = x W^T + b for a PyTorch-layout weight. On a backend with core's fused `FptLinear` kernel the
 * bias is added as the product is stored (no separate pass over y); backward is the same products
 * as without it.
 * @param x - input [..., in]
 * @param weight - [out, in]
 * @param bias - [out] or undefined
 */
export function linear(x: tf.Tensor, weight: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  return linearWith(x, weight, bias, 'linear');
}

/**
 * GELU(x W^T + b): an MLP's hidden layer. Outside a gradient computation, on a backend with the
 * fused `FptLinear` kernel, the bias and the GELU are both applied as the product is stored, so the
 * hidden layer is written once instead of three times; under a gradient tape it is
 * `gelu(linear(x, weight, bias))`, whose backward needs the pre-activation.
 * @param x - input [..., in]
 * @param weight - [out, in]
 * @param bias - [out]
 */
export function linearGelu(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor): tf.Tensor {
  return recordingGradients() ? gelu(linear(x, weight, bias)) : linearWith(x, weight, bias, 'gelu');
}

// x W^T (+ b), then the activation (only 'linear' under a tape: see linearGelu).
function linearWith(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor | undefined, activation: 'linear' | 'gelu'): tf.Tensor {
  const inDim = lastDim(x, 'linear: x');
  const [outDim] = dims(weight, ['out', 'in'], 'linear: weight');
  const lead = x.shape.slice(0, -1);
  // In its own scope: the product before the bias is freed at once, as PyTorch frees it, instead
  // of living until the caller's scope ends (under a gradient tape, what backward needs is saved).
  return tf.tidy(() => {
    const rows = lead.reduce((a, b) => a * b, 1); // not -1: an empty input dimension leaves it undefined
    const flat = x.rank === 2 ? (x as tf.Tensor2D) : (tf.reshape(x, [rows, inDim]) as tf.Tensor2D);
    let y: tf.Tensor;
    // Under a tape only for a trainable weight: a custom gradient computes every input's gradient,
    // and a frozen weight's (a frozen backbone's, under adapters or LoRA) would cost a product and
    // be held to the end of the backward pass (fpt-bench perf W3b: 234 -> 311 MiB, 0.47 -> 0.53 s).
    const fused = !recordingGradients() || (weight as Partial<tf.Variable>).trainable === true;
    if (bias && fused && hasFusedKernel(FusedKernel.linear, flat, weight, bias)) {
      y = recordingGradients()
        ? linearBiasOp(flat, weight, bias)
        : runFusedKernel(FusedKernel.linear, { x: flat, weight, bias }, { activation });
    } else {
      y = tf.matMul(flat, weight as tf.Tensor2D, false, true);
      if (bias) y = tf.add(y, bias);
      if (activation === 'gelu') y = gelu(y);
    }
    return x.rank === 2 ? y : tf.reshape(y, [...lead, outDim]);
  });
}

// x W^T + b in one kernel, with the gradients of tf.matMul and tf.add: dx = dy W, dW = dy^T x,
// db = the sum of dy over rows. It saves what tf.matMul saves (x and W).
const linearBiasOp = fusedOp<[x: T, weight: T, bias: T], [x: T, weight: T]>(([x, weight, bias], save) => {
  save([x, weight]);
  return {
    value: runFusedKernel(FusedKernel.linear, { x, weight, bias }, { activation: 'linear' }),
    gradFunc: (dy, [xs, w]) => [tf.matMul(dy, w), tf.matMul(dy, xs, true, false), tf.sum(dy, 0)],
  };
});

/** Axes 0..rank-2: what a per-feature parameter's gradient sums over. */
function leadingAxes(rank: number): number[] {
  return Array.from({ length: rank - 1 }, (_, i) => i);
}

function makeLayerNormOp(eps: number) {
  return fusedOp<[x: T, weight: T, bias: T], [normed: T, rstd: T, weight: T]>(([x, weight, bias], save) => {
    if (hasFusedKernel(FusedKernel.layerNorm, x, weight, bias)) {
      const [y, normed, rstd] = runFusedKernelOutputs(FusedKernel.layerNorm, { x, weight, bias }, { eps }) as [T, T, T];
      save([normed, rstd, weight]);
      return { value: y, gradFunc: layerNormGrad };
    }
    const axis = x.rank - 1;
    const centered = tf.sub(x, tf.mean(x, axis, true));
    const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(centered), axis, true), eps));
    const normed = tf.mul(centered, rstd);
    save([normed, rstd, weight]);
    return { value: tf.add(tf.mul(normed, weight), bias), gradFunc: layerNormGrad };
  });
}

/** Layer normalisation's backward from what its forward saved. */
function layerNormGrad(dy: tf.Tensor, [xhat, r, w]: [normed: T, rstd: T, weight: T]): tf.Tensor[] {
  if (hasFusedKernel(FusedKernel.layerNormGrad, dy, xhat, r, w))
    return runFusedKernelOutputs(FusedKernel.layerNormGrad, { dy, normed: xhat, rstd: r, weight: w });
  const axis = dy.rank - 1;
  const lead = leadingAxes(dy.rank);
  const g = tf.mul(dy, w);
  // d/dx of (x - mean) * rstd: rstd * (g - mean(g) - xhat * mean(g * xhat)).
  const dx = tf.mul(r, tf.sub(tf.sub(g, tf.mean(g, axis, true)), tf.mul(xhat, tf.mean(tf.mul(g, xhat), axis, true))));
  return [dx, tf.sum(tf.mul(dy, xhat), lead), tf.sum(dy, lead)];
}

// One op per epsilon (custom-gradient inputs must be tensors, so eps is bound here).
const layerNormOps = new Map<number, ReturnType<typeof makeLayerNormOp>>();

/**
 * Layer normalisation over the last axis, with PyTorch's biased variance. Backward keeps only the
 * normalised input and the reciprocal standard deviation.
 * @param x - input [..., D]
 * @param weight - scale [D]
 * @param bias - shift [D]
 * @param eps - added to the variance
 */
export function layerNorm(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor, eps: number): tf.Tensor {
  let op = layerNormOps.get(eps);
  if (!op) {
    op = makeLayerNormOp(eps);
    layerNormOps.set(eps, op);
  }
  return op(x, weight, bias);
}

const geluOp = fusedOp<[x: T], [x: T]>(([x], save) => {
  save([x]);
  return {
    value: hasFusedKernel(FusedKernel.gelu, x)
      ? runFusedKernel(FusedKernel.gelu, { x })
      : tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)),
    gradFunc: (dy, [v]) => {
      if (hasFusedKernel(FusedKernel.geluGrad, v, dy)) return [runFusedKernel(FusedKernel.geluGrad, { x: v, dy })];
      // d/dx x Phi(x) = Phi(x) + x phi(x).
      const cdf = tf.mul(tf.add(tf.erf(tf.mul(v, Math.SQRT1_2)), 1), 0.5);
      const pdf = tf.mul(tf.exp(tf.mul(tf.square(v), -0.5)), 1 / Math.sqrt(2 * Math.PI));
      return [tf.mul(dy, tf.add(cdf, tf.mul(v, pdf)))];
    },
  };
});

/** The exact GELU, 0.5 x (1 + erf(x / sqrt 2)), as in PyTorch's default `nn.GELU`; backward keeps only x. */
export function gelu(x: tf.Tensor): tf.Tensor {
  return geluOp(x);
}

/**
 * [B, N, H*d] -> [B, H, N, d]. Kept 4-D: 5-D transposes are very slow on the WASM backend.
 * @param x - tokens [B, N, D]
 * @param heads - number of heads H
 */
export function splitHeads(x: tf.Tensor, heads: number): tf.Tensor {
  const [b, n, d] = dims(x, ['B', 'N', 'D'], 'splitHeads: x');
  return tf.transpose(tf.reshape(x, [b, n, heads, d / heads]), [0, 2, 1, 3]);
}

/**
 * [B, H, N, d] -> [B, N, H*d], the inverse of {@link splitHeads}.
 * @param x - per-head tokens [B, H, N, d]
 */
export function mergeHeads(x: tf.Tensor): tf.Tensor {
  const [b, h, n, d] = dims(x, ['B', 'H', 'N', 'd'], 'mergeHeads: x');
  return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [b, n, h * d]);
}

/**
 * Where the samples of a tensor lie in a training step's batch, so that each sample draws its own
 * dropout mask: a sample's mask then depends only on the step's seed and the sample's index in the
 * whole batch, and a batch split into micro-batches (gradient accumulation) draws exactly the masks
 * of the whole batch.
 */
export interface DropoutSamples {
  /** The tensor's batch axis. */
  axis: number;
  /** Index, in the step's whole batch, of the tensor's first sample (0 unless it is a micro-batch). */
  offset: number;
}

// Index, in the step's whole batch, of the first sample of the batch slice being computed (see inBatchSlice).
let sliceStart = 0;

/**
 * Runs `fn` on a slice of the batch that starts at sample `first` of the tensors it was cut from
 * (a model computing its batch in slices, e.g. a ViT block on WebGPU past the binding limit):
 * {@link dropout}'s per-sample masks inside count their samples from there, so the slices draw
 * the masks of the whole batch. Slices nest: the starts add up.
 * @param first - index of the slice's first sample in the batch it was cut from
 * @param fn - computes the slice
 */
export function inBatchSlice<T>(first: number, fn: () => T): T {
  const outer = sliceStart;
  sliceStart += first;
  try {
    return fn();
  } finally {
    sliceStart = outer;
  }
}

/**
 * The seed of sample `index`'s mask under a call's seed (a 32-bit mix: neighbouring indices and
 * seeds give unrelated streams).
 * @param seed - the call's seed
 * @param index - the sample's index in the whole batch
 */
export function sampleSeed(seed: number, index: number): number {
  let h = Math.imul((seed ^ 0x9e3779b9) >>> 0, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Inverted dropout: zero each element with probability `rate` and scale the rest by 1/(1-rate).
 * Identity when `rate` is 0 or `training` is false. With `samples`, every sample along
 * `samples.axis` draws its own mask from {@link sampleSeed}(seed, offset + i), counted from the
 * start of the batch slice being computed ({@link inBatchSlice}).
 * @param x - input
 * @param rate - drop probability in [0, 1)
 * @param training - dropout only applies in training
 * @param seed - seed of the mask (of the masks, with `samples`)
 * @param samples - per-sample masks: the batch axis and this tensor's first sample's index in the batch
 */
export function dropout(x: tf.Tensor, rate: number, training: boolean, seed?: number, samples?: DropoutSamples): tf.Tensor {
  if (!training || rate <= 0) return x;
  let u: tf.Tensor;
  if (samples && seed !== undefined) {
    const { axis, offset } = samples;
    const size = x.shape[axis];
    if (size === undefined) throw new Error(`dropout: samples.axis ${axis} is not an axis of the input [${x.shape}]`);
    const shape = x.shape.filter((_, i) => i !== axis);
    u = tf.stack(
      Array.from({ length: size }, (_, i) => tf.randomUniform(shape, 0, 1, 'float32', sampleSeed(seed, sliceStart + offset + i))),
      axis,
    );
  } else {
    u = tf.randomUniform(x.shape, 0, 1, 'float32', seed);
  }
  const keep = tf.cast(tf.greaterEqual(u, rate), 'float32');
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
  const checked = checkLabels(logits, labels);
  const classes = logits.shape[1] as number;
  const oneHot = tf.oneHot(labels as tf.Tensor1D, classes);
  const logProbs = tf.logSoftmax(logits);
  const loss = tf.neg(tf.mean(tf.sum(tf.mul(oneHot, logProbs), -1))) as tf.Scalar;
  if (checked) return loss;
  // Labels only on the GPU (WebGPU): a row of the one-hot without a 1 (a label out of range)
  // divides the loss by zero, so the step is refused as non-finite instead of training on nothing.
  return tf.div(loss, tf.min(tf.sum(oneHot, -1))) as tf.Scalar;
}

/**
 * Throws unless `labels` are int32 of shape [B] with every value in [0, C) for `logits` [B, C].
 * The values are checked where they can be read without waiting for a GPU (every backend but
 * WebGPU in Node, and there while they are still on the host).
 * @param logits - [B, C]
 * @param labels - the class indices to check
 * @returns whether the values were checked (false: only on the GPU; the shape and dtype were)
 */
export function checkLabels(logits: tf.Tensor, labels: tf.Tensor): boolean {
  if (logits.rank !== 2) throw new Error(`crossEntropy: logits have shape [${logits.shape}], expected [B, C]`);
  const [b, c] = logits.shape as [number, number]; // rank 2, checked above
  if (b === 0) throw new Error(`crossEntropy: the batch is empty (logits [${logits.shape}]); expected at least one sample`);
  if (labels.dtype !== 'int32') throw new Error(`crossEntropy: labels have dtype ${labels.dtype}, expected int32 class indices`);
  if (labels.rank !== 1 || labels.shape[0] !== b) {
    throw new Error(
      `crossEntropy: labels have shape [${labels.shape}], expected [${b}] (one class index per row of the logits [${b}, ${c}])`,
    );
  }
  const values = hostValues(labels);
  if (!values) return false;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (v < 0 || v >= c) throw new Error(`crossEntropy: label ${v} at index ${i} is outside [0, ${c}) for ${c} classes`);
  }
  return true;
}
