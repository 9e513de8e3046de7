import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChrootExecutor } from '../../src/index.js';
import { isRoot } from '../helpers/fixtures.js';
import { tmpDir } from '../helpers/tmp.js';
import { journalsBeside, mountsUnder, runIn, treeState, unpackFixture } from './rootfs.js';

const bash = (script: string) => ['bash', '-c', script];

describe.skipIf(!isRoot)('ChrootExecutor on the debian fixture', () => {
  let scratch: string;
  let root: string;
  let before: Map<string, string>;
  const ex = new ChrootExecutor({ graceMs: 1000 });

  beforeAll(() => {
    scratch = mkdtempSync('/var/tmp/cnbx-exec-deb-');
    root = unpackFixture('debian', scratch);
    before = treeState(root);
  });
  afterAll(() => {
    rmSync(scratch, { recursive: true, force: true });
  });

  it('returns exit codes and 128+n for signals', async () => {
    expect((await runIn(ex, root, bash('exit 0'))).exitCode).toBe(0);
    expect((await runIn(ex, root, bash('exit 3'))).exitCode).toBe(3);
    expect((await runIn(ex, root, bash('kill -INT $$'))).exitCode).toBe(130);
    expect((await runIn(ex, root, bash('kill -SEGV $$'))).exitCode).toBe(139);
  });

  it('runs as root or as a passwd user, with groups as Docker would', async () => {
    expect((await runIn(ex, root, ['id'])).stdout).toEqual(['uid=0(root) gid=0(root) groups=0(root)']);
    expect((await runIn(ex, root, ['id'], { user: 'cnb' })).stdout).toEqual(['uid=1000(cnb) gid=1000(cnb) groups=1000(cnb)']);
    expect((await runIn(ex, root, ['id'], { user: 'nobody' })).stdout).toEqual(['uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)']);
    expect((await runIn(ex, root, ['id'], { user: 'cnb:users' })).stdout).toEqual(['uid=1000(cnb) gid=100(users) groups=100(users)']);
    expect((await runIn(ex, root, bash('echo $HOME; test -w ~ && echo writable'), { user: 'cnb' })).stdout).toEqual(['/home/cnb', 'writable']);
  });

  it('keeps env and cwd and finds commands on the given PATH', async () => {
    const r = await runIn(ex, root, bash('pwd; echo "$FOO"; command -v ls'), { cwd: '/usr/share', env: ['FOO=bar baz', 'PATH=/usr/bin:/bin'] });
    expect(r.stdout).toEqual(['/usr/share', 'bar baz', '/usr/bin/ls']);
  });

  it('has Docker\'s default capabilities only, no new privileges flag, and no mounting', async () => {
    const r = await runIn(ex, root, bash("grep -E '^(CapBnd|CapEff|NoNewPrivs):' /proc/self/status; mount -t tmpfs t /mnt 2>/dev/null || echo no-mount"));
    expect(r.stdout.sort()).toEqual(['CapBnd:\t00000000a80425fb', 'CapEff:\t00000000a80425fb', 'NoNewPrivs:\t0', 'no-mount']);
    const u = await runIn(ex, root, bash("grep -E '^CapEff:' /proc/self/status"), { user: 'cnb' });
    expect(u.stdout).toEqual(['CapEff:\t0000000000000000']);
  });

  it('provides working /proc, /dev, /dev/shm, resolv.conf and hosts', async () => {
    const r = await runIn(
      ex,
      root,
      bash(`set -e
        cat /proc/self/status | grep -c '^Pid:'
        echo data > /dev/null; head -c 4 /dev/urandom | wc -c
        stat -c '%F %t:%T' /dev/null
        echo hi > /dev/shm/x; cat /dev/shm/x
        grep -q . /etc/resolv.conf && echo resolv
        getent hosts localhost | awk '{print $1}'
        ps -e >/dev/null 2>&1 || ls /proc | grep -c '^[0-9]'`),
    );
    expect(r.exitCode).toBe(0);
    expect(r.stdout.slice(0, 6)).toEqual(['1', '4', 'character special file 1:3', 'hi', 'resolv', '127.0.0.1']);
  });

  it('runs like the extender\'s builder: <app> and <layers> read-write, <platform> read-only, as 1000:1000 in <app>', async () => {
    const d = await tmpDir('cnbx-builder-');
    const [app, layers, platform] = ['workspace', 'layers', 'platform'].map((n) => join(d, n)) as [string, string, string];
    for (const dir of [app, layers, platform]) mkdirSync(dir, { mode: 0o755 });
    mkdirSync(join(platform, 'env'));
    writeFileSync(join(platform, 'env/FOO'), 'bar');
    writeFileSync(join(app, 'main.go'), 'package main\n');
    chownSync(app, 1000, 1000);
    chownSync(layers, 1000, 1000);
    // Same paths inside as on the host (under the rootfs's /tmp: placeholders there).
    const binds = [{ source: app, target: app }, { source: layers, target: layers }, { source: platform, target: platform, readOnly: true }];
    const r = await runIn(
      ex,
      root,
      bash(`pwd; id -u; id -g; ls
        echo built > ${layers}/out; touch ${app}/compiled
        cat ${platform}/env/FOO; echo
        touch ${platform}/x 2>/dev/null || echo platform-ro`),
      { binds, cwd: app, user: '1000:1000' },
    );
    expect(r).toMatchObject({ exitCode: 0, stdout: [app, '1000', '1000', 'main.go', 'bar', 'platform-ro'] });
    expect(readFileSync(join(layers, 'out'), 'utf8')).toBe('built\n');
    expect(statSync(join(app, 'compiled')).uid).toBe(1000);
    expect(existsSync(join(platform, 'x'))).toBe(false);
    expect(treeState(root)).toEqual(before);
    expect(journalsBeside(root)).toEqual([]);
  });

  it('a /dev/pipes bind leaves the rootfs\'s own /dev untouched', async () => {
    const d = await tmpDir();
    writeFileSync(join(d, 'EOF'), '#!/bin/bash\necho "$BASH_VERSION" | cut -d. -f1\n', { mode: 0o755 });
    const r = await runIn(ex, root, ['/bin/sh', '-c', '/dev/pipes/EOF'], { binds: [{ source: join(d, 'EOF'), target: '/dev/pipes/EOF', readOnly: true }], user: 'cnb' });
    expect(r.stdout).toEqual(['5']);
    expect(treeState(root)).toEqual(before);
  });

  it('never shows its mounts to the host and leaves the tree exactly as it was', async () => {
    let seen: string[] = ['not checked'];
    await runIn(ex, root, bash('echo go; sleep 0.3'), { onStdout: () => (seen = mountsUnder(root)) });
    expect(seen).toEqual([]);
    expect(mountsUnder(root)).toEqual([]);
    expect(treeState(root)).toEqual(before);
  });
});
