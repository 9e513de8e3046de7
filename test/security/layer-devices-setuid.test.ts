// Attack: device nodes and setuid files in layers.
//
// Policy (docs/design.md, "Safety rules"): device nodes and setuid/setgid files are image data.
// They are extracted as they are (devices only with CAP_MKNOD) and kept in layers we write, as
// Docker and containerd do, but they must never become a way into the host:
// - every directory holding extracted layers or build roots is reachable by root only (the layer
//   cache areas and the snapshotter work dirs are 0700), so another local user can neither open a
//   0666 block device of a layer nor execute a setuid-root binary of an image;
// - RUN sees the rootfs mounted nodev (and /dev is a nodev tmpfs holding only binds of the usual
//   host devices): a device node from a layer, or one a RUN makes with mknod (CAP_MKNOD is in
//   Docker's default set, so mknod itself works and the node reaches the layer), cannot be opened.
//   Docker gets the same effect from the devices cgroup, which the chroot executor does not have.
import { execFileSync, spawnSync } from 'node:child_process';
import { lstatSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OciLayout } from '../../oci/index.js';
import { isRoot } from '../helpers/fixtures.js';
import { entriesOf, type TarEntrySpec } from '../helpers/tar.js';
import { applyCli, hasDist, hostileImage, materializeOutcome, cacheOutcome } from './hostile.js';
import { watchOutside } from './outside.js';

const SUID_SCRIPT = '#!/bin/sh\nid -u\n';

function layerTable(marker: string): TarEntrySpec[] {
  return [
    { name: 'evil/', type: 'dir', mode: 0o755 },
    { name: 'evil/zero', type: 'char', devmajor: 1, devminor: 5, mode: 0o666 },
    { name: 'evil/disk', type: 'block', devmajor: 7, devminor: 0, mode: 0o666 },
    { name: `evil/${marker}-suid`, content: SUID_SCRIPT, mode: 0o4755, uid: 0, gid: 0 },
    { name: 'evil/sgid-dir/', type: 'dir', mode: 0o2777 },
  ];
}

/** Whether user 65534 can reach `path` (stat through its parents). */
function nobodyCanReach(path: string): boolean {
  return spawnSync('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', '--', 'stat', path], { stdio: 'ignore' }).status === 0;
}

/** Every directory on the way from `top` (exclusive) down to `path`. */
function dirsBetween(top: string, path: string): string[] {
  const out: string[] = [];
  let p = path;
  while (p.startsWith(`${top}/`)) {
    p = p.slice(0, p.lastIndexOf('/'));
    if (p.length >= top.length) out.push(p);
  }
  return out;
}

function findAll(dir: string, name: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (n === name) out.push(p);
      if (lstatSync(p).isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

describe.runIf(isRoot && hasDist)('hostile layers: device nodes and setuid files', () => {
  it('are extracted as data by materialize (the caller\'s own directory) and by the cache, which no other user can reach', async () => {
    const watch = await watchOutside();
    const scratch = await watch.scratch();
    const image = await hostileImage(join(scratch, 'layout'), [layerTable(watch.marker)], { base: null });
    const dest = join(scratch, 'mat');
    expect((await materializeOutcome(image, dest)).ok).toBe(true);
    expect(statSync(join(dest, 'evil/zero')).isCharacterDevice()).toBe(true);
    expect(statSync(join(dest, `evil/${watch.marker}-suid`)).mode & 0o7777).toBe(0o4755);

    const cacheDir = join(scratch, 'cache');
    expect((await cacheOutcome(image, cacheDir)).ok).toBe(true);
    const suids = findAll(cacheDir, `${watch.marker}-suid`);
    expect(suids.length).toBeGreaterThanOrEqual(2); // the layer dir and the merged rootfs
    for (const p of [...suids, ...findAll(cacheDir, 'disk')]) {
      expect(nobodyCanReach(p), `${p} is reachable by another user`).toBe(false);
      // the first directory below the cache root that is not world-searchable
      const guard = dirsBetween(cacheDir, p).find((d) => (statSync(d).mode & 0o001) === 0);
      expect(guard, `no root-only directory above ${p}`).toBeDefined();
    }
    await watch.assertUnchanged();
  });

  it('RUN cannot open a device node from a layer nor one it makes itself; /dev still works; the nodes reach the layer', async () => {
    const watch = await watchOutside();
    const scratch = await watch.scratch();
    const layout = join(scratch, 'layout');
    await hostileImage(layout, [layerTable(watch.marker)], { base: 'busybox' });
    const dockerfile = [
      'ARG base_image', 'FROM ${base_image}', 'USER root',
      // each probe prints a verdict; the RUN itself succeeds
      'RUN (head -c 4 /evil/zero >/dev/null 2>&1 && echo LAYER-DEV-OPENED || echo layer-dev-refused) ' +
        '&& mknod /mine c 1 5 && (head -c 4 /mine >/dev/null 2>&1 && echo OWN-DEV-OPENED || echo own-dev-refused) ' +
        '&& mkdir -p /dev/x && (mknod /dev/x/z c 1 5 2>/dev/null; head -c 4 /dev/x/z >/dev/null 2>&1 && echo DEVTMPFS-DEV-OPENED || echo devtmpfs-dev-refused) ' +
        '&& head -c 4 /dev/zero | od -An -tx1 && echo null > /dev/null && echo dev-ok',
    ].join('\n');
    for (const snapshotter of ['overlay', 'scan'] as const) {
      const r = await applyCli(join(scratch, snapshotter), layout, { dockerfile, snapshotter });
      expect(r.stderr).not.toMatch(/ERROR/);
      expect(r.code).toBe(0);
      // RUN output lines are `[n/m] │ <line>` in plain progress (the command line itself also contains these words).
      const said = r.stderr.split('\n').filter((l) => /^(\S*\s+)?\[\d+\/\d+\] │ /.test(l)).map((l) => l.replace(/^.*?│ /, '').trim());
      expect(said).toEqual(['layer-dev-refused', 'own-dev-refused', 'devtmpfs-dev-refused', '00 00 00 00', 'dev-ok']);
      // The node RUN made is in the new layer, as data.
      const img = await (await OciLayout.open(r.out)).image({ tag: 'latest' });
      const top = img.layers.at(-1)!;
      const chunks: Buffer[] = [];
      for await (const c of await top.openUncompressed()) chunks.push(c as Buffer);
      expect(entriesOf(Buffer.concat(chunks)).find((e) => e.name === 'mine')).toMatchObject({ type: 'char', devmajor: 1, devminor: 5 });
      // And the work and cache dirs of apply are root-only too.
      for (const p of findAll(r.cacheDir, `${watch.marker}-suid`)) expect(nobodyCanReach(p), p).toBe(false);
    }
    execFileSync('true');
    await watch.assertUnchanged();
  });
});
