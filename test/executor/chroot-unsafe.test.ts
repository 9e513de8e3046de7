import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChrootExecutor, ExecutorError } from '../../src/index.js';
import { isRoot } from '../helpers/fixtures.js';
import { tmpDir } from '../helpers/tmp.js';
import { distroless, mountsUnder, mountTable, runIn, treeState } from './rootfs.js';

const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

/** Only shell builtins exist in these roots: `read` prints a file's first line. */
const firstLine = (p: string) => `read -r l < ${p} && echo "$l"`;

async function setup() {
  const d = await tmpDir();
  const root = distroless(d);
  writeFileSync(join(d, 'resolv'), 'nameserver 192.0.2.53\n');
  writeFileSync(join(d, 'hosts'), '192.0.2.1 registry.test\n');
  const ex = new ChrootExecutor({ resolvConf: join(d, 'resolv'), hosts: join(d, 'hosts') });
  return { root, ex };
}

describe.skipIf(!isRoot)('ChrootExecutor on odd and hostile rootfs', () => {
  it('runs in a distroless rootfs (only /bin/sh) and leaves it exactly as it was', async () => {
    const { root, ex } = await setup();
    const before = treeState(root);
    expect([...before.keys()]).toEqual(['.', 'bin', 'bin/sh']);
    const r = await runIn(ex, root, ['/bin/sh', '-c', `echo hi; ${firstLine('/etc/resolv.conf')}; ${firstLine('/etc/hosts')}; test -c /dev/null && echo dev; test -d /proc/self && echo proc; echo $$`], { env: [] });
    expect(r).toMatchObject({ exitCode: 0, stdout: ['hi', 'nameserver 192.0.2.53', '192.0.2.1 registry.test', 'dev', 'proc', '2'] });
    expect(treeState(root)).toEqual(before);
    expect(mountsUnder(root)).toEqual([]);
  });

  it('runs RUN without USER as 0:0 with HOME=/ when the rootfs has no /etc/passwd; numeric users too', async () => {
    const { root, ex } = await setup();
    const before = treeState(root);
    const ids = 'while read -r k a b c d; do case $k in Uid:|Gid:) echo "$k $a $b $c $d";; Groups:) echo "$k $a $b";; esac; done < /proc/self/status; echo "HOME=$HOME"';
    const r = await runIn(ex, root, ['/bin/sh', '-c', ids], { env: [] });
    expect(r).toMatchObject({ exitCode: 0, stdout: ['Uid: 0 0 0 0', 'Gid: 0 0 0 0', 'Groups:  ', 'HOME=/'] });
    const n = await runIn(ex, root, ['/bin/sh', '-c', ids], { env: [], user: '1234:5678' });
    expect(n.stdout).toEqual(['Uid: 1234 1234 1234 1234', 'Gid: 5678 5678 5678 5678', 'Groups:  ', 'HOME=/']);
    const u = await runIn(ex, root, ['/bin/sh', '-c', ids], { env: [], user: '1234' });
    expect(u.stdout).toEqual(['Uid: 1234 1234 1234 1234', 'Gid: 0 0 0 0', 'Groups:  ', 'HOME=/']);
    expect(treeState(root)).toEqual(before);
  });

  it('refuses USER root (a name) when the rootfs has no /etc/passwd, naming the user and the file', async () => {
    const { root, ex } = await setup();
    const before = treeState(root);
    const e = await runIn(ex, root, ['/bin/sh', '-c', 'echo ran'], { env: [], user: 'root' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ExecutorError);
    expect(e).toMatchObject({ code: 'UNKNOWN_USER', root, path: join(root, 'etc/passwd') });
    expect((e as Error).message).toContain('unable to find user root');
    expect((e as Error).message).toContain(join(root, 'etc/passwd'));
    expect(treeState(root)).toEqual(before);
  });

  it('<root>/etc -> / : resolv.conf and hosts land inside the rootfs, not on the host', async () => {
    const { root, ex } = await setup();
    symlinkSync('/', join(root, 'etc'));
    const hostResolv = sha('/etc/resolv.conf');
    const mounts = mountTable(root);
    const before = treeState(root);
    // Inside, /etc is the root: the files are bound on /resolv.conf and /hosts of the rootfs.
    const r = await runIn(ex, root, ['/bin/sh', '-c', `${firstLine('/etc/resolv.conf')}; ${firstLine('/resolv.conf')}; while read -r a b c d e f; do echo "$e"; done < /proc/self/mountinfo`], { env: [] });
    expect(r.stdout[0]).toBe('nameserver 192.0.2.53');
    expect(r.stdout[1]).toBe('nameserver 192.0.2.53');
    expect(r.stdout).toEqual(expect.arrayContaining(['/resolv.conf', '/hosts', '/proc', '/dev', '/sys']));
    expect(r.stdout).not.toContain('/etc/resolv.conf');
    expect(treeState(root)).toEqual(before); // placeholders /resolv.conf and /hosts removed again
    expect(readlinkSync(join(root, 'etc'))).toBe('/');
    expect(sha('/etc/resolv.conf')).toBe(hostResolv);
    expect(mountTable(root)).toEqual(mounts);
  });

  it('<root>/etc/resolv.conf -> a host path is bound at that path inside the rootfs', async () => {
    const { root, ex } = await setup();
    mkdirSync(join(root, 'etc'));
    symlinkSync('/etc/hostname', join(root, 'etc/resolv.conf'));
    symlinkSync('../../../../../../etc/passwd', join(root, 'etc/hosts'));
    const hostHostname = sha('/etc/hostname');
    const hostPasswd = sha('/etc/passwd');
    const before = treeState(root);
    const r = await runIn(ex, root, ['/bin/sh', '-c', `${firstLine('/etc/resolv.conf')}; ${firstLine('/etc/hostname')}; ${firstLine('/etc/passwd')}`], { env: [] });
    expect(r.stdout).toEqual(['nameserver 192.0.2.53', 'nameserver 192.0.2.53', '192.0.2.1 registry.test']);
    expect(sha('/etc/hostname')).toBe(hostHostname);
    expect(sha('/etc/passwd')).toBe(hostPasswd);
    expect(treeState(root)).toEqual(before); // etc/hostname and etc/passwd placeholders gone
  });

  for (const [name, link] of [
    ['proc', '/'],
    ['proc', '../../..'],
    ['dev', '/dev'],
    ['sys', '/sys'],
    ['dev', 'bin'],
  ] as const) {
    it(`refuses <root>/${name} -> ${link} and mounts nothing`, async () => {
      const { root, ex } = await setup();
      symlinkSync(link, join(root, name));
      const mounts = mountTable(root);
      const before = treeState(root);
      const e = await runIn(ex, root, ['/bin/sh', '-c', 'echo ran'], { env: [] }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ExecutorError);
      expect(e).toMatchObject({ code: 'UNSAFE_ROOTFS', root });
      expect((e as Error).message).toContain(`/${name}`);
      expect(mountTable(root)).toEqual(mounts);
      expect(treeState(root)).toEqual(before);
    });
  }

  it('refuses a file target that resolves into /dev (it would be hidden by the /dev mount)', async () => {
    const { root, ex } = await setup();
    mkdirSync(join(root, 'etc'));
    symlinkSync('/dev/hosts', join(root, 'etc/hosts'));
    const before = treeState(root);
    const e = await runIn(ex, root, ['/bin/sh', '-c', 'true'], { env: [] }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'UNSAFE_ROOTFS' });
    expect((e as Error).message).toMatch(/\/etc\/hosts.*inside \/dev/);
    expect(treeState(root)).toEqual(before);
  });

  it('refuses a mount target that is not of the right type', async () => {
    const { root, ex } = await setup();
    writeFileSync(join(root, 'proc'), 'not a dir');
    mkdirSync(join(root, 'etc/resolv.conf'), { recursive: true });
    const e = await runIn(ex, root, ['/bin/sh', '-c', 'true'], { env: [] }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'UNSAFE_ROOTFS' });
    expect((e as Error).message).toMatch(/\/proc.*not a directory/);
  });

  it('a symlinked working directory resolves inside the rootfs', async () => {
    const { root, ex } = await setup();
    mkdirSync(join(root, 'work'));
    symlinkSync('/work', join(root, 'w'));
    writeFileSync(join(root, 'work/marker'), 'in-rootfs\n');
    const r = await runIn(ex, root, ['/bin/sh', '-c', firstLine('marker')], { env: [], cwd: '/w' });
    expect(r.stdout).toEqual(['in-rootfs']);
  });
});
