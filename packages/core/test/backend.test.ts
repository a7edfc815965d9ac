import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/index';

describe('selectBackend', () => {
  it('skips the native backends it cannot load and reports why', async () => {
    const importer = async (pkg: string) => {
      if (pkg.includes('tfjs-node')) throw new Error(`Cannot find package '${pkg}'`);
      if (pkg.includes('wasm')) throw new Error('wasm disabled in this test');
      return import('@tensorflow/tfjs-backend-cpu');
    };
    const sel = await selectBackend('auto', importer);
    expect(sel.backend).toBe('cpu');
    expect(sel.active).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(sel.attempts.map((a) => [a.backend, a.ok])).toEqual([
      ['tensorflow-gpu', false],
      ['tensorflow', false],
      ['wasm', false],
      ['cpu', true],
    ]);
    expect(sel.attempts[0].reason).toContain('cannot load @tensorflow/tfjs-node-gpu');
  });

  it('fails with every reason when a preferred backend is unavailable', async () => {
    await expect(
      selectBackend('tensorflow', async () => {
        throw new Error('not installed');
      }),
    ).rejects.toThrow('selectBackend: no usable backend (tensorflow: cannot load @tensorflow/tfjs-node: not installed)');
    await expect(selectBackend('gpu' as never)).rejects.toThrow(/unknown backend "gpu"/);
    await tf.setBackend('cpu');
  });
});
