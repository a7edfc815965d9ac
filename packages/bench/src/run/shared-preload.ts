// Preloading into a key/value cache that other processes (shards on other machines, on a shared
// filesystem) fill at the same time. The cache's atomic writes make concurrent writers safe but not
// economical: measured with two shards of a tiny grid started together on one cache, 16 of 37
// entries were computed by both. Here each entry is claimed first (a claim file created with
// O_EXCL, which NFS v3+ and local filesystems make atomic), so every entry is computed once.
import { existsSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { preloadAsync, sha256Hex, type KvCache, type PreloadItem, type PreloadOptions } from '@fpt/fpt-plus/node';
import type { NeedsInputs } from '@fpt/backbone-vit';
import { heartbeat, isStale, tryClaim } from './claims';

/** Options of {@link sharedPreload}. */
export interface SharedPreloadOptions extends PreloadOptions {
  /** A claim not refreshed for this long is taken over (its holder died). Default 120 s. */
  staleMs?: number;
  /** How often a holder refreshes its claims (from a worker thread, while the LPM runs). Default 15 s. */
  heartbeatMs?: number;
  /** How long to sleep between looks at entries other processes hold. Default 200 ms. */
  pollMs?: number;
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
  need: NeedsInputs,
  cache: KvCache,
  items: PreloadItem[],
  options: SharedPreloadOptions = {},
): Promise<{ hashes: string[]; hits: number; computed: number; invalid: number }> {
  const batchSize = options.batchSize ?? 4;
  const staleMs = options.staleMs ?? 120_000;
  const keyed = items.map((item, index) => ({ item, index, hash: sha256Hex(item.bytes) }));
  const claimOf = (h: string) => `${cache.pathOf(h)}.claim`;
  // One item per distinct entry, in input order.
  type Keyed = (typeof keyed)[number];
  let pending = [...new Map(keyed.map((k) => [k.hash, k])).values()].sort((a, b) => a.index - b.index);
  let computed = 0;
  let invalid = 0;
  const beat = heartbeat(options.heartbeatMs ?? 15_000);
  try {
    while (pending.length) {
      const mine: Keyed[] = [];
      const waiting: Keyed[] = [];
      for (const k of pending) {
        const h = k.hash;
        if (existsSync(cache.pathOf(h))) {
          // A holder killed after writing the entry leaves its claim behind: remove it once stale.
          if (existsSync(claimOf(h)) && isStale(claimOf(h), staleMs)) rmSync(claimOf(h), { force: true });
          continue;
        }
        if (mine.length >= batchSize) {
          waiting.push(k);
          continue;
        }
        if (!tryClaim(claimOf(h), 'cache claim')) {
          if (isStale(claimOf(h), staleMs)) rmSync(claimOf(h), { force: true });
          waiting.push(k);
          continue;
        }
        // Another process may have written the entry and released its claim since we looked.
        if (existsSync(cache.pathOf(h))) rmSync(claimOf(h), { force: true });
        else mine.push(k);
      }
      if (mine.length) {
        const claims = mine.map((k) => claimOf(k.hash));
        beat.hold(claims);
        try {
          const r = await preloadAsync(
            need,
            cache,
            mine.map((k) => k.item),
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
  const last = await preloadAsync(need, cache, items, options);
  return { hashes: last.hashes, hits: last.hits - computed, computed: computed + last.computed, invalid: invalid + last.invalid };
}
