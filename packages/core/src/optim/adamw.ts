import * as tf from '@tensorflow/tfjs-core';
import { FusedKernel, hasFusedKernel, runFusedKernelOutputs } from '../fused-kernels';
import { runReads, runReadsAsync, type Reads } from '../reads';

/** Hyper-parameters of {@link AdamW}; defaults follow the paper's [recipe](../../../../docs/method.md#training-recipe) and PyTorch. */
export interface AdamWOptions {
  /** Learning rate (can be changed between steps through {@link AdamW.learningRate}). */
  lr: number;
  /** First-moment decay. Default 0.9. */
  beta1?: number;
  /** Second-moment decay. Default 0.999. */
  beta2?: number;
  /** Added to the root of the second moment. Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay, applied as p -= lr * wd * p. Default 0.1. */
  weightDecay?: number;
}

/** A snapshot of an {@link AdamW}: everything a later step depends on, as plain copies. */
export interface AdamWState {
  /** Steps taken. */
  step: number;
  /** The learning rate the next step would use. */
  learningRate: number;
  /**
   * First and second moments per variable, in the order of {@link AdamW.variables}; `null` for a
   * variable that has received no gradient yet.
   */
  moments: Array<{ m: Float32Array; v: Float32Array } | null>;
}

function checkLr(lr: number, where: string): void {
  if (!(typeof lr === 'number' && lr >= 0 && Number.isFinite(lr))) throw new Error(`${where} must be a non-negative number, got ${lr}`);
}

/**
 * AdamW (Loshchilov & Hutter) with decoupled weight decay, step for step equal to
 * `torch.optim.AdamW`: decay, then the bias-corrected Adam update.
 */
export class AdamW {
  /** The learning rate used by the next {@link AdamW.step}. */
  learningRate: number;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;
  private readonly weightDecay: number;
  private readonly moments = new Map<tf.Variable, { m: tf.Variable; v: tf.Variable }>();
  private t = 0;

  /**
   * @param variables - the parameters this optimizer updates
   * @param options - hyper-parameters: lr >= 0, betas in [0, 1), eps > 0, weightDecay >= 0 (others throw, naming the option)
   */
  constructor(
    readonly variables: tf.Variable[],
    options: AdamWOptions,
  ) {
    checkLr(options.lr, 'AdamW: option "lr"');
    this.learningRate = options.lr;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.1;
    for (const [name, beta] of [
      ['beta1', this.beta1],
      ['beta2', this.beta2],
    ] as const) {
      if (!(typeof beta === 'number' && beta >= 0 && beta < 1)) throw new Error(`AdamW: option "${name}" must be in [0, 1), got ${beta}`);
    }
    if (!(typeof this.eps === 'number' && this.eps > 0 && Number.isFinite(this.eps))) {
      throw new Error(`AdamW: option "eps" must be a positive finite number, got ${this.eps}`);
    }
    if (!(typeof this.weightDecay === 'number' && this.weightDecay >= 0 && Number.isFinite(this.weightDecay))) {
      throw new Error(`AdamW: option "weightDecay" must be a non-negative finite number, got ${this.weightDecay}`);
    }
  }

  /** Number of steps taken so far. */
  get iterations(): number {
    return this.t;
  }

  /**
   * Applies one update. The caller keeps ownership of `grads`.
   * @throws when {@link AdamW.learningRate} is negative or not finite, or `gradScale` is not a
   *   finite number above 0 (nothing is changed)
   * @param grads - gradient per variable; variables without a gradient are left unchanged
   * @param options - `gradScale`: every gradient is first multiplied by it (float32), as gradient
   *   clipping scales them; in the fused kernel this costs no pass of its own (default 1)
   */
  step(grads: Map<tf.Variable, tf.Tensor>, options: { gradScale?: number } = {}): void {
    // learningRate is public and set by schedules between steps: check it before changing anything.
    checkLr(this.learningRate, 'AdamW: "learningRate"');
    const gradScale = options.gradScale ?? 1;
    if (!(Number.isFinite(gradScale) && gradScale > 0)) {
      throw new Error(`AdamW.step: "gradScale" must be a finite number above 0, got ${gradScale}`);
    }
    this.t += 1;
    const lr = this.learningRate;
    const bc1 = 1 - this.beta1 ** this.t;
    const bc2 = 1 - this.beta2 ** this.t;
    for (const variable of this.variables) {
      const g0 = grads.get(variable);
      if (!g0) continue;
      let slot = this.moments.get(variable);
      if (!slot) {
        // tf.variable keeps its own handle on the data: free the zeros it was made from.
        const zeros = () => {
          const z = tf.zerosLike(variable);
          const moment = tf.variable(z, false);
          z.dispose();
          return moment;
        };
        slot = { m: zeros(), v: zeros() };
        this.moments.set(variable, slot);
      }
      const { m, v } = slot;
      tf.tidy(() => {
        if (hasFusedKernel(FusedKernel.adamw, variable, m, v, g0)) {
          const [p1, m1, v1] = runFusedKernelOutputs(
            FusedKernel.adamw,
            { param: variable, m, v, g: g0 },
            {
              gradScale,
              decay: 1 - lr * this.weightDecay,
              beta1: this.beta1,
              beta2: this.beta2,
              eps: this.eps,
              sqrtBc2: Math.sqrt(bc2),
              step: lr / bc1,
            },
          ) as [tf.Tensor, tf.Tensor, tf.Tensor];
          m.assign(m1);
          v.assign(v1);
          variable.assign(p1);
          return;
        }
        const g = gradScale === 1 ? g0 : tf.mul(g0, gradScale);
        const decayed = tf.mul(variable, 1 - lr * this.weightDecay);
        const m1 = tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1));
        const v1 = tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        const denom = tf.add(tf.div(tf.sqrt(v1), Math.sqrt(bc2)), this.eps);
        const update = tf.mul(tf.div(m1, denom), lr / bc1);
        m.assign(m1);
        v.assign(v1);
        variable.assign(tf.sub(decayed, update));
      });
    }
  }

  /**
   * A copy of the optimizer's state (step, learning rate, moments). Restoring it with
   * {@link AdamW.loadState} on an optimizer over the same variables continues bit for bit.
   */
  state(): AdamWState {
    return runReads(this.stateBody());
  }

  /** {@link AdamW.state} reading the moments with `await data()`: the same copy, on every backend (WebGPU included). */
  stateAsync(): Promise<AdamWState> {
    return runReadsAsync(this.stateBody());
  }

  private *stateBody(): Reads<AdamWState> {
    const moments: AdamWState['moments'] = [];
    for (const v of this.variables) {
      const slot = this.moments.get(v);
      moments.push(
        slot ? { m: Float32Array.from((yield slot.m) as Float32Array), v: Float32Array.from((yield slot.v) as Float32Array) } : null,
      );
    }
    return { step: this.t, learningRate: this.learningRate, moments };
  }

  /**
   * Restores a state from {@link AdamW.state}. Everything is checked before anything changes.
   * @throws when the number of variables or a moment's size differs, naming the variable's index
   */
  loadState(state: AdamWState): void {
    if (!Number.isInteger(state.step) || state.step < 0)
      throw new Error(`AdamW.loadState: "step" must be a non-negative integer, got ${state.step}`);
    checkLr(state.learningRate, 'AdamW.loadState: "learningRate"');
    if (state.moments.length !== this.variables.length) {
      throw new Error(`AdamW.loadState: the state holds ${state.moments.length} variables, this optimizer ${this.variables.length}`);
    }
    this.variables.forEach(({ size, name }, i) => {
      const s = state.moments[i];
      if (s && (s.m.length !== size || s.v.length !== size)) {
        throw new Error(`AdamW.loadState: moments of variable ${i} (${name}) hold ${s.m.length}/${s.v.length} values, expected ${size}`);
      }
    });
    this.dispose();
    this.variables.forEach((v, i) => {
      const s = state.moments[i];
      if (!s) return;
      const make = (data: Float32Array) => {
        const t = tf.tensor(data, v.shape, 'float32');
        const moment = tf.variable(t, false);
        t.dispose();
        return moment;
      };
      this.moments.set(v, { m: make(s.m), v: make(s.v) });
    });
    this.t = state.step;
    this.learningRate = state.learningRate;
  }

  /** Frees the moment estimates. */
  dispose(): void {
    for (const { m, v } of this.moments.values()) {
      m.dispose();
      v.dispose();
    }
    this.moments.clear();
  }
}
