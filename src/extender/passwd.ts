import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  gecos: string;
  home: string;
  shell: string;
}

/**
 * The `/etc/passwd` entry of `uid` inside a root filesystem, or null. The file is read only if it
 * is a regular file (a symlink could point outside the rootfs).
 */
export async function lookupUid(root: string, uid: number): Promise<PasswdEntry | null> {
  const p = join(root, 'etc', 'passwd');
  const st = await lstat(p).catch(() => null);
  if (!st?.isFile()) return null;
  for (const line of (await readFile(p, 'utf8')).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 7 || f[2] !== String(uid)) continue;
    return { name: f[0]!, uid, gid: Number(f[3]), gecos: f[4]!, home: f[5]!, shell: f[6]! };
  }
  return null;
}
