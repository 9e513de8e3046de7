// Mounting and unmounting overlayfs with mount(8)/umount(8), finding stale mounts, and the
// one-time probe of whether overlay mounts work here at all.
import { execFile } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { mkdtemp, mkdir, readdir, readFile, stat, writeFile, access } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SnapshotError } from './errors.js';
import { ownerState, stampedName, stampOf } from './owner.js';
import { removeTreeSync } from './remove-tree.js';

const run = promisify(execFile);

/** Where Debian, Fedora and Alpine keep sh, mount and umount; merged-/usr systems have both. */
const TOOL_DIRS = ['/usr/bin', '/bin', '/usr/sbin', '/sbin'];
const toolPaths = new Map<string, string>();

/**
 * The absolute path of a system tool, found once per process (a fact of the machine). A bare name
 * makes every spawn search PATH, one failed execve per entry before the right one, on the hot path
 * of every commit; the bare name is the fallback where none of the usual places has it.
 */
function tool(name: 'sh' | 'mount' | 'umount'): string {
  let p = toolPaths.get(name);
  if (p === undefined) {
    p = name;
    for (const dir of TOOL_DIRS) {
      try {
        accessSync(`${dir}/${name}`, fsConstants.X_OK);
        p = `${dir}/${name}`;
        break;
      } catch {
        // not here
      }
    }
    toolPaths.set(name, p);
  }
  return p;
}

/** Options beyond the dirs: no redirects and no metacopy keep every upperdir self-contained (a
 * renamed directory is copied, a chmod copies the data), index=off as containerd does. */
export const OVERLAY_OPTIONS = 'redirect_dir=off,metacopy=off,index=off';
/** The legacy mount(2) data is one page; stay well inside it. */
const MAX_MOUNT_DATA = 4000;

export interface OverlayMount {
  /** Directory the other paths are relative to (the mount's cwd). */
  cwd: string;
  /** lowerdirs relative to cwd, topmost first. Short names keep dozens of layers in one page. */
  lowers: readonly string[];
  upper: string;
  work: string;
  target: string;
  /**
   * No syncs (Linux ≥ 5.10): an upperdir is scratch until its layer is stored (the blob is
   * fsynced), and unmounting a non-volatile overlay syncs the whole upper filesystem, the
   * largest part of a commit on a busy machine.
   */
  volatile?: boolean;
}

export function overlayData(m: OverlayMount): string {
  return `lowerdir=${m.lowers.join(':')},upperdir=${m.upper},workdir=${m.work},${OVERLAY_OPTIONS}${m.volatile ? ',volatile' : ''}`;
}

function stderrOf(e: unknown): string {
  const s = (e as { stderr?: unknown }).stderr;
  return (typeof s === 'string' && s.trim() !== '' ? s.trim() : (e as Error).message);
}

export async function mountOverlay(m: OverlayMount): Promise<void> {
  const data = overlayData(m);
  if (data.length > MAX_MOUNT_DATA) {
    throw new SnapshotError('MOUNT', `overlay mount options are ${data.length} bytes (${m.lowers.length} lowerdirs), over the ${MAX_MOUNT_DATA}-byte limit`, { path: m.target });
  }
  try {
    await run(tool('mount'), ['-t', 'overlay', 'overlay', '-o', data, m.target], { cwd: m.cwd });
  } catch (e) {
    throw new SnapshotError('MOUNT', `mount overlay at ${join(m.cwd, m.target)}: ${stderrOf(e)}`, { path: join(m.cwd, m.target) }, { cause: e });
  }
}

/**
 * Replaces the overlay mounted at `m.target` by a new one in a single child process (umount, then
 * mount): spawning is most of the cost of a remount from Node.
 */
export async function remountOverlay(m: OverlayMount): Promise<void> {
  const data = overlayData(m);
  if (data.length > MAX_MOUNT_DATA) {
    throw new SnapshotError('MOUNT', `overlay mount options are ${data.length} bytes (${m.lowers.length} lowerdirs), over the ${MAX_MOUNT_DATA}-byte limit`, { path: m.target });
  }
  try {
    await run(tool('sh'), ['-c', '"$3" -- "$1" && exec "$4" -t overlay overlay -o "$2" -- "$1"', 'sh', m.target, data, tool('umount'), tool('mount')], { cwd: m.cwd });
  } catch (e) {
    throw new SnapshotError('MOUNT', `remount overlay at ${join(m.cwd, m.target)}: ${stderrOf(e)}`, { path: join(m.cwd, m.target) }, { cause: e });
  }
}

export async function unmount(target: string, opts: { lazy?: boolean } = {}): Promise<void> {
  try {
    await run(tool('umount'), opts.lazy ? ['-l', target] : [target]);
  } catch (e) {
    throw new SnapshotError('MOUNT', `unmount ${target}: ${stderrOf(e)}`, { path: target }, { cause: e });
  }
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Mount points at or under `dir` (from /proc/self/mountinfo), deepest first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'latin1');
  const base = dir.replace(/\/+$/, '');
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const mp = line.split(' ')[4];
    if (mp === undefined) continue;
    // Bytes of the path as latin1 → the UTF-8 string Node uses for paths.
    const p = Buffer.from(unescapeMountPath(mp), 'latin1').toString('utf8');
    if (p === base || p.startsWith(`${base}/`)) out.push(p);
  }
  return out.sort((a, b) => b.length - a.length);
}

/** Unmounts whatever a crashed earlier run left mounted under `dir`. */
export async function unmountStale(dir: string): Promise<string[]> {
  const stale = await mountsUnder(dir);
  for (const p of stale) await unmount(p, { lazy: true });
  return stale;
}

/**
 * Removes a work directory, refusing while anything is still mounted under it (removing through
 * a bind mount would delete files of the mount's source).
 */
export async function removeWorkDir(dir: string): Promise<void> {
  const left = await mountsUnder(dir);
  if (left.length > 0) {
    throw new SnapshotError('MOUNT', `refusing to remove ${dir}: still mounted under it: ${left.join(', ')}`, { path: dir });
  }
  // Not fs.promises.rm: its memory grows with the entry count (remove-tree.ts).
  removeTreeSync(dir);
}

/**
 * Whether an overlay mount with our options works in `parent` (a directory on the filesystem the
 * work dirs will use): mounts a two-layer overlay, writes through it and checks the upperdir.
 */
export async function probeOverlay(parent: string): Promise<{ ok: true } | { ok: false; reason: string }> {
  await mkdir(parent, { recursive: true });
  await removeDeadProbes(parent);
  const dir = await mkdtemp(join(parent, stampedName('.overlay-probe', '')));
  try {
    for (const d of ['l0', 'l1', 'u', 'w', 'm']) await mkdir(join(dir, d));
    await writeFile(join(dir, 'l0', 'f'), 'x');
    try {
      await mountOverlay({ cwd: dir, lowers: ['l1', 'l0'], upper: 'u', work: 'w', target: 'm' });
    } catch (e) {
      return { ok: false, reason: (e as Error).message };
    }
    try {
      await writeFile(join(dir, 'm', 'g'), 'y');
      await access(join(dir, 'm', 'f'));
      await access(join(dir, 'u', 'g'));
    } finally {
      await unmount(join(dir, 'm'));
    }
    return { ok: true };
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  } finally {
    await removeWorkDir(dir).catch(() => {});
  }
}

/** Probe dirs of killed runs (their process is gone, or they are older than any probe takes). */
async function removeDeadProbes(parent: string): Promise<void> {
  for (const name of await readdir(parent).catch(() => [] as string[])) {
    if (!name.startsWith('.overlay-probe-')) continue;
    const stamp = stampOf(name);
    const owner = stamp === null ? 'unknown' : ownerState(stamp);
    if (owner === 'alive') continue;
    if (owner === 'unknown') {
      const st = await stat(join(parent, name)).catch(() => null);
      if (st === null || Date.now() - st.mtimeMs < 10 * 60_000) continue;
    }
    await unmountStale(join(parent, name)).catch(() => []);
    await removeWorkDir(join(parent, name)).catch(() => {});
  }
}
