import { resolveInRoot } from '../executor/index.js';
import { BuildError } from './errors.js';

/**
 * Resolves `path` as if `root` were `/` (a chroot view; symlinks followed but never out of `root`)
 * with the executor's resolver, reporting a symlink loop as a BuildError so it carries the step.
 * Returns the host path and the resolved path relative to root (no leading slash).
 */
export function resolveScoped(root: string, path: string, opts: { followFinal?: boolean } = {}): { hostPath: string; rel: string } {
  try {
    return resolveInRoot(root, path, opts);
  } catch (e) {
    if ((e as { code?: string }).code === 'SYMLINK_LOOP') {
      throw new BuildError('SYMLINK_LOOP', `too many levels of symbolic links resolving ${path}`, { path }, { cause: e });
    }
    throw e;
  }
}

/** True when a path written in a Dockerfile climbs above its root (e.g. `../x`, `a/../../x`). */
export function climbsOutOfRoot(p: string): boolean {
  let depth = 0;
  for (const c of p.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (--depth < 0) return true;
    } else depth++;
  }
  return false;
}
