/** How position embeddings are resampled to another grid; it must match the checkpoint family. */
export type PosEmbedResample = 'hf' | 'timm';

/** The architecture of a ViT. */
export interface VitConfig {
  /** Token width D. */
  hiddenSize: number;
  /** Number of transformer blocks. */
  numLayers: number;
  /** Attention heads; D must be divisible by it. */
  numHeads: number;
  /** Hidden width of each block's MLP. */
  mlpDim: number;
  /** Patch side in pixels. */
  patchSize: number;
  /** The resolution the position embeddings are laid out for (grid = imageSize / patchSize). */
  imageSize: number;
  /** Input channels. */
  numChannels: number;
  /** Classifier outputs; 0 for no head. */
  numClasses: number;
  /** LayerNorm epsilon: 1e-6 for timm checkpoints, 1e-12 for HF ones. */
  layerNormEps: number;
  /** How to resample position embeddings when run at another resolution. */
  posEmbedResample: PosEmbedResample;
}

/** A partial config; {@link vitConfig} fills the rest. */
export type VitConfigInput = Partial<VitConfig> & Pick<VitConfig, 'hiddenSize' | 'numLayers' | 'numHeads'>;

/** The standard sizes with patch 16 (Dosovitskiy et al.; Touvron et al. for Ti and S). */
export const VIT_PRESETS = {
  /** ViT-Ti/16: width 192, 12 layers, 3 heads. */
  'vit-ti16': { hiddenSize: 192, numLayers: 12, numHeads: 3, mlpDim: 768 },
  /** ViT-S/16: width 384, 12 layers, 6 heads. */
  'vit-s16': { hiddenSize: 384, numLayers: 12, numHeads: 6, mlpDim: 1536 },
  /** ViT-B/16: width 768, 12 layers, 12 heads. */
  'vit-b16': { hiddenSize: 768, numLayers: 12, numHeads: 12, mlpDim: 3072 },
  /** ViT-L/16: width 1024, 24 layers, 16 heads. */
  'vit-l16': { hiddenSize: 1024, numLayers: 24, numHeads: 16, mlpDim: 4096 },
} as const;

/** A preset name of {@link VIT_PRESETS}. */
export type VitPreset = keyof typeof VIT_PRESETS;

/**
 * A complete, validated config. Defaults: patch 16, image 224, 3 channels, MLP 4 D, 1000 classes,
 * eps 1e-6 and timm resampling.
 * @param input - a preset name or the fields to set
 * @param overrides - fields that replace the preset's
 * @throws naming the option at fault
 */
export function vitConfig(input: VitPreset | VitConfigInput, overrides: Partial<VitConfig> = {}): VitConfig {
  const base = typeof input === 'string' ? VIT_PRESETS[input] : input;
  if (!base) throw new Error(`vitConfig: unknown preset "${String(input)}"; known: ${Object.keys(VIT_PRESETS).join(', ')}`);
  const c: VitConfig = {
    patchSize: 16,
    imageSize: 224,
    numChannels: 3,
    numClasses: 1000,
    layerNormEps: 1e-6,
    posEmbedResample: 'timm',
    mlpDim: 4 * base.hiddenSize,
    ...base,
    ...overrides,
  };
  for (const key of ['hiddenSize', 'numLayers', 'numHeads', 'mlpDim', 'patchSize', 'imageSize', 'numChannels'] as const) {
    if (!Number.isInteger(c[key]) || c[key] <= 0) throw new Error(`vitConfig: "${key}" must be a positive integer, got ${c[key]}`);
  }
  if (!Number.isInteger(c.numClasses) || c.numClasses < 0)
    throw new Error(`vitConfig: "numClasses" must be a non-negative integer, got ${c.numClasses}`);
  if (c.hiddenSize % c.numHeads !== 0) {
    throw new Error(`vitConfig: "hiddenSize" ${c.hiddenSize} is not divisible by "numHeads" ${c.numHeads}`);
  }
  if (c.imageSize % c.patchSize !== 0) {
    throw new Error(`vitConfig: "imageSize" ${c.imageSize} is not a multiple of "patchSize" ${c.patchSize}`);
  }
  if (c.posEmbedResample !== 'hf' && c.posEmbedResample !== 'timm') {
    throw new Error(`vitConfig: "posEmbedResample" must be "hf" or "timm", got "${c.posEmbedResample}"`);
  }
  return c;
}

/**
 * The configuration of the HF checkpoint `google/vit-base-patch16-384` (the FPT+ paper's LPM):
 * ViT-B/16 at 384, 1000 classes, eps 1e-12, HF resampling. Its parameter count is 86,859,496.
 */
export function vitB16Hf384(): VitConfig {
  return vitConfig('vit-b16', { imageSize: 384, layerNormEps: 1e-12, posEmbedResample: 'hf', numClasses: 1000 });
}

/**
 * A small ViT for quick runs on a CPU or in a browser tab: width 96, 4 layers, 3 heads, MLP 384,
 * patch 16, at 96x96, no head, HF conventions (eps 1e-12, HF resampling). No checkpoint has this
 * shape: it is randomly initialised, so its numbers show that training runs, not what a pretrained
 * LPM reaches.
 */
export function vitQuick96(): VitConfig {
  return vitConfig(
    { hiddenSize: 96, numLayers: 4, numHeads: 3, mlpDim: 384 },
    { patchSize: 16, imageSize: 96, numClasses: 0, layerNormEps: 1e-12, posEmbedResample: 'hf' },
  );
}
