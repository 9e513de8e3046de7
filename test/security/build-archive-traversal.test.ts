// Attack: ADD of local archives whose entries try to leave the destination or the rootfs: `..`
// names (plain, in the middle, in a PAX path, absolute `/../`), hardlinks to `..` targets and to
// host paths, a symlink entry followed by entries written through it, `.wh.` names. Names that
// climb out are refused (CONTEXT_ESCAPE naming the entry); absolute names and writes through
// symlinks are resolved inside the rootfs (as Docker's chrooted untar does); nothing outside the
// test's temp dirs changes.
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/fixtures.js';
import { tarFrom, type TarEntrySpec } from '../helpers/tar.js';
import { attemptBuild, HEAD } from './build-helpers.js';
import { watchOutside } from './outside.js';

describe.runIf(isRoot)('hostile archives in ADD', () => {
  const refused: Array<[string, (m: string, victim: string) => TarEntrySpec[]]> = [
    ['../ name', (m) => [{ name: `../../../../tmp/${m}`, content: 'x' }]],
    ['.. in the middle', (m) => [{ name: 'a/', type: 'dir' }, { name: `a/../../../../../tmp/${m}`, content: 'x' }]],
    ['PAX path with ..', (m) => [{ name: 'innocent', content: 'x', pax: { path: `../../../../../tmp/${m}` } }]],
    ['directory entry with ..', (m) => [{ name: `../../${m}/`, type: 'dir' }]],
    ['symlink entry with ..', (m) => [{ name: `../../${m}`, type: 'symlink', linkname: '/' }]],
    ['hardlink target with ..', () => [{ name: 'h', type: 'link', linkname: '../../../../../../etc/passwd' }]],
    ['a .wh. whiteout name', (m) => [{ name: `.wh.${m}`, content: '' }]],
  ];
  it.each(refused)('%s → refused, nothing written outside', async (_name, make) => {
    const watch = await watchOutside();
    const scratch = await watch.scratch();
    const archive = gzipSync(tarFrom(make(watch.marker, watch.victim)));
    const r = await attemptBuild(scratch, `${HEAD}ADD evil.tar.gz /opt/dest/\n`, { 'evil.tar.gz': archive });
    expect(r.ok).toBe(false);
    expect(r.error?.code).toBe('CONTEXT_ESCAPE');
    expect(r.error?.line).toBe(4);
    expect(r.error?.message).toMatch(/ADD evil\.tar\.gz: /);
    await watch.assertUnchanged();
  });

  it('absolute names, writes through a symlink entry, and hardlinks to absolute paths stay inside the rootfs', async () => {
    const watch = await watchOutside();
    const scratch = await watch.scratch();
    const m = watch.marker;
    const archive = gzipSync(tarFrom([
      { name: `/abs-${m}`, content: 'absolute name' },
      { name: 'to-root', type: 'symlink', linkname: '/' },
      { name: `to-root/tmp/${m}-through-link`, content: 'through a symlink entry' },
      { name: 'to-victim', type: 'symlink', linkname: watch.victim },
      { name: `to-victim/${m}-in-victim`, content: 'through a symlink to a host path' },
      { name: 'hard-passwd', type: 'link', linkname: '/etc/passwd' },
      { name: 'plain', content: 'p' },
      { name: 'hard-plain', type: 'link', linkname: 'plain' },
    ]));
    const r = await attemptBuild(scratch, `${HEAD}RUN mkdir -p /opt/dest/etc && echo inner > /opt/dest/etc/passwd\nADD evil.tar.gz /opt/dest/\n`, { 'evil.tar.gz': archive });
    expect(r.ok, r.error?.message).toBe(true);
    const fs = r.fs!;
    expect(fs.get(`opt/dest/abs-${m}`)?.type).toBe('file');
    expect(fs.get('opt/dest/to-root')).toMatchObject({ type: 'symlink', link: '/' });
    expect(fs.get(`tmp/${m}-through-link`)?.type).toBe('file');
    expect(fs.get(`${watch.victim.slice(1)}/${m}-in-victim`)?.type).toBe('file');
    // The hardlink to /etc/passwd is to the image's <dest>/etc/passwd, the archive's own root.
    expect(fs.get('opt/dest/hard-passwd')).toMatchObject({ type: 'file', sha256: fs.get('opt/dest/etc/passwd')?.sha256 });
    expect(fs.get('opt/dest/hard-plain')).toMatchObject({ type: 'file', size: 1 });
    await watch.assertUnchanged();
  });

  it('a hardlink to a path the archive and the image do not have fails clearly', async () => {
    const watch = await watchOutside();
    const scratch = await watch.scratch();
    const archive = gzipSync(tarFrom([{ name: 'h', type: 'link', linkname: `/nonexistent-${watch.marker}` }]));
    const r = await attemptBuild(scratch, `${HEAD}ADD evil.tar.gz /opt/dest/\n`, { 'evil.tar.gz': archive });
    expect(r.ok).toBe(false);
    expect(r.error?.line).toBe(4);
    expect(r.error?.message).toMatch(/ADD evil\.tar\.gz: cannot extract archive/);
    await watch.assertUnchanged();
  });
});
