import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bfloat16BitsToFloat32,
  float16BitsToFloat32,
  float32ToFloat16Bits,
  readSafetensors,
  SafetensorsError,
  writeSafetensors,
} from '../src/safetensors/index';
import { atomicWriteFile, readSafetensorsFile, writeSafetensorsFile } from '../src/safetensors/file';

/** A safetensors file from a raw header object and data bytes (for malformed cases). */
function raw(header: unknown, data: Uint8Array = new Uint8Array(0), headerLength?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, headerLength ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const f32 = (values: number[]) => new Uint8Array(new Float32Array(values).buffer);

describe('safetensors round trip', () => {
  it('writes and reads F32, I32, F16 and metadata', () => {
    const bytes = writeSafetensors(
      {
        a: { dtype: 'float32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
        b: { dtype: 'int32', shape: [3], data: [7, -8, 9] },
        empty: { dtype: 'float32', shape: [0, 4], data: [] },
      },
      { metadata: { format: 'pt', note: 'hi' } },
    );
    // The header is padded so that the data section starts 8-byte aligned.
    expect((8 + Number(new DataView(bytes.buffer).getBigUint64(0, true))) % 8).toBe(0);
    const f = readSafetensors(bytes, 'mem');
    expect(f.names()).toEqual(['a', 'b', 'empty']);
    expect(f.metadata).toEqual({ format: 'pt', note: 'hi' });
    expect(f.get('a')).toMatchObject({ dtype: 'float32', shape: [2, 3], sourceDtype: 'F32' });
    expect(Array.from(f.get('a').data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(f.get('b').data)).toEqual([7, -8, 9]);
    expect(f.get('empty').shape).toEqual([0, 4]);
    const half = readSafetensors(writeSafetensors({ h: { dtype: 'float32', shape: [3], data: [0.1, -2.5, 1000] } }, { float16: true }));
    expect(half.get('h').sourceDtype).toBe('F16');
    const h = half.get('h').data;
    expect(h[0]).toBeCloseTo(0.1, 3);
    expect(h[1]).toBe(-2.5);
    expect(h[2]).toBe(1000);
  });

  it('reads the golden fixtures', () => {
    const f = readSafetensorsFile(new URL('../../../test/fixtures/golden/timm-vit-tiny.safetensors', import.meta.url).pathname);
    expect(f.metadata.format).toBe('fpt-parity/1');
    expect(f.get('timm.pos_embed').shape).toEqual([1, 17, 48]);
  });

  it('reads BF16 and I64 (within int32)', () => {
    const bf = new Uint8Array(new Uint16Array([0x3f80, 0xc000]).buffer);
    const i64 = new Uint8Array(new BigInt64Array([5n, -3n]).buffer);
    const f = readSafetensors(raw({ x: { dtype: 'BF16', shape: [2], data_offsets: [0, 4] }, y: { dtype: 'I64', shape: [2], data_offsets: [4, 20] } }, new Uint8Array([...bf, ...i64])));
    expect(Array.from(f.get('x').data)).toEqual([1, -2]);
    expect(f.get('y')).toMatchObject({ dtype: 'int32', sourceDtype: 'I64' });
    expect(Array.from(f.get('y').data)).toEqual([5, -3]);
  });
});

describe('half precision', () => {
  it('decodes known float16 bit patterns', () => {
    expect(Array.from(float16BitsToFloat32(new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0xfc00, 0x0000])))).toEqual([
      1, -2, 65504, 2 ** -24, Infinity, -Infinity, 0,
    ]);
    expect(Number.isNaN(float16BitsToFloat32(new Uint16Array([0x7e00]))[0])).toBe(true);
    expect(Array.from(bfloat16BitsToFloat32(new Uint16Array([0x3f80, 0x4049])))).toEqual([1, 3.140625]);
  });

  it('rounds float32 to the nearest float16, ties to even, overflow to infinity', () => {
    const bits = float32ToFloat16Bits(new Float32Array([1, -2, 65504, 65520, 1 / 3, 2 ** -24, 2 ** -26, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 1e-5]));
    expect(Array.from(bits.slice(0, 8))).toEqual([0x3c00, 0xc000, 0x7bff, 0x7c00, 0x3555, 0x0001, 0x0000, 0x3c00]);
    expect(bits[8]).toBe(0x3c02); // tie rounds to even
    expect(float16BitsToFloat32(bits.slice(9))[0]).toBeCloseTo(1e-5, 7); // subnormal
  });
});

describe('safetensors validation names the file and the tensor', () => {
  const bad = (bytes: Uint8Array, pattern: RegExp | string) => {
    let err: unknown;
    try {
      readSafetensors(bytes, 'bad.safetensors');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SafetensorsError);
    expect((err as Error).message.startsWith('safetensors: bad.safetensors: ')).toBe(true);
    expect((err as Error).message).toMatch(pattern);
  };
  const one = { x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };

  it('rejects a truncated file and impossible header lengths before decoding', () => {
    bad(new Uint8Array(5), 'file is 5 bytes, shorter than the 8-byte header length');
    bad(raw(one, f32([1, 2]), 0n), 'header length is 0');
    bad(raw(one, f32([1, 2]), 2n ** 40n), /header length 1099511627776 exceeds the \d+ bytes after the length prefix/);
    bad(raw(one, f32([1, 2]), 2n ** 64n - 1n), /exceeds/);
    const huge = new Uint8Array(8 + 200 * 1024 * 1024 + 1);
    new DataView(huge.buffer).setBigUint64(0, BigInt(150 * 1024 * 1024), true);
    bad(huge, 'header length 157286400 exceeds the 104857600-byte limit');
  });

  it('rejects bad JSON, a non-object header and bad metadata', () => {
    bad(raw('{"x": '), /header is not valid UTF-8 JSON/);
    bad(raw('[1, 2]'), 'header is not a JSON object');
    bad(raw({ __metadata__: { a: 1 } }), '"__metadata__" value of "a" is 1, expected a string');
    bad(raw({ __metadata__: [] }), '"__metadata__" is not an object');
  });

  it('rejects unsupported dtypes, bad shapes and bad offsets, naming the tensor', () => {
    bad(raw({ w: 3 }), 'tensor "w": entry is not an object');
    bad(raw({ w: { dtype: 'F64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)), /tensor "w": dtype "F64" is not supported; supported: F32, F16, BF16, I32, I64/);
    bad(raw({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4)), 'tensor "w": shape [-1] is not a list of non-negative integers');
    bad(raw({ w: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, new Uint8Array(4)), 'tensor "w": data_offsets [4,0] are not [begin, end] with 0 <= begin <= end');
    bad(raw({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)), 'tensor "w": data_offsets span 8 bytes, but F32 [3] needs 12');
    bad(raw({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, new Uint8Array(4)), 'tensor "w": data_offsets end 8 is beyond the 4-byte data section');
  });

  it('rejects overlaps, holes and trailing bytes', () => {
    bad(
      raw({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)),
      /tensor "b": overlaps tensor "a"/,
    );
    bad(raw({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)), 'tensor "a": leaves a hole: data starts at 4, previous tensor ends at 0');
    bad(raw(one, new Uint8Array(12)), 'tensors cover 8 bytes but the data section holds 12 (trailing bytes)');
  });

  it('rejects I64 values outside int32 and reports missing keys with hints', () => {
    const f = readSafetensors(raw({ big: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(new BigInt64Array([2n ** 40n]).buffer)), 'bad.safetensors');
    expect(() => f.get('big')).toThrow('safetensors: bad.safetensors: tensor "big": I64 value 1099511627776 at index 0 does not fit in int32');
    const g = readSafetensors(writeSafetensors({ 'blocks.0.attn.qkv.weight': { dtype: 'float32', shape: [1], data: [1] } }), 'w.safetensors');
    expect(() => g.get('blocks.1.attn.qkv.weight')).toThrow('safetensors: w.safetensors: no tensor named "blocks.1.attn.qkv.weight"; similar: blocks.0.attn.qkv.weight');
  });

  it('the writer refuses data that does not fit the shape, and reserved names', () => {
    expect(() => writeSafetensors({ w: { dtype: 'float32', shape: [2, 2], data: [1, 2, 3] } })).toThrow('writeSafetensors: tensor "w" has 3 values but shape [2,2] needs 4');
    expect(() => writeSafetensors({ __metadata__: { dtype: 'float32', shape: [1], data: [1] } })).toThrow(/invalid tensor name/);
  });
});

describe('atomic files', () => {
  it('writes a safetensors file and reads it back; failures leave no temp file and keep the target', () => {
    const dir = mkdtempSync(join(tmpdir(), 'st-'));
    const path = join(dir, 'sub', 'w.safetensors');
    writeSafetensorsFile(path, { w: { dtype: 'float32', shape: [2], data: [1, 2] } });
    expect(Array.from(readSafetensorsFile(path).get('w').data)).toEqual([1, 2]);
    const before = readFileSync(path);
    expect(() => writeSafetensorsFile(path, { w: { dtype: 'float32', shape: [3], data: [1, 2] } })).toThrow(/has 2 values/);
    expect(readFileSync(path)).toEqual(before);
    // The parent "folder" is a file: the write fails, nothing is left behind.
    const blocker = join(dir, 'blocker');
    writeFileSync(blocker, 'x');
    expect(() => atomicWriteFile(join(blocker, 'a.txt'), 'data')).toThrow();
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect(readdirSync(join(dir, 'sub'))).toEqual(['w.safetensors']);
    expect(() => readSafetensorsFile(join(dir, 'nope.safetensors'))).toThrow(/safetensors: .*nope.safetensors: cannot read file/);
    expect(existsSync(join(dir, 'nope.safetensors'))).toBe(false);
  });
});
