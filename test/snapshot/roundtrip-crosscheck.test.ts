// Cross-check: the layers we write, extracted by other implementations, give the tree ours gives.
// - umoci (Go archive/tar, whiteout-aware) unpacks base + our layer from an OCI layout;
// - GNU tar extracts our layer alone (it knows nothing of whiteouts: `.wh.*` files aside, the
//   tree must equal our applier's extraction of the same layer onto an empty directory).
import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendLayers, OciLayout, type Image, type Layer } from '../../oci/index.js';
import { applyLayerTar } from '../../snapshot/apply.js';
import { xattr } from '../../snapshot/native.js';
import { hasCommand, isRoot } from '../helpers/fixtures.js';
import { commit, entriesOfStream, loadFixture, makeEnv, materializeInto, openWorkspace, sh, SNAPSHOTTERS, type Env } from './harness.js';
import { comparable } from './roundtrip-compare.js';

const CAP = Buffer.from('0100000280200000000000000000000000000000', 'hex');

/** One step that exercises most of what a layer can carry. */
async function richStep(root: string): Promise<void> {
  sh('mkdir -p /opt/app/bin /opt/app/etc && rm /etc/group && rm -rf /home/cnb && mkdir -p /home/cnb/new')(root);
  writeFileSync(join(root, 'opt/app/bin/tool'), '#!/bin/sh\necho tool\n');
  execFileSync('chmod', ['4755', join(root, 'opt/app/bin/tool')]);
  linkSync(join(root, 'opt/app/bin/tool'), join(root, 'opt/app/bin/tool2'));
  symlinkSync('tool', join(root, 'opt/app/bin/t'));
  symlinkSync(`/${'x'.repeat(140)}`, join(root, 'opt/app/bin/long-target'));
  const deep = join(root, 'opt/app', 'd'.repeat(90), 'e'.repeat(90));
  mkdirSync(deep, { recursive: true });
  writeFileSync(join(deep, 'f'.repeat(100)), 'deep');
  writeFileSync(Buffer.concat([Buffer.from(`${root}/opt/app/etc/`), Buffer.from([0x6e, 0xff, 0x6e])]), 'bytes');
  writeFileSync(join(root, 'opt/app/etc/ünï'), 'utf8');
  writeFileSync(join(root, 'opt/app/etc/owned'), 'big ids');
  execFileSync('chown', ['1000680000:1000680001', join(root, 'opt/app/etc/owned')]);
  writeFileSync(join(root, 'opt/app/etc/caps'), 'cap');
  xattr.set(join(root, 'opt/app/etc/caps'), 'security.capability', CAP);
  xattr.set(join(root, 'opt/app/etc/caps'), 'user.note', Buffer.from([0, 1, 2, 0xff]));
  execFileSync('mkfifo', [join(root, 'opt/app/etc/fifo')]);
  execFileSync('mknod', [join(root, 'opt/app/etc/null'), 'c', '1', '3']);
  writeFileSync(join(root, 'opt/app/etc/ns'), 'ns');
  utimesSync(join(root, 'opt/app/etc/ns'), 1600000000.75, 1600000000.75);
  execFileSync('chmod', ['1777', join(root, 'opt/app/etc')]);
}

describe.skipIf(!isRoot)('cross-check: our layers through umoci and GNU tar', () => {
  let env: Env;
  let base: Image;
  const layers = new Map<string, Layer>();
  beforeAll(async () => {
    env = makeEnv();
    base = await loadFixture('busybox');
    for (const name of SNAPSHOTTERS) {
      const ws = await openWorkspace(env, name, base);
      try {
        await ws.beginStep();
        await richStep(ws.root);
        const o = await commit(env, ws);
        layers.set(name, o.layer!);
      } finally {
        await ws.close();
      }
    }
  }, 300_000);
  afterAll(() => env.cleanup());

  it('both snapshotters wrote the same entries (all but the times of this run)', async () => {
    const strip = async (l: Layer) => (await entriesOfStream(await l.openUncompressed())).map(({ mtime: _m, ...e }) => e);
    const o = await strip(layers.get('overlay')!);
    expect(o.length).toBeGreaterThan(15);
    expect(await strip(layers.get('scan')!)).toEqual(o);
  });

  for (const name of SNAPSHOTTERS) {
    it.skipIf(!hasCommand('umoci'))(`${name}: umoci unpack of base + layer ≡ our materialize`, async () => {
      const img = appendLayers(base, { layer: layers.get(name)! });
      const ours = join(env.dir, `ours-${name}`);
      await materializeInto(img, ours);
      const layout = join(env.dir, `layout-${name}`);
      await (await OciLayout.create(layout)).writeImage(img, { tag: 'latest' });
      const bundle = join(env.dir, `bundle-${name}`);
      execFileSync('umoci', ['unpack', '--image', `${layout}:latest`, bundle], { stdio: ['ignore', 'pipe', 'pipe'] });
      const a = comparable(ours);
      const b = comparable(join(bundle, 'rootfs'));
      expect(b.tree).toEqual(a.tree);
      expect([...b.links].sort()).toEqual([...a.links].sort());
      expect(a.tree.some((l) => l.includes('opt/app/etc/caps') && l.includes('security.capability'))).toBe(true);
      rmSync(bundle, { recursive: true, force: true });
    }, 120_000);

    it(`${name}: GNU tar extraction of the layer ≡ ours (whiteout files aside)`, async () => {
      const tar = await buffer(await layers.get(name)!.openUncompressed());
      const gnu = join(env.dir, `gnu-${name}`);
      mkdirSync(gnu);
      execFileSync('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-xpf', '-', '-C', gnu], { input: tar });
      const ours = join(env.dir, `alone-${name}`);
      mkdirSync(ours);
      await applyLayerTar((await layers.get(name)!.openUncompressed()), ours, { format: 'merged', layerName: name });
      const a = comparable(ours);
      const b = comparable(gnu);
      expect(b.tree.filter((l) => !/\/\.wh\.[^/]*( |$)/.test(l))).toEqual(a.tree);
      expect(b.tree.filter((l) => /\.wh\.group /.test(l))).toHaveLength(1);
      expect([...b.links].sort()).toEqual([...a.links].sort());
    }, 120_000);
  }
});
