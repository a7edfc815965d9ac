import * as tf from '@tensorflow/tfjs-core';
import { dims, Module, unitsPerSlice } from '@fpt/core';
import {
  createVit,
  defineMethod,
  frozenForward,
  MethodStack,
  type AdaptedModel,
  type AttachedMethod,
  type Capability,
  type FingerprintChunk,
  type ForwardContext,
  type VitModel,
} from '@fpt/backbone-vit';
import { fptPlusFusion, fptV1Fusion, fuse, fusionConfig, FusionModule, type FusionVariant } from '@fpt/fusion';
import { sideFeatures, sideVitConfig } from '@fpt/side-net';
import { selectTokens, type SelectContext, type TokenSelector } from '@fpt/token-select';
import {
  FPT_OPTION_KINDS,
  FPT_PLUS_DEFAULTS,
  FPT_V1_DEFAULTS,
  resolveFptConfig,
  validateFptOptions,
  type FptConfig,
  type FptOptions,
} from './config';

/** The selected keys and values of a batch, stacked over the fused layers. */
export interface KeyValues {
  /** Keys [L, B, H, n, d]. */
  keys: tf.Tensor;
  /** Values [L, B, H, n, d]. */
  values: tf.Tensor;
}

/** What {@link FptAttachment.inspectLpm} returns. */
export interface LpmInspection extends KeyValues {
  /** Selected token indices [L, B, H, n] (int32), in descending score order. */
  indices: tf.Tensor;
  /** Importance scores [L, B, H, N] (empty for selectors without scores). */
  scores: tf.Tensor;
  /** The LPM's final normed tokens [B, N, D]. */
  features: tf.Tensor;
  /** The LPM's own classifier logits, when it has a head. */
  logits?: tf.Tensor;
}

/**
 * FPT+ (or FPT v1) attached to a frozen LPM: the attachment (`AttachedMethod` of
 * `@fpt/backbone-vit`) that `fptPlus()` and `fptV1()` make when the adapted model is built; the
 * model is the `AdaptedModel`. Its parameters, under the authors' names: `fusion_module` (a
 * `FusionModule`) and `side_encoder` (the side ViT without its head, timm names), plus
 * `side_methods.*` when methods are applied to the side network. The LPM only ever runs outside
 * gradient tapes, in {@link FptAttachment.extractKeyValues}; the adapted model's head reads the side
 * network's features.
 */
export class FptAttachment implements AttachedMethod {
  /** The learnable part. */
  readonly module = new Module();
  /** The fusion module. */
  readonly fusion: FusionModule;
  /** The side network. */
  readonly side: VitModel;
  /** Methods on the side network, when any. */
  readonly sideStack?: MethodStack;
  /** FPT never hooks the LPM. */
  readonly unfreeze = [];
  /** Gradients never reach the LPM. */
  readonly backpropagatesThroughBackbone = false;
  /** Exclusive; replaces the features; needs the selected keys and values as `extras.keys` / `extras.values`. */
  readonly capabilities: readonly Capability[];

  /**
   * Use the `fptPlus` / `fptV1` factories with `adapt`.
   * @param config - resolved against the LPM
   * @param lpm - the frozen LPM (owned by the caller)
   */
  constructor(
    readonly config: FptConfig,
    readonly lpm: VitModel,
  ) {
    this.fusion = this.module.addModule(
      'fusion_module',
      new FusionModule(
        fusionConfig({
          variant: config.variant,
          layers: config.layers.length,
          lpmDim: config.lpm.hiddenSize,
          lpmHeads: config.lpm.numHeads,
          sideDim: config.side.hiddenSize,
          seed: config.seed,
          ...config.fusion,
        }),
      ),
    );
    this.side = this.module.addModule('side_encoder', createVit(sideVitConfigOf(config), { seed: config.seed + 1 }));
    if (config.sideMethods.length) {
      this.sideStack = new MethodStack(this.side, config.sideMethods);
      this.module.addModule('side_methods', this.sideStack.module);
    }
    this.capabilities = [
      {
        kind: 'exclusive',
        reason:
          'it never runs the LPM while training (its keys and values are precomputed); apply other methods to its side network with the "sideMethods" option',
      },
      {
        kind: 'replacesFeatures',
        width: config.side.hiddenSize,
        imageSize: config.side.imageSize,
        features: ({ batch, ctx }) => this.features(kvOf(batch.extras), batch.pixels, ctx),
      },
      {
        kind: 'needsInputs',
        inputs: ['keys', 'values'],
        sampleShapes: { keys: this.keyValueShape(), values: this.keyValueShape() },
        batchAxis: 1,
        prepare: (pixels, context) => ({ ...this.extractKeyValues(pixels, context) }),
        fingerprint: () => this.fingerprint(),
      },
    ];
  }

  /**
   * Everything the selected keys and values depend on: the LPM's architecture and every byte of
   * its weights, the resolution, the fused layers, the selection (the selector's own fingerprint:
   * name, version, parameters) and the ratio.
   */
  fingerprint(): FingerprintChunk[] {
    const { lpm, inputSize, layers, selection } = this.config;
    const chunks: FingerprintChunk[] = [JSON.stringify({ method: 'fpt-kv', lpm, inputSize, layers, selection })];
    for (const p of this.lpm.namedParameters()) chunks.push(p.name, p.variable);
    return chunks;
  }

  /** The token selector. */
  get selector(): TokenSelector {
    return this.config.selection.selector;
  }

  /** One image's selected keys (or values) [L, H, n, d]: n as the selector keeps of the LPM's tokens. */
  keyValueShape(): number[] {
    const { lpm, inputSize, layers, selection } = this.config;
    const tokens = (inputSize / lpm.patchSize) ** 2 + 1;
    return [layers.length, lpm.numHeads, selection.selector.keep(tokens, selection.ratio), lpm.hiddenSize / lpm.numHeads];
  }

  /** No hooks on the LPM. */
  hooks(): Record<string, never> {
    return {};
  }

  /**
   * Runs the frozen LPM on high-resolution pixels and returns the selected keys and values of the
   * fused layers, block by block without recording gradients (stopping after the last fused
   * layer). Call it outside any gradient function (preloading and the online mode do).
   * @param pixelsHr - [B, 3, inputSize, inputSize], normalised
   * @param context - per-image seeds for random selectors (the cache derives them from the image hash)
   */
  extractKeyValues(pixelsHr: tf.Tensor, context?: SelectContext): KeyValues {
    const run = this.runLpm(pixelsHr, false, context);
    const kv = tf.tidy(() => ({ keys: stackLayers(run.per, 'keys'), values: stackLayers(run.per, 'values') }));
    tf.dispose(run.per.flatMap((p) => Object.values(p)));
    return kv;
  }

  /**
   * {@link FptAttachment.extractKeyValues} with everything needed to check it: the selected token
   * indices and their importance scores per fused layer, and the LPM's own final features and
   * logits (it then runs every block). All tensors are new; the caller disposes them.
   * @param pixelsHr - [B, 3, inputSize, inputSize], normalised
   */
  inspectLpm(pixelsHr: tf.Tensor): LpmInspection {
    const run = this.runLpm(pixelsHr, true);
    const stacked = tf.tidy(() => ({
      keys: stackLayers(run.per, 'keys'),
      values: stackLayers(run.per, 'values'),
      indices: stackLayers(run.per, 'indices'),
      scores: stackLayers(run.per, 'scores'),
    }));
    tf.dispose(run.per.flatMap((p) => Object.values(p)));
    return { ...stacked, features: run.features!, logits: run.logits };
  }

  /**
   * The fused prompts [L, B, M, sideDim] of the selected keys and values.
   * @param kv - keys and values [L, B, H, n, d]
   * @param ctx - dropout mode and seed
   */
  fused(kv: KeyValues, ctx: ForwardContext): tf.Tensor {
    return fuse(this.fusion, kv.keys, kv.values, { training: ctx.training, seed: ctx.seed, sampleOffset: ctx.sampleOffset });
  }

  /**
   * The side network's features [B, sideDim]: fuse the prompts with the keys and values, run the
   * side network on the low-resolution image with layer i's fused prompts appended at side layer i
   * (and the side methods' hooks).
   * @param kv - selected keys and values of the batch
   * @param pixelsLr - [B, 3, side.imageSize, side.imageSize], normalised
   * @param ctx - the call's context
   */
  features(kv: KeyValues, pixelsLr: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    if (kv.keys.shape[1] !== pixelsLr.shape[0]) {
      throw new Error(`FPT: keys hold a batch of ${kv.keys.shape[1]} but pixels a batch of ${pixelsLr.shape[0]}`);
    }
    const fused = this.fused(kv, ctx);
    const [L, B, M, D] = dims(fused, ['L', 'B', 'M', 'D'], 'FPT: fused prompts');
    // A slice per layer rather than tf.unstack: tfjs's Unpack gradient breaks when there is one layer.
    const layer = (i: number) => tf.reshape(tf.slice(fused, [i, 0, 0, 0], [1, B, M, D]), [B, M, D]);
    return sideFeatures(this.side, pixelsLr, { extraTokens: (i) => (i < L ? layer(i) : undefined), hooks: this.sideStack?.hooks(ctx) });
  }

  /**
   * Frees what the side methods own besides their parameters; the parameters (fusion, side network,
   * side methods) are in `module`, which the adapted model frees.
   */
  dispose(): void {
    this.sideStack?.parts.forEach((p) => p.dispose?.());
  }

  private runLpm(pixelsHr: tf.Tensor, full: boolean, context?: SelectContext): LpmRun {
    const size = this.config.inputSize;
    if (pixelsHr.rank !== 4 || pixelsHr.shape[1] !== 3 || pixelsHr.shape[2] !== size || pixelsHr.shape[3] !== size) {
      throw new Error(`FPT: LPM pixels must be [B, 3, ${size}, ${size}], got [${pixelsHr.shape}]`);
    }
    // Selection needs each fused layer's attention probabilities [B, H, N, N] as one tensor: on
    // WebGPU past the binding limit (ViT-B/16 at 512 px: 48 MiB per image), the batch runs in
    // slices of images. Selection is per image, so the numbers are the same; a random selector
    // without sample seeds gets each image's index in the whole batch, as it would unsliced.
    const batch = pixelsHr.shape[0];
    const tokens = (size / this.lpm.config.patchSize) ** 2 + 1;
    const per = Math.max(1, unitsPerSlice(batch, this.lpm.config.numHeads * tokens * tokens * 4));
    if (per >= batch) return this.runLpmSlice(pixelsHr, full, context);
    const runs: LpmRun[] = [];
    for (let first = 0; first < batch; first += per) {
      const n = Math.min(per, batch - first);
      const pixels = tf.slice(pixelsHr, [first, 0, 0, 0], [n, -1, -1, -1]);
      const sampleSeeds = context?.sampleSeeds?.slice(first, first + n) ?? Array.from({ length: n }, (_, i) => first + i);
      runs.push(this.runLpmSlice(pixels, full, { ...context, sampleSeeds }));
      pixels.dispose();
    }
    const joined = tf.tidy(() => {
      const cat = (parts: Array<tf.Tensor | undefined>) => (parts[0] ? tf.concat(parts as tf.Tensor[], 0) : undefined);
      // There is a slice (per < batch); every slice ran the same fused layers.
      return {
        per: runs[0]!.per.map((layer, i) =>
          Object.fromEntries(Object.keys(layer).map((key) => [key, cat(runs.map((r) => r.per[i]?.[key]))!])),
        ),
        features: cat(runs.map((r) => r.features)),
        logits: cat(runs.map((r) => r.logits)),
      };
    });
    for (const r of runs)
      tf.dispose([...r.per.flatMap((p) => Object.values(p)), ...(r.features ? [r.features] : []), ...(r.logits ? [r.logits] : [])]);
    return joined;
  }

  /** The LPM on one batch (or slice of it): the selected keys and values per fused layer. */
  private runLpmSlice(pixelsHr: tf.Tensor, full: boolean, context?: SelectContext): LpmRun {
    const { selector, ratio } = this.config.selection;
    const run = frozenForward(this.lpm, pixelsHr, {
      layers: this.config.layers,
      runToEnd: full,
      onLayer: (layer, internals) => {
        const sel = selectTokens(internals, selector, ratio, { ...context, layer });
        if (full) return { keys: sel.keys, values: sel.values, indices: sel.indices, scores: sel.scores ?? tf.zeros([0]) };
        tf.dispose([sel.indices, ...(sel.scores ? [sel.scores] : [])]);
        return { keys: sel.keys, values: sel.values };
      },
    });
    const per = this.config.layers.map((l) => run.perLayer.get(l)! as Record<string, tf.Tensor>);
    return { per, features: run.features, logits: run.logits };
  }
}

/** What the LPM's pass hands back: per fused layer its selected keys and values (and more when inspected). */
interface LpmRun {
  per: Array<Record<string, tf.Tensor>>;
  features?: tf.Tensor;
  logits?: tf.Tensor;
}

function stackLayers(per: Array<Record<string, tf.Tensor>>, key: string): tf.Tensor {
  return tf.stack(
    per.map((p, i) => {
      const t = p[key];
      if (!t) throw new Error(`FPT: selected layer ${i} has no "${key}"`);
      return t;
    }),
  );
}

function kvOf(extras: Readonly<Record<string, tf.Tensor>> | undefined): KeyValues {
  // The adapted model has checked that both are present (the needsInputs capability).
  const keys = extras?.keys;
  const values = extras?.values;
  if (!keys || !values) throw new Error('FPT: the batch lacks its "keys" or "values" input');
  return { keys, values };
}

// The side ViT's full config (channels and resampling fixed by side-net), without a head.
function sideVitConfigOf(config: FptConfig) {
  return sideVitConfig({ ...config.side, numClasses: 0 });
}

function fptMethod(name: string, description: string, defaults: FptOptions, variant: FusionVariant, allLayers: boolean) {
  return defineMethod<FptOptions>({
    name,
    description,
    defaults,
    optionKinds: FPT_OPTION_KINDS,
    validate: (o) => validateFptOptions(o, name),
    attach: (lpm, o, resolve) => new FptAttachment(resolveFptConfig(lpm.config, o, variant, allLayers, name, resolve), lpm),
  });
}

/**
 * FPT+ ([data flow and shapes](../../../docs/method.md#data-flow-and-shapes)): fine-grained prompts fused with the frozen LPM's important keys and values,
 * a side ViT at 128 on the low-resolution image. Defaults: the paper's (layers 6..11 of ViT-B at
 * 512, `global` selection of 20 %, 16 prompts, dropout 0.5, side LPM width / 8 = 96 wide with heads
 * of 8). Its configuration is plain data (see {@link FptOptions}).
 * `adapt(lpm, [fptPlus()], { numClasses: 5 })` has 900,965 learnable parameters.
 */
export const fptPlus = fptMethod(
  'fpt-plus',
  "FPT+: fine-grained prompts fused with a frozen LPM's important keys/values, side ViT at 128",
  FPT_PLUS_DEFAULTS,
  fptPlusFusion,
  false,
);

/**
 * [FPT v1](../../../docs/method.md#fpt-v1): every LPM layer feeds a side ViT of equal depth at 224; prompts live at
 * the side width and are projected up to form the queries; fusion dropout 0.5 (the official
 * code's FPT config keeps the fusion module's default).
 */
export const fptV1 = fptMethod(
  'fpt',
  'FPT v1: all LPM layers, side ViT at 224, prompts projected up to the LPM width',
  FPT_V1_DEFAULTS,
  fptV1Fusion,
  true,
);

/**
 * The FPT attachment of an adapted model, found by the factory that made it (for inspection, the
 * authors' checkpoints and the parity checks; training and preloading need only the model's
 * capabilities).
 * @throws when the model holds no FPT method
 */
export function fptAttachment(model: AdaptedModel): FptAttachment {
  const part = model.attachmentOf(fptPlus) ?? model.attachmentOf(fptV1);
  if (!part) throw new Error(`${model.name}: not an FPT model (adapt the LPM with fptPlus() or fptV1())`);
  return part as FptAttachment;
}

/** @deprecated the name before FPT+ became an attachment: use {@link FptAttachment}. */
export type FptModel = FptAttachment;

/** @deprecated the name before FPT+ became an attachment: use {@link fptAttachment}. */
export const fptPart = fptAttachment;

/**
 * A zero-initialised LPM of the given architecture, for building FPT models before loading weights.
 * @param config - the LPM architecture
 */
export function emptyLpm(config: FptConfig['lpm']): VitModel {
  return createVit(config, { init: 'zeros' });
}
