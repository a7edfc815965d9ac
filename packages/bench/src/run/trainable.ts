// The ONE place where the bench touches a method's API: building it, its forward/loss, its
// parameters, its saved state and its key/value preloading. Everything else in the bench is
// method-agnostic and goes through `Trainable`. Built on the one method contract (`adapt`).
import type * as tf from '@tensorflow/tfjs-core';
import { loadStateDict, stateDictAsync, type StateDict, type TensorEntry } from '@fpt/core';
import {
  adapt,
  savedMethod,
  type AdaptedModel,
  type Batch,
  type ForwardContext,
  type ParameterCounts,
  type VitModel,
} from '@fpt/backbone-vit';
import { featureFingerprintAsync, KvCache, type CacheEvent, type PreloadItem } from '@fpt/fpt-plus/node';
import { sharedPreload } from './shared-preload';
import type { ChannelStats } from '../data/prepare';
import { unreadWeightBytes } from '../memory/steps';
import type { MethodFactory } from './plan';

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
  /** Whether batches need {@link Trainable.extras} (the method's `needsInputs` capability: FPT's preloaded LPM keys/values). */
  readonly needsInputs: boolean;
  /** The method's complete configuration as saved (`method.config`), as recorded in the results. */
  readonly options: Record<string, unknown>;
  /** Variables the optimizer updates, in a fixed order. */
  trainableVariables(): tf.Variable[];
  /** Mean cross-entropy of a batch (called inside the gradient tape). */
  loss(batch: Batch, labels: tf.Tensor, ctx: ForwardContext): tf.Scalar;
  /** Evaluation-mode logits [B, C]. */
  logits(batch: Batch): tf.Tensor;
  /**
   * Fills the key/value cache for these images (FPT+/FPT only).
   * @param items - images: bytes hash and un-augmented LPM-size pixels
   * @param cacheDir - cache root (shared by runs and datasets; entries keyed by fingerprint)
   * @param stats - the dataset's normalisation (part of the fingerprint)
   * @param onEvent - called per image
   * @param batchSize - images per LPM forward pass (default 16)
   */
  preload?(
    items: Array<{ hash: string; pixels: () => tf.Tensor }>,
    cacheDir: string,
    stats: ChannelStats,
    onEvent?: (e: CacheEvent) => void,
    batchSize?: number,
  ): Promise<PreloadReport>;
  /** Extra inputs of a batch of images (by file sha256), after {@link Trainable.preload}. */
  extras?(hashes: string[]): Record<string, tf.Tensor>;
  /** The learnable state (weights of everything that trains), by stable names (core's `stateDictAsync`: any backend). */
  saveState(): Promise<StateDict>;
  /** Restores {@link Trainable.saveState} (core's `loadStateDict`); throws naming a missing key or a shape mismatch. */
  loadState(tensors: Map<string, TensorEntry>): void;
  /** Name and shape of each of {@link Trainable.trainableVariables}, in order: what the optimizer's state is keyed by. */
  trainableParams(): Array<{ name: string; shape: number[] }>;
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
  /** Makes the method from its name and options (the bench's: `makeMethod` of `commands/methods.ts`). */
  make: MethodFactory;
  /** Classes of the task. */
  numClasses: number;
  /** Seed of the method's initialisation. */
  seed: number;
  /** A fresh LPM this trainable takes ownership of. */
  lpm: VitModel;
  /** Resolution the LPM sees. */
  lpmInputSize: number;
}

/**
 * Builds a method for a run: the factory with `--set` strings (FPT's `inputSize` is the run's LPM
 * resolution), adapted onto the LPM with a new head.
 * @throws naming the method and option when the name or an option is unknown or malformed
 */
export function buildTrainable(o: BuildOptions): Trainable {
  let model: AdaptedModel;
  let options: Record<string, unknown>;
  try {
    const method = o.make(o.method, o.options, o.lpmInputSize);
    options = savedMethod(method).config;
    model = adapt(o.lpm, [method], { numClasses: o.numClasses, seed: o.seed });
  } catch (err) {
    o.lpm.dispose();
    throw err;
  }
  const lpm = o.lpm;
  // Methods that need extra inputs (FPT+/FPT: the LPM's keys and values) train on their own pixels
  // and never run the LPM in a step; the others read the LPM-size image.
  const need = model.needsInputs;
  let cache: KvCache | undefined;
  let keyOf: (hash: string) => string = (h) => h;
  return {
    method: o.method,
    pixelSize: need ? model.imageSize : o.lpmInputSize,
    needsInputs: need !== undefined,
    options,
    trainableVariables: () => model.trainableVariables(),
    loss: (batch, labels, ctx) => model.loss(batch, labels, ctx),
    logits: (batch) => model.forward(batch),
    ...(need
      ? {
          async preload(items, cacheDir, stats, onEvent, batchSize = 16) {
            const started = performance.now();
            cache = new KvCache(cacheDir, await featureFingerprintAsync(need, stats), need);
            // `preload` keys entries by the sha256 of `bytes`; our images are already known by their
            // file's sha256, whose hex text stands in for the bytes.
            const list: PreloadItem[] = items.map((it) => ({ bytes: new TextEncoder().encode(it.hash), pixels: it.pixels }));
            // Shards on a shared filesystem may fill the same cache at once: each entry is claimed, computed once.
            const r = await sharedPreload(need, cache, list, { batchSize, onEvent });
            const byKey = new Map(items.map((it, i) => [it.hash, r.hashes[i]]));
            keyOf = (hash) => {
              const k = byKey.get(hash);
              if (!k) throw new Error(`${o.method}: image ${hash} was not preloaded`);
              return k;
            };
            return {
              images: r.hits + r.computed,
              computed: r.computed,
              hits: r.hits,
              invalid: r.invalid,
              seconds: (performance.now() - started) / 1000,
              cacheDir: cache.folder,
            };
          },
          extras(hashes: string[]) {
            if (!cache) throw new Error(`${o.method}: extras() before preload()`);
            return cache.loadBatch(hashes.map((h) => keyOf(h)));
          },
        }
      : {}),
    saveState: () => stateDictAsync(model.namedVariables()),
    loadState: (tensors) => void loadStateDict(model.namedVariables(), tensors, { label: 'saved state' }),
    trainableParams: () => {
      // Each name with its own variable (trainableNames' order: the named variables that train).
      const trainable = new Set(model.trainableVariables());
      return model
        .namedVariables()
        .filter((p) => trainable.has(p.variable))
        .map((p) => ({ name: p.name, shape: p.variable.shape }));
    },
    counts: () => model.counts(),
    excludedBytes: () => unreadWeightBytes(model, lpm),
    dispose: () => {
      model.dispose();
      lpm.dispose();
    },
  };
}
