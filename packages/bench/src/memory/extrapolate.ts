import { vitConfig, type Method, type VitConfig } from '@fpt/backbone-vit';
import { methodStepMemory, methodTrainsFromInputs } from './steps';

// A training step at shapes too large to run is extrapolated from real steps of the same method
// on shallower copies of the same backbone, at the same width, resolution and token count, with
// small batches. Every layer of a ViT is the same computation on the same shapes, and every image
// of a batch is independent, so the peak of live buffers is bilinear in depth L and batch B:
//   peak = constant + perLayer * L + perImage * B + perImageLayer * B * L
// (perLayer: the layer's weights and, for what trains, its gradients and AdamW moments;
// perImageLayer: the activations a layer saves for the backward pass; perImage: the transient
// buffers of one layer's backward pass and the embeddings). That holds for each phase of the step
// on its own, the forward pass, the backward pass and the update, and each phase is fitted apart:
// the step's peak is the largest of the three, and which one is largest can change with depth and
// batch (a block frees its temporaries as it goes, so at the end of the forward pass only the
// saved activations remain, while the first block's backward pass holds its attention's gradients
// besides them; the update holds weights, moments and gradients, with no activations, and was the
// peak of full fine-tuning at 12 layers and batch 1, 58 MiB above the backward pass's). Depth 1 is left out of the fit: with a
// single layer the peak falls at another moment of some methods' steps (LoRA, adapters). The fit
// is exact on its four steps and is checked on a held-out real step: the target's own depth at
// batch 1 where the fit says that fits the budget (depth is the dimension extrapolated furthest,
// and full fine-tuning of ViT-B drifts from the line by about 0.6 % from 11 layers on), otherwise
// 4 layers at batch 3. A target of at most 4 layers is cheap to run at its own depth, and so is any
// target for a method that trains from precomputed inputs (FPT+, FPT: its step never runs the LPM,
// and its configuration may name the LPM's layers, which a shallower copy lacks): the fit is then
// linear in the batch alone: steps at batch 2 and 3 of the target, held out at batch 4 (with one
// image the peak falls at another moment of some steps, as with one layer above).

/** Depths and batches of the fitted steps, and the held-out step when the target's depth does not fit. */
const FIT_DEPTHS = [2, 3];
const FIT_BATCHES = [1, 2];
const HELD_OUT = { depth: 4, batch: 3 };
/** Batches of the fitted steps when the fit is made at the target's own depth (held out at the next batch). */
const OWN_DEPTH_BATCHES = [2, 3] as const;

/** One real step of the method on a depth variant of the target. */
export interface DepthSample {
  /** Layers of the variant. */
  depth: number;
  /** Images per step. */
  batch: number;
  /** Measured peak bytes (the method's own figure: excluded weights are not in it). */
  peakBytes: number;
  /** The same per phase of the step (forward; backward; update), when the step marked them. */
  phasePeakBytes?: number[];
}

/** The bilinear model's coefficients, bytes. */
export interface StepMemoryCoefficients {
  /** Independent of depth and batch. */
  constant: number;
  /** Per layer. */
  perLayer: number;
  /** Per image. */
  perImage: number;
  /** Per image and layer. */
  perImageLayer: number;
}

/**
 * The bilinear model's prediction of a step's peak bytes.
 * @param c - the fitted coefficients
 * @param depth - layers
 * @param batch - images per step
 */
export function predictStepMemory(c: StepMemoryCoefficients, depth: number, batch: number): number {
  return c.constant + c.perLayer * depth + c.perImage * batch + c.perImageLayer * depth * batch;
}

/**
 * A fit's prediction at another batch (the fit itself does not depend on the batch).
 * @param ex - the fit
 * @param depth - the LPM's layers
 * @param batch - images per step
 */
export function atBatch(ex: StepMemoryExtrapolation, depth: number, batch: number): StepMemoryExtrapolation {
  return { ...ex, predictedBytes: predictFromFit(ex, depth, batch) };
}

/**
 * A fit's prediction of a step's peak bytes: the largest of its phases' models where it has them
 * (fits kept by older versions have the step's model alone).
 * @param ex - the fit
 * @param depth - layers
 * @param batch - images per step
 */
export function predictFromFit(
  ex: Pick<StepMemoryExtrapolation, 'coefficients' | 'phaseCoefficients'>,
  depth: number,
  batch: number,
): number {
  if (!ex.phaseCoefficients?.length) return predictStepMemory(ex.coefficients, depth, batch);
  return Math.max(...ex.phaseCoefficients.map((c) => predictStepMemory(c, depth, batch)));
}

/** A step's peak memory extrapolated from real steps, with its held-out check. */
export interface StepMemoryExtrapolation {
  /** Predicted peak bytes at the target depth and batch. */
  predictedBytes: number;
  /** The real steps the fit used. */
  samples: DepthSample[];
  /** The fitted model of the step's peak (kept for reading; predictions use the phases' models where there are). */
  coefficients: StepMemoryCoefficients;
  /** One fitted model per phase of the step (forward; backward; update): the prediction is their largest. */
  phaseCoefficients?: StepMemoryCoefficients[];
  /** A real step not used by the fit, and the model's prediction of it. */
  validation: { sample: DepthSample; predictedBytes: number; relativeError: number };
}

/** Options of {@link extrapolateStepMemory}. */
export interface ExtrapolateOptions {
  /** Side of the input image (the token count follows from it and the patch size). */
  imageSize: number;
  /** Target batch. */
  batch: number;
  /** Classes of the head. */
  numClasses: number;
  /** Bytes a real step may take (default: unlimited); decides the held-out step. */
  budgetBytes?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

/**
 * Least squares by the normal equations (small, well-conditioned systems).
 * @param rows - one feature row per observation, all of one length
 * @param y - the observations, one per row
 * @returns the coefficients, one per feature (a tuple of the rows' length when they are tuples)
 * @throws when there are no rows, the rows differ in length, or `y` has another length
 */
export function leastSquares<Row extends readonly number[]>(
  rows: readonly Row[],
  y: readonly number[],
): { -readonly [K in keyof Row]: number } {
  const k = rows[0]?.length;
  if (k === undefined) throw new Error('leastSquares: no observations');
  if (y.length !== rows.length) throw new Error(`leastSquares: ${rows.length} rows but ${y.length} observations`);
  for (const [t, r] of rows.entries())
    if (r.length !== k) throw new Error(`leastSquares: row ${t} has ${r.length} features, expected ${k} as row 0`);
  // From here every index is in range by construction: rows are k wide, y matches them, a is k x (k + 1).
  const a = Array.from({ length: k }, (_, i) =>
    Array.from({ length: k + 1 }, (_, j) =>
      j < k ? rows.reduce((s, r) => s + r[i]! * r[j]!, 0) : rows.reduce((s, r, t) => s + r[i]! * y[t]!, 0),
    ),
  );
  const at = (r: number) => a[r]!;
  for (let c = 0; c < k; c++) {
    let p = c;
    for (let r = c + 1; r < k; r++) if (Math.abs(at(r)[c]!) > Math.abs(at(p)[c]!)) p = r;
    [a[c], a[p]] = [at(p), at(c)];
    const pivot = at(c);
    for (let r = 0; r < k; r++) {
      if (r === c) continue;
      const row = at(r);
      const f = row[c]! / pivot[c]!;
      for (let j = c; j <= k; j++) row[j]! -= f * pivot[j]!;
    }
  }
  return a.map((row, i) => row[k]! / row[i]!) as { -readonly [K in keyof Row]: number };
}

/**
 * Peak live-buffer bytes of one training step of a method on `target` at `imageSize` and `batch`,
 * extrapolated from real steps of the method on depth-2 and depth-3 copies of the target (batch 1
 * and 2), and checked on a held-out real step: the target's depth at batch 1 where the fit predicts
 * at most `budgetBytes` for it, else depth 4 at batch 3. A target of at most 4 layers, or a method
 * that trains from precomputed inputs, is fitted at the target's own depth over the batch alone
 * (batches 2 and 3, held out at batch 4).
 * @param target - the backbone architecture (e.g. `vitB16Hf384()`)
 * @param makeMethod - makes the method (a fresh one for each real step)
 * @param options - input size, target batch, classes, budget, progress lines
 */
export async function extrapolateStepMemory(
  target: VitConfig,
  makeMethod: () => Method,
  options: ExtrapolateOptions,
): Promise<StepMemoryExtrapolation> {
  const log = options.log ?? (() => {});
  const measure = async (depth: number, batch: number): Promise<DepthSample> => {
    const variant = vitConfig({ ...target, numLayers: depth });
    const m = await methodStepMemory(variant, makeMethod(), batch, options.numClasses, options.imageSize);
    log(`  real step: depth ${depth}, batch ${batch}, ${options.imageSize}px: peak ${(m.peakBytes / 2 ** 20).toFixed(1)} MiB`);
    return { depth, batch, peakBytes: m.peakBytes, phasePeakBytes: m.phasePeakBytes };
  };
  const shallow = target.numLayers <= HELD_OUT.depth || methodTrainsFromInputs(target, makeMethod(), options.numClasses);
  const samples: DepthSample[] = [];
  for (const depth of shallow ? [target.numLayers] : FIT_DEPTHS)
    for (const batch of shallow ? OWN_DEPTH_BATCHES : FIT_BATCHES) samples.push(await measure(depth, batch));
  const fit = (peaks: number[]): StepMemoryCoefficients => {
    if (shallow) {
      // One depth: peak = constant + perImage * B (the depth terms are folded into these two).
      const [constant, perImage] = leastSquares(
        samples.map((s): [number, number] => [1, s.batch]),
        peaks,
      );
      return { constant, perLayer: 0, perImage, perImageLayer: 0 };
    }
    const [constant, perLayer, perImage, perImageLayer] = leastSquares(
      samples.map((s): [number, number, number, number] => [1, s.depth, s.batch, s.batch * s.depth]),
      peaks,
    );
    return { constant, perLayer, perImage, perImageLayer };
  };
  const coefficients = fit(samples.map((s) => s.peakBytes));
  // Phases are fitted apart when every step had the same ones (a step that marks none has one).
  const phases = samples[0]?.phasePeakBytes?.length ?? 0;
  const phased = phases > 1 && samples.every((s) => s.phasePeakBytes?.length === phases);
  const phaseCoefficients = phased
    ? Array.from({ length: phases }, (_, i) => fit(samples.map((s) => s.phasePeakBytes![i]!))) // length checked above
    : undefined;
  const model = { coefficients, phaseCoefficients };
  const predict = (s: { depth: number; batch: number }) => predictFromFit(model, s.depth, s.batch);
  const atDepth = { depth: target.numLayers, batch: shallow ? OWN_DEPTH_BATCHES[1] + 1 : 1 };
  const heldOut = shallow || predict(atDepth) <= (options.budgetBytes ?? Number.POSITIVE_INFINITY) ? atDepth : HELD_OUT;
  const held = await measure(heldOut.depth, heldOut.batch);
  const predictedHeld = predict(held);
  return {
    predictedBytes: predict({ depth: target.numLayers, batch: options.batch }),
    samples,
    coefficients,
    ...(phaseCoefficients ? { phaseCoefficients } : {}),
    validation: { sample: held, predictedBytes: predictedHeld, relativeError: (predictedHeld - held.peakBytes) / held.peakBytes },
  };
}
