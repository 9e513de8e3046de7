// Entry names of layer tars → relative paths inside the root, and the root-relative paths as
// filesystem paths. Names are byte strings (latin1, one char per byte; see walk-path.ts) and
// become Buffers for node:fs, so names that are not UTF-8 are written exactly.
import { isUtf8 } from 'node:buffer';

/** Outcome of normalising a tar entry name. */
export type NormalizedName = { ok: true; parts: string[] } | { ok: false; why: string };

/**
 * Splits an entry name into components. Leading `/` and `./` are dropped (the lifecycle's own
 * layers use absolute names such as `/some-dir/`; containerd and the lifecycle read them relative
 * to the root), empty and `.` components are dropped, and any `..` component is refused: unlike
 * containerd we do not clean `a/../b`, because a well-formed layer never contains it and a
 * lexical clean is exactly what lets `x/../../etc` escape in naive appliers.
 * `[]` is the root itself.
 */
export function normalizeName(name: string): NormalizedName {
  const parts: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') return { ok: false, why: 'a `..` component' };
    parts.push(c);
  }
  return { ok: true, parts };
}

/** Root-relative byte-string paths to Buffers for node:fs. */
export class RootPaths {
  readonly root: string;
  private readonly rootBuf: Buffer;
  constructor(root: string) {
    this.root = root.length > 1 ? root.replace(/\/+$/, '') : root;
    this.rootBuf = Buffer.from(this.root === '/' ? '' : this.root, 'utf8');
  }
  /** The filesystem path of a relative byte-string path ('' is the root). */
  abs(rel: string): Buffer {
    if (rel === '') return this.rootBuf.length === 0 ? Buffer.from('/') : this.rootBuf;
    return Buffer.concat([this.rootBuf, Buffer.from(`/${rel}`, 'latin1')]);
  }
}

/** A readable form of a byte-string path for messages: UTF-8 when valid, else `\xHH` escapes. */
export function displayPath(rel: string): string {
  const b = Buffer.from(rel, 'latin1');
  if (isUtf8(b)) return b.toString('utf8');
  return rel.replace(/[\x80-\xff]/g, (c) => `\\x${c.charCodeAt(0).toString(16)}`);
}

/** A Buffer path as a JS string for the native addon, or null when it is not valid UTF-8. */
export function utf8Path(p: Buffer): string | null {
  return isUtf8(p) ? p.toString('utf8') : null;
}

export function parentRel(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i === -1 ? '' : rel.slice(0, i);
}
