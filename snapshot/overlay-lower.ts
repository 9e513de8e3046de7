// The merged view of a stack of overlay-format layer directories (whiteout = char 0/0, opaque =
// trusted.overlay.opaque=y), read without mounting: what a path is in the lower layers of a step.
// Lookups cost a few lstats per layer on the path's directories, memoized per directory, so the
// cost follows the number of paths asked about, never the size of the layers.
import type { BigIntStats } from 'node:fs';
import { xattr } from './native.js';
import { isWhiteout, lstatOrNull, readNames, S_IFDIR, S_IFMT } from './walk.js';
import { parentOf, RootPath, type RelPath } from './walk-path.js';

export interface LowerEntry {
  /** The layer directory holding the visible entry. */
  readonly layer: RootPath;
  readonly st: BigIntStats;
}

const OPAQUE = 'trusted.overlay.opaque';

function isOpaque(layer: RootPath, p: RelPath): boolean {
  const s = layer.absString(p);
  if (s === null) return false;
  try {
    const v = xattr.get(s, OPAQUE);
    return v !== null && v.length === 1 && v[0] === 0x79; /* 'y' */
  } catch {
    return false;
  }
}

export class LowerView {
  private readonly layers: RootPath[];
  /** dir → the layers (top first) whose copy of that directory shows through; [] = not a dir. */
  private readonly dirLayersMemo = new Map<RelPath, RootPath[]>();

  /** `layers`: directories, topmost first. */
  constructor(layers: readonly string[]) {
    this.layers = layers.map((l) => new RootPath(l));
  }

  get empty(): boolean {
    return this.layers.length === 0;
  }

  /** The layers contributing to directory `dir` (top first); [] when `dir` is not a directory. */
  dirLayers(dir: RelPath): RootPath[] {
    const hit = this.dirLayersMemo.get(dir);
    if (hit !== undefined) return hit;
    const out: RootPath[] = [];
    const candidates = dir === '' ? this.layers : this.dirLayers(parentOf(dir));
    for (const l of candidates) {
      const st = lstatOrNull(l.abs(dir));
      if (st === null) continue;
      if (dir !== '' && isWhiteout(st)) break;
      if ((st.mode & S_IFMT) !== S_IFDIR) break; // a non-directory hides the directories below it
      out.push(l);
      if (isOpaque(l, dir)) break;
    }
    this.dirLayersMemo.set(dir, out);
    return out;
  }

  /** The visible entry at p, or null when p does not exist in the lower view. */
  lookup(p: RelPath): LowerEntry | null {
    if (p === '') return null;
    for (const l of this.dirLayers(parentOf(p))) {
      const st = lstatOrNull(l.abs(p));
      if (st === null) continue;
      if (isWhiteout(st)) return null;
      return { layer: l, st };
    }
    return null;
  }

  /** The visible children of directory `dir` (names as byte strings). */
  children(dir: RelPath): Map<string, LowerEntry> {
    const seen = new Map<string, LowerEntry | null>();
    for (const l of this.dirLayers(dir)) {
      for (const name of readNames(l.abs(dir))) {
        if (seen.has(name)) continue;
        const p = dir === '' ? name : `${dir}/${name}`;
        const st = lstatOrNull(l.abs(p));
        if (st === null) continue;
        seen.set(name, isWhiteout(st) ? null : { layer: l, st });
      }
    }
    const out = new Map<string, LowerEntry>();
    for (const [n, e] of seen) if (e !== null) out.set(n, e);
    return out;
  }
}
