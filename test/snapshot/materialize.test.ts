// materialize / extractLayer over in-memory images: diffID verification, corrupt blobs, the
// lifecycle's own extension layers (GNU tar, absolute names).
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DirBlobStore, storedLayer, type Digest, type Layer } from '../../oci/index.js';
import { extractLayer, materialize } from '../../snapshot/materialize.js';
import { isRoot } from '../helpers/fixtures.js';
import { memoryImage, memoryLayer, tarFrom } from '../helpers/tar.js';
import { tmpDir } from '../helpers/tmp.js';
import { dumpTree } from '../helpers/tree.js';

const LIFECYCLE = '/work/shared/fixtures/lifecycle-extended-run/sha256_c72eda1cc5b6c41360b95d73f881eff9d0655e56c693a2bc6cc9312c9e70aa24/blobs/sha256';

describe.runIf(isRoot)('materialize', () => {
  it('applies all layers in order into an empty directory', async () => {
    const dest = join(await tmpDir(), 'rootfs');
    const img = memoryImage([
      memoryLayer(tarFrom([{ name: 'etc/' }, { name: 'etc/a', content: 'a' }, { name: 'etc/b', content: 'b' }])),
      memoryLayer(tarFrom([{ name: 'etc/' }, { name: 'etc/.wh.a' }, { name: 'etc/c', content: 'c' }]), { compression: 'none' }),
      memoryLayer(tarFrom([{ name: 'etc/', mode: 0o700 }, { name: 'etc/b', content: 'B', mode: 0o600 }])),
    ]);
    const stats = await materialize(img, dest);
    expect(stats).toEqual({ layers: 3, entries: 8, bytes: 4, whiteouts: 1, skipped: 0 });
    expect(dumpTree(dest).map((e) => `${e.path} ${e.mode.toString(8)}`)).toEqual(['etc 700', 'etc/b 600', 'etc/c 644']);
    expect(readFileSync(join(dest, 'etc/b'), 'utf8')).toBe('B');
  });

  it('refuses a destination that is not empty', async () => {
    const dest = await tmpDir();
    await materialize(memoryImage([memoryLayer(tarFrom([{ name: 'x', content: '' }]))]), dest);
    await expect(materialize(memoryImage([]), dest)).rejects.toMatchObject({ code: 'IO', path: dest });
  });

  it.each(['auto', 'node'] as const)('corrupt gzip → BAD_LAYER naming the layer digest, and the destination is emptied (gunzip %s)', async (gunzip) => {
    const dest = await tmpDir();
    const good = memoryLayer(tarFrom([{ name: 'ok', content: 'fine' }]));
    const tar = tarFrom([{ name: 'f', content: randomBytes(100_000) }]);
    const gz = gzipSync(tar);
    gz.fill(0x55, 20_000, 20_400);
    const bad = memoryLayer(tar, { blob: gz });
    const err = await materialize(memoryImage([good, bad]), dest, { gunzip }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'BAD_LAYER', layer: bad.descriptor.digest });
    expect((err as Error).message).toContain(bad.descriptor.digest);
    expect(readdirSync(dest)).toEqual([]);
  });

  it.each(['auto', 'node'] as const)('a gzip stream cut short → BAD_LAYER (gunzip %s)', async (gunzip) => {
    const dest = await tmpDir();
    const tar = tarFrom([{ name: 'f', content: randomBytes(100_000) }]);
    const gz = gzipSync(tar);
    for (const cut of [gz.length - 100, gz.length - 4, 5000]) {
      const l = memoryLayer(tar, { blob: gz.subarray(0, cut) });
      await expect(materialize(memoryImage([l]), dest, { gunzip }), `cut at ${cut}`).rejects.toMatchObject({ code: 'BAD_LAYER', layer: l.descriptor.digest });
    }
  });

  it.each(['auto', 'node'] as const)('a blob that does not match its digest → BAD_LAYER, even when it decompresses fine (gunzip %s)', async (gunzip) => {
    const tmp = await tmpDir();
    const tar = tarFrom([{ name: 'f', content: 'x' }]);
    const real = memoryLayer(tar);
    const store = new DirBlobStore(join(tmp, 'store'));
    mkdirSync(join(tmp, 'store', 'blobs', 'sha256'), { recursive: true });
    // The right digest's file holds another (valid) gzip of the same tar.
    writeFileSync(store.path(real.descriptor.digest), gzipSync(tar, { level: 9 }));
    const l = storedLayer(store, { ...real.descriptor, size: gzipSync(tar, { level: 9 }).length }, real.diffID);
    const err = await materialize(memoryImage([l]), join(tmp, 'root'), { gunzip }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'BAD_LAYER', layer: real.descriptor.digest });
    expect((err as Error).cause).toMatchObject({ code: 'DIGEST_MISMATCH' });
  });

  it('judges the compression by the bytes, not the media type', async () => {
    const dest = await tmpDir();
    const a = tarFrom([{ name: 'a', content: 'a' }]);
    const b = tarFrom([{ name: 'b', content: 'b' }]);
    const plainLabelledGzip: Layer = { ...memoryLayer(a, { blob: a }), compression: 'gzip' };
    const gzipLabelledPlain: Layer = { ...memoryLayer(b, { blob: gzipSync(b) }), compression: 'none' };
    await materialize(memoryImage([plainLabelledGzip, gzipLabelledPlain]), dest);
    expect(dumpTree(dest).map((e) => e.path)).toEqual(['a', 'b']);
  });

  it('content that does not hash to the diffID → BAD_LAYER', async () => {
    const dest = await tmpDir();
    const l = memoryLayer(tarFrom([{ name: 'f', content: 'x' }]));
    const lying: Layer = { ...l, diffID: `sha256:${'0'.repeat(64)}` as Digest };
    await expect(extractLayer(lying, dest, { format: 'merged' })).rejects.toMatchObject({ code: 'BAD_LAYER', message: expect.stringMatching(/diffID/) });
  });

  it('unsafe entries fail the whole materialize and leave nothing behind', async () => {
    const dest = await tmpDir();
    const l = memoryLayer(tarFrom([{ name: 'a', type: 'symlink', linkname: '/' }, { name: 'a/tmp/x', content: 'x' }]));
    await expect(materialize(memoryImage([l]), dest)).rejects.toMatchObject({ code: 'UNSAFE_PATH', layer: l.descriptor.digest, entry: 'a/tmp/x' });
    expect(readdirSync(dest)).toEqual([]);
  });

  it("the lifecycle's extension layers (GNU tar, absolute names) extract relative to the root", async () => {
    const dest = await tmpDir();
    const blobs = ['65c2873d397056a5cb4169790654d787579b005f18b903082b177d4d9b4aecf5', '0fb9b88c9cbe9f11b4c8da645f390df59f5949632985a0bfc2a842ef17b2ad18']
      .map((h) => readFileSync(join(LIFECYCLE, h)));
    const img = memoryImage(blobs.map((b) => memoryLayer(gunzipSync(b), { blob: b })));
    await materialize(img, dest);
    expect(dumpTree(dest).map((e) => `${e.type} ${e.path} ${e.size}`)).toEqual([
      'dir some-dir 0', 'file some-dir/some-file 10', 'file some-file 10', 'dir some-other-dir 0', 'file some-other-dir/some-file 10', 'file some-other-file 10',
    ]);
  });
});
