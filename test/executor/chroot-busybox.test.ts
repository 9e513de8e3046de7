import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChrootExecutor, ExecutorError } from '../../src/index.js';
import { encodeSpec } from '../../src/executor/helper-protocol.js';
import { helperPath } from '../../snapshot/index.js';
import { isRoot } from '../helpers/fixtures.js';
import { tmpDir } from '../helpers/tmp.js';
import { mountsUnder, processesWithArgv, runIn, sh, treeState, unpackFixture } from './rootfs.js';

// Real chroot runs need root (namespaces, mounts, pivot_root).
describe.skipIf(!isRoot)('ChrootExecutor on the busybox fixture', () => {
  let scratch: string;
  let root: string; // shared and never modified by these tests (checked at the end)
  let before: Map<string, string>;
  const ex = new ChrootExecutor({ graceMs: 1000 });

  beforeAll(() => {
    scratch = mkdtempSync('/var/tmp/cnbx-exec-bb-');
    root = unpackFixture('busybox', scratch);
    before = treeState(root);
  });
  afterAll(() => {
    rmSync(scratch, { recursive: true, force: true });
  });

  it('returns the exit code: 0, 3, and 128+n for a signal', async () => {
    expect((await runIn(ex, root, sh('exit 0'))).exitCode).toBe(0);
    expect((await runIn(ex, root, sh('exit 3'))).exitCode).toBe(3);
    expect((await runIn(ex, root, sh('kill -KILL $$'))).exitCode).toBe(137);
    expect((await runIn(ex, root, sh('kill -TERM $$'))).exitCode).toBe(143);
    expect((await runIn(ex, root, ['false'])).exitCode).toBe(1);
  });

  it('passes argv and env byte for byte and runs in cwd', async () => {
    const args = ['a b', "it's", 'two\nlines', '$(id) `id` ${HOME}', 'é ☃', '', '--', '\t*'];
    const r = await runIn(ex, root, sh('for a in "$@"; do printf "<%s>\\n" "$a"; done', ...args));
    expect(r.stdout.join('\n')).toBe(args.map((a) => `<${a}>`).join('\n'));

    const env = ['PATH=/bin:/usr/bin', 'A=x=y z', 'EMPTY=', 'UNI=é☃', 'HOME=/custom'];
    const e = await runIn(ex, root, ['env'], { env });
    expect(e.stdout.sort()).toEqual([...env].sort());

    const c = await runIn(ex, root, ['pwd'], { cwd: '/home/cnb', env: ['PATH=/bin'] });
    expect(c.stdout).toEqual(['/home/cnb']);
  });

  it('adds HOME from /etc/passwd when the environment has none', async () => {
    const u = await runIn(ex, root, ['env'], { env: ['PATH=/bin:/usr/bin'], user: 'cnb' });
    expect(u.stdout.sort()).toEqual(['HOME=/home/cnb', 'PATH=/bin:/usr/bin']);
    expect((await runIn(ex, root, ['/usr/bin/env'], { env: [] })).stdout).toEqual(['HOME=/root']);
  });

  it('looks a bare command up in the PATH of the command environment', async () => {
    expect((await runIn(ex, root, ['true'], { env: ['PATH=/nowhere:/bin'] })).exitCode).toBe(0);
    const e = await runIn(ex, root, ['true'], { env: ['PATH=/nowhere'] }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ExecutorError);
    expect(e).toMatchObject({ code: 'EXEC', errno: 2, root });
    expect((e as Error).message).toMatch(/true: executable file not found in \$PATH/);
    const m = await runIn(ex, root, ['/bin/missing']).catch((x: unknown) => x);
    expect(m).toMatchObject({ code: 'EXEC' });
  });

  it('runs as the resolved uid, gid and groups', async () => {
    expect((await runIn(ex, root, ['id'])).stdout).toEqual(['uid=0(root) gid=0(root)']);
    expect((await runIn(ex, root, ['id'], { user: 'cnb' })).stdout).toEqual(['uid=1000(cnb) gid=1000(cnb)']);
    expect((await runIn(ex, root, ['id'], { user: '1000:0' })).stdout).toEqual(['uid=1000(cnb) gid=0(root)']);
    expect((await runIn(ex, root, sh('id -u; id -g; id -G'), { user: '4242:4343' })).stdout).toEqual(['4242', '4343', '4343']);
    const e = await runIn(ex, root, ['id'], { user: 'nosuchuser' }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'UNKNOWN_USER', path: join(root, 'etc/passwd') });
    expect((e as Error).message).toContain('nosuchuser');
  });

  it('provides /proc of its own PID namespace, /sys read-only, /dev with devices, pts and shm', async () => {
    const r = await runIn(
      ex,
      root,
      sh(`echo pid=$$
        echo self=$(readlink /proc/self | grep -c '^[0-9]*$')
        echo procs=$(ls /proc | grep -c '^[0-9]*$')
        echo x > /dev/null && echo null-ok
        echo zero=$(head -c 5 /dev/zero | wc -c) urandom=$(head -c 7 /dev/urandom | wc -c)
        echo x 2>/dev/null > /dev/full || echo full-refuses
        test -c /dev/null -a -c /dev/zero -a -c /dev/random -a -c /dev/tty && echo chars
        test -d /dev/pts -a -e /dev/ptmx && echo pts
        touch /dev/shm/x && echo shm-ok
        touch /sys/x 2>/dev/null || echo sys-ro
        test -d /sys/kernel && echo sys-has-kernel
        test -L /dev/fd && echo fd-link
        grep -c . /proc/self/mountinfo >/dev/null && echo mountinfo`),
    );
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toEqual([
      'pid=2', // PID 1 is the helper's init
      'self=1',
      expect.stringMatching(/^procs=[1-9]$/),
      'null-ok',
      'zero=5 urandom=7',
      'full-refuses',
      'chars',
      'pts',
      'shm-ok',
      'sys-ro',
      'sys-has-kernel',
      'fd-link',
      'mountinfo',
    ]);
  });

  it('binds the host resolv.conf and hosts read-only', async () => {
    const d = await tmpDir();
    writeFileSync(join(d, 'resolv'), 'nameserver 192.0.2.53\n');
    writeFileSync(join(d, 'hosts'), '192.0.2.1 registry.test\n');
    const ex2 = new ChrootExecutor({ resolvConf: join(d, 'resolv'), hosts: join(d, 'hosts') });
    const r = await runIn(ex2, root, sh('cat /etc/resolv.conf /etc/hosts; echo x >> /etc/resolv.conf 2>/dev/null || echo ro'));
    expect(r.stdout).toEqual(['nameserver 192.0.2.53', '192.0.2.1 registry.test', 'ro']);
    expect(readFileSync(join(d, 'resolv'), 'utf8')).toBe('nameserver 192.0.2.53\n');

    const host = await runIn(ex, root, ['cat', '/etc/resolv.conf']);
    expect(host.stdout.join('\n')).toBe(readFileSync('/etc/resolv.conf', 'utf8').replace(/\n$/, ''));

    const none = new ChrootExecutor({ resolvConf: null, hosts: null });
    expect((await runIn(none, root, sh('test -e /etc/resolv.conf || test -e /etc/hosts || echo absent'))).stdout).toEqual(['absent']);
  });

  it('streams output line by line while the command runs', async () => {
    const t0 = Date.now();
    let firstAt = 0;
    const r = await runIn(ex, root, sh('printf "a\\r\\nb"; echo c; echo err >&2; sleep 1; printf tail'), {
      onStdout: () => {
        firstAt ||= Date.now();
      },
    });
    expect(r.stdout).toEqual(['a', 'bc', 'tail']);
    expect(r.stderr).toEqual(['err']);
    expect(Date.now() - t0 - (firstAt - t0)).toBeGreaterThan(600); // the first line came before the sleep ended
  });

  it('fails clearly when the working directory is missing', async () => {
    const e = await runIn(ex, root, ['true'], { cwd: '/no/such/dir' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ExecutorError);
    expect(e).toMatchObject({ code: 'NO_WORKDIR', path: '/no/such/dir', errno: 2 });
    expect((e as Error).message).toContain('/no/such/dir');
  });

  it('abort stops a running command promptly and leaves no mount, process or placeholder', async () => {
    const ac = new AbortController();
    let started!: () => void;
    const ready = new Promise<void>((r) => (started = r));
    const t0 = Date.now();
    const p = runIn(ex, root, sh('sleep 987651 & echo started; sleep 987652'), { signal: ac.signal, onStdout: () => started() }).catch((x: unknown) => x);
    await ready;
    for (let i = 0; i < 50 && processesWithArgv(['sleep', '987652']).length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(processesWithArgv(['sleep', '987652'])).toHaveLength(1);
    expect(mountsUnder(root)).toEqual([]); // the run's mounts live in its own namespace only
    ac.abort(new Error('user pressed Ctrl-C'));
    const e = await p;
    expect(e).toBeInstanceOf(ExecutorError);
    expect(e).toMatchObject({ code: 'ABORTED' });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(processesWithArgv(['sleep', '987651'])).toEqual([]);
    expect(processesWithArgv(['sleep', '987652'])).toEqual([]);
    expect(mountsUnder(root)).toEqual([]);
    expect(treeState(root)).toEqual(before);
  });

  it('abort escalates to SIGKILL after the grace period when SIGTERM is ignored', async () => {
    const ex2 = new ChrootExecutor({ graceMs: 300 });
    const ac = new AbortController();
    let started!: () => void;
    const ready = new Promise<void>((r) => (started = r));
    const p = runIn(ex2, root, sh('trap "" TERM INT HUP; echo started; sleep 987653'), { signal: ac.signal, onStdout: () => started() }).catch((x: unknown) => x);
    await ready;
    const t0 = Date.now();
    ac.abort();
    expect(await p).toMatchObject({ code: 'ABORTED' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(Date.now() - t0).toBeLessThan(4000);
    expect(processesWithArgv(['sleep', '987653'])).toEqual([]);
    expect(treeState(root)).toEqual(before);
  });

  it('an already aborted signal runs nothing', async () => {
    const e = await runIn(ex, root, ['true'], { signal: AbortSignal.abort() }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'ABORTED' });
  });

  it('background processes die with the command', async () => {
    const r = await runIn(ex, root, sh('sleep 987654 & sleep 987655 & echo bg'));
    expect(r).toMatchObject({ exitCode: 0, stdout: ['bg'] });
    expect(processesWithArgv(['sleep', '987654'])).toEqual([]);
    expect(processesWithArgv(['sleep', '987655'])).toEqual([]);
  });

  it('killing the helper outright (the build died) kills the command and its mounts', async () => {
    const root = unpackFixture('busybox', await tmpDir()); // its placeholders cannot be cleaned up
    const spec = encodeSpec({ root, cwd: '/', uid: 0, gid: 0, groups: [], argv: sh('echo started; sleep 987656'), env: [], graceMs: 10000, resolvConf: null, hosts: null });
    const child = spawn(helperPath(), [], { stdio: ['pipe', 'pipe', 'ignore', 'pipe'] });
    child.stdin!.end(spec);
    await new Promise<void>((r) => child.stdout!.once('data', () => r()));
    for (let i = 0; i < 50 && processesWithArgv(['sleep', '987656']).length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(processesWithArgv(['sleep', '987656'])).toHaveLength(1);
    const closed = new Promise((r) => child.on('close', r));
    child.kill('SIGKILL');
    await closed;
    for (let i = 0; i < 50 && processesWithArgv(['sleep', '987656']).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(processesWithArgv(['sleep', '987656'])).toEqual([]);
    expect(mountsUnder(root)).toEqual([]);
    // This spec has no journal, so nothing can undo its placeholders: chroot-crash.test.ts covers
    // the journalled runs ChrootExecutor makes.
  });

  it('leaves the rootfs exactly as it was: no placeholder, same mtimes to the nanosecond', async () => {
    // busybox has no /proc, /sys, /dev, /etc/resolv.conf or /etc/hosts: all are placeholders.
    const r = await runIn(ex, root, sh('test -d /proc -a -d /sys -a -d /dev -a -f /etc/resolv.conf -a -f /etc/hosts && echo present'));
    expect(r.stdout).toEqual(['present']);
    expect(treeState(root)).toEqual(before);
  });
});

describe.skipIf(!isRoot)('ChrootExecutor placeholders', () => {
  it('keeps a placeholder parent the command wrote into, and its mtime', async () => {
    const d = await tmpDir();
    const root = unpackFixture('busybox', d);
    const ex = new ChrootExecutor();
    // Make /etc a placeholder: remove it (passwd is then absent: the user must be numeric).
    rmSync(join(root, 'etc'), { recursive: true });
    const r = await runIn(ex, root, sh('echo hi > /etc/motd'), { user: '0' });
    expect(r.exitCode).toBe(0);
    expect(readFileSync(join(root, 'etc/motd'), 'utf8')).toBe('hi\n');
    expect(treeState(root).has('etc/resolv.conf')).toBe(false);
    expect(treeState(root).has('etc/hosts')).toBe(false);
    expect(treeState(root).has('proc')).toBe(false);
  });

  it('uses supplementary groups from /etc/group only without an explicit group', async () => {
    const d = await tmpDir();
    const root = unpackFixture('busybox', d);
    appendFileSync(join(root, 'etc/group'), 'extra:x:2000:cnb\nmore:x:2001:root,cnb\n');
    const ex = new ChrootExecutor();
    expect((await runIn(ex, root, ['id', '-G'], { user: 'cnb' })).stdout).toEqual(['1000 2000 2001']);
    expect((await runIn(ex, root, ['id', '-G'], { user: 'cnb:extra' })).stdout).toEqual(['2000']);
    expect((await runIn(ex, root, ['id', '-G'])).stdout).toEqual(['0 2001']);
  });
});
