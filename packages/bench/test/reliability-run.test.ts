// Reliability, round 3 (issue 17): a result always belongs to the options that made it, nothing
// outside its folder is written, and every problem is named up front. In-process runs of the tiny
// preset on a toy dataset.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WritableTensor } from '@fpt/core';
import { readSafetensorsFile, writeSafetensorsFile } from '@fpt/core/node';
import { createVit, vitConfig, type Batch } from '@fpt/backbone-vit';
import * as tf from '@tensorflow/tfjs-core';
import { runCommand } from '../src/commands/run';
import { prepareDataset, scanDataset } from '../src/data/index';
import { imagesDigest, runIdentity } from '../src/results/identity';
import { benchPreset } from '../src/run/presets';
import { createProgress } from '../src/terminal/progress';
import { trainRun } from '../src/run/train';
import { tableCommand } from '../src/commands/table';
import { writeGridFile } from '../src/results/grid-file';
import { vitConfigFromCheckpoint } from '../src/run/lpm';
import { writeToyDataset } from './helpers/toy-data';
import { trainableOn } from './helpers/trainable';

const root = mkdtempSync(join(tmpdir(), 'fpt-rel3-'));
beforeAll(() => {
  writeToyDataset(root, 'toy', { train: 8, val: 4, test: 4 });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** `fpt-bench run` arguments on the toy dataset (by default lora, 2 epochs, the CPU backend), then `extra`. */
const runArgs = (out: string, extra: string[] = [], methods = 'lora') => [
  ...Object.entries({ preset: 'tiny', 'data-root': root, datasets: 'toy', methods, epochs: '2', backend: 'cpu', out }).flatMap(([k, v]) => [
    `--${k}`,
    v,
  ]),
  ...extra,
];

/** Runs in-process; returns the exit code and the printed lines. */
async function run(argv: string[], hooks: Parameters<typeof runCommand>[2] = {}) {
  const lines: string[] = [];
  const code = await runCommand(argv, (l) => lines.push(l), hooks);
  return { code, text: lines.join('\n') };
}

describe('item 1: a finished run or a checkpoint is reused only by the options that made it', () => {
  it('refuses a finished run for other --epochs, --batch or --set values, naming the option', async () => {
    const out = join(root, 'identity');
    expect((await run(runArgs(out))).code).toBe(0);
    const cases: Array<[string[], string]> = [
      [['--epochs', '1'], '--epochs differs (recipe.epochs is 2 there and 1 now)'],
      [['--batch', '2'], '--batch differs (recipe.batch is 4 there and 2 now)'],
      [['--set', 'lora.rank=2'], '--set lora.rank differs (options.rank is unset there and "2" now)'],
    ];
    for (const [extra, why] of cases) {
      const r = await run(runArgs(out, extra));
      expect(r.code, extra.join(' ')).toBe(1);
      expect(r.text).toContain(`${join(out, 'runs', 'toy__lora__seed0.json')}: finished by another command: ${why}`);
      expect(r.text).toContain('nothing was trained');
      expect(r.text).not.toContain('finished earlier, skipped');
    }
    const same = await run(runArgs(out));
    expect(same.code).toBe(0);
    expect(same.text).toContain('toy__lora__seed0: finished earlier, skipped');
  });

  it('refuses to resume a checkpoint with other --epochs, and resumes with the same', async () => {
    const out = join(root, 'identity-ckpt');
    const crash = (_id: string, epoch: number) => {
      if (epoch === 0) throw new Error('simulated crash after epoch 1');
    };
    await expect(run(runArgs(out), { afterEpoch: crash })).rejects.toThrow('simulated crash');
    expect(existsSync(join(out, 'checkpoints', 'toy__lora__seed0', 'state.json'))).toBe(true);
    const other = await run(runArgs(out, ['--epochs', '1']));
    expect(other.code).toBe(1);
    expect(other.text).toContain(
      `${join(out, 'checkpoints', 'toy__lora__seed0')}: a checkpoint of another command: --epochs differs (recipe.epochs is 2 there and 1 now)`,
    );
    expect(other.text).not.toContain('resuming after');
    const same = await run(runArgs(out));
    expect(same.code).toBe(0);
    expect(same.text).toContain('toy__lora__seed0: resuming after epoch 1/2');
  });
});

describe('item 2: checkpoints are verified on load', () => {
  const ckpt = (out: string) => join(out, 'checkpoints', 'toy__lora__seed0');
  const crash = (_id: string, epoch: number) => {
    if (epoch === 0) throw new Error('simulated crash after epoch 1');
  };

  /** Flips one byte near the end of a file's data section (a changed weight or moment). */
  const flipByte = (path: string) => {
    const bytes = readFileSync(path);
    bytes[bytes.length - 3]! ^= 0x40;
    writeFileSync(path, bytes);
  };

  for (const target of ['epoch-0.safetensors', 'best.safetensors']) {
    it(`a changed value in ${target} is named, and the run starts over`, async () => {
      const out = join(root, `damaged-${target}`);
      await expect(run(runArgs(out), { afterEpoch: crash })).rejects.toThrow('simulated crash');
      flipByte(join(ckpt(out), target));
      const r = await run(runArgs(out));
      expect(r.code).toBe(0);
      expect(r.text).toMatch(
        new RegExp(
          `toy__lora__seed0: the checkpoint is damaged \\(safetensors: ${join(ckpt(out), target).replace(/[.]/g, '\\.')}: data checksum is crc32:[0-9a-f]{8}, the header says crc32:[0-9a-f]{8}: the file is damaged\\); starting this run over from epoch 1`,
        ),
      );
      expect(r.text).not.toContain('resuming after');
      const result = JSON.parse(readFileSync(join(out, 'runs', 'toy__lora__seed0.json'), 'utf8'));
      expect(result.resumedFromEpoch).toBeNull();
      expect(result.epochs).toHaveLength(2);
    });
  }

  it('a NaN in the AdamW moments (with a valid checksum) is refused on load', async () => {
    const out = join(root, 'damaged-nan');
    await expect(run(runArgs(out), { afterEpoch: crash })).rejects.toThrow('simulated crash');
    const path = join(ckpt(out), 'epoch-0.safetensors');
    const file = readSafetensorsFile(path);
    const tensors = new Map<string, WritableTensor>();
    for (const [k, e] of file.entries()) tensors.set(k, { dtype: 'float32', shape: e.shape, data: new Float32Array(e.data) });
    const moment = [...tensors.keys()].find((k) => k.startsWith('optim.v.'))!;
    (tensors.get(moment)!.data as Float32Array)[0] = Number.NaN;
    writeSafetensorsFile(path, tensors, { metadata: { ...file.metadata }, checksum: true });
    const r = await run(runArgs(out));
    expect(r.code).toBe(0);
    expect(r.text).toContain(`the checkpoint is damaged (${path}: tensor "${moment}" holds NaN at index 0; expected finite values)`);
  });
});

/** A finished lora run of the toy dataset (made once, copied by the tests that alter it). */
let finishedOnce: Promise<string> | undefined;
function finished(): Promise<string> {
  finishedOnce ??= (async () => {
    const out = join(root, 'finished');
    const r = await run(runArgs(out));
    if (r.code !== 0) throw new Error(r.text);
    return out;
  })();
  return finishedOnce;
}
/** A copy of the finished results folder. */
async function copyOfFinished(name: string): Promise<string> {
  const out = join(root, name);
  cpSync(await finished(), out, { recursive: true });
  return out;
}
const table = async (dir: string) => {
  const lines: string[] = [];
  const code = await tableCommand([dir], (l) => lines.push(l));
  return { code, text: lines.join('\n') };
};

describe("item 3: a run file holding another run's result is refused", () => {
  it('by table and by a rerun, naming the file', async () => {
    const out = await copyOfFinished('wrong-file');
    const good = join(out, 'runs', 'toy__lora__seed0.json');
    const copy = join(out, 'runs', 'toy__lora__seed1.json');
    cpSync(good, copy);
    await expect(table(out)).rejects.toThrow(`${copy}: holds run "toy__lora__seed0", expected the file to be named toy__lora__seed0.json`);
    await expect(run(runArgs(out, ['--seeds', '0,1']))).rejects.toThrow(`${copy}: holds run "toy__lora__seed0"`);
    // The id edited to match the name: the seed inside still says otherwise.
    writeFileSync(copy, readFileSync(copy, 'utf8').replace('"id": "toy__lora__seed0"', '"id": "toy__lora__seed1"'));
    await expect(table(out)).rejects.toThrow(
      `${copy}: "id" is "toy__lora__seed1" but its dataset, method and seed make "toy__lora__seed0"; the file is not a result of one run`,
    );
  });
});

describe('item 5: table lists the runs of the grid that have no result', () => {
  it('exits 1 with the missing runs, on the terminal and under the table', async () => {
    const out = await copyOfFinished('partial');
    writeGridFile(out, 'tiny', ['toy__lora__seed0', 'toy__lora__seed1', 'toy__fpt-plus__seed0']);
    const r = await table(out);
    expect(r.code).toBe(1);
    expect(r.text).toContain(
      'fpt-bench table: 2 run(s) of the grid recorded in grid.json have no result (the table leaves them out):\n- toy__fpt-plus__seed0\n- toy__lora__seed1',
    );
    expect(readFileSync(join(out, 'table.md'), 'utf8')).toContain('### Missing runs (2 of 3, from the grid recorded in grid.json)');
    writeGridFile(await copyOfFinished('complete'), 'tiny', ['toy__lora__seed0']);
    expect((await table(join(root, 'complete'))).code).toBe(0);
  });
});

describe('item 6: every JSON parse error names its file', () => {
  it('a truncated run file, state.json and a config.json beside --weights', async () => {
    const out = await copyOfFinished('truncated');
    const file = join(out, 'runs', 'toy__lora__seed0.json');
    writeFileSync(file, readFileSync(file, 'utf8').slice(0, 100));
    await expect(table(out)).rejects.toThrow(new RegExp(`^${file.replace(/[.]/g, '\\.')}: not valid JSON \\(.*\\); expected a run result`));
    await expect(run(runArgs(out))).rejects.toThrow(`${file}: not valid JSON (`);

    const ckptOut = join(root, 'truncated-state');
    const crash = (_id: string, epoch: number) => {
      if (epoch === 0) throw new Error('simulated crash after epoch 1');
    };
    await expect(run(runArgs(ckptOut), { afterEpoch: crash })).rejects.toThrow('simulated crash');
    const state = join(ckptOut, 'checkpoints', 'toy__lora__seed0', 'state.json');
    writeFileSync(state, readFileSync(state, 'utf8').slice(0, 50));
    const r = await run(runArgs(ckptOut));
    expect(r.code).toBe(0);
    expect(r.text).toContain(`toy__lora__seed0: the checkpoint is damaged (${state}: not valid JSON (`);

    const dir = mkdtempSync(join(tmpdir(), 'fpt-weights-'));
    const vit = createVit(vitConfig({ hiddenSize: 16, numLayers: 1, numHeads: 2, mlpDim: 32, patchSize: 8, imageSize: 16, numClasses: 0 }));
    const weights = join(dir, 'model.safetensors');
    writeSafetensorsFile(
      weights,
      Object.fromEntries(
        vit
          .namedParameters()
          .map((p) => [p.name, { dtype: 'float32', shape: p.variable.shape, data: p.variable.dataSync() as Float32Array }]),
      ),
    );
    vit.dispose();
    writeFileSync(join(dir, 'config.json'), '{"num_attention_heads": 2,');
    expect(() => vitConfigFromCheckpoint(weights)).toThrow(
      new RegExp(`^${join(dir, 'config.json').replace(/[.]/g, '\\.')}: not valid JSON \\(.*\\); expected a Hugging Face config.json`),
    );
    writeFileSync(join(dir, 'config.json'), '{"num_attention_heads": "two"}');
    expect(() => vitConfigFromCheckpoint(weights)).toThrow(
      `${join(dir, 'config.json')}: "num_attention_heads" must be a non-negative number, got "two"`,
    );
  });
});

describe('item 7: processes sharing one --out claim their runs', () => {
  it('a run another live process holds is left to it, named; a claim of a dead process is taken over', async () => {
    const out = join(root, 'claimed');
    const holder = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      mkdirSync(join(out, 'checkpoints'), { recursive: true });
      const claim = join(out, 'checkpoints', 'toy__lora__seed0.claim');
      writeFileSync(claim, JSON.stringify({ host: hostname(), pid: holder.pid }));
      const r = await run(runArgs(out));
      expect(r.code).toBe(0);
      expect(r.text).toContain(`toy__lora__seed0: being run by another process (host ${hostname()}, pid ${holder.pid}), left to it`);
      expect(r.text).toContain('1 run(s) were left to other processes working on');
      expect(existsSync(join(out, 'runs', 'toy__lora__seed0.json'))).toBe(false);
      expect(existsSync(join(out, 'table.md'))).toBe(false);
      holder.kill('SIGKILL');
      await new Promise((resolve) => holder.on('exit', resolve));
      const again = await run(runArgs(out));
      expect(again.code).toBe(0);
      expect(existsSync(join(out, 'runs', 'toy__lora__seed0.json'))).toBe(true);
      expect(existsSync(claim)).toBe(false);
      expect(existsSync(join(out, 'table.md'))).toBe(true);
    } finally {
      holder.kill('SIGKILL');
    }
  });
});

describe('item 7: two real processes on one --out', () => {
  // The CLI as built (turbo builds the bench before its tests).
  const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

  it('both exit 0, every run is trained once, and no checkpoint or claim is left behind', async () => {
    const out = join(root, 'two-processes');
    const argv = [cli, 'run', ...runArgs(out, [], 'lora,fpt-plus')];
    const start = () =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        child.on('exit', (code) => resolve({ code, stdout, stderr }));
      });
    const [a, b] = await Promise.all([start(), start()]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(readdirSync(join(out, 'runs')).sort()).toEqual(['toy__fpt-plus__seed0.json', 'toy__lora__seed0.json']);
    // Each run was trained by exactly one of them.
    for (const id of ['toy__lora__seed0', 'toy__fpt-plus__seed0'])
      expect(
        [a, b].filter((p) => p.stdout.includes(`${id}: test AUC`)),
        id,
      ).toHaveLength(1);
    expect(readdirSync(join(out, 'checkpoints'))).toEqual([]);
    expect(existsSync(join(out, 'table.md'))).toBe(true);
  }, 60_000);
});

describe('items 14, 16: every method is built and sized before any data is read', () => {
  it('an option error of the second method stops the run before anything is decoded or trained (item 14)', async () => {
    const out = join(root, 'options-first');
    const argv = runArgs(out, ['--set', 'fpt-plus.ratio=5'], 'lora,fpt-plus');
    const lines: string[] = [];
    await expect(runCommand(argv, (l) => lines.push(l))).rejects.toThrow('fpt-plus: option "ratio" must be a number in (0, 1], got 5');
    expect(lines.some((l) => l.includes('verify + decode'))).toBe(false);
    expect(existsSync(join(out, 'runs'))).toBe(false);
  });

  it('--batch larger than the training split, and a method too large for the backend, get one sentence each (item 16)', async () => {
    const out = join(root, 'huge');
    await expect(run(runArgs(out, ['--batch', '100000']))).rejects.toThrow(
      '--batch 100000 is larger than the 16 training images of toy (drop last would leave no step); expected at most 16',
    );
    // On WASM (a 4 GiB heap) this aborted the process in the first step; now it is refused before building.
    await expect(run([...runArgs(out, ['--set', 'lora.rank=1000000']), '--backend', 'wasm'])).rejects.toThrow(
      "lora: 128000034 learnable parameters with options {rank=1000000} need 3.8 GiB to train (weights, gradients, AdamW moments and update temporaries), over the backend's 3.0 GiB; lower its size options (--set lora.*)",
    );
    expect(existsSync(join(out, 'runs'))).toBe(false);
  });
});

describe('item 17: resuming with other --set values', () => {
  it('names the option instead of failing on a tensor shape', async () => {
    const out = join(root, 'other-set');
    const crash = (_id: string, epoch: number) => {
      if (epoch === 0) throw new Error('simulated crash after epoch 1');
    };
    await expect(run(runArgs(out), { afterEpoch: crash })).rejects.toThrow('simulated crash');
    const r = await run(runArgs(out, ['--set', 'lora.rank=2']));
    expect(r.code).toBe(1);
    expect(r.text).toContain('--set lora.rank differs (options.rank is unset there and "2" now)');
  });
});

describe('item 18: the runner never selects a NaN-AUC checkpoint', () => {
  /** trainRun of lora on the toy data, with the model's validation logits NaN in the epochs `nanEpochs` selects. */
  async function trainWithNaN(nanEpochs: (evalCall: number) => boolean) {
    const scan = scanDataset(join(root, 'toy'), 2);
    const data = (await prepareDataset(scan.dataset!, undefined, { maxSide: 32 })).prepared!;
    const preset = benchPreset('tiny');
    const lpm = { config: preset.lpm, inputSize: preset.lpmInputSize, source: 'random', initSeed: 1234 };
    let evalCalls = 0;
    let batchesThisEval = 0;
    const valBatches = Math.ceil(data.splits.val.length / 4);
    const build = () => {
      const t = trainableOn('lora', lpm);
      return {
        ...t,
        logits: (b: Batch) => {
          // Validation and test batches come through here; count whole evaluations of the val split.
          const call = evalCalls;
          if (++batchesThisEval === valBatches) {
            batchesThisEval = 0;
            evalCalls++;
          }
          const out = t.logits(b);
          if (!nanEpochs(call)) return out;
          const nan = tf.fill(out.shape, Number.NaN);
          out.dispose();
          return nan as tf.Tensor2D;
        },
      };
    };
    const before = tf.memory().numTensors;
    const run = { id: 'toy__lora__seed0', dataset: 'toy', method: 'lora', seed: 0 };
    const result = trainRun({
      run,
      preset: 'tiny',
      identity: runIdentity({
        preset: 'tiny',
        recipe: { epochs: 2, batch: 4, lr: 1e-3 },
        options: {},
        data: { classes: data.classes, maxSide: 32, decoder: 'sharp', images: imagesDigest(data) },
        lpm: { config: { ...lpm.config }, inputSize: 32, initSeed: 1234, weights: null },
        shrunk: [],
      }),
      data,
      build,
      lpm,
      lr: 1e-3,
      epochs: 2,
      batch: 4,
      microBatch: 4,
      budgetBytes: 2 ** 31,
      cacheDir: join(root, 'nan-cache'),
      checkpointDir: mkdtempSync(join(tmpdir(), 'fpt-nan-ckpt-')),
      fullFinetuneMemory: { peakBytes: 1, excludedBytes: 0, how: 'measured' },
      paperMemory: { note: 'not measured' },
      shrunk: [],
      kernels: 'test',
      progress: createProgress(false, () => {}),
    });
    return { result, leaked: () => tf.memory().numTensors - before };
  }

  it('a NaN validation AUC in epoch 1 is skipped: epoch 2 is tested', async () => {
    const { result, leaked } = await trainWithNaN((call) => call === 0);
    const r = await result;
    expect(r.epochs[0]?.val.auc).toBeNaN();
    expect(r.best.epoch).toBe(1);
    expect(Number.isNaN(r.test.auc)).toBe(false);
    expect(leaked()).toBe(0);
  });

  it('NaN after every epoch ends the run with a sentence instead of testing a NaN checkpoint', async () => {
    const { result, leaked } = await trainWithNaN(() => true);
    await expect(result).rejects.toThrow(
      "toy__lora__seed0: the validation AUC was NaN after every epoch (the model's outputs are not finite); no checkpoint can be tested",
    );
    expect(leaked()).toBe(0);
  });
});

describe('item 22: leftovers of earlier runs', () => {
  it('a claim left beside a finished cache entry is removed, and a preload of cached entries says "cache hit"', async () => {
    const cache = join(root, 'shared-kv');
    const fpt = (out: string) => runArgs(out, ['--cache', cache], 'fpt-plus');
    const first = join(root, 'kv-first');
    expect((await run(fpt(first))).code).toBe(0);
    const a = JSON.parse(readFileSync(join(first, 'runs', 'toy__fpt-plus__seed0.json'), 'utf8'));
    expect(a.preload.peakHow).toBe('measured');
    expect(a.preload.peakBytes).toBeGreaterThan(0);
    // A process killed (-9) after writing an entry, before removing its claim.
    const dead = spawnSync('true');
    const folder = readdirSync(cache).find((f) => !f.startsWith('.'))!;
    const entry = readdirSync(join(cache, folder)).find((f) => f.endsWith('.safetensors'))!;
    const claim = join(cache, folder, `${entry}.claim`);
    writeFileSync(claim, JSON.stringify({ host: hostname(), pid: dead.pid }));
    const second = join(root, 'kv-second');
    expect((await run(fpt(second))).code).toBe(0);
    expect(existsSync(claim)).toBe(false);
    const b = JSON.parse(readFileSync(join(second, 'runs', 'toy__fpt-plus__seed0.json'), 'utf8'));
    expect(b.preload.computed).toBe(0);
    expect(b.preload.peakHow).toBe('cache hit');
    expect(b.preload.peakBytes).toBeNull();
  });
});
