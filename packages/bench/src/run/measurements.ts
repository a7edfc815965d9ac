import { existsSync, readFileSync } from 'node:fs';
import { atomicWriteFile } from '@fpt/core/node';

/**
 * A JSON file of measurements in a results folder, keyed by everything a measurement depends on
 * (the full fine-tuning reference at the run shapes, the paper-shape memory figures). Shards that
 * share the folder may write it at once: every write re-reads the file and adds its key, atomically,
 * so a figure another shard wrote meanwhile is kept (or at worst measured again, never corrupt).
 */
export class MeasurementFile<T> {
  /** @param path - the JSON file (created on the first {@link MeasurementFile.set}) */
  constructor(readonly path: string) {}

  private read(): Record<string, T> {
    if (!existsSync(this.path)) return {};
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(this.path, 'utf8'));
    } catch (err) {
      throw new Error(`${this.path}: not valid JSON (${(err as Error).message}); delete it to measure again`);
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
      throw new Error(`${this.path}: expected a JSON object of measurements by key; delete it to measure again`);
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
