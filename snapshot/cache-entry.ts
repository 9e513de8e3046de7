// The on-disk form of one cache entry and the checks verifyCache runs on it.
//
//   <entry>/fs/          the tree (a layer in overlay format, or a merged rootfs)
//   <entry>/meta.json    written last, before the entry is renamed into place
//
// meta.json records a fingerprint of the tree taken right after extraction: entry count, bytes of
// regular files, and the largest ctime. Any later change to the tree (a write, chmod, chown, xattr,
// link, unlink, rename inside it) sets some ctime to "now", beyond the recorded maximum, and ctime
// cannot be set from userspace; so a deep check detects an entry that a build modified, or files
// a crash left short (their size no longer adds up).
import { randomUUID } from 'node:crypto';
import { closeSync, fsyncSync, lstatSync, openSync, readdirSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stampedName } from './owner.js';

export interface Fingerprint {
  entries: number;
  bytes: number;
  /** Largest ctime in the tree, nanoseconds since the epoch (a decimal string: beyond 2^53). */
  maxCtimeNs: string;
}

export type EntryKind = 'layer' | 'merged' | 'fixup';

/** The directory of the cache holding entries of a kind. */
export const AREA: Record<EntryKind, string> = { layer: 'layers', merged: 'merged', fixup: 'fixups' };

export interface EntryMeta {
  kind: EntryKind;
  /** diffID (layer) or chainID (merged, fixup): the entry's directory is named by its hex. */
  id: string;
  /** layer: blob digest and media type it was extracted from; merged: the diffIDs, base first. */
  digest?: string;
  mediaType?: string;
  diffIDs?: string[];
  /** layer: directories it needed but did not list (byte strings; see cache-fixup.ts). */
  implicitDirs?: string[];
  format: 'overlay' | 'merged' | 'dirs';
  fingerprint: Fingerprint;
}

/** One synchronous lstat walk (layers.md §4.2: sync walks are several times faster than promise walks). */
export function fingerprint(dir: string): Fingerprint {
  let entries = 0;
  let bytes = 0;
  let maxCtime = lstatSync(dir, { bigint: true }).ctimeNs;
  const walk = (d: Buffer): void => {
    for (const name of readdirSync(d, { encoding: 'buffer' })) {
      const p = Buffer.concat([d, Buffer.from('/'), name]);
      const st = lstatSync(p, { bigint: true });
      entries++;
      if (st.ctimeNs > maxCtime) maxCtime = st.ctimeNs;
      if (st.isFile()) bytes += Number(st.size);
      else if (st.isDirectory()) walk(p);
    }
  };
  walk(Buffer.from(dir));
  return { entries, bytes, maxCtimeNs: maxCtime.toString() };
}

/** Why a tree no longer matches its fingerprint, or null when it does. */
export function fingerprintMismatch(dir: string, want: Fingerprint): string | null {
  const got = fingerprint(dir);
  if (got.entries !== want.entries) return `${got.entries} entries, expected ${want.entries}`;
  if (got.bytes !== want.bytes) return `${got.bytes} bytes of files, expected ${want.bytes}`;
  if (BigInt(got.maxCtimeNs) > BigInt(want.maxCtimeNs)) return 'modified after it was cached (a ctime is newer than the entry)';
  return null;
}

/** Writes meta.json durably (temp name, fsync, rename is not needed: the entry is not visible yet). */
export function writeMeta(entryDir: string, meta: EntryMeta): void {
  const fd = openSync(join(entryDir, 'meta.json'), 'wx', 0o644);
  try {
    writeSync(fd, `${JSON.stringify(meta, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The meta of a complete entry, or null (absent, unreadable, or not the entry it claims to be). */
export async function readMeta(entryDir: string, kind: EntryKind, idHex: string): Promise<EntryMeta | null> {
  let meta: EntryMeta;
  try {
    meta = JSON.parse(await readFile(join(entryDir, 'meta.json'), 'utf8')) as EntryMeta;
  } catch {
    return null;
  }
  if (meta.kind !== kind || meta.id !== `sha256:${idHex}` || typeof meta.fingerprint?.entries !== 'number') return null;
  return meta;
}

/**
 * A unique temp entry name: `<kind>-<hex prefix>-s<owner stamp>-<uuid>`, so verifyCache can say
 * what it was and the next run can tell whether the process building it is gone (owner.ts).
 */
export function tempName(kind: EntryKind, idHex: string): string {
  return stampedName(`${kind}-${idHex.slice(0, 16)}`, randomUUID());
}
