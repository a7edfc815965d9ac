import { bfloat16BitsToFloat32, float16BitsToFloat32, HOST_IS_LITTLE_ENDIAN, swapBytesInPlace } from './dtypes';

/** The safetensors dtypes this reader accepts. */
export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'I32' | 'I64';

/** A decoded tensor: float dtypes become float32, integer dtypes int32 (the dtypes tfjs has). */
export interface TensorEntry {
  /** The decoded dtype. */
  dtype: 'float32' | 'int32';
  /** Dimensions; `[]` for a scalar. */
  shape: number[];
  /** Values, row-major; `Float32Array` for `float32`, `Int32Array` for `int32`. */
  data: Float32Array | Int32Array;
  /** The dtype stored in the file. */
  sourceDtype: SafetensorsDtype;
}

/**
 * Any problem with safetensors data. The message starts with `safetensors: <source>: ` and, when
 * one tensor is at fault, goes on with `tensor "<name>": `, then says what was expected and what
 * was found.
 */
export class SafetensorsError extends Error {
  /** The file path, or the label given to {@link readSafetensors}. */
  readonly source: string;
  /** The tensor at fault, if one is. */
  readonly tensor?: string;

  /**
   * @param source - the file path or buffer label
   * @param message - what is wrong: expected and found
   * @param tensor - the tensor at fault, if one is
   */
  constructor(source: string, message: string, tensor?: string) {
    super(`safetensors: ${source}: ${tensor !== undefined ? `tensor "${tensor}": ` : ''}${message}`);
    this.name = 'SafetensorsError';
    this.source = source;
    this.tensor = tensor;
  }
}

const ITEM_SIZE: Readonly<Record<SafetensorsDtype, number>> = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8 };
const SUPPORTED = Object.keys(ITEM_SIZE).join(', ');
/** Dtypes the format defines but tfjs cannot hold: told apart from typos in error messages. */
const UNSUPPORTED = new Set([
  'BOOL',
  'U8',
  'I8',
  'U16',
  'I16',
  'U32',
  'U64',
  'F64',
  'C64',
  'F8_E4M3',
  'F8_E5M2',
  'F8_E8M0',
  'F6_E2M3',
  'F6_E3M2',
  'F4',
]);
/** The reference implementation's limit; also bounds what a corrupt length can make us decode. */
const MAX_HEADER_BYTES = 100_000_000;

/** A parsed, validated, decoded safetensors file. */
export class SafetensorsFile {
  /** The file path, or the label given to {@link readSafetensors}; errors name it. */
  readonly source: string;
  /** The header's `__metadata__` (empty when absent); frozen. */
  readonly metadata: Record<string, string>;
  private readonly tensors: Map<string, TensorEntry>;

  /**
   * Usually made by {@link readSafetensors}; also builds an in-memory file from decoded tensors.
   * @param source - names the file in errors
   * @param metadata - string metadata
   * @param tensors - decoded tensors by name, in header order
   */
  constructor(source: string, metadata: Record<string, string>, tensors: Map<string, TensorEntry>) {
    this.source = source;
    this.metadata = Object.freeze({ ...metadata });
    this.tensors = new Map(tensors);
  }

  /**
   * Tensor names in header order (as JavaScript orders object keys: integer-like names such as
   * `"0"` come first).
   * @returns a new array
   */
  names(): string[] {
    return [...this.tensors.keys()];
  }

  /**
   * Whether the file holds a tensor.
   * @param name - the tensor name
   */
  has(name: string): boolean {
    return this.tensors.has(name);
  }

  /**
   * A tensor by name. Each call returns a fresh copy that the caller owns, so changing one result
   * never changes what later calls return.
   * @param name - the tensor name
   * @throws SafetensorsError naming the source and the missing name, with up to 5 similar names
   */
  get(name: string): TensorEntry {
    const t = this.tensors.get(name);
    if (!t) {
      const close = similarNames(name, this.names());
      const hint = close.length ? `; similar names: ${close.map((n) => `"${n}"`).join(', ')}` : '';
      throw new SafetensorsError(this.source, `not found among the file's ${this.tensors.size} tensors${hint}`, name);
    }
    return { dtype: t.dtype, shape: [...t.shape], data: t.data.slice(), sourceDtype: t.sourceDtype };
  }

  /**
   * Every tensor with its name, in header order, as {@link get} returns them.
   * @returns an iterator of `[name, tensor]` pairs
   */
  *entries(): IterableIterator<[string, TensorEntry]> {
    for (const name of this.tensors.keys()) yield [name, this.get(name)];
  }
}

/**
 * Names sharing the longest run of trailing dot-separated parts with `key` (at least the last part),
 * best first: a wrong prefix (`model.`) or block index (`blocks.1.` vs `blocks.0.`) keeps the suffix.
 */
function similarNames(key: string, names: string[], max = 5): string[] {
  const want = key.split('.').reverse();
  const shared = (name: string): number => {
    const parts = name.split('.').reverse();
    let k = 0;
    while (k < parts.length && k < want.length && parts[k] === want[k]) k++;
    return k;
  };
  return names
    .map((name, order) => ({ name, order, score: shared(name) }))
    .filter((c) => c.score > 0)
    .sort((a, b) => b.score - a.score || a.order - b.order)
    .slice(0, max)
    .map((c) => c.name);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

/** A JSON value's kind, for "expected X, found Y" messages. */
function kindOf(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

/** A JSON value as found, for "X is Y, expected Z" messages. */
function show(v: unknown): string {
  return v === undefined ? 'missing' : JSON.stringify(v);
}

/** Where one tensor's bytes lie in the data section, once its header entry is validated. */
interface Layout {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Parses, validates and decodes a safetensors buffer. Validation is strict, like the reference
 * implementation: the header length is checked against the buffer (and a 100 MB limit) before
 * anything is decoded; the header must be a JSON object without duplicate keys whose
 * `__metadata__`, if present, maps strings to strings; every tensor needs a non-empty name, a
 * supported dtype, a shape of non-negative integers and `data_offsets` spanning exactly its size
 * inside the data section; and the tensors must cover the data section exactly, without overlaps,
 * holes or trailing bytes. I64 values must fit in int32. The result does not share memory with
 * `bytes`.
 * @param bytes - the whole file
 * @param source - names the file in errors (default `<buffer>`)
 * @returns the decoded file
 * @throws SafetensorsError naming the source (and the tensor at fault), saying what was expected and what was found
 */
export function readSafetensors(bytes: Uint8Array, source = '<buffer>'): SafetensorsFile {
  return readSafetensorsFrom(source, bytes.length, (offset, length) => ({ bytes: bytes.subarray(offset, offset + length), owned: false }));
}

/**
 * Reads `length` bytes at `offset` of a safetensors source. `owned` says the result is a fresh
 * buffer starting at offset 0 of its own `ArrayBuffer`, which the decoder may keep without copying.
 * @internal
 */
export type ReadAt = (offset: number, length: number) => { bytes: Uint8Array; owned: boolean };

/**
 * {@link readSafetensors} over any random-access source of `totalLength` bytes: the 8-byte prefix
 * is read and checked first, then the header, then one tensor at a time, so that a file is never
 * held whole in memory and a corrupt length never makes it allocate more than the file holds.
 * @internal
 */
export function readSafetensorsFrom(source: string, totalLength: number, readAt: ReadAt): SafetensorsFile {
  const error = (message: string, tensor?: string) => new SafetensorsError(source, message, tensor);

  if (totalLength < 8) throw error(`file is ${totalLength} bytes, shorter than the 8-byte header length prefix`);
  // Compare as bigint: a corrupt u64 need not fit a double, and nothing may be sliced, decoded or
  // allocated from it until it is known to be sane.
  const prefix = readAt(0, 8).bytes;
  const headerLength = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  const remaining = BigInt(totalLength - 8);
  if (headerLength === 0n) throw error('header length is 0, expected at least 2 (the JSON object "{}")');
  if (headerLength > remaining) {
    throw error(
      `header length is ${headerLength} bytes, but only ${remaining} bytes follow the 8-byte prefix (truncated, or not a safetensors file)`,
    );
  }
  if (headerLength > BigInt(MAX_HEADER_BYTES))
    throw error(`header length is ${headerLength} bytes, over the ${MAX_HEADER_BYTES}-byte limit`);
  const n = Number(headerLength);

  let header: unknown;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(readAt(8, n).bytes);
    header = JSON.parse(text);
  } catch (err) {
    throw error(`header (${n} bytes) is not valid UTF-8 JSON: ${(err as Error).message}`);
  }
  if (!isObject(header)) throw error(`header is ${kindOf(header)}, expected a JSON object`);
  // JSON.parse silently keeps the last of two equal keys: a file whose header names a tensor twice
  // would have two readings, so it is refused, as the reference implementation does.
  const duplicate = firstDuplicateKey(text);
  if (duplicate)
    throw error(
      `header repeats the key ${JSON.stringify(duplicate.key)}${duplicate.path ? ` inside ${duplicate.path}` : ''}; every key must appear once`,
    );

  const md = Object.hasOwn(header, '__metadata__') ? header.__metadata__ : {};
  if (!isObject(md)) throw error(`"__metadata__" is ${kindOf(md)}, expected an object of strings`);
  for (const [k, v] of Object.entries(md)) {
    if (typeof v !== 'string') throw error(`"__metadata__" value of "${k}" is ${kindOf(v)}, expected a string`);
  }
  const metadata = md as Record<string, string>;

  const dataStart = 8 + n;
  const dataLength = totalLength - dataStart;
  const layout: Layout[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (name === '') throw error('a tensor has the empty name "", expected a non-empty name');
    if (!isObject(entry)) throw error(`entry is ${kindOf(entry)}, expected an object {dtype, shape, data_offsets}`, name);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== 'string' || !Object.hasOwn(ITEM_SIZE, dtype)) {
      let found = `dtype "${dtype}" is not a safetensors dtype`;
      if (typeof dtype !== 'string') found = `dtype is ${kindOf(dtype)}`;
      else if (UNSUPPORTED.has(dtype)) found = `dtype "${dtype}" is not supported`;
      throw error(`${found}; supported: ${SUPPORTED}`, name);
    }
    const itemSize = ITEM_SIZE[dtype as SafetensorsDtype];
    if (!Array.isArray(shape) || !shape.every(isCount))
      throw error(`shape is ${show(shape)}, expected an array of non-negative integers`, name);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0]! > offsets[1]!) {
      throw error(`data_offsets is ${show(offsets)}, expected [begin, end] with integers 0 <= begin <= end`, name);
    }
    const [begin, end] = offsets as [number, number];
    const count = shape.reduce((a: number, b: number) => a * b, 1);
    if (end - begin !== count * itemSize) {
      throw error(
        `data_offsets [${begin}, ${end}] span ${end - begin} bytes, expected ${count * itemSize} for ${dtype} [${shape}] (${count} x ${itemSize} bytes)`,
        name,
      );
    }
    if (end > dataLength) throw error(`data_offsets [${begin}, ${end}] end beyond the data section, which holds ${dataLength} bytes`, name);
    layout.push({ name, dtype: dtype as SafetensorsDtype, shape, begin, end });
  }

  // The spec asks for a data section "entirely indexed, no holes": walking the tensors in offset
  // order, each must start exactly where the previous one ended, and the last must end the file.
  const total = layout.reduce((s, t) => s + t.end - t.begin, 0);
  const sizes = `the tensors total ${total} bytes, the data section holds ${dataLength}`;
  let prev: Layout | undefined;
  for (const t of [...layout].sort((a, b) => a.begin - b.begin || a.end - b.end)) {
    const cursor = prev?.end ?? 0;
    if (prev && t.begin < cursor)
      throw error(`data_offsets [${t.begin}, ${t.end}] overlap tensor "${prev.name}" at [${prev.begin}, ${prev.end}]`, t.name);
    if (t.begin > cursor)
      throw error(
        `data_offsets [${t.begin}, ${t.end}] leave a hole: data bytes [${cursor}, ${t.begin}) belong to no tensor (${sizes})`,
        t.name,
      );
    prev = t;
  }
  const covered = prev?.end ?? 0;
  if (covered !== dataLength)
    throw error(
      `${dataLength - covered} trailing bytes after the last tensor: expected a data section of ${total} bytes, found ${dataLength}`,
    );

  const tensors = new Map<string, TensorEntry>();
  for (const t of layout) {
    let chunk: { bytes: Uint8Array; owned: boolean };
    try {
      chunk = readAt(dataStart + t.begin, t.end - t.begin);
    } catch (err) {
      if (err instanceof SafetensorsError) throw err;
      throw error(`cannot read its ${t.end - t.begin} bytes: ${(err as Error).message}`, t.name);
    }
    tensors.set(t.name, decode(chunk.bytes, chunk.owned, t, error));
  }
  return new SafetensorsFile(source, metadata, tensors);
}

/**
 * The first key that appears twice in one object of a JSON text (already known to be valid JSON),
 * with the path of that object (empty at the top level). A small scanner: JSON.parse cannot tell.
 */
function firstDuplicateKey(text: string): { key: string; path: string } | undefined {
  // One frame per open object or array: the keys seen so far (objects only), the object's own key
  // in its parent, and whether the next string in it is a key.
  const stack: Array<{ keys?: Set<string>; name: string; expectKey: boolean }> = [];
  let pendingKey = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const top = stack[stack.length - 1];
      if (top?.keys && top.expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key))
          return {
            key,
            path: stack
              .slice(1)
              .map((f) => JSON.stringify(f.name))
              .join(' > '),
          };
        top.keys.add(key);
        top.expectKey = false;
        pendingKey = key;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      stack.push({ keys: c === '{' ? new Set() : undefined, name: pendingKey, expectKey: c === '{' });
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',') {
      const top = stack[stack.length - 1];
      if (top?.keys) top.expectKey = true;
    }
  }
  return undefined;
}

/** Decodes one tensor's validated little-endian bytes. */
function decode(raw: Uint8Array, owned: boolean, t: Layout, error: (message: string, tensor?: string) => SafetensorsError): TensorEntry {
  // Copy into a fresh buffer unless it already is one: typed-array views need aligned offsets, and
  // the data section starts wherever the header ends (a Node Buffer may also sit at any offset of a
  // shared pool). The copy also keeps the result independent of the caller's buffer.
  // `new Uint8Array(x)` copies, whereas a Node Buffer's slice() would not.
  const bytes = owned && raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength ? raw : new Uint8Array(raw);
  if (!HOST_IS_LITTLE_ENDIAN) swapBytesInPlace(bytes, ITEM_SIZE[t.dtype]);
  const base = { shape: t.shape, sourceDtype: t.dtype };
  switch (t.dtype) {
    case 'F32':
      return { ...base, dtype: 'float32', data: new Float32Array(bytes.buffer) };
    case 'F16':
      return { ...base, dtype: 'float32', data: float16BitsToFloat32(new Uint16Array(bytes.buffer)) };
    case 'BF16':
      return { ...base, dtype: 'float32', data: bfloat16BitsToFloat32(new Uint16Array(bytes.buffer)) };
    case 'I32':
      return { ...base, dtype: 'int32', data: new Int32Array(bytes.buffer) };
    case 'I64': {
      // tfjs has no int64: narrow, refusing values that would wrap rather than silently changing them.
      const wide = new BigInt64Array(bytes.buffer);
      const out = new Int32Array(wide.length);
      for (let i = 0; i < wide.length; i++) {
        const v = wide[i]!;
        if (v < -2147483648n || v > 2147483647n) {
          throw error(`I64 value ${v} at index ${i} is outside the int32 range [-2147483648, 2147483647]`, t.name);
        }
        out[i] = Number(v);
      }
      return { ...base, dtype: 'int32', data: out };
    }
  }
}
