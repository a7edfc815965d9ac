import type { SampleInputs } from '@fpt/fpt-plus';

// The LPM's preloaded keys/values kept in the browser (IndexedDB), so that a reload or a new
// session on the same LPM does not recompute them. Entries are keyed as the Node KvCache keys its
// files: the entry fingerprint (kvEntryFingerprint of the method's feature fingerprint and the
// storage dtype) and a per-image SHA-256; here the image hash is of the LPM's input pixels (the
// decode is the browser's, so the decoded pixels, not the file bytes, are what the entry depends on).

const DB_NAME = 'fpt-studio';
const STORE = 'kv';

const done = <T>(request: IDBRequest<T>) =>
  new Promise<T>((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });

/** The browser's store of preloaded inputs, one record per entry fingerprint and image. */
export class BrowserKvStore {
  private constructor(private readonly db: IDBDatabase) {}

  /** Opens (creating it if needed) the page's database; undefined when the browser gives none (then nothing is cached). */
  static async open(): Promise<BrowserKvStore | undefined> {
    if (typeof indexedDB === 'undefined') return undefined;
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    try {
      return new BrowserKvStore(await done(request));
    } catch {
      return undefined;
    }
  }

  /** The entries of `imageHashes` under `fingerprint`, undefined where there is none or it has another size than `sizes` says. */
  async getMany(fingerprint: string, imageHashes: readonly string[], sizes: Record<string, number>): Promise<(SampleInputs | undefined)[]> {
    const store = this.db.transaction(STORE, 'readonly').objectStore(STORE);
    const found = await Promise.all(imageHashes.map((h) => done(store.get(`${fingerprint}/${h}`) as IDBRequest<SampleInputs | undefined>)));
    // An entry with a missing input or another length is not used (it is rewritten on the next preload).
    return found.map((e) =>
      e && Object.entries(sizes).every(([name, size]) => e[name] instanceof Float32Array && e[name].length === size) ? e : undefined,
    );
  }

  /** Writes entries under `fingerprint` in one transaction. */
  async putMany(fingerprint: string, entries: ReadonlyArray<[imageHash: string, inputs: SampleInputs]>): Promise<void> {
    const tx = this.db.transaction(STORE, 'readwrite');
    const store = tx.objectStore(STORE);
    for (const [hash, inputs] of entries) store.put(inputs, `${fingerprint}/${hash}`);
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error ?? new Error('the IndexedDB transaction was aborted'));
    });
  }

  /** Removes every entry (the page's "clear" button). */
  async clear(): Promise<void> {
    await done(this.db.transaction(STORE, 'readwrite').objectStore(STORE).clear());
  }
}
