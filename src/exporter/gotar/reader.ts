// A streaming tar reader with Go archive/tar's Reader.Next semantics (reader.go): format
// detection, PAX and GNU long-name meta entries, legacy type promotion, and Go's notion of the
// end of an archive. Sparse entries are refused (the lifecycle never receives them from kaniko or
// from our extender, and re-tarring them faithfully would mean reproducing Go's quirks there too).
import { ExportError } from '../errors.js';
import { ByteSource } from './byte-source.js';
import {
  BLOCK_SIZE, Format, MAX_SPECIAL_FILE_SIZE, Parser, Type, blockPadding, field, getFormat, isASCII,
  isHeaderOnlyType,
} from './block.js';
import { displayName, type GoHeader } from './header.js';
import { Pax, parseInt64, parsePAX, parsePAXTime, unixTime } from './pax.js';

function bad(msg: string, entry?: string): ExportError {
  return new ExportError('BAD_LAYER', `archive/tar: ${msg}`, entry === undefined ? {} : { entry });
}

export class GoTarReader {
  private readonly src: ByteSource;
  /** Unread data bytes of the current entry, and the padding after them. */
  private remaining = 0;
  private pad = 0;
  private done = false;
  private current: GoHeader | undefined;
  /** For a PAX-format GNU sparse entry: the data and hole regions of the logical file, in order. */
  private sparse: { data: boolean; length: number }[] | null = null;

  constructor(input: AsyncIterable<unknown>) {
    this.src = new ByteSource(input);
  }

  /** The next entry's header, or null at the end of the archive (Go's io.EOF). */
  async next(): Promise<GoHeader | null> {
    if (this.done) return null;
    const h = await this.readNext();
    if (h === null) this.done = true;
    this.current = h ?? undefined;
    return h;
  }

  /** The current entry's data (what Go's Reader.Read returns), in chunks; sparse holes come out as zeros. */
  async *data(): AsyncGenerator<Buffer> {
    if (this.sparse !== null) {
      const regions = this.sparse;
      this.sparse = null;
      yield* this.sparseData(regions);
      return;
    }
    yield* this.physicalData(this.remaining);
  }

  private async *sparseData(regions: { data: boolean; length: number }[]): AsyncGenerator<Buffer> {
    const name = this.current && displayName(this.current);
    for (const r of regions) {
      if (r.data) {
        if (r.length > this.remaining) throw bad('sparse file references non-existent data', name);
        yield* this.physicalData(r.length);
      } else {
        for (let left = r.length; left > 0; ) {
          const n = Math.min(left, 1 << 20);
          yield Buffer.alloc(n);
          left -= n;
        }
      }
    }
    if (this.remaining > 0) throw bad('sparse file contains unreferenced data', name);
  }

  /** n bytes of the entry's stored data. */
  private async *physicalData(n: number): AsyncGenerator<Buffer> {
    const stop = this.remaining - n;
    while (this.remaining > stop) {
      const want = Math.min(this.remaining - stop, 1 << 20);
      const g = this.src.stream(want);
      let got = 0;
      for (;;) {
        const r = await g.next();
        if (r.done) {
          got = r.value;
          break;
        }
        this.remaining -= r.value.length;
        yield r.value;
      }
      if (got < want) throw bad('unexpected EOF in file data', this.current && displayName(this.current));
    }
  }

  /** Reads the rest of the input after the end of the archive (see ByteSource.drain). */
  drain(): Promise<void> {
    return this.src.drain();
  }

  close(): Promise<void> {
    return this.src.close();
  }

  private async readNext(): Promise<GoHeader | null> {
    this.sparse = null;
    let paxHdrs: Map<string, string> | null = null;
    let gnuLongName = '';
    let gnuLongLink = '';
    let format: number = Format.USTAR | Format.PAX | Format.GNU;
    for (;;) {
      // Discard the rest of the current entry; a short padding is a normal end (Go's tryReadFull).
      if ((await this.src.skip(this.remaining)) < this.remaining) throw bad('unexpected EOF skipping file data');
      this.remaining = 0;
      if ((await this.src.skip(this.pad)) < this.pad) return null;
      this.pad = 0;

      const read = await this.readHeader();
      if (read === null) return null;
      const { hdr, raw } = read;
      this.handleRegularFile(hdr);
      format &= hdr.format;

      switch (hdr.typeflag) {
        case Type.XHeader:
        case Type.XGlobalHeader: {
          format &= Format.PAX;
          const payload = await this.readSpecialFile();
          paxHdrs = parsePAX(payload.toString('latin1')) ?? null;
          if (paxHdrs === null) throw bad('invalid PAX header', displayName(hdr));
          if (hdr.typeflag === Type.XGlobalHeader) {
            mergePAX(hdr, paxHdrs);
            return { ...hdr, format };
          }
          continue;
        }
        case Type.GNULongName:
        case Type.GNULongLink: {
          format &= Format.GNU;
          const real = new Parser().parseString(await this.readSpecialFile());
          if (hdr.typeflag === Type.GNULongName) gnuLongName = real;
          else gnuLongLink = real;
          continue;
        }
        default: {
          mergePAX(hdr, paxHdrs);
          if (gnuLongName !== '') hdr.name = gnuLongName;
          if (gnuLongLink !== '') hdr.linkname = gnuLongLink;
          if (hdr.typeflag === Type.RegA) hdr.typeflag = hdr.name.endsWith('/') ? Type.Dir : Type.Reg;
          this.handleRegularFile(hdr); // PAX may have changed the size
          if (hdr.typeflag === Type.GNUSparse) {
            if (getFormat(raw) !== Format.GNU) throw bad('invalid tar header', displayName(hdr));
            // Go re-writes these as type 'S' without a sparse map: a corrupt layer. Refuse instead.
            throw new ExportError('UNSUPPORTED', `old GNU sparse entry ${displayName(hdr)} (type 'S') is not supported in an extension layer`, { entry: displayName(hdr) });
          }
          const version = paxSparseVersion(hdr.paxRecords);
          if (version !== null) await this.handlePaxSparse(hdr, version);
          if (format & Format.USTAR && format & Format.PAX) format &= Format.USTAR;
          hdr.format = format;
          return hdr;
        }
      }
    }
  }

  /**
   * A PAX-format GNU sparse file (0.0, 0.1 or 1.0), as Go reads it: the real name and size from
   * the GNU.sparse records, the map from the records (0.x) or the start of the data (1.0), and the
   * logical file (data fragments and zero-filled holes) as the entry's data.
   */
  private async handlePaxSparse(hdr: GoHeader, version: '0.x' | '1.0'): Promise<void> {
    const pax = hdr.paxRecords!;
    const name = displayName(hdr);
    const sparseName = pax.get('GNU.sparse.name') ?? '';
    if (sparseName !== '') hdr.name = sparseName;
    const sizeStr = (pax.get('GNU.sparse.size') ?? '') !== '' ? pax.get('GNU.sparse.size')! : (pax.get('GNU.sparse.realsize') ?? '');
    if (sizeStr !== '') {
      const n = parseInt64(sizeStr);
      if (n === undefined) throw bad('invalid GNU sparse size', name);
      hdr.size = n;
    }
    const entries: bigint[] = [];
    if (version === '1.0') {
      // Newline-terminated decimals at the start of the data, read in whole blocks.
      let text = '';
      const feed = async (newlines: number) => {
        while ((text.match(/\n/g)?.length ?? 0) < newlines) {
          if (this.remaining < BLOCK_SIZE) throw bad('unexpected EOF in sparse map', name);
          const b = await this.src.read(BLOCK_SIZE);
          if (b.length < BLOCK_SIZE) throw bad('unexpected EOF in sparse map', name);
          this.remaining -= BLOCK_SIZE;
          text += b.toString('latin1');
        }
      };
      const token = (): string => {
        const i = text.indexOf('\n');
        const t = text.slice(0, i);
        text = text.slice(i + 1);
        return t;
      };
      await feed(1);
      const count = parseInt64(token());
      if (count === undefined || count < 0n || count > 1n << 30n) throw bad('invalid sparse map', name);
      await feed(Number(count) * 2);
      for (let i = 0; i < Number(count) * 2; i++) {
        const v = parseInt64(token());
        if (v === undefined) throw bad('invalid sparse map', name);
        entries.push(v);
      }
    } else {
      const count = parseInt64(pax.get('GNU.sparse.numblocks') ?? '');
      if (count === undefined || count < 0n) throw bad('invalid sparse map', name);
      let parts = (pax.get(Pax.gnuSparseMap) ?? '').split(',');
      if (parts.length === 1 && parts[0] === '') parts = [];
      if (BigInt(parts.length) !== 2n * count) throw bad('invalid sparse map', name);
      for (const p of parts) {
        const v = parseInt64(p);
        if (v === undefined) throw bad('invalid sparse map', name);
        entries.push(v);
      }
    }
    if (isHeaderOnlyType(hdr.typeflag)) throw bad('invalid tar header (sparse header-only type)', name);
    const size = hdr.size;
    // Go's validateSparseEntries, then the regions between the (inverted, normalised) holes.
    const datas: { off: bigint; len: bigint }[] = [];
    let preEnd = 0n;
    for (let i = 0; i < entries.length; i += 2) {
      const off = entries[i]!;
      const len = entries[i + 1]!;
      if (size < 0n || off < 0n || len < 0n || off > (1n << 63n) - 1n - len || off + len > size || preEnd > off) throw bad('invalid sparse map', name);
      preEnd = off + len;
      datas.push({ off, len });
    }
    const regions: { data: boolean; length: number }[] = [];
    let pos = 0n;
    for (const d of datas) {
      if (d.len === 0n) continue;
      if (d.off > pos) regions.push({ data: false, length: Number(d.off - pos) });
      regions.push({ data: true, length: Number(d.len) });
      pos = d.off + d.len;
    }
    if (size > pos) regions.push({ data: false, length: Number(size - pos) });
    this.sparse = regions;
  }

  private handleRegularFile(hdr: GoHeader): void {
    const nb = isHeaderOnlyType(hdr.typeflag) ? 0n : hdr.size;
    if (nb < 0n) throw bad('invalid tar header (negative size)', displayName(hdr));
    if (nb > BigInt(Number.MAX_SAFE_INTEGER)) throw bad('entry too large', displayName(hdr));
    this.remaining = Number(nb);
    this.pad = blockPadding(this.remaining);
  }

  /** The data of a PAX or GNU meta entry, capped like Go's readSpecialFile. */
  private async readSpecialFile(): Promise<Buffer> {
    const n = Math.min(this.remaining, MAX_SPECIAL_FILE_SIZE + 1);
    const b = await this.src.read(n);
    this.remaining -= b.length;
    if (b.length < n) throw bad('unexpected EOF in meta entry');
    if (b.length > MAX_SPECIAL_FILE_SIZE) throw bad('header field too long');
    return b;
  }

  /** Go's readHeader: null at a clean end (no bytes, or one or two zero blocks). */
  private async readHeader(): Promise<{ hdr: GoHeader; raw: Buffer } | null> {
    let blk = await this.src.read(BLOCK_SIZE);
    if (blk.length === 0) return null;
    if (blk.length < BLOCK_SIZE) throw bad('unexpected EOF in header');
    if (isZero(blk)) {
      blk = await this.src.read(BLOCK_SIZE);
      if (blk.length === 0) return null;
      if (blk.length < BLOCK_SIZE) throw bad('unexpected EOF after a zero block');
      if (isZero(blk)) return null;
      throw bad('invalid tar header (a zero block followed by data)');
    }
    const detected = getFormat(blk);
    if (detected === Format.Unknown) throw bad('invalid tar header (bad checksum or format)');

    const p = new Parser();
    const hdr: GoHeader = {
      typeflag: blk[156]!,
      name: p.parseString(field(blk, 'name')),
      linkname: p.parseString(field(blk, 'linkName')),
      size: p.parseNumeric(field(blk, 'size')),
      mode: p.parseNumeric(field(blk, 'mode')),
      uid: p.parseNumeric(field(blk, 'uid')),
      gid: p.parseNumeric(field(blk, 'gid')),
      uname: '',
      gname: '',
      modTime: null,
      accessTime: null,
      changeTime: null,
      devmajor: 0n,
      devminor: 0n,
      paxRecords: null,
      format: Format.Unknown,
    };
    hdr.modTime = unixTime(p.parseNumeric(field(blk, 'modTime')), 0);

    if (detected > Format.V7) {
      hdr.uname = p.parseString(field(blk, 'userName'));
      hdr.gname = p.parseString(field(blk, 'groupName'));
      hdr.devmajor = p.parseNumeric(field(blk, 'devMajor'));
      hdr.devminor = p.parseNumeric(field(blk, 'devMinor'));
      let prefix = '';
      if (detected & (Format.USTAR | Format.PAX)) {
        hdr.format = detected;
        prefix = p.parseString(field(blk, 'prefix'));
        // The parser is more liberal than USTAR: a block that is not strictly USTAR is "unknown".
        if (blk.some((c) => c >= 0x80)) hdr.format = Format.Unknown;
        const nul = (f: Parameters<typeof field>[1]) => field(blk, f).at(-1) === 0;
        if (!(nul('size') && nul('mode') && nul('uid') && nul('gid') && nul('modTime') && nul('devMajor') && nul('devMinor'))) {
          hdr.format = Format.Unknown;
        }
      } else if (detected & Format.STAR) {
        prefix = p.parseString(field(blk, 'starPrefix'));
        hdr.accessTime = unixTime(p.parseNumeric(field(blk, 'starAccessTime')), 0);
        hdr.changeTime = unixTime(p.parseNumeric(field(blk, 'starChangeTime')), 0);
      } else if (detected & Format.GNU) {
        hdr.format = detected;
        const p2 = new Parser();
        const at = field(blk, 'gnuAccessTime');
        if (at[0] !== 0) hdr.accessTime = unixTime(p2.parseNumeric(at), 0);
        const ct = field(blk, 'gnuChangeTime');
        if (ct[0] !== 0) hdr.changeTime = unixTime(p2.parseNumeric(ct), 0);
        // Files written by Go before 1.8 put a prefix where GNU keeps atime/ctime: read them as such.
        if (p2.err) {
          hdr.accessTime = null;
          hdr.changeTime = null;
          const s = p.parseString(field(blk, 'prefix'));
          if (isASCII(s)) prefix = s;
          hdr.format = Format.Unknown;
        }
      }
      if (prefix.length > 0) hdr.name = `${prefix}/${hdr.name}`;
    }
    if (p.err) throw bad('invalid tar header (bad numeric field)', displayName(hdr));
    return { hdr, raw: blk };
  }
}

function isZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** Go's mergePAX: records override header fields; an empty value keeps the header's. */
function mergePAX(hdr: GoHeader, pax: Map<string, string> | null): void {
  if (pax === null) return;
  for (const [k, v] of pax) {
    if (v === '') continue;
    let ok = true;
    switch (k) {
      case Pax.path:
        hdr.name = v;
        break;
      case Pax.linkpath:
        hdr.linkname = v;
        break;
      case Pax.uname:
        hdr.uname = v;
        break;
      case Pax.gname:
        hdr.gname = v;
        break;
      case Pax.uid:
      case Pax.gid:
      case Pax.size: {
        const n = parseInt64(v);
        if (n === undefined) ok = false;
        else if (k === Pax.uid) hdr.uid = n;
        else if (k === Pax.gid) hdr.gid = n;
        else hdr.size = n;
        break;
      }
      case Pax.atime:
      case Pax.mtime:
      case Pax.ctime: {
        const t = parsePAXTime(v);
        if (t === undefined) ok = false;
        else if (k === Pax.atime) hdr.accessTime = t;
        else if (k === Pax.mtime) hdr.modTime = t;
        else hdr.changeTime = t;
        break;
      }
      default:
        break;
    }
    if (!ok) throw bad(`invalid PAX record ${JSON.stringify(k)}`, displayName(hdr));
  }
  hdr.paxRecords = pax;
}

/** Go's readGNUSparsePAXHeaders detection: the PAX GNU sparse version, or null for a regular file. */
function paxSparseVersion(pax: Map<string, string> | null): '0.x' | '1.0' | null {
  if (pax === null) return null;
  const major = pax.get(Pax.gnuSparseMajor) ?? '';
  const minor = pax.get(Pax.gnuSparseMinor) ?? '';
  if (major === '0' && (minor === '0' || minor === '1')) return '0.x';
  if (major === '1' && minor === '0') return '1.0';
  if (major !== '' || minor !== '') return null;
  return (pax.get(Pax.gnuSparseMap) ?? '') !== '' ? '0.x' : null;
}
