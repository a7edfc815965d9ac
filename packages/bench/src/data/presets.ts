import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

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
}

const paper = (name: string, classes: number, lr: number, modality: string): DatasetPreset => ({
  name,
  classes,
  lr,
  modality,
  embedded: false,
  lrSource: 'paper (training recipe)',
});

/**
 * The paper's eight datasets and the three embedded ones. The embedded sets are not in the paper;
 * each takes the learning rate of the paper dataset of the same task (fundus DR grading as
 * Messidor-2, chest X-ray as CHNCXR, breast imaging as Mini-DDSM).
 */
export const DATASET_PRESETS: readonly DatasetPreset[] = [
  paper('messidor2', 5, 2e-4, 'fundus photography'),
  paper('ddr', 5, 5e-4, 'fundus photography'),
  paper('isic2016', 2, 5e-3, 'dermoscopy'),
  paper('isic2018', 7, 1e-4, 'dermoscopy'),
  paper('ddsm', 3, 1e-3, 'mammography (Mini-DDSM)'),
  paper('cmmd', 2, 5e-5, 'mammography'),
  paper('covid', 3, 1e-4, 'chest X-ray'),
  paper('chncxr', 2, 5e-4, 'chest X-ray'),
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
