// Properties of the re-tar on generated archives: every entry keeps its name, type, mode, ids,
// link name and content; times become 1980-01-01T00:00:01Z and user/group names empty; and the
// normalisation is idempotent (re-tarring its own output changes nothing).
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import tarStream from 'tar-stream';
import { describe, expect, it } from 'vitest';
import type { GoHeader } from '../../src/exporter/gotar/header.js';
import { GoTarReader } from '../../src/exporter/gotar/reader.js';
import { normalizeTar } from '../../src/exporter/retar.js';

interface Entry { name: string; type: 'file' | 'directory' | 'symlink'; mode: number; uid: number; gid: number; data: string; linkname: string; mtime: number }

const segment = fc.stringMatching(/^[a-zA-Z0-9_.é日-]{1,40}$/).filter((s) => s !== '.' && s !== '..');
const entryArb: fc.Arbitrary<Entry> = fc.record({
  name: fc.array(segment, { minLength: 1, maxLength: 6 }).map((p) => p.join('/')),
  type: fc.constantFrom('file' as const, 'directory' as const, 'symlink' as const),
  mode: fc.constantFrom(0o644, 0o755, 0o4755, 0o600, 0o1777),
  uid: fc.constantFrom(0, 1000, 65534, 2097151, 2097152, 1000680000),
  gid: fc.constantFrom(0, 1000, 4000000),
  data: fc.string({ maxLength: 1200 }),
  linkname: fc.array(segment, { minLength: 1, maxLength: 5 }).map((p) => p.join('/')),
  mtime: fc.integer({ min: 0, max: 2 ** 31 - 1 }), // tar-stream mis-encodes larger mtimes
});

async function pack(entries: Entry[]): Promise<Buffer> {
  const p = tarStream.pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => void chunks.push(c as Buffer));
  const end = new Promise<void>((res) => p.on('end', () => res()));
  for (const e of entries) {
    // ids beyond the octal field need PAX records (tar-stream would truncate them)
    const pax: Record<string, string> = {};
    if (e.uid > 262143) pax.uid = String(e.uid); // tar-stream writes 6 octal digits at most
    if (e.gid > 262143) pax.gid = String(e.gid);
    await new Promise<void>((res, rej) =>
      p.entry({ name: e.type === 'directory' ? `${e.name}/` : e.name, type: e.type, mode: e.mode, uid: e.uid % 262144, gid: e.gid % 262144,
        mtime: new Date(e.mtime * 1000), uname: 'user', gname: 'group', ...(e.type === 'symlink' ? { linkname: e.linkname } : {}),
        ...(Object.keys(pax).length ? { pax } : {}) }, e.type === 'file' ? e.data : '', (err) => (err ? rej(err) : res())));
  }
  p.finalize();
  await end;
  return Buffer.concat(chunks);
}

async function retar(b: Buffer): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of normalizeTar(Readable.from([b]))) out.push(c);
  return Buffer.concat(out);
}

/** The entries as Go's archive/tar reads them (our GoTarReader; the goldens pin it to Go). */
async function list(b: Buffer): Promise<Array<{ header: GoHeader; data: string }>> {
  const r = new GoTarReader(Readable.from([b]));
  const got: Array<{ header: GoHeader; data: string }> = [];
  for (let h = await r.next(); h !== null; h = await r.next()) {
    const parts: Buffer[] = [];
    for await (const c of r.data()) parts.push(c);
    got.push({ header: h, data: Buffer.concat(parts).toString('utf8') });
  }
  return got;
}

describe('retar properties', () => {
  it('keeps entries, normalises times and names, and is idempotent', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(entryArb, { minLength: 1, maxLength: 8 }), async (entries) => {
        const out = await retar(await pack(entries));
        expect(out.length % 512).toBe(0);
        expect(out.subarray(-1024).equals(Buffer.alloc(1024))).toBe(true);
        const got = await list(out);
        expect(got).toHaveLength(entries.length);
        got.forEach((g, i) => {
          const e = entries[i]!;
          const h = g.header;
          expect(Buffer.from(h.name, 'latin1').toString('utf8')).toBe(e.type === 'directory' ? `${e.name}/` : e.name);
          expect(h.typeflag).toBe({ file: 0x30, directory: 0x35, symlink: 0x32 }[e.type]);
          expect(h.mode).toBe(BigInt(e.mode));
          expect(h.uid).toBe(BigInt(e.uid));
          expect(h.gid).toBe(BigInt(e.gid));
          expect(h.modTime).toEqual({ sec: 315532801n, nsec: 0 });
          expect([h.uname, h.gname]).toEqual(['', '']);
          if (e.type === 'symlink') expect(Buffer.from(h.linkname, 'latin1').toString('utf8')).toBe(e.linkname);
          if (e.type === 'file') expect(g.data).toBe(e.data);
        });
        const again = await retar(out);
        expect(createHash('sha256').update(again).digest('hex')).toBe(createHash('sha256').update(out).digest('hex'));
      }),
      { numRuns: 60 },
    );
  });
});
