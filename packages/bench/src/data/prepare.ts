import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { decodeFile, type DecoderName } from './decode';
import type { RgbImage } from './image';
import { SPLITS, type DatasetItem, type ImageFolderDataset, type Split } from './image-folder';
import type { DataProblem } from './validate';

/** A decoded image held in memory for the whole run. */
export interface PreparedImage {
  /** Path relative to the dataset folder. */
  relPath: string;
  /** Class index. */
  label: number;
  /** sha256 of the file's bytes (keys the key/value cache). */
  hash: string;
  /** The decoded image (possibly shrunk, see {@link PrepareOptions.maxSide}). */
  image: RgbImage;
}

/** Per-channel normalisation, computed on the training split (the authors' `auto`). */
export interface ChannelStats {
  /** Mean per channel, in [0, 1] units. */
  mean: number[];
  /** Standard deviation per channel. */
  std: number[];
}

/** A dataset decoded and ready to train on. */
export interface PreparedDataset {
  /** Dataset name. */
  name: string;
  /** Its folder. */
  root: string;
  /** Class names in label order. */
  classes: string[];
  /** The images used, per split. */
  splits: Record<Split, PreparedImage[]>;
  /** Images found per split (before any subset). */
  found: Record<Split, number>;
  /** The input normalisation: a preset's fixed mean and std, else those of the training images used. */
  stats: ChannelStats;
  /** Where {@link PreparedDataset.stats} come from: `training split` (the authors' `auto`) or the preset that fixed them. */
  statsFrom: string;
  /** Whether checksums were verified against the manifest. */
  checksums: 'verified' | 'no manifest checksums';
  /** Seconds spent reading and decoding. */
  decodeSeconds: number;
}

/** Options of {@link prepareDataset}. */
export interface PrepareOptions {
  /** Decoder (default sharp). */
  decoder?: DecoderName;
  /** Keep images at most this many pixels on the longer side (default: as stored). */
  maxSide?: number;
  /** Use at most this many images per split (a stratified, seed-independent subset). */
  limit?: Partial<Record<Split, number>>;
  /** Fixed normalisation and where it comes from (default: computed on the training images used, `auto`). */
  normalisation?: { stats: ChannelStats; from: string };
  /** Images decoded concurrently (default 4). */
  concurrency?: number;
  /** Progress callback: images done, total. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * A stratified subset of at most `n` items that does not depend on any run seed: per class, the
 * items with the smallest sha256 of their path, in proportion to the class's share (at least one
 * per class when the class has any).
 */
export function stratifiedSubset(items: DatasetItem[], n: number | undefined): DatasetItem[] {
  if (n === undefined || n >= items.length) return items;
  const byLabel = new Map<number, DatasetItem[]>();
  for (const it of items) byLabel.set(it.label, [...(byLabel.get(it.label) ?? []), it]);
  const groups = [...byLabel.values()];
  const quota = subsetQuotas(
    groups.map((g) => g.length),
    n,
  );
  const key = (it: DatasetItem) => createHash('sha256').update(it.relPath).digest('hex');
  const keep = new Set<DatasetItem>();
  groups.forEach((group, i) => {
    group
      .sort((a, b) => (key(a) < key(b) ? -1 : 1))
      .slice(0, quota[i])
      .forEach((it) => keep.add(it));
  });
  return items.filter((it) => keep.has(it));
}

/**
 * Images per class for a subset of exactly `n`: proportional shares rounded by largest remainder
 * (so they add up to `n`), and at least one per class while `n` allows it, taken from the largest
 * quotas, so that no class vanishes from a split.
 * @param sizes - images per class
 * @param n - subset size, below the total
 */
export function subsetQuotas(sizes: number[], n: number): number[] {
  const total = sizes.reduce((a, b) => a + b, 0);
  const exact = sizes.map((s) => (n * s) / total);
  const quota = exact.map(Math.floor);
  // exact, quota and sizes have one entry per class, so every class index below is in range.
  const remainder = exact.map((e, i) => e - quota[i]!);
  const byRemainder = sizes.map((_, i) => i).sort((a, b) => remainder[b]! - remainder[a]! || a - b);
  // The floors leave fewer than one image per class over, so k stays below the number of classes.
  for (let left = n - quota.reduce((a, b) => a + b, 0), k = 0; left > 0; left--, k++) quota[byRemainder[k]!]!++;
  for (const [i, size] of sizes.entries()) {
    if (quota[i]! > 0 || size === 0) continue;
    const donor = quota.indexOf(Math.max(...quota));
    if (quota[donor]! <= 1) break; // fewer images than classes: some class has to go without
    quota[donor]!--;
    quota[i]!++;
  }
  return quota;
}

/**
 * Reads, verifies (sha256 against the manifest) and decodes every image of a dataset, collecting
 * every problem (checksum mismatch, undecodable file) rather than stopping at the first: a bad file
 * is reported before training, never halfway through a run. Every file is decoded, also those
 * left out by `limit`, so that the whole dataset is validated.
 * @param dataset - from `scanDataset`
 * @param checksums - sha256 per relative path (from the manifest), or undefined
 * @param options - decoder, size cap, subset, concurrency
 */
export async function prepareDataset(
  dataset: ImageFolderDataset,
  checksums: Record<string, string> | undefined,
  options: PrepareOptions = {},
): Promise<{ prepared?: PreparedDataset; problems: DataProblem[] }> {
  const started = performance.now();
  const problems: DataProblem[] = [];
  const used = new Set<DatasetItem>();
  for (const split of SPLITS) stratifiedSubset(dataset.splits[split], options.limit?.[split]).forEach((it) => used.add(it));
  const all = SPLITS.flatMap((s) => dataset.splits[s]);
  const decoded = new Map<DatasetItem, PreparedImage>();
  // One iterator shared by the workers: each next() hands out a distinct item.
  const pending = all.values();
  let done = 0;
  const worker = async () => {
    for (const it of pending) {
      try {
        const bytes = new Uint8Array(await readFile(it.path));
        const hash = createHash('sha256').update(bytes).digest('hex');
        const want = checksums?.[it.relPath];
        if (checksums && !want) problems.push({ path: it.path, problem: 'no sha256 for this file in manifest.json' });
        else if (want && want !== hash) problems.push({ path: it.path, problem: `sha256 ${hash} does not match manifest.json (${want})` });
        // Images outside the subset are decoded small: only decodability matters for them.
        const image = await decodeFile(bytes, it.path, { decoder: options.decoder, maxSide: used.has(it) ? options.maxSide : 32 });
        if (used.has(it)) decoded.set(it, { relPath: it.relPath, label: it.label, hash, image });
      } catch (err) {
        problems.push({ path: it.path, problem: (err as Error).message.replace(`${it.path}: `, '') });
      }
      options.onProgress?.(++done, all.length);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 4 }, worker));
  if (problems.length) return { problems: problems.sort((a, b) => (a.path < b.path ? -1 : 1)) };
  const splits = {} as Record<Split, PreparedImage[]>;
  const found = {} as Record<Split, number>;
  for (const split of SPLITS) {
    found[split] = dataset.splits[split].length;
    splits[split] = dataset.splits[split].filter((it) => used.has(it)).map((it) => decoded.get(it)!);
  }
  return {
    prepared: {
      name: dataset.name,
      root: dataset.root,
      classes: dataset.classes,
      splits,
      found,
      stats: options.normalisation?.stats ?? channelStats(splits.train.map((p) => p.image)),
      statsFrom: options.normalisation?.from ?? 'training split',
      checksums: checksums ? 'verified' : 'no manifest checksums',
      decodeSeconds: (performance.now() - started) / 1000,
    },
    problems,
  };
}

/** Per-channel mean and standard deviation over every pixel of the images, in [0, 1] units. */
export function channelStats(images: RgbImage[]): ChannelStats {
  const sum = [0, 0, 0];
  const sq = [0, 0, 0];
  let n = 0;
  for (const img of images) {
    const d = img.data;
    for (let i = 0; i < d.length; i += 3) {
      // RGB pixels: i + c < length, and c indexes the 3 channels of sum and sq.
      for (let c = 0; c < 3; c++) {
        const v = d[i + c]! / 255;
        sum[c]! += v;
        sq[c]! += v * v;
      }
    }
    n += d.length / 3;
  }
  const mean = sum.map((s) => s / n);
  // A constant channel would divide by zero when normalising: floor the std.
  const std = mean.map((m, c) => Math.max(1e-3, Math.sqrt(Math.max(0, sq[c]! / n - m * m))));
  return { mean, std };
}
