import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import {
  BINDING_LIMIT_ENV,
  bindingLimit,
  describeAdapter,
  guardTensorBytes,
  isSoftwareAdapter,
  parseBytes,
  selectBackend,
  setBindingLimit,
  unitsPerSlice,
} from '../src/index';

/** A stand-in for the `webgpu` package (Dawn) whose only adapter has this info. */
function fakeDawn(info: Record<string, unknown> | null) {
  const limits = { maxBufferSize: 2 ** 30, maxStorageBufferBindingSize: 2 ** 27 };
  return { create: () => ({ requestAdapter: async () => (info ? { info, limits } : null) }), globals: {} };
}

function importerWith(dawn: unknown) {
  return async (pkg: string) => {
    if (pkg === 'webgpu') return dawn;
    if (pkg.includes('tfjs-node') || pkg.includes('wasm') || pkg.includes('webgpu')) throw new Error(`no ${pkg} in this test`);
    return import('@tensorflow/tfjs-backend-cpu');
  };
}

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
      ['webgpu', false],
      ['tensorflow', false],
      ['wasm', false],
      ['cpu', true],
    ]);
    expect(sel.attempts[0]?.reason).toContain('cannot load @tensorflow/tfjs-node-gpu');
  });

  it('never picks a software WebGPU adapter automatically, and says why', async () => {
    const swiftshader = { vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader driver 5.0.0', isFallbackAdapter: true };
    const sel = await selectBackend('auto', importerWith(fakeDawn(swiftshader)));
    expect(sel.backend).toBe('cpu');
    expect(sel.adapter).toBeNull();
    const webgpu = sel.attempts.find((a) => a.backend === 'webgpu')!;
    expect(webgpu.ok).toBe(false);
    expect(webgpu.reason).toMatch(
      /only WebGPU adapter is a software one \(google swiftshader .*\[software\].*used only when asked for by name/,
    );
    // Nothing was installed as navigator.gpu for a refused adapter.
    expect((globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu).toBeUndefined();
    const none = await selectBackend('auto', importerWith(fakeDawn(null)));
    expect(none.attempts.find((a) => a.backend === 'webgpu')!.reason).toMatch(/^no WebGPU adapter: no Vulkan\/Metal\/D3D12 driver/);
  });

  it('tells software adapters from hardware ones and describes them in one line', () => {
    expect(isSoftwareAdapter({ isFallbackAdapter: true })).toBe(true);
    expect(isSoftwareAdapter({ architecture: 'swiftshader' })).toBe(true);
    expect(isSoftwareAdapter({ description: 'llvmpipe (LLVM 15.0.6, 256 bits)' })).toBe(true);
    expect(isSoftwareAdapter({ architecture: 'hopper', description: 'NVIDIA H200', isFallbackAdapter: false })).toBe(false);
    const line = describeAdapter({
      vendor: 'nvidia',
      architecture: 'hopper',
      device: '',
      description: 'NVIDIA: 570.1',
      software: false,
      limits: { maxBufferSize: 2 ** 32, maxStorageBufferBindingSize: 1.5 * 2 ** 30 },
    });
    expect(line).toBe('nvidia hopper (NVIDIA: 570.1), maxBufferSize 4 GiB, maxStorageBufferBindingSize 1.50 GiB');
    const lowered = describeAdapter({
      vendor: 'google',
      architecture: 'swiftshader',
      device: '',
      description: '',
      software: true,
      limits: { maxBufferSize: 2 ** 30, maxStorageBufferBindingSize: 2 ** 30 },
      splitAt: { bytes: 64 * 2 ** 20, name: 'maxStorageBufferBindingSize (lowered by FPT_WEBGPU_BINDING_LIMIT)' },
    });
    expect(lowered).toBe(
      'google swiftshader [software], maxBufferSize 1 GiB, maxStorageBufferBindingSize 1 GiB, ' +
        'ops split at 64.0 MiB (maxStorageBufferBindingSize (lowered by FPT_WEBGPU_BINDING_LIMIT))',
    );
  });

  it('reads a binding limit as bytes or with a unit, and refuses anything else naming the setting', () => {
    expect(parseBytes('4194304', BINDING_LIMIT_ENV)).toBe(4194304);
    expect(parseBytes('4MiB', BINDING_LIMIT_ENV)).toBe(4 * 2 ** 20);
    expect(parseBytes(' 0.5 GiB ', BINDING_LIMIT_ENV)).toBe(2 ** 29);
    expect(parseBytes('16KiB', BINDING_LIMIT_ENV)).toBe(16384);
    for (const bad of ['', '4MB', '-1', '0', 'lots'])
      expect(() => parseBytes(bad, BINDING_LIMIT_ENV)).toThrow(
        `FPT_WEBGPU_BINDING_LIMIT="${bad}" is not a size: expected bytes, or a number with KiB, MiB or GiB (e.g. 4MiB)`,
      );
    expect(() => setBindingLimit(0)).toThrow('setBindingLimit: 0 is not a size in bytes (expected a number of at least 1)');
    // Off WebGPU there is no binding limit: nothing is split or refused.
    setBindingLimit(16);
    expect(bindingLimit()).toBeUndefined();
    expect(unitsPerSlice(8, 1000)).toBe(8);
    tf.zeros([100]).dispose();
    setBindingLimit(undefined);
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

describe('guardTensorBytes', () => {
  it('refuses a tensor over the limit with one sentence naming its shape, size and the limit, leaves nothing of it, and frees nothing else', () => {
    const stop = guardTensorBytes(4000, 'maxStorageBufferBindingSize');
    try {
      const small = tf.zeros([1000]);
      const before = { ...tf.memory(), buffers: tf.backend().numDataIds() };
      expect(() => tf.zeros([16, 2, 40])).toThrow(
        "a float32 tensor of shape [16,2,40] needs 5120 bytes, more than this device's maxStorageBufferBindingSize of 4000 bytes: use a smaller batch or input size, or a GPU with a larger limit",
      );
      // Nothing of the refused tensor is left: not in tfjs's counts, not in the backend.
      expect({ ...tf.memory(), buffers: tf.backend().numDataIds() }).toEqual(before);
      small.dispose();
    } finally {
      stop();
    }
    tf.zeros([16, 2, 40]).dispose();
  });
});
