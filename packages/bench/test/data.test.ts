import { describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { Rng } from '@fpt/core';
import {
  adjustBrightness,
  adjustContrast,
  augment,
  decodeImage,
  horizontalFlip,
  normaliseChw,
  openImageFolder,
  paperAugmentation,
  randomResizedCrop,
  resize,
  toFloat,
  type FloatImage,
} from '../src/data/index';

function gradient(w: number, h: number): FloatImage {
  const data = new Float32Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) data[(y * w + x) * 3 + c] = (x + 2 * y + c) / (w + 2 * h + 3);
  return { width: w, height: h, data };
}

function jpegBytes(w: number, h: number, value: number): Uint8Array {
  const data = Buffer.alloc(w * h * 4, value);
  return new Uint8Array(jpeg.encode({ data, width: w, height: h }, 95).data);
}

describe('decoding', () => {
  it('decodes a real grayscale chest X-ray JPEG to RGB with the channel replicated', () => {
    const img = decodeImage(readFileSync(new URL('./fixtures/kermany-normal.jpg', import.meta.url)), 'kermany-normal.jpg');
    expect([img.width, img.height]).toEqual([224, 224]);
    for (let i = 0; i < img.data.length; i += 3) {
      expect(img.data[i + 1]).toBe(img.data[i]);
      expect(img.data[i + 2]).toBe(img.data[i]);
    }
  });

  it('decodes PNG, drops alpha, and names a file it cannot decode', () => {
    const png = new PNG({ width: 2, height: 1 });
    png.data.set([10, 20, 30, 255, 40, 50, 60, 0]);
    const img = decodeImage(new Uint8Array(PNG.sync.write(png)), 'a.png');
    expect(Array.from(img.data)).toEqual([10, 20, 30, 40, 50, 60]);
    expect(() => decodeImage(new Uint8Array([1, 2, 3, 4]), 'x.bmp')).toThrow('x.bmp: cannot decode image: not a JPEG or PNG file');
    expect(() => decodeImage(new Uint8Array([0xff, 0xd8, 0, 0]), 'broken.jpg')).toThrow(/^broken.jpg: cannot decode image/);
  });

  it('normalises to CHW', () => {
    const chw = normaliseChw(
      { width: 2, height: 1, data: Float32Array.from([0.5, 0.25, 1, 0, 0.5, 0.75]) },
      [0.5, 0.5, 0.5],
      [0.5, 0.25, 0.5],
    );
    expect(Array.from(chw)).toEqual([0, -1, -1, 0, 1, 0.5]);
  });
});

describe('transforms', () => {
  it('resize keeps constants and identities, and averages when shrinking', () => {
    const g = gradient(6, 4);
    expect(Array.from(resize(g, 6, 4).data)).toEqual(Array.from(g.data).map((v) => Math.fround(v)));
    const flat = { width: 8, height: 8, data: new Float32Array(8 * 8 * 3).fill(0.3) };
    resize(flat, 3, 5).data.forEach((v) => expect(v).toBeCloseTo(0.3, 6));
    // Halving alternating columns 1,0,1,0 with PIL's antialiased triangle filter (support 2):
    // output 0 weighs columns 0,1,2 by 3/4,3/4,1/4 -> 4/7; output 1 columns 1,2,3 -> 3/7.
    const stripes = { width: 4, height: 1, data: Float32Array.from({ length: 12 }, (_, i) => (Math.floor(i / 3) % 2 === 0 ? 1 : 0)) };
    const half = resize(stripes, 2, 1).data;
    expect(half[0]).toBeCloseTo(4 / 7, 6);
    expect(half[3]).toBeCloseTo(3 / 7, 6);
  });

  it('a region resize reads only the rows its filter reaches', () => {
    const rng = new Rng(3);
    const img = { width: 40, height: 30, data: Float32Array.from({ length: 40 * 30 * 3 }, () => rng.next()) };
    const region = { x: 5, y: 9, w: 28, h: 12 };
    const want = resize(img, 16, 16, region);
    // Rows far outside the region (the filter of a 12 -> 16 stretch reaches one row beyond it) do not matter.
    const changed = { ...img, data: img.data.slice() };
    for (let y = 0; y < 30; y++) if (y < 7 || y > 22) changed.data.fill(-5, y * 40 * 3, (y + 1) * 40 * 3);
    expect(Array.from(resize(changed, 16, 16, region).data)).toEqual(Array.from(want.data));
    // And rows it reaches do.
    changed.data.fill(-5, 10 * 40 * 3, 11 * 40 * 3);
    expect(Array.from(resize(changed, 16, 16, region).data)).not.toEqual(Array.from(want.data));
    // The same region of the image cut down to rows 7-22 gives the same pixels.
    const cut = { width: 40, height: 16, data: img.data.slice(7 * 40 * 3, 23 * 40 * 3) };
    expect(Array.from(resize(cut, 16, 16, { ...region, y: 2 }).data)).toEqual(Array.from(want.data));
  });

  it('flip twice is the identity; brightness and contrast as torchvision', () => {
    const g = gradient(5, 3);
    expect(Array.from(horizontalFlip(horizontalFlip(g)).data)).toEqual(Array.from(g.data));
    expect(horizontalFlip(g).data[0]).toBe(g.data[4 * 3]);
    expect(adjustBrightness({ width: 1, height: 1, data: Float32Array.from([0.5, 0.8, 0.1]) }, 1.5).data).toEqual(
      Float32Array.from([0.75, 1, 0.15000000596046448]),
    );
    const c = adjustContrast({ width: 2, height: 1, data: Float32Array.from([0.2, 0.2, 0.2, 0.6, 0.6, 0.6]) }, 0.5);
    expect(Array.from(c.data).map((v) => +v.toFixed(6))).toEqual([0.3, 0.3, 0.3, 0.5, 0.5, 0.5]);
  });

  it('random resized crop and the paper augmentation: right size, reproducible by seed', () => {
    const g = gradient(40, 30);
    const a = randomResizedCrop(g, 16, [0.8, 1], [0.7, 1.3], new Rng(3));
    expect([a.width, a.height]).toEqual([16, 16]);
    const x = augment(g, paperAugmentation(16), new Rng(9));
    const y = augment(g, paperAugmentation(16), new Rng(9));
    const z = augment(g, paperAugmentation(16), new Rng(10));
    expect(Array.from(x.data)).toEqual(Array.from(y.data));
    expect(Array.from(x.data)).not.toEqual(Array.from(z.data));
    expect(Math.min(...x.data)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...x.data)).toBeLessThanOrEqual(1);
  });

  it('toFloat scales bytes to [0, 1]', () => {
    expect(Array.from(toFloat({ width: 1, height: 1, data: Uint8Array.from([0, 51, 255]) }).data)).toEqual([0, 0.2, 1].map(Math.fround));
  });
});

describe('ImageFolder datasets', () => {
  function makeDataset(withManifest: boolean) {
    const root = mkdtempSync(join(tmpdir(), 'ds-'));
    const sha: Record<string, string> = {};
    const counts: Record<string, Record<string, number>> = {};
    for (const split of ['train', 'val', 'test']) {
      counts[split] = {};
      for (const [ci, cls] of ['benign', 'malignant'].entries()) {
        mkdirSync(join(root, split, cls), { recursive: true });
        for (let i = 0; i < 2; i++) {
          const bytes = jpegBytes(8, 8, 40 * ci + 10 * i);
          writeFileSync(join(root, split, cls, `img${i}.jpg`), bytes);
          sha[`${split}/${cls}/img${i}.jpg`] = createHash('sha256').update(bytes).digest('hex');
        }
        counts[split][cls] = 2;
      }
    }
    writeFileSync(join(root, 'train', 'benign', 'notes.txt'), 'ignored');
    if (withManifest)
      writeFileSync(
        join(root, 'manifest.json'),
        JSON.stringify({ name: 'toy', classes: ['malignant', 'benign'], splits: counts, sha256: sha }),
      );
    return root;
  }

  it('reads splits and labels (manifest order, else alphabetical) and verifies checksums', () => {
    const plain = openImageFolder(makeDataset(false));
    expect(plain.classes).toEqual(['benign', 'malignant']);
    expect(plain.splits.train.map((i) => [i.relPath, i.label])).toEqual([
      ['train/benign/img0.jpg', 0],
      ['train/benign/img1.jpg', 0],
      ['train/malignant/img0.jpg', 1],
      ['train/malignant/img1.jpg', 1],
    ]);
    const root = makeDataset(true);
    const ds = openImageFolder(root, { verifyChecksums: true });
    expect(ds.name).toBe('toy');
    expect(ds.classes).toEqual(['malignant', 'benign']);
    expect(ds.splits.test.filter((i) => i.label === 0).every((i) => i.relPath.startsWith('test/malignant/'))).toBe(true);
    writeFileSync(join(root, 'val', 'benign', 'img1.jpg'), jpegBytes(8, 8, 99));
    expect(() => openImageFolder(root, { verifyChecksums: true })).toThrow(
      /val\/benign\/img1.jpg: sha256 [0-9a-f]{64} does not match manifest.json/,
    );
  });

  it('names what is wrong with a tree', () => {
    const root = makeDataset(true);
    writeFileSync(join(root, 'test', 'malignant', 'img9.jpg'), jpegBytes(8, 8, 1));
    expect(() => openImageFolder(root)).toThrow(`dataset ${root}: test/malignant holds 3 images, manifest.json says 2`);
    const other = makeDataset(false);
    mkdirSync(join(other, 'val', 'normal'));
    expect(() => openImageFolder(other)).toThrow(
      `dataset ${other}: val/ has class folder(s) "normal" not among the classes [benign, malignant]`,
    );
    expect(() => openImageFolder(join(other, 'nope'))).toThrow('not a folder');
    const noTest = mkdtempSync(join(tmpdir(), 'ds-'));
    mkdirSync(join(noTest, 'train'));
    expect(() => openImageFolder(noTest)).toThrow(`dataset ${noTest}: missing split folder "val"`);
  });
});
