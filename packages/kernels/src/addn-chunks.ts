import type * as tf from '@tensorflow/tfjs-core';

type KernelFunc = tf.KernelConfig['kernelFunc'];

/**
 * AddN for backends that bind one buffer per input (WebGPU: the device's
 * `maxStorageBuffersPerShaderStage`, 8 by default, one of them the output). With more inputs the
 * stock WebGPU kernel's pipeline is invalid and its output is left unwritten, silently. This sums
 * in order, `limit - 1` inputs at a time, each chunk after the first starting from the sum so far:
 * the same additions in the same order as one AddN.
 * @param stock - the backend's own AddN
 * @param limit - how many buffers one kernel may bind
 */
export function chunkedAddN(stock: KernelFunc, limit: (backend: unknown) => number): KernelFunc {
  return (args) => {
    const inputs = args.inputs as unknown as tf.TensorInfo[];
    const most = Math.max(2, limit(args.backend) - 1);
    if (inputs.length <= most) return stock(args);
    const backend = args.backend as { disposeData(dataId: object): void };
    let total = stock({ ...args, inputs: inputs.slice(0, most) as unknown as tf.NamedTensorInfoMap }) as tf.TensorInfo;
    for (let i = most; i < inputs.length; i += most - 1) {
      const next = stock({
        ...args,
        inputs: [total, ...inputs.slice(i, i + most - 1)] as unknown as tf.NamedTensorInfoMap,
      }) as tf.TensorInfo;
      backend.disposeData(total.dataId);
      total = next;
    }
    return total;
  };
}
