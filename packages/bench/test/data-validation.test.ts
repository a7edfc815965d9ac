import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { channelStats, decodeFile, prepareDataset, scanDataset, stratifiedSubset, subsetQuotas } from '../src/data/index';
import { runCommand } from '../src/commands/run';
import { toyPng, writeToyDataset } from './helpers/toy-data';

const root = mkdtempSync(join(tmpdir(), 'fpt-data-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('up-front data validation', () => {
  it('accepts a sound dataset; grayscale PNGs come back with 3 equal channels', async () => {
    const dir = writeToyDataset(root, 'good', { train: 3, val: 2, test: 2 });
    const scan = scanDataset(dir, 2);
    expect(scan.problems).toEqual([]);
    expect(scan.dataset!.classes).toEqual(['a', 'b']);
    const { prepared, problems } = await prepareDataset(scan.dataset!, scan.checksums);
    expect(problems).toEqual([]);
    const img = prepared!.splits.train[0].image;
    expect([img.width, img.height, img.data.length]).toEqual([24, 24, 24 * 24 * 3]);
    expect(img.data[0]).toBe(img.data[1]);
    expect(prepared!.stats.mean).toHaveLength(3);
  });

  it('reports every problem with its path, before any decoding stops it', async () => {
    const dir = writeToyDataset(root, 'bad', { train: 2, val: 2, test: 2 });
    writeFileSync(join(dir, 'train', 'a', 'empty.png'), '');
    mkdirSync(join(dir, 'train', 'c'));
    mkdirSync(join(dir, 'val', 'd'));
    rmSync(join(dir, 'test', 'b'), { recursive: true });
    const scan = scanDataset(dir, 5);
    const text = scan.problems.map((p) => `${p.path}: ${p.problem}`).join('\n');
    expect(text).toContain(`${join(dir, 'train', 'a', 'empty.png')}: zero-byte file`);
    expect(text).toContain(`${join(dir, 'train', 'c')}: empty class folder`);
    expect(text).toContain(`${join(dir, 'val', 'd')}: class "d" is present in val/ but not in train/`);
    expect(text).toMatch(/test: mismatched class lists: test\/ has no folder for class "b"/);
    expect(text).toMatch(/has 3 classes \[a, b, c\] but the run expects 5/);
    expect(scan.dataset).toBeUndefined();
  });

  it('reports undecodable files and checksum mismatches with their paths', async () => {
    const dir = writeToyDataset(root, 'corrupt', { train: 2, val: 1, test: 1 });
    writeFileSync(join(dir, 'train', 'a', 'junk.jpg'), 'not an image at all');
    writeFileSync(join(dir, 'val', 'b', 'cut.png'), toyPng(1, 0).subarray(0, 60));
    const scan = scanDataset(dir, 2);
    expect(scan.problems).toEqual([]);
    const checksums = { 'train/a/train-0.png': '0'.repeat(64) };
    const { prepared, problems } = await prepareDataset(scan.dataset!, checksums);
    expect(prepared).toBeUndefined();
    const text = problems.map((p) => `${p.path}: ${p.problem}`).join('\n');
    expect(text).toContain(`${join(dir, 'train', 'a', 'junk.jpg')}: cannot decode image`);
    expect(text).toContain(`${join(dir, 'val', 'b', 'cut.png')}: cannot decode image`);
    expect(text).toContain(`${join(dir, 'train', 'a', 'train-0.png')}: sha256`);
    expect(text).toMatch(/train-1\.png: no sha256 for this file in manifest\.json/);
  });

  it('fpt-bench run exits 1 listing the problems and trains nothing', async () => {
    const lines: string[] = [];
    const out = join(root, 'out');
    const code = await runCommand(
      ['--preset', 'tiny', '--data-root', root, '--datasets', 'bad,corrupt', '--backend', 'cpu', '--out', out],
      (l) => lines.push(l),
    );
    expect(code).toBe(1);
    const text = lines.join('\n');
    expect(text).toMatch(/the data has \d+ problem\(s\); nothing was trained/);
    expect(text).toContain('zero-byte file');
    expect(text).toContain('cannot decode image');
    expect(existsSync(join(out, 'runs'))).toBe(false);
  });

  it('decodes with the pure-JS decoder too, and the stratified subset keeps every class', async () => {
    const bytes = toyPng(1, 1, 40, false);
    const a = await decodeFile(bytes, 'x.png', { decoder: 'js' });
    const b = await decodeFile(bytes, 'x.png', { decoder: 'sharp' });
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    await expect(decodeFile(new Uint8Array(0), 'z.png')).rejects.toThrow('z.png: zero-byte file');
    const items = Array.from({ length: 20 }, (_, i) => ({ path: `${i}`, relPath: `${i}.png`, label: i < 17 ? 0 : 1 }));
    const sub = stratifiedSubset(items, 6);
    expect(new Set(sub.map((s) => s.label))).toEqual(new Set([0, 1]));
    expect(stratifiedSubset(items, 6)).toEqual(sub);
    // Exactly the limit: largest remainders, and at least one image per class while the limit allows.
    expect(sub).toHaveLength(6);
    expect(subsetQuotas([17, 3], 6)).toEqual([5, 1]);
    expect(subsetQuotas([5, 5, 6], 8)).toEqual([3, 2, 3]);
    expect(subsetQuotas([100, 1, 1], 3)).toEqual([1, 1, 1]);
    expect(subsetQuotas([100, 1, 1], 2)).toEqual([1, 1, 0]);
    for (const n of [1, 7, 16, 33, 128]) expect(subsetQuotas([341, 60, 40, 30, 2], n).reduce((a, b) => a + b, 0)).toBe(n);
    const stats = channelStats([a]);
    expect(stats.std.every((s) => s > 0)).toBe(true);
  });
});
