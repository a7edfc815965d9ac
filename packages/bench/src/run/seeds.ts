/**
 * Every random stream of a run (shuffling per epoch, augmentation per image, dropout per step) is
 * a pure function of the run seed and its position, by core's `deriveSeed` (FNV-1a over the parts).
 */
export { deriveSeed } from '@fpt/core';
