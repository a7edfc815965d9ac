// No static `node:` imports: this module is part of the package's main entry, which browsers load
// too (the portable kernels); Node's builtins are reached through process.getBuiltinModule only
// once we know we run in Node, so bundlers see no Node-only import.

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
  /**
   * The micro-kernel in use (`avx512`, `avx2-fma` or `generic`), the element-wise loops' instruction
   * set, the thread count, and every micro-kernel this CPU can run, widest (the default) first.
   */
  info(): { isa: string; elementwiseIsa: string; threads: number; isas: string[] };
  /** y = op(x) over `n` elements at element offsets `xOffset` and `yOffset` (may be equal: in place). */
  unary(op: 'exp' | 'erf' | 'sqrt' | 'rsqrt' | 'gelu', x: Float32Array, xOffset: number, y: Float32Array, yOffset: number, n: number): void;
  /**
   * A linear layer in one pass: y [m, n] = act(x [m, k] w [n, k]^T + bias [n]) at element offsets,
   * act the exact GELU when `gelu`, else the identity. The bias and GELU are applied to each tile of
   * y in the SGEMM's store, while it is in cache, not in passes of their own.
   */
  linear(
    x: Float32Array,
    xOffset: number,
    w: Float32Array,
    wOffset: number,
    bias: Float32Array,
    biasOffset: number,
    y: Float32Array,
    yOffset: number,
    m: number,
    n: number,
    k: number,
    gelu: boolean,
  ): void;
  /** dx = dy * GELU'(x) over `n` elements (the exact, erf GELU). */
  geluGrad(x: Float32Array, xOffset: number, dy: Float32Array, dyOffset: number, dx: Float32Array, dxOffset: number, n: number): void;
  /** y [outer, inner] = op over the middle axis of x [outer, r, inner]. */
  reduce(
    op: 'sum' | 'mean' | 'max' | 'min',
    x: Float32Array,
    xOffset: number,
    y: Float32Array,
    yOffset: number,
    outer: number,
    r: number,
    inner: number,
  ): void;
  /**
   * y (contiguous, row-major in `shape`) = x read at element `strides` (0 repeats) from `xOffset`.
   * Moves 4-byte elements of any type. At most 8 axes.
   */
  stridedCopy(x: Float32Array, xOffset: number, y: Float32Array, yOffset: number, shape: Float64Array, strides: Float64Array): void;
  /**
   * y = a op b, broadcast: y is contiguous in `shape`, and each operand is read at its element
   * strides over that shape (0 along its broadcast axes) from its offset. At most 8 axes.
   */
  binary(
    op: 'add' | 'sub' | 'mul' | 'div',
    a: Float32Array,
    aOffset: number,
    aStrides: Float64Array,
    b: Float32Array,
    bOffset: number,
    bStrides: Float64Array,
    y: Float32Array,
    yOffset: number,
    shape: Float64Array,
  ): void;
  /**
   * Layer normalisation over the last axis of x [rows, n] (biased variance): y, the normalised xhat
   * and rstd [rows] = 1 / sqrt(var + eps).
   */
  layerNorm(
    x: Float32Array,
    xOffset: number,
    w: Float32Array,
    wOffset: number,
    b: Float32Array,
    bOffset: number,
    y: Float32Array,
    yOffset: number,
    xhat: Float32Array,
    xhatOffset: number,
    rstd: Float32Array,
    rstdOffset: number,
    rows: number,
    n: number,
    eps: number,
  ): void;
  /** Layer normalisation's backward: dx [rows, n], dw [n], db [n] from dy, xhat, rstd and w. */
  layerNormGrad(
    dy: Float32Array,
    dyOffset: number,
    xhat: Float32Array,
    xhatOffset: number,
    rstd: Float32Array,
    rstdOffset: number,
    w: Float32Array,
    wOffset: number,
    dx: Float32Array,
    dxOffset: number,
    dw: Float32Array,
    dwOffset: number,
    db: Float32Array,
    dbOffset: number,
    rows: number,
    n: number,
  ): void;
  /**
   * One AdamW update into new arrays p1, m1, v1 of n elements; `constants` are [decay, beta1,
   * 1 - beta1, beta2, 1 - beta2, sqrt(bc2), eps, lr / bc1, gradScale] (see core's `FusedKernel.adamw`).
   */
  adamw(
    p: Float32Array,
    pOffset: number,
    m: Float32Array,
    mOffset: number,
    v: Float32Array,
    vOffset: number,
    g: Float32Array,
    gOffset: number,
    p1: Float32Array,
    p1Offset: number,
    m1: Float32Array,
    m1Offset: number,
    v1: Float32Array,
    v1Offset: number,
    n: number,
    constants: Float64Array,
  ): void;
  /** Copies a [rows, cols] block (contiguous in x) into rows of `yStride` elements of y (concatenation). */
  copyRows(x: Float32Array, xOffset: number, y: Float32Array, yOffset: number, rows: number, cols: number, yStride: number): void;
  /** Softmax of `scale` * x over the last axis of [rows, cols]; scale must be positive. */
  softmax(x: Float32Array, xOffset: number, y: Float32Array, yOffset: number, rows: number, cols: number, scale: number): void;
  /** ds = scale * p * (dp - sum(dp * p)) per row of [rows, cols]: softmax's backward, scaled. */
  softmaxGrad(
    p: Float32Array,
    pOffset: number,
    dp: Float32Array,
    dpOffset: number,
    ds: Float32Array,
    dsOffset: number,
    rows: number,
    cols: number,
    scale: number,
  ): void;
  /** Sets the number of threads (the default is every CPU, or `FPT_KERNELS_THREADS`). */
  setThreads(threads: number): void;
  /**
   * Switches the SGEMM to another micro-kernel of {@link NativeAddon.info}'s `isas` (to force the
   * AVX2 kernel on an AVX-512 CPU, say), and the element-wise loops to the same set where they can.
   * @throws naming the supported ones when this CPU has no such kernel
   */
  setIsa(isa: string): void;
  /**
   * The CPU's float32 ceiling: fused multiply-adds on independent chains in the widest vector
   * instruction set it has, on every thread at once, the best of `repeats` runs of about `seconds`.
   */
  peak(seconds: number, repeats: number): { gflops: number; isa: string; threads: number; seconds: number };
}

/** The result of {@link loadNative}: the addon, or why it is not available. */
export type NativeLoad = { addon: NativeAddon; path: string } | { addon?: undefined; reason: string };

let cached: NativeLoad | undefined;

// A variable, not a literal inside `new URL(...)`: bundlers (Vite) would copy a literal's file as an asset.
const ADDON = '../build/Release/fpt_kernels.node';

/** Node's builtins this loader needs (Node 20.16+ has `process.getBuiltinModule`). */
function nodeBuiltins() {
  const get = process.getBuiltinModule;
  if (typeof get !== 'function') return undefined;
  return { fs: get('node:fs'), module: get('node:module'), url: get('node:url') };
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
  const node = nodeBuiltins();
  if (!node) {
    cached = { reason: `native kernels need Node 20.16 or later (process.getBuiltinModule), this is ${process.version}` };
    return cached;
  }
  // The addon's path: build/Release/fpt_kernels.node in this package (from dist/ or src/).
  const path = node.url.fileURLToPath(new URL(ADDON, import.meta.url));
  if (!node.fs.existsSync(path)) {
    cached = {
      reason: `${path} was not built at install time (no C++ compiler or Node-API headers?); reinstall @fpt/kernels with a compiler`,
    };
    return cached;
  }
  try {
    const addon = node.module.createRequire(import.meta.url)(path) as NativeAddon;
    cached = { addon, path };
  } catch (err) {
    cached = { reason: `cannot load ${path}: ${(err as Error).message.split('\n')[0]}` };
  }
  return cached;
}
