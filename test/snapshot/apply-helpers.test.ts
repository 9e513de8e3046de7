// The test oracles themselves (test/helpers/tar.ts, tree.ts) checked against GNU tar, so that the
// apply/cache/materialize tests rest on something independent of our code and of tar-stream.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/fixtures.js';
import { entriesOf, tarFrom, type TarEntrySpec } from '../helpers/tar.js';
import { tmpDir } from '../helpers/tmp.js';
import { dumpTree } from '../helpers/tree.js';

const CAP_NET_RAW = Buffer.from('0100000200200000000000000000000000000000', 'hex');
const splitName = `d/${'x'.repeat(120)}/${'y'.repeat(90)}`; // fits USTAR prefix + name
const longName = `d/${'z'.repeat(200)}`; // needs a PAX path
const table: TarEntrySpec[] = [
  { name: 'd/', mode: 0o750, uid: 1, gid: 2 },
  { name: 'd/f', content: 'hello\n', mode: 0o4755, xattrs: { 'user.k': 'v', 'security.capability': CAP_NET_RAW } },
  { name: `d/${'x'.repeat(120)}/`, type: 'dir' },
  { name: splitName, content: 'split' },
  { name: longName, content: 'long' },
  { name: Buffer.from('d/n\xffme', 'latin1'), content: 'bytes' },
  { name: 'd/ünï', content: 'utf8' },
  { name: 'd/big', content: 'b', uid: 1000680000, gid: 1000680001 },
  { name: 'd/sym', type: 'symlink', linkname: '../nowhere' },
  { name: 'd/hard', type: 'link', linkname: 'd/f' },
  { name: 'd/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
  { name: 'd/loop', type: 'block', devmajor: 7, devminor: 300, mode: 0o660 },
  { name: 'd/p', type: 'fifo', mode: 0o600 },
];

describe('test helpers: tarFrom / entriesOf / dumpTree', () => {
  it('entriesOf reads back what tarFrom wrote (PAX where needed)', () => {
    const entries = entriesOf(tarFrom(table));
    expect(entries.map((e) => e.name)).toEqual(['d/', 'd/f', `d/${'x'.repeat(120)}/`, splitName, longName, 'd/n\\xffme', 'd/ünï', 'd/big', 'd/sym', 'd/hard', 'd/null', 'd/loop', 'd/p']);
    const by = Object.fromEntries(entries.map((e) => [e.name, e]));
    expect(by['d/f']).toMatchObject({ mode: 0o4755, size: 6, xattrs: { 'user.k': 'v', 'security.capability': `0x${CAP_NET_RAW.toString('hex')}` } });
    expect(by['d/big']).toMatchObject({ uid: 1000680000, gid: 1000680001 });
    expect(by[longName]!.pax.path).toBe(longName);
    expect(by[splitName]!.pax.path).toBeUndefined();
    expect(by['d/loop']).toMatchObject({ type: 'block', devmajor: 7, devminor: 300 });
    expect(by['d/hard']).toMatchObject({ type: 'link', linkname: 'd/f' });
  });

  it.runIf(isRoot)('GNU tar extracts tarFrom output to the tree dumpTree describes', async () => {
    const dir = await tmpDir();
    execFileSync('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-xpf', '-', '-C', dir], { input: tarFrom(table) });
    const tree = dumpTree(dir);
    const by = Object.fromEntries(tree.map((e) => [e.path, e]));
    expect(tree.map((e) => e.path)).toEqual([...table.map((e) => (typeof e.name === 'string' ? e.name : 'd/n\\xffme').replace(/\/$/, ''))].sort());
    expect(by['d']).toMatchObject({ type: 'dir', mode: 0o750, uid: 1, gid: 2 });
    expect(by['d/f']).toMatchObject({ type: 'file', mode: 0o4755, size: 6, xattrs: { 'security.capability': `0x${CAP_NET_RAW.toString('hex')}`, 'user.k': 'v' } });
    expect(by['d/hard']).toMatchObject({ hardlink: 'd/f' });
    expect(by['d/big']).toMatchObject({ uid: 1000680000, gid: 1000680001 });
    expect(by['d/sym']).toMatchObject({ type: 'symlink', link: '../nowhere' });
    expect(by['d/null']).toMatchObject({ type: 'char', rdev: '1:3', mode: 0o666 });
    expect(by['d/loop']).toMatchObject({ type: 'block', rdev: '7:300', mode: 0o660 });
    expect(by['d/p']).toMatchObject({ type: 'fifo', mode: 0o600 });
    expect(by['d/n\\xffme']).toMatchObject({ size: 5 });
  });

  it.runIf(isRoot)('entriesOf reads GNU tar --format=posix output (binary xattrs, non-UTF-8 names)', async () => {
    const dir = await tmpDir();
    mkdirSync(join(dir, 'src'));
    writeFileSync(Buffer.from(`${dir}/src/n\xffme`, 'latin1'), 'x');
    writeFileSync(join(dir, 'src', 'cap'), 'y');
    execFileSync('setcap', ['cap_net_raw,cap_setuid+ep', join(dir, 'src', 'cap')]);
    const tar = execFileSync('tar', ['--format=posix', '--xattrs', '--xattrs-include=*', '-C', join(dir, 'src'), '-cf', '-', '.']);
    const by = Object.fromEntries(entriesOf(tar).map((e) => [e.name, e]));
    expect(Object.keys(by).sort()).toEqual(['./', './cap', './n\\xffme']);
    // cap_setuid is bit 7: the value has a byte ≥ 0x80, which a UTF-8 decoder would mangle.
    expect(by['./cap']!.xattrs!['security.capability']).toBe('0x0100000280200000000000000000000000000000');
    expect(dumpTree(join(dir, 'src')).find((e) => e.path === 'cap')!.xattrs).toEqual({ 'security.capability': '0x0100000280200000000000000000000000000000' });
  });
});
