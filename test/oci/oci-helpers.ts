// Small helpers shared by the oci tests.
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import { OciError } from '../../oci/index.js';

export const exec = promisify(execFile);

export async function readAll(r: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** The OciError a promise rejects with (fails the test if it resolves or throws something else). */
export async function ociFailure(p: Promise<unknown> | (() => unknown)): Promise<OciError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(OciError);
    return e as OciError;
  }
  throw new Error('expected an OciError, got success');
}

/** Names in blobs/sha256 (temp files included), sorted. */
export async function blobNames(root: string): Promise<string[]> {
  try {
    return (await readdir(join(root, 'blobs', 'sha256'))).sort();
  } catch {
    return [];
  }
}

/** A readable of `data` cut into pieces of the given sizes (cycled). */
export function chunked(data: Buffer, sizes: readonly number[]): Readable {
  const out: Buffer[] = [];
  let off = 0;
  for (let i = 0; off < data.length; i++) {
    const n = Math.max(1, sizes[i % sizes.length]!);
    out.push(data.subarray(off, off + n));
    off += n;
  }
  return Readable.from(out, { objectMode: false });
}

/** Deterministic pseudo-random bytes (xorshift), cheap to make in bulk. */
export function noise(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i + 4 <= n; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b.writeUInt32LE(x, i);
  }
  return b;
}

/** Text-like compressible bytes. */
export function text(n: number, seed = 1): Buffer {
  const words = ['layer', 'image', 'digest', 'config', 'manifest', 'blob', 'sha256', 'index', 'tar', 'gzip', '\n', 'the', 'a', '/usr/lib/'];
  const parts: string[] = [];
  let len = 0;
  let x = seed;
  while (len < n) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const w = words[x % words.length]!;
    parts.push(w, ' ');
    len += w.length + 1;
  }
  return Buffer.from(parts.join('')).subarray(0, n);
}
