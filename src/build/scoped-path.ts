import { lstatSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { BuildError } from './errors.js';

const MAX_SYMLINKS = 40;

/** Splits a slash path into its non-empty, non-`.` components. */
function components(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

/**
 * Resolves `path` as if `root` were `/` (a chroot view): symlinks are followed but can never lead
 * outside `root` (an absolute target restarts at `root`, `..` stops at `root`), like
 * securejoin/BuildKit's scoped lookups. Components that do not exist are appended as they are.
 * Returns the host path and the resolved path relative to root (no leading slash).
 * With `followFinal: false` a symlink in the last component is not followed.
 */
export function resolveScoped(root: string, path: string, opts: { followFinal?: boolean } = {}): { hostPath: string; rel: string } {
  const followFinal = opts.followFinal ?? true;
  const done: string[] = [];
  let todo = components(path);
  let hops = 0;
  while (todo.length > 0) {
    const name = todo.shift()!;
    if (name === '..') {
      done.pop();
      continue;
    }
    const candidate = join(root, ...done, name);
    let isLink = false;
    try {
      isLink = lstatSync(candidate).isSymbolicLink();
    } catch {
      // Does not exist (or cannot be read): nothing below it can be a symlink we would follow.
      done.push(name);
      continue;
    }
    if (!isLink || (todo.length === 0 && !followFinal)) {
      done.push(name);
      continue;
    }
    if (++hops > MAX_SYMLINKS) {
      throw new BuildError('SYMLINK_LOOP', `too many levels of symbolic links resolving ${path}`, { path });
    }
    const target = readlinkSync(candidate);
    if (target.startsWith('/')) done.length = 0;
    todo = [...components(target), ...todo];
  }
  const rel = done.join('/');
  return { hostPath: join(root, rel), rel };
}

/** True when a path written in a Dockerfile climbs above its root (e.g. `../x`, `a/../../x`). */
export function climbsOutOfRoot(p: string): boolean {
  let depth = 0;
  for (const c of components(p)) {
    if (c === '..') {
      if (--depth < 0) return true;
    } else depth++;
  }
  return false;
}
