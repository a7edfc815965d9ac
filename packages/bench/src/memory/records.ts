// The memory records that result files, checkpoints and the measurement files of a results folder
// hold, and their checks: what a step-memory figure is, wherever it is written.
import type { ParameterCounts } from '@fpt/backbone-vit';
import type { JsonChecker } from '../files/check';
import type { StepMemoryExtrapolation } from './extrapolate';

/** Peak live-tensor memory of one training step (core `measureStep`). */
export interface StepMemoryRecord {
  /** Peak bytes during the step of the whole batch, minus `excludedBytes`. */
  peakBytes: number;
  /** Frozen weights live during the step but never read by it (FPT on cached keys/values: the LPM). */
  excludedBytes: number;
  /**
   * `measured`: a real step at the whole batch; `extrapolated`: the step did not fit the backend's
   * memory budget (or the run accumulated micro-batches), and the figure is the prediction of the
   * fit of real steps of the same method on shallower copies of the LPM or at smaller batches
   * (`extrapolation`).
   */
  how: 'measured' | 'extrapolated';
  /** The fit and its held-out check, when one was made. */
  extrapolation?: StepMemoryExtrapolation | null;
  /**
   * Images per micro-batch when the run accumulated gradients (the figure above is still the whole
   * batch's, as the paper reports it), with the measured peak of the accumulated step.
   */
  microBatch?: { size: number; measuredPeakBytes: number };
}

/**
 * Peak memory of one training step at the paper's shapes (the LPM ViT-B/16 at 512x512, batch 16):
 * a real step where it fits in the backend's memory, otherwise extrapolated from real steps of the
 * same method on shallower copies of the LPM at the same shapes and checked on a held-out real
 * step (`extrapolation`; kept beside a real step as a cross-check when one ran).
 */
export interface PaperShapeMemoryRecord {
  /** Peak bytes of live data buffers during the step, minus `excludedBytes`. */
  peakBytes: number;
  /** Frozen weights live during the step but never read by it (FPT on cached keys/values: the LPM). */
  excludedBytes: number;
  /** `measured`: a real step at the paper's shapes; `extrapolated`: the fitted model's prediction. */
  how: 'measured' | 'extrapolated';
  /** The shapes, in words (LPM, resolution, batch, classes). */
  shapes: string;
  /** The method's parameters on the paper's LPM (learnable, total learnable and frozen as in [parameter counts](../../../../docs/method.md#parameter-counts), share in percent). */
  parameters: ParameterCounts;
  /** The method's `--set` options at these shapes (the preset's shrinking is not applied). */
  options: Record<string, string>;
  /** A real step at the paper's shapes was run only when the extrapolation predicted at most this many bytes. */
  budgetBytes: number;
  /** The fit and its held-out check; null when the method's step was measured directly (FPT+/FPT train from cached inputs). */
  extrapolation: StepMemoryExtrapolation | null;
  /** Backend the real steps ran on. */
  backend: string;
  /** Wall-clock seconds the measurement took. */
  seconds: number;
}

/** Checks one fitted bilinear model: every coefficient a finite number, named under `key`. */
function checkCoefficients(c: JsonChecker, value: unknown, key: string): void {
  const co = c.obj(value, key);
  for (const k of ['constant', 'perLayer', 'perImage', 'perImageLayer']) c.finite(co[k], `${key}.${k}`);
}

/**
 * Checks a {@link StepMemoryExtrapolation} (a fit of step memory), naming `key` on failure.
 * @returns the fit
 */
export function checkExtrapolation(c: JsonChecker, value: unknown, key: string): StepMemoryExtrapolation {
  const ex = c.obj(value, key);
  c.size(ex.predictedBytes, `${key}.predictedBytes`);
  if (ex.coefficients !== undefined) checkCoefficients(c, ex.coefficients, `${key}.coefficients`);
  if (ex.phaseCoefficients !== undefined) {
    if (!Array.isArray(ex.phaseCoefficients)) c.fail(`${key}.phaseCoefficients`, 'must be a list of fitted models, one per phase');
    (ex.phaseCoefficients as unknown[]).forEach((p, i) => checkCoefficients(c, p, `${key}.phaseCoefficients[${i}]`));
  }
  if (ex.samples !== undefined) {
    if (!Array.isArray(ex.samples)) c.fail(`${key}.samples`, 'must be a list of real steps');
    (ex.samples as unknown[]).forEach((s, i) => c.size(c.obj(s, `${key}.samples[${i}]`).peakBytes, `${key}.samples[${i}].peakBytes`));
  }
  return ex as unknown as StepMemoryExtrapolation;
}

/**
 * Checks a step-memory fit kept for planning (`memory-fits.json`): {@link checkExtrapolation} with
 * the coefficients required, since every prediction is made from them.
 * @returns the fit
 */
export function checkStepMemoryFit(c: JsonChecker, value: unknown, key: string): StepMemoryExtrapolation {
  const ex = checkExtrapolation(c, value, key);
  c.obj(ex.coefficients, `${key}.coefficients`);
  return ex;
}

/** Checks the optional `extrapolation` of a memory record: required when `how` is `extrapolated`. */
function checkRecordExtrapolation(c: JsonChecker, rec: Record<string, unknown>, how: string, key: string): void {
  if (how === 'extrapolated' || (rec.extrapolation !== null && rec.extrapolation !== undefined))
    checkExtrapolation(c, rec.extrapolation, `${key}.extrapolation`);
}

/**
 * Checks a {@link StepMemoryRecord} (byte counts, `how`, the fit when extrapolated), naming `key` on failure.
 * @returns the record
 */
export function checkStepMemory(c: JsonChecker, value: unknown, key: string): StepMemoryRecord {
  const rec = c.obj(value, key);
  c.size(rec.peakBytes, `${key}.peakBytes`);
  c.size(rec.excludedBytes, `${key}.excludedBytes`);
  checkRecordExtrapolation(c, rec, c.oneOf(rec.how, `${key}.how`, ['measured', 'extrapolated']), key);
  return rec as unknown as StepMemoryRecord;
}

/**
 * Checks a {@link PaperShapeMemoryRecord}, naming `key` on failure.
 * @returns the record
 */
export function checkPaperShapeMemory(c: JsonChecker, value: unknown, key: string): PaperShapeMemoryRecord {
  const rec = c.obj(value, key);
  c.size(rec.peakBytes, `${key}.peakBytes`);
  c.size(rec.excludedBytes, `${key}.excludedBytes`);
  const how = c.oneOf(rec.how, `${key}.how`, ['measured', 'extrapolated']);
  const params = c.obj(rec.parameters, `${key}.parameters`);
  for (const k of ['learnable', 'total', 'sharePercent']) c.size(params[k], `${key}.parameters.${k}`);
  checkRecordExtrapolation(c, rec, how, key);
  return rec as unknown as PaperShapeMemoryRecord;
}
