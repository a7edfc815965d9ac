// Claims: a file created with O_EXCL (atomic on local filesystems and NFS v3+) saying which
// process works on something, refreshed from a worker thread while it does. A claim whose holder
// died (its process gone on this host, or not refreshed for `staleMs` anywhere) is taken over.
// Key/value cache entries and the runs of a results folder are claimed this way.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

/** What a claim file holds: who claimed it. */
export interface ClaimOwner {
  /** Host name. */
  host: string;
  /** Process id on that host. */
  pid: number;
}

/** Who holds a claim, or undefined when it is gone or caught half-written. */
export function claimOwner(path: string): ClaimOwner | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as ClaimOwner;
  } catch {
    return undefined;
  }
}

/** Whether a claim's holder is gone: on this host its process has exited; anywhere, it stopped refreshing. */
export function isStale(path: string, staleMs: number): boolean {
  const owner = claimOwner(path);
  let age: number;
  try {
    age = Date.now() - statSync(path).mtimeMs;
  } catch {
    return false; // released between our looks: not stale, look again later
  }
  if (!owner) return age > staleMs; // half-written by a writer that died at once, or still being written
  if (age > staleMs) return true;
  if (owner.host !== hostname()) return false;
  try {
    process.kill(owner.pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Creates the claim file; false when another process holds it.
 * @param what - what is claimed, for the error message
 * @throws naming the claim when it cannot be created for another reason (a read-only folder)
 */
export function tryClaim(path: string, what = 'claim'): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new Error(`cannot create the ${what} ${path}: ${(err as Error).message}`);
  }
  writeSync(fd, JSON.stringify({ host: hostname(), pid: process.pid } satisfies ClaimOwner));
  closeSync(fd);
  return true;
}

/** A worker thread that touches the claims this process holds while the main thread computes. */
export function heartbeat(intervalMs: number): { hold: (paths: string[]) => void; release: (paths: string[]) => void; stop: () => void } {
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     const { utimesSync } = require('node:fs');
     const held = new Set();
     parentPort.on('message', (m) => { for (const p of m.hold ?? []) held.add(p); for (const p of m.release ?? []) held.delete(p); });
     setInterval(() => { const t = new Date(); for (const p of held) { try { utimesSync(p, t, t); } catch {} } }, ${intervalMs});`,
    { eval: true },
  );
  worker.unref();
  return {
    hold: (paths) => worker.postMessage({ hold: paths }),
    release: (paths) => worker.postMessage({ release: paths }),
    stop: () => void worker.terminate(),
  };
}

/** How long a run claim may go unrefreshed before it is taken over (a holder refreshes it every 15 s). */
const RUN_CLAIM_STALE_MS = 120_000;

/**
 * The runs of one results folder that this process works on: `checkpoints/<id>.claim`, so that
 * two processes given the same `--out` share the grid instead of training (and deleting the
 * checkpoints of) the same run at once.
 */
export class RunClaims {
  private readonly beat = heartbeat(15_000);
  private readonly held = new Set<string>();

  /** @param dir - the folder of the claims (`<out>/checkpoints`) */
  constructor(readonly dir: string) {}

  private pathOf(id: string): string {
    return join(this.dir, `${id}.claim`);
  }

  /**
   * Claims a run: undefined when this process now holds it (taking over a claim whose holder
   * died, or one this process left behind), else who holds it.
   */
  acquire(id: string): ClaimOwner | undefined {
    mkdirSync(this.dir, { recursive: true });
    const path = this.pathOf(id);
    for (let attempt = 0; !tryClaim(path, 'run claim'); attempt++) {
      const owner = claimOwner(path);
      const mine = owner?.host === hostname() && owner.pid === process.pid;
      if (!mine && !isStale(path, RUN_CLAIM_STALE_MS)) return owner ?? { host: '?', pid: 0 };
      if (attempt > 0) return owner ?? { host: '?', pid: 0 };
      rmSync(path, { force: true });
    }
    this.held.add(path);
    this.beat.hold([path]);
    return undefined;
  }

  /** Releases a run this process holds. */
  release(id: string): void {
    const path = this.pathOf(id);
    this.beat.release([path]);
    this.held.delete(path);
    rmSync(path, { force: true });
  }

  /** Releases every claim and stops refreshing. */
  close(): void {
    for (const p of this.held) rmSync(p, { force: true });
    this.held.clear();
    this.beat.stop();
  }
}
