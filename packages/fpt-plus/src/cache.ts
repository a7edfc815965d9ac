import * as tf from '@tensorflow/tfjs-core';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors, runReads, runReadsAsync, writeSafetensors, type Reads, type SafetensorsFile } from '@fpt/core';
import { atomicWriteFile, DATA_CHECKSUM_PLACEHOLDER, dataChecksum, fillDataChecksum } from '@fpt/core/node';
import type { NeedsInputs } from '@fpt/backbone-vit';
import {
  featureFingerprint as fingerprintOf,
  featureFingerprintAsync as fingerprintOfAsync,
  imageSeed,
  KV_FORMAT as FORMAT,
  kvEntryFingerprint,
  sampleOf,
  sortedShapes,
  stackSamples,
  type InputLayout,
  type KvStorage,
  type Normalisation,
  type SampleInputs,
  type Sha256Factory,
} from './fingerprint';

/** `node:crypto`'s SHA-256: the same digests as the browser's, faster on large weights. */
const nodeSha256: Sha256Factory = () => {
  const h = createHash('sha256');
  return {
    update: (bytes) => {
      h.update(bytes);
    },
    hex: () => h.digest('hex'),
  };
};

/** sha256 of bytes, hex. */
export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * The main entry's `featureFingerprint`, hashed by `node:crypto` (the same digest): everything that
 * changes the cached inputs (the method's `needsInputs` fingerprint, the layout, the normalisation).
 * @param need - the method's `needsInputs` capability (`adapted.needsInputs`)
 * @param normalisation - the normalisation applied to the backbone's input
 */
export function featureFingerprint(need: NeedsInputs, normalisation: Normalisation): string {
  return fingerprintOf(need, normalisation, nodeSha256);
}

/**
 * {@link featureFingerprint} reading the weights with `await data()`: the same hash, on every
 * backend (WebGPU in Node has no synchronous reads).
 * @param need - the method's `needsInputs` capability (`adapted.needsInputs`)
 * @param normalisation - the normalisation applied to the backbone's input
 */
export function featureFingerprintAsync(need: NeedsInputs, normalisation: Normalisation): Promise<string> {
  return fingerprintOfAsync(need, normalisation, nodeSha256);
}

export type { InputLayout, KvStorage, Normalisation, SampleInputs };
export { imageSeed };

/** What happened to one image during {@link preload}. */
export type CacheEvent = { kind: 'hit' | 'computed'; imageHash: string } | { kind: 'invalid'; imageHash: string; reason: string };

/** Options of {@link KvCache}. */
export interface KvCacheOptions {
  /** Store keys and values as float16 (half the disk, about 1e-3 relative error). Default false. */
  float16?: boolean;
  /**
   * Temporary files (`*.tmp`) of writers that died (their process is gone) are removed when the
   * cache opens once they are older than this. Default 60 000 (a minute; an entry is written in
   * milliseconds, so a younger one may belong to a writer on another machine sharing the folder).
   */
  staleTempAgeMs?: number;
}

/**
 * The on-disk cache of a method's extra inputs ("preloading"; FPT+'s selected keys and values):
 * one safetensors file per image under `<dir>/<fingerprint prefix>/<image sha256>.safetensors`
 * holding each input at its per-sample shape (FPT+: `keys` and `values` [L, H, n, d]) with metadata naming the format, the fingerprint, the image hash, the storage dtype and a CRC-32
 * of the data section. Entries are written atomically; an entry whose metadata, names, dtypes,
 * shapes or checksum do not match, or that cannot be read, is reported and recomputed, never used.
 * The checksum catches corruption (a flipped bit, a bad disk), not deliberate tampering.
 */
export class KvCache {
  /** The folder of this cache's entries. */
  readonly folder: string;
  /** The fingerprint of this cache's entries: the feature fingerprint and the storage dtype, hashed. */
  readonly fingerprint: string;
  /** The storage dtype of the entries. */
  readonly storage: KvStorage;
  /** Temporary files of dead writers removed when this cache opened. */
  readonly removedTemporaries: string[];

  /**
   * Opens (creating it if needed) the cache folder of a fingerprint and removes the temporary files
   * that dead writers left there.
   * @param dir - cache root
   * @param features - the feature fingerprint, from {@link featureFingerprint}
   * @param layout - the inputs' per-sample shapes and batch axis (the method's `needsInputs` capability)
   * @param options - storage dtype, stale-temporary age
   * @throws naming the folder when it cannot be created or written, or holds another fingerprint
   */
  constructor(
    dir: string,
    readonly features: string,
    readonly layout: InputLayout,
    readonly options: KvCacheOptions = {},
  ) {
    this.storage = options.float16 ? 'float16' : 'float32';
    // Half-precision entries must never be served to a float32 cache (nor the reverse): the
    // storage dtype is part of what the entries are, so it is part of their fingerprint.
    this.fingerprint = kvEntryFingerprint(features, this.storage, nodeSha256);
    this.folder = join(dir, this.fingerprint.slice(0, 16));
    fsCall(() => mkdirSync(this.folder, { recursive: true }), `cannot create the cache folder ${this.folder}`);
    const info = join(this.folder, 'fingerprint.txt');
    if (!existsSync(info)) fsCall(() => atomicWriteFile(info, `${this.fingerprint}\n`), `cannot write ${info}`);
    else if (fsCall(() => readFileSync(info, 'utf8'), `cannot read ${info}`).trim() !== this.fingerprint) {
      throw new Error(`KvCache: ${info} holds another fingerprint (a hash-prefix collision or a tampered cache); remove ${this.folder}`);
    }
    this.removedTemporaries = removeStaleTemporaries(this.folder, options.staleTempAgeMs ?? 60_000);
  }

  /** The entry file of an image. */
  pathOf(imageHash: string): string {
    return join(this.folder, `${imageHash}.safetensors`);
  }

  /** Names of the stored inputs, sorted. */
  get names(): string[] {
    return sortedShapes(this.layout).map(([n]) => n);
  }

  /**
   * Reads and verifies an entry.
   * @returns each input at its per-sample shape as float32 data, `undefined` when absent, or the
   *   reason it is unusable
   */
  read(imageHash: string): { data: SampleInputs } | { invalid: string } | undefined {
    const path = this.pathOf(imageHash);
    let stats: Stats;
    try {
      stats = statSync(path);
    } catch {
      return undefined;
    }
    if (!stats.isFile())
      return { invalid: `${path}: is ${stats.isDirectory() ? 'a directory' : 'not a regular file'}, expected an entry file` };
    let bytes: Uint8Array;
    let file: SafetensorsFile;
    try {
      bytes = readFileSync(path);
      file = readSafetensors(bytes, path);
    } catch (err) {
      return { invalid: (err as Error).message };
    }
    const md = file.metadata;
    if (md.format !== FORMAT)
      return { invalid: `${path}: format ${JSON.stringify(md.format)}, expected "${FORMAT}" (written by another version)` };
    if (md.fingerprint !== this.fingerprint) return { invalid: `${path}: fingerprint ${md.fingerprint} is not this cache's` };
    if (md.image !== imageHash) return { invalid: `${path}: entry is for image ${md.image}` };
    if (md.storage !== this.storage) return { invalid: `${path}: stored as ${md.storage}, this cache stores ${this.storage}` };
    const names = file.names().sort().join(',');
    if (names !== this.names.join(',')) return { invalid: `${path}: holds tensors [${names}], expected ${this.names.join(' and ')}` };
    const wantDtype = this.storage === 'float16' ? 'F16' : 'F32';
    const out: SampleInputs = {};
    for (const [n, expected] of sortedShapes(this.layout)) {
      const t = file.get(n);
      if (t.sourceDtype !== wantDtype) return { invalid: `${path}: "${n}" is ${t.sourceDtype}, expected ${wantDtype}` };
      if (t.shape.join(',') !== expected.join(',')) {
        return { invalid: `${path}: "${n}" has shape [${t.shape}], expected [${expected}]` };
      }
      out[n] = t.data as Float32Array;
    }
    const found = dataChecksum(bytes);
    if (md.checksum !== found) return { invalid: `${path}: data checksum is ${found}, the entry says ${md.checksum} (corrupt data)` };
    return { data: out };
  }

  /**
   * Writes an entry atomically from one sample's inputs, each at its per-sample shape.
   * @throws naming the image when a value is NaN or infinite, the entry when an input is missing,
   *   or the entry and the cause when it cannot be written (a read-only folder, say)
   */
  write(imageHash: string, data: SampleInputs): void {
    const path = this.pathOf(imageHash);
    const tensors = Object.fromEntries(
      sortedShapes(this.layout).map(([n, shape]) => {
        const values = data[n];
        if (!values) throw new Error(`KvCache: the entry for ${imageHash} lacks "${n}"`);
        // A checksum would make a NaN entry look sound for ever: non-finite inputs are refused.
        const bad = values.findIndex((x) => !Number.isFinite(x));
        if (bad >= 0)
          throw new Error(
            `KvCache: the ${n} of image ${imageHash} hold ${values[bad]} at index ${bad}; not cached (the image's pixels or the frozen weights are not finite)`,
          );
        return [n, { dtype: 'float32' as const, shape: [...shape], data: values }];
      }),
    );
    const bytes = writeSafetensors(tensors, {
      metadata: {
        format: FORMAT,
        fingerprint: this.fingerprint,
        image: imageHash,
        storage: this.storage,
        checksum: DATA_CHECKSUM_PLACEHOLDER,
      },
      float16: this.storage === 'float16',
    });
    fillDataChecksum(bytes);
    fsCall(() => atomicWriteFile(path, bytes), `cannot write the entry ${path}`, this.folder);
  }

  /**
   * Removes an entry (an invalid one, before recomputing it).
   * @throws naming the path when it is a folder or cannot be removed
   */
  remove(imageHash: string): void {
    const path = this.pathOf(imageHash);
    let stats: Stats | undefined;
    try {
      stats = statSync(path);
    } catch {
      return;
    }
    if (stats.isDirectory()) {
      throw new Error(`KvCache: cannot replace the entry ${path}: it is a directory, expected a file; remove it by hand`);
    }
    fsCall(() => rmSync(path, { force: true }), `cannot remove the invalid entry ${path}`, this.folder);
  }

  /**
   * Loads a batch of entries as tensors with the samples stacked on the layout's batch axis
   * (FPT+: keys and values [L, B, H, n, d]).
   * @throws naming the entry when one is missing or invalid (run {@link preload} first)
   */
  loadBatch(imageHashes: string[]): Record<string, tf.Tensor> {
    const entries = imageHashes.map((hash) => {
      const e = this.read(hash);
      if (!e) throw new Error(`KvCache: no entry for image ${hash} in ${this.folder}; run preload first`);
      if ('invalid' in e) throw new Error(`KvCache: unusable entry: ${e.invalid}`);
      return e.data;
    });
    return stackSamples(this.layout, entries);
  }
}

/** Runs a file-system call; an error becomes one sentence naming what failed and why. */
function fsCall<T>(f: () => T, what: string, folder?: string): T {
  try {
    return f();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why: Record<string, string> = {
      EACCES: 'permission denied',
      EPERM: 'operation not permitted',
      EROFS: 'the file system is read-only',
      ENOSPC: 'no space left on the device',
      EISDIR: 'a directory is in the way',
      ENOTDIR: 'a file is in the way of a folder on the path',
    };
    const reason = (code && why[code]) ?? (err as Error).message;
    const hint =
      code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? `; the cache folder${folder ? ` ${folder}` : ''} must be writable` : '';
    throw new Error(`KvCache: ${what}: ${reason}${code && why[code] ? ` (${code})` : ''}${hint}`);
  }
}

/**
 * Removes `*.tmp` files that writers killed mid-write left behind (atomicWriteFile names them
 * `<target>.<pid>.<random>.tmp`): only those whose process is gone on this machine and that are
 * older than `minAgeMs`, so a live writer, here or on another machine, is never disturbed.
 * @returns the removed paths
 */
function removeStaleTemporaries(folder: string, minAgeMs: number): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(folder);
  } catch {
    return removed;
  }
  const now = Date.now();
  for (const name of names) {
    const m = /\.(\d+)\.[0-9a-f]+\.tmp$/.exec(name);
    if (!m) continue;
    const path = join(folder, name);
    try {
      const st = statSync(path);
      if (!st.isFile() || now - st.mtimeMs < minAgeMs || processIsAlive(Number(m[1]))) continue;
      rmSync(path, { force: true });
      removed.push(path);
    } catch {
      // Gone already, or not ours to remove: leave it.
    }
  }
  return removed;
}

/** Whether a process of that id runs on this machine (EPERM: it runs, as another user). */
function processIsAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
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
 * Fills the cache: prepares the inputs (FPT+: runs the frozen LPM, no augmentation, no gradient
 * tape, tensors freed per layer) of every image without a valid entry, each seeded by its image
 * hash, and writes the entries atomically. An interrupted run resumes where it stopped, since
 * finished entries are hits the next time.
 * @param need - the method's `needsInputs` capability (`adapted.needsInputs`)
 * @returns the image hashes, in input order, and counts of hits, computed and invalid entries
 */
export function preload(need: NeedsInputs, cache: KvCache, items: PreloadItem[], options: PreloadOptions = {}): PreloadResult {
  return runReads(preloadBody(need, cache, items, options));
}

/**
 * {@link preload} reading the prepared inputs with `await data()`: the same entries, on every
 * backend (WebGPU in Node has no synchronous reads).
 * @param need - the method's `needsInputs` capability (`adapted.needsInputs`)
 */
export function preloadAsync(
  need: NeedsInputs,
  cache: KvCache,
  items: PreloadItem[],
  options: PreloadOptions = {},
): Promise<PreloadResult> {
  return runReadsAsync(preloadBody(need, cache, items, options));
}

/** What {@link preload} did: the image hashes in input order, and counts of hits, computed and invalid entries. */
export interface PreloadResult {
  /** sha256 of each item's bytes, in input order. */
  hashes: string[];
  /** Entries already valid in the cache. */
  hits: number;
  /** Entries computed by preparing the inputs. */
  computed: number;
  /** Entries found unusable (and recomputed). */
  invalid: number;
}

function* preloadBody(need: NeedsInputs, cache: KvCache, items: PreloadItem[], options: PreloadOptions): Reads<PreloadResult> {
  const batchSize = options.batchSize ?? 4;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1)
    throw new Error(`preload: option "batchSize" must be a positive integer, got ${batchSize}`);
  const hashed = items.map((item) => ({ item, hash: sha256Hex(item.bytes) }));
  let hits = 0;
  let invalid = 0;
  const todo: typeof hashed = [];
  const seen = new Set<string>();
  for (const one of hashed) {
    const h = one.hash;
    if (seen.has(h)) continue;
    seen.add(h);
    const e = cache.read(h);
    if (e && !('invalid' in e)) {
      hits++;
      options.onEvent?.({ kind: 'hit', imageHash: h });
      continue;
    }
    if (e && 'invalid' in e) {
      invalid++;
      options.onEvent?.({ kind: 'invalid', imageHash: h, reason: e.invalid });
      cache.remove(h);
    }
    todo.push(one);
  }
  const axis = cache.layout.batchAxis;
  for (let s = 0; s < todo.length; s += batchSize) {
    const group = todo.slice(s, s + batchSize);
    const pixels = tf.tidy(() => tf.stack(group.map(({ item }) => item.pixels())));
    const batch: Array<{ name: string; shape: readonly number[]; values: Float32Array }> = [];
    try {
      // The image hashes let random methods draw per image, whatever the batch and its order.
      const prepared = need.prepare(pixels, { sampleSeeds: group.map(({ hash }) => imageSeed(hash)) });
      try {
        for (const [name, shape] of sortedShapes(cache.layout)) {
          const t = prepared[name];
          if (!t) throw new Error(`preload: the method's prepare() gave no "${name}"`);
          batch.push({ name, shape, values: (yield t) as Float32Array });
        }
      } finally {
        tf.dispose(Object.values(prepared));
      }
    } finally {
      pixels.dispose();
    }
    const B = group.length;
    group.forEach(({ hash }, b) => {
      // [outer..., B, inner...] -> this image's [outer..., inner...]
      const sample: SampleInputs = {};
      for (const { name, shape, values } of batch) sample[name] = sampleOf(values, shape, axis, B, b);
      cache.write(hash, sample);
      options.onEvent?.({ kind: 'computed', imageHash: hash });
    });
  }
  return { hashes: hashed.map(({ hash }) => hash), hits, computed: todo.length, invalid };
}
