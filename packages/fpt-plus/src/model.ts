import * as tf from '@tensorflow/tfjs-core';
import { crossEntropy, Module } from '@fpt/core';
import { createVit, frozenForward, type VitModel } from '@fpt/backbone-vit';
import { fuse, fusionConfig, FusionModule } from '@fpt/fusion';
import { createSideNet, sideForward } from '@fpt/side-net';
import { getSelector, selectTokens, type TokenSelector } from '@fpt/token-select';
import type { FptConfig } from './config';

/** The selected keys and values of a batch, stacked over the fused layers. */
export interface KeyValues {
  /** Keys [L, B, H, n, d]. */
  keys: tf.Tensor;
  /** Values [L, B, H, n, d]. */
  values: tf.Tensor;
}

/** What {@link FptModel.inspectLpm} returns. */
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

/** Options of {@link FptModel.forward}. */
export interface FptForwardOptions {
  /** Training mode: dropout on. Default false. */
  training?: boolean;
  /** Seed of the dropout mask. */
  seed?: number;
}

/**
 * FPT+ (or FPT v1) assembled: a frozen LPM that only ever runs outside gradient tapes, an
 * important-token selector, and the learnable part, a core `Module` with two children under the
 * authors' names: `fusion_module` (a `FusionModule`) and `side_encoder` (the side ViT, timm names).
 */
export class FptModel {
  /** The frozen large pre-trained model. */
  readonly lpm: VitModel;
  /** The learnable part: `fusion_module.*` and `side_encoder.*`. */
  readonly learnable: Module;
  /** The fusion module. */
  readonly fusion: FusionModule;
  /** The side network. */
  readonly side: VitModel;
  /** The token selector. */
  readonly selector: TokenSelector;

  /**
   * @param config - from `fptPlusConfig` / `fptV1Config`
   * @param lpm - an already loaded LPM with `config.lpm` as its config; a zero-initialised one is
   *   built otherwise (load weights into `model.lpm` afterwards). The model takes ownership.
   */
  constructor(
    readonly config: FptConfig,
    lpm?: VitModel,
  ) {
    if (lpm && JSON.stringify(lpm.config) !== JSON.stringify(config.lpm)) {
      throw new Error('FptModel: the given LPM\'s config differs from "config.lpm"');
    }
    this.lpm = lpm ?? createVit(config.lpm, { init: 'zeros' });
    this.lpm.freeze();
    this.selector = getSelector(config.selection.criterion, config.selection.seed);
    this.learnable = new Module();
    this.fusion = this.learnable.addModule(
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
    this.side = this.learnable.addModule('side_encoder', createSideNet(config.side, config.seed + 1));
  }

  /**
   * Runs the frozen LPM on high-resolution pixels and returns the selected keys and values of the
   * fused layers. Runs block by block without recording gradients; call it outside any gradient
   * function (the cache's preloading does, and so does the online training mode).
   * @param pixelsHr - [B, 3, inputSize, inputSize], normalised
   * @param sampleKeys - one stable key per image (its content hash): random selectors then draw
   *   the same tokens for an image in any batch (the key/value cache passes them)
   */
  extractKeyValues(pixelsHr: tf.Tensor, sampleKeys?: readonly string[]): KeyValues {
    return runLpm(this, pixelsHr, false, sampleKeys);
  }

  /**
   * {@link FptModel.extractKeyValues} with everything needed to check it: the selected token
   * indices and their importance scores per fused layer, and the LPM's own final features and
   * logits (it then runs every block). All tensors are new; the caller disposes them.
   * @param pixelsHr - [B, 3, inputSize, inputSize], normalised
   */
  inspectLpm(pixelsHr: tf.Tensor): LpmInspection {
    return runLpm(this, pixelsHr, true) as LpmInspection;
  }

  /**
   * The trainable forward: fuse prompts with the cached keys and values, run the side network on
   * the low-resolution image with layer i's fused prompts appended at side layer i.
   * @param kv - selected keys and values of the batch
   * @param pixelsLr - [B, 3, side.imageSize, side.imageSize], normalised
   * @param options - training mode
   * @returns logits [B, C] and the fused prompts [L, B, M, sideDim]
   */
  forward(kv: KeyValues, pixelsLr: tf.Tensor, options: FptForwardOptions = {}): { logits: tf.Tensor; fused: tf.Tensor } {
    if (kv.keys.shape[1] !== pixelsLr.shape[0]) {
      throw new Error(`FptModel.forward: keys hold a batch of ${kv.keys.shape[1]} but pixels a batch of ${pixelsLr.shape[0]}`);
    }
    const fused = fuse(this.fusion, kv.keys, kv.values, options);
    const [L, B, M, D] = fused.shape;
    // A slice per layer rather than tf.unstack: tfjs's Unpack gradient breaks when there is one layer.
    const layer = (i: number) => tf.reshape(tf.slice(fused, [i, 0, 0, 0], [1, B, M, D]), [B, M, D]);
    const logits = sideForward(this.side, pixelsLr, { extraTokens: (i) => (i < L ? layer(i) : undefined) });
    return { logits, fused };
  }

  /**
   * Mean cross-entropy of the forward's logits.
   * @param kv - selected keys and values
   * @param pixelsLr - low-resolution pixels
   * @param labels - int32 [B]
   * @param options - training mode
   */
  loss(kv: KeyValues, pixelsLr: tf.Tensor, labels: tf.Tensor, options: FptForwardOptions = {}): tf.Scalar {
    return crossEntropy(this.forward(kv, pixelsLr, options).logits, labels);
  }

  /** Frees the LPM and the learnable part. */
  dispose(): void {
    this.lpm.dispose();
    this.learnable.dispose();
  }
}

// The frozen LPM with token selection: keys and values only (stopping after the last fused layer),
// or everything a check needs (`full`: indices, scores, and the LPM's own output).
function runLpm(model: FptModel, pixelsHr: tf.Tensor, full: boolean, sampleKeys?: readonly string[]): LpmInspection | KeyValues {
  const size = model.config.inputSize;
  if (pixelsHr.rank !== 4 || pixelsHr.shape[2] !== size || pixelsHr.shape[3] !== size) {
    throw new Error(`FptModel.extractKeyValues: pixels must be [B, 3, ${size}, ${size}], got [${pixelsHr.shape}]`);
  }
  const { ratio } = model.config.selection;
  const run = frozenForward(model.lpm, pixelsHr, {
    layers: model.config.layers,
    runToEnd: full,
    onLayer: (l, internals) => {
      const sel = selectTokens(internals, model.selector, ratio, { sampleKeys, layer: l });
      if (!full) {
        tf.dispose([sel.indices, ...(sel.scores ? [sel.scores] : [])]);
        return { keys: sel.keys, values: sel.values };
      }
      return { keys: sel.keys, values: sel.values, indices: sel.indices, scores: sel.scores ?? tf.zeros([0]) };
    },
  });
  const per = model.config.layers.map((l) => run.perLayer.get(l)! as Record<string, tf.Tensor>);
  const stacked = tf.tidy(() => {
    const stack = (key: string) => tf.stack(per.map((p) => p[key]));
    const kv = { keys: stack('keys'), values: stack('values') };
    return full ? { ...kv, indices: stack('indices'), scores: stack('scores') } : kv;
  });
  tf.dispose(per.flatMap((p) => Object.values(p)));
  return full ? { ...(stacked as Omit<LpmInspection, 'features' | 'logits'>), features: run.features!, logits: run.logits } : stacked;
}
