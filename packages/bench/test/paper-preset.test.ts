import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { runCommand } from '../src/commands/run';
import type { RunResult } from '../src/results/schema';

// The paper preset at its real shapes (ViT-B/16 LPM at 512x512, 1,025 tokens) on the default
// backend (WASM with the fast kernels), on a few embedded images: FPT+ preloads the LPM's keys and
// values in batches sized to WASM's heap; LoRA back-propagates through the LPM; both accumulate
// micro-batches of one image. Both used to crash before their first step (the run-shape reference
// step and the preload overflowed the heap). Slow: minutes. The step-memory fits of full
// fine-tuning (the reference) and LoRA at these shapes are read from the folder as a resumed run
// reads them: test/fixtures/vitb16-512-fits.json was written by `fpt-bench run --preset paper` on
// the project machine (WASM, native SGEMM); making them takes real steps of ViT-B/16 at 512x512
// (two minutes on an idle 2-core machine), which test/memory.test.ts covers at small shapes.
// FPT+'s fit is made here.

const out = mkdtempSync(join(tmpdir(), 'fpt-paper-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('fpt-bench run --preset paper', () => {
  it('runs FPT+ (preload) and LoRA (gradient accumulation) at the paper shapes on WASM', { timeout: 30 * 60_000 }, async () => {
    copyFileSync(new URL('./fixtures/vitb16-512-fits.json', import.meta.url), join(out, 'memory-fits.json'));
    const before = tf.memory().numTensors;
    const lines: string[] = [];
    const argv = ['--preset', 'paper', '--methods', 'fpt-plus,lora', '--datasets', 'busi-us', '--limit', '4'];
    const code = await runCommand(
      [...argv, '--epochs', '1', '--batch', '2', '--micro-batch', '1', '--paper-memory', 'off', '--backend', 'wasm', '--out', out],
      (l) => lines.push(l),
    );
    expect(code).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    const runs = readdirSync(join(out, 'runs')).map((f) => JSON.parse(readFileSync(join(out, 'runs', f), 'utf8')) as RunResult);
    const fpt = runs.find((r) => r.method.name === 'fpt-plus')!;
    const lora = runs.find((r) => r.method.name === 'lora')!;
    expect(fpt.lpm.inputSize).toBe(512);
    expect(fpt.lpm.config.hiddenSize).toBe(768);
    // 4 images per split of 3 classes; the LPM ran once per image, in batches that fit the heap.
    expect(fpt.preload!.computed).toBe(12);
    expect(fpt.preload!.batchSize).toBeGreaterThanOrEqual(1);
    for (const r of [fpt, lora]) {
      expect(r.recipe.microBatch).toBe(1);
      expect(lines).toContain(
        `${r.id}: 2 images per step in micro-batches of 1 (--micro-batch): gradients accumulated, one update per batch`,
      );
      // The memory columns keep the whole batch's figure (a real step of 2 images fits the budget),
      // with the accumulated step's measured peak beside it.
      expect(r.memory.runShapes.how).toBe('measured');
      expect(r.memory.runShapes.microBatch!.size).toBe(1);
      expect(r.memory.runShapes.microBatch!.measuredPeakBytes).toBeLessThan(r.memory.runShapes.peakBytes);
    }
    // The full fine-tuning reference at these shapes (~3.7 GiB) was extrapolated, not run.
    expect(lora.memory.fullFinetuneRunShapes.how).toBe('extrapolated');
    expect(lines.filter((l) => l.includes(': fitting its step memory'))).toEqual([
      'fpt-plus: fitting its step memory (768x12h12m3072p16 at 512x512, 3 classes)',
    ]);
    for (const r of runs) {
      expect(Number.isFinite(r.test.auc)).toBe(true);
      expect(r.shrunk).toContain('images per split: at most 4, a stratified subset (--limit; paper: all)');
    }
  });
});
