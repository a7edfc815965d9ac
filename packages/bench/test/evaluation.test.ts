import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TensorEntry } from '@fpt/core';
import { prepareDataset, type PreparedDataset } from '../src/data/prepare';
import { scanDataset } from '../src/data/validate';
import { evaluateLogits, LOGIT_AUC, PROBABILITY_AUC, type AucConvention } from '../src/metrics/index';
import type { LpmSpec } from '../src/run/lpm';
import { splitEvalPixels, stackPixels } from '../src/run/pipeline';
import { benchPreset } from '../src/run/presets';
import { createProgress } from '../src/terminal/progress';
import { selectEpoch } from '../src/run/selection';
import { trainRun, type RunSpec } from '../src/run/train';
import { RunCheckpoints } from '../src/run/checkpoint';
import { writeToyDataset } from './helpers/toy-data';
import { trainableOn } from './helpers/trainable';
import { imagesDigest, runIdentity } from '../src/results/identity';

// trainRun itself, in-process, on the tiny preset's LPM: which checkpoint it keeps and what it tests.
const root = mkdtempSync(join(tmpdir(), 'fpt-eval-'));
let data: PreparedDataset;
const tiny = benchPreset('tiny');
const lpm: LpmSpec = { config: tiny.lpm, inputSize: tiny.lpmInputSize, source: 'random', initSeed: 1234 };

beforeAll(async () => {
  writeToyDataset(root, 'toy', { train: 8, val: 4, test: 4 });
  data = (await prepareDataset(scanDataset(join(root, 'toy'), 2).dataset!, undefined)).prepared!;
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const build = () => trainableOn('linear', lpm);

/** A run of `linear` on the toy data with checkpoints in `dir`. */
const spec = (epochs: number, auc: AucConvention, dir: string, extra: Partial<RunSpec> = {}): RunSpec => ({
  run: { id: 'toy__linear__seed0', dataset: 'toy', method: 'linear', seed: 0 },
  preset: 'tiny',
  identity: runIdentity({
    preset: 'tiny',
    recipe: { epochs, batch: 4, lr: 1e-2 },
    options: {},
    data: { classes: data.classes, maxSide: 32, decoder: 'sharp', images: imagesDigest(data) },
    lpm: { config: { ...lpm.config }, inputSize: lpm.inputSize, initSeed: 1234, weights: null },
    shrunk: [],
  }),
  data,
  build,
  lpm,
  lr: 1e-2,
  epochs,
  batch: 4,
  microBatch: 4,
  budgetBytes: 2 ** 30,
  cacheDir: join(dir, 'cache'),
  checkpointDir: join(dir, 'ckpt'),
  fullFinetuneMemory: { peakBytes: 1, excludedBytes: 0, how: 'measured' },
  paperMemory: { note: 'not measured in this test' },
  shrunk: [],
  kernels: 'stock',
  progress: createProgress(false, () => {}),
  auc,
  ...extra,
});

/** Trains `linear` for `epochs`, keeping the weights of each epoch's committed checkpoint. */
async function trainKeepingWeights(epochs: number, auc: AucConvention, dir: string) {
  const weights: Array<Map<string, TensorEntry>> = [];
  const probe = build();
  const params = probe.trainableParams();
  probe.dispose();
  const result = await trainRun(
    spec(epochs, auc, dir, { afterEpoch: () => weights.push(new RunCheckpoints(join(dir, 'ckpt')).load(params)!.model) }),
  );
  return { result, weights };
}

/** The test split's metrics of given weights, by a fresh model. */
function testMetrics(weights: Map<string, TensorEntry>) {
  const t = build();
  try {
    t.loadState(weights);
    const pixels = stackPixels(splitEvalPixels(data, 'test', t.pixelSize), t.pixelSize);
    const logits = tf.tidy(() => t.logits({ pixels }));
    const m = evaluateLogits(
      data.splits.test.map((p) => p.label),
      logits.dataSync(),
      2,
    );
    tf.dispose([pixels, logits]);
    return m;
  } finally {
    t.dispose();
  }
}

describe('trainRun: selection and the two tested checkpoints', () => {
  const selected: Record<string, number> = {};
  for (const auc of [LOGIT_AUC, PROBABILITY_AUC]) {
    it(`keeps the epoch of the official rule on the ${auc.name} AUC and tests both the best and the final weights`, async () => {
      const before = tf.memory().numTensors;
      const { result, weights } = await trainKeepingWeights(4, auc, join(root, auc.name));
      expect(tf.memory().numTensors).toBe(before);
      // The rule applied by hand to the recorded validation history.
      let best = { epoch: -1, valAuc: 0 };
      for (const e of result.epochs) {
        const kept = selectEpoch(auc.of(e.val), best.valAuc);
        if (kept !== undefined) best = { epoch: e.epoch, valAuc: kept };
      }
      expect(result.best).toEqual(best);
      expect(result.recipe.auc).toBe(auc.name);
      expect(result.efficiency.auc).toBe(auc.name);
      // Both AUCs are in every evaluation.
      for (const m of [result.test, result.testFinal, ...result.epochs.map((e) => e.val)]) {
        expect(Object.keys(m).sort()).toEqual(['absentClasses', 'accuracy', 'auc', 'aucLogits', 'f1', 'kappa', 'precision', 'recall']);
      }
      expect(weights).toHaveLength(4);
      expect(result.testFinal).toEqual(testMetrics(weights[3]!)); // four epochs, checked above
      expect(result.test).toEqual(testMetrics(weights[best.epoch >= 0 ? best.epoch : 3]!));
      // On this data the best epoch is not the last: the two results are of different weights.
      expect(best.epoch).toBeLessThan(3);
      expect(result.test).not.toEqual(result.testFinal);
      selected[auc.name] = best.epoch;
    });
  }

  it('the two conventions select different epochs on this data (after the first epoch the validation AUC is 1 on probabilities, 0.75 on logits)', () => {
    expect(selected).toEqual({ logits: 1, probabilities: 0 });
  });

  it('a checkpoint selected by one convention does not resume under the other', async () => {
    const dir = join(root, 'switch');
    // The same run (its identity: recipe, options, data) but the other convention.
    await trainRun(spec(2, LOGIT_AUC, dir));
    await expect(trainRun(spec(2, PROBABILITY_AUC, dir))).rejects.toThrow(
      'this checkpoint selected epochs by the AUC on logits, the run asks for probabilities; rerun with --auc logits',
    );
  });
});
