import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { composeHooks, createVit, vitConfig, vitForward, type VitHooks } from '../src/index';

const tiny = () =>
  createVit(vitConfig({ hiddenSize: 16, numLayers: 2, numHeads: 2, mlpDim: 32, patchSize: 8, imageSize: 16, numClasses: 0 }), { seed: 3 });

describe('hook points', () => {
  it('composeHooks chains every point generically, in order, each seeing the previous output', () => {
    const seen: string[] = [];
    // A method's hooks at two points, recording their calls: `act` after the GELU, `input` before a linear map.
    const method = (tag: string, act: (y: tf.Tensor) => tf.Tensor, input: (x: tf.Tensor) => tf.Tensor): VitHooks => ({
      activation: (name, y) => {
        seen.push(`${tag}:${name}`);
        return act(y);
      },
      linearInput: (name, x) => {
        seen.push(`${tag}:${name}`);
        return input(x);
      },
    });
    const a = method(
      'a',
      (y) => tf.add(y, 1),
      (x) => tf.mul(x, 2),
    );
    const b: VitHooks = {
      ...method(
        'b',
        (y) => tf.mul(y, 10),
        (x) => tf.add(x, 3),
      ),
      residual: (_l, _b, _x, y) => tf.neg(y),
    };
    const c = composeHooks([a, b]);
    const x = tf.tensor1d([1, 2]);
    expect(Array.from(c.activation!('blocks.0.mlp.act', x).dataSync())).toEqual([20, 30]);
    expect(Array.from(c.linearInput!('blocks.0.mlp.fc2', x).dataSync())).toEqual([5, 7]);
    expect(Array.from(c.residual!(0, 'mlp', x, x).dataSync())).toEqual([-1, -2]);
    expect(seen).toEqual(['a:blocks.0.mlp.act', 'b:blocks.0.mlp.act', 'a:blocks.0.mlp.fc2', 'b:blocks.0.mlp.fc2']);
    expect(Object.keys(composeHooks([{}, {}]))).toEqual([]);
  });

  it("the forward pass calls linearInput before every linear map and activation after each block's GELU, by timm name", () => {
    const vit = tiny();
    const inputs: string[] = [];
    const acts: string[] = [];
    const pixels = tf.randomNormal([1, 3, 16, 16], 0, 1, 'float32', 1);
    const hooks: VitHooks = {
      linearInput: (name, x) => {
        inputs.push(name);
        return x;
      },
      activation: (name, y) => {
        acts.push(name);
        return y;
      },
    };
    const plain = tf.tidy(() => vitForward(vit, pixels, { head: false }).features.arraySync());
    const hooked = tf.tidy(() => vitForward(vit, pixels, { head: false, hooks }).features.arraySync());
    expect(hooked).toEqual(plain);
    expect(inputs).toEqual([
      'patch_embed.proj',
      ...[0, 1].flatMap((l) => ['attn.qkv', 'attn.proj', 'mlp.fc1', 'mlp.fc2'].map((n) => `blocks.${l}.${n}`)),
    ]);
    expect(acts).toEqual(['blocks.0.mlp.act', 'blocks.1.mlp.act']);
  });

  it('a linearInput hook changes what the map and the linear hook see; an activation hook what fc2 sees', () => {
    const vit = tiny();
    const pixels = tf.randomNormal([2, 3, 16, 16], 0, 1, 'float32', 2);
    const before = tf.memory().numTensors;
    // Doubling fc2's input equals doubling the activation's output: the same map, reached at two points.
    const viaInput = tf.tidy(() =>
      vitForward(vit, pixels, {
        head: false,
        hooks: { linearInput: (n, x) => (n.endsWith('mlp.fc2') ? tf.mul(x, 2) : x) },
      }).features.arraySync(),
    );
    const viaAct = tf.tidy(() =>
      vitForward(vit, pixels, { head: false, hooks: { activation: (_n, y) => tf.mul(y, 2) } }).features.arraySync(),
    );
    const plain = tf.tidy(() => vitForward(vit, pixels, { head: false }).features.arraySync());
    expect(viaInput).toEqual(viaAct);
    expect(viaInput).not.toEqual(plain);
    let seenByLinear: tf.Tensor | undefined;
    tf.tidy(() => {
      vitForward(vit, pixels, {
        head: false,
        hooks: {
          linearInput: (n, x) => (n === 'blocks.0.attn.proj' ? tf.zerosLike(x) : x),
          linear: (n, x, y) => {
            if (n === 'blocks.0.attn.proj') seenByLinear = tf.keep(tf.add(x, 0));
            return y;
          },
        },
      });
    });
    const largest = tf.tidy(() => tf.max(tf.abs(seenByLinear!)));
    expect(largest.dataSync()[0]).toBe(0);
    tf.dispose([seenByLinear!, largest]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([pixels]);
    vit.dispose();
  });
});
