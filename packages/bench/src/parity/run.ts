import * as tf from '@tensorflow/tfjs-core';
import type { CheckLine } from './compare';
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
