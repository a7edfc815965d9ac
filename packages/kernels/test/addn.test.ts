import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { chunkedAddN } from '../src/addn-chunks';

describe('chunkedAddN (WebGPU binds at most maxStorageBuffersPerShaderStage buffers per kernel)', () => {
  it('sums any number of inputs with kernels of at most limit - 1 inputs, in order, bit for bit as one AddN', async () => {
    await tf.setBackend('cpu');
    const stock = tf.getKernel(tf.AddN, 'cpu')!.kernelFunc;
    const sizes: number[] = [];
    const counting: tf.KernelConfig['kernelFunc'] = (args) => {
      sizes.push((args.inputs as unknown as unknown[]).length);
      return stock(args);
    };
    const addN = chunkedAddN(counting, () => 4);
    // Values whose float32 sum depends on the order of the additions.
    const xs = Array.from({ length: 11 }, (_, i) => tf.tensor1d([1e8 * (i % 2 ? 1 : -1) + i * 0.37, 3.3 ** i]));
    const before = tf.backend().numDataIds();
    const info = addN({ inputs: xs as unknown as tf.NamedTensorInfoMap, backend: tf.backend(), attrs: {} }) as tf.TensorInfo;
    // The partial sums were freed: the backend holds one new buffer, the result.
    expect(tf.backend().numDataIds() - before).toBe(1);
    const out = tf.engine().makeTensorFromTensorInfo(info);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(3);
    expect(sizes).toEqual([3, 3, 3, 3, 3]);
    const reference = tf.addN(xs);
    expect(Array.from(await out.data())).toEqual(Array.from(await reference.data()));
    tf.dispose([out, reference, ...xs]);
  });
});
