import { parameterReport } from '@fpt/core';
import type { FptModel } from './model';

/** Parameter accounting of an {@link FptModel}. */
export interface FptParameterCounts {
  /** Fusion module parameters. */
  fusion: number;
  /** Side network parameters (classifier included). */
  side: number;
  /** fusion + side. */
  learnable: number;
  /** The frozen LPM's parameters (its own head included, as in DESIGN.md §3). */
  lpm: number;
  /** lpm + learnable. */
  total: number;
  /** learnable / total in percent. */
  sharePercent: number;
}

/**
 * Counts the parameters of the built model (not from a formula). For FPT+ with C = 5 on the HF
 * ViT-B/16 LPM: learnable 900,965 of 87,760,461 (1.0266 %).
 */
export function fptParameterCounts(model: FptModel): FptParameterCounts {
  const fusion = parameterReport(model.fusion).total;
  const side = parameterReport(model.side).total;
  const lpm = parameterReport(model.lpm).total;
  const learnable = fusion + side;
  return { fusion, side, learnable, lpm, total: lpm + learnable, sharePercent: (100 * learnable) / (lpm + learnable) };
}
