import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

/** An 8-bit RGB image, row-major, interleaved (HWC). */
export interface RgbImage {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** width x height x 3 bytes. */
  data: Uint8Array;
}

/** A float RGB image (HWC), values in [0, 1] before normalisation. */
export interface FloatImage {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** width x height x 3 values. */
  data: Float32Array;
}

/**
 * The most pixels a file may declare: sharp's default `limitInputPixels` (0x3FFF squared), so both
 * decoders refuse the same files, and a small file declaring a huge image (a decompression bomb)
 * is refused from its header, before anything is decoded or allocated.
 */
export const MAX_INPUT_PIXELS = 0x3fff * 0x3fff;

/**
 * The width and height a JPEG (its first SOF marker) or PNG (IHDR) declares, read from the header
 * alone; undefined when the header does not say (the decoder then reports the file).
 */
export function declaredSize(bytes: Uint8Array): { width: number; height: number } | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length >= 24 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47)
    return { width: view.getUint32(16), height: view.getUint32(20) };
  if (bytes[0] !== 0xff || bytes[1] !== 0xd8) return undefined;
  for (let i = 2; i + 9 < bytes.length; ) {
    if (bytes[i] !== 0xff) return undefined;
    const marker = bytes[i + 1]!; // i + 9 < length
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    // SOF0..SOF15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc)
      return { height: view.getUint16(i + 5), width: view.getUint16(i + 7) };
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      i += 2;
      continue;
    }
    i += 2 + view.getUint16(i + 2);
  }
  return undefined;
}

/**
 * Refuses a file whose header declares more than {@link MAX_INPUT_PIXELS} pixels.
 * @throws naming the file, its declared size and the limit
 */
export function checkDeclaredSize(bytes: Uint8Array, source: string): void {
  const size = declaredSize(bytes);
  if (size && size.width * size.height > MAX_INPUT_PIXELS)
    throw new Error(
      `${source}: the image declares ${size.width}x${size.height} pixels (${size.width * size.height}), over the limit of ${MAX_INPUT_PIXELS} (sharp's limitInputPixels); refused before decoding`,
    );
}

/**
 * Decodes a JPEG or PNG (pure JavaScript: jpeg-js, pngjs) to RGB. Grayscale images come back with
 * the channel replicated; alpha is dropped.
 * @param bytes - the file's bytes
 * @param source - names the file in errors
 * @throws naming the file when it is neither JPEG nor PNG, declares more than {@link MAX_INPUT_PIXELS} pixels, or cannot be decoded
 */
export function decodeImage(bytes: Uint8Array, source: string): RgbImage {
  checkDeclaredSize(bytes, source);
  let rgba: { width: number; height: number; data: Uint8Array };
  try {
    if (bytes[0] === 0xff && bytes[1] === 0xd8) {
      rgba = jpeg.decode(bytes, {
        useTArray: true,
        formatAsRGBA: true,
        maxResolutionInMP: MAX_INPUT_PIXELS / 1e6,
        maxMemoryUsageInMB: 1024,
      });
    } else if (bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      rgba = { width: png.width, height: png.height, data: png.data };
    } else {
      throw new Error('not a JPEG or PNG file (unknown signature)');
    }
  } catch (err) {
    throw new Error(`${source}: cannot decode image: ${(err as Error).message}`);
  }
  const n = rgba.width * rgba.height;
  const data = new Uint8Array(n * 3);
  // The decoders return width x height RGBA pixels, so every 4 * i + k is in range.
  for (let i = 0; i < n; i++) {
    data[3 * i] = rgba.data[4 * i]!;
    data[3 * i + 1] = rgba.data[4 * i + 1]!;
    data[3 * i + 2] = rgba.data[4 * i + 2]!;
  }
  return { width: rgba.width, height: rgba.height, data };
}

/** Bytes to floats in [0, 1]. */
export function toFloat(img: RgbImage): FloatImage {
  const data = new Float32Array(img.data.length);
  for (let i = 0; i < data.length; i++) data[i] = img.data[i]! / 255; // data is as long as img.data
  return { width: img.width, height: img.height, data };
}

/**
 * Normalises per channel and lays the image out as CHW, the layout the ViTs take.
 * @param img - float RGB in [0, 1]
 * @param mean - per-channel mean
 * @param std - per-channel standard deviation
 */
export function normaliseChw(img: FloatImage, mean: readonly number[], std: readonly number[]): Float32Array {
  if (mean.length !== 3 || std.length !== 3)
    throw new Error(`normaliseChw: expected a mean and std of 3 channels (RGB), got [${mean}] and [${std}]`);
  const n = img.width * img.height;
  const out = new Float32Array(3 * n);
  for (let c = 0; c < 3; c++) {
    const m = mean[c]!;
    const s = std[c]!;
    for (let i = 0; i < n; i++) out[c * n + i] = (img.data[3 * i + c]! - m) / s; // the image holds n RGB pixels
  }
  return out;
}
