// layers.md §6 hard cases 15-25 (metadata-only changes, modes, capabilities, xattrs), through both
// snapshotters.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { xattr } from '../../snapshot/native.js';
import { dumpTree } from '../helpers/tree.js';
import { hardCaseSuite, materializeInto, sh, type HardCase } from './harness.js';
import { appendLayers } from '../../oci/index.js';

const T = 1_600_000_000;
const CAP_NET_RAW_V2 = '0100000200200000000000000000000000000000';

/** Applies the step's layer onto the base with our applier and returns the tree of `paths`. */
async function extracted(base: Parameters<typeof materializeInto>[0], layer: NonNullable<Parameters<typeof appendLayers>[1]>['layer'], dir: string) {
  const dest = join(dir, `x-${Math.random().toString(36).slice(2)}`);
  await materializeInto(appendLayers(base, { layer }), dest);
  return dumpTree(dest);
}

const cases: HardCase[] = [
  {
    id: 15, title: 'chmod of a file → the whole file with its new mode',
    step: sh('chmod 600 /etc/passwd'),
    expect: ['etc/', 'etc/passwd'],
    check: (o) => {
      expect(o.entries[1]).toMatchObject({ mode: 0o600, type: 'file' });
      expect(o.entries[1]!.size).toBeGreaterThan(0);
    },
  },
  {
    id: 16, title: 'chmod of a dir → the dir only',
    setup: [sh('mkdir /opt && touch /opt/x')],
    step: sh('chmod 700 /opt'),
    expect: ['opt/'],
    check: (o) => expect(o.entries[0]!.mode).toBe(0o700),
  },
  {
    id: 17, title: 'chown -R re-emits every entry with the new owner',
    setup: [sh('mkdir -p /usr/share/doc/p && for i in 1 2 3 4 5; do echo $i >/usr/share/doc/p/f$i; done')],
    step: sh('chown -R 1000:1000 /usr/share/doc'),
    expect: ['usr/', 'usr/share/', 'usr/share/doc/', 'usr/share/doc/p/', ...[1, 2, 3, 4, 5].map((i) => `usr/share/doc/p/f${i}`)],
    check: (o) => {
      expect(o.entries.slice(2).every((e) => e.uid === 1000 && e.gid === 1000)).toBe(true);
      expect(o.entries.slice(0, 2).every((e) => e.uid === 0)).toBe(true);
    },
  },
  {
    id: 18, title: 'touch -d of a file → its new mtime',
    setup: [sh('echo box >/etc/hostname')],
    step: (root) => utimesSync(join(root, 'etc/hostname'), 86400, 86400),
    expect: ['etc/', 'etc/hostname'],
    check: (o) => expect(o.entries[1]!.mtime).toBe(86400),
  },
  {
    id: 19, title: 'same size, mtime put back → caught (ctime / content)',
    setup: [(root) => { writeFileSync(join(root, 'etc/app.conf'), 'AAAA'); utimesSync(join(root, 'etc/app.conf'), T, T); }],
    step: (root) => { writeFileSync(join(root, 'etc/app.conf'), 'BBBB'); utimesSync(join(root, 'etc/app.conf'), T, T); },
    expect: ['etc/', 'etc/app.conf'],
    check: (o) => expect(o.entries[1]).toMatchObject({ mtime: T, sha256: createHash('sha256').update('BBBB').digest('hex') }),
  },
  {
    id: 20, title: 'replaced by rename with the old mtime → caught (new inode)',
    setup: [(root) => { writeFileSync(join(root, 'etc/app.conf'), 'AAAA'); utimesSync(join(root, 'etc/app.conf'), T, T); }],
    step: sh('printf BBBB >/tmp/x && touch -r /etc/app.conf /tmp/x && mv /tmp/x /etc/app.conf'),
    expect: ['etc/', 'etc/app.conf'],
  },
  {
    id: 21, title: 'setuid and sticky modes survive, also after re-extraction',
    setup: [sh('mkdir -p /usr/local/bin && echo "#!/bin/sh" >/usr/local/bin/tool')],
    step: sh('chown 0:0 /usr/local/bin/tool && chmod 4755 /usr/local/bin/tool && mkdir -m 1777 /scratch'),
    expect: ['scratch/', 'usr/', 'usr/local/', 'usr/local/bin/', 'usr/local/bin/tool'],
    check: async (o, { base, env }) => {
      expect(o.entries[0]!.mode).toBe(0o1777);
      expect(o.entries[4]!.mode).toBe(0o4755);
      const tree = await extracted(base, o.layer!, env.dir);
      expect(tree.find((e) => e.path === 'usr/local/bin/tool')!.mode).toBe(0o4755);
      expect(tree.find((e) => e.path === 'scratch')!.mode).toBe(0o1777);
    },
  },
  {
    id: 22, title: 'setcap → the file with a v2 security.capability record; getcap after extraction',
    setup: [sh('mkdir -p /usr/bin && cp /bin/busybox /usr/bin/ping')],
    step: (root) => { execFileSync('setcap', ['cap_net_raw+ep', join(root, 'usr/bin/ping')]); },
    expect: ['usr/', 'usr/bin/', 'usr/bin/ping'],
    check: async (o, { base, env }) => {
      const cap = o.entries[2]!.pax['SCHILY.xattr.security.capability'];
      expect(Buffer.from(cap!, 'latin1').toString('hex')).toBe(CAP_NET_RAW_V2);
      const dest = join(env.dir, `x22-${Math.random().toString(36).slice(2)}`);
      await materializeInto(appendLayers(base, { layer: o.layer! }), dest);
      expect(execFileSync('getcap', [join(dest, 'usr/bin/ping')]).toString()).toMatch(/cap_net_raw=ep/);
    },
  },
  {
    id: 23, title: 'setcap -r of a base file with caps → the file without the record',
    setup: [sh('mkdir -p /usr/bin && cp /bin/busybox /usr/bin/ping'), (root) => { execFileSync('setcap', ['cap_net_raw+ep', join(root, 'usr/bin/ping')]); }],
    step: (root) => { execFileSync('setcap', ['-r', join(root, 'usr/bin/ping')]); },
    expect: ['usr/', 'usr/bin/', 'usr/bin/ping'],
    check: async (o, { base, env }) => {
      expect(Object.keys(o.entries[2]!.pax)).toEqual([]);
      const tree = await extracted(base, o.layer!, env.dir);
      expect(tree.find((e) => e.path === 'usr/bin/ping')!.xattrs).toBeUndefined();
    },
  },
  {
    id: 24, title: 'user.* xattrs are kept (policy, as buildah); on a file and on a dir',
    setup: [sh('echo >/f24 && mkdir /d24')],
    step: (root) => {
      execFileSync('setfattr', ['-n', 'user.foo', '-v', 'bar', join(root, 'f24')]);
      execFileSync('setfattr', ['-n', 'user.dir', '-v', 'yes', join(root, 'd24')]);
    },
    expect: ['d24/', 'f24'],
    check: (o) => {
      expect(o.entries[0]!.pax).toEqual({ 'SCHILY.xattr.user.dir': 'yes' });
      expect(o.entries[1]!.pax).toEqual({ 'SCHILY.xattr.user.foo': 'bar' });
    },
  },
  {
    id: 25, title: 'security.selinux labels never travel',
    setup: [sh('echo >/f25')],
    step: (root) => {
      xattr.set(join(root, 'f25'), 'security.selinux', Buffer.from('system_u:object_r:etc_t:s0\0'));
      execFileSync('setfattr', ['-n', 'user.x', '-v', '1', join(root, 'f25')]);
    },
    expect: ['f25'],
    check: (o) => expect(o.entries[0]!.pax).toEqual({ 'SCHILY.xattr.user.x': '1' }),
  },
];

hardCaseSuite('hard cases 15-25: metadata-only changes', cases);
