import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { Module } from '@fpt/core';
import {
  adapt,
  attached,
  createVit,
  defineMethod,
  EVAL,
  frozenForward,
  MethodRegistry,
  runBlocks,
  embed,
  trainingContext,
  vitConfig,
  vitForward,
} from '../src/index';

const tiny = () =>
  createVit(vitConfig({ hiddenSize: 16, numLayers: 3, numHeads: 2, mlpDim: 32, patchSize: 8, imageSize: 16, numClasses: 0 }), { seed: 2 });

// A method that scales every block's input: enough to see hooks, context and registration work.
const scale = defineMethod<{ factor: number }>({
  name: 'scale',
  description: 'scales block inputs',
  defaults: { factor: 2 },
  validate: (c) => {
    if (!(c.factor > 0)) throw new Error(`scale: option "factor" must be positive, got ${c.factor}`);
  },
  attach: (_b, c) => attached(new Module(), { hooks: (ctx) => ({ beforeBlock: (_l, x) => tf.mul(x, ctx.training ? c.factor : 1) }) }),
});

describe('the method contract', () => {
  it('a factory completes options, validates them when the method is made, and records its config', () => {
    expect(scale().config).toEqual({ factor: 2 });
    expect(scale({ factor: 3 }).config.factor).toBe(3);
    expect(() => scale({ factor: -1 })).toThrow('scale: option "factor" must be positive, got -1');
    expect(JSON.parse(JSON.stringify(scale({ factor: 3 })))).toEqual({ name: 'scale', config: { factor: 3 } });
  });

  it('hooks get the call context: nothing is set on the method between calls', () => {
    const vit = tiny();
    const m = adapt(vit, [scale()], { numClasses: 2 });
    const x = tf.randomNormal([1, 3, 16, 16], 0, 1, 'float32', 1);
    const evalA = Array.from(m.forward({ pixels: x }).dataSync());
    const train = Array.from(m.forward({ pixels: x }, trainingContext(0)).dataSync());
    const evalB = Array.from(m.forward({ pixels: x }, EVAL).dataSync());
    expect(evalA).toEqual(evalB);
    expect(train).not.toEqual(evalA);
    x.dispose();
    m.dispose();
    vit.dispose();
  });

  it('the registry maps names to factories for the CLI edge and saved configs, with clear errors', () => {
    const r = new MethodRegistry().register(scale);
    expect(r.names()).toEqual(['scale']);
    expect(r.fromStrings('scale', { factor: '4' }).config).toEqual({ factor: 4 });
    expect(() => r.fromStrings('scale', { factr: '4' })).toThrow('scale: unknown option "factr"; known options: factor');
    expect(r.revive({ name: 'scale', config: { factor: 5 } }).config).toEqual({ factor: 5 });
    expect(() => r.revive({ name: 'scale', config: { factor: 'x' } })).toThrow(/"factor" must be positive/);
    expect(() => r.register(scale)).toThrow('MethodRegistry: method "scale" is already registered');
    expect(() => r.get('nope')).toThrow('unknown method "nope"; known: scale');
  });

  it('needsInputs is one capability: its shapes, prepare and the attachment a factory made; two such methods are refused', () => {
    // A method that needs one extra input per sample, [2, 4] with the batch on axis 1.
    const extra = (name: string) =>
      defineMethod<{ seed: number }>({
        name,
        description: 'needs an extra input',
        defaults: { seed: 0 },
        attach: () =>
          attached(new Module(), {
            capabilities: [
              {
                kind: 'needsInputs',
                inputs: ['side'],
                sampleShapes: { side: [2, 4] },
                batchAxis: 1,
                prepare: (pixels, context) => ({ side: tf.fill([2, pixels.shape[0], 4], context?.sampleSeeds?.[0] ?? 0) }),
                fingerprint: () => [name],
              },
            ],
          }),
      });
    const [one, two] = [extra('one'), extra('two')];
    const vit = tiny();
    const m = adapt(vit, [one(), scale()], { numClasses: 2 });
    expect(m.needsInputs?.inputs).toEqual(['side']);
    expect(m.inputShapes(3)).toEqual({ side: [2, 3, 4] });
    const pixels = tf.zeros([3, 3, 16, 16]);
    const { side } = m.prepare(pixels, { sampleSeeds: [7, 8, 9] });
    expect(side?.shape).toEqual([2, 3, 4]);
    expect(side?.dataSync()[0]).toBe(7);
    expect(m.attachmentOf(one)).toBe(m.stack.parts[0]);
    expect(m.attachmentOf(two)).toBeUndefined();
    const plain = adapt(vit, [scale()]);
    expect(plain.needsInputs).toBeUndefined();
    plain.dispose();
    expect(() => adapt(vit, [one(), two()])).toThrow('adapt: one and two both need extra inputs in the batch; use one');
    tf.dispose([pixels, side]);
    m.dispose();
    vit.dispose();
  });
});

describe('the one block loop', () => {
  it('vitForward, frozenForward and a plain runBlocks agree; stop-after and tidy-per-block leak nothing', () => {
    const vit = tiny();
    const x = tf.randomNormal([2, 3, 16, 16], 0, 1, 'float32', 3);
    const start = tf.memory().numTensors;
    tf.tidy(() => {
      const full = vitForward(vit, x, { collect: [1] });
      const plain = runBlocks(vit, embed(vit, x), { collect: [1] });
      expect(Array.from(plain.perLayer.get(1)!.keys.dataSync())).toEqual(Array.from(full.layers.get(1)!.keys.dataSync()));
      const early = runBlocks(vit, embed(vit, x), { stopAfter: 1 });
      expect(early.out.shape).toEqual([2, 5, 16]);
    });
    const frozen = frozenForward(vit, x, { layers: [1], onLayer: (_l, i) => ({ k: i.keys }) });
    const again = tf.tidy(() => vitForward(vit, x, { collect: [1] }).layers.get(1)!.keys);
    expect(Array.from(frozen.perLayer.get(1)!.k.dataSync())).toEqual(Array.from(again.dataSync()));
    tf.dispose([frozen.perLayer.get(1)!.k, again]);
    expect(tf.memory().numTensors).toBe(start);
    expect(() => runBlocks(vit, x, { stopAfter: 3 })).toThrow('runBlocks: "stopAfter" 3 out of range: the model has blocks 0..2');
    x.dispose();
    vit.dispose();
  });
});
