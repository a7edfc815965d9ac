import { describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bfloat16BitsToFloat32,
  float16BitsToFloat32,
  float32ToFloat16Bits,
  readSafetensors,
  SafetensorsError,
  SafetensorsFile,
  writeSafetensors,
} from '../src/safetensors/index';
import { atomicWriteFile, readSafetensorsFile, writeSafetensorsFile } from '../src/safetensors/file';
import { swapBytesInPlace } from '../src/safetensors/dtypes';

/** A safetensors file built by hand from a header (object or raw JSON text) and data bytes, for malformed cases. */
function raw(header: unknown, data: Uint8Array = new Uint8Array(0), headerLength?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, headerLength ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const bytesOf = (a: Float32Array | Int32Array | Uint16Array | BigInt64Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const f32 = (values: number[]) => bytesOf(new Float32Array(values));
const SOURCE = 'bad.safetensors';

/** The SafetensorsError that reading `bytes` throws; checks the message names the source (and the tensor). */
function readError(bytes: Uint8Array, tensor?: string): SafetensorsError {
  let err: unknown;
  try {
    readSafetensors(bytes, SOURCE);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(SafetensorsError);
  const e = err as SafetensorsError;
  expect(e.message.startsWith(`safetensors: ${SOURCE}: `)).toBe(true);
  expect(e.source).toBe(SOURCE);
  expect(e.tensor).toBe(tensor);
  if (tensor !== undefined) expect(e.message).toContain(`tensor "${tensor}"`);
  return e;
}

describe('safetensors round trip', () => {
  it('writes and reads F32, I32, scalars, empty tensors and metadata', () => {
    const bytes = writeSafetensors(
      {
        a: { dtype: 'float32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, -6.5]) },
        b: { dtype: 'int32', shape: [3], data: [7, -8, 2147483647] },
        s: { dtype: 'float32', shape: [], data: [0.25] },
        empty: { dtype: 'float32', shape: [0, 4], data: [] },
      },
      { metadata: { format: 'pt', note: 'héllo' } },
    );
    // The header is padded with spaces so that the data section starts 8-byte aligned.
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    expect(new TextDecoder().decode(bytes.subarray(8, 8 + n))).toMatch(/} *$/);
    const f = readSafetensors(bytes, 'mem');
    expect(f.source).toBe('mem');
    expect(f.names()).toEqual(['a', 'b', 's', 'empty']);
    expect(f.has('a')).toBe(true);
    expect(f.has('zzz')).toBe(false);
    expect(f.metadata).toEqual({ format: 'pt', note: 'héllo' });
    expect(f.get('a')).toEqual({ dtype: 'float32', shape: [2, 3], sourceDtype: 'F32', data: new Float32Array([1, 2, 3, 4, 5, -6.5]) });
    expect(f.get('b')).toEqual({ dtype: 'int32', shape: [3], sourceDtype: 'I32', data: new Int32Array([7, -8, 2147483647]) });
    expect(f.get('s')).toMatchObject({ shape: [], data: new Float32Array([0.25]) });
    expect(f.get('empty')).toMatchObject({ shape: [0, 4], data: new Float32Array(0) });
    expect([...f.entries()].map(([k, e]) => [k, e.data.length])).toEqual([
      ['a', 6],
      ['b', 3],
      ['s', 1],
      ['empty', 0],
    ]);
  });

  it('leaves out __metadata__ unless given, accepts a Map, keeps insertion order (integer-like names too)', () => {
    const bytes = writeSafetensors(
      new Map([
        ['z', { dtype: 'int32' as const, shape: [1], data: [1] }],
        ['10', { dtype: 'int32' as const, shape: [1], data: [2] }],
        ['a', { dtype: 'int32' as const, shape: [1], data: [3] }],
      ]),
    );
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(text).not.toContain('__metadata__');
    expect(text.indexOf('"z"')).toBeLessThan(text.indexOf('"10"'));
    expect(text.indexOf('"10"')).toBeLessThan(text.indexOf('"a"'));
    const f = readSafetensors(bytes);
    expect(f.metadata).toEqual({});
    expect(Array.from(f.get('z').data)).toEqual([1]);
    expect(Array.from(f.get('10').data)).toEqual([2]);
    expect(Array.from(f.get('a').data)).toEqual([3]);
  });

  it('writes the reference layout byte for byte', () => {
    // What Python's `safetensors` writes for {"a": float32 [1, 2]} with metadata {"k": "v"}.
    const header = '{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    const padded = header + ' '.repeat(Math.ceil(header.length / 8) * 8 - header.length);
    const expected = raw(padded, f32([1, 2]));
    expect(writeSafetensors({ a: { dtype: 'float32', shape: [2], data: [1, 2] } }, { metadata: { k: 'v' } })).toEqual(expected);
  });

  it('writes float32 as F16 on request, within half precision', () => {
    const values = [0.1, -2.5, 1000, 1 / 3, 65504, 1e-6, 1e6];
    const f = readSafetensors(
      writeSafetensors(
        { h: { dtype: 'float32', shape: [7], data: values }, i: { dtype: 'int32', shape: [1], data: [5] } },
        { float16: true },
      ),
    );
    expect(f.get('h')).toMatchObject({ dtype: 'float32', sourceDtype: 'F16' });
    expect(f.get('i').sourceDtype).toBe('I32'); // only float tensors are narrowed
    const h = f.get('h').data;
    for (let i = 0; i < 5; i++) expect(Math.abs(h[i]! - values[i]!)).toBeLessThanOrEqual(Math.abs(values[i]!) * 2 ** -11);
    expect(Math.abs(h[5]! - 1e-6)).toBeLessThanOrEqual(2 ** -25); // a subnormal in half precision: absolute spacing 2^-24
    expect(h[6]).toBe(Infinity); // overflow
  });

  it('reads BF16 and I64 within int32, from an unaligned buffer, without sharing memory with it', () => {
    const data = new Uint8Array([...bytesOf(new Uint16Array([0x3f80, 0xc000])), ...bytesOf(new BigInt64Array([5n, -3n, -2147483648n]))]);
    const file = raw(
      { x: { dtype: 'BF16', shape: [2], data_offsets: [0, 4] }, y: { dtype: 'I64', shape: [3], data_offsets: [4, 28] } },
      data,
    );
    // Shift everything by one byte so that no typed-array view of the input could be aligned.
    const shifted = new Uint8Array(file.length + 1);
    shifted.set(file, 1);
    const input = shifted.subarray(1);
    const f = readSafetensors(input);
    expect(f.get('x')).toEqual({ dtype: 'float32', shape: [2], sourceDtype: 'BF16', data: new Float32Array([1, -2]) });
    expect(f.get('y')).toEqual({ dtype: 'int32', shape: [3], sourceDtype: 'I64', data: new Int32Array([5, -3, -2147483648]) });
    input.fill(0xff);
    expect(Array.from(f.get('x').data)).toEqual([1, -2]);
  });

  it('get returns the same values every time, even after a caller changes a result', () => {
    const f = readSafetensors(writeSafetensors({ w: { dtype: 'float32', shape: [2], data: [1, 2] } }));
    const first = f.get('w');
    first.data[0] = 99;
    first.shape.push(7);
    expect(f.get('w')).toMatchObject({ shape: [2], data: new Float32Array([1, 2]) });
    expect(() => {
      (f.metadata as Record<string, string>).x = 'y';
    }).toThrow();
  });

  it('builds an in-memory file from decoded tensors', () => {
    const f = new SafetensorsFile(
      'mem',
      { a: 'b' },
      new Map([['t', { dtype: 'int32', shape: [1], data: new Int32Array([4]), sourceDtype: 'I32' }]]),
    );
    expect(f.names()).toEqual(['t']);
    expect(f.get('t').data).toEqual(new Int32Array([4]));
  });
});

describe('half precision', () => {
  it('decodes known float16 and bfloat16 bit patterns', () => {
    const h = float16BitsToFloat32(
      new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0xfc00, 0x0000, 0x8000, 0x03ff, 0x0400, 0x3555]),
    );
    expect(Array.from(h)).toEqual([1, -2, 65504, 2 ** -24, Infinity, -Infinity, 0, -0, 1023 * 2 ** -24, 2 ** -14, 0.333251953125]);
    expect(Object.is(h[7], -0)).toBe(true);
    expect(Number.isNaN(float16BitsToFloat32(new Uint16Array([0x7e00]))[0])).toBe(true);
    expect(Array.from(bfloat16BitsToFloat32(new Uint16Array([0x3f80, 0xc000, 0x4049, 0x7f80, 0xff80, 0x0000])))).toEqual([
      1,
      -2,
      3.140625,
      Infinity,
      -Infinity,
      0,
    ]);
    expect(Number.isNaN(bfloat16BitsToFloat32(new Uint16Array([0x7fc0]))[0])).toBe(true);
  });

  it('rounds float32 to the nearest float16, ties to even, overflow to infinity, subnormals and NaN', () => {
    const cases: [number, number][] = [
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff],
      [65519, 0x7bff], // just below the rounding boundary
      [65520, 0x7c00], // halfway to 2^16: ties to even, which is infinity
      [-1e9, 0xfc00],
      [Infinity, 0x7c00],
      [1 / 3, 0x3555],
      [2 ** -24, 0x0001],
      [2 ** -25, 0x0000], // tie between 0 and the smallest subnormal: even is 0
      [1.5 * 2 ** -25, 0x0001],
      [3 * 2 ** -25, 0x0002], // tie between subnormals 1 and 2: even is 2
      [2 ** -26, 0x0000],
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -14 * (1 - 2 ** -12), 0x0400], // rounds up from the largest subnormal into the normals
      [1 + 2 ** -11, 0x3c00], // tie: even is 1
      [1 + 3 * 2 ** -11, 0x3c02], // tie: even is up
      [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above a tie
      [-0, 0x8000],
      [1e-45, 0x0000], // a float32 subnormal
    ];
    const bits = float32ToFloat16Bits(new Float32Array(cases.map(([x]) => x)));
    expect(Array.from(bits).map((b) => b.toString(16))).toEqual(cases.map(([, b]) => b.toString(16)));
    const [nan = 0] = float32ToFloat16Bits(new Float32Array([NaN]));
    expect((nan & 0x7c00) === 0x7c00 && (nan & 0x3ff) !== 0).toBe(true);
    // Every finite half value survives float16 -> float32 -> float16.
    const all = new Uint16Array(65536).map((_, i) => i);
    const finite = all.filter((b) => (b & 0x7c00) !== 0x7c00);
    expect(float32ToFloat16Bits(float16BitsToFloat32(finite))).toEqual(finite);
  });

  it('works on a subarray view', () => {
    const x = new Float32Array([0, 1, -2]).subarray(1);
    expect(Array.from(float32ToFloat16Bits(x))).toEqual([0x3c00, 0xc000]);
  });

  it('swaps byte order in place', () => {
    const b = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    swapBytesInPlace(b, 4);
    expect(Array.from(b)).toEqual([4, 3, 2, 1, 8, 7, 6, 5]);
    swapBytesInPlace(b, 2);
    expect(Array.from(b)).toEqual([3, 4, 1, 2, 7, 8, 5, 6]);
  });
});

describe('safetensors validation names the source and the tensor', () => {
  const one = { x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };

  it('rejects a file shorter than the length prefix', () => {
    expect(readError(new Uint8Array(5)).message).toContain('file is 5 bytes, shorter than the 8-byte header length prefix');
    expect(readError(new Uint8Array(0)).message).toContain('file is 0 bytes');
  });

  it('rejects a zero header length', () => {
    expect(readError(raw(one, f32([1, 2]), 0n)).message).toContain('header length is 0');
  });

  it('rejects a header length beyond the file, compared as a 64-bit integer', () => {
    expect(readError(raw(one, f32([1, 2]), 2n ** 40n)).message).toMatch(
      /header length is 1099511627776 bytes, but only \d+ bytes follow the 8-byte prefix/,
    );
    expect(readError(raw(one, f32([1, 2]), 2n ** 64n - 1n)).message).toContain('header length is 18446744073709551615 bytes, but only');
    // One byte too long: the header's last byte would be past the end of the file.
    const file = raw(one, new Uint8Array(0));
    const n = BigInt(file.length - 8);
    expect(readError(raw(one, new Uint8Array(0), n + 1n)).message).toContain(
      `header length is ${n + 1n} bytes, but only ${n} bytes follow`,
    );
  });

  it('rejects a header length over 100 MB before decoding anything', () => {
    // Zeros are not JSON: an attempt to decode them would fail differently. The allocation is
    // lazily zeroed by the OS, so it costs little.
    const huge = new Uint8Array(8 + 100_000_016);
    new DataView(huge.buffer).setBigUint64(0, 100_000_001n, true);
    expect(readError(huge).message).toContain('header length is 100000001 bytes, over the 100000000-byte limit');
  });

  it('rejects a header that is not UTF-8 JSON', () => {
    expect(readError(raw('{"x": ')).message).toContain('header (6 bytes) is not valid UTF-8 JSON');
    const invalidUtf8 = raw('{"x":1}');
    invalidUtf8[10] = 0xff;
    expect(readError(invalidUtf8).message).toContain('is not valid UTF-8 JSON');
  });

  it('rejects a header that is not a JSON object', () => {
    expect(readError(raw('[1, 2]')).message).toContain('header is an array, expected a JSON object');
    expect(readError(raw('null')).message).toContain('header is null, expected a JSON object');
    expect(readError(raw('42')).message).toContain('header is number 42, expected a JSON object');
  });

  it('rejects __metadata__ that is not an object of strings', () => {
    expect(readError(raw({ __metadata__: { a: 'ok', b: 1 } })).message).toContain(
      '"__metadata__" value of "b" is number 1, expected a string',
    );
    expect(readError(raw({ __metadata__: [] })).message).toContain('"__metadata__" is an array, expected an object of strings');
    expect(readError(raw({ __metadata__: 'x' })).message).toContain('"__metadata__" is string "x", expected an object of strings');
  });

  it('rejects an entry that is not an object', () => {
    expect(readError(raw({ w: 3 }), 'w').message).toContain(
      'tensor "w": entry is number 3, expected an object {dtype, shape, data_offsets}',
    );
    expect(readError(raw({ w: [1] }), 'w').message).toContain('entry is an array');
  });

  it('rejects unsupported and unknown dtypes, saying which are supported', () => {
    const with8 = (dtype: unknown) => raw({ w: { dtype, shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8));
    expect(readError(with8('F64'), 'w').message).toContain('tensor "w": dtype "F64" is not supported; supported: F32, F16, BF16, I32, I64');
    expect(readError(with8('U8'), 'w').message).toContain('dtype "U8" is not supported; supported: F32, F16, BF16, I32, I64');
    expect(readError(with8('BOOL'), 'w').message).toContain('dtype "BOOL" is not supported');
    expect(readError(with8('FLOAT'), 'w').message).toContain(
      'dtype "FLOAT" is not a safetensors dtype; supported: F32, F16, BF16, I32, I64',
    );
    expect(readError(with8('toString'), 'w').message).toContain('dtype "toString" is not a safetensors dtype');
    expect(readError(with8(4), 'w').message).toContain('dtype is number 4; supported:');
    expect(readError(raw({ w: { shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)), 'w').message).toContain(
      'dtype is missing; supported:',
    );
  });

  it('rejects a shape that is not an array of non-negative integers', () => {
    const shape = (s: unknown) => raw({ w: { dtype: 'F32', shape: s, data_offsets: [0, 4] } }, new Uint8Array(4));
    expect(readError(shape([-1]), 'w').message).toContain('tensor "w": shape is [-1], expected an array of non-negative integers');
    expect(readError(shape([1.5]), 'w').message).toContain('shape is [1.5]');
    expect(readError(shape(['1']), 'w').message).toContain('shape is ["1"]');
    expect(readError(shape(4), 'w').message).toContain('shape is 4');
    expect(readError(shape([2 ** 53]), 'w').message).toContain('shape is [9007199254740992]');
  });

  it('rejects data_offsets that are not [begin, end] with 0 <= begin <= end', () => {
    const offsets = (o: unknown) => raw({ w: { dtype: 'F32', shape: [1], data_offsets: o } }, new Uint8Array(4));
    const expected = 'expected [begin, end] with integers 0 <= begin <= end';
    expect(readError(offsets([4, 0]), 'w').message).toContain(`tensor "w": data_offsets is [4,0], ${expected}`);
    expect(readError(offsets([-4, 0]), 'w').message).toContain('data_offsets is [-4,0]');
    expect(readError(offsets([0, 4, 8]), 'w').message).toContain('data_offsets is [0,4,8]');
    expect(readError(offsets([0, 4.5]), 'w').message).toContain('data_offsets is [0,4.5]');
    expect(readError(offsets(undefined), 'w').message).toContain(`data_offsets is missing, ${expected}`);
  });

  it('rejects data_offsets whose span does not match the dtype and shape', () => {
    const file = raw({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8));
    expect(readError(file, 'w').message).toContain('tensor "w": data_offsets [0, 8] span 8 bytes, expected 12 for F32 [3] (3 x 4 bytes)');
    const half = raw({ w: { dtype: 'F16', shape: [2, 2], data_offsets: [0, 16] } }, new Uint8Array(16));
    expect(readError(half, 'w').message).toContain('span 16 bytes, expected 8 for F16 [2,2]');
  });

  it('rejects data_offsets beyond the data section', () => {
    const file = raw({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, new Uint8Array(4));
    expect(readError(file, 'w').message).toContain('tensor "w": data_offsets [0, 8] end beyond the data section, which holds 4 bytes');
  });

  it('rejects overlapping tensors, naming both', () => {
    const file = raw(
      { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } },
      new Uint8Array(8),
    );
    expect(readError(file, 'b').message).toContain('tensor "b": data_offsets [4, 8] overlap tensor "a" at [0, 8]');
    // Header order does not matter: the tensors are checked in offset order.
    const same = raw(
      { b: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } },
      new Uint8Array(4),
    );
    expect(readError(same, 'a').message).toContain('overlap tensor "b" at [0, 4]');
  });

  it('rejects holes and trailing bytes, saying the expected and found data size', () => {
    const hole = raw(
      { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } },
      new Uint8Array(12),
    );
    expect(readError(hole, 'b').message).toContain(
      'tensor "b": data_offsets [8, 12] leave a hole: data bytes [4, 8) belong to no tensor (the tensors total 8 bytes, the data section holds 12)',
    );
    const leading = raw({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8));
    expect(readError(leading, 'a').message).toContain('data bytes [0, 4) belong to no tensor');
    expect(readError(raw(one, new Uint8Array(12))).message).toContain(
      '4 trailing bytes after the last tensor: expected a data section of 8 bytes, found 12',
    );
    expect(readError(raw({}, new Uint8Array(3))).message).toContain(
      '3 trailing bytes after the last tensor: expected a data section of 0 bytes, found 3',
    );
  });

  it('accepts empty tensors sharing an offset and an empty file', () => {
    const f = readSafetensors(
      raw(
        {
          e: { dtype: 'F32', shape: [0], data_offsets: [4, 4] },
          a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
          z: { dtype: 'I64', shape: [2, 0], data_offsets: [4, 4] },
        },
        f32([3]),
      ),
    );
    expect(f.names()).toEqual(['e', 'a', 'z']);
    expect(f.get('z')).toMatchObject({ shape: [2, 0], data: new Int32Array(0) });
    expect(readSafetensors(raw({})).names()).toEqual([]);
    expect(readSafetensors(writeSafetensors({})).names()).toEqual([]);
  });

  it('rejects I64 values outside int32, naming the tensor and the value', () => {
    const big = (v: bigint) =>
      raw(
        { ok: { dtype: 'I64', shape: [1], data_offsets: [0, 8] }, big: { dtype: 'I64', shape: [2], data_offsets: [8, 24] } },
        bytesOf(new BigInt64Array([1n, 0n, v])),
      );
    expect(readError(big(2n ** 40n), 'big').message).toContain(
      'tensor "big": I64 value 1099511627776 at index 1 is outside the int32 range [-2147483648, 2147483647]',
    );
    expect(readError(big(2147483648n), 'big').message).toContain('I64 value 2147483648 at index 1');
    expect(readError(big(-2147483649n), 'big').message).toContain('I64 value -2147483649 at index 1');
  });

  it('reports a missing key with the source and similar names', () => {
    const names = ['blocks.0.attn.qkv.weight', 'blocks.0.attn.qkv.bias', 'blocks.1.attn.proj.weight', 'head.weight', 'pos_embed'];
    const f = readSafetensors(
      writeSafetensors(Object.fromEntries(names.map((n) => [n, { dtype: 'float32' as const, shape: [1], data: [1] }]))),
      'w.safetensors',
    );
    let err: unknown;
    try {
      f.get('blocks.1.attn.qkv.weight');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SafetensorsError);
    expect((err as SafetensorsError).tensor).toBe('blocks.1.attn.qkv.weight');
    // Best match first (three shared trailing parts), then the other names ending in "weight".
    expect((err as Error).message).toBe(
      'safetensors: w.safetensors: tensor "blocks.1.attn.qkv.weight": not found among the file\'s 5 tensors; ' +
        'similar names: "blocks.0.attn.qkv.weight", "blocks.1.attn.proj.weight", "head.weight"',
    );
    expect(() => f.get('cls_token')).toThrow(/^safetensors: w\.safetensors: tensor "cls_token": not found among the file's 5 tensors$/);
    expect(() => f.get('model.pos_embed')).toThrow(/similar names: "pos_embed"$/);
  });
});

describe('writeSafetensors validation', () => {
  it('refuses data that does not fit the shape, naming the tensor', () => {
    expect(() => writeSafetensors({ w: { dtype: 'float32', shape: [2, 2], data: [1, 2, 3] } })).toThrow(
      'writeSafetensors: tensor "w": data has 3 values, expected 4 for shape [2,2]',
    );
    expect(() => writeSafetensors({ w: { dtype: 'float32', shape: [-1], data: [] } })).toThrow(
      'writeSafetensors: tensor "w": shape is [-1], expected an array of non-negative integers',
    );
  });

  it('refuses empty and reserved names', () => {
    expect(() => writeSafetensors({ __metadata__: { dtype: 'float32', shape: [1], data: [1] } })).toThrow(
      'writeSafetensors: invalid tensor name "__metadata__"',
    );
    expect(() => writeSafetensors({ '': { dtype: 'float32', shape: [1], data: [1] } })).toThrow('writeSafetensors: invalid tensor name ""');
  });

  it('refuses int32 values that are not int32 and non-string metadata', () => {
    expect(() => writeSafetensors({ i: { dtype: 'int32', shape: [2], data: [1, 1.5] } })).toThrow(
      'writeSafetensors: tensor "i": value 1.5 at index 1 is not an int32',
    );
    expect(() => writeSafetensors({ i: { dtype: 'int32', shape: [1], data: [2 ** 31] } })).toThrow(
      'value 2147483648 at index 0 is not an int32',
    );
    expect(() => writeSafetensors({}, { metadata: { n: 1 as unknown as string } })).toThrow(
      'writeSafetensors: metadata value of "n" is number, expected a string',
    );
  });
});

describe('safetensors files', () => {
  const tmp = () => mkdtempSync(join(tmpdir(), 'fpt-safetensors-'));
  const tmpFiles = (dir: string) => readdirSync(dir).filter((n) => n.endsWith('.tmp'));

  it('writes atomically into new folders and reads back', () => {
    const dir = tmp();
    const path = join(dir, 'a', 'b', 'w.safetensors');
    writeSafetensorsFile(
      path,
      { w: { dtype: 'float32', shape: [2], data: [1, 2] }, i: { dtype: 'int32', shape: [1], data: [3] } },
      { metadata: { k: 'v' }, float16: true },
    );
    const f = readSafetensorsFile(path);
    expect(f.source).toBe(path);
    expect(f.metadata).toEqual({ k: 'v' });
    expect(f.get('w')).toMatchObject({ sourceDtype: 'F16', data: new Float32Array([1, 2]) });
    expect(readdirSync(join(dir, 'a', 'b'))).toEqual(['w.safetensors']);
    // Overwrite in place.
    writeSafetensorsFile(path, { w: { dtype: 'float32', shape: [1], data: [5] } });
    expect(readSafetensorsFile(path).get('w').data).toEqual(new Float32Array([5]));
    atomicWriteFile(join(dir, 'note.txt'), 'héllo');
    expect(readFileSync(join(dir, 'note.txt'), 'utf8')).toBe('héllo');
    atomicWriteFile(join(dir, 'empty.bin'), new Uint8Array(0));
    expect(readFileSync(join(dir, 'empty.bin')).length).toBe(0);
    expect(tmpFiles(dir)).toEqual([]);
  });

  it('names the path when a file is missing or invalid', () => {
    const dir = tmp();
    const missing = join(dir, 'nope.safetensors');
    expect(() => readSafetensorsFile(missing)).toThrow(SafetensorsError);
    expect(() => readSafetensorsFile(missing)).toThrow(`safetensors: ${missing}: cannot read file: ENOENT`);
    const bad = join(dir, 'bad.safetensors');
    writeFileSync(bad, 'abc');
    expect(() => readSafetensorsFile(bad)).toThrow(`safetensors: ${bad}: file is 3 bytes`);
  });

  it('leaves the target and no temp file behind when serialisation fails', () => {
    const dir = tmp();
    const path = join(dir, 'w.safetensors');
    writeSafetensorsFile(path, { w: { dtype: 'float32', shape: [2], data: [1, 2] } });
    const before = readFileSync(path);
    expect(() => writeSafetensorsFile(path, { w: { dtype: 'float32', shape: [3], data: [1, 2] } })).toThrow(
      /tensor "w": data has 2 values/,
    );
    expect(readFileSync(path)).toEqual(before);
    expect(readdirSync(dir)).toEqual(['w.safetensors']);
  });

  it('fails cleanly when the parent folder is a file', () => {
    const dir = tmp();
    const blocker = join(dir, 'blocker');
    writeFileSync(blocker, 'x');
    expect(() => atomicWriteFile(join(blocker, 'a.txt'), 'data')).toThrow(/EEXIST|ENOTDIR/);
    expect(() => writeSafetensorsFile(join(blocker, 'sub', 'w.safetensors'), {})).toThrow(/EEXIST|ENOTDIR/);
    expect(readdirSync(dir)).toEqual(['blocker']);
    expect(readFileSync(blocker, 'utf8')).toBe('x');
  });

  it('removes the temp file when the final rename fails', () => {
    // The target is a non-empty folder: the temp file is written, then the rename over it fails.
    const dir = tmp();
    const target = join(dir, 'target');
    mkdirSync(target);
    writeFileSync(join(target, 'keep'), 'k');
    expect(() => writeSafetensorsFile(target, { w: { dtype: 'float32', shape: [1], data: [1] } })).toThrow(/EISDIR|ENOTEMPTY|EEXIST|EPERM/);
    expect(readdirSync(dir)).toEqual(['target']);
    expect(readdirSync(target)).toEqual(['keep']);
  });
});
