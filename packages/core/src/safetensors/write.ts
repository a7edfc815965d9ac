import { float32ToFloat16Bits } from './dtypes';

/** A tensor to write. */
export interface WritableTensor {
  /** Stored as F32 (or F16 with {@link WriteOptions.float16}) or I32. */
  dtype: 'float32' | 'int32';
  /** Dimensions. */
  shape: number[];
  /** Values, row-major; length must equal the product of the shape. */
  data: Float32Array | Int32Array | number[];
}

/** Options of {@link writeSafetensors}. */
export interface WriteOptions {
  /** String metadata stored as `__metadata__`. */
  metadata?: Record<string, string>;
  /** Store float32 tensors as F16. */
  float16?: boolean;
}

/**
 * Serialises tensors to the safetensors format: header entries and data in insertion order, header
 * padded with spaces to an 8-byte boundary.
 * @param tensors - by name
 * @param options - metadata, half precision
 * @throws naming the tensor whose data does not match its shape, or an invalid name
 */
export function writeSafetensors(tensors: Record<string, WritableTensor> | Map<string, WritableTensor>, options: WriteOptions = {}): Uint8Array {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (options.metadata) header.__metadata__ = options.metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of entries) {
    if (!name || name === '__metadata__') throw new Error(`writeSafetensors: invalid tensor name ${JSON.stringify(name)}`);
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== count) {
      throw new Error(`writeSafetensors: tensor "${name}" has ${t.data.length} values but shape [${t.shape}] needs ${count}`);
    }
    let bytes: Uint8Array;
    let dtype: string;
    if (t.dtype === 'int32') {
      const a = t.data instanceof Int32Array ? t.data : Int32Array.from(t.data);
      bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
      dtype = 'I32';
    } else {
      const a = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
      if (options.float16) {
        const h = float32ToFloat16Bits(a);
        bytes = new Uint8Array(h.buffer);
        dtype = 'F16';
      } else {
        bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
        dtype = 'F32';
      }
    }
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  const pad = (8 - ((8 + new TextEncoder().encode(json).length) % 8)) % 8;
  json += ' '.repeat(pad);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}
