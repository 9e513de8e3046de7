// Header encoding with Go archive/tar's Writer.WriteHeader semantics (writer.go, common.go):
// format choice (allowedFormats), USTAR prefix splitting, PAX records, GNU long names and base-256
// numbers, and the exact bytes of every field.
import { ExportError } from '../errors.js';
import {
  BLOCK_SIZE, Format, Formatter, MAX_SPECIAL_FILE_SIZE, Type, blockPadding, field, fitsInBase256,
  fitsInOctal, hasNUL, isASCII, isHeaderOnlyType, setFormat, toASCII,
} from './block.js';
import { displayName, type GoHeader } from './header.js';
import { BASIC_KEYS, Pax, formatPAXRecord, formatPAXTime, unixTime, validPAXRecord, type GoTime } from './pax.js';

const NAME_SIZE = 100;
const PREFIX_SIZE = 155;

export interface EncodedHeader {
  /** Header block(s), including any PAX or GNU long-name meta entries with their data and padding. */
  bytes: Buffer;
  /** How many data bytes follow (0 for header-only types, whatever the size field says). */
  dataSize: number;
}

function headerError(h: GoHeader, ...why: string[]): ExportError {
  const msg = why.filter((w) => w !== '').join('; ');
  return new ExportError('BAD_LAYER', `archive/tar: cannot encode header ${displayName(h)}: ${msg}`, { entry: displayName(h) });
}

/** Encodes one header the way Go's Writer.WriteHeader would write it. */
export function encodeHeader(input: GoHeader): EncodedHeader {
  const hdr: GoHeader = { ...input };
  if (hdr.typeflag === Type.RegA) hdr.typeflag = hdr.name.endsWith('/') ? Type.Dir : Type.Reg;
  // Without an explicit format, Go rounds mtime and ignores atime/ctime (so USTAR stays possible).
  if (hdr.format === Format.Unknown) {
    hdr.modTime = roundToSecond(hdr.modTime);
    hdr.accessTime = null;
    hdr.changeTime = null;
  }
  const { format, paxHdrs, why } = allowedFormats(hdr);
  const out: Buffer[] = [];
  if (format & Format.USTAR) out.push(writeUSTARHeader(hdr));
  else if (format & Format.PAX) out.push(...writePAXHeader(hdr, paxHdrs));
  else if (format & Format.GNU) out.push(...writeGNUHeader(hdr));
  else throw headerError(hdr, ...why);
  const dataSize = isHeaderOnlyType(hdr.typeflag) ? 0 : Number(hdr.size);
  return { bytes: Buffer.concat(out), dataSize };
}

function roundToSecond(t: GoTime | null): GoTime | null {
  if (t === null) return null;
  return unixTime(t.sec + (t.nsec >= 5e8 ? 1n : 0n), 0);
}

/** Go's Header.allowedFormats: which formats can encode h, and the PAX records PAX would need. */
function allowedFormats(h: GoHeader): { format: number; paxHdrs: Map<string, string>; why: string[] } {
  let format: number = Format.USTAR | Format.PAX | Format.GNU;
  const paxHdrs = new Map<string, string>();
  let whyNoUSTAR = '';
  let whyNoPAX = '';
  let whyNoGNU = '';
  let whyOnlyPAX = '';
  let preferPAX = false;
  const rec = h.paxRecords;

  const verifyString = (s: string, size: number, name: string, paxKey: string) => {
    const tooLong = s.length > size;
    const allowLongGNU = paxKey === Pax.path || paxKey === Pax.linkpath;
    if (hasNUL(s) || (tooLong && !allowLongGNU)) {
      whyNoGNU = `GNU cannot encode ${name}`;
      format &= ~Format.GNU;
    }
    if (!isASCII(s) || tooLong) {
      const canSplitUSTAR = paxKey === Pax.path;
      if (!canSplitUSTAR || splitUSTARPath(s) === null) {
        whyNoUSTAR = `USTAR cannot encode ${name}`;
        format &= ~Format.USTAR;
      }
      if (paxKey === '') {
        whyNoPAX = `PAX cannot encode ${name}`;
        format &= ~Format.PAX;
      } else {
        paxHdrs.set(paxKey, s);
      }
    }
    if (rec && rec.has(paxKey) && rec.get(paxKey) === s) paxHdrs.set(paxKey, s);
  };
  const verifyNumeric = (n: bigint, size: number, name: string, paxKey: string) => {
    if (!fitsInBase256(size, n)) {
      whyNoGNU = `GNU cannot encode ${name}=${n}`;
      format &= ~Format.GNU;
    }
    if (!fitsInOctal(size, n)) {
      whyNoUSTAR = `USTAR cannot encode ${name}=${n}`;
      format &= ~Format.USTAR;
      if (paxKey === '') {
        whyNoPAX = `PAX cannot encode ${name}=${n}`;
        format &= ~Format.PAX;
      } else {
        paxHdrs.set(paxKey, n.toString());
      }
    }
    if (rec && rec.has(paxKey) && rec.get(paxKey) === n.toString()) paxHdrs.set(paxKey, n.toString());
  };
  const verifyTime = (ts: GoTime | null, size: number, name: string, paxKey: string) => {
    if (ts === null) return;
    if (!fitsInBase256(size, ts.sec)) {
      whyNoGNU = `GNU cannot encode ${name}`;
      format &= ~Format.GNU;
    }
    const isMtime = paxKey === Pax.mtime;
    const fitsOctal = fitsInOctal(size, ts.sec);
    if ((isMtime && !fitsOctal) || !isMtime) {
      whyNoUSTAR = `USTAR cannot encode ${name}`;
      format &= ~Format.USTAR;
    }
    const needsNano = ts.nsec !== 0;
    if (!isMtime || !fitsOctal || needsNano) {
      preferPAX = true;
      paxHdrs.set(paxKey, formatPAXTime(ts));
    }
    if (rec && rec.has(paxKey) && rec.get(paxKey) === formatPAXTime(ts)) paxHdrs.set(paxKey, formatPAXTime(ts));
  };

  verifyString(h.name, 100, 'Name', Pax.path);
  verifyString(h.linkname, 100, 'Linkname', Pax.linkpath);
  verifyString(h.uname, 32, 'Uname', Pax.uname);
  verifyString(h.gname, 32, 'Gname', Pax.gname);
  verifyNumeric(h.mode, 8, 'Mode', '');
  verifyNumeric(h.uid, 8, 'Uid', Pax.uid);
  verifyNumeric(h.gid, 8, 'Gid', Pax.gid);
  verifyNumeric(h.size, 12, 'Size', Pax.size);
  verifyNumeric(h.devmajor, 8, 'Devmajor', '');
  verifyNumeric(h.devminor, 8, 'Devminor', '');
  verifyTime(h.modTime, 12, 'ModTime', Pax.mtime);
  verifyTime(h.accessTime, 12, 'AccessTime', Pax.atime);
  verifyTime(h.changeTime, 12, 'ChangeTime', Pax.ctime);

  const none = { format: Format.Unknown, paxHdrs, why: [] as string[] };
  switch (h.typeflag) {
    case Type.Reg:
    case Type.Char:
    case Type.Block:
    case Type.Fifo:
    case Type.GNUSparse:
      if (h.name.endsWith('/')) return { ...none, why: ['filename may not have trailing slash'] };
      break;
    case Type.XHeader:
    case Type.GNULongName:
    case Type.GNULongLink:
      return { ...none, why: ['cannot manually encode TypeXHeader, TypeGNULongName, or TypeGNULongLink headers'] };
    case Type.XGlobalHeader:
      return { ...none, why: ['only PAXRecords should be set for TypeXGlobalHeader'] };
    default:
      break;
  }
  if (!isHeaderOnlyType(h.typeflag) && h.size < 0n) return { ...none, why: ['negative size on header-only type'] };

  if (rec && rec.size > 0) {
    for (const [k, v] of rec) {
      if (paxHdrs.has(k)) continue; // never overwrite what the fields require
      if (!BASIC_KEYS.has(k) && !k.startsWith(Pax.gnuSparse)) paxHdrs.set(k, v);
    }
    whyOnlyPAX = 'only PAX supports PAXRecords';
    format &= Format.PAX;
  }
  for (const [k, v] of paxHdrs) {
    if (!validPAXRecord(k, v)) return { ...none, why: [`invalid PAX record: ${JSON.stringify(`${k} = ${v}`)}`] };
  }

  if (h.format !== Format.Unknown) {
    let want = h.format;
    if (want & Format.PAX && !preferPAX) want |= Format.USTAR; // PAX implies USTAR is fine too
    format &= want;
  }
  const why: string[] = [];
  if (format === Format.Unknown) {
    if (h.format === Format.USTAR) why.push('Format specifies USTAR', whyNoUSTAR, whyOnlyPAX);
    else if (h.format === Format.PAX) why.push('Format specifies PAX', whyNoPAX);
    else if (h.format === Format.GNU) why.push('Format specifies GNU', whyNoGNU, whyOnlyPAX);
    else why.push(whyNoUSTAR, whyNoPAX, whyNoGNU, whyOnlyPAX);
  }
  return { format, paxHdrs, why };
}

type StrFmt = (f: Formatter, b: Buffer, s: string) => void;
type NumFmt = (f: Formatter, b: Buffer, x: bigint) => void;
const fmtString: StrFmt = (f, b, s) => f.formatString(b, s);
const fmtASCII: StrFmt = (f, b, s) => f.formatString(b, toASCII(s));
const fmtOctal: NumFmt = (f, b, x) => f.formatOctal(b, x);
const fmtNumeric: NumFmt = (f, b, x) => f.formatNumeric(b, x);

/** Go's templateV7Plus: the fields shared by USTAR, PAX and GNU. */
function templateV7Plus(h: GoHeader, f: Formatter, fs: StrFmt, fn: NumFmt): Buffer {
  const blk = Buffer.alloc(BLOCK_SIZE);
  const mtime = h.modTime ?? { sec: 0n, nsec: 0 };
  blk[156] = h.typeflag;
  fs(f, field(blk, 'name'), h.name);
  fs(f, field(blk, 'linkName'), h.linkname);
  fn(f, field(blk, 'mode'), h.mode);
  fn(f, field(blk, 'uid'), h.uid);
  fn(f, field(blk, 'gid'), h.gid);
  fn(f, field(blk, 'size'), h.size);
  fn(f, field(blk, 'modTime'), mtime.sec);
  fs(f, field(blk, 'userName'), h.uname);
  fs(f, field(blk, 'groupName'), h.gname);
  fn(f, field(blk, 'devMajor'), h.devmajor);
  fn(f, field(blk, 'devMinor'), h.devminor);
  return blk;
}

function writeUSTARHeader(h: GoHeader): Buffer {
  let name = h.name;
  let prefix = '';
  const split = splitUSTARPath(h.name);
  if (split) [prefix, name] = split;
  const f = new Formatter();
  const blk = templateV7Plus({ ...h, name }, f, fmtString, fmtOctal);
  f.formatString(field(blk, 'prefix'), prefix);
  setFormat(blk, Format.USTAR);
  if (f.err) throw headerError(h, 'field too long for USTAR');
  return blk;
}

function writePAXHeader(h: GoHeader, paxHdrs: Map<string, string>): Buffer[] {
  const out: Buffer[] = [];
  if (paxHdrs.size > 0) {
    const keys = [...paxHdrs.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const data = keys.map((k) => formatPAXRecord(k, paxHdrs.get(k)!)).join('');
    const [dir, file] = splitPath(h.name);
    const name = joinPath(dir, 'PaxHeaders.0', file);
    if (data.length > MAX_SPECIAL_FILE_SIZE) throw headerError(h, 'PAX header too long');
    out.push(rawFile(name, data, Type.XHeader, Format.PAX));
  }
  const f = new Formatter(); // errors are expected: PAX records carry what does not fit
  const blk = templateV7Plus(h, f, fmtASCII, fmtOctal);
  setFormat(blk, Format.PAX);
  out.push(blk);
  return out;
}

function writeGNUHeader(h: GoHeader): Buffer[] {
  const out: Buffer[] = [];
  const longName = '././@LongLink';
  if (h.name.length > NAME_SIZE) out.push(rawFile(longName, h.name + '\x00', Type.GNULongName, Format.GNU));
  if (h.linkname.length > NAME_SIZE) out.push(rawFile(longName, h.linkname + '\x00', Type.GNULongLink, Format.GNU));
  const f = new Formatter(); // errors are expected: long names were written above
  const blk = templateV7Plus(h, f, fmtString, fmtNumeric);
  if (h.accessTime !== null) f.formatNumeric(field(blk, 'gnuAccessTime'), h.accessTime.sec);
  if (h.changeTime !== null) f.formatNumeric(field(blk, 'gnuChangeTime'), h.changeTime.sec);
  setFormat(blk, Format.GNU);
  out.push(blk);
  return out;
}

/** Go's writeRawFile: a minimal meta entry (header, data, padding) with default fields. */
function rawFile(name: string, data: string, flag: number, format: number): Buffer {
  const blk = Buffer.alloc(BLOCK_SIZE);
  name = toASCII(name);
  if (name.length > NAME_SIZE) name = name.slice(0, NAME_SIZE);
  name = name.replace(/\/+$/, '');
  const f = new Formatter();
  blk[156] = flag;
  f.formatString(field(blk, 'name'), name);
  f.formatOctal(field(blk, 'mode'), 0n);
  f.formatOctal(field(blk, 'uid'), 0n);
  f.formatOctal(field(blk, 'gid'), 0n);
  f.formatOctal(field(blk, 'size'), BigInt(data.length));
  f.formatOctal(field(blk, 'modTime'), 0n);
  setFormat(blk, format);
  if (f.err) throw new ExportError('BAD_LAYER', 'archive/tar: meta entry too long');
  return Buffer.concat([blk, Buffer.from(data, 'latin1'), Buffer.alloc(blockPadding(data.length))]);
}

/** Go's splitUSTARPath: [prefix, suffix] when a long ASCII name fits the prefix/name fields. */
export function splitUSTARPath(name: string): [string, string] | null {
  let length = name.length;
  if (length <= NAME_SIZE || !isASCII(name)) return null;
  if (length > PREFIX_SIZE + 1) length = PREFIX_SIZE + 1;
  else if (name[length - 1] === '/') length--;
  const i = name.lastIndexOf('/', length - 1);
  const nlen = name.length - i - 1;
  const plen = i;
  if (i <= 0 || nlen > NAME_SIZE || nlen === 0 || plen > PREFIX_SIZE) return null;
  return [name.slice(0, i), name.slice(i + 1)];
}

/** Go's path.Split. */
function splitPath(p: string): [string, string] {
  const i = p.lastIndexOf('/');
  return [p.slice(0, i + 1), p.slice(i + 1)];
}

/** Go's path.Join: the non-empty elements joined with '/', then cleaned. */
export function joinPath(...elems: string[]): string {
  const parts = elems.filter((e) => e !== '');
  return parts.length === 0 ? '' : cleanPath(parts.join('/'));
}

/** Go's path.Clean (lexical: '.', '..', duplicate and trailing slashes). */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  let dotdot = 0; // number of leading '..' kept (non-rooted paths)
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length > dotdot) out.pop();
      else if (!rooted) {
        out.push('..');
        dotdot = out.length;
      }
      continue;
    }
    out.push(seg);
  }
  const s = out.join('/');
  if (rooted) return '/' + s;
  return s === '' ? '.' : s;
}

/** The data bytes after a header must be padded to a block; this is that padding. */
export function dataPadding(n: number): Buffer {
  return Buffer.alloc(blockPadding(n));
}

