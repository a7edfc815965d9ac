import { selectBackend, type BackendName } from '@fpt/core';
import { describeKernels, enableFastKernels } from '@fpt/kernels';
import { vitB16Hf384 } from '@fpt/backbone-vit';
import { fptPlus } from '@fpt/fpt-plus';
import { estimateFullFinetuneMemory } from '../memory/extrapolate';
import { methodStepMemory } from '../memory/steps';
import { classesOption, intOption, parseArgs } from './args';

const MiB = (b: number) => `${(b / 2 ** 20).toLocaleString('en-US', { maximumFractionDigits: 1 })} MiB`;

/**
 * `fpt-bench memory [--batch 16] [--classes 5] [--backend auto|wasm|cpu|...]`: peak live-tensor memory of one FPT+ training step
 * at the paper's shapes (ViT-B/16 LPM at 512, side network at 128, cached keys and values; a real
 * step) against one full fine-tuning step of ViT-B/16 at 512 (extrapolated from real steps at
 * cheap shapes, with a held-out real step as validation).
 * @returns the exit code
 */
export async function memoryCommand(argv: string[], print: (line: string) => void = console.log): Promise<number> {
  const args = parseArgs(argv, ['batch', 'classes', 'backend']);
  const batch = intOption(args, 'batch', 16);
  const classes = classesOption(args);
  // Peak bytes depend on shapes only (identical on every backend); a faster backend just finishes sooner.
  const backend = await selectBackend((args.options.backend ?? 'auto') as BackendName | 'auto', (p) => import(p));
  print(
    `backend: ${backend.backend}${backend.attempts
      .filter((a) => !a.ok)
      .map((a) => ` (skipped ${a.backend}: ${a.reason})`)
      .join('')}`,
  );
  print(`kernels: ${describeKernels(enableFastKernels(backend.active))}`);
  print(
    `memory protocol: peak bytes of live tfjs data buffers (views counted once) during one steady-state training step (AdamW, clipping), batch ${batch}`,
  );
  const fpt = await methodStepMemory(vitB16Hf384(), fptPlus(), batch, classes);
  print(
    `FPT+ step (ViT-B/16 LPM at 512, side ViT at 128, cached keys/values; measured): ${MiB(fpt.peakBytes)} (frozen LPM weights, ${MiB(fpt.excludedBytes)}, excluded: training from the cache never reads them)`,
  );
  print('full fine-tuning of ViT-B/16 at 512: fitting the memory model on real steps');
  const full = await estimateFullFinetuneMemory(vitB16Hf384(), 512, batch, print);
  const v = full.validation;
  print(
    `  validation (held out): width ${v.sample.width}, depth ${v.sample.depth}, batch ${v.sample.batch}: predicted ${MiB(v.predictedBytes)}, measured ${MiB(v.sample.peakBytes)}, error ${(100 * v.relativeError).toFixed(2)} %`,
  );
  print(
    `full fine-tuning step (ViT-B/16 at 512; extrapolated): ${MiB(full.peakBytes)} (${full.bytesPerParam.toFixed(1)} bytes per parameter)`,
  );
  print(`FPT+ / full fine-tuning: ${((100 * fpt.peakBytes) / full.peakBytes).toFixed(2)} %`);
  return 0;
}
