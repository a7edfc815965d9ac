import * as tf from '@tensorflow/tfjs-core';
import { cpus, platform, release, totalmem } from 'node:os';
import type { RunResult } from '../results/schema';

/**
 * Where this process runs, for the result files.
 * @param kernels - the matrix-product kernels in use (`@fpt/kernels`' `describeKernels`)
 */
export function environment(kernels: string): RunResult['environment'] {
  const backend = tf.getBackend();
  return {
    backend,
    kernels,
    node: process.version,
    tfjs: tf.version_core,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryBytes: totalmem(),
    gpu: backend === 'tensorflow' && (tf.backend() as { isUsingGpuDevice?: boolean }).isUsingGpuDevice ? 'CUDA (tfjs-node-gpu)' : null,
    platform: `${platform()} ${release()}`,
  };
}
