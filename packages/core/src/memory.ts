import * as tf from '@tensorflow/tfjs-core';

/** The result of a function together with tfjs's accounting of the tensors it allocated. */
export interface MeasuredStep<T> {
  /** What the function returned. */
  result: T;
  /**
   * Peak bytes of live tensors while the function ran, counted by tfjs's `profile`: every tensor
   * alive at that moment (parameters, activations, gradients, optimizer state). It over-counts
   * reshaped views of the same buffer, so it is an upper bound on backend memory, not RSS.
   */
  peakBytes: number;
  /** Bytes of tensors created and still alive when the function returned. */
  newBytes: number;
  /** Number of tensors created and still alive when the function returned. */
  newTensors: number;
  /** Bytes of live tensors before the function started (parameters, caches, ...). */
  baselineBytes: number;
}

/**
 * Runs `fn` under `tf.profile` and reports peak live-tensor memory. Use it to measure one
 * training step: `await measureStep(() => trainStep(...))`.
 * @param fn - the work to measure (synchronous or async)
 */
export async function measureStep<T>(fn: () => T | Promise<T>): Promise<MeasuredStep<T>> {
  const baselineBytes = tf.memory().numBytes;
  let result: T | undefined;
  const info = await tf.profile(async () => {
    result = await fn();
    return [];
  });
  return {
    result: result as T,
    peakBytes: info.peakBytes,
    newBytes: info.newBytes,
    newTensors: info.newTensors,
    baselineBytes,
  };
}
