// PAX records and times, and Go's time.Time as far as archive/tar uses it (strconv.go, common.go).

/** A point in time as Go's archive/tar sees it: Unix seconds and nanoseconds in [0, 1e9). */
export interface GoTime {
  readonly sec: bigint;
  readonly nsec: number;
}

/** Unix seconds of Go's zero time.Time (January 1, year 1, UTC): `IsZero()` is true for it. */
const ZERO_SEC = -62135596800n;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/** Go's time.Unix(sec, nsec), normalised; null stands for the zero time (IsZero). */
export function unixTime(sec: bigint, nsec = 0): GoTime | null {
  if (nsec < 0 || nsec >= 1e9) {
    const n = Math.trunc(nsec / 1e9);
    sec += BigInt(n);
    nsec -= n * 1e9;
    if (nsec < 0) {
      nsec += 1e9;
      sec -= 1n;
    }
  }
  if (sec === ZERO_SEC && nsec === 0) return null;
  return { sec, nsec };
}

/** Go's strconv.ParseInt(s, 10, 64); undefined on any error. */
export function parseInt64(s: string): bigint | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const v = BigInt(s);
  return v < INT64_MIN || v > INT64_MAX ? undefined : v;
}

/** Go's parsePAXTime: `%d[.%d]`, sub-second digits padded or truncated to 9; undefined on error. */
export function parsePAXTime(s: string): GoTime | null | undefined {
  const dot = s.indexOf('.');
  const ss = dot < 0 ? s : s.slice(0, dot);
  let sn = dot < 0 ? '' : s.slice(dot + 1);
  const secs = parseInt64(ss);
  if (secs === undefined) return undefined;
  if (sn.length === 0) return unixTime(secs, 0);
  if (!/^[0-9]*$/.test(sn)) return undefined;
  sn = sn.length < 9 ? sn + '0'.repeat(9 - sn.length) : sn.slice(0, 9);
  const nsecs = Number(sn);
  return ss.startsWith('-') ? unixTime(secs, -nsecs) : unixTime(secs, nsecs);
}

/** Go's formatPAXTime: integer seconds, or `%d.%09d` with trailing zeros trimmed. */
export function formatPAXTime(t: GoTime | null): string {
  const ts = t ?? { sec: ZERO_SEC, nsec: 0 };
  let secs = ts.sec;
  let nsecs = ts.nsec;
  if (nsecs === 0) return secs.toString();
  let sign = '';
  if (secs < 0n) {
    sign = '-';
    secs = -(secs + 1n);
    nsecs = -(nsecs - 1e9);
  }
  return `${sign}${secs}.${String(nsecs).padStart(9, '0')}`.replace(/0+$/, '');
}

export const Pax = {
  path: 'path',
  linkpath: 'linkpath',
  size: 'size',
  uid: 'uid',
  gid: 'gid',
  uname: 'uname',
  gname: 'gname',
  mtime: 'mtime',
  atime: 'atime',
  ctime: 'ctime',
  schilyXattr: 'SCHILY.xattr.',
  gnuSparse: 'GNU.sparse.',
  gnuSparseMap: 'GNU.sparse.map',
  gnuSparseOffset: 'GNU.sparse.offset',
  gnuSparseNumBytes: 'GNU.sparse.numbytes',
  gnuSparseMajor: 'GNU.sparse.major',
  gnuSparseMinor: 'GNU.sparse.minor',
} as const;

/** Records Go's writer never copies from PAXRecords (it derives them from the header fields). */
export const BASIC_KEYS: ReadonlySet<string> = new Set([
  Pax.path, Pax.linkpath, Pax.size, Pax.uid, Pax.gid, Pax.uname, Pax.gname, Pax.mtime, Pax.atime, Pax.ctime,
]);

/** Go's validPAXRecord. */
export function validPAXRecord(k: string, v: string): boolean {
  if (k === '' || k.includes('=')) return false;
  switch (k) {
    case Pax.path:
    case Pax.linkpath:
    case Pax.uname:
    case Pax.gname:
      return !v.includes('\x00');
    default:
      return !k.includes('\x00');
  }
}

/** Go's parsePAXRecord: one `"%d %s=%s\n"` record; undefined on a malformed one. */
export function parsePAXRecord(s: string): { k: string; v: string; rest: string } | undefined {
  const sp = s.indexOf(' ');
  if (sp < 0) return undefined;
  const nStr = s.slice(0, sp);
  const rest = s.slice(sp + 1);
  const n0 = parseInt64(nStr);
  if (n0 === undefined || n0 < 5n || n0 > BigInt(s.length)) return undefined;
  const n = Number(n0) - (nStr.length + 1);
  if (n <= 0) return undefined;
  const rec = rest.slice(0, n - 1);
  if (rest.slice(n - 1, n) !== '\n') return undefined;
  const eq = rec.indexOf('=');
  if (eq < 0) return undefined;
  const k = rec.slice(0, eq);
  const v = rec.slice(eq + 1);
  if (!validPAXRecord(k, v)) return undefined;
  return { k, v, rest: rest.slice(n) };
}

/** Go's formatPAXRecord: the record prefixed with its own length. */
export function formatPAXRecord(k: string, v: string): string {
  const padding = 3; // ' ', '=' and '\n'
  let size = k.length + v.length + padding;
  size += String(size).length;
  let record = `${size} ${k}=${v}\n`;
  if (record.length !== size) {
    size = record.length;
    record = `${size} ${k}=${v}\n`;
  }
  return record;
}

/**
 * Go's parsePAX: the records of an extended header, GNU sparse 0.0 offset/numbytes pairs folded
 * into GNU.sparse.map; undefined on a malformed payload. Later records replace earlier ones.
 */
export function parsePAX(payload: string): Map<string, string> | undefined {
  const out = new Map<string, string>();
  const sparseMap: string[] = [];
  let s = payload;
  while (s.length > 0) {
    const r = parsePAXRecord(s);
    if (!r) return undefined;
    s = r.rest;
    if (r.k === Pax.gnuSparseOffset || r.k === Pax.gnuSparseNumBytes) {
      const even = sparseMap.length % 2 === 0;
      if ((even && r.k !== Pax.gnuSparseOffset) || (!even && r.k !== Pax.gnuSparseNumBytes) || r.v.includes(',')) {
        return undefined;
      }
      sparseMap.push(r.v);
    } else {
      out.set(r.k, r.v);
    }
  }
  if (sparseMap.length > 0) out.set(Pax.gnuSparseMap, sparseMap.join(','));
  return out;
}
