import { constants, lstatSync, readlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { ExecutorError } from './errors.js';

const MAX_SYMLINKS = 40;

/** Splits a slash path into its non-empty, non-`.` components. */
function components(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

/**
 * Resolves `path` as if `root` were `/` (a chroot view): symlinks are followed but can never lead
 * outside `root` (an absolute target restarts at `root`, `..` stops at `root`), like securejoin
 * and BuildKit's scoped lookups. Components that do not exist are appended as they are. Returns
 * the host path and the resolved path relative to root (no leading slash). With
 * `followFinal: false` a symlink in the last component is not followed. More than 40 links is
 * SYMLINK_LOOP.
 */
export function resolveInRoot(root: string, path: string, opts: { followFinal?: boolean } = {}): { hostPath: string; rel: string } {
  const followFinal = opts.followFinal ?? true;
  const done: string[] = [];
  let todo = components(path);
  let hops = 0;
  while (todo.length > 0) {
    const name = todo.shift()!;
    if (name === '..') {
      done.pop();
      continue;
    }
    const candidate = join(root, ...done, name);
    let isLink = false;
    try {
      isLink = lstatSync(candidate).isSymbolicLink();
    } catch {
      // Does not exist (or cannot be read): nothing below it can be a symlink we would follow.
      done.push(name);
      continue;
    }
    if (!isLink || (todo.length === 0 && !followFinal)) {
      done.push(name);
      continue;
    }
    if (++hops > MAX_SYMLINKS) throw new ExecutorError('SYMLINK_LOOP', `too many levels of symbolic links resolving ${path} in ${root}`, { root, path });
    const target = readlinkSync(candidate);
    if (target.startsWith('/')) done.length = 0;
    todo = [...components(target), ...todo];
  }
  const rel = done.join('/');
  return { hostPath: join(root, rel), rel };
}

/**
 * Reads the regular file at `path` of the rootfs `root` as if `root` were `/` (see
 * resolveInRoot); the final open refuses a symlink, and a FIFO or device is not opened for
 * reading. Resolves to null when the file does not exist (or is not a regular file). Larger than
 * `maxBytes` is an error.
 */
export async function readFileInRoot(root: string, path: string, maxBytes: number): Promise<Buffer | null> {
  const { hostPath } = resolveInRoot(root, path);
  let fh;
  try {
    // A missing or non-directory component on the way fails here (ENOENT, ENOTDIR): null.
    fh = await open(hostPath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return null;
    if (st.size > maxBytes) throw new ExecutorError('IO', `${hostPath} is larger than ${maxBytes} bytes`, { root, path: hostPath });
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const { bytesRead } = await fh.read(buf, off, buf.length - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return buf.subarray(0, off);
  } finally {
    await fh.close();
  }
}
