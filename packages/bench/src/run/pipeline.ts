import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@fpt/core';
import { normaliseChw, toFloat } from '../data/image';
import type { ChannelStats, PreparedDataset, PreparedImage } from '../data/prepare';
import { augment, paperAugmentation, resize } from '../data/transforms';
import type { Split } from '../data/image-folder';
import { deriveSeed } from './seeds';

/** Un-augmented pixels (plain resize, DESIGN.md §2's test transform), normalised CHW. */
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
  if (!perData) evalCache.set(data, (perData = new Map()));
  const key = `${split}:${size}`;
  let arrays = perData.get(key);
  if (!arrays) perData.set(key, (arrays = data.splits[split].map((p) => evalPixels(p, size, data.stats))));
  return arrays;
}

/** The training order of an epoch: a seeded Fisher-Yates shuffle. */
export function epochOrder(n: number, seed: number, epoch: number): number[] {
  const rng = new Rng(deriveSeed(seed, 'shuffle', epoch));
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** Augmented training pixels of one image in one epoch (its own seeded stream). */
export function augmentedPixels(data: PreparedDataset, index: number, size: number, seed: number, epoch: number): Float32Array {
  return trainPixels(data.splits.train[index], size, data.stats, new Rng(deriveSeed(seed, 'augment', epoch, index)));
}
