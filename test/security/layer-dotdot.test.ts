// Attack: layer entries whose names climb out of the root with `..` — in the ustar name, in the
// prefix field, in a PAX `path`, in a GNU long name, in a hardlink target — through every layer
// reader and a full `apply`. Each must be refused (UNSAFE_PATH naming the entry) and nothing may
// appear outside.
import { describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/fixtures.js';
import { tarFrom, type TarEntrySpec } from '../helpers/tar.js';
import { everyPath, expectRefusedEverywhere, hasDist } from './hostile.js';
import { watchOutside } from './outside.js';

/** A GNU long-name ('L') entry followed by a file: tar-stream applies the long name. */
function gnuLongName(name: string, content: string): Buffer {
  const body = Buffer.from(`${name}\0`);
  const pad = (n: number) => Buffer.alloc((512 - (n % 512)) % 512);
  const hdr = tarFrom([{ name: '././@LongLink', typeflag: 'L', size: body.length, content: body }], { trailer: false });
  // tarFrom wrote the 'L' header + body; now the real entry with a harmless short name.
  const file = tarFrom([{ name: 'harmless', content }], { trailer: true });
  return Buffer.concat([hdr.subarray(0, 512), body, pad(body.length), file]);
}

describe.runIf(isRoot && hasDist)('hostile layers: `..` names', () => {
  const cases: Array<[string, (m: string) => TarEntrySpec[] | { tar: Buffer }]> = [
    ['plain ../', (m) => [{ name: `../${m}`, content: 'x' }]],
    ['deep a/b/../../../', (m) => [{ name: 'a/b/', type: 'dir' }, { name: `a/b/../../../../../../tmp/${m}`, content: 'x' }]],
    ['leading /../', (m) => [{ name: `/../../../etc/${m}`, content: 'x' }]],
    ['PAX path', (m) => [{ name: 'innocent', content: 'x', pax: { path: `../../${m}` } }]],
    ['ustar prefix field', (m) => [{ name: `${'../'.repeat(40)}tmp/${'d'.repeat(60)}/${m}`, content: 'x', ustarName: true }]],
    ['GNU long name', (m) => ({ tar: gnuLongName(`../../../tmp/${m}`, 'x') })],
    ['directory entry', (m) => [{ name: `../${m}/`, type: 'dir' }]],
    ['symlink entry', (m) => [{ name: `../${m}`, type: 'symlink', linkname: '/etc' }]],
    ['hardlink name', (m) => [{ name: 'f', content: 'x' }, { name: `../${m}`, type: 'link', linkname: 'f' }]],
    ['hardlink target', () => [{ name: 'h', type: 'link', linkname: '../../../../etc/passwd' }]],
    ['device', (m) => [{ name: `../${m}`, type: 'char', devmajor: 1, devminor: 3 }]],
    ['whiteout `../.wh.x`', (m) => [{ name: `../.wh.${m}` }]],
    ['opaque marker `../.wh..wh..opq`', () => [{ name: '../.wh..wh..opq' }]],
  ];
  it.each(cases)('%s → UNSAFE_PATH everywhere, nothing outside', async (_name, make) => {
    const watch = await watchOutside();
    const scratch = await watch.scratch();
    const r = await everyPath(scratch, [make(watch.marker)]);
    await expectRefusedEverywhere(r, 'UNSAFE_PATH', /\.\./);
    await watch.assertUnchanged();
  });

  it('a name that only looks like `..` (`..a`, `a..`, `...`) is an ordinary name and stays inside', async () => {
    const watch = await watchOutside();
    const scratch = await watch.scratch();
    const r = await everyPath(scratch, [[{ name: '..a', content: '1' }, { name: 'a..', content: '2' }, { name: '...', content: '3' }]]);
    expect([r.merged?.ok, r.overlay?.ok, r.materialize.ok, r.cache.ok, r.cli.code]).toEqual([true, true, true, true, 0]);
    await watch.assertUnchanged();
  });
});
