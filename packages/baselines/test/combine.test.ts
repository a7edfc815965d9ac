import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { adapt, loadAdapted } from '@fpt/backbone-vit';
import { full, lora, sideTuning, vptDeep, bitfit } from '../src/index';
import { batch, registry, tinyBackbone } from './helpers';

describe('combining methods', () => {
  it('LoRA + VPT-deep on one backbone: both train, one head, save and reload', () => {
    const backbone = tinyBackbone();
    const m = adapt(backbone, [lora({ rank: 2 }), vptDeep({ prompts: 3 })], { numClasses: 3 });
    expect(m.name).toBe('lora+vpt-deep');
    expect(m.module.namedParameters().map((p) => p.name)).toEqual(
      expect.arrayContaining(['lora.blocks.0.attn.qkv.q.lora_A', 'vpt-deep.prompts', 'head.weight']),
    );
    expect(() => m.merge()).toThrow('lora+vpt-deep: not mergeable (combined methods are never merged)');
    const { pixels } = batch();
    const saved = m.save();
    const fresh = tinyBackbone();
    const again = loadAdapted(fresh, saved.weights, saved.config, registry);
    tf.tidy(() => {
      expect(Array.from(again.forward({ pixels }).dataSync())).toEqual(Array.from(m.forward({ pixels }).dataSync()));
    });
    pixels.dispose();
    [m, again].forEach((x) => x.dispose());
    [backbone, fresh].forEach((x) => x.dispose());
  });

  it('refuses combinations from capabilities, saying why, and leaves nothing attached', () => {
    const backbone = tinyBackbone();
    const start = tf.memory().numTensors;
    const trainable = backbone.trainableVariables().length;
    expect(() => adapt(backbone, [full(), lora()])).toThrow(
      'adapt: "full" cannot be combined with other methods: it trains every parameter already',
    );
    expect(() => adapt(backbone, [sideTuning(), vptDeep()])).toThrow(
      /"side-tuning" cannot be combined with other methods: it replaces the features/,
    );
    expect(() => adapt(backbone, [lora(), lora({ rank: 4 })])).toThrow('adapt: method "lora" is given twice');
    expect(() => adapt(backbone, [])).toThrow('adapt: no method given');
    expect(() => adapt(backbone, [bitfit()], { numClasses: 99_999_999 })).toThrow(
      'adapt: "numClasses" must be an integer in [1, 1000000], got 99999999',
    );
    expect(() => registry.get('qlora')).toThrow(`unknown method "qlora"; known: ${registry.names().join(', ')}`);
    expect(tf.memory().numTensors).toBe(start);
    expect(backbone.trainableVariables()).toHaveLength(trainable); // the backbone is untouched
    backbone.dispose();
  });

  it('loading refuses a foreign or mismatched file, naming the key, and leaves nothing behind', () => {
    const backbone = tinyBackbone();
    const m = adapt(backbone, [bitfit()], { numClasses: 3 });
    const saved = m.save();
    const fresh = tinyBackbone();
    const start = tf.memory().numTensors;
    expect(() => loadAdapted(fresh, saved.weights, '{"format":"x"}', registry)).toThrow(/config "format" must be "fpt-adapted\/1"/);
    const wrong = saved.config.replace('"numClasses": 3', '"numClasses": 4');
    expect(() => loadAdapted(fresh, saved.weights, wrong, registry)).toThrow(/key "head.weight" has shape \[3,32\], expected \[4,32\]/);
    const other = saved.config.replace('"name": "bitfit"', '"name": "lora"');
    expect(() => loadAdapted(fresh, saved.weights, other, registry)).toThrow(
      /AdaptedModel.loadWeights \(adapted weights for lora\): missing \d+ key\(s\): "lora\.blocks/,
    );
    expect(tf.memory().numTensors).toBe(start);
    fresh.dispose();
    m.dispose();
    backbone.dispose();
  });
});
