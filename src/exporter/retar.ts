// The lifecycle exporter's extension-layer normalisation (contract.md §5.4; lifecycle
// layers/tar.go, archive/writer.go): every entry of the layer is re-written by Go's archive/tar
// with mtime 1980-01-01T00:00:01Z and empty uname/gname, everything else kept (name including a
// leading '/', mode, ids, type, link name, PAX records, the header format), into an uncompressed
// tar that ends with exactly two zero blocks. The diffID of that tar is what the lifecycle puts in
// the app image, so it must come out byte for byte the same.
import { Readable } from 'node:stream';
import { ExportError } from './errors.js';
import { TrailingDataError, gunzipLikeGo } from './gunzip.js';
import { Type, ZERO_BLOCK, blockPadding } from './gotar/block.js';
import { displayName } from './gotar/header.js';
import { unixTime, type GoTime } from './gotar/pax.js';
import { GoTarReader } from './gotar/reader.js';
import { encodeHeader } from './gotar/writer.js';

/** The lifecycle's normalised timestamp, 1980-01-01T00:00:01Z (unix 315532801). */
export const NORMALIZED_MTIME: GoTime = unixTime(315532801n)!;

export type TarCompression = 'gzip' | 'none';

/**
 * How the lifecycle reads an extension-layer blob: gzip when Go's gzip.NewReader accepts the header
 * (magic 1f 8b, method 8), else a plain tar. zstd is not supported by the lifecycle (it would be
 * read as a plain tar and fail), and is refused with a clear message here.
 */
export function sniffLayerCompression(first: Buffer, what = 'layer'): TarCompression {
  if (first.length >= 3 && first[0] === 0x1f && first[1] === 0x8b && first[2] === 0x08) return 'gzip';
  if (first.length >= 4 && first.readUInt32BE(0) === 0x28b52ffd) {
    throw new ExportError('UNSUPPORTED', `${what} is zstd-compressed: the lifecycle exporter reads only gzip or plain tar extension layers`);
  }
  return 'none';
}

/**
 * The uncompressed tar inside a layer blob, decompressing when it is gzip (decided by sniffing,
 * not by the media type, as the lifecycle does). Errors of the source or of gunzip surface when
 * the returned stream is read.
 */
export async function openLayerTar(blob: Readable, what = 'layer'): Promise<{ tar: Readable; compression: TarCompression }> {
  const it = blob[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let have = 0;
  let ended = false;
  while (have < 4) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
    head.push(b);
    have += b.length;
  }
  const first = Buffer.concat(head);
  let compression: TarCompression;
  try {
    compression = sniffLayerCompression(first, what);
  } catch (e) {
    blob.destroy();
    throw e;
  }
  async function* replay(): AsyncGenerator<Buffer> {
    if (first.length > 0) yield first;
    if (ended) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
    }
  }
  if (compression === 'none') return { tar: Readable.from(replay(), { objectMode: false }), compression };
  return { tar: Readable.from(gunzipLikeGo(replay(), what), { objectMode: false }), compression };
}

/**
 * Re-tars an uncompressed tar (any async iterable of chunks) with the lifecycle's normalisation.
 * The input is read to its end (so a digest check upstream sees every byte); memory stays bounded
 * by the chunk size.
 */
export async function* normalizeTar(tar: AsyncIterable<unknown>): AsyncGenerator<Buffer> {
  const reader = new GoTarReader(tar);
  try {
    for (;;) {
      const h = await reader.next();
      if (h === null) break;
      // The lifecycle's NormalizingTarReader skips entries whose name is empty.
      if (h.name === '') continue;
      if (h.typeflag === Type.XGlobalHeader) {
        throw new ExportError('UNSUPPORTED', `global PAX header ${displayName(h)} in an extension layer (the lifecycle's tar writer rejects it)`, { entry: displayName(h) });
      }
      h.modTime = NORMALIZED_MTIME;
      h.uname = '';
      h.gname = '';
      const enc = encodeHeader(h);
      yield enc.bytes;
      let written = 0;
      for await (const chunk of reader.data()) {
        if (written + chunk.length > enc.dataSize) {
          throw new ExportError('BAD_LAYER', `archive/tar: write too long for ${displayName(h)}`, { entry: displayName(h) });
        }
        written += chunk.length;
        yield chunk;
      }
      if (written !== enc.dataSize) {
        throw new ExportError('BAD_LAYER', `archive/tar: missed writing ${enc.dataSize - written} bytes of ${displayName(h)}`, { entry: displayName(h) });
      }
      const pad = blockPadding(written);
      if (pad > 0) yield ZERO_BLOCK.subarray(0, pad);
    }
    // Read to the end so that a digest check upstream completes; bytes after the last gzip member
    // are what Go never looks at once the archive has ended.
    await reader.drain().catch((e: unknown) => {
      if (!(e instanceof TrailingDataError)) throw e;
    });
  } finally {
    await reader.close();
  }
  yield ZERO_BLOCK;
  yield ZERO_BLOCK;
}

/** The normalised tar of an extension-layer blob (gzip or plain tar), as a stream. */
export async function retarLayerBlob(blob: Readable, what = 'layer'): Promise<Readable> {
  const { tar } = await openLayerTar(blob, what);
  return Readable.from(normalizeTar(tar), { objectMode: false });
}
