/** Median of a non-empty list. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2; // 0 <= mid - 1 < mid < length
}

const MiB = 2 ** 20;
const fmt = (x: number | undefined, digits: number) => (x === undefined || !Number.isFinite(x) ? 'NA' : x.toFixed(digits));

/** What was measured for one workload. */
export interface WorkloadResult {
  /** Workload id. */
  id: string;
  /** Our step times, seconds. */
  ours: number[];
  /** PyTorch's step times, seconds (empty without PyTorch). */
  torch: number[];
  /** Our peak live-tensor bytes in one step. */
  oursBytes?: number;
  /** PyTorch's live tensor bytes before the step plus its allocator's peak during it. */
  torchBytes?: number;
  /** Floating-point operations of one step (GEMM lines, W1). */
  flops?: number;
  /** The machine's FMA ceiling in GFLOP/s (the PEAK line), for `pct_peak`. */
  peakGflops?: number;
}

/**
 * The line: `<id> ours_s=<median> torch_s=<median> time_ratio=<ours/torch>
 * ours_mib=<peak> torch_mib=<peak> mem_ratio=<ours/torch>`; lines with a FLOP count (GEMMs, W1)
 * add `ours_gflops=<x> torch_gflops=<x> pct_peak=<x>` (ours as a percentage of the PEAK line).
 * Missing figures print as NA.
 */
export function formatLine(r: WorkloadResult): string {
  const o = r.ours.length ? median(r.ours) : undefined;
  const t = r.torch.length ? median(r.torch) : undefined;
  const om = r.oursBytes === undefined ? undefined : r.oursBytes / MiB;
  const tm = r.torchBytes === undefined ? undefined : r.torchBytes / MiB;
  const ratio = (a?: number, b?: number) => (a !== undefined && b !== undefined && b > 0 ? a / b : undefined);
  let line = `${r.id} ours_s=${fmt(o, 3)} torch_s=${fmt(t, 3)} time_ratio=${fmt(ratio(o, t), 2)} ours_mib=${fmt(om, 1)} torch_mib=${fmt(tm, 1)} mem_ratio=${fmt(ratio(om, tm), 2)}`;
  if (r.flops) {
    const ours = o && r.flops / o / 1e9;
    line += ` ours_gflops=${fmt(ours, 1)} torch_gflops=${fmt(t && r.flops / t / 1e9, 1)}`;
    line += ` pct_peak=${fmt(ours && r.peakGflops && (100 * ours) / r.peakGflops, 1)}`;
  }
  return line;
}

/** Kernel time of one profiled step, by kernel name. */
export function topKernels(kernels: Array<{ name: string; ms: number }>, top: number): string {
  const byName = new Map<string, number>();
  for (const k of kernels) byName.set(k.name, (byName.get(k.name) ?? 0) + k.ms);
  const total = [...byName.values()].reduce((a, b) => a + b, 0);
  return [...byName.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, ms]) => `${name} ${((100 * ms) / total).toFixed(0)}% (${(ms / 1000).toFixed(3)} s)`)
    .join(', ');
}
