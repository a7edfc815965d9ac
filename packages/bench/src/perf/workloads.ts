import * as tf from '@tensorflow/tfjs-core';
import { AdamW, crossEntropy, finishQueuedWork, parameterReport, trainStepAsync } from '@fpt/core';
import {
  adapt,
  createVit,
  frozenForward,
  trainingContext,
  vitB16Hf384,
  vitConfig,
  vitForward,
  type VitConfig,
  type VitPreset,
} from '@fpt/backbone-vit';
import { lora } from '@fpt/baselines';
import { fptAttachment, fptPlus } from '@fpt/fpt-plus';
import { vitForwardFlops } from './peak';

/** A ViT as the PyTorch reference builds it (benchmarks/torch/perf.py). */
interface TorchVit {
  hidden: number;
  layers: number;
  heads: number;
  mlp: number;
  patch: number;
  image: number;
  eps: number;
  classes: number;
}

/** Reads a step's output back (as a user of it would), frees it, and waits for the backend to finish. */
async function readAndFree(t: tf.Tensor): Promise<void> {
  await t.data();
  t.dispose();
  await finishQueuedWork();
}

/**
 * Waits for the backend to finish a product and frees it, without reading it back: the PyTorch
 * side's GEMM step is `a @ b` alone, and copying 12 MiB out of the WASM heap took longer than the
 * product itself.
 */
async function finishAndFree(t: tf.Tensor): Promise<void> {
  await finishQueuedWork();
  t.dispose();
}

/** One training step (AdamW, clipping 1), ended when the backend has finished it, the update included. */
async function trainingStep(loss: () => tf.Scalar, opt: AdamW): Promise<void> {
  await trainStepAsync(loss, opt, { clipNorm: 1 });
  await finishQueuedWork();
}

/** A workload of `fpt-bench perf`: its id, what it runs, and the spec the PyTorch side builds. */
export interface Workload {
  /** The issue's id: W1, W1b, W2, W3a, W3b, W3c, or GEMM-... */
  id: string;
  /** One line: what is measured. */
  title: string;
  /** Floating-point operations of one call when known (GEMM and W1 lines report GFLOP/s and pct_peak from it). */
  flops?: number;
  /**
   * At most this many calls per timed step (absent: one call, and no {@link BuiltWorkload.setCalls});
   * the line reports the time of one call. A GEMM takes 8-50 ms, so timed alone after the
   * protocol's idle pause it measured how fast the cores woke up rather than the product: a GEMM
   * step runs as many products back to back as take {@link CALLS_SECONDS} (from one untimed
   * product), at most {@link GEMM_CALLS}, the same count on both sides.
   */
  maxCalls?: number;
  /** The request the PyTorch reference understands. */
  torchSpec: Record<string, unknown>;
  /** Builds our side: the model, optimiser and inputs. */
  build(): BuiltWorkload;
}

/** Our side of a workload, built once and stepped many times. */
export interface BuiltWorkload {
  /**
   * One step (forward, or a full training step); must leave no tensors behind. It resolves when the
   * backend has finished the step's work (on a GPU: the queue drained), so its time is the step's.
   */
  step(): Promise<void>;
  /**
   * Bytes alive at the start of a step that the figure leaves out (the frozen LPM during training
   * from the cache, which never reads it).
   */
  excludedBytes: number;
  /** Frees everything. */
  dispose(): void;
  /** Sets the calls per step (workloads with {@link Workload.maxCalls}); the PyTorch side gets `calls` in its spec. */
  setCalls?(calls: number): void;
}

/** Shapes of a run: the issue's by default, smaller ones for a quick check. */
export interface WorkloadScale {
  /** Divides batches (at least 1). */
  batchDiv: number;
  /** W1's LPM resolution (issue: 512). */
  preloadImage: number;
  /** Training and W1b resolution (issue: 224). */
  image: number;
  /** GEMM rows (issue: 1024). */
  gemmRows: number;
}

/** The issue's shapes. */
export const FULL_SCALE: WorkloadScale = { batchDiv: 1, preloadImage: 512, image: 224, gemmRows: 1024 };
/** Small shapes for a quick run (`--quick`): the same code paths in seconds. */
export const QUICK_SCALE: WorkloadScale = { batchDiv: 4, preloadImage: 256, image: 112, gemmRows: 256 };

function torchVit(
  c: Pick<VitConfig, 'hiddenSize' | 'numLayers' | 'numHeads' | 'mlpDim' | 'patchSize' | 'imageSize' | 'layerNormEps' | 'numClasses'>,
): TorchVit {
  return {
    hidden: c.hiddenSize,
    layers: c.numLayers,
    heads: c.numHeads,
    mlp: c.mlpDim,
    patch: c.patchSize,
    image: c.imageSize,
    eps: c.layerNormEps,
    classes: c.numClasses,
  };
}

const batchOf = (n: number, s: WorkloadScale) => Math.max(1, Math.floor(n / s.batchDiv));

function preload(s: WorkloadScale): Workload {
  const method = fptPlus({ inputSize: s.preloadImage });
  const lpmConfig = vitB16Hf384();
  const layers = [6, 7, 8, 9, 10, 11]; // fptPlus's default: the last half of ViT-B/16
  const batch = 1;
  return {
    id: 'W1',
    title: `LPM preload: ViT-B/16 at ${s.preloadImage}, batch ${batch}, selected keys/values of layers ${layers[0]}-${layers.at(-1)}`,
    // Every block up to the last selected one runs (the key selection's top-k is not counted).
    flops: vitForwardFlops(lpmConfig, s.preloadImage, batch, Math.max(...layers) + 1),
    torchSpec: { kind: 'preload', vit: torchVit(lpmConfig), image: s.preloadImage, batch, layers, ratio: method.config.ratio },
    build() {
      const lpm = createVit(lpmConfig, { seed: 1 });
      const adapted = adapt(lpm, [method], { numClasses: 5 });
      const model = fptAttachment(adapted);
      const pixels = tf.randomNormal([batch, 3, s.preloadImage, s.preloadImage]);
      return {
        excludedBytes: 0,
        async step() {
          const kv = model.extractKeyValues(pixels);
          // Read back, as preloading does to write the cache.
          await Promise.all([kv.keys.data(), kv.values.data()]);
          tf.dispose([kv.keys, kv.values]);
        },
        dispose() {
          pixels.dispose();
          adapted.dispose();
          lpm.dispose();
        },
      };
    },
  };
}

function forward(s: WorkloadScale): Workload {
  const config = vitConfig('vit-b16');
  const batch = batchOf(8, s);
  return {
    id: 'W1b',
    title: `plain ViT-B/16 forward at ${s.image}, batch ${batch}`,
    torchSpec: { kind: 'forward', vit: torchVit(config), image: s.image, batch },
    build() {
      const vit = createVit(config, { seed: 1 });
      const pixels = tf.randomNormal([batch, 3, s.image, s.image]);
      return {
        excludedBytes: 0,
        // The library's no-gradient forward, as PyTorch's side runs under no_grad: each block's
        // intermediates are freed before the next block runs (vitForward, the differentiable
        // pass, keeps all 12 blocks' until its tidy ends: 1.5x PyTorch's memory).
        async step() {
          const out = frozenForward(vit, pixels, { layers: [], onLayer: () => ({}), runToEnd: true });
          out.features?.dispose();
          await readAndFree(out.logits!);
        },
        dispose() {
          pixels.dispose();
          vit.dispose();
        },
      };
    },
  };
}

function fptStep(s: WorkloadScale): Workload {
  const batch = batchOf(16, s);
  const lpmConfig = vitB16Hf384();
  // The shapes of the cached keys/values and side network, read from a built model.
  const probe = (() => {
    const lpm = createVit(lpmConfig, { init: 'zeros' });
    const m = adapt(lpm, [fptPlus()], { numClasses: 5 });
    const fpt = fptAttachment(m);
    const out = { kv: m.inputShapes(batch).keys, side: { ...fpt.config.side, numClasses: 5 } };
    m.dispose();
    lpm.dispose();
    return out;
  })();
  return {
    id: 'W2',
    title: `FPT+ training step on cached keys/values, paper shapes, batch ${batch}`,
    torchSpec: { kind: 'fpt', kv: probe.kv, prompts: 16, side: torchVit(probe.side) },
    build() {
      const lpm = createVit(lpmConfig, { init: 'zeros' });
      const model = adapt(lpm, [fptPlus()], { numClasses: 5 });
      const extras = Object.fromEntries(Object.entries(model.inputShapes(batch)).map(([k, shape]) => [k, tf.randomNormal(shape)]));
      const size = model.imageSize;
      const pixels = tf.randomNormal([batch, 3, size, size]);
      const labels = tf.zeros([batch], 'int32');
      const opt = new AdamW(model.trainableVariables(), { lr: 1e-4 });
      let i = 0;
      const step = () => trainingStep(() => model.loss({ pixels, extras }, labels, trainingContext(i++)), opt);
      return {
        excludedBytes: parameterReport(lpm).total * 4,
        step,
        dispose() {
          tf.dispose([pixels, labels, ...Object.values(extras)]);
          opt.dispose();
          model.dispose();
          lpm.dispose();
        },
      };
    },
  };
}

function vitTraining(id: string, preset: VitPreset, method: 'full' | 'lora', s: WorkloadScale): Workload {
  const config = vitConfig(preset, { numClasses: 5 });
  const batch = batchOf(8, s);
  const name = { 'vit-ti16': 'ViT-Ti/16', 'vit-s16': 'ViT-S/16', 'vit-b16': 'ViT-B/16', 'vit-l16': 'ViT-L/16' }[preset];
  return {
    id,
    title: `${method === 'full' ? 'full fine-tuning' : 'LoRA (rank 16)'} step, ${name} at ${s.image}, batch ${batch}`,
    torchSpec: { kind: 'train', method, rank: 16, alpha: 16, vit: torchVit(config), image: s.image, batch, classes: 5 },
    build() {
      const vit = createVit(config, { seed: 1 });
      const pixels = tf.randomNormal([batch, 3, s.image, s.image]);
      const labels = tf.zeros([batch], 'int32');
      let loss: () => tf.Scalar;
      let variables: tf.Variable[];
      let dispose = () => {};
      if (method === 'full') {
        loss = () => crossEntropy(vitForward(vit, pixels).logits!, labels);
        variables = vit.trainableVariables();
      } else {
        const applied = adapt(vit, [lora({ rank: 16, alpha: 16 })], { numClasses: 5 });
        loss = () => applied.loss({ pixels }, labels, trainingContext(0));
        variables = applied.trainableVariables();
        dispose = () => applied.dispose();
      }
      const opt = new AdamW(variables, { lr: 1e-4 });
      return {
        excludedBytes: 0,
        step: () => trainingStep(loss, opt),
        dispose() {
          tf.dispose([pixels, labels]);
          opt.dispose();
          dispose();
          vit.dispose();
        },
      };
    },
  };
}

/** At most this many products per timed GEMM step (see {@link Workload.maxCalls}). */
export const GEMM_CALLS = 10;

/** A GEMM step runs as many products as take this long, one product at least (see {@link Workload.maxCalls}). */
export const CALLS_SECONDS = 0.1;

/**
 * Calls per step for a workload whose one call took `seconds`: as many as take
 * {@link CALLS_SECONDS}, between 1 and `maxCalls`.
 */
export function callsFor(seconds: number, maxCalls: number): number {
  if (!(seconds > 0)) return maxCalls;
  return Math.max(1, Math.min(maxCalls, Math.ceil(CALLS_SECONDS / seconds)));
}

function gemm(m: number, k: number, n: number, transposeB: boolean): Workload {
  return {
    id: `GEMM-${m}x${k}x${n}-${transposeB ? 'NT' : 'NN'}`,
    title: `[${m}x${k}] x ${transposeB ? `[${n}x${k}]^T` : `[${k}x${n}]`}`,
    flops: 2 * m * k * n,
    maxCalls: GEMM_CALLS,
    torchSpec: { kind: 'gemm', m, k, n, transposeB },
    build() {
      const a = tf.randomNormal([m, k]);
      const b = tf.randomNormal(transposeB ? [n, k] : [k, n]);
      let calls = 1;
      return {
        excludedBytes: 0,
        step: async () => {
          for (let i = 0; i < calls; i++) await finishAndFree(tf.matMul(a, b, false, transposeB));
        },
        dispose: () => tf.dispose([a, b]),
        setCalls: (n) => {
          calls = n;
        },
      };
    },
  };
}

/** Every workload of the issue, in order, at the given scale. */
export function perfWorkloads(s: WorkloadScale): Workload[] {
  const gemms = [768, 3072].flatMap((n) => [false, true].map((t) => gemm(s.gemmRows, 768, n, t)));
  return [
    preload(s),
    forward(s),
    fptStep(s),
    vitTraining('W3a', 'vit-ti16', 'full', s),
    vitTraining('W3b', 'vit-ti16', 'lora', s),
    vitTraining('W3c', 'vit-s16', 'lora', s),
    ...gemms,
  ];
}
