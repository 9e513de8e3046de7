import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { OciError } from './errors.js';

/** A validated content digest, `sha256:<64 lowercase hex>`. */
export type Digest = string & { readonly __digest: unique symbol };

const SHA256_RE = /^sha256:[a-f0-9]{64}$/;

export function isDigest(s: unknown): s is Digest {
  return typeof s === 'string' && SHA256_RE.test(s);
}

/** Parses and validates a digest; only sha256 is supported (as by the lifecycle). */
export function parseDigest(s: string, what = 'digest'): Digest {
  if (!isDigest(s)) {
    throw new OciError('INVALID_DIGEST', `invalid ${what} ${JSON.stringify(s)}: expected sha256:<64 hex digits>`, { digest: s });
  }
  return s;
}

/** The hex part of a digest, as used in `blobs/sha256/<hex>`. */
export function digestHex(d: Digest): string {
  return d.slice('sha256:'.length);
}

export function sha256(data: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;
}

/** Incremental hasher that also counts bytes. */
export class Digester {
  private readonly hash: Hash = createHash('sha256');
  size = 0;
  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
    this.size += chunk.length;
  }
  digest(): Digest {
    return `sha256:${this.hash.digest('hex')}` as Digest;
  }
}

/** A pass-through stream that hashes and counts what flows through it. */
export class DigestingStream extends Transform {
  private readonly digester = new Digester();
  private result: Digest | undefined;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.digester.update(chunk);
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    this.result = this.digester.digest();
    cb();
  }
  get size(): number {
    return this.digester.size;
  }
  /** The digest; only valid after the stream has ended. */
  get digest(): Digest {
    if (this.result === undefined) throw new Error('DigestingStream: digest read before end of stream');
    return this.result;
  }
}

/**
 * A pass-through stream that fails at EOF (or as soon as the size is exceeded) when the bytes do not
 * match the expected digest and size. `what` names the blob in the error (a path or a URL without
 * credentials).
 */
export class VerifyingStream extends Transform {
  private readonly digester = new Digester();
  constructor(
    private readonly expected: { digest: Digest; size?: number | undefined },
    private readonly what: string,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.digester.update(chunk);
    const { size } = this.expected;
    if (size !== undefined && this.digester.size > size) {
      cb(new OciError('SIZE_MISMATCH', `${this.what}: more than the expected ${size} bytes for ${this.expected.digest}`, { digest: this.expected.digest, path: this.what }));
      return;
    }
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    const { size, digest } = this.expected;
    if (size !== undefined && this.digester.size !== size) {
      cb(new OciError('SIZE_MISMATCH', `${this.what}: got ${this.digester.size} bytes, expected ${size} for ${digest} (truncated?)`, { digest, path: this.what }));
      return;
    }
    const got = this.digester.digest();
    if (got !== digest) {
      cb(new OciError('DIGEST_MISMATCH', `${this.what}: content digest ${got} does not match expected ${digest}`, { digest, path: this.what }));
      return;
    }
    cb();
  }
}
