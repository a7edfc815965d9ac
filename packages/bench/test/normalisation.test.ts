import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../src/commands/run';
import { channelStats, prepareDataset } from '../src/data/prepare';
import { DATASET_PRESETS, datasetPreset, PAPER_DATASETS } from '../src/data/presets';
import { scanDataset } from '../src/data/validate';
import type { RunResult } from '../src/results/schema';
import { writeToyDataset } from './helpers/toy-data';

const root = mkdtempSync(join(tmpdir(), 'fpt-norm-'));
beforeAll(() => {
  writeToyDataset(root, 'toy', { train: 4, val: 2, test: 2 });
  writeToyDataset(root, 'cmmd', { train: 4, val: 2, test: 2 });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

// The official FPT configs' mean and std per dataset (RGB; one value for every channel of the grayscale sets).
const OFFICIAL = {
  messidor2: [
    [0.4843637, 0.22381182, 0.07583175],
    [0.29392081, 0.14721708, 0.06350881],
  ],
  ddr: [
    [0.4237375, 0.26094607, 0.1284039],
    [0.29482535, 0.20167366, 0.1366802],
  ],
  isic2016: [
    [0.72438824, 0.61871672, 0.56646055],
    [0.16384567, 0.17090139, 0.1910605],
  ],
  isic2018: [
    [0.76356274, 0.54660755, 0.57074833],
    [0.14041018, 0.15191356, 0.16923356],
  ],
  ddsm: [
    [0.20267013, 0.20267013, 0.20267013],
    [0.22466831, 0.22466831, 0.22466831],
  ],
  cmmd: [
    [0.16735268, 0.16735268, 0.16735268],
    [0.18016799, 0.18016799, 0.18016799],
  ],
  covid: [
    [0.49834183, 0.49863863, 0.4989473],
    [0.24262029, 0.2425914, 0.24264234],
  ],
  chncxr: [
    [0.6105489, 0.6105489, 0.6105489],
    [0.25847816, 0.25847816, 0.25847816],
  ],
};

describe('per-dataset normalisation', () => {
  it("the eight paper presets carry the official configs' mean and std; the embedded sets keep auto", () => {
    expect(Object.keys(OFFICIAL).sort()).toEqual([...PAPER_DATASETS].sort());
    for (const [name, [mean, std]] of Object.entries(OFFICIAL)) expect(datasetPreset(name)!.normalisation, name).toEqual({ mean, std });
    for (const p of DATASET_PRESETS.filter((d) => d.embedded)) expect(p.normalisation, p.name).toBeUndefined();
  });

  it('prepareDataset uses a fixed normalisation when given and says where it comes from, else the training images', async () => {
    const scan = scanDataset(join(root, 'toy'), 2);
    const auto = (await prepareDataset(scan.dataset!, undefined)).prepared!;
    expect(auto.statsFrom).toBe('training split');
    expect(auto.stats).toEqual(channelStats(auto.splits.train.map((p) => p.image)));
    const stats = { mean: [0.1, 0.2, 0.3], std: [0.4, 0.5, 0.6] };
    const fixed = (await prepareDataset(scan.dataset!, undefined, { normalisation: { stats, from: 'a test' } })).prepared!;
    expect(fixed.stats).toEqual(stats);
    expect(fixed.statsFrom).toBe('a test');
  });

  it('a run on a paper dataset records the preset normalisation, on another dataset the training split', async () => {
    const out = join(root, 'out');
    const argv = ['--preset', 'tiny', '--data-root', root, '--datasets', 'cmmd,toy', '--methods', 'linear', '--epochs', '1'];
    expect(await runCommand([...argv, '--backend', 'cpu', '--out', out], () => {})).toBe(0);
    const read = (id: string) => JSON.parse(readFileSync(join(out, 'runs', `${id}.json`), 'utf8')) as RunResult;
    expect(read('cmmd__linear__seed0').dataset.normalisation).toEqual({
      mean: OFFICIAL.cmmd[0],
      std: OFFICIAL.cmmd[1],
      from: "preset cmmd (the official config's mean and std)",
    });
    const toy = read('toy__linear__seed0').dataset.normalisation;
    expect(toy.from).toBe('training split');
    expect(toy.mean).not.toEqual(OFFICIAL.cmmd[0]);
  });
});
