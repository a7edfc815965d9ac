// What the bench knows of the FPT+ paper, in one place: its table's rows and their names, the
// shapes its memory column was taken at, and its own headline figures
// ([paper figures](../../../../docs/method.md#paper-figures)).
import { vitB16Hf384, type VitConfig } from '@fpt/backbone-vit';

/** The paper table's rows: full, prompt tuning (VPT-deep, 0.17 %), adapter, LoRA, FPT, FPT+. */
export const PAPER_METHODS = ['full', 'vpt-deep', 'adapter-houlsby', 'lora', 'fpt', 'fpt-plus'] as const;

/** How the table and plots name a method (the paper's row names where it has one). */
export const METHOD_LABELS: Record<string, string> = {
  full: 'Full fine-tuning',
  'vpt-deep': 'Prompt tuning (VPT-deep)',
  'adapter-houlsby': 'Adapter (Houlsby)',
  lora: 'LoRA',
  fpt: 'FPT',
  'fpt-plus': 'FPT+',
  linear: 'Linear probe',
  dora: 'DoRA',
  ia3: '(IA)³',
};

/** The label of a method: its paper name, else its CLI name. */
export function methodLabel(method: string): string {
  return METHOD_LABELS[method] ?? method;
}

/** Shapes at which a step's memory is taken (the paper's, or a run's own). */
export interface PaperShapes {
  /** The LPM's architecture. */
  lpm: VitConfig;
  /** Side of the LPM's input. */
  imageSize: number;
  /** Images per step. */
  batch: number;
  /**
   * Classes of the head: the run's (`fpt-bench run` takes one figure per method and class count;
   * a head of C classes is 769 C of ViT-B's 86 million parameters).
   */
  numClasses: number;
  /** In words, for tables and result files. */
  label: string;
}

/**
 * The paper's LPM, ViT-B/16 (HF naming, trained at 384), run at 512x512, with a batch and head size.
 * @param batch - images per step (the paper's: 16)
 * @param numClasses - classes of the head (default 5: Messidor-2, DDR)
 */
export function vitB16At512(batch: number, numClasses: number): PaperShapes {
  return {
    lpm: vitB16Hf384(),
    imageSize: 512,
    batch,
    numClasses,
    label: `ViT-B/16 LPM at 512x512, batch ${batch}, ${numClasses}-class head`,
  };
}

/** The paper's shapes: ViT-B/16 at 512x512, batch 16, a 5-class head (`fpt-bench memory`'s default; runs use their own classes). */
export const PAPER_SHAPES: PaperShapes = vitB16At512(16, 5);

/** The paper's own headline figures ([paper figures](../../../../docs/method.md#paper-figures); ViT-B/16, eight datasets). */
export const PAPER_TABLE: Array<{
  label: string;
  learnablePercent: number;
  memoryMB: number;
  memoryPercentOfFull: number;
  meanAuc: number;
}> = [
  { label: 'Full fine-tuning', learnablePercent: 100, memoryMB: 23128, memoryPercentOfFull: 100, meanAuc: 88.82 },
  { label: 'Prompt tuning', learnablePercent: 0.17, memoryMB: 20582, memoryPercentOfFull: 88.99, meanAuc: 83.68 },
  { label: 'Adapter', learnablePercent: 2.03, memoryMB: 19360, memoryPercentOfFull: 83.71, meanAuc: 84.14 },
  { label: 'LoRA', learnablePercent: 0.68, memoryMB: 20970, memoryPercentOfFull: 90.67, meanAuc: 85.94 },
  { label: 'FPT', learnablePercent: 1.81, memoryMB: 1824, memoryPercentOfFull: 7.89, meanAuc: 86.4 },
  { label: 'FPT+', learnablePercent: 1.03, memoryMB: 736, memoryPercentOfFull: 3.18, meanAuc: 87.12 },
];
