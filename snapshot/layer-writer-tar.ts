// USTAR headers with PAX extended headers only where USTAR cannot carry a value. Written here
// rather than through tar-stream's pack(): tar-stream encodes PAX values as UTF-8 text, so binary
// xattr values (a security.capability with a byte ≥ 0x80 becomes 21 bytes and is refused by
// setxattr) and names that are not UTF-8 cannot be written exactly, and it silently truncates
// uid/gid beyond the octal field. Names and values here are bytes throughout.

export type TarEntryType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

const TYPEFLAG: Record<TarEntryType, number> = {
  file: 0x30, link: 0x31, symlink: 0x32, char: 0x33, block: 0x34, dir: 0x35, fifo: 0x36,
};

export interface TarHeader {
  /** Entry name bytes, relative; directories end with '/'. */
  name: Buffer;
  type: TarEntryType;
  /** Permission and special bits (07777). */
  mode: number;
  uid: number;
  gid: number;
  /** Content size (regular files only; 0 otherwise). */
  size: number;
  /** Whole seconds since the epoch. */
  mtime: number;
  /** Symlink target or hardlink target name. */
  linkname?: Buffer;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes, sorted by name, written as `SCHILY.xattr.<name>` (values binary). */
  xattrs?: ReadonlyArray<readonly [string, Buffer]>;
}

export const BLOCK = 512;
const MAX_OCTAL_7 = 0o7777777; // uid, gid, mode, dev numbers: 7 digits + NUL
const MAX_OCTAL_11 = 0o77777777777; // size, mtime: 11 digits + NUL
/** Two zero blocks end an archive (no padding to 10 KiB, as Go and containerd write). */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);
const EMPTY = Buffer.alloc(0);

/** Zero bytes that pad `size` bytes of content up to the next block. */
export function padding(size: number): Buffer {
  const rest = size % BLOCK;
  return rest === 0 ? Buffer.alloc(0) : Buffer.alloc(BLOCK - rest);
}

function writeOctal(buf: Buffer, off: number, width: number, value: number): void {
  buf.write(`${value.toString(8).padStart(width - 1, '0')}\0`, off, width, 'ascii');
}

/** Base-256 (GNU) number in a 12-byte field, for sizes beyond the octal field (also in PAX). */
function writeBase256(buf: Buffer, off: number, value: number): void {
  let v = BigInt(value);
  for (let i = off + 11; i > off; i--) {
    buf[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  buf[off] = 0x80;
}

/** One PAX record `"<len> <key>=<value>\n"`; len counts the whole record, value is binary-safe. */
export function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len), 'ascii'), body]);
}

/** USTAR name/prefix split at a '/', or null when the name cannot be stored in USTAR fields. */
function splitName(name: Buffer): { name: Buffer; prefix: Buffer } | null {
  if (name.length <= 100) return { name, prefix: EMPTY };
  // The longest prefix (≤ 155 bytes) that leaves a non-empty name of ≤ 100 bytes.
  for (let i = Math.min(155, name.length - 2); i > 0; i--) {
    if (name[i] === 0x2f && name.length - i - 1 <= 100) {
      return { name: name.subarray(i + 1), prefix: name.subarray(0, i) };
    }
  }
  return null;
}

interface UstarFields {
  name: Buffer; prefix: Buffer; typeflag: number; mode: number; uid: number; gid: number;
  size: number; mtime: number; linkname: Buffer; devmajor: number; devminor: number;
}

/** Writes one USTAR header block at b[off…off+512). */
function writeUstar(b: Buffer, off: number, h: UstarFields): void {
  b.fill(0, off, off + BLOCK);
  h.name.copy(b, off, 0, Math.min(100, h.name.length));
  writeOctal(b, off + 100, 8, h.mode & 0o7777);
  // Values that do not fit are also in PAX records; the fields saturate rather than wrap, so a
  // reader that ignores PAX never sees a smaller (e.g. root) owner.
  writeOctal(b, off + 108, 8, Math.min(h.uid, MAX_OCTAL_7));
  writeOctal(b, off + 116, 8, Math.min(h.gid, MAX_OCTAL_7));
  if (h.size > MAX_OCTAL_11) writeBase256(b, off + 124, h.size);
  else writeOctal(b, off + 124, 12, h.size);
  writeOctal(b, off + 136, 12, Math.min(Math.max(h.mtime, 0), MAX_OCTAL_11));
  b.fill(0x20, off + 148, off + 156); // checksum computed over spaces
  b[off + 156] = h.typeflag;
  h.linkname.copy(b, off + 157, 0, Math.min(100, h.linkname.length));
  b.write('ustar\x0000', off + 257, 8, 'latin1');
  // uname/gname (265, 297) stay empty: owners are numeric only.
  writeOctal(b, off + 329, 8, Math.min(h.devmajor, MAX_OCTAL_7));
  writeOctal(b, off + 337, 8, Math.min(h.devminor, MAX_OCTAL_7));
  h.prefix.copy(b, off + 345, 0, Math.min(155, h.prefix.length));
  let sum = 0;
  for (let i = off; i < off + BLOCK; i++) sum += b[i]!;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, off + 148, 8, 'ascii');
}

function ustarBlock(h: UstarFields): Buffer {
  const b = Buffer.alloc(BLOCK);
  writeUstar(b, 0, h);
  return b;
}

/**
 * The header block(s) of one entry: a PAX extended header (`x`) first when some value does not fit
 * USTAR — a name that cannot be split into prefix/name, a link name over 100 bytes, uid/gid
 * beyond 7 octal digits, size beyond 11, an mtime out of range, or any xattr — then the USTAR
 * header. Records are sorted by key so that equal entries give equal bytes.
 */
export function encodeHeader(h: TarHeader): Buffer {
  const { records, main } = headerParts(h);
  if (records === null) return ustarBlock(main);
  return Buffer.concat([paxHeader(records), ustarBlock(main)]);
}

/**
 * Writes the header block(s) of `h` (the bytes encodeHeader gives) at out[off…] and returns how
 * many bytes that took; when they do not fit in out.length - off bytes, writes nothing and returns
 * minus the size they need. The common case (USTAR alone) is written in place, without a Buffer
 * of its own.
 */
export function writeHeader(h: TarHeader, out: Buffer, off: number): number {
  const { records, main } = headerParts(h);
  if (records === null) {
    if (out.length - off < BLOCK) return -BLOCK;
    writeUstar(out, off, main);
    return BLOCK;
  }
  const pax = paxHeader(records);
  const need = pax.length + BLOCK;
  if (out.length - off < need) return -need;
  pax.copy(out, off);
  writeUstar(out, off + pax.length, main);
  return need;
}

function headerParts(h: TarHeader): { records: Map<string, Buffer> | null; main: UstarFields } {
  let records: Map<string, Buffer> | null = null;
  const rec = (k: string, v: Buffer): void => void (records ??= new Map<string, Buffer>()).set(k, v);
  const split = splitName(h.name);
  if (split === null) rec('path', h.name);
  const linkname = h.linkname ?? EMPTY;
  if (linkname.length > 100) rec('linkpath', linkname);
  if (h.uid > MAX_OCTAL_7) rec('uid', Buffer.from(String(h.uid)));
  if (h.gid > MAX_OCTAL_7) rec('gid', Buffer.from(String(h.gid)));
  if (h.size > MAX_OCTAL_11) rec('size', Buffer.from(String(h.size)));
  if (h.mtime < 0 || h.mtime > MAX_OCTAL_11) rec('mtime', Buffer.from(String(h.mtime)));
  if ((h.devmajor ?? 0) > MAX_OCTAL_7 || (h.devminor ?? 0) > MAX_OCTAL_7) {
    throw new RangeError(`device number ${h.devmajor}:${h.devminor} does not fit a tar header`);
  }
  for (const [name, value] of h.xattrs ?? []) rec(`SCHILY.xattr.${name}`, value);
  const main: UstarFields = {
    // A name that needs PAX keeps a truncated copy in USTAR for readers without PAX.
    name: split?.name ?? h.name.subarray(0, 100),
    prefix: split?.prefix ?? EMPTY,
    typeflag: TYPEFLAG[h.type],
    mode: h.mode,
    uid: h.uid,
    gid: h.gid,
    size: h.size,
    mtime: h.mtime,
    linkname: linkname.subarray(0, 100),
    devmajor: h.devmajor ?? 0,
    devminor: h.devminor ?? 0,
  };
  return { records: records as Map<string, Buffer> | null, main };
}

/** The PAX extended header (`x`) carrying `records`, sorted by key so equal entries give equal bytes. */
function paxHeader(records: Map<string, Buffer>): Buffer {
  const keys = [...records.keys()].sort();
  const data = Buffer.concat(keys.map((k) => paxRecord(k, records.get(k)!)));
  const pax = ustarBlock({
    name: Buffer.from('PaxHeader'), prefix: EMPTY, typeflag: 0x78 /* x */, mode: 0o644,
    uid: 0, gid: 0, size: data.length, mtime: 0, linkname: EMPTY, devmajor: 0, devminor: 0,
  });
  return Buffer.concat([pax, data, padding(data.length)]);
}
