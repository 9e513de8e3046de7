import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DirBlobStore, MediaType, parallelGzip, sha256, storedLayer, storeLayer } from '../../oci/index.js';
import { hasCommand } from '../helpers/fixtures.js';
import { tarFrom } from '../helpers/tar.js';
import { tmpDir } from '../helpers/tmp.js';
import { blobNames, chunked, exec, noise, ociFailure, readAll, text } from './oci-helpers.js';

function sampleTar(): Buffer {
  return tarFrom([
    { name: 'etc/', type: 'dir' },
    { name: 'etc/os-release', content: 'ID=test\n' },
    { name: 'usr/share/doc/big.txt', content: text(3 * 1024 * 1024 + 12345) },
    { name: 'usr/lib/blob.bin', content: noise(2 * 1024 * 1024 + 777) },
    { name: 'bin/sh', type: 'symlink', linkname: 'busybox' },
  ]);
}

describe('storeLayer', () => {
  it('gzip: one pass gives diffID = sha256(tar), digest and size of the blob; the blob gunzips to the tar', async () => {
    const root = await tmpDir();
    const store = new DirBlobStore(root);
    const tar = sampleTar();
    const layer = await storeLayer(chunked(tar, [512, 10_000, 65_536, 3]), store);
    expect(layer.diffID).toBe(sha256(tar));
    expect(layer.compression).toBe('gzip');
    expect(layer.descriptor.mediaType).toBe(MediaType.OciLayerGzip);
    const blob = await readAll(await layer.open());
    expect(layer.descriptor.digest).toBe(sha256(blob));
    expect(layer.descriptor.size).toBe(blob.length);
    expect(blob.length).toBeLessThan(tar.length);
    expect(gunzipSync(blob).equals(tar)).toBe(true);
    expect((await readAll(await layer.openUncompressed())).equals(tar)).toBe(true);
    expect(await blobNames(root)).toEqual([layer.descriptor.digest.slice(7)]);
  });

  it('gzip output passes gzip -t and zcat, and pigz -t when pigz is there', async () => {
    const root = await tmpDir();
    const store = new DirBlobStore(root);
    const tar = sampleTar();
    const layer = await storeLayer(Readable.from([tar]), store, { level: 9 });
    const p = store.path(layer.descriptor.digest);
    await exec('gzip', ['-t', p]);
    const { stdout } = await exec('sh', ['-c', 'zcat < "$1" | sha256sum', 'sh', p]);
    expect(`sha256:${stdout.split(' ')[0]}`).toBe(sha256(tar));
    if (hasCommand('pigz')) await exec('pigz', ['-t', p]);
  });

  it('is deterministic: same tar and level give the same blob however the tar is chunked', async () => {
    const store = new DirBlobStore(await tmpDir());
    const tar = sampleTar();
    const a = await storeLayer(chunked(tar, [1_000_000]), store);
    const b = await storeLayer(chunked(tar, [7, 4096, 100_003]), store);
    expect(b.descriptor).toEqual(a.descriptor);
    const c = await storeLayer(Readable.from([tar]), store, { level: 1 });
    expect(c.diffID).toBe(a.diffID);
    expect(c.descriptor.digest).not.toBe(a.descriptor.digest);
  });

  it('compression none: the blob is the tar and digest = diffID', async () => {
    const store = new DirBlobStore(await tmpDir());
    const tar = sampleTar();
    const layer = await storeLayer(chunked(tar, [512]), store, { compression: 'none' });
    expect(layer.descriptor).toEqual({ mediaType: MediaType.OciLayer, digest: sha256(tar), size: tar.length });
    expect(layer.diffID).toBe(sha256(tar));
    expect((await readAll(await layer.open())).equals(tar)).toBe(true);
  });

  it('an empty tar stream gives a valid empty gzip', async () => {
    const store = new DirBlobStore(await tmpDir());
    const layer = await storeLayer(Readable.from([]), store);
    expect(layer.diffID).toBe(sha256(Buffer.alloc(0)));
    await exec('gzip', ['-t', store.path(layer.descriptor.digest)]);
    expect(gunzipSync(await readAll(await layer.open())).length).toBe(0);
  });

  it('takes a Docker media type and refuses one that contradicts the compression', async () => {
    const store = new DirBlobStore(await tmpDir());
    const layer = await storeLayer(Readable.from([sampleTar()]), store, { mediaType: MediaType.DockerLayerGzip });
    expect(layer.descriptor.mediaType).toBe(MediaType.DockerLayerGzip);
    const e = await ociFailure(storeLayer(Readable.from([sampleTar()]), store, { compression: 'none', mediaType: MediaType.OciLayerGzip }));
    expect(e.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('a failing or aborted tar stream leaves nothing in the store', async () => {
    const root = await tmpDir();
    const store = new DirBlobStore(root);
    let n = 0;
    const failing = new Readable({
      read() {
        if (++n > 5) this.destroy(new Error('tar writer failed'));
        else this.push(noise(1024 * 1024, n));
      },
    });
    await expect(storeLayer(failing, store)).rejects.toThrow('tar writer failed');
    expect(await blobNames(root)).toEqual([]);

    const ac = new AbortController();
    let m = 0;
    const endless = new Readable({
      read() {
        if (++m === 4) ac.abort();
        this.push(noise(1024 * 1024, m));
      },
    });
    await expect(storeLayer(endless, store, { signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
    expect(await blobNames(root)).toEqual([]);
  });

  it('streams a big layer with flat memory', async () => {
    const store = new DirBlobStore(await tmpDir());
    const block = noise(1024 * 1024, 42);
    const total = 256;
    let i = 0;
    const src = new Readable({
      read() {
        this.push(i++ < total ? block : null);
      },
    });
    globalThis.gc?.();
    const base = process.memoryUsage().rss;
    let peak = base;
    const timer = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 20);
    try {
      const layer = await storeLayer(src, store, { level: 1 });
      expect(layer.descriptor.size).toBeGreaterThan(total * 1024 * 1024);
    } finally {
      clearInterval(timer);
    }
    const grewMiB = (peak - base) / 1024 / 1024;
    // 256 MiB went through; a bounded pipeline holds a few blocks in and out (plus GC slack).
    expect(grewMiB).toBeLessThan(96);
  });
});

describe('parallelGzip', () => {
  it('round-trips any input, and the output does not depend on how the input is chunked', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 400_000 }),
        fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 0, max: 9 }),
        async (len, sizes, level) => {
          const data = Buffer.concat([text(len >> 1, len), noise(len - (len >> 1), len + 1)]);
          const opts = { level, blockSize: 64 * 1024, concurrency: 3 };
          const one = await readAll(parallelGzip(chunked(data, [data.length || 1]) as AsyncIterable<Buffer>, opts));
          const many = await readAll(parallelGzip(chunked(data, sizes) as AsyncIterable<Buffer>, opts));
          expect(many.equals(one)).toBe(true);
          expect(gunzipSync(one).equals(data)).toBe(true);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('compresses about as well as one-stream gzip (blocks are primed with the previous 32 KiB)', async () => {
    const data = text(4 * 1024 * 1024, 7);
    const ours = await readAll(parallelGzip(chunked(data, [100_000]) as AsyncIterable<Buffer>, { level: 6 }));
    const single = gzipSync(data, { level: 6 });
    expect(ours.length).toBeLessThan(single.length * 1.01);
  });

  it('a small whole input (deflated on the calling thread) gives the bytes the thread pool gives', async () => {
    for (const len of [40_000, 100_000, 256 * 1024, 300_000]) {
      const data = Buffer.concat([text(len >> 1, len), noise(len - (len >> 1), len + 3)]);
      // One short final block (the calling thread up to 256 KiB) vs the same bytes as one full block (always the pool).
      const short = await readAll(parallelGzip(chunked(data, [7_000]) as AsyncIterable<Buffer>, { level: 6 }));
      const full = await readAll(parallelGzip(chunked(data, [7_000]) as AsyncIterable<Buffer>, { level: 6, blockSize: len }));
      expect(short.equals(full), `length ${len}`).toBe(true);
      expect(gunzipSync(short).equals(data)).toBe(true);
    }
  });

  it('refuses bad levels and block sizes', async () => {
    await expect(readAll(parallelGzip(chunked(Buffer.from('x'), [1]) as AsyncIterable<Buffer>, { level: 10 }))).rejects.toThrow(RangeError);
    await expect(readAll(parallelGzip(chunked(Buffer.from('x'), [1]) as AsyncIterable<Buffer>, { blockSize: 100 }))).rejects.toThrow(RangeError);
  });
});

describe('storedLayer', () => {
  it('opens verified; a wrong blob fails with its digest and path', async () => {
    const root = await tmpDir();
    const store = new DirBlobStore(root);
    const tar = sampleTar();
    const stored = await storeLayer(Readable.from([tar]), store);
    const again = storedLayer(store, stored.descriptor, stored.diffID);
    expect((await readAll(await again.openUncompressed())).equals(tar)).toBe(true);

    const p = store.path(stored.descriptor.digest);
    const blob = await readAll(await again.open());
    const at = blob.length - 20;
    blob.writeUInt8(blob.readUInt8(at) ^ 0xff, at);
    await writeFile(p, blob);
    const e = await ociFailure(readAll(await again.open()));
    expect(e.code).toBe('DIGEST_MISMATCH');
    expect(e.digest).toBe(stored.descriptor.digest);
    expect(e.path).toBe(p);
    // Through the decompressor the corrupt byte may trip gunzip first; either way it is an OciError naming the blob.
    const u = await ociFailure(readAll(await again.openUncompressed()));
    expect(['DIGEST_MISMATCH', 'DECOMPRESS']).toContain(u.code);
    expect(u.digest).toBe(stored.descriptor.digest);
  });

  it('a reader that stops early releases the blob file', async () => {
    const store = new DirBlobStore(await tmpDir());
    const tar = Buffer.concat([noise(4 * 1024 * 1024), text(4 * 1024 * 1024)]);
    const layer = await storeLayer(Readable.from([tar]), store);
    const fds = async () => (await readdir('/proc/self/fd')).length;
    const before = await fds();
    for (const open of [() => layer.open(), () => layer.openUncompressed()]) {
      const r = await open();
      for await (const _ of r) break;
    }
    await new Promise((r) => setTimeout(r, 100));
    expect(await fds()).toBe(before);
  });

  it('a missing blob: BLOB_NOT_FOUND, or in a sparse layout BLOB_MISSING_SPARSE saying so', async () => {
    const root = await tmpDir();
    const store = new DirBlobStore(root);
    const desc = { mediaType: MediaType.OciLayerGzip, digest: sha256(Buffer.from('gone')), size: 4 };
    const full = await ociFailure(storedLayer(store, desc, sha256(Buffer.from('tar'))).open());
    expect(full.code).toBe('BLOB_NOT_FOUND');
    const sparse = await ociFailure(storedLayer(store, desc, sha256(Buffer.from('tar')), { sparse: true }).openUncompressed());
    expect(sparse.code).toBe('BLOB_MISSING_SPARSE');
    expect(sparse.digest).toBe(desc.digest);
    expect(sparse.path).toBe(root);
    expect(sparse.message).toContain('sparse layout');
    expect(sparse.message).toContain(desc.digest);
    expect(sparse.message).toContain(root);
  });

  it('reads a plain tar labelled gzip as a plain tar (as the lifecycle and containerd do)', async () => {
    const store = new DirBlobStore(await tmpDir());
    const tar = sampleTar();
    const { digest, size } = await store.put(tar);
    const l = storedLayer(store, { mediaType: MediaType.DockerLayerGzip, digest, size }, sha256(tar));
    expect((await readAll(await l.openUncompressed())).equals(tar)).toBe(true);
  });

  it('bytes that are not valid gzip fail with DECOMPRESS naming the layer', async () => {
    const store = new DirBlobStore(await tmpDir());
    const bad = Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0]), noise(5000)]);
    const { digest, size } = await store.put(bad);
    const e = await ociFailure(readAll(await storedLayer(store, { mediaType: MediaType.OciLayerGzip, digest, size }, sha256(Buffer.from('x'))).openUncompressed()));
    expect(e.code).toBe('DECOMPRESS');
    expect(e.digest).toBe(digest);
  });

  it('reads zstd layers', { skip: !hasCommand('zstd') }, async () => {
    const dir = await tmpDir();
    const store = new DirBlobStore(dir);
    const tar = sampleTar();
    await writeFile(join(dir, 'layer.tar'), tar);
    await exec('zstd', ['-q', '-3', join(dir, 'layer.tar'), '-o', join(dir, 'layer.tar.zst')]);
    const { readFile } = await import('node:fs/promises');
    const zst = await readFile(join(dir, 'layer.tar.zst'));
    const { digest, size } = await store.put(zst);
    const l = storedLayer(store, { mediaType: MediaType.OciLayerZstd, digest, size }, sha256(tar));
    expect(l.compression).toBe('zstd');
    expect((await readAll(await l.openUncompressed())).equals(tar)).toBe(true);
  });

  it('refuses a descriptor that is not a layer type', async () => {
    const store = new DirBlobStore(await tmpDir());
    const e = await ociFailure(() => storedLayer(store, { mediaType: 'application/json', digest: sha256(Buffer.from('x')), size: 1 }, sha256(Buffer.from('x'))));
    expect(e.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });
});
