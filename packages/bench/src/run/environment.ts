import * as tf from '@tensorflow/tfjs-core';
import { describeAdapter, type GpuAdapterReport } from '@fpt/core';
import { cpus, platform, release, totalmem } from 'node:os';
import type { RunResult } from '../results/schema';

/**
 * Where this process runs, for the result files.
 * @param kernels - the matrix-product kernels in use (`@fpt/kernels`' `describeKernels`)
 * @param adapter - the WebGPU adapter when the backend is `webgpu` (`selectBackend`'s `adapter`)
 */
export function environment(kernels: string, adapter: GpuAdapterReport | null = null): RunResult['environment'] {
  const backend = tf.getBackend();
  const cuda = backend === 'tensorflow' && (tf.backend() as { isUsingGpuDevice?: boolean }).isUsingGpuDevice;
  return {
    backend,
    kernels,
    node: process.version,
    tfjs: tf.version_core,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryBytes: totalmem(),
    gpu: adapter ? `WebGPU: ${describeAdapter(adapter)}` : cuda ? 'CUDA (tfjs-node-gpu)' : null,
    adapter,
    platform: `${platform()} ${release()}`,
  };
}
