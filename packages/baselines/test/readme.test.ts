import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { runReadmeExample } from '../../../test/readme-example';

describe('README', () => {
  it('LoRA + VPT-deep train, save and reload exactly, and the example leaves no tensors behind', async () => {
    const before = tf.memory().numTensors;
    const { printed } = await runReadmeExample(new URL('../README.md', import.meta.url), new URL('.', import.meta.url));
    expect(printed).toEqual(['lora+vpt-deep 5315', '0 1']);
    expect(tf.memory().numTensors).toBe(before);
  });
});
