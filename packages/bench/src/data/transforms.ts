import type { Rng } from '@fpt/core';
import type { FloatImage } from './image';

// The side network's augmentation (docs/method.md, augmentation): horizontal flip, colour jitter, random resized
// crop; and the plain resize of test images and of the LPM's input. Pure functions on HWC floats.

/**
 * Weights of a separable linear (triangle) resampling of one axis, antialiased when shrinking as
 * PIL's bilinear resize is: the filter support grows with the scale.
 */
function axisWeights(inSize: number, outSize: number, start: number, span: number): Array<{ first: number; weights: number[] }> {
  const scale = span / outSize;
  const support = Math.max(scale, 1);
  const out: Array<{ first: number; weights: number[] }> = [];
  for (let i = 0; i < outSize; i++) {
    const center = start + (i + 0.5) * scale;
    const lo = Math.max(0, Math.floor(center - support));
    const hi = Math.min(inSize - 1, Math.ceil(center + support));
    const weights: number[] = [];
    let sum = 0;
    for (let j = lo; j <= hi; j++) {
      const w = Math.max(0, 1 - Math.abs((j + 0.5 - center) / support));
      weights.push(w);
      sum += w;
    }
    out.push({ first: lo, weights: weights.map((w) => (sum > 0 ? w / sum : 0)) });
  }
  return out;
}

/**
 * Resizes a region of an image (default: all of it) to width x height with antialiased bilinear
 * filtering.
 */
export function resize(img: FloatImage, width: number, height: number, region = { x: 0, y: 0, w: img.width, h: img.height }): FloatImage {
  const wx = axisWeights(img.width, width, region.x, region.w);
  const wy = axisWeights(img.height, height, region.y, region.h);
  // Rows first into [img.height, width] (only the rows the column pass reads), then columns.
  const top = wy[0];
  const bottom = wy.at(-1);
  if (!top || !bottom) throw new Error(`resize: cannot resize to ${width}x${height} (no rows)`);
  const rowLo = top.first;
  const rowHi = bottom.first + bottom.weights.length;
  const src = img.data;
  const tmp = new Float32Array(img.height * width * 3);
  for (let y = rowLo; y < rowHi; y++) {
    for (let x = 0; x < width; x++) {
      const { first, weights } = wx[x]!; // one entry per output column
      const base = (y * img.width + first) * 3;
      let r = 0;
      let g = 0;
      let b = 0;
      // The weights span source columns first.. inside the image, so every index is in range.
      // Indexed loops, not entries(): this is the hot path of every image.
      for (let k = 0; k < weights.length; k++) {
        const w = weights[k]!;
        r += w * src[base + 3 * k]!;
        g += w * src[base + 3 * k + 1]!;
        b += w * src[base + 3 * k + 2]!;
      }
      const o = (y * width + x) * 3;
      tmp[o] = r;
      tmp[o + 1] = g;
      tmp[o + 2] = b;
    }
  }
  const data = new Float32Array(height * width * 3);
  const stride = width * 3;
  for (let y = 0; y < height; y++) {
    const { first, weights } = wy[y]!; // one entry per output row
    for (let i = 0; i < stride; i++) {
      let acc = 0;
      for (let k = 0; k < weights.length; k++) acc += weights[k]! * tmp[(first + k) * stride + i]!; // rows rowLo..rowHi of tmp
      data[y * stride + i] = acc;
    }
  }
  return { width, height, data };
}

/** Mirrors the image left to right. */
export function horizontalFlip(img: FloatImage): FloatImage {
  const data = new Float32Array(img.data.length);
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      for (let c = 0; c < 3; c++) data[(y * img.width + x) * 3 + c] = img.data[(y * img.width + img.width - 1 - x) * 3 + c]!; // the mirrored pixel
    }
  }
  return { width: img.width, height: img.height, data };
}

/** Multiplies every value by `factor`, clamped to [0, 1] (torchvision's adjust_brightness). */
export function adjustBrightness(img: FloatImage, factor: number): FloatImage {
  const data = new Float32Array(img.data.length);
  for (let i = 0; i < data.length; i++) data[i] = Math.min(1, Math.max(0, img.data[i]! * factor)); // data is as long as img.data
  return { ...img, data };
}

/** Blends with the mean grey level by `factor`, clamped to [0, 1] (torchvision's adjust_contrast). */
export function adjustContrast(img: FloatImage, factor: number): FloatImage {
  const n = img.width * img.height;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += 0.299 * img.data[3 * i]! + 0.587 * img.data[3 * i + 1]! + 0.114 * img.data[3 * i + 2]!; // n RGB pixels
  mean /= n;
  const data = new Float32Array(img.data.length);
  for (let i = 0; i < data.length; i++) data[i] = Math.min(1, Math.max(0, mean + factor * (img.data[i]! - mean)));
  return { ...img, data };
}

/**
 * Colour jitter as torchvision's ColorJitter(brightness, contrast): factors drawn uniformly from
 * [1 - b, 1 + b] and [1 - c, 1 + c], applied in a random order.
 */
export function colorJitter(img: FloatImage, brightness: number, contrast: number, rng: Rng): FloatImage {
  const b = 1 - brightness + 2 * brightness * rng.next();
  const c = 1 - contrast + 2 * contrast * rng.next();
  return rng.next() < 0.5 ? adjustContrast(adjustBrightness(img, b), c) : adjustBrightness(adjustContrast(img, c), b);
}

/**
 * torchvision's RandomResizedCrop: up to 10 tries of an area fraction in `scale` and a log-uniform
 * aspect ratio in `ratio` that fits, else a centre crop at the nearest allowed ratio; the crop is
 * resized to size x size.
 */
export function randomResizedCrop(img: FloatImage, size: number, scale: [number, number], ratio: [number, number], rng: Rng): FloatImage {
  const { width: W, height: H } = img;
  const area = W * H;
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * (scale[0] + (scale[1] - scale[0]) * rng.next());
    const logRatio = Math.log(ratio[0]) + (Math.log(ratio[1]) - Math.log(ratio[0])) * rng.next();
    const r = Math.exp(logRatio);
    const w = Math.round(Math.sqrt(target * r));
    const h = Math.round(Math.sqrt(target / r));
    if (w > 0 && h > 0 && w <= W && h <= H) {
      const x = rng.int(W - w + 1);
      const y = rng.int(H - h + 1);
      return resize(img, size, size, { x, y, w, h });
    }
  }
  const inRatio = W / H;
  let w = W;
  let h = H;
  if (inRatio < ratio[0]) h = Math.round(W / ratio[0]);
  else if (inRatio > ratio[1]) w = Math.round(H * ratio[1]);
  return resize(img, size, size, { x: Math.floor((W - w) / 2), y: Math.floor((H - h) / 2), w, h });
}

/** The side network's training [augmentation](../../../../docs/method.md#augmentation), from the original image. */
export interface TrainAugmentation {
  /** Output side (128 for FPT+). */
  size: number;
  /** Flip probability (0.5). */
  flip: number;
  /** Brightness jitter (0.2). */
  brightness: number;
  /** Contrast jitter (0.2). */
  contrast: number;
  /** Random-resized-crop area range ([0.8, 1]). */
  scale: [number, number];
  /** Random-resized-crop aspect-ratio range ([0.7, 1.3]). */
  ratio: [number, number];
}

/** The paper's training [augmentation](../../../../docs/method.md#augmentation) for an output side `size`. */
export function paperAugmentation(size: number): TrainAugmentation {
  return { size, flip: 0.5, brightness: 0.2, contrast: 0.2, scale: [0.8, 1], ratio: [0.7, 1.3] };
}

/** Flip, colour jitter, then random resized crop, in the paper's order ([augmentation](../../../../docs/method.md#augmentation)). */
export function augment(img: FloatImage, a: TrainAugmentation, rng: Rng): FloatImage {
  const flipped = rng.next() < a.flip ? horizontalFlip(img) : img;
  const jittered = colorJitter(flipped, a.brightness, a.contrast, rng);
  return randomResizedCrop(jittered, a.size, a.scale, a.ratio, rng);
}
