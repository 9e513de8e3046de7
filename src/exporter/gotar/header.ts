import type { GoTime } from './pax.js';

/**
 * A tar header as Go's archive/tar.Header holds it (the fields the reader fills and the writer
 * reads). Strings are latin1 byte strings; numbers are int64 as bigint.
 */
export interface GoHeader {
  typeflag: number;
  name: string;
  linkname: string;
  size: bigint;
  mode: bigint;
  uid: bigint;
  gid: bigint;
  uname: string;
  gname: string;
  /** null is Go's zero time. */
  modTime: GoTime | null;
  accessTime: GoTime | null;
  changeTime: GoTime | null;
  devmajor: bigint;
  devminor: bigint;
  /** Every record of the entry's PAX header (Go's PAXRecords), or null when there was none. */
  paxRecords: Map<string, string> | null;
  /** Go's Format bit set as the reader detected it (Format.Unknown when ambiguous or non-standard). */
  format: number;
}

/** The entry name for messages: printable, whatever bytes it holds. */
export function displayName(h: Pick<GoHeader, 'name'>): string {
  return JSON.stringify(Buffer.from(h.name, 'latin1').toString('utf8'));
}
