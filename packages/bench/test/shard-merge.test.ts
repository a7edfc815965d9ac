import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { benchGrid } from '../src/results/grid';
import { parseShard, shardRuns } from '../src/run/shard';
import { mergeResultFolders } from '../src/results/merge';
import { meanInterval } from '../src/results/noise';
import type { RunResult } from '../src/results/schema';
import { writeToyDataset } from './helpers/toy-data';

// The CLI as built (turbo builds the bench before its tests): shards are separate processes.
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'fpt-shard-'));
const grid = [
  'run',
  '--preset',
  'tiny',
  '--data-root',
  root,
  '--datasets',
  'toy,toy3',
  '--methods',
  'lora,fpt-plus',
  '--seeds',
  '0,1',
  '--epochs',
  '1',
  '--backend',
  'cpu',
];
const bench = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
const benchAsync = (args: string[], onStdout?: (text: string) => void) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [cli, ...args]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      onStdout?.(stdout);
    });
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
const results = (out: string) =>
  readdirSync(join(out, 'runs')).map((f) => JSON.parse(readFileSync(join(out, 'runs', f), 'utf8')) as RunResult);

beforeAll(() => {
  writeToyDataset(root, 'toy', { train: 8, val: 4, test: 4 });
  writeToyDataset(root, 'toy3', { train: 8, val: 4, test: 4 }, ['a', 'b', 'c']);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** fpt-plus on the toy dataset (by default seeds 0 and 1, two shards' worth), one epoch, sharing the cache `cache`. */
/** The first of `xs`, failing the test naming `what` when there is none. */
function first<T>(xs: readonly T[], what: string): T {
  const [x] = xs;
  if (x === undefined) throw new Error(`expected at least one ${what}`);
  return x;
}

/** The one folder of a key/value cache root (one per LPM). */
const cacheFolder = (cache: string) =>
  first(
    readdirSync(cache).map((f) => join(cache, f)),
    `folder in ${cache}`,
  );

/** Two shards of a run at once, each with its own --out. */
const twoShards = (args: string[], out: string, onStdout?: (i: number, text: string) => void) => {
  const shard = (i: number) =>
    benchAsync([...args, '--shard', `${i}/2`, '--out', join(root, `${out}${i}`)], onStdout && ((text) => onStdout(i, text)));
  return Promise.all([shard(0), shard(1)]);
};

function sharedCacheRun(cache: string, seeds = '0,1'): string[] {
  return [
    'run',
    '--preset',
    'tiny',
    '--data-root',
    root,
    '--datasets',
    'toy',
    '--methods',
    'fpt-plus',
    '--seeds',
    seeds,
    '--epochs',
    '1',
    '--backend',
    'cpu',
    '--cache',
    cache,
  ];
}

describe('--shard i/n', () => {
  const g = benchGrid(['d1', 'd2', 'd3'], ['lora', 'full', 'fpt-plus'], [0, 1, 2]);

  it('is 0-based and rejects an index outside 0..n-1, naming the option', () => {
    expect(parseShard('0/3')).toEqual({ index: 0, count: 3 });
    expect(parseShard('2/3')).toEqual({ index: 2, count: 3 });
    expect(() => parseShard('3/3')).toThrow(/--shard 3\/3: the index must satisfy 0 <= i < n/);
    expect(() => parseShard('1/0')).toThrow(/--shard/);
    expect(() => parseShard('1-3')).toThrow(/--shard expects i\/n/);
  });

  it('splits the grid into disjoint shards that together hold every run, whatever order the lists were given in', () => {
    for (const n of [1, 2, 3, 5, 27, 30]) {
      const shards = Array.from({ length: n }, (_, i) => shardRuns(g, { index: i, count: n }).map((r) => r.id));
      const all = shards.flat();
      expect(new Set(all).size).toBe(all.length);
      expect([...all].sort()).toEqual(g.map((r) => r.id).sort());
      expect(Math.max(...shards.map((s) => s.length)) - Math.min(...shards.map((s) => s.length))).toBeLessThanOrEqual(1);
    }
    const reordered = benchGrid(['d3', 'd1', 'd2'], ['fpt-plus', 'lora', 'full'], [2, 0, 1]);
    for (let i = 0; i < 4; i++) expect(shardRuns(reordered, { index: i, count: 4 })).toEqual(shardRuns(g, { index: i, count: 4 }));
  });

  it("--dry-run prints the shard's runs without reading data", () => {
    const r = bench([...grid, '--data-root', join(root, 'absent'), '--shard', '1/3', '--dry-run', '--out', join(root, 'none')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("shard 1/3 (0-based): 3 of the grid's 8 runs");
    const listed = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('  '))
      .map((l) => l.trim());
    expect(listed).toEqual(shardRuns(benchGrid(['toy', 'toy3'], ['lora', 'fpt-plus'], [0, 1]), { index: 1, count: 3 }).map((x) => x.id));
    expect(existsSync(join(root, 'none'))).toBe(false);
  });
});

describe('fpt-bench merge', () => {
  const whole = join(root, 'whole');
  const shard = (i: number) => join(root, `shard${i}`);

  it("three shards, merged, give the unsharded run's table.md and table.csv byte for byte", async () => {
    // The unsharded run and the three shards run at once (separate processes, separate folders).
    const runs = await Promise.all([
      benchAsync([...grid, '--out', whole]),
      ...[0, 1, 2].map((i) => benchAsync([...grid, '--shard', `${i}/3`, '--out', shard(i)])),
    ]);
    for (const r of runs) expect(r.status, r.stderr).toBe(0);
    expect(runs[1]?.stdout).toContain('when every shard has finished: fpt-bench merge');
    expect(existsSync(join(shard(0), 'table.md'))).toBe(false);
    const merged = join(root, 'merged');
    const m = bench(['merge', shard(0), shard(1), shard(2), '--out', merged]);
    expect(m.status, m.stderr + m.stdout).toBe(0);
    expect(m.stdout).toContain('merged 8 runs from 3 folder(s)');
    expect(readFileSync(join(merged, 'table.md'))).toEqual(readFileSync(join(whole, 'table.md')));
    expect(readFileSync(join(merged, 'table.csv'))).toEqual(readFileSync(join(whole, 'table.csv')));
    expect(readdirSync(join(merged, 'plots')).sort()).toEqual(readdirSync(join(whole, 'plots')).sort());
    // Two seeds: every mean AUC has its 95 % interval (issue 22), the same as computed here from the result files.
    const md = readFileSync(join(whole, 'table.md'), 'utf8');
    expect(md).toContain('| mean AUC 95 % interval |');
    expect(md).toContain('Noise: mean AUC ± standard deviation over 2 seeds, and its 95 % interval [low, high]');
    const csv = readFileSync(join(whole, 'table.csv'), 'utf8').trim().split('\n');
    const head = csv[0]!.split(',');
    for (const method of ['lora', 'fpt-plus']) {
      const row = csv.find((l) => l.startsWith(`${method},`))!.split(',');
      const rs = results(whole).filter((r) => r.method.name === method);
      const perDataset = ['toy', 'toy3'].map((d) =>
        rs
          .filter((r) => r.dataset.name === d)
          .sort((a, b) => a.seed - b.seed)
          .map((r) => 100 * r.test.aucLogits!),
      );
      const i = meanInterval(perDataset);
      if (!i) expect(row[head.indexOf('mean_auc_low95')]).toBe('');
      else {
        expect(Number(row[head.indexOf('mean_auc_low95')])).toBeCloseTo(i.low, 5);
        expect(Number(row[head.indexOf('mean_auc_high95')])).toBeCloseTo(i.high, 5);
      }
    }
  });

  it('lists missing runs (exit 1, and under the table) rather than leaving them out silently', () => {
    const out = join(root, 'partial');
    const m = bench(['merge', shard(0), shard(2), '--out', out]);
    expect(m.status).toBe(1);
    const missing = shardRuns(benchGrid(['toy', 'toy3'], ['lora', 'fpt-plus'], [0, 1]), { index: 1, count: 3 }).map((r) => r.id);
    expect(m.stdout).toContain(`${missing.length} run(s) of the grid recorded in grid.json have no result`);
    for (const id of missing) expect(m.stdout).toContain(`- ${id}`);
    expect(readFileSync(join(out, 'table.md'), 'utf8')).toContain(`### Missing runs (${missing.length} of 8`);
  });

  it('accepts identical duplicates and rejects a run with two different results, naming both files', () => {
    const copy = join(root, 'copy');
    cpSync(shard(0), copy, { recursive: true });
    // A rerun of the same run elsewhere: other timings and date, the same outcome.
    const id = first(readdirSync(join(copy, 'runs')), 'result in copy/runs');
    const r = JSON.parse(readFileSync(join(copy, 'runs', id), 'utf8')) as RunResult;
    writeFileSync(
      join(copy, 'runs', id),
      JSON.stringify({ ...r, finishedAt: '2000-01-01T00:00:00.000Z', timing: { ...r.timing, totalSeconds: 1 } }),
    );
    const ok = mergeResultFolders([shard(0), copy, shard(1), shard(2)], join(root, 'dup-ok'));
    expect(ok.missing).toEqual([]);
    expect(ok.duplicates).toContainEqual([join(shard(0), 'runs', id), join(copy, 'runs', id)]);
    writeFileSync(join(copy, 'runs', id), JSON.stringify({ ...r, test: { ...r.test, auc: r.test.auc === 0.5 ? 0.6 : 0.5 } }));
    expect(() => mergeResultFolders([shard(0), copy], join(root, 'dup-bad'))).toThrow(
      `run ${id.replace('.json', '')} has two different results: ${join(shard(0), 'runs', id)} and ${join(copy, 'runs', id)} differ at "test.auc"`,
    );
    expect(existsSync(join(root, 'dup-bad'))).toBe(false);
  });
});

describe('shards sharing one key/value cache', () => {
  it('two processes preloading the same dataset at once compute every entry once', async () => {
    // Both shards train fpt-plus on toy (seed 0 and seed 1) and start together on one cache.
    const cache = join(root, 'shared-cache');
    const args = sharedCacheRun(cache);
    const [a, b] = await twoShards(args, 'cache');
    expect(a.status, a.stderr).toBe(0);
    expect(b.status, b.stderr).toBe(0);
    const [ra, rb] = [first(results(join(root, 'cache0')), 'result of shard 0'), first(results(join(root, 'cache1')), 'result of shard 1')];
    const entries = readdirSync(cacheFolder(cache)).filter((f) => f.endsWith('.safetensors'));
    expect(ra.preload!.images).toBe(entries.length);
    // Without claims both computed every entry (measured: 16 + 16 for 16 entries); now the two
    // processes' computed counts add up to the number of entries.
    expect(ra.preload!.computed + rb.preload!.computed).toBe(entries.length);
    expect(ra.preload!.computed + ra.preload!.hits).toBe(entries.length);
    expect(readdirSync(cacheFolder(cache)).filter((f) => f.endsWith('.claim'))).toEqual([]);
  });

  it('two processes released at the same instant on an empty cache still compute every entry once', async () => {
    // Forced overlap: this test holds every entry's claim until both processes are preloading.
    const cache = join(root, 'shared-cache');
    const folder = cacheFolder(cache);
    const entries = readdirSync(folder).filter((f) => f.endsWith('.safetensors'));
    for (const e of entries) {
      rmSync(join(folder, e));
      writeFileSync(join(folder, `${e}.claim`), JSON.stringify({ host: hostname(), pid: process.pid }));
    }
    const args = sharedCacheRun(cache);
    const preloading = [false, false];
    let released = false;
    const release = () => {
      if (released || !preloading.every(Boolean)) return;
      released = true;
      setTimeout(() => entries.forEach((e) => rmSync(join(folder, `${e}.claim`))), 300);
    };
    const [a, b] = await twoShards(args, 'forced', (i, text) => {
      preloading[i] = text.includes(' preload: 0/');
      release();
    });
    expect(a.status, a.stderr).toBe(0);
    expect(b.status, b.stderr).toBe(0);
    expect(released).toBe(true);
    const [ra, rb] = [
      first(results(join(root, 'forced0')), 'result of shard 0'),
      first(results(join(root, 'forced1')), 'result of shard 1'),
    ];
    expect(ra.preload!.computed + rb.preload!.computed).toBe(entries.length);
  });

  it('waits for an entry another live process holds, and takes over claims whose holders died', async () => {
    const cache = join(root, 'shared-cache');
    const folder = cacheFolder(cache);
    const entries = readdirSync(folder).filter((f) => f.endsWith('.safetensors'));
    for (const e of entries) rmSync(join(folder, e));
    const entry = (i: number) => first(entries.slice(i), `cache entry ${i}`);
    const claim = (i: number) => join(folder, `${entry(i)}.claim`);
    // Held by a live process on this host (this test): released 1 s after the run has taken over the others.
    writeFileSync(claim(0), JSON.stringify({ host: hostname(), pid: process.pid }));
    // Left by a process of this host that has exited.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    writeFileSync(claim(1), JSON.stringify({ host: hostname(), pid: dead }));
    // Left by another machine and not refreshed for an hour.
    writeFileSync(claim(2), JSON.stringify({ host: 'elsewhere', pid: 1 }));
    const hourAgo = new Date(Date.now() - 3_600_000);
    utimesSync(claim(2), hourAgo, hourAgo);
    const args = sharedCacheRun(cache, '0');
    const running = benchAsync([...args, '--out', join(root, 'cache-claims')]);
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (existsSync(claim(1)) || existsSync(claim(2))) return;
        clearInterval(timer);
        setTimeout(() => {
          // Still waiting for entry 0: it was not computed behind our claim.
          expect(existsSync(join(folder, entry(0)))).toBe(false);
          rmSync(claim(0));
          resolve();
        }, 1000);
      }, 20);
    });
    const r = await running;
    expect(r.status, r.stderr).toBe(0);
    const result = first(results(join(root, 'cache-claims')), 'result in cache-claims');
    expect(result.preload!.computed).toBe(entries.length);
    expect(result.preload!.seconds).toBeGreaterThan(1);
    expect(readdirSync(folder).filter((f) => f.endsWith('.claim'))).toEqual([]);
  });
});
