// applyLayerTar never writes outside the root: `..`, symlinked parents (from a lower layer or
// swapped in by an earlier entry of the same layer), hardlinks to outside; malformed and truncated
// tars are BAD_LAYER. Each escape test checks that nothing appeared or changed next to the root.
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { applyLayerTar } from '../../snapshot/apply.js';
import { SnapshotError } from '../../snapshot/errors.js';
import { isRoot } from '../helpers/fixtures.js';
import { tarFrom, type TarEntrySpec } from '../helpers/tar.js';
import { tmpDir } from '../helpers/tmp.js';
import { dumpTree, renderTree } from '../helpers/tree.js';
import { applyAll, rootAndOutside } from './apply-support.js';

/** Applies `layers` to a fresh root and returns the error; asserts nothing changed outside the root. */
async function refused(layers: TarEntrySpec[][], setup?: (root: string, outside: string) => void): Promise<SnapshotError> {
  const tmp = await tmpDir();
  const { root, outside } = rootAndOutside(tmp);
  writeFileSync(join(outside, 'secret'), 'secret');
  setup?.(root, outside);
  const before = renderTree(dumpTree(tmp, { exclude: (p) => p === 'root', mtime: true }));
  const err = await applyAll(root, layers).then(() => undefined, (e: unknown) => e);
  expect(renderTree(dumpTree(tmp, { exclude: (p) => p === 'root', mtime: true }))).toEqual(before);
  expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('secret');
  expect(err).toBeInstanceOf(SnapshotError);
  return err as SnapshotError;
}

describe.runIf(isRoot)('applyLayerTar safety', () => {
  it.each([
    ['../escape'],
    ['a/../../escape'],
    ['/../escape'],
    ['a/b/../../../escape'],
  ])('refuses %j (UNSAFE_PATH naming layer and entry)', async (name) => {
    const err = await refused([[{ name: 'a/b/', type: 'dir' }, { name, content: 'x' }]]);
    expect(err).toMatchObject({ code: 'UNSAFE_PATH', layer: 'layer0', entry: name });
    expect(err.message).toContain('layer0');
    expect(err.message).toContain(name);
  });

  it('refuses `..` in a whiteout name', async () => {
    const err = await refused([[{ name: '../.wh.secret' }]]);
    expect(err).toMatchObject({ code: 'UNSAFE_PATH' });
  });

  it('refuses to write below a symlink from a lower layer (absolute target: bug 37)', async () => {
    const err = await refused([[{ name: 'a', type: 'symlink', linkname: '/' }], [{ name: 'a/etc/x', content: 'x' }]]);
    expect(err).toMatchObject({ code: 'UNSAFE_PATH', layer: 'layer1', entry: 'a/etc/x' });
    expect(err.message).toMatch(/parent "a" is a symlink/);
  });

  it('refuses to write below a symlink pointing outside the root by a relative path', async () => {
    const err = await refused([[{ name: 'a', type: 'symlink', linkname: '../outside' }, { name: 'a/secret', content: 'pwned' }]]);
    expect(err).toMatchObject({ code: 'UNSAFE_PATH', entry: 'a/secret' });
  });

  it('refuses a symlink swapped in for a directory between two entries of one layer', async () => {
    const err = await refused([[
      { name: 'd/', type: 'dir' },
      { name: 'd/ok', content: 'fine' },
      { name: 'd', type: 'symlink', linkname: '../outside' },
      { name: 'd/secret', content: 'pwned' },
    ]]);
    expect(err).toMatchObject({ code: 'UNSAFE_PATH', entry: 'd/secret' });
  });

  it('refuses a symlinked parent even when the symlink points inside the root', async () => {
    // containerd would resolve it within the root; we never write through a symlink at all.
    const err = await refused([[{ name: 'real/' }, { name: 'alias', type: 'symlink', linkname: 'real' }, { name: 'alias/f', content: 'x' }]]);
    expect(err).toMatchObject({ code: 'UNSAFE_PATH', entry: 'alias/f' });
  });

  it('refuses directory and device entries below a symlink too', async () => {
    for (const entry of [{ name: 'a/d/', type: 'dir' }, { name: 'a/p', type: 'fifo' }, { name: 'a/l', type: 'symlink', linkname: 'x' }] as TarEntrySpec[]) {
      const err = await refused([[{ name: 'a', type: 'symlink', linkname: '../outside' }, entry]]);
      expect(err).toMatchObject({ code: 'UNSAFE_PATH' });
    }
  });

  it('refuses hardlinks that leave the root', async () => {
    expect(await refused([[{ name: 'l', type: 'link', linkname: '../outside/secret' }]])).toMatchObject({ code: 'UNSAFE_PATH', entry: 'l' });
    expect(await refused([[{ name: 'a', type: 'symlink', linkname: '../outside' }, { name: 'l', type: 'link', linkname: 'a/secret' }]]))
      .toMatchObject({ code: 'UNSAFE_PATH', entry: 'l' });
  });

  it('reads an absolute hardlink target inside the root, never the host path', async () => {
    const err = await refused([[{ name: 'l', type: 'link', linkname: '/etc/passwd' }]]);
    expect(err).toMatchObject({ code: 'BAD_LAYER' });
    expect(err.message).toMatch(/does not exist in the root/);
  });

  it('a whiteout below a symlink removes nothing outside (warning only)', async () => {
    const tmp = await tmpDir();
    const { root, outside } = rootAndOutside(tmp);
    writeFileSync(join(outside, 'secret'), 'secret');
    symlinkSync('../outside', join(root, 'a'));
    await applyAll(root, [[{ name: 'a/.wh.secret' }, { name: 'a/.wh..wh..opq' }]]);
    expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('secret');
  });

  it('truncated tar (declared size past the end of the stream) → BAD_LAYER', async () => {
    const tar = tarFrom([{ name: 'big', content: Buffer.alloc(10_000, 7) }]);
    const root = (await tmpDir());
    await expect(applyLayerTar(Readable.from([tar.subarray(0, 4096)]), root, { format: 'merged', layerName: 'sha256:abc' }))
      .rejects.toMatchObject({ code: 'BAD_LAYER', layer: 'sha256:abc', message: expect.stringMatching(/truncated tar/) });
    // a size field larger than the data that follows, with the end-of-archive blocks present
    await expect(applyLayerTar(Readable.from([tarFrom([{ name: 'f', content: 'abc', size: 100_000 }])]), root, { format: 'merged', layerName: 'L' }))
      .rejects.toMatchObject({ code: 'BAD_LAYER' });
  });

  it('garbage and malformed PAX records → BAD_LAYER', async () => {
    const root = await tmpDir();
    await expect(applyLayerTar(Readable.from([Buffer.alloc(2048, 0x41)]), root, { format: 'merged', layerName: 'L' })).rejects.toMatchObject({ code: 'BAD_LAYER' });
    const bad = tarFrom([{ name: 'f', content: 'x', pax: { 'x': 'y' } }]);
    const at = bad.indexOf('x=y\n');
    bad.write('9', at - 2, 'latin1'); // record length no longer matches
    await expect(applyLayerTar(Readable.from([bad]), root, { format: 'merged', layerName: 'L' })).rejects.toMatchObject({ code: 'BAD_LAYER' });
  });

  it('GNU sparse entries are refused (UNSUPPORTED), unknown entry types are BAD_LAYER', async () => {
    const root = await tmpDir();
    await expect(applyAll(root, [[{ name: 's', content: 'x', pax: { 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0' } }]])).rejects.toMatchObject({ code: 'UNSUPPORTED' });
    await expect(applyAll(root, [[{ name: 'v', typeflag: 'V' }]])).rejects.toMatchObject({ code: 'BAD_LAYER', entry: 'v' });
  });

  it('an aborted signal stops the extraction', async () => {
    const root = await tmpDir();
    const ac = new AbortController();
    ac.abort();
    await expect(applyLayerTar(Readable.from([tarFrom([{ name: 'f', content: 'x' }])]), root, { format: 'merged', layerName: 'L', signal: ac.signal }))
      .rejects.toMatchObject({ name: 'AbortError' });
    expect(dumpTree(root)).toEqual([]);
  });
});
