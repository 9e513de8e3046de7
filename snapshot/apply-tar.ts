// Reading layer tars with tar-stream, binary-safe.
//
// tar-stream decodes PAX records as UTF-8 (a non-UTF-8 `path` or a binary xattr value such as a
// security.capability with a byte ≥ 0x80 comes back mangled with U+FFFD) and header names with
// the `filenameEncoding` it is given. We read header names as latin1 and decode PAX records
// ourselves, also as latin1, so that every name, link name and value is a "byte string" (one JS
// char per byte, the RelPath convention of walk-path.ts) and survives exactly.
import tarStream from 'tar-stream';

/** A tar entry header with the PAX overrides applied; names are byte strings (latin1). */
export interface EntryHeader {
  name: string;
  type: 'file' | 'dir' | 'symlink' | 'link' | 'char' | 'block' | 'fifo' | 'socket' | 'unknown';
  /** Permission and special bits (07777). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch, with the PAX fraction when there is one. */
  mtime: number;
  /** Symlink or hardlink target (byte string), '' when absent. */
  linkname: string;
  devmajor: number;
  devminor: number;
  /** `SCHILY.xattr.<name>` records: name (UTF-8 string) → raw value. */
  xattrs: Array<[string, Buffer]>;
  /** Keys of PAX records we do not act on but must refuse (GNU sparse). */
  sparse: boolean;
}

/** Thrown for malformed headers; apply.ts turns it into BAD_LAYER with the layer and entry. */
export class TarFormatError extends Error {
  override name = 'TarFormatError';
}

/**
 * Parses PAX extended-header records (`"<len> <key>=<value>\n"`, len counting the whole record) by
 * length, never by line: values may contain NUL and newlines. Keys and values are latin1 strings.
 */
export function parsePaxRecords(buf: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let off = 0;
  while (off < buf.length) {
    // Some writers pad the record block with NULs.
    if (buf[off] === 0) break;
    const sp = buf.indexOf(0x20, off);
    const lenText = sp === -1 ? '' : buf.toString('latin1', off, sp);
    const len = /^[0-9]{1,12}$/.test(lenText) ? Number(lenText) : NaN;
    if (!(len > sp - off + 1) || off + len > buf.length || buf[off + len - 1] !== 0x0a) {
      throw new TarFormatError(`malformed PAX record at offset ${off}`);
    }
    const rec = buf.subarray(sp + 1, off + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq <= 0) throw new TarFormatError(`malformed PAX record at offset ${off} (no key)`);
    out[rec.toString('latin1', 0, eq)] = rec.toString('latin1', eq + 1);
    off += len;
  }
  return out;
}

// The slice of tar-stream's Extract internals we replace (tar-stream 3.x, extract.js).
interface ExtractInternals {
  _header: { type: string } | null;
  _pax: Record<string, string> | null;
  _paxGlobal: Record<string, string> | null;
  _decodeLongHeader(buf: Buffer): void;
  _applyLongHeaders(): void;
}

/**
 * A tar-stream Extract whose names are byte strings and whose PAX records are decoded binary-safe.
 * The overrides of `_decodeLongHeader` and `_applyLongHeaders` are pinned by test/snapshot/apply-tar.test.ts: a tar-stream
 * upgrade that changes the internals fails that test rather than silently mangling names.
 */
export function binaryExtract(): tarStream.Extract {
  // filenameEncoding is an option of tar-stream's extract that its typings do not list.
  const ex = tarStream.extract({ filenameEncoding: 'latin1' } as Parameters<typeof tarStream.extract>[0]);
  const inner = ex as unknown as ExtractInternals;
  const original = inner._decodeLongHeader;
  const applyLong = inner._applyLongHeaders;
  if (typeof original !== 'function' || typeof applyLong !== 'function') {
    throw new Error('tar-stream internals changed: _decodeLongHeader/_applyLongHeaders are missing');
  }
  // tar-stream merges a global header only into entries that also have their own PAX header; a
  // `g` header applies to every entry that follows it.
  inner._applyLongHeaders = function (this: ExtractInternals): void {
    if (this._pax === null && this._paxGlobal !== null) this._pax = { ...this._paxGlobal };
    applyLong.call(this);
  };
  inner._decodeLongHeader = function (this: ExtractInternals, buf: Buffer): void {
    const type = this._header?.type;
    if (type === 'pax-header') {
      const records = parsePaxRecords(buf);
      this._pax = this._paxGlobal === null ? records : { ...this._paxGlobal, ...records };
    } else if (type === 'pax-global-header') {
      this._paxGlobal = parsePaxRecords(buf);
    } else {
      original.call(this, buf);
    }
  };
  return ex;
}

const XATTR_PREFIX = 'SCHILY.xattr.';
const MAX_ID = 0xfffffffe; // (uid_t)-1 means "unchanged" to chown

function paxId(pax: Record<string, string>, key: 'uid' | 'gid', fallback: number | undefined): number {
  const v = pax[key];
  if (v === undefined) return fallback ?? 0;
  if (!/^[0-9]{1,10}$/.test(v) || Number(v) > MAX_ID) throw new TarFormatError(`bad PAX ${key} ${JSON.stringify(v)}`);
  return Number(v);
}

function paxTime(v: string | undefined, fallback: Date | undefined): number {
  if (v !== undefined) {
    if (!/^-?[0-9]{1,19}(\.[0-9]*)?$/.test(v)) throw new TarFormatError(`bad PAX mtime ${JSON.stringify(v)}`);
    return Number(v);
  }
  if (fallback === undefined) return 0;
  // tar-stream reads a base-256 mtime beyond a Date's range (±8.64e12 s) as an Invalid Date:
  // refuse it here rather than fail later in utimes with a TypeError.
  const t = fallback.getTime() / 1000;
  if (!Number.isFinite(t)) throw new TarFormatError('bad mtime: beyond the range of a date');
  return t;
}

const S_IFMT = 0o170000;
const S_IFSOCK = 0o140000;

/** The header of one tar-stream entry in our terms (PAX values win over the octal fields). */
export function readHeader(h: tarStream.Header): EntryHeader {
  const pax = (h.pax ?? {}) as Record<string, string>;
  const xattrs: Array<[string, Buffer]> = [];
  let sparse = false;
  for (const [k, v] of Object.entries(pax)) {
    if (k.startsWith(XATTR_PREFIX)) {
      xattrs.push([Buffer.from(k.slice(XATTR_PREFIX.length), 'latin1').toString('utf8'), Buffer.from(v, 'latin1')]);
    } else if (k.startsWith('GNU.sparse.')) {
      sparse = true;
    }
  }
  // tar-stream framed the entry with parseInt(size), which reads `1e3` as 1 and `12abc` as 12:
  // refuse what Go's archive/tar (the exporter's reader, the lifecycle) would refuse, so no two
  // readers of one layer disagree on where its entries are.
  if (pax.size !== undefined && !/^[0-9]{1,19}$/.test(pax.size)) throw new TarFormatError(`bad PAX size ${JSON.stringify(pax.size)}`);
  const rawMode = h.mode ?? 0;
  let type: EntryHeader['type'];
  switch (h.type) {
    case 'file':
    case 'contiguous-file':
      type = (rawMode & S_IFMT) === S_IFSOCK ? 'socket' : 'file';
      break;
    case 'directory': type = 'dir'; break;
    case 'symlink': type = 'symlink'; break;
    case 'link': type = 'link'; break;
    case 'character-device': type = 'char'; break;
    case 'block-device': type = 'block'; break;
    case 'fifo': type = 'fifo'; break;
    default: type = 'unknown'; // tar-stream gives null for typeflags it does not know
  }
  return {
    name: h.name,
    type,
    mode: rawMode & 0o7777,
    uid: paxId(pax, 'uid', h.uid),
    gid: paxId(pax, 'gid', h.gid),
    size: h.size ?? 0,
    mtime: paxTime(pax.mtime, h.mtime),
    linkname: h.linkname ?? '',
    devmajor: h.devmajor ?? 0,
    devminor: h.devminor ?? 0,
    xattrs,
    sparse,
  };
}
