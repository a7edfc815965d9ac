import * as tf from '@tensorflow/tfjs-core';
import { sha256 } from '@noble/hashes/sha2';
import { bytesToHex } from '@noble/hashes/utils';
import { runReads, runReadsAsync, type Reads } from '@fpt/core';
import type { NeedsInputs } from '@fpt/backbone-vit';

// What a cache of preloaded inputs is keyed by, and how its per-sample entries are cut from and
// stacked into batches, independent of where the entries live: the on-disk KvCache (`./node`) and
// the browser studio's IndexedDB store use the same fingerprints and the same layout.

/** An incremental SHA-256: bytes in, hex out. */
export interface Sha256 {
  update(bytes: Uint8Array): void;
  hex(): string;
}

/** Makes a fresh {@link Sha256}. */
export type Sha256Factory = () => Sha256;

/** SHA-256 in JavaScript (`@noble/hashes`): the same digests as `node:crypto`, in a browser too. */
export const jsSha256: Sha256Factory = () => {
  const h = sha256.create();
  return {
    update: (bytes) => {
      h.update(bytes);
    },
    hex: () => bytesToHex(h.digest()),
  };
};

const utf8 = new TextEncoder();

/** sha256 of bytes or of a string's UTF-8, hex. */
export function sha256Hex(data: Uint8Array | string, hasher: Sha256Factory = jsSha256): string {
  const h = hasher();
  h.update(typeof data === 'string' ? utf8.encode(data) : data);
  return h.hex();
}

/** Per-dataset normalisation applied to the LPM's input (it changes the features, so it is hashed). */
export interface Normalisation {
  /** Per-channel mean. */
  mean: number[];
  /** Per-channel standard deviation. */
  std: number[];
}

/** The entry format; entries of any other format (older versions included) are recomputed. */
export const KV_FORMAT = 'fpt-kv/2';

/**
 * A hash of everything that changes the cached inputs: what the method's `needsInputs` capability
 * feeds (FPT+: the LPM's weights, every byte, its architecture, the resolution, the fused layers,
 * the selection settings and the selector's own fingerprint), and the input normalisation. Two
 * caches with different fingerprints never share entries. The storage dtype is added by
 * {@link kvEntryFingerprint}.
 * @param need - the method's `needsInputs` capability (`adapted.needsInputs`)
 * @param normalisation - the normalisation applied to the backbone's input
 * @param hasher - the SHA-256 (`node:crypto`'s in Node, for speed; the same digests)
 */
export function featureFingerprint(need: NeedsInputs, normalisation: Normalisation, hasher: Sha256Factory = jsSha256): string {
  return runReads(fingerprintBody(need, normalisation, hasher));
}

/**
 * {@link featureFingerprint} reading the weights with `await data()`: the same hash, on every
 * backend (WebGPU has no synchronous reads).
 * @param need - the method's `needsInputs` capability (`adapted.needsInputs`)
 * @param normalisation - the normalisation applied to the backbone's input
 * @param hasher - the SHA-256
 */
export function featureFingerprintAsync(
  need: NeedsInputs,
  normalisation: Normalisation,
  hasher: Sha256Factory = jsSha256,
): Promise<string> {
  return runReadsAsync(fingerprintBody(need, normalisation, hasher));
}

function* fingerprintBody(need: NeedsInputs, normalisation: Normalisation, hasher: Sha256Factory): Reads<string> {
  const h = hasher();
  h.update(utf8.encode(JSON.stringify({ format: KV_FORMAT, inputs: need.sampleShapes, batchAxis: need.batchAxis, normalisation })));
  // Strings are hashed as written, tensors (the frozen weights) as their bytes.
  for (const chunk of need.fingerprint()) {
    if (typeof chunk === 'string') {
      h.update(utf8.encode(chunk));
      continue;
    }
    const data = (yield chunk) as Float32Array;
    h.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return h.hex();
}

/** How entries are stored. */
export type KvStorage = 'float32' | 'float16';

/**
 * The fingerprint of a cache's entries: the feature fingerprint and the storage dtype, hashed (the
 * storage dtype is part of what the entries are).
 * @param features - from {@link featureFingerprint}
 */
export function kvEntryFingerprint(features: string, storage: KvStorage, hasher: Sha256Factory = jsSha256): string {
  return sha256Hex(JSON.stringify({ features, storage }), hasher);
}

/** A 32-bit seed from an image's sha256 (hex): what random token selection draws from. */
export function imageSeed(imageHash: string): number {
  return Number.parseInt(imageHash.slice(0, 8), 16) >>> 0;
}

/** How a method's extra inputs are laid out: what a cache stores per sample and how it batches them. */
export type InputLayout = Pick<NeedsInputs, 'sampleShapes' | 'batchAxis'>;

/** One sample's extra inputs as float32 data, by name. */
export type SampleInputs = Record<string, Float32Array>;

/** Each stored input's name and per-sample shape, sorted by name (the order entries list them in). */
export function sortedShapes(layout: InputLayout): Array<[name: string, shape: readonly number[]]> {
  return Object.entries(layout.sampleShapes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function product(xs: readonly number[]): number {
  return xs.reduce((a, x) => a * x, 1);
}

/**
 * Sample `b`'s part of a batch's prepared input: [outer..., B, inner...] -> [outer..., inner...].
 * @param values - the batch's data
 * @param shape - the per-sample shape
 * @param axis - the batch axis
 * @param batch - B
 */
export function sampleOf(values: Float32Array, shape: readonly number[], axis: number, batch: number, b: number): Float32Array {
  const [outer, inner] = [product(shape.slice(0, axis)), product(shape.slice(axis))];
  const out = new Float32Array(outer * inner);
  for (let o = 0; o < outer; o++) out.set(values.subarray((o * batch + b) * inner, (o * batch + b + 1) * inner), o * inner);
  return out;
}

/**
 * Stacks per-sample entries into the batch tensors the model reads (FPT+: keys and values
 * [L, B, H, n, d]), the samples on the layout's batch axis.
 * @throws naming the input an entry lacks
 */
export function stackSamples(layout: InputLayout, entries: readonly SampleInputs[]): Record<string, tf.Tensor> {
  const axis = layout.batchAxis;
  return tf.tidy(() =>
    Object.fromEntries(
      sortedShapes(layout).map(([n, shape]) => {
        const [outer, inner] = [product(shape.slice(0, axis)), product(shape.slice(axis))];
        const flat = new Float32Array(outer * inner * entries.length);
        entries.forEach((e, b) => {
          const data = e[n];
          if (!data) throw new Error(`stackSamples: an entry has no "${n}"`);
          flat.set(data, b * outer * inner);
        });
        // Stored per sample; the model wants the batch at `axis`.
        const stacked = tf.transpose(tf.tensor3d(flat, [entries.length, outer, inner]), [1, 0, 2]);
        return [n, tf.reshape(stacked, [...shape.slice(0, axis), entries.length, ...shape.slice(axis)])];
      }),
    ),
  );
}
