// applyLayerTar, overlay format: each layer in its own directory (whiteout = char 0/0, opaque =
// trusted.overlay.opaque=y), and those directories mounted as stacked overlayfs lowerdirs show the
// same tree as the layers applied in merged format.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/fixtures.js';
import type { TarEntrySpec } from '../helpers/tar.js';
import { tmpDir } from '../helpers/tmp.js';
import { dumpTree, renderTree } from '../helpers/tree.js';
import { applyAll, withOverlay } from './apply-support.js';

const CAP = Buffer.from('0100000200200000000000000000000000000000', 'hex');

const notOverlayXattr = (n: string): boolean => !n.startsWith('trusted.overlay.') && n !== 'security.selinux';

const LAYERS: TarEntrySpec[][] = [
  [
    { name: 'etc/', mode: 0o755 }, { name: 'etc/a', content: 'a' }, { name: 'etc/b', content: 'b' },
    { name: 'opt/', mode: 0o755 }, { name: 'opt/d/x', content: 'x' }, { name: 'opt/d/y/z', content: 'z' },
    { name: 'opt2/old', content: 'old' },
    { name: 'a/b/c/bar', content: 'bar' }, { name: 'a/b/deep/er/f', content: 'f' }, { name: 'a/keep', content: 'k' },
    { name: 'things', type: 'symlink', linkname: 'data' }, { name: 'data/k', content: 'k' },
    { name: 'x/p', content: 'p' }, { name: 'x/q', content: 'q' }, { name: 'y', content: 'file' },
    { name: 'bin/sudo', content: 'su', mode: 0o4755, uid: 0 }, { name: 'bin/ping', content: 'ping', xattrs: { 'security.capability': CAP, 'user.k': 'v' } },
    { name: 'bin/h1', content: 'same' }, { name: 'bin/h2', type: 'link', linkname: 'bin/h1' },
    { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 }, { name: 'run/fifo', type: 'fifo' },
    { name: 'var/', mode: 0o755 }, { name: 'var/lib/x', content: 'x' },
    { name: 'lib64', type: 'symlink', linkname: 'usr/lib64' }, { name: 'usr/lib64/libc.so', content: 'libc' },
  ],
  [
    { name: 'etc/' }, { name: 'etc/.wh.a' },
    { name: 'opt/' }, { name: 'opt/.wh.d' },
    { name: '.wh.opt2' }, { name: 'opt2/', mode: 0o700 }, { name: 'opt2/new', content: 'new' },
    { name: 'a/' }, { name: 'a/b/', mode: 0o750 }, { name: 'a/b/.wh..wh..opq' }, { name: 'a/b/c/' }, { name: 'a/b/c/foo', content: 'foo' },
    { name: '.wh.data' }, { name: 'things/', mode: 0o711 },
    { name: 'x', content: 'now a file' }, { name: 'y/' }, { name: 'y/f', content: 'f' },
    { name: 'var/', mode: 0o775, gid: 50 },
    { name: 'bin/' }, { name: 'bin/sudo', content: 'sudo2', mode: 0o4750, gid: 27 },
    { name: 'usr/' }, { name: 'usr/lib64/' }, { name: 'usr/lib64/libx.so', content: 'x' },
    { name: 'a-link', type: 'symlink', linkname: '/nowhere' },
  ],
  [
    { name: 'etc/' }, { name: 'etc/a', content: 'a again' },
    { name: 'a/' }, { name: 'a/b/' , mode: 0o750 }, { name: 'a/b/c/' }, { name: 'a/b/c/.wh.foo' }, { name: 'a/b/c/baz', content: 'baz' },
    { name: '.wh.a-link' }, { name: 'a-link/' },
    { name: 'bin/' }, { name: 'bin/.wh.h1' },
  ],
];

describe.runIf(isRoot)('applyLayerTar (overlay format)', () => {
  it('writes whiteouts as char 0/0 and opaque markers as trusted.overlay.opaque=y', async () => {
    const dir = await tmpDir();
    await applyAll(dir, [LAYERS[1]!], 'overlay');
    const t = Object.fromEntries(dumpTree(dir, { xattrFilter: () => true }).map((e) => [e.path, e]));
    expect(t['etc/a']).toMatchObject({ type: 'char', rdev: '0:0', mode: 0 });
    expect(t['opt/d']).toMatchObject({ type: 'char', rdev: '0:0' });
    expect(t['data']).toMatchObject({ type: 'char', rdev: '0:0' });
    expect(t['a/b']).toMatchObject({ type: 'dir', mode: 0o750, xattrs: { 'trusted.overlay.opaque': 'y' } });
    // A directory that replaced this layer's own whiteout is opaque, so the lower one's children stay hidden.
    expect(t['opt2']).toMatchObject({ type: 'dir', mode: 0o700, xattrs: { 'trusted.overlay.opaque': 'y' } });
    expect(t['things']).toMatchObject({ type: 'dir', mode: 0o711 });
    expect(t['things']!.xattrs).toBeUndefined();
    expect(Object.keys(t).some((p) => p.includes('.wh.'))).toBe(false);
  });

  it('stacked as overlayfs lowerdirs, the layer dirs show the same tree as merged application', async () => {
    const tmp = await tmpDir();
    const merged = join(tmp, 'merged');
    mkdirSync(merged);
    await applyAll(merged, LAYERS, 'merged');
    const dirs = LAYERS.map((_, i) => join(tmp, `layer${i}`));
    for (const [i, d] of dirs.entries()) {
      mkdirSync(d);
      await applyAll(d, [LAYERS[i]!], 'overlay');
    }
    const expected = renderTree(dumpTree(merged, { xattrFilter: notOverlayXattr, mtime: true }));
    const seen = await withOverlay(dirs, join(tmp, 'mnt'), (mnt) => renderTree(dumpTree(mnt, { xattrFilter: notOverlayXattr, mtime: true })));
    expect(seen).toEqual(expected);
    // And the tree is what the layers say.
    expect(expected.map((l) => l.split(' ')[3])).toEqual([
      'a', 'a-link', 'a/b', 'a/b/c', 'a/b/c/baz', 'a/keep', 'bin', 'bin/h2', 'bin/ping', 'bin/sudo', 'dev', 'dev/null',
      'etc', 'etc/a', 'etc/b', 'lib64', 'opt', 'opt2', 'opt2/new', 'run', 'run/fifo', 'things', 'usr', 'usr/lib64',
      'usr/lib64/libc.so', 'usr/lib64/libx.so', 'var', 'var/lib', 'var/lib/x', 'x', 'y', 'y/f',
    ]);
  });

  it('a hardlink to a lower layer cannot be made in overlay format (BAD_LAYER naming the target)', async () => {
    const dir = await tmpDir();
    await expect(applyAll(dir, [[{ name: 'usr/local/bin/py', type: 'link', linkname: 'usr/bin/python3' }]], 'overlay'))
      .rejects.toMatchObject({ code: 'BAD_LAYER', message: expect.stringMatching(/cannot link to a lower layer/) });
  });
});
