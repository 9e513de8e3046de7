// Cross-checks on real base images (the project's fixtures): our materialize equals `umoci unpack`
// (type, mode, owner, size, content hash, link target, device, hardlinks, xattrs), GNU tar agrees
// on layers without whiteouts, and the cached overlay-format layers of debian (193 whiteouts in its
// second layer, listed without their parent directories) mounted as stacked lowerdirs, with the
// fixup directory the cache puts above that layer, show the same tree again (mtimes included).
// Slow on these VMs (ext4 writeback: GNU tar alone takes ~20 s for debian's base layer).
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OciLayout, type Image } from '../../oci/index.js';
import { LayerCache } from '../../snapshot/cache.js';
import { materialize } from '../../snapshot/materialize.js';
import { fixture, hasCommand, isRoot, type FixtureName } from '../helpers/fixtures.js';
import { tmpDir } from '../helpers/tmp.js';
import { dumpTree, renderTree, type DumpOptions } from '../helpers/tree.js';
import { withOverlay } from './apply-support.js';

async function fixtureImage(name: FixtureName): Promise<{ layout: string; image: Image }> {
  const layout = fixture(name);
  return { layout, image: await (await OciLayout.open(layout)).image({ tag: 'latest' }) };
}

// mtimes are left out: umoci and GNU tar bump the mtime of directories whose children a later
// layer changes, where we keep the time the layers gave (see apply.ts).
const TREE: DumpOptions = { xattrFilter: (n) => !n.startsWith('trusted.overlay.') && n !== 'security.selinux' };

describe.runIf(isRoot && hasCommand('umoci'))('materialize on the fixture images', () => {
  it.each(['busybox', 'debian'] as const)('%s: equals umoci unpack', async (name) => {
    const { layout, image } = await fixtureImage(name);
    const tmp = await tmpDir();
    const ours = join(tmp, 'ours');
    const stats = await materialize(image, ours);
    expect(stats.layers).toBe(image.layers.length);
    execFileSync('umoci', ['unpack', '--image', `${layout}:latest`, join(tmp, 'bundle')], { stdio: 'ignore' });
    const want = renderTree(dumpTree(join(tmp, 'bundle', 'rootfs'), TREE));
    const got = renderTree(dumpTree(ours, TREE));
    expect(got.length).toBeGreaterThan(name === 'busybox' ? 250 : 4000);
    expect(got).toEqual(want);
  }, 600_000);

  it.each(['busybox', 'debian'] as const)('%s: the base layer equals GNU tar -x of the same blob', async (name) => {
    const { layout, image } = await fixtureImage(name);
    const tmp = await tmpDir();
    const base = { ...image, layers: image.layers.slice(0, 1) };
    await materialize(base, join(tmp, 'ours'));
    mkdirSync(join(tmp, 'tar'));
    const blob = join(layout, 'blobs', 'sha256', image.layers[0]!.descriptor.digest.slice(7));
    execFileSync('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-xpzf', blob, '-C', join(tmp, 'tar')]);
    expect(renderTree(dumpTree(join(tmp, 'ours'), TREE))).toEqual(renderTree(dumpTree(join(tmp, 'tar'), TREE)));
  }, 600_000);

  it('debian: cached overlay-format layers, stacked as lowerdirs, equal the merged rootfs (whiteouts included)', async () => {
    const { image } = await fixtureImage('debian');
    const tmp = await tmpDir();
    const cache = new LayerCache(join(tmp, 'cache'), { durable: false });
    const [lowers, merged] = await Promise.all([cache.layerDirs(image), cache.mergedRootfs(image)]);
    const whiteouts = dumpTree(lowers[1]!, { xattrs: false }).filter((e) => e.type === 'char' && e.rdev === '0:0');
    expect(whiteouts.length).toBeGreaterThan(100);
    const seen = await withOverlay(lowers, join(tmp, 'mnt'), (m) => renderTree(dumpTree(m, { ...TREE, mtime: true })));
    expect(seen).toEqual(renderTree(dumpTree(merged, { ...TREE, mtime: true })));
    // debian's second layer (umoci's) lists whiteouts without their parent directories: a fixup dir sits above it.
    expect(lowers).toHaveLength(3);
    expect((await cache.verify({ deep: true })).ok).toHaveLength(4); // 2 layers, 1 fixup, 1 merged
  }, 600_000);
});
