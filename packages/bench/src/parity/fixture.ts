import * as tf from '@tensorflow/tfjs-core';
import type { SafetensorsFile } from '@fpt/core';
import { readSafetensorsFile } from '@fpt/core/node';
import { basename } from 'node:path';

/** A parity fixture: the safetensors file, its parsed metadata and the set of tensors not yet accounted for. */
export interface Fixture {
  /** The file name, as printed. */
  name: string;
  /** The tensors. */
  file: SafetensorsFile;
  /** `kind` from the metadata. */
  kind: string;
  /** Parsed `config`. */
  config: Record<string, unknown>;
  /** Parsed `counts`. */
  counts: Record<string, number>;
}

/**
 * Reads and validates a fixture's envelope (`format: fpt-parity/1`, `kind`, JSON `config` and `counts`).
 * @throws naming the file and the metadata key at fault
 */
export function readFixture(path: string): Fixture {
  const file = readSafetensorsFile(path);
  const md = file.metadata;
  if (md.format !== 'fpt-parity/1') {
    throw new Error(`${path}: metadata "format" is ${JSON.stringify(md.format)}, expected "fpt-parity/1"`);
  }
  const json = (key: string): Record<string, unknown> => {
    if (md[key] === undefined) throw new Error(`${path}: metadata "${key}" is missing`);
    try {
      const v = JSON.parse(md[key]);
      if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
      return v as Record<string, unknown>;
    } catch (err) {
      throw new Error(`${path}: metadata "${key}" is not a JSON object: ${(err as Error).message}`);
    }
  };
  return { name: basename(path), file, kind: md.kind ?? '', config: json('config'), counts: json('counts') as Record<string, number> };
}

/** A float32 (or int32) tensor from a fixture entry. */
export function fixtureTensor(file: SafetensorsFile, name: string): tf.Tensor {
  const e = file.get(name);
  return tf.tensor(e.data, e.shape, e.dtype);
}

/** Reads a required field of a config object with a type check. */
export function field<T>(obj: Record<string, unknown>, key: string, type: 'number' | 'string' | 'boolean' | 'object', where: string): T {
  const v = obj[key];
  if (type === 'object' ? v === null || typeof v !== 'object' : typeof v !== type) {
    throw new Error(`${where}: "${key}" must be a ${type}, got ${JSON.stringify(v)}`);
  }
  return v as T;
}
