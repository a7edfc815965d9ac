import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { runReadmeExample } from '../../../test/readme-example';

describe('README', () => {
  it('the side network takes fused prompts per block and hooks, as shown, and the example leaves no tensors behind', async () => {
    const before = tf.memory().numTensors;
    const { printed } = await runReadmeExample(new URL('../README.md', import.meta.url), new URL('.', import.meta.url));
    expect(printed).toEqual(['751392', '[ 2, 96 ]', '81 81 81 81 81 81']);
    expect(tf.memory().numTensors).toBe(before);
  });
});
