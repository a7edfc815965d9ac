import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vitConfig } from '@fpt/backbone-vit';
import { runCommand } from '../src/commands/run';
import { tableCommand } from '../src/commands/table';
import { validateRunResult, type RunResult } from '../src/results/schema';
import { loadRunResults } from '../src/results/load';
import { buildTable, tableMarkdown } from '../src/results/table';
import { writeToyDataset } from './helpers/toy-data';

// The CLI as built (turbo builds the bench before its tests): kill -9 needs a real process.
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'fpt-run-'));
const args = (out: string, epochs = 4, methods = 'lora,fpt-plus') => [
  'run',
  '--preset',
  'tiny',
  '--data-root',
  root,
  '--datasets',
  'toy',
  '--methods',
  methods,
  '--epochs',
  String(epochs),
  '--backend',
  'cpu',
  '--out',
  out,
];

beforeAll(() => {
  writeToyDataset(root, 'toy', { train: 8, val: 4, test: 4 });
  writeToyDataset(root, 'toy3', { train: 8, val: 4, test: 4 }, ['a', 'b', 'c']);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const results = (out: string) =>
  readdirSync(join(out, 'runs'))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(out, 'runs', f), 'utf8')) as RunResult);

// What must not depend on being interrupted (timings and dates may).
const comparable = (r: RunResult) => ({
  id: r.id,
  epochs: r.epochs.map((e) => ({ epoch: e.epoch, trainLoss: e.trainLoss, lr: e.lr, val: e.val })),
  best: r.best,
  test: r.test,
  testFinal: r.testFinal,
  parameters: r.parameters,
  memory: r.memory,
  preloadImages: r.preload?.images,
});

describe('fpt-bench run', () => {
  const full = join(root, 'uninterrupted');
  const killed = join(root, 'killed');

  it('an uninterrupted run writes one valid result per run, the table and the plots', () => {
    const r = spawnSync(process.execPath, [cli, ...args(full)], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('randomly initialised');
    const files = readdirSync(join(full, 'runs')).sort();
    expect(files).toEqual(['toy__fpt-plus__seed0.json', 'toy__lora__seed0.json']);
    for (const f of files) validateRunResult(JSON.parse(readFileSync(join(full, 'runs', f), 'utf8')), f);
    for (const f of ['table.md', 'table.csv', 'plots/efficiency.png', 'plots/efficiency.svg', 'plots/curves-toy.png'])
      expect(existsSync(join(full, f)), f).toBe(true);
    expect(existsSync(join(full, 'checkpoints', 'toy__lora__seed0'))).toBe(false);
  });

  it('killed with SIGKILL after an epoch, it resumes on rerun and ends with the uninterrupted results', async () => {
    const child = spawn(process.execPath, [cli, ...args(killed)], { stdio: 'ignore' });
    const state = join(killed, 'checkpoints', 'toy__lora__seed0', 'state.json');
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (existsSync(state)) {
          clearInterval(timer);
          child.kill('SIGKILL');
          resolve();
        }
      }, 5);
      child.on('exit', () => {
        clearInterval(timer);
        reject(new Error('the run ended before a checkpoint was seen'));
      });
    });
    await new Promise((r) => child.on('exit', r));
    expect(existsSync(join(killed, 'runs', 'toy__lora__seed0.json'))).toBe(false);
    const rerun = spawnSync(process.execPath, [cli, ...args(killed)], { encoding: 'utf8' });
    expect(rerun.status, rerun.stderr).toBe(0);
    expect(rerun.stdout).toMatch(/toy__lora__seed0: resuming after epoch \d\/4/);
    const a = results(full);
    const b = results(killed);
    expect(b.find((r) => r.method.name === 'lora')!.resumedFromEpoch).not.toBeNull();
    expect(b.map(comparable)).toEqual(a.map(comparable));
    // A second rerun skips everything.
    const again = spawnSync(process.execPath, [cli, ...args(killed)], { encoding: 'utf8' });
    expect(again.stdout).toContain('toy__lora__seed0: finished earlier, skipped');
  });

  it('fpt-bench table re-renders the same table from the result files alone', async () => {
    const before = readFileSync(join(full, 'table.md'), 'utf8');
    const csv = readFileSync(join(full, 'table.csv'), 'utf8');
    unlinkSync(join(full, 'table.md'));
    unlinkSync(join(full, 'plots', 'efficiency.png'));
    const lines: string[] = [];
    expect(await tableCommand([full], (l) => lines.push(l))).toBe(0);
    expect(readFileSync(join(full, 'table.md'), 'utf8')).toBe(before);
    expect(readFileSync(join(full, 'table.csv'), 'utf8')).toBe(csv);
    expect(existsSync(join(full, 'plots', 'efficiency.png'))).toBe(true);
    expect(lines.join('\n')).toContain('| LoRA |');
    expect(before).toContain("The paper's own figures");
    // The official convention by default, and the note says so; --auc probabilities switches.
    expect(before).toContain('AUC: AUC on the raw logits, as the official FPT code computes it');
    // The "mean AUC" column, found by its header.
    const mean = (md: string) => {
      const lines = md.split('\n');
      const column = lines
        .find((l) => l.startsWith('| method |'))!
        .split(' | ')
        .indexOf('mean AUC');
      return lines.find((l) => l.startsWith('| LoRA |'))!.split(' | ')[column];
    };
    const lora = results(full).find((r) => r.method.name === 'lora')!;
    expect(mean(before)).toBe((100 * lora.test.aucLogits).toFixed(2));
    const switched = join(root, 'switched');
    cpSync(full, switched, { recursive: true });
    expect(await tableCommand([switched, '--auc', 'probabilities'], () => {})).toBe(0);
    const probs = readFileSync(join(switched, 'table.md'), 'utf8');
    expect(mean(probs)).toBe((100 * lora.test.auc).toFixed(2));
    expect(probs).toContain("AUC: AUC on the softmax probabilities (scikit-learn's roc_auc_score, multi-class macro one-vs-rest)");
    expect(probs).toContain('2 run(s) selected their checkpoint by the AUC on logits');
    await expect(tableCommand([switched, '--auc', 'ranks'], () => {})).rejects.toThrow(
      '--auc must be logits or probabilities, got "ranks"',
    );
  });

  it('a class without test images: the AUC is n/a with a footnote naming the dataset and the class', () => {
    const out = join(root, 'absent');
    cpSync(full, out, { recursive: true });
    for (const f of readdirSync(join(out, 'runs'))) {
      const r = JSON.parse(readFileSync(join(out, 'runs', f), 'utf8'));
      // As the run writes it when the test split lacks class "b" (index 1): NaN is null in JSON.
      Object.assign(r.test, { auc: null, aucLogits: null, absentClasses: [1] });
      writeFileSync(join(out, 'runs', f), JSON.stringify(r));
    }
    const t = buildTable(loadRunResults(out));
    expect(t.undefinedAuc).toEqual([{ dataset: 'toy', split: 'test', classes: ['b'] }]);
    const md = tableMarkdown(t);
    expect(md).toContain('| n/a [1] | n/a [1] |'); // the dataset's cell and the mean
    expect(md).toContain('[1] toy: no test image of class "b", so the test AUC is undefined (n/a) and so is every mean over it');
  });

  it('the noise note: one sentence when no two methods can be told apart, else the pairs within noise', () => {
    const [base] = results(full);
    if (!base) throw new Error(`no result in ${full}`);
    const table = (aucs: Record<string, number[]>) => {
      const out = join(root, `noise-${Object.values(aucs).flat().join('-')}`);
      mkdirSync(join(out, 'runs'), { recursive: true });
      for (const [method, perSeed] of Object.entries(aucs))
        perSeed.forEach((auc, seed) => {
          const r = JSON.parse(JSON.stringify(base));
          Object.assign(r, { id: `toy__${method}__seed${seed}`, seed });
          r.method.name = method;
          r.test.aucLogits = auc;
          writeFileSync(join(out, 'runs', `${r.id}.json`), JSON.stringify(r));
        });
      return tableMarkdown(buildTable(loadRunResults(out)));
    };
    const close = table({ lora: [0.6, 0.62, 0.58], 'fpt-plus': [0.61, 0.59, 0.64], linear: [0.57, 0.6, 0.62] });
    expect(close).toContain(
      'Not distinguishable at 95 % (the interval of the difference holds 0): any two of these 3 methods; even the largest difference, FPT+ and Linear probe (1.67 ± ',
    );
    const apart = table({ lora: [0.6, 0.62, 0.58], 'fpt-plus': [0.61, 0.59, 0.64], linear: [0.9, 0.91, 0.92] });
    expect(apart).toMatch(/Not distinguishable at 95 % \(the interval of the difference holds 0\): LoRA and FPT\+ \(-1\.33 ± [0-9.]+\)\./);
  });

  it('the result schema rejects a broken file naming the key', () => {
    const [good] = results(full);
    if (!good) throw new Error(`no result in ${full}`);
    expect(validateRunResult(JSON.parse(JSON.stringify(good)), 'x.json').id).toBe(good.id);
    // biome-ignore lint/suspicious/noExplicitAny: the test mutates arbitrary nested fields of a result
    const bad = (mutate: (r: Record<string, any>) => void) => {
      const r = JSON.parse(JSON.stringify(good));
      mutate(r);
      return () => validateRunResult(r, 'r.json');
    };
    expect(bad((r) => (r.schema = 'fpt-bench-run/0'))).toThrow('r.json: "schema" is "fpt-bench-run/0", expected "fpt-bench-run/3"');
    expect(bad((r) => delete r.test.auc)).toThrow('r.json: "test.auc" must be a number');
    expect(bad((r) => delete r.testFinal.aucLogits)).toThrow('r.json: "testFinal.aucLogits" must be a number');
    expect(bad((r) => delete r.epochs[0].val.absentClasses)).toThrow('"epochs[0].val.absentClasses" must be a list of class indices');
    expect(bad((r) => (r.recipe.auc = 'softmax'))).toThrow('"recipe.auc" must be "logits" or "probabilities", got "softmax"');
    expect(bad((r) => (r.lpm.pretrained = 'no'))).toThrow('"lpm.pretrained" must be a boolean');
    expect(bad((r) => (r.epochs = []))).toThrow('"epochs" must be a non-empty list');
    expect(bad((r) => (r.memory.runShapes = 5))).toThrow('"memory.runShapes" must be an object');
    // The tiny preset takes no paper-shape figures: null, with the reason.
    expect(good.memory.paperShapes).toBeNull();
    expect(good.memory.paperShapesNote).toBe('not measured: --paper-memory off');
    expect(bad((r) => delete r.memory.paperShapesNote)).toThrow('"memory.paperShapesNote" must say why memory.paperShapes is null');
    const paper = {
      peakBytes: 5,
      excludedBytes: 0,
      how: 'extrapolated',
      parameters: { learnable: 1, total: 2, sharePercent: 50 },
      extrapolation: { predictedBytes: 5 },
    };
    // biome-ignore lint/suspicious/noExplicitAny: as in bad() above
    const withPaper = (p: object) => (r: Record<string, any>) =>
      Object.assign(r.memory, { paperShapes: p, fullFinetunePaperShapes: paper });
    expect(bad(withPaper(paper))).not.toThrow();
    expect(bad(withPaper({ ...paper, how: 'guessed' }))).toThrow(
      '"memory.paperShapes.how" must be "measured" or "extrapolated", got "guessed"',
    );
    expect(bad(withPaper({ ...paper, extrapolation: null }))).toThrow('"memory.paperShapes.extrapolation" must be an object');
    expect(bad(withPaper({ ...paper, parameters: undefined }))).toThrow('"memory.paperShapes.parameters" must be an object');
  });

  it('the worker thread makes exactly the pixels of the in-thread path', async () => {
    const { scanDataset, prepareDataset } = await import('../src/data/index');
    const { augmentedPixels } = await import('../src/run/pipeline');
    const built = (await import(pathToFileURL(join(cli, '..', 'index.js')).href)) as typeof import('../src/index');
    const scan = scanDataset(join(root, 'toy'), 2);
    const data = (await prepareDataset(scan.dataset!, undefined)).prepared!;
    const aug = new built.Augmenter(data, 16, 7);
    try {
      expect(aug.threaded).toBe(true);
      const got = await aug.request([3, 0, 5], 2);
      expect(got.map((a) => Array.from(a))).toEqual([3, 0, 5].map((i) => Array.from(augmentedPixels(data, i, 16, 7, 2))));
    } finally {
      await aug.dispose();
    }
  });

  it('runs in-process without leaking tensors', async () => {
    const out = join(root, 'inproc');
    const before = tf.memory().numTensors;
    const code = await runCommand(
      args(out, 2, 'linear,fpt').slice(1), // in-process: without the command name
      () => {},
    );
    expect(code).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    const r = results(out);
    expect(r.map((x) => x.method.name).sort()).toEqual(['fpt', 'linear']);
    expect(r.find((x) => x.method.name === 'fpt')!.preload!.computed).toBe(16);
  });

  it("records each method's step memory at the paper shapes with the run's classes, with full fine-tuning's, kept in the output folder", async () => {
    const out = join(root, 'paper-memory');
    // Small stand-ins for the paper's shapes (deep enough to extrapolate); the protocol is the same.
    const paperShapes = (numClasses: number) => ({
      lpm: vitConfig({
        // 64 wide: FPT+'s side network is LPM width / 8 (8 wide, one head of 8).
        hiddenSize: 64,
        numLayers: 6,
        numHeads: 2,
        mlpDim: 64,
        patchSize: 8,
        imageSize: 32,
        numClasses: 0,
        layerNormEps: 1e-12,
        posEmbedResample: 'hf',
      }),
      imageSize: 32,
      batch: 4,
      numClasses,
      label: `test LPM at 32x32, batch 4, ${numClasses}-class head`,
    });
    // A 2-class and a 3-class dataset: one figure per (method, classes).
    const argv = [...args(out, 1).slice(1), '--datasets', 'toy,toy3']; // in-process: without the command name
    const lines: string[] = [];
    expect(await runCommand([...argv, '--paper-memory', 'on'], (l) => lines.push(l), { paperShapes })).toBe(0);
    const r = results(out);
    expect(r).toHaveLength(4);
    for (const x of r) {
      const classes = x.dataset.classes.length;
      expect(x.memory.paperShapes!.shapes).toBe(`test LPM at 32x32, batch 4, ${classes}-class head`);
      expect(x.memory.fullFinetunePaperShapes!.shapes).toBe(`test LPM at 32x32, batch 4, ${classes}-class head`);
      expect(x.memory.fullFinetunePaperShapes!.how).toBe('measured');
      expect(x.memory.paperShapes!.peakBytes).toBeGreaterThan(0);
    }
    const lora = r.find((x) => x.id === 'toy__lora__seed0')!.memory.paperShapes!;
    const fpt = r.find((x) => x.id === 'toy__fpt-plus__seed0')!.memory.paperShapes!;
    // The 3-class head has one more output of width 64, the LPM's (weights and bias): 65 more learnable parameters;
    // FPT+'s reads the side network's features, 64 / 8 = 8 wide: 9 more.
    const lora3 = r.find((x) => x.id === 'toy3__lora__seed0')!.memory.paperShapes!;
    expect(lora3.parameters.learnable - lora.parameters.learnable).toBe(65);
    const fpt3 = r.find((x) => x.id === 'toy3__fpt-plus__seed0')!.memory.paperShapes!;
    expect(fpt3.parameters.learnable - fpt.parameters.learnable).toBe(9);
    // The CPU backend's budget (half the machine) holds these steps: real steps, the extrapolation beside them.
    expect(lora.how).toBe('measured');
    expect(Math.abs(lora.extrapolation!.predictedBytes - lora.peakBytes) / lora.peakBytes).toBeLessThan(0.01);
    // Forward, backward and the update are fitted apart (at these shapes the forward pass's peak is
    // the larger at batch 1, the backward pass's at batch 4: one model of the step's peak missed by 18 %).
    expect(lora.extrapolation!.phaseCoefficients).toHaveLength(3);
    // FPT+ goes through the same check (its fit at the LPM's own depth: its step never runs the LPM).
    expect(fpt.how).toBe('measured');
    expect(fpt.extrapolation!.samples.every((s) => s.depth === paperShapes(2).lpm.numLayers)).toBe(true);
    // The fits are kept in the folder, one per method configuration and shapes.
    expect(Object.keys(JSON.parse(readFileSync(join(out, 'memory-fits.json'), 'utf8'))).length).toBeGreaterThanOrEqual(3);
    // Parameters on the paper-shape LPM, not on the run's.
    expect(lora.parameters.learnable).toBeGreaterThan(0);
    expect(lora.parameters.total).toBeGreaterThan(lora.parameters.learnable);
    expect(r.find((x) => x.method.name === 'lora')!.parameters.learnable).not.toBe(lora.parameters.learnable);
    const table = readFileSync(join(out, 'table.md'), 'utf8');
    expect(table).toContain('memory MiB (paper shapes)');
    expect(table).toContain('PPE and PME use the mean AUC and the paper-shape learnable share and memory');
    expect(table).toContain('learnable % (paper shapes)');
    expect(lines.filter((l) => l.includes("step memory at the paper's shapes"))).toHaveLength(6); // lora, full, fpt-plus for 2 and 3 classes
    // A rerun that trains again takes the figures from the output folder.
    rmSync(join(out, 'runs'), { recursive: true });
    const again: string[] = [];
    expect(await runCommand([...argv, '--paper-memory', 'on'], (l) => again.push(l), { paperShapes })).toBe(0);
    expect(again.filter((l) => l.includes("step memory at the paper's shapes"))).toHaveLength(0);
    expect(results(out).map((x) => x.memory.paperShapes)).toEqual(r.map((x) => x.memory.paperShapes));
    await expect(runCommand([...argv, '--micro-batch', '8'], () => {})).rejects.toThrow(
      '--micro-batch is 8, larger than the batch of 4: a micro-batch is a part of a batch',
    );
    await expect(runCommand([...argv, '--micro-batch', '0'], () => {})).rejects.toThrow('--micro-batch expects a positive integer');
    await expect(runCommand([...argv, '--limit', '1e1'], () => {})).rejects.toThrow(
      '--limit expects a positive integer in plain decimal digits',
    );
    await expect(runCommand([...argv, '--paper-memory', 'maybe'], () => {})).rejects.toThrow(
      '--paper-memory must be on or off, got "maybe"',
    );
  });
});
