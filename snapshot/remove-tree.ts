// Removing a work directory whose size follows what a step wrote (an upperdir or a scan root with
// 100k files). fs.promises.rm({ recursive }) reads a directory and starts one promise per entry at
// once, so its memory grows with the directory's entry count (~210 MiB above the process for 100k
// files on Node 20); this walks depth-first with synchronous calls, one directory's names at a
// time, and unlinks without a stat first (unlink of a directory fails with EISDIR on Linux, EPERM
// elsewhere). Names are read as bytes, so names that are not UTF-8 are removed too.
import { lstatSync, readdirSync, rmdirSync, unlinkSync } from 'node:fs';
import { SnapshotError } from './errors.js';

const SLASH = Buffer.from('/');

function codeOf(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

function fail(op: string, p: string | Buffer, e: unknown): never {
  const path = typeof p === 'string' ? p : p.toString('utf8');
  throw new SnapshotError('IO', `${op} ${path}`, { path }, { cause: e });
}

/** The entries of `dir` as paths: strings, or bytes where a name is not valid UTF-8. */
function childPaths(dir: string | Buffer): Array<string | Buffer> | null {
  try {
    if (typeof dir === 'string') {
      const names = readdirSync(dir);
      if (!names.some((n) => n.includes('\uFFFD'))) return names.map((n) => `${dir}/${n}`);
    }
    const bytes = typeof dir === 'string' ? Buffer.from(dir, 'utf8') : dir;
    return readdirSync(bytes, { encoding: 'buffer' }).map((n) => Buffer.concat([bytes, SLASH, n]));
  } catch (e) {
    if (codeOf(e) === 'ENOENT') return null;
    fail('read directory', dir, e);
  }
}

/** Removes everything inside directory `dir`. */
function emptyDir(dir: string | Buffer): void {
  const children = childPaths(dir);
  if (children === null) return;
  for (let i = 0; i < children.length; i++) {
    const p = children[i]!;
    // Released as it goes: a directory's list is the only per-entry memory held.
    children[i] = '';
    try {
      unlinkSync(p);
      continue;
    } catch (e) {
      const code = codeOf(e);
      if (code === 'ENOENT') continue;
      if ((code !== 'EISDIR' && code !== 'EPERM') || !isDir(p)) fail('remove', p, e);
    }
    emptyDir(p);
    try {
      rmdirSync(p);
    } catch (e) {
      if (codeOf(e) !== 'ENOENT') fail('remove directory', p, e);
    }
  }
}

function isDir(p: string | Buffer): boolean {
  try {
    return lstatSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Removes `path` and everything under it; a missing path is not an error (like rm -rf). Mounts
 * under it are the caller's to check first: this does not stop at another filesystem.
 */
export function removeTreeSync(path: string): void {
  const p = path;
  let dir: boolean;
  try {
    dir = lstatSync(p).isDirectory();
  } catch (e) {
    if (codeOf(e) === 'ENOENT') return;
    fail('lstat', p, e);
  }
  if (!dir) {
    try {
      unlinkSync(p);
    } catch (e) {
      if (codeOf(e) !== 'ENOENT') fail('remove', p, e);
    }
    return;
  }
  emptyDir(p);
  try {
    rmdirSync(p);
  } catch (e) {
    if (codeOf(e) !== 'ENOENT') fail('remove directory', p, e);
  }
}
