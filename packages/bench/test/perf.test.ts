import { describe, expect, it } from 'vitest';
import { formatLine, median, topKernels } from '../src/perf/report';
import { CALLS_SECONDS, callsFor, FULL_SCALE, GEMM_CALLS, perfWorkloads, QUICK_SCALE } from '../src/perf/workloads';
import { perfCommand } from '../src/commands/perf';

describe('fpt-bench perf', () => {
  it("prints the issue's line, with NA where a side is missing", () => {
    const line = formatLine({ id: 'W2', ours: [3, 1, 2], torch: [0.5, 1.5], oursBytes: 300 * 2 ** 20, torchBytes: 200 * 2 ** 20 });
    expect(line).toBe('W2 ours_s=2.000 torch_s=1.000 time_ratio=2.00 ours_mib=300.0 torch_mib=200.0 mem_ratio=1.50');
    expect(formatLine({ id: 'W1', ours: [4], torch: [] })).toBe(
      'W1 ours_s=4.000 torch_s=NA time_ratio=NA ours_mib=NA torch_mib=NA mem_ratio=NA',
    );
    expect(formatLine({ id: 'GEMM-a', ours: [0.5], torch: [0.25], flops: 1e9 })).toMatch(
      / ours_gflops=2\.0 torch_gflops=4\.0 pct_peak=NA$/,
    );
    expect(formatLine({ id: 'GEMM-a', ours: [0.5], torch: [0.25], flops: 1e9, peakGflops: 8 })).toMatch(
      / ours_gflops=2\.0 torch_gflops=4\.0 pct_peak=25\.0$/,
    );
    expect(formatLine({ id: 'W1', ours: [], torch: [0.25], flops: 1e9, peakGflops: 8 })).toMatch(
      / ours_gflops=NA torch_gflops=4\.0 pct_peak=NA$/,
    );
    expect(median([5, 1, 3, 2])).toBe(2.5);
  });

  it('ranks kernels by their summed time', () => {
    const line = topKernels(
      [
        { name: 'A', ms: 100 },
        { name: 'B', ms: 300 },
        { name: 'A', ms: 100 },
        { name: 'C', ms: 500 },
      ],
      2,
    );
    expect(line).toBe('C 50% (0.500 s), B 30% (0.300 s)');
  });

  it("has the issue's workloads at the issue's shapes, and smaller ones for --scale quick", () => {
    const full = perfWorkloads(FULL_SCALE);
    expect(full.map((w) => w.id)).toEqual([
      'W1',
      'W1b',
      'W2',
      'W3a',
      'W3b',
      'W3c',
      'GEMM-1024x768x768-NN',
      'GEMM-1024x768x768-NT',
      'GEMM-1024x768x3072-NN',
      'GEMM-1024x768x3072-NT',
    ]);
    const spec = (id: string) => full.find((w) => w.id === id)!.torchSpec;
    // The count: ViT-B/16 at 512 is about 215 GFLOP per image (every block runs).
    expect(full.find((w) => w.id === 'W1')!.flops! / 1e9).toBeCloseTo(214.05, 1);
    expect(spec('W1')).toMatchObject({ image: 512, batch: 1, layers: [6, 7, 8, 9, 10, 11], ratio: 0.2 });
    expect(spec('W1b')).toMatchObject({ image: 224, batch: 8 });
    expect(spec('W2')).toMatchObject({ kv: [6, 16, 12, 205, 64], prompts: 16 });
    expect(spec('W3b')).toMatchObject({ method: 'lora', rank: 16, image: 224, batch: 8, vit: { hidden: 192 } });
    expect(spec('W3c')).toMatchObject({ method: 'lora', vit: { hidden: 384 } });
    expect(perfWorkloads(QUICK_SCALE).find((w) => w.id === 'W2')!.torchSpec).toMatchObject({ kv: [6, 4, 12, 205, 64] });
    // A GEMM step is up to GEMM_CALLS products back to back on both sides, reported per product:
    // as many as take CALLS_SECONDS, from one untimed product.
    for (const w of full.filter((x) => x.id.startsWith('GEMM'))) expect(w.maxCalls).toBe(GEMM_CALLS);
    expect(full.find((w) => w.id === 'W1')!.maxCalls).toBeUndefined();
    expect(callsFor(0.02, 10)).toBe(Math.ceil(CALLS_SECONDS / 0.02));
    expect(callsFor(0.004, 10)).toBe(10); // at most maxCalls
    expect(callsFor(1.5, 10)).toBe(1); // at least one
    expect(callsFor(0, 10)).toBe(10); // too fast to time: the most
  });

  it('rejects unknown workloads and options by name', async () => {
    await expect(perfCommand(['--workloads', 'W9'], () => {})).rejects.toThrow(/unknown workload "W9"/);
    await expect(perfCommand(['--scale', 'huge'], () => {})).rejects.toThrow(/--scale expects full or quick/);
    await expect(perfCommand(['--kernels', 'fast'], () => {})).rejects.toThrow(/--kernels expects auto, fallback or stock/);
  });

  it('runs a GEMM on the CPU backend and reports ours alone without PyTorch', async () => {
    const lines: string[] = [];
    const code = await perfCommand(['--workloads', 'GEMM', '--scale', 'quick', '--reps', '1', '--backend', 'cpu', '--torch', 'off'], (l) =>
      lines.push(l),
    );
    expect(code).toBe(0);
    // The first line is the FMA ceiling from the native microbenchmark (NA with the reason without the addon).
    expect(lines[0]).toMatch(/^PEAK gflops=(\d+\.\d isa=(avx512|avx2-fma|generic) threads=\d+|NA \(native addon unavailable: .+\))$/);
    expect(lines.filter((l) => l.startsWith('GEMM-'))).toHaveLength(4);
    expect(lines.find((l) => l.startsWith('GEMM-256x768x768-NT'))).toMatch(
      /^GEMM-256x768x768-NT ours_s=\d+\.\d{3} torch_s=NA time_ratio=NA ours_mib=\d+\.\d torch_mib=NA mem_ratio=NA ours_gflops=\d+\.\d torch_gflops=NA pct_peak=(\d+\.\d|NA)$/,
    );
    expect(lines.some((l) => l.startsWith('kernels: '))).toBe(true);
    // PEAK is sampled again before each of the 4 GEMMs; pct_peak uses the highest sample.
    if (!lines[0]!.includes('NA')) {
      const ceiling = lines.find((l) => l.startsWith('ceiling: '));
      expect(ceiling).toMatch(/^ceiling: pct_peak is against the highest of 5 PEAK samples, (\d+\.\d) GFLOP\/s$/);
      expect(Number(/(\d+\.\d) GFLOP/.exec(ceiling!)![1])).toBeGreaterThanOrEqual(Number(/gflops=(\d+\.\d)/.exec(lines[0]!)![1]));
    }
    expect(lines.find((l) => l.startsWith('protocol: '))).toContain(
      `a GEMM step is as many products back to back as take ${CALLS_SECONDS} s`,
    );
  });
});
