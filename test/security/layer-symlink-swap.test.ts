// Attack: a directory swapped for a symlink between two entries of one layer (`d/` … `d` →
// outside … `d/x`), and the variants: swap via a hardlink named like the directory, swap of a
// parent two levels up, swap followed by an opaque marker, and a symlink chain (d → e → victim).
// The later entries must never follow the swapped-in link.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/fixtures.js';
import type { TarEntrySpec } from '../helpers/tar.js';
import { everyPath, expectContained, expectRefusedEverywhere, hasDist } from './hostile.js';
import { watchOutside } from './outside.js';

describe.runIf(isRoot && hasDist)('hostile layers: symlink swapped between two entries of one layer', () => {
  it.each([
    ['d/ then d → victim then d/x', (v: string, m: string): TarEntrySpec[] => [
      { name: 'd/', type: 'dir' }, { name: 'd/a', content: 'a' }, { name: 'd', type: 'symlink', linkname: v }, { name: `d/${m}`, content: 'pwned' }]],
    ['grandparent swap a/b/ then a → victim then a/b/x', (v: string, m: string): TarEntrySpec[] => [
      { name: 'a/b/', type: 'dir' }, { name: 'a', type: 'symlink', linkname: v }, { name: `a/dir/${m}`, content: 'pwned' }]],
    ['chain d/ then e → victim, d → e, then d/x', (v: string, m: string): TarEntrySpec[] => [
      { name: 'd/', type: 'dir' }, { name: 'e', type: 'symlink', linkname: v }, { name: 'd', type: 'symlink', linkname: 'e' }, { name: `d/${m}`, content: 'pwned' }]],
    ['swap then opaque marker d/.wh..wh..opq', (v: string): TarEntrySpec[] => [
      { name: 'd/', type: 'dir' }, { name: 'd', type: 'symlink', linkname: v }, { name: 'd/.wh..wh..opq' }, { name: 'd/x', content: 'x' }]],
  ])('%s → refused, the victim intact', async (_n, make) => {
    const watch = await watchOutside();
    const scratch = await watch.scratch();
    const r = await everyPath(scratch, [make(watch.victim, watch.marker)]);
    await expectRefusedEverywhere(r, 'UNSAFE_PATH');
    expect(readdirSync(watch.victim).sort()).toEqual(['dir', 'secret']);
    await watch.assertUnchanged();
  });

  it('swapping the link back to a directory makes later entries safe again (d → victim, then d/, then d/x)', async () => {
    const watch = await watchOutside();
    const scratch = await watch.scratch();
    const r = await everyPath(scratch, [[
      { name: 'd', type: 'symlink', linkname: watch.victim }, { name: 'd/', type: 'dir' }, { name: `d/${watch.marker}`, content: 'inside' },
    ]]);
    expect([r.merged?.ok, r.overlay?.ok, r.materialize.ok, r.cache.ok, r.cli.code]).toEqual([true, true, true, true, 0]);
    await expectContained(r);
    await watch.assertUnchanged();
  });
});
