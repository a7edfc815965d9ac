import * as tf from '@tensorflow/tfjs-core';
import { AdamW, aucScore, confusionMatrix, Rng, trainStepAsync } from '@fpt/core';
import { adapt, loadAdapted, MethodRegistry, trainingContext, type AdaptedModel, type VitModel } from '@fpt/backbone-vit';
import { fptPlus, registerFpt } from '@fpt/fpt-plus';
import type { DecodedSplit, Split } from './images';
import { createStudioLpm, STUDIO_FPT, STUDIO_LPM } from './model';

// One training session: FPT+ on the random LPM, trained on cached keys/values as the paper does.
// The LPM runs once per image (the preload); training and evaluation run only the side network
// and the fusion modules.

/** One split on the device: the side network's pixels, the preloaded LPM keys/values, the labels. */
interface DeviceSplit {
  lr: tf.Tensor4D;
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

  private constructor(
    readonly lpm: VitModel,
    readonly model: AdaptedModel,
    readonly classes: readonly string[],
    readonly options: SessionOptions,
  ) {
    this.optimizer = new AdamW(this.model.trainableVariables(), { lr: options.lr });
    this.rng = new Rng(options.seed);
  }

  /** FPT+ on the random LPM, with a fresh head for `classes`. */
  static create(classes: readonly string[], options: SessionOptions): StudioSession {
    const lpm = createStudioLpm();
    const model = adapt(lpm, [fptPlus(STUDIO_FPT)], { numClasses: classes.length, seed: options.seed });
    return new StudioSession(lpm, model, classes, options);
  }

  /**
   * A model from the files the export wrote (or Node's `AdaptedModel.save`), on the same LPM.
   * @throws naming what is wrong with the files, or a class count that is not the dataset's
   */
  static import(classes: readonly string[], files: ModelFiles, options: SessionOptions): StudioSession {
    const lpm = createStudioLpm();
    let model: AdaptedModel;
    try {
      model = loadAdapted(lpm, files.weights, files.config, registerFpt(new MethodRegistry()));
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

  /** The split on the device: the side network's pixels and the preloaded keys/values. */
  private async upload(data: DecodedSplit, chunk: number, onChunk?: (done: number) => void): Promise<DeviceSplit> {
    const need = this.model.needsInputs;
    if (!need) throw new Error(`${this.model.name} needs no preloaded inputs; the studio trains FPT+ only`);
    const hrSize = STUDIO_LPM.imageSize;
    const lrSize = this.model.imageSize;
    const parts: Record<string, tf.Tensor>[] = [];
    for (let start = 0; start < data.count; start += chunk) {
      const n = Math.min(chunk, data.count - start);
      const hr = tf.tensor4d(data.hr.subarray(start * 3 * hrSize * hrSize, (start + n) * 3 * hrSize * hrSize), [n, 3, hrSize, hrSize]);
      const prepared = need.prepare(hr);
      parts.push(prepared);
      hr.dispose();
      // Read one value back so the progress is real work done, not work queued (WebGPU queues).
      await Object.values(prepared)[0]?.data();
      onChunk?.(start + n);
    }
    const extras = Object.fromEntries(
      need.inputs.map((name) => {
        const joined = tf.concat(
          parts.map((p) => {
            const t = p[name];
            if (!t) throw new Error(`${this.model.name}: prepare() gave no "${name}"`);
            return t;
          }),
          need.batchAxis,
        );
        return [name, joined];
      }),
    );
    for (const p of parts) tf.dispose(Object.values(p));
    return {
      lr: tf.tensor4d(data.lr, [data.count, 3, lrSize, lrSize]),
      extras,
      labels: tf.tensor1d(data.labels, 'int32'),
      count: data.count,
    };
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
    const need = this.model.needsInputs!;
    if (!train) throw new Error('load the training split first');
    const idx = tf.tensor1d(this.nextIndices(), 'int32');
    const batch = {
      pixels: tf.gather(train.lr, idx),
      extras: Object.fromEntries(Object.entries(train.extras).map(([k, t]) => [k, tf.gather(t, idx, need.batchAxis)])),
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
    const logits = this.model.forward({ pixels: data.lr, extras: data.extras });
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
      const probs = tf.tidy(() => tf.softmax(this.model.forward({ pixels: device.lr, extras: device.extras })));
      const out = (await probs.data()) as Float32Array;
      probs.dispose();
      return out;
    } finally {
      tf.dispose([device.lr, device.labels, ...Object.values(device.extras)]);
    }
  }

  /** The adapted model as `AdaptedModel.save` writes it (safetensors weights + JSON config), read asynchronously (WebGPU). */
  save(): Promise<ModelFiles> {
    return this.model.saveAsync();
  }

  private dispose(split: Split): void {
    const s = this.splits.get(split);
    if (s) tf.dispose([s.lr, s.labels, ...Object.values(s.extras)]);
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
