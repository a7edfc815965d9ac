import { parameterReport } from '@fpt/core';
import { adapt, createVit, vitConfig, type Method, type VitConfig } from '@fpt/backbone-vit';
import { leastSquares } from './extrapolate';
import { fullFinetuneStepMemory, methodStepMemory, parameterSplit } from './steps';

// Any method's training step at shapes too large to run, with `fpt-bench memory`'s protocol for
// full fine-tuning extended to every method. The model of tfjs's live bytes:
//   peak = kF Pf  +  kL Pl  +  c  +  B (f + e D)  +  B L (g + a D)
// Pl learnable parameters (weights, gradients, AdamW's two moments and the update's temporaries:
// kL bytes, measured on full fine-tuning at the target's width, where parameters dominate), Pf
// frozen ones (kF bytes: 4 for the weight, plus 4 where back-propagation crosses them, since
// tfjs's tape computes the gradient of every input of a recorded op and holds it to the end of the
// backward pass; measured per method the same way, at the target's width on two tokens), B batch, L depth, D width; the activation terms are fitted per
// method on real steps of narrow, shallow variants of the target at the target's token count (the
// method attaches to each variant), and checked on a held-out real step.

/** One real step of a method on a variant of the target. */
export interface MethodMemorySample {
  /** Width. */
  width: number;
  /** Depth. */
  depth: number;
  /** Batch. */
  batch: number;
  /** Learnable parameters. */
  learnableParams: number;
  /** Frozen parameters live during the step. */
  frozenParams: number;
  /** Measured peak bytes. */
  peakBytes: number;
}

/** The fitted model of one method and how well it predicted a held-out real step. */
export interface StepMemoryEstimate {
  /** Predicted peak bytes at the target shape. */
  peakBytes: number;
  /** Bytes per learnable parameter (from full fine-tuning at the target's width). */
  bytesPerLearnable: number;
  /** Bytes per frozen parameter (4 for the weight, up to 8 where back-propagation crosses it). */
  bytesPerFrozen: number;
  /** Every real step the activation fit used. */
  samples: MethodMemorySample[];
  /** A real step not used by the fit, and the model's prediction of it. */
  validation: { sample: MethodMemorySample; predictedBytes: number; relativeError: number };
}

/** Options of {@link estimateStepMemory}. */
export interface EstimateOptions {
  /** Classes of the head (default 5). */
  numClasses?: number;
  /** Bytes per learnable parameter, when already measured for this target (see {@link learnableBytesPerParam}). */
  bytesPerLearnable?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

const FROZEN_BYTES = 4;
// Widths of the fit and of the held-out step, in heads: head dimensions 2 to 8, then 16. (At head
// dimension 1, methods with a fixed inner size, LoRA's rank or an adapter's bottleneck, put
// their peak at another moment of the step and bias the fit.)
const FIT_WIDTHS = [2, 4, 8];
const HELD_WIDTH = 16;

function variant(target: VitConfig, width: number, depth: number): VitConfig {
  return vitConfig({ ...target, hiddenSize: width, mlpDim: 4 * width, numLayers: depth });
}

/**
 * Bytes one learnable parameter costs in a training step (weight, gradient, AdamW's two moments
 * and the update's temporaries): two real full fine-tuning steps at the target's width, depth 1
 * and 2, on two tokens, where parameters dominate (the same measurement `fpt-bench memory` uses).
 * @param target - the architecture
 * @param log - progress lines
 */
export async function learnableBytesPerParam(target: VitConfig, log: (line: string) => void = () => {}): Promise<number> {
  // The same two steps estimateFullFinetuneMemory starts with.
  const count = (c: VitConfig) => {
    const vit = createVit(c, { init: 'zeros' });
    const n = parameterReport(vit).total;
    vit.dispose();
    return n;
  };
  const at = async (depth: number) => {
    const c = variant(target, target.hiddenSize, depth);
    const m = await fullFinetuneStepMemory(c, target.patchSize, 1);
    log(`  real step: full fine-tuning, width ${target.hiddenSize}, depth ${depth}, batch 1, 2 tokens: peak ${(m.peakBytes / 2 ** 20).toFixed(1)} MiB`);
    return { bytes: m.peakBytes, params: count(c) };
  };
  const p1 = await at(1);
  const p2 = await at(2);
  return (p2.bytes - p1.bytes) / (p2.params - p1.params);
}

/**
 * Estimates the peak memory of one training step of a method on `target` at `imageSize` and
 * `batch`, from real steps of the method on narrow, shallow variants of the target at the same
 * token count, validated on a held-out real step.
 * @param target - the backbone architecture (e.g. `vitB16Hf384()`)
 * @param makeMethod - makes the method (a fresh one is attached to each variant)
 * @param imageSize - the backbone's input resolution (e.g. 512)
 * @param batch - batch size (e.g. 16)
 * @param options - classes, a known bytes-per-learnable-parameter, progress lines
 */
export async function estimateStepMemory(target: VitConfig, makeMethod: () => Method, imageSize: number, batch: number, options: EstimateOptions = {}): Promise<StepMemoryEstimate> {
  const log = options.log ?? (() => {});
  const numClasses = options.numClasses ?? 5;
  const bytesPerLearnable = options.bytesPerLearnable ?? (await learnableBytesPerParam(target, log));
  const measure = async (width: number, depth: number, b: number): Promise<MethodMemorySample> => {
    const m = await methodStepMemory(variant(target, width, depth), makeMethod(), b, numClasses, imageSize);
    const s = { width, depth, batch: b, learnableParams: m.learnableParams ?? 0, frozenParams: m.frozenParams ?? 0, peakBytes: m.peakBytes };
    log(`  real step: width ${width}, depth ${depth}, batch ${b}, ${imageSize}px: peak ${(s.peakBytes / 2 ** 20).toFixed(1)} MiB`);
    return s;
  };
  const bytesPerFrozen = await frozenBytesPerParam(target, makeMethod, bytesPerLearnable, numClasses, log);
  const paramBytes = (s: { learnableParams: number; frozenParams: number }) => bytesPerLearnable * s.learnableParams + bytesPerFrozen * s.frozenParams;
  const fit: MethodMemorySample[] = [];
  for (const width of FIT_WIDTHS.map((k) => k * target.numHeads)) {
    for (const depth of [1, 2]) for (const b of [1, 2]) fit.push(await measure(width, depth, b));
  }
  const features = (s: { width: number; depth: number; batch: number }) => [1, s.batch, s.batch * s.width, s.batch * s.depth, s.batch * s.depth * s.width];
  const coef = leastSquares(fit.map(features), fit.map((s) => s.peakBytes - paramBytes(s)));
  const predict = (s: { width: number; depth: number; batch: number; learnableParams: number; frozenParams: number }) =>
    paramBytes(s) + features(s).reduce((acc, f, i) => acc + f * coef[i], 0);
  const held = await measure(HELD_WIDTH * target.numHeads, 3, 2);
  const predictedHeld = predict(held);
  // The target's parameter counts: attach the method to the target itself without running it.
  const counts = targetParams(target, makeMethod, numClasses);
  return {
    peakBytes: predict({ width: target.hiddenSize, depth: target.numLayers, batch, ...counts }),
    bytesPerLearnable,
    bytesPerFrozen,
    samples: fit,
    validation: { sample: held, predictedBytes: predictedHeld, relativeError: (predictedHeld - held.peakBytes) / held.peakBytes },
  };
}

/**
 * Bytes one frozen parameter costs in the method's step: two real steps of the method at the
 * target's width, depth 1 and 2, on two tokens; what the extra layer's learnable parameters cost is
 * known. A method that adds (almost) no frozen parameters per layer gets the weight's 4 bytes.
 */
async function frozenBytesPerParam(target: VitConfig, makeMethod: () => Method, bytesPerLearnable: number, numClasses: number, log: (line: string) => void): Promise<number> {
  const at = async (depth: number) => {
    const m = await methodStepMemory(variant(target, target.hiddenSize, depth), makeMethod(), 1, numClasses, target.patchSize);
    log(`  real step: width ${target.hiddenSize}, depth ${depth}, batch 1, 2 tokens: peak ${(m.peakBytes / 2 ** 20).toFixed(1)} MiB`);
    return m;
  };
  const p1 = await at(1);
  const p2 = await at(2);
  const dFrozen = (p2.frozenParams ?? 0) - (p1.frozenParams ?? 0);
  const dLearnable = (p2.learnableParams ?? 0) - (p1.learnableParams ?? 0);
  if (dFrozen < 0.05 * Math.max(dLearnable, 1)) return FROZEN_BYTES;
  return (p2.peakBytes - p1.peakBytes - bytesPerLearnable * dLearnable) / dFrozen;
}

/** Learnable and frozen parameters of the method on the target (zero-initialised, never run). */
function targetParams(target: VitConfig, makeMethod: () => Method, numClasses: number): { learnableParams: number; frozenParams: number } {
  const backbone = createVit(target, { init: 'zeros' });
  const model = adapt(backbone, [makeMethod()], { numClasses });
  try {
    const { learnableParams, frozenParams } = parameterSplit(backbone, model);
    return { learnableParams, frozenParams };
  } finally {
    model.dispose();
    backbone.dispose();
  }
}
