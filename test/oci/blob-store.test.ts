import { createHash } from 'node:crypto';
import { chmod, readdir, readFile, stat, truncate, writeFile, appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { DirBlobStore, isOciError, OciError, parseDigest, sha256, VerifyingStream } from '../../oci/index.js';
import { tmpDir } from '../helpers/tmp.js';

async function readAll(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function failure(p: Promise<unknown>): Promise<OciError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(OciError);
    return e as OciError;
  }
  throw new Error('expected a failure');
}

async function blobFiles(root: string): Promise<string[]> {
  return (await readdir(join(root, 'blobs', 'sha256'))).sort();
}

describe('digests', () => {
  it('sha256 matches node:crypto and parseDigest refuses anything else', () => {
    const data = Buffer.from('hello\n');
    expect(sha256(data)).toBe(`sha256:${createHash('sha256').update(data).digest('hex')}`);
    expect(sha256(data)).toBe('sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03');
    for (const bad of ['sha256:ABC', 'sha512:' + 'a'.repeat(128), 'sha256:' + 'a'.repeat(63), 'a'.repeat(64), '']) {
      expect(() => parseDigest(bad)).toThrow(expect.objectContaining({ code: 'INVALID_DIGEST' }));
    }
  });

  it('VerifyingStream fails on wrong bytes, short input and extra input', async () => {
    const data = Buffer.from('some content');
    const d = sha256(data);
    const run = (input: Buffer, size?: number) => {
      const v = new VerifyingStream({ digest: d, size }, 'test-blob');
      pipeline(Readable.from([input]), v).catch(() => {});
      return readAll(v);
    };
    await expect(run(data, data.length)).resolves.toEqual(data);
    expect((await failure(run(Buffer.from('some contenT'), data.length))).code).toBe('DIGEST_MISMATCH');
    expect((await failure(run(data.subarray(0, 5), data.length))).code).toBe('SIZE_MISMATCH');
    expect((await failure(run(Buffer.concat([data, Buffer.from('!')]), data.length))).code).toBe('SIZE_MISMATCH');
  });
});

describe('DirBlobStore', () => {
  it('puts a buffer under its digest and reads it back verified', async () => {
    const root = await tmpDir();
    const store = new DirBlobStore(root);
    const data = Buffer.from('{"a":1}');
    const got = await store.put(data);
    expect(got).toEqual({ digest: sha256(data), size: data.length });
    expect(store.path(got.digest)).toBe(join(root, 'blobs', 'sha256', sha256(data).slice(7)));
    expect(await readFile(store.path(got.digest))).toEqual(data);
    expect(await store.has(got.digest)).toBe(true);
    expect(await store.stat(got.digest)).toEqual({ size: data.length });
    expect(await store.read(got.digest, { size: data.length })).toEqual(data);
    expect(await readAll(await store.open(got.digest, data.length))).toEqual(data);
    expect(await blobFiles(root)).toEqual([sha256(data).slice(7)]);
  });

  it('puts a stream, hashing while copying, and checks an expected digest and size', async () => {
    const root = await tmpDir();
    const store = new DirBlobStore(root);
    const parts = Array.from({ length: 50 }, (_, i) => Buffer.alloc(10_000, i));
    const all = Buffer.concat(parts);
    const got = await store.put(Readable.from(parts), { digest: sha256(all), size: all.length });
    expect(got).toEqual({ digest: sha256(all), size: all.length });
    expect(await readAll(await store.open(got.digest))).toEqual(all);

    const wrongDigest = await failure(store.put(Readable.from([Buffer.from('other')]), { digest: sha256(Buffer.from('expected')) }));
    expect(wrongDigest.code).toBe('DIGEST_MISMATCH');
    const wrongSize = await failure(store.put(Readable.from([Buffer.from('other')]), { size: 3 }));
    expect(wrongSize.code).toBe('SIZE_MISMATCH');
    const wrongBuf = await failure(store.put(Buffer.from('other'), { digest: sha256(Buffer.from('expected')) }));
    expect(wrongBuf.code).toBe('DIGEST_MISMATCH');
    // Nothing half-written: only the one good blob, no temp files.
    expect(await blobFiles(root)).toEqual([sha256(all).slice(7)]);
  });

  it('a failing source leaves no temp file behind', async () => {
    const root = await tmpDir();
    const store = new DirBlobStore(root);
    const src = new Readable({
      read() {
        this.push(Buffer.alloc(1000));
        this.destroy(new Error('network reset'));
      },
    });
    await expect(store.put(src)).rejects.toThrow('network reset');
    expect(await blobFiles(root)).toEqual([]);
  });

  it('put is idempotent: a stored blob is not rewritten and a stream for it is not read', async () => {
    const root = await tmpDir();
    const store = new DirBlobStore(root);
    const data = Buffer.from('idempotent');
    const d = (await store.put(data)).digest;
    const before = await stat(store.path(d));
    await chmod(store.path(d), 0o444);
    expect(await store.put(data)).toEqual({ digest: d, size: data.length });
    let read = false;
    const src = new Readable({
      read() {
        read = true;
        this.push(null);
      },
    });
    expect(await store.put(src, { digest: d, size: data.length })).toEqual({ digest: d, size: data.length });
    expect(read).toBe(false);
    const after = await stat(store.path(d));
    expect(after.ino).toBe(before.ino);
    expect(after.mtimeMs).toBe(before.mtimeMs);
    // Concurrent puts of the same content all succeed and leave one file.
    const many = await Promise.all(Array.from({ length: 8 }, () => store.put(Readable.from([Buffer.from('race')]))));
    expect(new Set(many.map((m) => m.digest)).size).toBe(1);
    expect((await blobFiles(root)).length).toBe(2);
  });

  it('reads are verified: wrong bytes, truncated blob, extra bytes, absent blob', async () => {
    const root = await tmpDir();
    const store = new DirBlobStore(root);
    const data = Buffer.from('0123456789abcdef');
    const d = (await store.put(data)).digest;
    const p = store.path(d);

    await writeFile(p, Buffer.from('0123456789abcdeX'));
    const wrongRead = await failure(store.read(d, { size: data.length }));
    expect(wrongRead.code).toBe('DIGEST_MISMATCH');
    expect(wrongRead.digest).toBe(d);
    expect(wrongRead.path).toBe(p);
    const wrongStream = await failure(readAll(await store.open(d, data.length)));
    expect(wrongStream.code).toBe('DIGEST_MISMATCH');
    expect(wrongStream.message).toContain(p);
    // Without a size, the digest alone still catches it.
    expect((await failure(readAll(await store.open(d)))).code).toBe('DIGEST_MISMATCH');

    await writeFile(p, data);
    await truncate(p, 10);
    const truncRead = await failure(store.read(d, { size: data.length }));
    expect(truncRead.code).toBe('SIZE_MISMATCH');
    expect(truncRead.message).toMatch(/truncated/);
    const truncOpen = await failure(store.open(d, data.length));
    expect(truncOpen.code).toBe('SIZE_MISMATCH');
    expect((await failure(readAll(await store.open(d)))).code).toBe('DIGEST_MISMATCH');

    await writeFile(p, data);
    await appendFile(p, 'extra');
    expect((await failure(store.read(d, { size: data.length }))).code).toBe('SIZE_MISMATCH');
    expect((await failure(store.open(d, data.length))).code).toBe('SIZE_MISMATCH');
    expect((await failure(store.read(d))).code).toBe('DIGEST_MISMATCH');

    const absent = sha256(Buffer.from('absent'));
    const nf = await failure(store.open(absent));
    expect(nf.code).toBe('BLOB_NOT_FOUND');
    expect(nf.digest).toBe(absent);
    expect(nf.message).toContain(root);
    expect((await failure(store.read(absent))).code).toBe('BLOB_NOT_FOUND');
    expect(await store.has(absent)).toBe(false);
    expect(await store.stat(absent)).toBeNull();
  });

  it('buffered reads are capped', async () => {
    const root = await tmpDir();
    const store = new DirBlobStore(root);
    const big = Buffer.alloc(5 * 1024 * 1024, 7);
    const d = (await store.put(big)).digest;
    const e = await failure(store.read(d));
    expect(e.code).toBe('TOO_LARGE');
    expect(e.digest).toBe(d);
    expect((await store.read(d, { maxBytes: 6 * 1024 * 1024 })).length).toBe(big.length);
    // A descriptor claiming a huge size is refused before reading.
    const small = (await store.put(Buffer.from('x'))).digest;
    expect((await failure(store.read(small, { size: 1e12 }))).code).toBe('TOO_LARGE');
  });

  it('putFile renames an already-written temp file; other paths are refused', async () => {
    const root = await tmpDir();
    const store = new DirBlobStore(root);
    const tmp = store.tempPath();
    expect(tmp.startsWith(join(root, 'blobs', 'sha256') + '/')).toBe(true);
    expect(store.tempPath()).not.toBe(tmp);
    await writeFile(tmp, 'direct');
    const d = sha256(Buffer.from('direct'));
    await store.putFile(tmp, d);
    expect(await store.read(d)).toEqual(Buffer.from('direct'));
    expect(await blobFiles(root)).toEqual([d.slice(7)]);
    const outside = join(root, 'elsewhere');
    await writeFile(outside, 'x');
    const e = await failure(store.putFile(outside, sha256(Buffer.from('x'))));
    expect(e.code).toBe('IO');
    expect(e.path).toBe(outside);
    expect(isOciError(e, 'IO')).toBe(true);
  });
});
