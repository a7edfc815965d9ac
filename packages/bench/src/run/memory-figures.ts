// A run's memory figures: full fine-tuning's step at the run's shapes (the PME reference), this
// method and full fine-tuning at the paper's shapes, and the micro-batch plan. Every figure starts
// from the method's fit at its shapes, made once and kept in the results folder; a real step is
// taken only where the fit says it fits the budget. Figures are kept in the folder too, so that a
// resumed run or another shard does not measure again.
import { join } from 'node:path';
import { paperShapeMemory } from '../memory/paper';
import { checkPaperShapeMemory, checkStepMemory, type PaperShapeMemoryRecord, type StepMemoryRecord } from '../memory/records';
import { PAPER_SHAPES, vitB16At512, type PaperShapes } from '../paper/paper';
import type { GridRun } from '../results/grid';
import type { LpmSpec } from './lpm';
import { MeasurementFile } from './measurements';
import { attentionScoresBytes, planMicroBatch, StepMemoryFits } from './memory-plan';
import type { RunPlan } from './plan';
import type { RunSpec } from './train';

/** What {@link MemoryFigures} needs. */
export interface MemoryFiguresOptions {
  /** The plan: its folder, methods, options and batch. */
  plan: RunPlan;
  /** The LPM of the runs. */
  lpm: LpmSpec;
  /** The backend's name (part of every key). */
  backend: string;
  /** Bytes a real step may take. */
  budgetBytes: number;
  /** Progress lines. */
  print: (line: string) => void;
  /** Shapes of the paper-shape figures for C classes (default: the paper's with a C-class head). */
  paperShapes?: (numClasses: number) => PaperShapes;
}

/** Step-memory figures of a results folder, measured once per method configuration, shapes and backend. */
export class MemoryFigures {
  private readonly reference: MeasurementFile<StepMemoryRecord>;
  private readonly paper: MeasurementFile<PaperShapeMemoryRecord>;
  private readonly fits: StepMemoryFits;
  private readonly paperShapesOf: (numClasses: number) => PaperShapes;

  constructor(private readonly o: MemoryFiguresOptions) {
    const out = o.plan.out;
    this.reference = new MeasurementFile<StepMemoryRecord>(join(out, 'memory-reference.json'), checkStepMemory);
    // Paper-shape memory: per method configuration, shared by every dataset and seed.
    this.paper = new MeasurementFile<PaperShapeMemoryRecord>(join(out, 'paper-memory.json'), checkPaperShapeMemory);
    this.fits = new StepMemoryFits(join(out, 'memory-fits.json'), o.backend, o.budgetBytes, o.print);
    // The paper's shapes with the run's head: one figure per (method, classes).
    this.paperShapesOf = o.paperShapes ?? ((numClasses: number) => vitB16At512(PAPER_SHAPES.batch, numClasses));
  }

  /** The run's own shapes: its LPM at its input size, its batch and classes. */
  runShapes(numClasses: number): PaperShapes {
    const { lpm } = this.o;
    const c = lpm.config;
    const batch = this.o.plan.batch;
    return {
      lpm: c,
      imageSize: lpm.inputSize,
      batch,
      numClasses,
      label: `LPM width ${c.hiddenSize}, ${c.numLayers} layers at ${lpm.inputSize}x${lpm.inputSize}, batch ${batch}, ${numClasses}-class head`,
    };
  }

  /** Full fine-tuning's step at the run's shapes: the reference of the memory % and of PME. */
  async fullFinetune(numClasses: number): Promise<StepMemoryRecord> {
    const shapes = this.runShapes(numClasses);
    const key = `v2|${this.o.lpm.source}|${shapes.label}|${this.o.backend}`;
    const known = this.reference.get(key);
    if (known) return known;
    const r = asStepRecord(await this.stepMemory('full', {}, shapes));
    this.reference.set(key, r);
    return r;
  }

  /** The method and full fine-tuning at the paper's shapes, or why not (`--paper-memory off`). */
  async paperFigures(method: string, numClasses: number): Promise<RunSpec['paperMemory']> {
    if (!this.o.plan.paperMemory) return { note: 'not measured: --paper-memory off' };
    return { method: await this.paperFigure(method, numClasses), full: await this.paperFigure('full', numClasses) };
  }

  /**
   * Micro-batches of a run: as `--micro-batch` says, else the whole batch where the method's step
   * fits the backend's budget, else the largest micro-batch that does. The memory columns keep the
   * whole batch's figure (a real step where it fits, else the fit's prediction), as the paper reports it.
   * @param options - the run's method options (the preset's, then `--set`)
   */
  async microBatch(
    run: GridRun,
    options: Record<string, string>,
    numClasses: number,
  ): Promise<{ size: number; wholeBatch?: StepMemoryRecord }> {
    const { plan, lpm, budgetBytes } = this.o;
    const shapes = this.runShapes(numClasses);
    const make = () => plan.makeMethod(run.method, options, lpm.inputSize);
    const size =
      plan.microBatch ??
      planMicroBatch(
        await this.fits.fit(run.method, options, make, shapes),
        lpm.config.numLayers,
        plan.batch,
        budgetBytes,
        `${run.id} at ${shapes.label}`,
        attentionScoresBytes(lpm.config, lpm.inputSize),
      );
    if (size >= plan.batch) return { size };
    const wholeBatch = asStepRecord(await this.stepMemory(run.method, options, shapes));
    this.o.print(
      `${run.id}: ${plan.batch} images per step in micro-batches of ${size} (${plan.microBatch ? '--micro-batch' : `the whole batch needs about ${(wholeBatch.peakBytes / 2 ** 20).toFixed(0)} MiB, over the budget of ${(budgetBytes / 2 ** 20).toFixed(0)} MiB`}): gradients accumulated, one update per batch`,
    );
    return { size, wholeBatch };
  }

  /** A method's step at these shapes, from its fit (made once) and a real step where that fits. */
  private async stepMemory(method: string, options: Record<string, string>, shapes: PaperShapes): Promise<PaperShapeMemoryRecord> {
    const { plan, backend, budgetBytes, print } = this.o;
    const make = () => plan.makeMethod(method, options, shapes.imageSize);
    const fit = await this.fits.fit(method, options, make, shapes);
    return paperShapeMemory(make, { options, budgetBytes, backend, shapes, log: print, fit });
  }

  /** One method's figure at the paper's shapes with a C-class head (its `--set` options only: the preset's shrinking is not applied). */
  private async paperFigure(method: string, numClasses: number): Promise<PaperShapeMemoryRecord> {
    const { plan, backend, print } = this.o;
    const paperShapes = this.paperShapesOf(numClasses);
    const options = plan.sets[method] ?? {};
    const key = `v2|${paperShapes.label}|${method}|${JSON.stringify(options)}|${backend}`;
    const known = this.paper.get(key);
    if (known) return known;
    print(`${method}: step memory at the paper's shapes (${paperShapes.label})`);
    const r = await this.stepMemory(method, options, paperShapes);
    print(`${method}: ${(r.peakBytes / 2 ** 20).toFixed(1)} MiB at the paper's shapes (${r.how}, ${r.seconds.toFixed(0)} s)`);
    this.paper.set(key, r);
    return r;
  }
}

/** The step-memory fields of a paper-shape record. */
function asStepRecord(r: PaperShapeMemoryRecord): StepMemoryRecord {
  return { peakBytes: r.peakBytes, excludedBytes: r.excludedBytes, how: r.how, extrapolation: r.extrapolation };
}
