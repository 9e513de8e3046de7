// Attack: gigantic declared sizes — an 8 GiB file header over a few bytes, PAX sizes of 10^20 and
// negative or non-numeric ones, a base-256 size field, a PAX header that claims 100 MB, a
// directory and a symlink with a declared body. Each must fail fast as BAD_LAYER (no allocation,
// no wait for bytes that never come) or be read correctly, without touching anything outside.
import { describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/fixtures.js';
import { tarFrom } from '../helpers/tar.js';
import { everyPath, expectContained, expectRefusedEverywhere, hasDist } from './hostile.js';
import { watchOutside } from './outside.js';

/** A tar with one file whose header size field is replaced by `field` (12 bytes). */
function withSizeField(field: Buffer, content = 'tiny'): Buffer {
  const t = Buffer.from(tarFrom([{ name: 'big', content }]));
  field.copy(t, 124);
  // fix the checksum
  t.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += t[i]!;
  t.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return t;
}

describe.runIf(isRoot && hasDist)('hostile layers: gigantic declared sizes', () => {
  it.each([
    ['8 GiB octal size over 4 bytes', () => ({ tar: withSizeField(Buffer.from('77777777777\0')) })],
    ['base-256 size of 2^62', () => ({ tar: withSizeField(Buffer.from([0x80, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0])) })],
    ['PAX size 10^20', () => [{ name: 'big', content: 'tiny', pax: { size: '100000000000000000000' } }]],
    ['PAX size 2^53 + 1', () => [{ name: 'big', content: 'tiny', pax: { size: '9007199254740993' } }]],
    ['PAX size negative', () => [{ name: 'big', content: 'tiny', pax: { size: '-4' } }]],
    ['PAX size not a number', () => [{ name: 'big', content: 'tiny', pax: { size: '1e3' } }]],
    ['PAX header of 100 MB', () => ({ tar: Buffer.concat([tarFrom([{ name: 'PaxHeaders/x', typeflag: 'x', size: 100_000_000, content: '30 path=aaaaaaaaaaaaaaaaaaaaa\n' }], { trailer: false })]) })],
    ['GNU long name of 100 MB', () => ({ tar: tarFrom([{ name: '././@LongLink', typeflag: 'L', size: 100_000_000, content: 'x' }], { trailer: false }) })],
  ])('%s → BAD_LAYER everywhere, quickly', async (_n, make) => {
    const watch = await watchOutside();
    const scratch = await watch.scratch();
    const t0 = Date.now();
    const r = await everyPath(scratch, [make() as never]);
    await expectRefusedEverywhere(r, 'BAD_LAYER');
    expect(Date.now() - t0).toBeLessThan(60_000);
    await watch.assertUnchanged();
  });

  it('declared bodies on a directory, a symlink and a device are skipped or refused, never followed', async () => {
    const watch = await watchOutside();
    const scratch = await watch.scratch();
    const r = await everyPath(scratch, [[
      { name: 'd/', type: 'dir', size: 512, content: Buffer.alloc(512, 0x41) },
      { name: 'l', type: 'symlink', linkname: 'd', size: 512, content: Buffer.alloc(512, 0x42) },
      { name: 'after', content: 'after' },
    ]]);
    await expectContained(r);
    await watch.assertUnchanged();
  });
});
