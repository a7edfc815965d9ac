// A worker thread that makes the augmented training pixels of the next batch while the main thread
// runs the current training step (tfjs keeps the main thread busy; the pure-JS transforms would
// otherwise stall it). Same function, same seeds: results equal the in-thread path.
import { parentPort } from 'node:worker_threads';
import type { RgbImage } from '../data/image';
import type { ChannelStats } from '../data/prepare';
import { augmentedFromImage } from './pipeline';

const images = new Map<number, RgbImage[]>();

parentPort!.on(
  'message',
  (
    msg:
      | { type: 'images'; set: number; images: RgbImage[] }
      | { type: 'job'; id: number; set: number; indices: number[]; size: number; stats: ChannelStats; seed: number; epoch: number },
  ) => {
    if (msg.type === 'images') {
      images.set(msg.set, msg.images);
      return;
    }
    const list = images.get(msg.set)!;
    const arrays = msg.indices.map((i) => {
      const image = list[i];
      if (!image) throw new Error(`augment worker: image ${i} of set ${msg.set} not sent (the set holds ${list.length})`);
      return augmentedFromImage(image, i, msg.size, msg.stats, msg.seed, msg.epoch);
    });
    parentPort!.postMessage(
      { id: msg.id, arrays },
      arrays.map((a) => a.buffer as ArrayBuffer),
    );
  },
);
