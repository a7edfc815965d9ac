import {
  numberIn,
  positiveInt,
  type Method,
  type MethodOptionKind,
  type MethodResolver,
  type SavedMethod,
  type VitConfig,
} from '@fpt/backbone-vit';
import type { FusionVariant } from '@fpt/fusion';
import { sideNetConfig, type SideNetConfig } from '@fpt/side-net';
import { getSelector, selectorNames, type TokenSelector } from '@fpt/token-select';

/**
 * The side network as an FPT option: plain data, `null` where the value is derived from the LPM when
 * the method is attached.
 */
export interface FptSideOptions {
  /** Width (null: LPM width / 8, the paper's 96 on ViT-B). */
  hiddenSize: number | null;
  /** Depth (null: the number of fused LPM layers; it must equal it). */
  numLayers: number | null;
  /** Attention heads (null: the paper's 12 where they divide the width, else heads of 8: 16 on ViT-L, 20 on ViT-H). */
  numHeads: number | null;
  /** MLP width (null: 4 x width). */
  mlpDim: number | null;
  /** Patch size (16). */
  patchSize: number;
  /** Side of the low-resolution image (FPT+: 128; FPT v1: 224). */
  imageSize: number;
  /** LayerNorm epsilon (1e-12, as the authors' HF-style side ViT). */
  layerNormEps: number;
}

/** The token selection as data: a criterion registered in `@fpt/token-select` and its seed. */
export interface FptSelectorOptions {
  /** `global` (mean received attention, the paper's), `class_token`, `random`, `all`, or a registered name. */
  criterion: string;
  /** Seed of random criteria. */
  seed: number;
}

/**
 * The configuration of the `fptPlus` and `fptV1` factories: plain, serialisable data with a default
 * for every field. The objects (token selector, side network, side methods) are made from it when
 * the method is attached.
 */
export interface FptOptions {
  /** Resolution the LPM sees (paper: 512). */
  inputSize: number;
  /** 0-based LPM layers whose keys and values are fused, one per side layer; empty: FPT+ the last half (6..11 on ViT-B), FPT v1 all. */
  layers: number[];
  /** Important-token strategy (default `global`, the mean received attention). */
  selector: FptSelectorOptions;
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
  /** The side network; see {@link FptSideOptions}. */
  side: FptSideOptions;
  /**
   * PETL methods applied to the side network (LoRA, SSF, BitFit, adapters, ...), saved as
   * `{ name, config }`; the factory takes the method objects (`sideMethods: [lora({ rank: 8 })]`).
   * With any, the side network follows their rules (frozen except what they train), as peft applies
   * methods to a model; without, the whole side network trains (the paper).
   */
  sideMethods: SavedMethod[];
  /** Initialisation seed of the fusion module and the side network. */
  seed: number;
}

/** Everything an FPT model is built from, resolved against the LPM when the method is attached. */
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

const SIDE = sideNetConfig(0);

/** The FPT+ defaults ([data flow and shapes](../../../docs/method.md#data-flow-and-shapes)). */
export const FPT_PLUS_DEFAULTS: FptOptions = {
  inputSize: 512,
  layers: [],
  selector: { criterion: 'global', seed: 0 },
  ratio: 0.2,
  prompts: 16,
  dropout: 0.5,
  layerNormEps: 1e-5,
  promptStd: 1e-6,
  side: {
    hiddenSize: null,
    numLayers: null,
    numHeads: null,
    mlpDim: null,
    patchSize: SIDE.patchSize,
    imageSize: SIDE.imageSize,
    layerNormEps: SIDE.layerNormEps,
  },
  sideMethods: [],
  seed: 0,
};

/**
 * The [FPT v1](../../../docs/method.md#fpt-v1) defaults: every LPM layer, side input 224. Fusion
 * dropout 0.5 as FPT+: the official FPT code's FPT network config does not override its fusion
 * module's default of 0.5.
 */
export const FPT_V1_DEFAULTS: FptOptions = { ...FPT_PLUS_DEFAULTS, side: { ...FPT_PLUS_DEFAULTS.side, imageSize: 224 } };

/** How `--set` strings become the FPT options whose defaults do not tell (see `MethodOptionKind`). */
export const FPT_OPTION_KINDS: Record<string, MethodOptionKind> = {
  layers: 'numbers',
  'side.hiddenSize': 'number?',
  'side.numLayers': 'number?',
  'side.numHeads': 'number?',
  'side.mlpDim': 'number?',
  sideMethods: 'methods',
};

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
  nonNegativeInt(o.seed, 'seed', name);
  if (!Array.isArray(o.layers) || o.layers.some((l) => !Number.isInteger(l) || l < 0)) {
    throw new Error(`${name}: option "layers" must be a list of non-negative layer indices, got ${JSON.stringify(o.layers)}`);
  }
  if (new Set(o.layers).size !== o.layers.length) throw new Error(`${name}: option "layers" holds a layer twice: ${o.layers.join(',')}`);
  if (!selectorNames().includes(o.selector.criterion)) {
    throw new Error(`${name}: option "selector.criterion" is "${o.selector.criterion}"; known: ${selectorNames().join(', ')}`);
  }
  nonNegativeInt(o.selector.seed, 'selector.seed', name);
  for (const [k, v] of Object.entries(o.side)) {
    if (k === 'layerNormEps') numberIn(v, 'side.layerNormEps', name, { min: 0, minExclusive: true });
    else if (v !== null) positiveInt(v, `side.${k}`, name);
  }
}

function nonNegativeInt(v: number, option: string, name: string): void {
  if (!Number.isInteger(v) || v < 0)
    throw new Error(`${name}: option "${option}" must be a non-negative integer, got ${JSON.stringify(v)}`);
}

/**
 * Resolves options against the LPM: default layers and side network, then checks what needs both.
 * @param lpm - the LPM's architecture
 * @param o - validated options
 * @param variant - the fusion design
 * @param allLayers - whether the default layer set is every LPM layer (FPT v1) or the last half (FPT+)
 * @param name - the method's name, for messages
 * @param resolve - the side methods' objects
 * @throws naming the option at fault
 */
export function resolveFptConfig(
  lpm: VitConfig,
  o: FptOptions,
  variant: FusionVariant,
  allLayers: boolean,
  name: string,
  resolve: MethodResolver,
): FptConfig {
  const layers = o.layers.length ? [...o.layers] : range(allLayers ? 0 : Math.floor(lpm.numLayers / 2), lpm.numLayers);
  for (const l of layers) {
    if (l >= lpm.numLayers) throw new Error(`${name}: option "layers" holds ${l}, but the LPM has layers 0..${lpm.numLayers - 1}`);
  }
  if (o.inputSize % lpm.patchSize !== 0) {
    throw new Error(`${name}: option "inputSize" ${o.inputSize} is not a multiple of the LPM patch size ${lpm.patchSize}`);
  }
  const side = sideNetConfig(0, resolveSide(lpm, o.side, layers.length, name));
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
    selection: { selector: getSelector(o.selector.criterion, o.selector.seed), ratio: o.ratio },
    fusion: { prompts: o.prompts, dropout: o.dropout, layerNormEps: o.layerNormEps, promptStd: o.promptStd },
    side,
    sideMethods: o.sideMethods.map(resolve),
    seed: o.seed,
  };
}

// The side network's derived fields: width LPM / 8, 12 heads (else heads of 8), MLP 4x, depth = fused layers.
function resolveSide(lpm: VitConfig, s: FptSideOptions, fused: number, name: string): Omit<SideNetConfig, 'numClasses'> {
  const hiddenSize = s.hiddenSize ?? lpm.hiddenSize / 8;
  if (!Number.isInteger(hiddenSize)) {
    throw new Error(
      `${name}: the LPM width ${lpm.hiddenSize} is not a multiple of 8, so the default side width (LPM width / 8) is not whole; set option "side.hiddenSize"`,
    );
  }
  // The paper's 12 heads of 8 on ViT-B; on wider LPMs (ViT-L: 128, ViT-H: 160) 12 does not divide the
  // width, and the paper's head width 8 is kept instead.
  const numHeads = s.numHeads ?? (hiddenSize % 12 === 0 ? 12 : hiddenSize / 8);
  if (!Number.isInteger(numHeads)) {
    throw new Error(
      `${name}: the side width ${hiddenSize} is a multiple of neither 12 nor 8, so no default head count fits; set option "side.numHeads"`,
    );
  }
  if (hiddenSize % numHeads !== 0) {
    throw new Error(`${name}: option "side.numHeads" ${numHeads} does not divide the side width ${hiddenSize} (option "side.hiddenSize")`);
  }
  return {
    hiddenSize,
    numHeads,
    numLayers: s.numLayers ?? fused,
    mlpDim: s.mlpDim ?? 4 * hiddenSize,
    patchSize: s.patchSize,
    imageSize: s.imageSize,
    layerNormEps: s.layerNormEps,
  };
}

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a }, (_, i) => a + i);
}
