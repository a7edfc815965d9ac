import { existsSync } from 'node:fs';
import { atomicWriteFile } from '@fpt/core/node';
import { JsonChecker } from '../files/check';
import { readJsonFile } from '../files/json';

/**
 * A JSON file of measurements in a results folder, keyed by everything a measurement depends on
 * (the full fine-tuning reference at the run shapes, the paper-shape memory figures). Shards that
 * share the folder may write it at once: every write re-reads the file and adds its key, atomically,
 * so a figure another shard wrote meanwhile is kept (or at worst measured again, never corrupt).
 * Every read checks every entry against the record's schema, so a hand-edited or damaged figure is
 * named (file and key) instead of being copied into result files.
 */
export class MeasurementFile<T> {
  /**
   * @param path - the JSON file (created on the first {@link MeasurementFile.set})
   * @param check - checks one entry, naming `key` on failure (for example `checkStepMemory`)
   */
  constructor(
    readonly path: string,
    private readonly check: (c: JsonChecker, value: unknown, key: string) => T,
  ) {}

  private read(): Record<string, T> {
    if (!existsSync(this.path)) return {};
    const parsed = readJsonFile(this.path, 'a JSON object of measurements by key (delete it to measure again)');
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
      throw new Error(`${this.path}: expected a JSON object of measurements by key; delete it to measure again`);
    const c = new JsonChecker(`${this.path} (delete it to measure again)`);
    for (const [key, value] of Object.entries(parsed)) this.check(c, value, key);
    return parsed as Record<string, T>;
  }

  /** The measurement under `key`, if any. */
  get(key: string): T | undefined {
    return this.read()[key];
  }

  /** Adds a measurement under `key` to what the file holds now. */
  set(key: string, value: T): void {
    atomicWriteFile(this.path, JSON.stringify({ ...this.read(), [key]: value }, null, 1));
  }
}
