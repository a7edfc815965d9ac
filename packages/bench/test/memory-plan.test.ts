import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { vitB16Hf384, vitConfig } from '@fpt/backbone-vit';
import { atBatch, type StepMemoryExtrapolation } from '../src/memory/extrapolate';
import { guardMemory, isOutOfMemory } from '../src/memory/guard';
import { attentionScoresBytes, microBatches, planMicroBatch, StepMemoryFits } from '../src/run/memory-plan';
import { cliMethod } from '../src/commands/methods';

const MiB = 2 ** 20;
// peak = 100 MiB + 10 MiB per layer + 5 MiB per image + 20 MiB per image and layer
const fit: StepMemoryExtrapolation = {
  predictedBytes: 0,
  samples: [],
  coefficients: { constant: 100 * MiB, perLayer: 10 * MiB, perImage: 5 * MiB, perImageLayer: 20 * MiB },
  validation: { sample: { depth: 4, batch: 3, peakBytes: 1 }, predictedBytes: 1, relativeError: 0 },
};
const dir = mkdtempSync(join(tmpdir(), 'fpt-plan-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('micro-batch planning', () => {
  it('keeps the whole batch where it fits, else takes the largest micro-batch that fits', () => {
    // depth 12: 220 MiB + 245 MiB per image
    expect(planMicroBatch(fit, 12, 16, 10_000 * MiB, 'x')).toBe(16);
    expect(planMicroBatch(fit, 12, 16, 1000 * MiB, 'x')).toBe(3);
    expect(planMicroBatch(fit, 12, 16, 465 * MiB, 'x')).toBe(1);
    expect(() => planMicroBatch(fit, 12, 16, 400 * MiB, 'busi-us__full__seed0 at ViT-B')).toThrow(
      "busi-us__full__seed0 at ViT-B: a training step on even one image needs about 465 MiB, more than the backend's budget of 400 MiB",
    );
    expect(atBatch(fit, 12, 2).predictedBytes).toBe(710 * MiB);
  });

  it("keeps one block's attention scores per image free: the paper-shape fits plan as measured safe on WASM", () => {
    const vitB = vitB16Hf384();
    const scores = attentionScoresBytes(vitB, 512);
    expect(scores).toBe(4 * 12 * 1025 * 1025);
    const budget = 0.75 * 4 * 2 ** 30;
    const fits = JSON.parse(readFileSync(new URL('./fixtures/vitb16-512-fits.json', import.meta.url), 'utf8')) as Record<
      string,
      StepMemoryExtrapolation
    >;
    const plan = (method: string) =>
      planMicroBatch(fits[`v1|${method}|{}|768x12h12m3072p16|512px|c3|wasm`]!, 12, 16, budget, method, scores);
    expect([plan('full'), plan('lora')]).toEqual([1, 2]);
    // The linear probe's fit at the paper's shapes (measured 2026-12-02, WASM): 13 images overflowed
    // the heap without the headroom, 10 train.
    const linear: StepMemoryExtrapolation = {
      ...fit,
      coefficients: { constant: 10_396_612, perLayer: 28_351_488, perImage: 217_402_516, perImageLayer: 0 },
    };
    expect(planMicroBatch(linear, 12, 16, budget, 'linear')).toBe(13);
    expect(planMicroBatch(linear, 12, 16, budget, 'linear', scores)).toBe(10);
    expect(() => planMicroBatch(fit, 12, 16, 465 * MiB, 'x', MiB)).toThrow('needs about 466 MiB');
  });

  it('splits a batch into ordered micro-batches, the last one smaller', () => {
    expect(microBatches(16, 16)).toEqual([[0, 16]]);
    expect(microBatches(16, 5)).toEqual([
      [0, 5],
      [5, 10],
      [10, 15],
      [15, 16],
    ]);
    expect(microBatches(3, 1)).toEqual([
      [0, 1],
      [1, 2],
      [2, 3],
    ]);
  });

  it('makes a fit once per method configuration and shapes, and reads it back from its file', async () => {
    const lines: string[] = [];
    const path = join(dir, 'memory-fits.json');
    const fits = new StepMemoryFits(path, 'test', 2 ** 40, (l) => lines.push(l));
    const shapes = {
      lpm: vitConfig({ hiddenSize: 16, numLayers: 2, numHeads: 2, mlpDim: 32, patchSize: 8, imageSize: 16 }),
      imageSize: 16,
      numClasses: 3,
    };
    const make = () => cliMethod('lora').make({});
    const a = await fits.fit('lora', {}, make, shapes);
    const b = await new StepMemoryFits(path, 'test', 2 ** 40).fit('lora', {}, make, shapes);
    expect(b).toEqual(a);
    expect(lines.filter((l) => l.startsWith('lora: fitting'))).toHaveLength(1);
    await fits.fit('lora', { rank: '2' }, () => cliMethod('lora').make({ rank: '2' }), shapes);
    await fits.fit('lora', {}, make, { ...shapes, numClasses: 4 });
    expect(Object.keys(JSON.parse(readFileSync(path, 'utf8')))).toHaveLength(3);
  });
});

describe('out-of-memory errors', () => {
  it("recognises the backends' words for it and nothing else", () => {
    expect(isOutOfMemory(new Error('memory access out of bounds'))).toBe(true);
    expect(isOutOfMemory(new Error('Aborted(). Build with -sASSERTIONS for more info.'))).toBe(true);
    expect(isOutOfMemory(new RangeError('Array buffer allocation failed'))).toBe(true);
    expect(isOutOfMemory(new Error('fpt-plus: option "layers" holds 5'))).toBe(false);
  });

  it('turns one into a sentence naming the step, its shapes and the budget; other errors pass unchanged', async () => {
    await expect(
      guardMemory('a real training step at ViT-B/16 LPM at 512x512, batch 16', 3 * 2 ** 30, () => {
        throw new Error('memory access out of bounds');
      }),
    ).rejects.toThrow(
      "a real training step at ViT-B/16 LPM at 512x512, batch 16 ran out of the backend's memory (planned against a budget of 3072 MiB; the backend said: memory access out of bounds); lower --batch or set --micro-batch",
    );
    await expect(
      guardMemory('x', 1, () => {
        throw new Error('other');
      }),
    ).rejects.toThrow(/^other$/);
    expect(await guardMemory('x', 1, () => 42)).toBe(42);
  });
});
