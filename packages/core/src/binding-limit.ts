import * as tf from '@tensorflow/tfjs-core';

// On WebGPU a kernel can bind no buffer larger than the device's `maxStorageBufferBindingSize`
// (128 MiB unless the adapter's own limit is requested; 1-4 GiB on most GPUs). Ops whose
// intermediates would pass it are computed in slices (see `attention` and `blockForward`), and a
// tensor that still cannot be made is refused with one sentence (`guardTensorBytes`).

/**
 * Environment variable that lowers the storage-binding limit used on WebGPU for splitting ops and
 * refusing tensors, in bytes or with a `KiB`, `MiB` or `GiB` suffix (`FPT_WEBGPU_BINDING_LIMIT=4MiB`).
 * Read at each use (a change takes effect at once); for tests, and for checking on a large GPU that
 * a shape still runs on a device with a smaller limit. It never raises the device's own limit.
 */
export const BINDING_LIMIT_ENV = 'FPT_WEBGPU_BINDING_LIMIT';

/** The largest tensor one kernel may bind on the active backend, and what sets it. */
export interface BindingLimit {
  /** Bytes. */
  bytes: number;
  /** The limit's name, for messages: `maxStorageBufferBindingSize`, and how it was lowered if it was. */
  name: string;
}

let override: number | undefined;
let fromEnv: { raw: string | undefined; bytes: number | undefined } | undefined;

const UNITS: Record<string, number> = { '': 1, KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30 };

/**
 * Parses a byte count as {@link BINDING_LIMIT_ENV} takes it.
 * @param text - `4194304`, `4MiB`, `0.5 GiB`, ...
 * @param what - the setting's name, for the error
 * @throws naming the setting and the value when it is not a positive size
 */
export function parseBytes(text: string, what: string): number {
  const [, count, unit = ''] = /^\s*(\d+(?:\.\d+)?)\s*(KiB|MiB|GiB)?\s*$/.exec(text) ?? [];
  // Anything the pattern refuses, or a unit without a factor, gives NaN: refused below.
  const bytes = count === undefined ? Number.NaN : Math.floor(Number(count) * (UNITS[unit] ?? Number.NaN));
  if (!(bytes >= 1)) throw new Error(`${what}="${text}" is not a size: expected bytes, or a number with KiB, MiB or GiB (e.g. 4MiB)`);
  return bytes;
}

function envOverride(): number | undefined {
  const raw = typeof process !== 'undefined' ? process.env?.[BINDING_LIMIT_ENV] : undefined;
  if (!fromEnv || fromEnv.raw !== raw) fromEnv = { raw, bytes: raw ? parseBytes(raw, BINDING_LIMIT_ENV) : undefined };
  return fromEnv.bytes;
}

/**
 * Lowers the storage-binding limit used on WebGPU (as {@link BINDING_LIMIT_ENV} does, and before it).
 * @param bytes - the limit in bytes; undefined goes back to the environment variable or the device's own
 */
export function setBindingLimit(bytes: number | undefined): void {
  if (bytes !== undefined && !(Number.isFinite(bytes) && bytes >= 1)) {
    throw new Error(`setBindingLimit: ${bytes} is not a size in bytes (expected a number of at least 1)`);
  }
  override = bytes;
}

/**
 * The storage-binding limit in force: the active WebGPU device's `maxStorageBufferBindingSize`,
 * lowered by {@link setBindingLimit} or {@link BINDING_LIMIT_ENV}; undefined on every other backend
 * (their tensors are bounded by memory only).
 */
export function bindingLimit(): BindingLimit | undefined {
  if (tf.getBackend() !== 'webgpu') return undefined;
  const device = (tf.backend() as unknown as { device?: { limits?: { maxStorageBufferBindingSize?: number } } }).device;
  const real = device?.limits?.maxStorageBufferBindingSize;
  if (typeof real !== 'number') return undefined;
  const lowered = override ?? envOverride();
  if (lowered === undefined || lowered >= real) return { bytes: real, name: 'maxStorageBufferBindingSize' };
  const how = override !== undefined ? 'setBindingLimit' : BINDING_LIMIT_ENV;
  return { bytes: lowered, name: `maxStorageBufferBindingSize (lowered by ${how})` };
}

/** A byte count for messages: `800.0 MiB`, or plain bytes below 1 MiB. */
export function formatBytes(n: number): string {
  return n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : `${n} bytes`;
}

/**
 * How many units (samples, heads, rows) one slice of an op may hold so that none of its tensors
 * passes the binding limit in force.
 * @param units - how many units the whole op has
 * @param bytesPerUnit - the largest tensor's bytes per unit
 * @returns `units` when the whole op fits (always off WebGPU), else the most that fit (0 when not even one does)
 */
export function unitsPerSlice(units: number, bytesPerUnit: number): number {
  const limit = bindingLimit();
  if (!limit || units * bytesPerUnit <= limit.bytes) return units;
  return Math.min(units, Math.floor(limit.bytes / bytesPerUnit));
}

/**
 * The sentence for a tensor that cannot be made within the binding limit.
 * @param what - the tensor, in words (`one head's attention scores [1, 1, 4096, 4096]`)
 * @param bytes - its size
 * @param limit - the limit in force
 */
export function bindingLimitMessage(what: string, bytes: number, limit: BindingLimit): string {
  return (
    `${what} needs ${formatBytes(bytes)}, more than this device's ${limit.name} of ${formatBytes(limit.bytes)}: ` +
    'use a smaller batch or input size, or a GPU with a larger limit'
  );
}
