// The one way a bench command sets up its tfjs backend: core's `selectBackend` (the named backend,
// or the best one installed), then the fast matrix-product kernels of `@fpt/kernels` on it, and
// the lines that say what was chosen and why.
import { describeAdapter, selectBackend, type BackendName, type BackendSelection } from '@fpt/core';
import { describeKernels, enableFastKernels, type FastKernelsReport } from '@fpt/kernels';

/** Which matrix-product kernels `--kernels` asks for: the fastest available, the portable fallback, or tfjs's own. */
export type KernelsChoice = 'auto' | 'fallback' | 'stock';

/** A backend set up for a command, with its kernels. */
export interface BackendSetup extends BackendSelection {
  /** The kernels registered on it. */
  kernels: FastKernelsReport;
  /** {@link BackendSetup.kernels} in words (`describeKernels`): printed and recorded in result files. */
  kernelsLine: string;
}

/**
 * Activates a backend and its fast kernels.
 * @param name - `--backend` (`auto`, or a name of core's `BACKEND_ORDER`; default `auto`)
 * @param kernels - `--kernels` (default `auto`; `stock` keeps tfjs's own, as `FPT_KERNELS=stock` does)
 * @throws core's error naming the backend when a named one cannot be set up
 */
export async function setUpBackend(name = 'auto', kernels: KernelsChoice = 'auto'): Promise<BackendSetup> {
  const selection = await selectBackend(name as BackendName | 'auto', (p) => import(p));
  const report: FastKernelsReport =
    kernels === 'stock'
      ? { backend: selection.active, choice: 'stock', reason: '--kernels stock' }
      : enableFastKernels(selection.active, { native: kernels !== 'fallback' });
  return { ...selection, kernels: report, kernelsLine: describeKernels(report) };
}

/**
 * What a command prints about its backend: `<heading><backend>` with each backend skipped on the way
 * and why, then `kernels: ...`, then `adapter: ...` on WebGPU.
 * @param setup - the backend set up
 * @param heading - the first line's start (`backend: `, or `fpt-bench run --preset quick: backend `)
 */
export function backendBanner(setup: BackendSetup, heading = 'backend: '): string[] {
  const skipped = setup.attempts
    .filter((a) => !a.ok)
    .map((a) => ` (skipped ${a.backend}: ${a.reason})`)
    .join('');
  return [
    `${heading}${setup.backend}${skipped}`,
    `kernels: ${setup.kernelsLine}`,
    ...(setup.adapter ? [`adapter: ${describeAdapter(setup.adapter)}`] : []),
  ];
}

/** The backend, its kernels and its adapter on one line (`fpt-bench parity --backend B`). */
export function backendLine(setup: BackendSetup): string {
  return `backend: ${setup.backend}; kernels: ${setup.kernelsLine}${setup.adapter ? `; adapter: ${describeAdapter(setup.adapter)}` : ''}`;
}
