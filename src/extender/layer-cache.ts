import { mkdir, readFile, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { DirBlobStore, isDigest, isOciError, storedLayer, writeFileAtomic, type BlobStore, type Digest, type Layer } from '../../oci/index.js';
import type { Logger } from '../log.js';

// The step cache under `<kaniko-dir>/cache/layers` (contract.md §4.3):
//   blobs/sha256/<hex>       layer blobs, content-addressed (an OCI layout's blob store)
//   entries/<key>.json       {version, created, diffID, layer: {mediaType, digest, size}} or {…, empty: true}
// Blobs and entries are each written to a temp name and renamed, so a build and a run extender
// sharing the directory never see half an entry; the worst a race does is store the same thing
// twice. No lock is held across steps. An entry is used while created + TTL > now.

/** The cache as the build engine sees it. */
export interface StepCache {
  /** The layer a step produced, 'empty' when it changed no files, null on a miss (absent, expired, damaged). */
  get(key: string): Promise<Layer | 'empty' | null>;
  /** Records a step's result. A layer's blob is copied into the cache store unless it is already there. */
  put(key: string, result: Layer | 'empty'): Promise<void>;
}

interface EntryV1 {
  version: 1;
  created: string;
  empty?: true;
  diffID?: string;
  layer?: { mediaType: string; digest: string; size: number };
}

const KEY_RE = /^[a-f0-9]{64}$/;
/** Entries are removed this long after they expire, and unreferenced blobs once this old (see prune). */
const PRUNE_GRACE_MS = 60 * 60 * 1000;

export interface DirStepCacheOptions {
  /** Time-to-live of an entry, in milliseconds. */
  ttlMs: number;
  /** The clock (tests). */
  now?: () => number;
  log?: Logger;
}

export class DirStepCache implements StepCache {
  readonly dir: string;
  readonly store: BlobStore;
  private readonly entriesDir: string;
  private readonly ttlMs: number;
  private readonly now: () => number;
  private readonly log: Logger | undefined;

  constructor(dir: string, opts: DirStepCacheOptions) {
    this.dir = dir;
    this.store = new DirBlobStore(dir);
    this.entriesDir = join(dir, 'entries');
    this.ttlMs = opts.ttlMs;
    this.now = opts.now ?? Date.now;
    this.log = opts.log;
  }

  private entryPath(key: string): string {
    if (!KEY_RE.test(key)) throw new Error(`step cache: invalid key ${JSON.stringify(key)} (expected 64 hex digits)`);
    return join(this.entriesDir, `${key}.json`);
  }

  async get(key: string): Promise<Layer | 'empty' | null> {
    const path = this.entryPath(key);
    let entry: EntryV1;
    try {
      entry = parseEntry(await readFile(path, 'utf8'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.log?.debug(`Ignoring damaged cache entry ${path}: ${(e as Error).message}`);
      return null;
    }
    const created = Date.parse(entry.created);
    if (!(created + this.ttlMs > this.now())) {
      this.log?.debug(`Cache entry ${key} expired (created ${entry.created})`);
      return null;
    }
    if (entry.empty) return 'empty';
    const { layer, diffID } = entry as Required<Pick<EntryV1, 'layer' | 'diffID'>>;
    const st = await this.store.stat(layer.digest as Digest);
    if (!st || st.size !== layer.size) {
      this.log?.debug(`Cache entry ${key}: blob ${layer.digest} is missing or truncated`);
      return null;
    }
    try {
      return storedLayer(this.store, { mediaType: layer.mediaType, digest: layer.digest as Digest, size: layer.size }, diffID as Digest);
    } catch (e) {
      if (isOciError(e)) {
        this.log?.debug(`Cache entry ${key}: ${e.message}`);
        return null;
      }
      throw e;
    }
  }

  async put(key: string, result: Layer | 'empty'): Promise<void> {
    const path = this.entryPath(key);
    const created = new Date(this.now()).toISOString();
    let entry: EntryV1;
    if (result === 'empty') {
      entry = { version: 1, created, empty: true };
    } else {
      const d = result.descriptor;
      if (!(await this.store.has(d.digest))) await this.store.put(await result.open(), { digest: d.digest, size: d.size });
      entry = { version: 1, created, diffID: result.diffID, layer: { mediaType: d.mediaType, digest: d.digest, size: d.size } };
    }
    await mkdir(this.entriesDir, { recursive: true });
    await writeFileAtomic(path, JSON.stringify(entry), { mode: 0o644 });
  }

  /**
   * Removes entries expired for more than an hour and blobs no remaining entry references that are
   * older than an hour (so a blob another extender has just stored, before writing its entry, is
   * kept). Best effort: failures are logged at debug and ignored.
   */
  async prune(): Promise<{ entries: number; blobs: number }> {
    const removed = { entries: 0, blobs: 0 };
    const referenced = new Set<string>();
    const now = this.now();
    const names = await readdir(this.entriesDir).catch(() => [] as string[]);
    for (const name of names) {
      const p = join(this.entriesDir, name);
      if (!name.endsWith('.json')) {
        // A temp file left by a crashed writer.
        if (name.startsWith('.') && (await olderThan(p, now, PRUNE_GRACE_MS))) await unlink(p).catch(() => {});
        continue;
      }
      try {
        const e = parseEntry(await readFile(p, 'utf8'));
        if (Date.parse(e.created) + this.ttlMs + PRUNE_GRACE_MS < now) {
          await unlink(p);
          removed.entries++;
        } else if (e.layer) {
          referenced.add(e.layer.digest);
        }
      } catch (err) {
        this.log?.debug(`prune: ${p}: ${(err as Error).message}`);
      }
    }
    const blobDir = join(this.dir, 'blobs', 'sha256');
    for (const hex of await readdir(blobDir).catch(() => [] as string[])) {
      if (referenced.has(`sha256:${hex}`)) continue;
      const p = join(blobDir, hex);
      if (await olderThan(p, now, PRUNE_GRACE_MS)) {
        await unlink(p).then(
          () => void removed.blobs++,
          () => {},
        );
      }
    }
    return removed;
  }
}

function parseEntry(text: string): EntryV1 {
  const v = JSON.parse(text) as Partial<EntryV1>;
  if (v.version !== 1 || typeof v.created !== 'string' || Number.isNaN(Date.parse(v.created))) throw new Error('not a version 1 cache entry');
  if (v.empty === true) return v as EntryV1;
  const l = v.layer;
  if (!l || typeof l.mediaType !== 'string' || !isDigest(l.digest) || !Number.isSafeInteger(l.size) || !isDigest(v.diffID)) {
    throw new Error('cache entry without a valid layer descriptor and diffID');
  }
  return v as EntryV1;
}

async function olderThan(p: string, now: number, ms: number): Promise<boolean> {
  const st = await stat(p).catch(() => null);
  return st !== null && st.mtimeMs + ms < now;
}
