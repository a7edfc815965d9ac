import type { ParameterCounts } from '@fpt/backbone-vit';
import type { GpuAdapterReport } from '@fpt/core';
import type { AucConvention, LogitMetrics } from '../metrics/index';
import { checkPaperShapeMemory, checkStepMemory, type PaperShapeMemoryRecord, type StepMemoryRecord } from '../memory/records';
import type { RunIdentity } from './identity';
import { JsonChecker } from '../files/check';

/**
 * The result-file format tag; bump it when a field changes meaning. 3: both AUC conventions
 * (`aucLogits`), `absentClasses`, `testFinal`, the official selection rule, binary F1/precision/
 * recall of the positive class, `recipe.auc`, `efficiency.auc`, `dataset.normalisation.from`.
 */
export const RUN_SCHEMA = 'fpt-bench-run/3';

/** One epoch of training and validation. */
export interface EpochRecord {
  /** 0-based epoch. */
  epoch: number;
  /** Mean training loss over the epoch's steps. */
  trainLoss: number;
  /** Learning rate of the epoch's last step. */
  lr: number;
  /** Validation metrics after the epoch (both AUC conventions). */
  val: LogitMetrics;
  /** Seconds of training steps in the epoch (data preparation included). */
  trainSeconds: number;
}

/** The result of one (dataset, method, seed) run: the file `runs/<id>.json`. */
export interface RunResult {
  /** {@link RUN_SCHEMA}. */
  schema: typeof RUN_SCHEMA;
  /** `<dataset>__<method>__seed<seed>`. */
  id: string;
  /** Preset name. */
  preset: string;
  /** Run seed. */
  seed: number;
  /**
   * Everything that changed the result (recipe, options, images, LPM weights, shrinking): a rerun
   * with another identity neither skips nor resumes this run. Absent in files of older runners.
   */
  identity?: RunIdentity;
  /** The dataset as used. */
  dataset: {
    name: string;
    classes: string[];
    found: { train: number; val: number; test: number };
    used: { train: number; val: number; test: number };
    /** The input normalisation; `from`: `training split` (the authors' `auto`) or the dataset preset that fixed it. */
    normalisation: { mean: number[]; std: number[]; from: string };
    checksums: string;
  };
  /**
   * The method: its name, label, configuration as saved (`options` is `method.config`, complete and
   * plain, which `METHOD_REGISTRY.revive({ name, config: options })` re-creates) and input size.
   */
  method: { name: string; label: string; options: Record<string, unknown>; pixelSize: number };
  /** The frozen LPM. */
  lpm: { source: string; pretrained: boolean; inputSize: number; config: Record<string, unknown> };
  /** The training recipe. */
  recipe: {
    optimizer: 'AdamW';
    lr: number;
    betas: [number, number];
    weightDecay: number;
    schedule: 'cosine per iteration, no warm-up';
    clipNorm: number;
    epochs: number;
    batch: number;
    /**
     * Images per micro-batch: equal to `batch` when a step holds the whole batch; smaller when the
     * step accumulated gradients over micro-batches (`--micro-batch`, or the step at the whole batch
     * did not fit the backend's memory): the same update, one optimizer step per batch.
     */
    microBatch: number;
    stepsPerEpoch: number;
    dropLast: true;
    /** The AUC convention of the checkpoint selection, the table and PPE/PME (`--auc`). */
    auc: AucConvention['name'];
    /** The checkpoint rule in words. */
    selection: string;
  };
  /** What the preset shrank relative to the paper. */
  shrunk: string[];
  /** Where it ran. */
  environment: {
    backend: string;
    /** The matrix-product kernels (native SGEMM, the WASM fallback, or tfjs's own). */
    kernels: string;
    node: string;
    tfjs: string;
    cpu: string;
    cores: number;
    memoryBytes: number;
    /** The GPU in words: the WebGPU adapter's line, `CUDA (tfjs-node-gpu)`, or null on a CPU backend. */
    gpu: string | null;
    /** The WebGPU adapter (vendor, architecture, device, driver, limits) when the backend is `webgpu`; null otherwise (absent in files from before WebGPU). */
    adapter?: GpuAdapterReport | null;
    platform: string;
  };
  /** Parameter accounting. */
  parameters: ParameterCounts;
  /** Training-step memory. */
  memory: {
    /** This method at the run's shapes. */
    runShapes: StepMemoryRecord;
    /** Full fine-tuning of the same LPM at the same shapes (the PME reference). */
    fullFinetuneRunShapes: StepMemoryRecord;
    /** This method at the paper's shapes (ViT-B/16 at 512, batch 16), or null with the reason in `paperShapesNote`. */
    paperShapes: PaperShapeMemoryRecord | null;
    /** Full fine-tuning at the paper's shapes (the reference of the paper-shape memory %), or null. */
    fullFinetunePaperShapes: PaperShapeMemoryRecord | null;
    /** Why the paper-shape figures are null (`--paper-memory off`). */
    paperShapesNote?: string;
  };
  /** Key/value preloading (FPT+/FPT), apart from training; null for other methods. */
  preload: {
    images: number;
    computed: number;
    hits: number;
    invalid: number;
    seconds: number;
    /** Peak bytes of the LPM pass over the first image computed; null when every image was a cache hit. */
    peakBytes: number | null;
    /** Images per LPM pass, sized from that peak to the backend's budget (at most 16). */
    batchSize?: number;
    /** `measured`: the LPM ran on an image and was measured; `cache hit`: every entry was computed by an earlier run. */
    peakHow?: 'measured' | 'cache hit';
  } | null;
  /** Speed. */
  timing: { stepSeconds: number; imagesPerSecond: number; trainSeconds: number; evalSeconds: number; totalSeconds: number };
  /** Per-epoch history. */
  epochs: EpochRecord[];
  /**
   * The best-validation checkpoint: its epoch and rounded validation AUC (`recipe.auc`'s
   * convention); epoch -1 when no epoch's AUC rounded above 0 (then `test` is the final weights').
   */
  best: { epoch: number; valAuc: number };
  /** Test metrics of the best-validation weights (what the table shows). */
  test: LogitMetrics;
  /** Test metrics of the final weights (the official code tests both). */
  testFinal: LogitMetrics;
  /** Efficiency-adjusted test AUC ([metrics](../../../../docs/method.md#metrics), `auc`: the convention used) with run-shape memory. */
  efficiency: { auc: AucConvention['name']; ppe: number; pme: number };
  /** Whether it was resumed from a checkpoint. */
  resumedFromEpoch: number | null;
  /** When it finished (ISO time). */
  finishedAt: string;
}

const METRIC_KEYS = ['auc', 'aucLogits', 'kappa', 'accuracy', 'f1', 'precision', 'recall'];

/**
 * Checks that a parsed JSON value is a {@link RunResult} of this schema version.
 * @param value - the parsed file
 * @param source - names the file in errors
 * @throws naming the file and the first key at fault, with what was expected
 */
export function validateRunResult(value: unknown, source: string): RunResult {
  const c = new JsonChecker(source);
  const fail = c.fail.bind(c);
  const obj = c.obj.bind(c);
  const num = c.num.bind(c);
  const str = c.str.bind(c);
  const metrics = (v: unknown, key: string) => {
    const m = obj(v, key);
    for (const k of METRIC_KEYS) num(m[k], `${key}.${k}`);
    if (!Array.isArray(m.absentClasses) || m.absentClasses.some((c) => !Number.isInteger(c)))
      fail(`${key}.absentClasses`, 'must be a list of class indices');
  };
  const convention = (v: unknown, key: string) => {
    if (v !== 'logits' && v !== 'probabilities') fail(key, `must be "logits" or "probabilities", got ${JSON.stringify(v)}`);
  };
  const r = obj(value, '(root)');
  if (r.schema !== RUN_SCHEMA) fail('schema', `is ${JSON.stringify(r.schema)}, expected "${RUN_SCHEMA}"`);
  str(r.id, 'id');
  str(r.preset, 'preset');
  num(r.seed, 'seed');
  if (r.identity !== undefined) str(obj(r.identity, 'identity').hash, 'identity.hash');
  const d = obj(r.dataset, 'dataset');
  str(d.name, 'dataset.name');
  if (!Array.isArray(d.classes) || d.classes.length < 2) fail('dataset.classes', 'must list at least two classes');
  const n = obj(d.normalisation, 'dataset.normalisation');
  if (!Array.isArray(n.mean) || n.mean.length !== 3 || !Array.isArray(n.std) || n.std.length !== 3)
    fail('dataset.normalisation', 'must hold mean and std of 3 channels');
  str(n.from, 'dataset.normalisation.from');
  convention(obj(r.recipe, 'recipe').auc, 'recipe.auc');
  const m = obj(r.method, 'method');
  str(m.name, 'method.name');
  str(m.label, 'method.label');
  const l = obj(r.lpm, 'lpm');
  if (typeof l.pretrained !== 'boolean') fail('lpm.pretrained', 'must be a boolean');
  str(l.source, 'lpm.source');
  const p = obj(r.parameters, 'parameters');
  for (const k of ['learnable', 'total', 'sharePercent']) num(p[k], `parameters.${k}`);
  const mem = obj(r.memory, 'memory');
  num(obj(mem.runShapes, 'memory.runShapes').peakBytes, 'memory.runShapes.peakBytes');
  checkStepMemory(c, mem.fullFinetuneRunShapes, 'memory.fullFinetuneRunShapes');
  for (const key of ['paperShapes', 'fullFinetunePaperShapes']) {
    if (mem[key] === null) {
      if (typeof mem.paperShapesNote !== 'string') fail('memory.paperShapesNote', `must say why memory.${key} is null`);
      continue;
    }
    checkPaperShapeMemory(c, mem[key], `memory.${key}`);
  }
  if (!Array.isArray(r.epochs) || r.epochs.length === 0) fail('epochs', 'must be a non-empty list');
  (r.epochs as unknown[]).forEach((e, i) => {
    const rec = obj(e, `epochs[${i}]`);
    num(rec.trainLoss, `epochs[${i}].trainLoss`);
    metrics(rec.val, `epochs[${i}].val`);
  });
  const best = obj(r.best, 'best');
  num(best.epoch, 'best.epoch');
  metrics(r.test, 'test');
  metrics(r.testFinal, 'testFinal');
  const eff = obj(r.efficiency, 'efficiency');
  convention(eff.auc, 'efficiency.auc');
  num(eff.ppe, 'efficiency.ppe');
  num(eff.pme, 'efficiency.pme');
  obj(r.timing, 'timing');
  return r as unknown as RunResult;
}
