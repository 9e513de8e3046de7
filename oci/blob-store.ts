import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { syncDir, writeNewFile } from './atomic-file.js';
import { DigestingStream, digestHex, sha256, VerifyingStream, type Digest } from './digest.js';
import { OciError } from './errors.js';
import { ownerState, stampedName, stampOf } from './owner.js';

/** Cap on buffered blob reads (manifests, configs, indexes): ggcr and containerd use 4 MiB too. */
export const DEFAULT_MAX_JSON_BYTES = 4 * 1024 * 1024;

/**
 * The content store contract (umoci `cas`): put is idempotent and atomic, every read is verified
 * against its digest (and size, when one is known).
 */
export interface BlobStore {
  /** Directory holding `blobs/sha256/`. */
  readonly root: string;
  /** `<root>/blobs/sha256/<hex>`. */
  path(d: Digest): string;
  has(d: Digest): Promise<boolean>;
  stat(d: Digest): Promise<{ size: number } | null>;
  /** A stream of the blob, verified for digest (and size) at EOF; BLOB_NOT_FOUND if absent. */
  open(d: Digest, size?: number): Promise<Readable>;
  /** The whole blob, verified, refused above `maxBytes` (default 4 MiB). */
  read(d: Digest, opts?: { size?: number; maxBytes?: number }): Promise<Buffer>;
  /**
   * Stores bytes under their digest: temp file hashed while copying, fsync, rename. When
   * `expected.digest` is already stored with the right size, a stream source is destroyed unread.
   */
  put(src: Readable | Buffer, expected?: { digest?: Digest; size?: number }): Promise<{ digest: Digest; size: number }>;
  /** Renames an already-written, already-hashed, already-synced temp file (from tempPath()) into place. */
  putFile(tempPathInsideRoot: string, digest: Digest): Promise<void>;
  /** A unique temp file name inside `<root>/blobs/sha256` (same filesystem, so rename is atomic). */
  tempPath(): string;
}

/** Temp files start with a dot so that no reader mistakes them for blobs. */
const TEMP_PREFIX = '.tmp-';

export function isTempBlobName(name: string): boolean {
  return name.startsWith(TEMP_PREFIX);
}

/** Temp files of writers that are gone (killed mid-blob): best effort, once per store object. */
function removeDeadTemps(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const stamp = isTempBlobName(name) ? stampOf(name) : null;
    if (stamp === null || ownerState(stamp) !== 'dead') continue;
    try {
      unlinkSync(join(dir, name));
    } catch {
      // raced with another cleaner
    }
  }
}

/** A BlobStore over `<root>/blobs/sha256` (an OCI layout's blob directory). */
export class DirBlobStore implements BlobStore {
  readonly root: string;
  private readonly dir: string;
  private dirReady = false;
  private swept = false;

  constructor(root: string) {
    this.root = root;
    this.dir = join(root, 'blobs', 'sha256');
  }

  path(d: Digest): string {
    return join(this.dir, digestHex(d));
  }

  async has(d: Digest): Promise<boolean> {
    return (await this.stat(d)) !== null;
  }

  async stat(d: Digest): Promise<{ size: number } | null> {
    try {
      const st = await stat(this.path(d));
      return st.isFile() ? { size: st.size } : null;
    } catch (e) {
      if (isNotFound(e)) return null;
      throw ioError(`stat blob ${d}`, this.path(d), e, d);
    }
  }

  async open(d: Digest, size?: number): Promise<Readable> {
    const p = this.path(d);
    const fh = await open(p, 'r').catch((e: unknown) => {
      if (isNotFound(e)) throw new OciError('BLOB_NOT_FOUND', `blob ${d} not found in ${this.root}`, { digest: d, path: p }, { cause: e });
      throw ioError(`open blob ${d}`, p, e, d);
    });
    // A wrong size is known before a byte is read: fail now (a truncated or padded file).
    try {
      const actual = (await fh.stat()).size;
      if (size !== undefined && actual !== size) {
        throw new OciError('SIZE_MISMATCH', `${p}: blob is ${actual} bytes, expected ${size} for ${d}${actual < size ? ' (truncated?)' : ''}`, { digest: d, path: p });
      }
    } catch (e) {
      await fh.close();
      throw e instanceof OciError ? e : ioError(`stat blob ${d}`, p, e, d);
    }
    const verifier = new VerifyingStream({ digest: d, size }, p);
    // Errors reach the consumer through the verifier, which pipeline destroys with them.
    pipeline(fh.createReadStream({ highWaterMark: 1024 * 1024 }), verifier).catch(() => {});
    return verifier;
  }

  async read(d: Digest, opts: { size?: number; maxBytes?: number } = {}): Promise<Buffer> {
    const p = this.path(d);
    const max = opts.maxBytes ?? DEFAULT_MAX_JSON_BYTES;
    const fh = await open(p, 'r').catch((e: unknown) => {
      if (isNotFound(e)) throw new OciError('BLOB_NOT_FOUND', `blob ${d} not found in ${this.root}`, { digest: d, path: p }, { cause: e });
      throw ioError(`open blob ${d}`, p, e, d);
    });
    try {
      const actual = (await fh.stat()).size;
      if (actual > max) throw new OciError('TOO_LARGE', `${p}: blob ${d} is ${actual} bytes, more than the ${max} allowed for a buffered read`, { digest: d, path: p });
      if (opts.size !== undefined && opts.size > max) throw new OciError('TOO_LARGE', `${p}: descriptor of ${d} says ${opts.size} bytes, more than the ${max} allowed for a buffered read`, { digest: d, path: p });
      // Read one byte past the end: a file that grew since fstat must not pass as complete.
      const buf = Buffer.alloc(actual + 1);
      let n = 0;
      for (;;) {
        const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
        if (bytesRead === 0) break;
        n += bytesRead;
        if (n === buf.length) break;
      }
      const data = buf.subarray(0, n);
      if (opts.size !== undefined && data.length !== opts.size) {
        throw new OciError('SIZE_MISMATCH', `${p}: got ${data.length} bytes, expected ${opts.size} for ${d}${data.length < opts.size ? ' (truncated?)' : ''}`, { digest: d, path: p });
      }
      const got = sha256(data);
      if (got !== d) throw new OciError('DIGEST_MISMATCH', `${p}: content digest ${got} does not match expected ${d}`, { digest: d, path: p });
      return data;
    } finally {
      await fh.close();
    }
  }

  async put(src: Readable | Buffer, expected: { digest?: Digest; size?: number } = {}): Promise<{ digest: Digest; size: number }> {
    if (Buffer.isBuffer(src)) return this.putBuffer(src, expected);
    if (expected.digest !== undefined && (await this.alreadyStored(expected.digest, expected.size))) {
      src.destroy();
      return { digest: expected.digest, size: (await this.stat(expected.digest))!.size };
    }
    await this.ensureDir();
    const tmp = this.tempPath();
    try {
      const out = createWriteStream(tmp, { flags: 'wx', flush: true });
      let got: { digest: Digest; size: number };
      if (expected.digest === undefined) {
        const hasher = new DigestingStream();
        await pipeline(src, hasher, out);
        got = { digest: hasher.digest, size: hasher.size };
      } else {
        // The verifier hashes already: no second pass. It fails before EOF if the size is exceeded.
        await pipeline(src, new VerifyingStream({ digest: expected.digest, size: expected.size }, `blob ${expected.digest} being stored in ${this.root}`), out);
        got = { digest: expected.digest, size: out.bytesWritten };
      }
      if (expected.size !== undefined && got.size !== expected.size) {
        throw new OciError('SIZE_MISMATCH', `blob being stored in ${this.root}: got ${got.size} bytes, expected ${expected.size}`, { digest: got.digest, path: this.root });
      }
      await this.putFile(tmp, got.digest);
      return got;
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }

  async putFile(tempPathInsideRoot: string, digest: Digest): Promise<void> {
    const rel = relative(this.dir, tempPathInsideRoot);
    if (rel.includes(sep) || rel.startsWith('..') || !isTempBlobName(rel)) {
      throw new OciError('IO', `putFile: ${tempPathInsideRoot} is not a temp file of ${this.dir} (use tempPath())`, { path: tempPathInsideRoot, digest });
    }
    const target = this.path(digest);
    try {
      await rename(tempPathInsideRoot, target);
      await syncDir(this.dir);
    } catch (e) {
      throw ioError(`store blob ${digest}`, target, e, digest);
    }
  }

  tempPath(): string {
    if (!this.dirReady) {
      mkdirSync(this.dir, { recursive: true });
      this.dirReady = true;
    }
    if (!this.swept) {
      this.swept = true;
      removeDeadTemps(this.dir);
    }
    // `.tmp-s<owner stamp>-<hex>`: a writer killed mid-blob leaves it for the next one to remove.
    return join(this.dir, stampedName(TEMP_PREFIX.slice(0, -1), randomBytes(8).toString('hex')));
  }

  private async putBuffer(data: Buffer, expected: { digest?: Digest; size?: number }): Promise<{ digest: Digest; size: number }> {
    const digest = sha256(data);
    if (expected.digest !== undefined && expected.digest !== digest) {
      throw new OciError('DIGEST_MISMATCH', `blob being stored in ${this.root}: content digest ${digest} does not match expected ${expected.digest}`, { digest: expected.digest, path: this.root });
    }
    if (expected.size !== undefined && expected.size !== data.length) {
      throw new OciError('SIZE_MISMATCH', `blob being stored in ${this.root}: got ${data.length} bytes, expected ${expected.size} for ${digest}`, { digest, path: this.root });
    }
    if (await this.alreadyStored(digest, data.length)) return { digest, size: data.length };
    await this.ensureDir();
    const tmp = this.tempPath();
    try {
      await writeNewFile(tmp, data);
      await this.putFile(tmp, digest);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e instanceof OciError ? e : ioError(`store blob ${digest}`, this.path(digest), e, digest);
    }
    return { digest, size: data.length };
  }

  /** Present with the right size. Content is trusted here (it was verified when written) and checked on every read. */
  private async alreadyStored(d: Digest, size: number | undefined): Promise<boolean> {
    const st = await this.stat(d);
    return st !== null && (size === undefined || st.size === size);
  }

  private async ensureDir(): Promise<void> {
    if (this.dirReady) return;
    await mkdir(this.dir, { recursive: true });
    this.dirReady = true;
  }
}

export function isNotFound(e: unknown): boolean {
  return (e as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

function ioError(what: string, path: string, cause: unknown, digest?: string): OciError {
  const msg = cause instanceof Error ? cause.message : String(cause);
  return new OciError('IO', `${what}: ${path}: ${msg}`, digest === undefined ? { path } : { path, digest }, { cause });
}
