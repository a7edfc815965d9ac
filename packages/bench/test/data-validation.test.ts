import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import { crc32 } from '@fpt/core/node';
import { declaredSize } from '../src/data/image';
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
    const img = prepared!.splits.train[0]!.image;
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

/** A PNG whose header declares `width` x `height` and whose data is a few bytes of zlib: a decompression bomb's header. */
function bombPng(width: number, height: number): Uint8Array {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const idat = deflateSync(Buffer.alloc(4096));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', idat),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('reliability round 3: data checks (issue 17 items 12, 13)', () => {
  it('a file declaring 20000x20000 pixels is refused from its header by both decoders (item 12)', async () => {
    const bomb = bombPng(20000, 20000);
    expect(bomb.length).toBeLessThan(200);
    const message = `bomb.png: the image declares 20000x20000 pixels (400000000), over the limit of 268402689 (sharp's limitInputPixels); refused before decoding`;
    for (const decoder of ['js', 'sharp'] as const) {
      const t0 = Date.now();
      await expect(decodeFile(bomb, 'bomb.png', { decoder }), decoder).rejects.toThrow(message);
      expect(Date.now() - t0).toBeLessThan(1000);
    }
    // The limit is the header's product: a long thin image under it is fine to try.
    expect(declaredSize(bombPng(30000, 2))).toEqual({ width: 30000, height: 2 });
    const jpg = jpeg.encode({ width: 8, height: 6, data: Buffer.alloc(8 * 6 * 4, 128) }, 90).data;
    expect(declaredSize(jpg)).toEqual({ width: 8, height: 6 });
  });

  it('one pass reports every problem of every kind with its path: unreadable entries, other formats, layout and decoding (item 13)', async () => {
    const dir = writeToyDataset(root, 'odd', { train: 2, val: 1, test: 1 });
    const a = join(dir, 'train', 'a');
    symlinkSync('loop.png', join(a, 'loop.png')); // a link to itself: ELOOP
    symlinkSync(join(root, 'nowhere.png'), join(a, 'gone.png')); // dangling
    writeFileSync(Buffer.concat([Buffer.from(`${a}/`), Buffer.from([0x62, 0xff, 0x2e, 0x70, 0x6e, 0x67])]), toyPng(0, 9));
    writeFileSync(join(a, 'x.gif'), 'GIF89a');
    writeFileSync(join(a, 'junk.png'), 'not an image'); // a decode problem
    mkdirSync(join(dir, 'val', 'extra')); // a layout problem
    const unreadable = join(dir, 'test', 'b');
    chmodSync(unreadable, 0);
    const lines: string[] = [];
    try {
      const code = await runCommand(
        [
          '--preset',
          'tiny',
          '--data-root',
          root,
          '--datasets',
          'odd',
          '--methods',
          'lora',
          '--backend',
          'cpu',
          '--out',
          join(root, 'odd-out'),
        ],
        (l) => lines.push(l),
      );
      expect(code).toBe(1);
    } finally {
      chmodSync(unreadable, 0o755);
    }
    const text = lines.join('\n');
    expect(text).toContain(`${join(a, 'loop.png')}: symbolic link loop (ELOOP); expected a file or folder`);
    expect(text).toContain(`${join(a, 'gone.png')}: dangling symbolic link (ENOENT: its target does not exist)`);
    expect(text).toContain(`${join(a, 'b\uFFFD.png')}: file name is not valid UTF-8 (bytes 62ff2e706e67); rename it`);
    expect(text).toContain(`${join(a, 'x.gif')}: .gif images are not read (expected .jpg, .jpeg or .png); convert or remove the file`);
    expect(text).toContain(`${join(dir, 'val', 'extra')}: class "extra" is present in val/ but not in train/`);
    expect(text).toContain(`${join(a, 'junk.png')}: cannot decode image`);
    // Root reads any folder; everyone else gets EACCES.
    if (process.getuid?.() !== 0) expect(text).toContain(`${unreadable}: cannot be read: permission denied (EACCES)`);
  });
});
