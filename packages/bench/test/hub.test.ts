import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { writeSafetensors } from '@fpt/core';
import { createVit, vitConfig } from '@fpt/backbone-vit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { hubDownload, repoFolder } from '../src/hub/hub';
import { createProgress } from '../src/terminal/progress';
import { resolveWeights } from '../src/hub/weights';
import { createLpm, vitConfigFromCheckpoint } from '../src/run/lpm';

// A real HTTP server on 127.0.0.1 in the hub's URL layout: HEAD/GET /<org>/<name>/resolve/<rev>/<file>
// answer with X-Repo-Commit and (for the LFS file) X-Linked-Etag = sha256, then redirect to the blob,
// which honours Range requests, as huggingface.co and its CDN do.
const COMMIT = 'c0ffee0000000000000000000000000000000001';
const config = vitConfig({
  hiddenSize: 16,
  numLayers: 2,
  numHeads: 2,
  mlpDim: 32,
  patchSize: 8,
  imageSize: 32,
  numClasses: 3,
  layerNormEps: 1e-6,
});
let weights: Uint8Array;
let sha: string;
const configJson = JSON.stringify({ num_attention_heads: 2, layer_norm_eps: 1e-6 });
let server: Server;
let endpoint: string;
const log: Array<{ method: string; url: string; range?: string; auth?: string }> = [];
const behaviour = { cutFirstGetAt: 0, corrupt: false, redirectLoop: false, stallAt: 0, html: false };
const HTML = new TextEncoder().encode('<!doctype html><html><body>Sign in to continue</body></html>');

function files(): Record<string, { body: Uint8Array; lfs: boolean }> {
  if (behaviour.html) return { 'model.safetensors': { body: HTML, lfs: false } };
  return { 'model.safetensors': { body: weights, lfs: true }, 'config.json': { body: new TextEncoder().encode(configJson), lfs: false } };
}

beforeAll(async () => {
  const vit = createVit(config, { seed: 3 });
  weights = writeSafetensors(
    Object.fromEntries(
      vit
        .namedParameters()
        .map((p) => [p.name, { dtype: 'float32' as const, shape: p.variable.shape, data: p.variable.dataSync() as Float32Array }]),
    ),
  );
  vit.dispose();
  sha = createHash('sha256').update(weights).digest('hex');
  server = createServer((req: IncomingMessage, res) => {
    log.push({ method: req.method!, url: req.url!, range: req.headers.range, auth: req.headers.authorization });
    const resolve = /^\/([\w.-]+\/[\w.-]+)\/resolve\/([^/]+)\/(.+)$/.exec(req.url!);
    const blob = /^\/cdn\/(.+)$/.exec(req.url!);
    if (resolve) {
      const f = files()[resolve[3]!]; // the pattern's third group always matches
      if (resolve[1] !== 'tiny/vit' || !f) return res.writeHead(404).end();
      const etag = f.lfs ? sha : createHash('sha1').update(f.body).digest('hex');
      const headers = {
        'x-repo-commit': COMMIT,
        etag: `"${etag}"`,
        ...(f.lfs ? { 'x-linked-etag': `"${sha}"`, 'x-linked-size': String(f.body.length) } : { 'content-length': String(f.body.length) }),
      };
      if (f.lfs) return res.writeHead(302, { ...headers, location: `/cdn/${resolve[3]}` }).end();
      if (behaviour.html) {
        // A body of unknown length (chunked), without a sha256 ETag: a proxy's login page.
        const { 'content-length': _, ...unsized } = headers as Record<string, string>;
        res.writeHead(200, unsized);
        if (req.method !== 'HEAD') res.write(Buffer.from(f.body));
        return res.end();
      }
      res.writeHead(200, headers);
      return res.end(req.method === 'HEAD' ? undefined : Buffer.from(f.body));
    }
    if (blob && behaviour.redirectLoop) return res.writeHead(302, { location: req.url }).end();
    if (blob) {
      const file = files()[blob[1]!]; // the pattern's group always matches
      if (!file) return res.writeHead(404).end();
      let body = Buffer.from(file.body);
      if (behaviour.corrupt) body = Buffer.concat([body.subarray(0, body.length - 4), Buffer.from([1, 2, 3, 4])]);
      const m = /bytes=(\d+)-/.exec(req.headers.range ?? '');
      const start = m ? Number(m[1]) : 0;
      const part = body.subarray(start);
      res.writeHead(m ? 206 : 200, {
        'content-length': String(part.length),
        ...(m ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}),
      });
      if (behaviour.stallAt > 0) {
        res.write(part.subarray(0, behaviour.stallAt));
        setTimeout(() => res.destroy(), 5000); // silent until then
        return;
      }
      if (behaviour.cutFirstGetAt > 0) {
        const cut = behaviour.cutFirstGetAt;
        behaviour.cutFirstGetAt = 0;
        res.write(part.subarray(0, cut), () => setTimeout(() => res.destroy(), 20));
        return;
      }
      return res.end(part);
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => server.close());

let cache: string;
beforeEach(() => {
  cache = mkdtempSync(join(tmpdir(), 'fpt-hub-'));
  log.length = 0;
  behaviour.cutFirstGetAt = 0;
  behaviour.corrupt = false;
  behaviour.redirectLoop = false;
  behaviour.stallAt = 0;
  behaviour.html = false;
});
afterAll(() => rmSync(cache, { recursive: true, force: true }));

describe('hub download (against a local HTTP server)', () => {
  it('fresh: downloads into the hub cache layout with the token, then a second call reuses the cache', async () => {
    const got = await hubDownload('tiny/vit', 'model.safetensors', 'main', { endpoint, cacheDir: cache, token: 'hf_secret' });
    const folder = repoFolder(cache, 'tiny/vit');
    expect(got).toEqual({ path: join(folder, 'snapshots', COMMIT, 'model.safetensors'), commit: COMMIT, how: 'downloaded' });
    expect(lstatSync(got.path).isSymbolicLink()).toBe(true);
    expect(readlinkSync(got.path)).toBe(join('..', '..', 'blobs', sha));
    expect(readFileSync(join(folder, 'refs', 'main'), 'utf8')).toBe(COMMIT);
    expect(createHash('sha256').update(readFileSync(got.path)).digest('hex')).toBe(sha);
    expect(log.every((l) => l.auth === 'Bearer hf_secret')).toBe(true);
    log.length = 0;
    const again = await hubDownload('tiny/vit', 'model.safetensors', 'main', { endpoint, cacheDir: cache });
    expect(again.how).toBe('cached');
    expect(log.map((l) => l.method)).toEqual(['HEAD']);
  });

  it('resumes an interrupted download with a range request', async () => {
    behaviour.cutFirstGetAt = 1000;
    await expect(hubDownload('tiny/vit', 'model.safetensors', 'main', { endpoint, cacheDir: cache })).rejects.toThrow(
      /download (interrupted|stopped)/,
    );
    const partial = join(repoFolder(cache, 'tiny/vit'), 'blobs', `${sha}.incomplete`);
    expect(existsSync(partial)).toBe(true);
    const got = await hubDownload('tiny/vit', 'model.safetensors', 'main', { endpoint, cacheDir: cache });
    expect(got.how).toBe('resumed');
    expect(log.filter((l) => l.url.startsWith('/cdn/')).map((l) => l.range)).toEqual([undefined, `bytes=1000-`]);
    expect(createHash('sha256').update(readFileSync(got.path)).digest('hex')).toBe(sha);
    expect(existsSync(partial)).toBe(false);
  });

  it('offline: uses the cache without any request, and fails naming the cache when the file is absent', async () => {
    await expect(hubDownload('tiny/vit', 'model.safetensors', 'main', { endpoint, cacheDir: cache, offline: true })).rejects.toThrow(
      `HF_HUB_OFFLINE is set and tiny/vit@main/model.safetensors is not in the cache (${repoFolder(cache, 'tiny/vit')})`,
    );
    await hubDownload('tiny/vit', 'model.safetensors', 'main', { endpoint, cacheDir: cache });
    log.length = 0;
    process.env.HF_HUB_OFFLINE = '1';
    try {
      const got = await hubDownload('tiny/vit', 'model.safetensors', 'main', { endpoint, cacheDir: cache });
      expect(got.how).toBe('cached');
      expect(log).toEqual([]);
    } finally {
      delete process.env.HF_HUB_OFFLINE;
    }
  });

  it('a bad hash is refused and the partial file removed', async () => {
    behaviour.corrupt = true;
    await expect(hubDownload('tiny/vit', 'model.safetensors', 'main', { endpoint, cacheDir: cache })).rejects.toThrow(
      /sha256 [0-9a-f]{64} does not match the hub's [0-9a-f]{64}/,
    );
    const blobs = join(repoFolder(cache, 'tiny/vit'), 'blobs');
    expect(existsSync(join(blobs, sha))).toBe(false);
    expect(existsSync(join(blobs, `${sha}.incomplete`))).toBe(false);
  });

  it('a missing repository is a 404 naming the URL', async () => {
    await expect(hubDownload('tiny/nope', 'model.safetensors', 'main', { endpoint, cacheDir: cache })).rejects.toThrow(
      `${endpoint}/tiny/nope/resolve/main/model.safetensors: HTTP 404`,
    );
  });

  it('--weights hf:REPO (HF_ENDPOINT, HF_HOME) gives an LPM with the checkpoint weights', async () => {
    process.env.HF_ENDPOINT = endpoint;
    process.env.HF_HOME = cache;
    try {
      const w = await resolveWeights('hf:tiny/vit');
      expect(w.source).toBe(`hf:tiny/vit@${COMMIT}`);
      expect(w.path).toBe(join(cache, 'hub', 'models--tiny--vit', 'snapshots', COMMIT, 'model.safetensors'));
      const c = vitConfigFromCheckpoint(w.path);
      expect({ ...c }).toEqual({ ...config });
      const before = tf.memory().numTensors;
      const lpm = createLpm({ config: c, inputSize: 32, weightsPath: w.path, source: w.source, initSeed: 0 });
      const ref = createVit(config, { seed: 3 });
      expect(Array.from(lpm.get('blocks.1.attn.qkv.weight').dataSync())).toEqual(
        Array.from(ref.get('blocks.1.attn.qkv.weight').dataSync()),
      );
      lpm.dispose();
      ref.dispose();
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      delete process.env.HF_ENDPOINT;
      delete process.env.HF_HOME;
    }
  });
});

describe('hub: paths and failures (issue 17 items 9, 11)', () => {
  it('refuses repository ids and revisions that would leave the cache, or are empty (item 9)', async () => {
    for (const rev of ['../../../x', 'a/../../b', '', 'a//b', '/abs', '.', 'a\\b'])
      await expect(hubDownload('tiny/vit', 'model.safetensors', rev, { endpoint, cacheDir: cache }), rev).rejects.toThrow(
        `hub revision must be a branch, tag or commit name (no empty parts, ".", ".." or leading "/"), got ${JSON.stringify(rev)}`,
      );
    for (const repo of ['../x', 'a/b/c', 'a--b/c', 'a/..', '.a/b', 'a/b.git', 'a', `a/${'b'.repeat(96)}`])
      await expect(hubDownload(repo, 'model.safetensors', 'main', { endpoint, cacheDir: cache }), repo).rejects.toThrow(
        `hub repository must be "org/name" (letters, digits, "-", "_", "."; no "--" or ".."; at most 96 characters), got "${repo}"`,
      );
    await expect(resolveWeights('hf:tiny/vit@', { endpoint, cacheDir: cache })).rejects.toThrow(
      '--weights hf:tiny/vit@: the revision after "@" is empty; give a branch, tag or commit, or leave out "@"',
    );
    await expect(resolveWeights('hf:tiny/vit@../../../x', { endpoint, cacheDir: cache })).rejects.toThrow('hub revision must be');
    expect(log).toEqual([]); // refused before any request
  });

  it('a redirect loop names the URL and the cause (item 11)', async () => {
    behaviour.redirectLoop = true;
    await expect(hubDownload('tiny/vit', 'model.safetensors', 'main', { endpoint, cacheDir: cache })).rejects.toThrow(
      `${endpoint}/tiny/vit/resolve/main/model.safetensors: cannot download (redirect count exceeded)`,
    );
  });

  it('a stalled download ends after the timeout with a message, and the progress does not say done (item 11)', async () => {
    behaviour.stallAt = 1000;
    const lines: string[] = [];
    const t0 = Date.now();
    await expect(
      hubDownload('tiny/vit', 'model.safetensors', 'main', {
        endpoint,
        cacheDir: cache,
        timeoutSeconds: 0.5,
        progress: createProgress(false, (l) => lines.push(l)),
      }),
    ).rejects.toThrow(
      `${endpoint}/tiny/vit/resolve/main/model.safetensors: download interrupted after 1000 of ${weights.length} bytes (no data for 0.5 s: stalled (HF_HUB_DOWNLOAD_TIMEOUT)); run again to resume from`,
    );
    expect(Date.now() - t0).toBeLessThan(4000);
    expect(lines.at(-1)).toMatch(/^download tiny\/vit\/model.safetensors: failed after \d/);
    expect(lines.some((l) => l.includes('done'))).toBe(false);
  });

  it('an HTML page of unknown length without a sha256 ETag is not cached as the weights (item 11)', async () => {
    behaviour.html = true;
    await expect(hubDownload('tiny/vit', 'model.safetensors', 'main', { endpoint, cacheDir: cache })).rejects.toThrow(
      `${endpoint}/tiny/vit/resolve/main/model.safetensors: the downloaded file is not a valid model.safetensors (safetensors:`,
    );
    const folder = repoFolder(cache, 'tiny/vit');
    expect(readdirSync(join(folder, 'blobs'))).toEqual([]);
    expect(existsSync(join(folder, 'snapshots'))).toBe(false);
  });
});
