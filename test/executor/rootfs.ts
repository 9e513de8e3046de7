// Rootfs helpers for the executor tests: unpacked fixtures, tiny distroless roots, tree states,
// host mounts and processes to compare before and after a run.
import { execFileSync } from 'node:child_process';
import { copyFileSync, lstatSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ChrootExecutor, type BindMount, type ProcessSpec } from '../../src/index.js';
import { fixture, type FixtureName } from '../helpers/fixtures.js';

/** Unpacks a fixture image into `<dir>/bundle/rootfs` with umoci (until snapshot's materialize exists). */
export function unpackFixture(name: FixtureName, dir: string): string {
  const bundle = join(dir, 'bundle');
  execFileSync('umoci', ['unpack', '--image', `${fixture(name)}:latest`, bundle], { stdio: ['ignore', 'ignore', 'inherit'] });
  return join(bundle, 'rootfs');
}

/** A distroless-style rootfs: only /bin/sh (static busybox), no /proc, /dev, /sys or /etc. */
export function distroless(dir: string): string {
  const root = join(dir, 'rootfs');
  mkdirSync(join(root, 'bin'), { recursive: true, mode: 0o755 });
  copyFileSync('/bin/busybox', join(root, 'bin/sh'));
  execFileSync('chmod', ['755', join(root, 'bin/sh')]);
  return root;
}

/**
 * Every entry of the tree with what a layer could see change: type, mode, owner, size, link count,
 * inode and mtime to the nanosecond (not atime, which reads change, nor ctime, which a placeholder's
 * removal changes and nothing can restore).
 */
export function treeState(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    const p = rel === '' ? root : join(root, rel);
    const st = lstatSync(p, { bigint: true });
    out.set(rel === '' ? '.' : rel, [st.mode, st.uid, st.gid, st.size, st.nlink, st.ino, st.mtimeNs, st.rdev].join(' '));
    if (st.isDirectory()) for (const n of readdirSync(p).sort()) walk(rel === '' ? n : `${rel}/${n}`);
  };
  walk('');
  return out;
}

/** Mount points of this (the test's) mount namespace at or below `dir`. */
export function mountsUnder(dir: string): string[] {
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => unescape(l.split(' ')[4]!))
    .filter((m) => m === dir || m.startsWith(`${dir}/`));
}

/**
 * The mount table of this process (mount IDs and points), to compare before and after. Other
 * tests on this machine mount and unmount in their scratch directories (overlay snapshots) at
 * any time: mount points under the temp directories are left out, except under `keep`.
 */
export function mountTable(keep?: string): string[] {
  // /dev/shm: the differential tests keep buildah's and our scratch there; the containers dirs:
  // buildah's own storage when the bench or differential tests run beside us.
  const scratch = [tmpdir(), '/tmp', '/var/tmp', '/dev/shm', '/var/lib/containers', '/run/containers'].map((d) =>
    d.replace(/\/+$/, ''),
  );
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split(' ').slice(0, 5))
    .filter((f) => {
      const point = unescape(f[4]!);
      if (keep !== undefined && (point === keep || point.startsWith(`${keep}/`))) return true;
      return !scratch.some((d) => point.startsWith(`${d}/`));
    })
    .map((f) => f.join(' '))
    .sort();
}

/** Host PIDs whose command line is exactly `argv` (to find processes a run left behind). */
export function processesWithArgv(argv: string[]): number[] {
  const want = argv.join('\0') + '\0';
  const found: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'latin1') === want) found.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

export interface RunResult { exitCode: number; stdout: string[]; stderr: string[] }

/** Runs one command and collects its output lines. */
export async function runIn(
  ex: ChrootExecutor,
  root: string,
  argv: string[],
  opts: { user?: string; env?: string[]; cwd?: string; binds?: BindMount[]; signal?: AbortSignal; onStdout?: (l: string) => void } = {},
): Promise<RunResult> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const spec: ProcessSpec = {
    argv,
    env: opts.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
    cwd: opts.cwd ?? '/',
    user: opts.user ?? '',
    stdout: (l) => {
      stdout.push(l);
      opts.onStdout?.(l);
    },
    stderr: (l) => stderr.push(l),
    ...(opts.binds ? { binds: opts.binds } : {}),
  };
  const { exitCode } = await ex.run(root, spec, opts.signal);
  return { exitCode, stdout, stderr };
}

export const sh = (script: string, ...args: string[]) => ['/bin/sh', '-c', script, 'sh', ...args];

/** Placeholder journals in `dir` (by default the rootfs's parent, where the executor keeps them). */
export function journalsIn(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.startsWith('.cnbx-chroot.')).sort();
}

/** Journals beside a rootfs. */
export const journalsBeside = (root: string) => journalsIn(dirname(root));

/** The parent PID of a host process. */
export function parentOf(pid: number): number {
  const m = /^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no PPid for ${pid}`);
  return Number(m[1]);
}

/** Waits (up to ~5 s) until `f` returns true. */
export async function until(f: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 250; i++) {
    if (f()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}
