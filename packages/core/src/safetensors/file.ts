// Node-only: safetensors files on disk, and the atomic write other file-writing code reuses.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { dirname } from 'node:path';
import { crc32, DATA_CHECKSUM_KEY, DATA_CHECKSUM_PLACEHOLDER, fillDataChecksum, formatCrc32 } from './checksum';
import { readSafetensorsFrom, SafetensorsError, type SafetensorsFile } from './read';
import { writeSafetensors, type WritableTensor, type WriteOptions } from './write';

/** Options of {@link readSafetensorsFile}. */
export interface ReadFileOptions {
  /**
   * Require a data checksum in the metadata (see {@link writeSafetensorsFile}'s `checksum`) and
   * verify it: a file without one, or whose data does not match it, is refused naming the file.
   */
  verifyChecksum?: boolean;
}

/** Options of {@link writeSafetensorsFile}. */
export interface WriteFileOptions extends WriteOptions {
  /** Store a CRC-32 of the data section in the metadata (`checksum`), for {@link ReadFileOptions.verifyChecksum}. */
  checksum?: boolean;
}

/**
 * Writes a file atomically: readers see either the old content or the new, never a partial file.
 * The data goes to a temp file `<path>.<pid>.<random>.tmp` in the same folder, is flushed to disk,
 * then renamed over the target. On any failure the temp file is removed, the target is left as it
 * was, and the error is rethrown. Missing parent folders are created.
 * @param path - the target file
 * @param data - the content; a string is written as UTF-8
 */
export function atomicWriteFile(path: string, data: Uint8Array | string): void {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  // Same folder as the target: a rename is atomic only within one file system.
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx'); // exclusive: never write through something already at that name
    for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done);
    // Flush before renaming, or a crash could leave the target name on data never written out.
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    // Clean up without letting a second failure hide the first.
    try {
      if (fd !== undefined) closeSync(fd);
    } catch {}
    try {
      rmSync(tmp, { force: true });
    } catch {}
    throw err;
  }
  syncFolder(dir);
}

/**
 * Best effort: flush the folder entry so the rename itself survives a crash. Some platforms
 * (Windows) cannot open or sync a folder; the write has succeeded either way.
 */
function syncFolder(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Nothing to undo: the file is in place.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Reads, validates and decodes a safetensors file (see `readSafetensors`). The file's type
 * and size are checked before anything is read (a device such as `/dev/zero`, a pipe or a folder
 * is refused at once), and it is read piece by piece: the prefix, the header, then one tensor at a
 * time, so memory stays bounded by the largest tensor whatever the file claims.
 * @param path - the file; errors name it as their source
 * @param options - whether to verify the data checksum
 * @returns the decoded file
 * @throws SafetensorsError naming the path when the file cannot be read (missing, say), is not a
 *   regular file, or is invalid
 */
export function readSafetensorsFile(path: string, options: ReadFileOptions = {}): SafetensorsFile {
  const fail = (message: string) => new SafetensorsError(path, message);
  let stats: Stats;
  try {
    // stat before open: opening a FIFO for reading would block until a writer appears.
    stats = statSync(path);
  } catch (err) {
    throw fail(`cannot read file: ${(err as Error).message}`);
  }
  if (!stats.isFile()) throw fail(`is ${fileKind(stats)}, not a regular file; expected a safetensors file`);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw fail(`cannot read file: ${(err as Error).message}`);
  }
  try {
    // Size from the open descriptor: what is read below is this file, even if the path was swapped.
    const opened = fstatSync(fd);
    if (!opened.isFile()) throw fail(`is ${fileKind(opened)}, not a regular file; expected a safetensors file`);
    const size = opened.size;
    const file = readSafetensorsFrom(path, size, (offset, length) => {
      if (offset + length > size) throw fail(`asked for bytes [${offset}, ${offset + length}) of a ${size}-byte file`);
      const bytes = new Uint8Array(length);
      for (let done = 0; done < length; ) {
        const got = readSync(fd, bytes, done, length - done, offset + done);
        if (got === 0) throw fail(`file ended at byte ${offset + done} while ${size} bytes were expected (it changed while being read)`);
        done += got;
      }
      return { bytes, owned: true };
    });
    if (options.verifyChecksum) verifyDataChecksum(fd, size, file, fail);
    return file;
  } finally {
    closeSync(fd);
  }
}

/** Streams a file's data section through CRC-32 and compares it with the checksum its metadata holds. */
function verifyDataChecksum(fd: number, size: number, file: SafetensorsFile, fail: (m: string) => SafetensorsError): void {
  const want = file.metadata[DATA_CHECKSUM_KEY];
  if (want === undefined) throw fail(`has no data checksum in its metadata ("${DATA_CHECKSUM_KEY}"), expected a file written with one`);
  const prefix = new Uint8Array(8);
  readSync(fd, prefix, 0, 8, 0);
  let pos = 8 + Number(new DataView(prefix.buffer).getBigUint64(0, true));
  const buf = new Uint8Array(Math.min(1 << 20, Math.max(1, size - pos)));
  let crc = 0;
  while (pos < size) {
    const got = readSync(fd, buf, 0, Math.min(buf.length, size - pos), pos);
    if (got === 0) throw fail(`file ended at byte ${pos} while ${size} bytes were expected (it changed while being read)`);
    crc = crc32(buf.subarray(0, got), crc);
    pos += got;
  }
  const found = formatCrc32(crc);
  if (found !== want) throw fail(`data checksum is ${found}, the header says ${want}: the file is damaged`);
}

/** What a non-regular file is, for error messages. */
function fileKind(s: Stats): string {
  if (s.isDirectory()) return 'a directory';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  if (s.isFIFO()) return 'a named pipe';
  if (s.isSocket()) return 'a socket';
  return 'a special file';
}

/**
 * Serialises tensors (see {@link writeSafetensors}) and writes them atomically (see
 * {@link atomicWriteFile}). Serialisation happens first, so invalid tensors leave the disk untouched.
 * @param path - the target file
 * @param tensors - tensors by name, written in this order
 * @param options - metadata, half precision, data checksum
 */
export function writeSafetensorsFile(
  path: string,
  tensors: Record<string, WritableTensor> | Map<string, WritableTensor>,
  options: WriteFileOptions = {},
): void {
  const { checksum, ...write } = options;
  if (!checksum) {
    atomicWriteFile(path, writeSafetensors(tensors, write));
    return;
  }
  const bytes = writeSafetensors(tensors, { ...write, metadata: { ...write.metadata, [DATA_CHECKSUM_KEY]: DATA_CHECKSUM_PLACEHOLDER } });
  fillDataChecksum(bytes);
  atomicWriteFile(path, bytes);
}
