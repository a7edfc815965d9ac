import * as tf from '@tensorflow/tfjs-core';

/**
 * A small seeded pseudo-random generator (mulberry32). Deterministic across platforms, so that
 * initialisations, augmentations and random token selection can be reproduced from a recorded seed.
 */
export class Rng {
  private state: number;

  /** @param seed - any integer; equal seeds give equal streams */
  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A uniform float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** A standard normal sample (Box-Muller). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** A fresh 31-bit seed drawn from this stream, for deriving independent sub-generators. */
  seed(): number {
    return Math.floor(this.next() * 2147483647);
  }
}

/**
 * A tensor drawn from N(0, std^2) truncated to the absolute interval [a, b] by resampling, exactly
 * the semantics of timm's and PyTorch's `trunc_normal_(tensor, std=std, a=-2, b=2)`: the bounds
 * are values, not multiples of std, so with std 0.02 the truncation is practically never active.
 * @param shape - output shape
 * @param std - standard deviation before truncation
 * @param rng - the generator to draw from
 * @param bounds - absolute lower and upper bounds (default [-2, 2], as timm)
 */
export function truncatedNormal(shape: number[], std: number, rng: Rng, bounds: [number, number] = [-2, 2]): tf.Tensor {
  const [a, b] = bounds;
  if (!(a < b) || !(b >= -std * 6 && a <= std * 6)) {
    throw new Error(`truncatedNormal: bounds [${a}, ${b}] must be increasing and overlap the distribution (std ${std})`);
  }
  const size = shape.reduce((acc, d) => acc * d, 1);
  const data = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    let z = rng.normal() * std;
    while (z < a || z > b) z = rng.normal() * std;
    data[i] = z;
  }
  return tf.tensor(data, shape, 'float32');
}

/**
 * A tensor drawn uniformly from [-bound, bound).
 * @param shape - output shape
 * @param bound - half-width of the interval
 * @param rng - the generator to draw from
 */
export function uniform(shape: number[], bound: number, rng: Rng): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(size);
  for (let i = 0; i < size; i++) data[i] = (rng.next() * 2 - 1) * bound;
  return tf.tensor(data, shape, 'float32');
}

/**
 * A tensor drawn from N(0, std^2).
 * @param shape - output shape
 * @param std - standard deviation
 * @param rng - the generator to draw from
 */
export function normal(shape: number[], std: number, rng: Rng): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(size);
  for (let i = 0; i < size; i++) data[i] = rng.normal() * std;
  return tf.tensor(data, shape, 'float32');
}

/**
 * A 32-bit seed derived from a seed and a position (FNV-1a over the parts joined by `/`): every
 * random stream that must differ per position (an epoch's shuffle, an image's augmentation, a
 * dropout mask per step and site) is a pure function of the seed and where it is drawn, so a
 * resumed run draws what an uninterrupted one draws and no two positions share a stream by
 * arithmetic coincidence.
 * @param seed - the base seed
 * @param parts - the position (names and numbers; none may contain `/`)
 */
export function deriveSeed(seed: number, ...parts: Array<string | number>): number {
  let h = 0x811c9dc5;
  for (const ch of [seed, ...parts].join('/')) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
