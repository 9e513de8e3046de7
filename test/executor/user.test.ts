import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExecutorError, resolveUser } from '../../src/index.js';
import { tmpDir } from '../helpers/tmp.js';

const PASSWD = `root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
cnb:x:1000:1001::/home/cnb:/bin/sh
nohome:x:1002:1002:::/bin/sh
broken:x:notanumber:0::/x:/bin/sh
42:x:4200:4200::/home/fortytwo:/bin/sh
`;
const GROUP = `root:x:0:
daemon:x:1:
wheel:x:10:root,cnb
cnb:x:1001:
docker:x:999:cnb,other
staff:x:50:
`;

async function rootfs(files: { passwd?: string; group?: string } = { passwd: PASSWD, group: GROUP }): Promise<string> {
  const root = await tmpDir();
  mkdirSync(join(root, 'etc'));
  if (files.passwd !== undefined) writeFileSync(join(root, 'etc/passwd'), files.passwd);
  if (files.group !== undefined) writeFileSync(join(root, 'etc/group'), files.group);
  return root;
}

describe('resolveUser', () => {
  it('resolves names and uids from passwd, with supplementary groups from group', async () => {
    const root = await rootfs();
    expect(await resolveUser(root, '')).toEqual({ uid: 0, gid: 0, groups: [10], home: '/root', name: 'root' });
    expect(await resolveUser(root, 'root')).toEqual({ uid: 0, gid: 0, groups: [10], home: '/root', name: 'root' });
    expect(await resolveUser(root, 'cnb')).toEqual({ uid: 1000, gid: 1001, groups: [10, 999], home: '/home/cnb', name: 'cnb' });
    expect(await resolveUser(root, '1000')).toEqual({ uid: 1000, gid: 1001, groups: [10, 999], home: '/home/cnb', name: 'cnb' });
    expect(await resolveUser(root, 'nohome')).toMatchObject({ uid: 1002, home: '/' });
    // A numeric user is always a uid (runc GetExecUser): the entry named "42" is not user 42.
    expect(await resolveUser(root, '42')).toEqual({ uid: 42, gid: 0, groups: [], home: '/' });
    expect(await resolveUser(root, '4200')).toEqual({ uid: 4200, gid: 4200, groups: [], home: '/home/fortytwo', name: '42' });
    expect(await resolveUser(root, '001000')).toMatchObject({ uid: 1000, name: 'cnb' });
  });

  it('"" is uid 0: the first uid-0 entry whatever its name, else 0:0 with HOME=/', async () => {
    const toor = await rootfs({ passwd: 'toor:x:0:0::/var/toor:/bin/sh\nroot:x:0:0::/root:/bin/sh\n', group: 'adm:x:4:toor\n' });
    expect(await resolveUser(toor, '')).toEqual({ uid: 0, gid: 0, groups: [4], home: '/var/toor', name: 'toor' });
    const noRoot = await rootfs({ passwd: 'cnb:x:1000:1000::/home/cnb:/bin/sh\n' });
    expect(await resolveUser(noRoot, '')).toEqual({ uid: 0, gid: 0, groups: [], home: '/' });
    // Distroless: no /etc at all.
    const empty = await tmpDir();
    expect(await resolveUser(empty, '')).toEqual({ uid: 0, gid: 0, groups: [], home: '/' });
    expect(await resolveUser(empty, ':5')).toEqual({ uid: 0, gid: 5, groups: [], home: '/' });
    expect(await resolveUser(empty, '0')).toEqual({ uid: 0, gid: 0, groups: [], home: '/' });
  });

  it('a name is never taken for root, even "root", when passwd lacks it', async () => {
    const noRoot = await rootfs({ passwd: 'cnb:x:1000:1000::/home/cnb:/bin/sh\n' });
    const e = await resolveUser(noRoot, 'root').catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'UNKNOWN_USER', root: noRoot, path: join(noRoot, 'etc/passwd') });
    expect((e as Error).message).toBe(`unable to find user root: no matching entry in ${join(noRoot, 'etc/passwd')}`);
    const empty = await tmpDir();
    const f = await resolveUser(empty, 'root').catch((x: unknown) => x);
    expect(f).toMatchObject({ code: 'UNKNOWN_USER', path: join(empty, 'etc/passwd') });
    expect((f as Error).message).toBe(`unable to find user root: the rootfs has no /etc/passwd (${join(empty, 'etc/passwd')})`);
    await expect(resolveUser(empty, 'root:0')).rejects.toMatchObject({ code: 'UNKNOWN_USER' });
  });

  it('takes an explicit group by name or gid, without supplementary groups', async () => {
    const root = await rootfs();
    expect(await resolveUser(root, 'cnb:docker')).toEqual({ uid: 1000, gid: 999, groups: [], home: '/home/cnb', name: 'cnb' });
    expect(await resolveUser(root, 'cnb:50')).toMatchObject({ gid: 50, groups: [] });
    expect(await resolveUser(root, 'cnb:7777')).toMatchObject({ gid: 7777, groups: [] });
    expect(await resolveUser(root, '1000:0')).toMatchObject({ uid: 1000, gid: 0, groups: [] });
    expect(await resolveUser(root, ':staff')).toMatchObject({ uid: 0, gid: 50 });
    // A numeric group is always a gid, even when a group is named like a number.
    const numbered = await rootfs({ passwd: PASSWD, group: `${GROUP}999:x:1234:\n` });
    expect(await resolveUser(numbered, 'cnb:999')).toMatchObject({ gid: 999 });
    expect(await resolveUser(numbered, 'cnb:1234')).toMatchObject({ gid: 1234 });
    await expect(resolveUser(root, 'cnb:4294967295')).rejects.toMatchObject({ code: 'UNKNOWN_GROUP' });
  });

  it('allows numeric ids absent from passwd (gid 0, home /), like Docker', async () => {
    const root = await rootfs();
    expect(await resolveUser(root, '12345')).toEqual({ uid: 12345, gid: 0, groups: [], home: '/' });
    expect(await resolveUser(root, '12345:678')).toEqual({ uid: 12345, gid: 678, groups: [], home: '/' });
    const bare = await rootfs({});
    expect(await resolveUser(bare, '1000:1000')).toEqual({ uid: 1000, gid: 1000, groups: [], home: '/' });
    expect(await resolveUser(bare, '')).toEqual({ uid: 0, gid: 0, groups: [], home: '/' });
  });

  it('rejects an unknown user or group name, naming it and the rootfs file', async () => {
    const root = await rootfs();
    const e = await resolveUser(root, 'ghost').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ExecutorError);
    expect(e).toMatchObject({ code: 'UNKNOWN_USER', root, path: join(root, 'etc/passwd') });
    expect((e as Error).message).toContain('ghost');
    expect((e as Error).message).toContain(join(root, 'etc/passwd'));
    const g = await resolveUser(root, 'cnb:ghosts').catch((x: unknown) => x);
    expect(g).toMatchObject({ code: 'UNKNOWN_GROUP', path: join(root, 'etc/group') });
    expect((g as Error).message).toContain('ghosts');
    const bare = await rootfs({});
    await expect(resolveUser(bare, 'cnb')).rejects.toThrow(/cnb: the rootfs has no \/etc\/passwd/);
    await expect(resolveUser(root, 'a:b:c')).rejects.toMatchObject({ code: 'BAD_USER' });
    await expect(resolveUser(root, '4294967295')).rejects.toMatchObject({ code: 'UNKNOWN_USER' }); // (uid_t)-1 is not an id
  });

  it('never reads passwd or group outside the rootfs through symlinks', async () => {
    // Absolute and climbing links resolve inside the rootfs, where there is no such file.
    const a = await tmpDir();
    symlinkSync('/', join(a, 'etc')); // /etc/passwd is <root>/passwd: absent
    expect(await resolveUser(a, '0')).toEqual({ uid: 0, gid: 0, groups: [], home: '/' });
    await expect(resolveUser(a, 'root')).rejects.toMatchObject({ code: 'UNKNOWN_USER' });
    await expect(resolveUser(a, 'daemon')).rejects.toMatchObject({ code: 'UNKNOWN_USER' }); // the host's /etc/passwd has daemon

    const loop = await tmpDir();
    symlinkSync('/etc', join(loop, 'etc')); // inside the rootfs this points at itself
    await expect(resolveUser(loop, 'root')).rejects.toThrow(/too many levels of symbolic links/);

    const host = await tmpDir();
    writeFileSync(join(host, 'passwd'), PASSWD); // a passwd on the host, with daemon
    const b = await tmpDir();
    mkdirSync(join(b, 'etc'));
    symlinkSync(`../../../../../../../..${host}/passwd`, join(b, 'etc/passwd'));
    await expect(resolveUser(b, 'daemon')).rejects.toMatchObject({ code: 'UNKNOWN_USER' });
    mkdirSync(join(b, host), { recursive: true });
    writeFileSync(join(b, host, 'passwd'), 'other:x:7:7::/o:/bin/sh\n'); // the same path inside the rootfs is the one read
    expect(await resolveUser(b, 'other')).toMatchObject({ uid: 7 });

    // A link that stays inside the rootfs is followed.
    const c = await tmpDir();
    mkdirSync(join(c, 'usr/etc'), { recursive: true });
    writeFileSync(join(c, 'usr/etc/passwd'), PASSWD);
    symlinkSync('usr/etc', join(c, 'etc'));
    expect(await resolveUser(c, 'cnb')).toMatchObject({ uid: 1000, home: '/home/cnb' });

    // A FIFO is not opened (it would block): treated as absent.
    const d = await tmpDir();
    mkdirSync(join(d, 'etc'));
    const { mknod } = await import('../../snapshot/index.js');
    mknod(join(d, 'etc/passwd'), 0o010644, 0, 0);
    expect(await resolveUser(d, '0')).toEqual({ uid: 0, gid: 0, groups: [], home: '/' });
  });
});
