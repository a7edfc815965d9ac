import * as tf from '@tensorflow/tfjs-core';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { measureStep, trackBuffers } from '@fpt/core';
import { backendBanner, setUpBackend, type KernelsChoice } from '../backend/setup';
import { CALLS_SECONDS, callsFor, FULL_SCALE, GEMM_CALLS, perfWorkloads, QUICK_SCALE, type Workload } from '../perf/workloads';
import { findTorchPython, TORCH_INSTALL_HINT, TorchReference } from '../perf/torch';
import { formatLine, topKernels, type WorkloadResult } from '../perf/report';
import { formatPeak, measurePeak } from '../perf/peak';
import { intOption, parseArgs } from './args';

/** The PyTorch reference script, found from the bench's build (dist/) or sources (src/). */
function torchScript(): string | undefined {
  for (const rel of ['../../../benchmarks/torch/perf.py', '../../../../benchmarks/torch/perf.py']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  return undefined;
}

/**
 * `fpt-bench perf [--reps 3] [--workloads W1,W1b,W2,W3a,W3b,W3c,GEMM] [--scale full|quick]
 * [--backend auto|wasm|cpu|...] [--kernels auto|fallback|stock] [--torch auto|off|PYTHON] [--top 6]`: times the issue's
 * workloads (W1 preload, W1b forward, W2 FPT+ step, W3a-c full/LoRA steps, GEMMs) for ours and for
 * the PyTorch reference in `benchmarks/torch/`, alternating step by step, and prints first
 * `PEAK gflops=<x>` (the CPU's FMA ceiling on every core, from the native addon's microbenchmark),
 * then one line per workload with median times, peak memory and ratios (GEMM and W1 lines add
 * GFLOP/s and pct_peak, against the highest PEAK sample so far: PEAK is sampled again before each
 * of them), then the ceiling used, then the top kernels of ours by time. Memory, the same quantity on both sides: bytes
 * of live tensors before the step (parameters, optimiser state, inputs) plus the peak of data
 * buffers allocated and not yet freed during it (activations, gradients, temporaries); views count
 * once. Ours from core's `trackBuffers` (started before the workload is built), PyTorch's from its
 * profiler's allocator events.
 * @returns the exit code
 */
// Each timed step, on either side, starts after the same pause with nothing running, so that
// neither starts while the other's threads are still busy (OpenBLAS's workers spin for a while
// after a product before they sleep) and both start from the same idle state.
const SETTLE_MS = 200;

function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
}

export async function perfCommand(argv: string[], print: (line: string) => void = console.log): Promise<number> {
  const args = parseArgs(argv, ['reps', 'workloads', 'scale', 'backend', 'kernels', 'torch', 'top']);
  const reps = intOption(args, 'reps', 3);
  const top = intOption(args, 'top', 6);
  const scaleName = args.options.scale ?? 'full';
  if (scaleName !== 'full' && scaleName !== 'quick') throw new Error(`--scale expects full or quick, got "${scaleName}"`);
  const kernelsOpt = (args.options.kernels ?? 'auto') as KernelsChoice;
  if (!['auto', 'fallback', 'stock'].includes(kernelsOpt))
    throw new Error(`--kernels expects auto, fallback or stock, got "${kernelsOpt}"`);
  const all = perfWorkloads(scaleName === 'quick' ? QUICK_SCALE : FULL_SCALE);
  const wanted = (args.options.workloads ?? 'W1,W1b,W2,W3a,W3b,W3c,GEMM').split(',').map((s) => s.trim());
  for (const w of wanted) {
    if (!all.some((x) => x.id === w || (w === 'GEMM' && x.id.startsWith('GEMM')))) {
      throw new Error(`--workloads: unknown workload "${w}"; known: W1, W1b, W2, W3a, W3b, W3c, GEMM`);
    }
  }
  const selected = all.filter((x) => wanted.includes(x.id) || (x.id.startsWith('GEMM') && wanted.includes('GEMM')));
  // GEMMs first: they are quick and show the kernels' speed before the long workloads run.
  selected.sort((a, b) => Number(!a.id.startsWith('GEMM')) - Number(!b.id.startsWith('GEMM')));

  // First line: the ceiling every GFLOP/s figure below is compared with (pct_peak).
  const peak = measurePeak();
  print(formatPeak(peak));
  // The ceiling moves on a shared host (here 130-200 GFLOP/s within an hour, from other tenants on
  // the same physical cores), and one sampled when it was low put GEMMs above 100 % of it. PEAK is
  // sampled again before each workload with a FLOP count, and pct_peak uses the highest sample so
  // far: never a lower ceiling than the first line's.
  const ceiling = { gflops: peak.gflops, samples: 1 };
  for (const line of backendBanner(await setUpBackend(args.options.backend, kernelsOpt))) print(line);

  let torch: TorchReference | undefined;
  const torchOpt = args.options.torch ?? 'auto';
  if (torchOpt !== 'off') {
    const script = torchScript();
    const python = torchOpt === 'auto' ? findTorchPython() : torchOpt;
    if (!script) print('torch: benchmarks/torch/perf.py not found (run from the repository); reporting ours alone');
    else if (!python) print(`torch: PyTorch not found; reporting ours alone. To compare, install it: ${TORCH_INSTALL_HINT}`);
    else {
      torch = new TorchReference(python, script);
      const info = await torch.hello();
      print(
        `torch: PyTorch ${info.torch}, ${info.threads} threads, BLAS ${info.blas} (${python})` +
          (info.omp_wait_policy ? `; OMP_WAIT_POLICY=${info.omp_wait_policy}` : ''),
      );
    }
  }
  print(
    `protocol: median of ${reps} steps per workload, ours and PyTorch alternating step by step, after one untimed warm-up step each; ` +
      'a step of ours ends when the backend has finished its work (WebGPU: queue drained with onSubmittedWorkDone); ' +
      `each timed step, on either side, starts after ${SETTLE_MS} ms with nothing running; ` +
      `a GEMM step is as many products back to back as take ${CALLS_SECONDS} s (timed from one untimed product; at most ${GEMM_CALLS}, the same count on both sides), reported per product; ` +
      'memory: one more step, live tensor bytes before it + peak of data buffers allocated during it, views counted once (ours: core trackBuffers from before the workload is built; PyTorch: profiler allocator events)',
  );

  const results: Array<{ w: Workload; r: WorkloadResult; kernels?: string; error?: string }> = [];
  try {
    for (const w of selected) {
      const r: WorkloadResult = {
        id: w.id,
        ours: [],
        torch: [],
        flops: w.flops,
      };
      if (w.flops && Number.isFinite(ceiling.gflops)) {
        ceiling.gflops = Math.max(ceiling.gflops, measurePeak().gflops);
        ceiling.samples++;
      }
      r.peakGflops = Number.isFinite(ceiling.gflops) ? ceiling.gflops : undefined;
      let calls = 1;
      let torchSpec = w.torchSpec;
      let error: string | undefined;
      let kernelLine: string | undefined;
      let built: ReturnType<Workload['build']> | undefined;
      // Every buffer of the workload is followed from before it is built, so the figure is its
      // live bytes before the measured step plus the peak during it, views counted once.
      const buffers = trackBuffers();
      try {
        built = w.build();
        await built.step(); // warm-up (kernels set up, caches filled, AdamW's moments made)
        if (w.maxCalls && built.setCalls) {
          const t0 = performance.now();
          await built.step(); // one more untimed call: how many make a timed step
          calls = callsFor((performance.now() - t0) / 1000, w.maxCalls);
          built.setCalls(calls);
          torchSpec = { ...w.torchSpec, calls };
        }
      } catch (err) {
        error = `ours failed to run: ${(err as Error).message.split('\n')[0]}`;
      }
      for (let i = 0; i < reps; i++) {
        if (built && !error) {
          try {
            if (torch) await settle();
            const t0 = performance.now();
            await built.step();
            r.ours.push((performance.now() - t0) / 1000 / calls);
          } catch (err) {
            error = `ours failed to run: ${(err as Error).message.split('\n')[0]}`;
          }
        }
        if (torch) {
          await settle();
          const a = await torch.run(torchSpec);
          if (a.error) error = `${error ? `${error}; ` : ''}torch failed: ${a.error}`;
          else if (a.seconds !== null) r.torch.push(a.seconds / calls);
        }
      }
      if (built && !error) {
        try {
          buffers.resetPeak();
          const p = await measureStep(() => built!.step());
          r.oursBytes = buffers.peak() - built.excludedBytes;
          // Registered kernels only: a fused op's own entry would count its inner kernels twice.
          const registered = p.kernels.filter((k) => tf.getKernel(k.name, tf.getBackend()) !== undefined);
          kernelLine = topKernels(
            registered.map((k) => ({ name: k.name, ms: k.timeMs })),
            top,
          );
        } catch (err) {
          error = `ours failed to run: ${(err as Error).message.split('\n')[0]}`;
        }
      }
      if (torch && !w.id.startsWith('GEMM')) {
        const a = await torch.run(torchSpec, true);
        if (a.peak_bytes !== null) r.torchBytes = a.peak_bytes;
      }
      try {
        built?.dispose();
      } catch {
        // a failed backend may not free; the failure is already reported
      }
      buffers.stop();
      print(formatLine(r) + (error ? `  # ${error}` : ''));
      results.push({ w, r, kernels: kernelLine, error });
    }
  } finally {
    torch?.close();
  }
  if (Number.isFinite(ceiling.gflops)) {
    print(`ceiling: pct_peak is against the highest of ${ceiling.samples} PEAK samples, ${ceiling.gflops.toFixed(1)} GFLOP/s`);
  }
  print('top kernels of ours by time (one profiled step each):');
  for (const { w, kernels: k } of results) if (k) print(`  ${w.id} (${w.title}): ${k}`);
  return results.some((x) => x.error) ? 1 : 0;
}
