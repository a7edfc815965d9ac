import { createHash } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  copyFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { atomicWriteFile, readSafetensorsFile } from '@fpt/core/node';
import type { Progress } from '../terminal/progress';

/** Settings of {@link hubDownload}; each defaults to the Hugging Face environment variable. */
export interface HubOptions {
  /** Hub URL (`HF_ENDPOINT`, default https://huggingface.co). */
  endpoint?: string;
  /** The hub cache folder (`HF_HUB_CACHE`, else `$HF_HOME/hub`, else ~/.cache/huggingface/hub). */
  cacheDir?: string;
  /** Access token (`HF_TOKEN`), sent as a bearer token. */
  token?: string;
  /** Never touch the network (`HF_HUB_OFFLINE=1`): use the cache or fail. */
  offline?: boolean;
  /** Download progress. */
  progress?: Progress;
  /** Seconds without an answer or a byte before a request is given up as stalled (`HF_HUB_DOWNLOAD_TIMEOUT`, default 10, as huggingface_hub). */
  timeoutSeconds?: number;
}

/** Where {@link hubDownload} found or put the file. */
export interface HubFile {
  /** `<cache>/models--<org>--<name>/snapshots/<commit>/<file>`. */
  path: string;
  /** The commit the revision resolved to. */
  commit: string;
  /** `cached` (found in the cache), `downloaded` or `resumed` (a partial download completed). */
  how: 'cached' | 'downloaded' | 'resumed';
}

const truthy = (v: string | undefined) => v !== undefined && ['1', 'true', 'yes', 'on'].includes(v.toLowerCase());

/** The options from the environment (HF_ENDPOINT, HF_HOME, HF_HUB_CACHE, HF_TOKEN, HF_HUB_OFFLINE), overridden by `o`. */
export function hubOptionsFromEnv(
  o: HubOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): Required<Omit<HubOptions, 'token' | 'progress'>> & HubOptions {
  const home = env.HF_HOME ?? join(homedir(), '.cache', 'huggingface');
  const timeout = o.timeoutSeconds ?? (env.HF_HUB_DOWNLOAD_TIMEOUT === undefined ? 10 : Number(env.HF_HUB_DOWNLOAD_TIMEOUT));
  if (!(timeout > 0)) throw new Error(`HF_HUB_DOWNLOAD_TIMEOUT must be a positive number of seconds, got "${env.HF_HUB_DOWNLOAD_TIMEOUT}"`);
  return {
    timeoutSeconds: timeout,
    endpoint: (o.endpoint ?? env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, ''),
    cacheDir: o.cacheDir ?? env.HF_HUB_CACHE ?? join(home, 'hub'),
    token: o.token ?? env.HF_TOKEN,
    offline: o.offline ?? truthy(env.HF_HUB_OFFLINE),
    progress: o.progress,
  };
}

/**
 * Checks a repository id as huggingface_hub's `validate_repo_id` does: `org/name` of letters,
 * digits, `-`, `_` and `.`, no `--` or `..`, not starting or ending with `-` or `.`, at most 96
 * characters; the id becomes a cache folder name, so nothing else may pass.
 * @throws naming the id and what is expected
 */
export function validateRepoId(repo: string): void {
  const part = /^[A-Za-z0-9_](?:[\w.-]*[A-Za-z0-9_])?$/;
  const parts = repo.split('/');
  if (
    parts.length !== 2 ||
    !parts.every((p) => part.test(p)) ||
    repo.includes('--') ||
    repo.includes('..') ||
    repo.length > 96 ||
    repo.endsWith('.git')
  )
    throw new Error(
      `hub repository must be "org/name" (letters, digits, "-", "_", "."; no "--" or ".."; at most 96 characters), got "${repo}"`,
    );
}

/**
 * Checks a revision (branch, tag or commit): it names a file under `refs/` in the cache, so it must
 * have no empty, `.` or `..` parts, no backslash or control characters, and not be absolute.
 * @throws naming the revision and what is expected
 */
export function validateRevision(revision: string): void {
  const parts = revision.split('/');
  if (
    revision === '' ||
    parts.some((p) => p === '' || p === '.' || p === '..') ||
    [...revision].some((ch) => ch === '\\' || ch.charCodeAt(0) < 0x20)
  )
    throw new Error(
      `hub revision must be a branch, tag or commit name (no empty parts, ".", ".." or leading "/"), got ${JSON.stringify(revision)}`,
    );
}

/** Why a fetch failed, in words (undici hides the reason in `cause`: "redirect count exceeded", "connect ECONNREFUSED"). */
function fetchFailure(err: unknown): string {
  const e = err as Error & { cause?: Error };
  return e.cause?.message ?? e.message;
}

/**
 * `fetch` bounded in time: no answer within `seconds` aborts it. The returned `idle()` restarts the
 * clock (call it on every body chunk, so a stalled body is aborted too) and `done()` stops it.
 */
function boundedFetch(url: string, init: RequestInit, seconds: number) {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const idle = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(new Error(`no data for ${seconds} s: stalled (HF_HUB_DOWNLOAD_TIMEOUT)`)), seconds * 1000);
  };
  idle();
  return {
    response: fetch(url, { ...init, signal: controller.signal }).catch((err) => {
      clearTimeout(timer);
      throw controller.signal.aborted ? controller.signal.reason : err;
    }),
    idle,
    done: () => clearTimeout(timer),
  };
}

/**
 * Checks that a downloaded file is what its name says before it enters the cache: a safetensors
 * file must parse (header and every tensor), a JSON file must be JSON. A proxy's HTML page or a
 * truncated body of unknown length is refused here.
 * @returns why it is not, or undefined
 */
function invalidDownload(path: string, filename: string): string | undefined {
  try {
    if (filename.endsWith('.safetensors')) readSafetensorsFile(path);
    else if (filename.endsWith('.json')) JSON.parse(readFileSync(path, 'utf8'));
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** The cache folder of a model repository, as huggingface_hub names it. */
export function repoFolder(cacheDir: string, repo: string): string {
  return join(cacheDir, `models--${repo.split('/').join('--')}`);
}

function fromCache(folder: string, revision: string, filename: string): HubFile | undefined {
  const commit = /^[0-9a-f]{40}$/.test(revision)
    ? revision
    : existsSync(join(folder, 'refs', revision))
      ? readFileSync(join(folder, 'refs', revision), 'utf8').trim()
      : undefined;
  if (!commit) return undefined;
  const path = join(folder, 'snapshots', commit, filename);
  return existsSync(path) ? { path, commit, how: 'cached' } : undefined;
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

function linkSnapshot(folder: string, commit: string, filename: string, blob: string): string {
  const path = join(folder, 'snapshots', commit, filename);
  mkdirSync(dirname(path), { recursive: true });
  rmSync(path, { force: true });
  try {
    symlinkSync(relative(dirname(path), blob), path);
  } catch {
    copyFileSync(blob, path); // file systems without symlinks, as huggingface_hub does
  }
  return path;
}

/**
 * Fetches one file of a Hugging Face model repository into the hub's standard cache layout
 * (`models--org--name/{blobs,refs,snapshots}`), so that files a Python user downloaded are found
 * and ours are found by Python. A file already in the cache is reused; an interrupted download
 * resumes from its `.incomplete` blob with an HTTP range request; an LFS file's sha256 is checked
 * against the hub's `X-Linked-Etag` before it is kept.
 * @param repo - `org/name`
 * @param filename - file in the repository (`model.safetensors`)
 * @param revision - branch, tag or commit (default `main`)
 * @param options - endpoint, cache, token, offline mode, progress
 * @throws naming the URL or cache path and the reason (not found, unauthorised, offline and not cached, hash mismatch)
 */
export async function hubDownload(repo: string, filename: string, revision = 'main', options: HubOptions = {}): Promise<HubFile> {
  validateRepoId(repo);
  validateRevision(revision);
  const o = hubOptionsFromEnv(options);
  const folder = repoFolder(o.cacheDir, repo);
  const url = `${o.endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${filename}`;
  if (o.offline) {
    const hit = fromCache(folder, revision, filename);
    if (!hit) throw new Error(`HF_HUB_OFFLINE is set and ${repo}@${revision}/${filename} is not in the cache (${folder})`);
    return hit;
  }
  const headers: Record<string, string> = o.token ? { authorization: `Bearer ${o.token}` } : {};
  let head: Response;
  const headRequest = boundedFetch(url, { method: 'HEAD', headers, redirect: 'manual' }, o.timeoutSeconds);
  try {
    head = await headRequest.response;
  } catch (err) {
    const hit = fromCache(folder, revision, filename);
    if (hit) return hit; // no network: the cached copy, as huggingface_hub falls back
    throw new Error(`${url}: cannot reach the hub (${fetchFailure(err)}) and the file is not in the cache (${folder})`);
  } finally {
    headRequest.done();
  }
  if (head.status === 401 || head.status === 403)
    throw new Error(`${url}: HTTP ${head.status}: the repository needs access (set HF_TOKEN to a token that has it)`);
  if (head.status === 404) throw new Error(`${url}: HTTP 404: no such repository, revision or file`);
  if (head.status >= 400) throw new Error(`${url}: HTTP ${head.status}`);
  const commit = head.headers.get('x-repo-commit');
  const etag = (head.headers.get('x-linked-etag') ?? head.headers.get('etag') ?? '').replace(/^W\//, '').replace(/"/g, '');
  const size = Number(head.headers.get('x-linked-size') ?? head.headers.get('content-length') ?? NaN);
  if (!commit || !etag)
    throw new Error(`${url}: the hub's answer lacks X-Repo-Commit or ETag; is HF_ENDPOINT (${o.endpoint}) a Hugging Face hub?`);
  // Both become cache paths: a commit is 40 hex digits, an ETag a hash.
  if (!/^[0-9a-f]{40}$/.test(commit) || !/^[\w-]{8,128}$/.test(etag))
    throw new Error(
      `${url}: the hub answered X-Repo-Commit ${JSON.stringify(commit)} and ETag ${JSON.stringify(etag)}; expected a 40-digit hex commit and a hash`,
    );
  const writeRef = () => {
    if (revision !== commit) {
      mkdirSync(join(folder, 'refs'), { recursive: true });
      atomicWriteFile(join(folder, 'refs', revision), commit);
    }
  };
  const snapshot = join(folder, 'snapshots', commit, filename);
  if (existsSync(snapshot)) {
    writeRef();
    return { path: snapshot, commit, how: 'cached' };
  }
  const blob = join(folder, 'blobs', etag);
  mkdirSync(dirname(blob), { recursive: true });
  if (existsSync(blob)) {
    writeRef();
    return { path: linkSnapshot(folder, commit, filename, blob), commit, how: 'cached' };
  }
  const partial = `${blob}.incomplete`;
  const have = existsSync(partial) ? statSync(partial).size : 0;
  const request = boundedFetch(url, { headers: { ...headers, ...(have > 0 ? { range: `bytes=${have}-` } : {}) } }, o.timeoutSeconds);
  let res: Response;
  try {
    res = await request.response;
  } catch (err) {
    throw new Error(`${url}: cannot download (${fetchFailure(err)})`);
  }
  if (!res.ok || !res.body) {
    request.done();
    throw new Error(`${url}: HTTP ${res.status} while downloading`);
  }
  const resumed = res.status === 206 && have > 0;
  const start = resumed ? have : 0;
  const bar = o.progress?.bar(`download ${repo}/${filename}${resumed ? ' (resumed)' : ''}`, Number.isFinite(size) ? size : 0);
  const file = createWriteStream(partial, { flags: resumed ? 'a' : 'w' });
  let got = start;
  const fail = (message: string): never => {
    bar?.stop('failed');
    throw new Error(message);
  };
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      request.idle();
      if (!file.write(chunk)) await new Promise<void>((r) => file.once('drain', () => r()));
      got += chunk.length;
      bar?.update(got);
    }
  } catch (err) {
    await new Promise<void>((r) => file.end(r));
    fail(`${url}: download interrupted after ${got} of ${size} bytes (${fetchFailure(err)}); run again to resume from ${partial}`);
  } finally {
    request.done();
  }
  await new Promise<void>((r) => file.end(r));
  if (Number.isFinite(size) && got !== size)
    fail(`${url}: download stopped at ${got} of ${size} bytes; run again to resume from ${partial}`);
  if (/^[0-9a-f]{64}$/.test(etag)) {
    const actual = await sha256File(partial);
    if (actual !== etag) {
      rmSync(partial, { force: true });
      fail(`${url}: downloaded file's sha256 ${actual} does not match the hub's ${etag} (X-Linked-Etag); the partial file was removed`);
    }
  }
  const invalid = invalidDownload(partial, filename);
  if (invalid) {
    rmSync(partial, { force: true });
    fail(
      `${url}: the downloaded file is not a valid ${filename} (${invalid}); it was not cached (is HF_ENDPOINT ${o.endpoint} a Hugging Face hub?)`,
    );
  }
  bar?.stop();
  renameSync(partial, blob);
  writeRef();
  return { path: linkSnapshot(folder, commit, filename, blob), commit, how: resumed ? 'resumed' : 'downloaded' };
}
