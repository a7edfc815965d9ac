import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Why a folder cannot be used, from a file-system error code. */
function why(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'EACCES' || e.code === 'EPERM') return `permission denied (${e.code})`;
  if (e.code === 'EROFS') return 'read-only file system (EROFS)';
  if (e.code === 'ENOTDIR' || e.code === 'EEXIST') return `a part of the path is a file, not a folder (${e.code})`;
  if (e.code === 'ENOSPC') return 'no space left on the device (ENOSPC)';
  return e.message;
}

/**
 * Makes sure a folder an option names exists (created if needed) and can be written, before any
 * work is done, so that a read-only folder or a file in its place is one sentence up front rather
 * than a raw ENOENT or ENOTDIR after hours of training.
 * @param dir - the folder
 * @param option - the option that named it (`--out`), for the message
 * @throws naming the option, the folder and the cause
 */
export function ensureWritableFolder(dir: string, option: string): void {
  const fail = (cause: string): never => {
    throw new Error(`${option} ${dir}: cannot write there: ${cause}; expected a writable folder`);
  };
  try {
    if (!statSync(dir).isDirectory()) fail('it is a file, not a folder');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      if (err instanceof Error && err.message.startsWith(option)) throw err;
      fail(why(err));
    }
    try {
      mkdirSync(dir, { recursive: true });
    } catch (e) {
      fail(why(e));
    }
  }
  const probe = join(dir, `.write-test.${process.pid}.${randomBytes(4).toString('hex')}`);
  try {
    writeFileSync(probe, '');
  } catch (err) {
    fail(why(err));
  }
  rmSync(probe, { force: true });
}
