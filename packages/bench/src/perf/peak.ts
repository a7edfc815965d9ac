import { loadNative } from '@fpt/kernels';

/** The machine's float32 ceiling as `fpt-bench perf` reports it, or why it could not be measured. */
export interface PeakMeasurement {
  /** GFLOP/s of fused multiply-adds on every thread (NaN when not measured). */
  gflops: number;
  /** The vector instruction set measured (the widest the CPU has). */
  isa?: string;
  /** Threads that ran it (the native kernels' pool: every core unless FPT_KERNELS_THREADS says otherwise). */
  threads?: number;
  /** Why there is no figure (the native addon is unavailable). */
  reason?: string;
}

/**
 * Measures the CPU's FMA throughput with the native addon's microbenchmark: independent FMA
 * chains in the widest vector instruction set, on every thread, the best of 5 runs of 0.1 s (a
 * ceiling: a run slowed by another process is dropped). No GEMM can run faster.
 */
export function measurePeak(): PeakMeasurement {
  const native = loadNative();
  if (!native.addon) return { gflops: Number.NaN, reason: `native addon unavailable: ${native.reason}` };
  const p = native.addon.peak(0.1, 5);
  return { gflops: p.gflops, isa: p.isa, threads: p.threads };
}

/** `PEAK gflops=<x> isa=<isa> threads=<n>`, or `PEAK gflops=NA (<reason>)`. */
export function formatPeak(p: PeakMeasurement): string {
  if (!Number.isFinite(p.gflops)) return `PEAK gflops=NA (${p.reason ?? 'not measured'})`;
  return `PEAK gflops=${p.gflops.toFixed(1)} isa=${p.isa} threads=${p.threads}`;
}

/**
 * FLOPs of a ViT forward through its first `blocks` blocks, counted from the shapes: the patch
 * embedding and every matrix product of a block (qkv, scores, weighted sum, projection, MLP), two
 * per multiply-add; norms, softmax and GELU are left out (a few per cent). ViT-B/16 at 512, 12
 * blocks: 214 GFLOP per image.
 */
export function vitForwardFlops(
  c: { hiddenSize: number; mlpDim: number; patchSize: number },
  image: number,
  batch: number,
  blocks: number,
): number {
  const d = c.hiddenSize;
  const grid = Math.floor(image / c.patchSize);
  const n = grid * grid + 1;
  const embed = 2 * grid * grid * 3 * c.patchSize * c.patchSize * d;
  const block = 2 * n * d * (3 * d + d + 2 * c.mlpDim) + 2 * 2 * n * n * d;
  return batch * (embed + blocks * block);
}
