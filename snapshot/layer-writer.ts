// The deterministic layer writer: a set of changes read from a directory → one OCI layer tar.
//
// planLayer() does everything but reading file contents (lstat, readlink, xattrs, parents,
// whiteouts, hardlinks, order), so the number of entries is known before anything is stored;
// layerTar() then streams the plan, reading each regular file in bounded chunks.
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
import { closeSync, lstatSync, openSync, readlinkSync, readSync, type BigIntStats } from 'node:fs';
import { Readable } from 'node:stream';
import { SnapshotError } from './errors.js';
import { engineIgnored, type IgnorePredicate } from './ignore.js';
import { BLOCK, encodeHeader, END_OF_ARCHIVE, padding, type TarEntryType, type TarHeader } from './layer-writer-tar.js';
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

export interface PlannedEntry {
  /** Relative path (byte string); for a whiteout, the path it deletes. */
  readonly path: RelPath;
  readonly whiteout: boolean;
  readonly header: TarHeader;
  /** Absolute path to read a regular file's content from. */
  readonly source?: string | Buffer;
}

export interface LayerPlan {
  readonly entries: readonly PlannedEntry[];
  /** Total content bytes of the regular files. */
  readonly contentBytes: number;
}

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
const TYPE_OF: Record<number, TarEntryType | 'socket'> = {
  0o100000: 'file', 0o040000: 'dir', 0o120000: 'symlink', 0o020000: 'char', 0o060000: 'block',
  0o010000: 'fifo', 0o140000: 'socket',
};
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

function lstatOrNull(p: string | Buffer): BigIntStats | null {
  try {
    return lstatSync(p, { bigint: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw new SnapshotError('IO', `lstat ${String(p)}`, { path: String(p) }, { cause: e });
  }
}

/**
 * Plans the layer for `changes` as found under `root` (the directory holding the changed state: a
 * merged rootfs, or an overlay upperdir, which holds every changed entry and all its parents).
 */
export function planLayer(root: string, changes: Iterable<Change>, opts: PlanOptions = {}): LayerPlan {
  const rp = new RootPath(root);
  const log = opts.log;
  const ignoreUser = opts.ignore;
  const ignoredMemo = new Map<RelPath, boolean>();
  const ignored = (p: RelPath): boolean => {
    const hit = ignoredMemo.get(p);
    if (hit !== undefined) return hit;
    const d = displayPath(p);
    const parent = parentOf(p);
    const v = (parent !== '' && ignored(parent)) || engineIgnored(d) || (ignoreUser?.(d) ?? false);
    ignoredMemo.set(p, v);
    return v;
  };

  // path → whether it is deleted (a whiteout) or present; a present entry wins over its deletion.
  const wanted = new Map<RelPath, 'delete' | 'present'>();
  for (const c of changes) {
    if (c.path === '' || ignored(c.path)) continue;
    if (c.kind === 'delete') {
      if (!wanted.has(c.path)) wanted.set(c.path, 'delete');
    } else {
      wanted.set(c.path, 'present');
    }
  }

  interface Draft { path: RelPath; whiteout: boolean; st?: BigIntStats }
  const drafts = new Map<string, Draft>(); // key: (whiteout ? 'w' : 'e') + path
  const dirStat = new Map<RelPath, BigIntStats | null>();
  const statDir = (p: RelPath): BigIntStats | null => {
    if (dirStat.has(p)) return dirStat.get(p)!;
    const st = lstatOrNull(rp.abs(p));
    const v = st !== null && st.isDirectory() ? st : null;
    dirStat.set(p, v);
    return v;
  };
  const addParents = (p: RelPath): boolean => {
    const ancestors = ancestorsOf(p);
    for (const a of ancestors) if (statDir(a) === null) return false;
    for (const a of ancestors) if (!drafts.has(`e${a}`)) drafts.set(`e${a}`, { path: a, whiteout: false, st: statDir(a)! });
    return true;
  };

  for (const [p, what] of wanted) {
    if (baseOf(p).startsWith(WHITEOUT_PREFIX)) {
      throw new SnapshotError('UNSUPPORTED', `cannot put /${displayPath(p)} in a layer: names starting with ".wh." are whiteouts in OCI layers`, { path: displayPath(p) });
    }
    if (what === 'delete') {
      // Never under a parent that is no longer a directory (kaniko #2308).
      if (!addParents(p)) {
        log?.debug(`layer: no whiteout for /${displayPath(p)}: its parent is no longer a directory`);
        continue;
      }
      drafts.set(`w${p}`, { path: p, whiteout: true });
      continue;
    }
    const st = lstatOrNull(rp.abs(p));
    if (st === null) {
      throw new SnapshotError('IO', `changed path /${displayPath(p)} vanished before the layer was written`, { path: displayPath(p) });
    }
    if (TYPE_OF[Number(st.mode) & S_IFMT] === 'socket') {
      log?.warn(`layer: skipping socket /${displayPath(p)} (sockets cannot be stored in a layer)`);
      continue;
    }
    if (!addParents(p)) {
      throw new SnapshotError('IO', `parent of /${displayPath(p)} is not a directory`, { path: displayPath(p) });
    }
    drafts.set(`e${p}`, { path: p, whiteout: false, st });
  }

  // A deleted path that is present again (as the parent of an entry) is not whited out as well.
  const sorted = [...drafts.values()].filter((d) => !(d.whiteout && drafts.has(`e${d.path}`))).sort((a, b) => compareLayerOrder(a.path, a.whiteout, b.path, b.whiteout));
  const clamp = (s: number): number => (opts.sourceDateEpoch !== undefined && s > opts.sourceDateEpoch ? opts.sourceDateEpoch : s);
  const maxHoles = opts.maxHoleBytes ?? DEFAULT_MAX_HOLE_BYTES;
  const firstOfInode = new Map<string, Buffer>();
  const entries: PlannedEntry[] = [];
  let contentBytes = 0;

  for (const d of sorted) {
    if (d.whiteout) {
      const parent = parentOf(d.path);
      const wname = `${parent === '' ? '' : `${parent}/`}${WHITEOUT_PREFIX}${baseOf(d.path)}`;
      entries.push({
        path: d.path, whiteout: true,
        header: { name: pathBytes(wname), type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtime: 0 },
      });
      continue;
    }
    const st = d.st!;
    const type = TYPE_OF[Number(st.mode) & S_IFMT] as TarEntryType;
    const name = pathBytes(type === 'dir' ? `${d.path}/` : d.path);
    const header: TarHeader = {
      name, type, mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid), size: 0,
      mtime: clamp(floorSeconds(st.mtimeNs)),
    };
    const abs = rp.abs(d.path);
    if (type !== 'dir' && st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`;
      const first = firstOfInode.get(key);
      if (first !== undefined) {
        entries.push({ path: d.path, whiteout: false, header: { ...header, type: 'link', linkname: first } });
        continue;
      }
      firstOfInode.set(key, name);
    }
    if (type === 'file') {
      header.size = Number(st.size);
      const holes = header.size - Number(st.blocks) * 512;
      if (holes > maxHoles) {
        throw new SnapshotError('UNSUPPORTED', `/${displayPath(d.path)} is a sparse file with ${holes} bytes of holes; a layer would carry them as zeros (with useradd, use -l for large uids)`, { path: displayPath(d.path) });
      }
      if (holes > 64 * 1024 * 1024) log?.warn(`layer: sparse file /${displayPath(d.path)} is written in full (${header.size} bytes)`);
      contentBytes += header.size;
    } else if (type === 'symlink') {
      header.linkname = readlinkSync(abs, { encoding: 'buffer' });
    } else if (type === 'char' || type === 'block') {
      Object.assign(header, devNumbers(st.rdev));
    }
    const xattrs = readKeptXattrs(rp.absString(d.path), (why) => log?.warn(`layer: /${displayPath(d.path)}: ${why}`));
    if (xattrs.length > 0) header.xattrs = xattrs;
    entries.push(type === 'file' ? { path: d.path, whiteout: false, header, source: abs } : { path: d.path, whiteout: false, header });
  }
  return { entries, contentBytes };
}

const CHUNK = 1024 * 1024;

/** Reads exactly `size` bytes of a file in bounded chunks. */
function* fileChunks(source: string | Buffer, size: number, path: RelPath): Generator<Buffer> {
  let fd: number;
  try {
    fd = openSync(source, 'r');
  } catch (e) {
    throw new SnapshotError('IO', `open /${displayPath(path)} for the layer`, { path: displayPath(path) }, { cause: e });
  }
  try {
    let left = size;
    while (left > 0) {
      const buf = Buffer.allocUnsafe(Math.min(left, CHUNK));
      let got = 0;
      while (got < buf.length) {
        const n = readSync(fd, buf, got, buf.length - got, null);
        if (n === 0) break;
        got += n;
      }
      if (got < buf.length) {
        throw new SnapshotError('IO', `/${displayPath(path)} shrank while the layer was written (${size - left + got} of ${size} bytes)`, { path: displayPath(path) });
      }
      left -= got;
      yield buf;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * The tar stream of a plan. File contents are read in chunks of at most 1 MiB as the consumer
 * pulls, so memory stays flat whatever the file or layer size; small entries are batched into
 * larger buffers to keep per-chunk overhead low.
 */
export function layerTar(plan: LayerPlan, opts: { signal?: AbortSignal } = {}): Readable {
  async function* generate(): AsyncGenerator<Buffer> {
    let batch: Buffer[] = [];
    let batched = 0;
    const take = (): Buffer => {
      const b = batch.length === 1 ? batch[0]! : Buffer.concat(batch, batched);
      batch = [];
      batched = 0;
      return b;
    };
    for (const e of plan.entries) {
      opts.signal?.throwIfAborted();
      const h = encodeHeader(e.header);
      batch.push(h);
      batched += h.length;
      if (e.source !== undefined && e.header.size > 0) {
        if (e.header.size > BLOCK * 64) {
          yield take();
          for (const chunk of fileChunks(e.source, e.header.size, e.path)) {
            opts.signal?.throwIfAborted();
            yield chunk;
          }
        } else {
          for (const chunk of fileChunks(e.source, e.header.size, e.path)) {
            batch.push(chunk);
            batched += chunk.length;
          }
        }
        const pad = padding(e.header.size);
        batch.push(pad);
        batched += pad.length;
      }
      if (batched >= CHUNK) yield take();
    }
    batch.push(END_OF_ARCHIVE);
    batched += END_OF_ARCHIVE.length;
    yield take();
  }
  return Readable.from(generate(), { objectMode: false, highWaterMark: CHUNK });
}
