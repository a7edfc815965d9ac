// The bundled sample and in-browser decoding: images are fetched from the page's own origin and
// decoded and resized by the browser (createImageBitmap + canvas), never uploaded anywhere.

/** One image of the sample and its class index. */
export interface SampleFile {
  path: string;
  label: number;
}

/** The sample's manifest (public/sample/<name>/manifest.json). */
export interface SampleManifest {
  name: string;
  classes: string[];
  license: { id: string; url: string; file: string };
  citation: string;
  files: { train: SampleFile[]; val: SampleFile[] };
}

/** The split's images decoded at the two sizes FPT+ reads: the LPM's and the side network's. */
export interface DecodedSplit {
  labels: Int32Array;
  /** [N, 3, hr, hr], normalised, for the frozen LPM (the key/value preload). */
  hr: Float32Array;
  /** [N, 3, lr, lr], normalised, for the side network. */
  lr: Float32Array;
  count: number;
}

// ImageNet's mean and std, as the paper normalises its inputs.
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

/** Where the bundled sample lives, relative to the page. */
export const SAMPLE_BASE = `${import.meta.env.BASE_URL}sample/kermany-cxr/`;

/** Fetches the sample's manifest. */
export async function loadSampleManifest(): Promise<SampleManifest> {
  const res = await fetch(`${SAMPLE_BASE}manifest.json`);
  if (!res.ok) throw new Error(`sample manifest ${SAMPLE_BASE}manifest.json: HTTP ${res.status}`);
  return (await res.json()) as SampleManifest;
}

/** Decodes an image blob and writes it, resized to size x size and normalised, as CHW into `out` at `offset`. */
async function decodeInto(blob: Blob, name: string, size: number, out: Float32Array, offset: number): Promise<void> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(blob);
  } catch (err) {
    throw new Error(`${name}: the browser cannot decode this image (${(err as Error).message})`);
  }
  const canvas = new OffscreenCanvas(size, size);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new Error('this browser gives no 2D canvas context to decode images');
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(bitmap, 0, 0, size, size);
  bitmap.close();
  const rgba = ctx.getImageData(0, 0, size, size).data;
  const plane = size * size;
  for (let c = 0; c < 3; c++) {
    // c < 3 and i < size * size: every index is in range by construction (RGBA data, 3 channel stats).
    const [mean, std] = [MEAN[c]!, STD[c]!];
    for (let i = 0; i < plane; i++) out[offset + c * plane + i] = (rgba[4 * i + c]! / 255 - mean) / std;
  }
}

/**
 * Fetches and decodes a split of the sample at both sizes.
 * @param onImage - called after each image with the count done
 */
export async function decodeSplit(
  files: readonly SampleFile[],
  hrSize: number,
  lrSize: number,
  onImage?: (done: number) => void,
): Promise<DecodedSplit> {
  const n = files.length;
  const hr = new Float32Array(n * 3 * hrSize * hrSize);
  const lr = new Float32Array(n * 3 * lrSize * lrSize);
  for (const [i, file] of files.entries()) {
    const res = await fetch(`${SAMPLE_BASE}${file.path}`);
    if (!res.ok) throw new Error(`${file.path}: HTTP ${res.status}`);
    const blob = await res.blob();
    await decodeInto(blob, file.path, hrSize, hr, i * 3 * hrSize * hrSize);
    await decodeInto(blob, file.path, lrSize, lr, i * 3 * lrSize * lrSize);
    onImage?.(i + 1);
  }
  return { labels: Int32Array.from(files, (f) => f.label), hr, lr, count: n };
}
