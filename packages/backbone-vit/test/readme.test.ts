import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { runReadmeExample } from '../../../test/readme-example';

describe('README', () => {
  it('the hand-written method adapts, trains and saves, and the example leaves no tensors behind', async () => {
    const before = tf.memory().numTensors;
    const { printed } = await runReadmeExample(new URL('../README.md', import.meta.url), new URL('.', import.meta.url));
    expect(printed).toEqual(['227', "[ { name: 'layer-scale', config: { init: 0.5 } } ]"]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
