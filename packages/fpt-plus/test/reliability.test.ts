// Reliability probes (issue 8) for FPT+: the key/value cache never serves a corrupt or foreign
// entry, wrong input never trains silently, loads are all or nothing, and no path leaks tensors.
// The README's "Reliability" table lists the same cases.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdamW, NonFiniteStepError, trainStep, type TensorEntry, type TrainStepOptions } from '@fpt/core';
import { readSafetensorsFile } from '@fpt/core/node';
import { adapt, createVit, trainingContext, type AdaptedModel, type MethodOptions } from '@fpt/backbone-vit';
import { fptPlus, loadAuthorsState, type FptOptions, type KeyValues } from '../src/index';
import { featureFingerprint, imageSeed, KvCache, preload, type CacheEvent, type PreloadItem } from '../src/node';
import { buildGoldenModel, editedGolden, GOLDEN_FPT } from './golden';
import { pixels, TINY_FPT, TINY_LPM, tinyFpt } from './helpers';

const NORM = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
const tempDir = () => mkdtempSync(join(tmpdir(), 'fpt-rel-'));

function items(ids: number[]): PreloadItem[] {
  return ids.map((i) => ({ bytes: new TextEncoder().encode(`image-${i}`), pixels: () => tf.squeeze(pixels(1, 32, 100 + i), [0]) }));
}

/** Every learnable parameter's values. */
function snapshot(m: AdaptedModel): Record<string, number[]> {
  return Object.fromEntries(m.module.namedParameters().map((p) => [p.name, Array.from(p.variable.dataSync())]));
}

/** One FPT+ training step on cached keys and values. */
function fptStep(
  m: AdaptedModel,
  opt: AdamW,
  b: { kv: KeyValues; pixelsLr: tf.Tensor; labels: tf.Tensor },
  options: Omit<TrainStepOptions, 'clipNorm'> = {},
) {
  return trainStep(() => m.loss({ pixels: b.pixelsLr, extras: { ...b.kv } }, b.labels, trainingContext(opt.iterations)), opt, {
    clipNorm: 1,
    ...options,
  });
}

/** The data section of a safetensors file (what follows its header). */
function dataStart(file: Uint8Array): number {
  return 8 + Number(new DataView(file.buffer, file.byteOffset, 8).getBigUint64(0, true));
}

describe('reliability: cache data checksum (item 1)', () => {
  it('an entry with one flipped data byte is reported and recomputed, never served', () => {
    const t = tinyFpt();
    const model = t.need;
    const cache = new KvCache(tempDir(), featureFingerprint(model, NORM), model);
    const { hashes } = preload(model, cache, items([0]));
    const path = cache.pathOf(hashes[0]!);
    const good = new Uint8Array(readFileSync(path));
    const bad = good.slice();
    const at = dataStart(bad) + 5;
    bad[at] = bad[at]! ^ 0x40; // one bit of one float of the keys
    writeFileSync(path, bad);
    expect(() => cache.loadBatch(hashes)).toThrow(
      /^KvCache: unusable entry: .*: data checksum is crc32:[0-9a-f]{8}, the entry says crc32:[0-9a-f]{8} \(corrupt data\)$/,
    );
    const events: CacheEvent[] = [];
    const r = preload(model, cache, items([0]), { onEvent: (e) => events.push(e) });
    expect([r.hits, r.invalid, r.computed]).toEqual([0, 1, 1]);
    expect((events[0] as { reason: string }).reason).toContain('corrupt data');
    expect(new Uint8Array(readFileSync(path))).toEqual(good); // recomputed to the same bytes
    t.dispose();
  });

  it('an entry without a checksum (an older format) is recomputed', () => {
    const t = tinyFpt();
    const model = t.need;
    const cache = new KvCache(tempDir(), featureFingerprint(model, NORM), model);
    const { hashes } = preload(model, cache, items([0]));
    const path = cache.pathOf(hashes[0]!);
    const text = readFileSync(path);
    writeFileSync(path, Buffer.from(text.toString('latin1').replace('"fpt-kv/2"', '"fpt-kv/1"'), 'latin1'));
    const e = cache.read(hashes[0]!);
    expect(e && 'invalid' in e && e.invalid).toMatch(/format "fpt-kv\/1", expected "fpt-kv\/2"/);
    t.dispose();
  });
});

describe('reliability: cache fingerprint (item 2)', () => {
  it('float16 entries are never served to a float32 cache', () => {
    const t = tinyFpt();
    const model = t.need;
    const dir = tempDir();
    const fp = featureFingerprint(model, NORM);
    const half = new KvCache(dir, fp, model, { float16: true });
    const full = new KvCache(dir, fp, model);
    expect(full.folder).not.toBe(half.folder);
    const h = preload(model, half, items([0])).hashes[0]!;
    // Opened on the same folder and fingerprint, the float32 cache computes its own entry...
    expect(preload(model, full, items([0])).computed).toBe(1);
    // ...and a float16 entry copied into its place is refused, not served with float16 error.
    writeFileSync(full.pathOf(h), readFileSync(half.pathOf(h)));
    const e = full.read(h);
    expect(e && 'invalid' in e && e.invalid).toMatch(/fingerprint .* is not this cache's/);
    tf.tidy(() => {
      rmSync(full.pathOf(h));
      preload(model, full, items([0]));
      const online = t.fpt.extractKeyValues(tf.stack(items([0]).map((it) => it.pixels())), { sampleSeeds: [imageSeed(h)] });
      expect(Array.from(full.loadBatch([h]).keys?.dataSync() ?? [])).toEqual(Array.from(online.keys.dataSync()));
    });
    t.dispose();
  });

  it('a random selector draws per image: preloading 0,1,2 and 2,1,0 writes the same entries', () => {
    const ta = tinyFpt({ selector: { criterion: 'random', seed: 3 } });
    const tb = tinyFpt({ selector: { criterion: 'random', seed: 3 } });
    const [a, b] = [ta.need, tb.need];
    const fp = featureFingerprint(a, NORM);
    expect(featureFingerprint(b, NORM)).toBe(fp);
    const ca = new KvCache(tempDir(), fp, a);
    const cb = new KvCache(tempDir(), fp, b);
    const ha = preload(a, ca, items([0, 1, 2]), { batchSize: 3 }).hashes;
    preload(b, cb, items([2, 1, 0]), { batchSize: 2 });
    for (const h of ha) expect(readFileSync(cb.pathOf(h))).toEqual(readFileSync(ca.pathOf(h)));
    ta.dispose();
    tb.dispose();
  });

  it("the selector's own fingerprint is part of the feature fingerprint", () => {
    const t3 = tinyFpt({ selector: { criterion: 'random', seed: 3 } });
    const t4 = tinyFpt({ selector: { criterion: 'random', seed: 4 } });
    expect(t3.fpt.selector.fingerprint).toEqual({ name: 'random', version: 3, params: { seed: 3 } });
    expect(featureFingerprint(t4.need, NORM)).not.toBe(featureFingerprint(t3.need, NORM));
    t3.dispose();
    t4.dispose();
  });
});

describe('reliability: training input (items 3, 4, 8)', () => {
  function setup() {
    const t = tinyFpt();
    const m = t.model;
    const opt = new AdamW(m.trainableVariables(), { lr: 1e-3 });
    const hr = pixels(2, 32, 1);
    const kv = t.fpt.extractKeyValues(hr);
    hr.dispose();
    return { m, opt, kv, t };
  }

  it('one NaN pixel: the step is refused naming it, parameters and optimizer untouched, nothing leaked', () => {
    const { m, opt, kv, t } = setup();
    const lr = pixels(2, 16, 2);
    const labels = tf.tensor1d([0, 1], 'int32');
    fptStep(m, opt, { kv, pixelsLr: lr, labels });
    const nanLr = tf.tidy(() => tf.where(tf.equal(tf.reshape(tf.range(0, lr.size), lr.shape), 7), tf.fill(lr.shape, NaN), lr));
    const before = snapshot(m);
    const n = tf.memory().numTensors;
    expect(() => fptStep(m, opt, { kv, pixelsLr: nanLr, labels })).toThrow(NonFiniteStepError);
    expect(() => fptStep(m, opt, { kv, pixelsLr: nanLr, labels })).toThrow(
      /^trainStep: step 2: loss is NaN and gradient norm is NaN; the step was not applied/,
    );
    expect(fptStep(m, opt, { kv, pixelsLr: nanLr, labels }, { skipNonFinite: true }).skipped).toBe(true);
    expect(snapshot(m)).toEqual(before);
    expect(opt.iterations).toBe(1);
    expect(tf.memory().numTensors).toBe(n);
    tf.dispose([kv.keys, kv.values, lr, nanLr, labels]);
    opt.dispose();
    t.dispose();
  });

  it('bad labels are refused before any update; a step that throws after the forward leaks nothing, in a loop', () => {
    const { m, opt, kv, t } = setup();
    const lr = pixels(2, 16, 2);
    const before = snapshot(m);
    const cases: Array<[tf.Tensor, string]> = [
      [tf.tensor1d([0, 3], 'int32'), 'crossEntropy: label 3 at index 1 is outside [0, 3) for 3 classes'],
      [tf.tensor1d([-1, 0], 'int32'), 'crossEntropy: label -1 at index 0 is outside [0, 3)'],
      [tf.tensor2d([[0], [1]], [2, 1], 'int32'), 'crossEntropy: labels have shape [2,1], expected [2]'],
      [tf.tensor1d([1], 'int32'), 'crossEntropy: labels have shape [1], expected [2]'],
    ];
    const n = tf.memory().numTensors;
    for (let round = 0; round < 3; round++) {
      for (const [labels, message] of cases) expect(() => fptStep(m, opt, { kv, pixelsLr: lr, labels })).toThrow(message);
    }
    expect(tf.memory().numTensors).toBe(n);
    expect(snapshot(m)).toEqual(before);
    expect(opt.iterations).toBe(0);
    // The success path leaks nothing either (after the first step made the moments).
    const good = tf.tensor1d([2, 0], 'int32');
    fptStep(m, opt, { kv, pixelsLr: lr, labels: good });
    const n2 = tf.memory().numTensors;
    fptStep(m, opt, { kv, pixelsLr: lr, labels: good });
    expect(tf.memory().numTensors).toBe(n2);
    tf.dispose([kv.keys, kv.values, lr, good, ...cases.map(([l]) => l)]);
    opt.dispose();
    t.dispose();
  });

  // Item 9: forward tidies itself, so outside tf.tidy only its logits survive.
  it('item 9: forward outside tf.tidy leaves only its outputs', () => {
    const { m, opt, kv, t } = setup();
    const lr = pixels(2, 16, 2);
    const n = tf.memory().numTensors;
    const logits = m.forward({ pixels: lr, extras: { ...kv } });
    tf.dispose(logits);
    const leaked = tf.memory().numTensors - n;
    tf.dispose([kv.keys, kv.values, lr]);
    opt.dispose();
    t.dispose();
    expect(leaked).toBe(0);
  });
});

describe('reliability: authors-state loads are all or nothing (item 6)', () => {
  const fixture = GOLDEN_FPT;
  const build = buildGoldenModel;
  const edited = editedGolden;

  it('one wrong shape in the side network leaves the prompts (and everything) as they were', () => {
    const { model, dispose } = build();
    const before = snapshot(model);
    const n = tf.memory().numTensors;
    const key = 'fpt.side_encoder.vit.encoder.layer.1.attention.attention.key.weight';
    expect(() =>
      loadAuthorsState(
        model,
        edited((m) => m.set(key, { dtype: 'float32', shape: [16, 8], data: new Float32Array(128), sourceDtype: 'F32' })),
        'fpt.',
      ),
    ).toThrow(`key "${key}" has shape [16,8], expected [16,16]`);
    expect(() =>
      loadAuthorsState(
        model,
        edited((m) => m.set('fpt.fusion_module.extra', m.get('fpt.fusion_module.out_proj.bias')!)),
        'fpt.',
      ),
    ).toThrow('unexpected key(s): fpt.fusion_module.extra');
    // A NaN weight in the last part is refused by name, and nothing is assigned either.
    const nan = (m: Map<string, TensorEntry>) => {
      const e = m.get('fpt.side_encoder.classifier.bias')!;
      const data = Float32Array.from(e.data);
      data[0] = NaN;
      m.set('fpt.side_encoder.classifier.bias', { ...e, data });
    };
    expect(() => loadAuthorsState(model, edited(nan), 'fpt.')).toThrow(
      'loadAuthorsState: edited.safetensors: key "fpt.side_encoder.classifier.bias" holds 1 non-finite value(s)',
    );
    expect(snapshot(model)).toEqual(before);
    expect(tf.memory().numTensors).toBe(n);
    // And the intact file loads, leaking nothing.
    loadAuthorsState(model, readSafetensorsFile(fixture), 'fpt.');
    expect(snapshot(model)).not.toEqual(before);
    expect(tf.memory().numTensors).toBe(n);
    dispose();
  });
});

describe('reliability: configuration (item 7)', () => {
  const cases: Array<[string, MethodOptions<FptOptions>, string]> = [
    ['ratio 5', { ratio: 5 }, 'fpt-plus: option "ratio" must be a number in (0, 1], got 5'],
    ['ratio 0', { ratio: 0 }, 'fpt-plus: option "ratio" must be a number in (0, 1], got 0'],
    ['ratio -1', { ratio: -1 }, 'fpt-plus: option "ratio" must be a number in (0, 1], got -1'],
    ['inputSize 0', { inputSize: 0 }, 'fpt-plus: option "inputSize" must be a positive integer, got 0'],
    ['inputSize -16', { inputSize: -16 }, 'fpt-plus: option "inputSize" must be a positive integer, got -16'],
    [
      'inputSize 30 (not a multiple of the patch)',
      { inputSize: 30 },
      'fpt-plus: option "inputSize" 30 is not a multiple of the LPM patch size 8',
    ],
    ['layers 2,2', { layers: [2, 2] }, 'fpt-plus: option "layers" holds a layer twice: 2,2'],
    ['layer 4 of 4', { layers: [2, 4] }, 'fpt-plus: option "layers" holds 4, but the LPM has layers 0..3'],
    ['side image 0', { side: { ...TINY_FPT.side, imageSize: 0 } }, 'fpt-plus: option "side.imageSize" must be a positive integer, got 0'],
    [
      'side image 20 with patch 8',
      { side: { ...TINY_FPT.side, imageSize: 20 } },
      'fpt-plus: option "side.imageSize" 20 is not a multiple of the side patch size 8',
    ],
  ];
  for (const [what, input, message] of cases) {
    it(`refuses ${what} when the method is made or attached, leaving the LPM as it was`, () => {
      const lpm = createVit(TINY_LPM, { init: 'zeros' });
      const n = tf.memory().numTensors;
      expect(() => adapt(lpm, [fptPlus({ ...TINY_FPT, ...input })])).toThrow(message);
      expect(tf.memory().numTensors).toBe(n);
      lpm.dispose();
    });
  }
});

describe('reliability: cache files and folders (items 11, 14)', () => {
  it('preload refuses batchSize 0 by name', () => {
    const t = tinyFpt();
    const model = t.need;
    const cache = new KvCache(tempDir(), featureFingerprint(model, NORM), model);
    for (const bad of [0, -1, 1.5]) {
      expect(() => preload(model, cache, items([0]), { batchSize: bad })).toThrow(
        `preload: option "batchSize" must be a positive integer, got ${bad}`,
      );
    }
    t.dispose();
  });

  it('an entry replaced by a directory gets one sentence naming it', () => {
    const t = tinyFpt();
    const model = t.need;
    const cache = new KvCache(tempDir(), featureFingerprint(model, NORM), model);
    const { hashes } = preload(model, cache, items([0]));
    rmSync(cache.pathOf(hashes[0]!));
    mkdirSync(cache.pathOf(hashes[0]!));
    expect(() => cache.loadBatch(hashes)).toThrow(
      `KvCache: unusable entry: ${cache.pathOf(hashes[0]!)}: is a directory, expected an entry file`,
    );
    expect(() => preload(model, cache, items([0]))).toThrow(
      `KvCache: cannot replace the entry ${cache.pathOf(hashes[0]!)}: it is a directory, expected a file; remove it by hand`,
    );
    t.dispose();
  });

  it('a cache folder that cannot be written gets one sentence naming it', () => {
    const t = tinyFpt();
    const model = t.need;
    const fp = featureFingerprint(model, NORM);
    // As root a read-only mode does not stop writes, so root tries a folder under /sys (EPERM).
    const root = process.getuid?.() === 0 ? '/sys/fpt-kv-cache-probe' : join(tempDir(), 'ro');
    if (process.getuid?.() !== 0) {
      mkdirSync(root);
      chmodSync(root, 0o555);
    }
    expect(() => new KvCache(root, fp, model)).toThrow(
      /^KvCache: cannot create the cache folder \S+: (permission denied \(EACCES\)|operation not permitted \(EPERM\)); the cache folder must be writable$/,
    );
    t.dispose();
  });

  it('temporary files of a writer killed with SIGKILL are removed when the cache opens; live or young ones stay', async () => {
    const t = tinyFpt();
    const model = t.need;
    const dir = tempDir();
    const fp = featureFingerprint(model, NORM);
    const cache = new KvCache(dir, fp, model);
    // A writer that starts an entry under atomicWriteFile's temp-file naming, then is killed.
    const target = cache.pathOf('a'.repeat(64));
    const child = spawn(process.execPath, [
      '-e',
      `require('fs').writeFileSync(${JSON.stringify(target)} + '.' + process.pid + '.0123456789ab.tmp', 'partial'); console.log('written'); setInterval(() => {}, 1000);`,
    ]);
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const dead = `${target}.${child.pid}.0123456789ab.tmp`;
    expect(existsSync(dead)).toBe(true);
    // A temp file of this (live) process, and one of a dead writer that is too young to judge.
    const live = `${target}.${process.pid}.aaaaaaaaaaaa.tmp`;
    writeFileSync(live, 'in progress');
    const young = `${target}.${child.pid}.bbbbbbbbbbbb.tmp`;
    writeFileSync(young, 'partial');
    const old = new Date(Date.now() - 3_600_000);
    utimesSync(dead, old, old);
    utimesSync(live, old, old);
    const reopened = new KvCache(dir, fp, model);
    expect(reopened.removedTemporaries).toEqual([dead]);
    expect(
      readdirSync(cache.folder)
        .filter((f) => f.endsWith('.tmp'))
        .sort(),
    ).toEqual([live, young].map((p) => p.slice(cache.folder.length + 1)).sort());
    t.dispose();
  });
});

describe('reliability round 3: a NaN pixel is never cached (issue 17 item 21)', () => {
  it('preload refuses keys and values that are not finite, and writes no entry', () => {
    const t = tinyFpt();
    const cache = new KvCache(tempDir(), featureFingerprint(t.need, NORM), t.need);
    const nanItem: PreloadItem = {
      bytes: new TextEncoder().encode('nan-image'),
      pixels: () => tf.tidy(() => tf.mul(tf.squeeze(pixels(1, 32, 7), [0]), Number.NaN)),
    };
    const before = tf.memory().numTensors;
    expect(() => preload(t.need, cache, [nanItem])).toThrow(
      /^KvCache: the keys of image [0-9a-f]{64} hold NaN at index 0; not cached \(the image's pixels or the frozen weights are not finite\)$/,
    );
    expect(tf.memory().numTensors).toBe(before);
    expect(readdirSync(cache.folder).filter((f) => f.endsWith('.safetensors'))).toEqual([]);
    t.dispose();
  });
});
