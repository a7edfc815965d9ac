// Reliability probes (issue 8) for the bench command line: a gutted fixture fails, a device file is
// refused at once, and wrong options get one sentence naming the option and what is allowed.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readSafetensors, writeSafetensors, type WritableTensor } from '@fpt/core';
import { parityCommand } from '../src/commands/parity';
import { paramsCommand } from '../src/commands/params';
import { intOption, parseArgs } from '../src/commands/args';
import { parseSeeds, runCommand } from '../src/commands/run';
import { benchGrid } from '../src/results/grid';
import { MeasurementFile } from '../src/run/measurements';
import { checkPaperShapeMemory, checkStepMemory } from '../src/memory/records';
import { readGridFile } from '../src/results/grid-file';

const golden = (f: string) => fileURLToPath(new URL(`../../../test/fixtures/golden/${f}`, import.meta.url));

function run(paths: string[]) {
  const lines: string[] = [];
  const code = parityCommand(paths, (l) => lines.push(l));
  return { code, lines };
}

/** A copy of a golden fixture without the tensors `drop` selects. */
function without(name: string, drop: (tensor: string) => boolean): string {
  const file = readSafetensors(readFileSync(golden(name)), name);
  const tensors = new Map<string, WritableTensor>();
  for (const [k, e] of file.entries()) if (!drop(k)) tensors.set(k, { dtype: e.dtype, shape: e.shape, data: e.data });
  const path = join(mkdtempSync(join(tmpdir(), 'parity-rel-')), name);
  writeFileSync(path, writeSafetensors(tensors, { metadata: { ...file.metadata } }));
  return path;
}

describe('reliability: parity fixtures declare their expected tensors (item 5)', () => {
  it('an FPT fixture with every expected.* tensor removed fails, one line per missing tensor', () => {
    const full = readSafetensors(readFileSync(golden('fptplus-tiny.safetensors')));
    const expectedNames = full.names().filter((n) => n.startsWith('expected.'));
    const before = tf.memory().numTensors;
    const { code, lines } = run([without('fptplus-tiny.safetensors', (n) => n.startsWith('expected.'))]);
    expect(code).toBe(1);
    const failed = lines.filter((l) => l.startsWith('FAIL')).map((l) => l.split(' ')[2]);
    // Every group: LPM, selection, fusion, side, and one gradient per learnable tensor.
    expect(failed.sort()).toEqual([...expectedNames].sort());
    expect(lines).toContain(
      'FAIL fptplus-tiny.safetensors expected.lpm.hidden maxabs=n/a tol=0 (missing: a "fpt" fixture must contain this LPM tensor)',
    );
    expect(lines).toContain(
      'FAIL fptplus-tiny.safetensors expected.lpm.indices maxabs=n/a tol=0 (missing: a "fpt" fixture must contain this selection tensor)',
    );
    expect(lines).toContain(
      'FAIL fptplus-tiny.safetensors expected.fusion.out maxabs=n/a tol=0 (missing: a "fpt" fixture must contain this fusion tensor)',
    );
    expect(lines).toContain(
      'FAIL fptplus-tiny.safetensors expected.fpt.loss maxabs=n/a tol=0 (missing: a "fpt" fixture must contain this side tensor)',
    );
    expect(lines).toContain(
      'FAIL fptplus-tiny.safetensors expected.grad.fusion_module.prompts maxabs=n/a tol=0 (missing: a "fpt" fixture must contain this expected tensor)',
    );
    expect(lines.at(-1)).toBe(`2 passed, ${expectedNames.length} failed, 0 skipped`); // the two parameter counts
    expect(tf.memory().numTensors).toBe(before);
  });

  it('one missing gradient, or a timm fixture without its outputs, fails too', () => {
    const grad = run([without('fpt-v1-tiny.safetensors', (n) => n === 'expected.grad.side_encoder.vit.layernorm.weight')]);
    expect(grad.lines.filter((l) => l.startsWith('FAIL'))).toEqual([
      'FAIL fpt-v1-tiny.safetensors expected.grad.side_encoder.vit.layernorm.weight maxabs=n/a tol=0 (missing: a "fpt" fixture must contain this expected tensor)',
    ]);
    expect(grad.code).toBe(1);
    const timm = run([without('timm-vit-tiny.safetensors', (n) => n.startsWith('expected.'))]);
    expect(timm.lines.filter((l) => l.startsWith('FAIL')).map((l) => l.split(' ')[2])).toEqual([
      'expected.timm.features',
      'expected.timm.logits',
      'expected.timm.pos_embed_resampled',
    ]);
    expect(timm.code).toBe(1);
  });
});

describe('reliability: parity reads only what a fixture can be (item 10)', () => {
  it('`parity /dev/zero` fails at once, by file type', () => {
    const t0 = Date.now();
    const { code, lines } = run(['/dev/zero']);
    expect(lines).toEqual([
      'FAIL /dev/zero (fixture) maxabs=n/a tol=0 (safetensors: /dev/zero: is a character device, not a regular file; expected a safetensors file)',
      '0 passed, 1 failed, 0 skipped',
    ]);
    expect(code).toBe(1);
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});

describe('reliability: options (items 7, 11, 12)', () => {
  const params = (argv: string[]) => paramsCommand(argv, () => {});

  it('integer options accept plain decimal integers only', () => {
    for (const bad of ['1e1', '0x5', ' 5', '5 ', '5.0', '+5', '-5', '0', '']) {
      expect(() => intOption(parseArgs(['--batch', bad], ['batch']), 'batch', 16), JSON.stringify(bad)).toThrow(
        `--batch expects a positive integer in plain decimal digits, got "${bad}"`,
      );
    }
    expect(intOption(parseArgs(['--batch=12'], ['batch']), 'batch', 16)).toBe(12);
  });

  it('--classes 99999999 is refused by name, with the limit', () => {
    expect(() => params(['fpt-plus', '--classes', '99999999'])).toThrow(
      '--classes is 99999999, over the limit of 100000 (the classifier heads hold classes x width weights)',
    );
    expect(() => params(['lora', '--classes', '1e1'])).toThrow(
      '--classes expects a positive integer in plain decimal digits up to 100000, got "1e1"',
    );
  });

  it('--set targets=re:( names the option and what is expected', () => {
    expect(() => params(['lora', '--set', 'targets=re:('])).toThrow(
      'lora: option "targets" value "re:(" is not a valid regular expression (Unterminated group); expected re:<regex> matching whole layer names, e.g. re:blocks\\.\\d+\\.attn\\.qkv',
    );
  });

  it('params fpt-plus refuses impossible FPT settings instead of printing a table', () => {
    const cases: Array<[string, string]> = [
      ['ratio=5', 'fpt-plus: option "ratio" must be a number in (0, 1], got 5'],
      ['ratio=0', 'fpt-plus: option "ratio" must be a number in (0, 1], got 0'],
      ['ratio=-1', 'fpt-plus: option "ratio" must be a number in (0, 1], got -1'],
      ['inputSize=0', 'fpt-plus: option "inputSize" must be a positive integer, got 0'],
      ['layers=6,6', 'fpt-plus: option "layers" holds a layer twice: 6,6'],
    ];
    for (const [set, message] of cases) expect(() => params(['fpt-plus', '--set', set]), set).toThrow(message);
  });
});

describe('measurement files in a results folder', () => {
  const rec = (peakBytes: number) => ({ peakBytes, excludedBytes: 0, how: 'measured' as const });

  it('keeps what another writer added, and names a corrupt file instead of using it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fpt-measure-'));
    const path = join(dir, 'paper-memory.json');
    const a = new MeasurementFile(path, checkStepMemory);
    const b = new MeasurementFile(path, checkStepMemory); // another shard, same folder
    expect(a.get('lora')).toBeUndefined();
    a.set('lora', rec(1));
    b.set('full', rec(2));
    expect(a.get('lora')).toEqual(rec(1));
    expect(a.get('full')).toEqual(rec(2));
    writeFileSync(path, '{"lora": {"peakBy');
    expect(() => a.get('lora')).toThrow(`${path}: not valid JSON`);
    writeFileSync(path, '[1, 2]');
    expect(() => a.set('x', rec(3))).toThrow(`${path}: expected a JSON object of measurements by key; delete it to measure again`);
  });

  it('a figure of the wrong type is refused by schema, naming the file and the key (issue 17 item 4)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fpt-measure-'));
    const ref = join(dir, 'memory-reference.json');
    writeFileSync(ref, JSON.stringify({ 'buffers|random': { peakBytes: 'lots', excludedBytes: 0, how: 'measured' }, other: rec(5) }));
    // Any read checks every entry: the broken one is named even when another key is asked for.
    expect(() => new MeasurementFile(ref, checkStepMemory).get('other')).toThrow(
      `${ref} (delete it to measure again): "buffers|random.peakBytes" must be a non-negative number, got "lots"`,
    );
    writeFileSync(ref, JSON.stringify({ k: { peakBytes: 1, excludedBytes: -1, how: 'measured' } }));
    expect(() => new MeasurementFile(ref, checkStepMemory).get('k')).toThrow('"k.excludedBytes" must be a non-negative number, got -1');
    const paper = join(dir, 'paper-memory.json');
    const good = {
      peakBytes: 5,
      excludedBytes: 0,
      how: 'measured',
      shapes: 'ViT-B/16 at 512',
      parameters: { learnable: 1, total: 2, sharePercent: 50 },
      options: {},
      budgetBytes: 10,
      extrapolation: null,
      backend: 'cpu',
      seconds: 1,
    };
    writeFileSync(paper, JSON.stringify({ lora: good }));
    expect(new MeasurementFile(paper, checkPaperShapeMemory).get('lora')).toEqual(good);
    writeFileSync(paper, JSON.stringify({ lora: { ...good, how: 'guessed' } }));
    expect(() => new MeasurementFile(paper, checkPaperShapeMemory).get('lora')).toThrow(
      '"lora.how" must be "measured" or "extrapolated", got "guessed"',
    );
    writeFileSync(paper, JSON.stringify({ lora: { ...good, parameters: { learnable: '1', total: 2, sharePercent: 50 } } }));
    expect(() => new MeasurementFile(paper, checkPaperShapeMemory).get('lora')).toThrow(
      '"lora.parameters.learnable" must be a non-negative number, got "1"',
    );
  });

  it('grid.json is checked by the same schema helper, naming the key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fpt-grid-'));
    writeFileSync(join(dir, 'grid.json'), JSON.stringify({ schema: 'fpt-bench-grid/1', preset: 'tiny', runs: ['a', 3] }));
    expect(() => readGridFile(dir)).toThrow(`${join(dir, 'grid.json')}: "runs" must be a list of strings`);
    writeFileSync(join(dir, 'grid.json'), JSON.stringify({ schema: 'fpt-bench-grid/1', preset: 7, runs: [] }));
    expect(() => readGridFile(dir)).toThrow(`${join(dir, 'grid.json')}: "preset" must be a string, got 7`);
  });
});

describe('reliability round 3: grid options (issue 17 items 8, 10, 15, 17)', () => {
  const dry = async (extra: string[]) => {
    const lines: string[] = [];
    const code = await runCommand(
      ['--preset', 'tiny', '--methods', 'lora', '--dry-run', '--out', mkdtempSync(join(tmpdir(), 'fpt-dry-')), ...extra],
      (l) => lines.push(l),
    );
    return { code, lines };
  };

  it('a dataset or seed given twice is refused instead of running twice (item 8)', async () => {
    await expect(dry(['--datasets', 'good,good'])).rejects.toThrow('--datasets lists "good" twice; give each once');
    await expect(dry(['--datasets', 'good, good'])).rejects.toThrow('--datasets lists "good" twice; give each once');
    await expect(dry(['--seeds', '1,1'])).rejects.toThrow('--seeds lists 1 twice; give each once');
    // --methods expands `paper` and `all`, so a method named again is merged rather than refused.
    const { lines } = await dry(['--datasets', 'good', '--methods', 'lora,lora']);
    expect(lines.filter((l) => l.includes('good__lora__seed0'))).toHaveLength(1);
    expect(() => benchGrid(['a'], ['lora', 'lora'], [0])).toThrow(
      'benchGrid: methods lists "lora" twice; a run would be in the grid twice',
    );
  });

  it('a dataset name is a folder name, never a path (item 10)', async () => {
    for (const bad of ['../../x', 'a/b', 'a\\b', '..', '.', '/abs'])
      await expect(dry(['--datasets', bad]), bad).rejects.toThrow(
        `--datasets: "${bad}" is not a folder name (no "/", "\\", "." or ".."); a dataset is a folder of --data-root`,
      );
  });

  it('--datasets "" is refused, not replaced by the preset datasets (item 17)', async () => {
    await expect(dry(['--datasets', ''])).rejects.toThrow(
      '--datasets expects comma-separated dataset folder names, got "" (an empty name)',
    );
    await expect(dry(['--datasets', 'a,,b'])).rejects.toThrow('got "a,,b" (an empty name)');
  });

  it('--seeds is parsed as strictly as --epochs (item 15)', () => {
    for (const bad of ['1e1', '0x5', ' ', '0,,1', '12345678901234567890', '-1', '1.0', '+1', '0, 1', ''])
      expect(() => parseSeeds(bad, [0]), JSON.stringify(bad)).toThrow(
        `--seeds expects comma-separated non-negative integers in plain decimal digits (at most 9007199254740991), got "${bad}"`,
      );
    expect(parseSeeds('0,1,2', [0])).toEqual([0, 1, 2]);
    expect(parseSeeds(undefined, [0])).toEqual([0]);
    expect(parseSeeds(undefined, [0, 1, 2])).toEqual([0, 1, 2]);
  });

  it('--out or --cache that is a file, under a file, or not writable is one sentence before any work (item 17)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fpt-out-'));
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    const start = (extra: string[]) => runCommand(['--preset', 'tiny', '--methods', 'lora', ...extra], () => {});
    await expect(start(['--out', file])).rejects.toThrow(
      `--out ${file}: cannot write there: it is a file, not a folder; expected a writable folder`,
    );
    await expect(start(['--out', join(file, 'sub')])).rejects.toThrow(
      `--out ${join(file, 'sub')}: cannot write there: a part of the path is a file, not a folder (ENOTDIR); expected a writable folder`,
    );
    await expect(start(['--out', join(dir, 'out'), '--cache', file])).rejects.toThrow(
      `--cache ${file}: cannot write there: it is a file, not a folder`,
    );
    // A folder this user cannot write: chmod for a normal user; root writes anywhere but /sys.
    const readOnly = process.getuid?.() === 0 ? '/sys/fpt-bench-test' : join(dir, 'ro');
    if (process.getuid?.() !== 0) chmodSync(dir, 0o555);
    try {
      await expect(start(['--out', readOnly])).rejects.toThrow(
        new RegExp(
          `^--out ${readOnly}: cannot write there: (permission denied \\((EACCES|EPERM)\\)|read-only file system \\(EROFS\\)); expected a writable folder$`,
        ),
      );
    } finally {
      chmodSync(dir, 0o755);
    }
  });
});
