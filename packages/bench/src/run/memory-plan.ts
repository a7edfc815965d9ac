import type { Method, VitConfig } from '@fpt/backbone-vit';
import { extrapolateStepMemory, predictFromFit, type StepMemoryExtrapolation } from '../memory/extrapolate';
import { checkStepMemoryFit } from '../memory/records';
import { MeasurementFile } from './measurements';

/** What a step-memory fit depends on besides the method: the LPM, its input, the head. */
export interface FitShapes {
  /** The LPM's architecture. */
  lpm: VitConfig;
  /** Side of the LPM's input. */
  imageSize: number;
  /** Classes of the head. */
  numClasses: number;
}

/**
 * Step-memory fits (real steps of a method on shallower copies of the LPM or at small batches, see
 * `memory/extrapolate.ts`) per method configuration, shapes and backend, kept in a results folder.
 * One fit serves every figure at those shapes, whatever the batch: the run-shape reference, the
 * micro-batch plan of a run, the paper-shape figures; a resumed or sharded run reuses it.
 */
export class StepMemoryFits {
  private readonly file: MeasurementFile<StepMemoryExtrapolation>;

  /**
   * @param path - the JSON file (`<out>/memory-fits.json`)
   * @param backend - the backend the real steps run on (part of every key)
   * @param budgetBytes - bytes a real step may take (decides the held-out step)
   * @param log - progress lines
   */
  constructor(
    path: string,
    private readonly backend: string,
    private readonly budgetBytes: number,
    private readonly log: (line: string) => void = () => {},
  ) {
    this.file = new MeasurementFile(path, checkStepMemoryFit);
  }

  /**
   * The fit of a method at these shapes: read from the file, else made (and written).
   * @param method - the method's name, for the key and the log
   * @param options - its options (part of the key)
   * @param make - makes the method configured for these shapes (a fresh one per real step)
   * @param shapes - LPM, input side, classes
   */
  async fit(method: string, options: Record<string, string>, make: () => Method, shapes: FitShapes): Promise<StepMemoryExtrapolation> {
    const c = shapes.lpm;
    const arch = `${c.hiddenSize}x${c.numLayers}h${c.numHeads}m${c.mlpDim}p${c.patchSize}`;
    const key = `v1|${method}|${JSON.stringify(options)}|${arch}|${shapes.imageSize}px|c${shapes.numClasses}|${this.backend}`;
    const known = this.file.get(key);
    if (known) return known;
    this.log(`${method}: fitting its step memory (${arch} at ${shapes.imageSize}x${shapes.imageSize}, ${shapes.numClasses} classes)`);
    const ex = await extrapolateStepMemory(shapes.lpm, make, {
      imageSize: shapes.imageSize,
      batch: 1,
      numClasses: shapes.numClasses,
      budgetBytes: this.budgetBytes,
      log: this.log,
    });
    this.file.set(key, ex);
    return ex;
  }
}

/**
 * Bytes of one image's attention scores in one block of the LPM (heads x tokens x tokens floats):
 * the largest tensor a forward pass makes and frees again in every block.
 * @param lpm - the LPM's architecture
 * @param imageSize - the side of its input
 */
export function attentionScoresBytes(lpm: VitConfig, imageSize: number): number {
  const tokens = (imageSize / lpm.patchSize) ** 2 + 1;
  return 4 * lpm.numHeads * tokens * tokens;
}

/**
 * Images per micro-batch for a step of `batch` images: the whole batch where the fit predicts that
 * its step, plus `headroomPerImage` for each image, fits the budget, else the largest micro-batch
 * that does.
 *
 * The headroom is for the allocator, not for tensors: WASM's heap is never compacted, so a step
 * that frees and makes again tensors of hundreds of MB needs more heap than its live tensors. At
 * the paper's shapes the linear probe's step of 13 images (3.17 GB live, predicted right) overflowed
 * the 4 GiB heap, while 11 grew it to 3,252 MiB; one block's attention scores per image
 * ({@link attentionScoresBytes}, 50.4 MB there) as headroom plans 10 images for it and keeps every
 * other method's micro-batch (full fine-tuning 1, VPT-deep, the adapter and LoRA 2, FPT and FPT+ 16).
 * @param ex - the method's fit at the run's shapes
 * @param depth - the LPM's layers
 * @param batch - images per step
 * @param budgetBytes - bytes a step may take
 * @param what - the method and shapes in words, for the error
 * @param headroomPerImage - bytes kept free per image of the micro-batch (default 0)
 * @throws when not even one image per micro-batch fits the budget
 */
export function planMicroBatch(
  ex: StepMemoryExtrapolation,
  depth: number,
  batch: number,
  budgetBytes: number,
  what: string,
  headroomPerImage = 0,
): number {
  const need = (m: number) => predictFromFit(ex, depth, m) + m * headroomPerImage;
  for (let m = batch; m >= 1; m--) if (need(m) <= budgetBytes) return m;
  throw new Error(
    `${what}: a training step on even one image needs about ${(need(1) / 2 ** 20).toFixed(0)} MiB, ` +
      `more than the backend's budget of ${(budgetBytes / 2 ** 20).toFixed(0)} MiB; use a backend with more memory (--backend) or a smaller LPM input`,
  );
}

/**
 * Splits a batch of `n` images into micro-batches of at most `size`: [start, end) ranges in order.
 * @param n - images in the batch
 * @param size - images per micro-batch
 */
export function microBatches(n: number, size: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let s = 0; s < n; s += size) out.push([s, Math.min(n, s + size)]);
  return out;
}
