// The cost of the key/value cache's data checksum on a paper-shape entry (docs/method.md: ViT-B/16 LPM
// at 512, layers 6..11, 20 % of 1025 tokens kept: keys and values [6, 12, 205, 64] each).
// Prints the median times of writing and reading (with verification) one entry, and of the CRC-32
// alone over its data section. Run after building: `pnpm exec turbo run build --filter=@fpt/fpt-plus`,
// then `node packages/fpt-plus/scripts/checksum-cost.mjs [repeats]`.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import zlib from 'node:zlib';
import { KvCache } from '@fpt/fpt-plus/node';

const repeats = Number(process.argv[2] ?? 30);
const shape = [6, 12, 205, 64];
const per = shape.reduce((a, b) => a * b, 1);
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const ms = (f) => {
  const t = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t) / 1e6;
};

console.log(
  `checksum cost: paper-shape entry, keys and values [${shape}] each, ${repeats} repeats, Node ${process.version}, native zlib.crc32: ${typeof zlib.crc32 === 'function'}`,
);
for (const float16 of [false, true]) {
  const dir = mkdtempSync(join(tmpdir(), 'kv-cost-'));
  const cache = new KvCache(dir, 'checksum-cost', shape, { float16 });
  const keys = Float32Array.from({ length: per }, (_, i) => Math.sin(i));
  const values = Float32Array.from({ length: per }, (_, i) => Math.cos(i));
  const hash = 'f'.repeat(64);
  const write = [];
  const read = [];
  const crc = [];
  for (let r = 0; r < repeats; r++) {
    write.push(ms(() => cache.write(hash, keys, values)));
    read.push(
      ms(() => {
        const e = cache.read(hash);
        if (!e || 'invalid' in e) throw new Error(`entry unusable: ${e?.invalid}`);
      }),
    );
    const file = readFileSync(cache.pathOf(hash));
    const data = file.subarray(8 + Number(file.readBigUInt64LE(0)));
    crc.push(ms(() => zlib.crc32(data)));
  }
  const size = readFileSync(cache.pathOf(hash)).length;
  const c = median(crc);
  console.log(
    `${float16 ? 'float16' : 'float32'}: entry ${(size / 2 ** 20).toFixed(2)} MiB; write ${median(write).toFixed(2)} ms, read+verify ${median(read).toFixed(2)} ms; ` +
      `CRC-32 of the data ${c.toFixed(2)} ms (${(size / 1e9 / (c / 1e3)).toFixed(2)} GB/s) = ${((100 * c) / median(read)).toFixed(1)} % of a read, ${((100 * c) / median(write)).toFixed(1)} % of a write`,
  );
  rmSync(dir, { recursive: true, force: true });
}
