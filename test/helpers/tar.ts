// Test-side tar encoder and decoder, written independently of tar-stream so that tests of our
// reader and writer are checked against a second implementation. Both are binary-safe: names,
// link names and PAX values are bytes (non-UTF-8 names and binary xattr values survive).
//
//   tarFrom([{ name: 'etc/', type: 'dir' }, { name: 'etc/a', content: 'x', xattrs: { 'user.k': 'v' } }])
//   entriesOf(buffer) → [{ name: 'etc/', type: 'dir', … }, …]
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, gzipSync } from 'node:zlib';
import type { ConfigFile, Digest, Image, Layer, Manifest } from '../../oci/index.js';

export type TarType = 'file' | 'dir' | 'symlink' | 'link' | 'char' | 'block' | 'fifo';

export interface TarEntrySpec {
  /** Entry name as written (a string is written as UTF-8; a Buffer as raw bytes). */
  name: string | Buffer;
  /** Default: 'dir' when the name ends in '/', else 'file'. */
  type?: TarType;
  /** Permission and special bits (07777). Defaults: 0644 files, 0755 dirs, 0777 symlinks. */
  mode?: number;
  uid?: number;
  gid?: number;
  content?: string | Buffer;
  /** Declared size when it must differ from the content (truncated-layer tests: the content is not padded to it). */
  size?: number;
  /** Symlink target or hardlink target. */
  linkname?: string | Buffer;
  /** Extended attributes, written as PAX `SCHILY.xattr.<name>` records (values are bytes). */
  xattrs?: Record<string, string | Buffer>;
  /** Seconds since the epoch; a fraction or a value beyond the octal field goes to PAX. Default 1700000000. */
  mtime?: number;
  devmajor?: number;
  devminor?: number;
  uname?: string;
  gname?: string;
  /** Extra raw PAX records (added after the automatic ones; same key overrides). */
  pax?: Record<string, string | Buffer>;
  /** Raw typeflag character, overriding `type` (e.g. 'S' for GNU sparse, 'x' tricks). */
  typeflag?: string;
  /** Put the name only in the USTAR header even when it is not ASCII (as old writers did). */
  ustarName?: boolean;
}

const TYPEFLAG: Record<TarType, string> = { file: '0', link: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };
const TYPE_OF_FLAG: Record<string, TarType> = { '0': 'file', '\0': 'file', '7': 'file', '1': 'link', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo' };

const bytes = (s: string | Buffer): Buffer => (typeof s === 'string' ? Buffer.from(s, 'utf8') : s);
const isAscii = (b: Buffer): boolean => b.every((c) => c > 0 && c < 0x80);

function octal(n: number, width: number): string | null {
  const s = Math.trunc(n).toString(8);
  return s.length > width - 1 ? null : s.padStart(width - 1, '0');
}

/** `"<len> <key>=<value>\n"`, where len counts the whole record (binary-safe value). */
export function paxRecord(key: string, value: string | Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), bytes(value), Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

/** Splits a USTAR name into prefix (≤155) and name (≤100) at a slash, or null when impossible. */
function splitUstar(name: Buffer): { prefix: Buffer; name: Buffer } | null {
  if (name.length <= 100) return { prefix: Buffer.alloc(0), name };
  for (let i = Math.min(name.length - 1, 155); i > 0; i--) {
    if (name[i] === 0x2f && name.length - i - 1 <= 100 && name.length - i - 1 > 0) {
      return { prefix: name.subarray(0, i), name: name.subarray(i + 1) };
    }
  }
  return null;
}

function header(fields: {
  name: Buffer; prefix: Buffer; mode: number; uid: number; gid: number; size: number; mtime: number;
  typeflag: string; linkname: Buffer; uname: string; gname: string; devmajor: number; devminor: number;
}): Buffer {
  const h = Buffer.alloc(512);
  fields.name.copy(h, 0, 0, Math.min(100, fields.name.length));
  h.write(`${octal(fields.mode, 8) ?? '7777777'}\0`, 100, 'ascii');
  h.write(`${octal(fields.uid, 8) ?? '7777777'}\0`, 108, 'ascii');
  h.write(`${octal(fields.gid, 8) ?? '7777777'}\0`, 116, 'ascii');
  h.write(`${octal(fields.size, 12) ?? '77777777777'}\0`, 124, 'ascii');
  h.write(`${octal(Math.max(0, fields.mtime), 12) ?? '77777777777'}\0`, 136, 'ascii');
  h.write(fields.typeflag, 156, 'latin1');
  fields.linkname.copy(h, 157, 0, Math.min(100, fields.linkname.length));
  h.write('ustar\u000000', 257, 'latin1');
  h.write(fields.uname.slice(0, 31), 265, 'utf8');
  h.write(fields.gname.slice(0, 31), 297, 'utf8');
  h.write(`${octal(fields.devmajor, 8) ?? '7777777'}\0`, 329, 'ascii');
  h.write(`${octal(fields.devminor, 8) ?? '7777777'}\0`, 337, 'ascii');
  fields.prefix.copy(h, 345, 0, Math.min(155, fields.prefix.length));
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

function pad(n: number): Buffer {
  return Buffer.alloc((512 - (n % 512)) % 512);
}

/**
 * Builds a tar (USTAR + PAX extended headers where a value does not fit, like Go's writer) from a
 * table of entries. `truncateAt` cuts the result (a truncated layer); `trailer: false` omits the
 * two zero blocks.
 */
export function tarFrom(entries: readonly TarEntrySpec[], opts: { truncateAt?: number; trailer?: boolean } = {}): Buffer {
  const out: Buffer[] = [];
  for (const e of entries) {
    const name = bytes(e.name);
    const type: TarType = e.type ?? (name[name.length - 1] === 0x2f ? 'dir' : 'file');
    const content = e.content === undefined ? Buffer.alloc(0) : bytes(e.content);
    const size = e.size ?? (type === 'file' ? content.length : 0);
    const mode = e.mode ?? (type === 'dir' ? 0o755 : type === 'symlink' ? 0o777 : 0o644);
    const uid = e.uid ?? 0;
    const gid = e.gid ?? 0;
    const mtime = e.mtime ?? 1700000000;
    const linkname = e.linkname === undefined ? Buffer.alloc(0) : bytes(e.linkname);
    const pax = new Map<string, string | Buffer>();
    const split = splitUstar(name);
    if (split === null || (!e.ustarName && !isAscii(name))) pax.set('path', name);
    if (linkname.length > 100 || !isAscii(linkname)) pax.set('linkpath', linkname);
    if (octal(uid, 8) === null) pax.set('uid', String(uid));
    if (octal(gid, 8) === null) pax.set('gid', String(gid));
    if (octal(size, 12) === null) pax.set('size', String(size));
    if (!Number.isInteger(mtime) || mtime < 0 || octal(mtime, 12) === null) pax.set('mtime', formatTime(mtime));
    for (const [k, v] of Object.entries(e.xattrs ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))) pax.set(`SCHILY.xattr.${k}`, v);
    for (const [k, v] of Object.entries(e.pax ?? {})) pax.set(k, v);
    const ustar = split ?? { prefix: Buffer.alloc(0), name: name.subarray(0, 100) };
    if (pax.size > 0) {
      const body = Buffer.concat([...pax.entries()].map(([k, v]) => paxRecord(k, v)));
      const paxName = Buffer.from(`PaxHeaders.0/${ustar.name.toString('latin1').replace(/[^\x20-\x7e]/g, '_')}`.slice(0, 100));
      out.push(header({ name: paxName, prefix: Buffer.alloc(0), mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: 0,
        typeflag: 'x', linkname: Buffer.alloc(0), uname: '', gname: '', devmajor: 0, devminor: 0 }), body, pad(body.length));
    }
    out.push(header({
      name: ustar.name, prefix: ustar.prefix, mode, uid, gid, size, mtime: Math.floor(mtime),
      typeflag: e.typeflag ?? TYPEFLAG[type], linkname: linkname.subarray(0, 100), uname: e.uname ?? '', gname: e.gname ?? '',
      devmajor: e.devmajor ?? 0, devminor: e.devminor ?? 0,
    }));
    if (type === 'file' || e.size !== undefined) {
      // A declared size beyond the content is not filled in: the archive is then truncated.
      out.push(content.subarray(0, size), pad(Math.min(size, content.length)));
    }
  }
  if (opts.trailer !== false) out.push(Buffer.alloc(1024));
  const all = Buffer.concat(out);
  return opts.truncateAt === undefined ? all : all.subarray(0, opts.truncateAt);
}

function formatTime(t: number): string {
  if (Number.isInteger(t)) return String(t);
  const s = Math.floor(t);
  const ns = Math.round((t - s) * 1e9);
  return `${s}.${String(ns).padStart(9, '0')}`.replace(/0+$/, '');
}

export interface TarEntry {
  /** Display form of the name: UTF-8 when valid, else invalid bytes as `\xHH`. */
  name: string;
  nameBytes: Buffer;
  type: TarType | `unknown:${string}`;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** sha256 hex of the content (regular files only). */
  sha256?: string;
  linkname?: string;
  mtime: number;
  devmajor?: number;
  devminor?: number;
  /** xattr name → printable value (see `showBytes`). */
  xattrs?: Record<string, string>;
  uname: string;
  gname: string;
  /** All PAX records of the entry (values as latin1 byte strings), for format assertions. */
  pax: Record<string, string>;
}

/** UTF-8 when the bytes are valid UTF-8, else each invalid byte as `\xHH` (stable, readable). */
export function displayName(b: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(b);
  } catch {
    let s = '';
    let i = 0;
    while (i < b.length) {
      const len = utf8Len(b, i);
      if (len === 0) {
        s += `\\x${b[i]!.toString(16).padStart(2, '0')}`;
        i++;
      } else {
        s += b.subarray(i, i + len).toString('utf8');
        i += len;
      }
    }
    return s;
  }
}

function utf8Len(b: Buffer, i: number): number {
  const c = b[i]!;
  const n = c < 0x80 ? 1 : c >= 0xc2 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c < 0xf5 ? 4 : 0;
  if (n === 0 || i + n > b.length) return 0;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b.subarray(i, i + n));
    return n;
  } catch {
    return 0;
  }
}

/** Printable ASCII values as themselves, anything else as `0x<hex>` (getfattr's convention). */
export function showBytes(b: Buffer): string {
  return b.length > 0 && b.every((c) => c >= 0x20 && c < 0x7f) ? b.toString('latin1') : `0x${b.toString('hex')}`;
}

function cstr(b: Buffer): Buffer {
  const z = b.indexOf(0);
  return z === -1 ? b : b.subarray(0, z);
}

function num(b: Buffer): number {
  if ((b[0]! & 0x80) !== 0) {
    let v = 0;
    for (let i = 1; i < b.length; i++) v = v * 256 + b[i]!;
    return v;
  }
  const s = cstr(b).toString('latin1').trim();
  return s === '' ? 0 : parseInt(s, 8);
}

function parsePax(body: Buffer): Map<string, Buffer> {
  const m = new Map<string, Buffer>();
  let off = 0;
  while (off < body.length) {
    const sp = body.indexOf(0x20, off);
    if (sp === -1) throw new Error(`bad PAX record at ${off}`);
    const len = parseInt(body.subarray(off, sp).toString('latin1'), 10);
    if (!(len > 0) || off + len > body.length || body[off + len - 1] !== 0x0a) throw new Error(`bad PAX record at ${off}`);
    const rec = body.subarray(sp + 1, off + len - 1);
    const eq = rec.indexOf(0x3d);
    m.set(rec.subarray(0, eq).toString('utf8'), rec.subarray(eq + 1));
    off += len;
  }
  return m;
}

/** Decodes a tar into its entries in stream order (PAX and GNU long names applied). */
export function entriesOf(tar: Buffer): TarEntry[] {
  const out: TarEntry[] = [];
  let off = 0;
  let pax = new Map<string, Buffer>();
  let global = new Map<string, Buffer>();
  let longName: Buffer | undefined;
  let longLink: Buffer | undefined;
  while (off + 512 <= tar.length) {
    const h = tar.subarray(off, off + 512);
    off += 512;
    if (h.every((b) => b === 0)) break;
    const flag = String.fromCharCode(h[156]!);
    const size0 = num(h.subarray(124, 136));
    const body = (n: number): Buffer => {
      if (off + n > tar.length) throw new Error('truncated tar');
      const b = tar.subarray(off, off + n);
      off += n + ((512 - (n % 512)) % 512);
      return b;
    };
    if (flag === 'x') { pax = new Map([...global, ...parsePax(body(size0))]); continue; }
    if (flag === 'g') { global = parsePax(body(size0)); continue; }
    if (flag === 'L') { longName = cstr(body(size0)); continue; }
    if (flag === 'K') { longLink = cstr(body(size0)); continue; }
    const prefix = cstr(h.subarray(345, 500));
    let nameBytes: Buffer = Buffer.concat(prefix.length > 0 ? [prefix, Buffer.from('/'), cstr(h.subarray(0, 100))] : [cstr(h.subarray(0, 100))]);
    nameBytes = pax.get('path') ?? longName ?? nameBytes;
    const link = pax.get('linkpath') ?? longLink ?? cstr(h.subarray(157, 257));
    const size = pax.has('size') ? Number(pax.get('size')!.toString()) : size0;
    let type: TarEntry['type'] = TYPE_OF_FLAG[flag] ?? `unknown:${flag}`;
    if (type === 'file' && nameBytes[nameBytes.length - 1] === 0x2f) type = 'dir';
    const hasBody = type === 'file' || type.startsWith('unknown');
    const content = hasBody ? body(size) : Buffer.alloc(0);
    const e: TarEntry = {
      name: displayName(nameBytes),
      nameBytes,
      type,
      mode: num(h.subarray(100, 108)) & 0o7777,
      uid: pax.has('uid') ? Number(pax.get('uid')!.toString()) : num(h.subarray(108, 116)),
      gid: pax.has('gid') ? Number(pax.get('gid')!.toString()) : num(h.subarray(116, 124)),
      size,
      mtime: pax.has('mtime') ? Number(pax.get('mtime')!.toString()) : num(h.subarray(136, 148)),
      uname: cstr(h.subarray(265, 297)).toString('utf8'),
      gname: cstr(h.subarray(297, 329)).toString('utf8'),
      pax: Object.fromEntries([...pax].map(([k, v]) => [k, v.toString('latin1')])),
    };
    if (type === 'file') e.sha256 = createHash('sha256').update(content).digest('hex');
    if (type === 'link' || type === 'symlink') e.linkname = displayName(link);
    if (type === 'char' || type === 'block') {
      e.devmajor = num(h.subarray(329, 337));
      e.devminor = num(h.subarray(337, 345));
    }
    const xattrs = [...pax].filter(([k]) => k.startsWith('SCHILY.xattr.'));
    if (xattrs.length > 0) e.xattrs = Object.fromEntries(xattrs.map(([k, v]) => [k.slice('SCHILY.xattr.'.length), showBytes(v)]));
    out.push(e);
    pax = new Map();
    longName = undefined;
    longLink = undefined;
  }
  return out;
}

// In-memory layers and images over tar buffers (for snapshot tests that need oci Layer/Image
// values without a blob store).

const sha = (b: Buffer): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest;

/** A Layer whose blob is `tar`, gzipped unless `compression: 'none'`; `blob` replaces the stored bytes (corruption tests). */
export function memoryLayer(tar: Buffer, opts: { compression?: 'gzip' | 'none'; blob?: Buffer } = {}): Layer {
  const compression = opts.compression ?? 'gzip';
  const blob = opts.blob ?? (compression === 'gzip' ? gzipSync(tar, { level: 1 }) : tar);
  const mediaType = compression === 'gzip' ? 'application/vnd.oci.image.layer.v1.tar+gzip' : 'application/vnd.oci.image.layer.v1.tar';
  return {
    descriptor: { mediaType, digest: sha(blob), size: blob.length },
    diffID: sha(tar),
    compression,
    open: async () => Readable.from([blob]),
    openUncompressed: async () => {
      if (compression === 'none') return Readable.from([blob]);
      const gunzip = createGunzip();
      pipeline(Readable.from([blob]), gunzip).catch(() => {}); // a failure reaches the reader through gunzip
      return gunzip;
    },
  };
}

/** An OCI image value over in-memory layers. */
export function memoryImage(layers: Layer[]): Image {
  const config: ConfigFile = {
    architecture: 'amd64', os: 'linux', config: {},
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffID) },
    history: layers.map(() => ({ created_by: 'test' })),
  } as unknown as ConfigFile;
  const rawConfig = Buffer.from(JSON.stringify(config));
  const manifest: Manifest = {
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(rawConfig), size: rawConfig.length },
    layers: layers.map((l) => l.descriptor),
  } as Manifest;
  const rawManifest = Buffer.from(JSON.stringify(manifest));
  return { rawManifest, manifest, manifestMediaType: manifest.mediaType!, digest: sha(rawManifest), rawConfig, config, layers };
}
