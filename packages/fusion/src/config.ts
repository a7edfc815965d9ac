import { fptPlusFusion, fptV1Fusion, type FusionVariant } from './variant';

/** Configuration of a {@link FusionModule}; see the [fusion module](../../../docs/method.md#fusion-module) and [FPT v1](../../../docs/method.md#fpt-v1). */
export interface FusionConfig {
  /** The design: {@link fptPlusFusion} (LayerNorm on prompts as queries, residual before the projection) or {@link fptV1Fusion}. */
  variant: FusionVariant;
  /** Number of fused LPM layers L (one prompt set and attention per layer, stacked). */
  layers: number;
  /** Prompts per layer M. */
  prompts: number;
  /** The LPM width (keys and values are LPM-wide). */
  lpmDim: number;
  /** LPM attention heads (the queries are split like the LPM's keys). */
  lpmHeads: number;
  /** Side-network width (the fused prompts' width). */
  sideDim: number;
  /** Dropout on the fused prompts during training (FPT+: 0.5). */
  dropout: number;
  /** Epsilon of the prompt LayerNorm (FPT+ only; PyTorch default 1e-5). */
  layerNormEps: number;
  /** Std of the prompts' normal initialisation (1e-6). */
  promptStd: number;
  /** Initialisation seed. */
  seed: number;
}

/**
 * A complete fusion config with the paper's defaults: 16 prompts, the variant's dropout (0.5 for
 * FPT+ and FPT v1 alike, as the official code), LayerNorm eps 1e-5, prompt std 1e-6.
 * @param input - the fields that have no default (variant, layers, widths, heads) and any overrides
 * @throws naming the option at fault
 */
export function fusionConfig(
  input: Pick<FusionConfig, 'variant' | 'layers' | 'lpmDim' | 'lpmHeads' | 'sideDim'> & Partial<FusionConfig>,
): FusionConfig {
  const c: FusionConfig = {
    prompts: 16,
    dropout: input.variant?.defaultDropout ?? 0,
    layerNormEps: 1e-5,
    promptStd: 1e-6,
    seed: 0,
    // An option given as undefined keeps its default.
    ...(Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)) as typeof input),
  };
  if (!c.variant || typeof c.variant.queries !== 'function') {
    throw new Error(
      `fusionConfig: "variant" must be a FusionVariant (${fptPlusFusion.name}: fptPlusFusion, ${fptV1Fusion.name}: fptV1Fusion), got ${JSON.stringify(c.variant)}`,
    );
  }
  for (const k of ['layers', 'prompts', 'lpmDim', 'lpmHeads', 'sideDim'] as const) {
    if (!Number.isInteger(c[k]) || c[k] <= 0) throw new Error(`fusionConfig: "${k}" must be a positive integer, got ${c[k]}`);
  }
  if (c.lpmDim % c.lpmHeads !== 0) throw new Error(`fusionConfig: "lpmDim" ${c.lpmDim} is not divisible by "lpmHeads" ${c.lpmHeads}`);
  if (!(c.layerNormEps > 0)) throw new Error(`fusionConfig: "layerNormEps" must be positive, got ${c.layerNormEps}`);
  if (!(c.promptStd >= 0)) throw new Error(`fusionConfig: "promptStd" must be non-negative, got ${c.promptStd}`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new Error(`fusionConfig: "dropout" must be in [0, 1), got ${c.dropout}`);
  return c;
}
