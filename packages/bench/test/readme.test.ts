import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { runReadmeExample } from '../../../test/readme-example';

describe('README', () => {
  it('the CLI edge makes a typed method, the metrics print as shown, and the example leaves no tensors behind', async () => {
    const before = tf.memory().numTensors;
    const { printed } = await runReadmeExample(new URL('../README.md', import.meta.url), new URL('.', import.meta.url));
    expect(printed).toEqual([
      '{"rank":8,"alpha":16,"dropout":0,"targets":["qkv"],"qkvSlices":["q","v"],"seed":0}',
      '0.5 0.75 0.5',
      '0.4921',
    ]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
