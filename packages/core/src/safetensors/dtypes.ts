// Half-precision conversions and byte-order helpers. tfjs has no float16/bfloat16 dtype, so half
// data travels as raw 16-bit patterns and is widened to float32 on read.

/** Whether this host stores multi-byte numbers little-endian, as safetensors does. */
export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Reverses the byte order of each `itemSize`-byte item in place. Typed-array views use the host's
 * byte order, so on a big-endian host little-endian file data must be swapped before viewing it
 * (and after, before writing it out).
 * @param bytes - the data; its length must be a multiple of `itemSize`
 * @param itemSize - bytes per item (2, 4 or 8)
 */
export function swapBytesInPlace(bytes: Uint8Array, itemSize: number): void {
  for (let i = 0; i + itemSize <= bytes.length; i += itemSize) {
    for (let a = i, b = i + itemSize - 1; a < b; a++, b--) {
      const t = bytes[a]!; // i <= a < b < i + itemSize <= bytes.length
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}

/** The float32 value of one IEEE binary16 bit pattern. */
function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero or subnormal: no implicit leading 1
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

// There are only 65536 half values: a table built once (256 KiB) makes decoding large F16
// checkpoints a plain lookup per element.
let halfTable: Float32Array | undefined;

/**
 * Widens IEEE float16 bit patterns to float32 values, exactly (every half value is a float32
 * value): subnormals, signed zeros, infinities and NaN included.
 * @param bits - float16 bit patterns
 * @returns the values, one per pattern
 */
export function float16BitsToFloat32(bits: Uint16Array): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = halfToNumber(h);
  }
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = halfTable[bits[i]!]!; // 65536 entries, one per 16-bit pattern
  return out;
}

/**
 * Narrows float32 values to IEEE float16 bit patterns, rounding to nearest, ties to even. Values
 * too large for float16 (|x| >= 65520) become infinity, values too small become (signed) zero or
 * subnormals, and NaN stays NaN (a quiet NaN).
 * @param x - float32 values
 * @returns float16 bit patterns, one per value
 */
export function float32ToFloat16Bits(x: Float32Array): Uint16Array {
  // Read the float32 bit patterns through a same-host view: both views share the host's byte order.
  const words = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const b = words[i]!;
    const sign = (b >>> 16) & 0x8000;
    const exp = (b >>> 23) & 0xff;
    const mant = b & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant ? 0x200 : 0); // infinity, or NaN kept NaN
      continue;
    }
    const e = exp - 127 + 15; // the exponent re-biased for float16
    if (e >= 31) {
      out[i] = sign | 0x7c00; // overflow
    } else if (e <= 0) {
      // Below 2^-25 even the smallest subnormal (2^-24) is more than twice as large: rounds to zero.
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      // Subnormal half: shift the mantissa, with its implicit 1, into place and round to nearest even.
      const m = mant | 0x800000;
      const shift = 14 - e;
      let half = m >>> shift;
      const rem = m & ((1 << shift) - 1);
      const mid = 1 << (shift - 1);
      if (rem > mid || (rem === mid && half & 1)) half++; // may carry into the smallest normal: correct
      out[i] = sign | half;
    } else {
      let half = (e << 10) | (mant >>> 13);
      const rem = mant & 0x1fff;
      if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++; // may carry into the exponent, up to infinity: correct
      out[i] = sign | half;
    }
  }
  return out;
}

/**
 * Widens bfloat16 bit patterns to float32 values, exactly: a bfloat16 is the upper 16 bits of a
 * float32.
 * @param bits - bfloat16 bit patterns
 * @returns the values, one per pattern
 */
export function bfloat16BitsToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const words = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) words[i] = bits[i]! << 16;
  return out;
}
