import * as tf from '@tensorflow/tfjs-core';
import { it } from 'vitest';
import { describeAdapter, selectBackend, type GpuAdapterReport } from '@fpt/core';

/** The WebGPU adapter these tests run on, or why there is none. */
export type WebGpuProbe = { adapter: GpuAdapterReport } | { adapter?: undefined; reason: string };

/**
 * Sets up the WebGPU backend (forced: SwiftShader is fine for exactness tests) and goes back to the
 * backend that was active. Never throws.
 */
export async function probeWebGpu(): Promise<WebGpuProbe> {
  const previous = tf.getBackend();
  try {
    const sel = await selectBackend('webgpu', (p) => import(p));
    return { adapter: sel.adapter! };
  } catch (err) {
    return { reason: (err as Error).message };
  } finally {
    await tf.setBackend(previous);
  }
}

/**
 * The one test that stands for a missing adapter: outside CI it passes with a message saying why
 * the WebGPU tests are skipped; in CI (CI=true) it fails, since CI installs SwiftShader.
 */
export function requireAdapterInCi(probe: WebGpuProbe): void {
  it('has a WebGPU adapter (tests may skip without one, never in CI)', () => {
    if (probe.adapter) {
      console.log(`WebGPU adapter: ${describeAdapter(probe.adapter)}`);
      return;
    }
    const message = `no WebGPU adapter, WebGPU tests skipped: ${probe.reason}`;
    if (process.env.CI) throw new Error(`${message} (CI installs Debian's chromium for SwiftShader: see .ci/run)`);
    console.warn(message);
  });
}
