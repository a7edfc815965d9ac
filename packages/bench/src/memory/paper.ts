import { totalmem } from 'node:os';
import { adapt, createVit, type Method, type ParameterCounts, type VitConfig } from '@fpt/backbone-vit';
import { PAPER_SHAPES, type PaperShapes } from '../paper/paper';
import { atBatch, extrapolateStepMemory, type StepMemoryExtrapolation } from './extrapolate';
import { guardMemory } from './guard';
import type { PaperShapeMemoryRecord } from './records';
import { methodStepMemory, unreadWeightBytes } from './steps';

// The paper's memory column, by one protocol for every method: a training step at the paper's
// shapes is a real step where it fits in the backend's memory; otherwise it is extrapolated from
// real steps of the same method on shallower copies of the LPM at the same shapes (see
// extrapolate.ts) and checked on a held-out real step.

/** A held-out error above this is reported as a warning (ViT-B's methods stay within 0.6 %). */
const HELD_OUT_TOLERANCE = 0.01;

/**
 * Bytes a real step may take: `override` (`--memory-budget`) when given, else three quarters of a
 * backend's own cap (WASM's 4 GiB heap also holds the allocator's slack and the caller's tensors),
 * else half of the machine's memory.
 * @param heapLimitBytes - the backend's cap (core's `BackendSelection.heapLimitBytes`), or null
 * @param override - the budget the user set, in bytes
 */
export function stepMemoryBudget(heapLimitBytes: number | null, override?: number): number {
  if (override !== undefined) return override;
  return heapLimitBytes === null ? totalmem() / 2 : 0.75 * heapLimitBytes;
}

/** Backends whose memory is a GPU's, which neither WebGPU nor the host reports to the bench. */
const GPU_BACKENDS: ReadonlySet<string> = new Set(['webgpu', 'tensorflow-gpu']);

/**
 * One line saying how much memory a real step may take and where that figure comes from; on a GPU
 * without `--memory-budget` it says that the figure is the host's and how to give the GPU's.
 * @param backend - the backend's name (core's `BackendSelection.backend`)
 * @param budgetBytes - the budget in use ({@link stepMemoryBudget})
 * @param override - whether it came from `--memory-budget`
 */
export function budgetLine(backend: string, budgetBytes: number, override: boolean): string {
  const gib = `${(budgetBytes / 2 ** 30).toFixed(1)} GiB`;
  if (override) return `memory budget for a real step: ${gib} (--memory-budget)`;
  if (GPU_BACKENDS.has(backend))
    return `memory budget for a real step: ${gib}, half of this host's memory: ${backend} does not report the GPU's memory, so set --memory-budget to it (e.g. --memory-budget 60GiB on an 80 GB GPU)`;
  return `memory budget for a real step: ${gib} (${backend === 'wasm' ? "three quarters of WASM's 4 GiB heap" : "half of this host's memory"}; --memory-budget sets it)`;
}

/** Options of {@link paperShapeMemory}. */
export interface PaperShapeOptions {
  /** The method's `--set` options, recorded with the figure. */
  options: Record<string, string>;
  /** Bytes a real step may take ({@link stepMemoryBudget}). */
  budgetBytes: number;
  /** The backend, recorded with the figure. */
  backend: string;
  /** The shapes (default {@link PAPER_SHAPES}; tests use small ones). */
  shapes?: PaperShapes;
  /** Progress lines. */
  log?: (line: string) => void;
  /** The method's fit at these shapes, when already made (the run's `StepMemoryFits`); else it is made here. */
  fit?: StepMemoryExtrapolation;
}

/**
 * The method attached to a zero-initialised LPM of `lpm`, never run: its parameter counts, and the
 * LPM weights its step never reads (FPT+/FPT train from cached keys and values).
 */
function probe(lpm: VitConfig, method: Method, numClasses: number): { parameters: ParameterCounts; excludedBytes: number } {
  const backbone = createVit(lpm, { init: 'zeros' });
  const model = adapt(backbone, [method], { numClasses });
  try {
    return { parameters: model.counts(), excludedBytes: unreadWeightBytes(model, backbone) };
  } finally {
    model.dispose();
    backbone.dispose();
  }
}

/**
 * Peak memory of one training step of a method at the paper's shapes (or any `shapes`): the fit of
 * real steps on shallower copies of the LPM (or at smaller batches) first; then a real step at the
 * shapes where the fit predicts that it fits in `budgetBytes`, otherwise the fit's prediction. Every
 * method goes through the same check, those that train from cached keys and values included.
 * @param makeMethod - makes the method configured for the LPM at `shapes.imageSize` (a fresh one per real step)
 * @param o - options to record, budget, backend, shapes, progress lines, an existing fit
 */
export async function paperShapeMemory(makeMethod: () => Method, o: PaperShapeOptions): Promise<PaperShapeMemoryRecord> {
  const shapes = o.shapes ?? PAPER_SHAPES;
  const log = o.log ?? (() => {});
  const started = performance.now();
  const { parameters, excludedBytes } = probe(shapes.lpm, makeMethod(), shapes.numClasses);
  const record = (
    step: { peakBytes: number; excludedBytes: number },
    how: PaperShapeMemoryRecord['how'],
    extrapolation: PaperShapeMemoryRecord['extrapolation'],
  ): PaperShapeMemoryRecord => ({
    peakBytes: step.peakBytes,
    excludedBytes: step.excludedBytes,
    how,
    shapes: shapes.label,
    parameters,
    options: o.options,
    budgetBytes: o.budgetBytes,
    extrapolation,
    backend: o.backend,
    seconds: (performance.now() - started) / 1000,
  });
  const fitted =
    o.fit ??
    (await extrapolateStepMemory(shapes.lpm, makeMethod, {
      imageSize: shapes.imageSize,
      batch: shapes.batch,
      numClasses: shapes.numClasses,
      budgetBytes: o.budgetBytes,
      log,
    }));
  const ex = atBatch(fitted, shapes.lpm.numLayers, shapes.batch);
  const v = ex.validation;
  log(
    `  held out: depth ${v.sample.depth}, batch ${v.sample.batch}: predicted ${(v.predictedBytes / 2 ** 20).toFixed(1)} MiB, measured ${(v.sample.peakBytes / 2 ** 20).toFixed(1)} MiB (error ${(100 * v.relativeError).toFixed(3)} %)`,
  );
  if (Math.abs(v.relativeError) > HELD_OUT_TOLERANCE)
    log(
      `  warning: the held-out error is above ${100 * HELD_OUT_TOLERANCE} %: the depth x batch model does not describe this method's step well; its figure is recorded with that error`,
    );
  if (ex.predictedBytes <= o.budgetBytes) {
    log(`  predicted ${(ex.predictedBytes / 2 ** 20).toFixed(1)} MiB fits the budget: real step at ${shapes.label}`);
    const step = await guardMemory(`a real training step at ${shapes.label}`, o.budgetBytes, () =>
      methodStepMemory(shapes.lpm, makeMethod(), shapes.batch, shapes.numClasses, shapes.imageSize),
    );
    return record(step, 'measured', ex);
  }
  log(
    `  predicted ${(ex.predictedBytes / 2 ** 20).toFixed(1)} MiB exceeds the budget of ${(o.budgetBytes / 2 ** 20).toFixed(0)} MiB: extrapolated`,
  );
  return record({ peakBytes: ex.predictedBytes, excludedBytes }, 'extrapolated', ex);
}
