import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { runReadmeExample } from '../../../test/readme-example';

describe('README', () => {
  it('FPT+ with LoRA on its side network prepares its inputs and trains a step; the example leaves no tensors behind', async () => {
    const before = tf.memory().numTensors;
    const { printed } = await runReadmeExample(new URL('../README.md', import.meta.url), new URL('.', import.meta.url));
    expect(printed).toEqual(['1987 [ 2, 4, 16, 16 ]', "[ 'keys', 'values' ] true"]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
