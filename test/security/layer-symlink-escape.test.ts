// Attack: layer entries written through symlinks that lead outside the root (absolute, relative,
// set up in a lower layer or earlier in the same layer), and entries that replace such a symlink
// hoping the replacement follows it (a directory entry's chmod, a file's content). Through every
// layer reader and a full `apply`; nothing outside may change.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/fixtures.js';
import type { TarEntrySpec } from '../helpers/tar.js';
import { everyPath, expectContained, expectRefusedEverywhere, hasDist } from './hostile.js';
import { watchOutside } from './outside.js';

describe.runIf(isRoot && hasDist)('hostile layers: writes through symlinks', () => {
  it.each([
    ['absolute symlink to the victim', (v: string) => v],
    ['relative symlink climbing to the victim', (v: string) => `${'../'.repeat(12)}${v.slice(1)}`],
    ['symlink to /', () => '/'],
  ])('%s, then entries below it in the same layer → UNSAFE_PATH everywhere', async (_n, target) => {
    const watch = await watchOutside();
    const scratch = await watch.scratch();
    const r = await everyPath(scratch, [[
      { name: 's', type: 'symlink', linkname: target(watch.victim) },
      { name: `s/${watch.marker}`, content: 'pwned' },
    ]]);
    await expectRefusedEverywhere(r, 'UNSAFE_PATH', /symlink/);
    await watch.assertUnchanged();
  });

  it.each([
    ['file', (m: string): TarEntrySpec => ({ name: `s/${m}`, content: 'pwned' })],
    ['directory', (m: string): TarEntrySpec => ({ name: `s/${m}/`, type: 'dir' })],
    ['symlink', (m: string): TarEntrySpec => ({ name: `s/${m}`, type: 'symlink', linkname: '/etc/shadow' })],
    ['fifo', (m: string): TarEntrySpec => ({ name: `s/${m}`, type: 'fifo' })],
    ['hardlink', (m: string): TarEntrySpec => ({ name: `s/${m}`, type: 'link', linkname: 'base-file' })],
    ['whiteout of a victim file', (): TarEntrySpec => ({ name: 's/.wh.secret' })],
  ])('a symlink to the victim in a lower layer, then a %s below it: contained', async (_n, entry) => {
    const watch = await watchOutside();
    const scratch = await watch.scratch();
    const r = await everyPath(scratch, [
      [{ name: 'base-file', content: 'b' }, { name: 's', type: 'symlink', linkname: watch.victim }],
      [entry(watch.marker)],
    ]);
    // merged readers refuse (or, for the whiteout, warn and skip); the cache's per-layer dirs
    // hold the second layer's entry in its own dir, where `s` is a directory: inside either way.
    await expectContained(r);
    if (r.merged && !r.merged.ok) expect(r.merged.error?.code).toBe('UNSAFE_PATH');
    await watch.assertUnchanged();
  });

  it('entries replacing a symlink to the victim replace the link, never what it points to', async () => {
    const watch = await watchOutside();
    const scratch = await watch.scratch();
    const r = await everyPath(scratch, [
      [
        { name: 'f', type: 'symlink', linkname: join(watch.victim, 'secret') },
        { name: 'd', type: 'symlink', linkname: join(watch.victim, 'dir') },
        { name: 'r', type: 'symlink', linkname: `${'../'.repeat(12)}${watch.victim.slice(1)}/secret` },
      ],
      [
        { name: 'f', content: 'replaced', mode: 0o777, uid: 4242 },
        { name: 'd/', type: 'dir', mode: 0o777, uid: 4242 },
        { name: 'r', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
      ],
    ]);
    expect([r.merged?.ok, r.overlay?.ok, r.materialize.ok, r.cache.ok, r.cli.code]).toEqual([true, true, true, true, 0]);
    for (const root of [r.roots.merged, r.roots.overlay]) {
      expect(readFileSync(join(root, 'f'), 'utf8')).toBe('replaced');
      expect(statSync(join(root, 'd')).isDirectory()).toBe(true);
    }
    expect(statSync(join(watch.victim, 'secret')).mode & 0o7777).toBe(0o600);
    await expectContained(r);
    await watch.assertUnchanged();
  });

  it('hardlinks whose target climbs out, passes through a symlink, or names a host path', async () => {
    const watch = await watchOutside();
    for (const [i, layers] of ([
      [[{ name: 'h', type: 'link', linkname: `${'../'.repeat(12)}${watch.victim.slice(1)}/secret` }]],
      [[{ name: 's', type: 'symlink', linkname: watch.victim }, { name: 'h', type: 'link', linkname: 's/secret' }]],
      [[{ name: 's', type: 'symlink', linkname: watch.victim }], [{ name: 'h', type: 'link', linkname: 's/secret' }]],
      [[{ name: 'h', type: 'link', linkname: join(watch.victim, 'secret') }]],
      [[{ name: 'etc/', type: 'dir' }, { name: 'h', type: 'link', linkname: '/etc/shadow' }]],
    ] as TarEntrySpec[][][]).entries()) {
      const scratch = await watch.scratch(`cnbx-sec-h${i}-`);
      const r = await everyPath(scratch, layers);
      await expectContained(r);
      // whatever was accepted, no path inside shares an inode with the victim's file
      const victimIno = statSync(join(watch.victim, 'secret')).ino;
      for (const root of [r.roots.merged, r.roots.overlay, r.roots.materialize]) {
        const st = (() => { try { return statSync(join(root, 'h')); } catch { return null; } })();
        if (st) expect(st.ino).not.toBe(victimIno);
      }
    }
    await watch.assertUnchanged();
  });
});
