// The ONE place where the bench touches a method's API: building it, its forward/loss, its
// parameters, its saved state and its key/value preloading. Everything else in the bench is
// method-agnostic and goes through `Trainable`. (Port this file to the new method contract.)
import * as tf from '@tensorflow/tfjs-core';
import { configFromStrings, parameterReport, type TensorEntry, type WritableTensor } from '@fpt/core';
import type { VitModel } from '@fpt/backbone-vit';
import { applyMethod, baselineMethods, type AppliedMethod } from '@fpt/baselines';
import { FptModel, fptParameterCounts, fptPlusConfig, fptV1Config, type FptConfig } from '@fpt/fpt-plus';
import { featureFingerprint, KvCache, kvShape, preload, type CacheEvent, type PreloadItem } from '@fpt/fpt-plus/node';
import type { ChannelStats } from '../data/prepare';

/** A batch as every method takes it: pixels at the method's input size, plus method-specific inputs. */
export interface Batch {
  /** Normalised pixels [B, 3, S, S], S = {@link Trainable.pixelSize}. */
  pixels: tf.Tensor;
  /** Extra inputs (FPT+/FPT: the LPM's selected `keys` and `values`), from {@link Trainable.extras}. */
  extras?: Record<string, tf.Tensor>;
}

/** Per-call context: nothing is stored on the model between calls. */
export interface StepContext {
  /** Training mode (dropout on). */
  training: boolean;
  /** Seed of this call's random masks. */
  seed: number;
  /** Global step. */
  step: number;
}

/** Learnable and total parameters with DESIGN.md §3's denominator. */
export interface ParameterCounts {
  /** Trainable elements. */
  learnable: number;
  /** Frozen LPM (its own head included) plus the method's new parameters. */
  total: number;
  /** learnable / total, percent. */
  sharePercent: number;
}

/** What preloading the key/value cache cost. */
export interface PreloadReport {
  /** Images preloaded (distinct files). */
  images: number;
  /** Entries computed by running the LPM. */
  computed: number;
  /** Entries already in the cache. */
  hits: number;
  /** Entries found unusable and recomputed. */
  invalid: number;
  /** Wall-clock seconds. */
  seconds: number;
  /** The cache folder. */
  cacheDir: string;
}

/** A method built for one run, behind the one interface the runner uses. */
export interface Trainable {
  /** The method's CLI name. */
  readonly method: string;
  /** Side of the square pixels the method trains on (baselines: the LPM's input; FPT: the side network's). */
  readonly pixelSize: number;
  /** Whether batches need {@link Trainable.extras} (preloaded LPM keys/values). */
  readonly needsKeyValues: boolean;
  /** The complete method options, as recorded in the results. */
  readonly options: Record<string, unknown>;
  /** Variables the optimizer updates, in a fixed order. */
  trainableVariables(): tf.Variable[];
  /** Mean cross-entropy of a batch (called inside the gradient tape). */
  loss(batch: Batch, labels: tf.Tensor, ctx: StepContext): tf.Scalar;
  /** Evaluation-mode logits [B, C]. */
  logits(batch: Batch): tf.Tensor;
  /**
   * Fills the key/value cache for these images (FPT+/FPT only).
   * @param items - images: bytes hash and un-augmented LPM-size pixels
   * @param cacheDir - cache root (shared by runs and datasets; entries keyed by fingerprint)
   * @param stats - the dataset's normalisation (part of the fingerprint)
   * @param onEvent - called per image
   */
  preload?(items: Array<{ hash: string; pixels: () => tf.Tensor }>, cacheDir: string, stats: ChannelStats, onEvent?: (e: CacheEvent) => void): PreloadReport;
  /** Extra inputs of a batch of images (by file sha256), after {@link Trainable.preload}. */
  extras?(hashes: string[]): Record<string, tf.Tensor>;
  /** The learnable state (weights of everything that trains), by stable names. */
  saveState(): Record<string, WritableTensor>;
  /** Restores {@link Trainable.saveState}; throws naming a missing key or a shape mismatch. */
  loadState(tensors: Map<string, TensorEntry>): void;
  /** Parameter counts. */
  counts(): ParameterCounts;
  /** Bytes of frozen weights that a training step does not read (FPT on cached keys/values: the LPM). */
  excludedBytes(): number;
  /** Frees everything, the LPM included. */
  dispose(): void;
}

/** What {@link buildTrainable} needs. */
export interface BuildOptions {
  /** Method CLI name (`lora`, `fpt-plus`, ...). */
  method: string;
  /** Method options as strings (`--set method.key=value`). */
  options: Record<string, string>;
  /** Classes of the task. */
  numClasses: number;
  /** Seed of the method's initialisation. */
  seed: number;
  /** A fresh LPM this trainable takes ownership of. */
  lpm: VitModel;
  /** Resolution the LPM sees. */
  lpmInputSize: number;
}

/** Every method name the runner can build. */
export function trainableMethods(): string[] {
  return ['fpt-plus', 'fpt', ...baselineMethods.names()];
}

/**
 * Builds a method for a run.
 * @throws naming the method and option when the name or an option is unknown or malformed
 */
export function buildTrainable(o: BuildOptions): Trainable {
  if (o.method === 'fpt-plus' || o.method === 'fpt') return buildFpt(o);
  if (!baselineMethods.names().includes(o.method)) {
    o.lpm.dispose();
    throw new Error(`unknown method "${o.method}"; known: ${trainableMethods().join(', ')}`);
  }
  return buildBaseline(o);
}

function stateOf(named: Array<{ name: string; variable: tf.Variable }>): Record<string, WritableTensor> {
  const out: Record<string, WritableTensor> = {};
  for (const { name, variable } of named) out[name] = { dtype: 'float32', shape: variable.shape, data: variable.dataSync() as Float32Array };
  return out;
}

function loadInto(named: Array<{ name: string; variable: tf.Variable }>, tensors: Map<string, TensorEntry>): void {
  for (const { name, variable } of named) {
    const e = tensors.get(name);
    if (!e) throw new Error(`saved state has no tensor "${name}"`);
    if (e.shape.join(',') !== variable.shape.join(',')) throw new Error(`saved state "${name}" has shape [${e.shape}], expected [${variable.shape}]`);
    tf.tidy(() => variable.assign(tf.tensor(e.data as Float32Array, e.shape, 'float32')));
  }
}

function buildBaseline(o: BuildOptions): Trainable {
  let applied: AppliedMethod;
  try {
    applied = applyMethod(o.lpm, o.method, o.options, { numClasses: o.numClasses, seed: o.seed });
  } catch (err) {
    o.lpm.dispose();
    throw err;
  }
  const named = () => [
    ...applied.module.namedParameters().map((p) => ({ name: p.name, variable: p.variable })),
    ...applied.trainedBackboneParameters.map((n) => ({ name: `backbone.${n}`, variable: o.lpm.get(n) })),
  ];
  return {
    method: o.method,
    pixelSize: o.lpmInputSize,
    needsKeyValues: false,
    options: applied.specs[0].config,
    trainableVariables: () => applied.trainableVariables(),
    loss: (batch, labels, ctx) => applied.loss(batch.pixels, labels, { training: ctx.training }),
    logits: (batch) => applied.forward(batch.pixels, { training: false }),
    saveState: () => stateOf(named()),
    loadState: (tensors) => loadInto(named(), tensors),
    counts: () => applied.parameterCounts(),
    excludedBytes: () => 0,
    dispose: () => {
      applied.dispose();
      o.lpm.dispose();
    },
  };
}

/** FPT+/FPT options settable with `--set`, and their defaults (the side network's follow DESIGN.md §2/§3). */
function fptDefaults(variant: 'fpt-plus' | 'fpt', lpm: VitModel) {
  return {
    prompts: 16,
    ratio: 0.2,
    criterion: 'global',
    sideWidth: lpm.config.hiddenSize / 8,
    sideHeads: 12,
    sidePatch: 16,
    sideImage: variant === 'fpt' ? 224 : 128,
    dropout: variant === 'fpt' ? 0 : 0.5,
    layers: [] as string[],
  };
}

function buildFpt(o: BuildOptions): Trainable {
  const variant = o.method as 'fpt-plus' | 'fpt';
  let model: FptModel;
  let opts: ReturnType<typeof fptDefaults>;
  try {
    opts = configFromStrings(fptDefaults(variant, o.lpm), o.options, o.method);
    const layers = opts.layers.length ? opts.layers.map(Number) : undefined;
    if (layers?.some((l) => !Number.isInteger(l))) throw new Error(`${o.method}: option "layers" expects comma-separated layer indices, got "${opts.layers.join(',')}"`);
    const input = {
      lpm: o.lpm.config,
      inputSize: o.lpmInputSize,
      layers,
      seed: o.seed,
      selection: { criterion: opts.criterion, ratio: opts.ratio },
      fusion: { prompts: opts.prompts, dropout: opts.dropout },
      side: {
        hiddenSize: opts.sideWidth,
        numHeads: opts.sideHeads,
        mlpDim: 4 * opts.sideWidth,
        patchSize: opts.sidePatch,
        imageSize: opts.sideImage,
        ...(layers ? { numLayers: layers.length } : {}),
      },
    };
    const config: FptConfig = variant === 'fpt' ? fptV1Config(o.numClasses, input) : fptPlusConfig(o.numClasses, input);
    model = new FptModel(config, o.lpm);
  } catch (err) {
    o.lpm.dispose();
    throw err;
  }
  let cache: KvCache | undefined;
  let keyOf: (hash: string) => string = (h) => h;
  const named = () => model.learnable.namedParameters().map((p) => ({ name: p.name, variable: p.variable }));
  const kvFrom = (extras: Record<string, tf.Tensor> | undefined) => {
    if (!extras?.keys || !extras.values) throw new Error(`${o.method}: a batch needs the LPM's keys and values (call preload, then extras)`);
    return { keys: extras.keys, values: extras.values };
  };
  return {
    method: o.method,
    pixelSize: model.config.side.imageSize,
    needsKeyValues: true,
    options: { ...opts, layers: model.config.layers },
    trainableVariables: () => model.learnable.trainableVariables(),
    loss: (batch, labels, ctx) => model.loss(kvFrom(batch.extras), batch.pixels, labels, { training: ctx.training, seed: ctx.seed }),
    logits: (batch) => model.forward(kvFrom(batch.extras), batch.pixels, { training: false }).logits,
    preload(items, cacheDir, stats, onEvent) {
      const started = performance.now();
      cache = new KvCache(cacheDir, featureFingerprint(model, stats), kvShape(model));
      // `preload` keys entries by the sha256 of `bytes`; our items are already keyed by their file's
      // sha256, so the hash's hex text stands in for the bytes and the entry name is its hash.
      const byKey = new Map<string, string>();
      const list: PreloadItem[] = items.map((it) => {
        const bytes = new TextEncoder().encode(it.hash);
        return { bytes, pixels: it.pixels };
      });
      const r = preload(model, cache, list, { batchSize: 16, onEvent });
      r.hashes.forEach((h, i) => byKey.set(items[i].hash, h));
      keyOf = (hash) => {
        const k = byKey.get(hash);
        if (!k) throw new Error(`${o.method}: image ${hash} was not preloaded`);
        return k;
      };
      return { images: r.hits + r.computed, computed: r.computed, hits: r.hits, invalid: r.invalid, seconds: (performance.now() - started) / 1000, cacheDir: cache.folder };
    },
    extras(hashes) {
      if (!cache) throw new Error(`${o.method}: extras() before preload()`);
      const kv = cache.loadBatch(hashes.map((h) => keyOf(h)));
      return { keys: kv.keys, values: kv.values };
    },
    saveState: () => stateOf(named()),
    loadState: (tensors) => loadInto(named(), tensors),
    counts: () => {
      const c = fptParameterCounts(model);
      return { learnable: c.learnable, total: c.total, sharePercent: c.sharePercent };
    },
    excludedBytes: () => parameterReport(model.lpm).total * 4,
    dispose: () => model.dispose(),
  };
}
