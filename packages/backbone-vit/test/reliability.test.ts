// Reliability, round 3 (issue 17 items 19, 20, 21): an empty batch, NaN weights and a disposed
// model are refused with one sentence, and nothing leaks.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { AdamW, Module, readSafetensors, trainStep, writeSafetensors, type WritableTensor } from '@fpt/core';
import { adapt, attached, createVit, defineMethod, loadAdapted, MethodRegistry, trainingContext, vitConfig } from '../src/index';

const tiny = () =>
  createVit(vitConfig({ hiddenSize: 16, numLayers: 2, numHeads: 2, mlpDim: 32, patchSize: 8, imageSize: 16, numClasses: 0 }), { seed: 2 });

// A method with one learnable vector added to every block's input.
const shift = defineMethod<{ size: number }>({
  name: 'shift',
  description: 'adds a learnable vector to block inputs',
  defaults: { size: 16 },
  attach: (_b, c) => {
    const m = new Module();
    const v = m.addParameter('shift', tf.zeros([c.size]));
    return attached(m, { hooks: () => ({ beforeBlock: (_l, x) => tf.add(x, v) }) });
  },
});
const registry = new MethodRegistry().register(shift);

/** The saved weights with one value of `name` set to NaN. */
function withNaN(weights: Uint8Array, name: string): Uint8Array {
  const file = readSafetensors(weights);
  const tensors = new Map<string, WritableTensor>();
  for (const [k, e] of file.entries()) tensors.set(k, { dtype: 'float32', shape: e.shape, data: new Float32Array(e.data) });
  (tensors.get(name)!.data as Float32Array)[0] = Number.NaN;
  return writeSafetensors(tensors, { metadata: { ...file.metadata } });
}

describe('reliability round 3 (issue 17)', () => {
  it('trainStep on a batch of 0 images says so and leaks nothing (item 19)', () => {
    const backbone = tiny();
    const model = adapt(backbone, [shift()], { numClasses: 2 });
    const opt = new AdamW(model.trainableVariables(), { lr: 1e-3 });
    const pixels = tf.zeros([0, 3, 16, 16]);
    const labels = tf.tensor1d([], 'int32');
    const before = tf.memory().numTensors;
    expect(() => trainStep(() => model.loss({ pixels }, labels, trainingContext(0)), opt, { clipNorm: 1 })).toThrow(
      'shift: the batch is empty (pixels [0,3,16,16]); expected at least one image',
    );
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([pixels, labels]);
    opt.dispose();
    model.dispose();
    backbone.dispose();
  });

  it('loadWeights and loadAdapted refuse NaN weights as Module.loadState does (item 20)', () => {
    const backbone = tiny();
    const model = adapt(backbone, [shift()], { numClasses: 2 });
    const saved = model.save();
    const bad = withNaN(saved.weights, 'head.weight');
    const before = Array.from(model.module.get('head.weight').dataSync());
    expect(() => model.loadWeights(bad, 'w.safetensors')).toThrow(
      'AdaptedModel.loadWeights (w.safetensors for shift): key "head.weight" holds 1 non-finite value(s) (NaN or Infinity) among 32; pass allowNonFinite to load them anyway',
    );
    expect(Array.from(model.module.get('head.weight').dataSync())).toEqual(before); // nothing assigned
    model.dispose();
    const tensors = tf.memory().numTensors;
    expect(() => loadAdapted(backbone, withNaN(saved.weights, 'shift.shift'), saved.config, registry)).toThrow(
      'key "shift.shift" holds 1 non-finite value(s)',
    );
    expect(tf.memory().numTensors).toBe(tensors);
    backbone.dispose();
  });

  it('save() after dispose() is refused instead of writing a file without tensors (item 21)', () => {
    const backbone = tiny();
    const model = adapt(backbone, [shift()], { numClasses: 2 });
    model.dispose();
    expect(() => model.save()).toThrow('AdaptedModel.save: shift was disposed (its weights are freed); save it before dispose()');
    backbone.dispose();
  });

  it('saveAsync() writes the same files as save() (the path for WebGPU, which has no good synchronous read)', async () => {
    const backbone = tiny();
    const model = adapt(backbone, [shift()], { numClasses: 2, seed: 3 });
    model.module.get('shift.shift').assign(tf.range(0, 16, 1, 'float32'));
    const sync = model.save();
    const before = tf.memory().numTensors;
    const async = await model.saveAsync();
    expect(tf.memory().numTensors).toBe(before);
    expect(async.config).toBe(sync.config);
    expect(Buffer.from(async.weights).equals(Buffer.from(sync.weights))).toBe(true);
    model.dispose();
    await expect(model.saveAsync()).rejects.toThrow('AdaptedModel.saveAsync: shift was disposed');
    backbone.dispose();
  });
});
