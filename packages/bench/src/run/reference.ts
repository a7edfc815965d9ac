import * as tf from '@tensorflow/tfjs-core';
import { AdamW, measureStep, trainStep } from '@fpt/core';
import type { StepMemoryRecord } from '../results/schema';
import { createLpm, type LpmSpec } from './lpm';
import { buildTrainable } from './trainable';

/**
 * Peak memory of one full fine-tuning step of the run's LPM at the run's input size and batch (a
 * real step on random pixels, after a first step that creates AdamW's moments): the reference of
 * the "memory % of full fine-tuning" column and of PME.
 */
export async function fullFinetuneStepMemory(lpm: LpmSpec, numClasses: number, batch: number): Promise<StepMemoryRecord> {
  const t = buildTrainable({ method: 'full', options: {}, numClasses, seed: 0, lpm: createLpm(lpm), lpmInputSize: lpm.inputSize });
  const opt = new AdamW(t.trainableVariables(), { lr: 1e-4 });
  const pixels = tf.randomNormal([batch, 3, lpm.inputSize, lpm.inputSize], 0, 1, 'float32', 1);
  const labels = tf.zeros([batch], 'int32');
  try {
    const step = () => trainStep(() => t.loss({ pixels }, labels, { training: true, seed: 0, step: 0 }), opt, { clipNorm: 1 });
    step();
    const m = await measureStep(step);
    // Distinct data buffers (views counted once), as every run measures its own step.
    return { peakBytes: m.peakBufferBytes, excludedBytes: 0, how: 'measured' };
  } finally {
    tf.dispose([pixels, labels]);
    opt.dispose();
    t.dispose();
  }
}
