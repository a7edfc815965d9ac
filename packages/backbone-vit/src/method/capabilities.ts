import type * as tf from '@tensorflow/tfjs-core';
import type { VitModel } from '../model';
import type { VitHooks } from '../hooks';
import type { ForwardContext } from './context';
import type { Batch } from './method';

/** The method can be folded into the backbone weights, and out again. */
export interface Mergeable {
  /** Discriminant. */
  readonly kind: 'mergeable';
  /** Folds the method into the backbone weights; its hooks stand aside while merged. */
  merge(): void;
  /** Undoes {@link Mergeable.merge}. */
  unmerge(): void;
  /** Whether the method is folded in now. */
  isMerged(): boolean;
}

/** The method cannot be combined with any other; `reason` says why (shown in the refusal). */
export interface Exclusive {
  /** Discriminant. */
  readonly kind: 'exclusive';
  /** Why it stands alone. */
  readonly reason: string;
}

/** What {@link ReplacesFeatures.features} receives. */
export interface FeatureInput {
  /** The (frozen) backbone the method is attached to. */
  backbone: VitModel;
  /** The batch. */
  batch: Batch;
  /** The composed hooks of every attached method, bound to this call's context. */
  hooks: VitHooks;
  /** This call's context. */
  ctx: ForwardContext;
}

/** The method computes the features the head reads (side-tuning, FPT+), instead of the backbone's CLS token. */
export interface ReplacesFeatures {
  /** Discriminant. */
  readonly kind: 'replacesFeatures';
  /** Width F of the features. */
  readonly width: number;
  /** Side of the square `batch.pixels` the method reads, when it differs from the backbone's (FPT+: 128). */
  readonly imageSize?: number;
  /** Features [B, F] for a batch. */
  features(input: FeatureInput): tf.Tensor;
}

/** What {@link NeedsInputs.prepare} may use besides the pixels. */
export interface PrepareContext {
  /**
   * One seed per sample, derived from the sample itself (a cache uses its image's hash): methods
   * that draw at random (FPT+'s `random` token selection) seed each sample's draw from it, so a
   * sample's inputs do not depend on the batch it came in.
   */
  sampleSeeds?: readonly number[];
}

/** A piece of a {@link NeedsInputs} fingerprint: a string, hashed as written, or a tensor, hashed as its bytes. */
export type FingerprintChunk = string | tf.Tensor;

/**
 * The method needs inputs beyond the pixels, in `batch.extras` (FPT+'s selected keys and values),
 * computed from the backbone's own input without gradients. Everything a cache needs to serve any
 * such method: the inputs' names and per-sample shapes, the axis samples are stacked on, a
 * fingerprint of what the inputs depend on, and `prepare` with per-sample seeds.
 */
export interface NeedsInputs {
  /** Discriminant. */
  readonly kind: 'needsInputs';
  /** Names of the tensors required in `batch.extras`. */
  readonly inputs: readonly string[];
  /** One sample's shape of each input (what a cache stores per sample). */
  readonly sampleShapes: Readonly<Record<string, readonly number[]>>;
  /** The axis of a batched input that indexes the samples (FPT+: 1, after the fused layers). */
  readonly batchAxis: number;
  /**
   * Computes the extra inputs from the backbone's input (FPT+: the high-resolution image). The
   * caller owns and disposes the result. Call it outside any gradient function.
   * @param pixels - the backbone's input [B, C, H, W], normalised
   * @param context - per-sample seeds
   */
  prepare(pixels: tf.Tensor, context?: PrepareContext): Record<string, tf.Tensor>;
  /**
   * Everything `prepare`'s output depends on besides the pixels (the architecture and the method's
   * settings as strings, the frozen weights as tensors), so that a cache never serves inputs made
   * otherwise. The hasher reads the tensors' bytes itself, synchronously or not, so that the same
   * fingerprint is computed on every backend (WebGPU in Node has no synchronous reads).
   */
  fingerprint(): FingerprintChunk[];
}

/**
 * The shape of each extra input for a batch of `batch` samples.
 * @param need - the capability
 * @param batch - samples in the batch
 */
export function batchShapes(need: NeedsInputs, batch: number): Record<string, number[]> {
  return Object.fromEntries(
    Object.entries(need.sampleShapes).map(([name, shape]) => [
      name,
      [...shape.slice(0, need.batchAxis), batch, ...shape.slice(need.batchAxis)],
    ]),
  );
}

/**
 * The backbone's own classifier head is discarded, not just left unused: it is neither trained nor
 * counted (full fine-tuning replaces the old head with the new one).
 */
export interface ReplacesHead {
  /** Discriminant. */
  readonly kind: 'replacesHead';
}

/** What a method can do beyond hooks and parameters; refusals and special paths come from these. */
export type Capability = Mergeable | Exclusive | ReplacesFeatures | NeedsInputs | ReplacesHead;

/**
 * The capability of a kind among `list`, if any.
 * @param list - a method's capabilities
 * @param kind - the kind wanted
 */
export function capability<K extends Capability['kind']>(
  list: readonly Capability[],
  kind: K,
): Extract<Capability, { kind: K }> | undefined {
  return list.find((c): c is Extract<Capability, { kind: K }> => c.kind === kind);
}
