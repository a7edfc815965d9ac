import * as tf from '@tensorflow/tfjs-core';
import { AdamW, aucScore, Rng, trainStepAsync } from '@fpt/core';
import { adapt, trainingContext, type AdaptedModel, type VitModel } from '@fpt/backbone-vit';
import { fptPlus } from '@fpt/fpt-plus';
import { createStudioLpm, STUDIO_FPT, STUDIO_LPM } from './model';
import type { DecodedSplit } from './sample';

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

/** What {@link StudioSession.evaluate} measured. */
export interface Evaluation {
  /** The paper's AUC on the logits (binary: class 1's logit). */
  auc: number;
  accuracy: number;
  /** Logits [N, C], row-major. */
  logits: Float32Array;
}

/** Settings of a session. */
export interface SessionOptions {
  batch: number;
  lr: number;
  /** Seed of the head, the batch order and dropout. */
  seed: number;
}

export class StudioSession {
  readonly lpm: VitModel;
  readonly model: AdaptedModel;
  readonly optimizer: AdamW;
  private train?: DeviceSplit;
  private val?: DeviceSplit;
  private readonly rng: Rng;
  private order: number[] = [];
  /** Steps taken. */
  step = 0;

  constructor(
    readonly classes: readonly string[],
    readonly options: SessionOptions,
  ) {
    this.lpm = createStudioLpm();
    this.model = adapt(this.lpm, [fptPlus(STUDIO_FPT)], { numClasses: classes.length, seed: options.seed });
    this.optimizer = new AdamW(this.model.trainableVariables(), { lr: options.lr });
    this.rng = new Rng(options.seed);
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
  async load(split: 'train' | 'val', data: DecodedSplit, chunk: number, onChunk?: (done: number) => void): Promise<void> {
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
    const device: DeviceSplit = {
      lr: tf.tensor4d(data.lr, [data.count, 3, lrSize, lrSize]),
      extras,
      labels: tf.tensor1d(data.labels, 'int32'),
      count: data.count,
    };
    this.dispose(split);
    if (split === 'train') this.train = device;
    else this.val = device;
  }

  /** The next batch's sample indices: a fresh random order each pass over the training split. */
  private nextIndices(): number[] {
    const count = this.train!.count;
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
    const train = this.train;
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

  /** Logits, AUC and accuracy on the validation split. */
  async evaluate(): Promise<Evaluation> {
    const val = this.val;
    if (!val) throw new Error('load the validation split first');
    const logits = this.model.forward({ pixels: val.lr, extras: val.extras });
    const values = (await logits.data()) as Float32Array;
    logits.dispose();
    const labels = (await val.labels.data()) as Int32Array;
    const c = this.classes.length;
    let correct = 0;
    for (let i = 0; i < val.count; i++) {
      const row = values.subarray(i * c, (i + 1) * c);
      if (row.indexOf(Math.max(...row)) === labels[i]) correct++;
    }
    return { auc: aucScore(labels, values, c), accuracy: correct / val.count, logits: values };
  }

  /** The adapted model as `AdaptedModel.save` writes it (safetensors weights + JSON config), read asynchronously (WebGPU). */
  save(): Promise<{ weights: Uint8Array; config: string }> {
    return this.model.saveAsync();
  }

  private dispose(split: 'train' | 'val'): void {
    const s = split === 'train' ? this.train : this.val;
    if (s) tf.dispose([s.lr, s.labels, ...Object.values(s.extras)]);
    if (split === 'train') this.train = undefined;
    else this.val = undefined;
  }

  /** Frees everything: splits, optimizer state, the adapted model and the LPM. */
  close(): void {
    this.dispose('train');
    this.dispose('val');
    this.optimizer.dispose();
    this.model.dispose();
    this.lpm.dispose();
  }
}
