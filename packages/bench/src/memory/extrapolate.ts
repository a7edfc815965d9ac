import { parameterReport } from '@fpt/core';
import { createVit, vitConfig, type VitConfig } from '@fpt/backbone-vit';
import { fullFinetuneStepMemory } from './steps';

// Full fine-tuning of ViT-B at 512 with batch 16 needs far more memory than these machines have,
// on any backend. Its peak depends on shapes only, so it is extrapolated from real steps at shapes
// that are cheap to run, with a model of how tfjs's live bytes grow:
//   peak = kP * P  +  c  +  B * (f + e * D)  +  B * L * (g + a * D)
// P parameters (weights, gradients, AdamW moments scale with it), B batch, L depth, D width (MLP
// 4 D); per image and layer, g holds the attention-probability terms (heads x N^2, independent of
// D) and a * D the token-sized ones (N x D). Token count N and heads H are those of the target.

/** One real measurement used by the fit. */
export interface MemorySample {
  /** Width. */
  width: number;
  /** Depth. */
  depth: number;
  /** Batch. */
  batch: number;
  /** Parameters of the model. */
  params: number;
  /** Measured peak bytes. */
  peakBytes: number;
}

/** The fitted model and how well it predicted a held-out real step. */
export interface FullFinetuneEstimate {
  /** Predicted peak bytes at the target shape. */
  peakBytes: number;
  /** Bytes per parameter (weights, gradients, moments, update temporaries). */
  bytesPerParam: number;
  /** Every real step the fit used. */
  samples: MemorySample[];
  /** A real step not used by the fit, and the model's prediction of it. */
  validation: { sample: MemorySample; predictedBytes: number; relativeError: number };
}

function config(target: VitConfig, width: number, depth: number): VitConfig {
  return vitConfig({ ...target, hiddenSize: width, mlpDim: 4 * width, numLayers: depth });
}

function params(c: VitConfig): number {
  const vit = createVit(c, { init: 'zeros' });
  const n = parameterReport(vit).total;
  vit.dispose();
  return n;
}

/** Least squares by the normal equations (small, well-conditioned systems). */
export function leastSquares(rows: number[][], y: number[]): number[] {
  const k = rows[0].length;
  const a = Array.from({ length: k }, (_, i) =>
    Array.from({ length: k + 1 }, (_, j) =>
      j < k ? rows.reduce((s, r) => s + r[i] * r[j], 0) : rows.reduce((s, r, t) => s + r[i] * y[t], 0),
    ),
  );
  for (let c = 0; c < k; c++) {
    let p = c;
    for (let r = c + 1; r < k; r++) if (Math.abs(a[r][c]) > Math.abs(a[p][c])) p = r;
    [a[c], a[p]] = [a[p], a[c]];
    for (let r = 0; r < k; r++) {
      if (r === c) continue;
      const f = a[r][c] / a[c][c];
      for (let j = c; j <= k; j++) a[r][j] -= f * a[c][j];
    }
  }
  return a.map((row, i) => row[k] / row[i]);
}

/**
 * Estimates the peak memory of a full fine-tuning step of `target` at `imageSize` and `batch`.
 * @param target - the architecture (e.g. `vitB16Hf384()`)
 * @param imageSize - input resolution (e.g. 512)
 * @param batch - batch size (e.g. 16)
 * @param log - progress lines
 */
export async function estimateFullFinetuneMemory(
  target: VitConfig,
  imageSize: number,
  batch: number,
  log: (line: string) => void = () => {},
): Promise<FullFinetuneEstimate> {
  const measure = async (width: number, depth: number, b: number, size = imageSize): Promise<MemorySample> => {
    const c = config(target, width, depth);
    const m = await fullFinetuneStepMemory(c, size, b);
    const s = { width, depth, batch: b, params: params(c), peakBytes: m.peakBytes };
    log(`  real step: width ${width}, depth ${depth}, batch ${b}, ${size}px: peak ${(s.peakBytes / 2 ** 20).toFixed(1)} MiB`);
    return s;
  };
  // Bytes per parameter: the target's width with two tokens, where parameters dominate.
  const tiny = target.patchSize; // one patch + CLS
  const p1 = await measure(target.hiddenSize, 1, 1, tiny);
  const p2 = await measure(target.hiddenSize, 2, 1, tiny);
  const bytesPerParam = (p2.peakBytes - p1.peakBytes) / (p2.params - p1.params);
  // Activations at the target's token count, narrow widths.
  const samples: MemorySample[] = [p1, p2];
  const fit: MemorySample[] = [];
  for (const width of [target.numHeads, 2 * target.numHeads, 4 * target.numHeads]) {
    for (const depth of [1, 2]) for (const b of [1, 2]) fit.push(await measure(width, depth, b));
  }
  samples.push(...fit);
  const features = (s: { width: number; depth: number; batch: number }) => [
    1,
    s.batch,
    s.batch * s.width,
    s.batch * s.depth,
    s.batch * s.depth * s.width,
  ];
  const coef = leastSquares(
    fit.map(features),
    fit.map((s) => s.peakBytes - bytesPerParam * s.params),
  );
  const predict = (s: { width: number; depth: number; batch: number; params: number }) =>
    bytesPerParam * s.params + features(s).reduce((acc, f, i) => acc + f * coef[i], 0);
  const held = await measure(8 * target.numHeads, 3, 2);
  const predictedHeld = predict(held);
  const full = { width: target.hiddenSize, depth: target.numLayers, batch, params: params(target) };
  return {
    peakBytes: predict(full),
    bytesPerParam,
    samples,
    validation: { sample: held, predictedBytes: predictedHeld, relativeError: (predictedHeld - held.peakBytes) / held.peakBytes },
  };
}
