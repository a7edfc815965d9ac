import { bfloat16BitsToFloat32, float16BitsToFloat32 } from './dtypes';

/** The safetensors dtypes this reader accepts. */
export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'I32' | 'I64';

/** A decoded tensor: float types become float32, integer types int32. */
export interface TensorEntry {
  /** The decoded dtype. */
  dtype: 'float32' | 'int32';
  /** Dimensions. */
  shape: number[];
  /** Values, row-major. */
  data: Float32Array | Int32Array;
  /** The dtype stored in the file. */
  sourceDtype: SafetensorsDtype;
}

/** Any problem with a safetensors file; the message names the file and, when relevant, the tensor. */
export class SafetensorsError extends Error {
  /** The file (or buffer label). */
  readonly source: string;
  /** The tensor at fault, if any. */
  readonly tensor?: string;

  /**
   * @param source - the file
   * @param message - what is wrong
   * @param tensor - the tensor at fault
   */
  constructor(source: string, message: string, tensor?: string) {
    super(`safetensors: ${source}: ${tensor !== undefined ? `tensor "${tensor}": ` : ''}${message}`);
    this.name = 'SafetensorsError';
    this.source = source;
    this.tensor = tensor;
  }
}

const ITEM_SIZE: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8 };
/** Header lengths above this are refused before anything is allocated. */
const MAX_HEADER = 100 * 1024 * 1024;

/** A validated header entry: where a tensor's bytes lie in the data section. */
export interface SafetensorsHeaderEntry {
  /** Stored dtype. */
  dtype: SafetensorsDtype;
  /** Dimensions. */
  shape: number[];
  /** First byte in the data section. */
  begin: number;
  /** One past the last byte. */
  end: number;
}

/** A parsed, validated safetensors file; tensors are decoded on first access. */
export class SafetensorsFile {
  private readonly decoded = new Map<string, TensorEntry>();

  /**
   * Use {@link readSafetensors}.
   * @param source - names the file in errors
   * @param metadata - `__metadata__`
   * @param raw - validated header entries
   * @param data - the data section
   */
  constructor(
    readonly source: string,
    readonly metadata: Record<string, string>,
    private readonly raw: Map<string, SafetensorsHeaderEntry>,
    private readonly data: Uint8Array,
  ) {}

  /** Tensor names in header order. */
  names(): string[] {
    return [...this.raw.keys()];
  }

  /** Whether the file holds that tensor. */
  has(name: string): boolean {
    return this.raw.has(name);
  }

  /**
   * A tensor by name.
   * @throws SafetensorsError naming the file and the key, with close names as hints
   */
  get(name: string): TensorEntry {
    const hit = this.decoded.get(name);
    if (hit) return hit;
    const raw = this.raw.get(name);
    if (!raw) {
      const tail = name.split('.').slice(-2).join('.');
      const close = this.names().filter((n) => n.endsWith(tail)).slice(0, 5);
      const hint = close.length ? `; similar: ${close.join(', ')}` : '';
      throw new SafetensorsError(this.source, `no tensor named "${name}"${hint}`);
    }
    const entry = decode(this.source, name, raw, this.data.subarray(raw.begin, raw.end));
    this.decoded.set(name, entry);
    return entry;
  }

  /** Every (name, tensor) pair in header order. */
  *entries(): IterableIterator<[string, TensorEntry]> {
    for (const name of this.raw.keys()) yield [name, this.get(name)];
  }
}

function decode(source: string, name: string, raw: SafetensorsHeaderEntry, bytes: Uint8Array): TensorEntry {
  // Copy into a fresh, aligned buffer: the data section may start at any offset, and a Node Buffer's
  // slice() is a view into a shared pool, not a copy.
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  const buf = copy.buffer;
  const count = raw.shape.reduce((a, b) => a * b, 1);
  const base = { shape: raw.shape, sourceDtype: raw.dtype };
  const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  if (!le) throw new SafetensorsError(source, 'big-endian hosts are not supported', name);
  switch (raw.dtype) {
    case 'F32':
      return { ...base, dtype: 'float32', data: new Float32Array(buf, 0, count) };
    case 'F16':
      return { ...base, dtype: 'float32', data: float16BitsToFloat32(new Uint16Array(buf, 0, count)) };
    case 'BF16':
      return { ...base, dtype: 'float32', data: bfloat16BitsToFloat32(new Uint16Array(buf, 0, count)) };
    case 'I32':
      return { ...base, dtype: 'int32', data: new Int32Array(buf, 0, count) };
    case 'I64': {
      const wide = new BigInt64Array(buf, 0, count);
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const v = wide[i];
        if (v < -2147483648n || v > 2147483647n) {
          throw new SafetensorsError(source, `I64 value ${v} at index ${i} does not fit in int32`, name);
        }
        out[i] = Number(v);
      }
      return { ...base, dtype: 'int32', data: out };
    }
  }
}

/**
 * Parses and validates a safetensors buffer: header length against the buffer size (before
 * anything is decoded), JSON shape, dtypes, shapes, offsets in range, no overlaps, no holes.
 * @param bytes - the whole file
 * @param source - names the file in errors (default `<buffer>`)
 * @throws SafetensorsError saying what was expected and what was found
 */
export function readSafetensors(bytes: Uint8Array, source = '<buffer>'): SafetensorsFile {
  const fail = (msg: string, tensor?: string): never => {
    throw new SafetensorsError(source, msg, tensor);
  };
  if (bytes.length < 8) fail(`file is ${bytes.length} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = view.getBigUint64(0, true);
  const available = BigInt(bytes.length - 8);
  if (n64 === 0n) fail('header length is 0');
  if (n64 > available) fail(`header length ${n64} exceeds the ${available} bytes after the length prefix (truncated or not a safetensors file)`);
  if (n64 > BigInt(MAX_HEADER)) fail(`header length ${n64} exceeds the ${MAX_HEADER}-byte limit`);
  const n = Number(n64);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (err) {
    fail(`header is not valid UTF-8 JSON: ${(err as Error).message}`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) fail('header is not a JSON object');
  const obj = header as Record<string, unknown>;
  const metadata: Record<string, string> = {};
  if ('__metadata__' in obj) {
    const md = obj.__metadata__;
    if (!md || typeof md !== 'object' || Array.isArray(md)) fail('"__metadata__" is not an object');
    for (const [k, v] of Object.entries(md as Record<string, unknown>)) {
      if (typeof v !== 'string') fail(`"__metadata__" value of "${k}" is ${JSON.stringify(v)}, expected a string`);
      metadata[k] = v as string;
    }
  }
  const dataLength = bytes.length - 8 - n;
  const raw = new Map<string, SafetensorsHeaderEntry>();
  for (const [name, value] of Object.entries(obj)) {
    if (name === '__metadata__') continue;
    if (!value || typeof value !== 'object' || Array.isArray(value)) fail('entry is not an object', name);
    const e = value as Record<string, unknown>;
    const dtype = e.dtype as string;
    if (!(typeof dtype === 'string' && dtype in ITEM_SIZE)) {
      fail(`dtype ${JSON.stringify(e.dtype)} is not supported; supported: ${Object.keys(ITEM_SIZE).join(', ')}`, name);
    }
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`, name);
    }
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((o) => Number.isSafeInteger(o) && o >= 0) || off[0] > off[1]) {
      fail(`data_offsets ${JSON.stringify(off)} are not [begin, end] with 0 <= begin <= end`, name);
    }
    const [begin, end] = off as [number, number];
    const expectedBytes = (shape as number[]).reduce((a, b) => a * b, 1) * ITEM_SIZE[dtype as SafetensorsDtype];
    if (end - begin !== expectedBytes) {
      fail(`data_offsets span ${end - begin} bytes, but ${dtype} [${shape}] needs ${expectedBytes}`, name);
    }
    if (end > dataLength) fail(`data_offsets end ${end} is beyond the ${dataLength}-byte data section`, name);
    raw.set(name, { dtype: dtype as SafetensorsDtype, shape: shape as number[], begin, end });
  }
  // The data section must be covered exactly: no overlaps, no holes, no trailing bytes.
  const sorted = [...raw.entries()].sort((a, b) => a[1].begin - b[1].begin || a[1].end - b[1].end);
  let cursor = 0;
  let prev = '';
  for (const [name, e] of sorted) {
    if (e.begin < cursor) fail(`overlaps tensor "${prev}" (bytes ${e.begin}..${e.end} start before ${cursor})`, name);
    if (e.begin > cursor) fail(`leaves a hole: data starts at ${e.begin}, previous tensor ends at ${cursor}`, name);
    cursor = e.end;
    prev = name;
  }
  if (cursor !== dataLength) fail(`tensors cover ${cursor} bytes but the data section holds ${dataLength} (trailing bytes)`);
  return new SafetensorsFile(source, metadata, raw, bytes.subarray(8 + n));
}
