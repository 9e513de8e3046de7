// LayerCache: complete-or-absent entries keyed by diffID / chainID, races between two caches on
// one directory, bounded parallel extraction, read-only detection and crash recovery.
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { sha256, type Layer } from '../../oci/index.js';
import { chainIDs, LayerCache, verifyCache } from '../../snapshot/cache.js';
import { materialize } from '../../snapshot/materialize.js';
import { isRoot } from '../helpers/fixtures.js';
import { memoryImage, memoryLayer, tarFrom, type TarEntrySpec } from '../helpers/tar.js';
import { tmpDir } from '../helpers/tmp.js';
import { dumpTree, renderTree } from '../helpers/tree.js';
import { withOverlay } from './apply-support.js';

// The built library (npm test builds it first), for runs in separate processes.
const DIST = { snapshot: resolve(import.meta.dirname, '../../dist/snapshot/index.js'), oci: resolve(import.meta.dirname, '../../dist/oci/index.js') };

interface Counter { opens: number; active: number; maxActive: number }

/** A layer that counts its opens (and concurrent extractions in `c`) and can hold them at a gate. */
function instrumented(entries: TarEntrySpec[], gate?: Promise<void>, c: Counter = { opens: 0, active: 0, maxActive: 0 }): Layer & { c: Counter } {
  const base = memoryLayer(tarFrom(entries));
  return {
    ...base, c,
    open: async () => {
      c.opens++;
      c.active++;
      c.maxActive = Math.max(c.maxActive, c.active);
      await gate;
      await new Promise((r) => setTimeout(r, 20));
      const s = await base.open();
      s.once('close', () => c.active--);
      return s;
    },
  };
}

describe('chainIDs', () => {
  it('follows the image-spec definition', () => {
    const d = ['a', 'b', 'c'].map((x) => sha256(x));
    const c1 = sha256(`${d[0]} ${d[1]}`);
    expect(chainIDs(d)).toEqual([d[0], c1, sha256(`${c1} ${d[2]}`)]);
    expect(chainIDs([])).toEqual([]);
  });
});

describe.runIf(isRoot)('LayerCache', () => {
  it('extracts a layer once, in overlay format, under layers/<diffID hex>/fs', async () => {
    const dir = await tmpDir();
    const l = instrumented([{ name: 'etc/' }, { name: 'etc/.wh.a' }, { name: 'etc/b', content: 'b' }]);
    const cache = new LayerCache(dir, { durable: false });
    const p = await cache.layerDir(l);
    expect(p).toBe(join(dir, 'layers', l.diffID.slice(7), 'fs'));
    expect(dumpTree(p).map((e) => `${e.type} ${e.path}`)).toEqual(['dir etc', 'char etc/a', 'file etc/b']);
    expect(await cache.layerDir(l)).toBe(p);
    expect(await new LayerCache(dir).layerDir(l)).toBe(p);
    expect(l.c.opens).toBe(1);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
  });

  it('concurrent requests in one cache share the extraction', async () => {
    const dir = await tmpDir();
    const l = instrumented([{ name: 'f', content: 'x' }]);
    const cache = new LayerCache(dir, { durable: false });
    const [a, b] = await Promise.all([cache.layerDir(l), cache.layerDir(l)]);
    expect(a).toBe(b);
    expect(l.c.opens).toBe(1);
  });

  it('two caches (two processes) racing on one layer end with one correct entry', async () => {
    const dir = await tmpDir();
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const l = instrumented([{ name: 'd/' }, { name: 'd/f', content: 'racing' }], gate);
    const racing = [new LayerCache(dir), new LayerCache(dir)].map((c) => c.layerDir(l));
    for (let i = 0; i < 200 && l.c.opens < 2; i++) await new Promise((r) => setTimeout(r, 25));
    expect(l.c.opens).toBe(2); // both really extract
    open();
    const [a, b] = await Promise.all(racing);
    expect(a).toBe(b);
    expect(readdirSync(join(dir, 'layers'))).toEqual([l.diffID.slice(7)]);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
    expect(dumpTree(a!).map((e) => e.path)).toEqual(['d', 'd/f']);
    expect((await verifyCache(dir, { deep: true })).ok).toEqual([`layers/${l.diffID.slice(7)}`]);
  });

  it.runIf(existsSync(DIST.snapshot) && existsSync(DIST.oci))('three processes racing on one layer end with one correct entry', async () => {
    const tmp = await tmpDir();
    const tar = tarFrom([...Array(1500).keys()].map((i) => ({ name: `d${i % 30}/f${i}`, content: `${i}`.repeat(100) })));
    const l = memoryLayer(tar);
    const blobs = join(tmp, 'store', 'blobs', 'sha256');
    mkdirSync(blobs, { recursive: true });
    writeFileSync(join(blobs, l.descriptor.digest.slice(7)), gzipSync(tar, { level: 1 }));
    const child = join(tmp, 'child.mjs');
    writeFileSync(child, [
      'const [oci, snap, store, cache, desc, diffID] = process.argv.slice(2);',
      'const { DirBlobStore, storedLayer } = await import(oci);',
      'const { LayerCache } = await import(snap);',
      'const layer = storedLayer(new DirBlobStore(store), JSON.parse(desc), diffID);',
      'console.log(await new LayerCache(cache, { durable: false }).layerDir(layer));',
    ].join('\n'));
    const desc = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.descriptor.digest, size: gzipSync(tar, { level: 1 }).length };
    const run = () => new Promise<string>((resolve, reject) => {
      execFile(process.execPath, [child, DIST.oci, DIST.snapshot, join(tmp, 'store'), join(tmp, 'cache'), JSON.stringify(desc), l.diffID], (err, out) => (err ? reject(err) : resolve(out.trim())));
    });
    const outs = await Promise.all([run(), run(), run()]);
    const want = join(tmp, 'cache', 'layers', l.diffID.slice(7), 'fs');
    expect(outs).toEqual([want, want, want]);
    expect(readdirSync(join(tmp, 'cache', 'layers'))).toEqual([l.diffID.slice(7)]);
    expect(readdirSync(join(tmp, 'cache', 'tmp'))).toEqual([]);
    expect(dumpTree(want, { xattrs: false })).toHaveLength(1530);
    expect((await verifyCache(join(tmp, 'cache'), { deep: true })).ok).toEqual([`layers/${l.diffID.slice(7)}`]);
  });

  it('extracts the layers of an image two at a time', async () => {
    const dir = await tmpDir();
    const c: Counter = { opens: 0, active: 0, maxActive: 0 };
    const layers = [0, 1, 2, 3, 4].map((i) => instrumented([{ name: `f${i}`, content: `${i}` }], undefined, c));
    const dirs = await new LayerCache(dir, { durable: false }).layerDirs(memoryImage(layers));
    expect(dirs).toEqual(layers.map((l) => join(dir, 'layers', l.diffID.slice(7), 'fs')));
    expect(c.maxActive).toBe(2);
    expect(c.opens).toBe(5);
  });

  it('a corrupt layer leaves no entry and no temp directory', async () => {
    const dir = await tmpDir();
    const l = memoryLayer(tarFrom([{ name: 'f', content: 'x' }]));
    const lying: Layer = { ...l, diffID: sha256('not this') };
    await expect(new LayerCache(dir, { durable: false }).layerDir(lying)).rejects.toMatchObject({ code: 'BAD_LAYER' });
    expect(existsSync(join(dir, 'layers', lying.diffID.slice(7)))).toBe(false);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
  });

  it('when one layer fails, layerDirs returns only after the others finished (no temp dir left to a caller that exits)', async () => {
    const dir = await tmpDir();
    const slow = instrumented([{ name: 'f', content: 'slow' }], new Promise((r) => setTimeout(r, 300)));
    const bad = memoryLayer(tarFrom([{ name: 'g', content: 'x' }]));
    const lying: Layer = { ...bad, diffID: sha256('not this') };
    await expect(new LayerCache(dir, { durable: false }).layerDirs(memoryImage([slow, lying]))).rejects.toMatchObject({ code: 'BAD_LAYER' });
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
    expect(readdirSync(join(dir, 'layers'))).toEqual([slow.diffID.slice(7)]);
  });

  it('mergedRootfs is the materialized image, keyed by chainID, built once', async () => {
    const dir = await tmpDir();
    const layers = [
      instrumented([{ name: 'etc/' }, { name: 'etc/a', content: 'a' }, { name: 'opt/x/y', content: 'y' }]),
      instrumented([{ name: 'etc/' }, { name: 'etc/.wh.a' }, { name: 'opt/' }, { name: 'opt/.wh..wh..opq' }, { name: 'opt/z', content: 'z' }]),
    ];
    const img = memoryImage(layers);
    const cache = new LayerCache(dir);
    const p = await cache.mergedRootfs(img);
    expect(p).toBe(join(dir, 'merged', chainIDs(layers.map((l) => l.diffID)).at(-1)!.slice(7), 'fs'));
    const ref = join(await tmpDir(), 'ref');
    await materialize(img, ref);
    expect(renderTree(dumpTree(p, { mtime: true }))).toEqual(renderTree(dumpTree(ref, { mtime: true })));
    expect(await cache.mergedRootfs(img)).toBe(p);
    expect(layers.map((l) => l.c.opens)).toEqual([2, 2]); // once for the cache, once for ref
  });

  it('cached layer dirs stacked as overlay lowerdirs equal the merged rootfs', async () => {
    const dir = await tmpDir();
    const img = memoryImage([
      memoryLayer(tarFrom([{ name: 'a/b/c', content: 'c' }, { name: 'a/d', content: 'd' }, { name: 'l', type: 'symlink', linkname: 'a' }, { name: 's', content: 's', mode: 0o4755, uid: 9 }])),
      memoryLayer(tarFrom([{ name: 'a/' }, { name: 'a/.wh.d' }, { name: 'a/b/', mode: 0o700 }, { name: 'a/b/.wh..wh..opq' }, { name: 'a/b/n', content: 'n' }, { name: '.wh.l' }, { name: 'l/' }])),
      memoryLayer(tarFrom([{ name: 'a/' }, { name: 'a/b/', mode: 0o700 }, { name: 'a/b/.wh.n' }, { name: 'x', type: 'fifo' }])),
    ]);
    const cache = new LayerCache(dir, { durable: false });
    const merged = await cache.mergedRootfs(img);
    const lowers = await cache.layerDirs(img);
    const filter = { xattrFilter: (n: string) => !n.startsWith('trusted.overlay.'), mtime: true };
    const seen = await withOverlay(lowers, join(await tmpDir(), 'mnt'), (m) => renderTree(dumpTree(m, filter)));
    expect(seen).toEqual(renderTree(dumpTree(merged, filter)));
  });

  it('stacks a fixup above a layer that needed parents it did not list, so the merged attributes survive', async () => {
    const dir = await tmpDir();
    const img = memoryImage([
      memoryLayer(tarFrom([
        { name: 'tmp/', mode: 0o1777, mtime: 111 }, { name: 'tmp/x', content: 'x' },
        { name: 'var/', mode: 0o755, mtime: 222 }, { name: 'var/lib/', mode: 0o700, uid: 5, gid: 6, mtime: 333, xattrs: { 'user.k': 'v' } },
      ])),
      // No parent entries at all (umoci writes whiteouts this way).
      memoryLayer(tarFrom([{ name: 'tmp/.wh.x' }, { name: 'tmp/new', content: 'n' }, { name: 'var/lib/apt/f', content: 'f' }, { name: 'brand/new/f', content: '' }])),
    ]);
    const cache = new LayerCache(dir, { durable: false });
    const lowers = await cache.layerDirs(img);
    expect(lowers).toHaveLength(3);
    expect(lowers[2]).toBe(join(dir, 'fixups', chainIDs(img.layers.map((l) => l.diffID))[1]!.slice(7), 'fs'));
    expect(dumpTree(lowers[2]!, { mtime: true }).map((e) => `${e.path} ${e.mode.toString(8)} ${e.uid}:${e.gid} @${e.mtime}${e.xattrs ? ` ${JSON.stringify(e.xattrs)}` : ''}`))
      .toEqual(['tmp 1777 0:0 @111', 'var 755 0:0 @222', 'var/lib 700 5:6 @333 {"user.k":"v"}']);
    const filter = { xattrFilter: (n: string) => !n.startsWith('trusted.overlay.'), mtime: true };
    const merged = await cache.mergedRootfs(img);
    const seen = await withOverlay(lowers, join(await tmpDir(), 'mnt'), (m) => renderTree(dumpTree(m, filter)));
    const want = renderTree(dumpTree(merged, filter));
    expect(seen).toEqual(want);
    // Parents that exist in no lower layer (brand/, var/lib/apt/) take the layer's newest mtime.
    expect(want.filter((l) => / (brand|brand\/new|var\/lib\/apt)$/.test(l.replace(/ @\d+$/, '')))).toEqual([
      'dir 0755 0:0 brand @1700000000', 'dir 0755 0:0 brand/new @1700000000', 'dir 0755 0:0 var/lib/apt @1700000000',
    ]);
    expect(await cache.layerDirs(img)).toEqual(lowers);
    expect((await cache.verify({ deep: true })).ok).toHaveLength(4);
  });

  it('refuses, like merged application, a layer whose unlisted parent is a symlink below', async () => {
    const dir = await tmpDir();
    const img = memoryImage([
      memoryLayer(tarFrom([{ name: 'lib64', type: 'symlink', linkname: 'usr/lib64' }, { name: 'usr/lib64/' }])),
      memoryLayer(tarFrom([{ name: 'lib64/libx.so', content: 'x' }])),
    ]);
    await expect(new LayerCache(dir, { durable: false }).layerDirs(img)).rejects.toMatchObject({ code: 'UNSAFE_PATH', layer: img.layers[1]!.descriptor.digest });
    await expect(materialize(img, join(dir, 'm'))).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
  });

  describe('verifyCache', () => {
    it('removes stale temp entries and keeps fresh ones', async () => {
      const dir = await tmpDir();
      await new LayerCache(dir, { durable: false }).layerDir(memoryLayer(tarFrom([{ name: 'f', content: '' }])));
      mkdirSync(join(dir, 'tmp', 'layer-0123-old', 'fs'), { recursive: true });
      mkdirSync(join(dir, 'tmp', 'layer-0123-new', 'fs'), { recursive: true });
      utimesSync(join(dir, 'tmp', 'layer-0123-old'), new Date(0), new Date(0));
      const r = await verifyCache(dir);
      expect(r.staleTemps).toEqual(['layer-0123-old']);
      expect(readdirSync(join(dir, 'tmp'))).toEqual(['layer-0123-new']);
      expect((await verifyCache(dir, { staleTempAfterMs: 0 })).staleTemps).toEqual(['layer-0123-new']);
    });

    it('lists incomplete entries and, with repair, removes them', async () => {
      const dir = await tmpDir();
      const hex = 'a'.repeat(64);
      mkdirSync(join(dir, 'layers', hex, 'fs'), { recursive: true });
      mkdirSync(join(dir, 'merged', 'not-a-digest'), { recursive: true });
      expect(await verifyCache(dir)).toMatchObject({ ok: [], incomplete: [`layers/${hex}`, 'merged/not-a-digest'], removed: [] });
      expect(await verifyCache(dir, { repair: true })).toMatchObject({ removed: [`layers/${hex}`, 'merged/not-a-digest'] });
      expect(readdirSync(join(dir, 'layers'))).toEqual([]);
    });

    it('deep: detects an entry a build modified (chmod, write, new file) or a file cut short, and repair lets it be rebuilt', async () => {
      for (const damage of ['chmod', 'write', 'add', 'truncate'] as const) {
        const dir = await tmpDir();
        const l = memoryLayer(tarFrom([{ name: 'etc/' }, { name: 'etc/passwd', content: 'root:x:0:0::/root:/bin/sh\n' }]));
        const cache = new LayerCache(dir, { durable: false });
        const p = await cache.layerDir(l);
        expect((await verifyCache(dir, { deep: true })).corrupt).toEqual([]);
        await new Promise((r) => setTimeout(r, 10)); // a ctime tick
        if (damage === 'chmod') chmodSync(join(p, 'etc/passwd'), 0o600);
        if (damage === 'write') writeFileSync(join(p, 'etc/passwd'), 'root:x:0:0::/root:/bin/bash\n');
        if (damage === 'add') writeFileSync(join(p, 'etc/new'), '');
        if (damage === 'truncate') writeFileSync(join(p, 'etc/passwd'), '');
        const r = await verifyCache(dir, { deep: true, repair: true });
        expect(r.corrupt.map((c) => c.entry), damage).toEqual([`layers/${l.diffID.slice(7)}`]);
        expect(r.removed).toHaveLength(1);
        const again = await new LayerCache(dir, { durable: false }).layerDir(l);
        expect(dumpTree(again).find((e) => e.path === 'etc/passwd')).toMatchObject({ mode: 0o644, size: 26 });
      }
    });
  });
});
