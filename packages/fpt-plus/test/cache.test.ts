import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { featureFingerprint, KvCache, preload, sha256Hex, type CacheEvent, type PreloadItem } from '../src/node';
import * as browserSafe from '../src/index';
import { pixels, tinyFpt, type Tiny } from './helpers';

const NORM = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };

function items(n: number): PreloadItem[] {
  return Array.from({ length: n }, (_, i) => ({
    bytes: new TextEncoder().encode(`image-${i}`),
    pixels: () => tf.squeeze(pixels(1, 32, 100 + i), [0]),
  }));
}

function setup(float16 = false, tiny: Tiny = tinyFpt()) {
  const model = tiny.need;
  const dir = mkdtempSync(join(tmpdir(), 'kv-'));
  const cache = new KvCache(dir, featureFingerprint(model, NORM), model, { float16 });
  return { model, dir, cache, tiny, dispose: () => tiny.dispose() };
}

describe('key/value cache', () => {
  it("the main entry's fingerprints (JavaScript SHA-256, for browsers) equal the Node cache's", async () => {
    const { model, cache, tiny } = setup();
    const features = browserSafe.featureFingerprint(model, NORM);
    expect(features).toBe(featureFingerprint(model, NORM));
    expect(await browserSafe.featureFingerprintAsync(model, NORM)).toBe(features);
    expect(browserSafe.kvEntryFingerprint(features, 'float32')).toBe(cache.fingerprint);
    expect(browserSafe.sha256Hex('image-0')).toBe(sha256Hex('image-0'));
    tiny.dispose();
  });

  it('preloads once, then hits; entries equal the online keys/values; online and cached logits are identical', () => {
    const { model, cache, tiny } = setup();
    const before = tf.memory().numTensors;
    const first = preload(model, cache, items(3), { batchSize: 2 });
    expect([first.hits, first.computed, first.invalid]).toEqual([0, 3, 0]);
    const second = preload(model, cache, items(3));
    expect([second.hits, second.computed]).toEqual([3, 0]);
    expect(tf.memory().numTensors).toBe(before);
    expect(readdirSync(cache.folder).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    tf.tidy(() => {
      const hr = tf.stack(items(3).map((it) => it.pixels()));
      const online = tiny.fpt.extractKeyValues(hr);
      const cached = cache.loadBatch(first.hashes);
      expect(cached.keys?.shape).toEqual([2, 3, 4, 3, 8]); // [L, B, H, n = floor(17 * 0.2), d]
      expect(Array.from(cached.keys?.dataSync() ?? [])).toEqual(Array.from(online.keys.dataSync()));
      expect(Array.from(cached.values?.dataSync() ?? [])).toEqual(Array.from(online.values.dataSync()));
      const lr = pixels(3, 16, 7);
      const a = tiny.model.forward({ pixels: lr, extras: { ...online } }).dataSync();
      const b = tiny.model.forward({ pixels: lr, extras: { ...cached } }).dataSync();
      expect(Array.from(b)).toEqual(Array.from(a));
    });
    tiny.dispose();
  });

  it('an interrupted preload resumes: finished entries are not recomputed', () => {
    const { model, cache, tiny } = setup();
    preload(model, cache, items(2));
    const events: CacheEvent[] = [];
    const r = preload(model, cache, items(4), { onEvent: (e) => events.push(e) });
    expect([r.hits, r.computed]).toEqual([2, 2]);
    expect(events.map((e) => e.kind)).toEqual(['hit', 'hit', 'computed', 'computed']);
    tiny.dispose();
  });

  it('a corrupt or foreign entry is reported and recomputed, never used', () => {
    const { model, cache, tiny } = setup();
    const { hashes } = preload(model, cache, items(2));
    const good = readFileSync(cache.pathOf(hashes[0]!));
    writeFileSync(cache.pathOf(hashes[0]!), good.subarray(0, good.length - 10)); // truncated
    writeFileSync(cache.pathOf(hashes[1]!), good); // a valid entry, but of another image
    const events: CacheEvent[] = [];
    const r = preload(model, cache, items(2), { onEvent: (e) => events.push(e) });
    expect(r.invalid).toBe(2);
    expect(r.computed).toBe(2);
    const reasons = events.filter((e) => e.kind === 'invalid').map((e) => (e as { reason: string }).reason);
    expect(reasons[0]).toMatch(/tensors cover .* trailing bytes|exceeds|beyond/);
    expect(reasons[1]).toContain(`entry is for image ${hashes[0]}`);
    expect(preload(model, cache, items(2)).hits).toBe(2);
    tiny.dispose();
  });

  it('loading a batch with a missing or unusable entry stops with the reason', () => {
    const { model, cache, tiny } = setup();
    expect(() => cache.loadBatch([sha256Hex('nothing')])).toThrow(/no entry for image .* run preload first/);
    const { hashes } = preload(model, cache, items(1));
    writeFileSync(cache.pathOf(hashes[0]!), new Uint8Array([1, 2, 3]));
    expect(() => cache.loadBatch(hashes)).toThrow(/KvCache: unusable entry: safetensors: .*file is 3 bytes/);
    tiny.dispose();
  });

  it('the fingerprint changes with the LPM weights, the selection and the normalisation', () => {
    const ta = tinyFpt();
    const a = ta.need;
    const fp = featureFingerprint(a, NORM);
    expect(featureFingerprint(a, NORM)).toBe(fp);
    expect(featureFingerprint(a, { ...NORM, mean: [0.4, 0.5, 0.5] })).not.toBe(fp);
    tf.tidy(() => ta.lpm.get('norm.bias').assign(tf.add(ta.lpm.get('norm.bias'), 1e-3)));
    expect(featureFingerprint(a, NORM)).not.toBe(fp);
    const tb = tinyFpt({ ratio: 0.5 });
    expect(featureFingerprint(tb.need, NORM)).not.toBe(fp);
    ta.dispose();
    tb.dispose();
  });

  it('float16 entries halve the size and stay close', () => {
    const full = setup();
    const half = setup(true);
    // Same model weights for both caches.
    half.tiny.model.module.loadState(full.tiny.model.module.state());
    half.tiny.lpm.loadState(full.tiny.lpm.state());
    const h32 = preload(full.model, full.cache, items(1)).hashes[0]!;
    const h16 = preload(half.model, new KvCache(half.dir, featureFingerprint(half.model, NORM), half.model, { float16: true }), items(1))
      .hashes[0]!;
    // The data sections (the headers are equal in size and dominate at this tiny shape).
    const dataBytes = (c: KvCache, h: string) => {
      const file = readFileSync(c.pathOf(h));
      return file.length - 8 - Number(file.readBigUInt64LE(0));
    };
    expect(dataBytes(half.cache, h16)).toBe(dataBytes(full.cache, h32) / 2);
    tf.tidy(() => {
      const a = full.cache.loadBatch([h32]).keys!;
      const b = half.cache.loadBatch([h16]).keys!;
      const max = (x: tf.Tensor) => (tf.max(x) as tf.Scalar).arraySync();
      expect(max(tf.abs(tf.sub(a, b)))).toBeLessThan(1e-2 * Math.max(1, max(tf.abs(a))));
    });
    full.dispose();
    half.dispose();
  });
});
