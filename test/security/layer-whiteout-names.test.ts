// Attack: whiteout names in odd places. `.wh...` names the parent of its directory and `.wh..`
// the directory itself: an applier that whites out `<dir>/..` deletes outside the root (found by
// this suite: the merged and overlay appliers removed `<root>/..`). `.wh.` (empty name), opaque
// markers below symlinks and files, whiteouts of the root, `.wh..wh..opq` as a directory or a
// symlink, and aufs metadata names must all stay inside or fail typed.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/fixtures.js';
import { everyPath, expectRefusedEverywhere, hasDist } from './hostile.js';
import { watchOutside } from './outside.js';

describe.runIf(isRoot && hasDist)('hostile layers: whiteout names', () => {
  it.each([
    ['.wh... at the top (whites out the root\'s parent)', '.wh...'],
    ['a/.wh... (whites out the root)', 'a/.wh...'],
    ['.wh.. (whites out the directory itself)', 'a/.wh..'],
  ])('%s → UNSAFE_PATH everywhere; the root, its parent and siblings survive', async (_n, name) => {
    const watch = await watchOutside();
    const scratch = await watch.scratch();
    // Siblings of every root the readers extract into: `..` of a root must not lose them.
    for (const d of ['merged', 'overlay', 'mat']) {
      const { mkdirSync } = await import('node:fs');
      mkdirSync(join(scratch, d), { recursive: true });
      writeFileSync(join(scratch, d, `sibling-${watch.marker}`), 'keep');
    }
    const r = await everyPath(scratch, [[{ name: 'a/', type: 'dir' }, { name: 'a/f', content: 'x' }], [{ name }]]);
    await expectRefusedEverywhere(r, 'UNSAFE_PATH', /whiteout/);
    for (const d of ['merged', 'overlay', 'mat']) expect(readFileSync(join(scratch, d, `sibling-${watch.marker}`), 'utf8')).toBe('keep');
    await watch.assertUnchanged();
  });

  it('`.wh.` (a whiteout of nothing) is BAD_LAYER', async () => {
    const watch = await watchOutside();
    const scratch = await watch.scratch();
    const r = await everyPath(scratch, [[{ name: 'a/', type: 'dir' }, { name: 'a/.wh.' }]]);
    await expectRefusedEverywhere(r, 'BAD_LAYER', /empty name/);
    await watch.assertUnchanged();
  });

  it('whiteouts and opaque markers below a symlink to the victim remove nothing there', async () => {
    const watch = await watchOutside();
    const scratch = await watch.scratch();
    const r = await everyPath(scratch, [
      [{ name: 'v', type: 'symlink', linkname: watch.victim }, { name: 'rel', type: 'symlink', linkname: '../../../../../../..' + watch.victim }],
      [{ name: 'v/.wh.secret' }, { name: 'v/.wh..wh..opq' }, { name: 'rel/dir/.wh.inner' }, { name: 'rel/.wh..wh..opq' }],
    ]);
    // merged: warnings only (nothing of a lower layer is below a symlink); overlay: whiteouts are
    // made in the layer's own dir, where `v` is not a symlink; either way the victim is intact.
    expect(r.merged?.ok).toBe(true);
    expect(r.materialize.ok).toBe(true);
    expect(existsSync(join(watch.victim, 'secret'))).toBe(true);
    await watch.assertUnchanged();
  });

  it('odd but harmless names: opaque marker as a directory or symlink, aufs metadata, whiteout of the root\'s own entry', async () => {
    const watch = await watchOutside();
    const scratch = await watch.scratch();
    const r = await everyPath(scratch, [
      [{ name: 'a/', type: 'dir' }, { name: 'a/f', content: 'x' }, { name: 'b/', type: 'dir' }],
      [
        { name: 'a/.wh..wh..opq/', type: 'dir' },
        { name: 'b/.wh..wh..opq', type: 'symlink', linkname: watch.victim },
        { name: '.wh..wh.plnk/', type: 'dir' },
        { name: '.wh..wh.aufs', content: 'x' },
        { name: './.wh..wh..opq' },
      ],
    ]);
    for (const o of [r.merged, r.overlay, r.materialize, r.cache]) expect(o?.ok === true || o?.error?.name === 'SnapshotError').toBe(true);
    expect([0, 6]).toContain(r.cli.code);
    await watch.assertUnchanged();
  });
});
