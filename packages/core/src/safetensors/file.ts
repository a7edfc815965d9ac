import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { readSafetensors, SafetensorsError, type SafetensorsFile } from './read';
import { writeSafetensors, type WritableTensor, type WriteOptions } from './write';

/**
 * Writes a file atomically: a temp file in the same folder, fsync, rename over the target. On any
 * failure the temp file is removed and the target is left as it was. Parent folders are created.
 * @param path - the target
 * @param data - the content
 */
export function atomicWriteFile(path: string, data: Uint8Array | string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'w');
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * Reads and validates a safetensors file.
 * @param path - the file; errors name it
 */
export function readSafetensorsFile(path: string): SafetensorsFile {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new SafetensorsError(path, `cannot read file: ${(err as Error).message}`);
  }
  return readSafetensors(bytes, path);
}

/**
 * Serialises and writes tensors atomically (see {@link atomicWriteFile}); nothing is written when
 * serialisation fails.
 * @param path - the target
 * @param tensors - by name
 * @param options - metadata, half precision
 */
export function writeSafetensorsFile(path: string, tensors: Record<string, WritableTensor> | Map<string, WritableTensor>, options: WriteOptions = {}): void {
  atomicWriteFile(path, writeSafetensors(tensors, options));
}
