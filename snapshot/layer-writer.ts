// The deterministic layer writer: a set of changes read from a directory → one OCI layer tar.
//
// planLayer() decides what goes in and in which order (ignores, parents, whiteouts, sockets,
// refused names and sparse files, one lstat per entry), so the number of entries is known and
// every refusal is made before anything is stored; it keeps only each entry's path and one byte.
// layerTar() then walks the plan in order, builds each header from a second lstat (readlink,
// xattrs, hardlinks by first name in layer order) and streams it with the file's content read in
// bounded chunks. Memory follows the entry count at a few dozen bytes per entry (issue #8).
//
// Rules (layers.md §1.2, §1.4, §1.5):
// - order: depth-first, bytewise by name, whiteouts of a directory before its other entries;
// - parents of every entry (whiteouts included) are emitted first, with their real metadata;
//   never a root entry;
// - explicit whiteouts `.wh.<name>`: empty regular files, mode 0, owner 0:0, mtime 0; never both
//   `x` and `.wh.x`; never under a parent that is no longer a directory;
// - hardlinks are keyed by dev:ino: the first name in layer order is written in full, the later
//   ones as links to it by relative name. A name whose other names live only in lower layers is
//   therefore written as a full file;
// - sockets are skipped with a warning; names starting with `.wh.` cannot be represented: error;
// - mtimes in whole seconds, clamped to SOURCE_DATE_EPOCH when given; no atime/ctime; numeric
//   owners, empty uname/gname; xattrs per layer-writer-xattrs.ts.
import { closeSync, lstatSync, openSync, readlinkSync, readSync, type BigIntStats, type Stats } from 'node:fs';
import { Readable } from 'node:stream';
import { SnapshotError } from './errors.js';
import { engineIgnored, type IgnorePredicate } from './ignore.js';
import { BLOCK, END_OF_ARCHIVE, padding, writeHeader, type TarEntryType, type TarHeader } from './layer-writer-tar.js';
import { readKeptXattrs } from './layer-writer-xattrs.js';
import type { Logger } from './snapshotter-log.js';
import { ancestorsOf, baseOf, compareLayerOrder, displayPath, parentOf, pathBytes, RootPath, type RelPath } from './walk-path.js';

/**
 * One change found by a snapshotter. `path` is relative (no leading '/') and is a byte string: one
 * char per byte (latin1), so names that are not UTF-8 are exact (see walk-path.ts).
 */
export interface Change {
  path: string;
  kind: 'add' | 'modify' | 'delete';
}

/**
 * What goes into a layer, in layer order. Per entry only its path and one byte are kept (memory
 * follows the number of entries at a few dozen bytes each, issue #8): headers are built when the
 * tar is written, from a second lstat of each entry, in order. That is exact because nothing
 * writes to the planned directory between planLayer and the end of layerTar (a committed step's
 * upperdir or scan root); an entry whose type changed in between is an error, never a wrong entry.
 */
export interface LayerPlan {
  /** Tar entries the layer will hold (parents and whiteouts included). */
  readonly count: number;
  /** Total content bytes of the regular files (as planned). */
  readonly contentBytes: number;
}

/** The plan as layerTar reads it. */
interface Plan extends LayerPlan {
  readonly root: RootPath;
  /** Relative paths (byte strings), in layer order; for a whiteout, the path it deletes. */
  readonly paths: readonly RelPath[];
  /** Per path: WHITEOUT, or the entry's type code (TYPE_CODE) when planned. */
  readonly kinds: Uint8Array;
  readonly sourceDateEpoch: number | undefined;
  readonly log: Logger | undefined;
}
/** The plans planLayer made (layerTar reads no other). */
const plans = new WeakSet<LayerPlan>();

export interface PlanOptions {
  /** Paths (display form) never to include; the engine's own paths are always excluded too. */
  ignore?: IgnorePredicate;
  /** Clamp mtimes to this (seconds since the epoch). */
  sourceDateEpoch?: number;
  log?: Logger;
  /**
   * Sparse files are written in full (tar cannot carry holes). A file whose holes exceed this many
   * bytes is refused instead (hard cases 39/40: `useradd` with a huge uid makes a sparse lastlog
   * of hundreds of GB). Default 16 GiB.
   */
  maxHoleBytes?: number;
}

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFSOCK = 0o140000;
const TYPE_OF: Record<number, TarEntryType> = {
  0o100000: 'file', 0o040000: 'dir', 0o120000: 'symlink', 0o020000: 'char', 0o060000: 'block',
  0o010000: 'fifo',
};
/** One byte per planned entry: WHITEOUT, else its file type bits (S_IFMT) >> 12, never 0. */
const WHITEOUT = 0;
const NS_PER_S = 1_000_000_000n;
const WHITEOUT_PREFIX = '.wh.';
const DEFAULT_MAX_HOLE_BYTES = 16 * 1024 ** 3;

function floorSeconds(ns: bigint): number {
  let s = ns / NS_PER_S;
  if (ns < 0n && s * NS_PER_S !== ns) s -= 1n;
  return Number(s);
}

function devNumbers(rdev: bigint): { devmajor: number; devminor: number } {
  return {
    devmajor: Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn)),
    devminor: Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn)),
  };
}

function lstatOrNull(p: string | Buffer): Stats | null;
function lstatOrNull(p: string | Buffer, bigint: true): BigIntStats | null;
function lstatOrNull(p: string | Buffer, bigint = false): Stats | BigIntStats | null {
  try {
    return lstatSync(p, { bigint });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw new SnapshotError('IO', `lstat ${String(p)}`, { path: String(p) }, { cause: e });
  }
}

/**
 * Plans the layer for `changes` as found under `root` (the directory holding the changed state: a
 * merged rootfs, or an overlay upperdir, which holds every changed entry and all its parents).
 * Every entry is checked here (names, sockets, vanished paths, parents, sparse files), so what can
 * be refused is refused before anything is stored.
 */
export function planLayer(root: string, changes: Iterable<Change>, opts: PlanOptions = {}): LayerPlan {
  const rp = new RootPath(root);
  const log = opts.log;
  const ignoreUser = opts.ignore;
  // Memoized per directory only: a leaf is asked about once.
  const ignoredDirMemo = new Map<RelPath, boolean>();
  const ignoredHere = (p: RelPath): boolean => {
    const d = displayPath(p);
    return engineIgnored(d) || (ignoreUser?.(d) ?? false);
  };
  const ignoredDir = (p: RelPath): boolean => {
    if (p === '') return false;
    const hit = ignoredDirMemo.get(p);
    if (hit !== undefined) return hit;
    const v = ignoredDir(parentOf(p)) || ignoredHere(p);
    ignoredDirMemo.set(p, v);
    return v;
  };
  const ignored = (p: RelPath): boolean => ignoredDir(parentOf(p)) || ignoredHere(p);

  // path → whether it is deleted (a whiteout) or present; a present entry wins over its deletion.
  const wanted = new Map<RelPath, boolean>(); // true: present
  for (const c of changes) {
    if (c.path === '' || ignored(c.path)) continue;
    if (c.kind === 'delete') {
      if (!wanted.has(c.path)) wanted.set(c.path, false);
    } else {
      wanted.set(c.path, true);
    }
  }

  // path → WHITEOUT or its type code. An entry (or a parent) replaces the whiteout of its path: a
  // deleted path that is present again is not whited out as well.
  const kinds = new Map<RelPath, number>();
  const isDir = new Map<RelPath, boolean>();
  const statDir = (p: RelPath): boolean => {
    let v = isDir.get(p);
    if (v === undefined) {
      const st = lstatOrNull(rp.abs(p));
      v = st !== null && (st.mode & S_IFMT) === S_IFDIR;
      isDir.set(p, v);
    }
    return v;
  };
  const DIR = S_IFDIR >> 12;
  const addParents = (p: RelPath): boolean => {
    const ancestors = ancestorsOf(p);
    for (const a of ancestors) if (!statDir(a)) return false;
    for (const a of ancestors) if (kinds.get(a) !== DIR) kinds.set(a, DIR);
    return true;
  };
  const maxHoles = opts.maxHoleBytes ?? DEFAULT_MAX_HOLE_BYTES;
  let contentBytes = 0;
  const linked = new Set<string>();

  for (const [p, present] of wanted) {
    if (baseOf(p).startsWith(WHITEOUT_PREFIX)) {
      throw new SnapshotError('UNSUPPORTED', `cannot put /${displayPath(p)} in a layer: names starting with ".wh." are whiteouts in OCI layers`, { path: displayPath(p) });
    }
    if (!present) {
      // Never under a parent that is no longer a directory (kaniko #2308).
      if (!addParents(p)) {
        log?.debug(`layer: no whiteout for /${displayPath(p)}: its parent is no longer a directory`);
        continue;
      }
      if (!kinds.has(p)) kinds.set(p, WHITEOUT);
      continue;
    }
    const st = lstatOrNull(rp.abs(p));
    if (st === null) {
      throw new SnapshotError('IO', `changed path /${displayPath(p)} vanished before the layer was written`, { path: displayPath(p) });
    }
    const fmt = st.mode & S_IFMT;
    if (fmt === S_IFSOCK) {
      log?.warn(`layer: skipping socket /${displayPath(p)} (sockets cannot be stored in a layer)`);
      continue;
    }
    if (!addParents(p)) {
      throw new SnapshotError('IO', `parent of /${displayPath(p)} is not a directory`, { path: displayPath(p) });
    }
    kinds.set(p, fmt >> 12);
    if (fmt === S_IFREG) {
      // Later names of a hardlinked file are written as links (no content).
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        if (linked.has(key)) continue;
        linked.add(key);
      }
      contentBytes += checkSparse(p, st.size, st.blocks, maxHoles, log);
    }
  }
  wanted.clear();

  // Layer order; the sort compares paths only (one entry per path).
  const paths = [...kinds.keys()];
  const kindOf = new Uint8Array(paths.length);
  const order = new Uint32Array(paths.length);
  for (let i = 0; i < paths.length; i++) {
    kindOf[i] = kinds.get(paths[i]!)!;
    order[i] = i;
  }
  kinds.clear();
  order.sort((a, b) => compareLayerOrder(paths[a]!, kindOf[a] === WHITEOUT, paths[b]!, kindOf[b] === WHITEOUT));
  const sortedPaths = new Array<RelPath>(paths.length);
  const sortedKinds = new Uint8Array(paths.length);
  for (let i = 0; i < order.length; i++) {
    sortedPaths[i] = paths[order[i]!]!;
    sortedKinds[i] = kindOf[order[i]!]!;
  }
  const plan: Plan = { count: sortedPaths.length, contentBytes, root: rp, paths: sortedPaths, kinds: sortedKinds, sourceDateEpoch: opts.sourceDateEpoch, log };
  plans.add(plan);
  return plan;
}

/** A regular file's content size, after refusing one with too many bytes of holes. */
function checkSparse(p: RelPath, size: number, blocks: number, maxHoles: number, log: Logger | undefined): number {
  const holes = size - blocks * 512;
  if (holes > maxHoles) {
    throw new SnapshotError('UNSUPPORTED', `/${displayPath(p)} is a sparse file with ${holes} bytes of holes; a layer would carry them as zeros (with useradd, use -l for large uids)`, { path: displayPath(p) });
  }
  if (holes > 64 * 1024 * 1024) log?.warn(`layer: sparse file /${displayPath(p)} is written in full (${size} bytes)`);
  return size;
}

/** Builds the tar headers of a plan's entries, in layer order (hardlinks are resolved by that order). */
class HeaderBuilder {
  private readonly firstOfInode = new Map<string, Buffer>();
  constructor(private readonly plan: Plan) {}

  /** The header of entry i and, for a regular file with content, where to read it from. */
  header(i: number): { header: TarHeader; source?: string | Buffer } {
    const plan = this.plan;
    const path = plan.paths[i]!;
    const kind = plan.kinds[i]!;
    if (kind === WHITEOUT) {
      const parent = parentOf(path);
      const wname = `${parent === '' ? '' : `${parent}/`}${WHITEOUT_PREFIX}${baseOf(path)}`;
      return { header: { name: pathBytes(wname), type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtime: 0 } };
    }
    const abs = plan.root.abs(path);
    const st = lstatOrNull(abs, true);
    if (st === null) {
      throw new SnapshotError('IO', `changed path /${displayPath(path)} vanished before the layer was written`, { path: displayPath(path) });
    }
    const fmt = Number(st.mode) & S_IFMT;
    if (fmt >> 12 !== kind) {
      throw new SnapshotError('IO', `/${displayPath(path)} changed type while the layer was written`, { path: displayPath(path) });
    }
    const type = TYPE_OF[fmt]!;
    const name = pathBytes(type === 'dir' ? `${path}/` : path);
    const sde = plan.sourceDateEpoch;
    const mtime = floorSeconds(st.mtimeNs);
    const header: TarHeader = {
      name, type, mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid), size: 0,
      mtime: sde !== undefined && mtime > sde ? sde : mtime,
    };
    if (type !== 'dir' && st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`;
      const first = this.firstOfInode.get(key);
      if (first !== undefined) return { header: { ...header, type: 'link', linkname: first } };
      this.firstOfInode.set(key, name);
    }
    if (type === 'file') {
      header.size = Number(st.size);
    } else if (type === 'symlink') {
      header.linkname = readlinkSync(abs, { encoding: 'buffer' });
    } else if (type === 'char' || type === 'block') {
      Object.assign(header, devNumbers(st.rdev));
    }
    const log = plan.log;
    const xattrs = readKeptXattrs(plan.root.absString(path), (why) => log?.warn(`layer: /${displayPath(path)}: ${why}`));
    if (xattrs.length > 0) header.xattrs = xattrs;
    return type === 'file' ? { header, source: abs } : { header };
  }
}

const CHUNK = 1024 * 1024;

function openForLayer(source: string | Buffer, path: RelPath): number {
  try {
    return openSync(source, 'r');
  } catch (e) {
    throw new SnapshotError('IO', `open /${displayPath(path)} for the layer`, { path: displayPath(path) }, { cause: e });
  }
}

/** Reads into out[off…off+len) until it is full or the file ends; returns the bytes read. */
function readFully(fd: number, out: Buffer, off: number, len: number): number {
  let got = 0;
  while (got < len) {
    const n = readSync(fd, out, off + got, len - got, null);
    if (n === 0) break;
    got += n;
  }
  return got;
}

function shrank(path: RelPath, got: number, size: number): SnapshotError {
  return new SnapshotError('IO', `/${displayPath(path)} shrank while the layer was written (${got} of ${size} bytes)`, { path: displayPath(path) });
}

/** Reads exactly `size` bytes of a file in bounded chunks. */
function* fileChunks(source: string | Buffer, size: number, path: RelPath): Generator<Buffer> {
  const fd = openForLayer(source, path);
  try {
    let left = size;
    while (left > 0) {
      const buf = Buffer.allocUnsafe(Math.min(left, CHUNK));
      const got = readFully(fd, buf, 0, buf.length);
      if (got < buf.length) throw shrank(path, size - left + got, size);
      left -= got;
      yield buf;
    }
  } finally {
    closeSync(fd);
  }
}

/** Reads exactly `size` bytes of a (small) file into out[off…]. */
function readFileInto(source: string | Buffer, size: number, path: RelPath, out: Buffer, off: number): void {
  const fd = openForLayer(source, path);
  try {
    const got = readFully(fd, out, off, size);
    if (got < size) throw shrank(path, got, size);
  } finally {
    closeSync(fd);
  }
}

/**
 * The tar stream of a plan. Headers are built entry by entry as the consumer pulls and written
 * straight into ~1 MiB batch buffers together with small files' contents; a larger file is read in
 * chunks of at most 1 MiB. So memory stays flat whatever the file or layer size, and no per-entry
 * object outlives its entry.
 */
export function layerTar(layerPlan: LayerPlan, opts: { signal?: AbortSignal } = {}): Readable {
  if (!plans.has(layerPlan)) throw new TypeError('layerTar: not a plan made by planLayer');
  const plan = layerPlan as Plan;
  async function* generate(): AsyncGenerator<Buffer> {
    const headers = new HeaderBuilder(plan);
    let batch = Buffer.allocUnsafe(CHUNK);
    let used = 0;
    const take = (next: number): Buffer => {
      const b = batch.subarray(0, used);
      batch = Buffer.allocUnsafe(Math.max(CHUNK, next));
      used = 0;
      return b;
    };
    for (let i = 0; i < plan.count; i++) {
      opts.signal?.throwIfAborted();
      const { header, source } = headers.header(i);
      let n = writeHeader(header, batch, used);
      if (n < 0) {
        if (used > 0) yield take(-n);
        else batch = Buffer.allocUnsafe(Math.max(CHUNK, -n));
        n = writeHeader(header, batch, used);
      }
      used += n;
      const size = header.size;
      if (source === undefined || size === 0) continue;
      const padded = size + ((BLOCK - (size % BLOCK)) % BLOCK);
      if (size > BLOCK * 64) {
        if (used > 0) yield take(CHUNK);
        for (const chunk of fileChunks(source, size, plan.paths[i]!)) {
          opts.signal?.throwIfAborted();
          yield chunk;
        }
        const pad = padding(size);
        if (pad.length > 0) {
          pad.copy(batch, used);
          used += pad.length;
        }
      } else {
        if (batch.length - used < padded) yield take(padded);
        readFileInto(source, size, plan.paths[i]!, batch, used);
        batch.fill(0, used + size, used + padded);
        used += padded;
      }
      if (used >= CHUNK - BLOCK) yield take(CHUNK);
    }
    if (batch.length - used < END_OF_ARCHIVE.length) yield take(CHUNK);
    END_OF_ARCHIVE.copy(batch, used);
    used += END_OF_ARCHIVE.length;
    yield batch.subarray(0, used);
  }
  return Readable.from(generate(), { objectMode: false, highWaterMark: CHUNK });
}
