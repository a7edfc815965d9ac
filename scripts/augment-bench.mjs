// Training-augmentation throughput of the bench (flip, colour jitter, random resized crop,
// normalisation; pure JavaScript, one thread) on the first 64 training images of idrid-dr stored
// at 128 px, to 96 and 64 px, 5 epochs each; prints ms per image and a hash of every pixel made,
// which must not change when the code is only made faster.
// Usage: node scripts/augment-bench.mjs (after `pnpm exec turbo run build --filter=@fpt/bench...`).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { augmentedFromImage, decodeFile } from '../packages/bench/dist/index.js';

const root = new URL('../data/idrid-dr/train/', import.meta.url).pathname;
const files = readdirSync(root)
  .sort()
  .flatMap((c) =>
    readdirSync(join(root, c))
      .sort()
      .map((f) => join(root, c, f)),
  )
  .slice(0, 64);
const images = [];
for (const f of files) images.push(await decodeFile(new Uint8Array(readFileSync(f)), f, { maxSide: 128 }));
const stats = { mean: [0.4, 0.2, 0.1], std: [0.3, 0.15, 0.08] };
const hash = createHash('sha256');
for (const size of [96, 64]) {
  for (const measured of [false, true]) {
    const started = performance.now();
    for (let epoch = 0; epoch < 5; epoch++) {
      images.forEach((image, i) => {
        const pixels = augmentedFromImage(image, i, size, stats, 0, epoch);
        if (measured) hash.update(Buffer.from(pixels.buffer));
      });
    }
    if (measured) console.log(`128 px -> ${size} px: ${((performance.now() - started) / (5 * images.length)).toFixed(2)} ms/image`);
  }
}
console.log(`pixels sha256: ${hash.digest('hex').slice(0, 16)}`);
