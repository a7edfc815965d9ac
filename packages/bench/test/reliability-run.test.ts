// Reliability, round 3 (issue 17): a result always belongs to the options that made it, nothing
// outside its folder is written, and every problem is named up front. In-process runs of the tiny
// preset on a toy dataset.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WritableTensor } from '@fpt/core';
import { readSafetensorsFile, writeSafetensorsFile } from '@fpt/core/node';
import { runCommand } from '../src/commands/run';
import { writeToyDataset } from './helpers/toy-data';

const root = mkdtempSync(join(tmpdir(), 'fpt-rel3-'));
beforeAll(() => {
  writeToyDataset(root, 'toy', { train: 8, val: 4, test: 4 });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** `fpt-bench run` arguments on the toy dataset (lora, 2 epochs), with overrides. */
const runArgs = (out: string, extra: string[] = []) => [
  '--preset',
  'tiny',
  '--data-root',
  root,
  '--datasets',
  'toy',
  '--methods',
  'lora',
  '--epochs',
  '2',
  '--backend',
  'cpu',
  '--out',
  out,
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
    bytes[bytes.length - 3] ^= 0x40;
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
