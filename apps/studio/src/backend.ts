import * as tf from '@tensorflow/tfjs-core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-backend-webgl';
import { describeKernels, enableFastKernels } from '@fpt/kernels';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';

// The page's backends, best first: WebGPU on a hardware adapter, WASM (SIMD), then WebGL.
// A software WebGPU adapter (SwiftShader) is never picked automatically, as in the bench: it is
// exact but far slower than WASM; it can still be chosen.

/** A backend the page can train on. */
export type StudioBackend = 'webgpu' | 'wasm' | 'webgl';

/** The choices, best first. */
export const STUDIO_BACKENDS: readonly StudioBackend[] = ['webgpu', 'wasm', 'webgl'];

/** What the page found about one backend before choosing. */
export interface BackendProbe {
  backend: StudioBackend;
  available: boolean;
  /** The adapter, the WASM features, or why it is unavailable. */
  detail: string;
  /** True for a software WebGPU adapter (never chosen automatically). */
  software?: boolean;
}

// WASM threads are off: in the bundled app tfjs 4.22's threaded build fails in its workers
// ("ReferenceError: e is not defined": the worker script is made from the glue's source text,
// whose names the bundler renamed), and the backend never initialises. SIMD stays on. The threaded
// binary is still emitted (setWasmPaths wants all three) but never downloaded.
tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);

// The wasm binaries come from the bundle's own assets: nothing is fetched from a CDN.
setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
});

interface GpuAdapterLike {
  info?: { vendor?: string; architecture?: string; description?: string };
  isFallbackAdapter?: boolean;
}

async function probeWebGpu(): Promise<BackendProbe> {
  const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (!gpu) return { backend: 'webgpu', available: false, detail: 'this browser has no navigator.gpu' };
  const adapter = (await gpu.requestAdapter().catch(() => null)) as GpuAdapterLike | null;
  if (!adapter) return { backend: 'webgpu', available: false, detail: 'navigator.gpu gave no adapter' };
  const info = adapter.info ?? {};
  const software = adapter.isFallbackAdapter === true || info.architecture === 'swiftshader';
  const name = [info.vendor, info.architecture, info.description].filter(Boolean).join(', ') || 'unnamed adapter';
  return { backend: 'webgpu', available: true, software, detail: software ? `${name} (software adapter: slow)` : name };
}

function probeWasm(): BackendProbe {
  return { backend: 'wasm', available: typeof WebAssembly === 'object', detail: 'SIMD where supported, one thread' };
}

function probeWebGl(): BackendProbe {
  const canvas = document.createElement('canvas');
  const ok = !!canvas.getContext('webgl2');
  return { backend: 'webgl', available: ok, detail: ok ? 'WebGL 2' : 'no WebGL 2 context' };
}

/** Probes every backend once. */
export async function probeBackends(): Promise<BackendProbe[]> {
  return [await probeWebGpu(), probeWasm(), probeWebGl()];
}

/** The automatic choice: the first available backend, skipping software WebGPU adapters. */
export function autoBackend(probes: readonly BackendProbe[]): StudioBackend {
  const best = probes.find((p) => p.available && !p.software);
  if (!best) throw new Error('no backend available: this browser has neither WebGPU, WebAssembly nor WebGL 2');
  return best.backend;
}

/**
 * Makes `name` tfjs's backend (WebGPU's module is loaded only when chosen) and registers the
 * project's kernels for it; returns a line describing what runs.
 */
export async function useBackend(name: StudioBackend): Promise<string> {
  if (name === 'webgpu') await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend(name))) throw new Error(`tfjs could not initialise the "${name}" backend`);
  await tf.ready();
  const report = enableFastKernels(name);
  // The portable kernels are what a browser gets: the native SGEMM exists only in Node.
  return describeKernels(report).replace(/ \(native kernels unavailable: .*\)$/, '');
}
