import * as tf from '@tensorflow/tfjs-core';
import { vitConfig, type VitConfig } from '@fpt/backbone-vit';
import { compare, type CheckLine, type Tolerance } from './compare';
import { field, type Fixture } from './fixture';

/**
 * Bookkeeping of one fixture's checks: every tensor of the fixture must be either consumed as an
 * input or checked (or skipped); whatever is left is reported as unknown, which fails the run.
 */
export class ParitySession {
  /** Lines so far. */
  readonly lines: CheckLine[] = [];
  private readonly seen = new Set<string>();
  // Checks whose values are not read yet: read all at the end, synchronously or (on WebGPU) not.
  private readonly pending: Array<{ line: number; name: string; actual: tf.Tensor; tolerance: Tolerance }> = [];

  /** @param fixture - the fixture under check */
  constructor(readonly fixture: Fixture) {}

  /** Marks input tensors (weights, pixels, labels) as known. */
  consume(names: Iterable<string>): void {
    for (const n of names) this.seen.add(n);
  }

  /** Whether the fixture holds that tensor. */
  has(name: string): boolean {
    return this.fixture.file.has(name);
  }

  /**
   * Declares tensors this fixture's kind must contain (its expected outputs, by group): each one
   * missing is a FAIL line at once, so a fixture stripped of its expectations can never pass.
   * @param group - what the tensors check (`LPM`, `selection`, ...), for the message
   * @param names - the tensor names
   */
  require(group: string, names: string[]): void {
    for (const name of names) if (!this.has(name)) this.missing(name, group);
  }

  /**
   * Checks a computed tensor against `expected.*`. Every check is required: a tensor the fixture
   * lacks is a FAIL line (once). Does not dispose `actual`; its values are compared when the
   * session is settled ({@link ParitySession.settleSync} or {@link ParitySession.settle}).
   */
  check(name: string, actual: tf.Tensor, tolerance: Tolerance): void {
    if (!this.has(name)) {
      this.missing(name, 'expected');
      return;
    }
    this.seen.add(name);
    // A placeholder line keeps the check's place; the clone shares the caller's buffer.
    this.lines.push({ status: 'FAIL', fixture: this.fixture.name, tensor: name, maxabs: NaN, tol: 0, note: 'not read' });
    this.pending.push({ line: this.lines.length - 1, name, actual: tf.keep(tf.clone(actual)), tolerance });
  }

  /** Compares every pending check, reading values synchronously (CPU and WASM backends). */
  settleSync(): void {
    for (const p of this.pending.splice(0)) this.resolve(p, () => p.actual.dataSync());
  }

  /** Compares every pending check, reading values with `await data()` (every backend, WebGPU included). */
  async settle(): Promise<void> {
    for (const p of this.pending.splice(0)) {
      let data: ArrayLike<number> | undefined;
      try {
        data = (await p.actual.data()) as ArrayLike<number>;
      } catch {
        // resolve() reports the read's error as the check's failure.
      }
      this.resolve(p, () => data ?? p.actual.dataSync());
    }
  }

  private resolve(p: (typeof this.pending)[number], read: () => ArrayLike<number>): void {
    try {
      const r = compare({ shape: p.actual.shape, data: read() }, this.fixture.file.get(p.name), p.tolerance);
      this.lines[p.line] = {
        status: r.ok ? 'PASS' : 'FAIL',
        fixture: this.fixture.name,
        tensor: p.name,
        maxabs: r.maxabs,
        tol: r.tol,
        note: r.note,
      };
    } catch (err) {
      this.lines[p.line] = { ...this.lines[p.line]!, note: `cannot read the computed tensor: ${(err as Error).message}` };
    } finally {
      p.actual.dispose();
    }
  }

  private missing(name: string, group: string): void {
    if (this.seen.has(name)) return;
    this.fail(name, `missing: a "${this.fixture.kind}" fixture must contain this ${group} tensor`);
  }

  /** Records a tensor as not checked, with the reason. */
  skip(name: string, note: string): void {
    if (!this.has(name)) return;
    this.seen.add(name);
    this.lines.push({ status: 'SKIP', fixture: this.fixture.name, tensor: name, maxabs: NaN, tol: 0, note });
  }

  /** Records a failure of a whole part (e.g. a loader error), attributed to `name`. */
  fail(name: string, note: string): void {
    this.seen.add(name);
    this.lines.push({ status: 'FAIL', fixture: this.fixture.name, tensor: name, maxabs: NaN, tol: 0, note });
  }

  /** Checks a parameter count from the metadata's `counts` exactly. */
  count(key: string, actual: number): void {
    const expected = this.fixture.counts[key];
    if (expected === undefined) return;
    const ok = expected === actual;
    this.lines.push({
      status: ok ? 'PASS' : 'FAIL',
      fixture: this.fixture.name,
      tensor: `counts.${key}`,
      maxabs: Math.abs(actual - expected),
      tol: 0,
      note: ok ? undefined : `built model has ${actual}, metadata says ${expected}`,
    });
  }

  /** Fails every tensor of the fixture that no check consumed. Call last. */
  reportUnknown(): void {
    for (const name of this.fixture.file.names()) {
      if (!this.seen.has(name)) this.fail(name, 'unknown tensor: not an input or expected output of this fixture kind');
    }
  }
}

/**
 * A ViT config from a fixture's `lpm` / `vit` / `side` object (snake_case keys). Its `naming`
 * (`hf` or `timm`), when present, picks the checkpoint family and so the position-embedding
 * resampling; `fallback` applies when it is absent.
 */
export function vitConfigFrom(obj: Record<string, unknown>, where: string, fallback: 'hf' | 'timm'): VitConfig {
  const naming = obj.naming === undefined ? fallback : obj.naming;
  if (naming !== 'hf' && naming !== 'timm') throw new Error(`${where}: "naming" must be "hf" or "timm", got ${JSON.stringify(naming)}`);
  const num = (k: string) => field<number>(obj, k, 'number', where);
  return vitConfig({
    hiddenSize: num('hidden_size'),
    numLayers: num('num_layers'),
    numHeads: num('num_heads'),
    mlpDim: num('mlp_dim'),
    patchSize: num('patch_size'),
    imageSize: num('image_size'),
    numClasses: obj.num_labels === undefined ? 0 : num('num_labels'),
    layerNormEps: num('layer_norm_eps'),
    posEmbedResample: naming,
  });
}
