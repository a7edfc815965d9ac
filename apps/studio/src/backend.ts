import * as tf from '@tensorflow/tfjs-core';
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import threadedFactory from '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js';
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

// WASM threads need a cross-origin isolated page (SharedArrayBuffer): the preview and dev servers
// send COOP/COEP (vite.config.ts). tfjs 4.22 starts its pthread workers from the glue's own source
// text (`factory.toString()`, run in each worker without the module around it). Bundled, that
// text breaks: the glue reads a closure variable (`_scriptDir`) behind
// `typeof _scriptDir !== "undefined"`, and the minifier, which sees the variable declared in the
// enclosing scope, rewrites the guard to `e !== void 0` (its renamed name) - true to the bundle,
// but in a worker, where the closure is gone, it throws "ReferenceError: e is not defined" and
// the backend never starts. So the factory's toString is pointed at the unminified glue (a lazy
// chunk, loaded only on an isolated page), whose guard is intact. Without isolation, one thread.
const ISOLATED = typeof crossOriginIsolated === 'boolean' && crossOriginIsolated;
if (!ISOLATED) tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);

/** Gives the threaded glue's factory the unminified source for its workers (see above). */
async function patchThreadedWorkerSource(): Promise<void> {
  const { default: glue } = await import('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js?raw');
  // The glue is `var WasmBackendModuleThreadedSimd = (() => {...})();` then a UMD footer; tfjs
  // prefixes `var WasmBackendModuleThreadedSimd = ` to what toString gives.
  const start = glue.indexOf('(() => {');
  const end = glue.indexOf('})();', start);
  if (start < 0 || end < 0) throw new Error('the threaded WASM glue of @tensorflow/tfjs-backend-wasm has an unexpected layout');
  const source = glue.slice(start, end + '})()'.length);
  const factory = threadedFactory as unknown as { toString(): string };
  factory.toString = () => source;
}

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
  const threads = ISOLATED ? 'threads (the page is cross-origin isolated)' : 'one thread (the page is not cross-origin isolated)';
  return { backend: 'wasm', available: typeof WebAssembly === 'object', detail: `SIMD where supported, ${threads}` };
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
 * @param wasmThreads - threads of the WASM backend on an isolated page (default: tfjs's, half the logical cores)
 */
export async function useBackend(name: StudioBackend, wasmThreads?: number): Promise<string> {
  if (name === 'webgpu') await import('@tensorflow/tfjs-backend-webgpu');
  if (name === 'wasm' && ISOLATED) {
    await patchThreadedWorkerSource();
    // tfjs's default is half the logical cores; a count given here replaces it.
    if (wasmThreads !== undefined) setThreadsCount(wasmThreads);
  }
  if (!(await tf.setBackend(name))) throw new Error(`tfjs could not initialise the "${name}" backend`);
  await tf.ready();
  const report = enableFastKernels(name);
  // The portable kernels are what a browser gets: the native SGEMM exists only in Node.
  const kernels = describeKernels(report).replace(/ \(native kernels unavailable: .*\)$/, '');
  return name === 'wasm' ? `${kernels}; ${getThreadsCount()} thread(s)` : kernels;
}
