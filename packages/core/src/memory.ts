import * as tf from '@tensorflow/tfjs-core';

/** The result of a function together with tfjs's accounting of the tensors it allocated. */
export interface MeasuredStep<T> {
  /** What the function returned. */
  result: T;
  /**
   * Peak bytes of live tensors while the function ran, counted by tfjs's `profile`: every tensor
   * alive at that moment (parameters, activations, gradients, optimizer state). It over-counts
   * reshaped views of the same buffer, so it is an upper bound on backend memory, not RSS.
   */
  peakBytes: number;
  /** Bytes of tensors created and still alive when the function returned. */
  newBytes: number;
  /** Number of tensors created and still alive when the function returned. */
  newTensors: number;
  /** Bytes of live tensors before the function started (parameters, caches, ...). */
  baselineBytes: number;
  /**
   * Peak bytes of distinct live data buffers: `baselineBytes` plus the largest excess of buffers
   * allocated over buffers released at any moment while the function ran. Unlike `peakBytes`, a
   * reshaped view or a clone (tfjs saves clones for backward) shares its buffer and is counted
   * once, which is what a memory allocator sees (the quantity PyTorch's allocator peak reports).
   */
  peakBufferBytes: number;
  /**
   * `baselineBytes` plus the peak of each phase of the function ({@link BufferTracker.phasePeaks}):
   * one entry when nothing marked a phase; `trainStep` marks three: the forward pass, the backward
   * pass, the update (norm, clipping, AdamW). `variableGradsFreeing` alone marks the first two.
   */
  phasePeakBufferBytes: number[];
  /** Every kernel the function ran, in order, with the backend's time for it (ms). */
  kernels: Array<{ name: string; timeMs: number }>;
}

interface TensorInfoMap {
  has(key: object): boolean;
  get(key: object): { bytes: number } | undefined;
  set(key: object, value: { bytes: number }): unknown;
  delete(key: object): boolean;
}

/** Live and peak bytes of the data buffers allocated since {@link trackBuffers} started. */
export interface BufferTracker {
  /** Bytes of buffers allocated since the start and not yet freed. */
  live(): number;
  /** The most {@link BufferTracker.live} has been since the start or the last reset. */
  peak(): number;
  /** Restarts the peak (and the phases) from the current live bytes. */
  resetPeak(): void;
  /**
   * The peak of each phase since the start or the last reset, in order, the current phase last:
   * phases are split by {@link markBufferPhase} (a training step's forward pass, backward pass and
   * update). The largest equals {@link BufferTracker.peak}.
   */
  phasePeaks(): number[];
  /** Stops tracking (trackers must be stopped in the reverse order of their starts). */
  stop(): void;
}

/**
 * Starts following tfjs's engine registry of data buffers (one entry per buffer, made when a
 * buffer is first tracked, removed when its backend frees it): a reshaped view or a clone shares
 * its buffer and counts once, which is what an allocator sees. Only buffers allocated after the
 * start count.
 */
export function trackBuffers(): BufferTracker {
  const state = (tf.engine() as unknown as { state: { tensorInfo: TensorInfoMap } }).state;
  const original = state.tensorInfo;
  const mine = new WeakMap<object, number>();
  let live = 0;
  let peak = 0;
  let phases = [0];
  const newPhase = () => phases.push(live);
  phaseListeners.add(newPhase);
  state.tensorInfo = {
    has: (k) => original.has(k),
    get: (k) => original.get(k),
    set(k, v) {
      if (!original.has(k)) {
        mine.set(k, v.bytes);
        live += v.bytes;
        peak = Math.max(peak, live);
        phases[phases.length - 1] = Math.max(phases.at(-1)!, live); // phases is never empty
      }
      original.set(k, v);
      return this;
    },
    delete(k) {
      const bytes = mine.get(k);
      if (bytes !== undefined) {
        live -= bytes;
        mine.delete(k);
      }
      return original.delete(k);
    },
  };
  return {
    live: () => live,
    peak: () => peak,
    resetPeak: () => {
      peak = live;
      phases = [live];
    },
    phasePeaks: () => [...phases],
    stop: () => {
      phaseListeners.delete(newPhase);
      state.tensorInfo = original;
    },
  };
}

/** The phase splitters of the buffer trackers running now. */
const phaseListeners = new Set<() => void>();

/**
 * Starts a new phase in every running {@link trackBuffers} (see {@link BufferTracker.phasePeaks}).
 * Core's `variableGradsFreeing` marks the end of each forward pass and `trainStep` the start of the
 * update, so a step's measurement tells the three phases' peaks apart: each is bilinear in depth
 * and batch on its own, while which of them is the step's peak can change with the shapes.
 */
export function markBufferPhase(): void {
  for (const split of phaseListeners) split();
}

/**
 * Runs `fn` under `tf.profile` and reports peak live-tensor memory. Use it to measure one
 * training step: `await measureStep(() => trainStep(...))`.
 * @param fn - the work to measure (synchronous or async)
 */
export async function measureStep<T>(fn: () => T | Promise<T>): Promise<MeasuredStep<T>> {
  const baselineBytes = tf.memory().numBytes;
  let result: T | undefined;
  const buffers = trackBuffers();
  let info: Awaited<ReturnType<typeof tf.profile>> | undefined;
  try {
    info = await tf.profile(async () => {
      result = await fn();
      return [];
    });
  } finally {
    buffers.stop();
  }
  const { kernels, peakBytes, newBytes, newTensors } = info!;
  return {
    peakBufferBytes: baselineBytes + buffers.peak(),
    phasePeakBufferBytes: buffers.phasePeaks().map((p) => baselineBytes + p),
    kernels: await Promise.all(kernels.map(async (k) => ({ name: k.name, timeMs: Number(await k.kernelTimeMs) || 0 }))),
    result: result as T,
    peakBytes,
    newBytes,
    newTensors,
    baselineBytes,
  };
}
