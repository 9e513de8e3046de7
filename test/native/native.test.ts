import { execFileSync } from 'node:child_process';
import { constants, lstatSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { helperPath, mknod, SnapshotError, xattr } from '../../snapshot/index.js';
import { hasCommand, isRoot } from '../helpers/fixtures.js';
import { tmpDir } from '../helpers/tmp.js';

// A VFS_CAP_REVISION_2 security.capability value granting cap_net_raw (bit 13) as permitted+effective.
function capNetRaw(): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt32LE(0x02000000 | 0x000001, 0); // revision 2, effective flag
  b.writeUInt32LE(1 << 13, 4); // permitted[0]
  return b;
}

/** getfattr is an oracle independent of the addon: hex value of one attribute, or null. */
function getfattrHex(p: string, name: string): string | null {
  try {
    const out = execFileSync('getfattr', ['-h', '-e', 'hex', '-n', name, '--absolute-names', p], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const m = /=0x([0-9a-f]*)/.exec(out);
    return m ? m[1]! : '';
  } catch {
    return null;
  }
}

function nativeError(f: () => unknown): SnapshotError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SnapshotError);
    return e as SnapshotError;
  }
  throw new Error('expected a SnapshotError');
}

describe('xattr (no-follow)', () => {
  it('sets, gets, lists and removes user.* values with arbitrary bytes', async () => {
    const d = await tmpDir();
    const f = join(d, 'f');
    writeFileSync(f, 'x');
    const bin = Buffer.from([0, 1, 2, 0xff, 0xfe, 0, 0x80]);
    xattr.set(f, 'user.bin', bin);
    xattr.set(f, 'user.empty', Buffer.alloc(0));
    expect(xattr.get(f, 'user.bin')).toEqual(bin);
    expect(xattr.get(f, 'user.empty')).toEqual(Buffer.alloc(0));
    expect(xattr.get(f, 'user.absent')).toBeNull();
    expect(xattr.list(f).sort()).toEqual(expect.arrayContaining(['user.bin', 'user.empty']));
    if (hasCommand('getfattr')) expect(getfattrHex(f, 'user.bin')).toBe(bin.toString('hex'));
    xattr.remove(f, 'user.bin');
    expect(xattr.get(f, 'user.bin')).toBeNull();
    expect(xattr.list(f)).not.toContain('user.bin');
    if (hasCommand('getfattr')) expect(getfattrHex(f, 'user.bin')).toBeNull();
  });

  it('round-trips a large value (size query + read)', async () => {
    const d = await tmpDir();
    const f = join(d, 'f');
    writeFileSync(f, '');
    const big = Buffer.alloc(3000, 0xab);
    xattr.set(f, 'user.big', big);
    expect(xattr.get(f, 'user.big')).toEqual(big);
  });

  it.skipIf(!isRoot)('sets security.capability on a file, visible to getcap', async () => {
    const d = await tmpDir();
    const f = join(d, 'ping');
    writeFileSync(f, '#!/bin/sh\n', { mode: 0o755 });
    xattr.set(f, 'security.capability', capNetRaw());
    expect(xattr.get(f, 'security.capability')).toEqual(capNetRaw());
    expect(xattr.list(f)).toContain('security.capability');
    if (hasCommand('getcap')) expect(execFileSync('getcap', [f], { encoding: 'utf8' })).toMatch(/cap_net_raw[=+]ep/);
    xattr.remove(f, 'security.capability');
    expect(xattr.get(f, 'security.capability')).toBeNull();
  });

  it.skipIf(!isRoot)('works on a symlink itself, never on its target', async () => {
    const d = await tmpDir();
    const target = join(d, 'target');
    const link = join(d, 'link');
    writeFileSync(target, 't');
    symlinkSync('target', link);
    // trusted.* is allowed on symlinks (user.* is not: the kernel refuses it, see below).
    xattr.set(link, 'trusted.overlay.opaque', Buffer.from('y'));
    expect(xattr.get(link, 'trusted.overlay.opaque')).toEqual(Buffer.from('y'));
    expect(xattr.list(link)).toContain('trusted.overlay.opaque');
    expect(xattr.get(target, 'trusted.overlay.opaque')).toBeNull();
    expect(xattr.list(target)).not.toContain('trusted.overlay.opaque');
    xattr.set(target, 'user.t', Buffer.from('target'));
    expect(xattr.get(link, 'user.t')).toBeNull();
    expect(readlinkSync(link)).toBe('target');
    xattr.remove(link, 'trusted.overlay.opaque');
    expect(xattr.list(link)).not.toContain('trusted.overlay.opaque');
  });

  it('refusals name the path and carry the errno', async () => {
    const d = await tmpDir();
    const link = join(d, 'link');
    symlinkSync('nowhere', link);
    const e1 = nativeError(() => xattr.set(link, 'user.x', Buffer.from('v')));
    expect(e1.code).toBe('NATIVE');
    expect(e1.path).toBe(link);
    expect(e1.message).toContain(link);
    expect(e1.message).toMatch(/EPERM|ENOTSUP/);
    expect((e1.cause as NodeJS.ErrnoException).code).toMatch(/EPERM|ENOTSUP/);

    const missing = join(d, 'missing');
    const e2 = nativeError(() => xattr.get(missing, 'user.x'));
    expect(e2).toMatchObject({ code: 'NATIVE', path: missing });
    expect(e2.message).toMatch(/ENOENT.*errno 2/);
    expect(nativeError(() => xattr.list(missing)).message).toContain('llistxattr');
    const f = join(d, 'f');
    writeFileSync(f, '');
    expect(nativeError(() => xattr.remove(f, 'user.absent')).message).toMatch(/ENODATA.*user\.absent/);
    expect(() => xattr.set(f, 'user.x', 'str' as unknown as Buffer)).toThrow(/Buffer/);
  });
});

describe('mknod', () => {
  it.skipIf(!isRoot)('creates an overlay whiteout (char 0/0) with exact permissions', async () => {
    const d = await tmpDir();
    const p = join(d, 'wh');
    mknod(p, constants.S_IFCHR | 0o000, 0, 0);
    const st = lstatSync(p);
    expect(st.isCharacterDevice()).toBe(true);
    expect(st.rdev).toBe(0);
    expect(st.mode & 0o7777).toBe(0);
  });

  it.skipIf(!isRoot)('creates device nodes with major/minor', async () => {
    const d = await tmpDir();
    const p = join(d, 'null');
    mknod(p, constants.S_IFCHR | 0o666, 1, 3);
    const st = lstatSync(p);
    expect(st.isCharacterDevice()).toBe(true);
    expect(st.mode & 0o7777).toBe(0o666); // not reduced by the umask
    expect(st.rdev).toBe(statSync('/dev/null').rdev);
    const b = join(d, 'blk');
    mknod(b, constants.S_IFBLK | 0o660, 7, 200);
    expect(lstatSync(b).isBlockDevice()).toBe(true);
    expect(execFileSync('stat', ['-c', '%t:%T', b], { encoding: 'utf8' }).trim()).toBe('7:c8');
  });

  it('creates a fifo', async () => {
    const d = await tmpDir();
    const p = join(d, 'fifo');
    mknod(p, constants.S_IFIFO | 0o642, 0, 0);
    const st = lstatSync(p);
    expect(st.isFIFO()).toBe(true);
    expect(st.mode & 0o7777).toBe(0o642);
  });

  it('fails on an existing entry, even a dangling symlink, naming the path', async () => {
    const d = await tmpDir();
    const link = join(d, 'link');
    symlinkSync(join(d, 'elsewhere'), link);
    const e = nativeError(() => mknod(link, constants.S_IFIFO | 0o644, 0, 0));
    expect(e).toMatchObject({ code: 'NATIVE', path: link });
    expect(e.message).toMatch(/EEXIST.*mknod/);
    expect(() => lstatSync(join(d, 'elsewhere'))).toThrow(); // nothing created through the link
    expect(() => mknod(join(d, 'x'), -1, 0, 0)).toThrow(/mode/);
  });
});

describe('helperPath', () => {
  it('is the absolute path of the built chroot helper executable', () => {
    const p = helperPath();
    expect(p.startsWith('/')).toBe(true);
    expect(p.endsWith('/native/build/Release/cnbx-chroot')).toBe(true);
    expect(statSync(p).isFile()).toBe(true);
    expect(statSync(p).mode & 0o111).not.toBe(0);
  });
});
