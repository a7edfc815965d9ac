import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChannelStats } from './prepare';

/** A named dataset the bench knows: its class count and the paper's learning rate ([training recipe](../../../../docs/method.md#training-recipe)). */
export interface DatasetPreset {
  /** Folder name under the data root. */
  name: string;
  /** Number of classes (checked against the folder before training). */
  classes: number;
  /** Base learning rate of the paper recipe. */
  lr: number;
  /** Imaging modality, for listings. */
  modality: string;
  /** Whether the dataset ships with the repository (`data/`). */
  embedded: boolean;
  /** Where the learning rate comes from. */
  lrSource: string;
  /**
   * Fixed input normalisation (RGB mean and std in [0, 1] units) from the official FPT configs;
   * undefined: computed on the training images used (the authors' `auto`).
   */
  normalisation?: ChannelStats;
}

const paper = (name: string, classes: number, lr: number, modality: string, mean: number[], std: number[]): DatasetPreset => ({
  name,
  classes,
  lr,
  modality,
  embedded: false,
  lrSource: 'paper (training recipe)',
  normalisation: { mean, std },
});

/** One value for the three channels (grayscale datasets). */
const gray = (x: number) => [x, x, x];

/**
 * The paper's eight datasets and the three embedded ones. The paper's datasets carry the mean and
 * std that the official FPT configs fix per dataset (their `auto` is for custom datasets only).
 * The embedded sets are not in the paper: each takes the learning rate of the paper dataset of the
 * same task (fundus DR grading as Messidor-2, chest X-ray as CHNCXR, breast imaging as Mini-DDSM)
 * and `auto` normalisation, as any ImageFolder dataset without a preset.
 */
export const DATASET_PRESETS: readonly DatasetPreset[] = [
  paper('messidor2', 5, 2e-4, 'fundus photography', [0.4843637, 0.22381182, 0.07583175], [0.29392081, 0.14721708, 0.06350881]),
  paper('ddr', 5, 5e-4, 'fundus photography', [0.4237375, 0.26094607, 0.1284039], [0.29482535, 0.20167366, 0.1366802]),
  paper('isic2016', 2, 5e-3, 'dermoscopy', [0.72438824, 0.61871672, 0.56646055], [0.16384567, 0.17090139, 0.1910605]),
  paper('isic2018', 7, 1e-4, 'dermoscopy', [0.76356274, 0.54660755, 0.57074833], [0.14041018, 0.15191356, 0.16923356]),
  paper('ddsm', 3, 1e-3, 'mammography (Mini-DDSM)', gray(0.20267013), gray(0.22466831)),
  paper('cmmd', 2, 5e-5, 'mammography', gray(0.16735268), gray(0.18016799)),
  paper('covid', 3, 1e-4, 'chest X-ray', [0.49834183, 0.49863863, 0.4989473], [0.24262029, 0.2425914, 0.24264234]),
  paper('chncxr', 2, 5e-4, 'chest X-ray', gray(0.6105489), gray(0.25847816)),
  { name: 'idrid-dr', classes: 5, lr: 2e-4, modality: 'fundus photography', embedded: true, lrSource: 'as messidor2 (same task)' },
  { name: 'kermany-cxr', classes: 2, lr: 5e-4, modality: 'chest X-ray', embedded: true, lrSource: 'as chncxr (same modality, 2 classes)' },
  { name: 'busi-us', classes: 3, lr: 1e-3, modality: 'breast ultrasound', embedded: true, lrSource: 'as ddsm (breast imaging, 3 classes)' },
];

/** The embedded datasets, the default of every run. */
export const EMBEDDED_DATASETS = DATASET_PRESETS.filter((d) => d.embedded).map((d) => d.name);

/** The paper's eight datasets. */
export const PAPER_DATASETS = DATASET_PRESETS.filter((d) => !d.embedded).map((d) => d.name);

/** A preset by name, or undefined for a dataset the bench has no preset for. */
export function datasetPreset(name: string): DatasetPreset | undefined {
  return DATASET_PRESETS.find((d) => d.name === name);
}

/**
 * The default data root: the repository's `data/` folder (found from this file's location, which
 * is `packages/bench/dist` or `packages/bench/src`), else `./data`.
 */
export function defaultDataRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const repo = resolve(here, '..', '..', '..', 'data');
  if (existsSync(repo)) return repo;
  const fromSrc = resolve(here, '..', '..', '..', '..', 'data');
  if (existsSync(fromSrc)) return fromSrc;
  return join(process.cwd(), 'data');
}
