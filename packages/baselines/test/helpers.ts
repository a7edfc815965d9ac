import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import { createVit, MethodRegistry, vitConfig, type VitModel } from '@fpt/backbone-vit';
import { registerBaselines } from '../src/index';

/** A tiny random ViT (width 32, 2 blocks, 16 px, patch 8) with deterministic weights. */
export function tinyBackbone(seed = 1): VitModel {
  const vit = createVit(vitConfig({ hiddenSize: 32, numLayers: 2, numHeads: 2, mlpDim: 64, patchSize: 8, imageSize: 16, numClasses: 0 }), {
    seed,
  });
  // Non-trivial LayerNorm affine and biases, so BitFit, LN tuning and SSF merges are exercised.
  for (const p of vit.namedParameters()) {
    if (p.name.endsWith('.bias') || p.name.includes('norm')) {
      tf.tidy(() => p.variable.assign(tf.add(p.variable, tf.randomNormal(p.variable.shape, 0, 0.1, 'float32', seed + p.name.length))));
    }
  }
  return vit;
}

/** A batch of pixels and labels. */
export function batch(size = 3): { pixels: tf.Tensor; labels: tf.Tensor } {
  return { pixels: tf.randomNormal([size, 3, 16, 16], 0, 1, 'float32', 5), labels: tf.tensor1d([0, 1, 2, 1, 0].slice(0, size), 'int32') };
}

/** Every baseline by name. */
export const registry = registerBaselines(new MethodRegistry());

/**
 * Expects `got` to have `want`'s length and every element within `tol` of `want`'s.
 * @param label - names the values in a failure, with the index
 */
export function expectNear(got: Iterable<number>, want: Iterable<number>, tol: number, label = 'values'): void {
  const [g, w] = [Array.from(got), Array.from(want)];
  expect(g.length, `${label}: length`).toBe(w.length);
  g.forEach((v, i) => expect(Math.abs(v - w[i]!), `${label}[${i}]`).toBeLessThan(tol));
}
