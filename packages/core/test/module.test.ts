import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { formatParameterReport, Module, nameMatcher, parameterReport } from '../src/index';

function tree() {
  const root = new Module();
  root.addParameter('cls_token', tf.zeros([1, 1, 4]));
  const block = root.addModule('blocks.0', new Module());
  block.addParameter('attn.qkv.weight', tf.ones([12, 4]));
  block.addParameter('attn.qkv.bias', tf.zeros([12]));
  const block10 = root.addModule('blocks.10', new Module());
  block10.addParameter('norm1.weight', tf.ones([4]));
  return root;
}

describe('Module', () => {
  it('names parameters with dotted prefixes, in registration order', () => {
    const m = tree();
    expect(m.namedParameters().map((p) => p.name)).toEqual([
      'cls_token',
      'blocks.0.attn.qkv.weight',
      'blocks.0.attn.qkv.bias',
      'blocks.10.norm1.weight',
    ]);
    expect(m.get('blocks.0.attn.qkv.weight').shape).toEqual([12, 4]);
    expect(m.has('blocks.0.attn.nope')).toBe(false);
    expect(() => m.get('blocks.0.attn.nope')).toThrow('no parameter named "blocks.0.attn.nope"');
    expect(() => m.addParameter('cls_token', tf.zeros([1]))).toThrow(/already exists/);
    m.dispose();
  });

  it('freezes and unfreezes by prefix, glob and regex', () => {
    const m = tree();
    expect(m.freeze()).toBe(4);
    expect(m.trainableVariables()).toHaveLength(0);
    expect(m.unfreeze('blocks.1')).toBe(0); // a prefix stops at a dot boundary
    expect(m.unfreeze('blocks.0')).toBe(2);
    expect(m.isTrainable('blocks.10.norm1.weight')).toBe(false);
    expect(m.unfreeze('*.norm1.*')).toBe(1);
    m.freeze(/qkv\.bias$/);
    expect(
      m
        .namedParameters()
        .filter((p) => p.trainable)
        .map((p) => p.name),
    ).toEqual(['blocks.0.attn.qkv.weight', 'blocks.10.norm1.weight']);
    expect(m.get('blocks.0.attn.qkv.bias').trainable).toBe(false);
    expect(nameMatcher('a.b')('a.bc')).toBe(false);
    m.dispose();
  });

  it('loadState checks shapes and keys, and state() round-trips', () => {
    const m = tree();
    const good = {
      cls_token: tf.fill([1, 1, 4], 2),
      'blocks.0.attn.qkv.weight': tf.fill([12, 4], 3),
      'blocks.0.attn.qkv.bias': tf.fill([12], 4),
      'blocks.10.norm1.weight': tf.fill([4], 5),
    };
    const r = m.loadState(good);
    expect(r.loaded).toHaveLength(4);
    expect(m.get('blocks.10.norm1.weight').dataSync()[0]).toBe(5);
    expect(() => m.loadState({ ...good, cls_token: tf.zeros([1, 4]) }, { source: 'x.safetensors' })).toThrow(
      'Module.loadState (x.safetensors): key "cls_token" has shape [1,4], expected [1,1,4]',
    );
    const { cls_token: _dropped, ...partial } = good;
    expect(() => m.loadState({ ...partial, extra: tf.zeros([1]) })).toThrow(
      /missing 1 key\(s\): "cls_token"; unexpected 1 key\(s\): "extra"/,
    );
    const lenient = m.loadState(partial, { strict: false });
    expect(lenient.missing).toEqual(['cls_token']);
    const copy = tree();
    copy.loadState(m.state());
    expect(Array.from(copy.get('blocks.0.attn.qkv.bias').dataSync())).toEqual(new Array(12).fill(4));
    tf.dispose(Object.values(good));
    m.dispose();
    copy.dispose();
  });

  it('dispose frees every variable', () => {
    const before = tf.memory().numTensors;
    const m = tree();
    expect(tf.memory().numTensors).toBe(before + 4);
    m.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('parameter accounting', () => {
  it('counts total, trainable and per-group, and prints a peft-style summary', () => {
    const m = tree();
    m.freeze('blocks.0');
    const r = parameterReport(m, { depth: 2 });
    expect(r.total).toBe(4 + 48 + 12 + 4);
    expect(r.trainable).toBe(8);
    expect(r.groups.map((g) => [g.name, g.total, g.trainable])).toEqual([
      ['cls_token', 4, 4],
      ['blocks.0', 60, 0],
      ['blocks.10', 4, 4],
    ]);
    const text = formatParameterReport(r);
    expect(text.split('\n').at(-1)).toBe('trainable params: 8 || all params: 68 || trainable%: 11.7647');
    m.dispose();
  });
});
