import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';

/** A PNG of `size` px whose brightness depends on the class (so the task is learnable), grayscale or RGB. */
export function toyPng(label: number, index: number, size = 24, gray = index % 2 === 0): Buffer {
  const png = new PNG({ width: size, height: size, colorType: gray ? 0 : 2, inputColorType: 2, inputHasAlpha: false });
  const data = Buffer.alloc(size * size * 3);
  for (let i = 0; i < size * size; i++) {
    const v = Math.max(0, Math.min(255, 60 + 80 * label + ((i * 37 + index * 101) % 50)));
    data[3 * i] = v;
    data[3 * i + 1] = gray ? v : (v * 7) % 256;
    data[3 * i + 2] = gray ? v : 255 - v;
  }
  png.data = data;
  return PNG.sync.write(png, { colorType: gray ? 0 : 2, inputColorType: 2, inputHasAlpha: false });
}

/** Writes an ImageFolder dataset `<root>/<name>/{train,val,test}/<class>/*.png` and returns its folder. */
export function writeToyDataset(
  root: string,
  name: string,
  counts: { train: number; val: number; test: number },
  classes = ['a', 'b'],
): string {
  const dir = join(root, name);
  for (const split of ['train', 'val', 'test'] as const) {
    classes.forEach((cls, label) => {
      mkdirSync(join(dir, split, cls), { recursive: true });
      for (let i = 0; i < counts[split]; i++) writeFileSync(join(dir, split, cls, `${split}-${i}.png`), toyPng(label, i));
    });
  }
  return dir;
}
