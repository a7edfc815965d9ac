import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_ORDER, describeAdapter, selectBackend, type BackendName } from '@fpt/core';
import { describeKernels, enableFastKernels } from '@fpt/kernels';
import { formatLine, summaryLine, type CheckLine } from './compare';
import { readFixture } from './fixture';
import { ParitySession } from './session';
import { runTimmFixture } from './timm';
import { runFptFixture } from './fpt';

/**
 * Runs one fixture of the `fpt-parity/1` format. Never throws: a fixture that cannot be read or
 * run yields a FAIL line saying why.
 * @param path - the fixture file
 */
export function checkFixture(path: string): CheckLine[] {
  const started = startFixture(path);
  if (Array.isArray(started)) return started;
  started.session.settleSync();
  return finishFixture(started);
}

/**
 * {@link checkFixture} reading the computed tensors with `await data()`: the form every backend
 * supports (WebGPU in Node has no synchronous reads). Never throws.
 * @param path - the fixture file
 */
export async function checkFixtureAsync(path: string): Promise<CheckLine[]> {
  const started = startFixture(path);
  if (Array.isArray(started)) return started;
  await started.session.settle();
  return finishFixture(started);
}

interface StartedFixture {
  session: ParitySession;
  before: number;
}

/** Reads the fixture and runs its computations; the checks' values are read afterwards. */
function startFixture(path: string): StartedFixture | CheckLine[] {
  let session: ParitySession;
  try {
    session = new ParitySession(readFixture(path));
  } catch (err) {
    return [{ status: 'FAIL', fixture: path, tensor: '(fixture)', maxabs: NaN, tol: 0, note: (err as Error).message }];
  }
  const before = tf.memory().numTensors;
  try {
    const kind = session.fixture.kind;
    if (kind === 'timm-vit') runTimmFixture(session);
    else if (kind === 'fpt') runFptFixture(session);
    else session.fail('(fixture)', `unknown kind "${kind}", expected "fpt" or "timm-vit"`);
    session.reportUnknown();
  } catch (err) {
    session.fail('(fixture)', (err as Error).message);
  }
  return { session, before };
}

function finishFixture({ session, before }: StartedFixture): CheckLine[] {
  const leaked = tf.memory().numTensors - before;
  if (leaked !== 0) session.fail('(tensors)', `${leaked} tensor(s) leaked while checking`);
  return session.lines;
}

/**
 * `fpt-bench parity [--backend B] <fixture>...`: prints one line per check and the closing
 * `N passed, N failed, N skipped`; returns the exit code (1 on any FAIL). Without `--backend` the
 * checks run on the backend already active (the CLI sets the plain CPU one); with it, on that
 * backend with the fast kernels `@fpt/kernels` registers for it (the same ones the bench uses),
 * so that every backend the machine has can be checked against the fixtures.
 * @param args - fixture files, optionally with `--backend B`
 * @param print - where lines go (stdout by default)
 */
export function parityCommand(args: string[], print: (line: string) => void = console.log): number | Promise<number> {
  const at = args.findIndex((a) => a === '--backend' || a.startsWith('--backend='));
  if (at >= 0) {
    const backend = args[at].includes('=') ? args[at].slice('--backend='.length) : args[at + 1];
    if (!backend) throw new Error(`option --backend needs a value (auto, ${BACKEND_ORDER.join(', ')})`);
    const paths = args.filter((_, i) => i !== at && (args[at].includes('=') || i !== at + 1));
    return selectBackend(backend as BackendName | 'auto', (p) => import(p)).then(async (sel) => {
      const kernels = enableFastKernels(sel.active);
      print(
        `backend: ${sel.backend}; kernels: ${describeKernels(kernels)}${sel.adapter ? `; adapter: ${describeAdapter(sel.adapter)}` : ''}`,
      );
      if (paths.length === 0) return usage(print);
      const all: CheckLine[] = [];
      for (const p of paths) all.push(...report(await checkFixtureAsync(p), print));
      return summarise(all, print);
    });
  }
  if (args.length === 0) return usage(print);
  return summarise(
    args.flatMap((p) => report(checkFixture(p), print)),
    print,
  );
}

function usage(print: (line: string) => void): number {
  print('usage: fpt-bench parity [--backend B] <fixture.safetensors>...');
  return 2;
}

function report(lines: CheckLine[], print: (line: string) => void): CheckLine[] {
  lines.forEach((l) => print(formatLine(l)));
  return lines;
}

function summarise(all: CheckLine[], print: (line: string) => void): number {
  print(summaryLine(all));
  return all.some((l) => l.status === 'FAIL') ? 1 : 0;
}
