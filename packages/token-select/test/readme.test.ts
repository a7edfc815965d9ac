import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { runReadmeExample } from '../../../test/readme-example';

describe('README', () => {
  it('the paper selection and a custom strategy select as shown, and the example leaves no tensors behind', async () => {
    const before = tf.memory().numTensors;
    const { printed } = await runReadmeExample(new URL('../README.md', import.meta.url), new URL('.', import.meta.url));
    expect(printed).toEqual(['[ 1, 12, 51, 64 ]', '[ 1, 12, 51 ]', '{"name":"peak","version":1,"params":{}}']);
    expect(tf.memory().numTensors).toBe(before);
  });
});
