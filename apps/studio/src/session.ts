import * as tf from '@tensorflow/tfjs-core';
import { AdamW, aucScore, confusionMatrix, Rng, trainStepAsync } from '@fpt/core';
import { adapt, loadAdapted, trainingContext, type AdaptedModel, type Method, type NeedsInputs, type VitModel } from '@fpt/backbone-vit';
import {
  featureFingerprintAsync,
  imageSeed,
  kvEntryFingerprint,
  sampleOf,
  sha256Hex,
  sortedShapes,
  stackSamples,
  type SampleInputs,
} from '@fpt/fpt-plus';
import { NORMALISATION, type DecodedSplit, type Split } from './images';
import type { BrowserKvStore } from './kv-store';
import { STUDIO_REGISTRY } from './methods';
import { createLpm, type LpmSource } from './model';

// One training session: a method of the registry on the random LPM. FPT+ trains on preloaded
// keys/values as the paper does: the LPM runs once per image (the preload), training and
// evaluation only the side network and the fusion modules. A method without preloaded inputs
// (LoRA, a linear probe, ...) runs the LPM at every step.

/** One split on the device: the model's pixels, the preloaded inputs (FPT+: the LPM's keys/values), the labels. */
interface DeviceSplit {
  pixels: tf.Tensor4D;
  extras: Record<string, tf.Tensor>;
  labels: tf.Tensor1D;
  count: number;
}

/** What {@link StudioSession.evaluate} measured on one split. */
export interface Evaluation {
  split: Split;
  /** The paper's AUC on the logits (binary: class 1's logit). */
  auc: number;
  accuracy: number;
  /** [C, C] counts: rows the true class, columns the predicted one. */
  confusion: number[][];
  /** Logits [N, C], row-major. */
  logits: Float32Array;
}

/** The adapted model's files, as `AdaptedModel.save` writes them. */
export interface ModelFiles {
  weights: Uint8Array;
  config: string;
}

/** Settings of a session. */
export interface SessionOptions {
  batch: number;
  lr: number;
  /** Seed of the head, the batch order and dropout. */
  seed: number;
  /** Where preloaded inputs are kept between sessions and reloads (none: recomputed each time). */
  store?: BrowserKvStore;
  /** The frozen LPM: random or a loaded checkpoint. */
  lpm: LpmSource;
}

/** What the preloads of a session found in the browser's store and computed. */
export interface PreloadCount {
  hits: number;
  computed: number;
}

/**
 * A model on the page and the splits it was loaded with: made fresh ({@link StudioSession.create})
 * or from exported files ({@link StudioSession.import}). It owns the LPM and the adapted model.
 */
export class StudioSession {
  readonly optimizer: AdamW;
  private readonly splits = new Map<Split, DeviceSplit>();
  private readonly rng: Rng;
  private order: number[] = [];
  /** Steps taken. */
  step = 0;
  /** Preloaded images found in the store and computed, over every split loaded. */
  readonly preloads: PreloadCount = { hits: 0, computed: 0 };
  private entryFingerprint?: string;

  private constructor(
    readonly lpm: VitModel,
    readonly model: AdaptedModel,
    readonly classes: readonly string[],
    readonly options: SessionOptions,
  ) {
    this.optimizer = new AdamW(this.model.trainableVariables(), { lr: options.lr });
    this.rng = new Rng(options.seed);
  }

  /** `method` on the random LPM, with a fresh head for `classes`. */
  static create(classes: readonly string[], method: Method, options: SessionOptions): StudioSession {
    const lpm = createLpm(options.lpm);
    try {
      const model = adapt(lpm, [method], { numClasses: classes.length, seed: options.seed });
      return new StudioSession(lpm, model, classes, options);
    } catch (err) {
      lpm.dispose();
      throw err;
    }
  }

  /**
   * A model from the files the export wrote (or Node's `AdaptedModel.save`), on the page's LPM
   * (it must be the one the model was trained on).
   * @throws naming what is wrong with the files, or a class count that is not the dataset's
   */
  static import(classes: readonly string[], files: ModelFiles, options: SessionOptions): StudioSession {
    const lpm = createLpm(options.lpm);
    let model: AdaptedModel;
    try {
      model = loadAdapted(lpm, files.weights, files.config, STUDIO_REGISTRY);
    } catch (err) {
      lpm.dispose();
      throw err;
    }
    if (model.numClasses !== classes.length) {
      model.dispose();
      lpm.dispose();
      throw new Error(`the model has ${model.numClasses} classes but the data has ${classes.length} (${classes.join(', ')})`);
    }
    return new StudioSession(lpm, model, classes, options);
  }

  /** Learnable parameters and the whole (LPM included). */
  counts(): { learnable: number; total: number } {
    return this.model.counts();
  }

  /**
   * Uploads a split and preloads the LPM's important keys/values through the model's NeedsInputs
   * capability, `chunk` images at a time (the LPM's only run).
   * @param onChunk - called with the images done
   */
  async load(split: Split, data: DecodedSplit, chunk: number, onChunk?: (done: number) => void): Promise<void> {
    const device = await this.upload(data, chunk, onChunk);
    this.dispose(split);
    this.splits.set(split, device);
  }

  /**
   * The split on the device: the pixels at the model's resolution (the side network's for FPT+,
   * the LPM's otherwise) and, for a method that needs them, the preloaded inputs.
   */
  private async upload(data: DecodedSplit, chunk: number, onChunk?: (done: number) => void): Promise<DeviceSplit> {
    // A method on the LPM itself reads the LPM's input, whatever resolution a checkpoint was laid out for.
    const onLpm = !this.model.needsInputs && this.model.imageSize === this.lpm.config.imageSize;
    const size = onLpm ? data.hrSize : this.model.imageSize;
    const pixelsOf = size === data.lrSize ? data.lr : size === data.hrSize ? data.hr : undefined;
    if (!pixelsOf)
      throw new Error(
        `${this.model.name} reads ${size}x${size} images; the page decodes ${data.hrSize}x${data.hrSize} (the LPM's) and ${data.lrSize}x${data.lrSize}: set its image size to one of them`,
      );
    const pixels = tf.tensor4d(pixelsOf, [data.count, 3, size, size]);
    const labels = tf.tensor1d(data.labels, 'int32');
    const need = this.model.needsInputs;
    if (!need) {
      onChunk?.(data.count);
      return { pixels, extras: {}, labels, count: data.count };
    }
    const hrSize = data.hrSize;
    const parts: Record<string, tf.Tensor>[] = [];
    try {
      return { pixels, extras: await this.preload(need, data, hrSize, chunk, parts, onChunk), labels, count: data.count };
    } catch (err) {
      tf.dispose([pixels, labels, ...parts.flatMap((p) => Object.values(p))]);
      throw err;
    }
  }

  /**
   * The LPM's preloaded inputs of a split: entries found in the browser's store are read, the
   * others computed `chunk` images at a time (each seeded by its image hash, as the Node preload)
   * and stored. `parts` holds computed chunks until they are cut into entries.
   */
  private async preload(
    need: NeedsInputs,
    data: DecodedSplit,
    hrSize: number,
    chunk: number,
    parts: Record<string, tf.Tensor>[],
    onChunk?: (done: number) => void,
  ): Promise<Record<string, tf.Tensor>> {
    const plane = 3 * hrSize * hrSize;
    const pixelsOf = (i: number) => data.hr.subarray(i * plane, (i + 1) * plane);
    const hashes = Array.from({ length: data.count }, (_, i) => {
      const p = pixelsOf(i);
      return sha256Hex(new Uint8Array(p.buffer, p.byteOffset, p.byteLength));
    });
    const store = this.options.store;
    this.entryFingerprint ??= kvEntryFingerprint(await featureFingerprintAsync(need, NORMALISATION), 'float32');
    const shapes = sortedShapes(need);
    const sizes = Object.fromEntries(shapes.map(([name, shape]) => [name, shape.reduce((a, d) => a * d, 1)]));
    const entries: (SampleInputs | undefined)[] = store
      ? await store.getMany(this.entryFingerprint, hashes, sizes)
      : new Array(data.count).fill(undefined);
    const misses = entries.flatMap((e, i) => (e ? [] : [i]));
    this.preloads.hits += data.count - misses.length;
    onChunk?.(data.count - misses.length);
    for (let start = 0; start < misses.length; start += chunk) {
      const group = misses.slice(start, start + chunk);
      const flat = new Float32Array(group.length * plane);
      for (const [b, i] of group.entries()) flat.set(pixelsOf(i), b * plane);
      const input = tf.tensor4d(flat, [group.length, 3, hrSize, hrSize]);
      const prepared = need.prepare(input, { sampleSeeds: group.map((i) => imageSeed(hashes[i] ?? '')) });
      parts.push(prepared);
      input.dispose();
      const written: Array<[string, SampleInputs]> = [];
      const batch: Record<string, Float32Array> = {};
      for (const [name] of shapes) {
        const t = prepared[name];
        if (!t) throw new Error(`${this.model.name}: prepare() gave no "${name}"`);
        batch[name] = (await t.data()) as Float32Array;
      }
      for (const [b, i] of group.entries()) {
        const sample: SampleInputs = {};
        for (const [name, shape] of shapes) sample[name] = sampleOf(batch[name]!, shape, need.batchAxis, group.length, b); // read above
        entries[i] = sample;
        written.push([hashes[i] ?? '', sample]);
      }
      tf.dispose(Object.values(prepared));
      parts.length = 0;
      if (store) await store.putMany(this.entryFingerprint, written);
      this.preloads.computed += group.length;
      onChunk?.(data.count - misses.length + Math.min(start + chunk, misses.length));
    }
    return stackSamples(
      need,
      entries.map((e, i) => {
        if (!e) throw new Error(`image ${i} of the split was neither found nor computed`);
        return e;
      }),
    );
  }

  /** The next batch's sample indices: a fresh random order each pass over the training split. */
  private nextIndices(): number[] {
    const count = this.splits.get('train')?.count ?? 0;
    const out: number[] = [];
    while (out.length < Math.min(this.options.batch, count)) {
      if (this.order.length === 0) {
        this.order = Array.from({ length: count }, (_, i) => i);
        for (let i = count - 1; i > 0; i--) {
          const j = this.rng.int(i + 1);
          // i and j are below count: in range by construction.
          const swap = this.order[i]!;
          this.order[i] = this.order[j]!;
          this.order[j] = swap;
        }
      }
      out.push(this.order.pop()!);
    }
    return out;
  }

  /** One AdamW step (gradient clipping at 1, as the paper) on a batch of the preloaded training split; the loss. */
  async trainStep(): Promise<number> {
    const train = this.splits.get('train');
    const batchAxis = this.model.needsInputs?.batchAxis ?? 0;
    if (!train) throw new Error('load the training split first');
    const idx = tf.tensor1d(this.nextIndices(), 'int32');
    const batch = {
      pixels: tf.gather(train.pixels, idx),
      extras: Object.fromEntries(Object.entries(train.extras).map(([k, t]) => [k, tf.gather(t, idx, batchAxis)])),
    };
    const labels = tf.gather(train.labels, idx);
    try {
      const ctx = trainingContext(this.step, this.options.seed);
      const { loss } = await trainStepAsync(() => this.model.loss(batch, labels, ctx), this.optimizer, { clipNorm: 1 });
      this.step++;
      return loss;
    } finally {
      tf.dispose([idx, labels, batch.pixels, ...Object.values(batch.extras)]);
    }
  }

  /** Logits, AUC, accuracy and the confusion matrix on a loaded split. */
  async evaluate(split: Split): Promise<Evaluation> {
    const data = this.splits.get(split);
    if (!data) throw new Error(`load the ${split} split first`);
    const logits = this.model.forward({ pixels: data.pixels, extras: data.extras });
    const values = (await logits.data()) as Float32Array;
    logits.dispose();
    const labels = (await data.labels.data()) as Int32Array;
    const c = this.classes.length;
    const predictions = Array.from({ length: data.count }, (_, i) => {
      const row = values.subarray(i * c, (i + 1) * c);
      return row.indexOf(Math.max(...row));
    });
    const confusion = confusionMatrix(labels, predictions, c);
    const correct = confusion.reduce((sum, row, k) => sum + (row[k] ?? 0), 0);
    return { split, auc: aucScore(labels, values, c), accuracy: correct / data.count, confusion, logits: values };
  }

  /** Class probabilities (softmax of the logits) of each decoded image, [N, C] row-major. */
  async classify(images: DecodedSplit): Promise<Float32Array> {
    const device = await this.upload(images, 8);
    try {
      const probs = tf.tidy(() => tf.softmax(this.model.forward({ pixels: device.pixels, extras: device.extras })));
      const out = (await probs.data()) as Float32Array;
      probs.dispose();
      return out;
    } finally {
      tf.dispose([device.pixels, device.labels, ...Object.values(device.extras)]);
    }
  }

  /** The adapted model as `AdaptedModel.save` writes it (safetensors weights + JSON config), read asynchronously (WebGPU). */
  save(): Promise<ModelFiles> {
    return this.model.saveAsync();
  }

  private dispose(split: Split): void {
    const s = this.splits.get(split);
    if (s) tf.dispose([s.pixels, s.labels, ...Object.values(s.extras)]);
    this.splits.delete(split);
  }

  /** Frees everything: splits, optimizer state, the adapted model and the LPM. */
  close(): void {
    for (const split of [...this.splits.keys()]) this.dispose(split);
    this.optimizer.dispose();
    this.model.dispose();
    this.lpm.dispose();
  }
}
