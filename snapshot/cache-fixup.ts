// Directory attributes for stacked overlay-format layers.
//
// A layer that lists `usr/share/doc/tar/.wh.NEWS` but not `usr/share/doc/tar/` (umoci writes such
// layers; so can any producer: parents are optional in a tar) gets those parents created 0755
// root:root in its own directory. Applied in merged format they would take the existing
// directory's attributes (containerd: mkparent copies them from the parent layers), but as an
// overlayfs lowerdir the layer's own copy decides the mode, owner, times and xattrs of the merged
// directory, so `/tmp` (1777) could show as 0755. containerd avoids this by extracting with the
// parents at hand (keyed by chainID); we keep layer directories independent (keyed by diffID,
// extracted in parallel, shared between images) and put a small "fixup" directory right above
// such a layer: the implicit directories and their ancestors, empty, with the attributes the
// merged view had at that point. A directory in a higher lowerdir decides the attributes and its
// children still merge from below (fixup directories are never opaque).
import { chmodSync, lchownSync, lstatSync, lutimesSync, mkdirSync, type BigIntStats, type Stats } from 'node:fs';
import { setXattr } from './apply-fs.js';
import { SnapshotError } from './errors.js';
import { xattr } from './native.js';
import { displayPath, RootPaths, utf8Path } from './safe-path.js';

const S_IFMT = 0o170000;
const S_IFCHR = 0o020000;

function isWhiteout(st: Stats): boolean {
  return (st.mode & S_IFMT) === S_IFCHR && st.rdev === 0;
}

function isOpaque(p: Buffer): boolean {
  const s = utf8Path(p);
  if (s === null) return false;
  const v = xattr.get(s, 'trusted.overlay.opaque');
  return v !== null && v.length === 1 && v[0] === 0x79;
}

export type LowerLookup =
  | { kind: 'dir'; path: Buffer }
  | { kind: 'missing' }
  | { kind: 'nondir'; at: string; symlink: boolean };

/** One path prefix resolved: a directory (and the layers its children are looked up in), or the end. */
export type Resolved = { kind: 'dir'; path: Buffer; below: readonly RootPaths[] } | { kind: 'missing' } | { kind: 'nondir'; at: string; symlink: boolean };

/**
 * What overlayfs shows at `rel` for a stack of layer directories (top first): resolved component
 * by component, honouring whiteouts (char 0/0), opaque directories and non-directories that hide
 * everything below them. `memo` (one per stack) keeps resolved prefixes: the implicit directories
 * of a layer share most of their ancestors, and resolving each from the root again cost a warm
 * apply on a large base ~100 ms of lstat and getxattr calls per layerDirs().
 */
export function lookupLower(stack: readonly RootPaths[], rel: string, memo: Map<string, Resolved> = new Map()): LowerLookup {
  let layers = stack;
  const parts = rel.split('/');
  for (let k = 0; k < parts.length; k++) {
    const prefix = parts.slice(0, k + 1).join('/');
    let r = memo.get(prefix);
    if (r === undefined) {
      r = resolveStep(layers, prefix);
      memo.set(prefix, r);
    }
    if (r.kind !== 'dir') return r;
    if (k === parts.length - 1) return { kind: 'dir', path: r.path };
    layers = r.below;
  }
  return { kind: 'missing' };
}

/** `prefix` in `layers` (those its parent continues in), top first. */
function resolveStep(layers: readonly RootPaths[], prefix: string): Resolved {
  let found: { path: Buffer; st: Stats } | undefined;
  const below: RootPaths[] = [];
  for (const l of layers) {
    const p = l.abs(prefix);
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (st === undefined) continue;
    if (isWhiteout(st)) break;
    if (found === undefined) found = { path: p, st };
    if (!st.isDirectory() || !found.st.isDirectory()) break;
    below.push(l);
    if (isOpaque(p)) break;
  }
  if (found === undefined) return { kind: 'missing' };
  if (!found.st.isDirectory()) return { kind: 'nondir', at: prefix, symlink: found.st.isSymbolicLink() };
  return { kind: 'dir', path: found.path, below };
}

function ancestorsAndSelf(rel: string): string[] {
  const parts = rel.split('/');
  return parts.map((_, i) => parts.slice(0, i + 1).join('/'));
}

export interface FixupPlan {
  /** Directory → where its attributes come from, parents before children. */
  dirs: Array<[string, Buffer]>;
}

/**
 * Which directories a fixup for `layerDir` needs (the implicit ones that exist below, with their
 * ancestors), or null when none does. Refuses, as merged application would, an implicit directory that is
 * a symlink or a file in the lower view (`layerName` names the layer in the error).
 */
export function planFixup(layerDir: string, implicitDirs: readonly string[], lowers: readonly string[], layerName: string): FixupPlan | null {
  const stack = lowers.map((d) => new RootPaths(d));
  const layer = new RootPaths(layerDir);
  const implicit = new Set(implicitDirs);
  const need = new Set<string>();
  const source = new Map<string, Buffer>();
  const memo = new Map<string, Resolved>();
  for (const d of implicitDirs) {
    const r = lookupLower(stack, d, memo);
    if (r.kind === 'nondir') {
      const what = r.symlink ? 'a symlink' : 'not a directory';
      throw new SnapshotError(r.symlink ? 'UNSAFE_PATH' : 'BAD_LAYER', `layer ${layerName}: needs directory ${JSON.stringify(displayPath(d))}, but ${JSON.stringify(displayPath(r.at))} is ${what} in the layers below`, {
        layer: layerName, path: layer.abs(d).toString('utf8'),
      });
    }
    if (r.kind === 'dir') {
      source.set(d, r.path);
      // Its ancestors exist below too: each is either listed by the layer or implicit and found.
      for (const a of ancestorsAndSelf(d)) need.add(a);
    }
  }
  if (need.size === 0) return null;
  const dirs = [...need].sort((a, b) => a.split('/').length - b.split('/').length || (a < b ? -1 : 1));
  return { dirs: dirs.map((d) => [d, implicit.has(d) ? (source.get(d) ?? layer.abs(d)) : layer.abs(d)]) };
}

function copyXattrs(from: Buffer, to: Buffer): void {
  const s = utf8Path(from);
  if (s === null) return;
  for (const name of xattr.list(s)) {
    if (name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.')) continue;
    const v = xattr.get(s, name);
    if (v !== null) setXattr(to, name, v);
  }
}

/** Creates the planned directories under `dest` with their sources' mode, owner, xattrs and times. */
export function writeFixup(dest: string, plan: FixupPlan): void {
  const root = new RootPaths(dest);
  const times: Array<[Buffer, BigIntStats]> = [];
  for (const [rel, src] of plan.dirs) {
    const st = lstatSync(src, { bigint: true });
    const p = root.abs(rel);
    mkdirSync(p, { mode: 0o700 });
    lchownSync(p, Number(st.uid), Number(st.gid));
    chmodSync(p, Number(st.mode & 0o7777n));
    copyXattrs(src, p);
    times.push([p, st]);
  }
  for (const [p, st] of times) lutimesSync(p, Number(st.atimeNs) / 1e9, Number(st.mtimeNs) / 1e9);
}
