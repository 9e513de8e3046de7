import { chown, lchown, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

// lifecycle priv.EnsureOwner: before the builder drops to uid:gid, give it `<layers>` when it
// cannot already write there. A directory it can write is assumed to have writable children (the
// lifecycle's shortcut, kept for speed).

const WORLD_WRITE = 0o002;
const GROUP_WRITE = 0o020;

export function canWrite(uid: number, gid: number, st: { uid: number; gid: number; mode: number }): boolean {
  if (st.uid === uid) return true;
  if (st.gid === gid && (st.mode & GROUP_WRITE) !== 0) return true;
  return (st.mode & WORLD_WRITE) !== 0;
}

/** Recursively chowns each existing path that uid:gid cannot write. Symlinks are chowned, not followed. */
export async function ensureOwner(uid: number, gid: number, ...paths: string[]): Promise<void> {
  for (const p of paths) {
    const st = await stat(p).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      throw e;
    });
    if (st === null || canWrite(uid, gid, st)) continue;
    await chownTree(p, uid, gid);
  }
}

async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await chown(dir, uid, gid);
  for (const d of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, d.name);
    if (d.isDirectory()) await chownTree(p, uid, gid);
    else await lchown(p, uid, gid);
  }
}
