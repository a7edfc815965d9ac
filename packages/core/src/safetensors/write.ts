import { float32ToFloat16Bits, HOST_IS_LITTLE_ENDIAN, swapBytesInPlace } from './dtypes';

/** A tensor to write. */
export interface WritableTensor {
  /** Stored as F32 (or F16 with {@link WriteOptions.float16}) for `float32`, as I32 for `int32`. */
  dtype: 'float32' | 'int32';
  /** Dimensions; `[]` for a scalar. */
  shape: number[];
  /**
   * Values, row-major; their count must equal the product of the shape. For `int32`, plain
   * numbers must be integers within the int32 range.
   */
  data: Float32Array | Int32Array | number[];
}

/** Options of {@link writeSafetensors}. */
export interface WriteOptions {
  /** String metadata, stored as the header's `__metadata__` (left out when not given). */
  metadata?: Record<string, string>;
  /** Store float32 tensors as F16 (rounded to nearest even; beyond ±65504 they become infinite). */
  float16?: boolean;
}

/** Little-endian bytes of a typed array: a view on little-endian hosts, a swapped copy otherwise. */
function littleEndianBytes(a: Float32Array | Int32Array | Uint16Array): Uint8Array {
  const view = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  if (HOST_IS_LITTLE_ENDIAN) return view;
  const copy = new Uint8Array(view);
  swapBytesInPlace(copy, a.BYTES_PER_ELEMENT);
  return copy;
}

/**
 * Serialises tensors in the safetensors format, readable by {@link readSafetensors} and by the
 * reference `safetensors` library: header entries and data in insertion order, the data laid out
 * contiguously, the header padded with spaces so that the data section starts 8-byte aligned.
 * @param tensors - tensors by name; a name must be non-empty and not `__metadata__`
 * @param options - metadata, half precision
 * @returns the file's bytes
 * @throws Error starting `writeSafetensors: ` and naming the tensor whose name, dtype, shape or data is invalid
 */
export function writeSafetensors(
  tensors: Record<string, WritableTensor> | Map<string, WritableTensor>,
  options: WriteOptions = {},
): Uint8Array {
  const error = (message: string, name?: string) =>
    new Error(`writeSafetensors: ${name !== undefined ? `tensor "${name}": ` : ''}${message}`);
  const list = tensors instanceof Map ? [...tensors] : Object.entries(tensors);

  // The header JSON is assembled by hand: JSON.stringify of one object would move integer-like
  // names ("0", "1") first, and the header should list tensors in the order they were given.
  const header: string[] = [];
  if (options.metadata !== undefined) {
    for (const [k, v] of Object.entries(options.metadata)) {
      if (typeof v !== 'string') throw error(`metadata value of "${k}" is ${typeof v}, expected a string`);
    }
    header.push(`"__metadata__":${JSON.stringify(options.metadata)}`);
  }

  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of list) {
    if (typeof name !== 'string' || name === '' || name === '__metadata__')
      throw error(`invalid tensor name ${JSON.stringify(name)}: expected a non-empty string other than "__metadata__"`);
    if (t.dtype !== 'float32' && t.dtype !== 'int32')
      throw error(`dtype is ${JSON.stringify(t.dtype)}, expected "float32" or "int32"`, name);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw error(`shape is ${JSON.stringify(t.shape)}, expected an array of non-negative integers`, name);
    }
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== count) throw error(`data has ${t.data.length} values, expected ${count} for shape [${t.shape}]`, name);

    let dtype: 'F32' | 'F16' | 'I32';
    let bytes: Uint8Array;
    if (t.dtype === 'int32') {
      if (!(t.data instanceof Int32Array)) {
        // Int32Array.from would silently truncate or wrap; refuse instead.
        const bad = t.data.findIndex((v) => !Number.isInteger(v) || v < -2147483648 || v > 2147483647);
        if (bad >= 0) throw error(`value ${t.data[bad]} at index ${bad} is not an int32`, name);
      }
      dtype = 'I32';
      bytes = littleEndianBytes(t.data instanceof Int32Array ? t.data : Int32Array.from(t.data));
    } else {
      const values = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
      dtype = options.float16 ? 'F16' : 'F32';
      bytes = littleEndianBytes(options.float16 ? float32ToFloat16Bits(values) : values);
    }
    // Key order as the reference implementation writes it.
    header.push(`${JSON.stringify(name)}:${JSON.stringify({ dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes.length] })}`);
    chunks.push(bytes);
    offset += bytes.length;
  }

  const json = new TextEncoder().encode(`{${header.join(',')}}`);
  const padded = Math.ceil(json.length / 8) * 8; // 8 + padded is then a multiple of 8 too
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  let pos = 8 + padded;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}
