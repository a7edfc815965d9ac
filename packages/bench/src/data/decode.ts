import sharp from 'sharp';
import { checkDeclaredSize, decodeImage, type RgbImage } from './image';

/** The decoders the bench can use: libvips through sharp (default) or pure JavaScript. */
export type DecoderName = 'sharp' | 'js';

/** Options of {@link decodeFile}. */
export interface DecodeOptions {
  /** Which decoder. Default `sharp`. */
  decoder?: DecoderName;
  /** Shrink (never enlarge) so that the longer side is at most this many pixels (antialiased). */
  maxSide?: number;
}

/**
 * Decodes a JPEG or PNG to 8-bit RGB (grayscale replicated to three channels, alpha dropped),
 * optionally shrunk so that its longer side is at most `maxSide`.
 * @param bytes - the file's bytes
 * @param source - names the file in errors
 * @throws naming the file when it is empty, not an image, truncated or otherwise undecodable
 */
export async function decodeFile(bytes: Uint8Array, source: string, options: DecodeOptions = {}): Promise<RgbImage> {
  if (bytes.length === 0) throw new Error(`${source}: zero-byte file`);
  checkDeclaredSize(bytes, source);
  if ((options.decoder ?? 'sharp') === 'js') {
    const img = decodeImage(bytes, source);
    return options.maxSide && Math.max(img.width, img.height) > options.maxSide ? shrinkJs(img, options.maxSide) : img;
  }
  try {
    let pipeline = sharp(bytes, { failOn: 'truncated' }).removeAlpha().toColourspace('srgb');
    if (options.maxSide)
      pipeline = pipeline.resize({ width: options.maxSide, height: options.maxSide, fit: 'inside', withoutEnlargement: true });
    const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  } catch (err) {
    throw new Error(`${source}: cannot decode image: ${(err as Error).message}`);
  }
}

// Box-filtered shrink for the pure-JS path (the sharp path uses libvips' own resampling).
function shrinkJs(img: RgbImage, maxSide: number): RgbImage {
  const scale = maxSide / Math.max(img.width, img.height);
  const width = Math.max(1, Math.round(img.width * scale));
  const height = Math.max(1, Math.round(img.height * scale));
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const y0 = Math.floor(y / scale);
    const y1 = Math.max(y0 + 1, Math.floor((y + 1) / scale));
    for (let x = 0; x < width; x++) {
      const x0 = Math.floor(x / scale);
      const x1 = Math.max(x0 + 1, Math.floor((x + 1) / scale));
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (let yy = y0; yy < y1; yy++) for (let xx = x0; xx < x1; xx++) acc += img.data[(yy * img.width + xx) * 3 + c]!; // yy, xx lie inside the source image
        data[(y * width + x) * 3 + c] = Math.round(acc / ((y1 - y0) * (x1 - x0)));
      }
    }
  }
  return { width, height, data };
}
