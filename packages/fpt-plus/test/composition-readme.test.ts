import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { runReadmeExample } from '../../../test/readme-example';

describe("the root README's composition example", () => {
  it('LoRA + VPT-deep on a ViT and LoRA on FPT+ side network train a step each, and leave no tensors behind', async () => {
    const before = tf.memory().numTensors;
    const { printed } = await runReadmeExample(new URL('../../../README.md', import.meta.url), new URL('.', import.meta.url));
    expect(printed).toEqual([
      'lora+vpt-deep 5315',
      'head.weight head.bias fpt-plus.fusion_module fpt-plus.side_methods',
      'lora+vpt-deep 1.28',
      'fpt-plus 1.10',
    ]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
