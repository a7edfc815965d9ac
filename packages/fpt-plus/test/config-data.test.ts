import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { adapt, createVit, MethodRegistry, vitConfig, type Method } from '@fpt/backbone-vit';
import { lora, registerBaselines, ssf } from '@fpt/baselines';
import { globalSelector } from '@fpt/token-select';
import { FPT_PLUS_DEFAULTS, fptAttachment, fptPlus, fptV1, registerFpt } from '../src/index';
import { pixels, TINY_FPT, TINY_LPM } from './helpers';

const registry = registerBaselines(registerFpt(new MethodRegistry()));
// The tiny FPT's options (the defaults are the paper's ViT-B at 512) as --set strings, dotted keys for the side network.
const TINY_SETS: Record<string, string> = Object.fromEntries(
  Object.entries(TINY_FPT).flatMap(([k, v]) =>
    k === 'side' ? Object.entries(v as object).map(([f, x]) => [`side.${f}`, String(x)]) : [[k, String(v)]],
  ),
);

describe('FPT configurations are plain data', () => {
  it('the config is JSON: selector as criterion and seed, side methods as saved configs, derived side fields null', () => {
    const m = fptPlus({ sideMethods: [lora({ rank: 4 })], selector: { criterion: 'random', seed: 3 } });
    expect(JSON.parse(JSON.stringify(m.config))).toEqual(m.config);
    expect(m.config.selector).toEqual({ criterion: 'random', seed: 3 });
    expect(m.config.sideMethods).toEqual([{ name: 'lora', config: { ...lora.defaults, rank: 4 } }]);
    expect(m.config.side).toEqual({ ...FPT_PLUS_DEFAULTS.side, hiddenSize: null });
    expect(Object.isFrozen(m.config.side)).toBe(true);
    // Nested options are completed field by field.
    expect(fptPlus({ side: { hiddenSize: 128 } }).config.side).toEqual({ ...FPT_PLUS_DEFAULTS.side, hiddenSize: 128 });
  });

  it('objects and unknown names are refused when the method is made, naming the option', () => {
    // biome-ignore lint/suspicious/noExplicitAny: a TokenSelector object where data is expected, as a JavaScript caller could pass
    expect(() => fptPlus({ selector: globalSelector as any })).toThrow(/fpt-plus: option "selector" must be plain data/);
    expect(() => fptPlus({ selector: { criterion: 'peak' } })).toThrow(
      'fpt-plus: option "selector.criterion" is "peak"; known: global, class_token, random, all',
    );
    expect(() => fptPlus({ side: { width: 8 } as never })).toThrow('fpt-plus: unknown option "side.width"; known options: side.hiddenSize');
  });

  it("METHOD_REGISTRY.fromStrings('fpt-plus', { sideMethods: 'lora' }) makes a method that adapts, with the side method's own options", () => {
    const lpm = createVit(TINY_LPM, { init: 'zeros' });
    const before = tf.memory().numTensors;
    const m = registry.fromStrings('fpt-plus', { ...TINY_SETS, sideMethods: 'lora,ssf', 'sideMethods.lora.rank': '2' });
    expect(m.config).toMatchObject({ sideMethods: [{ name: 'lora', config: { rank: 2 } }, { name: 'ssf' }] });
    const model = adapt(lpm, [m], { numClasses: 3 });
    const side = fptAttachment(model).sideStack!;
    expect(side.methods.map((s) => s.name)).toEqual(['lora', 'ssf']);
    expect(model.module.get('fpt-plus.side_methods.lora.blocks.0.attn.qkv.q.lora_A').shape).toEqual([2, 16]);
    const [hr, x] = [pixels(1, 32, 1), pixels(1, 16, 2)];
    const extras = model.prepare(hr);
    const logits = model.forward({ pixels: x, extras });
    expect(logits.shape).toEqual([1, 3]);
    tf.dispose([logits, hr, x, ...Object.values(extras)]);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(() => registry.fromStrings('fpt-plus', { 'sideMethods.lora.rank': '2' })).toThrow(
      'fpt-plus: options for "lora" in "sideMethods.lora.*" but "sideMethods" does not list lora',
    );
    expect(() => registry.fromStrings('fpt-plus', { sideMethods: 'lora', 'sideMethods.lora.rnak': '2' })).toThrow(
      'lora: unknown option "rnak"',
    );
    expect(() => registry.fromStrings('fpt-plus', { sideMethods: 'nope' })).toThrow('unknown method "nope"');
    lpm.dispose();
  });

  it('dotted keys set nested options; auto gives back a derived one; revive re-creates the same config', () => {
    const m = registry.fromStrings('fpt-plus', { 'side.hiddenSize': '128', 'selector.criterion': 'random', layers: '6,7' });
    expect(m.config).toMatchObject({ side: { hiddenSize: 128 }, selector: { criterion: 'random', seed: 0 }, layers: [6, 7] });
    expect(registry.fromStrings('fpt-plus', { 'side.hiddenSize': 'auto' }).config).toEqual(fptPlus().config);
    const withSide = fptPlus({ sideMethods: [lora({ rank: 2 }), ssf()] });
    expect(registry.revive(JSON.parse(JSON.stringify(withSide))).config).toEqual(withSide.config);
    expect(() => registry.revive({ name: 'fpt-plus', config: { sideMethods: 'lora' } })).toThrow(
      'fpt-plus: option "sideMethods" must be a list of saved methods, got "lora"',
    );
  });

  it('a saved side method given as data without a registry is refused when attached, saying how to revive it', () => {
    const lpm = createVit(TINY_LPM, { init: 'zeros' });
    const sideMethods = [{ name: 'lora', config: { ...lora.defaults } }] as unknown as Method[];
    const m = registry
      .fromStrings('fpt-plus', TINY_SETS)
      .factory({ ...registry.fromStrings('fpt-plus', TINY_SETS).config, sideMethods } as never);
    expect(() => adapt(lpm, [m])).toThrow(
      'fpt-plus: the saved method "lora" was not given as a method object; revive it through a MethodRegistry',
    );
    lpm.dispose();
  });
});

describe('the FPT attachment', () => {
  it("frees only what it owns: its parameters are the adapted model's, which frees them", () => {
    const lpm = createVit(TINY_LPM, { init: 'zeros' });
    const start = tf.memory().numTensors;
    const model = adapt(lpm, [registry.fromStrings('fpt-plus', { ...TINY_SETS, sideMethods: 'dora' })], { numClasses: 3 });
    const attachment = fptAttachment(model);
    const held = tf.memory().numTensors;
    attachment.dispose();
    expect(tf.memory().numTensors).toBe(held);
    expect(attachment.fusion.get('prompts').isDisposed).toBe(false);
    model.dispose();
    expect(tf.memory().numTensors).toBe(start);
    lpm.dispose();
  });
});

describe('default side network on wide LPMs (12 heads where they divide the width, else heads of 8)', () => {
  // Shallow copies at the real widths: the side network depends on the width and the fused layers.
  for (const [label, width, heads] of [
    ['ViT-L', 1024, 16],
    ['ViT-H', 1280, 20],
  ] as const) {
    it(`fptPlus() with its defaults attaches to a ${label}-width LPM: side width ${width / 8}, ${heads} heads`, () => {
      const lpm = createVit(vitConfig('vit-l16', { hiddenSize: width, numHeads: 16, mlpDim: 16, numLayers: 2, imageSize: 32 }), {
        init: 'zeros',
      });
      const model = adapt(lpm, [fptPlus({ inputSize: 32 })], { numClasses: 5 });
      const { side } = fptAttachment(model).config;
      expect([side.hiddenSize, side.numHeads, side.mlpDim, side.numLayers]).toEqual([width / 8, heads, width / 2, 1]);
      model.dispose();
      lpm.dispose();
    });
  }

  it('widths that do not fit are refused naming the fpt-plus option to set', () => {
    const lpm = createVit(vitConfig({ hiddenSize: 100, numLayers: 2, numHeads: 4, mlpDim: 16, patchSize: 8, imageSize: 16 }), {
      init: 'zeros',
    });
    expect(() => adapt(lpm, [fptPlus({ inputSize: 16 })])).toThrow(
      'fpt-plus: the LPM width 100 is not a multiple of 8, so the default side width (LPM width / 8) is not whole; set option "side.hiddenSize"',
    );
    expect(() => adapt(lpm, [fptV1({ inputSize: 16, side: { hiddenSize: 20 } })])).toThrow(
      'fpt: the side width 20 is a multiple of neither 12 nor 8, so no default head count fits; set option "side.numHeads"',
    );
    expect(() => adapt(lpm, [fptPlus({ inputSize: 16, side: { hiddenSize: 20, numHeads: 3 } })])).toThrow(
      'fpt-plus: option "side.numHeads" 3 does not divide the side width 20 (option "side.hiddenSize")',
    );
    lpm.dispose();
  });
});
