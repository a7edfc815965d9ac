import { dims } from '@fpt/core';
import * as tf from '@tensorflow/tfjs-core';
import type { PosEmbedResample } from './config';

// tfjs has no bicubic resize. Both checkpoint families resample separably, so each is a pair of
// small [gNew, gOld] matrices applied to rows and then columns: exact, and differentiable, so
// position embeddings still train when a model is fine-tuned at another resolution.

function cubic(t: number, a: number): number {
  const x = Math.abs(t);
  if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

/**
 * The 1-D interpolation matrix [gNew, gOld] of HF ViT's `interpolate_pos_encoding`:
 * `interpolate(scale_factor=(gNew + 0.1) / gOld, mode='bicubic', align_corners=False)`. The source
 * coordinate uses the given scale, not gNew / gOld; cubic kernel a = -0.75; taps clamped to the edge.
 */
export function hfBicubicMatrix(gOld: number, gNew: number): Float64Array {
  const m = new Float64Array(gNew * gOld);
  const scale = (gNew + 0.1) / gOld;
  for (let i = 0; i < gNew; i++) {
    const c = (i + 0.5) / scale - 0.5;
    const f = Math.floor(c);
    const t = c - f;
    for (let k = -1; k <= 2; k++) {
      const j = Math.min(Math.max(f + k, 0), gOld - 1);
      m[i * gOld + j]! += cubic(k - t, -0.75); // j is clamped into [0, gOld)
    }
  }
  return m;
}

/**
 * The 1-D interpolation matrix [gNew, gOld] of timm's `resample_abs_pos_embed` (bicubic to a target
 * size with antialias): cubic kernel a = -0.5 stretched by the scale when shrinking, taps outside
 * the input dropped and the remaining weights renormalised to sum to 1.
 */
export function timmBicubicMatrix(gOld: number, gNew: number): Float64Array {
  const m = new Float64Array(gNew * gOld);
  const scale = gOld / gNew;
  const stretch = Math.max(scale, 1);
  const support = 2 * stretch;
  for (let i = 0; i < gNew; i++) {
    const c = (i + 0.5) * scale - 0.5;
    let sum = 0;
    for (let j = 0; j < gOld; j++) {
      if (Math.abs(j - c) >= support) continue;
      const wgt = cubic((j - c) / stretch, -0.5);
      m[i * gOld + j] = wgt;
      sum += wgt;
    }
    for (let j = 0; j < gOld; j++) m[i * gOld + j]! /= sum; // row i of the [gNew, gOld] matrix
  }
  return m;
}

/**
 * Resamples position embeddings [1, prefix + gOld^2, D] to [1, prefix + gNew^2, D]; the prefix
 * (CLS) embeddings are kept unchanged. Returns `posEmbed` itself when the grid already matches.
 * @param posEmbed - the embeddings, grid row-major
 * @param gNew - the new grid side
 * @param mode - `hf` or `timm`, matching the checkpoint family
 * @param prefixTokens - tokens before the grid (1 for CLS)
 */
export function resamplePosEmbed(posEmbed: tf.Tensor, gNew: number, mode: PosEmbedResample, prefixTokens = 1): tf.Tensor {
  const [, n, d] = dims(posEmbed, ['1', 'N', 'D'], 'resamplePosEmbed: pos_embed');
  const gOld = Math.round(Math.sqrt(n - prefixTokens));
  if (gOld * gOld !== n - prefixTokens) {
    throw new Error(`resamplePosEmbed: ${n - prefixTokens} grid tokens in pos_embed [${posEmbed.shape}] is not a square`);
  }
  if (gOld === gNew) return posEmbed;
  return tf.tidy(() => {
    const w = mode === 'hf' ? hfBicubicMatrix(gOld, gNew) : timmBicubicMatrix(gOld, gNew);
    const wt = tf.tensor2d(Float32Array.from(w), [gNew, gOld]);
    const prefix = tf.slice(posEmbed, [0, 0, 0], [1, prefixTokens, d]);
    const grid = tf.slice(posEmbed, [0, prefixTokens, 0], [1, gOld * gOld, d]);
    // rows: [gNew, gOld] x [gOld, gOld*D]
    const rows = tf.matMul(wt, tf.reshape(grid, [gOld, gOld * d]));
    // columns: bring the column axis first, interpolate, put it back
    const colsFirst = tf.reshape(tf.transpose(tf.reshape(rows, [gNew, gOld, d]), [1, 0, 2]), [gOld, gNew * d]);
    const cols = tf.transpose(tf.reshape(tf.matMul(wt, colsFirst), [gNew, gNew, d]), [1, 0, 2]);
    return tf.concat([prefix, tf.reshape(cols, [1, gNew * gNew, d])], 1);
  });
}
