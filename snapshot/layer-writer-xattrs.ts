// Which extended attributes travel in our layers, and in what form (layers.md §1.4):
// - security.capability, with VFS_CAP_REVISION_3 downgraded to revision 2: the v3 root uid only
//   means something inside the user namespace the file was made in (as moby's archive does);
// - user.*, as buildah/containers-storage keep them (hard case 24: our documented policy);
// - never trusted.* (trusted.overlay.* are overlayfs's own bookkeeping), user.overlay.* (the same
//   with `userxattr`), security.selinux (host labels), nor anything else;
// - empty values are skipped (a PAX record cannot distinguish them reliably, umoci does the same).
import { xattr } from './native.js';
import { SnapshotError } from './errors.js';

export type Xattrs = Array<readonly [string, Buffer]>;

const CAPABILITY = 'security.capability';
const VFS_CAP_REVISION_2 = 0x02;
const VFS_CAP_REVISION_3 = 0x03;
const XATTR_CAPS_SZ_2 = 20;

export function keepXattr(name: string): boolean {
  if (name === CAPABILITY) return true;
  return name.startsWith('user.') && !name.startsWith('user.overlay.');
}

/** A v3 capability (24 bytes, with a namespace root uid) as v2 (20 bytes); others unchanged. */
export function normalizeCapability(v: Buffer): Buffer {
  // magic_etc is little-endian: the revision is its most significant byte, at offset 3.
  if (v.length >= XATTR_CAPS_SZ_2 && v[3] === VFS_CAP_REVISION_3) {
    const out = Buffer.from(v.subarray(0, XATTR_CAPS_SZ_2));
    out[3] = VFS_CAP_REVISION_2;
    return out;
  }
  return v;
}

function errnoCode(e: unknown): string | undefined {
  const cause = (e as { cause?: { code?: unknown } }).cause;
  return typeof cause?.code === 'string' ? cause.code : undefined;
}

/**
 * The kept xattrs of an entry (never following a symlink), sorted by name. `path` null means the
 * path cannot be named by a JS string (not UTF-8): the native calls take strings, so such an entry
 * is written without xattrs and `onSkip` says so.
 */
export function readKeptXattrs(path: string | null, onSkip?: (why: string) => void): Xattrs {
  if (path === null) {
    onSkip?.('path is not valid UTF-8; its xattrs cannot be read');
    return [];
  }
  let names: string[];
  try {
    names = xattr.list(path);
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'ENOTSUP' || code === 'EOPNOTSUPP') return [];
    throw new SnapshotError('IO', `list xattrs of ${path}`, { path }, { cause: e });
  }
  const out: Xattrs = [];
  for (const name of names.filter(keepXattr).sort()) {
    let v: Buffer | null;
    try {
      v = xattr.get(path, name);
    } catch (e) {
      throw new SnapshotError('IO', `read xattr ${name} of ${path}`, { path }, { cause: e });
    }
    if (v === null || v.length === 0) continue;
    out.push([name, name === CAPABILITY ? normalizeCapability(v) : v]);
  }
  return out;
}

export function sameXattrs(a: Xattrs, b: Xattrs): boolean {
  if (a.length !== b.length) return false;
  return a.every(([n, v], i) => b[i]![0] === n && b[i]![1].equals(v));
}
