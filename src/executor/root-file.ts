import { constants } from 'node:fs';
import { lstat, open, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ExecutorError } from './errors.js';

const MAX_SYMLINKS = 40;

/**
 * Reads the regular file at `path` of the rootfs `root` as if `root` were `/`: symlinks are
 * followed inside the rootfs only (an absolute target restarts at `root`, `..` stops there), the
 * final open refuses a symlink, and a FIFO or device is not opened for reading. Resolves to null
 * when the file does not exist (or is not a regular file). Larger than `maxBytes` is an error.
 */
export async function readFileInRoot(root: string, path: string, maxBytes: number): Promise<Buffer | null> {
  const done: string[] = [];
  let todo = path.split('/').filter((c) => c !== '' && c !== '.');
  let hops = 0;
  while (todo.length > 0) {
    const name = todo.shift()!;
    if (name === '..') {
      done.pop();
      continue;
    }
    const st = await lstat(join(root, ...done, name)).catch(() => null);
    if (st === null) return null;
    if (st.isSymbolicLink()) {
      if (++hops > MAX_SYMLINKS) throw new ExecutorError('IO', `too many levels of symbolic links resolving ${path} in ${root}`, { root, path });
      const target = await readlink(join(root, ...done, name));
      if (target.startsWith('/')) done.length = 0;
      todo = [...target.split('/').filter((c) => c !== '' && c !== '.'), ...todo];
      continue;
    }
    if (todo.length > 0 && !st.isDirectory()) return null;
    done.push(name);
  }
  const hostPath = join(root, ...done);
  let fh;
  try {
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
