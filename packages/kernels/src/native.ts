import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The native addon's functions (see native/addon.cc). */
export interface NativeAddon {
  /**
   * C[i] = op(A[i]) op(B[i]) for each matrix i, with element offsets `offsets[3i..3i+2]` into
   * `a`, `b` and `c` (the three arrays may be views of one buffer).
   */
  batchMatMul(
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    offsets: Float64Array,
    m: number,
    n: number,
    k: number,
    transposeA: boolean,
    transposeB: boolean,
  ): void;
  /** The micro-kernel's instruction set and the thread count. */
  info(): { isa: string; threads: number };
  /** Sets the number of threads (the default is every CPU, or `FPT_KERNELS_THREADS`). */
  setThreads(threads: number): void;
}

/** The result of {@link loadNative}: the addon, or why it is not available. */
export type NativeLoad = { addon: NativeAddon; path: string } | { addon?: undefined; reason: string };

let cached: NativeLoad | undefined;

/** The addon's path: `build/Release/fpt_kernels.node` in this package (from `dist/` or `src/`). */
function addonPath(): string {
  return fileURLToPath(new URL('../build/Release/fpt_kernels.node', import.meta.url));
}

/**
 * Loads the native addon once. It is unavailable when `FPT_KERNELS=off` (or `wasm`, `stock`), when
 * it was not built at install time (no compiler), or when it fails to load; the reason says which.
 */
export function loadNative(): NativeLoad {
  if (cached) return cached;
  const env = typeof process !== 'undefined' ? process.env.FPT_KERNELS : undefined;
  if (env && env !== 'native' && env !== 'auto') {
    cached = { reason: `disabled by FPT_KERNELS=${env}` };
    return cached;
  }
  if (typeof process === 'undefined' || !process.versions?.node) {
    cached = { reason: 'native kernels need Node.js' };
    return cached;
  }
  const path = addonPath();
  if (!existsSync(path)) {
    cached = {
      reason: `${path} was not built at install time (no C++ compiler or Node-API headers?); reinstall @fpt/kernels with a compiler`,
    };
    return cached;
  }
  try {
    const addon = createRequire(import.meta.url)(path) as NativeAddon;
    cached = { addon, path };
  } catch (err) {
    cached = { reason: `cannot load ${path}: ${(err as Error).message.split('\n')[0]}` };
  }
  return cached;
}
