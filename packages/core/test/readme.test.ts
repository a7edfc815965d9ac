import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { runReadmeExample } from '../../../test/readme-example';

describe('README', () => {
  it('the example trains, resumes bit for bit from a checkpoint, and leaves no tensors behind', async () => {
    const before = tf.memory().numTensors;
    const { printed } = await runReadmeExample(new URL('../README.md', import.meta.url), new URL('.', import.meta.url));
    expect(printed).toEqual(['trainable params: 10 || all params: 10 || trainable%: 100.0000', 'true']);
    expect(tf.memory().numTensors).toBe(before);
  });
});
