import { open, rm, type FileHandle } from 'node:fs/promises';
import { addAbortSignal, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobStore } from './blob-store.js';
import { decompressStream, sniffCompression, SNIFF_BYTES } from './compress.js';
import { Digester, type Digest } from './digest.js';
import { isOciError, OciError } from './errors.js';
import type { Layer } from './image.js';
import { layerCompression, MediaType, type Compression } from './media-types.js';
import { parallelGzip } from './parallel-gzip.js';
import type { Descriptor } from './types.js';

export interface StoredLayerOptions {
  /**
   * The store is a sparse layout (blobs of base layers are left out, as the image-spec allows):
   * a missing blob is reported as BLOB_MISSING_SPARSE rather than BLOB_NOT_FOUND.
   */
  sparse?: boolean;
  /**
   * Check the blob's size against the descriptor (default true). The digest is always checked;
   * only lifecycle output with fake descriptor sizes needs this off (contract.md §5.1).
   */
  verifySize?: boolean;
}

/** A layer whose compressed bytes are a blob in `store`. */
export function storedLayer(store: BlobStore, desc: Descriptor, diffID: Digest, opts: StoredLayerOptions = {}): Layer {
  const compression = layerCompression(desc.mediaType);
  if (compression === undefined) {
    throw new OciError('UNSUPPORTED_MEDIA_TYPE', `layer ${desc.digest} in ${store.root}: unsupported layer media type ${JSON.stringify(desc.mediaType)}`, { digest: desc.digest, path: store.root });
  }
  const descriptor = Object.freeze({ ...desc });
  const verifySize = opts.verifySize ?? true;

  const openBlob = async (): Promise<Readable> => {
    try {
      return await store.open(descriptor.digest, verifySize ? descriptor.size : undefined);
    } catch (e) {
      if (opts.sparse && isOciError(e, 'BLOB_NOT_FOUND')) {
        throw new OciError(
          'BLOB_MISSING_SPARSE',
          `layer ${descriptor.digest} is not in ${store.root}: it is a sparse layout (base layer blobs are left out); read this layer from its registry or use a full layout`,
          { digest: descriptor.digest, path: store.root },
          { cause: e },
        );
      }
      throw e;
    }
  };

  return Object.freeze({
    descriptor,
    diffID,
    compression,
    open: openBlob,
    openUncompressed: async () => decompressed(await openBlob(), `layer ${descriptor.digest} (${store.path(descriptor.digest)})`, descriptor.digest),
  });
}

/**
 * The uncompressed tar of a layer blob. The compression is judged from the first bytes rather
 * than the media type, as containerd does and the lifecycle exporter does (gzip if it reads as
 * gzip, else a plain tar): some producers label plain tars as gzip.
 */
async function decompressed(src: Readable, what: string, digest: Digest): Promise<Readable> {
  const it = src[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const head: Buffer[] = [];
  let headLen = 0;
  let ended = false;
  while (headLen < SNIFF_BYTES) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    head.push(r.value);
    headLen += r.value.length;
  }
  const compression: Compression = sniffCompression(Buffer.concat(head, headLen));
  const replay = Readable.from(
    (async function* () {
      try {
        yield* head;
        if (ended) return;
        for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
      } finally {
        // Iterated by hand, so a reader that stops early must close the blob itself.
        src.destroy();
      }
    })(),
    { objectMode: false },
  );
  const decomp = decompressStream(compression);
  pipeline(replay, decomp).catch(() => {});
  return Readable.from(
    (async function* () {
      try {
        for await (const c of decomp as AsyncIterable<Buffer>) yield c;
      } catch (e) {
        if (e instanceof OciError || (e as Error).name === 'AbortError') throw e;
        throw new OciError('DECOMPRESS', `${what}: cannot decompress (${compression}): ${(e as Error).message}`, { digest }, { cause: e });
      }
    })(),
    { objectMode: false },
  );
}

export interface StoreLayerOptions {
  /** Blob compression (default gzip). */
  compression?: 'gzip' | 'none';
  /** gzip level 0–9 (default 6). */
  level?: number;
  /** Media type of the descriptor; must agree with `compression`. Default: the OCI layer type. */
  mediaType?: string;
  signal?: AbortSignal;
}

/** Writes are coalesced to this size: tar producers emit 512-byte pieces. */
const WRITE_SIZE = 1024 * 1024;

/**
 * Stores a layer tar in one pass: the diffID (sha256 of the tar), the compressed bytes, their
 * digest and size are all computed as the tar streams by; the blob is written to a temp file in
 * the store, fsynced and renamed into place. gzip runs on several threads (see parallel-gzip.ts).
 */
export async function storeLayer(tar: Readable, store: BlobStore, opts: StoreLayerOptions = {}): Promise<Layer> {
  const compression = opts.compression ?? 'gzip';
  const mediaType = opts.mediaType ?? (compression === 'gzip' ? MediaType.OciLayerGzip : MediaType.OciLayer);
  if (layerCompression(mediaType) !== compression) {
    throw new OciError('UNSUPPORTED_MEDIA_TYPE', `store layer: media type ${JSON.stringify(mediaType)} does not describe a ${compression} layer`);
  }
  const level = opts.level ?? 6;
  if (!Number.isInteger(level) || level < 0 || level > 9) throw new RangeError(`store layer: gzip level must be 0–9, got ${level}`);

  const diff = new Digester();
  const blob = new Digester();
  const tmp = store.tempPath();
  let fh: FileHandle | undefined;
  try {
    if (opts.signal) {
      opts.signal.throwIfAborted();
      addAbortSignal(opts.signal, tar);
      // An abort before the tar is first read (while the temp file is opened) destroys it with
      // nobody listening yet, which would be an uncaught 'error'. The reader below still gets the
      // error: the async iterator reports a stream that was destroyed with one.
      tar.on('error', () => {});
    }
    fh = await open(tmp, 'wx');
    const raw = (async function* () {
      for await (const c of tar as AsyncIterable<Buffer>) {
        diff.update(c);
        yield c;
      }
    })();
    const bytes = compression === 'gzip' ? parallelGzip(raw, { level, ...(opts.signal ? { signal: opts.signal } : {}) }) : raw;
    const out = new CoalescingWriter(fh, blob);
    for await (const c of bytes) await out.write(c);
    await out.flush();
    // Durable before the name appears, like every blob (docs/design.md, Durability): consumers
    // take blobs by name (the output layout renames them in) and sync nothing themselves.
    await fh.sync();
    await fh.close();
    fh = undefined;
    const digest = blob.digest();
    await store.putFile(tmp, digest);
    return storedLayer(store, { mediaType, digest, size: blob.size }, diff.digest());
  } catch (e) {
    // The tar is ours to consume: stop its producer too.
    tar.destroy();
    await fh?.close().catch(() => {});
    await rm(tmp, { force: true });
    if (e instanceof OciError || (e as Error).name === 'AbortError') throw e;
    throw new OciError('IO', `store layer in ${store.root}: ${(e as Error).message}`, { path: tmp }, { cause: e });
  }
}

/** Hashes and writes output in large writes, whatever the size of the pieces handed to it. */
class CoalescingWriter {
  private pieces: Buffer[] = [];
  private len = 0;
  constructor(
    private readonly fh: FileHandle,
    private readonly digester: Digester,
  ) {}

  async write(c: Buffer): Promise<void> {
    this.digester.update(c);
    if (this.len === 0 && c.length >= WRITE_SIZE) {
      await writeAll(this.fh, c);
      return;
    }
    this.pieces.push(c);
    this.len += c.length;
    if (this.len >= WRITE_SIZE) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.len === 0) return;
    const buf = this.pieces.length === 1 ? this.pieces[0]! : Buffer.concat(this.pieces, this.len);
    this.pieces = [];
    this.len = 0;
    await writeAll(this.fh, buf);
  }
}

async function writeAll(fh: FileHandle, buf: Buffer): Promise<void> {
  for (let off = 0; off < buf.length; ) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off);
    off += bytesWritten;
  }
}
