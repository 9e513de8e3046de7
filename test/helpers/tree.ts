// dumpTree(dir): a sorted, comparable description of a directory tree, for asserting what an
// extraction or a build produced and for comparing two trees (ours vs umoci / GNU tar).
// Names are read as bytes (non-UTF-8 names survive, shown with `\xHH`); xattrs are read with
// getfattr (an oracle independent of our native addon).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, type BigIntStats } from 'node:fs';
import { displayName, showBytes } from './tar.js';

export type TreeType = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';

export interface TreeEntry {
  /** Relative path without a leading `./` (display form, see displayName). */
  path: string;
  type: TreeType;
  /** Permission and special bits (07777). */
  mode: number;
  uid: number;
  gid: number;
  /** Regular files only (0 otherwise: dir sizes depend on the filesystem). */
  size: number;
  /** sha256 hex of a regular file's content. */
  sha256?: string;
  /** Symlink target. */
  link?: string;
  /** `major:minor` of a device. */
  rdev?: string;
  /** For a regular file sharing its inode with other paths of the tree: the smallest such path. */
  hardlink?: string;
  /** xattr name → printable value (see showBytes). */
  xattrs?: Record<string, string>;
  /** mtime in whole seconds (only with `mtime: true`). */
  mtime?: number;
}

export interface DumpOptions {
  /** Read xattrs (default true). Which ones: all but security.selinux unless `xattrFilter` says. */
  xattrs?: boolean;
  xattrFilter?: (name: string) => boolean;
  /** Include mtimes (default false: dir mtimes are often not meaningful to compare). */
  mtime?: boolean;
  /** Skip paths (display form) for which this returns true, with everything under them. */
  exclude?: (path: string) => boolean;
}

const TYPE_BITS: [number, TreeType][] = [
  [0o100000, 'file'], [0o040000, 'dir'], [0o120000, 'symlink'], [0o020000, 'char'],
  [0o060000, 'block'], [0o010000, 'fifo'], [0o140000, 'socket'],
];

export function typeOf(mode: number | bigint): TreeType {
  const m = Number(mode) & 0o170000;
  const t = TYPE_BITS.find(([bits]) => bits === m);
  if (!t) throw new Error(`unknown file type ${m.toString(8)}`);
  return t[1];
}

/** The sha256 (hex) of a file's content, read in 1 MiB chunks. */
export function sha256File(p: string | Buffer): string {
  const h = createHash('sha256');
  const fd = openSync(p, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

/** getfattr's output line (read as latin1: it prints names as raw bytes, some `\ooo`-escaped) to bytes. */
function unescapeOctal(s: string): Buffer {
  const out: number[] = [];
  const raw = Buffer.from(s, 'latin1');
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x5c && i + 3 < raw.length + 1 && /^[0-7]{3}$/.test(raw.subarray(i + 1, i + 4).toString('latin1'))) {
      out.push(parseInt(raw.subarray(i + 1, i + 4).toString('latin1'), 8));
      i += 3;
    } else {
      out.push(raw[i]!);
    }
  }
  return Buffer.from(out);
}

/** All xattrs under dir (no dereference), keyed by the path's bytes (latin1 string). */
export function readXattrs(dir: string): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  let text: string;
  try {
    text = execFileSync('getfattr', ['-R', '-h', '-P', '-d', '-m', '-', '-e', 'hex', '--absolute-names', dir], {
      encoding: 'latin1', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    // getfattr exits 1 when some file had no xattrs support; its stdout is still complete.
    const err = e as { stdout?: string };
    if (typeof err.stdout !== 'string') throw e;
    text = err.stdout;
  }
  let current: string | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('# file: ')) {
      current = unescapeOctal(line.slice('# file: '.length)).toString('latin1');
      continue;
    }
    const eq = line.indexOf('=');
    if (current === undefined || eq <= 0) continue;
    const name = line.slice(0, eq);
    const v = line.slice(eq + 1);
    const value = v.startsWith('0x') ? Buffer.from(v.slice(2), 'hex') : v.startsWith('"') ? Buffer.from(v.slice(1, -1)) : Buffer.alloc(0);
    (out.get(current) ?? out.set(current, {}).get(current)!)[name] = showBytes(value);
  }
  return out;
}

/** Sorted entries of the tree under `dir` (the root itself is not listed). */
export function dumpTree(dir: string, opts: DumpOptions = {}): TreeEntry[] {
  const root = Buffer.from(dir.replace(/\/+$/, ''), 'utf8');
  const filter = opts.xattrFilter ?? ((n: string) => n !== 'security.selinux');
  const xattrs = opts.xattrs === false ? new Map<string, Record<string, string>>() : readXattrs(dir.replace(/\/+$/, ''));
  const out: TreeEntry[] = [];
  const inodes = new Map<string, string[]>();
  const walk = (rel: Buffer): void => {
    const abs = rel.length === 0 ? root : Buffer.concat([root, Buffer.from('/'), rel]);
    for (const name of readdirSync(abs, { encoding: 'buffer' })) {
      const childRel = rel.length === 0 ? name : Buffer.concat([rel, Buffer.from('/'), name]);
      const childAbs = Buffer.concat([root, Buffer.from('/'), childRel]);
      const path = displayName(childRel);
      if (opts.exclude?.(path)) continue;
      const st = lstatSync(childAbs, { bigint: true }) as BigIntStats;
      const type = typeOf(st.mode);
      const e: TreeEntry = { path, type, mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), size: 0 };
      if (type === 'file') {
        e.size = Number(st.size);
        e.sha256 = sha256File(childAbs);
        if (st.nlink > 1n) {
          const key = `${st.dev}:${st.ino}`;
          (inodes.get(key) ?? inodes.set(key, []).get(key)!).push(path);
        }
      }
      if (type === 'symlink') e.link = displayName(readlinkSync(childAbs, { encoding: 'buffer' }));
      if (type === 'char' || type === 'block') {
        const r = st.rdev;
        const major = ((r >> 8n) & 0xfffn) | ((r >> 32n) & ~0xfffn);
        const minor = (r & 0xffn) | ((r >> 12n) & ~0xffn);
        e.rdev = `${major}:${minor}`;
      }
      const xa = xattrs.get(childAbs.toString('latin1'));
      if (xa) {
        const kept = Object.fromEntries(Object.entries(xa).filter(([k]) => filter(k)).sort(([a], [b]) => (a < b ? -1 : 1)));
        if (Object.keys(kept).length > 0) e.xattrs = kept;
      }
      if (opts.mtime) e.mtime = Number(st.mtimeNs / 1_000_000_000n);
      out.push(e);
      if (type === 'dir') walk(childRel);
    }
  };
  walk(Buffer.alloc(0));
  for (const paths of inodes.values()) {
    if (paths.length < 2) continue;
    const first = [...paths].sort()[0]!;
    for (const e of out) if (paths.includes(e.path) && e.path !== first) e.hardlink = first;
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** A compact one-line-per-entry rendering (for readable diffs in failing tests). */
export function renderTree(entries: readonly TreeEntry[]): string[] {
  return entries.map((e) => {
    const parts = [e.type, e.mode.toString(8).padStart(4, '0'), `${e.uid}:${e.gid}`, e.path];
    if (e.type === 'file') parts.push(`${e.size}`, e.sha256!.slice(0, 12));
    if (e.link !== undefined) parts.push(`-> ${e.link}`);
    if (e.rdev !== undefined) parts.push(e.rdev);
    if (e.hardlink !== undefined) parts.push(`link=${e.hardlink}`);
    if (e.xattrs) parts.push(JSON.stringify(e.xattrs));
    if (e.mtime !== undefined) parts.push(`@${e.mtime}`);
    return parts.join(' ');
  });
}
