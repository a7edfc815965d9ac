import type * as tf from '@tensorflow/tfjs-core';
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
   * lacks is a FAIL line (once). Does not dispose `actual`.
   */
  check(name: string, actual: tf.Tensor, tolerance: Tolerance): void {
    if (!this.has(name)) {
      this.missing(name, 'expected');
      return;
    }
    this.seen.add(name);
    const expected = this.fixture.file.get(name);
    const r = compare({ shape: actual.shape, data: actual.dataSync() }, expected, tolerance);
    this.lines.push({
      status: r.ok ? 'PASS' : 'FAIL',
      fixture: this.fixture.name,
      tensor: name,
      maxabs: r.maxabs,
      tol: r.tol,
      note: r.note,
    });
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
