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

const MAX_PIXELS = 64 * 1024 * 1024;

/**
 * Decodes a JPEG or PNG (pure JavaScript: jpeg-js, pngjs) to RGB. Grayscale images come back with
 * the channel replicated; alpha is dropped.
 * @param bytes - the file's bytes
 * @param source - names the file in errors
 * @throws naming the file when it is neither JPEG nor PNG, or cannot be decoded
 */
export function decodeImage(bytes: Uint8Array, source: string): RgbImage {
  let rgba: { width: number; height: number; data: Uint8Array };
  try {
    if (bytes[0] === 0xff && bytes[1] === 0xd8) {
      rgba = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_PIXELS / 1e6, maxMemoryUsageInMB: 1024 });
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
  for (let i = 0; i < n; i++) {
    data[3 * i] = rgba.data[4 * i];
    data[3 * i + 1] = rgba.data[4 * i + 1];
    data[3 * i + 2] = rgba.data[4 * i + 2];
  }
  return { width: rgba.width, height: rgba.height, data };
}

/** Bytes to floats in [0, 1]. */
export function toFloat(img: RgbImage): FloatImage {
  const data = new Float32Array(img.data.length);
  for (let i = 0; i < data.length; i++) data[i] = img.data[i] / 255;
  return { width: img.width, height: img.height, data };
}

/**
 * Normalises per channel and lays the image out as CHW, the layout the ViTs take.
 * @param img - float RGB in [0, 1]
 * @param mean - per-channel mean
 * @param std - per-channel standard deviation
 */
export function normaliseChw(img: FloatImage, mean: readonly number[], std: readonly number[]): Float32Array {
  const n = img.width * img.height;
  const out = new Float32Array(3 * n);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < n; i++) out[c * n + i] = (img.data[3 * i + c] - mean[c]) / std[c];
  }
  return out;
}
