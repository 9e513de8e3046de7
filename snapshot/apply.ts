// Applying one layer's tar to a directory (layers.md §1.1-§1.4, the appliers of §1.3), safely.
//
// Semantics (containerd's applyNaive where the spec is silent):
// - a directory over a directory keeps the children and takes the new attributes; anything else
//   over an existing path replaces it (removed first, recursively for a directory);
// - missing parents are created 0755 root:root with the newest mtime of the layer's entries (not
//   "now", so trees do not depend on when they were extracted) and count as written by this layer;
// - `.wh.x` hides the lower `x`; `.wh..wh..opq` hides every lower child of its directory (at any
//   depth) that this layer did not write earlier; a whiteout for a path this layer wrote itself is
//   ignored (image-spec: whiteouts apply to lower layers only); other `.wh..wh.*` names are aufs
//   bookkeeping and skipped;
// - attributes in the order that keeps them: content, chown, chmod (chown clears setuid and file
//   capabilities), xattrs, times; directories get their times after all entries (creating
//   children bumps them), and directories whose contents this layer changed without an entry of
//   their own get their previous times back (as umoci does), so a tree does not depend on when it
//   was extracted.
//
// Formats:
// - merged: whiteouts delete, opaque markers empty (a plain rootfs);
// - overlay: the directory is one overlayfs lowerdir of its own (containerd's overlay snapshotter):
//   a whiteout is a char device 0/0, an opaque directory has trusted.overlay.opaque=y, and nothing
//   is deleted below this layer because nothing of other layers is there.
//
// Safety (never write outside the root, never write through a symlink):
// - `..` components are refused (UNSAFE_PATH); leading `/` is read relative to the root;
// - every parent component is checked with lstat (or was created or verified by us earlier in this
//   layer and not replaced since); a symlink or a non-directory as a parent is refused, so an
//   entry that swaps a directory for a symlink cannot redirect later entries;
// - files are created with O_EXCL|O_NOFOLLOW after removing what was there; symlinks are never
//   followed, hardlink targets are resolved the same way inside the root;
// - xattrs: only security.capability and user.* (never trusted.overlay.* or user.overlay.* from a
//   layer, which would change what an overlay mount shows); refused by the kernel → warning.
// The checks defend against the tar's content, not against another process changing the root
// while we extract: the root is ours for the duration.
import {
  chmodSync, closeSync, constants, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync, lstatSync,
  lutimesSync, mkdirSync, openSync, readdirSync, symlinkSync, writeSync,
} from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Extract } from 'tar-stream';
import { errnoOf, lstatOrNull, mknodAt, removeAll, setXattr } from './apply-fs.js';
import { binaryExtract, readHeader, TarFormatError, type EntryHeader } from './apply-tar.js';
import { SnapshotError, type SnapshotErrorCode } from './errors.js';
import { displayPath, normalizeName, parentRel, RootPaths } from './safe-path.js';
import type { Logger } from './snapshotter-log.js';

export type ApplyFormat = 'merged' | 'overlay';

export interface ApplyOptions {
  format: ApplyFormat;
  /** Names the layer in errors and warnings (its digest when there is one). */
  layerName: string;
  log?: Logger;
  signal?: AbortSignal;
}

export interface ApplyStats {
  /** Tar entries read (whiteouts included). */
  entries: number;
  /** Bytes of regular-file content written. */
  bytes: number;
  whiteouts: number;
  /** Entries skipped with a warning (sockets, devices without CAP_MKNOD). */
  skipped: number;
  /**
   * Directories this layer needed but did not list (created 0755 root:root), as byte strings. In
   * merged format they take a lower layer's directory when there is one; in overlay format they
   * shadow the attributes of the lower directory, which the layer cache corrects (cache-fixup.ts).
   */
  implicitDirs: string[];
}

const OPAQUE = '.wh..wh..opq';
const WH_PREFIX = '.wh.';
const WH_META_PREFIX = '.wh..wh.';
const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';
const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, S_IFCHR, S_IFBLK, S_IFIFO } = constants;
// (libuv adds O_CLOEXEC itself.)
const CREATE_FLAGS = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;

/** One entry of tar-stream's extract: a readable of the content with its header. */
type Entry = Extract extends AsyncIterable<infer S> ? S : never;
const REFUSED = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP']);

/** Which layer xattrs we apply; the rest are reported once per layer. */
function xattrPolicy(name: string): 'apply' | 'ignore' | 'suspicious' {
  if (name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.')) return 'suspicious';
  if (name === 'security.capability') return 'apply';
  return name.startsWith('user.') ? 'apply' : 'ignore';
}

type DirLookup = { kind: 'dir'; rel: string } | { kind: 'missing' | 'symlink' | 'notdir'; rel: string };

/** A failure of the tar stream itself (truncated, corrupt, upstream error) seen while reading an entry's content. */
class SourceError extends Error {
  constructor(readonly failure: unknown) {
    super('layer stream failed');
  }
}

/** The content of an entry, chunk by chunk; failures of the stream become SourceError. */
async function* chunks(s: AsyncIterable<unknown>): AsyncGenerator<Buffer> {
  const it = s[Symbol.asyncIterator]();
  for (;;) {
    let r: IteratorResult<unknown>;
    try {
      r = await it.next();
    } catch (e) {
      throw new SourceError(e);
    }
    if (r.done) return;
    yield r.value as Buffer;
  }
}

async function drain(s: Entry): Promise<void> {
  // tar-stream gives a directory no body (as Go's archive/tar does for every header-only type:
  // the declared size is ignored and the next block is a header), but the entry's stream only
  // ends by itself when the size is 0: draining a directory that declares a size would wait
  // forever (a 1 KiB layer hung every reader).
  if (s.header.type === 'directory') return;
  for await (const _ of chunks(s)) {
    // discard
  }
}

function writeAll(fd: number, chunk: Buffer): void {
  let off = 0;
  while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
}

function bigTime(ns: bigint): number {
  return Number(ns) / 1e9;
}

class LayerApplier {
  readonly stats: ApplyStats = { entries: 0, bytes: 0, whiteouts: 0, skipped: 0, implicitDirs: [] };
  private readonly paths: RootPaths;
  /** Paths written by this layer (entries and the parents we created). */
  private readonly written = new Set<string>();
  /** Paths known to be real directories reachable without symlinks, as of now. */
  private readonly dirs = new Set<string>(['']);
  /** Directory entries of this layer → mtime, set after all entries. */
  private readonly dirTimes = new Map<string, number>();
  /** Existing directories whose contents we changed → their previous atime/mtime. */
  private readonly restore = new Map<string, [number, number]>();
  /** Parents we created without an entry of their own (still directories). */
  private readonly implicit = new Set<string>();
  /** overlay format: whiteout devices made by this layer. */
  private readonly whiteoutDevs = new Set<string>();
  private readonly reported = new Set<string>();
  private entryName = '';
  /** The current entry's normalized path, once known (names the file an fd call failed on). */
  private entryRel: string | undefined;
  /** Newest mtime of the layer's entries: the time given to implicit parents (deterministic, unlike "now"). */
  private newest = 0;

  constructor(root: string, private readonly opts: ApplyOptions) {
    this.paths = new RootPaths(root);
  }

  private error(code: SnapshotErrorCode, msg: string, rel?: string, cause?: unknown): SnapshotError {
    const entry = displayPath(this.entryName);
    return new SnapshotError(code, `layer ${this.opts.layerName}: entry ${JSON.stringify(entry)}: ${msg}`, {
      layer: this.opts.layerName, entry, ...(rel !== undefined ? { path: this.paths.abs(rel).toString('utf8') } : {}),
    }, cause === undefined ? undefined : { cause });
  }

  private warnOnce(key: string, msg: string): void {
    if (this.reported.has(key)) {
      this.opts.log?.debug(msg);
    } else {
      this.reported.add(key);
      this.opts.log?.warn(msg);
    }
  }

  private child(parent: string, name: string): string {
    return parent === '' ? name : `${parent}/${name}`;
  }

  /** Walks `parts` from the root, component by component, with lstat (memoised in `dirs`). */
  private lookupDir(parts: readonly string[], create: boolean): DirLookup {
    const full = parts.join('/');
    if (this.dirs.has(full)) return { kind: 'dir', rel: full };
    let cur = '';
    for (const c of parts) {
      const next = this.child(cur, c);
      if (!this.dirs.has(next)) {
        const p = this.paths.abs(next);
        const st = lstatOrNull(p);
        if (st === undefined) {
          if (!create) return { kind: 'missing', rel: next };
          this.touch(cur);
          mkdirSync(p, { mode: 0o755 });
          chmodSync(p, 0o755); // whatever the umask
          this.written.add(next);
          this.implicit.add(next);
        } else if (st.isSymbolicLink()) {
          return { kind: 'symlink', rel: next };
        } else if (!st.isDirectory()) {
          return { kind: 'notdir', rel: next };
        }
        this.dirs.add(next);
      }
      cur = next;
    }
    return { kind: 'dir', rel: full };
  }

  /** The parent directory of an entry, created when missing; refuses symlinked parents. */
  private parentOf(parts: readonly string[]): string {
    const r = this.lookupDir(parts.slice(0, -1), true);
    if (r.kind === 'symlink') throw this.error('UNSAFE_PATH', `parent ${JSON.stringify(displayPath(r.rel))} is a symlink; refusing to write through it`, r.rel);
    if (r.kind !== 'dir') throw this.error('BAD_LAYER', `parent ${JSON.stringify(displayPath(r.rel))} is not a directory`, r.rel);
    return r.rel;
  }

  /** Keeps the times of an existing directory we are about to change (unless this layer set them). */
  private touch(dirRel: string): void {
    if (this.written.has(dirRel) || this.restore.has(dirRel)) return;
    const st = lstatSync(this.paths.abs(dirRel), { bigint: true });
    this.restore.set(dirRel, [bigTime(st.atimeNs), bigTime(st.mtimeNs)]);
  }

  /** Forgets what we knew about rel and everything below it (it was removed or replaced). */
  private invalidate(rel: string): void {
    if (!this.dirs.delete(rel)) return;
    const prefix = `${rel}/`;
    for (const d of this.dirs) if (d.startsWith(prefix)) this.dirs.delete(d);
    this.implicit.delete(rel);
    for (const d of this.implicit) if (d.startsWith(prefix)) this.implicit.delete(d);
  }

  private removeExisting(rel: string): void {
    const p = this.paths.abs(rel);
    const st = lstatOrNull(p);
    if (st === undefined) return;
    removeAll(p, st);
    this.invalidate(rel);
    this.whiteoutDevs.delete(rel);
  }

  /** Creates with `make`; if something is in the way (EEXIST) it is removed and `make` retried. */
  private create<T>(rel: string, make: () => T): T {
    try {
      return make();
    } catch (e) {
      if (errnoOf(e) !== 'EEXIST') throw e;
    }
    this.removeExisting(rel);
    return make();
  }

  async entry(entry: Entry): Promise<void> {
    this.entryName = entry.header.name;
    this.entryRel = undefined;
    this.stats.entries++;
    let h: EntryHeader;
    try {
      h = readHeader(entry.header);
    } catch (e) {
      throw this.error('BAD_LAYER', (e as Error).message, undefined, e);
    }
    if (h.mtime > this.newest) this.newest = h.mtime;
    const norm = normalizeName(h.name);
    if (!norm.ok) throw this.error('UNSAFE_PATH', `name has ${norm.why}`);
    if (h.sparse) throw this.error('UNSUPPORTED', 'GNU sparse entries are not supported');
    const parts = norm.parts;
    this.entryRel = parts.join('/');
    const base = parts[parts.length - 1];
    if (base === undefined) {
      this.opts.log?.debug(`layer ${this.opts.layerName}: entry for the root directory ignored`);
      await drain(entry);
      return;
    }
    if (base.startsWith(WH_PREFIX)) {
      await drain(entry);
      this.whiteout(parts, base);
      return;
    }
    switch (h.type) {
      case 'file':
        await this.file(parts, h, entry);
        return;
      case 'dir':
        this.dir(parts, h);
        break;
      case 'symlink':
        this.symlink(parts, h);
        break;
      case 'link':
        this.hardlink(parts, h);
        break;
      case 'char':
      case 'block':
      case 'fifo':
        this.special(parts, h);
        break;
      case 'socket':
        this.stats.skipped++;
        this.opts.log?.warn(`layer ${this.opts.layerName}: socket ${JSON.stringify(displayPath(h.name))} skipped (sockets cannot be extracted)`);
        break;
      default:
        throw this.error('BAD_LAYER', 'unsupported tar entry type (not a file, directory, link, device or fifo)');
    }
    await drain(entry);
  }

  private whiteout(parts: string[], base: string): void {
    this.stats.whiteouts++;
    const dirParts = parts.slice(0, -1);
    if (base === OPAQUE) {
      this.opaque(dirParts);
      return;
    }
    if (base.startsWith(WH_META_PREFIX)) {
      this.opts.log?.debug(`layer ${this.opts.layerName}: aufs metadata ${JSON.stringify(displayPath(this.entryName))} skipped`);
      return;
    }
    const name = base.slice(WH_PREFIX.length);
    if (name === '') throw this.error('BAD_LAYER', 'whiteout with an empty name');
    // `.wh..` and `.wh...` would name the directory itself and its parent: `<root>/..` for a
    // whiteout at the top, which the removal below would delete outside the root.
    if (name === '.' || name === '..') throw this.error('UNSAFE_PATH', `whiteout names ${JSON.stringify(name)}, not an entry of its directory`);
    const target = [...dirParts, name].join('/');
    if (this.written.has(target)) {
      this.opts.log?.warn(`layer ${this.opts.layerName}: whiteout ${JSON.stringify(displayPath(this.entryName))} names an entry of the same layer; ignored (whiteouts apply to lower layers)`);
      return;
    }
    if (this.opts.format === 'overlay') {
      const parent = this.parentOf(parts);
      this.touch(parent);
      this.removeExisting(target);
      try {
        mknodAt(this.paths.abs(target), S_IFCHR, 0, 0);
      } catch (e) {
        throw this.error(REFUSED.has(errnoOf(e) ?? '') ? 'UNSUPPORTED' : 'IO', `cannot make the overlay whiteout (char 0/0): ${(e as Error).message}`, target, e);
      }
      this.whiteoutDevs.add(target);
      return;
    }
    const r = this.lookupDir(dirParts, false);
    if (r.kind === 'symlink') {
      // Nothing of a lower layer lives below a symlink: the whiteout has nothing to hide, and
      // following the link to delete would act outside the path it names.
      this.warnOnce(`wh-symlink:${r.rel}`, `layer ${this.opts.layerName}: whiteout ${JSON.stringify(displayPath(this.entryName))} is below symlink ${JSON.stringify(displayPath(r.rel))}; nothing to remove`);
      return;
    }
    if (r.kind !== 'dir') return; // nothing there to hide
    const p = this.paths.abs(target);
    const st = lstatOrNull(p);
    if (st === undefined) return;
    this.touch(r.rel);
    removeAll(p, st);
    this.invalidate(target);
  }

  private opaque(dirParts: string[]): void {
    if (this.opts.format === 'overlay') {
      const r = this.lookupDir(dirParts, true);
      if (r.kind === 'symlink') throw this.error('UNSAFE_PATH', `opaque marker below symlink ${JSON.stringify(displayPath(r.rel))}`, r.rel);
      if (r.kind !== 'dir') throw this.error('BAD_LAYER', `opaque marker in ${JSON.stringify(displayPath(r.rel))}, which is not a directory`, r.rel);
      this.setOpaque(r.rel);
      return;
    }
    const r = this.lookupDir(dirParts, false);
    if (r.kind === 'symlink') {
      this.warnOnce(`wh-symlink:${r.rel}`, `layer ${this.opts.layerName}: opaque marker ${JSON.stringify(displayPath(this.entryName))} is below symlink ${JSON.stringify(displayPath(r.rel))}; nothing to remove`);
      return;
    }
    if (r.kind === 'dir') this.clearLower(r.rel);
  }

  private setOpaque(rel: string): void {
    try {
      setXattr(this.paths.abs(rel), OVERLAY_OPAQUE_XATTR, Buffer.from('y'));
    } catch (e) {
      throw this.error(REFUSED.has(errnoOf(e) ?? '') ? 'UNSUPPORTED' : 'IO', `cannot set ${OVERLAY_OPAQUE_XATTR} (needs CAP_SYS_ADMIN): ${(e as Error).message}`, rel, e);
    }
  }

  /** Removes everything below dirRel that this layer did not write (recursively). */
  private clearLower(dirRel: string): void {
    for (const name of readdirSync(this.paths.abs(dirRel), { encoding: 'buffer' })) {
      const rel = this.child(dirRel, name.toString('latin1'));
      if (!this.written.has(rel)) {
        this.touch(dirRel);
        this.removeExisting(rel);
      } else if (lstatOrNull(this.paths.abs(rel))?.isDirectory()) {
        this.clearLower(rel);
      }
    }
  }

  private async file(parts: string[], h: EntryHeader, body: Entry): Promise<void> {
    const parent = this.parentOf(parts);
    const rel = parts.join('/');
    const p = this.paths.abs(rel);
    this.touch(parent);
    const fd = this.create(rel, () => openSync(p, CREATE_FLAGS, 0o600));
    let n = 0;
    try {
      for await (const chunk of chunks(body)) {
        writeAll(fd, chunk);
        n += chunk.length;
      }
      if (n !== h.size) throw this.error('BAD_LAYER', `content is ${n} bytes, header says ${h.size}`, rel);
      fchownSync(fd, h.uid, h.gid);
      fchmodSync(fd, h.mode);
      this.xattrs(rel, h);
      futimesSync(fd, h.mtime, h.mtime);
    } finally {
      closeSync(fd);
    }
    this.stats.bytes += n;
    this.written.add(rel);
  }

  private dir(parts: string[], h: EntryHeader): void {
    const parent = this.parentOf(parts);
    const rel = parts.join('/');
    const p = this.paths.abs(rel);
    const st = lstatOrNull(p);
    const replacesWhiteout = this.whiteoutDevs.has(rel);
    if (st === undefined || !st.isDirectory()) {
      this.touch(parent);
      if (st !== undefined) this.removeExisting(rel);
      mkdirSync(p, { mode: 0o700 });
    }
    lchownSync(p, h.uid, h.gid);
    chmodSync(p, h.mode);
    // overlay: a directory replacing this layer's own whiteout must not show the lower one's children.
    if (replacesWhiteout) this.setOpaque(rel);
    this.xattrs(rel, h);
    this.dirs.add(rel);
    this.written.add(rel);
    this.implicit.delete(rel);
    this.dirTimes.set(rel, h.mtime);
  }

  private symlink(parts: string[], h: EntryHeader): void {
    if (h.linkname === '') throw this.error('BAD_LAYER', 'symlink with an empty target');
    const parent = this.parentOf(parts);
    const rel = parts.join('/');
    const p = this.paths.abs(rel);
    this.touch(parent);
    this.create(rel, () => symlinkSync(Buffer.from(h.linkname, 'latin1'), p));
    lchownSync(p, h.uid, h.gid);
    this.xattrs(rel, h);
    lutimesSync(p, h.mtime, h.mtime);
    this.written.add(rel);
  }

  private hardlink(parts: string[], h: EntryHeader): void {
    const t = normalizeName(h.linkname);
    if (!t.ok) throw this.error('UNSAFE_PATH', `hardlink target ${JSON.stringify(displayPath(h.linkname))} has ${t.why}`);
    if (t.parts.length === 0) throw this.error('BAD_LAYER', 'hardlink to the root directory');
    const targetRel = t.parts.join('/');
    const tdir = this.lookupDir(t.parts.slice(0, -1), false);
    if (tdir.kind === 'symlink') {
      throw this.error('UNSAFE_PATH', `hardlink target ${JSON.stringify(displayPath(h.linkname))} is below symlink ${JSON.stringify(displayPath(tdir.rel))}`, tdir.rel);
    }
    const tp = this.paths.abs(targetRel);
    const tst = tdir.kind === 'dir' ? lstatOrNull(tp) : undefined;
    if (tst === undefined) {
      const where = this.opts.format === 'overlay' ? 'in this layer (the overlay format cannot link to a lower layer)' : 'in the root';
      throw this.error('BAD_LAYER', `hardlink target ${JSON.stringify(displayPath(h.linkname))} does not exist ${where}`, targetRel);
    }
    if (tst.isDirectory()) throw this.error('BAD_LAYER', `hardlink target ${JSON.stringify(displayPath(h.linkname))} is a directory`, targetRel);
    const rel = parts.join('/');
    if (rel === targetRel) return;
    const parent = this.parentOf(parts);
    const p = this.paths.abs(rel);
    const st = lstatOrNull(p);
    if (st !== undefined && st.ino === tst.ino && st.dev === tst.dev) {
      this.written.add(rel);
      return;
    }
    this.touch(parent);
    this.create(rel, () => linkSync(tp, p));
    this.written.add(rel);
  }

  private special(parts: string[], h: EntryHeader): void {
    const parent = this.parentOf(parts);
    const rel = parts.join('/');
    const p = this.paths.abs(rel);
    const typeBits = h.type === 'char' ? S_IFCHR : h.type === 'block' ? S_IFBLK : S_IFIFO;
    if (this.opts.format === 'overlay' && h.type === 'char' && h.devmajor === 0 && h.devminor === 0) {
      this.warnOnce('char00', `layer ${this.opts.layerName}: ${JSON.stringify(displayPath(h.name))} is a char device 0/0, which overlayfs reads as a whiteout`);
    }
    this.touch(parent);
    try {
      this.create(rel, () => mknodAt(p, typeBits | h.mode, h.devmajor, h.devminor));
    } catch (e) {
      if (h.type !== 'fifo' && errnoOf(e) === 'EPERM') {
        // As containerd does in a user namespace: devices cannot be made without CAP_MKNOD.
        this.stats.skipped++;
        this.warnOnce('mknod', `layer ${this.opts.layerName}: device ${JSON.stringify(displayPath(h.name))} skipped: mknod not permitted`);
        return;
      }
      throw e;
    }
    lchownSync(p, h.uid, h.gid);
    chmodSync(p, h.mode); // after chown, which clears setuid/setgid
    this.xattrs(rel, h);
    lutimesSync(p, h.mtime, h.mtime);
    this.written.add(rel);
  }

  private xattrs(rel: string, h: EntryHeader): void {
    for (const [name, value] of h.xattrs) {
      const policy = xattrPolicy(name);
      if (policy !== 'apply') {
        const msg = `layer ${this.opts.layerName}: xattr ${name} not applied (${policy === 'suspicious' ? 'overlayfs bookkeeping must never come from a layer' : 'only security.capability and user.* are kept'})`;
        if (policy === 'suspicious') this.warnOnce(`xattr:${name}`, msg);
        else if (!this.reported.has(`xattr:${name}`)) {
          this.reported.add(`xattr:${name}`);
          this.opts.log?.debug(msg);
        }
        continue;
      }
      try {
        setXattr(this.paths.abs(rel), name, value);
      } catch (e) {
        const code = errnoOf(e) ?? '';
        if (REFUSED.has(code) || (code === 'EINVAL' && name === 'security.capability')) {
          this.warnOnce(`xattr-refused:${name}:${code}`, `layer ${this.opts.layerName}: xattr ${name} on ${JSON.stringify(displayPath(rel))} refused by the kernel (${code}); skipped`);
          continue;
        }
        throw e;
      }
    }
  }

  /** Directory times, last: creating children changed them. */
  finish(): void {
    for (const [rel, [atime, mtime]] of this.restore) {
      if (!this.written.has(rel) && this.dirs.has(rel)) lutimesSync(this.paths.abs(rel), atime, mtime);
    }
    for (const [rel, mtime] of this.dirTimes) {
      if (this.dirs.has(rel)) lutimesSync(this.paths.abs(rel), mtime, mtime);
    }
    this.stats.implicitDirs = [...this.implicit].filter((d) => this.dirs.has(d)).sort();
    for (const rel of this.stats.implicitDirs) lutimesSync(this.paths.abs(rel), this.newest, this.newest);
  }

  /** An error from handling the current entry, as a SnapshotError naming layer and entry. */
  wrap(e: unknown): unknown {
    if (isAbort(e)) return e;
    if (e instanceof SourceError) return streamError(e.failure, this.opts);
    if (e instanceof SnapshotError && e.layer !== undefined) return e;
    if (e instanceof TarFormatError) return this.error('BAD_LAYER', e.message, undefined, e);
    const path = (e as { path?: unknown }).path;
    // Calls on an fd (writeSync, fchown…) report no path: name the entry's file, so that an
    // ENOSPC or EDQUOT says which filesystem is full.
    const rel = typeof path !== 'string' && errnoOf(e) !== undefined ? this.entryRel : undefined;
    const err = this.error('IO', (e as Error).message ?? String(e), rel, e);
    if (typeof path === 'string') (err as { path: string | undefined }).path = path;
    return err;
  }
}

function isAbort(e: unknown): boolean {
  return (e as { name?: unknown })?.name === 'AbortError';
}

/**
 * Applies one uncompressed layer tar to `root` (see the top of this file). Errors are
 * SnapshotErrors naming the layer and the entry: UNSAFE_PATH, BAD_LAYER (malformed or truncated
 * tar, or the stream failed: corrupt gzip, digest mismatch), UNSUPPORTED, IO. On error the root is
 * left partly written; callers extract into a directory they can throw away.
 */
export async function applyLayerTar(tar: Readable, root: string, opts: ApplyOptions): Promise<ApplyStats> {
  opts.signal?.throwIfAborted();
  const applier = new LayerApplier(root, opts);
  const ex = binaryExtract();
  const feeding = pipeline(tar, ex, ...(opts.signal ? [{ signal: opts.signal }] : []));
  // An error of ours (from handling an entry) or of the stream (tar format, source, abort).
  let ours: unknown;
  let streamFailure: unknown;
  let failed = false;
  try {
    for await (const entry of ex) {
      opts.signal?.throwIfAborted();
      try {
        await applier.entry(entry);
      } catch (e) {
        ours = applier.wrap(e);
        failed = true;
        break; // ends the iteration, which destroys the extract stream
      }
    }
  } catch (e) {
    streamFailure = e;
    failed = true;
  }
  if (failed) {
    ex.destroy();
    await feeding.catch(() => undefined);
    throw ours ?? streamError(streamFailure, opts);
  }
  try {
    await feeding;
  } catch (e) {
    throw streamError(e, opts);
  }
  applier.finish();
  return applier.stats;
}

function streamError(e: unknown, opts: ApplyOptions): unknown {
  if (isAbort(e) || (e instanceof SnapshotError && e.layer !== undefined)) return e;
  const msg = (e as Error)?.message ?? String(e);
  const why = msg === 'Unexpected end of data' ? 'truncated tar (an entry runs past the end of the stream)' : msg;
  return new SnapshotError('BAD_LAYER', `layer ${opts.layerName}: unreadable layer tar: ${why}`, { layer: opts.layerName }, { cause: e });
}
