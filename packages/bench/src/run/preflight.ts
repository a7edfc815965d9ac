// Checks made before any data is read or anything is trained: every method of the grid is built
// once on a zero-initialised LPM of the run's shape (so an option error surfaces now, not after
// other methods have trained), and its size is checked against the backend's memory.
import * as tf from '@tensorflow/tfjs-core';
import { createVit } from '@fpt/backbone-vit';
import type { PreparedDataset } from '../data/prepare';
import type { LpmSpec } from './lpm';
import type { MethodFactory } from './plan';
import { buildTrainable } from './trainable';

/**
 * Bytes per learnable value during a training step: eight float32 copies (the weight, its
 * gradient, AdamW's two moments, and up to four temporaries of clipping and the update). Measured:
 * LoRA with rank 1,000,000 on the tiny LPM (128 M learnable values, 24 bytes each = 3.1 GB) passes
 * a six-copy check and then aborts WASM's 4 GiB heap in its first step.
 */
const TRAINING_BYTES_PER_PARAMETER = 8 * 4;

/** How an allocation failure reads in each backend (CPU: V8's typed arrays; WASM: the heap). */
const OUT_OF_MEMORY = /Array buffer allocation failed|Invalid typed array length|memory access out of bounds|Aborted\(|out of memory/i;

/** What {@link checkMethods} needs. */
export interface MethodCheck {
  /** The grid's methods. */
  methods: string[];
  /** Each method's options (the preset's, then `--set`). */
  options: (method: string) => Record<string, string>;
  /** Makes the methods. */
  make: MethodFactory;
  /** The LPM (only its shape is used). */
  lpm: LpmSpec;
  /** Classes of the head (the run's, or the preset's expectation before the data is read). */
  numClasses: number;
  /** Bytes a training step may take on this backend. */
  budgetBytes: number;
}

/**
 * Builds every method of the grid on a zero-initialised LPM and frees it again.
 * @throws the method's own error for a bad option value (`fpt-plus: option "ratio" must be ...`), or
 *   one sentence naming the method and its options when it cannot be built in, or would not train
 *   within, the backend's memory
 */
export function checkMethods(c: MethodCheck): void {
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;
  for (const method of c.methods) {
    const options = c.options(method);
    const shown = Object.entries(options)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ');
    let learnable: number;
    // Built on the CPU backend: plain typed arrays, so an absurd size fails (or is counted) there
    // instead of aborting the WASM heap the run needs.
    const active = tf.getBackend();
    tf.setBackend('cpu');
    try {
      const t = buildTrainable({
        method,
        options,
        make: c.make,
        numClasses: c.numClasses,
        seed: 0,
        lpm: createVit(c.lpm.config, { init: 'zeros' }),
        lpmInputSize: c.lpm.inputSize,
      });
      learnable = t.counts().learnable;
      t.dispose();
    } catch (err) {
      const message = (err as Error).message;
      if (!OUT_OF_MEMORY.test(message)) throw err;
      throw new Error(
        `${method}: building it with options {${shown}} ran out of memory (${message}); lower its size options (--set ${method}.*)`,
      );
    } finally {
      tf.setBackend(active);
    }
    const bytes = learnable * TRAINING_BYTES_PER_PARAMETER;
    if (bytes > c.budgetBytes)
      throw new Error(
        `${method}: ${learnable} learnable parameters with options {${shown}} need ${gib(bytes)} to train (weights, gradients, AdamW moments and update temporaries), over the backend's ${gib(c.budgetBytes)}; lower its size options (--set ${method}.*)`,
      );
  }
}

/**
 * Checks the batch size against the data: with drop-last, a batch larger than a training split
 * makes no step at all.
 * @throws naming `--batch`, the dataset and its training images
 */
export function checkBatch(batch: number, data: Iterable<PreparedDataset>): void {
  for (const d of data) {
    const n = d.splits.train.length;
    if (batch > n)
      throw new Error(
        `--batch ${batch} is larger than the ${n} training images of ${d.name} (drop last would leave no step); expected at most ${n}`,
      );
  }
}
