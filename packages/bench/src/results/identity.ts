import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import type { PreparedDataset } from '../data/prepare';
import { firstDifference, valueAt } from '../files/difference';

/**
 * Everything that changes a run's result besides its id (dataset, method, seed): the recipe, the
 * method's options, the exact images, the LPM's weights and the preset's shrinking. A finished run
 * or a checkpoint is reused only by a command with an equal identity; `hash` is the sha256 of the
 * other fields.
 */
export interface RunIdentity {
  /** sha256 of the canonical JSON of the other fields. */
  hash: string;
  /** Preset name. */
  preset: string;
  /** Epochs, batch, base learning rate. */
  recipe: { epochs: number; batch: number; lr: number };
  /** The method's options as given (the preset's, then `--set`). */
  options: Record<string, unknown>;
  /** The images used: classes, resolution cap, decoder and a sha256 over every image's path, label and content hash. */
  data: { classes: string[]; maxSide: number | null; decoder: string; images: string };
  /** The LPM: architecture, input size, random-init seed, and the sha256 of the weights file (null: random). */
  lpm: { config: Record<string, unknown>; inputSize: number; initSeed: number | null; weights: string | null };
  /** What the preset shrank (and the options that changed it). */
  shrunk: string[];
}

/** Which command-line option sets each part of the identity, for messages. */
const OPTION_OF: Array<[RegExp, (method: string, key: string) => string]> = [
  [/^preset$/, () => '--preset'],
  [/^recipe\.epochs$/, () => '--epochs'],
  [/^recipe\.batch$/, () => '--batch'],
  [/^recipe\.lr$/, () => 'the learning rate (--preset)'],
  [/^options\.(.+)$/, (m, key) => `--set ${m}.${key}`],
  [/^options$/, (m) => `--set ${m}.*`],
  [/^data\.classes/, () => 'the classes (--classes, the data)'],
  [/^data\.maxSide/, () => 'the image size cap (--preset)'],
  [/^data\.decoder/, () => '--decoder'],
  [/^data\.images/, () => 'the images (--data-root, --preset)'],
  [/^lpm\./, () => 'the LPM (--weights, --preset)'],
  [/^shrunk/, () => "the preset's shrinking (--preset, --epochs, --paper-memory)"],
];

/** sha256 over every used image's split, path, label and content hash, in split order. */
export function imagesDigest(data: PreparedDataset): string {
  const h = createHash('sha256');
  for (const split of ['train', 'val', 'test'] as const)
    for (const p of data.splits[split]) h.update(`${split}\0${p.relPath}\0${p.label}\0${p.hash}\n`);
  return h.digest('hex');
}

/** sha256 of a file's bytes, read in 1 MiB pieces. */
export function fileDigest(path: string): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    for (let n = readSync(fd, buf); n > 0; n = readSync(fd, buf)) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

/** Completes an identity with its hash. */
export function runIdentity(fields: Omit<RunIdentity, 'hash'>): RunIdentity {
  return { hash: createHash('sha256').update(JSON.stringify(fields)).digest('hex'), ...fields };
}

/**
 * Why a stored identity is not this command's, in one clause naming the option at fault
 * (`--epochs is 6 there and 3 now`), or undefined when they are equal.
 * @param stored - the identity a result file or checkpoint recorded (undefined: none recorded)
 * @param now - this command's identity of the same run
 * @param method - the run's method, for `--set method.key`
 */
export function identityMismatch(stored: unknown, now: RunIdentity, method: string): string | undefined {
  if (stored === undefined || stored === null) return 'it records no run identity (an older runner made it)';
  const s = stored as Partial<RunIdentity>;
  if (s.hash === now.hash) return undefined;
  const { hash: _a, ...was } = s;
  const { hash: _b, ...is } = now;
  const path = firstDifference(was, is) ?? 'hash';
  const entry = OPTION_OF.find(([re]) => re.test(path));
  const key = entry ? (path.match(entry[0])?.[1] ?? '') : '';
  const option = entry ? entry[1](method, key) : path;
  const show = (v: unknown) => (v === undefined ? 'unset' : JSON.stringify(v));
  return `${option} differs (${path} is ${show(valueAt(was, path))} there and ${show(valueAt(is, path))} now)`;
}
