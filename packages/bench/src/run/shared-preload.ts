// Preloading into a key/value cache that other processes (shards on other machines, on a shared
// filesystem) fill at the same time. The cache's atomic writes make concurrent writers safe but not
// economical: measured with two shards of a tiny grid started together on one cache, 16 of 37
// entries were computed by both. Here each entry is claimed first (a claim file created with
// O_EXCL, which NFS v3+ and local filesystems make atomic), so every entry is computed once.
import { closeSync, existsSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { preloadAsync, sha256Hex, type KvCache, type PreloadItem, type PreloadOptions } from '@fpt/fpt-plus/node';
import type { FptModel } from '@fpt/fpt-plus';

/** Options of {@link sharedPreload}. */
export interface SharedPreloadOptions extends PreloadOptions {
  /** A claim not refreshed for this long is taken over (its holder died). Default 120 s. */
  staleMs?: number;
  /** How often a holder refreshes its claims (from a worker thread, while the LPM runs). Default 15 s. */
  heartbeatMs?: number;
  /** How long to sleep between looks at entries other processes hold. Default 200 ms. */
  pollMs?: number;
}

/** What a claim file holds: who claimed the entry. */
interface ClaimOwner {
  host: string;
  pid: number;
}

/** Whether a claim's holder is gone: on this host its process has exited; anywhere, it stopped refreshing. */
function isStale(path: string, staleMs: number): boolean {
  let owner: ClaimOwner;
  let age: number;
  try {
    owner = JSON.parse(readFileSync(path, 'utf8')) as ClaimOwner;
    age = Date.now() - statSync(path).mtimeMs;
  } catch {
    // Released between our looks, or caught half-written: not stale, look again later.
    return false;
  }
  if (age > staleMs) return true;
  if (owner.host !== hostname()) return false;
  try {
    process.kill(owner.pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Creates the claim file; false when another process holds it. */
function tryClaim(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new Error(`cannot create the cache claim ${path}: ${(err as Error).message}`);
  }
  writeSync(fd, JSON.stringify({ host: hostname(), pid: process.pid } satisfies ClaimOwner));
  closeSync(fd);
  return true;
}

/** A worker thread that touches the claims this process holds while the main thread computes. */
function heartbeat(intervalMs: number): { hold: (paths: string[]) => void; release: (paths: string[]) => void; stop: () => void } {
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

/**
 * {@link preloadAsync} for a cache that several processes fill at once: entries with a file are left to
 * the final pass (hits), entries nobody holds are claimed a batch at a time and computed, entries
 * another process holds are waited for, and a claim whose holder died (its process gone on this
 * host, or not refreshed for `staleMs`) is taken over. Ends with one plain {@link preloadAsync} over
 * every item, which finds them all. Reads the LPM's outputs with `await data()` (every backend, WebGPU included).
 * @returns as {@link preloadAsync}: hashes in input order, and this process's hits, computed and invalid counts
 */
export async function sharedPreload(
  model: FptModel,
  cache: KvCache,
  items: PreloadItem[],
  options: SharedPreloadOptions = {},
): Promise<{ hashes: string[]; hits: number; computed: number; invalid: number }> {
  const batchSize = options.batchSize ?? 4;
  const staleMs = options.staleMs ?? 120_000;
  const hashes = items.map((it) => sha256Hex(it.bytes));
  const claimOf = (h: string) => `${cache.pathOf(h)}.claim`;
  // One item per distinct entry, in input order.
  let pending = [...new Map(hashes.map((h, i) => [h, i])).values()].sort((a, b) => a - b);
  let computed = 0;
  let invalid = 0;
  const beat = heartbeat(options.heartbeatMs ?? 15_000);
  try {
    while (pending.length) {
      const mine: number[] = [];
      const waiting: number[] = [];
      for (const i of pending) {
        const h = hashes[i];
        if (existsSync(cache.pathOf(h))) continue;
        if (mine.length >= batchSize) {
          waiting.push(i);
          continue;
        }
        if (!tryClaim(claimOf(h))) {
          if (isStale(claimOf(h), staleMs)) rmSync(claimOf(h), { force: true });
          waiting.push(i);
          continue;
        }
        // Another process may have written the entry and released its claim since we looked.
        if (existsSync(cache.pathOf(h))) rmSync(claimOf(h), { force: true });
        else mine.push(i);
      }
      if (mine.length) {
        const claims = mine.map((i) => claimOf(hashes[i]));
        beat.hold(claims);
        try {
          const r = await preloadAsync(
            model,
            cache,
            mine.map((i) => items[i]),
            options,
          );
          computed += r.computed;
          invalid += r.invalid;
        } finally {
          beat.release(claims);
          for (const c of claims) rmSync(c, { force: true });
        }
      } else if (waiting.length) {
        // Not a blocking wait: the holder may be another preload of this same process.
        await sleep(options.pollMs ?? 200);
      }
      pending = waiting;
    }
  } finally {
    beat.stop();
  }
  // Every entry now has a file: this pass reads them (and recomputes any found unusable).
  const last = await preloadAsync(model, cache, items, options);
  return { hashes: last.hashes, hits: last.hits - computed, computed: computed + last.computed, invalid: invalid + last.invalid };
}
