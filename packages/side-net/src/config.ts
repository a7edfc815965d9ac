import { vitConfig, type VitConfig } from '@fpt/backbone-vit';

/** The side network's architecture; see DESIGN.md §2.6. */
export interface SideNetConfig {
  /** Width (paper: LPM width / 8 = 96). */
  hiddenSize: number;
  /** Depth (paper: the number of fused LPM layers, 6). */
  numLayers: number;
  /** Attention heads (paper: 12 heads of 8). */
  numHeads: number;
  /** MLP width (paper: 4 x width = 384). */
  mlpDim: number;
  /** Patch side (16). */
  patchSize: number;
  /** Input resolution of the low-resolution image (paper: 128). */
  imageSize: number;
  /** Classes of the task. */
  numClasses: number;
  /** LayerNorm epsilon (1e-12, as the authors' HF-style side ViT). */
  layerNormEps: number;
}

/**
 * The paper's side network with overrides: width 96, 6 layers, 12 heads, MLP 384, patch 16,
 * input 128, eps 1e-12.
 * @param numClasses - classes of the task
 * @param overrides - fields to change
 */
export function sideNetConfig(numClasses: number, overrides: Partial<SideNetConfig> = {}): SideNetConfig {
  return { hiddenSize: 96, numLayers: 6, numHeads: 12, mlpDim: 384, patchSize: 16, imageSize: 128, layerNormEps: 1e-12, numClasses, ...overrides };
}

/** The side network as a ViT config (validated). */
export function sideVitConfig(c: SideNetConfig): VitConfig {
  if (!Number.isInteger(c.numClasses) || c.numClasses < 1) throw new Error(`sideNetConfig: "numClasses" must be a positive integer, got ${c.numClasses}`);
  return vitConfig({ ...c, numChannels: 3, posEmbedResample: 'hf' });
}
