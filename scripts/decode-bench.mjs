// Decoding throughput of the bench's two decoders on the embedded datasets: pure JavaScript
// (jpeg-js) against libvips (sharp), one image at a time and 4 in flight, full size and shrunk
// to 128 px. Usage: node scripts/decode-bench.mjs [images per dataset, default 200]
// (after `pnpm exec turbo run build --filter=@fpt/bench...`).
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { decodeFile } from '../packages/bench/dist/index.js';

const n = Number(process.argv[2] ?? 200);
const root = new URL('../data/', import.meta.url).pathname;
const files = (ds) => {
  const dir = join(root, ds, 'train');
  return readdirSync(dir)
    .flatMap((c) => readdirSync(join(dir, c)).map((f) => join(dir, c, f)))
    .slice(0, n);
};
const rows = [];
for (const [ds, what] of [
  ['idrid-dr', '512x512 RGB JPEG'],
  ['kermany-cxr', '224x224 gray JPEG'],
]) {
  const bytes = files(ds).map((f) => new Uint8Array(readFileSync(f)));
  for (const [decoder, maxSide, inFlight] of [
    ['js', undefined, 1],
    ['sharp', undefined, 1],
    ['sharp', undefined, 4],
    ['js', 128, 1],
    ['sharp', 128, 1],
    ['sharp', 128, 4],
  ]) {
    const t = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < bytes.length) {
          const i = next++;
          await decodeFile(bytes[i], `${i}`, { decoder, maxSide });
        }
      }),
    );
    const s = (performance.now() - t) / 1000;
    rows.push(
      `| ${ds} (${what}) | ${decoder} | ${maxSide ? `shrink to ${maxSide}` : 'full size'} | ${inFlight} | ${(bytes.length / s).toFixed(0)} |`,
    );
  }
}
console.log(`${n} images per dataset, Node ${process.version}, ${cpus().length} x ${cpus()[0].model}\n`);
console.log('| images | decoder | output | in flight | images/s |\n|---|---|---|---|---|');
console.log(rows.join('\n'));
