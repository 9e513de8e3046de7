// Change detection without mounts: an lstat baseline before the step, a walk after it.
//
// The baseline keeps, per path: ino, type+mode, uid, gid, size, mtime (ns), ctime (ns), nlink,
// rdev, and for directories their kept xattrs. ctime cannot be set from userspace, so any write,
// chmod, chown, xattr change, link or rename of an entry moves it (layers.md §0.3, §5.2).
//
// After the step, per path:
// - new path, or a different type → a change;
// - directory: a change when mode or owner differ, or its ctime/ino moved and its kept xattrs
//   differ; never for mtime or ctime alone (as the overlay differ and BuildKit);
// - other entries: a change when size, mode, owner, mtime or rdev differ. When only ctime, ino or
//   nlink moved (a rename back, `chmod` to the same mode, a new hardlink to it, a write followed
//   by an mtime reset, an xattr change), the entry is compared with the pristine copy of the
//   base (type, mode, owner, size, mtime, link target, kept xattrs, content) when no earlier
//   step changed it, as the overlay differ compares a copied-up entry with its lower one; after
//   an earlier change the pristine copy says nothing and the entry counts as changed (a
//   superset: writing an unchanged entry is always correct);
// - baseline paths no longer there → deletions, only the topmost one of a deleted subtree and
//   only under a parent that is still a directory.
// Content is read only for those ctime-only candidates; everything else is lstat.
import type { BigIntStats } from 'node:fs';
import type { Change } from './layer-writer.js';
import { readKeptXattrs, sameXattrs, type Xattrs } from './layer-writer-xattrs.js';
import { lstatOrNull, readNames, sameEntry, S_IFDIR, S_IFMT, show } from './walk.js';
import { parentOf, RootPath, type RelPath } from './walk-path.js';
import { SnapshotError } from './errors.js';

interface Snap {
  ino: bigint;
  mode: bigint;
  uid: bigint;
  gid: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  nlink: bigint;
  rdev: bigint;
  /** Directories only: kept xattrs. */
  xattrs?: Xattrs;
  seen: boolean;
}

export interface Baseline {
  readonly root: string;
  readonly dev: bigint;
  readonly entries: Map<RelPath, Snap>;
}

function snap(st: BigIntStats, xattrs?: Xattrs): Snap {
  const s: Snap = {
    ino: st.ino, mode: st.mode, uid: st.uid, gid: st.gid, size: st.size, mtimeNs: st.mtimeNs,
    ctimeNs: st.ctimeNs, nlink: st.nlink, rdev: st.rdev, seen: false,
  };
  if (xattrs !== undefined) s.xattrs = xattrs;
  return s;
}

/**
 * Walks the tree under `root` depth-first, calling `visit` for every entry; a directory is
 * descended into when `visit` returns true. Mount points (another device) are never descended.
 */
function walk(rp: RootPath, dev: bigint, visit: (p: RelPath, st: BigIntStats) => boolean): void {
  const stack: RelPath[] = [''];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    for (const name of readNames(rp.abs(dir))) {
      const p = dir === '' ? name : `${dir}/${name}`;
      const st = lstatOrNull(rp.abs(p));
      if (st === null) throw new SnapshotError('IO', `${show(p)} vanished during the walk`, { path: show(p) });
      if (visit(p, st) && (st.mode & S_IFMT) === S_IFDIR && st.dev === dev) stack.push(p);
    }
  }
}

/** The lstat baseline of every entry under root (directory xattrs included). */
export function takeBaseline(root: string): Baseline {
  const rp = new RootPath(root);
  const rootSt = lstatOrNull(root);
  if (rootSt === null) throw new SnapshotError('IO', `rootfs ${root} does not exist`, { path: root });
  const entries = new Map<RelPath, Snap>();
  walk(rp, rootSt.dev, (p, st) => {
    const isDir = (st.mode & S_IFMT) === S_IFDIR;
    entries.set(p, snap(st, isDir ? readKeptXattrs(rp.absString(p)) : undefined));
    return true;
  });
  return { root, dev: rootSt.dev, entries };
}

export interface Pristine {
  /** A read-only copy of the base the workspace was made from. */
  readonly root: RootPath;
  /** Whether the lower view's entry at p is known to equal the pristine copy's. */
  usable(p: RelPath): boolean;
}

/**
 * The changes under `base.root` since the baseline. `ignored(p)` (byte-string path) prunes a path
 * and everything beneath it. The baseline is consumed (its entries are marked as seen).
 */
export function scanChanges(base: Baseline, ignored: (p: RelPath) => boolean, pristine: Pristine | null): Change[] {
  const rp = new RootPath(base.root);
  const out: Change[] = [];
  const dirsNow = new Set<RelPath>();
  const skipped = new Set<RelPath>();

  walk(rp, base.dev, (p, st) => {
    if (ignored(p)) {
      skipped.add(p);
      return false;
    }
    const isDir = (st.mode & S_IFMT) === S_IFDIR;
    if (isDir) dirsNow.add(p);
    const b = base.entries.get(p);
    if (b === undefined) {
      out.push({ path: p, kind: 'add' });
      return true;
    }
    b.seen = true;
    if ((b.mode & S_IFMT) !== (st.mode & S_IFMT)) {
      out.push({ path: p, kind: 'modify' });
    } else if (isDir) {
      if (b.mode !== st.mode || b.uid !== st.uid || b.gid !== st.gid) {
        out.push({ path: p, kind: 'modify' });
      } else if ((b.ctimeNs !== st.ctimeNs || b.ino !== st.ino) && !sameXattrs(b.xattrs ?? [], readKeptXattrs(rp.absString(p)))) {
        out.push({ path: p, kind: 'modify' });
      }
    } else if (b.size !== st.size || b.mode !== st.mode || b.uid !== st.uid || b.gid !== st.gid || b.mtimeNs !== st.mtimeNs || b.rdev !== st.rdev) {
      out.push({ path: p, kind: 'modify' });
    } else if (b.ctimeNs !== st.ctimeNs || b.ino !== st.ino || b.nlink !== st.nlink) {
      if (!samePristine(rp, p, st, pristine)) out.push({ path: p, kind: 'modify' });
    }
    return true;
  });

  const underSkipped = (p: RelPath): boolean => {
    for (let q = parentOf(p); q !== ''; q = parentOf(q)) if (skipped.has(q)) return true;
    return false;
  };
  for (const [p, b] of base.entries) {
    if (b.seen) continue;
    const parent = parentOf(p);
    if (parent !== '' && !dirsNow.has(parent)) continue; // inside a deleted subtree, or under a non-dir
    if (skipped.has(p) || ignored(p) || underSkipped(p)) continue;
    out.push({ path: p, kind: 'delete' });
  }
  return out;
}

function samePristine(rp: RootPath, p: RelPath, st: BigIntStats, pristine: Pristine | null): boolean {
  if (pristine === null || !pristine.usable(p)) return false;
  const pst = lstatOrNull(pristine.root.abs(p));
  if (pst === null) return false;
  return sameEntry(rp.abs(p), st, rp.absString(p), pristine.root.abs(p), pst, pristine.root.absString(p));
}
