import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ChrootExecutor, ExecutorError, type BindMount } from '../../src/index.js';
import { isRoot } from '../helpers/fixtures.js';
import { tmpDir } from '../helpers/tmp.js';
import { distroless, journalsBeside, mountsUnder, mountTable, runIn, sh, treeState, unpackFixture } from './rootfs.js';

/** Only shell builtins exist in distroless roots: `read` prints a file's first line. */
const firstLine = (p: string) => `read -r l < ${p} && echo "$l"`;

async function hostDir(files: Record<string, string> = {}): Promise<string> {
  const d = await tmpDir('cnbx-bind-src-');
  chmodSync(d, 0o755);
  for (const [name, data] of Object.entries(files)) {
    mkdirSync(dirname(join(d, name)), { recursive: true });
    writeFileSync(join(d, name), data);
  }
  return d;
}

async function hostFile(data: string, mode = 0o644): Promise<string> {
  const f = join(await hostDir(), 'file');
  writeFileSync(f, data);
  chmodSync(f, mode);
  return f;
}

describe.skipIf(!isRoot)('ProcessSpec.binds on the busybox fixture', () => {
  let scratch: string;
  let root: string; // shared: every test must leave it exactly as it was
  let before: Map<string, string>;
  const ex = new ChrootExecutor({ graceMs: 1000 });

  beforeAll(() => {
    scratch = mkdtempSync('/var/tmp/cnbx-exec-binds-');
    root = unpackFixture('busybox', scratch);
    before = treeState(root);
  });
  afterEach(() => {
    expect(treeState(root)).toEqual(before);
    expect(mountsUnder(root)).toEqual([]);
    expect(journalsBeside(root)).toEqual([]); // a run that ends deletes its journal
  });
  afterAll(() => {
    rmSync(scratch, { recursive: true, force: true });
  });

  it('binds a directory read-write on a missing target, parents included, and removes the placeholders', async () => {
    const src = await hostDir({ 'in.txt': 'from host\n' });
    const r = await runIn(ex, root, sh('cat /a/b/work/in.txt; echo out > /a/b/work/out.txt; ls /a/b/work'), { binds: [{ source: src, target: '/a/b/work' }] });
    expect(r).toMatchObject({ exitCode: 0, stdout: ['from host', 'in.txt', 'out.txt'] });
    expect(readFileSync(join(src, 'out.txt'), 'utf8')).toBe('out\n');
  });

  it('binds on an existing directory without touching what it hides', async () => {
    const src = await hostDir({ 'mine': 'x' });
    const r = await runIn(ex, root, sh('ls -A /home/cnb; touch /home/cnb/new'), { binds: [{ source: src, target: '/home/cnb' }] });
    expect(r.stdout).toEqual(['mine']);
    expect(existsSync(join(src, 'new'))).toBe(true);
  });

  it('read-only binds refuse writes, in submounts of the source too', async () => {
    const src = await hostDir({ f: 'ro content\n' });
    const sub = join(src, 'sub');
    mkdirSync(sub);
    execFileSync('mount', ['-t', 'tmpfs', 'cnbx-test-sub', sub]);
    try {
      writeFileSync(join(sub, 'host-can-write'), 'yes'); // the submount itself is writable
      const r = await runIn(
        ex,
        root,
        sh(`cat /ro/f
          echo x > /ro/new 2>/dev/null || echo ro-top
          echo x > /ro/sub/new 2>/dev/null || echo ro-sub
          cat /ro/sub/host-can-write; echo
          echo y > /rw/sub/new && echo rw-sub`),
        { binds: [{ source: src, target: '/ro', readOnly: true }, { source: src, target: '/rw' }] },
      );
      expect(r.stdout).toEqual(['ro content', 'ro-top', 'ro-sub', 'yes', 'rw-sub']);
      expect(readFileSync(join(sub, 'new'), 'utf8')).toBe('y\n');
      expect(existsSync(join(src, 'new'))).toBe(false);
    } finally {
      execFileSync('umount', [sub]);
    }
  });

  it('a #! script bound read-only on /dev/pipes/EOF runs for root and other users, in the run\'s /dev only', async () => {
    const script = await hostFile('#!/bin/sh\necho "script $(id -u) $0"\necho x >> /dev/pipes/EOF 2>/dev/null || echo ro\n', 0o755);
    const binds: BindMount[] = [{ source: script, target: '/dev/pipes/EOF', readOnly: true }];
    expect((await runIn(ex, root, ['/bin/sh', '-c', '/dev/pipes/EOF'], { binds })).stdout).toEqual(['script 0 /dev/pipes/EOF', 'ro']);
    expect((await runIn(ex, root, ['/bin/sh', '-c', '/dev/pipes/EOF'], { binds, user: 'cnb' })).stdout).toEqual(['script 1000 /dev/pipes/EOF', 'ro']);
    // The rest of /dev is the usual one.
    const r = await runIn(ex, root, sh('test -c /dev/null && ls /dev/pipes && grep -c " /dev/pipes/EOF " /proc/self/mountinfo'), { binds });
    expect(r.stdout).toEqual(['EOF', '1']);
    expect(readFileSync(script, 'utf8')).toMatch(/^#!\/bin\/sh\n/);
  });

  it('binds a file read-write on an existing file and on a missing one', async () => {
    const group = await hostFile('g:x:1:\n');
    const state = await hostFile('0\n');
    const r = await runIn(ex, root, sh('cat /etc/group; echo more >> /etc/group; cat /var/lib/state; echo 1 > /var/lib/state'), {
      binds: [{ source: group, target: '/etc/group' }, { source: state, target: '/var/lib/state' }],
    });
    expect(r.stdout).toEqual(['g:x:1:', '0']);
    expect(readFileSync(group, 'utf8')).toBe('g:x:1:\nmore\n');
    expect(readFileSync(state, 'utf8')).toBe('1\n');
  });

  it('a bind target can be the working directory (the builder runs in <app>)', async () => {
    const app = await hostDir({ 'Procfile': 'web: x\n' });
    chownSync(app, 1000, 1000);
    const r = await runIn(ex, root, sh('pwd; ls; touch made-here'), { binds: [{ source: app, target: '/srv/app' }], cwd: '/srv/app', user: '1000:1000' });
    expect(r.stdout).toEqual(['/srv/app', 'Procfile']);
    expect(existsSync(join(app, 'made-here'))).toBe(true);
  });

  const refusals: { name: string; binds: (d: string, f: string) => BindMount[]; code: string; message: RegExp; path?: (d: string) => string }[] = [
    { name: 'a target in /proc', binds: (d) => [{ source: d, target: '/proc/x' }], code: 'UNSAFE_ROOTFS', message: /\/proc\/x resolves into \/proc/ },
    { name: 'a target in /sys', binds: (d) => [{ source: d, target: '/sys/kernel' }], code: 'UNSAFE_ROOTFS', message: /\/sys\/kernel resolves into \/sys/ },
    { name: '/proc itself', binds: (d) => [{ source: d, target: '/./proc/' }], code: 'UNSAFE_ROOTFS', message: /into \/proc/ },
    { name: '/dev itself', binds: (d) => [{ source: d, target: '/dev' }], code: 'UNSAFE_ROOTFS', message: /\/dev itself/ },
    { name: 'the root itself', binds: (d) => [{ source: d, target: '/tmp/..' }], code: 'UNSAFE_ROOTFS', message: /rootfs itself/ },
    { name: 'overlapping targets', binds: (d) => [{ source: d, target: '/w' }, { source: d, target: '/w/x/../x' }], code: 'BAD_SPEC', message: /bind targets \/w and \/w\/x\/\.\.\/x overlap/ },
    { name: 'the same target twice', binds: (d) => [{ source: d, target: '/dev/a' }, { source: d, target: '/dev/./a' }], code: 'BAD_SPEC', message: /overlap/ },
    { name: 'a symlink of the run\'s /dev', binds: (_d, f) => [{ source: f, target: '/dev/fd/7' }], code: 'MOUNT', message: /\/dev\/fd\/7: fd in the run's \/dev is a symlink/ },
    { name: 'a directory on an existing file', binds: (d) => [{ source: d, target: '/etc/group' }], code: 'UNSAFE_ROOTFS', message: /\/etc\/group exists in the rootfs and is not a directory/ },
    { name: 'a file on an existing directory', binds: (_d, f) => [{ source: f, target: '/etc' }], code: 'UNSAFE_ROOTFS', message: /\/etc is a directory/ },
    { name: 'a relative target', binds: (d) => [{ source: d, target: 'etc' }], code: 'BAD_SPEC', message: /bind target etc is not absolute/, path: () => 'etc' },
    { name: 'a missing source', binds: (d) => [{ source: join(d, 'nope'), target: '/x' }], code: 'BAD_SPEC', message: /bind source .*nope: ENOENT/, path: (d) => join(d, 'nope') },
  ];
  for (const t of refusals) {
    it(`refuses ${t.name}, mounting and creating nothing`, async () => {
      const d = await hostDir();
      const f = await hostFile('x');
      const mounts = mountTable(root);
      const e = await runIn(ex, root, sh('echo ran'), { binds: t.binds(d, f) }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ExecutorError);
      expect(e).toMatchObject({ code: t.code, root });
      expect((e as Error).message).toMatch(t.message);
      if (t.path) expect((e as ExecutorError).path).toBe(t.path(d));
      expect(mountTable(root)).toEqual(mounts);
    });
  }
});

describe.skipIf(!isRoot)('ProcessSpec.binds through hostile symlinks', () => {
  async function setup() {
    const d = await tmpDir();
    const root = distroless(d);
    return { root, ex: new ChrootExecutor({ resolvConf: null, hosts: null }) };
  }

  it('<root>/escape -> / : the bind lands inside the rootfs, never on the host', async () => {
    const { root, ex } = await setup();
    symlinkSync('/', join(root, 'escape'));
    symlinkSync('../../../../../../..', join(root, 'up'));
    const name = `cnbx-bind-escape-${process.pid}-${Date.now()}`;
    const src = await hostDir({ f: 'bound\n' });
    const mounts = mountTable(root);
    const before = treeState(root);
    const r = await runIn(ex, root, ['/bin/sh', '-c', `${firstLine(`/tmp/${name}/f`)}; ${firstLine(`/etc/${name}/f`)}`], {
      env: [],
      binds: [{ source: src, target: `/escape/tmp/${name}` }, { source: src, target: `/up/etc/${name}` }],
    });
    expect(r.stdout).toEqual(['bound', 'bound']);
    expect(existsSync(`/tmp/${name}`)).toBe(false);
    expect(mountsUnder(`/tmp/${name}`)).toEqual([]);
    expect(existsSync(`/etc/${name}`)).toBe(false);
    expect(treeState(root)).toEqual(before); // placeholders <root>/tmp/<name>, <root>/etc/<name> removed
    expect(mountTable(root)).toEqual(mounts);
  });

  it('a symlink into /dev sends the bind to the run\'s /dev tmpfs; one into /proc is refused', async () => {
    const { root, ex } = await setup();
    symlinkSync('/dev', join(root, 'lnk'));
    symlinkSync('/proc/self', join(root, 'p'));
    const f = await hostFile('in dev\n');
    const before = treeState(root);
    const r = await runIn(ex, root, ['/bin/sh', '-c', firstLine('/dev/pipes/x')], { env: [], binds: [{ source: f, target: '/lnk/pipes/x', readOnly: true }] });
    expect(r.stdout).toEqual(['in dev']);
    expect(treeState(root)).toEqual(before); // only the /dev placeholder was made in the rootfs, and removed
    const e = await runIn(ex, root, ['/bin/sh', '-c', 'true'], { env: [], binds: [{ source: f, target: '/p/environ' }] }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'UNSAFE_ROOTFS' });
    expect((e as Error).message).toMatch(/\/p\/environ resolves into \/proc/);
    expect(treeState(root)).toEqual(before);
  });

  it('a symlink to a directory inside the rootfs is followed, like runc does', async () => {
    const { root, ex } = await setup();
    mkdirSync(join(root, 'opt/real'), { recursive: true });
    symlinkSync('opt/real', join(root, 'link'));
    const src = await hostDir({ f: 'via link\n' });
    const before = treeState(root);
    const r = await runIn(ex, root, ['/bin/sh', '-c', firstLine('/opt/real/d/f')], { env: [], binds: [{ source: src, target: '/link/d' }] });
    expect(r.stdout).toEqual(['via link']);
    expect(treeState(root)).toEqual(before);
  });
});
