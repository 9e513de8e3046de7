// gzip decompression with Go compress/gzip's member semantics, which the lifecycle's re-tar reads
// layers with. Node's Gunzip differs after the end of a member: it fails on trailing bytes that are
// not another member (losing the output of the chunk that held them), where Go returns the data and
// reports the trailing bytes only to a reader that asks for more. Here each member is inflated raw
// (zlib tells how many input bytes the deflate stream used), its CRC-32 and size are checked as Go
// does, and bytes after the last member become an error raised only if more output is requested.
import { crc32, createInflateRaw } from 'node:zlib';
import { ExportError } from './errors.js';
import { ByteSource } from './gotar/byte-source.js';

/** Input is fed to zlib in pieces this small, bounding the output held at once (ratio × piece). */
const FEED = 16 * 1024;

/** Raised when output is requested past the last member and the input goes on with non-gzip bytes. */
export class TrailingDataError extends ExportError {
  constructor(what: string) {
    super('BAD_LAYER', `gzip: invalid header after the last member of ${what}`);
  }
}

async function readHeader(src: ByteSource, what: string): Promise<'eof' | 'ok' | 'garbage'> {
  const h = await src.read(10);
  if (h.length === 0) return 'eof';
  if (h.length < 10 || h[0] !== 0x1f || h[1] !== 0x8b || h[2] !== 8) return 'garbage';
  const flg = h[3]!;
  const need = async (n: number): Promise<Buffer> => {
    const b = await src.read(n);
    if (b.length < n) throw new ExportError('BAD_LAYER', `gzip: unexpected EOF in the header of ${what}`);
    return b;
  };
  if (flg & 4) await need((await need(2)).readUInt16LE(0)); // FEXTRA
  for (const bit of [8, 16]) {
    // FNAME, FCOMMENT: NUL-terminated
    if (flg & bit) while ((await need(1))[0] !== 0);
  }
  if (flg & 2) await need(2); // FHCRC
  return 'ok';
}

/** Inflates one raw deflate stream from src; the bytes after it are left in src. */
async function* inflateMember(src: ByteSource, what: string): AsyncGenerator<Buffer, { crc: number; size: number }> {
  const inf = createInflateRaw();
  const out: Buffer[] = [];
  let ended = false;
  let failure: Error | undefined;
  inf.on('data', (c: Buffer) => out.push(c));
  inf.on('end', () => void (ended = true));
  inf.on('error', (e: Error) => void (failure = e));
  let crc = 0;
  let size = 0;
  let last: Buffer = Buffer.alloc(0);
  let totalFed = 0;
  const settle = (start: (done: () => void) => void) =>
    new Promise<void>((resolve) => {
      let settled = false;
      const done = () => {
        if (!settled) {
          settled = true;
          inf.off('end', done);
          inf.off('error', done);
          resolve();
        }
      };
      inf.once('end', done);
      inf.once('error', done);
      start(done);
    });
  try {
    while (!ended && !failure) {
      const chunk = await src.read(FEED);
      if (chunk.length === 0) {
        await settle((done) => inf.end(done));
      } else {
        last = chunk;
        totalFed += chunk.length;
        await settle((done) => inf.write(chunk, () => done()));
      }
      await new Promise<void>((r) => setImmediate(r)); // let zlib's output events arrive
      for (const c of out.splice(0)) {
        crc = crc32(c, crc);
        size = (size + c.length) % 2 ** 32;
        yield c;
      }
      if (chunk.length === 0 && !ended && !failure) failure = new Error('unexpected EOF');
    }
    if (failure) throw new ExportError('BAD_LAYER', `gzip: ${failure.message} in ${what}`, {}, { cause: failure });
    // zlib stops at the end of the deflate stream; what it did not consume (the trailer and anything
    // after it) is in the last piece fed, and goes back to the source.
    const unconsumed = totalFed - inf.bytesWritten;
    if (unconsumed < 0 || unconsumed > last.length) throw new ExportError('BAD_LAYER', `gzip: inconsistent stream state in ${what}`);
    src.unread(last.subarray(last.length - unconsumed));
    return { crc, size };
  } finally {
    inf.destroy();
  }
}

/**
 * The decompressed bytes of a gzip stream (one or more members), as Go's gzip.Reader returns
 * them. Bytes after the last member are reported (TrailingDataError) only when more output is
 * requested; the input is then read to its end first, so a digest check on it still completes.
 */
export async function* gunzipLikeGo(input: AsyncIterable<unknown>, what: string): AsyncGenerator<Buffer> {
  const src = new ByteSource(input);
  let first = true;
  for (;;) {
    const h = await readHeader(src, what);
    if (h === 'eof' && !first) return;
    if (h !== 'ok') {
      if (first) throw new ExportError('BAD_LAYER', `gzip: invalid header in ${what}`);
      await src.drain();
      throw new TrailingDataError(what);
    }
    first = false;
    const sums = yield* inflateMember(src, what);
    const trailer = await src.read(8);
    if (trailer.length < 8) throw new ExportError('BAD_LAYER', `gzip: unexpected EOF in the trailer of ${what}`);
    if (trailer.readUInt32LE(0) !== sums.crc >>> 0 || trailer.readUInt32LE(4) !== sums.size) {
      throw new ExportError('BAD_LAYER', `gzip: invalid checksum in ${what}`);
    }
  }
}
