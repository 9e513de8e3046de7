// The filesystem calls of apply.ts, synchronous on purpose: extraction is one syscall after another
// on a hot path, and per-call promises cost several times the syscall itself on Node 20
// (layers.md §4.2: 7-9× for a promise-per-entry walk). Gunzip runs in libuv's thread pool either
// way, so the event loop doing sync file I/O still overlaps with decompression.
import { randomBytes } from 'node:crypto';
import { lstatSync, renameSync, rmSync, unlinkSync, type Stats } from 'node:fs';
import { mknod as nativeMknod, xattr } from './native.js';
import { utf8Path } from './safe-path.js';

export function lstatOrNull(p: Buffer): Stats | undefined {
  return lstatSync(p, { throwIfNoEntry: false });
}

/** Removes whatever is at p (a directory with its contents; never following a symlink). */
export function removeAll(p: Buffer, st: Stats): void {
  if (st.isDirectory()) rmSync(p, { recursive: true, force: true });
  else unlinkSync(p);
}

export function errnoOf(e: unknown): string | undefined {
  const direct = (e as { code?: unknown }).code;
  if (typeof direct === 'string' && direct.startsWith('E')) return direct;
  const cause = (e as { cause?: { code?: unknown } }).cause;
  return typeof cause?.code === 'string' ? cause.code : undefined;
}

/**
 * Runs a native call (which takes UTF-8 strings) on a path that may not be UTF-8: such an entry is
 * renamed to a temporary ASCII name in the same directory for the call and renamed back.
 * `exists` false: the call creates the entry (mknod), so it is created under the temporary name
 * and renamed into place.
 */
function withNativePath(p: Buffer, exists: boolean, f: (path: string) => void): void {
  const s = utf8Path(p);
  if (s !== null) {
    f(s);
    return;
  }
  const slash = p.lastIndexOf(0x2f);
  const tmp = Buffer.concat([p.subarray(0, slash + 1), Buffer.from(`.cnbx-apply-${randomBytes(6).toString('hex')}`)]);
  const tmpStr = tmp.toString('utf8');
  if (!exists) {
    f(tmpStr);
    renameSync(tmp, p);
    return;
  }
  renameSync(p, tmp);
  try {
    f(tmpStr);
  } finally {
    renameSync(tmp, p);
  }
}

export function mknodAt(p: Buffer, mode: number, major: number, minor: number): void {
  withNativePath(p, false, (s) => nativeMknod(s, mode, major, minor));
}

export function setXattr(p: Buffer, name: string, value: Buffer): void {
  withNativePath(p, true, (s) => xattr.set(s, name, value));
}
