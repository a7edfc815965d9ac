import * as tf from '@tensorflow/tfjs-core';
import { gelu, linear, type Module, type Rng, truncatedNormal, uniform } from '@fpt/core';

/** A bottleneck's non-linearity. */
export type Activation = 'relu' | 'gelu';

/** The activations a bottleneck accepts, for validation messages. */
export const ACTIVATIONS: readonly Activation[] = ['relu', 'gelu'];

/**
 * Adds a PyTorch-layout dense layer `<prefix>.weight` [out, in] and `<prefix>.bias` [out].
 * @param init - `kaiming` (uniform in +-1/sqrt(in), PyTorch's nn.Linear default), `trunc` (std
 *   0.02) or `zeros` (an adapter's up-projection, so the method starts as the identity)
 */
export function addDense(m: Module, prefix: string, out: number, inp: number, init: 'kaiming' | 'trunc' | 'zeros', rng: Rng): void {
  let w: tf.Tensor;
  if (init === 'zeros') w = tf.zeros([out, inp]);
  else if (init === 'trunc') w = truncatedNormal([out, inp], 0.02, rng);
  else w = uniform([out, inp], 1 / Math.sqrt(inp), rng);
  m.addParameter(`${prefix}.weight`, w);
  m.addParameter(`${prefix}.bias`, tf.zeros([out]));
}

/** A bottleneck adapter: up(act(down(x))). */
export function bottleneck(m: Module, prefix: string, x: tf.Tensor, act: Activation): tf.Tensor {
  const h = linear(x, m.get(`${prefix}.down.weight`), m.get(`${prefix}.down.bias`));
  return linear(act === 'gelu' ? gelu(h) : tf.relu(h), m.get(`${prefix}.up.weight`), m.get(`${prefix}.up.bias`));
}
