// The binary-safe reading of tar-stream's output (snapshot/apply-tar.ts): PAX records by length,
// latin1 names, and the override of tar-stream's PAX decoding, pinned against GNU tar archives.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { binaryExtract, parsePaxRecords, readHeader, type EntryHeader } from '../../snapshot/apply-tar.js';
import { isRoot } from '../helpers/fixtures.js';
import { paxRecord, tarFrom } from '../helpers/tar.js';
import { tmpDir } from '../helpers/tmp.js';
import { dumpTree } from '../helpers/tree.js';
import { applyAll } from './apply-support.js';

async function headers(tar: Buffer): Promise<EntryHeader[]> {
  const ex = binaryExtract();
  const done = pipeline(Readable.from([tar]), ex);
  const out: EntryHeader[] = [];
  for await (const e of ex) {
    out.push(readHeader(e.header));
    for await (const _ of e) {
      // drain
    }
  }
  await done;
  return out;
}

describe('parsePaxRecords', () => {
  it('parses by length: values may hold NUL, newlines, "=" and bytes ≥ 0x80', () => {
    const v = Buffer.from([0, 10, 0x3d, 0xff, 0x80, 0x20]);
    const rec = parsePaxRecords(Buffer.concat([paxRecord('path', Buffer.from('a\xffb', 'latin1')), paxRecord('SCHILY.xattr.user.x', v), paxRecord('mtime', '1.5')]));
    expect(rec.path).toBe('a\xffb');
    expect(Buffer.from(rec['SCHILY.xattr.user.x']!, 'latin1')).toEqual(v);
    expect(rec.mtime).toBe('1.5');
  });

  it.each([['8 path=x\n'], ['abc path=x\n'], ['10 pathx\nx'], ['30 path=x\n']])('refuses malformed %j', (text) => {
    expect(() => parsePaxRecords(Buffer.from(text))).toThrow(/malformed PAX record/);
  });
});

describe('binaryExtract + readHeader', () => {
  it('keeps non-UTF-8 PAX paths and binary xattr values that tar-stream alone would mangle', async () => {
    const cap = Buffer.from('0100000280200000000000000000000000000000', 'hex');
    const [h] = await headers(tarFrom([{ name: Buffer.from('d/\xff\xfe', 'latin1'), content: 'x', xattrs: { 'security.capability': cap }, uid: 3000000, mtime: 12.25 }]));
    expect(h!.name).toBe('d/\xff\xfe');
    expect(h!.xattrs).toEqual([['security.capability', cap]]);
    expect(h!).toMatchObject({ uid: 3000000, mtime: 12.25, type: 'file', size: 1 });
  });

  it('reads a size beyond the octal field from PAX (case 45: 9 GiB)', async () => {
    const size = 9 * 2 ** 30;
    const tar = tarFrom([{ name: 'huge', content: 'only the start', size }], { trailer: false });
    const ex = binaryExtract();
    const done = pipeline(Readable.from([tar]), ex).catch((e: Error) => e.message);
    for await (const e of ex) {
      expect(readHeader(e.header)).toMatchObject({ name: 'huge', size });
      break;
    }
    expect(await done).toBeTypeOf('string'); // the stream is then truncated (or destroyed by the break)
  });

  it('applies PAX global headers and lets the per-entry header win', async () => {
    const global = paxRecord('uid', '4000000');
    const tar = tarFrom([{ name: 'a', content: '' }, { name: 'b', content: '', pax: { uid: '5000000' } }]);
    // Prepend a `g` header with the global record.
    const g = tarFrom([{ name: 'pax_global_header', typeflag: 'g', content: global, size: global.length }], { trailer: false });
    const hs = await headers(Buffer.concat([g, tar]));
    expect(hs.map((h) => [h.name, h.uid])).toEqual([['a', 4000000], ['b', 5000000]]);
  });
});

describe.runIf(isRoot)('GNU tar archives through applyLayerTar', () => {
  it('a GNU tar --format=posix --xattrs archive extracts to the tree it was made from', async () => {
    const tmp = await tmpDir();
    const src = join(tmp, 'src');
    mkdirSync(join(src, 'bin'), { recursive: true });
    writeFileSync(Buffer.from(`${src}/bin/n\xffme`, 'latin1'), 'bytes');
    writeFileSync(join(src, 'bin', 'ping'), 'ping');
    execFileSync('setcap', ['cap_setuid,cap_net_raw+ep', join(src, 'bin', 'ping')]);
    writeFileSync(join(src, 'bin', 'tool'), 'tool', { mode: 0o4755 });
    execFileSync('chown', ['1000680000:1000680001', join(src, 'bin', 'tool')]);
    execFileSync('chmod', ['4755', join(src, 'bin', 'tool')]);
    writeFileSync(join(src, `${'l'.repeat(200)}`), 'long');
    execFileSync('setfattr', ['-n', 'user.note', '-v', '0x00ff0a', join(src, 'bin', 'ping')]);
    execFileSync('ln', ['-s', 'ping', join(src, 'bin', 'pong')]);
    execFileSync('ln', [join(src, 'bin', 'ping'), join(src, 'bin', 'ping2')]);
    execFileSync('mkfifo', [join(src, 'fifo')]);
    execFileSync('mknod', [join(src, 'null'), 'c', '1', '3']);
    const tar = execFileSync('tar', ['--format=posix', '--xattrs', '--xattrs-include=*', '--numeric-owner', '-C', src, '-cf', '-', '.'], { maxBuffer: 1 << 26 });
    const root = join(tmp, 'root');
    mkdirSync(root);
    await applyAll(root, [tar]);
    expect(dumpTree(root, { mtime: true })).toEqual(dumpTree(src, { mtime: true }));
  });
});
