// An image's layers applied in order to a directory: the image's root filesystem.
import { mkdir, readdir, rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DigestingStream, sniffCompression, type Image, type Layer } from '../oci/index.js';
import { applyLayerTar, type ApplyFormat, type ApplyStats } from './apply.js';
import { SnapshotError } from './errors.js';
import { gunzip, type GunzipMode } from './materialize-gunzip.js';
import type { Logger } from './snapshotter-log.js';

/**
 * The uncompressed tar of a layer. gzip (and plain tar) is decompressed here rather than by
 * `openUncompressed()`, which is several times slower for extraction (see materialize-gunzip.ts).
 * As oci/ does, the compression is judged by the first bytes (some producers label plain tars as
 * gzip); zstd goes through `openUncompressed()`.
 */
async function openTar(layer: Layer, mode: GunzipMode): Promise<Readable> {
  if (layer.compression === 'zstd') return layer.openUncompressed();
  const blob = await layer.open();
  const first = await peek(blob);
  if (first === null || sniffCompression(first) === 'none') return blob;
  if (sniffCompression(first) !== 'gzip') {
    blob.destroy();
    return layer.openUncompressed();
  }
  return gunzip(blob, mode);
}

/** The first chunk of a stream, put back so the stream still yields everything; null when empty. */
async function peek(s: Readable): Promise<Buffer | null> {
  for (;;) {
    const chunk = s.read() as Buffer | null;
    if (chunk !== null) {
      s.unshift(chunk);
      return chunk;
    }
    if (s.readableEnded) return null;
    await new Promise<void>((resolve, reject) => {
      const done = (): void => {
        s.off('readable', done);
        s.off('end', done);
        s.off('error', fail);
        resolve();
      };
      const fail = (e: Error): void => {
        s.off('readable', done);
        s.off('end', done);
        reject(e);
      };
      s.once('readable', done);
      s.once('end', done);
      s.once('error', fail);
    });
  }
}

export interface ExtractLayerOptions {
  format: ApplyFormat;
  /** gzip: `pigz -dc` when available (default), or always in-process zlib. */
  gunzip?: GunzipMode;
  log?: Logger;
  signal?: AbortSignal;
}

/**
 * Applies one layer to `root`, checking its diffID while the tar streams through: a layer whose
 * uncompressed bytes do not hash to its diffID is BAD_LAYER (after it was applied: callers
 * extract into directories they can throw away). Errors name the layer by its blob digest.
 * Opening the blob may fail with the OciError of the store (e.g. BLOB_MISSING_SPARSE).
 */
export async function extractLayer(layer: Layer, root: string, opts: ExtractLayerOptions): Promise<ApplyStats> {
  const name = layer.descriptor.digest;
  const src = await openTar(layer, opts.gunzip ?? 'auto');
  const digesting = new DigestingStream();
  // Two pipelines share `digesting`: a failure on either side destroys it and so reaches the other.
  const feeding = pipeline(src, digesting, ...(opts.signal ? [{ signal: opts.signal }] : []));
  const [applied, fed] = await Promise.allSettled([
    applyLayerTar(digesting, root, { format: opts.format, layerName: name, ...(opts.log ? { log: opts.log } : {}), ...(opts.signal ? { signal: opts.signal } : {}) }),
    feeding,
  ]);
  if (applied.status === 'rejected') throw applied.reason;
  if (fed.status === 'rejected') {
    throw new SnapshotError('BAD_LAYER', `layer ${name}: unreadable: ${(fed.reason as Error)?.message}`, { layer: name }, { cause: fed.reason });
  }
  if (digesting.digest !== layer.diffID) {
    throw new SnapshotError('BAD_LAYER', `layer ${name}: uncompressed content hashes to ${digesting.digest}, but its diffID is ${layer.diffID}`, { layer: name });
  }
  return applied.value;
}

export interface MaterializeOptions {
  log?: Logger;
  gunzip?: GunzipMode;
  signal?: AbortSignal;
}

export interface MaterializeStats {
  layers: number;
  entries: number;
  bytes: number;
  whiteouts: number;
  skipped: number;
}

/**
 * Applies all layers of `image`, base first, in merged format into `dest`, which must be empty
 * or absent. On failure `dest` is emptied again (it may hold a half-applied, possibly hostile
 * tree) and the error is rethrown.
 */
export async function materialize(image: Image, dest: string, opts: MaterializeOptions = {}): Promise<MaterializeStats> {
  await mkdir(dest, { recursive: true });
  const existing = await readdir(dest);
  if (existing.length > 0) {
    throw new SnapshotError('IO', `materialize: ${dest} is not empty (${existing.length} entries)`, { path: dest });
  }
  const total: MaterializeStats = { layers: 0, entries: 0, bytes: 0, whiteouts: 0, skipped: 0 };
  try {
    for (const layer of image.layers) {
      const s = await extractLayer(layer, dest, {
        format: 'merged', ...(opts.gunzip ? { gunzip: opts.gunzip } : {}), ...(opts.log ? { log: opts.log } : {}), ...(opts.signal ? { signal: opts.signal } : {}),
      });
      total.layers++;
      total.entries += s.entries;
      total.bytes += s.bytes;
      total.whiteouts += s.whiteouts;
      total.skipped += s.skipped;
    }
  } catch (e) {
    await emptyDir(dest);
    throw e;
  }
  return total;
}

async function emptyDir(dir: string): Promise<void> {
  const names = await readdir(dir, { encoding: 'buffer' }).catch(() => [] as Buffer[]);
  for (const n of names) await rm(Buffer.concat([Buffer.from(`${dir}/`), n]), { recursive: true, force: true });
}

