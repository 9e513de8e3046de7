// applyLayerTar, merged format: entry types, attributes, whiteouts and the layers.md §6 / §3 cases
// that concern applying a layer. Expected trees are written out by hand; the tars are built by the
// independent encoder in test/helpers/tar.ts.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasCommand, isRoot } from '../helpers/fixtures.js';
import { tarFrom, type TarEntrySpec } from '../helpers/tar.js';
import { tmpDir } from '../helpers/tmp.js';
import { dumpTree, type TreeEntry } from '../helpers/tree.js';
import { applyAll, testLog } from './apply-support.js';

// The built library (npm test builds it first), for runs in a child process with fewer capabilities.
const DIST_SNAPSHOT = resolve(import.meta.dirname, '../../dist/snapshot/index.js');
const CAP_NET_RAW_SETUID = Buffer.from('0100000280200000000000000000000000000000', 'hex'); // v2, a byte ≥ 0x80

function byPath(tree: TreeEntry[]): Record<string, TreeEntry> {
  return Object.fromEntries(tree.map((e) => [e.path, e]));
}

describe.runIf(isRoot)('applyLayerTar (merged)', () => {
  it('extracts every entry type with modes, owners, mtimes, xattrs', async () => {
    const root = await tmpDir();
    const log = testLog();
    await applyAll(root, [[
      { name: 'bin/', mode: 0o755, mtime: 1000 },
      { name: 'bin/sudo', content: 'su', mode: 0o4755, uid: 0, gid: 0, mtime: 2000 },
      { name: 'bin/ping', content: 'ping', mode: 0o755, uid: 1000, gid: 1000, xattrs: { 'security.capability': CAP_NET_RAW_SETUID }, mtime: 3000 },
      { name: 'bin/wall', content: 'w', mode: 0o2755, uid: 0, gid: 5 },
      { name: 'scratch/', mode: 0o1777, uid: 12, gid: 34, mtime: 4000 },
      { name: 'scratch/note', content: 'n', xattrs: { 'user.color': 'blue' } },
      { name: 'bin/sh', type: 'symlink', linkname: 'busybox', uid: 7, gid: 8, mtime: 5000 },
      { name: 'bin/busybox', content: 'bb', mode: 0o755 },
      { name: 'bin/ls', type: 'link', linkname: 'bin/busybox' },
      { name: 'dev/', mode: 0o755 },
      { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'dev/loop0', type: 'block', devmajor: 7, devminor: 0, mode: 0o660, gid: 6 },
      { name: 'run/p', type: 'fifo', mode: 0o620, uid: 3 },
      { name: 'empty', content: '', mode: 0o000 },
    ]], 'merged', log);
    const t = byPath(dumpTree(root, { mtime: true }));
    expect(t['bin']).toMatchObject({ type: 'dir', mode: 0o755, mtime: 1000 });
    expect(t['bin/sudo']).toMatchObject({ type: 'file', mode: 0o4755, mtime: 2000, size: 2 });
    expect(t['bin/ping']).toMatchObject({ mode: 0o755, uid: 1000, gid: 1000, mtime: 3000, xattrs: { 'security.capability': `0x${CAP_NET_RAW_SETUID.toString('hex')}` } });
    expect(t['bin/wall']).toMatchObject({ mode: 0o2755, gid: 5 });
    expect(t['scratch']).toMatchObject({ type: 'dir', mode: 0o1777, uid: 12, gid: 34, mtime: 4000 });
    expect(t['scratch/note']).toMatchObject({ xattrs: { 'user.color': 'blue' } });
    expect(t['bin/sh']).toMatchObject({ type: 'symlink', link: 'busybox', uid: 7, gid: 8, mtime: 5000 });
    expect(t['bin/ls']).toMatchObject({ type: 'file', hardlink: 'bin/busybox' });
    expect(t['dev/null']).toMatchObject({ type: 'char', rdev: '1:3', mode: 0o666 });
    expect(t['dev/loop0']).toMatchObject({ type: 'block', rdev: '7:0', mode: 0o660, gid: 6 });
    expect(t['run']).toMatchObject({ type: 'dir', mode: 0o755, uid: 0 }); // a parent we had to create
    expect(t['run/p']).toMatchObject({ type: 'fifo', mode: 0o620, uid: 3 });
    expect(t['empty']).toMatchObject({ type: 'file', mode: 0, size: 0 });
    expect(execFileSync('getcap', [join(root, 'bin/ping')], { encoding: 'utf8' })).toMatch(/cap_setuid,cap_net_raw[=+]ep/);
    expect(log.warnings).toEqual([]);
  });

  it('keeps setuid when the owner is not root: chown before chmod (bug 13, case 21)', async () => {
    const root = await tmpDir();
    await applyAll(root, [[{ name: 'usr/local/bin/tool', content: 't', mode: 0o6755, uid: 1000, gid: 1000 }]]);
    expect(statSync(join(root, 'usr/local/bin/tool')).mode & 0o7777).toBe(0o6755);
  });

  it('keeps file capabilities through the ownership change (case 22, bug 11)', async () => {
    const root = await tmpDir();
    await applyAll(root, [[{ name: 'ping', content: 'p', uid: 1, gid: 1, mode: 0o755, xattrs: { 'security.capability': CAP_NET_RAW_SETUID } }]]);
    expect(execFileSync('getcap', [join(root, 'ping')], { encoding: 'utf8' })).toContain('cap_net_raw');
  });

  it.runIf(hasCommand('setpriv') && existsSync(DIST_SNAPSHOT))('without CAP_SETFCAP, file capabilities are skipped with a warning (bug 12)', async () => {
    const tar = tarFrom([{ name: 'ping', content: 'p', mode: 0o4755, xattrs: { 'security.capability': CAP_NET_RAW_SETUID, 'user.k': 'v' } }]);
    const { out, root } = await applyWithoutCapability('setfcap', tar);
    expect(out.warnings).toEqual([expect.stringMatching(/security\.capability on "ping" refused by the kernel \(EPERM\); skipped/)]);
    expect(dumpTree(root)).toEqual([expect.objectContaining({ path: 'ping', mode: 0o4755, xattrs: { 'user.k': 'v' } })]);
  });

  it.runIf(hasCommand('setpriv') && existsSync(DIST_SNAPSHOT))('without CAP_MKNOD, devices are skipped with a warning and fifos still made (as containerd in a user namespace)', async () => {
    const tar = tarFrom([{ name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 }, { name: 'dev/sda', type: 'block', devmajor: 8, devminor: 0 }, { name: 'p', type: 'fifo' }]);
    const { out, root } = await applyWithoutCapability('mknod', tar);
    expect(out).toEqual({ warnings: [expect.stringMatching(/device "dev\/null" skipped: mknod not permitted/)], skipped: 2 });
    expect(dumpTree(root).map((e) => `${e.type} ${e.path}`)).toEqual(['dir dev', 'fifo p']);
  });

  it('applies security.capability and user.*, never trusted.overlay.*, user.overlay.*, security.selinux (cases 24, 25)', async () => {
    const root = await tmpDir();
    const log = testLog();
    await applyAll(root, [[
      { name: 'd/', xattrs: { 'trusted.overlay.opaque': 'y', 'user.keep': 'k' } },
      { name: 'd/f', content: 'x', xattrs: { 'user.overlay.redirect': '/x', 'security.selinux': 'system_u:object_r:bin_t:s0', 'trusted.x': '1', 'user.a': Buffer.from([0, 0xff, 10]) } },
    ]], 'merged', log);
    const t = byPath(dumpTree(root, { xattrFilter: () => true }));
    expect(t['d']!.xattrs).toEqual({ 'user.keep': 'k' });
    expect(t['d/f']!.xattrs).toEqual({ 'user.a': '0x00ff0a' });
    expect(log.warnings.join('\n')).toMatch(/trusted\.overlay\.opaque not applied/);
    expect(log.warnings.join('\n')).toMatch(/user\.overlay\.redirect not applied/);
  });

  it('skips user.* on a symlink with a warning (the kernel refuses it)', async () => {
    const root = await tmpDir();
    const log = testLog();
    await applyAll(root, [[{ name: 'l', type: 'symlink', linkname: 't', xattrs: { 'user.x': 'y' } }]], 'merged', log);
    expect(dumpTree(root)).toEqual([{ path: 'l', type: 'symlink', link: 't', mode: 0o777, uid: 0, gid: 0, size: 0 }]);
    expect(log.warnings.join('\n')).toMatch(/user\.x on "l" refused by the kernel \(EPERM\)/);
  });

  it('restores uid/gid beyond the octal field from PAX records (case 44)', async () => {
    const root = await tmpDir();
    await applyAll(root, [[{ name: 'f', content: 'x', uid: 1000680000, gid: 4294967294 }]]);
    expect(dumpTree(root)[0]).toMatchObject({ uid: 1000680000, gid: 4294967294 });
  });

  it('reads uid/gid from PAX when tar-stream-style writers truncated the header field', async () => {
    const root = await tmpDir();
    // tar-stream writes 262143 (0777777) in the field and the real value only in PAX.
    await applyAll(root, [[{ name: 'f', content: 'x', uid: 262143, gid: 262143, pax: { uid: '1000680000', gid: '1000680000' } }]]);
    expect(dumpTree(root)[0]).toMatchObject({ uid: 1000680000, gid: 1000680000 });
  });

  it('long names, long link targets, non-UTF-8 names, newlines (cases 41-43)', async () => {
    const root = await tmpDir();
    const long = `a/${'b'.repeat(150)}/${'c'.repeat(150)}`;
    const target = `/${'t'.repeat(149)}`;
    await applyAll(root, [[
      { name: long, content: 'long' },
      { name: 'lnk', type: 'symlink', linkname: target },
      { name: Buffer.from('n\xffme', 'latin1'), content: 'bytes', xattrs: { 'user.k': 'v' } },
      { name: Buffer.from('raw\xfe', 'latin1'), content: 'ustar', ustarName: true },
      { name: 'tmp/ünï', content: 'utf8' },
      { name: 'tmp/a\nb', content: 'nl' },
      { name: Buffer.from('dev\xff', 'latin1'), type: 'fifo' },
      { name: 'hl', type: 'link', linkname: Buffer.from('n\xffme', 'latin1') },
    ]]);
    const t = byPath(dumpTree(root));
    expect(t[long]).toMatchObject({ size: 4 });
    expect(t['lnk']).toMatchObject({ link: target });
    expect(t['n\\xffme']).toMatchObject({ size: 5, xattrs: { 'user.k': 'v' } });
    expect(t['raw\\xfe']).toMatchObject({ size: 5 });
    expect(t['tmp/ünï']).toMatchObject({ size: 4 });
    expect(t['tmp/a\nb']).toMatchObject({ size: 2 });
    expect(t['dev\\xff']).toMatchObject({ type: 'fifo' });
    expect(t['n\\xffme']).toMatchObject({ hardlink: 'hl' });
    expect(readFileSync(Buffer.from(`${root}/n\xffme`, 'latin1'), 'utf8')).toBe('bytes');
  });

  it('reads absolute names relative to the root (the lifecycle writes /some-dir/)', async () => {
    const root = await tmpDir();
    await applyAll(root, [[
      { name: '/some-dir/', mode: 0o755 },
      { name: '/some-dir/some-file', content: 'some-data\n' },
      { name: './other', content: 'o' },
      { name: '//x//y/', mode: 0o700 },
      { name: '/hard', type: 'link', linkname: '/some-dir/some-file' },
    ]]);
    expect(dumpTree(root).map((e) => `${e.type} ${e.path}${e.hardlink ? ` =${e.hardlink}` : ''}`)).toEqual([
      'file hard', 'file other', 'dir some-dir', 'file some-dir/some-file =hard', 'dir x', 'dir x/y',
    ]);
  });

  it('ignores entries for the root directory', async () => {
    const root = await tmpDir();
    const before = statSync(root).mode;
    await applyAll(root, [[{ name: './', mode: 0o700, uid: 5 }, { name: '/', mode: 0o700 }, { name: 'f', content: '' }]]);
    expect(statSync(root).mode).toBe(before);
  });

  describe('whiteouts', () => {
    it('removes a lower file (case 1) and a whole lower directory (case 2)', async () => {
      const root = await tmpDir();
      await applyAll(root, [
        [{ name: 'etc/' }, { name: 'etc/a', content: 'a' }, { name: 'etc/b', content: 'b' }, { name: 'opt/d/x', content: 'x' }, { name: 'opt/d/y/z', content: 'z' }],
        [{ name: 'etc/' }, { name: 'etc/.wh.a' }, { name: 'opt/' }, { name: 'opt/.wh.d' }],
      ]);
      expect(dumpTree(root).map((e) => e.path)).toEqual(['etc', 'etc/b', 'opt']);
    });

    it('never leaves .wh. files on disk and ignores whiteouts for absent paths (bug 1, case 7)', async () => {
      const root = await tmpDir();
      await applyAll(root, [
        [{ name: 'root/' }, { name: 'root/dirA/' }, { name: 'root/dirA/f', content: 'f' }],
        [{ name: 'root/' }, { name: 'root/.wh.dirA' }, { name: 'root/.wh.never-existed' }, { name: 'nope/.wh.x' }],
        [{ name: 'root/' }, { name: 'root/dirA/' }, { name: 'root/dirA/dirB/' }, { name: 'root/dirA/dirB/g', content: 'g' }],
      ]);
      expect(dumpTree(root).map((e) => e.path)).toEqual(['root', 'root/dirA', 'root/dirA/dirB', 'root/dirA/dirB/g']);
    });

    it('opaque directory hides every lower child, whatever its position in the layer (case 5)', async () => {
      const base: TarEntrySpec[] = [{ name: 'a/b/c/bar', content: 'bar' }, { name: 'a/b/old/deep/x', content: 'x' }, { name: 'a/keep', content: 'k' }];
      for (const order of ['opq-first', 'opq-last'] as const) {
        const root = await tmpDir();
        const opq: TarEntrySpec = { name: 'a/b/.wh..wh..opq' };
        const upper: TarEntrySpec[] = [{ name: 'a/' }, { name: 'a/b/', mode: 0o750 }, { name: 'a/b/c/' }, { name: 'a/b/c/foo', content: 'foo' }];
        await applyAll(root, [base, order === 'opq-first' ? [...upper.slice(0, 2), opq, ...upper.slice(2)] : [...upper, opq]]);
        expect(dumpTree(root).map((e) => e.path), order).toEqual(['a', 'a/b', 'a/b/c', 'a/b/c/foo', 'a/keep']);
        expect(statSync(join(root, 'a/b')).mode & 0o777).toBe(0o750);
      }
    });

    it('explicit whiteouts hide only the named children (case 6)', async () => {
      const root = await tmpDir();
      await applyAll(root, [
        [{ name: 'bin/x', content: 'x' }, { name: 'bin/y', content: 'y' }, { name: 'bin/tools/z', content: 'z' }, { name: 'bin/w', content: 'w' }],
        [{ name: 'bin/' }, { name: 'bin/.wh.tools' }, { name: 'bin/.wh.x' }, { name: 'bin/.wh.y' }],
      ]);
      expect(dumpTree(root).map((e) => e.path)).toEqual(['bin', 'bin/w']);
    });

    it('a whiteout for an entry of the same layer is ignored with a warning (spec: lower layers only)', async () => {
      const root = await tmpDir();
      const log = testLog();
      await applyAll(root, [[{ name: 'x', content: 'x' }, { name: '.wh.x' }]], 'merged', log);
      expect(dumpTree(root).map((e) => e.path)).toEqual(['x']);
      expect(log.warnings.join()).toMatch(/names an entry of the same layer/);
    });

    it('add, remove, add again across layers (case 13, bug 6)', async () => {
      const root = await tmpDir();
      await applyAll(root, [[{ name: 't', content: '1' }], [{ name: '.wh.t' }], [{ name: 't', content: '3' }]]);
      expect(readFileSync(join(root, 't'), 'utf8')).toBe('3');
    });

    it('refuses an empty whiteout name and skips aufs metadata', async () => {
      const root = await tmpDir();
      await expect(applyAll(root, [[{ name: 'd/.wh.' }]])).rejects.toMatchObject({ code: 'BAD_LAYER', entry: 'd/.wh.' });
      await applyAll(root, [[{ name: '.wh..wh.plnk/' }, { name: '.wh..wh.aufs' }, { name: 'f', content: '' }]]);
      expect(dumpTree(root).map((e) => e.path)).toEqual(['f']);
    });
  });

  describe('type changes (the non-dir over anything rule)', () => {
    it('directory → symlink leaves only the symlink (case 8, bug 2)', async () => {
      const root = await tmpDir();
      await applyAll(root, [[{ name: 'a/a', content: 'x' }], [{ name: 'a', type: 'symlink', linkname: '/b' }]]);
      expect(dumpTree(root)).toEqual([{ path: 'a', type: 'symlink', link: '/b', mode: 0o777, uid: 0, gid: 0, size: 0 }]);
    });

    it('symlink → directory, and the old target removed (case 11, bug 8)', async () => {
      const root = await tmpDir();
      await applyAll(root, [
        [{ name: 'things', type: 'symlink', linkname: 'data' }, { name: 'data/k', content: 'k' }],
        [{ name: '.wh.data' }, { name: 'things/', mode: 0o711 }],
      ]);
      expect(dumpTree(root)).toEqual([{ path: 'things', type: 'dir', mode: 0o711, uid: 0, gid: 0, size: 0 }]);
    });

    it('directory → file (case 9) and file → directory (case 10)', async () => {
      const root = await tmpDir();
      await applyAll(root, [
        [{ name: 'x/p', content: 'p' }, { name: 'x/q', content: 'q' }, { name: 'y', content: 'file' }],
        [{ name: 'x', content: 'hi\n' }, { name: 'y/' }, { name: 'y/f', content: 'f' }],
      ]);
      expect(dumpTree(root).map((e) => `${e.type} ${e.path}`)).toEqual(['file x', 'dir y', 'file y/f']);
    });

    it('a directory over a directory keeps its children and takes the new attributes', async () => {
      const root = await tmpDir();
      await applyAll(root, [[{ name: 'var/', mode: 0o755 }, { name: 'var/lib/x', content: 'x' }], [{ name: 'var/', mode: 0o775, gid: 50 }]]);
      expect(dumpTree(root).map((e) => `${e.path} ${e.mode.toString(8)} ${e.gid}`)).toEqual(['var 775 50', 'var/lib 755 0', 'var/lib/x 644 0']);
    });

    it('a file over a symlink replaces the link and does not write through it', async () => {
      const tmp = await tmpDir();
      writeFileSync(join(tmp, 'victim'), 'untouched');
      const root = join(tmp, 'root');
      mkdirSync(root);
      await applyAll(root, [[{ name: 'l', type: 'symlink', linkname: join(tmp, 'victim') }], [{ name: 'l', content: 'new' }]]);
      expect(readFileSync(join(tmp, 'victim'), 'utf8')).toBe('untouched');
      expect(readFileSync(join(root, 'l'), 'utf8')).toBe('new');
    });
  });

  describe('hardlinks', () => {
    it('links to an earlier entry of the layer and to a lower layer path (cases 26-28, bug 15)', async () => {
      const root = await tmpDir();
      await applyAll(root, [
        [{ name: 'usr/bin/python3.11', content: 'py' }, { name: 'a', content: 'old' }, { name: 'b', type: 'link', linkname: 'a' }],
        [
          { name: 'usr/local/bin/py', type: 'link', linkname: 'usr/bin/python3.11' },
          { name: 'a', content: 'more' },
          { name: 'b', type: 'link', linkname: 'a' },
          { name: 'abs', type: 'link', linkname: '/usr/bin/python3.11' },
        ],
      ]);
      const t = byPath(dumpTree(root));
      expect(t['usr/local/bin/py']).toMatchObject({ hardlink: 'abs' });
      expect(t['usr/bin/python3.11']).toMatchObject({ hardlink: 'abs' });
      expect(t['b']).toMatchObject({ hardlink: 'a' });
      expect(readFileSync(join(root, 'b'), 'utf8')).toBe('more');
    });

    it('a link over an existing file relinks; a link to itself is a no-op', async () => {
      const root = await tmpDir();
      await applyAll(root, [[{ name: 'x', content: 'x' }, { name: 'y', content: 'y' }], [{ name: 'y', type: 'link', linkname: 'x' }, { name: 'x', type: 'link', linkname: 'x' }]]);
      expect(byPath(dumpTree(root))['y']).toMatchObject({ hardlink: 'x' });
    });

    it('a link to a missing target or to a directory is a BAD_LAYER', async () => {
      const root = await tmpDir();
      await expect(applyAll(root, [[{ name: 'l', type: 'link', linkname: 'missing' }]])).rejects.toMatchObject({ code: 'BAD_LAYER', entry: 'l' });
      await expect(applyAll(root, [[{ name: 'd/' }, { name: 'l', type: 'link', linkname: 'd' }]])).rejects.toMatchObject({ code: 'BAD_LAYER' });
    });
  });

  it('a socket entry is skipped with a warning (case 38)', async () => {
    const root = await tmpDir();
    const log = testLog();
    // No tar typeflag exists for sockets; some writers mark the mode with S_IFSOCK.
    const tar = tarFrom([{ name: 's', typeflag: '0' }, { name: 'f', content: 'f' }]);
    tar.write('0140755', 100, 'ascii'); // mode field of the first header
    let sum = 0;
    tar.fill(0x20, 148, 156);
    for (let i = 0; i < 512; i++) sum += tar[i]!;
    tar.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
    const [stats] = await applyAll(root, [tar], 'merged', log);
    expect(dumpTree(root).map((e) => e.path)).toEqual(['f']);
    expect(stats!.skipped).toBe(1);
    expect(log.warnings.join()).toMatch(/socket "s" skipped/);
  });

  it('sets directory mtimes after their children, and keeps the times of directories the layer did not list', async () => {
    const root = await tmpDir();
    await applyAll(root, [
      [{ name: 'etc/', mtime: 100 }, { name: 'etc/a', content: 'a', mtime: 200 }, { name: 'opt/', mtime: 300 }],
      [{ name: 'etc/b', content: 'b', mtime: 400 }, { name: 'opt/.wh.nothing' }, { name: 'srv/', mtime: 500 }, { name: 'srv/deep/er/f', content: '' }],
    ]);
    const t = byPath(dumpTree(root, { mtime: true }));
    expect(t['etc']!.mtime).toBe(100);
    expect(t['opt']!.mtime).toBe(300);
    expect(t['srv']!.mtime).toBe(500);
    expect(t['etc/b']!.mtime).toBe(400);
  });

  it('symlink loops and dangling links are just entries (cases 31, 35)', async () => {
    const root = await tmpDir();
    await applyAll(root, [[{ name: 'l1', type: 'symlink', linkname: 'l2' }, { name: 'l2', type: 'symlink', linkname: 'l1' }, { name: 'link', type: 'symlink', linkname: 'nowhere' }]]);
    expect(dumpTree(root).map((e) => `${e.path} -> ${e.link}`)).toEqual(['l1 -> l2', 'l2 -> l1', 'link -> nowhere']);
  });

  it('opaque markers on /sys and /proc in a base layer apply to plain directories (bug 25)', async () => {
    for (const format of ['merged', 'overlay'] as const) {
      const root = await tmpDir();
      await applyAll(root, [[{ name: 'sys/' }, { name: 'sys/.wh..wh..opq' }, { name: 'proc/' }, { name: 'proc/.wh..wh..opq' }, { name: 'etc/hostname', content: 'h' }]], format);
      expect(dumpTree(root, { xattrs: false }).map((e) => e.path)).toEqual(['etc', 'etc/hostname', 'proc', 'sys']);
    }
  });

  it('keeps sub-second PAX mtimes', async () => {
    const root = await tmpDir();
    await applyAll(root, [[{ name: 'f', content: 'x', mtime: 1700000000.5 }]]);
    expect(statSync(join(root, 'f')).mtimeMs).toBe(1700000000500);
  });

  it('counts entries, bytes and whiteouts', async () => {
    const root = await tmpDir();
    const [, s] = await applyAll(root, [[{ name: 'a', content: 'a' }], [{ name: 'b', content: 'bbb' }, { name: '.wh.a' }, { name: 'd/' }]]);
    expect(s).toEqual({ entries: 3, bytes: 3, whiteouts: 1, skipped: 0, implicitDirs: [] });
  });
});

/**
 * Applies `tar` (merged format) in a child process that lacks capability `cap` (setpriv drops it
 * from the inheritable and bounding sets), with the built dist/ snapshot module; returns the
 * warnings it logged, its skipped count and the root it wrote.
 */
async function applyWithoutCapability(cap: string, tar: Buffer): Promise<{ out: { warnings: string[]; skipped: number }; root: string }> {
  const tmp = await tmpDir();
  const root = join(tmp, 'root');
  mkdirSync(root);
  const child = join(tmp, 'child.mjs');
  writeFileSync(child, [
    "import { Readable } from 'node:stream';",
    'const [mod, root, b64] = process.argv.slice(2);',
    'const { applyLayerTar } = await import(mod);',
    'const warnings = [];',
    'const log = { debug() {}, info() {}, warn: (m) => warnings.push(m), error: (m) => warnings.push(m) };',
    "const stats = await applyLayerTar(Readable.from([Buffer.from(b64, 'base64')]), root, { format: 'merged', layerName: 'L', log });",
    'console.log(JSON.stringify({ warnings, skipped: stats.skipped }));',
  ].join('\n'));
  // The layer is passed in the argument list: small, and no stdin plumbing.
  const out = execFileSync('setpriv', [`--inh-caps=-${cap}`, `--bounding-set=-${cap}`, process.execPath, child, DIST_SNAPSHOT, root, tar.toString('base64')], { encoding: 'utf8' });
  return { out: JSON.parse(out) as { warnings: string[]; skipped: number }, root };
}
