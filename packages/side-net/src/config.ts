import { vitConfig, type VitConfig } from '@fpt/backbone-vit';

/**
 * The [side network](../../../docs/method.md#side-network)'s architecture, the ViT fields it sets: width (paper: LPM width
 * / 8 = 96), depth (the number of fused LPM layers, 6), heads (12 of 8), MLP width (384), patch (16),
 * input resolution of the low-resolution image (128), classes, and LayerNorm eps (1e-12, as the
 * authors' HF-style side ViT).
 */
export type SideNetConfig = Pick<
  VitConfig,
  'hiddenSize' | 'numLayers' | 'numHeads' | 'mlpDim' | 'patchSize' | 'imageSize' | 'numClasses' | 'layerNormEps'
>;

/**
 * The paper's side network with overrides: width 96, 6 layers, 12 heads, MLP 384, patch 16,
 * input 128, eps 1e-12.
 * @param numClasses - classes of the task; 0 for no head (FPT+ inside an adapted model, whose own
 *   head reads the side network's features)
 * @param overrides - fields to change
 */
export function sideNetConfig(numClasses: number, overrides: Partial<SideNetConfig> = {}): SideNetConfig {
  return {
    hiddenSize: 96,
    numLayers: 6,
    numHeads: 12,
    mlpDim: 384,
    patchSize: 16,
    imageSize: 128,
    layerNormEps: 1e-12,
    numClasses,
    ...overrides,
  };
}

/** The side network as a ViT config (validated). */
export function sideVitConfig(c: SideNetConfig): VitConfig {
  if (!Number.isInteger(c.numClasses) || c.numClasses < 0) {
    throw new Error(`sideNetConfig: "numClasses" must be a non-negative integer (0: no head), got ${c.numClasses}`);
  }
  return vitConfig({ ...c, numChannels: 3, posEmbedResample: 'hf' });
}
