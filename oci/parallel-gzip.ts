import { constants, crc32, deflateRaw, deflateRawSync, type ZlibOptions } from 'node:zlib';
import { promisify } from 'node:util';

const deflateRawAsync = promisify<Buffer, ZlibOptions, Buffer>(deflateRaw);

export interface ParallelGzipOptions {
  /** zlib level 0–9 (default 6). */
  level?: number;
  /** Uncompressed bytes per block (default 1 MiB). Part of the output format: same input + level + blockSize ⇒ same bytes. */
  blockSize?: number;
  /** Blocks compressed at once on the libuv threadpool (default 4, its default size). */
  concurrency?: number;
  signal?: AbortSignal;
}

/** Window zlib can refer back to; each block is primed with this much of the previous block (as pigz does). */
const DICT_SIZE = 32 * 1024;
/** A final, empty, fixed-Huffman deflate block: ends the stream after the last sync-flushed block. */
const FINAL_EMPTY_BLOCK = Buffer.from([0x03, 0x00]);
/**
 * A whole input at most this long is deflated on the calling thread: a one-file layer takes well
 * under a millisecond to compress, less than a round trip through the libuv pool, which is shared
 * with every fs call of the process and may be queued behind them. Same bytes either way.
 */
const IN_THREAD_MAX = 256 * 1024;

/**
 * gzip in the manner of pigz: the input is cut into fixed-size blocks (at fixed offsets, so the
 * output does not depend on how the input happened to be chunked), each block is raw-deflated on
 * the libuv threadpool with the previous block's last 32 KiB as dictionary and ended with a sync
 * flush (byte-aligned, so the pieces concatenate into one deflate stream), and the pieces are
 * emitted in order between a gzip header and a CRC32/ISIZE trailer. At most `concurrency` blocks
 * are in flight, so memory stays flat whatever the input size. The result is one ordinary gzip
 * member: gunzip, zcat and Go's compress/gzip read it.
 */
export async function* parallelGzip(src: AsyncIterable<Buffer>, opts: ParallelGzipOptions = {}): AsyncGenerator<Buffer> {
  const level = opts.level ?? 6;
  const blockSize = opts.blockSize ?? 1024 * 1024;
  const concurrency = Math.max(1, opts.concurrency ?? 4);
  if (!Number.isInteger(level) || level < 0 || level > 9) throw new RangeError(`gzip level must be 0–9, got ${level}`);
  if (!Number.isInteger(blockSize) || blockSize < DICT_SIZE) throw new RangeError(`gzip block size must be ≥ ${DICT_SIZE}`);

  yield gzipHeader(level);

  let crc = 0;
  let isize = 0;
  let dictionary: Buffer | undefined;
  const inFlight: Promise<Buffer>[] = [];

  const dispatch = (block: Buffer, inThread = false): void => {
    crc = crc32(block, crc);
    isize = (isize + block.length) >>> 0;
    // chunkSize: room for the whole deflated block (incompressible data grows by ~5 bytes per
    // 16 KiB stored block), so a block is one trip to the thread pool. With the default 16 KiB
    // output chunk, zlib hands every 16 KiB back to the main thread and is queued again: 64 round
    // trips per MiB of random data, which kept both cores half idle. zlib's output does not
    // depend on the output buffer size, so the bytes are the same.
    const zopts: ZlibOptions = { level, finishFlush: constants.Z_SYNC_FLUSH, chunkSize: block.length + (block.length >> 4) + 1024 };
    if (dictionary !== undefined) zopts.dictionary = dictionary;
    const job = inThread ? Promise.resolve(deflateRawSync(block, zopts)) : deflateRawAsync(block, zopts);
    // Marked handled now: if the consumer stops early, jobs still running must not surface as
    // unhandled rejections. The awaited promise below still rejects.
    job.catch(() => {});
    inFlight.push(job);
    dictionary = block.length > DICT_SIZE ? block.subarray(block.length - DICT_SIZE) : block;
  };

  let pending: Buffer[] = [];
  let pendingLen = 0;
  for await (const chunk of src) {
    opts.signal?.throwIfAborted();
    let c = chunk;
    while (pendingLen + c.length >= blockSize) {
      const take = blockSize - pendingLen;
      pending.push(c.subarray(0, take));
      c = c.subarray(take);
      dispatch(pending.length === 1 ? pending[0]! : Buffer.concat(pending, blockSize));
      pending = [];
      pendingLen = 0;
      while (inFlight.length >= concurrency) yield await inFlight.shift()!;
    }
    if (c.length > 0) {
      pending.push(c);
      pendingLen += c.length;
    }
  }
  if (pendingLen > 0) dispatch(Buffer.concat(pending, pendingLen), dictionary === undefined && pendingLen <= IN_THREAD_MAX);
  while (inFlight.length > 0) yield await inFlight.shift()!;

  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(isize, 4);
  yield Buffer.concat([FINAL_EMPTY_BLOCK, trailer]);
}

/** RFC 1952 header: no name, mtime 0 (deterministic), OS = Unix. */
function gzipHeader(level: number): Buffer {
  const xfl = level === 9 ? 2 : level === 1 ? 4 : 0;
  return Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, xfl, 0x03]);
}
