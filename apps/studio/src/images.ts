import type { DataProblem } from '@fpt/core';

// In-browser decoding: an image file becomes normalised CHW floats at the two sizes FPT+ reads
// (createImageBitmap + a canvas). Nothing is uploaded: the bytes come from the page's own origin
// (the bundled sample) or from files the user picked.

/** A split name. */
export type Split = 'train' | 'val' | 'test';

/** The splits, in order. */
export const SPLITS: readonly Split[] = ['train', 'val', 'test'];

/** One image of a dataset: the name shown on the page, its class index and where its bytes come from. */
export interface ImageRef {
  /** The path shown in messages (`train/normal/x.jpeg`). */
  name: string;
  label: number;
  read(): Promise<Blob>;
}

/** A dataset the page trains on: class names and each split's images. */
export interface StudioData {
  /** What the page calls it. */
  name: string;
  classes: string[];
  splits: Record<Split, ImageRef[]>;
}

/** A split's images decoded at the two sizes FPT+ reads: the LPM's and the side network's. */
export interface DecodedSplit {
  labels: Int32Array;
  /** [N, 3, hr, hr], normalised, for the frozen LPM (the key/value preload). */
  hr: Float32Array;
  /** [N, 3, lr, lr], normalised, for the side network. */
  lr: Float32Array;
  hrSize: number;
  lrSize: number;
  count: number;
}

/** ImageNet's mean and std, as the paper normalises its inputs (part of the key/value cache's fingerprint). */
export const NORMALISATION = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
const { mean: MEAN, std: STD } = NORMALISATION;

/** Decodes an image; throws naming `name` when the browser cannot. */
export async function decodeBitmap(blob: Blob, name: string): Promise<ImageBitmap> {
  try {
    return await createImageBitmap(blob);
  } catch (err) {
    throw new Error(`${name}: the browser cannot decode this image (${(err as Error).message})`);
  }
}

/** Writes `bitmap`, resized to size x size and normalised, as CHW into `out` at `offset`. */
function drawInto(bitmap: ImageBitmap, size: number, out: Float32Array, offset: number): void {
  const canvas = new OffscreenCanvas(size, size);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new Error('this browser gives no 2D canvas context to decode images');
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(bitmap, 0, 0, size, size);
  const rgba = ctx.getImageData(0, 0, size, size).data;
  const plane = size * size;
  for (let c = 0; c < 3; c++) {
    // c < 3 and i < size * size: every index is in range by construction (RGBA data, 3 channel stats).
    const [mean, std] = [MEAN[c]!, STD[c]!];
    for (let i = 0; i < plane; i++) out[offset + c * plane + i] = (rgba[4 * i + c]! / 255 - mean) / std;
  }
}

/**
 * Reads and decodes images at both sizes; an image that cannot be read or decoded is a problem
 * named by its path (all of them are reported, not only the first).
 * @param onImage - called after each image with the count done
 */
export async function decodeImages(
  images: readonly ImageRef[],
  hrSize: number,
  lrSize: number,
  onImage?: (done: number) => void,
): Promise<{ decoded: DecodedSplit; problems: DataProblem[] }> {
  const n = images.length;
  const hr = new Float32Array(n * 3 * hrSize * hrSize);
  const lr = new Float32Array(n * 3 * lrSize * lrSize);
  const problems: DataProblem[] = [];
  for (const [i, image] of images.entries()) {
    try {
      const bitmap = await decodeBitmap(await image.read(), image.name);
      drawInto(bitmap, hrSize, hr, i * 3 * hrSize * hrSize);
      drawInto(bitmap, lrSize, lr, i * 3 * lrSize * lrSize);
      bitmap.close();
    } catch (err) {
      problems.push({ path: image.name, problem: (err as Error).message.replace(`${image.name}: `, '') });
    }
    onImage?.(i + 1);
  }
  return { decoded: { labels: Int32Array.from(images, (f) => f.label), hr, lr, hrSize, lrSize, count: n }, problems };
}
