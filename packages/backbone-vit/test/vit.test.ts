import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { parameterReport } from '@fpt/core';
import { readSafetensorsFile } from '@fpt/core/node';
import { fileURLToPath } from 'node:url';
import {
  classify,
  createVit,
  embed,
  frozenForward,
  hfNamesOf,
  loadVitWeights,
  resamplePosEmbed,
  toHfNames,
  vitB16Hf384,
  vitConfig,
  vitConfigFromCheckpoint,
  vitQuick96,
  vitForward,
} from '../src/index';

const golden = (f: string) => fileURLToPath(new URL(`../../../test/fixtures/golden/${f}`, import.meta.url));

function maxAbs(a: tf.Tensor, e: { data: ArrayLike<number>; shape: number[] }): number {
  expect(a.shape).toEqual(e.shape);
  const d = a.dataSync();
  let m = 0;
  for (let i = 0; i < d.length; i++) m = Math.max(m, Math.abs(d[i]! - e.data[i]!)); // same shape, checked above
  return m;
}

describe('config and parameter counts', () => {
  it('google/vit-base-patch16-384 has exactly 86,859,496 parameters', () => {
    const vit = createVit(vitB16Hf384(), { init: 'zeros' });
    expect(parameterReport(vit).total).toBe(86_859_496);
    vit.dispose();
  });

  it('vitQuick96 is the small random LPM of quick runs: width 96, 4 layers, 96x96, 525,024 parameters', () => {
    const cfg = vitQuick96();
    expect([cfg.hiddenSize, cfg.numLayers, cfg.numHeads, cfg.mlpDim, cfg.patchSize, cfg.imageSize, cfg.numClasses]).toEqual([
      96, 4, 3, 384, 16, 96, 0,
    ]);
    const vit = createVit(cfg, { init: 'zeros' });
    expect(parameterReport(vit).total).toBe(525_024);
    vit.dispose();
  });

  it('rejects inconsistent configs with the option named', () => {
    expect(() => vitConfig({ hiddenSize: 100, numLayers: 2, numHeads: 3 })).toThrow(/"hiddenSize" 100 is not divisible by "numHeads" 3/);
    expect(() => vitConfig('vit-s16', { imageSize: 100 })).toThrow(/"imageSize" 100 is not a multiple of "patchSize" 16/);
    expect(() => vitConfig('nope' as never)).toThrow(/unknown preset "nope"/);
  });
});

describe('timm golden fixture', () => {
  const file = readSafetensorsFile(golden('timm-vit-tiny.safetensors'));
  const cfg = vitConfig({ hiddenSize: 48, numLayers: 3, numHeads: 4, mlpDim: 192, patchSize: 8, imageSize: 32, numClasses: 5 });

  it('reproduces forward_features, logits and the resampled pos_embed', () => {
    const vit = createVit(cfg);
    loadVitWeights(vit, file, { prefix: 'timm.' });
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const pixels = tf.tensor(file.get('input.pixels').data, file.get('input.pixels').shape);
      const out = vitForward(vit, pixels);
      expect(maxAbs(out.features, file.get('expected.timm.features'))).toBeLessThan(1e-4);
      expect(maxAbs(out.logits!, file.get('expected.timm.logits'))).toBeLessThan(1e-4);
      const pos = resamplePosEmbed(vit.get('pos_embed'), 7, 'timm');
      expect(maxAbs(pos, file.get('expected.timm.pos_embed_resampled'))).toBeLessThan(1e-5);
    });
    expect(tf.memory().numTensors).toBe(before);
    vit.dispose();
  });

  it('resamplePosEmbed names a pos_embed that is not [1, N, D]', () => {
    const flat = tf.zeros([17, 8]);
    expect(() => resamplePosEmbed(flat, 3, 'timm')).toThrow('resamplePosEmbed: pos_embed has shape [17,8], expected [1, N, D]');
    flat.dispose();
  });

  it('frozenForward gives the same features and frees every intermediate', () => {
    const vit = createVit(cfg);
    loadVitWeights(vit, file, { prefix: 'timm.' });
    const pixels = tf.tensor(file.get('input.pixels').data, file.get('input.pixels').shape);
    const before = tf.memory().numTensors;
    const r = frozenForward(vit, pixels, { layers: [1], runToEnd: true, onLayer: (_l, x) => x.keys });
    expect(maxAbs(r.features!, file.get('expected.timm.features'))).toBeLessThan(1e-4);
    expect(r.perLayer.get(1)!.shape).toEqual([2, 4, 17, 12]);
    tf.dispose([r.features!, r.logits!, r.perLayer.get(1)!]);
    expect(tf.memory().numTensors).toBe(before);
    pixels.dispose();
    vit.dispose();
  });

  it('frozenForward keeps peak memory flat in depth', async () => {
    const mk = (layers: number) =>
      createVit(vitConfig({ hiddenSize: 32, numLayers: layers, numHeads: 2, patchSize: 8, imageSize: 32, numClasses: 0 }), {
        init: 'zeros',
      });
    const peak = async (layers: number) => {
      const vit = mk(layers);
      const pixels = tf.zeros([2, 3, 32, 32]);
      const info = await tf.profile(() => {
        const r = frozenForward(vit, pixels, { layers: [], runToEnd: true, onLayer: () => [] });
        r.features!.dispose();
        return [];
      });
      const paramBytes = parameterReport(vit).total * 4;
      pixels.dispose();
      vit.dispose();
      return info.peakBytes - paramBytes;
    };
    const shallow = await peak(2);
    const deep = await peak(8);
    expect(deep).toBeLessThanOrEqual(shallow * 1.01);
  });
});

describe('checkpoint loading', () => {
  const cfg = vitConfig({
    hiddenSize: 8,
    numLayers: 1,
    numHeads: 2,
    mlpDim: 16,
    patchSize: 4,
    imageSize: 8,
    numClasses: 3,
    layerNormEps: 1e-12,
    posEmbedResample: 'hf',
  });

  function hfCheckpoint(overrides: Record<string, number[]> = {}) {
    const src = createVit(cfg, { seed: 3 });
    const hf = toHfNames(src.state());
    const entries = new Map<string, { dtype: 'float32'; shape: number[]; data: Float32Array; sourceDtype: 'F32' }>();
    for (const [k, t] of Object.entries(hf)) {
      const shape = overrides[k] ?? t.shape;
      const size = shape.reduce((a, b) => a * b, 1);
      entries.set(k, { dtype: 'float32', shape, data: Float32Array.from(t.dataSync().slice(0, size)), sourceDtype: 'F32' });
    }
    return { src, source: { names: () => [...entries.keys()], get: (n: string) => entries.get(n)!, source: 'ckpt.safetensors' } };
  }

  it('vitConfigFromCheckpoint reads the architecture from the shapes, HF or timm naming, heads and eps from config.json fields', () => {
    const { src, source } = hfCheckpoint();
    expect(vitConfigFromCheckpoint(source, 'ckpt.safetensors', { num_attention_heads: cfg.numHeads })).toEqual(cfg);
    const timm = Object.entries(src.state()).map(([name, t]) => [name, { shape: t.shape, dtype: 'float32' as const }] as const);
    const timmSource = { names: () => timm.map(([n]) => n), get: (n: string) => Object.fromEntries(timm)[n] as never };
    expect(vitConfigFromCheckpoint(timmSource, 'timm.safetensors', { num_attention_heads: cfg.numHeads })).toEqual({
      ...cfg,
      layerNormEps: 1e-6,
      posEmbedResample: 'timm',
    });
    const noPatch = { names: () => ['vit.embeddings.cls_token'], get: () => ({ shape: [1, 1, 8] }) as never };
    expect(() => vitConfigFromCheckpoint(noPatch, 'x.safetensors')).toThrow(
      'x.safetensors: no "embeddings.patch_embeddings.projection.weight" tensor; not a ViT checkpoint (hf naming)',
    );
    src.dispose();
  });

  it('HF names round-trip into the fused timm layout', () => {
    const { src, source } = hfCheckpoint();
    const dst = createVit(cfg, { seed: 9 });
    const report = loadVitWeights(dst, source);
    expect(report.missing).toEqual([]);
    expect(report.unexpected).toEqual([]);
    for (const p of src.namedParameters()) {
      expect(Array.from(dst.get(p.name).dataSync())).toEqual(Array.from(p.variable.dataSync()));
    }
    expect(hfNamesOf('blocks.0.attn.qkv.weight')).toEqual([
      'vit.encoder.layer.0.attention.attention.query.weight',
      'vit.encoder.layer.0.attention.attention.key.weight',
      'vit.encoder.layer.0.attention.attention.value.weight',
    ]);
    src.dispose();
    dst.dispose();
  });

  it('a wrong shape names the key, the expected and the found shape', () => {
    const { src, source } = hfCheckpoint({ 'vit.encoder.layer.0.attention.attention.key.weight': [8, 4] });
    const dst = createVit(cfg);
    expect(() => loadVitWeights(dst, source)).toThrow(
      'loadVitWeights: ckpt.safetensors: key "vit.encoder.layer.0.attention.attention.key.weight" has shape [8,4], expected [8,8] for parameter "blocks.0.attn.qkv.weight"',
    );
    src.dispose();
    dst.dispose();
  });

  it('missing and unknown keys are reported (strict throws, lenient returns them)', () => {
    const { src, source } = hfCheckpoint();
    const names = source
      .names()
      .filter((n) => n !== 'classifier.bias')
      .concat(['vit.pooler.dense.weight']);
    const extra = {
      ...source,
      names: () => names,
      get: (n: string) => (n === 'vit.pooler.dense.weight' ? source.get('classifier.weight') : source.get(n)),
    };
    const dst = createVit(cfg);
    expect(() => loadVitWeights(dst, extra)).toThrow(/missing 1 key\(s\): classifier.bias; unexpected 1 key\(s\): vit.pooler.dense.weight/);
    const r = loadVitWeights(dst, extra, { strict: false });
    expect(r.missing).toEqual(['classifier.bias']);
    expect(r.unexpected).toEqual(['vit.pooler.dense.weight']);
    src.dispose();
    dst.dispose();
  });
});

describe('forward contracts', () => {
  it('extra tokens take part in attention and are dropped after the block', () => {
    const vit = createVit(vitConfig({ hiddenSize: 16, numLayers: 2, numHeads: 2, patchSize: 4, imageSize: 8, numClasses: 2 }), { seed: 1 });
    tf.tidy(() => {
      const x = tf.randomNormal([1, 3, 8, 8], 0, 1, 'float32', 1);
      const plain = vitForward(vit, x, { collect: [0] });
      const extra = vitForward(vit, x, { collect: [0], extraTokens: () => tf.ones([1, 3, 16]) });
      expect(extra.features.shape).toEqual(plain.features.shape);
      expect(extra.layers.get(0)!.keys.shape).toEqual([1, 2, 5 + 3, 8]);
      expect(tf.max(tf.abs(tf.sub(extra.features, plain.features))).dataSync()[0]).toBeGreaterThan(1e-4);
    });
    vit.dispose();
  });

  it('rejects non-NCHW input and out-of-range layers with clear errors', () => {
    const vit = createVit(vitConfig({ hiddenSize: 16, numLayers: 2, numHeads: 2, patchSize: 4, imageSize: 8, numClasses: 0 }));
    tf.tidy(() => {
      expect(() => embed(vit, tf.zeros([1, 8, 8, 3]))).toThrow(/NCHW \[B, 3, H, W\], got \[1,8,8,3\]/);
      expect(() => vitForward(vit, tf.zeros([1, 3, 8, 8]), { collect: [2] })).toThrow(/layer 2 out of range/);
      expect(() => classify(vit, tf.zeros([1, 5, 16]))).toThrow(/no classifier head/);
    });
    vit.dispose();
  });
});
