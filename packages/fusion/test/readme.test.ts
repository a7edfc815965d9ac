import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { runReadmeExample } from '../../../test/readme-example';

describe('README', () => {
  it('both fusion variants have the paper counts, fuse to the side width, and the example leaves no tensors behind', async () => {
    const before = tf.memory().numTensors;
    const { printed } = await runReadmeExample(new URL('../README.md', import.meta.url), new URL('.', import.meta.url));
    expect(printed).toEqual(['149088 166752', '[ 6, 2, 16, 96 ]']);
    expect(tf.memory().numTensors).toBe(before);
  });
});
