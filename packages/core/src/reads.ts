import type * as tf from '@tensorflow/tfjs-core';

// Code that needs numbers back from the backend (a loss, a norm, keys and values to write to disk)
// is written once as a generator that yields each tensor it must read and is resumed with its
// values. The synchronous driver suits the CPU and WASM backends; the asynchronous one every
// backend, WebGPU included, whose synchronous reads need OffscreenCanvas (absent in Node).

/** A computation that yields each tensor whose values it needs and is resumed with them. */
export type Reads<T> = Generator<tf.Tensor, T, tf.backend_util.BackendValues>;

/**
 * Runs a {@link Reads} computation, reading each tensor with `dataSync()`. When a read fails, the
 * computation is closed first (its `finally` blocks free what it holds), then the error goes on.
 * @param reads - the started generator
 */
export function runReads<T>(reads: Reads<T>): T {
  let next = reads.next();
  while (!next.done) {
    let values: tf.backend_util.BackendValues;
    try {
      values = next.value.dataSync();
    } catch (err) {
      reads.return(undefined as never);
      throw err;
    }
    next = reads.next(values);
  }
  return next.value;
}

/**
 * Runs a {@link Reads} computation, reading each tensor with `await data()`: works on every
 * backend; on a GPU each read also waits for the work queued before it.
 * @param reads - the started generator
 */
export async function runReadsAsync<T>(reads: Reads<T>): Promise<T> {
  let next = reads.next();
  while (!next.done) {
    let values: tf.backend_util.BackendValues;
    try {
      values = await next.value.data();
    } catch (err) {
      reads.return(undefined as never);
      throw err;
    }
    next = reads.next(values);
  }
  return next.value;
}
