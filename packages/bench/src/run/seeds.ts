/**
 * A 32-bit seed derived from a run seed and a purpose (FNV-1a over the parts): every random stream
 * of a run (shuffling per epoch, augmentation per image, dropout per step) is a pure function of
 * the run seed and its position, so a resumed run draws exactly what an uninterrupted one draws.
 */
export function deriveSeed(seed: number, ...parts: Array<string | number>): number {
  let h = 0x811c9dc5;
  for (const ch of [seed, ...parts].join('/')) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
