import { vitConfig } from '@fpt/backbone-vit';
import { backendBanner, setUpBackend } from '../backend/setup';
import { predictFromFit } from '../memory/extrapolate';
import { budgetLine, paperShapeMemory, stepMemoryBudget } from '../memory/paper';
import { PAPER_METHODS, PAPER_SHAPES, vitB16At512 } from '../paper/paper';
import { guardMemory } from '../memory/guard';
import { methodStepMemory } from '../memory/steps';
import { makeMethod } from './methods';
import type { PaperShapeMemoryRecord } from '../memory/records';
import { methodSets, parseMethods } from './run';
import { classesOption, intOption, parseArgs, sizeOption } from './args';

const MiB = (b: number) => `${(b / 2 ** 20).toLocaleString('en-US', { maximumFractionDigits: 1 })} MiB`;

/** `fpt-bench memory` usage. */
export const MEMORY_USAGE =
  'fpt-bench memory [--methods a,b|paper|all] [--batch 16] [--classes 5] [--backend auto|wasm|cpu|...] [--check LxB,...] [--memory-budget SIZE] [--set method.key=value]...';

/** Parses `--check 12x2,8x2`: extra real steps (layers x batch) to compare with the fit. */
export function parseChecks(raw: string | undefined): Array<{ depth: number; batch: number }> {
  if (raw === undefined) return [];
  return raw.split(',').map((item) => {
    const m = /^([1-9]\d*)x([1-9]\d*)$/.exec(item.trim());
    if (!m) throw new Error(`--check expects layers x batch pairs such as 12x2,8x2, got "${item}"`);
    return { depth: Number(m[1]), batch: Number(m[2]) };
  });
}

/** How a figure was taken, in words. */
export function describeHow(r: PaperShapeMemoryRecord): string {
  const v = r.extrapolation?.validation;
  const check = v
    ? `held-out real step at depth ${v.sample.depth}, batch ${v.sample.batch}: error ${(100 * v.relativeError).toFixed(2)} %`
    : '';
  if (r.how === 'extrapolated') return `extrapolated (${check})`;
  if (!r.extrapolation) return 'real step';
  const e = (r.extrapolation.predictedBytes - r.peakBytes) / r.peakBytes;
  return `real step (the extrapolation predicted it within ${(100 * e).toFixed(2)} %; ${check})`;
}

/**
 * `fpt-bench memory`: peak live-buffer memory of one training step of each method at the paper's
 * shapes (ViT-B/16 LPM at 512, batch 16): a real step where it fits in the backend's memory, else
 * extrapolated from real steps on shallower copies of the LPM and checked on a held-out real step.
 * The same protocol and figures as the runner's paper-shape memory column.
 * @returns the exit code
 */
export async function memoryCommand(argv: string[], print: (line: string) => void = console.log): Promise<number> {
  const args = parseArgs(argv, ['methods', 'batch', 'classes', 'backend', 'check', 'memory-budget']);
  const checks = parseChecks(args.options.check);
  if (args.positional.length)
    throw new Error(`fpt-bench memory takes no positional arguments (got ${args.positional.join(' ')})\nusage: ${MEMORY_USAGE}`);
  const methods = parseMethods(args.options.methods, [...PAPER_METHODS]);
  const sets = methodSets(args.sets, methods);
  const batch = intOption(args, 'batch', PAPER_SHAPES.batch);
  const numClasses = classesOption(args, PAPER_SHAPES.numClasses);
  const shapes = vitB16At512(batch, numClasses);
  // Peak bytes depend on shapes only; a faster backend just finishes sooner, a capped one (WASM) extrapolates more.
  const backend = await setUpBackend(args.options.backend);
  for (const line of backendBanner(backend)) print(line);
  const override = sizeOption(args, 'memory-budget');
  const budgetBytes = stepMemoryBudget(backend.heapLimitBytes, override);
  print(budgetLine(backend.backend, budgetBytes, override !== undefined));
  print(
    `memory protocol: peak bytes of live tfjs data buffers (views counted once) during one steady-state training step (AdamW, clipping) at ${shapes.label}; a real step where the extrapolation predicts at most ${MiB(budgetBytes)}, else the extrapolation`,
  );
  const order = methods.includes('full') ? ['full', ...methods.filter((m) => m !== 'full')] : methods;
  const figures = new Map<string, PaperShapeMemoryRecord>();
  for (const method of order) {
    print(`${method}:`);
    const options = sets[method] ?? {};
    const make = () => makeMethod(method, options, shapes.imageSize);
    const r = await paperShapeMemory(make, { options, budgetBytes, backend: backend.backend, shapes, log: print });
    figures.set(method, r);
    const excluded = r.excludedBytes
      ? `; frozen LPM weights, ${MiB(r.excludedBytes)}, excluded: training from the cache never reads them`
      : '';
    print(`${method} step: ${MiB(r.peakBytes)}, ${describeHow(r)}${excluded} (${r.seconds.toFixed(0)} s)`);
    // Further real steps, not used by the fit, against its prediction.
    const fitted = r.extrapolation;
    if (!fitted?.coefficients) continue;
    for (const { depth, batch: b } of checks) {
      const m = await guardMemory(`the check step (${depth} layers, batch ${b}) at ${shapes.label}`, budgetBytes, () =>
        methodStepMemory(vitConfig({ ...shapes.lpm, numLayers: depth }), make(), b, numClasses, shapes.imageSize),
      );
      const predicted = predictFromFit(fitted, depth, b);
      print(
        `  check: ${depth} layers, batch ${b}: measured ${MiB(m.peakBytes)}, predicted ${MiB(predicted)}, error ${((100 * (predicted - m.peakBytes)) / m.peakBytes).toFixed(3)} %`,
      );
    }
  }
  const full = figures.get('full');
  print('');
  print(`| method | memory MiB (${shapes.label}) | % of full fine-tuning | how |`);
  print('|---|---|---|---|');
  for (const [method, r] of figures) {
    const share = full ? ((100 * r.peakBytes) / full.peakBytes).toFixed(2) : 'n/a';
    print(`| ${method} | ${(r.peakBytes / 2 ** 20).toFixed(1)} | ${share} | ${describeHow(r)} |`);
  }
  return 0;
}
