import { numberIn, positiveInt, type Method, type VitConfig } from '@fpt/backbone-vit';
import type { FusionVariant } from '@fpt/fusion';
import { sideNetConfig, type SideNetConfig } from '@fpt/side-net';
import { globalSelector, type TokenSelector } from '@fpt/token-select';

/** The side network's fields an FPT option may set (its classes come from the adapted model's head). */
export type SideOptions = Partial<Omit<SideNetConfig, 'numClasses'>>;

/** Options of the `fptPlus` and `fptV1` factories; every field has a default. */
export interface FptOptions {
  /** Resolution the LPM sees (paper: 512). */
  inputSize: number;
  /** 0-based LPM layers whose keys and values are fused, one per side layer; empty: FPT+ the last half (6..11 on ViT-B), FPT v1 all. */
  layers: number[];
  /** Important-token strategy (default `globalSelector`, the mean received attention). */
  selector: TokenSelector;
  /** Fraction of tokens kept per head, in (0, 1] (the selector decides the count; paper: 0.2). */
  ratio: number;
  /** Fine-grained prompts per layer (paper: 16). */
  prompts: number;
  /** Dropout on the fused prompts during training (FPT+: 0.5; FPT v1: 0, the papers name none). */
  dropout: number;
  /** Epsilon of the prompt LayerNorm (FPT+; PyTorch default 1e-5). */
  layerNormEps: number;
  /** Std of the prompts' normal initialisation (1e-6). */
  promptStd: number;
  /** Side-network overrides; defaults: LPM width / 8, depth = fused layers, 12 heads, MLP 4x width, patch 16, input 128 (FPT v1: 224). */
  side: SideOptions;
  /**
   * PETL methods applied to the side network (LoRA, SSF, BitFit, adapters, ...). With any, the side
   * network follows their rules (frozen except what they train), as peft applies methods to a model;
   * without, the whole side network trains (the paper).
   */
  sideMethods: Method[];
  /** Initialisation seed of the fusion module and the side network. */
  seed: number;
}

/** Everything an FPT model is built from, resolved against the LPM. */
export interface FptConfig {
  /** The fusion design. */
  variant: FusionVariant;
  /** The frozen LPM's architecture. */
  lpm: VitConfig;
  /** Resolution the LPM sees. */
  inputSize: number;
  /** Fused LPM layers. */
  layers: number[];
  /** Token selection. */
  selection: { selector: TokenSelector; ratio: number };
  /** Fusion options. */
  fusion: { prompts: number; dropout: number; layerNormEps: number; promptStd: number };
  /** The side network (no head: the adapted model's head reads its features). */
  side: SideNetConfig;
  /** Methods on the side network. */
  sideMethods: Method[];
  /** Initialisation seed. */
  seed: number;
}

/** The FPT+ defaults ([data flow and shapes](../../../docs/method.md#data-flow-and-shapes)). */
export const FPT_PLUS_DEFAULTS: FptOptions = {
  inputSize: 512,
  layers: [],
  selector: globalSelector,
  ratio: 0.2,
  prompts: 16,
  dropout: 0.5,
  layerNormEps: 1e-5,
  promptStd: 1e-6,
  side: {},
  sideMethods: [],
  seed: 0,
};

/**
 * The [FPT v1](../../../docs/method.md#fpt-v1) defaults: every LPM layer, side input 224. Fusion
 * dropout 0.5 as FPT+: the official FPT code's FPT network config does not override its fusion
 * module's default of 0.5.
 */
export const FPT_V1_DEFAULTS: FptOptions = { ...FPT_PLUS_DEFAULTS, side: { imageSize: 224 } };

/**
 * Checks the options that do not depend on the LPM.
 * @param name - the method's name, for messages
 * @throws naming the option and the allowed values
 */
export function validateFptOptions(o: FptOptions, name: string): void {
  positiveInt(o.inputSize, 'inputSize', name);
  numberIn(o.ratio, 'ratio', name, { min: 0, minExclusive: true, max: 1, maxInclusive: true });
  positiveInt(o.prompts, 'prompts', name);
  numberIn(o.dropout, 'dropout', name, { min: 0, max: 1 });
  numberIn(o.layerNormEps, 'layerNormEps', name, { min: 0, minExclusive: true });
  numberIn(o.promptStd, 'promptStd', name, { min: 0 });
  if (!Number.isInteger(o.seed) || o.seed < 0)
    throw new Error(`${name}: option "seed" must be a non-negative integer, got ${JSON.stringify(o.seed)}`);
  if (!Array.isArray(o.layers) || o.layers.some((l) => !Number.isInteger(l) || l < 0)) {
    throw new Error(`${name}: option "layers" must be a list of non-negative layer indices, got ${JSON.stringify(o.layers)}`);
  }
  if (new Set(o.layers).size !== o.layers.length) throw new Error(`${name}: option "layers" holds a layer twice: ${o.layers.join(',')}`);
  if (!o.selector || typeof o.selector.select !== 'function')
    throw new Error(`${name}: option "selector" must be a TokenSelector (see @fpt/token-select)`);
  if (!Array.isArray(o.sideMethods)) throw new Error(`${name}: option "sideMethods" must be a list of methods`);
  for (const [k, v] of Object.entries(o.side ?? {})) {
    if (k !== 'layerNormEps') positiveInt(v, `side.${k}`, name);
  }
}

/**
 * Resolves options against the LPM: default layers and side network, then checks what needs both.
 * @param lpm - the LPM's architecture
 * @param o - validated options
 * @param variant - the fusion design
 * @param allLayers - whether the default layer set is every LPM layer (FPT v1) or the last half (FPT+)
 * @param name - the method's name, for messages
 * @throws naming the option at fault
 */
export function resolveFptConfig(lpm: VitConfig, o: FptOptions, variant: FusionVariant, allLayers: boolean, name: string): FptConfig {
  const layers = o.layers.length ? [...o.layers] : range(allLayers ? 0 : Math.floor(lpm.numLayers / 2), lpm.numLayers);
  for (const l of layers) {
    if (l >= lpm.numLayers) throw new Error(`${name}: option "layers" holds ${l}, but the LPM has layers 0..${lpm.numLayers - 1}`);
  }
  if (o.inputSize % lpm.patchSize !== 0) {
    throw new Error(`${name}: option "inputSize" ${o.inputSize} is not a multiple of the LPM patch size ${lpm.patchSize}`);
  }
  const width = o.side.hiddenSize ?? lpm.hiddenSize / 8;
  const side = sideNetConfig(0, { hiddenSize: width, numLayers: layers.length, mlpDim: 4 * width, ...o.side });
  if (side.numLayers !== layers.length) {
    throw new Error(`${name}: option "side.numLayers" is ${side.numLayers} but ${layers.length} LPM layers are fused: they must be equal`);
  }
  if (side.imageSize % side.patchSize !== 0) {
    throw new Error(`${name}: option "side.imageSize" ${side.imageSize} is not a multiple of the side patch size ${side.patchSize}`);
  }
  return {
    variant,
    lpm,
    inputSize: o.inputSize,
    layers,
    selection: { selector: o.selector, ratio: o.ratio },
    fusion: { prompts: o.prompts, dropout: o.dropout, layerNormEps: o.layerNormEps, promptStd: o.promptStd },
    side,
    sideMethods: o.sideMethods,
    seed: o.seed,
  };
}

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a }, (_, i) => a + i);
}
