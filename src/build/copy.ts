import {
  copyFileSync,
  lchownSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  chmodSync,
  writeFileSync,
  type Stats,
} from 'node:fs';
import { posix } from 'node:path';
import type { Logger } from '../log.js';
import type { ContextSource } from './context-sources.js';
import type { IgnoreMatcher } from './dockerignore.js';
import { BuildError, type BuildErrorDetails } from './errors.js';
import { resolveScoped } from './scoped-path.js';

export interface Owner {
  uid: number;
  gid: number;
}

/** Everything COPY needs once sources are resolved and flags are parsed. */
export interface CopyPlan {
  rootfs: string;
  sources: readonly ContextSource[];
  /** Destination as written (expanded), absolute or relative to `workdir`. */
  dest: string;
  /** The image's WORKDIR ('/' when unset). */
  workdir: string;
  /** --chown, resolved; files are root-owned otherwise (Docker's rule). */
  owner: Owner | undefined;
  /** --chmod, parsed (octal). */
  chmod: number | undefined;
  ignore: IgnoreMatcher;
  /**
   * COPY/ADD --exclude patterns. As in BuildKit they are matched against paths relative to each
   * source: a top-level source by its name, an entry of a copied directory by its path below it.
   */
  exclude?: IgnoreMatcher;
  where: BuildErrorDetails;
  log?: Logger;
}

export interface CopyStats {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
}

/** The destination as an absolute image path, and whether it names a directory. */
export function destinationPath(dest: string, workdir: string): { path: string; isDir: boolean } {
  const isDir = dest.endsWith('/') || dest === '.' || dest.endsWith('/.');
  const abs = posix.resolve(workdir || '/', dest);
  return { path: abs, isDir };
}

/**
 * Creates `dir` (an absolute image path) and any missing parents inside the rootfs, following
 * symlinks scoped to the rootfs (a dangling symlink on the way is completed: its target's missing
 * directories are created, as BuildKit's scoped MkdirAll does). Every directory created gets
 * `owner` (root when none): BuildKit chowns all the directories a `COPY --chown` creates
 * (fsutil copy.MkdirAll). Existing directories are left as they are. Returns the host path.
 */
export function mkdirScoped(rootfs: string, dir: string, owner: Owner | undefined, where: BuildErrorDetails): string {
  const { hostPath, rel } = resolveScoped(rootfs, dir);
  const st = safeLstat(hostPath);
  if (st) {
    if (!st.isDirectory()) {
      throw new BuildError('BAD_DESTINATION', `cannot copy to ${dir}: /${rel} exists and is not a directory`, { ...where, path: dir });
    }
    return hostPath;
  }
  // `rel` is resolved: its existing components are real directories (or a file: refused above
  // when the recursion reaches it), so creating its parent first terminates.
  if (rel.includes('/')) mkdirScoped(rootfs, `/${posix.dirname(rel)}`, owner, where);
  try {
    mkdirSync(hostPath, { mode: 0o755 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') {
      throw new BuildError('BAD_DESTINATION', `cannot copy to ${dir}: a parent of /${rel} is not a directory`, { ...where, path: dir }, { cause: e });
    }
    throw e;
  }
  chmodSync(hostPath, 0o755); // umask-proof
  const o = owner ?? { uid: 0, gid: 0 };
  lchownSync(hostPath, o.uid, o.gid);
  return hostPath;
}

/** Copies all sources to the destination with Docker's COPY rules. */
export function copySources(plan: CopyPlan): CopyStats {
  const stats: CopyStats = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  const { path: destAbs, isDir: destNamedDir } = destinationPath(plan.dest, plan.workdir);
  if (plan.sources.some((s) => s.keep !== undefined)) {
    copyWithParents(plan, destAbs, stats);
    return stats;
  }
  const many = plan.sources.length > 1 || plan.sources.some((s) => s.fromWildcard);
  if (many && !destNamedDir) {
    // Docker: "When using COPY with more than one source file, the destination must be a directory and end with a /".
    const existing = resolveScoped(plan.rootfs, destAbs);
    let isExistingDir = false;
    try {
      isExistingDir = lstatSync(existing.hostPath).isDirectory();
    } catch {
      /* absent */
    }
    if (!isExistingDir) {
      throw new BuildError('BAD_DESTINATION', `when using COPY with more than one source file, the destination must be a directory and end with a /: ${plan.dest}`, { ...plan.where, path: plan.dest });
    }
  }
  for (const src of plan.sources) {
    if (src.stats.isDirectory()) {
      const hostDir = mkdirScoped(plan.rootfs, destAbs, plan.owner, plan.where);
      copyTree(plan, src.hostPath, src.rel, hostDir, stats);
      continue;
    }
    let target: string;
    if (destNamedDir || many || isDirectoryInRootfs(plan.rootfs, destAbs)) {
      mkdirScoped(plan.rootfs, destAbs, plan.owner, plan.where);
      target = posix.join(destAbs, posix.basename(src.rel || src.hostPath));
    } else {
      mkdirScoped(plan.rootfs, posix.dirname(destAbs), plan.owner, plan.where);
      target = destAbs;
    }
    copyEntry(plan, src.hostPath, src.stats, hostTarget(plan.rootfs, target), stats);
  }
  return stats;
}

/**
 * COPY --parents (BuildKit): the destination is a directory, and each source lands at
 * `<dest>/<keep>` (its context path, or the part after a `/./` pivot); directories created on the
 * way are new `0755` directories owned like the copy.
 */
function copyWithParents(plan: CopyPlan, destAbs: string, stats: CopyStats): void {
  mkdirScoped(plan.rootfs, destAbs, plan.owner, plan.where);
  for (const src of plan.sources) {
    const keep = src.keep ?? posix.basename(src.rel);
    const target = keep === '' ? destAbs : posix.join(destAbs, keep);
    if (src.stats.isDirectory()) {
      const hostDir = mkdirScoped(plan.rootfs, target, plan.owner, plan.where);
      copyTree(plan, src.hostPath, src.rel, hostDir, stats);
      continue;
    }
    mkdirScoped(plan.rootfs, posix.dirname(target), plan.owner, plan.where);
    copyEntry(plan, src.hostPath, src.stats, hostTarget(plan.rootfs, target), stats);
  }
}

function isDirectoryInRootfs(rootfs: string, abs: string): boolean {
  try {
    return lstatSync(resolveScoped(rootfs, abs).hostPath).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The host path to create for image path `abs`: its parent resolved scoped to the rootfs, and the
 * last component itself NOT followed (a symlink there is replaced, never written through).
 */
function hostTarget(rootfs: string, abs: string): string {
  return resolveScoped(rootfs, abs, { followFinal: false }).hostPath;
}

/** Copies the contents of a context directory into an existing rootfs directory. */
function copyTree(plan: CopyPlan, hostSrcDir: string, relSrc: string, hostDestDir: string, stats: CopyStats, inSource = ''): void {
  for (const name of readdirSync(hostSrcDir).sort()) {
    const rel = relSrc === '' ? name : `${relSrc}/${name}`;
    const relInSource = inSource === '' ? name : `${inSource}/${name}`;
    if (plan.ignore.excludes(rel) || plan.exclude?.excludes(relInSource)) continue;
    const srcPath = `${hostSrcDir}/${name}`;
    const st = lstatSync(srcPath);
    const dst = `${hostDestDir}/${name}`;
    if (st.isDirectory()) {
      let existing: Stats | undefined;
      try {
        existing = lstatSync(dst);
      } catch {
        existing = undefined;
      }
      let dstDir = dst;
      if (existing?.isSymbolicLink()) {
        // Merge into what the image's symlink points at, but only inside the rootfs.
        dstDir = resolveScoped(plan.rootfs, '/' + relativeToRoot(plan.rootfs, dst)).hostPath;
        existing = safeLstat(dstDir);
      }
      if (existing && !existing.isDirectory()) rmSync(dstDir, { force: true });
      if (!existing || !existing.isDirectory()) {
        mkdirSync(dstDir);
        stats.dirs++;
      }
      copyTree(plan, srcPath, rel, dstDir, stats, relInSource);
      applyMetadata(plan, dstDir, st, false);
    } else {
      copyEntry(plan, srcPath, st, dst, stats);
    }
  }
}

function relativeToRoot(rootfs: string, hostPath: string): string {
  return hostPath.slice(rootfs.length).replace(/^\/+/, '');
}

function safeLstat(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

/** Copies one non-directory (or a followed top-level directory source is handled by copyTree). */
function copyEntry(plan: CopyPlan, srcPath: string, st: Stats, dst: string, stats: CopyStats): void {
  const existing = safeLstat(dst);
  if (existing) {
    if (existing.isDirectory() && !st.isDirectory()) {
      throw new BuildError('BAD_DESTINATION', `cannot overwrite directory ${'/' + relativeToRoot(plan.rootfs, dst)} with a file`, { ...plan.where, path: dst });
    }
    rmSync(dst, { force: true });
  }
  if (st.isSymbolicLink()) {
    symlinkSync(readlinkSync(srcPath), dst);
    stats.symlinks++;
    applyMetadata(plan, dst, st, true);
  } else if (st.isFile()) {
    copyFileSync(srcPath, dst);
    stats.files++;
    stats.bytes += st.size;
    applyMetadata(plan, dst, st, false);
  } else {
    plan.log?.warn(`COPY: skipping ${srcPath}: not a regular file, directory or symlink`);
  }
}

/** Owner (default root), mode (--chmod or the source's), mtime (the source's), in that order. */
function applyMetadata(plan: CopyPlan, dst: string, st: Stats, isLink: boolean): void {
  const owner = plan.owner ?? { uid: 0, gid: 0 };
  lchownSync(dst, owner.uid, owner.gid);
  if (!isLink) chmodSync(dst, plan.chmod ?? st.mode & 0o7777);
  lutimesSync(dst, st.atime, st.mtime);
}

/** COPY <<EOF: writes a here-document as a file. */
export function writeHeredocFile(plan: Omit<CopyPlan, 'sources' | 'ignore'>, name: string, content: string): void {
  const { path: destAbs, isDir } = destinationPath(plan.dest, plan.workdir);
  let target = destAbs;
  if (isDir || isDirectoryInRootfs(plan.rootfs, destAbs)) {
    mkdirScoped(plan.rootfs, destAbs, plan.owner, plan.where);
    target = posix.join(destAbs, name);
  } else {
    mkdirScoped(plan.rootfs, posix.dirname(destAbs), plan.owner, plan.where);
  }
  const host = hostTarget(plan.rootfs, target);
  const existing = safeLstat(host);
  if (existing?.isDirectory()) {
    throw new BuildError('BAD_DESTINATION', `cannot overwrite directory ${target} with a here-document`, { ...plan.where, path: target });
  }
  if (existing) rmSync(host, { force: true });
  writeFileSync(host, content);
  const owner = plan.owner ?? { uid: 0, gid: 0 };
  lchownSync(host, owner.uid, owner.gid);
  chmodSync(host, plan.chmod ?? 0o644);
}
