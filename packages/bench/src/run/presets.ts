import { vitB16Hf384, vitConfig, vitQuick96, type VitConfig } from '@fpt/backbone-vit';
import type { Split } from '../data/image-folder';
import { EMBEDDED_DATASETS } from '../data/presets';
import { PAPER_METHODS } from '../paper/paper';

/** A bench preset: what a run trains, on what, for how long. */
export interface BenchPreset {
  /** `quick` or `paper`. */
  name: string;
  /** Architecture of the LPM when no `--weights` are given (randomly initialised). */
  lpm: VitConfig;
  /** Resolution the LPM and the baselines see. */
  lpmInputSize: number;
  /** Method options set by the preset (`--set` overrides them). */
  methodOptions: Record<string, Record<string, string>>;
  /** Methods run by default. */
  methods: string[];
  /** Datasets run by default. */
  datasets: string[];
  /** Epochs. */
  epochs: number;
  /** Batch size. */
  batch: number;
  /** Seeds run by default (`--seeds` overrides them); the table reports mean ± std over them. */
  seeds: number[];
  /** Images per split (undefined: all). */
  limit: Partial<Record<Split, number>>;
  /** Longer side of stored images (undefined: as the files are). */
  maxSide?: number;
  /** One learning rate for every dataset (undefined: the dataset presets' rates). */
  lr?: number;
  /** Whether runs take the paper-shape memory figures (`--paper-memory` overrides it; ViT-B/16 steps at 512 take minutes). */
  paperMemory: boolean;
  /** What this preset shrinks relative to the paper, one line each (printed and recorded). */
  shrunk: string[];
}

const QUICK_SIDE = { 'side.hiddenSize': '24', 'side.imageSize': '64' };
const TINY_SIDE = { 'side.hiddenSize': '12', 'side.imageSize': '16', prompts: '2' };

/**
 * `quick`: every paper row plus `linear` on the three embedded datasets in minutes on a 2-core CPU.
 * `tiny`: a smoke test in seconds (tests use it). `paper`: the paper's [recipe](../../../../docs/method.md#training-recipe) at its shapes.
 */
export const BENCH_PRESETS: Record<string, BenchPreset> = {
  quick: {
    name: 'quick',
    lpm: vitQuick96(),
    lpmInputSize: 96,
    methodOptions: { 'fpt-plus': QUICK_SIDE, fpt: QUICK_SIDE },
    methods: [...PAPER_METHODS, 'linear'],
    datasets: [...EMBEDDED_DATASETS],
    epochs: 3,
    batch: 16,
    // Several seeds so that the table shows its own noise; every validation and test image, so
    // that an AUC is not decided by a handful of images (at 96x96 they cost seconds to preload).
    seeds: [0, 1, 2],
    limit: { train: 128 },
    maxSide: 128,
    lr: 1e-3,
    paperMemory: true,
    shrunk: [
      'LPM: ViT width 96, 4 layers, 3 heads, patch 16, at 96x96 (paper: ViT-B/16 at 512x512)',
      'FPT+/FPT side network: width 24 (12 heads of 2), patch 16, at 64x64 (paper: width 96, 12 heads of 8, 128x128; FPT v1 224x224)',
      'epochs: 3 (paper: 20)',
      'training images: at most 128 per dataset, a stratified subset independent of the seed (paper: all); validation and test: every image',
      'images stored at most 128 px on the longer side before augmentation (paper: the original files)',
      'learning rate: 1e-3 for every dataset (paper: per-dataset rates, tuned for a pretrained LPM)',
    ],
  },
  tiny: {
    name: 'tiny',
    lpm: vitConfig({
      hiddenSize: 16,
      numLayers: 2,
      numHeads: 2,
      mlpDim: 32,
      patchSize: 8,
      imageSize: 32,
      numClasses: 0,
      layerNormEps: 1e-12,
      posEmbedResample: 'hf',
    }),
    lpmInputSize: 32,
    methodOptions: { 'fpt-plus': TINY_SIDE, fpt: TINY_SIDE },
    methods: ['lora', 'fpt-plus'],
    datasets: [...EMBEDDED_DATASETS],
    epochs: 3,
    batch: 4,
    seeds: [0],
    limit: { train: 16, val: 8, test: 8 },
    maxSide: 32,
    lr: 1e-3,
    paperMemory: false,
    shrunk: [
      'tiny: a smoke-test preset (ViT width 16, 2 layers, 32x32; side width 12 at 16x16; 16/8/8 images; 3 epochs); its numbers mean nothing',
    ],
  },
  paper: {
    name: 'paper',
    lpm: vitB16Hf384(),
    lpmInputSize: 512,
    methodOptions: {},
    methods: [...PAPER_METHODS],
    datasets: [...EMBEDDED_DATASETS],
    epochs: 20,
    batch: 16,
    seeds: [0],
    limit: {},
    paperMemory: true,
    shrunk: [],
  },
};

/**
 * The bench preset called `name` (a key of {@link BENCH_PRESETS}).
 * @throws naming `name` and the known presets when there is none
 */
export function benchPreset(name: string): BenchPreset {
  const preset = BENCH_PRESETS[name];
  if (!preset) throw new Error(`--preset: unknown preset "${name}"; known: ${Object.keys(BENCH_PRESETS).join(', ')}`);
  return preset;
}
