import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Module, recordingGradients, variableGradsFreeing } from '@fpt/core';
import { adapt, attached, clsToken, createVit, defineMethod, vitConfig, vitForward, type AdaptedModel } from '../src/index';

// A forward pass that no gradient flows through frees each block's intermediates once the next
// block has its input, so its peak memory does not grow with depth (at ViT-B/16's 1,025 tokens a
// block's attention probabilities are about 50 MB per image: twelve of them at once overflowed
// WASM's heap in the paper preset's evaluation and linear probe). Where a gradient flows through
// the blocks, every block's activations must stay.

const headOnly = defineMethod<Record<string, never>>({
  name: 'head-only',
  description: 'only the head trains',
  defaults: {},
  attach: () => attached(new Module(), { backpropagatesThroughBackbone: false }),
});
const everything = defineMethod<Record<string, never>>({
  name: 'everything',
  description: 'every backbone parameter trains',
  defaults: {},
  attach: () => attached(new Module(), { unfreeze: [/^(?!head\.).*/] }),
});

const model = (depth: number, method: typeof headOnly): AdaptedModel =>
  adapt(
    createVit(vitConfig({ hiddenSize: 32, numLayers: depth, numHeads: 2, mlpDim: 64, patchSize: 4, imageSize: 32, numClasses: 0 }), {
      seed: 3,
    }),
    [method()],
    { numClasses: 3 },
  );

/** Peak bytes above what was live before, of `f` on a model of `depth` blocks. */
async function peakOf(depth: number, method: typeof headOnly, f: (m: AdaptedModel, px: tf.Tensor) => void): Promise<number> {
  const m = model(depth, method);
  const px = tf.randomNormal([2, 3, 32, 32], 0, 1, 'float32', 5);
  const [tensors, bytes] = [tf.memory().numTensors, tf.memory().numBytes];
  const info = await tf.profile(() => f(m, px));
  expect(tf.memory().numTensors).toBe(tensors);
  px.dispose();
  m.dispose();
  return info.peakBytes - bytes;
}

const evaluate = (m: AdaptedModel, px: tf.Tensor) => {
  expect(recordingGradients()).toBe(false);
  m.forward({ pixels: px }).dispose();
};
const train = (m: AdaptedModel, px: tf.Tensor) => {
  const labels = tf.tensor1d([0, 2], 'int32');
  const { value, grads } = variableGradsFreeing(() => {
    expect(recordingGradients()).toBe(true);
    return m.loss({ pixels: px }, labels);
  }, m.trainableVariables());
  tf.dispose([value, labels, ...Object.values(grads)]);
};

describe('forward memory per block', () => {
  it('an evaluation forward pass peaks at the same bytes whatever the depth (weights aside)', async () => {
    await tf.setBackend('cpu');
    const [shallow, deep] = [await peakOf(2, everything, evaluate), await peakOf(8, everything, evaluate)];
    // The weights of 6 more blocks are live before the call and not counted; a retained block
    // (probabilities 2 x 2 x 65 x 65 floats plus its other activations) would add over 100 kB each.
    expect(deep - shallow).toBeLessThan(20_000);
  });

  it('a step that trains only the head frees per block too; one that trains the blocks keeps them', async () => {
    await tf.setBackend('cpu');
    const head = [await peakOf(2, headOnly, train), await peakOf(8, headOnly, train)];
    expect(head[1]! - head[0]!).toBeLessThan(20_000);
    const full = [await peakOf(2, everything, train), await peakOf(8, everything, train)];
    expect(full[1]! - full[0]!).toBeGreaterThan(6 * 100_000);
  });

  it('gradients of a head-only model with blocks freed equal the head gradient computed by hand from the features', async () => {
    await tf.setBackend('cpu');
    const m = model(3, headOnly);
    const px = tf.randomNormal([2, 3, 32, 32], 0, 1, 'float32', 7);
    const labels = tf.tensor1d([1, 0], 'int32');
    const freed = variableGradsFreeing(() => m.loss({ pixels: px }, labels), m.trainableVariables());
    // By hand: logits = f W^T + b, mean cross-entropy: dW = (softmax - onehot)^T f / B, db = column means.
    const [dW, db] = tf.tidy(() => {
      const f = clsToken(vitForward(m.backbone, px, { head: false }).features);
      const logits = tf.add(tf.matMul(f, m.module.get('head.weight'), false, true), m.module.get('head.bias'));
      const d = tf.div(tf.sub(tf.softmax(logits), tf.oneHot(labels, 3)), 2);
      return [tf.matMul(d, f, true, false), tf.sum(d, 0)];
    });
    const variableOf = new Map(m.namedVariables().map((p) => [p.name, p.variable.name]));
    const byName = (name: string) => freed.grads[variableOf.get(name) ?? ''];
    for (const [suffix, expected] of [
      ['head.weight', dW],
      ['head.bias', db],
    ] as const) {
      const ours = byName(suffix);
      expect(ours, suffix).toBeDefined();
      expect(Math.max(...(await tf.abs(tf.sub(ours!, expected)).data())), suffix).toBeLessThan(1e-6);
    }
    expect(Object.keys(freed.grads)).toHaveLength(2);
    tf.dispose([px, labels, dW, db, freed.value, ...Object.values(freed.grads)]);
    m.dispose();
  });
});
