// writeImage's linkFrom: blobs another store already holds are hard-linked (cloned or copied across
// filesystems) instead of read and re-written; anything that does not fit (absent, another size)
// is copied and verified as without the option.
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { appendLayers, DirBlobStore, emptyImage, OciLayout, storeLayer, validateLayout, withCreated, type Image } from '../../oci/index.js';
import { tarFrom } from '../helpers/tar.js';
import { tmpDir } from '../helpers/tmp.js';
import { blobNames, ociFailure, readAll } from './oci-helpers.js';

/** A three-layer image written to a layout of its own, read back from it (its layers are that layout's blobs). */
async function sourceLayout(): Promise<{ dir: string; layout: OciLayout; img: Image; tars: Buffer[] }> {
  const scratch = new DirBlobStore(await tmpDir('cnbx-link-scratch-'));
  let img = emptyImage({ os: 'linux', architecture: 'amd64' });
  const tars: Buffer[] = [];
  for (let i = 0; i < 3; i++) {
    const tar = tarFrom([{ name: `f${i}`, content: `layer ${i}\n`.repeat(1000 * (i + 1)) }]);
    tars.push(tar);
    img = appendLayers(img, { layer: await storeLayer(Readable.from([tar]), scratch) });
  }
  img = withCreated(img, '2024-05-06T07:08:09Z');
  const dir = await tmpDir('cnbx-link-src-');
  const layout = await OciLayout.create(dir);
  await layout.writeImage(img, { tag: 'base' });
  return { dir, layout, img: await layout.image({ tag: 'base' }), tars };
}

const ino = (p: string) => {
  const st = statSync(p);
  return `${st.dev}:${st.ino}`;
};

describe('OciLayout.writeImage linkFrom', () => {
  it('hard-links the layer blobs the source store holds; the result validates and reads back verified', async () => {
    const src = await sourceLayout();
    const dst = await tmpDir('cnbx-link-dst-');
    const out = await OciLayout.create(dst);
    await out.writeImage(src.img, { tag: 'out', linkFrom: [src.layout.blobs] });
    await validateLayout(dst);
    for (const l of src.img.layers) {
      const p = out.blobs.path(l.descriptor.digest);
      expect(ino(p)).toBe(ino(src.layout.blobs.path(l.descriptor.digest)));
      expect(statSync(p).nlink).toBe(2);
    }
    // Manifest and config are written, not linked.
    expect(statSync(out.blobs.path(src.img.digest)).nlink).toBe(1);
    const back = await (await OciLayout.open(dst)).image({ tag: 'out' });
    for (const [i, l] of back.layers.entries()) expect((await readAll(await l.openUncompressed())).equals(src.tars[i]!)).toBe(true);
    expect((await blobNames(dst)).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('copies (and verifies) what the link source lacks or holds with another size', async () => {
    const src = await sourceLayout();
    // A second store: layer 0 missing, layer 1 present with the wrong size, layer 2 right.
    const other = new DirBlobStore(await tmpDir('cnbx-link-other-'));
    const [l0, l1, l2] = src.img.layers;
    await other.put(await l2!.open(), { digest: l2!.descriptor.digest });
    mkdirSync(join(other.root, 'blobs', 'sha256'), { recursive: true });
    await writeFile(other.path(l1!.descriptor.digest), 'not the blob');
    const dst = await tmpDir('cnbx-link-dst-');
    const out = await OciLayout.create(dst);
    await out.writeImage(src.img, { linkFrom: [other] });
    await validateLayout(dst);
    expect(ino(out.blobs.path(l2!.descriptor.digest))).toBe(ino(other.path(l2!.descriptor.digest)));
    for (const l of [l0!, l1!]) {
      const p = out.blobs.path(l.descriptor.digest);
      expect(statSync(p).nlink).toBe(1);
      expect(sizeOf(p)).toBe(l.descriptor.size);
    }
    for (const [i, l] of (await (await OciLayout.open(dst)).image()).layers.entries()) {
      expect((await readAll(await l.openUncompressed())).equals(src.tars[i]!)).toBe(true);
    }
  });

  it('a linked blob is not read while writing: a same-size corruption of the source shows up as DIGEST_MISMATCH on read', async () => {
    const src = await sourceLayout();
    const l = src.img.layers[1]!;
    const p = src.layout.blobs.path(l.descriptor.digest);
    const bytes = await readFile(p);
    bytes.writeUInt8(bytes.readUInt8(100) ^ 1, 100);
    // Replaced by a new file (temp + rename, as a blob writer would): the old inode stays intact.
    const tmp = `${p}.tmp-test`;
    await writeFile(tmp, bytes);
    const { rename } = await import('node:fs/promises');
    await rename(tmp, p);
    const dst = await tmpDir('cnbx-link-dst-');
    const out = await OciLayout.create(dst);
    await out.writeImage(src.img, { linkFrom: [src.layout.blobs] });
    const back = await (await OciLayout.open(dst)).image();
    const e = await ociFailure(async () => readAll(await back.layers[1]!.open()));
    expect(e.code).toBe('DIGEST_MISMATCH');
    expect(e.digest).toBe(l.descriptor.digest);
  });

  it('across filesystems it clones or copies: a blob of its own, verified', async () => {
    const src = await sourceLayout();
    const other = statSync('/dev/shm', { throwIfNoEntry: false });
    if (!other || other.dev === statSync(src.dir).dev) return; // no second filesystem here
    const dst = join('/dev/shm', `cnbx-link-${process.pid}-${Date.now()}`);
    try {
      const out = await OciLayout.create(dst);
      await out.writeImage(src.img, { linkFrom: [src.layout.blobs] });
      await validateLayout(dst);
      for (const [i, l] of (await (await OciLayout.open(dst)).image()).layers.entries()) {
        expect(statSync(out.blobs.path(l.descriptor.digest)).dev).toBe(other.dev);
        expect((await readAll(await l.openUncompressed())).equals(src.tars[i]!)).toBe(true);
      }
      expect((await blobNames(dst)).filter((n) => n.startsWith('.'))).toEqual([]);
    } finally {
      rmSync(dst, { recursive: true, force: true });
    }
  });
});

function sizeOf(p: string): number {
  return statSync(p).size;
}
