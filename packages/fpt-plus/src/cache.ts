import * as tf from '@tensorflow/tfjs-core';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors, type SafetensorsFile } from '@fpt/core';
import { atomicWriteFile, writeSafetensorsFile } from '@fpt/core/node';
import type { FptModel, KeyValues } from './model';

/** sha256 of bytes, hex. */
export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Per-dataset normalisation applied to the LPM's input (it changes the features, so it is hashed). */
export interface Normalisation {
  /** Per-channel mean. */
  mean: number[];
  /** Per-channel standard deviation. */
  std: number[];
}

/**
 * A hash of everything that changes the cached features: the LPM's weights (every byte), its
 * architecture, the resolution, the fused layers, the selector's fingerprint (name, version,
 * parameters) and ratio, and the input normalisation. Two caches with different fingerprints never share entries.
 */
export function featureFingerprint(model: FptModel, normalisation: Normalisation): string {
  const h = createHash('sha256');
  const { lpm, inputSize, layers, selection } = model.config;
  h.update(JSON.stringify({ format: 'fpt-kv/1', lpm, inputSize, layers, selection, normalisation }));
  for (const p of model.lpm.namedParameters()) {
    h.update(p.name);
    const data = p.variable.dataSync() as Float32Array;
    h.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return h.digest('hex');
}

/** What happened to one image during {@link preload}. */
export type CacheEvent =
  | { kind: 'hit' | 'computed'; imageHash: string }
  | { kind: 'invalid'; imageHash: string; reason: string };

/** Options of {@link KvCache}. */
export interface KvCacheOptions {
  /** Store keys and values as float16 (half the disk, about 1e-3 relative error). Default false. */
  float16?: boolean;
}

/**
 * The on-disk key/value cache ("preloading"): one safetensors file per image under
 * `<dir>/<fingerprint>/<image sha256>.safetensors` holding `keys` and `values` [L, H, n, d] with
 * metadata naming the fingerprint and the image hash. Entries are written atomically; an entry
 * whose metadata, names or shapes do not match, or that cannot be read, is reported and recomputed,
 * never used.
 */
export class KvCache {
  /** The folder of this fingerprint's entries. */
  readonly folder: string;

  /**
   * @param dir - cache root
   * @param fingerprint - from {@link featureFingerprint}
   * @param expectedShape - [L, H, n, d] of one image's keys
   * @param options - storage dtype
   */
  constructor(
    dir: string,
    readonly fingerprint: string,
    readonly expectedShape: number[],
    readonly options: KvCacheOptions = {},
  ) {
    this.folder = join(dir, fingerprint.slice(0, 16));
    mkdirSync(this.folder, { recursive: true });
    const info = join(this.folder, 'fingerprint.txt');
    if (!existsSync(info)) atomicWriteFile(info, `${fingerprint}\n`);
    else if (readFileSync(info, 'utf8').trim() !== fingerprint) {
      throw new Error(`KvCache: ${info} holds another fingerprint (a hash-prefix collision or a tampered cache); remove ${this.folder}`);
    }
  }

  /** The entry file of an image. */
  pathOf(imageHash: string): string {
    return join(this.folder, `${imageHash}.safetensors`);
  }

  /**
   * Reads an entry.
   * @returns the keys and values [L, H, n, d] as float32 data, `undefined` when absent, or the
   *   reason it is unusable
   */
  read(imageHash: string): { keys: Float32Array; values: Float32Array } | { invalid: string } | undefined {
    const path = this.pathOf(imageHash);
    if (!existsSync(path)) return undefined;
    let file: SafetensorsFile;
    try {
      file = readSafetensors(readFileSync(path), path);
    } catch (err) {
      return { invalid: (err as Error).message };
    }
    const md = file.metadata;
    if (md.fingerprint !== this.fingerprint) return { invalid: `${path}: fingerprint ${md.fingerprint} is not this cache's` };
    if (md.image !== imageHash) return { invalid: `${path}: entry is for image ${md.image}` };
    const names = file.names().sort().join(',');
    if (names !== 'keys,values') return { invalid: `${path}: holds tensors [${names}], expected keys and values` };
    for (const n of ['keys', 'values']) {
      const shape = file.get(n).shape;
      if (shape.join(',') !== this.expectedShape.join(',')) {
        return { invalid: `${path}: "${n}" has shape [${shape}], expected [${this.expectedShape}]` };
      }
    }
    return { keys: file.get('keys').data as Float32Array, values: file.get('values').data as Float32Array };
  }

  /** Writes an entry atomically from [L, H, n, d] float32 data. */
  write(imageHash: string, keys: Float32Array, values: Float32Array): void {
    const shape = this.expectedShape;
    writeSafetensorsFile(
      this.pathOf(imageHash),
      { keys: { dtype: 'float32', shape, data: keys }, values: { dtype: 'float32', shape, data: values } },
      { metadata: { format: 'fpt-kv/1', fingerprint: this.fingerprint, image: imageHash }, float16: this.options.float16 },
    );
  }

  /**
   * Loads a batch of entries as stacked tensors [L, B, H, n, d].
   * @throws naming the entry when one is missing or invalid (run {@link preload} first)
   */
  loadBatch(imageHashes: string[]): KeyValues {
    const [L, H, n, d] = this.expectedShape;
    const per = L * H * n * d;
    const keys = new Float32Array(per * imageHashes.length);
    const values = new Float32Array(per * imageHashes.length);
    imageHashes.forEach((hash, b) => {
      const e = this.read(hash);
      if (!e) throw new Error(`KvCache: no entry for image ${hash} in ${this.folder}; run preload first`);
      if ('invalid' in e) throw new Error(`KvCache: unusable entry: ${e.invalid}`);
      keys.set(e.keys, b * per);
      values.set(e.values, b * per);
    });
    // Stored per image as [L, H, n, d]; the model wants the batch on axis 1.
    return tf.tidy(() => {
      const toModel = (x: Float32Array) => tf.transpose(tf.tensor(x, [imageHashes.length, L, H * n * d]), [1, 0, 2]);
      return {
        keys: tf.reshape(toModel(keys), [L, imageHashes.length, H, n, d]),
        values: tf.reshape(toModel(values), [L, imageHashes.length, H, n, d]),
      };
    });
  }
}

/** A 32-bit seed from an image's sha256 (hex): what random token selection draws from. */
export function imageSeed(imageHash: string): number {
  return Number.parseInt(imageHash.slice(0, 8), 16) >>> 0;
}

/** The keys' per-image shape [L, H, n, d] of a model (n from the selection ratio). */
export function kvShape(model: FptModel): number[] {
  return model.keyValueShape();
}

/** An image to preload: its encoded bytes (hashed) and a way to make its normalised LPM input. */
export interface PreloadItem {
  /** The file's bytes; their sha256 keys the entry. */
  bytes: Uint8Array;
  /** Makes [3, inputSize, inputSize] normalised, un-augmented pixels (called only on a miss). */
  pixels: () => tf.Tensor;
}

/** Options of {@link preload}. */
export interface PreloadOptions {
  /** Images per LPM forward (small: the LPM at 512 is memory-hungry). Default 4. */
  batchSize?: number;
  /** Called for every image. */
  onEvent?: (event: CacheEvent) => void;
}

/**
 * Fills the cache: runs the frozen LPM (no augmentation, no gradient tape, tensors freed per
 * layer) on every image without a valid entry and writes the entries atomically. An interrupted
 * run resumes where it stopped, since finished entries are hits the next time.
 * @returns the image hashes, in input order, and counts of hits, computed and invalid entries
 */
export function preload(
  model: FptModel,
  cache: KvCache,
  items: PreloadItem[],
  options: PreloadOptions = {},
): { hashes: string[]; hits: number; computed: number; invalid: number } {
  const batchSize = options.batchSize ?? 4;
  const hashes = items.map((it) => sha256Hex(it.bytes));
  let hits = 0;
  let invalid = 0;
  const todo: number[] = [];
  const seen = new Set<string>();
  hashes.forEach((h, i) => {
    if (seen.has(h)) return;
    seen.add(h);
    const e = cache.read(h);
    if (e && !('invalid' in e)) {
      hits++;
      options.onEvent?.({ kind: 'hit', imageHash: h });
      return;
    }
    if (e && 'invalid' in e) {
      invalid++;
      options.onEvent?.({ kind: 'invalid', imageHash: h, reason: e.invalid });
      rmSync(cache.pathOf(h), { force: true });
    }
    todo.push(i);
  });
  const [L, H, n, d] = cache.expectedShape;
  const per = H * n * d;
  for (let s = 0; s < todo.length; s += batchSize) {
    const idx = todo.slice(s, s + batchSize);
    const pixels = tf.tidy(() => tf.stack(idx.map((i) => items[i].pixels())));
    // Random selectors draw per image from its own hash, so an entry never depends on its batch.
    const kv = model.extractKeyValues(pixels, { sampleSeeds: idx.map((i) => imageSeed(hashes[i])) });
    pixels.dispose();
    const k = kv.keys.dataSync() as Float32Array;
    const v = kv.values.dataSync() as Float32Array;
    tf.dispose([kv.keys, kv.values]);
    const B = idx.length;
    idx.forEach((i, b) => {
      // [L, B, H, n, d] -> this image's [L, H, n, d]
      const keys = new Float32Array(L * per);
      const values = new Float32Array(L * per);
      for (let l = 0; l < L; l++) {
        keys.set(k.subarray((l * B + b) * per, (l * B + b + 1) * per), l * per);
        values.set(v.subarray((l * B + b) * per, (l * B + b + 1) * per), l * per);
      }
      cache.write(hashes[i], keys, values);
      options.onEvent?.({ kind: 'computed', imageHash: hashes[i] });
    });
  }
  return { hashes, hits, computed: todo.length, invalid };
}
