import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { PassThrough, Transform, type Readable, type TransformCallback, type Writable } from 'node:stream';
import * as zlib from 'node:zlib';
import { OciError } from './errors.js';
import type { Compression } from './media-types.js';

/** A decompressing stream for a layer's compression; `none` passes bytes through. */
export function decompressStream(c: Compression): Transform {
  switch (c) {
    case 'none':
      return new PassThrough();
    case 'gzip':
      return zlib.createGunzip();
    case 'zstd': {
      // Node 20's zlib has no zstd (added in 22.15 / 23.8); use it where it exists, else the zstd CLI.
      const native = (zlib as unknown as { createZstdDecompress?: () => Transform }).createZstdDecompress;
      return typeof native === 'function' ? native() : new ZstdProcessStream();
    }
  }
}

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

/** The compression of a blob judged from its first bytes (at least 4 are needed to recognise zstd). */
export function sniffCompression(first: Buffer): Compression {
  const starts = (magic: number[]) => first.length >= magic.length && magic.every((b, i) => first[i] === b);
  if (starts(GZIP_MAGIC)) return 'gzip';
  if (starts(ZSTD_MAGIC)) return 'zstd';
  return 'none';
}

/** Bytes sniffCompression needs. */
export const SNIFF_BYTES = 4;

/**
 * `zstd -dc` as a Transform. Backpressure runs both ways: a chunk is acknowledged once the child's
 * stdin took it, and the child's stdout is paused while our readable side is full.
 */
class ZstdProcessStream extends Transform {
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private stderr = '';
  private readonly exited: Promise<number | null>;

  constructor() {
    super();
    this.child = spawn('zstd', ['-dc', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => {
      this.child.once('close', (code) => {
        // Fail at once on bad input rather than after the rest of the upstream was fed to a dead pipe.
        if (code !== 0) this.destroy(this.failure(code));
        resolve(code);
      });
      this.child.once('error', (err) => {
        const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
        this.destroy(new OciError('IO', missing ? 'zstd layer: the zstd program is not installed (Node 20 zlib cannot decompress zstd)' : `zstd layer: cannot run zstd: ${err.message}`, {}, { cause: err }));
        resolve(null);
      });
    });
    this.child.stdout.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) this.child.stdout.pause();
    });
    this.child.stderr.on('data', (chunk: Buffer) => {
      if (this.stderr.length < 4096) this.stderr += chunk.toString('utf8');
    });
    // EPIPE when zstd quits early on bad input: the exit status reports it.
    this.child.stdin.on('error', () => {});
  }

  override _read(size: number): void {
    this.child.stdout.resume();
    super._read(size);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.child.stdin.destroyed) {
      cb();
      return;
    }
    this.child.stdin.write(chunk, () => cb());
  }

  override _flush(cb: TransformCallback): void {
    this.child.stdin.end();
    this.exited.then((code) => (code === 0 ? cb() : cb(this.failure(code))), cb);
  }

  private failure(code: number | null): OciError {
    return new OciError('IO', `zstd layer: invalid zstd data (zstd exited ${code ?? 'on a signal'}: ${this.stderr.trim()})`);
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    cb(err);
  }
}
