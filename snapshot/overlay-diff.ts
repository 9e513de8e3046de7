// The changes of one overlay step, read from its upperdir alone (BuildKit's overlay differ, with
// explicit whiteouts instead of opaque markers). Only the upperdir is walked; the lower view is
// asked about the paths found there, so the cost follows the change, not the image.
//
// - char 0/0 in upper → a deletion, if the path exists in the lower view;
// - a directory whose lower counterpart is hidden (trusted.overlay.opaque=y, or inside such a
//   directory) → explicit whiteouts for every lower child missing from upper, recursively: an
//   opaque marker would also hide what a rebased run image adds later (layers.md §1.2);
// - an entry copied up without a real change (same type, mode, owner, size, mtime, link target,
//   kept xattrs and content as the lower entry: `chmod` to the same mode, `mv a t && mv t a`,
//   `touch -r`) is not a change; a directory is a change only when it is new or its type, mode,
//   owner or kept xattrs changed (dir mtimes are not compared, as BuildKit/continuity); either
//   may still be written as the parent of a change.
import { xattr } from './native.js';
import type { Change } from './layer-writer.js';
import { readKeptXattrs, sameXattrs } from './layer-writer-xattrs.js';
import { LowerView } from './overlay-lower.js';
import { isWhiteout, lstatOrNull, readNames, sameDirMeta, sameEntry, S_IFDIR, S_IFMT, show } from './walk.js';
import { RootPath, type RelPath } from './walk-path.js';
import { SnapshotError } from './errors.js';

function isOpaqueDir(upper: RootPath, p: RelPath): boolean {
  const s = upper.absString(p);
  if (s === null) return false;
  const v = xattr.get(s, 'trusted.overlay.opaque');
  return v !== null && v.length === 1 && v[0] === 0x79;
}

/**
 * The changes in `upperDir` relative to the lower view. `ignored(p)` (byte-string path) prunes a
 * path with everything beneath it.
 */
export function overlayChanges(upperDir: string, lower: LowerView, ignored: (p: RelPath) => boolean): Change[] {
  const upper = new RootPath(upperDir);
  const out: Change[] = [];

  const visit = (dir: RelPath, hidesLower: boolean): void => {
    const names = readNames(upper.abs(dir));
    if (hidesLower) {
      // Everything the lower view has here is hidden in the merged view: delete what upper lacks.
      const present = new Set(names);
      for (const name of lower.children(dir).keys()) {
        const p = dir === '' ? name : `${dir}/${name}`;
        if (!present.has(name) && !ignored(p)) out.push({ path: p, kind: 'delete' });
      }
    }
    for (const name of names) {
      const p = dir === '' ? name : `${dir}/${name}`;
      if (ignored(p)) continue;
      const abs = upper.abs(p);
      const st = lstatOrNull(abs);
      if (st === null) throw new SnapshotError('IO', `upperdir entry ${show(p)} vanished during the diff`, { path: show(p) });
      if (isWhiteout(st)) {
        if (lower.lookup(p) !== null) out.push({ path: p, kind: 'delete' });
        continue;
      }
      const low = lower.lookup(p);
      if ((st.mode & S_IFMT) === S_IFDIR) {
        const lowIsDir = low !== null && (low.st.mode & S_IFMT) === S_IFDIR;
        if (!lowIsDir) {
          out.push({ path: p, kind: 'add' });
        } else if (!sameDirMeta(st, low.st) || !sameXattrs(readKeptXattrs(upper.absString(p)), readKeptXattrs(low.layer.absString(p)))) {
          out.push({ path: p, kind: 'modify' });
        }
        visit(p, lowIsDir && (hidesLower || isOpaqueDir(upper, p)));
        continue;
      }
      if (low !== null && sameEntry(abs, st, upper.absString(p), low.layer.abs(p), low.st, low.layer.absString(p))) continue;
      out.push({ path: p, kind: low === null ? 'add' : 'modify' });
    }
  };
  visit('', false);
  return out;
}
