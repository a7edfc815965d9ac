import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@fpt/core';
import { normaliseChw, toFloat, type RgbImage } from '../data/image';
import type { ChannelStats, PreparedDataset, PreparedImage } from '../data/prepare';
import { augment, paperAugmentation, resize } from '../data/transforms';
import type { Split } from '../data/image-folder';
import { deriveSeed } from './seeds';

/** Un-augmented pixels (plain resize, the [test transform](../../../../docs/method.md#augmentation)), normalised CHW. */
export function evalPixels(p: PreparedImage, size: number, stats: ChannelStats): Float32Array {
  return normaliseChw(resize(toFloat(p.image), size, size), stats.mean, stats.std);
}

/** Training pixels: flip, colour jitter, random resized crop to `size` from the stored image, normalised CHW. */
export function trainPixels(p: PreparedImage, size: number, stats: ChannelStats, rng: Rng): Float32Array {
  return normaliseChw(augment(toFloat(p.image), paperAugmentation(size), rng), stats.mean, stats.std);
}

/** Stacks CHW arrays into one [B, 3, S, S] tensor. */
export function stackPixels(arrays: Float32Array[], size: number): tf.Tensor {
  const per = 3 * size * size;
  const data = new Float32Array(per * arrays.length);
  arrays.forEach((a, i) => data.set(a, i * per));
  return tf.tensor(data, [arrays.length, 3, size, size], 'float32');
}

// Evaluation pixels are the same every epoch and for every method of a size: computed once.
const evalCache = new WeakMap<PreparedDataset, Map<string, Float32Array[]>>();

/** The evaluation pixels of a split at a size, computed once per dataset and size. */
export function splitEvalPixels(data: PreparedDataset, split: Split, size: number): Float32Array[] {
  let perData = evalCache.get(data);
  if (!perData) {
    perData = new Map();
    evalCache.set(data, perData);
  }
  const key = `${split}:${size}`;
  let arrays = perData.get(key);
  if (!arrays) {
    arrays = data.splits[split].map((p) => evalPixels(p, size, data.stats));
    perData.set(key, arrays);
  }
  return arrays;
}

/** The training order of an epoch: a seeded Fisher-Yates shuffle. */
export function epochOrder(n: number, seed: number, epoch: number): number[] {
  const rng = new Rng(deriveSeed(seed, 'shuffle', epoch));
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!]; // j <= i < n
  }
  return order;
}

/** Augmented training pixels of one image in one epoch (its own seeded stream). */
export function augmentedPixels(data: PreparedDataset, index: number, size: number, seed: number, epoch: number): Float32Array {
  const item = data.splits.train[index];
  if (!item) throw new Error(`augmentedPixels: no training image ${index} (the split holds ${data.splits.train.length})`);
  return augmentedFromImage(item.image, index, size, data.stats, seed, epoch);
}

/** {@link augmentedPixels} from the decoded image itself (what the worker thread runs). */
export function augmentedFromImage(
  image: RgbImage,
  index: number,
  size: number,
  stats: ChannelStats,
  seed: number,
  epoch: number,
): Float32Array {
  const rng = new Rng(deriveSeed(seed, 'augment', epoch, index));
  return normaliseChw(augment(toFloat(image), paperAugmentation(size), rng), stats.mean, stats.std);
}

let nextSet = 0;

/**
 * Makes the augmented pixels of training batches ahead of the step: in a worker thread when the
 * built worker script is present (the CLI), else in this thread (same numbers either way).
 */
export class Augmenter {
  private worker?: Worker;
  private readonly pending = new Map<number, { resolve: (a: Float32Array[]) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private readonly set = nextSet++;

  /**
   * @param data - the dataset (its training images are sent to the worker once)
   * @param size - output side
   * @param seed - the run seed
   */
  constructor(
    private readonly data: PreparedDataset,
    private readonly size: number,
    private readonly seed: number,
  ) {
    const script = new URL('./augment-worker.js', import.meta.url);
    if (!existsSync(fileURLToPath(script))) return;
    this.worker = new Worker(script);
    this.worker.on('message', (m: { id: number; arrays: Float32Array[] }) => {
      this.pending.get(m.id)?.resolve(m.arrays);
      this.pending.delete(m.id);
    });
    this.worker.on('error', (err) => {
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    });
    this.worker.postMessage({ type: 'images', set: this.set, images: data.splits.train.map((p) => p.image) });
  }

  /** Whether a worker thread does the work. */
  get threaded(): boolean {
    return this.worker !== undefined;
  }

  /** The augmented pixels of these training images in this epoch. */
  request(indices: number[], epoch: number): Promise<Float32Array[]> {
    if (!this.worker) return Promise.resolve(indices.map((i) => augmentedPixels(this.data, i, this.size, this.seed, epoch)));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker!.postMessage({
        type: 'job',
        id,
        set: this.set,
        indices,
        size: this.size,
        stats: this.data.stats,
        seed: this.seed,
        epoch,
      });
    });
  }

  /** Stops the worker. */
  async dispose(): Promise<void> {
    await this.worker?.terminate();
  }
}
