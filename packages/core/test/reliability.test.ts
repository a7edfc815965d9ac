// Reliability probes (issue 8): corrupt or wrong input is refused with a clear error before
// anything changes, and no path, success or failure, leaves a tensor behind. The README's
// "Reliability" table lists the same cases.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AdamW,
  clipGradNorm,
  configFromStrings,
  crossEntropy,
  Module,
  NonFiniteStepError,
  readSafetensors,
  SafetensorsError,
  trainStep,
  writeSafetensors,
} from '../src/index';
import { readSafetensorsFile, writeSafetensorsFile } from '../src/safetensors/file';

/** A safetensors file from raw header text and data bytes. */
function raw(headerText: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const json = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** Every parameter's values, to compare a module before and after. */
function snapshot(m: Module): Record<string, number[]> {
  return Object.fromEntries(m.namedParameters().map((p) => [p.name, Array.from(p.variable.dataSync())]));
}

function model(): Module {
  const m = new Module();
  m.addParameter(
    'a.weight',
    tf.tensor2d([
      [1, 2],
      [3, 4],
    ]),
  );
  m.addParameter('a.bias', tf.tensor1d([0.5, -0.5]));
  m.addParameter('b.weight', tf.tensor2d([[5, 6, 7]]));
  return m;
}

const tempDir = () => mkdtempSync(join(tmpdir(), 'core-rel-'));

describe('reliability: labels (item 3)', () => {
  const logits = () =>
    tf.tensor2d([
      [1, 2, 3],
      [0, 1, 0],
    ]);
  const cases: Array<[string, () => tf.Tensor, string]> = [
    ['a label equal to C', () => tf.tensor1d([0, 3], 'int32'), 'crossEntropy: label 3 at index 1 is outside [0, 3) for 3 classes'],
    ['a negative label', () => tf.tensor1d([-1, 0], 'int32'), 'crossEntropy: label -1 at index 0 is outside [0, 3) for 3 classes'],
    [
      'labels shaped [B, 1]',
      () => tf.tensor2d([[0], [1]], [2, 1], 'int32'),
      'crossEntropy: labels have shape [2,1], expected [2] (one class index per row of the logits [2, 3])',
    ],
    ['one label for a batch of 2', () => tf.tensor1d([1], 'int32'), 'crossEntropy: labels have shape [1], expected [2]'],
    ['float labels', () => tf.tensor1d([0, 1], 'float32'), 'crossEntropy: labels have dtype float32, expected int32 class indices'],
  ];
  for (const [what, labels, message] of cases) {
    it(`refuses ${what}, leaking nothing`, () => {
      const l = logits();
      const y = labels();
      const before = tf.memory().numTensors;
      expect(() => crossEntropy(l, y)).toThrow(message);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([l, y]);
    });
  }

  it('refuses bad labels inside a training step before anything is updated', () => {
    const m = model();
    const opt = new AdamW(m.trainableVariables(), { lr: 0.1 });
    const before = snapshot(m);
    const x = tf.tensor2d([[1, 0]]);
    const labels = tf.tensor1d([2], 'int32'); // 2 classes: label 2 is out of range
    const loss = () => crossEntropy(tf.add(tf.matMul(x, m.get('a.weight'), false, true), m.get('a.bias')), labels);
    expect(() => trainStep(loss, opt)).toThrow('crossEntropy: label 2 at index 0 is outside [0, 2)');
    expect(snapshot(m)).toEqual(before);
    expect(opt.iterations).toBe(0);
    tf.dispose([x, labels]);
    opt.dispose();
    m.dispose();
  });
});

describe('reliability: non-finite values (item 4)', () => {
  /** A tiny regression: loss = mean((x W^T + b)^2) over inputs that may hold NaN. */
  function setup() {
    const m = model();
    const opt = new AdamW(m.trainableVariables(), { lr: 0.01 });
    const lossOn = (x: tf.Tensor) => () =>
      tf.mean(tf.square(tf.add(tf.matMul(x, m.get('a.weight'), false, true), m.get('a.bias')))) as tf.Scalar;
    return { m, opt, lossOn };
  }

  it('refuses a step with a NaN input, naming the step, leaving parameters and optimizer state as they were', () => {
    const good = tf.tensor2d([
      [1, 2],
      [0.5, -1],
    ]);
    const bad = tf.tensor2d([
      [1, NaN],
      [0.5, -1],
    ]);
    // Reference: two good steps.
    const ref = setup();
    trainStep(ref.lossOn(good), ref.opt, { clipNorm: 1 });
    trainStep(ref.lossOn(good), ref.opt, { clipNorm: 1 });
    // The same with a NaN step in between: it must change nothing at all (moments, step count).
    const t = setup();
    trainStep(t.lossOn(good), t.opt, { clipNorm: 1 });
    const mid = snapshot(t.m);
    const before = tf.memory().numTensors;
    let err: unknown;
    try {
      trainStep(t.lossOn(bad), t.opt, { clipNorm: 1 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NonFiniteStepError);
    expect((err as Error).message).toMatch(/^trainStep: step 2: loss is NaN and gradient norm is NaN; the step was not applied/);
    expect((err as NonFiniteStepError).step).toBe(2);
    expect(tf.memory().numTensors).toBe(before);
    expect(snapshot(t.m)).toEqual(mid);
    expect(t.opt.iterations).toBe(1);
    trainStep(t.lossOn(good), t.opt, { clipNorm: 1 });
    expect(snapshot(t.m)).toEqual(snapshot(ref.m));
    for (const s of [ref, t]) {
      s.opt.dispose();
      s.m.dispose();
    }
    tf.dispose([good, bad]);
  });

  it('with skipNonFinite, skips and reports the step instead of throwing', () => {
    const bad = tf.tensor2d([[Infinity, 1]]);
    const t = setup();
    const before = snapshot(t.m);
    const n = tf.memory().numTensors;
    const r = trainStep(t.lossOn(bad), t.opt, { skipNonFinite: true });
    expect(r.skipped).toBe(true);
    expect(Number.isFinite(r.loss) && Number.isFinite(r.gradNorm)).toBe(false);
    expect(snapshot(t.m)).toEqual(before);
    expect(t.opt.iterations).toBe(0);
    expect(tf.memory().numTensors).toBe(n);
    t.opt.dispose();
    t.m.dispose();
    bad.dispose();
  });

  it('refuses weights holding NaN or Infinity, naming the key, unless allowed', () => {
    const m = model();
    const before = snapshot(m);
    const state = {
      'a.weight': tf.tensor2d([
        [1, NaN],
        [Infinity, 4],
      ]),
      'a.bias': tf.zeros([2]),
      'b.weight': tf.zeros([1, 3]),
    };
    const n = tf.memory().numTensors;
    expect(() => m.loadState(state, { source: 'w.safetensors' })).toThrow(
      'Module.loadState (w.safetensors): key "a.weight" holds 2 non-finite value(s) (NaN or Infinity) among 4; pass allowNonFinite to load them anyway',
    );
    expect(tf.memory().numTensors).toBe(n);
    expect(snapshot(m)).toEqual(before);
    m.loadState(state, { allowNonFinite: true });
    expect(Number.isNaN(m.get('a.weight').dataSync()[1])).toBe(true);
    tf.dispose(Object.values(state));
    m.dispose();
  });

  it('refuses clipNorm <= 0, negative weight decay, betas outside [0, 1), a negative or non-finite lr', () => {
    const v = tf.variable(tf.zeros([2]));
    const m = new Map([[v, tf.ones([2])]]);
    const opt = new AdamW([v], { lr: 0.1 });
    const loss = () => tf.sum(v) as tf.Scalar;
    expect(() => trainStep(loss, opt, { clipNorm: 0 })).toThrow('trainStep: option "clipNorm" must be a positive finite number, got 0');
    expect(() => trainStep(loss, opt, { clipNorm: -1 })).toThrow('trainStep: option "clipNorm" must be a positive finite number, got -1');
    expect(() => clipGradNorm(m, 0)).toThrow('clipGradNorm: "maxNorm" must be a positive finite number, got 0');
    expect(() => new AdamW([v], { lr: 0.1, weightDecay: -0.1 })).toThrow(
      'AdamW: option "weightDecay" must be a non-negative finite number, got -0.1',
    );
    expect(() => new AdamW([v], { lr: 0.1, beta1: 1 })).toThrow('AdamW: option "beta1" must be in [0, 1), got 1');
    expect(() => new AdamW([v], { lr: 0.1, beta2: -0.5 })).toThrow('AdamW: option "beta2" must be in [0, 1), got -0.5');
    expect(() => new AdamW([v], { lr: 0.1, eps: 0 })).toThrow('AdamW: option "eps" must be a positive finite number, got 0');
    expect(() => new AdamW([v], { lr: NaN })).toThrow('AdamW: option "lr" must be a non-negative number, got NaN');
    opt.learningRate = -1;
    expect(() => trainStep(loss, opt)).toThrow('AdamW: "learningRate" must be a non-negative number, got -1');
    expect(opt.iterations).toBe(0);
    expect(Array.from(v.dataSync())).toEqual([0, 0]);
    tf.dispose([v, ...m.values()]);
    opt.dispose();
  });
});

describe('reliability: loads are all or nothing (item 6)', () => {
  it('a disposed tensor is refused by name, and nothing is assigned', () => {
    const m = model();
    const before = snapshot(m);
    const dead = tf.zeros([1, 3]);
    dead.dispose();
    const state = { 'a.weight': tf.zeros([2, 2]), 'a.bias': tf.zeros([2]), 'b.weight': dead };
    expect(() => m.loadState(state)).toThrow('Module.loadState: key "b.weight" is a disposed tensor: its data was already freed');
    expect(snapshot(m)).toEqual(before);
    tf.dispose([state['a.weight'], state['a.bias']]);
    m.dispose();
  });

  it('a wrong shape on the last key leaves the earlier keys unassigned; non-tensors are refused', () => {
    const m = model();
    const before = snapshot(m);
    const state = { 'a.weight': tf.zeros([2, 2]), 'a.bias': tf.zeros([2]), 'b.weight': tf.zeros([3, 1]) };
    const n = tf.memory().numTensors;
    expect(() => m.loadState(state)).toThrow('Module.loadState: key "b.weight" has shape [3,1], expected [1,3]');
    expect(() => m.loadState({ ...state, 'b.weight': [1, 2, 3] as unknown as tf.Tensor })).toThrow(
      'Module.loadState: key "b.weight" is object, expected a tensor of shape [1,3]',
    );
    expect(snapshot(m)).toEqual(before);
    expect(tf.memory().numTensors).toBe(n);
    // And a successful load assigns everything, leaking nothing.
    state['b.weight'].dispose();
    state['b.weight'] = tf.ones([1, 3]);
    const n2 = tf.memory().numTensors;
    expect(m.loadState(state).loaded).toEqual(['a.weight', 'a.bias', 'b.weight']);
    expect(tf.memory().numTensors).toBe(n2);
    expect(snapshot(m)['b.weight']).toEqual([1, 1, 1]);
    tf.dispose(Object.values(state));
    m.dispose();
  });
});

describe('reliability: no tensor left behind (item 8)', () => {
  it('a loss that throws after the forward leaks nothing, however often it is retried', () => {
    const m = model();
    const opt = new AdamW(m.trainableVariables(), { lr: 0.1 });
    const x = tf.randomNormal([16, 2]);
    let calls = 0;
    const failing = () => {
      calls++;
      const h = tf.relu(tf.add(tf.matMul(x, m.get('a.weight'), false, true), m.get('a.bias')));
      tf.sum(tf.mul(h, h)); // a forward with saved activations, then a failure
      throw new Error('loss failed');
    };
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) expect(() => trainStep(failing, opt, { clipNorm: 1 })).toThrow('loss failed');
    expect(calls).toBe(5);
    expect(tf.memory().numTensors).toBe(before);
    // A loss that is not a scalar is an error too, and leaks nothing.
    expect(() => trainStep(() => tf.mul(m.get('a.bias'), 2) as unknown as tf.Scalar, opt)).toThrow(
      'trainStep: the loss function must return a scalar tensor, got shape [2]',
    );
    expect(tf.memory().numTensors).toBe(before);
    // The success path: the first step creates the moments (2 per parameter), later ones nothing.
    const good = () => tf.mean(tf.square(tf.add(tf.matMul(x, m.get('a.weight'), false, true), m.get('a.bias')))) as tf.Scalar;
    trainStep(good, opt, { clipNorm: 1 });
    const afterFirst = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) expect(trainStep(good, opt, { clipNorm: 1 }).skipped).toBe(false);
    expect(tf.memory().numTensors).toBe(afterFirst);
    opt.dispose();
    x.dispose();
    m.dispose();
  });
});

describe('reliability: safetensors files (items 10, 13)', () => {
  it('refuses /dev/zero at once, by file type, without reading it', () => {
    const t0 = Date.now();
    expect(() => readSafetensorsFile('/dev/zero')).toThrow(
      'safetensors: /dev/zero: is a character device, not a regular file; expected a safetensors file',
    );
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('refuses a folder and a named pipe without blocking', () => {
    const dir = tempDir();
    expect(() => readSafetensorsFile(dir)).toThrow(`safetensors: ${dir}: is a directory, not a regular file`);
    const fifo = join(dir, 'pipe.safetensors');
    execFileSync('mkfifo', [fifo]);
    expect(() => readSafetensorsFile(fifo)).toThrow(`safetensors: ${fifo}: is a named pipe, not a regular file`);
  });

  it('reads a file piece by piece with the same result as the buffer reader', () => {
    const bytes = writeSafetensors(
      { a: { dtype: 'float32', shape: [3], data: [1, 2, 3] }, b: { dtype: 'int32', shape: [1], data: [7] } },
      { metadata: { k: 'v' } },
    );
    const path = join(tempDir(), 'ok.safetensors');
    writeFileSync(path, bytes);
    const f = readSafetensorsFile(path);
    expect(f.metadata).toEqual({ k: 'v' });
    expect(Array.from(f.get('a').data)).toEqual([1, 2, 3]);
    expect(Array.from(f.get('b').data)).toEqual([7]);
    // A huge claimed header length in a small file is refused before any allocation.
    const lie = new Uint8Array(bytes);
    new DataView(lie.buffer).setBigUint64(0, 2n ** 40n, true);
    writeFileSync(path, lie);
    expect(() => readSafetensorsFile(path)).toThrow(/header length is 1099511627776 bytes, but only \d+ bytes follow/);
  });

  it('refuses duplicate keys, at the top level and in the metadata', () => {
    const four = new Uint8Array(4);
    const dup = raw('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', four);
    expect(() => readSafetensors(dup, 'd.safetensors')).toThrow(
      'safetensors: d.safetensors: header repeats the key "w"; every key must appear once',
    );
    const mdDup = raw('{"__metadata__":{"a":"1","a":"2"},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', four);
    expect(() => readSafetensors(mdDup, 'd.safetensors')).toThrow('header repeats the key "a" inside "__metadata__"');
    // Escaped names are compared decoded; equal-looking keys in different objects are fine.
    const escaped = raw(
      '{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"\\u0077":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
      four,
    );
    expect(() => readSafetensors(escaped)).toThrow('header repeats the key "w"');
    const fine = raw('{"__metadata__":{"dtype":"x, \\"shape\\": {"},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', four);
    expect(readSafetensors(fine).names()).toEqual(['w']);
  });

  it('refuses a tensor named ""', () => {
    const bytes = raw('{"":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', new Uint8Array(4));
    let err: unknown;
    try {
      readSafetensors(bytes, 'e.safetensors');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SafetensorsError);
    expect((err as Error).message).toBe('safetensors: e.safetensors: a tensor has the empty name "", expected a non-empty name');
  });
});

describe('reliability round 3: an empty batch (issue 17 item 19)', () => {
  it('crossEntropy refuses a batch of 0 samples, naming it', () => {
    const logits = tf.zeros([0, 3]);
    const labels = tf.tensor1d([], 'int32');
    expect(() => crossEntropy(logits, labels)).toThrow('crossEntropy: the batch is empty (logits [0,3]); expected at least one sample');
    tf.dispose([logits, labels]);
  });
});

describe('reliability round 3: data checksums (issue 17 item 2)', () => {
  it('a file written with a checksum verifies; a changed value or a file without one is refused, naming it', () => {
    const path = join(tempDir(), 'c.safetensors');
    writeSafetensorsFile(path, { w: { dtype: 'float32', shape: [4], data: [1, 2, 3, 4] } }, { metadata: { k: 'v' }, checksum: true });
    const f = readSafetensorsFile(path, { verifyChecksum: true });
    expect(f.metadata.checksum).toMatch(/^crc32:[0-9a-f]{8}$/);
    expect(Array.from(f.get('w').data)).toEqual([1, 2, 3, 4]);
    const bytes = readFileSync(path);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 0x80, bytes.length - 1); // the sign of the last value
    writeFileSync(path, bytes);
    expect(readSafetensorsFile(path).get('w').data[3]).toBe(-4); // unverified reads see the change
    expect(() => readSafetensorsFile(path, { verifyChecksum: true })).toThrow(
      new RegExp(`safetensors: ${path}: data checksum is crc32:[0-9a-f]{8}, the header says ${f.metadata.checksum}: the file is damaged`),
    );
    writeSafetensorsFile(path, { w: { dtype: 'float32', shape: [1], data: [1] } });
    expect(() => readSafetensorsFile(path, { verifyChecksum: true })).toThrow(
      `safetensors: ${path}: has no data checksum in its metadata ("checksum"), expected a file written with one`,
    );
  });
});

describe('reliability: option strings (item 12)', () => {
  it('number options accept decimal numbers only', () => {
    const defaults = { r: 4, alpha: 0.5 };
    for (const bad of ['0x5', ' 5', '5 ', '1_000', 'Infinity', '']) {
      expect(() => configFromStrings(defaults, { r: bad }, 'lora'), bad).toThrow(`lora: option "r" expects a decimal number, got "${bad}"`);
    }
    expect(configFromStrings(defaults, { r: '8', alpha: '-1.5e-3' }, 'lora')).toEqual({ r: 8, alpha: -1.5e-3 });
  });
});
