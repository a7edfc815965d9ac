import { vitB16Hf384, type VitConfig } from '@fpt/backbone-vit';
import type { FusionConfig } from '@fpt/fusion';
import { sideNetConfig, sideVitConfig, type SideNetConfig } from '@fpt/side-net';

/** Important-token selection settings. */
export interface SelectionConfig {
  /** A criterion of `@fpt/token-select` (`global`, `class_token`, `random`, `all`, or a registered one). */
  criterion: string;
  /** Fraction of tokens kept per head: floor(N * ratio). */
  ratio: number;
  /** Seed for random criteria. */
  seed: number;
}

/** The whole FPT+ / FPT configuration; every part can be swapped. */
export interface FptConfig {
  /** `fpt+` (default) or FPT v1 (`fpt`). */
  variant: 'fpt+' | 'fpt';
  /** The frozen LPM's architecture (default: HF google/vit-base-patch16-384). */
  lpm: VitConfig;
  /** Resolution the LPM sees (paper: 512). */
  inputSize: number;
  /** 0-based LPM layers whose keys and values are fused, one per side layer (paper: 6..11). */
  layers: number[];
  /** Important-token selection. */
  selection: SelectionConfig;
  /** Fusion options beyond what the other parts fix (prompts, dropout, ...). */
  fusion: Partial<Pick<FusionConfig, 'prompts' | 'dropout' | 'layerNormEps' | 'promptStd'>>;
  /** The side network; its depth must equal `layers.length`. */
  side: SideNetConfig;
  /** Initialisation seed of the learnable part. */
  seed: number;
}

/** Fields of {@link FptConfig} a caller may override, with a partial side network. */
export type FptConfigInput = Partial<Omit<FptConfig, 'side' | 'selection'>> & {
  /** Overrides of the side network. */
  side?: Partial<SideNetConfig>;
  /** Overrides of token selection. */
  selection?: Partial<SelectionConfig>;
};

/**
 * FPT+ with the paper's defaults (DESIGN.md §2): ViT-B/16 LPM (HF, trained at 384) run at 512,
 * layers 6..11, `global` selection keeping 20 %, 16 prompts, dropout 0.5, side ViT 96 wide,
 * 6 deep, 12 heads, input 128.
 * @param numClasses - classes of the task
 * @param input - overrides (another LPM, selector, prompt count, layer set, side width, ...)
 */
export function fptPlusConfig(numClasses: number, input: FptConfigInput = {}): FptConfig {
  input = defined(input);
  const lpm = input.lpm ?? vitB16Hf384();
  const layers = input.layers ?? range(Math.floor(lpm.numLayers / 2), lpm.numLayers);
  return validate({
    variant: 'fpt+',
    lpm,
    inputSize: 512,
    layers,
    fusion: {},
    seed: 0,
    ...input,
    selection: { criterion: 'global', ratio: 0.2, seed: 0, ...defined(input.selection ?? {}) },
    side: sideNetConfig(numClasses, {
      hiddenSize: lpm.hiddenSize / 8,
      numLayers: layers.length,
      mlpDim: (4 * lpm.hiddenSize) / 8,
      ...defined(input.side ?? {}),
    }),
  });
}

/**
 * FPT v1 (DESIGN.md §3): every LPM layer feeds a side ViT of equal depth at 224; prompts live at
 * the side width and are projected up to form the queries.
 * @param numClasses - classes of the task
 * @param input - overrides
 */
export function fptV1Config(numClasses: number, input: FptConfigInput = {}): FptConfig {
  input = defined(input);
  const lpm = input.lpm ?? vitB16Hf384();
  return fptPlusConfig(numClasses, {
    variant: 'fpt',
    layers: range(0, lpm.numLayers),
    ...input,
    side: { imageSize: 224, ...defined(input.side ?? {}) },
  });
}

/** A copy without the keys whose value is undefined, so that spreading it keeps defaults. */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a }, (_, i) => a + i);
}

function validate(c: FptConfig): FptConfig {
  if (c.variant !== 'fpt+' && c.variant !== 'fpt') throw new Error(`FPT config: "variant" must be "fpt+" or "fpt", got "${c.variant}"`);
  if (!Number.isInteger(c.inputSize) || c.inputSize <= 0) throw new Error(`FPT config: "inputSize" must be a positive integer, got ${c.inputSize}`);
  if (c.inputSize % c.lpm.patchSize !== 0) {
    throw new Error(`FPT config: "inputSize" ${c.inputSize} is not a multiple of the LPM patch size ${c.lpm.patchSize}`);
  }
  const { ratio } = c.selection;
  if (!(typeof ratio === 'number' && ratio > 0 && ratio <= 1)) throw new Error(`FPT config: "selection.ratio" must be in (0, 1], got ${ratio}`);
  if (c.layers.length === 0) throw new Error('FPT config: "layers" is empty');
  const seen = new Set<number>();
  for (const l of c.layers) {
    if (!Number.isInteger(l) || l < 0 || l >= c.lpm.numLayers) {
      throw new Error(`FPT config: "layers" holds ${l}, but the LPM has layers 0..${c.lpm.numLayers - 1}`);
    }
    if (seen.has(l)) throw new Error(`FPT config: "layers" holds ${l} twice; each LPM layer can be fused once`);
    seen.add(l);
  }
  if (c.side.numLayers !== c.layers.length) {
    throw new Error(`FPT config: "side.numLayers" is ${c.side.numLayers} but ${c.layers.length} LPM layers are fused: they must be equal`);
  }
  // The side network's sizes (positive, image a multiple of its patch, ...), checked now rather
  // than when the model is built.
  sideVitConfig(c.side);
  return c;
}
