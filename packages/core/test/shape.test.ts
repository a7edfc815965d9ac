import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { dims, dropout, lastDim, splitHeads } from '../src/index';

describe('dims and lastDim', () => {
  it('give the sizes of a tensor of the expected rank', () => {
    const x = tf.zeros([2, 3, 4]);
    const [b, n, d] = dims(x, ['B', 'N', 'D'], 'test: x');
    expect([b, n, d]).toEqual([2, 3, 4]);
    expect(lastDim(x, 'test: x')).toBe(4);
    x.dispose();
  });

  it('refuse another rank or a scalar, naming the tensor, its shape and the layout expected', () => {
    const x = tf.zeros([2, 3]);
    expect(() => dims(x, ['B', 'N', 'D'], 'test: x')).toThrow('test: x has shape [2,3], expected [B, N, D]');
    expect(() => splitHeads(x, 1)).toThrow('splitHeads: x has shape [2,3], expected [B, N, D]');
    const s = tf.scalar(1);
    expect(() => lastDim(s, 'test: s')).toThrow('test: s is a scalar, expected a tensor with a feature axis');
    tf.dispose([x, s]);
  });

  it('dropout names a per-sample axis the input does not have', () => {
    const x = tf.ones([2, 3]);
    expect(() => dropout(x, 0.5, true, 1, { axis: 2, offset: 0 })).toThrow('dropout: samples.axis 2 is not an axis of the input [2,3]');
    x.dispose();
  });
});
