// Attack: a base image whose layer plants symlinks to the host's `/` (`/evil -> /`, a relative
// `/up -> ../../../..`, and one naming the victim's absolute host path), then COPY, ADD (file and
// archive), COPY here-docs and WORKDIR write *through* them. Every write is resolved inside the
// rootfs (as a chroot would): the files land in the image under the symlink's in-image target,
// and nothing outside the test's temp dirs changes.
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/fixtures.js';
import { tarFrom } from '../helpers/tar.js';
import { attemptBuild, HEAD } from './build-helpers.js';
import { hostileImage } from './hostile.js';
import { watchOutside } from './outside.js';

describe.runIf(isRoot)('hostile base image: symlinks to the host root on COPY/ADD destinations', () => {
  it('COPY, ADD, COPY <<EOF, WORKDIR and RUN through /evil -> / stay inside the rootfs', async () => {
    const watch = await watchOutside();
    const scratch = await watch.scratch();
    const m = watch.marker;
    const base = join(scratch, 'base');
    await hostileImage(base, [[
      { name: 'evil', type: 'symlink', linkname: '/' },
      { name: 'up', type: 'symlink', linkname: '../../../../../../..' },
      { name: 'victim', type: 'symlink', linkname: watch.victim },
      { name: 'tmpdir', type: 'symlink', linkname: '/tmp' },
    ]]);
    const archive = gzipSync(tarFrom([{ name: `${m}-archived/`, type: 'dir' }, { name: `${m}-archived/file`, content: 'from the archive' }]));
    const dockerfile = `${HEAD}` +
      `COPY x /evil/tmp/${m}-copied\n` +
      `COPY x /up/tmp/${m}-up\n` +
      `COPY x /victim/${m}-into-victim\n` +
      `COPY x /victim/secret\n` +
      `ADD x /tmpdir/${m}-added\n` +
      `ADD a.tgz /evil/tmp/\n` +
      `COPY <<EOF /evil/etc/${m}-heredoc\nhere\nEOF\n` +
      `WORKDIR /evil/var/${m}-workdir\n` +
      `RUN echo ran > /evil/tmp/${m}-run\n`;
    const r = await attemptBuild(scratch, dockerfile, { x: 'payload', 'a.tgz': archive }, { baseLayout: base });
    expect(r.ok, r.error?.message).toBe(true);
    const fs = r.fs!;
    const victimInImage = watch.victim.slice(1);
    // Everything landed in the image, where the symlinks point inside the rootfs.
    for (const p of [`tmp/${m}-copied`, `tmp/${m}-up`, `tmp/${m}-added`, `tmp/${m}-archived/file`, `etc/${m}-heredoc`, `tmp/${m}-run`,
      `${victimInImage}/${m}-into-victim`, `${victimInImage}/secret`]) {
      expect(fs.get(p)?.type, p).toBe('file');
    }
    expect(fs.get(`var/${m}-workdir`)?.type).toBe('dir');
    // The symlinks themselves are untouched.
    expect(fs.get('evil')).toMatchObject({ type: 'symlink', link: '/' });
    expect(fs.get('victim')).toMatchObject({ type: 'symlink', link: watch.victim });
    await watch.assertUnchanged();
  });

  it('a symlink loop on the destination path fails clearly', async () => {
    const watch = await watchOutside();
    const scratch = await watch.scratch();
    const base = join(scratch, 'base');
    await hostileImage(base, [[{ name: 'loop-a', type: 'symlink', linkname: '/loop-b' }, { name: 'loop-b', type: 'symlink', linkname: 'loop-a' }]]);
    const r = await attemptBuild(scratch, `${HEAD}COPY x /loop-a/file\n`, { x: 'payload' }, { baseLayout: base });
    expect(r.ok).toBe(false);
    expect(r.error?.code).toBe('SYMLINK_LOOP');
    expect(r.error?.line).toBe(4);
    await watch.assertUnchanged();
  });
});
