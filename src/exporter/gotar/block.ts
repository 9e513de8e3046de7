// The 512-byte tar header block and its field codecs, with Go archive/tar's exact semantics
// (format.go, strconv.go). The lifecycle re-tars extension layers with Go's archive/tar, and the
// diffIDs it produces depend on every byte Go writes, so these rules are reproduced, not approximated.
//
// Byte strings are JS strings in latin1 (one char per byte): lengths are byte lengths, comparisons
// and sorting are bytewise, and any byte sequence (including invalid UTF-8) survives untouched.

export const BLOCK_SIZE = 512;
export const ZERO_BLOCK = Buffer.alloc(BLOCK_SIZE);
/** Go's maxSpecialFileSize: the cap on PAX and GNU long-name payloads. */
export const MAX_SPECIAL_FILE_SIZE = 1 << 20;

/** [offset, length] of each header field, for the V7, USTAR, GNU and STAR layouts. */
export const Field = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  modTime: [136, 12],
  chksum: [148, 8],
  typeFlag: [156, 1],
  linkName: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  userName: [265, 32],
  groupName: [297, 32],
  devMajor: [329, 8],
  devMinor: [337, 8],
  prefix: [345, 155],
  gnuAccessTime: [345, 12],
  gnuChangeTime: [357, 12],
  starPrefix: [345, 131],
  starAccessTime: [476, 12],
  starChangeTime: [488, 12],
  starTrailer: [508, 4],
} as const satisfies Record<string, readonly [number, number]>;
export type FieldName = keyof typeof Field;

export function field(blk: Buffer, f: FieldName): Buffer {
  const [off, len] = Field[f];
  return blk.subarray(off, off + len);
}

/** Go's Format bit set (archive/tar/format.go): several bits set means "any of these". */
export const Format = { Unknown: 0, V7: 1, USTAR: 2, PAX: 4, GNU: 8, STAR: 16 } as const;

export const MAGIC_USTAR = 'ustar\x00';
export const VERSION_USTAR = '00';
export const MAGIC_GNU = 'ustar ';
export const VERSION_GNU = ' \x00';
export const TRAILER_STAR = 'tar\x00';

/** Type flags (single bytes). */
export const Type = {
  Reg: 0x30, // '0'
  RegA: 0x00, // '\x00' (legacy)
  Link: 0x31,
  Symlink: 0x32,
  Char: 0x33,
  Block: 0x34,
  Dir: 0x35,
  Fifo: 0x36,
  Cont: 0x37,
  XHeader: 0x78, // 'x'
  XGlobalHeader: 0x67, // 'g'
  GNUSparse: 0x53, // 'S'
  GNULongName: 0x4c, // 'L'
  GNULongLink: 0x4b, // 'K'
} as const;

/** Types whose data section is always empty, whatever the size field says (Go's isHeaderOnlyType). */
export function isHeaderOnlyType(flag: number): boolean {
  return flag >= Type.Link && flag <= Type.Fifo;
}

export function hasNUL(s: string): boolean {
  return s.includes('\x00');
}

/** Go's isASCII: an ASCII C string (no byte ≥ 0x80, no NUL). */
export function isASCII(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80 || c === 0) return false;
  }
  return true;
}

/** Go's toASCII: drops NULs and every byte of non-ASCII runes (all of which are ≥ 0x80). */
export function toASCII(s: string): string {
  if (isASCII(s)) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80 && c !== 0) out += s[i];
  }
  return out;
}

/** Collects the first parse error, like Go's `parser` (parsing goes on; the error is checked later). */
export class Parser {
  err = false;

  /** A NUL-terminated string; the whole field when there is no NUL. */
  parseString(b: Buffer): string {
    const i = b.indexOf(0);
    return b.toString('latin1', 0, i >= 0 ? i : b.length);
  }

  /** Base-256 (high bit set, two's complement) or octal. */
  parseNumeric(b: Buffer): bigint {
    if (b.length > 0 && (b[0]! & 0x80) !== 0) {
      const inv = (b[0]! & 0x40) !== 0 ? 0xff : 0x00;
      let x = 0n;
      for (let i = 0; i < b.length; i++) {
        let c = b[i]! ^ inv;
        if (i === 0) c &= 0x7f;
        if (x >> 56n > 0n) {
          this.err = true; // overflow
          return 0n;
        }
        x = (x << 8n) | BigInt(c);
      }
      if (x >> 63n > 0n) {
        this.err = true;
        return 0n;
      }
      return inv === 0xff ? ~x : x;
    }
    return this.parseOctal(b);
  }

  /** Octal, with leading and trailing spaces and NULs trimmed (Go's parseOctal). */
  parseOctal(b: Buffer): bigint {
    let start = 0;
    let end = b.length;
    while (start < end && (b[start] === 0x20 || b[start] === 0)) start++;
    while (end > start && (b[end - 1] === 0x20 || b[end - 1] === 0)) end--;
    if (start === end) return 0n;
    const s = this.parseString(b.subarray(start, end));
    if (!/^[0-7]+$/.test(s)) {
      this.err = true;
      return 0n;
    }
    const x = BigInt('0o' + s);
    if (x > 0xffffffffffffffffn) {
      this.err = true;
      return 0n;
    }
    return BigInt.asIntN(64, x); // Go converts the uint64 to int64
  }
}

/** Collects "field too long", like Go's `formatter`. */
export class Formatter {
  err = false;

  /** Copies s into b, NUL-terminating if there is room (Go's formatString, incl. its trailing-slash rule). */
  formatString(b: Buffer, s: string): void {
    if (s.length > b.length) this.err = true;
    b.write(s.length > b.length ? s.slice(0, b.length) : s, 'latin1');
    if (s.length < b.length) b[s.length] = 0;
    // Buggy readers treat a regular file whose truncated V7 name ends in '/' as a directory, so Go
    // replaces the trailing slashes of a truncated name with a NUL.
    if (s.length > b.length && b[b.length - 1] === 0x2f) {
      let n = b.length - 1;
      while (n > 0 && s.charCodeAt(n - 1) === 0x2f) n--;
      b[n] = 0;
    }
  }

  formatOctal(b: Buffer, x: bigint): void {
    if (!fitsInOctal(b.length, x)) {
      x = 0n;
      this.err = true;
    }
    let s = x.toString(8);
    const pad = b.length - s.length - 1;
    if (pad > 0) s = '0'.repeat(pad) + s;
    this.formatString(b, s);
  }

  /** Octal when it fits, else GNU base-256, else zero and an error. */
  formatNumeric(b: Buffer, x: bigint): void {
    if (fitsInOctal(b.length, x)) {
      this.formatOctal(b, x);
      return;
    }
    if (fitsInBase256(b.length, x)) {
      for (let i = b.length - 1; i >= 0; i--) {
        b[i] = Number(BigInt.asUintN(8, x));
        x >>= 8n;
      }
      b[0] = b[0]! | 0x80;
      return;
    }
    this.formatOctal(b, 0n);
    this.err = true;
  }
}

export function fitsInOctal(n: number, x: bigint): boolean {
  const octBits = BigInt((n - 1) * 3);
  return x >= 0n && (n >= 22 || x < 1n << octBits);
}

export function fitsInBase256(n: number, x: bigint): boolean {
  const binBits = BigInt((n - 1) * 8);
  return n >= 9 || (x >= -(1n << binBits) && x < 1n << binBits);
}

/** The unsigned and signed sums of the block with the checksum field counted as spaces. */
export function computeChecksum(blk: Buffer): [bigint, bigint] {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : blk[i]!;
    unsigned += c;
    signed += c >= 0x80 ? c - 0x100 : c;
  }
  return [BigInt(unsigned), BigInt(signed)];
}

/** Go's block.getFormat: checksum first, then magic/version/trailer. */
export function getFormat(blk: Buffer): number {
  const p = new Parser();
  const value = p.parseOctal(field(blk, 'chksum'));
  const [c1, c2] = computeChecksum(blk);
  if (p.err || (value !== c1 && value !== c2)) return Format.Unknown;
  const magic = field(blk, 'magic').toString('latin1');
  const version = field(blk, 'version').toString('latin1');
  const trailer = field(blk, 'starTrailer').toString('latin1');
  if (magic === MAGIC_USTAR && trailer === TRAILER_STAR) return Format.STAR;
  if (magic === MAGIC_USTAR) return Format.USTAR | Format.PAX;
  if (magic === MAGIC_GNU && version === VERSION_GNU) return Format.GNU;
  return Format.V7;
}

/** Go's block.setFormat: magic and version for the format, then the checksum (`%06o\0 `). */
export function setFormat(blk: Buffer, format: number): void {
  if (format & Format.V7) {
    // nothing
  } else if (format & Format.GNU) {
    field(blk, 'magic').write(MAGIC_GNU, 'latin1');
    field(blk, 'version').write(VERSION_GNU, 'latin1');
  } else if (format & Format.STAR) {
    field(blk, 'magic').write(MAGIC_USTAR, 'latin1');
    field(blk, 'version').write(VERSION_USTAR, 'latin1');
    field(blk, 'starTrailer').write(TRAILER_STAR, 'latin1');
  } else if (format & (Format.USTAR | Format.PAX)) {
    field(blk, 'magic').write(MAGIC_USTAR, 'latin1');
    field(blk, 'version').write(VERSION_USTAR, 'latin1');
  } else {
    throw new Error(`invalid tar format ${format}`);
  }
  const chk = field(blk, 'chksum');
  const [sum] = computeChecksum(blk);
  new Formatter().formatOctal(chk.subarray(0, 7), sum);
  chk[7] = 0x20;
}

/** Zero padding that brings n up to a multiple of the block size. */
export function blockPadding(n: number): number {
  return (BLOCK_SIZE - (n % BLOCK_SIZE)) % BLOCK_SIZE; // not `-n & 511`: sizes may exceed 2^31
}
