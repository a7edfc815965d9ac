import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { runReadmeExample } from '../../../test/readme-example';

describe('README', () => {
  it('the prompt banks have the shown shapes and gradients, and the example leaves no tensors behind', async () => {
    const before = tf.memory().numTensors;
    const { printed } = await runReadmeExample(new URL('../README.md', import.meta.url), new URL('.', import.meta.url));
    expect(printed).toEqual([
      '[ 6, 1, 16, 768 ] [ 12, 8, 192 ]',
      '[ 4, 8, 192 ]',
      '[\n  0, 0, 0, 6144, 0,\n  0, 0, 0,    0, 0,\n  0, 0\n]',
    ]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
