import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import {
  AdamW,
  adamwStateDict,
  adamwStateFromDict,
  loadStateDict,
  Module,
  readSafetensors,
  stateDict,
  stateDictAsync,
  writeSafetensors,
  type NamedVariable,
} from '../src/index';

/** A module with two parameters whose values are known. */
function tinyModule(): Module {
  const m = new Module();
  m.addParameter('a.weight', tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]));
  m.addParameter('a.bias', tf.tensor1d([0.5, -0.5]));
  return m;
}

const named = (m: Module): NamedVariable[] => m.namedParameters().map((p) => ({ name: p.name, variable: p.variable }));

describe('the one state path (issue 15 point 2): stateDict and loadStateDict', () => {
  it('a state dict written to safetensors and read back restores every value; nothing leaks', async () => {
    const src = tinyModule();
    const dst = new Module();
    dst.addParameter('a.weight', tf.zeros([2, 3]));
    dst.addParameter('a.bias', tf.zeros([2]));
    const before = tf.memory().numTensors;
    const dict = stateDict(named(src));
    expect(await stateDictAsync(named(src))).toEqual(dict);
    // Copies: changing the source afterwards does not change the dict.
    tf.tidy(() => src.get('a.bias').assign(tf.tensor1d([9, 9])));
    const file = readSafetensors(writeSafetensors(dict), 'round trip');
    const report = loadStateDict(named(dst), new Map(file.entries()), { source: 'round trip' });
    expect(report.loaded.sort()).toEqual(['a.bias', 'a.weight']);
    expect(Array.from(dst.get('a.weight').dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(dst.get('a.bias').dataSync())).toEqual([0.5, -0.5]);
    expect(tf.memory().numTensors).toBe(before);
    src.dispose();
    dst.dispose();
  });

  it('refuses a wrong element count, shape, missing key or NaN with a sentence, and assigns nothing', () => {
    const m = tinyModule();
    const before = tf.memory().numTensors;
    const good = stateDict(named(m));
    const bias = { dtype: 'float32' as const, shape: [2], data: new Float32Array([7, 7]) };
    const cases: Array<[Record<string, (typeof good)[string]>, RegExp]> = [
      [{ ...good, 'a.bias': { ...bias, data: new Float32Array(3) } }, /^ckpt: key "a\.bias" holds 3 values, its shape \[2\] needs 2$/],
      [
        { ...good, 'a.weight': { dtype: 'float32', shape: [3, 2], data: new Float32Array(6) } },
        /key "a\.weight" has shape \[3,2\], expected \[2,3\]/,
      ],
      [{ 'a.bias': bias }, /missing 1 key\(s\): "a\.weight"/],
      [
        { ...good, 'a.weight': { dtype: 'float32', shape: [2, 3], data: new Float32Array([1, Number.NaN, 3, 4, 5, 6]) } },
        /key "a\.weight" holds 1 non-finite value/,
      ],
    ];
    for (const [state, message] of cases) {
      expect(() => loadStateDict(named(m), state, { label: 'ckpt' })).toThrow(message);
      // The bias comes before or after the failing key: neither was assigned.
      expect(Array.from(m.get('a.bias').dataSync())).toEqual([0.5, -0.5]);
    }
    expect(tf.memory().numTensors).toBe(before);
    // Non-strict loads report what they did not use.
    const report = loadStateDict(named(m), { 'a.bias': bias, extra: bias }, { strict: false });
    expect(report).toEqual({ missing: ['a.weight'], unexpected: ['extra'], loaded: ['a.bias'] });
    expect(Array.from(m.get('a.bias').dataSync())).toEqual([7, 7]);
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });
});

describe("AdamW's state by parameter name (issue 15 point 2)", () => {
  it('saved by name, restored into a fresh optimizer, continues bit for bit', () => {
    const make = () => [tf.variable(tf.tensor1d([1, -2])), tf.variable(tf.tensor2d([0.5, 0.25, -1, 3], [2, 2]))];
    const grads = (vs: tf.Variable[], k: number) => new Map(vs.map((v, i) => [v, tf.fill(v.shape, 0.1 * (k + 1) * (i + 1))]));
    const params = [
      { name: 'x', shape: [2] },
      { name: 'w', shape: [2, 2] },
    ];
    const ref = make();
    const refOpt = new AdamW(ref, { lr: 0.05, weightDecay: 0.1 });
    for (let k = 0; k < 4; k++) refOpt.step(grads(ref, k));

    const first = make();
    const opt = new AdamW(first, { lr: 0.05, weightDecay: 0.1 });
    for (let k = 0; k < 2; k++) opt.step(grads(first, k));
    const saved = adamwStateDict(opt.state(), params);
    expect(Object.keys(saved.tensors).sort()).toEqual(['m.w', 'm.x', 'v.w', 'v.x']);
    expect(saved.metadata).toEqual({ format: 'fpt-adamw/1', step: '2', learningRate: '0.05' });
    const file = readSafetensors(writeSafetensors(saved.tensors, { metadata: saved.metadata }), 'adamw');

    const opt2 = new AdamW(first, { lr: 123 });
    opt2.loadState(adamwStateFromDict(new Map(file.entries()), file.metadata, params, 'adamw'));
    for (let k = 2; k < 4; k++) opt2.step(grads(first, k));
    expect(first.map((v) => Array.from(v.dataSync()))).toEqual(ref.map((v) => Array.from(v.dataSync())));
    [refOpt, opt, opt2].forEach((o) => o.dispose());
    tf.dispose([...ref, ...first]);
  });

  it('refuses another model, half a pair, a wrong shape, NaN or bad metadata, naming the tensor or field', () => {
    const m = { dtype: 'float32' as const, shape: [2], data: new Float32Array([0.1, 0.2]) };
    const md = { format: 'fpt-adamw/1', step: '3', learningRate: '0.01' };
    const params = [{ name: 'x', shape: [2] }];
    const read = (tensors: Record<string, typeof m>, metadata: Record<string, string> = md) =>
      adamwStateFromDict(new Map(Object.entries(tensors)), metadata, params, 'ckpt');
    expect(read({ 'm.x': m, 'v.x': m }).step).toBe(3);
    expect(read({}).moments).toEqual([null]);
    expect(() => read({ 'm.y': m, 'v.y': m })).toThrow('ckpt: unexpected tensor(s): m.y, v.y');
    expect(() => read({ 'm.x': m })).toThrow('ckpt: "m.x" and "v.x" must both be present or both absent');
    expect(() => read({ 'm.x': m, 'v.x': { ...m, shape: [1, 2] } })).toThrow('ckpt: "v.x" has shape [1,2], expected [2]');
    expect(() => read({ 'm.x': m, 'v.x': { ...m, data: new Float32Array([1, Number.POSITIVE_INFINITY]) } })).toThrow(
      'ckpt: "v.x" holds Infinity at index 1; expected finite values',
    );
    expect(() => read({}, { ...md, format: 'x' })).toThrow('ckpt: metadata "format" must be "fpt-adamw/1", got "x"');
    expect(() => read({}, { ...md, step: '-1' })).toThrow('ckpt: metadata "step" must be a non-negative integer, got "-1"');
    expect(() => adamwStateDict({ step: 0, learningRate: 1, moments: [null, null] }, params)).toThrow(
      'adamwStateDict: 1 names for an optimizer over 2 variables',
    );
  });
});
