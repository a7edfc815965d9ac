// Preloading (FPT+/FPT): the LPM runs once per image, un-augmented, apart from training, and its
// selected keys and values go to the cache that the training steps read.
import * as tf from '@tensorflow/tfjs-core';
import { measureStep } from '@fpt/core';
import type { Split } from '../data/image-folder';
import type { PreparedDataset } from '../data/prepare';
import { guardMemory } from '../memory/guard';
import type { RunResult } from '../results/schema';
import type { Progress } from '../terminal/progress';
import { splitEvalPixels } from './pipeline';
import type { Trainable } from './trainable';

/** What {@link preloadRun} needs of the run. */
export interface PreloadSpec {
  /** The run's id, for the bar and the lines. */
  id: string;
  /** The dataset, decoded. */
  data: PreparedDataset;
  /** Side of the LPM's input. */
  lpmInputSize: number;
  /** Bytes an LPM pass may take (sizes the batches). */
  budgetBytes: number;
  /** Key/value cache root. */
  cacheDir: string;
  /** Progress output. */
  progress: Progress;
}

/** The most images one LPM pass takes. */
const MAX_BATCH = 16;

/**
 * Fills the key/value cache for every image of the dataset (every split). One image at a time until
 * one is computed (not a cache hit): its peak sizes the LPM batches to the backend's budget (the
 * peak grows by the same amount with every image of a batch; at the paper's 1,025 tokens one
 * image's attention alone takes ~200 MiB, so 16 at once overflow WASM's heap). The last call covers
 * every image (those done already are hits) and keys them.
 * @param t - a method with `preload` (the `needsInputs` capability)
 * @returns the record for the result file
 */
export async function preloadRun(t: Trainable, spec: PreloadSpec): Promise<NonNullable<RunResult['preload']>> {
  const { data, lpmInputSize: size } = spec;
  const splits: Split[] = ['train', 'val', 'test'];
  const items = splits.flatMap((s) =>
    data.splits[s].map((p, i) => ({
      hash: p.hash,
      pixels: () => tf.tensor(splitEvalPixels(data, s, size)[i]!, [3, size, size]), // one array per image of the split
    })),
  );
  const bar = spec.progress.bar(`${spec.id} preload`, items.length);
  const seen = new Set<string>();
  const onEvent = (e: { imageHash: string }) => {
    seen.add(e.imageHash);
    bar.update(Math.min(seen.size, items.length));
  };
  const what = `${spec.id}: the LPM's forward pass for the key/value cache at ${size}x${size}`;
  let probed = 0;
  let probe: { computed: number; invalid: number; seconds: number; peakBytes: number | null } = {
    computed: 0,
    invalid: 0,
    seconds: 0,
    peakBytes: null,
  };
  let batchSize = MAX_BATCH;
  while (probed < items.length && probe.peakBytes === null) {
    const one = items.slice(probed, ++probed);
    const m = await guardMemory(`${what}, batch 1`, spec.budgetBytes, () =>
      measureStep(() => t.preload!(one, spec.cacheDir, data.stats, onEvent, 1)),
    );
    probe = {
      computed: probe.computed + m.result.computed,
      invalid: probe.invalid + m.result.invalid,
      seconds: probe.seconds + m.result.seconds,
      peakBytes: m.result.computed ? m.peakBufferBytes : null,
    };
    const perImage = Math.max(1, m.peakBufferBytes - m.baselineBytes);
    // Half the budget's room: the WASM kernels' scratch and the allocator's fragmentation are not
    // in the buffer count (measured at ViT-B/16, 512 px: 198 MiB per image counted; 16 images,
    // 3.5 GB counted, overflow a fresh 4 GiB heap, 8 images, 1.9 GB, pass).
    if (m.result.computed) batchSize = Math.max(1, Math.min(MAX_BATCH, Math.floor((spec.budgetBytes - m.baselineBytes) / (2 * perImage))));
  }
  if (probe.peakBytes !== null)
    spec.progress.log(
      `${spec.id}: the LPM's pass over one image peaks at ${(probe.peakBytes / 2 ** 20).toFixed(0)} MiB: preloading ${batchSize} images per pass`,
    );
  const rest = await guardMemory(`${what}, batch ${batchSize}`, spec.budgetBytes, () =>
    t.preload!(items, spec.cacheDir, data.stats, onEvent, batchSize),
  );
  bar.update(items.length, `${rest.computed + probe.computed} computed`);
  bar.stop();
  return {
    images: rest.images,
    computed: probe.computed + rest.computed,
    hits: rest.hits - probe.computed,
    invalid: probe.invalid + rest.invalid,
    seconds: probe.seconds + rest.seconds,
    peakBytes: probe.peakBytes,
    // Null only when no image needed the LPM: every entry was cached by an earlier run.
    peakHow: probe.peakBytes === null ? 'cache hit' : 'measured',
    batchSize,
  };
}
