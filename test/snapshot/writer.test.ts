// The layer writer on hand-made trees: order, parents, whiteouts, hardlinks, encodings, xattrs,
// determinism, and what GNU tar and our test decoder make of the bytes.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { linkSync, lutimesSync, mkdirSync, rmSync, symlinkSync, utimesSync, writeFileSync, chownSync, chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { layerTar, planLayer, type Change, type PlanOptions } from '../../snapshot/layer-writer.js';
import { encodeHeader } from '../../snapshot/layer-writer-tar.js';
import { xattr } from '../../snapshot/native.js';
import { SnapshotError } from '../../snapshot/errors.js';
import { entriesOf } from '../helpers/tar.js';
import { dumpTree } from '../helpers/tree.js';
import { entriesOfStream } from './harness.js';
import { Readable } from 'node:stream';
import { hasCommand, isRoot } from '../helpers/fixtures.js';
import { tmpDir } from '../helpers/tmp.js';

const T = 1_700_000_000;

async function layerOf(root: string, changes: Change[], opts: PlanOptions = {}): Promise<Buffer> {
  return buffer(layerTar(planLayer(root, changes, opts)));
}

const add = (...paths: string[]): Change[] => paths.map((path) => ({ path, kind: 'add' }));
const del = (...paths: string[]): Change[] => paths.map((path) => ({ path, kind: 'delete' }));
const names = (tar: Buffer): string[] => entriesOf(tar).map((e) => e.name);

function touch(p: string, content = '', mtime = T): void {
  writeFileSync(p, content);
  utimesSync(p, mtime, mtime);
}

function memLog(): { warn: string[]; log: NonNullable<PlanOptions['log']> } {
  const warn: string[] = [];
  return { warn, log: { debug() {}, info() {}, warn: (m) => warn.push(m), error() {} } };
}

describe('layer writer: entries and order', () => {
  it('emits parents first with their real metadata, whiteouts before siblings, no root entry', async () => {
    const r = await tmpDir();
    mkdirSync(join(r, 'a/b/c'), { recursive: true });
    chmodSync(join(r, 'a'), 0o750);
    chownSync(join(r, 'a/b'), 12, 34);
    touch(join(r, 'a/b/c/foo'), 'foo');
    touch(join(r, 'a/-x'), 'x');
    const tar = await layerOf(r, [...add('a/b/c/foo', 'a/-x'), ...del('a/b/c/bar', 'a/b/c/zzz')]);
    const es = entriesOf(tar);
    expect(es.map((e) => e.name)).toEqual(['a/', 'a/-x', 'a/b/', 'a/b/c/', 'a/b/c/.wh.bar', 'a/b/c/.wh.zzz', 'a/b/c/foo']);
    expect(es[0]).toMatchObject({ type: 'dir', mode: 0o750, uid: 0 });
    expect(es[2]).toMatchObject({ type: 'dir', uid: 12, gid: 34 });
    expect(es[4]).toMatchObject({ type: 'file', size: 0, mode: 0, uid: 0, gid: 0, mtime: 0 });
    expect(es.every((e) => e.uname === '' && e.gname === '')).toBe(true);
  });

  it('sorts bytewise by component, depth first', async () => {
    const r = await tmpDir();
    mkdirSync(join(r, 'a/b'), { recursive: true });
    for (const f of ['a/b/z', 'a-c', 'a/B', 'a/b/a', 'A']) touch(join(r, f));
    expect(names(await layerOf(r, add('a-c', 'a/b/z', 'a/B', 'a/b/a', 'A')))).toEqual(['A', 'a/', 'a/B', 'a/b/', 'a/b/a', 'a/b/z', 'a-c']);
  });

  it('never writes a path and its whiteout together, nor a whiteout under a non-directory', async () => {
    const r = await tmpDir();
    touch(join(r, 'x'), 'new');
    symlinkSync('/b', join(r, 'a'));
    const tar = await layerOf(r, [...del('x'), ...add('x'), ...del('a/a'), ...add('a')]);
    expect(names(tar)).toEqual(['a', 'x']);
  });

  it('an empty change set is an empty archive (two zero blocks)', async () => {
    const r = await tmpDir();
    const tar = await layerOf(r, []);
    expect(tar).toEqual(Buffer.alloc(1024));
  });

  it('skips ignored paths and the engine paths whatever the predicate', async () => {
    const r = await tmpDir();
    mkdirSync(join(r, 'workspace'));
    mkdirSync(join(r, 'proc'));
    mkdirSync(join(r, 'etc'));
    touch(join(r, 'workspace/a'));
    touch(join(r, 'proc/x'));
    touch(join(r, 'etc/resolv.conf'));
    touch(join(r, 'etc/keep'));
    const tar = await layerOf(r, add('workspace/a', 'proc/x', 'etc/resolv.conf', 'etc/keep'), { ignore: (p) => p === 'workspace' });
    expect(names(tar)).toEqual(['etc/', 'etc/keep']);
  });

  it('refuses names that would be whiteouts', async () => {
    const r = await tmpDir();
    mkdirSync(join(r, 'tmp'));
    touch(join(r, 'tmp/.wh.foo'));
    expect(() => planLayer(r, add('tmp/.wh.foo'))).toThrow(SnapshotError);
    try {
      planLayer(r, add('tmp/.wh.foo'));
    } catch (e) {
      expect((e as SnapshotError).code).toBe('UNSUPPORTED');
      expect((e as SnapshotError).path).toBe('tmp/.wh.foo');
    }
  });

  it('skips sockets with a warning, writes fifos and devices without opening them', async () => {
    const r = await tmpDir();
    mkdirSync(join(r, 'run'));
    mkfifoSync(join(r, 'run/p'));
    execFileSync('mknod', [join(r, 'run/null'), 'c', '1', '3']);
    const server = createServer();
    await new Promise<void>((res) => server.listen(join(r, 'run/s'), res));
    try {
      const { warn, log } = memLog();
      const es = entriesOf(await layerOf(r, add('run/p', 'run/null', 'run/s'), { log }));
      expect(es.map((e) => [e.name, e.type])).toEqual([['run/', 'dir'], ['run/null', 'char'], ['run/p', 'fifo']]);
      expect(es[1]).toMatchObject({ devmajor: 1, devminor: 3 });
      expect(warn.join('\n')).toMatch(/socket \/run\/s/);
    } finally {
      server.close();
    }
  });
});

function mkfifoSync(p: string): void {
  execFileSync('mkfifo', [p]);
}

describe('layer writer: hardlinks', () => {
  it('links later names to the first by relative name', async () => {
    const r = await tmpDir();
    mkdirSync(join(r, 's'));
    touch(join(r, 's/b'), 'data');
    linkSync(join(r, 's/b'), join(r, 's/a'));
    linkSync(join(r, 's/b'), join(r, 'z'));
    const es = entriesOf(await layerOf(r, add('s/a', 's/b', 'z')));
    expect(es.map((e) => [e.name, e.type, e.linkname])).toEqual([
      ['s/', 'dir', undefined], ['s/a', 'file', undefined], ['s/b', 'link', 's/a'], ['z', 'link', 's/a'],
    ]);
    expect(es[1]!.size).toBe(4);
  });

  it('writes a name whose other names are not in the layer as a full file', async () => {
    const r = await tmpDir();
    touch(join(r, 'lower'), 'python');
    linkSync(join(r, 'lower'), join(r, 'py'));
    const es = entriesOf(await layerOf(r, add('py')));
    expect(es.map((e) => [e.name, e.type, e.size])).toEqual([['py', 'file', 6]]);
  });
});

describe('layer writer: encodings', () => {
  it('long names and link targets go to PAX path/linkpath; GNU tar agrees', async () => {
    const r = await tmpDir();
    const longDir = `${'p'.repeat(30)}/${'d'.repeat(90)}`;
    const longName = `${longDir}/${'f'.repeat(180)}`;
    mkdirSync(join(r, longDir), { recursive: true });
    touch(join(r, longName), 'long');
    const target = `/${'t'.repeat(149)}`;
    symlinkSync(target, join(r, 'z'));
    const tar = await layerOf(r, add(longName, 'z'));
    const es = entriesOf(tar);
    const top = `${'p'.repeat(30)}/`;
    expect(es.map((e) => e.name)).toEqual([top, `${longDir}/`, longName, 'z']);
    expect(es[3]!.pax.linkpath).toBe(target);
    expect(es[2]!.pax.path).toBe(longName);
    expect(es[1]!.pax).toEqual({}); // 122 bytes, fits prefix + name
    const listed = execFileSync('tar', ['-tf', '-'], { input: tar }).toString().split('\n').filter(Boolean);
    expect(listed).toEqual([top, `${longDir}/`, longName, 'z']);
  });

  it('keeps name bytes exactly: UTF-8, non-UTF-8 and a newline', async () => {
    const r = await tmpDir();
    mkdirSync(join(r, 'tmp'));
    const weird = [Buffer.from('ünï'), Buffer.from([0x66, 0xff, 0x6f]), Buffer.from('a\nb')];
    for (const n of weird) writeFileSync(Buffer.concat([Buffer.from(`${r}/tmp/`), n]), 'x');
    const rels = weird.map((n) => `tmp/${n.toString('latin1')}`);
    const tar = await layerOf(r, add(...rels));
    const got = entriesOf(tar).map((e) => e.nameBytes.toString('hex'));
    const want = ['tmp/', ...rels.sort()].map((n) => Buffer.from(n, 'latin1').toString('hex'));
    expect(got).toEqual(want);
    // GNU tar extracts the same bytes.
    const out = await tmpDir();
    execFileSync('tar', ['-xf', '-', '-C', out], { input: tar });
    expect(dumpTree(out, { xattrs: false }).map((e) => e.path)).toEqual(dumpTree(r, { xattrs: false }).map((e) => e.path));
  });

  it('uid/gid beyond the octal field go to PAX and survive GNU tar', async () => {
    const r = await tmpDir();
    touch(join(r, 'f'), 'x');
    chownSync(join(r, 'f'), 1000680000, 1000680001);
    const tar = await layerOf(r, add('f'));
    const [e] = entriesOf(tar);
    expect(e).toMatchObject({ uid: 1000680000, gid: 1000680001 });
    expect(e!.pax).toMatchObject({ uid: '1000680000', gid: '1000680001' });
    const out = await tmpDir();
    execFileSync('tar', ['--numeric-owner', '-xpf', '-', '-C', out], { input: tar });
    expect(dumpTree(out, { xattrs: false })[0]).toMatchObject({ uid: 1000680000, gid: 1000680001 });
  });

  it('a 9 GiB size is a PAX size record plus a base-256 field', () => {
    const h = encodeHeader({ name: Buffer.from('big'), type: 'file', mode: 0o644, uid: 0, gid: 0, size: 9 * 1024 ** 3, mtime: T });
    expect(h.length).toBe(512 * 3);
    const data = h.subarray(512, 1024).toString('latin1');
    expect(data).toContain(` size=${9 * 1024 ** 3}\n`);
    const main = h.subarray(1024);
    expect(main[124]).toBe(0x80);
    let v = 0;
    for (let i = 125; i < 136; i++) v = v * 256 + main[i]!;
    expect(v).toBe(9 * 1024 ** 3);
    // GNU tar lists the header (the body is absent, so it stops with an error after listing).
    let listing = '';
    try {
      listing = execFileSync('tar', ['-tvf', '-'], { input: h, stdio: ['pipe', 'pipe', 'ignore'] }).toString();
    } catch (e) {
      listing = String((e as { stdout?: Buffer }).stdout ?? '');
    }
    expect(listing).toMatch(/ 9663676416 /);
  });

  it('a sparse 4 GiB file (2^32 bytes) is streamed in full with an exact size field', async () => {
    const r = await tmpDir();
    execFileSync('truncate', ['-s', '4G', join(r, 'big')]);
    const { warn, log } = memLog();
    const plan = planLayer(r, add('big'), { log });
    expect(plan.contentBytes).toBe(4 * 1024 ** 3);
    let total = 0;
    let head: Buffer | undefined;
    for await (const c of layerTar(plan) as AsyncIterable<Buffer>) {
      head ??= Buffer.from(c.subarray(0, 512));
      total += c.length;
    }
    expect(total).toBe(512 + 4 * 1024 ** 3 + 1024);
    const [e] = await entriesOfStream(Readable.from([head!]));
    expect(e).toMatchObject({ name: 'big', size: 4 * 1024 ** 3 });
    expect(warn.join('\n')).toMatch(/sparse file \/big/);
  }, 120_000);

  it('mtimes are whole seconds, clamped to SOURCE_DATE_EPOCH; two writes are byte-identical', async () => {
    const r = await tmpDir();
    mkdirSync(join(r, 'd'));
    writeFileSync(join(r, 'd/f'), 'x');
    execFileSync('touch', ['-d', '@1700000000.999999999', join(r, 'd/f')]);
    writeFileSync(join(r, 'd/g'), 'y');
    utimesSync(join(r, 'd/g'), 1800000000, 1800000000);
    symlinkSync('f', join(r, 'd/l'));
    lutimesSync(join(r, 'd/l'), 1800000001, 1800000001);
    const a = await layerOf(r, add('d/f', 'd/g', 'd/l'), { sourceDateEpoch: 1750000000 });
    const b = await layerOf(r, add('d/l', 'd/g', 'd/f'), { sourceDateEpoch: 1750000000 });
    expect(a.equals(b)).toBe(true);
    const es = entriesOf(a);
    expect(es.map((e) => [e.name, e.mtime])).toEqual([['d/', 1750000000], ['d/f', 1700000000], ['d/g', 1750000000], ['d/l', 1750000000]]);
    expect(es.every((e) => !('atime' in e.pax) && !('ctime' in e.pax) && !('mtime' in e.pax))).toBe(true);
    expect(entriesOf(await layerOf(r, add('d/g')))[1]!.mtime).toBe(1800000000);
  });

  it('setuid, setgid and sticky bits are kept', async () => {
    const r = await tmpDir();
    touch(join(r, 'tool'), '#!/bin/sh');
    chmodSync(join(r, 'tool'), 0o4755);
    mkdirSync(join(r, 'scratch'));
    chmodSync(join(r, 'scratch'), 0o1777);
    mkdirSync(join(r, 'g'));
    chmodSync(join(r, 'g'), 0o2775);
    const es = entriesOf(await layerOf(r, add('tool', 'scratch', 'g')));
    expect(es.map((e) => [e.name, e.mode.toString(8)])).toEqual([['g/', '2775'], ['scratch/', '1777'], ['tool', '4755']]);
  });
});

describe.skipIf(!isRoot)('layer writer: xattrs', () => {
  it('keeps security.capability (v3 → v2) and user.*, never trusted.*, user.overlay.* or security.selinux', async () => {
    const r = await tmpDir();
    touch(join(r, 'ping'), 'elf');
    // cap_setuid,cap_net_raw+ep: permitted bytes include 0x80, which tar-stream could not encode.
    const v2 = Buffer.from('0100000280200000000000000000000000000000', 'hex');
    const v3 = Buffer.concat([Buffer.from('01000003', 'hex'), v2.subarray(4), Buffer.from('e8030000', 'hex')]);
    xattr.set(join(r, 'ping'), 'security.capability', v3);
    xattr.set(join(r, 'ping'), 'user.foo', Buffer.from([0, 1, 0xff, 0x0a]));
    xattr.set(join(r, 'ping'), 'user.overlay.opaque', Buffer.from('y'));
    xattr.set(join(r, 'ping'), 'trusted.overlay.origin', Buffer.from('z'));
    xattr.set(join(r, 'ping'), 'user.empty', Buffer.alloc(0));
    const tar = await layerOf(r, add('ping'));
    const [e] = entriesOf(tar);
    expect(Object.keys(e!.pax).sort()).toEqual(['SCHILY.xattr.security.capability', 'SCHILY.xattr.user.foo']);
    expect(Buffer.from(e!.pax['SCHILY.xattr.security.capability']!, 'latin1')).toEqual(v3.subarray(0, 20).fill(2, 3, 4));
    expect(Buffer.from(e!.pax['SCHILY.xattr.user.foo']!, 'latin1')).toEqual(Buffer.from([0, 1, 0xff, 0x0a]));
    if (hasCommand('getcap')) {
      const out = await tmpDir();
      execFileSync('tar', ['--xattrs', '--xattrs-include=*', '-xpf', '-', '-C', out], { input: tar });
      expect(execFileSync('getcap', [join(out, 'ping')]).toString()).toMatch(/cap_setuid,cap_net_raw=ep/);
      expect(xattr.get(join(out, 'ping'), 'user.foo')).toEqual(Buffer.from([0, 1, 0xff, 0x0a]));
    }
  });
});

describe('layer writer: a plan keeps paths, layerTar builds the entries', () => {
  it('entries across the ~1 MiB batches (small files batched, larger ones streamed, PAX headers) decode exactly; GNU tar agrees', async () => {
    const r = await tmpDir();
    mkdirSync(join(r, 'd'));
    const long = 'n'.repeat(120);
    const want = new Map<string, string>();
    for (let i = 0; i < 600; i++) {
      // Sizes around the 32 KiB streaming threshold and the block size, content that names its file.
      const size = [0, 1, 511, 512, 513, 32 * 1024, 32 * 1024 + 1, 70_000][i % 8]! + (i % 3);
      const name = i % 50 === 0 ? `d/${long}${i}` : `d/f${i}`;
      const content = Buffer.alloc(size, `${i}:`).toString('latin1');
      touch(join(r, name), content);
      want.set(name, createHash('sha256').update(Buffer.from(content, 'latin1')).digest('hex'));
    }
    const plan = planLayer(r, add(...want.keys()));
    expect(plan.count).toBe(601);
    const tar = await buffer(layerTar(plan));
    const es = entriesOf(tar);
    expect(es.map((e) => e.name)).toEqual(['d/', ...[...want.keys()].sort()]);
    for (const e of es.slice(1)) expect(e.sha256, e.name).toBe(want.get(e.name));
    expect(tar.length % 512).toBe(0);
    expect(tar.subarray(-1024).every((b) => b === 0)).toBe(true);
    expect(execFileSync('tar', ['-tf', '-'], { input: tar, maxBuffer: 1 << 26 }).toString().trim().split('\n').length).toBe(601);
    // The same plan's tar, written again, is byte-identical.
    expect((await buffer(layerTar(plan))).equals(tar)).toBe(true);
  });

  it('an entry that changed type or vanished between planLayer and layerTar is an IO error, never a wrong entry', async () => {
    const r = await tmpDir();
    touch(join(r, 'a'), 'x');
    touch(join(r, 'b'), 'y');
    const changed = planLayer(r, add('a'));
    const gone = planLayer(r, add('b'));
    rmSync(join(r, 'a'));
    mkdirSync(join(r, 'a'));
    rmSync(join(r, 'b'));
    await expect(buffer(layerTar(changed))).rejects.toMatchObject({ name: 'SnapshotError', code: 'IO', path: 'a', message: expect.stringMatching(/changed type/) });
    await expect(buffer(layerTar(gone))).rejects.toMatchObject({ name: 'SnapshotError', code: 'IO', path: 'b', message: expect.stringMatching(/vanished/) });
  });

  it('layerTar takes only plans made by planLayer', () => {
    expect(() => layerTar({ count: 0, contentBytes: 0 })).toThrow(TypeError);
  });

  it('contentBytes counts a hardlinked file once', async () => {
    const r = await tmpDir();
    touch(join(r, 'a'), 'hello');
    linkSync(join(r, 'a'), join(r, 'b'));
    const plan = planLayer(r, add('a', 'b'));
    expect(plan.contentBytes).toBe(5);
    const es = entriesOf(await buffer(layerTar(plan)));
    expect(es.map((e) => [e.name, e.type])).toEqual([['a', 'file'], ['b', 'link']]);
  });
});
